/* mailvault: SHA-256, the identity of every archived message.
 * A thin wrapper over libcrypto (see DEVELOPERS.md, "Dependency notes"). */
#ifndef MV_HASH_H
#define MV_HASH_H

#include <stddef.h>

#define MV_SHA256_LEN 32
#define MV_SHA256_HEX_LEN 64

typedef struct mv_hash mv_hash;

/* NULL when out of memory. */
mv_hash *mv_hash_new(void);
void mv_hash_update(mv_hash *h, const void *data, size_t len);
/* Writes the digest and resets h for reuse. */
void mv_hash_final(mv_hash *h, unsigned char out[MV_SHA256_LEN]);
void mv_hash_free(mv_hash *h);

/* One-shot helper. */
void mv_hash_sha256(const void *data, size_t len, unsigned char out[MV_SHA256_LEN]);
/* Lower-case hex, NUL-terminated (hex must hold MV_SHA256_HEX_LEN + 1 bytes). */
void mv_hash_hex(const unsigned char digest[MV_SHA256_LEN], char *hex);
/* Parses up to 64 hex digits; returns the number of digits parsed, 0 on error. */
size_t mv_hash_unhex(const char *hex, unsigned char *out, size_t out_cap);

#endif
