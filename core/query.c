/* mailvault: the search query language, compiled to SQL (see query.h).
 *
 * Three passes: a lexer and recursive-descent parser build a tree; the tree is put in
 * negation normal form (NOT only directly above a leaf, De Morgan everywhere else) and
 * flattened; the normal form is written out as SQL. Full-text parts of an AND or OR are
 * merged into one FTS5 expression, so `a b -c` is one MATCH instead of three sets that
 * SQLite would build and intersect.
 *
 * SQLite 3.40's parser has a fixed stack of 100 entries, and every operand still waiting on
 * the right of an operator holds some of it. So the writer puts the deepest operand of each
 * AND/OR first (they commute) and NOT never wraps a group; together with the nesting limit
 * this keeps every compiled query well inside the parser's stack, also when the caller nests
 * the WHERE clause in a larger statement. The term limit keeps SQLite's expression height
 * (1000) out of reach.
 */
#include "query.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 32   /* parentheses and NOTs, nested */
#define MAX_TERMS 256  /* leaves */
#define MAX_TEXT 16384 /* bytes; also keeps a folder glob under SQLite's 50000-byte limit */
#define EXCERPT_MAX 48 /* bytes of user text quoted in an error message */

struct mv_query {
    char *where;
    mv_query_param *params;
    size_t nparams, capparams;
    char *exact;
    const char **terms;
    size_t nterms, capterms;
    void **mem; /* everything else: tree nodes, token text, parameter text */
    size_t nmem, capmem;
};

/* ---- memory ---------------------------------------------------------------------------- */

static void *q_alloc(mv_query *q, size_t n)
{
    if (q->nmem == q->capmem) {
        size_t cap = q->capmem ? q->capmem * 2 : 32;
        void **m = realloc(q->mem, cap * sizeof *m);
        if (m == NULL)
            return NULL;
        q->mem = m;
        q->capmem = cap;
    }
    void *p = calloc(1, n ? n : 1);
    if (p != NULL)
        q->mem[q->nmem++] = p;
    return p;
}

static char *q_strndup(mv_query *q, const char *s, size_t n)
{
    char *p = q_alloc(q, n + 1);
    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int failed;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

/* An FTS5 string: the text in double quotes, inner quotes doubled. Leading '=' are dropped:
 * the mailvault tokenizer reads a string that starts with '=' as an exact-accent query
 * (storage/fts.h), and '=' separates tokens anyway, so dropping them changes nothing else. */
static void sb_fts_string(sbuf *b, const char *s)
{
    while (*s == '=')
        s++;
    sb_add(b, "\"", 1);
    for (const char *q; (q = strchr(s, '"')) != NULL; s = q + 1)
        sb_add(b, s, (size_t)(q - s + 1)), sb_add(b, "\"", 1);
    sb_str(b, s);
    sb_add(b, "\"", 1);
}

/* ---- characters ------------------------------------------------------------------------ */

static int is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int is_delim(int c)
{
    return c == '\0' || is_space(c) || c == '(' || c == ')';
}

static int is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* s[0..n) equals the lower-case word w, ignoring ASCII case. */
static int ieq(const char *s, size_t n, const char *w)
{
    if (strlen(w) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)s[i]) != w[i])
            return 0;
    return 1;
}

/* Decodes one UTF-8 sequence at s; returns its length, or 0 if it is not valid UTF-8
 * (overlong forms, surrogates and values past U+10FFFF included). */
static size_t utf8_decode(const unsigned char *s, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t n;
    uint32_t c, min;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        n = 2, c = s[0] & 0x1F, min = 0x80;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF)
        n = 3, c = s[0] & 0x0F, min = 0x800;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4)
        n = 4, c = s[0] & 0x07, min = 0x10000;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return n;
}

/* For the exact-accent ranking expression, which only has to be close to the tokenizer:
 * whether a code point separates words, and whether the tokenizer's folding would change
 * it (Latin letters with marks, đ, combining marks, ё). A letter wrongly counted as
 * accented only adds a term that never matches. */
static int cp_separates(uint32_t c)
{
    if (c < 0x80)
        return !(is_alpha((int)c) || is_digit((int)c));
    return c <= 0xBF || c == 0xD7 || c == 0xF7 || (c >= 0x2000 && c <= 0x2BFF) ||
           (c >= 0x2E00 && c <= 0x2E7F) || (c >= 0x3000 && c <= 0x303F) ||
           (c >= 0xFF00 && c <= 0xFF0F);
}

static int cp_accented(uint32_t c)
{
    return (c >= 0xC0 && c <= 0x24F && c != 0xD7 && c != 0xF7) || (c >= 0x300 && c <= 0x36F) ||
           (c >= 0x1E00 && c <= 0x1EFF) || c == 0x401 || c == 0x451;
}

/* ---- the tree -------------------------------------------------------------------------- */

typedef enum { N_TRUE, N_FALSE, N_FTS, N_SQL, N_NOT, N_AND, N_OR } nkind;

typedef struct node {
    nkind kind;
    struct node *kids; /* first operand (N_NOT: the only one) */
    struct node *next; /* next operand of the same parent */
    /* N_FTS */
    const char *col;  /* FTS5 column, or NULL for all */
    const char *text; /* as typed, quotes removed, without the prefix '*' */
    int prefix;
    /* N_SQL: each '?' in sql takes the next of args */
    const char *sql;
    mv_query_param args[2];
    int nullable; /* can be NULL (a NULL column), which NOT must turn into true */
    /* set by annotate() on the normal form */
    int cls;    /* 1: the FTS5 expression fts(n); -1: NOT of it; 0: not full-text */
    int height; /* 0 for leaves (and NOT over a leaf) */
} node;

static node *new_node(mv_query *q, nkind kind)
{
    node *n = q_alloc(q, sizeof *n);
    if (n != NULL)
        n->kind = kind;
    return n;
}

/* ---- the lexer ------------------------------------------------------------------------- */

enum field_kind {
    F_TEXT,
    F_FOLDER,
    F_ACCOUNT,
    F_DATE,
    F_BEFORE,
    F_AFTER,
    F_IS,
    F_HAS,
    F_SIZE,
    F_ID
};

typedef struct field {
    const char *name;
    enum field_kind kind;
    const char *col; /* F_TEXT */
} field;

static const field fields[] = {
    {"from", F_TEXT, "sender"},
    {"to", F_TEXT, "recipients"},
    {"subject", F_TEXT, "subject"},
    {"body", F_TEXT, "body"},
    {"attachment", F_TEXT, "attachments"},
    {"folder", F_FOLDER, NULL},
    {"account", F_ACCOUNT, NULL},
    {"date", F_DATE, NULL},
    {"before", F_BEFORE, NULL},
    {"after", F_AFTER, NULL},
    {"is", F_IS, NULL},
    {"has", F_HAS, NULL},
    {"size", F_SIZE, NULL},
    {"id", F_ID, NULL},
};
#define NFIELDS (sizeof fields / sizeof fields[0])

typedef enum { T_END, T_LP, T_RP, T_OR, T_AND, T_NOT, T_MINUS, T_WORD, T_FIELD } ttype;

typedef struct token {
    ttype type;
    size_t at;   /* byte offset of the token */
    size_t vat;  /* byte offset of the value (T_WORD, T_FIELD) */
    char *value; /* quotes removed */
    int quoted;
    int prefix; /* a quoted value followed by '*' */
    const field *f;
} token;

typedef struct parser {
    const char *s;
    size_t pos;
    int64_t now;
    mv_query *q;
    mv_error *err;
    mv_status st;
    token t;
    int depth;
    size_t nterms;
} parser;

/* The 1-based character position of byte offset at (the text is valid UTF-8 by then). */
static size_t charpos(const char *s, size_t at)
{
    size_t n = 1;
    for (size_t i = 0; i < at && s[i]; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

/* User text for an error message: at most EXCERPT_MAX bytes, cut on a character boundary. */
static void excerpt(char *out, size_t cap, const char *s, size_t n)
{
    const char *dots = "";
    if (n > EXCERPT_MAX) {
        n = EXCERPT_MAX;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
        dots = "...";
    }
    snprintf(out, cap, "%.*s%s", (int)n, s, dots);
}

__attribute__((format(printf, 4, 5))) static mv_status fail(parser *p, size_t at, const char *hint,
                                                            const char *fmt, ...)
{
    char problem[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(problem, sizeof problem, fmt, ap);
    va_end(ap);
    mv_error_set(p->err, MV_ERR_USAGE, "query: %s at character %zu%s%s%s", problem,
                 charpos(p->s, at), hint ? " (" : "", hint ? hint : "", hint ? ")" : "");
    return p->st = MV_ERR_USAGE;
}

static mv_status oom(parser *p)
{
    mv_error_set(p->err, MV_ERR_NOMEM, "query: out of memory");
    return p->st = MV_ERR_NOMEM;
}

/* Optimal string alignment distance (a swap of neighbours counts once), ignoring case. */
static size_t edit_distance(const char *a, size_t na, const char *b)
{
    size_t nb = strlen(b);
    if (na > 16)
        return na;
    size_t d[17][17];
    for (size_t i = 0; i <= na; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= nb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= na; i++)
        for (size_t j = 1; j <= nb; j++) {
            size_t cost = lower((unsigned char)a[i - 1]) != b[j - 1];
            size_t v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && lower((unsigned char)a[i - 1]) == b[j - 2] &&
                lower((unsigned char)a[i - 2]) == b[j - 1] && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[na][nb];
}

static mv_status unknown_field(parser *p, size_t at, size_t n)
{
    const field *best = NULL;
    size_t bestd = (size_t)-1;
    for (size_t i = 0; i < NFIELDS; i++) {
        size_t d = edit_distance(p->s + at, n, fields[i].name);
        if (d < bestd)
            bestd = d, best = &fields[i];
    }
    char name[64], hint[64];
    excerpt(name, sizeof name, p->s + at, n + 1);
    if (bestd <= (n <= 4 ? 1u : 2u) && bestd < n)
        snprintf(hint, sizeof hint, "did you mean %s:?", best->name);
    else
        snprintf(hint, sizeof hint, "put it in quotes to search for it as text");
    return fail(p, at, hint, "unknown field \"%s\"", name);
}

/* A quoted string at p->s[at] ('"'); a '"' inside is written "". Sets t->value, and
 * t->prefix for a full-text word followed by '*'. */
static mv_status lex_quoted(parser *p, size_t at)
{
    sbuf b = {0};
    size_t i = at + 1;
    for (;;) {
        const char *s = p->s + i;
        size_t n = strcspn(s, "\"");
        sb_add(&b, s, n);
        i += n;
        if (p->s[i] == '\0') {
            free(b.p);
            return fail(p, at, NULL, "unterminated quote");
        }
        if (p->s[i + 1] != '"')
            break;
        sb_add(&b, "\"", 1);
        i += 2;
    }
    i++; /* the closing quote */
    if (p->s[i] == '*' && is_delim((unsigned char)p->s[i + 1]) &&
        (p->t.f == NULL || p->t.f->kind == F_TEXT))
        p->t.prefix = 1, i++;
    p->t.value = b.failed ? NULL : q_strndup(p->q, b.p ? b.p : "", b.len);
    free(b.p);
    if (p->t.value == NULL)
        return oom(p);
    p->t.quoted = 1;
    p->pos = i;
    return MV_OK;
}

static mv_status lex(parser *p)
{
    const char *s = p->s;
    token *t = &p->t;
    memset(t, 0, sizeof *t);
    while (is_space((unsigned char)s[p->pos]))
        p->pos++;
    size_t at = t->at = p->pos;
    switch (s[at]) {
    case '\0':
        t->type = T_END;
        return MV_OK;
    case '(':
        t->type = T_LP;
        p->pos++;
        return MV_OK;
    case ')':
        t->type = T_RP;
        p->pos++;
        return MV_OK;
    case '"':
        t->type = T_WORD;
        t->vat = at;
        return lex_quoted(p, at);
    case '-':
        if (is_delim((unsigned char)s[at + 1]) && s[at + 1] != '(')
            return fail(p, at, NULL, "nothing after \"-\"");
        t->type = T_MINUS;
        p->pos++;
        return MV_OK;
    default:
        break;
    }
    size_t end = at;
    while (!is_delim((unsigned char)s[end]))
        end++;
    size_t n = end - at;
    if (n == 2 && memcmp(s + at, "OR", 2) == 0)
        t->type = T_OR;
    else if (n == 3 && memcmp(s + at, "AND", 3) == 0)
        t->type = T_AND;
    else if (n == 3 && memcmp(s + at, "NOT", 3) == 0)
        t->type = T_NOT;
    if (t->type != T_END) {
        p->pos = end;
        return MV_OK;
    }
    size_t k = at;
    while (is_alpha((unsigned char)s[k]))
        k++;
    if (k > at && s[k] == ':') {
        for (size_t i = 0; i < NFIELDS && t->f == NULL; i++)
            if (ieq(s + at, k - at, fields[i].name))
                t->f = &fields[i];
        if (t->f == NULL)
            return unknown_field(p, at, k - at);
        t->type = T_FIELD;
        t->vat = k + 1;
        if (s[k + 1] == '"')
            return lex_quoted(p, k + 1);
    } else {
        t->type = T_WORD;
        t->vat = at;
    }
    t->value = q_strndup(p->q, s + t->vat, end - t->vat);
    if (t->value == NULL)
        return oom(p);
    p->pos = end;
    return MV_OK;
}

/* ---- dates and sizes ------------------------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int64_t y, int m)
{
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dim[m - 1];
}

/* Digits only, 1 to max of them. */
static int parse_digits(const char *s, size_t n, size_t max, int64_t *out)
{
    if (n == 0 || n > max)
        return 0;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit((unsigned char)s[i]))
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

/* A date names a period [start, end): a year, a month, a day (UTC), today or yesterday; a
 * relative date (7d, 2w, 3m, 1y: that long before now, months and years by the calendar)
 * names an instant, start == end. */
static int parse_date(const char *s, size_t n, int64_t now, int64_t *start, int64_t *end)
{
    int64_t today = floor_div(now, 86400) * 86400;
    if (ieq(s, n, "today")) {
        *start = today, *end = today + 86400;
        return 1;
    }
    if (ieq(s, n, "yesterday")) {
        *start = today - 86400, *end = today;
        return 1;
    }
    int64_t num;
    int unit = n ? lower((unsigned char)s[n - 1]) : 0;
    if ((unit == 'd' || unit == 'w' || unit == 'm' || unit == 'y') &&
        parse_digits(s, n - 1, 6, &num)) {
        int64_t t;
        if (unit == 'd')
            t = now - num * 86400;
        else if (unit == 'w')
            t = now - num * 7 * 86400;
        else {
            int64_t y, days = floor_div(now, 86400);
            int m, d;
            civil_from_days(days, &y, &m, &d);
            int64_t months = y * 12 + (m - 1) - (unit == 'm' ? num : num * 12);
            y = floor_div(months, 12);
            m = (int)(months - y * 12) + 1;
            if (d > days_in_month(y, m))
                d = days_in_month(y, m);
            t = days_from_civil(y, m, d) * 86400 + (now - days * 86400);
        }
        *start = *end = t;
        return 1;
    }
    int64_t y, mon = 0, day = 0;
    if (n < 4 || !parse_digits(s, 4, 4, &y))
        return 0;
    size_t i = 4;
    if (i < n) {
        size_t j = i + 1;
        while (j < n && s[j] != '-')
            j++;
        if (s[i] != '-' || !parse_digits(s + i + 1, j - i - 1, 2, &mon) || mon < 1 || mon > 12)
            return 0;
        i = j;
    }
    if (i < n) {
        if (!parse_digits(s + i + 1, n - i - 1, 2, &day) || day < 1 ||
            day > days_in_month(y, (int)mon))
            return 0;
    }
    if (day) {
        *start = days_from_civil(y, (int)mon, (int)day) * 86400;
        *end = *start + 86400;
    } else if (mon) {
        *start = days_from_civil(y, (int)mon, 1) * 86400;
        *end = mon == 12 ? days_from_civil(y + 1, 1, 1) * 86400
                         : days_from_civil(y, (int)mon + 1, 1) * 86400;
    } else {
        *start = days_from_civil(y, 1, 1) * 86400;
        *end = days_from_civil(y + 1, 1, 1) * 86400;
    }
    return 1;
}

/* 1234, 100k, 1.5M, 2G (1024 multiples, any case, an optional B after); a fraction needs a
 * unit and is rounded to the nearest byte. */
static int parse_size(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    while (i < n && is_digit((unsigned char)s[i]))
        i++;
    int64_t ip, frac = 0, scale = 1;
    if (!parse_digits(s, i, 15, &ip))
        return 0;
    if (i < n && s[i] == '.') {
        size_t j = ++i;
        while (i < n && is_digit((unsigned char)s[i]))
            i++;
        if (!parse_digits(s + j, i - j, 9, &frac))
            return 0;
        for (size_t k = j; k < i; k++)
            scale *= 10;
    }
    int64_t mult = 1;
    if (i < n) {
        int u = lower((unsigned char)s[i]);
        mult = u == 'k' ? 1024 : u == 'm' ? 1024 * 1024 : u == 'g' ? 1024 * 1024 * 1024 : 1;
        if (mult > 1)
            i++;
    }
    if (i < n && lower((unsigned char)s[i]) == 'b')
        i++;
    if (i != n || (scale > 1 && mult == 1) || ip > INT64_MAX / mult - 1)
        return 0;
    *out = ip * mult + (frac * mult * 2 + scale) / (2 * scale);
    return 1;
}

/* ---- leaves ---------------------------------------------------------------------------- */

#define LIVE "l.message = m.id AND l.superseded_at IS NULL"
#define IN_FOLDER "EXISTS (SELECT 1 FROM locations l JOIN mailboxes b ON b.id = l.mailbox "
#define HAS_FLAG(flag)                                                                             \
    "EXISTS (SELECT 1 FROM locations l WHERE " LIVE " AND l.expunged_at IS NULL AND "              \
    "instr(' ' || l.flags || ' ', ' " flag " ') > 0)"

static const struct {
    const char *name, *sql;
} is_values[] = {
    {"unread", "EXISTS (SELECT 1 FROM locations l WHERE " LIVE " AND l.expunged_at IS NULL AND "
               "instr(' ' || l.flags || ' ', ' \\Seen ') = 0)"},
    {"read", HAS_FLAG("\\Seen")},
    {"flagged", HAS_FLAG("\\Flagged")},
    {"answered", HAS_FLAG("\\Answered")},
    {"draft", HAS_FLAG("\\Draft")},
    {"expunged", "EXISTS (SELECT 1 FROM locations l WHERE " LIVE " AND l.expunged_at IS NOT NULL)"},
};

static node *sql_leaf(parser *p, const char *sql, int nullable)
{
    node *n = new_node(p->q, N_SQL);
    if (n == NULL) {
        oom(p);
        return NULL;
    }
    n->sql = sql;
    n->nullable = nullable;
    return n;
}

static node *int_leaf(parser *p, const char *sql, int64_t a, int64_t b, int nullable)
{
    node *n = sql_leaf(p, sql, nullable);
    if (n != NULL) {
        n->args[0].is_int = n->args[1].is_int = 1;
        n->args[0].i = a;
        n->args[1].i = b;
    }
    return n;
}

static node *text_leaf(parser *p, const char *sql, const char *s, int nullable)
{
    node *n = sql_leaf(p, sql, nullable);
    if (n != NULL)
        n->args[0].s = s;
    return n;
}

static node *bad_value(parser *p, size_t at, const char *what, const char *v, size_t n,
                       const char *hint)
{
    char ex[64];
    excerpt(ex, sizeof ex, v, n);
    fail(p, at, hint, "bad %s \"%s\"", what, ex);
    return NULL;
}

static node *unknown_value(parser *p, size_t at, const field *f, const char *v, size_t n,
                           const char *hint)
{
    char ex[64];
    excerpt(ex, sizeof ex, v, n);
    fail(p, at, hint, "unknown value \"%s\" for %s:", ex, f->name);
    return NULL;
}

#define DATE_HINT "use YYYY, YYYY-MM, YYYY-MM-DD, today, yesterday, or 7d, 2w, 3m, 1y for ago"
#define SIZE_HINT "use e.g. 100k, >1M, <=2G, 10k..1.5M"

static node *date_leaf(parser *p, const field *f, const char *v, size_t vat)
{
    size_t n = strlen(v);
    int64_t a0, a1, b0, b1;
    if (f->kind != F_DATE) {
        if (!parse_date(v, n, p->now, &a0, &a1))
            return bad_value(p, vat, "date", v, n, DATE_HINT);
        return int_leaf(p, f->kind == F_BEFORE ? "m.date < ?" : "m.date >= ?", a0, 0, 1);
    }
    const char *dots = strstr(v, "..");
    if (dots == NULL) {
        if (!parse_date(v, n, p->now, &a0, &a1))
            return bad_value(p, vat, "date", v, n, DATE_HINT);
        if (a0 == a1) /* date:7d is since 7 days ago */
            return int_leaf(p, "m.date >= ?", a0, 0, 1);
        return int_leaf(p, "(m.date >= ? AND m.date < ?)", a0, a1, 1);
    }
    size_t na = (size_t)(dots - v), nb = n - na - 2;
    if (na == 0 && nb == 0)
        return bad_value(p, vat, "date", v, n, DATE_HINT);
    if (na > 0 && !parse_date(v, na, p->now, &a0, &a1))
        return bad_value(p, vat, "date", v, na, DATE_HINT);
    if (nb > 0 && !parse_date(dots + 2, nb, p->now, &b0, &b1))
        return bad_value(p, vat + na + 2, "date", dots + 2, nb, DATE_HINT);
    if (na == 0)
        return int_leaf(p, "m.date < ?", b1, 0, 1);
    if (nb == 0)
        return int_leaf(p, "m.date >= ?", a0, 0, 1);
    if (a0 >= b1)
        return bad_value(p, vat, "date range", v, n, "it ends before it starts");
    return int_leaf(p, "(m.date >= ? AND m.date < ?)", a0, b1, 1);
}

static node *size_leaf(parser *p, const char *v, size_t vat)
{
    static const struct {
        const char *op, *sql;
    } ops[] = {
        {">=", "m.size >= ?"}, {"<=", "m.size <= ?"}, {">", "m.size > ?"}, {"<", "m.size < ?"}};
    size_t n = strlen(v);
    int64_t a, b;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        size_t k = strlen(ops[i].op);
        if (strncmp(v, ops[i].op, k) == 0) {
            if (!parse_size(v + k, n - k, &a))
                return bad_value(p, vat, "size", v, n, SIZE_HINT);
            return int_leaf(p, ops[i].sql, a, 0, 0);
        }
    }
    const char *dots = strstr(v, "..");
    if (dots == NULL) {
        if (!parse_size(v, n, &a))
            return bad_value(p, vat, "size", v, n, SIZE_HINT);
        return int_leaf(p, "m.size = ?", a, 0, 0);
    }
    size_t na = (size_t)(dots - v), nb = n - na - 2;
    if (na == 0 && nb == 0)
        return bad_value(p, vat, "size", v, n, SIZE_HINT);
    if (na > 0 && !parse_size(v, na, &a))
        return bad_value(p, vat, "size", v, na, SIZE_HINT);
    if (nb > 0 && !parse_size(dots + 2, nb, &b))
        return bad_value(p, vat + na + 2, "size", dots + 2, nb, SIZE_HINT);
    if (na == 0)
        return int_leaf(p, "m.size <= ?", b, 0, 0);
    if (nb == 0)
        return int_leaf(p, "m.size >= ?", a, 0, 0);
    if (a > b)
        return bad_value(p, vat, "size range", v, n, "it ends before it starts");
    return int_leaf(p, "(m.size >= ? AND m.size <= ?)", a, b, 0);
}

static node *fts_leaf(parser *p, const char *col, const char *text, int prefix)
{
    node *n = new_node(p->q, N_FTS);
    if (n == NULL) {
        oom(p);
        return NULL;
    }
    n->col = col;
    n->text = text;
    n->prefix = prefix;
    return n;
}

static int blank(const char *s)
{
    while (is_space((unsigned char)*s))
        s++;
    return *s == '\0';
}

/* The leaf for the current token (T_WORD or T_FIELD). */
static node *leaf(parser *p)
{
    token *t = &p->t;
    if (++p->nterms > MAX_TERMS) {
        fail(p, t->at, NULL, "too many terms (more than %d)", MAX_TERMS);
        return NULL;
    }
    char *v = t->value;
    size_t n = strlen(v);
    if (t->type == T_WORD) {
        if (t->quoted) {
            if (blank(v)) {
                fail(p, t->at, NULL, "empty phrase");
                return NULL;
            }
            return fts_leaf(p, NULL, v, t->prefix);
        }
        if (strcmp(v, "*") == 0) { /* as in notmuch: everything */
            node *all = new_node(p->q, N_TRUE);
            if (all == NULL)
                oom(p);
            return all;
        }
        int prefix = n > 1 && v[n - 1] == '*';
        if (prefix)
            v[n - 1] = '\0';
        return fts_leaf(p, NULL, v, prefix);
    }
    const field *f = t->f;
    if (blank(v)) {
        fail(p, t->at, NULL, "empty value for %s:", f->name);
        return NULL;
    }
    switch (f->kind) {
    case F_TEXT: {
        int prefix = t->prefix;
        if (!t->quoted && v[n - 1] == '*') {
            if (n == 1) {
                fail(p, t->vat, NULL, "nothing before \"*\" in %s:", f->name);
                return NULL;
            }
            v[n - 1] = '\0';
            prefix = 1;
        }
        return fts_leaf(p, f->col, v, prefix);
    }
    case F_FOLDER: {
        if (ieq(v, n, "inbox")) /* INBOX is case-insensitive (RFC 3501) */
            memcpy(v, "INBOX", 5);
        if (strpbrk(v, "*?") == NULL)
            return text_leaf(p, IN_FOLDER "WHERE " LIVE " AND b.name = ?)", v, 0);
        /* Only * and ? are wildcards: a '[' (as in "[Gmail]/All Mail") is literal. */
        sbuf b = {0};
        for (const char *s = v; *s; s++)
            if (*s == '[')
                sb_str(&b, "[[]");
            else
                sb_add(&b, s, 1);
        char *glob = b.failed ? NULL : q_strndup(p->q, b.p, b.len);
        free(b.p);
        if (glob == NULL) {
            oom(p);
            return NULL;
        }
        return text_leaf(p, IN_FOLDER "WHERE " LIVE " AND b.name GLOB ?)", glob, 0);
    }
    case F_ACCOUNT:
        return text_leaf(
            p, IN_FOLDER "JOIN accounts a ON a.id = b.account WHERE " LIVE " AND a.name = ?)", v,
            0);
    case F_DATE:
    case F_BEFORE:
    case F_AFTER:
        return date_leaf(p, f, v, t->vat);
    case F_SIZE:
        return size_leaf(p, v, t->vat);
    case F_IS:
        for (size_t i = 0; i < sizeof is_values / sizeof is_values[0]; i++)
            if (ieq(v, n, is_values[i].name))
                return sql_leaf(p, is_values[i].sql, 0);
        return unknown_value(p, t->vat, f, v, n,
                             "use unread, read, flagged, answered, draft or expunged");
    case F_HAS:
        if (ieq(v, n, "attachment"))
            return sql_leaf(p, "m.has_attachment = 1", 1);
        return unknown_value(p, t->vat, f, v, n, "use has:attachment");
    case F_ID:
        if (v[0] == '<')
            v++, n--;
        if (n > 0 && v[n - 1] == '>')
            v[--n] = '\0';
        if (blank(v)) {
            fail(p, t->at, NULL, "empty value for %s:", f->name);
            return NULL;
        }
        return text_leaf(p, "m.message_id = ?", v, 1);
    }
    return NULL;
}

/* ---- the parser ------------------------------------------------------------------------ */

static node *parse_or(parser *p);

/* Operands of a group, appended in order. */
typedef struct list {
    node *first, *last;
} opnds;

static void push(opnds *l, node *n)
{
    n->next = NULL;
    if (l->last)
        l->last->next = n;
    else
        l->first = n;
    l->last = n;
}

static node *group(parser *p, nkind kind, opnds *l)
{
    if (l->first == l->last)
        return l->first;
    node *g = new_node(p->q, kind);
    if (g == NULL) {
        oom(p);
        return NULL;
    }
    g->kids = l->first;
    return g;
}

static int ends_operand(ttype t)
{
    return t == T_END || t == T_RP || t == T_OR || t == T_AND;
}

static const char *const token_names[] = {"", "(", ")", "OR", "AND", "NOT", "-", "", ""};

static node *parse_unary(parser *p)
{
    token *t = &p->t;
    size_t at = t->at;
    switch (t->type) {
    case T_NOT:
    case T_MINUS: {
        const char *what = t->type == T_NOT ? "NOT" : "\"-\"";
        if (++p->depth > MAX_DEPTH) {
            fail(p, at, NULL, "too deeply nested (more than %d levels)", MAX_DEPTH);
            return NULL;
        }
        if (lex(p) != MV_OK)
            return NULL;
        if (ends_operand(t->type)) {
            fail(p, at, NULL, "nothing after %s", what);
            return NULL;
        }
        node *k = parse_unary(p);
        if (k == NULL)
            return NULL;
        p->depth--;
        node *n = new_node(p->q, N_NOT);
        if (n == NULL) {
            oom(p);
            return NULL;
        }
        n->kids = k;
        return n;
    }
    case T_LP: {
        if (++p->depth > MAX_DEPTH) {
            fail(p, at, NULL, "too deeply nested (more than %d levels)", MAX_DEPTH);
            return NULL;
        }
        if (lex(p) != MV_OK)
            return NULL;
        if (t->type == T_RP) {
            fail(p, at, NULL, "empty parentheses");
            return NULL;
        }
        if (t->type == T_END) {
            fail(p, at, NULL, "unbalanced \"(\"");
            return NULL;
        }
        node *k = parse_or(p);
        if (k == NULL)
            return NULL;
        if (t->type != T_RP) {
            fail(p, at, NULL, "unbalanced \"(\"");
            return NULL;
        }
        p->depth--;
        return lex(p) == MV_OK ? k : NULL;
    }
    case T_RP:
        fail(p, at, NULL, "unbalanced \")\"");
        return NULL;
    case T_OR:
    case T_AND:
        fail(p, at, NULL, "dangling operator %s", token_names[t->type]);
        return NULL;
    case T_WORD:
    case T_FIELD: {
        node *n = leaf(p);
        return n != NULL && lex(p) == MV_OK ? n : NULL;
    }
    case T_END:
        break;
    }
    fail(p, at, NULL, "unexpected end");
    return NULL;
}

static node *parse_and(parser *p)
{
    opnds l = {0};
    node *n = parse_unary(p);
    if (n == NULL)
        return NULL;
    push(&l, n);
    for (;;) {
        ttype t = p->t.type;
        if (t == T_AND) {
            size_t at = p->t.at;
            if (lex(p) != MV_OK)
                return NULL;
            if (ends_operand(p->t.type)) {
                fail(p, at, NULL, "dangling operator AND");
                return NULL;
            }
        } else if (ends_operand(t))
            break;
        if ((n = parse_unary(p)) == NULL)
            return NULL;
        push(&l, n);
    }
    return group(p, N_AND, &l);
}

static node *parse_or(parser *p)
{
    opnds l = {0};
    node *n = parse_and(p);
    if (n == NULL)
        return NULL;
    push(&l, n);
    while (p->t.type == T_OR) {
        size_t at = p->t.at;
        if (lex(p) != MV_OK)
            return NULL;
        if (ends_operand(p->t.type)) {
            fail(p, at, NULL, "dangling operator OR");
            return NULL;
        }
        if ((n = parse_and(p)) == NULL)
            return NULL;
        push(&l, n);
    }
    return group(p, N_OR, &l);
}

/* ---- normal form ----------------------------------------------------------------------- */

/* n, negated if neg, with NOT only directly above leaves, nested groups of the same kind
 * flattened, and constants folded away. Reuses the nodes of n. */
static node *nnf(mv_query *q, node *n, int neg)
{
    switch (n->kind) {
    case N_TRUE:
    case N_FALSE:
        if (neg)
            n->kind = n->kind == N_TRUE ? N_FALSE : N_TRUE;
        n->next = NULL;
        return n;
    case N_FTS:
    case N_SQL: {
        n->next = NULL;
        if (!neg)
            return n;
        node *x = new_node(q, N_NOT);
        if (x != NULL)
            x->kids = n;
        return x;
    }
    case N_NOT:
        return nnf(q, n->kids, !neg);
    case N_AND:
    case N_OR:
        break;
    }
    nkind op = n->kind;
    if (neg)
        op = op == N_AND ? N_OR : N_AND;
    nkind unit = op == N_AND ? N_TRUE : N_FALSE; /* drops out */
    opnds l = {0};
    int absorbed = 0;
    for (node *k = n->kids, *next; k != NULL; k = next) {
        next = k->next;
        node *c = nnf(q, k, neg);
        if (c == NULL)
            return NULL;
        if (c->kind == op) {
            for (node *g = c->kids, *gn; g != NULL; g = gn) {
                gn = g->next;
                push(&l, g);
            }
        } else if (c->kind == unit)
            continue;
        else if (c->kind == N_TRUE || c->kind == N_FALSE)
            absorbed = 1;
        else
            push(&l, c);
    }
    n->next = NULL;
    if (absorbed || l.first == NULL) {
        n->kind = absorbed ? (unit == N_TRUE ? N_FALSE : N_TRUE) : unit;
        n->kids = NULL;
        return n;
    }
    if (l.first == l.last)
        return l.first;
    n->kind = op;
    n->kids = l.first;
    return n;
}

static void annotate(node *n)
{
    n->cls = 0;
    n->height = 0;
    if (n->kind == N_FTS)
        n->cls = 1;
    else if (n->kind == N_NOT)
        n->cls = n->kids->kind == N_FTS ? -1 : 0;
    if (n->kind != N_AND && n->kind != N_OR)
        return;
    int pos = 0, negs = 0, other = 0;
    for (node *k = n->kids; k != NULL; k = k->next) {
        annotate(k);
        if (k->height + 1 > n->height)
            n->height = k->height + 1;
        pos += k->cls > 0;
        negs += k->cls < 0;
        other += k->cls == 0;
    }
    if (other || (n->kind == N_OR && pos && negs))
        n->cls = 0;
    else
        n->cls = pos ? 1 : -1;
}

/* ---- writing SQL ----------------------------------------------------------------------- */

typedef struct writer {
    mv_query *q;
    sbuf sql;
    int failed;
} writer;

static size_t kids_of(const node *n, const node ***out)
{
    size_t c = 0;
    for (const node *k = n->kids; k != NULL; k = k->next)
        c++;
    const node **a = malloc((c ? c : 1) * sizeof *a);
    *out = a;
    if (a == NULL)
        return 0;
    c = 0;
    for (const node *k = n->kids; k != NULL; k = k->next)
        a[c++] = k;
    return c;
}

/* Deepest first (stable), for the parser stacks of SQLite and FTS5 (see the top). */
static void order(const node **a, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        const node *x = a[i];
        size_t j = i;
        for (; j > 0 && a[j - 1]->height < x->height; j--)
            a[j] = a[j - 1];
        a[j] = x;
    }
}

static void fts_expr(writer *w, sbuf *b, const node *n);

static void fts_operand(writer *w, sbuf *b, const node *n)
{
    int bare = n->kind == N_FTS || n->kind == N_NOT;
    if (!bare)
        sb_add(b, "(", 1);
    fts_expr(w, b, n);
    if (!bare)
        sb_add(b, ")", 1);
}

/* The FTS5 expression E of operands a[0..n) of a group of kind op and class cls: for cls 1
 * the group matches E, for cls -1 it matches NOT E. */
static void fts_group(writer *w, sbuf *b, nkind op, int cls, const node **a, size_t n)
{
    if (n == 1) {
        fts_expr(w, b, a[0]);
        return;
    }
    order(a, n);
    if (cls < 0 || op == N_OR) {
        /* all positive OR; or all negative: NOT x AND NOT y = NOT (x OR y), and dually */
        const char *sep = (op == N_OR) == (cls > 0) ? " OR " : " AND ";
        for (size_t i = 0; i < n; i++) {
            if (i)
                sb_str(b, sep);
            fts_operand(w, b, a[i]);
        }
        return;
    }
    size_t npos = 0, nneg = 0;
    for (size_t i = 0; i < n; i++)
        npos += a[i]->cls > 0;
    nneg = n - npos;
    if (npos > 1 && nneg)
        sb_add(b, "(", 1);
    for (size_t i = 0, k = 0; i < n; i++)
        if (a[i]->cls > 0) {
            if (k++)
                sb_str(b, " AND ");
            fts_operand(w, b, a[i]);
        }
    if (npos > 1 && nneg)
        sb_add(b, ")", 1);
    for (size_t i = 0; i < n; i++)
        if (a[i]->cls < 0) {
            sb_str(b, " NOT ");
            fts_operand(w, b, a[i]);
        }
}

static void fts_expr(writer *w, sbuf *b, const node *n)
{
    if (n->kind == N_NOT)
        n = n->kids;
    if (n->kind == N_FTS) {
        if (n->col) {
            sb_str(b, "{");
            sb_str(b, n->col);
            sb_str(b, "} : ");
        }
        sb_fts_string(b, n->text);
        if (n->prefix)
            sb_str(b, " *");
        return;
    }
    const node **a;
    size_t c = kids_of(n, &a);
    if (a == NULL) {
        w->failed = 1;
        return;
    }
    fts_group(w, b, n->kind, n->cls, a, c);
    free(a);
}

static void add_param(writer *w, mv_query_param prm)
{
    mv_query *q = w->q;
    if (q->nparams == q->capparams) {
        size_t cap = q->capparams ? q->capparams * 2 : 8;
        mv_query_param *np = realloc(q->params, cap * sizeof *np);
        if (np == NULL) {
            w->failed = 1;
            return;
        }
        q->params = np;
        q->capparams = cap;
    }
    q->params[q->nparams++] = prm;
    char num[32];
    snprintf(num, sizeof num, "?%zu", q->nparams);
    sb_str(&w->sql, num);
}

/* `m.id IN (...)` (or NOT IN for cls -1) for the full-text group a[0..n) of kind op. */
static void write_match(writer *w, nkind op, int cls, const node **a, size_t n)
{
    sbuf e = {0};
    fts_group(w, &e, op, cls, a, n);
    char *s = e.failed ? NULL : q_strndup(w->q, e.p, e.len);
    free(e.p);
    if (s == NULL) {
        w->failed = 1;
        return;
    }
    sb_str(&w->sql, cls < 0 ? "NOT m.id IN (SELECT rowid FROM search WHERE search MATCH "
                            : "m.id IN (SELECT rowid FROM search WHERE search MATCH ");
    add_param(w, (mv_query_param){.s = s});
    sb_str(&w->sql, ")");
}

static void write_sql_leaf(writer *w, const node *n)
{
    int k = 0;
    for (const char *s = n->sql, *q; *s; s = q + 1) {
        q = strchr(s, '?');
        if (q == NULL) {
            sb_str(&w->sql, s);
            break;
        }
        sb_add(&w->sql, s, (size_t)(q - s));
        add_param(w, n->args[k++]);
    }
}

static void write_node(writer *w, const node *n);

/* An operand of an AND/OR that is not full-text, or a merged full-text part. */
typedef struct part {
    const node *n;    /* NULL: the merged full-text part */
    const node **fts; /* merged: its operands */
    size_t nfts;
    int cls;
    int height;
} part;

static void write_group(writer *w, const node *n)
{
    const node **a;
    size_t c = kids_of(n, &a);
    if (a == NULL) {
        w->failed = 1;
        return;
    }
    const node **pos = malloc(c * sizeof *pos), **neg = malloc(c * sizeof *neg);
    part *parts = malloc(c * sizeof *parts);
    if (pos == NULL || neg == NULL || parts == NULL) {
        w->failed = 1;
        goto done;
    }
    /* AND: all full-text operands, positive or not, make one MATCH if one is positive; else
     * the negative ones make one NOT IN. OR: the positive ones make one MATCH, the
     * negative ones one NOT IN. Each merged part stands where its first operand stood. */
    size_t npos = 0, nneg = 0, nparts = 0;
    int have_pos = 0, have_neg = 0;
    for (size_t i = 0; i < c; i++) {
        if (a[i]->cls > 0)
            pos[npos++] = a[i];
        else if (a[i]->cls < 0)
            neg[nneg++] = a[i];
    }
    int merge_all = n->kind == N_AND && npos > 0;
    for (size_t i = 0; i < c; i++) {
        part *pt = &parts[nparts];
        if (a[i]->cls == 0) {
            *pt = (part){.n = a[i], .height = a[i]->height};
        } else if (a[i]->cls > 0 || merge_all) {
            if (have_pos)
                continue;
            have_pos = 1;
            if (merge_all) {
                /* the operands in their order, positive and negative */
                size_t m = 0;
                for (size_t j = 0; j < c; j++)
                    if (a[j]->cls != 0)
                        pos[m++] = a[j];
                npos = m;
            }
            *pt = (part){.fts = pos, .nfts = npos, .cls = 1};
        } else {
            if (have_neg)
                continue;
            have_neg = 1;
            *pt = (part){.fts = neg, .nfts = nneg, .cls = -1};
        }
        nparts++;
    }
    /* deepest first, stable */
    for (size_t i = 1; i < nparts; i++) {
        part x = parts[i];
        size_t j = i;
        for (; j > 0 && parts[j - 1].height < x.height; j--)
            parts[j] = parts[j - 1];
        parts[j] = x;
    }
    if (nparts > 1)
        sb_add(&w->sql, "(", 1);
    for (size_t i = 0; i < nparts; i++) {
        if (i)
            sb_str(&w->sql, n->kind == N_AND ? " AND " : " OR ");
        if (parts[i].n)
            write_node(w, parts[i].n);
        else
            write_match(w, n->kind, parts[i].cls, parts[i].fts, parts[i].nfts);
    }
    if (nparts > 1)
        sb_add(&w->sql, ")", 1);
done:
    free(parts);
    free(neg);
    free(pos);
    free(a);
}

static void write_node(writer *w, const node *n)
{
    if (n->cls != 0) {
        if (n->kind == N_AND || n->kind == N_OR) {
            const node **a;
            size_t c = kids_of(n, &a);
            if (a == NULL) {
                w->failed = 1;
                return;
            }
            write_match(w, n->kind, n->cls, a, c);
            free(a);
        } else
            write_match(w, N_AND, n->cls, &n, 1);
        return;
    }
    switch (n->kind) {
    case N_TRUE:
        sb_str(&w->sql, "1");
        return;
    case N_FALSE:
        sb_str(&w->sql, "0");
        return;
    case N_SQL:
        write_sql_leaf(w, n);
        return;
    case N_NOT: {
        const node *k = n->kids; /* an N_SQL leaf */
        int bare = k->sql[0] == '(' || strncmp(k->sql, "EXISTS", 6) == 0;
        sb_str(&w->sql, k->nullable ? "NOT coalesce(" : bare ? "NOT " : "NOT (");
        write_sql_leaf(w, k);
        sb_str(&w->sql, k->nullable ? ", 0)" : bare ? "" : ")");
        return;
    }
    case N_AND:
    case N_OR:
        write_group(w, n);
        return;
    case N_FTS:
        break;
    }
}

/* ---- terms and the exact-accent expression -------------------------------------------- */

/* The full-text leaves under an even number of NOTs, in order (on the tree as parsed). */
typedef struct leaves {
    const node **a;
    size_t n, cap;
} leaves;

static int collect(leaves *l, const node *n, int neg)
{
    if (n->kind == N_FTS) {
        if (neg)
            return 1;
        if (l->n == l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 8;
            const node **a = realloc(l->a, cap * sizeof *a);
            if (a == NULL)
                return 0;
            l->a = a;
            l->cap = cap;
        }
        l->a[l->n++] = n;
        return 1;
    }
    if (n->kind == N_NOT)
        return collect(l, n->kids, !neg);
    for (const node *k = n->kids; k != NULL; k = k->next)
        if (!collect(l, k, neg))
            return 0;
    return 1;
}

/* Appends s to the list (of q->mem strings) unless it is there already. */
static int add_unique(const char ***list, size_t *n, size_t *cap, const char *s)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*list)[i], s) == 0)
            return 1;
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 8;
        const char **a = realloc(*list, c * sizeof *a);
        if (a == NULL)
            return 0;
        *list = a;
        *cap = c;
    }
    (*list)[(*n)++] = s;
    return 1;
}

/* `"=word"` for each accented word of each positive term, ORed (a prefix term's last word
 * keeps its '*'). Words are cut where the tokenizer would cut them, roughly: "l'été" gives
 * "=été" alone, since a phrase "=l =été" could never match ("=l" is never indexed). */
static int build_exact(mv_query *q, const leaves *l)
{
    const char **words = NULL;
    size_t nwords = 0, capwords = 0;
    int ok = 1;
    for (size_t i = 0; i < l->n && ok; i++) {
        const char *s = l->a[i]->text;
        size_t len = strlen(s), start = 0;
        int accented = 0;
        for (size_t j = 0; j <= len && ok;) {
            uint32_t cp = 0;
            size_t k = j < len ? utf8_decode((const unsigned char *)s + j, &cp) : 1;
            if (k == 0)
                k = 1;
            if (j == len || cp_separates(cp)) {
                if (accented) {
                    sbuf one = {0};
                    sb_add(&one, "\"=", 2);
                    sb_add(&one, s + start, j - start);
                    sb_str(&one, j == len && l->a[i]->prefix ? "\" *" : "\"");
                    char *w = one.failed ? NULL : q_strndup(q, one.p, one.len);
                    free(one.p);
                    ok = w != NULL && add_unique(&words, &nwords, &capwords, w);
                }
                start = j + k;
                accented = 0;
            } else if (cp_accented(cp))
                accented = 1;
            j += k;
        }
    }
    sbuf b = {0};
    for (size_t i = 0; i < nwords && ok; i++) {
        if (i)
            sb_str(&b, " OR ");
        sb_str(&b, words[i]);
    }
    free(words);
    if (ok && nwords) {
        q->exact = b.failed ? NULL : q_strndup(q, b.p, b.len);
        ok = q->exact != NULL;
    }
    free(b.p);
    return ok;
}

static int terms_and_exact(mv_query *q, const node *root)
{
    leaves l = {0};
    int ok = collect(&l, root, 0);
    for (size_t i = 0; i < l.n && ok; i++) {
        const char *t = l.a[i]->text;
        if (l.a[i]->prefix) {
            size_t n = strlen(t);
            char *pt = q_alloc(q, n + 2);
            if (pt != NULL)
                memcpy(pt, t, n), pt[n] = '*';
            t = pt;
        }
        ok = t != NULL && add_unique(&q->terms, &q->nterms, &q->capterms, t);
    }
    ok = ok && build_exact(q, &l);
    free(l.a);
    return ok;
}

/* ---- the API --------------------------------------------------------------------------- */

mv_status mv_query_parse(const char *text, int64_t now, mv_query **out, mv_error *err)
{
    *out = NULL;
    if (text == NULL)
        text = "";
    mv_query *q = calloc(1, sizeof *q);
    if (q == NULL)
        return mv_error_set(err, MV_ERR_NOMEM, "query: out of memory");
    /* Far beyond any mail date; keeps the date arithmetic from overflowing. */
    const int64_t lim = INT64_C(1) << 40;
    parser p = {.s = text, .now = now > lim ? lim : now < -lim ? -lim : now, .q = q, .err = err};
    size_t len = 0;
    for (; text[len]; len++)
        ;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t k = utf8_decode((const unsigned char *)text + i, &cp);
        if (k == 0) {
            fail(&p, i, NULL, "invalid UTF-8");
            goto failed;
        }
        if (i >= MAX_TEXT) {
            fail(&p, i, NULL, "too long (more than %d bytes)", MAX_TEXT);
            goto failed;
        }
        i += k;
    }
    if (lex(&p) != MV_OK)
        goto failed;
    node *root;
    if (p.t.type == T_END) {
        root = new_node(q, N_TRUE);
        if (root == NULL) {
            oom(&p);
            goto failed;
        }
    } else {
        root = parse_or(&p);
        if (root == NULL)
            goto failed;
        if (p.t.type == T_RP) {
            fail(&p, p.t.at, NULL, "unbalanced \")\"");
            goto failed;
        }
    }
    if (!terms_and_exact(q, root)) {
        oom(&p);
        goto failed;
    }
    root = nnf(q, root, 0);
    if (root == NULL) {
        oom(&p);
        goto failed;
    }
    annotate(root);
    writer w = {.q = q};
    write_node(&w, root);
    if (w.failed || w.sql.failed) {
        free(w.sql.p);
        oom(&p);
        goto failed;
    }
    q->where = w.sql.p;
    *out = q;
    return MV_OK;
failed:
    mv_query_free(q);
    return p.st != MV_OK ? p.st : MV_ERR_INTERNAL;
}

void mv_query_free(mv_query *q)
{
    if (q == NULL)
        return;
    for (size_t i = 0; i < q->nmem; i++)
        free(q->mem[i]);
    free(q->mem);
    free(q->where);
    free(q->params);
    free(q->terms);
    free(q);
}

const char *mv_query_where(const mv_query *q)
{
    return q->where;
}

size_t mv_query_nparams(const mv_query *q)
{
    return q->nparams;
}

const mv_query_param *mv_query_param_at(const mv_query *q, size_t i)
{
    return i < q->nparams ? &q->params[i] : NULL;
}

const char *mv_query_exact(const mv_query *q)
{
    return q->exact;
}

size_t mv_query_nterms(const mv_query *q)
{
    return q->nterms;
}

const char *mv_query_term(const mv_query *q, size_t i)
{
    return i < q->nterms ? q->terms[i] : NULL;
}
