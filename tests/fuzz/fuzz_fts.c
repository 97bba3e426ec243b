/* libFuzzer harness for storage/fts.c: the "mailvault" FTS5 tokenizer.
 *
 * The tokenizer is called directly on the input in every mode, and these must hold:
 *   - every token's offsets lie within the text, start <= end, and the first token is not
 *     colocated;
 *   - the positions (non-colocated tokens) are the same, text and offsets, for a document,
 *     for auxiliary functions (highlight, snippet) and for a query not starting with "=":
 *     otherwise a phrase searched for would not be found where it was indexed;
 *   - positions move forward through the text;
 *   - a colocated "=" token differs from the token it sits with, đ and ё appear in no
 *     token but "=" ones, and an "=" query yields only "="-prefixed tokens.
 * Then the input goes into an FTS5 table as a document, and each of its first
 * whitespace-separated words, quoted as an FTS5 string, must find it; "=" and prefix forms
 * of the words, highlight() and snippet() run too.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fts.h"

#define MAX_WORDS 6

typedef struct tokrec {
    int flags, start, end, off, len;
} tokrec;

typedef struct stream {
    tokrec *t;
    size_t n, cap;
    char *pool;
    size_t plen, pcap;
    int ntext;
} stream;

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (p == NULL)
        abort();
    return p;
}

static int record(void *ctx, int tflags, const char *tok, int ntok, int start, int end)
{
    stream *s = ctx;
    if (ntok < 0 || start < 0 || end < start || end > s->ntext)
        abort();
    if (s->n == 0 && (tflags & FTS5_TOKEN_COLOCATED))
        abort();
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 256;
        s->t = xrealloc(s->t, s->cap * sizeof *s->t);
    }
    if (s->plen + (size_t)ntok > s->pcap) {
        while (s->plen + (size_t)ntok > s->pcap)
            s->pcap = s->pcap ? s->pcap * 2 : 4096;
        s->pool = xrealloc(s->pool, s->pcap);
    }
    if (ntok)
        memcpy(s->pool + s->plen, tok, (size_t)ntok);
    s->t[s->n++] = (tokrec){tflags, start, end, (int)s->plen, ntok};
    s->plen += (size_t)ntok;
    return SQLITE_OK;
}

static void tokenize(fts5_tokenizer *m, Fts5Tokenizer *t, int flags, const char *text, int n,
                     stream *s)
{
    s->n = 0;
    s->plen = 0;
    s->ntext = n;
    if (m->xTokenize(t, s, flags, text, n, record) != SQLITE_OK)
        abort();
}

/* The non-colocated tokens of a and b are the same. */
static void same_positions(const stream *a, const stream *b)
{
    size_t i = 0, j = 0;
    for (;;) {
        while (i < a->n && (a->t[i].flags & FTS5_TOKEN_COLOCATED))
            i++;
        while (j < b->n && (b->t[j].flags & FTS5_TOKEN_COLOCATED))
            j++;
        if (i == a->n || j == b->n)
            break;
        const tokrec *x = &a->t[i++], *y = &b->t[j++];
        if (x->start != y->start || x->end != y->end || x->len != y->len ||
            memcmp(a->pool + x->off, b->pool + y->off, (size_t)x->len) != 0)
            abort();
    }
    if (i != a->n || j != b->n)
        abort();
}

/* đ and ё fold to d and е everywhere but in "=" tokens. */
static void check_folded(const stream *s, const tokrec *t)
{
    const unsigned char *p = (const unsigned char *)s->pool + t->off;
    if (t->len > 0 && p[0] == '=')
        return;
    for (int i = 0; i + 1 < t->len; i++)
        if ((p[i] == 0xC4 || p[i] == 0xD1) && p[i + 1] == 0x91)
            abort();
}

static void check_document(const stream *d)
{
    int last = 0;
    for (size_t i = 0; i < d->n; i++) {
        const tokrec *t = &d->t[i];
        check_folded(d, t);
        if (t->flags & FTS5_TOKEN_COLOCATED) {
            /* An "=" token is never a copy of its folded token. */
            const tokrec *f = &d->t[i - 1];
            if (t->len > 0 && d->pool[t->off] == '=' && t->len == f->len + 1 &&
                memcmp(d->pool + t->off + 1, d->pool + f->off, (size_t)f->len) == 0 &&
                !(f->flags & FTS5_TOKEN_COLOCATED))
                abort();
            continue;
        }
        if (t->start < last)
            abort(); /* positions move forward through the text */
        last = t->start;
    }
}

static stream doc, aux, qry, pfx, eq;

/* A tokenizer made the way FTS5 makes one for a table. */
static Fts5Tokenizer *open_tokenizer(sqlite3 *db, fts5_tokenizer *m)
{
    fts5_api *api = NULL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL) != SQLITE_OK)
        abort();
    sqlite3_bind_pointer(st, 1, &api, "fts5_api_ptr", NULL);
    sqlite3_step(st);
    sqlite3_finalize(st);
    void *ud = NULL;
    Fts5Tokenizer *t = NULL;
    if (api == NULL || api->xFindTokenizer(api, "mailvault", &ud, m) != SQLITE_OK ||
        m->xCreate(ud, NULL, 0, &t) != SQLITE_OK)
        abort();
    return t;
}

static void direct(fts5_tokenizer *m, Fts5Tokenizer *t, const char *text, int n)
{
    tokenize(m, t, FTS5_TOKENIZE_DOCUMENT, text, n, &doc);
    check_document(&doc);
    tokenize(m, t, FTS5_TOKENIZE_AUX, text, n, &aux);
    same_positions(&doc, &aux);
    if (aux.n != doc.n)
        abort();
    tokenize(m, t, FTS5_TOKENIZE_QUERY, text, n, &qry);
    tokenize(m, t, FTS5_TOKENIZE_QUERY | FTS5_TOKENIZE_PREFIX, text, n, &pfx);
    same_positions(&qry, &pfx);
    for (size_t i = 0; i < qry.n; i++) {
        if (qry.t[i].flags & FTS5_TOKEN_COLOCATED)
            abort();
        check_folded(&qry, &qry.t[i]);
    }
    if (n == 0 || text[0] != '=')
        same_positions(&doc, &qry);

    /* The same text as an "=" query. */
    char *q = xrealloc(NULL, (size_t)n + 1);
    q[0] = '=';
    memcpy(q + 1, text, (size_t)n);
    tokenize(m, t, FTS5_TOKENIZE_QUERY, q, n + 1, &eq);
    for (size_t i = 0; i < eq.n; i++)
        if (eq.t[i].len < 1 || eq.pool[eq.t[i].off] != '=' || eq.t[i].start < 1 ||
            (eq.t[i].flags & FTS5_TOKEN_COLOCATED))
            abort();
    free(q);
}

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* The FTS5 string for word[0..n): quoted, quotes doubled, after prefix. */
static char *quote(const char *prefix, const char *word, size_t n, const char *suffix)
{
    size_t cap = strlen(prefix) + 2 * n + strlen(suffix) + 3, k = 0;
    char *q = xrealloc(NULL, cap);
    q[k++] = '"';
    for (const char *p = prefix; *p; p++)
        q[k++] = *p;
    for (size_t i = 0; i < n; i++) {
        if (word[i] == '"')
            q[k++] = '"';
        q[k++] = word[i];
    }
    q[k++] = '"';
    for (const char *p = suffix; *p; p++)
        q[k++] = *p;
    q[k] = '\0';
    return q;
}

/* One connection serves many inputs: opening one and creating the table for each input
 * would cost more than everything else. Each input replaces the table's only row, and the
 * connection is renewed now and then so the index does not grow with deleted rows. */
static struct {
    sqlite3 *db;
    sqlite3_stmt *del, *ins, *match;
    fts5_tokenizer m;
    Fts5Tokenizer *tk;
    int uses;
} g;

static void teardown(void)
{
    if (g.db == NULL)
        return;
    g.m.xDelete(g.tk);
    sqlite3_finalize(g.del);
    sqlite3_finalize(g.ins);
    sqlite3_finalize(g.match);
    sqlite3_close(g.db);
    memset(&g, 0, sizeof g);
}

static void setup(void)
{
    mv_error err = {0};
    if (sqlite3_open(":memory:", &g.db) != SQLITE_OK || mv_fts_register(g.db, &err) != MV_OK)
        abort();
    g.tk = open_tokenizer(g.db, &g.m);
    if (sqlite3_exec(g.db, "CREATE VIRTUAL TABLE t USING fts5(x, tokenize='mailvault')", NULL, NULL,
                     NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(g.db, "DELETE FROM t", -1, &g.del, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(g.db, "INSERT INTO t(rowid, x) VALUES (1, ?1)", -1, &g.ins, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(g.db,
                           "SELECT rowid, highlight(t, 0, '[', ']'), snippet(t, 0, '[', ']', "
                           "'...', 5) FROM t WHERE t MATCH ?1",
                           -1, &g.match, NULL) != SQLITE_OK)
        abort();
    atexit(teardown);
}

/* Runs MATCH q; returns the number of rows, or -1 if FTS5 rejected the query. */
static int run_match(const char *q)
{
    sqlite3_bind_text(g.match, 1, q, -1, SQLITE_STATIC);
    int rc, rows = 0;
    while ((rc = sqlite3_step(g.match)) == SQLITE_ROW)
        rows++;
    sqlite3_reset(g.match);
    return rc == SQLITE_DONE ? rows : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16)
        return 0;
    const char *text = (const char *)data;
    if (g.db != NULL && ++g.uses >= 1000)
        teardown();
    if (g.db == NULL)
        setup();
    direct(&g.m, g.tk, text, (int)size);

    sqlite3_step(g.del);
    sqlite3_reset(g.del);
    sqlite3_bind_text(g.ins, 1, text, (int)size, SQLITE_STATIC);
    if (sqlite3_step(g.ins) != SQLITE_DONE)
        abort();
    sqlite3_reset(g.ins);

    size_t i = 0;
    int words = 0;
    while (i < size && words < MAX_WORDS) {
        while (i < size && is_space(data[i]))
            i++;
        size_t w = i;
        while (i < size && !is_space(data[i]))
            i++;
        if (i == w)
            break;
        const char *word = text + w;
        size_t n = i - w;
        words++;
        if (memchr(word, '\0', n) != NULL)
            continue; /* an FTS5 query is a C string */
        char *q = quote("", word, n, "");
        int found = run_match(q);
        if (found < 0)
            abort(); /* a quoted string is always a valid FTS5 query */
        /* The word was indexed at the positions a query gives it, so it must be found
         * unless its query has no tokens at all (FTS5 then matches nothing). */
        if (found == 0 && word[0] != '=') {
            tokenize(&g.m, g.tk, FTS5_TOKENIZE_QUERY, word, (int)n, &qry);
            if (qry.n > 0) {
                fprintf(stderr, "indexed word not found: %s\n", q);
                abort();
            }
        }
        free(q);
        q = quote("=", word, n, "");
        run_match(q);
        free(q);
        q = quote("", word, n, "*");
        run_match(q);
        free(q);
    }
    return 0;
}
