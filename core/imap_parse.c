/* mailvault: streaming parser for IMAP server responses (see imap_parse.h).
 *
 * A response is a sequence of segments: the bytes up to a line end, then, if that line ended
 * in a literal marker {N}, exactly N literal bytes followed by another segment, and so on. A
 * segment is only looked at once its line end has arrived; a segment that lies wholly inside
 * one fed buffer is tokenised in place, only a segment split across feeds is copied into the
 * line buffer. Literal bytes are never scanned at all: they are counted off, and either
 * handed to the caller as pointers into the fed buffer (streamed) or copied once into the
 * response's arena (inline).
 *
 * Values are built on one stack: an open list remembers where its items start, and when it
 * closes its items are copied into the arena as one array. Every string of the tree lives in
 * a per-response arena that is reset after on_response, so a sync of any length uses the
 * memory of its largest response, and a steady stream of FETCH responses allocates nothing.
 */
#include "imap_parse.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_INLINE ((uint64_t)1 << 20)
#define DEFAULT_MAX_RESPONSE ((size_t)64 << 20)
#define DEFAULT_MAX_DEPTH 64
/* Numbers beyond this stay atoms: MODSEQ is the largest IMAP number (RFC 7162, 63 bits). */
#define NUMBER_MAX INT64_MAX

#define ARENA_CHUNK (16 * 1024)
/* Allocations bigger than this get a chunk of their own, so that a large inline literal
 * neither wastes the rest of a standard chunk nor stays allocated after its response. */
#define ARENA_BIG (ARENA_CHUNK / 4)
/* Buffers that grew this large for one unusual response (a 40 MB SEARCH result) are given
 * back afterwards instead of pinning memory for the rest of the session. */
#define KEEP_LINE_CAP (64 * 1024)
#define KEEP_VALUES 4096

#define EXCERPT_MAX 80
#define HEAD_MAX 40

typedef struct chunk {
    struct chunk *next;
    size_t cap, used;
    max_align_t data[];
} chunk;

typedef struct arena {
    chunk *all;  /* every chunk, newest first */
    chunk *cur;  /* where small allocations go */
    chunk *keep; /* the one standard chunk that survives a reset */
} arena;

enum parse_state { S_LINE, S_LITERAL, S_FAILED };

/* What parse_values() stopped at. */
enum tk { TK_END, TK_LITERAL, TK_CLOSE, TK_BAD, TK_NOMEM };

struct mv_imap_parser {
    mv_imap_callbacks cb;
    uint64_t max_inline;
    size_t max_response;
    size_t max_depth;

    enum parse_state state;
    mv_status fail_status;
    char fail_msg[MV_ERROR_MSG_MAX];

    /* A segment whose line end has not arrived yet. */
    char *line;
    size_t line_len, line_cap;

    /* The response being parsed. */
    bool in_resp;      /* its first segment (and header) has been parsed */
    bool is_fetch;     /* "* N FETCH": literals are reported with N */
    size_t resp_bytes; /* non-streamed bytes so far, against max_response */
    mv_imap_response resp;
    char head[HEAD_MAX + 1]; /* sanitised start of its first line, for error messages */
    bool later;              /* the current segment follows a literal */

    mv_imap_value *vs; /* value stack */
    size_t vtop, vcap;
    size_t *open; /* for each open list, the stack index of its first item */
    size_t nopen, open_cap;
    bool need_sep;    /* the last token was a complete value: a separator must follow */
    const char *last; /* what that value was, for messages */
    size_t nobracket; /* segment offset before which no ']' follows the current one */
    char why[128];    /* reason for TK_BAD */
    size_t why_off;   /* and where in the segment */

    /* The literal being received. */
    uint64_t lit_size, lit_left;
    bool lit_stream;
    uint64_t lit_cookie;
    char *lit_buf;
    size_t lit_fill;

    arena ar;
};

/* ---- arena ---- */

static chunk *chunk_new(size_t cap)
{
    if (cap > SIZE_MAX - sizeof(chunk))
        return NULL;
    chunk *c = malloc(sizeof(chunk) + cap);
    if (c == NULL)
        return NULL;
    c->next = NULL;
    c->cap = cap;
    c->used = 0;
    return c;
}

static void *arena_alloc(arena *a, size_t size, size_t align)
{
    chunk *c = a->cur;
    if (c != NULL) {
        size_t off = (c->used + align - 1) & ~(align - 1);
        if (off <= c->cap && size <= c->cap - off) {
            c->used = off + size;
            return (char *)c->data + off;
        }
    }
    if (size > ARENA_BIG) {
        c = chunk_new(size);
        if (c == NULL)
            return NULL;
        c->used = size;
        c->next = a->all;
        a->all = c;
        return c->data;
    }
    c = chunk_new(ARENA_CHUNK);
    if (c == NULL)
        return NULL;
    c->used = size;
    c->next = a->all;
    a->all = c;
    a->cur = c;
    if (a->keep == NULL)
        a->keep = c;
    return c->data;
}

static void arena_reset(arena *a)
{
    chunk *c = a->all;
    while (c != NULL) {
        chunk *next = c->next;
        if (c != a->keep)
            free(c);
        c = next;
    }
    a->all = a->cur = a->keep;
    if (a->keep != NULL) {
        a->keep->next = NULL;
        a->keep->used = 0;
    }
}

static void arena_free(arena *a)
{
    a->keep = NULL;
    arena_reset(a);
}

static char *arena_str(arena *a, const char *s, size_t n)
{
    char *d = arena_alloc(a, n + 1, 1);
    if (d == NULL)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* ---- small helpers ---- */

static int upper(int c)
{
    return c >= 'a' && c <= 'z' ? c - ('a' - 'A') : c;
}

/* ASCII only, so that the locale cannot change what matches a keyword. */
static bool eq_ci(const char *a, size_t n, const char *b)
{
    size_t i = 0;
    for (; i < n && b[i] != '\0'; i++)
        if (upper((unsigned char)a[i]) != upper((unsigned char)b[i]))
            return false;
    return i == n && b[i] == '\0';
}

static char *arena_upper(arena *a, const char *s, size_t n)
{
    char *d = arena_str(a, s, n);
    if (d != NULL)
        for (size_t i = 0; i < n; i++)
            d[i] = (char)upper((unsigned char)d[i]);
    return d;
}

/* Ends an atom (or a response keyword): space, list delimiters, quotes, controls. */
static bool atom_stop(unsigned char ch)
{
    return ch <= ' ' || ch == '(' || ch == ')' || ch == '"' || ch == 0x7f;
}

/* Printable ASCII only: the excerpt goes to terminals and logs. */
static size_t sanitise(char *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        out[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    return n;
}

/* At most max characters of s[0..n) around offset off, with "..." where it was cut. */
static void excerpt(char *out, size_t max, const char *s, size_t n, size_t off)
{
    size_t start = 0, end = n, o = 0;
    bool pre = false, post = false;
    if (off > n)
        off = n;
    if (n > max) {
        /* Show the error with some context after it. */
        end = off + 20 < n ? off + 20 : n;
        if (end < max - 3)
            end = max - 3;
        post = end < n;
        if (end > max - (post ? 3 : 0)) {
            pre = true;
            start = end - (max - 3 - (post ? 3 : 0));
        }
    }
    if (pre) {
        memcpy(out, "...", 3);
        o = 3;
    }
    o += sanitise(out + o, s + start, end - start);
    if (post) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

/* ---- failure ---- */

__attribute__((format(printf, 4, 5))) static mv_status fail(mv_imap_parser *p, mv_error *err,
                                                            mv_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->fail_msg, sizeof p->fail_msg, fmt, ap);
    va_end(ap);
    p->state = S_FAILED;
    p->fail_status = st;
    return mv_error_set(err, st, "%s", p->fail_msg);
}

static mv_status fail_nomem(mv_imap_parser *p, mv_error *err)
{
    return fail(p, err, MV_ERR_NOMEM, "out of memory while parsing an IMAP response");
}

/* The callback's own message is kept so that later feeds repeat it. */
static mv_status fail_callback(mv_imap_parser *p, mv_error *err, mv_status st)
{
    if (err != NULL && err->status != MV_OK && err->msg[0] != '\0')
        snprintf(p->fail_msg, sizeof p->fail_msg, "%s", err->msg);
    else
        snprintf(p->fail_msg, sizeof p->fail_msg, "IMAP response handler failed (%s)",
                 mv_status_name(st));
    p->state = S_FAILED;
    p->fail_status = st;
    return mv_error_set(err, st, "%s", p->fail_msg);
}

/* The quoted excerpt for a problem at s[off] of the current segment: for a segment after a
 * literal, the start of the response is shown too, since the segment alone says little. */
static void quote_excerpt(const mv_imap_parser *p, char *out, const char *s, size_t n, size_t off)
{
    char win[EXCERPT_MAX + 1];
    if (p->later && p->head[0] != '\0') {
        excerpt(win, EXCERPT_MAX - HEAD_MAX, s, n, off);
        sprintf(out, "\"%s\" ... \"%s\"", p->head, win);
    } else {
        excerpt(win, EXCERPT_MAX, s, n, off);
        sprintf(out, "\"%s\"", win);
    }
}

static mv_status malformed(mv_imap_parser *p, mv_error *err, const char *s, size_t n)
{
    char q[2 * EXCERPT_MAX + 16];
    quote_excerpt(p, q, s, n, p->why_off);
    return fail(p, err, MV_ERR_PROTOCOL, "server sent a malformed response (%s): %s", p->why, q);
}

__attribute__((format(printf, 3, 4))) static enum tk bad(mv_imap_parser *p, size_t off,
                                                         const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->why, sizeof p->why, fmt, ap);
    va_end(ap);
    p->why_off = off;
    return TK_BAD;
}

/* ---- value stack ---- */

static mv_imap_value *push(mv_imap_parser *p)
{
    if (p->vtop == p->vcap) {
        size_t cap = p->vcap ? 2 * p->vcap : 64;
        mv_imap_value *vs = realloc(p->vs, cap * sizeof *vs);
        if (vs == NULL)
            return NULL;
        p->vs = vs;
        p->vcap = cap;
    }
    mv_imap_value *v = &p->vs[p->vtop++];
    memset(v, 0, sizeof *v);
    return v;
}

/* Moves the items from stack index start up into the arena as one array, filling in the LIST
 * value *list (which must not point into the stack). */
static bool pop_list(mv_imap_parser *p, size_t start, mv_imap_value *list)
{
    size_t cnt = p->vtop - start;
    memset(list, 0, sizeof *list);
    list->type = MV_IMAP_LIST;
    if (cnt > 0) {
        mv_imap_value *items = arena_alloc(&p->ar, cnt * sizeof *items, _Alignof(mv_imap_value));
        if (items == NULL)
            return false;
        memcpy(items, p->vs + start, cnt * sizeof *items);
        list->items = items;
        list->n = cnt;
    }
    p->vtop = start;
    return true;
}

/* The same, for a LIST that is not an item of another one. */
static mv_imap_value *make_list(mv_imap_parser *p, size_t start)
{
    mv_imap_value *list = arena_alloc(&p->ar, sizeof *list, _Alignof(mv_imap_value));
    if (list == NULL || !pop_list(p, start, list))
        return NULL;
    return list;
}

static bool open_list(mv_imap_parser *p)
{
    if (p->nopen == p->open_cap) {
        size_t cap = p->open_cap ? 2 * p->open_cap : 16;
        size_t *o = realloc(p->open, cap * sizeof *o);
        if (o == NULL)
            return false;
        p->open = o;
        p->open_cap = cap;
    }
    p->open[p->nopen++] = p->vtop;
    return true;
}

/* ---- tokens ---- */

typedef struct cursor {
    const char *s;
    size_t i, n;
} cursor;

static enum tk atom(mv_imap_parser *p, cursor *c, bool code_mode)
{
    const char *s = c->s;
    size_t a = c->i, i = c->i, n = c->n;
    while (i < n) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '[' && i >= p->nobracket) {
            /* A section such as BODY[HEADER.FIELDS (DATE FROM)] belongs to the atom, spaces
             * and parentheses included. Where no ']' follows, '[' is an ordinary character;
             * remembering that keeps a line of many '[' linear. */
            size_t j = i + 1;
            while (j < n && s[j] != ']' && (unsigned char)s[j] >= 0x20)
                j++;
            if (j < n && s[j] == ']') {
                i = j + 1;
                continue;
            }
            p->nobracket = j;
        }
        if (atom_stop(ch) || (code_mode && ch == ']'))
            break;
        i++;
    }
    size_t len = i - a;
    mv_imap_value *v = push(p);
    if (v == NULL)
        return TK_NOMEM;
    c->i = i;
    if (len == 3 && eq_ci(s + a, 3, "NIL")) {
        v->type = MV_IMAP_NIL;
        return TK_END;
    }
    char *str = arena_str(&p->ar, s + a, len);
    if (str == NULL)
        return TK_NOMEM;
    v->type = MV_IMAP_ATOM;
    v->str = str;
    v->len = len;
    if (len <= 19) {
        uint64_t num = 0;
        size_t k = 0;
        while (k < len && s[a + k] >= '0' && s[a + k] <= '9')
            num = num * 10 + (uint64_t)(s[a + k++] - '0');
        if (k == len && num <= (uint64_t)NUMBER_MAX) {
            v->type = MV_IMAP_NUMBER;
            v->num = num;
        }
    }
    return TK_END;
}

static enum tk quoted(mv_imap_parser *p, cursor *c)
{
    const char *s = c->s;
    size_t i = c->i + 1, n = c->n, esc = 0;
    while (i < n && s[i] != '"') {
        if (s[i] == '\\') {
            if (i + 1 >= n) {
                i = n;
                break;
            }
            esc++;
            i += 2;
        } else {
            i++;
        }
    }
    if (i >= n)
        return bad(p, c->i, "unterminated quoted string");
    size_t len = i - c->i - 1 - esc;
    char *d = arena_alloc(&p->ar, len + 1, 1);
    mv_imap_value *v = push(p);
    if (d == NULL || v == NULL)
        return TK_NOMEM;
    size_t o = 0;
    for (size_t k = c->i + 1; k < i; k++) {
        /* RFC 3501 only escapes '"' and '\'; anything else after '\' is taken literally. */
        if (s[k] == '\\')
            k++;
        d[o++] = s[k];
    }
    d[o] = '\0';
    v->type = MV_IMAP_STRING;
    v->str = d;
    v->len = len;
    c->i = i + 1;
    return TK_END;
}

/* "{N}", "{N+}", "~{N}" at the very end of the segment. */
static enum tk literal_marker(mv_imap_parser *p, cursor *c)
{
    const char *s = c->s;
    size_t i = c->i, n = c->n;
    if (s[i] == '~')
        i++;
    i++; /* '{' */
    size_t d = i;
    uint64_t size = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
        unsigned dig = (unsigned)(s[i] - '0');
        if (size > ((uint64_t)INT64_MAX - dig) / 10)
            return bad(p, c->i, "literal size out of range");
        size = size * 10 + dig;
        i++;
    }
    if (i == d)
        return bad(p, c->i, "bad literal syntax");
    /* {N+} is a client's non-synchronising literal; tolerated from a server. */
    if (i < n && s[i] == '+')
        i++;
    if (i >= n || s[i] != '}' || i + 1 != n)
        return bad(p, c->i, "bad literal syntax");
    c->i = n;
    p->lit_size = size;
    return TK_LITERAL;
}

/* Parses values from the cursor onto the stack until the segment ends (TK_END), a literal
 * marker ends it (TK_LITERAL), or, in a response code, the closing ']' (TK_CLOSE). Lists
 * opened at or above open_base may stay open across segments. */
static enum tk parse_values(mv_imap_parser *p, cursor *c, bool code_mode, size_t open_base)
{
    const char *s = c->s;
    for (;;) {
        size_t from = c->i;
        while (c->i < c->n && s[c->i] == ' ')
            c->i++;
        if (c->i == c->n)
            return TK_END;
        unsigned char ch = (unsigned char)s[c->i];
        bool spaced = c->i > from;
        if (ch == 0)
            return bad(p, c->i, "NUL byte outside a literal");
        if (ch < 0x20 || ch == 0x7f)
            return bad(p, c->i, "control character 0x%02x", ch);
        if (p->need_sep && !spaced && ch != ')' && ch != '(' && !(code_mode && ch == ']'))
            return bad(p, c->i, "no space after %s", p->last);
        enum tk rc;
        switch (ch) {
        case '(':
            if (p->nopen - open_base >= p->max_depth)
                return bad(p, c->i, "lists nested deeper than %zu", p->max_depth);
            if (!open_list(p))
                return TK_NOMEM;
            c->i++;
            p->need_sep = false;
            continue;
        case ')': {
            if (p->nopen == open_base)
                return bad(p, c->i, "unbalanced ')'");
            mv_imap_value list;
            if (!pop_list(p, p->open[--p->nopen], &list))
                return TK_NOMEM;
            mv_imap_value *v = push(p);
            if (v == NULL)
                return TK_NOMEM;
            *v = list;
            c->i++;
            p->last = "a list";
            break;
        }
        case '"':
            rc = quoted(p, c);
            if (rc != TK_END)
                return rc;
            p->last = "a quoted string";
            break;
        case '{':
            return literal_marker(p, c);
        default:
            if (ch == '~' && c->i + 1 < c->n && s[c->i + 1] == '{')
                return literal_marker(p, c);
            if (code_mode && ch == ']') {
                if (p->nopen != open_base)
                    return bad(p, c->i, "unbalanced '('");
                return TK_CLOSE;
            }
            rc = atom(p, c, code_mode);
            if (rc != TK_END)
                return rc;
            p->last = "an atom";
            break;
        }
        p->need_sep = true;
    }
}

/* ---- responses ---- */

static void reset_response(mv_imap_parser *p)
{
    arena_reset(&p->ar);
    memset(&p->resp, 0, sizeof p->resp);
    p->in_resp = false;
    p->is_fetch = false;
    p->resp_bytes = 0;
    p->head[0] = '\0';
    p->vtop = 0;
    p->nopen = 0;
    p->need_sep = false;
    p->lit_buf = NULL;
    if (p->vcap > KEEP_VALUES) {
        free(p->vs);
        p->vs = NULL;
        p->vcap = 0;
    }
}

static mv_status emit(mv_imap_parser *p, mv_error *err)
{
    mv_imap_value *data = make_list(p, 0);
    if (data == NULL)
        return fail_nomem(p, err);
    p->resp.data = data;
    if (p->resp.text == NULL)
        p->resp.text = "";
    mv_status st = MV_OK;
    if (p->cb.on_response != NULL)
        st = p->cb.on_response(p->cb.ctx, &p->resp, err);
    reset_response(p);
    if (st != MV_OK)
        return fail_callback(p, err, st);
    return MV_OK;
}

/* The optional "[CODE args]" and the text of a status or continuation response. */
static mv_status resp_text(mv_imap_parser *p, const char *s, size_t n, size_t i, mv_error *err)
{
    if (i < n && s[i] == '[') {
        size_t a = i + 1, j = a;
        while (j < n && !atom_stop((unsigned char)s[j]) && s[j] != '[' && s[j] != ']')
            j++;
        if (j > a && j < n && (s[j] == ']' || s[j] == ' ')) {
            const mv_imap_value *args = NULL;
            size_t after = 0;
            if (s[j] == ']') {
                args = make_list(p, 0);
                after = j + 1;
            } else {
                /* Known or not, a code's arguments are tokens where they tokenise; an odd
                 * code whose arguments do not keeps them as one raw STRING. */
                cursor c = {s, j + 1, n};
                p->need_sep = false;
                p->nobracket = 0;
                enum tk rc = parse_values(p, &c, true, 0);
                if (rc == TK_NOMEM)
                    return fail_nomem(p, err);
                if (rc == TK_CLOSE) {
                    args = make_list(p, 0);
                    after = c.i + 1;
                } else {
                    p->vtop = 0;
                    p->nopen = 0;
                    const char *rb = memchr(s + j + 1, ']', n - j - 1);
                    if (rb != NULL) {
                        mv_imap_value *v = arena_alloc(&p->ar, sizeof *v, _Alignof(mv_imap_value));
                        size_t len = (size_t)(rb - (s + j + 1));
                        char *str = arena_str(&p->ar, s + j + 1, len);
                        if (v == NULL || str == NULL)
                            return fail_nomem(p, err);
                        memset(v, 0, sizeof *v);
                        v->type = MV_IMAP_STRING;
                        v->str = str;
                        v->len = len;
                        args = v;
                        after = (size_t)(rb - s) + 1;
                    }
                }
                p->need_sep = false;
            }
            /* Without a closing ']' the '[' did not start a code: it is just text. */
            if (after != 0) {
                if (args == NULL || (p->resp.code = arena_upper(&p->ar, s + a, j - a)) == NULL)
                    return fail_nomem(p, err);
                p->resp.code_args = args;
                i = after;
                if (i < n && s[i] == ' ')
                    i++;
            }
        }
    }
    if ((p->resp.text = arena_str(&p->ar, s + i, n - i)) == NULL)
        return fail_nomem(p, err);
    return emit(p, err);
}

static mv_imap_status status_word(const char *w, size_t n, bool tagged)
{
    if (eq_ci(w, n, "OK"))
        return MV_IMAP_OK;
    if (eq_ci(w, n, "NO"))
        return MV_IMAP_NO;
    if (eq_ci(w, n, "BAD"))
        return MV_IMAP_BAD;
    if (!tagged && eq_ci(w, n, "BYE"))
        return MV_IMAP_BYE;
    if (!tagged && eq_ci(w, n, "PREAUTH"))
        return MV_IMAP_PREAUTH;
    return MV_IMAP_NONE;
}

/* RFC 3501 tag: ASTRING-CHAR except '+'. */
static bool tag_char(unsigned char ch)
{
    return ch > ' ' && ch < 0x7f && !strchr("(){%*\"\\+", ch);
}

/* Status text may hold anything but NUL (RFC 3501 TEXT-CHAR); offset of the first, or n. */
static size_t nul_at(const char *s, size_t n)
{
    const char *z = memchr(s, '\0', n);
    return z ? (size_t)(z - s) : n;
}

static size_t word_end(const char *s, size_t n, size_t i)
{
    while (i < n && !atom_stop((unsigned char)s[i]))
        i++;
    return i;
}

static mv_status header_bad(mv_imap_parser *p, mv_error *err, const char *s, size_t n, size_t off,
                            const char *why)
{
    if (off < n && s[off] == '\0')
        why = "NUL byte outside a literal";
    snprintf(p->why, sizeof p->why, "%s", why);
    p->why_off = off;
    return malformed(p, err, s, n);
}

static mv_status data_segment(mv_imap_parser *p, const char *s, size_t n, size_t i, mv_error *err);

/* The first line of a response: its kind, tag, status or number and keyword. */
static mv_status first_segment(mv_imap_parser *p, const char *s, size_t n, mv_error *err)
{
    mv_imap_response *r = &p->resp;
    size_t i;

    if (s[0] == '+') {
        r->kind = MV_IMAP_RESP_CONTINUE;
        r->keyword = "";
        i = 1;
        if (i < n && s[i] == ' ')
            i++;
        if (nul_at(s, n) < n)
            return header_bad(p, err, s, n, nul_at(s, n), "");
        return resp_text(p, s, n, i, err);
    }

    size_t w0, w1;
    if (s[0] == '*') {
        r->kind = MV_IMAP_RESP_UNTAGGED;
        if (n < 2 || s[1] != ' ')
            return header_bad(p, err, s, n, 1, "no space after '*'");
        i = 2;
        while (i < n && s[i] == ' ')
            i++;
        w0 = i;
        w1 = word_end(s, n, i);
        size_t k = w0;
        while (k < w1 && s[k] >= '0' && s[k] <= '9')
            k++;
        if (k == w1 && w1 > w0) {
            uint64_t num = 0;
            for (k = w0; k < w1; k++) {
                unsigned dig = (unsigned)(s[k] - '0');
                if (num > ((uint64_t)NUMBER_MAX - dig) / 10)
                    return header_bad(p, err, s, n, w0, "message number out of range");
                num = num * 10 + dig;
            }
            r->has_number = 1;
            r->number = num;
            i = w1;
            while (i < n && s[i] == ' ')
                i++;
            if (i == w1)
                return header_bad(p, err, s, n, i, "no keyword after the number");
            w0 = i;
            w1 = word_end(s, n, i);
        }
        /* Response keywords are words (EXISTS, LIST, X-GM-...); this also keeps "* {5}" from
         * passing for one. */
        if (w1 == w0 || upper((unsigned char)s[w0]) < 'A' || upper((unsigned char)s[w0]) > 'Z')
            return header_bad(p, err, s, n, w0, "no response keyword");
        if (!r->has_number) {
            mv_imap_status st = status_word(s + w0, w1 - w0, false);
            if (st != MV_IMAP_NONE) {
                if (w1 < n && s[w1] != ' ')
                    return header_bad(p, err, s, n, w1, "no space after the status");
                if (nul_at(s, n) < n)
                    return header_bad(p, err, s, n, nul_at(s, n), "");
                r->status = st;
                if ((r->keyword = arena_upper(&p->ar, s + w0, w1 - w0)) == NULL)
                    return fail_nomem(p, err);
                return resp_text(p, s, n, w1 < n ? w1 + 1 : n, err);
            }
        }
        if ((r->keyword = arena_upper(&p->ar, s + w0, w1 - w0)) == NULL)
            return fail_nomem(p, err);
        p->is_fetch = r->has_number && strcmp(r->keyword, "FETCH") == 0;
        p->in_resp = true;
        p->need_sep = true;
        p->last = "the keyword";
        /* For messages about later segments of a response with literals. */
        size_t hn = n < HEAD_MAX ? n : HEAD_MAX - 3;
        sanitise(p->head, s, hn);
        strcpy(p->head + hn, n < HEAD_MAX ? "" : "...");
        return data_segment(p, s, n, w1, err);
    }

    r->kind = MV_IMAP_RESP_TAGGED;
    w1 = 0;
    while (w1 < n && tag_char((unsigned char)s[w1]))
        w1++;
    if (w1 == 0 || w1 == n || s[w1] != ' ')
        return header_bad(p, err, s, n, w1,
                          w1 == 0 ? "not a tag, '*' or '+'" : "tag not followed by a status");
    i = w1 + 1;
    w0 = i;
    i = word_end(s, n, i);
    r->status = status_word(s + w0, i - w0, true);
    if (r->status == MV_IMAP_NONE || (i < n && s[i] != ' '))
        return header_bad(p, err, s, n, w0, "expected OK, NO or BAD after the tag");
    if (nul_at(s, n) < n)
        return header_bad(p, err, s, n, nul_at(s, n), "");
    if ((r->tag = arena_str(&p->ar, s, w1)) == NULL ||
        (r->keyword = arena_upper(&p->ar, s + w0, i - w0)) == NULL)
        return fail_nomem(p, err);
    return resp_text(p, s, n, i < n ? i + 1 : n, err);
}

static mv_status finish_literal(mv_imap_parser *p, mv_error *err)
{
    mv_imap_value *v = push(p);
    if (v == NULL)
        return fail_nomem(p, err);
    if (p->lit_stream) {
        v->type = MV_IMAP_STREAMED;
        v->num = p->lit_size;
        v->cookie = p->lit_cookie;
        if (p->cb.on_literal_end != NULL) {
            mv_status st = p->cb.on_literal_end(p->cb.ctx, err);
            if (st != MV_OK)
                return fail_callback(p, err, st);
        }
    } else {
        p->lit_buf[p->lit_fill] = '\0';
        v->type = MV_IMAP_STRING;
        v->str = p->lit_buf;
        v->len = p->lit_fill;
        p->resp_bytes += p->lit_fill;
    }
    p->state = S_LINE;
    p->need_sep = true;
    p->last = "a literal";
    return MV_OK;
}

static mv_status start_literal(mv_imap_parser *p, const char *s, size_t n, mv_error *err)
{
    uint64_t size = p->lit_size;
    const char *key = NULL;
    size_t first = p->nopen ? p->open[p->nopen - 1] : 0;
    if (p->vtop > first) {
        const mv_imap_value *prev = &p->vs[p->vtop - 1];
        if (prev->type == MV_IMAP_ATOM || prev->type == MV_IMAP_NUMBER)
            key = prev->str;
    }
    p->lit_cookie = 0;
    p->lit_stream = p->cb.on_literal_begin != NULL &&
                    p->cb.on_literal_begin(p->cb.ctx, key, p->is_fetch ? p->resp.number : 0, size,
                                           &p->lit_cookie) != 0;
    if (!p->lit_stream) {
        char q[2 * EXCERPT_MAX + 16];
        if (size > p->max_inline) {
            quote_excerpt(p, q, s, n, n);
            return fail(p, err, MV_ERR_PROTOCOL,
                        "server sent a %llu-byte literal, more than the %llu bytes allowed "
                        "inline: %s",
                        (unsigned long long)size, (unsigned long long)p->max_inline, q);
        }
        if (size > p->max_response - p->resp_bytes) {
            quote_excerpt(p, q, s, n, n);
            return fail(p, err, MV_ERR_PROTOCOL, "server sent a response longer than %zu bytes: %s",
                        p->max_response, q);
        }
        if ((p->lit_buf = arena_alloc(&p->ar, (size_t)size + 1, 1)) == NULL)
            return fail_nomem(p, err);
    }
    p->lit_left = size;
    p->lit_fill = 0;
    p->state = S_LITERAL;
    if (size == 0)
        return finish_literal(p, err);
    return MV_OK;
}

static mv_status data_segment(mv_imap_parser *p, const char *s, size_t n, size_t i, mv_error *err)
{
    cursor c = {s, i, n};
    p->nobracket = 0;
    switch (parse_values(p, &c, false, 0)) {
    case TK_END:
        if (p->nopen > 0) {
            snprintf(p->why, sizeof p->why, "missing ')'");
            p->why_off = n;
            return malformed(p, err, s, n);
        }
        return emit(p, err);
    case TK_LITERAL:
        return start_literal(p, s, n, err);
    case TK_NOMEM:
        return fail_nomem(p, err);
    case TK_CLOSE:
    case TK_BAD:
        break;
    }
    return malformed(p, err, s, n);
}

/* One segment without its line end. */
static mv_status segment(mv_imap_parser *p, const char *s, size_t n, mv_error *err)
{
    p->later = p->in_resp;
    if (p->in_resp)
        return data_segment(p, s, n, 0, err);
    if (n == 0) {
        /* A stray empty line (seen behind some proxies) carries nothing: skip it. */
        p->resp_bytes = 0;
        return MV_OK;
    }
    return first_segment(p, s, n, err);
}

static bool line_append(mv_imap_parser *p, const char *d, size_t n)
{
    if (n > p->line_cap - p->line_len) {
        size_t cap = p->line_cap ? p->line_cap : 256;
        while (cap - p->line_len < n)
            cap *= 2;
        char *l = realloc(p->line, cap);
        if (l == NULL)
            return false;
        p->line = l;
        p->line_cap = cap;
    }
    memcpy(p->line + p->line_len, d, n);
    p->line_len += n;
    return true;
}

static mv_status too_long(mv_imap_parser *p, mv_error *err, const char *s, size_t n)
{
    char q[2 * EXCERPT_MAX + 16];
    quote_excerpt(p, q, s, n, 0);
    return fail(p, err, MV_ERR_PROTOCOL, "server sent a response longer than %zu bytes: %s",
                p->max_response, q);
}

/* ---- public API ---- */

mv_imap_parser *mv_imap_parser_new(const mv_imap_callbacks *cb, const mv_imap_limits *limits)
{
    mv_imap_parser *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    if (cb != NULL)
        p->cb = *cb;
    p->max_inline = DEFAULT_MAX_INLINE;
    p->max_response = DEFAULT_MAX_RESPONSE;
    p->max_depth = DEFAULT_MAX_DEPTH;
    if (limits != NULL) {
        if (limits->max_inline_literal > 0)
            p->max_inline = limits->max_inline_literal;
        if (limits->max_response > 0)
            p->max_response = limits->max_response;
        if (limits->max_depth > 0)
            p->max_depth = (size_t)limits->max_depth;
    }
    /* An inline literal also has to fit in memory as one allocation. */
    if (p->max_inline > SIZE_MAX / 2)
        p->max_inline = SIZE_MAX / 2;
    p->state = S_LINE;
    return p;
}

void mv_imap_parser_free(mv_imap_parser *p)
{
    if (p == NULL)
        return;
    arena_free(&p->ar);
    free(p->line);
    free(p->vs);
    free(p->open);
    free(p);
}

mv_status mv_imap_parser_feed(mv_imap_parser *p, const void *data, size_t len, mv_error *err)
{
    if (p->state == S_FAILED)
        return mv_error_set(err, p->fail_status, "%s", p->fail_msg);
    const char *d = data;
    size_t pos = 0;
    while (pos < len) {
        if (p->state == S_LITERAL) {
            size_t take = len - pos;
            if (take > p->lit_left)
                take = (size_t)p->lit_left;
            if (!p->lit_stream) {
                memcpy(p->lit_buf + p->lit_fill, d + pos, take);
                p->lit_fill += take;
            } else if (p->cb.on_literal_data != NULL) {
                /* Straight from the caller's buffer: a message body is never copied here. */
                mv_status st = p->cb.on_literal_data(p->cb.ctx, d + pos, take, err);
                if (st != MV_OK)
                    return fail_callback(p, err, st);
            }
            p->lit_left -= take;
            pos += take;
            if (p->lit_left == 0) {
                mv_status st = finish_literal(p, err);
                if (st != MV_OK)
                    return st;
            }
            continue;
        }

        const char *lf = memchr(d + pos, '\n', len - pos);
        size_t end = lf ? (size_t)(lf - d) : len;
        /* resp_bytes + line_len never exceed max_response, the line end counted. */
        if (end - pos + (lf != NULL) > p->max_response - p->resp_bytes - p->line_len) {
            p->later = p->in_resp;
            return p->line_len > 0 ? too_long(p, err, p->line, p->line_len)
                                   : too_long(p, err, d + pos, end - pos);
        }
        if (lf == NULL) {
            if (!line_append(p, d + pos, len - pos))
                return fail_nomem(p, err);
            break;
        }
        const char *s;
        size_t n;
        if (p->line_len == 0) {
            s = d + pos;
            n = end - pos;
        } else {
            if (!line_append(p, d + pos, end - pos))
                return fail_nomem(p, err);
            s = p->line;
            n = p->line_len;
        }
        pos = end + 1;
        p->resp_bytes += n + 1;
        /* CRLF is the rule; a bare LF is accepted from servers and proxies that send it. */
        if (n > 0 && s[n - 1] == '\r')
            n--;
        mv_status st = segment(p, s, n, err);
        p->line_len = 0;
        if (st != MV_OK)
            return st;
        if (p->line_cap > KEEP_LINE_CAP && !p->in_resp) {
            free(p->line);
            p->line = NULL;
            p->line_cap = 0;
        }
    }
    return MV_OK;
}

int mv_imap_parser_idle(const mv_imap_parser *p)
{
    return p->state == S_LINE && !p->in_resp && p->line_len == 0;
}

int mv_imap_value_is(const mv_imap_value *v, const char *s)
{
    if (v == NULL || s == NULL || v->str == NULL ||
        (v->type != MV_IMAP_ATOM && v->type != MV_IMAP_NUMBER && v->type != MV_IMAP_STRING))
        return 0;
    return eq_ci(v->str, v->len, s);
}

const mv_imap_value *mv_imap_list_find(const mv_imap_value *list, const char *key)
{
    if (list == NULL || key == NULL || list->type != MV_IMAP_LIST)
        return NULL;
    for (size_t i = 0; i + 1 < list->n; i += 2)
        if (mv_imap_value_is(&list->items[i], key))
            return &list->items[i + 1];
    return NULL;
}
