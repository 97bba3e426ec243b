/* mailvault: the searchable text of a message, extracted with GMime.
 *
 * GMime parses the whole message; this file walks the MIME tree and writes each field through
 * one sanitiser (struct tbuf), which guarantees valid UTF-8 without NULs or stray controls and
 * applies the caps. HTML is turned into text by a small state machine of our own: that is not
 * MIME parsing, and GMime's HTML filter goes the other way (text to HTML).
 */
#include "text.h"

#include <errno.h>
#include <gmime/gmime.h>
#include <iconv.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* Output buffers */

/* A growable output string. Text enters only through tb_text (any bytes) or tb_write (bytes
 * already clean), so every buffer holds valid UTF-8 without NULs or controls other than \n and
 * \t (and in one-line fields none at all). Separators are owed rather than written: `owe` is
 * written only before the next visible text and only if something precedes it, so empty parts
 * or addresses leave no doubled or dangling separators behind. */
typedef struct tbuf {
    char *p;
    size_t len, cap;
    size_t max;        /* cap on len, in bytes */
    const char *owe;   /* separator owed before the next visible text, or NULL */
    unsigned line : 1; /* one-line field: whitespace and controls collapse into one space */
    unsigned full : 1; /* max reached: the rest is dropped */
    unsigned oom : 1;
} tbuf;

static void tb_init(tbuf *b, size_t max, int line)
{
    memset(b, 0, sizeof *b);
    b->max = max;
    b->line = line ? 1 : 0;
}

/* Room for n more bytes and the terminating NUL; callers never ask past max. */
static int tb_reserve(tbuf *b, size_t n)
{
    if (b->cap > b->len + n)
        return 1;
    size_t want = b->len + n + 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < want)
        cap *= 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    char *np = realloc(b->p, cap);
    if (np == NULL) {
        b->oom = 1;
        b->full = 1;
        return 0;
    }
    b->p = np;
    b->cap = cap;
    return 1;
}

static int is_ws(char c)
{
    return c == ' ' || c == '\n' || c == '\t';
}

/* Appends s[0..k), which is clean UTF-8 made of whole characters, paying any owed separator
 * first. In the body an owed separator also swallows leading whitespace: a part starts with
 * its first visible character. What does not fit under max is cut at a character boundary. */
static void tb_write(tbuf *b, const char *s, size_t k)
{
    if (b->full)
        return;
    if (b->owe != NULL && !b->line)
        while (k > 0 && is_ws(*s))
            s++, k--;
    if (k == 0)
        return;
    const char *owe = b->len > 0 ? b->owe : NULL;
    size_t olen = owe != NULL ? strlen(owe) : 0;
    size_t room = b->max - b->len;
    size_t take = k;
    if (olen + take > room) {
        b->full = 1;
        if (olen >= room)
            return;
        take = room - olen;
        while (take > 0 && ((unsigned char)s[take] & 0xc0) == 0x80)
            take--;
        if (take == 0)
            return;
    }
    if (!tb_reserve(b, olen + take))
        return;
    if (olen > 0) {
        memcpy(b->p + b->len, owe, olen);
        b->len += olen;
    }
    memcpy(b->p + b->len, s, take);
    b->len += take;
    b->owe = NULL;
}

/* Whitespace or a control character in the input. */
static void tb_space(tbuf *b)
{
    if (b->line) {
        if (b->owe == NULL)
            b->owe = " ";
    } else {
        tb_write(b, " ", 1);
    }
}

/* Owes sep (replacing whatever was owed) before the next visible text. */
static void tb_sep(tbuf *b, const char *sep)
{
    b->owe = sep;
}

/* Windows-1252 for 0x80..0x9F (0: unassigned). Latin-1 labels mean Windows-1252 in practice
 * (HTML5 decodes them so), and it maps these bytes to the quotes and dashes senders meant. */
static const uint16_t cp1252_c1[32] = {
    0x20ac, 0,      0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160,
    0x2039, 0x0152, 0,      0x017d, 0,      0,      0x2018, 0x2019, 0x201c, 0x201d, 0x2022,
    0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0,      0x017e, 0x0178,
};

static uint32_t cp1252(unsigned char c)
{
    return c >= 0x80 && c < 0xa0 ? cp1252_c1[c - 0x80] : c;
}

static size_t utf8_encode(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Length (2..4) of the well-formed UTF-8 sequence at s[0..n), or 0: no overlongs, surrogates
 * or code points past U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c >= 0xc2 && c <= 0xdf)
        return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
            return 0;
        if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0))
            return 0;
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
            return 0;
        if ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90))
            return 0;
        return 4;
    }
    return 0;
}

static int utf8_valid(const char *in, size_t n)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = utf8_seq(s + i, n - i);
        if (k == 0)
            return 0;
        i += k;
    }
    return 1;
}

/* Appends any bytes as clean text. Well-formed UTF-8 passes; a byte that is not part of a
 * well-formed sequence is read as Windows-1252 (mail that is not UTF-8 is mostly that, and a
 * stray Latin-1 byte in UTF-8 text then costs one character, not the message). C0 controls,
 * DEL and C1 controls become spaces; CR LF becomes LF and a lone CR a line break. One-line
 * fields turn every run of whitespace or controls into one space, never at either end. */
static void tb_text(tbuf *b, const char *in, size_t n)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t i = 0, run = 0;

    if (n == 0)
        return;
    while (i < n && !b->full) {
        unsigned c = s[i];
        if (c > 0x20 && c < 0x7f) {
            i++;
            continue;
        }
        if ((c == '\n' || c == '\t' || c == ' ') && !b->line) {
            i++;
            continue;
        }
        size_t k = 0;
        if (c >= 0x80) {
            k = utf8_seq(s + i, n - i);
            if (k > 0 && !(c == 0xc2 && s[i + 1] < 0xa0)) {
                i += k;
                continue;
            }
        }
        tb_write(b, in + run, i - run);
        if (k == 2) {
            tb_space(b); /* a C1 control */
            i += 2;
        } else if (c >= 0x80) {
            uint32_t cp = cp1252((unsigned char)c);
            if (cp == 0) {
                tb_space(b);
            } else {
                char u[4];
                tb_write(b, u, utf8_encode(u, cp));
            }
            i++;
        } else if (c == '\r' && !b->line) {
            if (i + 1 >= n || s[i + 1] != '\n')
                tb_write(b, "\n", 1);
            i++;
        } else {
            tb_space(b);
            i++;
        }
        run = i;
    }
    tb_write(b, in + run, i - run);
}

static void tb_str(tbuf *b, const char *s)
{
    if (s != NULL)
        tb_text(b, s, strlen(s));
}

/* Body parts: each starts after a blank line, and trailing whitespace is dropped. */
static void tb_part(tbuf *b)
{
    b->owe = "\n\n";
}

static void tb_end_part(tbuf *b)
{
    while (b->len > 0 && is_ws(b->p[b->len - 1]))
        b->len--;
    b->owe = "\n\n";
}

/* The malloc'd result (never NULL unless out of memory); the buffer is consumed. */
static char *tb_finish(tbuf *b)
{
    if (b->oom) {
        free(b->p);
        b->p = NULL;
        return NULL;
    }
    while (!b->line && b->len > 0 && is_ws(b->p[b->len - 1]))
        b->len--;
    if (b->p == NULL)
        return calloc(1, 1);
    b->p[b->len] = '\0';
    char *s = b->p;
    if (b->cap - b->len > 4096) {
        char *shrunk = realloc(s, b->len + 1);
        if (shrunk != NULL)
            s = shrunk;
    }
    b->p = NULL;
    return s;
}

/* ------------------------------------------------------------------------------------------ */
/* HTML to text */

/* HTML 4's 252 named entities and &apos;, sorted by name in byte order for bsearch. */
static const struct entity {
    char name[9];
    uint16_t cp;
} entities[] = {
    {"AElig", 0x00c6},   {"Aacute", 0x00c1},  {"Acirc", 0x00c2},    {"Agrave", 0x00c0},
    {"Alpha", 0x0391},   {"Aring", 0x00c5},   {"Atilde", 0x00c3},   {"Auml", 0x00c4},
    {"Beta", 0x0392},    {"Ccedil", 0x00c7},  {"Chi", 0x03a7},      {"Dagger", 0x2021},
    {"Delta", 0x0394},   {"ETH", 0x00d0},     {"Eacute", 0x00c9},   {"Ecirc", 0x00ca},
    {"Egrave", 0x00c8},  {"Epsilon", 0x0395}, {"Eta", 0x0397},      {"Euml", 0x00cb},
    {"Gamma", 0x0393},   {"Iacute", 0x00cd},  {"Icirc", 0x00ce},    {"Igrave", 0x00cc},
    {"Iota", 0x0399},    {"Iuml", 0x00cf},    {"Kappa", 0x039a},    {"Lambda", 0x039b},
    {"Mu", 0x039c},      {"Ntilde", 0x00d1},  {"Nu", 0x039d},       {"OElig", 0x0152},
    {"Oacute", 0x00d3},  {"Ocirc", 0x00d4},   {"Ograve", 0x00d2},   {"Omega", 0x03a9},
    {"Omicron", 0x039f}, {"Oslash", 0x00d8},  {"Otilde", 0x00d5},   {"Ouml", 0x00d6},
    {"Phi", 0x03a6},     {"Pi", 0x03a0},      {"Prime", 0x2033},    {"Psi", 0x03a8},
    {"Rho", 0x03a1},     {"Scaron", 0x0160},  {"Sigma", 0x03a3},    {"THORN", 0x00de},
    {"Tau", 0x03a4},     {"Theta", 0x0398},   {"Uacute", 0x00da},   {"Ucirc", 0x00db},
    {"Ugrave", 0x00d9},  {"Upsilon", 0x03a5}, {"Uuml", 0x00dc},     {"Xi", 0x039e},
    {"Yacute", 0x00dd},  {"Yuml", 0x0178},    {"Zeta", 0x0396},     {"aacute", 0x00e1},
    {"acirc", 0x00e2},   {"acute", 0x00b4},   {"aelig", 0x00e6},    {"agrave", 0x00e0},
    {"alefsym", 0x2135}, {"alpha", 0x03b1},   {"amp", 0x0026},      {"and", 0x2227},
    {"ang", 0x2220},     {"apos", 0x0027},    {"aring", 0x00e5},    {"asymp", 0x2248},
    {"atilde", 0x00e3},  {"auml", 0x00e4},    {"bdquo", 0x201e},    {"beta", 0x03b2},
    {"brvbar", 0x00a6},  {"bull", 0x2022},    {"cap", 0x2229},      {"ccedil", 0x00e7},
    {"cedil", 0x00b8},   {"cent", 0x00a2},    {"chi", 0x03c7},      {"circ", 0x02c6},
    {"clubs", 0x2663},   {"cong", 0x2245},    {"copy", 0x00a9},     {"crarr", 0x21b5},
    {"cup", 0x222a},     {"curren", 0x00a4},  {"dArr", 0x21d3},     {"dagger", 0x2020},
    {"darr", 0x2193},    {"deg", 0x00b0},     {"delta", 0x03b4},    {"diams", 0x2666},
    {"divide", 0x00f7},  {"eacute", 0x00e9},  {"ecirc", 0x00ea},    {"egrave", 0x00e8},
    {"empty", 0x2205},   {"emsp", 0x2003},    {"ensp", 0x2002},     {"epsilon", 0x03b5},
    {"equiv", 0x2261},   {"eta", 0x03b7},     {"eth", 0x00f0},      {"euml", 0x00eb},
    {"euro", 0x20ac},    {"exist", 0x2203},   {"fnof", 0x0192},     {"forall", 0x2200},
    {"frac12", 0x00bd},  {"frac14", 0x00bc},  {"frac34", 0x00be},   {"frasl", 0x2044},
    {"gamma", 0x03b3},   {"ge", 0x2265},      {"gt", 0x003e},       {"hArr", 0x21d4},
    {"harr", 0x2194},    {"hearts", 0x2665},  {"hellip", 0x2026},   {"iacute", 0x00ed},
    {"icirc", 0x00ee},   {"iexcl", 0x00a1},   {"igrave", 0x00ec},   {"image", 0x2111},
    {"infin", 0x221e},   {"int", 0x222b},     {"iota", 0x03b9},     {"iquest", 0x00bf},
    {"isin", 0x2208},    {"iuml", 0x00ef},    {"kappa", 0x03ba},    {"lArr", 0x21d0},
    {"lambda", 0x03bb},  {"lang", 0x2329},    {"laquo", 0x00ab},    {"larr", 0x2190},
    {"lceil", 0x2308},   {"ldquo", 0x201c},   {"le", 0x2264},       {"lfloor", 0x230a},
    {"lowast", 0x2217},  {"loz", 0x25ca},     {"lrm", 0x200e},      {"lsaquo", 0x2039},
    {"lsquo", 0x2018},   {"lt", 0x003c},      {"macr", 0x00af},     {"mdash", 0x2014},
    {"micro", 0x00b5},   {"middot", 0x00b7},  {"minus", 0x2212},    {"mu", 0x03bc},
    {"nabla", 0x2207},   {"nbsp", 0x00a0},    {"ndash", 0x2013},    {"ne", 0x2260},
    {"ni", 0x220b},      {"not", 0x00ac},     {"notin", 0x2209},    {"nsub", 0x2284},
    {"ntilde", 0x00f1},  {"nu", 0x03bd},      {"oacute", 0x00f3},   {"ocirc", 0x00f4},
    {"oelig", 0x0153},   {"ograve", 0x00f2},  {"oline", 0x203e},    {"omega", 0x03c9},
    {"omicron", 0x03bf}, {"oplus", 0x2295},   {"or", 0x2228},       {"ordf", 0x00aa},
    {"ordm", 0x00ba},    {"oslash", 0x00f8},  {"otilde", 0x00f5},   {"otimes", 0x2297},
    {"ouml", 0x00f6},    {"para", 0x00b6},    {"part", 0x2202},     {"permil", 0x2030},
    {"perp", 0x22a5},    {"phi", 0x03c6},     {"pi", 0x03c0},       {"piv", 0x03d6},
    {"plusmn", 0x00b1},  {"pound", 0x00a3},   {"prime", 0x2032},    {"prod", 0x220f},
    {"prop", 0x221d},    {"psi", 0x03c8},     {"quot", 0x0022},     {"rArr", 0x21d2},
    {"radic", 0x221a},   {"rang", 0x232a},    {"raquo", 0x00bb},    {"rarr", 0x2192},
    {"rceil", 0x2309},   {"rdquo", 0x201d},   {"real", 0x211c},     {"reg", 0x00ae},
    {"rfloor", 0x230b},  {"rho", 0x03c1},     {"rlm", 0x200f},      {"rsaquo", 0x203a},
    {"rsquo", 0x2019},   {"sbquo", 0x201a},   {"scaron", 0x0161},   {"sdot", 0x22c5},
    {"sect", 0x00a7},    {"shy", 0x00ad},     {"sigma", 0x03c3},    {"sigmaf", 0x03c2},
    {"sim", 0x223c},     {"spades", 0x2660},  {"sub", 0x2282},      {"sube", 0x2286},
    {"sum", 0x2211},     {"sup", 0x2283},     {"sup1", 0x00b9},     {"sup2", 0x00b2},
    {"sup3", 0x00b3},    {"supe", 0x2287},    {"szlig", 0x00df},    {"tau", 0x03c4},
    {"there4", 0x2234},  {"theta", 0x03b8},   {"thetasym", 0x03d1}, {"thinsp", 0x2009},
    {"thorn", 0x00fe},   {"tilde", 0x02dc},   {"times", 0x00d7},    {"trade", 0x2122},
    {"uArr", 0x21d1},    {"uacute", 0x00fa},  {"uarr", 0x2191},     {"ucirc", 0x00fb},
    {"ugrave", 0x00f9},  {"uml", 0x00a8},     {"upsih", 0x03d2},    {"upsilon", 0x03c5},
    {"uuml", 0x00fc},    {"weierp", 0x2118},  {"xi", 0x03be},       {"yacute", 0x00fd},
    {"yen", 0x00a5},     {"yuml", 0x00ff},    {"zeta", 0x03b6},     {"zwj", 0x200d},
    {"zwnj", 0x200c},
};

static int entity_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const struct entity *)elem)->name);
}

/* Code point of the entity name s[0..n), or 0. */
static uint32_t entity_lookup(const char *s, size_t n)
{
    char key[16];
    if (n == 0 || n >= sizeof key)
        return 0;
    memcpy(key, s, n);
    key[n] = '\0';
    const struct entity *e = bsearch(key, entities, sizeof entities / sizeof entities[0],
                                     sizeof entities[0], entity_cmp);
    return e != NULL ? e->cp : 0;
}

/* Elements that start a new line, sorted for bsearch. Table cells only separate words. */
static const char *const block_tags[] = {
    "address", "article", "aside", "blockquote", "body", "br",       "caption",
    "center",  "dd",      "div",   "dl",         "dt",   "fieldset", "figcaption",
    "figure",  "footer",  "form",  "h1",         "h2",   "h3",       "h4",
    "h5",      "h6",      "head",  "header",     "hr",   "html",     "li",
    "main",    "nav",     "ol",    "option",     "p",    "pre",      "section",
    "table",   "tbody",   "tfoot", "thead",      "tr",   "ul",
};

static int str_cmp(const void *key, const void *elem)
{
    return strcmp(key, *(const char *const *)elem);
}

static int is_block(const char *name)
{
    return bsearch(name, block_tags, sizeof block_tags / sizeof block_tags[0], sizeof block_tags[0],
                   str_cmp) != NULL;
}

/* Elements whose content is not text at all: skipped up to their end tag. The <title> is
 * dropped with them: it repeats the subject or is template boilerplate ("Untitled"). <xml>
 * holds Microsoft Office's document settings. */
static int is_raw(const char *name)
{
    return strcmp(name, "script") == 0 || strcmp(name, "style") == 0 ||
           strcmp(name, "title") == 0 || strcmp(name, "xml") == 0;
}

/* What may stand in <head> without ending it. Text in the head is dropped, but a missing
 * </head> must not swallow the body: any other element ends the head. */
static int is_head_tag(const char *name)
{
    static const char *const head[] = {"base",     "head",   "html",  "link",  "meta",
                                       "noscript", "script", "style", "title", "xml"};
    for (size_t i = 0; i < sizeof head / sizeof head[0]; i++)
        if (strcmp(name, head[i]) == 0)
            return 1;
    return 0;
}

enum { WS_NONE, WS_SPACE, WS_LINE };

typedef struct html_state {
    tbuf *b;
    const char *s;
    size_t n;
    int ws;      /* whitespace owed before the next text */
    int emitted; /* text was written: leading whitespace is not */
    int in_head;
    int pre;       /* <pre> depth: line breaks in the text are kept */
    size_t noq[2]; /* no '"' (resp. '\'') at or after this offset: keeps unclosed quotes linear */
} html_state;

static void h_text(html_state *h, const char *s, size_t k)
{
    if (h->in_head)
        return;
    if (h->emitted && h->ws != WS_NONE)
        tb_write(h->b, h->ws == WS_LINE ? "\n" : " ", 1);
    h->ws = WS_NONE;
    tb_text(h->b, s, k);
    h->emitted = 1;
}

static void h_ws(html_state *h, int ws)
{
    if (ws > h->ws)
        h->ws = ws;
}

/* Offset of the quote q at or after from, or n. */
static size_t h_find_quote(html_state *h, char q, size_t from)
{
    int i = q == '"' ? 0 : 1;
    if (from >= h->noq[i])
        return h->n;
    const char *p = memchr(h->s + from, q, h->n - from);
    if (p == NULL) {
        h->noq[i] = from;
        return h->n;
    }
    return (size_t)(p - h->s);
}

/* Offset just past the next '>' at or after from, or n. */
static size_t h_past_gt(html_state *h, size_t from)
{
    if (from >= h->n)
        return h->n;
    const char *p = memchr(h->s + from, '>', h->n - from);
    return p != NULL ? (size_t)(p - h->s) + 1 : h->n;
}

/* Offset just past the end tag </name...> at or after from, or n when there is none (the rest
 * of the document then belongs to the element, as in a browser). */
static size_t h_skip_raw(html_state *h, size_t from, const char *name)
{
    size_t nl = strlen(name);
    const char *s = h->s;
    size_t p = from;

    while (p < h->n) {
        const char *lt = memchr(s + p, '<', h->n - p);
        if (lt == NULL)
            break;
        p = (size_t)(lt - s);
        if (p + 2 + nl <= h->n && s[p + 1] == '/' &&
            g_ascii_strncasecmp(s + p + 2, name, nl) == 0 &&
            (p + 2 + nl == h->n || !g_ascii_isalnum(s[p + 2 + nl])))
            return h_past_gt(h, p + 2 + nl);
        p++;
    }
    return h->n;
}

/* Comment "<!-- ... -->": offset past its end, or n. "<!-->" closes at once, as in browsers. */
static size_t h_skip_comment(html_state *h, size_t from)
{
    const char *s = h->s;
    size_t p = from;

    while (p < h->n) {
        const char *gt = memchr(s + p, '>', h->n - p);
        if (gt == NULL)
            break;
        size_t g = (size_t)(gt - s);
        if (g >= from + 2 && s[g - 1] == '-' && s[g - 2] == '-')
            return g + 1;
        p = g + 1;
    }
    return h->n;
}

/* At s[i] == '<': markup or a literal '<'. Returns the offset after it. */
static size_t h_markup(html_state *h, size_t i)
{
    const char *s = h->s;
    size_t n = h->n;

    if (i + 1 < n && s[i + 1] == '!') {
        if (i + 3 < n && s[i + 2] == '-' && s[i + 3] == '-')
            return h_skip_comment(h, i + 2);
        return h_past_gt(h, i + 2); /* <!DOCTYPE ...>, <![CDATA[ ...> */
    }
    if (i + 1 < n && s[i + 1] == '?')
        return h_past_gt(h, i + 2);

    int end = 0;
    size_t j = i + 1;
    if (j < n && s[j] == '/') {
        end = 1;
        j++;
    }
    if (j >= n || !g_ascii_isalpha(s[j])) {
        h_text(h, "<", 1); /* "a < b", "<3" */
        return i + 1;
    }

    char name[16];
    size_t nl = 0;
    int long_name = 0;
    while (j < n && (g_ascii_isalnum(s[j]) || s[j] == '-' || s[j] == ':' || s[j] == '_')) {
        if (nl < sizeof name - 1)
            name[nl++] = g_ascii_tolower(s[j]);
        else
            long_name = 1;
        j++;
    }
    name[long_name ? 0 : nl] = '\0';

    /* To the closing '>', which does not count inside a quoted attribute value. */
    size_t k = j;
    while (k < n && s[k] != '>') {
        if (s[k] != '=') {
            k++;
            continue;
        }
        k++;
        while (k < n &&
               (s[k] == ' ' || s[k] == '\t' || s[k] == '\n' || s[k] == '\r' || s[k] == '\f'))
            k++;
        if (k < n && (s[k] == '"' || s[k] == '\'')) {
            size_t q = h_find_quote(h, s[k], k + 1);
            if (q < n)
                k = q + 1;
            else
                k++; /* unclosed: the quote is an ordinary character */
        }
    }
    if (k >= n)
        return n; /* a tag cut off by the end shows nothing */
    k++;

    if (!end) {
        if (h->in_head && !is_head_tag(name))
            h->in_head = 0;
        if (strcmp(name, "head") == 0)
            h->in_head = 1;
        else if (strcmp(name, "pre") == 0)
            h->pre++;
        if (is_raw(name))
            return h_skip_raw(h, k, name);
    } else {
        if (strcmp(name, "head") == 0)
            h->in_head = 0;
        else if (strcmp(name, "pre") == 0 && h->pre > 0)
            h->pre--;
    }
    if (is_block(name))
        h_ws(h, WS_LINE);
    else if (strcmp(name, "td") == 0 || strcmp(name, "th") == 0)
        h_ws(h, WS_SPACE);
    return k;
}

static void h_char(html_state *h, uint32_t cp)
{
    if (cp <= 0x20 || cp == 0x7f || cp == 0xa0) {
        h_ws(h, cp == '\n' && h->pre ? WS_LINE : WS_SPACE);
        return;
    }
    char u[4];
    h_text(h, u, utf8_encode(u, cp));
}

/* At s[i] == '&': a character reference, or a literal '&'. Returns the offset after it. */
static size_t h_entity(html_state *h, size_t i)
{
    const char *s = h->s;
    size_t n = h->n;
    size_t j = i + 1;
    uint32_t cp;

    if (j < n && s[j] == '#') {
        j++;
        int hex = j < n && (s[j] == 'x' || s[j] == 'X');
        if (hex)
            j++;
        size_t digits = j;
        uint32_t v = 0;
        while (j < n && (hex ? g_ascii_isxdigit(s[j]) : g_ascii_isdigit(s[j]))) {
            v = v * (hex ? 16 : 10) + (uint32_t)g_ascii_xdigit_value(s[j]);
            if (v > 0x10ffff)
                v = 0x110000; /* stays out of range, never overflows */
            j++;
        }
        if (j == digits) {
            h_text(h, "&", 1);
            return i + 1;
        }
        if (j < n && s[j] == ';')
            j++;
        /* As browsers read them: 0x80..0x9F as Windows-1252. */
        if (v == 0 || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
            cp = 0xfffd;
        else if (v >= 0x80 && v < 0xa0)
            cp = cp1252((unsigned char)v) ? cp1252((unsigned char)v) : 0xfffd;
        else
            cp = v;
        h_char(h, cp);
        return j;
    }

    while (j < n && j - i <= 10 && g_ascii_isalnum(s[j]))
        j++;
    size_t len = j - i - 1;
    cp = entity_lookup(s + i + 1, len);
    if (cp != 0 && j < n && s[j] == ';') {
        j++;
    } else if (cp == 0 || !(cp == '&' || cp == '<' || cp == '>' || cp == '"' || cp == 0xa0)) {
        /* Unknown, or without ';' (allowed only for the few that sloppy HTML writes so):
         * left as it was. */
        h_text(h, "&", 1);
        return i + 1;
    }
    h_char(h, cp);
    return j;
}

static void html_to_text(tbuf *b, const char *s, size_t n)
{
    html_state h = {.b = b, .s = s, .n = n, .noq = {SIZE_MAX, SIZE_MAX}};
    size_t i = 0;

    while (i < n && !b->full) {
        unsigned char c = (unsigned char)s[i];
        if (c == '<') {
            i = h_markup(&h, i);
        } else if (c == '&') {
            i = h_entity(&h, i);
        } else if (c <= 0x20 || c == 0x7f) {
            h_ws(&h, c == '\n' && h.pre ? WS_LINE : WS_SPACE);
            i++;
        } else {
            size_t j = i + 1;
            while (j < n && (unsigned char)s[j] > 0x20 && s[j] != '<' && s[j] != '&' &&
                   s[j] != 0x7f)
                j++;
            h_text(&h, s + i, j - i);
            i = j;
        }
    }
}

char *mv_text_from_html(const char *html, size_t len)
{
    tbuf b;
    tb_init(&b, SIZE_MAX / 4, 0);
    if (html != NULL)
        html_to_text(&b, html, len);
    return tb_finish(&b);
}

/* ------------------------------------------------------------------------------------------ */
/* Charsets */

static int charset_in(const char *cs, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (g_ascii_strcasecmp(cs, list[i]) == 0)
            return 1;
    return 0;
}

/* Labels read as UTF-8 (with the Windows-1252 byte fallback of tb_text) without iconv:
 * UTF-8 itself, and ASCII, whose 8-bit bytes iconv would reject although they are mostly
 * UTF-8 or Windows-1252 in practice. */
static int charset_is_utf8(const char *cs)
{
    static const char *const l[] = {"utf-8",     "utf8",    "unicode-1-1-utf-8", "us-ascii",
                                    "ascii",     "us",      "ansi_x3.4-1968",    "iso646-us",
                                    "x-unknown", "unknown", "unknown-8bit",      "8bit",
                                    "7bit"};
    return cs == NULL || *cs == '\0' || charset_in(cs, l, sizeof l / sizeof l[0]);
}

static int charset_is_latin1(const char *cs)
{
    static const char *const l[] = {"iso-8859-1",   "iso8859-1", "iso_8859-1", "latin1",
                                    "latin-1",      "l1",        "cp819",      "ibm819",
                                    "windows-1252", "cp1252",    "x-cp1252"};
    return charset_in(cs, l, sizeof l / sizeof l[0]);
}

/* Every byte as Windows-1252, into a malloc'd buffer. */
static char *latin1_to_utf8(const char *in, size_t n, size_t *outlen)
{
    char *out = malloc(n * 3 + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c < 0x80) {
            out[o++] = (char)c;
        } else {
            uint32_t cp = cp1252(c);
            o += utf8_encode(out + o, cp != 0 ? cp : ' ');
        }
    }
    *outlen = o;
    return out;
}

/* in[0..n) through cd into a malloc'd buffer. A byte iconv rejects becomes U+FFFD and counts
 * in *errors; conversion goes on after it. */
static char *iconv_all(iconv_t cd, const char *in, size_t n, size_t *outlen, size_t *errors)
{
    size_t cap = n + n / 2 + 64;
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;
    char *ip = (char *)in;
    size_t il = n;
    char *op = out;
    size_t ol = cap;
    int flushing = 0;

    iconv(cd, NULL, NULL, NULL, NULL);
    for (;;) {
        size_t r = flushing ? iconv(cd, NULL, NULL, &op, &ol) : iconv(cd, &ip, &il, &op, &ol);
        int e = errno;
        if (r != (size_t)-1) {
            if (flushing)
                break;
            flushing = 1;
            continue;
        }
        if (e == E2BIG || ((e == EILSEQ || e == EINVAL) && ol < 3)) {
            size_t used = (size_t)(op - out);
            char *np = realloc(out, cap * 2);
            if (np == NULL) {
                free(out);
                return NULL;
            }
            out = np;
            cap *= 2;
            op = out + used;
            ol = cap - used;
            continue;
        }
        (*errors)++;
        if (flushing || (e != EILSEQ && e != EINVAL))
            break;
        memcpy(op, "\xef\xbf\xbd", 3);
        op += 3;
        ol -= 3;
        if (e == EILSEQ) {
            ip++;
            il--;
        } else {
            il = 0; /* an incomplete sequence at the end */
        }
    }
    *outlen = (size_t)(op - out);
    return out;
}

/* The text of in[0..n), declared as charset cs, as bytes for tb_text: either in itself or a
 * converted malloc'd copy (*owned). Tries the declared charset, then UTF-8 if the bytes are
 * valid UTF-8, then Windows-1252: never fails except for memory. */
static const char *to_utf8(const char *cs, const char *in, size_t n, size_t *outlen, char **owned,
                           int *oom)
{
    *owned = NULL;
    *outlen = n;
    if (charset_is_utf8(cs))
        return in;
    if (charset_is_latin1(cs)) {
        /* Valid UTF-8 with 8-bit bytes is all but never Latin-1 text: a mislabel. */
        if (utf8_valid(in, n))
            return in;
        *owned = latin1_to_utf8(in, n, outlen);
    } else {
        iconv_t cd = g_mime_iconv_open("UTF-8", cs);
        if (cd == (iconv_t)-1)
            return in; /* unknown label */
        size_t errors = 0;
        *owned = iconv_all(cd, in, n, outlen, &errors);
        g_mime_iconv_close(cd);
        if (*owned != NULL && errors > 0 && utf8_valid(in, n)) {
            free(*owned);
            *owned = NULL;
            *outlen = n;
            return in;
        }
    }
    if (*owned == NULL) {
        *oom = 1;
        *outlen = 0;
        return "";
    }
    return *owned;
}

/* ------------------------------------------------------------------------------------------ */
/* The message */

/* Beyond any real message; GMime itself stops nesting at some hundreds of levels. */
#define MAX_DEPTH 128
#define MAX_GROUP_DEPTH 16

typedef struct ctx {
    tbuf subject, sender, recipients, body, attachments;
    int has_attachment;
} ctx;

/* "Name <addr>" entries joined with ", ", written out here for the reason given in mime.c
 * (internet_address_list_to_string is slow and punycodes domains). Names are not quoted:
 * this is text for the search index, not a header. */
static void put_addresses(tbuf *b, InternetAddressList *list, int depth)
{
    int n = list != NULL ? internet_address_list_length(list) : 0;

    for (int i = 0; i < n; i++) {
        InternetAddress *ia = internet_address_list_get_address(list, i);
        const char *name = internet_address_get_name(ia);
        if (i > 0)
            tb_sep(b, ", ");
        if (INTERNET_ADDRESS_IS_GROUP(ia)) {
            if (depth >= MAX_GROUP_DEPTH)
                continue;
            size_t before = b->len;
            tb_str(b, name);
            if (b->len > before)
                tb_sep(b, ": ");
            put_addresses(b, internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)),
                          depth + 1);
        } else if (INTERNET_ADDRESS_IS_MAILBOX(ia)) {
            const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
            size_t before = b->len;
            tb_str(b, name);
            if (addr != NULL && *addr != '\0') {
                if (b->len > before) {
                    tb_sep(b, " ");
                    tb_write(b, "<", 1);
                    tb_str(b, addr);
                    tb_write(b, ">", 1);
                } else {
                    tb_str(b, addr);
                }
            }
        }
    }
}

/* One address header; when GMime finds no address in it ("From: Mail Delivery System"), its
 * decoded text stands in. */
static void put_address_field(tbuf *b, GMimeMessage *msg, GMimeAddressType type, const char *header)
{
    tb_sep(b, ", ");
    size_t before = b->len;
    put_addresses(b, g_mime_message_get_addresses(msg, type), 0);
    if (b->len == before)
        tb_str(b, g_mime_object_get_header(GMIME_OBJECT(msg), header));
}

static void put_senders(tbuf *b, GMimeMessage *msg)
{
    put_address_field(b, msg, GMIME_ADDRESS_TYPE_FROM, "From");
    put_address_field(b, msg, GMIME_ADDRESS_TYPE_SENDER, "Sender");
    put_address_field(b, msg, GMIME_ADDRESS_TYPE_REPLY_TO, "Reply-To");
}

static void put_recipients(tbuf *b, GMimeMessage *msg)
{
    put_address_field(b, msg, GMIME_ADDRESS_TYPE_TO, "To");
    put_address_field(b, msg, GMIME_ADDRESS_TYPE_CC, "Cc");
    put_address_field(b, msg, GMIME_ADDRESS_TYPE_BCC, "Bcc");

    GMimeHeaderList *list = g_mime_object_get_header_list(GMIME_OBJECT(msg));
    int n = g_mime_header_list_get_count(list);
    for (int i = 0; i < n; i++) {
        GMimeHeader *h = g_mime_header_list_get_header_at(list, i);
        const char *name = g_mime_header_get_name(h);
        if (g_ascii_strcasecmp(name, "Delivered-To") == 0 ||
            g_ascii_strcasecmp(name, "X-Original-To") == 0) {
            tb_sep(b, ", ");
            tb_str(b, g_mime_header_get_value(h));
        }
    }
}

/* Lists a part that has a file name or is marked as an attachment: "name type/subtype". */
static void note_attachment(ctx *c, GMimeObject *obj)
{
    GMimeContentDisposition *disp = g_mime_object_get_content_disposition(obj);
    const char *fname =
        disp != NULL ? g_mime_content_disposition_get_parameter(disp, "filename") : NULL;
    if (fname == NULL || *fname == '\0')
        fname = g_mime_object_get_content_type_parameter(obj, "name");
    if (fname != NULL && *fname == '\0')
        fname = NULL;
    if (fname == NULL && !(disp != NULL && g_mime_content_disposition_is_attachment(disp)))
        return;

    c->has_attachment = 1;
    tbuf *a = &c->attachments;
    tb_sep(a, " ");
    tb_str(a, fname);
    GMimeContentType *ct = g_mime_object_get_content_type(obj);
    if (ct == NULL)
        return;
    tb_sep(a, " ");
    size_t mark = a->len;
    tb_str(a, g_mime_content_type_get_media_type(ct));
    tb_write(a, "/", 1);
    tb_str(a, g_mime_content_type_get_media_subtype(ct));
    for (size_t i = mark; i < a->len; i++)
        a->p[i] = g_ascii_tolower(a->p[i]);
}

/* An HTML part without a charset parameter often names it only in its <meta charset=...> or
 * <meta http-equiv=... content="text/html; charset=...">, near the start. */
static const char *html_meta_charset(const char *s, size_t n, char *out, size_t size)
{
    size_t lim = n < 2048 ? n : 2048;

    for (size_t i = 0; i + 8 <= lim; i++) {
        if ((s[i] | 0x20) != 'c' || g_ascii_strncasecmp(s + i, "charset=", 8) != 0)
            continue;
        size_t j = i + 8, k = 0;
        while (j < lim && (s[j] == '"' || s[j] == '\'' || s[j] == ' '))
            j++;
        while (j < lim && k + 1 < size &&
               (g_ascii_isalnum(s[j]) || s[j] == '-' || s[j] == '_' || s[j] == ':' || s[j] == '.'))
            out[k++] = s[j++];
        out[k] = '\0';
        return k > 0 ? out : NULL;
    }
    return NULL;
}

/* The text of a text/plain or text/html leaf, decoded and converted, as one body part. */
static void part_text(ctx *c, GMimePart *part, int is_html)
{
    if (c->body.full)
        return;
    GMimeDataWrapper *content = g_mime_part_get_content(part);
    if (content == NULL)
        return;

    GMimeStream *mem = g_mime_stream_mem_new();
    g_mime_data_wrapper_write_to_stream(content, mem);
    GByteArray *bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
    if (bytes->len == 0) {
        g_object_unref(mem);
        return;
    }

    const char *cs = g_mime_object_get_content_type_parameter(GMIME_OBJECT(part), "charset");
    char meta[48];
    if (is_html && (cs == NULL || *cs == '\0') &&
        !utf8_valid((const char *)bytes->data, bytes->len))
        cs = html_meta_charset((const char *)bytes->data, bytes->len, meta, sizeof meta);
    char *owned;
    size_t len;
    int oom = 0;
    const char *text = to_utf8(cs, (const char *)bytes->data, bytes->len, &len, &owned, &oom);
    if (oom) {
        c->body.oom = 1;
        c->body.full = 1;
    }

    tb_part(&c->body);
    if (is_html)
        html_to_text(&c->body, text, len);
    else
        tb_text(&c->body, text, len);
    tb_end_part(&c->body);

    free(owned);
    g_object_unref(mem);
}

static int is_attachment_disposition(GMimeObject *obj)
{
    GMimeContentDisposition *disp = g_mime_object_get_content_disposition(obj);
    return disp != NULL && g_mime_content_disposition_is_attachment(disp);
}

static void walk(ctx *c, GMimeObject *obj, int depth, int text);

/* multipart/alternative: the text/plain version, or when that is missing or empty the first
 * other one that yields text. The others still list their attachments. */
static void walk_alternative(ctx *c, GMimeMultipart *mp, int depth, int text)
{
    int n = g_mime_multipart_get_count(mp);
    int plain = -1;

    for (int i = 0; text && i < n && plain < 0; i++) {
        GMimeObject *child = g_mime_multipart_get_part(mp, i);
        GMimeContentType *ct = g_mime_object_get_content_type(child);
        if (GMIME_IS_PART(child) && ct != NULL &&
            g_mime_content_type_is_type(ct, "text", "plain") && !is_attachment_disposition(child))
            plain = i;
    }
    size_t before = c->body.len;
    int done = !text;
    if (plain >= 0) {
        walk(c, g_mime_multipart_get_part(mp, plain), depth + 1, 1);
        done = c->body.len > before;
    }
    for (int i = 0; i < n; i++) {
        if (i == plain)
            continue;
        walk(c, g_mime_multipart_get_part(mp, i), depth + 1, !done);
        if (c->body.len > before)
            done = 1;
    }
}

static void put_embedded(ctx *c, GMimeMessage *msg)
{
    tbuf line;

    tb_part(&c->body);
    tb_init(&line, MV_TEXT_FIELD_MAX, 1);
    put_senders(&line, msg);
    if (line.len > 0) {
        tb_write(&c->body, "From: ", 6);
        tb_write(&c->body, line.p, line.len);
        tb_write(&c->body, "\n", 1);
    }
    c->body.oom |= line.oom;
    free(line.p);

    tb_init(&line, MV_TEXT_FIELD_MAX, 1);
    tb_str(&line, g_mime_message_get_subject(msg));
    if (line.len > 0) {
        tb_write(&c->body, "Subject: ", 9);
        tb_write(&c->body, line.p, line.len);
    }
    c->body.oom |= line.oom;
    free(line.p);
    tb_end_part(&c->body);
}

/* text: whether this subtree's text goes into the body (it does not in an alternative that was
 * not chosen), its attachments are listed anyway. */
static void walk(ctx *c, GMimeObject *obj, int depth, int text)
{
    if (obj == NULL || depth > MAX_DEPTH)
        return;

    /* Nothing of the ciphertext; of a signed part, the content and not the signature. */
    if (GMIME_IS_MULTIPART_ENCRYPTED(obj) || GMIME_IS_APPLICATION_PKCS7_MIME(obj))
        return;
    if (GMIME_IS_MULTIPART_SIGNED(obj)) {
        GMimeMultipart *mp = GMIME_MULTIPART(obj);
        if (g_mime_multipart_get_count(mp) > 0)
            walk(c, g_mime_multipart_get_part(mp, GMIME_MULTIPART_SIGNED_CONTENT), depth + 1, text);
        return;
    }
    if (GMIME_IS_MULTIPART(obj)) {
        GMimeMultipart *mp = GMIME_MULTIPART(obj);
        GMimeContentType *ct = g_mime_object_get_content_type(obj);
        if (ct != NULL && g_mime_content_type_is_type(ct, "multipart", "alternative")) {
            walk_alternative(c, mp, depth, text);
            return;
        }
        int n = g_mime_multipart_get_count(mp);
        for (int i = 0; i < n; i++)
            walk(c, g_mime_multipart_get_part(mp, i), depth + 1, text);
        return;
    }
    if (GMIME_IS_MESSAGE_PART(obj)) {
        note_attachment(c, obj);
        GMimeMessage *msg = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
        if (msg == NULL)
            return;
        if (text)
            put_embedded(c, msg);
        walk(c, g_mime_message_get_mime_part(msg), depth + 1, text);
        return;
    }
    if (GMIME_IS_PART(obj)) {
        note_attachment(c, obj);
        GMimeContentType *ct = g_mime_object_get_content_type(obj);
        if (!text || ct == NULL)
            return;
        if (g_mime_content_type_is_type(ct, "text", "plain"))
            part_text(c, GMIME_PART(obj), 0);
        else if (g_mime_content_type_is_type(ct, "text", "html"))
            part_text(c, GMIME_PART(obj), 1);
    }
}

/* GMime's address parser recurses once per nested group ("g: g: g: ... x@y;;;"), and it
 * parses the address fields of the message and of every embedded message while it builds the
 * tree, so a few hundred kilobytes of such a field overflow the stack. As in mime.c, an
 * address field with more colons than any real one has them turned into spaces. Fields are
 * looked for on every line: embedded messages' headers are found only by parsing MIME, and a
 * body line that merely looks like such a field loses nothing searchable. */
#define MAX_ADDRESS_COLONS 256

static int address_field(const char *line, size_t len, size_t *value)
{
    static const char *const names[] = {
        "from",        "sender",        "reply-to",  "to",        "cc",         "bcc",
        "resent-from", "resent-sender", "resent-to", "resent-cc", "resent-bcc", "resent-reply-to",
    };
    switch (line[0] | 0x20) {
    case 'b':
    case 'c':
    case 'f':
    case 'r':
    case 's':
    case 't':
        break;
    default:
        return 0;
    }
    const char *colon = memchr(line, ':', len < 24 ? len : 24);
    if (colon == NULL)
        return 0;
    size_t n = (size_t)(colon - line);
    while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t'))
        n--;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strlen(names[i]) == n && g_ascii_strncasecmp(line, names[i], n) == 0) {
            *value = (size_t)(colon - line) + 1;
            return 1;
        }
    }
    return 0;
}

static size_t count_colons(const char *s, size_t n)
{
    size_t c = 0;
    for (const char *p = memchr(s, ':', n); p != NULL;
         p = memchr(p + 1, ':', n - (size_t)(p + 1 - s)))
        c++;
    return c;
}

static void defuse_field(char *s, size_t n, size_t colons)
{
    if (colons <= MAX_ADDRESS_COLONS)
        return;
    for (size_t i = 0; i < n; i++)
        if (s[i] == ':')
            s[i] = ' ';
}

static void defuse_groups(char *m, size_t len)
{
    size_t i = 0, start = 0, colons = 0;
    int open = 0;

    while (i < len) {
        const char *nl = memchr(m + i, '\n', len - i);
        size_t end = nl != NULL ? (size_t)(nl - m) + 1 : len;
        if (m[i] == ' ' || m[i] == '\t') {
            if (open)
                colons += count_colons(m + i, end - i);
        } else {
            if (open)
                defuse_field(m + start, i - start, colons);
            size_t value = 0;
            open = address_field(m + i, end - i, &value);
            if (open) {
                start = i + value;
                colons = count_colons(m + start, end - start);
            }
        }
        i = end;
    }
    if (open)
        defuse_field(m + start, len - start, colons);
}

mv_status mv_text_extract(const char *msg, size_t len, mv_text *out, mv_error *err)
{
    memset(out, 0, sizeof *out);

    ctx c;
    memset(&c, 0, sizeof c);
    tb_init(&c.subject, MV_TEXT_FIELD_MAX, 1);
    tb_init(&c.sender, MV_TEXT_FIELD_MAX, 1);
    tb_init(&c.recipients, MV_TEXT_FIELD_MAX, 1);
    tb_init(&c.body, MV_TEXT_BODY_MAX, 0);
    tb_init(&c.attachments, MV_TEXT_FIELD_MAX, 1);

    /* GMime's memory stream addresses its bytes with a guint. */
    if (len > G_MAXUINT)
        len = G_MAXUINT;
    /* The one copy of the message: the stream takes it over, and the group defusing above
     * needs bytes it may change. */
    guint8 *copy = g_try_malloc(len > 0 ? len : 1);
    if (copy == NULL)
        return mv_error_set(err, MV_ERR_NOMEM, "out of memory extracting message text");
    if (len > 0)
        memcpy(copy, msg, len);
    defuse_groups((char *)copy, len);

    /* Parser options per call (no shared mutable state): loose RFC 2047 and address parsing
     * for real mail's sloppiness, and raw 8-bit header text read as UTF-8, else Windows-1252,
     * as in mime.c. */
    const char *fallback[] = {"UTF-8", "windows-1252", NULL};
    GMimeParserOptions *opts = g_mime_parser_options_new();
    g_mime_parser_options_set_rfc2047_compliance_mode(opts, GMIME_RFC_COMPLIANCE_LOOSE);
    g_mime_parser_options_set_address_compliance_mode(opts, GMIME_RFC_COMPLIANCE_LOOSE);
    g_mime_parser_options_set_parameter_compliance_mode(opts, GMIME_RFC_COMPLIANCE_LOOSE);
    g_mime_parser_options_set_fallback_charsets(opts, fallback);

    GMimeStream *stream =
        g_mime_stream_mem_new_with_byte_array(g_byte_array_new_take(copy, (gsize)len));
    GMimeParser *parser = g_mime_parser_new_with_stream(stream);
    g_object_unref(stream);
    GMimeMessage *message = g_mime_parser_construct_message(parser, opts);
    g_object_unref(parser);

    if (message != NULL) {
        tb_str(&c.subject, g_mime_message_get_subject(message));
        put_senders(&c.sender, message);
        put_recipients(&c.recipients, message);
        walk(&c, g_mime_message_get_mime_part(message), 0, 1);
        g_object_unref(message);
    }
    /* Only now: headers keep a pointer to the options and decode their values lazily. */
    g_mime_parser_options_free(opts);

    out->subject = tb_finish(&c.subject);
    out->sender = tb_finish(&c.sender);
    out->recipients = tb_finish(&c.recipients);
    out->body = tb_finish(&c.body);
    out->attachments = tb_finish(&c.attachments);
    out->has_attachment = c.has_attachment;
    if (out->subject == NULL || out->sender == NULL || out->recipients == NULL ||
        out->body == NULL || out->attachments == NULL) {
        mv_text_free(out);
        return mv_error_set(err, MV_ERR_NOMEM, "out of memory extracting message text");
    }
    return MV_OK;
}

void mv_text_free(mv_text *t)
{
    if (t == NULL)
        return;
    free(t->subject);
    free(t->sender);
    free(t->recipients);
    free(t->body);
    free(t->attachments);
    memset(t, 0, sizeof *t);
}
