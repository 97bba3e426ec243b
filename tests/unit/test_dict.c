/* Unit tests for storage/dict.c: zlib preset dictionary training. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "dict.h"

/* The line every synthetic header carries; the trainer must keep it. */
#define LIST_UNSUB "List-Unsubscribe: <mailto:dev-request@lists.example.org?subject=unsubscribe>"

/* xorshift64: the same "random" headers on every run and platform. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static const char *pick(uint64_t *s, const char *const *list, size_t n)
{
    return list[rng_next(s) % n];
}

/* A plausible mailing-list header section: shared boilerplate (Received: template, MIME and
 * list headers, X-Mailer) around variable parts (ids, dates, names, subjects). */
static size_t make_header(char *buf, size_t cap, unsigned idx, uint64_t *s)
{
    static const char *const names[] = {"Alice Martin", "Bob Nguyen",  "Carol Schmidt",
                                        "Dave Okafor",  "Erin Tanaka", "Frank Rossi"};
    static const char *const words[] = {"fix",   "crash", "in",    "parser", "when",   "the",
                                        "index", "is",    "empty", "add",    "option", "release"};
    static const char *const days[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun"};
    const char *name = pick(s, names, 6);
    unsigned day = 1 + (unsigned)(rng_next(s) % 28), hh = (unsigned)(rng_next(s) % 24),
             mm = (unsigned)(rng_next(s) % 60), ss = (unsigned)(rng_next(s) % 60);
    const char *wd = pick(s, days, 7), *mon = pick(s, months, 6);
    int n = snprintf(buf, cap,
                     "Return-Path: <dev-bounces+%u@lists.example.org>\r\n"
                     "Received: from mail%u.example.net (mail%u.example.net [198.51.100.%u])\r\n"
                     "\tby mx.example.com (Postfix) with ESMTPS id %08X\r\n"
                     "\tfor <user@example.com>; %s, %u %s 2024 %02u:%02u:%02u +0000\r\n"
                     "From: \"%s\" <%.4s%u@example.org>\r\n"
                     "To: dev@lists.example.org\r\n"
                     "Subject: [dev] %s %s %s %s\r\n"
                     "Date: %s, %u %s 2024 %02u:%02u:%02u +0000\r\n"
                     "Message-ID: <%08X.%u@example.org>\r\n"
                     "MIME-Version: 1.0\r\n"
                     "Content-Type: text/plain; charset=\"utf-8\"\r\n"
                     "Content-Transfer-Encoding: 8bit\r\n"
                     "List-Id: Developers <dev.lists.example.org>\r\n" LIST_UNSUB "\r\n"
                     "List-Archive: <https://lists.example.org/archive/dev/>\r\n"
                     "X-Mailer: Example Mail Client 3.2.1\r\n"
                     "\r\n",
                     idx, (unsigned)(rng_next(s) % 8), (unsigned)(rng_next(s) % 8),
                     (unsigned)(rng_next(s) % 250), (unsigned)rng_next(s), wd, day, mon, hh, mm, ss,
                     name, name, (unsigned)(rng_next(s) % 100), pick(s, words, 12),
                     pick(s, words, 12), pick(s, words, 12), pick(s, words, 12), wd, day, mon, hh,
                     (mm + 3) % 60, ss, (unsigned)rng_next(s), idx);
    assert_true(n > 0 && (size_t)n < cap);
    return (size_t)n;
}

/* memmem() is a GNU extension; the build is C11 + POSIX. */
static const unsigned char *find(const unsigned char *hay, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; m <= n && i <= n - m; i++)
        if (memcmp(hay + i, needle, m) == 0)
            return hay + i;
    return NULL;
}

typedef struct {
    mv_dict_sample *samples;
    char **bufs;
    size_t n;
} corpus;

static corpus make_corpus(size_t n, uint64_t seed)
{
    corpus c = {calloc(n, sizeof *c.samples), calloc(n, sizeof *c.bufs), n};
    assert_non_null(c.samples);
    assert_non_null(c.bufs);
    for (size_t i = 0; i < n; i++) {
        c.bufs[i] = malloc(2048);
        assert_non_null(c.bufs[i]);
        c.samples[i].len = make_header(c.bufs[i], 2048, (unsigned)i, &seed);
        c.samples[i].data = (const unsigned char *)c.bufs[i];
    }
    return c;
}

static void free_corpus(corpus *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->bufs[i]);
    free(c->bufs);
    free(c->samples);
}

/* Deflates at level 6 (the archive's default), with the dictionary if given, checks that
 * inflate gives back the same bytes, and returns the compressed size. */
static size_t deflated_size(const unsigned char *data, size_t len, const unsigned char *dict,
                            size_t dict_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    if (dict)
        assert_int_equal(deflateSetDictionary(&z, dict, (uInt)dict_len), Z_OK);
    size_t cap = deflateBound(&z, len);
    unsigned char *comp = malloc(cap);
    assert_non_null(comp);
    z.next_in = (unsigned char *)data;
    z.avail_in = (uInt)len;
    z.next_out = comp;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t clen = cap - z.avail_out;
    deflateEnd(&z);

    z_stream in;
    memset(&in, 0, sizeof in);
    assert_int_equal(inflateInit(&in), Z_OK);
    unsigned char *back = malloc(len + 1);
    assert_non_null(back);
    in.next_in = comp;
    in.avail_in = (uInt)clen;
    in.next_out = back;
    in.avail_out = (uInt)len + 1;
    int r = inflate(&in, Z_FINISH);
    if (dict) {
        assert_int_equal(r, Z_NEED_DICT);
        assert_int_equal(inflateSetDictionary(&in, dict, (uInt)dict_len), Z_OK);
        r = inflate(&in, Z_FINISH);
    }
    assert_int_equal(r, Z_STREAM_END);
    assert_int_equal(in.total_out, len);
    assert_memory_equal(back, data, len);
    inflateEnd(&in);
    free(back);
    free(comp);
    return clen;
}

static void test_too_few_samples(void **state)
{
    (void)state;
    corpus c = make_corpus(19, 1);
    unsigned char *dict = (unsigned char *)"sentinel";
    size_t len = 99;
    mv_error err = {0};
    assert_int_equal(mv_dict_train(c.samples, c.n, MV_DICT_MAX, &dict, &len, &err), MV_OK);
    assert_null(dict);
    assert_int_equal(len, 0);
    assert_int_equal(err.status, MV_OK);

    /* No samples at all. */
    dict = (unsigned char *)"sentinel";
    len = 99;
    assert_int_equal(mv_dict_train(NULL, 0, MV_DICT_MAX, &dict, &len, &err), MV_OK);
    assert_null(dict);
    assert_int_equal(len, 0);
    free_corpus(&c);
}

static void test_nothing_in_common(void **state)
{
    (void)state;
    enum { N = 200, LEN = 2048 };
    uint64_t seed = 42;
    mv_dict_sample samples[N];
    unsigned char *bufs[N];
    for (size_t i = 0; i < N; i++) {
        bufs[i] = malloc(LEN);
        assert_non_null(bufs[i]);
        for (size_t j = 0; j < LEN; j++)
            bufs[i][j] = (unsigned char)(rng_next(&seed) >> 32);
        samples[i].data = bufs[i];
        samples[i].len = LEN;
    }
    unsigned char *dict = NULL;
    size_t len = 99;
    mv_error err = {0};
    assert_int_equal(mv_dict_train(samples, N, MV_DICT_MAX, &dict, &len, &err), MV_OK);
    assert_null(dict);
    assert_int_equal(len, 0);

    /* Only empty samples: nothing to learn either. */
    for (size_t i = 0; i < N; i++)
        samples[i].len = 0;
    assert_int_equal(mv_dict_train(samples, N, MV_DICT_MAX, &dict, &len, &err), MV_OK);
    assert_null(dict);
    assert_int_equal(len, 0);
    for (size_t i = 0; i < N; i++)
        free(bufs[i]);
}

static void test_deterministic(void **state)
{
    (void)state;
    corpus a = make_corpus(300, 7);
    corpus b = make_corpus(300, 7); /* same bytes at other addresses */
    unsigned char *d1 = NULL, *d2 = NULL, *d3 = NULL;
    size_t l1 = 0, l2 = 0, l3 = 0;
    mv_error err = {0};
    assert_int_equal(mv_dict_train(a.samples, a.n, MV_DICT_MAX, &d1, &l1, &err), MV_OK);
    assert_int_equal(mv_dict_train(a.samples, a.n, MV_DICT_MAX, &d2, &l2, &err), MV_OK);
    assert_int_equal(mv_dict_train(b.samples, b.n, MV_DICT_MAX, &d3, &l3, &err), MV_OK);
    assert_non_null(d1);
    assert_true(l1 > 0);
    assert_int_equal(l1, l2);
    assert_int_equal(l1, l3);
    assert_memory_equal(d1, d2, l1);
    assert_memory_equal(d1, d3, l1);

    /* Different samples give a different dictionary: the output depends on the input. */
    corpus c = make_corpus(300, 8);
    unsigned char *d4 = NULL;
    size_t l4 = 0;
    assert_int_equal(mv_dict_train(c.samples, c.n, MV_DICT_MAX, &d4, &l4, &err), MV_OK);
    assert_non_null(d4);
    assert_true(l4 != l1 || memcmp(d1, d4, l1) != 0);
    free(d1);
    free(d2);
    free(d3);
    free(d4);
    free_corpus(&a);
    free_corpus(&b);
    free_corpus(&c);
}

static void test_respects_cap(void **state)
{
    (void)state;
    corpus c = make_corpus(500, 3);
    static const size_t caps[] = {MV_DICT_MAX, 16384, 1000, 64, 11};
    mv_error err = {0};
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        unsigned char *dict = NULL;
        size_t len = 0;
        assert_int_equal(mv_dict_train(c.samples, c.n, caps[i], &dict, &len, &err), MV_OK);
        assert_non_null(dict);
        assert_true(len > 0);
        assert_true(len <= caps[i]);
        free(dict);
    }
    /* 500 headers of ~900 bytes hold far more shared text than 1000 bytes: the small caps
     * are filled, not just respected. */
    unsigned char *dict = NULL;
    size_t len = 0;
    assert_int_equal(mv_dict_train(c.samples, c.n, 1000, &dict, &len, &err), MV_OK);
    assert_true(len >= 990);
    free(dict);

    /* Too small for any segment: nothing, not an error. */
    dict = (unsigned char *)"sentinel";
    assert_int_equal(mv_dict_train(c.samples, c.n, 4, &dict, &len, &err), MV_OK);
    assert_null(dict);
    assert_int_equal(len, 0);
    free_corpus(&c);
}

static void test_invalid_arguments(void **state)
{
    (void)state;
    corpus c = make_corpus(30, 5);
    unsigned char *dict = NULL;
    size_t len = 0;
    mv_error err = {0};
    assert_int_equal(mv_dict_train(c.samples, c.n, MV_DICT_MAX + 1, &dict, &len, &err),
                     MV_ERR_INTERNAL);
    assert_int_equal(err.status, MV_ERR_INTERNAL);
    assert_non_null(strstr(err.msg, "dictionary"));
    assert_null(dict);

    mv_error_clear(&err);
    assert_int_equal(mv_dict_train(c.samples, c.n, MV_DICT_MAX, NULL, &len, &err), MV_ERR_INTERNAL);
    assert_int_equal(mv_dict_train(NULL, 5, MV_DICT_MAX, &dict, &len, NULL), MV_ERR_INTERNAL);

    mv_error_clear(&err);
    c.samples[7].data = NULL; /* a length without bytes */
    assert_int_equal(mv_dict_train(c.samples, c.n, MV_DICT_MAX, &dict, &len, &err),
                     MV_ERR_INTERNAL);
    assert_non_null(strstr(err.msg, "sample 7"));
    assert_null(dict);
    assert_int_equal(len, 0);
    c.samples[7].data = (const unsigned char *)c.bufs[7];
    free_corpus(&c);
}

static void test_dictionary_shrinks_new_headers(void **state)
{
    (void)state;
    corpus train = make_corpus(400, 11);
    unsigned char *dict = NULL;
    size_t dict_len = 0;
    mv_error err = {0};
    assert_int_equal(mv_dict_train(train.samples, train.n, MV_DICT_MAX, &dict, &dict_len, &err),
                     MV_OK);
    assert_non_null(dict);

    /* Headers the trainer never saw (other seed): the gain must carry over. */
    corpus fresh = make_corpus(50, 12345);
    size_t plain = 0, with = 0;
    for (size_t i = 0; i < fresh.n; i++) {
        size_t p = deflated_size(fresh.samples[i].data, fresh.samples[i].len, NULL, 0);
        size_t w = deflated_size(fresh.samples[i].data, fresh.samples[i].len, dict, dict_len);
        assert_true(w < p); /* every single header gains, not just the total */
        plain += p;
        with += w;
    }
    /* Measured about 5x smaller; at least half is a margin no accident reaches. */
    assert_true(with * 2 <= plain);
    print_message("dict %zu bytes: %zu -> %zu bytes for %zu new headers\n", dict_len, plain, with,
                  fresh.n);
    free(dict);
    free_corpus(&train);
    free_corpus(&fresh);
}

static void test_common_line_kept_near_end(void **state)
{
    (void)state;
    corpus c = make_corpus(300, 21);
    unsigned char *dict = NULL;
    size_t len = 0;
    mv_error err = {0};
    assert_int_equal(mv_dict_train(c.samples, c.n, MV_DICT_MAX, &dict, &len, &err), MV_OK);
    assert_non_null(dict);
    const unsigned char *hit = find(dict, len, LIST_UNSUB "\r\n");
    assert_non_null(hit);
    /* Lines shared by every sample are taken first and so sit at the cheap, near end. */
    assert_true((size_t)(hit - dict) + 2048 >= len);
    /* Taken once, not once per sample. */
    assert_null(find(hit + 1, len - (size_t)(hit - dict) - 1, LIST_UNSUB));
    free(dict);
    free_corpus(&c);
}

static void test_empty_and_huge_samples(void **state)
{
    (void)state;
    enum { N = 60, HUGE = 1 << 20 };
    corpus c = make_corpus(N, 31);
    /* Some samples are empty (with and without a pointer), some are 1 MB: a header repeated
     * until full, then random bytes. */
    uint64_t seed = 99;
    unsigned char *huge[3];
    for (size_t h = 0; h < 3; h++) {
        huge[h] = malloc(HUGE);
        assert_non_null(huge[h]);
        size_t pos = 0;
        while (pos + 2048 < HUGE / 2)
            pos += make_header((char *)huge[h] + pos, 2048, (unsigned)pos, &seed);
        for (; pos < HUGE; pos++)
            huge[h][pos] = (unsigned char)(rng_next(&seed) >> 40);
    }
    c.samples[0].len = 0;
    c.samples[1].data = NULL;
    c.samples[1].len = 0;
    c.samples[2].len = 0;
    for (size_t h = 0; h < 3; h++) {
        c.samples[10 + 10 * h].data = huge[h];
        c.samples[10 + 10 * h].len = HUGE;
    }
    unsigned char *dict = NULL;
    size_t len = 0;
    mv_error err = {0};
    assert_int_equal(mv_dict_train(c.samples, N, MV_DICT_MAX, &dict, &len, &err), MV_OK);
    assert_non_null(dict);
    assert_true(len > 0 && len <= MV_DICT_MAX);
    assert_non_null(find(dict, len, LIST_UNSUB));
    free(dict);

    /* Only huge samples. */
    mv_dict_sample big[20];
    for (size_t i = 0; i < 20; i++) {
        big[i].data = huge[i % 3];
        big[i].len = HUGE;
    }
    assert_int_equal(mv_dict_train(big, 20, MV_DICT_MAX, &dict, &len, &err), MV_OK);
    assert_non_null(dict);
    assert_true(len > 0 && len <= MV_DICT_MAX);
    free(dict);
    for (size_t h = 0; h < 3; h++)
        free(huge[h]);
    c.samples[1].data = (const unsigned char *)c.bufs[1];
    free_corpus(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_too_few_samples),
        cmocka_unit_test(test_nothing_in_common),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_respects_cap),
        cmocka_unit_test(test_invalid_arguments),
        cmocka_unit_test(test_dictionary_shrinks_new_headers),
        cmocka_unit_test(test_common_line_kept_near_end),
        cmocka_unit_test(test_empty_and_huge_samples),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
