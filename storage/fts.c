/* mailvault: the "mailvault" FTS5 tokenizer (see fts.h).
 *
 * It wraps two instances of SQLite's own unicode61 tokenizer: "fold" (remove_diacritics 2)
 * gives the tokens that are indexed and searched, "keep" (remove_diacritics 0) gives the
 * lower-cased form with its accents for the "=" tokens. Both split text at the same places:
 * unicode61 decides token boundaries from character classes alone, and diacritic removal
 * only changes what it writes. So rather than running "keep" over the whole text and
 * zipping the two streams, the exact form of a token is got by running "keep" over just
 * that token's bytes, and only when they hold a character that folding may change (a Latin
 * letter with an accent, a combining accent, đ, ё; see is_accented). Mail is mostly ASCII,
 * so most tokens pay for one tokenization; Vietnamese or French text pays about twice.
 *
 * CJK splitting works on the original bytes of a unicode61 token, because unicode61 folds
 * its token text and the folded text is no map of where things are: a combining accent is
 * dropped, "İ" (2 bytes) becomes "i" (1 byte). The token's span in the original text is
 * walked code point by code point, decoded exactly as unicode61 decodes it (its READ_UTF8,
 * invalid bytes included), and cut into runs of CJK and non-CJK code points. The folded
 * text is walked in step: a CJK code point is left alone by folding (tests/unit/test_fts.c
 * checks every one), so a CJK run of n code points is the next n code points of the folded
 * text, and a non-CJK run is the longest stretch of non-CJK code points there (folding never
 * turns a non-CJK code point into a CJK one, also checked; it may drop some). That gives
 * every sub-token both its text and its exact byte offsets in the original, which
 * highlight() and snippet() use. Should the walk ever disagree with the folded text, the
 * rest of the token is emitted whole rather than guessed at.
 *
 * Within a CJK run of n >= 2 characters, documents get the n-1 overlapping bigrams, each
 * at its own position, and every character also as a unigram colocated with the bigram
 * that starts with it (the last character with the last bigram), so a one-character query
 * works; a query gets the bigrams only, or the unigram for a one-character run. That costs
 * twice the CJK tokens in the index. A bigram's offsets cover both its characters, so a
 * phrase of bigrams highlights exactly the characters searched for; a lone unigram match
 * highlights the bigram it sits with.
 *
 * Beyond unicode61's folding, đ folds to d (Vietnamese) and ё to е (Russian writes е for ё
 * all the time; unicode61 removes no Cyrillic diacritics), both only in the folded stream.
 */
#include "fts.h"

#include <stdint.h>
#include <string.h>

typedef int (*token_fn)(void *ctx, int tflags, const char *tok, int ntok, int start, int end);

typedef struct mv_tok {
    fts5_tokenizer u61;  /* unicode61's methods */
    Fts5Tokenizer *fold; /* remove_diacritics 2 */
    Fts5Tokenizer *keep; /* remove_diacritics 0: lower-cased, accents kept */
    /* Scratch buffers, reused for every token so the hot path does not allocate. */
    char *fbuf; /* folded text after đ and ё folding */
    int fcap;
    char *obuf; /* "=" + exact text */
    int ocap;
    char *ebuf; /* exact form captured from "keep" */
    int ecap;
    int elen, ecount, estart, eend;
} mv_tok;

/* One xTokenize call. */
typedef struct run {
    mv_tok *t;
    void *ctx;
    token_fn xToken;
    const unsigned char *src; /* the text given to unicode61 */
    int base;                 /* offset of src within the caller's text (1 after "=") */
    int query;                /* FTS5_TOKENIZE_QUERY: no colocated tokens */
    int exact;                /* a query that started with "=": tokens from "keep", "="-prefixed */
} run;

static int grow(char **buf, int *cap, int need)
{
    if (need <= *cap)
        return SQLITE_OK;
    sqlite3_int64 n = *cap ? *cap : 256;
    while (n < need)
        n *= 2;
    char *p = sqlite3_realloc64(*buf, (sqlite3_uint64)n);
    if (p == NULL)
        return SQLITE_NOMEM;
    *buf = p;
    *cap = (int)n;
    return SQLITE_OK;
}

/* unicode61's READ_UTF8, bounded by n (n >= 1): a stray continuation byte is read as the
 * code point of the same value and any number of continuation bytes is absorbed. It must be
 * this decoder, not a strict one, for code point counts to agree with unicode61's. */
static uint32_t read_utf8(const unsigned char *p, int n, int *len)
{
    static const unsigned char trans1[64] = {
        0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c,
        0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19,
        0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
        0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x00, 0x01, 0x02, 0x03,
        0x04, 0x05, 0x06, 0x07, 0x00, 0x01, 0x02, 0x03, 0x00, 0x01, 0x00, 0x00,
    };
    uint32_t c = p[0];
    int i = 1;
    if (c >= 0xc0) {
        c = trans1[c - 0xc0];
        while (i < n && (p[i] & 0xc0) == 0x80)
            c = (c << 6) + (0x3f & p[i++]);
        if (c < 0x80 || (c & 0xFFFFF800) == 0xD800 || (c & 0xFFFFFFFE) == 0xFFFE)
            c = 0xFFFD;
    }
    *len = i;
    return c;
}

static int is_cjk(uint32_t c)
{
    if (c < 0x1100)
        return 0;
    if (c < 0x3040)
        return c <= 0x11FF;
    if (c < 0xA000)
        return c <= 0x30FF || (c >= 0x3130 && c <= 0x318F) || (c >= 0x31F0 && c <= 0x31FF) ||
               (c >= 0x3400 && c <= 0x4DBF) || c >= 0x4E00;
    return (c >= 0xAC00 && c <= 0xD7AF) || (c >= 0xF900 && c <= 0xFAFF) ||
           (c >= 0xFF66 && c <= 0xFF9F) || (c >= 0x20000 && c <= 0x2FFFF);
}

static int has_high_bit(const unsigned char *p, int n)
{
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w & 0x8080808080808080ull)
            return 1;
    }
    for (; i < n; i++)
        if (p[i] & 0x80)
            return 1;
    return 0;
}

/* Whether remove_diacritics 2 may write c differently from remove_diacritics 0, or our own
 * folding changes it (đ is U+0111, ё U+0451, both lower-cased from Đ, Ё). A superset:
 * tests/unit/test_fts.c checks it against unicode61 for every code point. Tokens without
 * such a character need no exact form, which saves a tokenization for most words of
 * Cyrillic, Greek or CJK text. */
static int is_accented(uint32_t c)
{
    if (c < 0xC0)
        return 0;
    if (c <= 0x036F) /* Latin-1 letters, Latin Extended-A and B, IPA, combining accents */
        return 1;
    if (c < 0x1E00)
        return c == 0x0401 || c == 0x0451;
    return c <= 0x1EFF || c == 0x212B; /* Latin Extended Additional (Vietnamese), Å sign */
}

static int emit(run *r, int tflags, const char *p, int n, int start, int end)
{
    if (r->exact) {
        mv_tok *t = r->t;
        if (grow(&t->obuf, &t->ocap, n + 1) != SQLITE_OK)
            return SQLITE_NOMEM;
        t->obuf[0] = '=';
        memcpy(t->obuf + 1, p, (size_t)n);
        return r->xToken(r->ctx, tflags, t->obuf, n + 1, start + r->base, end + r->base);
    }
    return r->xToken(r->ctx, tflags, p, n, start + r->base, end + r->base);
}

/* A non-CJK word: folded text f (from "fold", or from "keep" in an "=" query) and, in a
 * document, its exact form x (NULL when not wanted) for the colocated "=" token. */
static int emit_word(run *r, const char *f, int fn, const char *x, int xn, int start, int end)
{
    mv_tok *t = r->t;
    if (!r->exact && fn >= 2 && memchr(f + 1, 0x91, (size_t)fn - 1) != NULL) {
        /* đ is C4 91 and ё is D1 91; unicode61 wrote f, so both bytes start characters. */
        if (grow(&t->fbuf, &t->fcap, fn) != SQLITE_OK)
            return SQLITE_NOMEM;
        int n = 0;
        for (int i = 0; i < fn; i++) {
            unsigned char c = (unsigned char)f[i];
            if (c == 0xC4 && i + 1 < fn && (unsigned char)f[i + 1] == 0x91) {
                t->fbuf[n++] = 'd';
                i++;
            } else if (c == 0xD1 && i + 1 < fn && (unsigned char)f[i + 1] == 0x91) {
                t->fbuf[n++] = (char)0xD0;
                t->fbuf[n++] = (char)0xB5;
                i++;
            } else {
                t->fbuf[n++] = (char)c;
            }
        }
        f = t->fbuf;
        fn = n;
    }
    int rc = emit(r, 0, f, fn, start, end);
    if (rc != SQLITE_OK || x == NULL || (xn == fn && memcmp(x, f, (size_t)fn) == 0))
        return rc;
    if (grow(&t->obuf, &t->ocap, xn + 1) != SQLITE_OK)
        return SQLITE_NOMEM;
    t->obuf[0] = '=';
    memcpy(t->obuf + 1, x, (size_t)xn);
    return r->xToken(r->ctx, FTS5_TOKEN_COLOCATED, t->obuf, xn + 1, start + r->base, end + r->base);
}

static int capture_cb(void *ctx, int tflags, const char *tok, int ntok, int start, int end)
{
    mv_tok *t = ctx;
    if (t->ecount++ > 0)
        return SQLITE_DONE; /* not one token: the caller gives up on the exact form */
    if (grow(&t->ebuf, &t->ecap, ntok) != SQLITE_OK)
        return SQLITE_NOMEM;
    memcpy(t->ebuf, tok, (size_t)ntok);
    t->elen = ntok;
    t->estart = start;
    t->eend = end;
    return SQLITE_OK;
}

/* The exact form of the token at src[start..end): *x is NULL if "keep" did not see exactly
 * that one token there (it always does; this is not worth trusting blindly). */
static int exact_form(run *r, int start, int end, const char **x, int *xn)
{
    mv_tok *t = r->t;
    t->ecount = 0;
    *x = NULL;
    *xn = 0;
    int rc = t->u61.xTokenize(t->keep, t, FTS5_TOKENIZE_DOCUMENT, (const char *)r->src + start,
                              end - start, capture_cb);
    if (rc != SQLITE_OK)
        return rc;
    if (t->ecount == 1 && t->estart == 0 && t->eend == end - start) {
        *x = t->ebuf;
        *xn = t->elen;
    }
    return SQLITE_OK;
}

/* A cursor over a token's text (folded or exact) kept in step with the original span. */
typedef struct cursor {
    const unsigned char *p;
    int i, n;
} cursor;

/* Consumes one code point, which must be c. */
static int take_cjk(cursor *c, uint32_t cp)
{
    int len;
    if (c->i >= c->n || read_utf8(c->p + c->i, c->n - c->i, &len) != cp)
        return 0;
    c->i += len;
    return 1;
}

/* Consumes the longest run of non-CJK code points. */
static void take_other(cursor *c)
{
    while (c->i < c->n) {
        int len;
        if (is_cjk(read_utf8(c->p + c->i, c->n - c->i, &len)))
            break;
        c->i += len;
    }
}

/* A unicode61 token tok that holds CJK text, for the original span src[start..end). */
static int split_cjk(run *r, const char *tok, int ntok, int start, int end, int want_exact)
{
    const unsigned char *src = r->src;
    cursor f = {(const unsigned char *)tok, 0, ntok};
    cursor x = {NULL, 0, 0};
    int rc = SQLITE_OK;

    if (want_exact) {
        const char *xp;
        int xn;
        rc = exact_form(r, start, end, &xp, &xn);
        if (rc != SQLITE_OK)
            return rc;
        x.p = (const unsigned char *)xp;
        x.n = xn;
    }

    int o = start;
    while (o < end && rc == SQLITE_OK) {
        int len;
        uint32_t cp = read_utf8(src + o, end - o, &len);
        if (!is_cjk(cp)) {
            int o0 = o, f0 = f.i, x0 = x.i;
            o += len;
            while (o < end && !is_cjk(read_utf8(src + o, end - o, &len)))
                o += len;
            take_other(&f);
            if (x.p)
                take_other(&x);
            if (f.i > f0)
                rc = emit_word(r, tok + f0, f.i - f0, x.p ? (const char *)x.p + x0 : NULL, x.i - x0,
                               o0, o);
            continue;
        }
        /* A CJK run: emit each bigram when its second character is reached. */
        int prev_o = -1, prev_f = -1, nrun = 0;
        while (o < end && rc == SQLITE_OK) {
            cp = read_utf8(src + o, end - o, &len);
            if (!is_cjk(cp))
                break;
            int fi = f.i;
            if (!take_cjk(&f, cp))
                goto fallback;
            if (x.p && !take_cjk(&x, cp))
                x.p = NULL; /* no more exact forms for this token */
            if (nrun > 0) {
                rc = emit(r, 0, tok + prev_f, f.i - prev_f, prev_o, o + len);
                if (rc == SQLITE_OK && !r->query)
                    rc = emit(r, FTS5_TOKEN_COLOCATED, tok + prev_f, fi - prev_f, prev_o, o);
            }
            prev_o = o;
            prev_f = fi;
            o += len;
            nrun++;
        }
        if (rc == SQLITE_OK && (nrun == 1 || !r->query))
            rc = emit(r, nrun == 1 ? 0 : FTS5_TOKEN_COLOCATED, tok + prev_f, f.i - prev_f, prev_o,
                      o);
    }
    if (rc != SQLITE_OK || f.i == f.n)
        return rc;
fallback:
    return emit_word(r, tok + f.i, f.n - f.i, NULL, 0, o, end);
}

/* Called by unicode61 for each of its tokens. */
static int on_token(void *ctx, int tflags, const char *tok, int ntok, int start, int end)
{
    run *r = ctx;
    const unsigned char *p = r->src;
    int cjk = 0, accented = 0;
    if (has_high_bit(p + start, end - start)) {
        for (int i = start; i < end;) {
            if (p[i] < 0x80) {
                i++;
                continue;
            }
            int len;
            uint32_t c = read_utf8(p + i, end - i, &len);
            cjk |= is_cjk(c);
            accented |= is_accented(c);
            i += len;
        }
    }
    if (cjk)
        return split_cjk(r, tok, ntok, start, end, accented && !r->query);
    if (!accented) /* folded and exact forms are the same */
        return emit(r, tflags, tok, ntok, start, end);
    const char *x = NULL;
    int xn = 0;
    if (!r->query) {
        int rc = exact_form(r, start, end, &x, &xn);
        if (rc != SQLITE_OK)
            return rc;
    }
    return emit_word(r, tok, ntok, x, xn, start, end);
}

static int mv_tokenize(Fts5Tokenizer *pt, void *ctx, int flags, const char *text, int ntext,
                       token_fn xToken)
{
    mv_tok *t = (mv_tok *)pt;
    if (text == NULL || ntext <= 0)
        return SQLITE_OK;
    run r = {t, ctx, xToken, (const unsigned char *)text, 0, (flags & FTS5_TOKENIZE_QUERY) != 0, 0};
    Fts5Tokenizer *u = t->fold;
    /* Documents (and FTS5_TOKENIZE_AUX, for highlight() and snippet(), which must see the
     * same positions) get the colocated tokens; queries never do. */
    if (r.query && text[0] == '=') {
        r.exact = 1;
        r.base = 1;
        r.src++;
        u = t->keep;
    }
    return t->u61.xTokenize(u, &r, flags, (const char *)r.src, ntext - r.base, on_token);
}

static void mv_delete(Fts5Tokenizer *pt)
{
    mv_tok *t = (mv_tok *)pt;
    if (t == NULL)
        return;
    if (t->fold)
        t->u61.xDelete(t->fold);
    if (t->keep)
        t->u61.xDelete(t->keep);
    sqlite3_free(t->fbuf);
    sqlite3_free(t->obuf);
    sqlite3_free(t->ebuf);
    sqlite3_free(t);
}

static int mv_create(void *api_ptr, const char **argv, int argc, Fts5Tokenizer **out)
{
    fts5_api *api = api_ptr;
    const char *fold_args[] = {"remove_diacritics", "2"};
    const char *keep_args[] = {"remove_diacritics", "0"};
    void *u61_ctx = NULL;
    *out = NULL;
    if (argc != 0)
        return SQLITE_ERROR;
    mv_tok *t = sqlite3_malloc(sizeof *t);
    if (t == NULL)
        return SQLITE_NOMEM;
    memset(t, 0, sizeof *t);
    int rc = api->xFindTokenizer(api, "unicode61", &u61_ctx, &t->u61);
    if (rc == SQLITE_OK)
        rc = t->u61.xCreate(u61_ctx, fold_args, 2, &t->fold);
    if (rc == SQLITE_OK)
        rc = t->u61.xCreate(u61_ctx, keep_args, 2, &t->keep);
    if (rc != SQLITE_OK) {
        mv_delete((Fts5Tokenizer *)t);
        return rc;
    }
    *out = (Fts5Tokenizer *)t;
    return SQLITE_OK;
}

mv_status mv_fts_register(sqlite3 *db, mv_error *err)
{
    fts5_api *api = NULL;
    sqlite3_stmt *st = NULL;
    if (db == NULL)
        return mv_error_set(err, MV_ERR_INTERNAL, "fts: no database");
    /* The documented way to reach the FTS5 API of a connection. */
    int rc = sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_pointer(st, 1, &api, "fts5_api_ptr", NULL);
        sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK)
        return mv_error_set(err, MV_ERR_INTERNAL, "fts: this SQLite has no FTS5: %s",
                            sqlite3_errmsg(db));
    if (api == NULL || api->iVersion < 2)
        return mv_error_set(err, MV_ERR_INTERNAL, "fts: this SQLite's FTS5 API is unusable");

    void *u61_ctx;
    fts5_tokenizer methods;
    if (api->xFindTokenizer(api, "unicode61", &u61_ctx, &methods) != SQLITE_OK)
        return mv_error_set(err, MV_ERR_INTERNAL, "fts: FTS5 has no unicode61 tokenizer");
    methods.xCreate = mv_create;
    methods.xDelete = mv_delete;
    methods.xTokenize = mv_tokenize;
    /* The context is the connection's fts5_api, which lives as long as the connection. */
    rc = api->xCreateTokenizer(api, "mailvault", api, &methods, NULL);
    if (rc != SQLITE_OK)
        return mv_error_set(err, rc == SQLITE_NOMEM ? MV_ERR_NOMEM : MV_ERR_INTERNAL,
                            "fts: cannot register the mailvault tokenizer: %s", sqlite3_errstr(rc));
    return MV_OK;
}
