#include "hash.h"

#include <openssl/evp.h>
#include <stdlib.h>

struct mv_hash {
    EVP_MD_CTX *ctx;
};

mv_hash *mv_hash_new(void)
{
    mv_hash *h = calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    h->ctx = EVP_MD_CTX_new();
    if (h->ctx == NULL || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(h->ctx);
        free(h);
        return NULL;
    }
    return h;
}

void mv_hash_update(mv_hash *h, const void *data, size_t len)
{
    if (len)
        EVP_DigestUpdate(h->ctx, data, len);
}

void mv_hash_final(mv_hash *h, unsigned char out[MV_SHA256_LEN])
{
    unsigned int n = MV_SHA256_LEN;
    EVP_DigestFinal_ex(h->ctx, out, &n);
    EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL);
}

void mv_hash_free(mv_hash *h)
{
    if (h) {
        EVP_MD_CTX_free(h->ctx);
        free(h);
    }
}

void mv_hash_sha256(const void *data, size_t len, unsigned char out[MV_SHA256_LEN])
{
    unsigned int n = MV_SHA256_LEN;
    EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

void mv_hash_hex(const unsigned char digest[MV_SHA256_LEN], char *hex)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < MV_SHA256_LEN; i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15];
    }
    hex[MV_SHA256_HEX_LEN] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t mv_hash_unhex(const char *hex, unsigned char *out, size_t out_cap)
{
    size_t n = 0;
    for (; hex[n] != '\0'; n++) {
        int v = hexval(hex[n]);
        if (v < 0 || n / 2 >= out_cap || n >= MV_SHA256_HEX_LEN)
            return 0;
        if (n % 2 == 0)
            out[n / 2] = (unsigned char)(v << 4);
        else
            out[n / 2] |= (unsigned char)v;
    }
    return n;
}
