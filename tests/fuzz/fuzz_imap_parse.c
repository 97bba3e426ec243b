/* libFuzzer harness for core/imap_parse.c.
 *
 * The first two bytes of an input steer the run, the rest is what a server sent. Byte 0
 * seeds the sizes of the pieces the bytes are fed in (1 byte up to a few hundred, as
 * curl_easy_recv would return them); byte 1 picks small limits, so that the limit paths are
 * reached by short inputs. Every other literal is streamed.
 *
 * Each input is parsed twice, in one piece and in the chosen pieces, and everything the
 * parser reports is hashed: both runs must agree, including on the error. Along the way the
 * callbacks check the contract: literal events are properly paired and deliver exactly the
 * announced bytes, trees are well formed, nothing is called back after an error, and a
 * failed parser keeps failing with the same one-line message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap_parse.h"

typedef struct run {
    uint64_t hash;
    int nbegin;
    int in_lit;
    uint64_t lit_size, lit_got;
    int stopped; /* the parser reported an error: no more calls allowed */
    size_t max_depth;
} run;

static uint64_t mix(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t mix_u(uint64_t h, uint64_t v)
{
    return mix(h, &v, sizeof v);
}

static uint64_t mix_s(uint64_t h, const char *s)
{
    return s ? mix(h, s, strlen(s) + 1) : mix_u(h, 0xdeadbeef);
}

static uint64_t walk(const run *r, uint64_t h, const mv_imap_value *v, size_t depth)
{
    if (depth > r->max_depth + 1)
        abort();
    h = mix_u(h, v->type);
    switch (v->type) {
    case MV_IMAP_ATOM:
    case MV_IMAP_NUMBER:
        if (v->str == NULL || strlen(v->str) != v->len || v->len == 0)
            abort();
        if (v->type == MV_IMAP_NUMBER &&
            (v->num > INT64_MAX || strtoull(v->str, NULL, 10) != v->num))
            abort();
        return mix_u(mix(h, v->str, v->len), v->num);
    case MV_IMAP_STRING:
        if (v->str == NULL || v->str[v->len] != '\0')
            abort();
        return mix(mix_u(h, v->len), v->str, v->len);
    case MV_IMAP_NIL:
        return h;
    case MV_IMAP_STREAMED:
        return mix_u(mix_u(h, v->num), v->cookie);
    case MV_IMAP_LIST:
        if (v->n > 0 && v->items == NULL)
            abort();
        h = mix_u(h, v->n);
        for (size_t i = 0; i < v->n; i++)
            h = walk(r, h, &v->items[i], depth + 1);
        return h;
    }
    abort();
}

static mv_status on_response(void *ctx, const mv_imap_response *resp, mv_error *err)
{
    run *r = ctx;
    if (r->stopped || r->in_lit)
        abort();
    if (resp->data == NULL || resp->data->type != MV_IMAP_LIST || resp->keyword == NULL ||
        resp->text == NULL || (resp->code == NULL) != (resp->code_args == NULL) ||
        (resp->kind == MV_IMAP_RESP_TAGGED) != (resp->tag != NULL))
        abort();
    if (resp->kind == MV_IMAP_RESP_TAGGED && resp->status != MV_IMAP_OK &&
        resp->status != MV_IMAP_NO && resp->status != MV_IMAP_BAD)
        abort();
    uint64_t h = mix_u(r->hash, resp->kind);
    h = mix_s(h, resp->tag);
    h = mix_u(h, resp->status);
    h = mix_s(h, resp->code);
    if (resp->code_args)
        h = walk(r, h, resp->code_args, 0);
    h = mix_s(h, resp->text);
    h = mix_u(mix_u(h, (uint64_t)resp->has_number), resp->number);
    h = mix_s(h, resp->keyword);
    r->hash = walk(r, h, resp->data, 0);
    return MV_OK;
}

static int on_begin(void *ctx, const char *key, uint64_t number, uint64_t size, uint64_t *cookie)
{
    run *r = ctx;
    if (r->stopped || r->in_lit)
        abort();
    r->hash = mix_u(mix_u(mix_s(mix_u(r->hash, 0xb0), key), number), size);
    if (r->nbegin++ % 2)
        return 0;
    *cookie = (uint64_t)r->nbegin * 31;
    r->in_lit = 1;
    r->lit_size = size;
    r->lit_got = 0;
    return 1;
}

static mv_status on_data(void *ctx, const void *data, size_t len, mv_error *err)
{
    run *r = ctx;
    if (r->stopped || !r->in_lit || len == 0 || len > r->lit_size - r->lit_got)
        abort();
    r->lit_got += len;
    /* Pieces differ between the runs; only the bytes count. */
    r->hash = mix(r->hash, data, len);
    return MV_OK;
}

static mv_status on_end(void *ctx, mv_error *err)
{
    run *r = ctx;
    if (r->stopped || !r->in_lit || r->lit_got != r->lit_size)
        abort();
    r->in_lit = 0;
    r->hash = mix_u(r->hash, 0xe0);
    return MV_OK;
}

static void parse(const uint8_t *data, size_t size, uint8_t seed, const mv_imap_limits *lim,
                  uint64_t *hash, mv_status *status, char *msg)
{
    run r = {0};
    r.hash = 0xcbf29ce484222325ull;
    r.max_depth = lim && lim->max_depth ? (size_t)lim->max_depth : 64;
    mv_imap_callbacks cb = {&r, on_response, on_begin, on_data, on_end};
    mv_imap_parser *p = mv_imap_parser_new(&cb, lim);
    if (p == NULL)
        abort();
    mv_error err = {0};
    mv_status st = MV_OK;
    uint32_t x = seed * 2654435761u + 1;
    size_t pos = 0;
    while (pos < size) {
        size_t n = size - pos;
        if (seed != 0) {
            x = x * 1103515245u + 12345u;
            /* Mostly tiny pieces, sometimes large ones. */
            size_t k = (x >> 16) % 8 == 0 ? 1 + (x >> 8) % 512 : 1 + (x >> 20) % 7;
            if (k < n)
                n = k;
        }
        st = mv_imap_parser_feed(p, data + pos, n, &err);
        pos += n;
        if (st != MV_OK)
            break;
    }
    if (st != MV_OK) {
        r.stopped = 1;
        if (st != MV_ERR_PROTOCOL || err.status != st || err.msg[0] == '\0' ||
            strchr(err.msg, '\n') || strchr(err.msg, '\r'))
            abort();
        /* A failed parser stays failed and silent. */
        mv_error again = {0};
        if (mv_imap_parser_feed(p, "* 1 EXISTS\r\n", 12, &again) != st ||
            strcmp(again.msg, err.msg) != 0 || mv_imap_parser_idle(p))
            abort();
    } else if (r.in_lit && mv_imap_parser_idle(p)) {
        abort(); /* in the middle of a literal is not idle */
    }
    *hash = mix_u(r.hash, (uint64_t)mv_imap_parser_idle(p));
    *status = st;
    snprintf(msg, MV_ERROR_MSG_MAX, "%s", err.msg);
    mv_imap_parser_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t seed = data[0];
    mv_imap_limits small = {64, 512, 4};
    const mv_imap_limits *lim = data[1] & 1 ? &small : NULL;
    data += 2;
    size -= 2;

    static char msg1[MV_ERROR_MSG_MAX], msg2[MV_ERROR_MSG_MAX];
    uint64_t h1, h2;
    mv_status s1, s2;
    parse(data, size, 0, lim, &h1, &s1, msg1);
    parse(data, size, seed ? seed : 1, lim, &h2, &s2, msg2);
    /* Where the input was cut must not matter, except that an over-long line without a line
     * end is caught as soon as the limit is passed, possibly before a different error. */
    if (s1 != s2)
        abort();
    if ((h1 != h2 || strcmp(msg1, msg2) != 0) && !strstr(msg1, "longer than"))
        abort();
    return 0;
}
