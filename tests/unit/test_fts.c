/* Unit tests for storage/fts.c: the "mailvault" FTS5 tokenizer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fts.h"

static fts5_api *get_api(sqlite3 *db)
{
    fts5_api *api = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_pointer(st, 1, &api, "fts5_api_ptr", NULL);
    sqlite3_step(st);
    sqlite3_finalize(st);
    assert_non_null(api);
    return api;
}

static sqlite3 *open_db(void)
{
    sqlite3 *db = NULL;
    mv_error err = {0};
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    assert_int_equal(mv_fts_register(db, &err), MV_OK);
    return db;
}

static void exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "?");
}

/* A tokenizer instance created through FTS5's API, as FTS5 creates it. */
typedef struct tok {
    sqlite3 *db;
    fts5_tokenizer m;
    Fts5Tokenizer *t;
} tok;

static void tok_open(tok *k, const char *name, const char **argv, int argc)
{
    void *ud = NULL;
    k->db = open_db();
    fts5_api *api = get_api(k->db);
    assert_int_equal(api->xFindTokenizer(api, name, &ud, &k->m), SQLITE_OK);
    assert_int_equal(k->m.xCreate(ud, argv, argc, &k->t), SQLITE_OK);
}

static void tok_close(tok *k)
{
    k->m.xDelete(k->t);
    sqlite3_close(k->db);
}

typedef struct sink {
    char out[8192];
    size_t len;
    int count, stop_after, stop_rc;
} sink;

/* Records "text@start-end", colocated tokens with a leading "+", separated by spaces. */
static int sink_cb(void *ctx, int tflags, const char *t, int n, int start, int end)
{
    sink *s = ctx;
    int w = snprintf(s->out + s->len, sizeof s->out - s->len, "%s%s%.*s@%d-%d", s->len ? " " : "",
                     (tflags & FTS5_TOKEN_COLOCATED) ? "+" : "", n, t, start, end);
    assert_true(w > 0 && (size_t)w < sizeof s->out - s->len);
    s->len += (size_t)w;
    if (++s->count == s->stop_after)
        return s->stop_rc;
    return SQLITE_OK;
}

static const char *toks(tok *k, int flags, const char *text, sink *s)
{
    memset(s, 0, sizeof *s);
    assert_int_equal(k->m.xTokenize(k->t, s, flags, text, (int)strlen(text), sink_cb), SQLITE_OK);
    return s->out;
}

#define DOC FTS5_TOKENIZE_DOCUMENT
#define QUERY FTS5_TOKENIZE_QUERY

static void test_tokens_document(void **state)
{
    (void)state;
    tok k;
    sink s;
    tok_open(&k, "mailvault", NULL, 0);
    assert_string_equal(toks(&k, DOC, "Đà Nẵng", &s), "da@0-4 +=đà@0-4 nang@5-11 +=nẵng@5-11");
    assert_string_equal(toks(&k, DOC, "điện tử", &s), "dien@0-7 +=điện@0-7 tu@8-12 +=tử@8-12");
    /* ASCII needs no exact token; ß has no accent to lose. */
    assert_string_equal(toks(&k, DOC, "Zürich ZURICH Straße", &s),
                        "zurich@0-7 +=zürich@0-7 zurich@8-14 straße@15-22");
    /* Decomposed é: unicode61 keeps the combining accent inside the token. */
    assert_string_equal(toks(&k, DOC, "Cafe\xcc\x81!", &s), "cafe@0-6 +=cafe\xcc\x81@0-6");
    assert_string_equal(toks(&k, DOC, "Đ ВСЁ", &s), "d@0-2 +=đ@0-2 все@3-9 +=всё@3-9");
    assert_string_equal(toks(&k, DOC, "Отчёт ЁЛКА", &s),
                        "отчет@0-10 +=отчёт@0-10 елка@11-19 +=ёлка@11-19");
    /* CJK: bigrams, each character also as a colocated unigram. */
    assert_string_equal(toks(&k, DOC, "会議録", &s), "会議@0-6 +会@0-3 議録@3-9 +議@3-6 +録@6-9");
    assert_string_equal(toks(&k, DOC, "会", &s), "会@0-3");
    assert_string_equal(toks(&k, DOC, "회의록", &s), "회의@0-6 +회@0-3 의록@3-9 +의@3-6 +록@6-9");
    /* Mixed tokens are cut into runs; offsets point into the original text. */
    assert_string_equal(toks(&k, DOC, "第3回会議", &s),
                        "第@0-3 3@3-4 回会@4-10 +回@4-7 会議@7-13 +会@7-10 +議@10-13");
    assert_string_equal(toks(&k, DOC, "Café会議 abc", &s),
                        "cafe@0-5 +=café@0-5 会議@5-11 +会@5-8 +議@8-11 abc@12-15");
    assert_string_equal(toks(&k, DOC, "ĐÀ会x", &s), "da@0-4 +=đà@0-4 会@4-7 x@7-8");
    /* A combining accent between two CJK characters separates their runs. */
    assert_string_equal(toks(&k, DOC, "会\xcc\x81議", &s), "会@0-3 議@5-8");
    /* Half-width katakana and a supplementary-plane ideograph. */
    assert_string_equal(toks(&k, DOC, "ｶﾀ 𠀋x", &s), "ｶﾀ@0-6 +ｶ@0-3 +ﾀ@3-6 𠀋@7-11 x@11-12");
    /* Auxiliary tokenization (highlight, snippet) sees the same positions. */
    assert_string_equal(toks(&k, FTS5_TOKENIZE_AUX, "Đà 会議", &s),
                        "da@0-4 +=đà@0-4 会議@5-11 +会@5-8 +議@8-11");
    tok_close(&k);
}

static void test_tokens_query(void **state)
{
    (void)state;
    tok k;
    sink s;
    tok_open(&k, "mailvault", NULL, 0);
    assert_string_equal(toks(&k, QUERY, "Đà Nẵng", &s), "da@0-4 nang@5-11");
    assert_string_equal(toks(&k, QUERY, "Отчёт", &s), "отчет@0-10");
    assert_string_equal(toks(&k, QUERY, "会議録", &s), "会議@0-6 議録@3-9");
    assert_string_equal(toks(&k, QUERY, "会", &s), "会@0-3");
    assert_string_equal(toks(&k, QUERY, "第3回会議", &s), "第@0-3 3@3-4 回会@4-10 会議@7-13");
    assert_string_equal(toks(&k, QUERY | FTS5_TOKENIZE_PREFIX, "quart", &s), "quart@0-5");
    /* "=": lower-cased with accents, every token prefixed, offsets in the text as given. */
    assert_string_equal(toks(&k, QUERY, "=Đà Nẵng", &s), "=đà@1-5 =nẵng@6-12");
    assert_string_equal(toks(&k, QUERY, "=Отчёт", &s), "=отчёт@1-11");
    assert_string_equal(toks(&k, QUERY, "=Café会議", &s), "=café@1-6 =会議@6-12");
    assert_string_equal(toks(&k, QUERY, "=abc", &s), "=abc@1-4");
    assert_string_equal(toks(&k, QUERY, "=", &s), "");
    /* Only a leading "=" counts; elsewhere it is a separator. */
    assert_string_equal(toks(&k, QUERY, "a=é", &s), "a@0-1 e@2-4");
    assert_string_equal(toks(&k, DOC, "=é", &s), "e@1-3 +=é@1-3");
    tok_close(&k);
}

static void test_tokens_long_and_stop(void **state)
{
    (void)state;
    tok k;
    sink s;
    tok_open(&k, "mailvault", NULL, 0);
    /* Longer than every initial buffer (unicode61's 64 bytes, ours 256). */
    char text[2048], want[256];
    size_t n = 0;
    for (int i = 0; i < 150; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "É");
    n += (size_t)snprintf(text + n, sizeof text - n, "会議");
    toks(&k, DOC, text, &s);
    assert_int_equal(s.count, 2 + 3);
    snprintf(want, sizeof want, "@0-300 +=");
    assert_non_null(strstr(s.out, want));
    assert_non_null(strstr(s.out, " 会議@300-306 +会@300-303 +議@303-306"));
    for (int i = 0; i < 150; i++)
        assert_int_equal(s.out[i], 'e');

    /* An error from the callback stops tokenization and is passed back. */
    memset(&s, 0, sizeof s);
    s.stop_after = 2;
    s.stop_rc = SQLITE_ABORT;
    const char *t2 = "Đà Nẵng 会議 more words";
    assert_int_equal(k.m.xTokenize(k.t, &s, DOC, t2, (int)strlen(t2), sink_cb), SQLITE_ABORT);
    assert_int_equal(s.count, 2);
    memset(&s, 0, sizeof s);
    s.stop_after = 4;
    s.stop_rc = SQLITE_NOMEM;
    assert_int_equal(k.m.xTokenize(k.t, &s, DOC, t2, (int)strlen(t2), sink_cb), SQLITE_NOMEM);
    assert_int_equal(s.count, 4);
    tok_close(&k);
}

typedef struct offs {
    int n;
    int at[256][2];
} offs;

static int offs_cb(void *ctx, int tflags, const char *t, int n, int start, int end)
{
    offs *o = ctx;
    assert_true(o->n < 256);
    o->at[o->n][0] = start;
    o->at[o->n][1] = end;
    o->n++;
    return SQLITE_OK;
}

/* The exact form of a token is got by re-tokenizing its span with remove_diacritics 0,
 * which relies on both settings cutting text at the same places. */
static void test_same_boundaries(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "Kính gửi anh Đặng Văn Hưởng, hội nghị ở Đà Nẵng đã được dời sang thứ Năm.",
        "Ça répond à l'œuvre de Noël: « déjà vu », naïveté, où, cœur, Ægir.",
        "Größenänderungen über Straßen: Ärger, Öl, Übermaß, daß.",
        "Decomposed: Cafe\xcc\x81 Noe\xcc\x88l \xcc\x81lone a\xcc\x81\xcc\x82\x62.",
        "Ελληνικά: Αθήνα, Ὀδυσσεύς; Русский: Ёжик, Йогурт; Polski: Łódź.",
    };
    tok fold, keep;
    const char *a2[] = {"remove_diacritics", "2"}, *a0[] = {"remove_diacritics", "0"};
    tok_open(&fold, "unicode61", a2, 2);
    tok_open(&keep, "unicode61", a0, 2);
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        offs a = {0}, b = {0};
        int n = (int)strlen(texts[i]);
        assert_int_equal(fold.m.xTokenize(fold.t, &a, DOC, texts[i], n, offs_cb), SQLITE_OK);
        assert_int_equal(keep.m.xTokenize(keep.t, &b, DOC, texts[i], n, offs_cb), SQLITE_OK);
        assert_true(a.n >= 5);
        assert_int_equal(a.n, b.n);
        assert_memory_equal(a.at, b.at, sizeof a.at[0] * (size_t)a.n);
    }
    tok_close(&fold);
    tok_close(&keep);
}

static int is_cjk(uint32_t c)
{
    return (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x4E00 && c <= 0x9FFF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x20000 && c <= 0x2FFFF) ||
           (c >= 0x3040 && c <= 0x30FF) || (c >= 0x31F0 && c <= 0x31FF) ||
           (c >= 0xFF66 && c <= 0xFF9F) || (c >= 0xAC00 && c <= 0xD7AF) ||
           (c >= 0x1100 && c <= 0x11FF) || (c >= 0x3130 && c <= 0x318F);
}

static int put_utf8(char *p, uint32_t c)
{
    if (c < 0x80) {
        p[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        p[0] = (char)(0xC0 | (c >> 6));
        p[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        p[0] = (char)(0xE0 | (c >> 12));
        p[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        p[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    p[0] = (char)(0xF0 | (c >> 18));
    p[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    p[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    p[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

static uint32_t get_utf8(const unsigned char *p, int *len)
{
    if (p[0] < 0x80) {
        *len = 1;
        return p[0];
    }
    if (p[0] < 0xE0) {
        *len = 2;
        return (uint32_t)(p[0] & 0x1F) << 6 | (p[1] & 0x3F);
    }
    if (p[0] < 0xF0) {
        *len = 3;
        return (uint32_t)(p[0] & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 | (p[2] & 0x3F);
    }
    *len = 4;
    return (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3F) << 12 |
           (uint32_t)(p[2] & 0x3F) << 6 | (p[3] & 0x3F);
}

/* A token stream: one record per token, texts in a pool. */
typedef struct stream {
    struct {
        int flags, start, off, len;
    } * t;
    size_t n, cap;
    char *pool;
    size_t plen, pcap;
} stream;

static int stream_cb(void *ctx, int tflags, const char *t, int n, int start, int end)
{
    stream *s = ctx;
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 4096;
        s->t = realloc(s->t, s->cap * sizeof *s->t);
        assert_non_null(s->t);
    }
    while (s->plen + (size_t)n > s->pcap) {
        s->pcap = s->pcap ? 2 * s->pcap : 65536;
        s->pool = realloc(s->pool, s->pcap);
        assert_non_null(s->pool);
    }
    memcpy(s->pool + s->plen, t, (size_t)n);
    s->t[s->n].flags = tflags;
    s->t[s->n].start = start;
    s->t[s->n].off = (int)s->plen;
    s->t[s->n].len = n;
    s->n++;
    s->plen += (size_t)n;
    return SQLITE_OK;
}

static void stream_of(const char *name, const char **argv, int argc, const char *text, size_t n,
                      stream *s)
{
    tok k;
    memset(s, 0, sizeof *s);
    tok_open(&k, name, argv, argc);
    assert_int_equal(k.m.xTokenize(k.t, s, DOC, text, (int)n, stream_cb), SQLITE_OK);
    tok_close(&k);
}

static void stream_free(stream *s)
{
    free(s->t);
    free(s->pool);
}

static int same_text(const stream *a, size_t i, const stream *b, size_t j)
{
    return a->t[i].len == b->t[j].len &&
           memcmp(a->pool + a->t[i].off, b->pool + b->t[j].off, (size_t)a->t[i].len) == 0;
}

/* What fts.c relies on, checked over every code point for both unicode61 settings it uses
 * (see its header comment): CJK is left exactly as it is, nothing else becomes CJK, and
 * every character whose two forms differ gets an "=" token (is_accented is a superset). */
static void test_folding_facts(void **state)
{
    (void)state;
    char *text = malloc(0x110000 * 5);
    assert_non_null(text);
    size_t n = 0;
    for (uint32_t c = 0x80; c < 0x110000; c++) {
        if (c >= 0xD800 && c <= 0xDFFF)
            continue;
        n += (size_t)put_utf8(text + n, c);
        text[n++] = ' ';
    }
    const char *a2[] = {"remove_diacritics", "2"}, *a0[] = {"remove_diacritics", "0"};
    stream f, k, m;
    stream_of("unicode61", a2, 2, text, n, &f);
    stream_of("unicode61", a0, 2, text, n, &k);
    stream_of("mailvault", NULL, 0, text, n, &m);
    assert_int_equal(f.n, k.n);
    assert_true(f.n > 100000);
    size_t j = 0, cjk = 0, differ = 0;
    for (size_t i = 0; i < f.n; i++) {
        int len;
        uint32_t c = get_utf8((const unsigned char *)text + f.t[i].start, &len);
        assert_int_equal(k.t[i].start, f.t[i].start);
        const stream *both[] = {&f, &k};
        for (int b = 0; b < 2; b++) {
            const char *t = both[b]->pool + both[b]->t[i].off;
            int tn = both[b]->t[i].len;
            if (is_cjk(c)) {
                assert_int_equal(tn, len);
                assert_memory_equal(t, text + f.t[i].start, (size_t)len);
                continue;
            }
            int l2;
            for (int p = 0; p < tn; p += l2)
                if (is_cjk(get_utf8((const unsigned char *)t + p, &l2)))
                    fail_msg("U+%04X folds to CJK", (unsigned)c);
        }
        cjk += is_cjk(c) != 0;
        /* mailvault: the folded token, then "=" exact if the forms differ. */
        assert_true(j < m.n);
        assert_int_equal(m.t[j].start, f.t[i].start);
        assert_false(m.t[j].flags & FTS5_TOKEN_COLOCATED);
        j++;
        int want = !same_text(&f, i, &k, i) || c == 0x110 || c == 0x111 || c == 0x401 || c == 0x451;
        int got = j < m.n && (m.t[j].flags & FTS5_TOKEN_COLOCATED);
        if (want != got)
            fail_msg("U+%04X: exact token %s", (unsigned)c, want ? "missing" : "unexpected");
        if (got) {
            assert_int_equal(m.t[j].len, k.t[i].len + 1);
            assert_memory_equal(m.pool + m.t[j].off + 1, k.pool + k.t[i].off, (size_t)k.t[i].len);
            differ++;
            j++;
        }
    }
    assert_int_equal(j, m.n);
    assert_true(cjk > 90000);
    assert_true(differ > 400);
    stream_free(&f);
    stream_free(&k);
    stream_free(&m);
    free(text);
}

/* The search table of the brief, filled with mail in several languages. */
static sqlite3 *open_corpus(void)
{
    static const char *const rows[][2] = {
        {"Hội thảo tại Đà Nẵng", "Báo cáo điện tử về Đà Nẵng"}, /* 1 */
        {"Da Nang trip", "Meeting in Da Nang next week"},       /* 2 */
        {"Zürich", "Wavelengths in Ångström"},                  /* 3 */
        {"議事録", "来週の会議の議事録をお送りします"},         /* 4 */
        {"第3回会議", "abc会議 資料"},                          /* 5 */
        {"회의록", "회의록을 보내드립니다"},                    /* 6 */
        {"Отчёт", "Квартальный отчёт"},                         /* 7 */
        {"Quarterly report", "Numbers for the quarter"},        /* 8 */
        {"ははは", "会"},                                       /* 9 */
    };
    sqlite3 *db = open_db();
    exec(db, "CREATE VIRTUAL TABLE s USING fts5(subject, body, tokenize='mailvault')");
    sqlite3_stmt *st = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(db, "INSERT INTO s(subject, body) VALUES (?1, ?2)", -1, &st, NULL),
        SQLITE_OK);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        sqlite3_bind_text(st, 1, rows[i][0], -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, rows[i][1], -1, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return db;
}

/* Rowids matching q, ascending and comma-separated. */
static const char *ids(sqlite3 *db, const char *q)
{
    static char out[256];
    sqlite3_stmt *st = NULL;
    size_t n = 0;
    out[0] = '\0';
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT rowid FROM s WHERE s MATCH ?1 ORDER BY rowid",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, q, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        n += (size_t)snprintf(out + n, sizeof out - n, "%s%lld", n ? "," : "",
                              (long long)sqlite3_column_int64(st, 0));
    if (rc != SQLITE_DONE)
        fail_msg("MATCH %s: %s", q, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return out;
}

static void test_match(void **state)
{
    (void)state;
    sqlite3 *db = open_corpus();
    /* Vietnamese: without accents, with them, and đ. */
    assert_string_equal(ids(db, "da nang"), "1,2");
    assert_string_equal(ids(db, "\"da nang\""), "1,2");
    assert_string_equal(ids(db, "dien tu"), "1");
    assert_string_equal(ids(db, "điện"), "1");
    assert_string_equal(ids(db, "ĐIỆN TỬ"), "1");
    assert_string_equal(ids(db, "zurich"), "3");
    assert_string_equal(ids(db, "Zürich"), "3");
    assert_string_equal(ids(db, "angstrom"), "3");
    /* Exact-accent tokens: only the accented document has them. */
    assert_string_equal(ids(db, "\"=đà\""), "1");
    assert_string_equal(ids(db, "\"=Đà Nẵng\""), "1");
    assert_string_equal(ids(db, "\"=đà\" OR \"=zürich\""), "1,3");
    assert_string_equal(ids(db, "\"=da\""), "");
    assert_string_equal(ids(db, "\"=điệ\"*"), "1");
    assert_string_equal(ids(db, "\"=dien\""), "");
    /* Japanese: a word inside a sentence, a phrase of bigrams, one character. */
    assert_string_equal(ids(db, "会議"), "4,5");
    assert_string_equal(ids(db, "議事録"), "4");
    assert_string_equal(ids(db, "議事"), "4");
    assert_string_equal(ids(db, "会"), "4,5,9");
    assert_string_equal(ids(db, "録"), "4");
    assert_string_equal(ids(db, "お送り"), "4");
    assert_string_equal(ids(db, "会議事"), "");
    assert_string_equal(ids(db, "{subject}: 会議"), "5");
    assert_string_equal(ids(db, "第3回"), "5");
    assert_string_equal(ids(db, "abc"), "5");
    assert_string_equal(ids(db, "はは"), "9");
    /* Korean. */
    assert_string_equal(ids(db, "회의"), "6");
    assert_string_equal(ids(db, "회의록"), "6");
    /* Russian: ё folds to е both ways; "=" keeps it. */
    assert_string_equal(ids(db, "отчет"), "7");
    assert_string_equal(ids(db, "ОТЧЁТ"), "7");
    assert_string_equal(ids(db, "\"=отчёт\""), "7");
    assert_string_equal(ids(db, "\"=отчет\""), "");
    /* Prefixes. */
    assert_string_equal(ids(db, "quart*"), "8");
    assert_string_equal(ids(db, "会*"), "4,5,9");
    sqlite3_close(db);
}

static const char *hl(sqlite3 *db, int col, const char *q, int rowid)
{
    static char out[512];
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT highlight(s, ?1, '[', ']') FROM s "
                                        "WHERE s MATCH ?2 AND rowid = ?3",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int(st, 1, col);
    sqlite3_bind_text(st, 2, q, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, rowid);
    if (sqlite3_step(st) != SQLITE_ROW)
        fail_msg("highlight %s row %d: %s", q, rowid, sqlite3_errmsg(db));
    snprintf(out, sizeof out, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return out;
}

static void test_highlight(void **state)
{
    (void)state;
    sqlite3 *db = open_corpus();
    assert_string_equal(hl(db, 1, "da nang", 1), "Báo cáo điện tử về [Đà] [Nẵng]");
    assert_string_equal(hl(db, 1, "\"dien tu\"", 1), "Báo cáo [điện tử] về Đà Nẵng");
    assert_string_equal(hl(db, 0, "\"=đà\"", 1), "Hội thảo tại [Đà] Nẵng");
    assert_string_equal(hl(db, 1, "angstrom", 3), "Wavelengths in [Ångström]");
    assert_string_equal(hl(db, 1, "отчет", 7), "Квартальный [отчёт]");
    assert_string_equal(hl(db, 1, "議事録", 4), "来週の会議の[議事録]をお送りします");
    assert_string_equal(hl(db, 1, "会議", 4), "来週の[会議]の議事録をお送りします");
    assert_string_equal(hl(db, 1, "お送り", 4), "来週の会議の議事録を[お送り]します");
    /* A one-character match is colocated with a bigram and highlights it: the bigram that
     * starts with it, or for the last character of a run, the last bigram. */
    assert_string_equal(hl(db, 1, "会", 4), "来週の[会議]の議事録をお送りします");
    assert_string_equal(hl(db, 0, "録", 4), "議[事録]");
    assert_string_equal(hl(db, 0, "会議", 5), "第3回[会議]");
    assert_string_equal(hl(db, 0, "\"3\"", 5), "第[3]回会議");
    assert_string_equal(hl(db, 1, "abc", 5), "[abc]会議 資料");
    assert_string_equal(hl(db, 1, "회의", 6), "[회의]록을 보내드립니다");
    sqlite3_close(db);
}

static void test_register_errors(void **state)
{
    (void)state;
    mv_error err = {0};
    assert_int_equal(mv_fts_register(NULL, &err), MV_ERR_INTERNAL);
    assert_non_null(strstr(err.msg, "fts"));

    /* The tokenizer takes no arguments. */
    sqlite3 *db = open_db();
    assert_int_not_equal(
        sqlite3_exec(db, "CREATE VIRTUAL TABLE x USING fts5(a, tokenize='mailvault foo')", NULL,
                     NULL, NULL),
        SQLITE_OK);
    /* Registering again (a reopened archive) is harmless. */
    assert_int_equal(mv_fts_register(db, &err), MV_OK);
    exec(db, "CREATE VIRTUAL TABLE y USING fts5(a, tokenize='mailvault')");
    exec(db, "INSERT INTO y VALUES ('Đà Nẵng')");
    exec(db, "INSERT INTO y(y) VALUES ('integrity-check')");
    sqlite3_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens_document),
        cmocka_unit_test(test_tokens_query),
        cmocka_unit_test(test_tokens_long_and_stop),
        cmocka_unit_test(test_same_boundaries),
        cmocka_unit_test(test_folding_facts),
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_highlight),
        cmocka_unit_test(test_register_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
