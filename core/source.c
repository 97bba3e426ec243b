/* mailvault: reading local mail for `mailvault import` (see source.h).
 *
 * Memory stays bounded whatever the input: one 64 KiB buffer per source, the listing of the
 * directories on the current walk path, and for an mbox one small record per message. Message
 * bytes are never held whole; an mbox is pre-scanned once so that each message's exact
 * unescaped size is known before the caller starts hashing it, and so that a damaged mbox is
 * refused before any of it is archived.
 */
#include "source.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* A build may shrink the buffer (e.g. -DMV_SOURCE_BUF_SIZE=7 for fuzzing) so that every line
 * rule meets a buffer boundary on small inputs. */
#ifndef MV_SOURCE_BUF_SIZE
#define MV_SOURCE_BUF_SIZE (64 * 1024)
#endif
#define BUF_SIZE MV_SOURCE_BUF_SIZE
/* Bytes of each mbox line kept for classification: enough for any From_ line, header field
 * name or Status value that matters; longer lines are still counted exactly. */
#define LINE_PREFIX 1024
/* How much of a file is looked at to decide whether it is mail. */
#define SNIFF_SIZE 1024
/* Deeper trees are almost certainly a loop through bind mounts or a mistake. */
#define MAX_DEPTH 64
#define FLAGS_MAX 64

enum {
    FL_ANSWERED = 1 << 0,
    FL_FLAGGED = 1 << 1,
    FL_DELETED = 1 << 2,
    FL_SEEN = 1 << 3,
    FL_DRAFT = 1 << 4,
    FL_FORWARDED = 1 << 5
};

/* In the output order fixed by source.h. */
static const struct {
    unsigned bit;
    const char *name;
    char letter;
} flag_table[] = {
    {FL_ANSWERED, "\\Answered", 'R'}, {FL_FLAGGED, "\\Flagged", 'F'},
    {FL_DELETED, "\\Deleted", 'T'},   {FL_SEEN, "\\Seen", 'S'},
    {FL_DRAFT, "\\Draft", 'D'},       {FL_FORWARDED, "$Forwarded", 'P'},
};
#define NFLAGS (sizeof flag_table / sizeof flag_table[0])

/* Kind of the directory a file lies in; decides flags and folder naming. */
enum dir_kind { DK_PLAIN, DK_MAILDIR, DK_CUR, DK_NEW, DK_ROOTFILE };

typedef struct frame {
    char *path;
    char *folder; /* relative folder name, "" for PATH itself */
    enum dir_kind kind;
    int depth;
    bool loaded;
    char **names; /* sorted, so that imports are deterministic */
    size_t n, i;
} frame;

typedef struct mbox_rec {
    int64_t from_off; /* offset of the From_ line */
    int64_t start;    /* first byte after the From_ line */
    int64_t raw_len;  /* escaped bytes, without the separating blank line */
    int64_t size;     /* unescaped bytes */
    int64_t date;
    unsigned flags;
} mbox_rec;

struct mv_source {
    mv_mbox_variant variant;
    char *prefix;
    char *root;
    bool root_is_file, root_done;

    frame *stack;
    size_t nframes, cap_frames;

    unsigned char *buf; /* BUF_SIZE; pre-scan input, then a read cache for mbox messages */
    int64_t buf_off;
    size_t buf_len;

    /* The current file. */
    int fd;
    char *path;
    char *folder;
    bool is_mbox;
    mbox_rec *recs;
    size_t nrecs, cap_recs, rec_i;

    /* The current message: raw bytes [start, end) of fd. */
    bool have_msg;
    int64_t start, end, pos, emitted;
    bool at_line_start;
    char flags[FLAGS_MAX];
    mv_source_msg msg;
};

/* ---- small helpers ---- */

static char *join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 2);
    if (s == NULL)
        return NULL;
    memcpy(s, a, la);
    s[la] = '/';
    memcpy(s + la + 1, b, lb + 1);
    return s;
}

/* Joins folder names; "" is the root and disappears. */
static char *folder_join(const char *parent, const char *name)
{
    if (parent[0] == '\0')
        return strdup(name);
    return join(parent, name);
}

static bool has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* ASCII-only, so that the locale cannot change what counts as a flag or header name. */
static bool ascii_prefix_ci(const unsigned char *s, size_t n, const char *p)
{
    size_t lp = strlen(p);
    if (n < lp)
        return false;
    for (size_t i = 0; i < lp; i++)
        if (lower(s[i]) != lower((unsigned char)p[i]))
            return false;
    return true;
}

/* Length of name without a ".mbox"/".mbx" (and with eml, ".eml") suffix. */
static size_t base_len(const char *name, bool eml)
{
    static const char *const sfx[] = {".mbox", ".mbx", ".eml"};
    size_t n = strlen(name);
    for (size_t i = 0; i < (eml ? 3u : 2u); i++) {
        size_t ls = strlen(sfx[i]);
        /* Keep a name that is only the suffix: an empty folder name is useless. */
        if (n > ls && strcmp(name + n - ls, sfx[i]) == 0)
            return n - ls;
    }
    return n;
}

/* A first line "Name:" where Name is printable ASCII without ':' (RFC 5322 ftext). */
static bool looks_like_header(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n && p[i] != ':') {
        if (p[i] < 33 || p[i] > 126)
            return false;
        i++;
    }
    return i > 0 && i < n;
}

static int format_flags(unsigned bits, char *out, size_t cap)
{
    size_t len = 0;
    if (cap == 0)
        return -1;
    out[0] = '\0';
    for (size_t i = 0; i < NFLAGS; i++) {
        if (!(bits & flag_table[i].bit))
            continue;
        size_t ln = strlen(flag_table[i].name);
        size_t need = len + (len ? 1 : 0) + ln;
        if (need + 1 > cap)
            return -1;
        if (len)
            out[len++] = ' ';
        memcpy(out + len, flag_table[i].name, ln + 1);
        len += ln;
    }
    return (int)len;
}

static unsigned letter_bit(char c)
{
    for (size_t i = 0; i < NFLAGS; i++)
        if (c == flag_table[i].letter)
            return flag_table[i].bit;
    return 0;
}

static unsigned maildir_bits(const char *letters)
{
    unsigned bits = 0;
    for (const char *p = letters; *p; p++)
        bits |= letter_bit(*p);
    return bits;
}

int mv_source_flags_from_maildir(const char *letters, char *out, size_t cap)
{
    return format_flags(letters ? maildir_bits(letters) : 0, out, cap);
}

int mv_source_flags_to_maildir(const char *flags, char *out, size_t cap)
{
    unsigned bits = 0;
    const char *p = flags ? flags : "";
    while (*p) {
        while (*p == ' ')
            p++;
        const char *tok = p;
        while (*p && *p != ' ')
            p++;
        size_t n = (size_t)(p - tok);
        for (size_t i = 0; i < NFLAGS; i++)
            if (n == strlen(flag_table[i].name) &&
                ascii_prefix_ci((const unsigned char *)tok, n, flag_table[i].name))
                bits |= flag_table[i].bit;
    }
    /* The Maildir spec wants the letters in ASCII order. */
    static const char order[] = "DFPRST";
    size_t len = 0;
    if (cap == 0)
        return -1;
    for (const char *o = order; *o; o++) {
        if (!(bits & letter_bit(*o)))
            continue;
        if (len + 2 > cap)
            return -1;
        out[len++] = *o;
    }
    out[len] = '\0';
    return (int)len;
}

/* ---- From_ line dates ---- */

static const char *const wday_names[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const month_names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static int match_name(const unsigned char *p, const unsigned char *e, const char *const *tbl, int n)
{
    if (e - p < 3)
        return -1;
    for (int i = 0; i < n; i++)
        if (ascii_prefix_ci(p, 3, tbl[i]))
            return i;
    return -1;
}

static const unsigned char *skip_ws(const unsigned char *p, const unsigned char *e)
{
    while (p < e && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

static int read_digits(const unsigned char *p, const unsigned char *e, int max, int *val)
{
    int n = 0;
    *val = 0;
    while (p + n < e && n < max && p[n] >= '0' && p[n] <= '9') {
        *val = *val * 10 + (p[n] - '0');
        n++;
    }
    return n;
}

/* Days since 1970-01-01 in the proleptic Gregorian calendar (H. Hinnant's algorithm);
 * timegm() is not POSIX and mktime() would apply the local zone. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* "Wed Nov 27 21:08:16 2026", optionally with a zone after the year or between time and
 * year ("... 21:08:16 2026 +0100", "... 21:08:16 +0100 2026", "... PST 2026"). The whole
 * of [p, e) must be consumed. Named zones are taken as UTC: their offsets are ambiguous. */
static bool parse_asctime(const unsigned char *p, const unsigned char *e, int64_t *out)
{
    int mon, day, hh, mm, ss = 0, year = -1, zone = 0, n;
    bool have_zone = false;
    const unsigned char *q;

    if (match_name(p, e, wday_names, 7) < 0)
        return false;
    q = skip_ws(p + 3, e);
    if (q == p + 3)
        return false;
    if ((mon = match_name(q, e, month_names, 12)) < 0)
        return false;
    p = skip_ws(q + 3, e);
    if (p == q + 3)
        return false;
    if ((n = read_digits(p, e, 2, &day)) == 0)
        return false;
    q = skip_ws(p + n, e);
    if (q == p + n)
        return false;
    if ((n = read_digits(q, e, 2, &hh)) == 0 || q + n >= e || q[n] != ':')
        return false;
    p = q + n + 1;
    if (read_digits(p, e, 2, &mm) != 2)
        return false;
    p += 2;
    if (p < e && *p == ':') {
        if (read_digits(p + 1, e, 2, &ss) != 2)
            return false;
        p += 3;
    }
    while (p < e) {
        q = skip_ws(p, e);
        if (q == p)
            return false;
        p = q;
        int v;
        n = read_digits(p, e, 4, &v);
        if (n == 4 && year < 0 && (p + 4 == e || p[4] == ' ' || p[4] == '\t')) {
            year = v;
            p += 4;
        } else if (!have_zone && (*p == '+' || *p == '-') && read_digits(p + 1, e, 4, &v) == 4) {
            int off = (v / 100) * 60 + v % 100;
            zone = *p == '-' ? -off : off;
            have_zone = true;
            p += 5;
        } else if (!have_zone && n == 0) {
            const unsigned char *z = p;
            while (z < e && ((*z >= 'A' && *z <= 'Z') || (*z >= 'a' && *z <= 'z')))
                z++;
            if (z == p || z - p > 5)
                return false;
            have_zone = true;
            p = z;
        } else {
            return false;
        }
    }
    if (year < 1000 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60)
        return false;
    *out = days_from_civil(year, (unsigned)mon + 1, (unsigned)day) * 86400 + hh * 3600 + mm * 60 +
           ss - (int64_t)zone * 60;
    return true;
}

/* line[0..len) is a whole From_ line including its line end. The sender is everything
 * between "From " and the date; it may contain spaces (quoted local parts), so every
 * word boundary is tried. need_sender rejects "From Wed Nov ..." (no sender) when the
 * date alone has to prove that this is a From_ line. */
static bool parse_from_date(const unsigned char *line, size_t len, bool need_sender, int64_t *out)
{
    const unsigned char *e = line + len;
    while (e > line && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
        e--;
    const unsigned char *p = line + 5;
    if (p > e)
        return false;
    bool sender = false;
    for (const unsigned char *q = p; q < e; q++) {
        if (q > p && (q[-1] == ' ' || q[-1] == '\t') && (sender || !need_sender) &&
            parse_asctime(q, e, out))
            return true;
        if (*q != ' ' && *q != '\t')
            sender = true;
    }
    if (!need_sender)
        return parse_asctime(skip_ws(p, e), e, out);
    return false;
}

/* ---- mbox pre-scan ---- */

typedef struct scanner {
    int fd;
    unsigned char *buf;
    size_t len, i;
    int64_t off; /* file offset of buf[0] */
} scanner;

typedef struct line {
    int64_t off, len;
    int64_t gt;                      /* leading '>' count: unbounded, for mboxrd unescaping */
    size_t rest_len;                 /* bytes kept in rest */
    bool nl, crlf;                   /* ends in "\n", in "\r\n" */
    unsigned char rest[LINE_PREFIX]; /* the bytes after the '>' run, truncated */
} line;

/* 1: a line, 0: end of file, -1: read error (errno set). */
static int scan_line(scanner *s, line *ln)
{
    bool in_gt = true;
    unsigned char prev = 0;
    ln->off = s->off + (int64_t)s->i;
    ln->len = ln->gt = 0;
    ln->rest_len = 0;
    ln->nl = ln->crlf = false;
    for (;;) {
        if (s->i == s->len) {
            ssize_t n;
            s->off += (int64_t)s->len;
            s->len = s->i = 0;
            do
                n = read(s->fd, s->buf, BUF_SIZE);
            while (n < 0 && errno == EINTR);
            if (n < 0)
                return -1;
            if (n == 0)
                return ln->len > 0;
            s->len = (size_t)n;
        }
        const unsigned char *p = s->buf + s->i;
        size_t avail = s->len - s->i;
        if (in_gt) {
            size_t k = 0;
            while (k < avail && p[k] == '>')
                k++;
            ln->gt += (int64_t)k;
            ln->len += (int64_t)k;
            s->i += k;
            if (k)
                prev = '>';
            if (k == avail)
                continue;
            in_gt = false;
            p += k;
            avail -= k;
        }
        const unsigned char *nl = memchr(p, '\n', avail);
        size_t take = nl ? (size_t)(nl - p) + 1 : avail;
        size_t room = LINE_PREFIX - ln->rest_len;
        size_t keep = take < room ? take : room;
        memcpy(ln->rest + ln->rest_len, p, keep);
        ln->rest_len += keep;
        s->i += take;
        ln->len += (int64_t)take;
        if (nl) {
            ln->nl = true;
            /* The '\r' may have been the last byte of the previous buffer. */
            ln->crlf = (take >= 2 ? p[take - 2] : prev) == '\r';
            return 1;
        }
        prev = p[take - 1];
    }
}

static bool line_empty(const line *ln)
{
    return ln->nl && (ln->len == 1 || (ln->len == 2 && ln->crlf));
}

static bool rest_is_from(const line *ln)
{
    return ln->rest_len >= 5 && memcmp(ln->rest, "From ", 5) == 0;
}

static bool line_escaped(mv_mbox_variant v, const line *ln)
{
    return ln->gt >= 1 && rest_is_from(ln) && (v == MV_MBOX_RD || ln->gt == 1);
}

static bool line_is_header(const line *ln)
{
    if (ln->gt > 0) {
        /* '>' is ftext, so ">Name:" is a (strange) field; "From " never is. */
        size_t i = 0;
        while (i < ln->rest_len && ln->rest[i] != ':') {
            if (ln->rest[i] < 33 || ln->rest[i] > 126)
                return false;
            i++;
        }
        return i < ln->rest_len;
    }
    return looks_like_header(ln->rest, ln->rest_len);
}

/* Status: R -> \Seen; X-Status: A F D T (as written by mutt, Thunderbird, UW imapd). */
static unsigned status_flags(const line *ln)
{
    const unsigned char *p = ln->rest, *e = ln->rest + ln->rest_len;
    unsigned bits = 0;
    bool x;
    if (ln->gt != 0)
        return 0;
    if (ascii_prefix_ci(p, ln->rest_len, "Status:")) {
        x = false;
        p += 7;
    } else if (ascii_prefix_ci(p, ln->rest_len, "X-Status:")) {
        x = true;
        p += 9;
    } else {
        return 0;
    }
    for (; p < e && *p != '\r' && *p != '\n'; p++) {
        if (!x && *p == 'R')
            bits |= FL_SEEN;
        else if (x && *p == 'A')
            bits |= FL_ANSWERED;
        else if (x && *p == 'F')
            bits |= FL_FLAGGED;
        else if (x && *p == 'D')
            bits |= FL_DELETED;
        else if (x && *p == 'T')
            bits |= FL_DRAFT;
    }
    return bits;
}

typedef struct scan_msg {
    mbox_rec rec;
    int64_t nlines;
    int64_t last_len;
    bool last_empty;
    bool in_header;
} scan_msg;

static mv_status mbox_finish(mv_source *src, scan_msg *m, int64_t end, mv_error *err)
{
    if (m->nlines == 0)
        return mv_error_set(err, MV_ERR_INPUT,
                            "%s: empty message at offset %lld; nothing imported from it", src->path,
                            (long long)m->rec.from_off);
    m->rec.raw_len = end - m->rec.start;
    /* The blank line before the next From_ line (or at the end of the file) is the
     * separator, not part of the message: "\n", or "\r\n" in a CRLF mbox. */
    if (m->nlines >= 2 && m->last_empty) {
        m->rec.raw_len -= m->last_len;
        m->rec.size -= m->last_len;
    }
    if (src->nrecs == src->cap_recs) {
        size_t nc = src->cap_recs ? src->cap_recs * 2 : 64;
        mbox_rec *r = realloc(src->recs, nc * sizeof *r);
        if (r == NULL)
            return mv_error_set(err, MV_ERR_NOMEM, "%s: out of memory", src->path);
        src->recs = r;
        src->cap_recs = nc;
    }
    src->recs[src->nrecs++] = m->rec;
    return MV_OK;
}

static mv_status mbox_prescan(mv_source *src, mv_error *err)
{
    scanner s = {src->fd, src->buf, 0, 0, 0};
    line *ln = malloc(sizeof *ln);
    scan_msg m;
    bool have = false, prev_empty = false;
    mv_status st = MV_OK;

    if (ln == NULL)
        return mv_error_set(err, MV_ERR_NOMEM, "%s: out of memory", src->path);
    memset(&m, 0, sizeof m);
    src->nrecs = 0;
    src->buf_len = 0; /* the read cache is about to be overwritten */
    if (lseek(src->fd, 0, SEEK_SET) < 0) {
        st = mv_error_set(err, MV_ERR_INPUT, "%s: %s", src->path, strerror(errno));
        goto out;
    }
    for (;;) {
        int r = scan_line(&s, ln);
        if (r < 0) {
            st = mv_error_set(err, MV_ERR_INPUT, "%s: %s", src->path, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        if (!ln->nl) {
            st = mv_error_set(err, MV_ERR_INPUT,
                              "%s: truncated mbox (no newline at end of file); nothing "
                              "imported from it",
                              src->path);
            goto out;
        }
        bool empty = line_empty(ln);
        if (ln->gt == 0 && rest_is_from(ln)) {
            int64_t date = -1;
            bool whole = ln->len <= LINE_PREFIX;
            bool dated = whole && parse_from_date(ln->rest, ln->rest_len, true, &date);
            if (ln->off == 0 || prev_empty || dated) {
                if (!dated && whole)
                    parse_from_date(ln->rest, ln->rest_len, false, &date);
                if (have && (st = mbox_finish(src, &m, ln->off, err)) != MV_OK)
                    goto out;
                memset(&m, 0, sizeof m);
                m.rec.from_off = ln->off;
                m.rec.start = ln->off + ln->len;
                m.rec.date = date;
                m.in_header = true;
                have = true;
                prev_empty = false;
                continue;
            }
        }
        if (!have) {
            st = mv_error_set(err, MV_ERR_INPUT, "%s: not an mbox file", src->path);
            goto out;
        }
        /* An escaped From_ line may open a message: a message kept whole with its own
         * envelope line (see single_message_name) and then written to an mbox. */
        if (m.nlines == 0 && !line_is_header(ln) && !line_escaped(src->variant, ln)) {
            st = mv_error_set(err, MV_ERR_INPUT,
                              "%s: message at offset %lld does not begin with a header field; "
                              "nothing imported from it",
                              src->path, (long long)m.rec.from_off);
            goto out;
        }
        m.nlines++;
        m.rec.size += ln->len - (line_escaped(src->variant, ln) ? 1 : 0);
        if (m.in_header) {
            if (empty)
                m.in_header = false;
            else
                m.rec.flags |= status_flags(ln);
        }
        m.last_empty = empty;
        m.last_len = ln->len;
        prev_empty = empty;
    }
    if (!have)
        st = mv_error_set(err, MV_ERR_INPUT, "%s: not an mbox file", src->path);
    else
        st = mbox_finish(src, &m, s.off, err);
out:
    free(ln);
    if (st != MV_OK)
        src->nrecs = 0;
    return st;
}

/* ---- the walk ---- */

/* Mail-server and mail-client bookkeeping that lives next to mail but is not mail. */
static bool is_meta_name(const char *n)
{
    static const char *const prefixes[] = {
        "dovecot-uidlist", "dovecot-uidvalidity", "dovecot-keywords",
        "dovecot.index",   "dovecot.list.index",  "dovecot.mailbox.log",
        "courierimap",     ".mbsyncstate",        ".isyncuidmap",
    };
    static const char *const exact[] = {"subscriptions", "maildirfolder", ".uidvalidity",
                                        ".notmuch"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (has_prefix(n, prefixes[i]))
            return true;
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (strcmp(n, exact[i]) == 0)
            return true;
    return false;
}

/* Xapian databases (notmuch, mu) mark themselves with one of these files. */
static bool is_xapian_marker(const char *n)
{
    return strcmp(n, "iamglass") == 0 || strcmp(n, "iamchert") == 0 || strcmp(n, "iamhoney") == 0 ||
           strcmp(n, "iamflint") == 0;
}

static bool is_dir(const char *dir, const char *name)
{
    struct stat st;
    char *p = join(dir, name);
    bool r = p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
    free(p);
    return r;
}

static bool is_maildir(const char *path)
{
    return is_dir(path, "cur") || is_dir(path, "new");
}

static void frame_free(frame *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->names[i]);
    free(f->names);
    free(f->path);
    free(f->folder);
}

static void pop_frame(mv_source *src)
{
    frame_free(&src->stack[--src->nframes]);
}

/* Takes ownership of path and folder, also on failure. */
static mv_status push_frame(mv_source *src, char *path, char *folder, enum dir_kind kind, int depth,
                            mv_error *err)
{
    if (path == NULL || folder == NULL) {
        free(path);
        free(folder);
        return mv_error_set(err, MV_ERR_NOMEM, "out of memory");
    }
    if (src->nframes == src->cap_frames) {
        size_t nc = src->cap_frames ? src->cap_frames * 2 : 16;
        frame *s = realloc(src->stack, nc * sizeof *s);
        if (s == NULL) {
            free(path);
            free(folder);
            return mv_error_set(err, MV_ERR_NOMEM, "out of memory");
        }
        src->stack = s;
        src->cap_frames = nc;
    }
    src->stack[src->nframes++] =
        (frame){.path = path, .folder = folder, .kind = kind, .depth = depth};
    return MV_OK;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static mv_status load_frame(frame *f, mv_error *err)
{
    DIR *d = opendir(f->path);
    size_t cap = 0;
    struct dirent *de;
    bool xapian = false;

    f->loaded = true;
    if (d == NULL)
        return mv_error_set(err, MV_ERR_INPUT, "%s: %s", f->path, strerror(errno));
    for (;;) {
        errno = 0;
        if ((de = readdir(d)) == NULL)
            break;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (is_xapian_marker(de->d_name))
            xapian = true;
        if (f->n == cap) {
            size_t nc = cap ? cap * 2 : 32;
            char **nn = realloc(f->names, nc * sizeof *nn);
            if (nn == NULL)
                goto nomem;
            f->names = nn;
            cap = nc;
        }
        if ((f->names[f->n] = strdup(de->d_name)) == NULL)
            goto nomem;
        f->n++;
    }
    if (errno != 0) {
        int e = errno;
        closedir(d);
        return mv_error_set(err, MV_ERR_INPUT, "%s: %s", f->path, strerror(e));
    }
    closedir(d);
    if (xapian) {
        for (size_t i = 0; i < f->n; i++)
            free(f->names[i]);
        f->n = 0;
    }
    if (f->n > 1)
        qsort(f->names, f->n, sizeof *f->names, cmp_names);
    return MV_OK;
nomem:
    closedir(d);
    return mv_error_set(err, MV_ERR_NOMEM, "%s: out of memory", f->path);
}

/* ".Lists.kernel" -> "Lists/kernel": in Maildir++ the dots are the hierarchy. */
static char *maildirpp_name(const char *dotname)
{
    const char *p = dotname + 1;
    char *out = malloc(strlen(p) + 1);
    size_t len = 0;
    if (out == NULL)
        return NULL;
    while (*p) {
        const char *c = p;
        while (*p && *p != '.')
            p++;
        if (p > c) {
            if (len)
                out[len++] = '/';
            memcpy(out + len, c, (size_t)(p - c));
            len += (size_t)(p - c);
        }
        if (*p == '.')
            p++;
    }
    out[len] = '\0';
    if (len == 0) {
        free(out);
        return strdup(dotname);
    }
    return out;
}

static mv_status enter_dir(mv_source *src, char *path, const char *name, mv_error *err)
{
    frame *f = &src->stack[src->nframes - 1];
    enum dir_kind pk = f->kind;
    int depth = f->depth + 1;
    char *folder;

    if (is_meta_name(name) || (pk == DK_MAILDIR && strcmp(name, "tmp") == 0) ||
        ((pk == DK_CUR || pk == DK_NEW) && name[0] == '.')) {
        free(path);
        return MV_OK;
    }
    if (depth > MAX_DEPTH) {
        mv_status st = mv_error_set(err, MV_ERR_INPUT,
                                    "%s: directories nested more than %d levels deep; skipped",
                                    path, MAX_DEPTH);
        free(path);
        return st;
    }
    if (pk == DK_MAILDIR && (strcmp(name, "cur") == 0 || strcmp(name, "new") == 0))
        return push_frame(src, path, strdup(f->folder), name[0] == 'c' ? DK_CUR : DK_NEW, depth,
                          err);
    bool child_maildir = is_maildir(path);
    /* A dot-directory is a Maildir++ folder inside a Maildir, and also when it is a Maildir
     * itself: a root whose INBOX was never created has no cur/ or new/ of its own. Other
     * dot-directories keep their literal name rather than being dropped unseen. */
    if (name[0] == '.' && pk != DK_CUR && pk != DK_NEW && (pk == DK_MAILDIR || child_maildir)) {
        char *n = maildirpp_name(name);
        folder = n ? folder_join(f->folder, n) : NULL;
        free(n);
    } else {
        folder = folder_join(f->folder, name);
    }
    return push_frame(src, path, folder, child_maildir ? DK_MAILDIR : DK_PLAIN, depth, err);
}

typedef struct entry {
    const char *name;      /* inside src->path */
    enum dir_kind kind;    /* of the directory holding it */
    const char *dirfolder; /* valid until the next walk_next() */
} entry;

/* Finds the next regular file to look at and leaves its path in src->path. */
static mv_status walk_next(mv_source *src, entry *e, bool *found, mv_error *err)
{
    *found = false;
    if (src->root_is_file) {
        if (src->root_done)
            return MV_OK;
        src->root_done = true;
        if ((src->path = strdup(src->root)) == NULL)
            return mv_error_set(err, MV_ERR_NOMEM, "out of memory");
        const char *slash = strrchr(src->path, '/');
        e->name = slash ? slash + 1 : src->path;
        e->kind = DK_ROOTFILE;
        e->dirfolder = "";
        *found = true;
        return MV_OK;
    }
    while (src->nframes > 0) {
        frame *f = &src->stack[src->nframes - 1];
        mv_status st;
        if (!f->loaded && (st = load_frame(f, err)) != MV_OK) {
            pop_frame(src);
            return st;
        }
        if (f->i == f->n) {
            pop_frame(src);
            continue;
        }
        const char *name = f->names[f->i++];
        char *path = join(f->path, name);
        struct stat sb;
        if (path == NULL)
            return mv_error_set(err, MV_ERR_NOMEM, "out of memory");
        if (lstat(path, &sb) < 0) {
            st = mv_error_set(err, MV_ERR_INPUT, "%s: %s", path, strerror(errno));
            free(path);
            return st;
        }
        if (S_ISLNK(sb.st_mode)) {
            if (stat(path, &sb) < 0) {
                st = mv_error_set(err, MV_ERR_INPUT, "%s: %s", path, strerror(errno));
                free(path);
                return st;
            }
            /* A link to a directory can make a loop or import a folder twice. */
            if (S_ISDIR(sb.st_mode)) {
                free(path);
                continue;
            }
        }
        if (S_ISDIR(sb.st_mode)) {
            if ((st = enter_dir(src, path, name, err)) != MV_OK)
                return st;
            continue;
        }
        /* FIFOs, sockets and devices are never mail, and opening a FIFO would block. */
        if (!S_ISREG(sb.st_mode) || is_meta_name(name) ||
            ((f->kind == DK_CUR || f->kind == DK_NEW) && name[0] == '.')) {
            free(path);
            continue;
        }
        src->path = path;
        e->name = path + strlen(f->path) + 1;
        e->kind = f->kind;
        e->dirfolder = f->folder;
        *found = true;
        return MV_OK;
    }
    return MV_OK;
}

/* ---- files and messages ---- */

static void close_file(mv_source *src)
{
    if (src->fd >= 0)
        close(src->fd);
    src->fd = -1;
    free(src->path);
    free(src->folder);
    src->path = src->folder = NULL;
    src->is_mbox = false;
    src->nrecs = src->rec_i = 0;
    src->have_msg = false;
    src->buf_len = 0;
}

static char *display_folder(const mv_source *src, const char *rel)
{
    if (rel[0] == '\0')
        return strdup(src->prefix ? src->prefix : "INBOX");
    return src->prefix ? join(src->prefix, rel) : strdup(rel);
}

static mv_status make_folder(mv_source *src, const entry *e, bool mbox, mv_error *err)
{
    char *rel = NULL;
    if (e->kind == DK_ROOTFILE) {
        if (src->prefix)
            src->folder = strdup(src->prefix);
        else
            src->folder = strndup(e->name, base_len(e->name, true));
    } else if (mbox) {
        char *base = strndup(e->name, base_len(e->name, false));
        rel = base ? folder_join(e->dirfolder, base) : NULL;
        free(base);
        src->folder = rel ? display_folder(src, rel) : NULL;
    } else {
        src->folder = display_folder(src, e->dirfolder);
    }
    free(rel);
    if (src->folder == NULL)
        return mv_error_set(err, MV_ERR_NOMEM, "out of memory");
    return MV_OK;
}

/* A file that starts with a From_ line is usually an mbox, but not when its place or name
 * says it holds one message: Maildir files (some delivery agents keep the envelope line)
 * and .eml files (which may carry an unescaped mbox as an attachment). Those are kept
 * whole, From_ line included, so the archive holds exactly the file's bytes. */
static bool single_message_name(const entry *e)
{
    const char *base = strrchr(e->name, '/');
    base = base ? base + 1 : e->name;
    size_t len = strlen(base);
    return e->kind == DK_CUR || e->kind == DK_NEW || strstr(base, ":2,") != NULL ||
           (len > 4 && strcasecmp(base + len - 4, ".eml") == 0);
}

static mv_status open_file(mv_source *src, const entry *e, mv_error *err)
{
    struct stat sb;
    unsigned char head[SNIFF_SIZE];
    ssize_t n;
    mv_status st;

    src->fd = open(src->path, O_RDONLY | O_NOCTTY | O_CLOEXEC);
    if (src->fd < 0)
        return mv_error_set(err, MV_ERR_INPUT, "%s: %s", src->path, strerror(errno));
    if (fstat(src->fd, &sb) < 0)
        return mv_error_set(err, MV_ERR_INPUT, "%s: %s", src->path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return mv_error_set(err, MV_ERR_INPUT, "%s: not a regular file", src->path);
    do
        n = pread(src->fd, head, sizeof head, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return mv_error_set(err, MV_ERR_INPUT, "%s: %s", src->path, strerror(errno));

    if (n >= 5 && memcmp(head, "From ", 5) == 0 && !single_message_name(e)) {
        src->is_mbox = true;
        if ((st = make_folder(src, e, true, err)) != MV_OK)
            return st;
        return mbox_prescan(src, err);
    }
    if (!looks_like_header(head, (size_t)n) && !(n >= 5 && memcmp(head, "From ", 5) == 0))
        return mv_error_set(err, MV_ERR_INPUT, "%s: not a mail message", src->path);

    if ((st = make_folder(src, e, false, err)) != MV_OK)
        return st;
    src->flags[0] = '\0';
    if (e->kind != DK_NEW) {
        /* "unique:2,FLAGS"; files in new/ have not been seen by a client yet. */
        const char *c = strrchr(e->name, ':');
        if (c && c[1] == '2' && c[2] == ',')
            format_flags(maildir_bits(c + 3), src->flags, sizeof src->flags);
    }
    src->msg = (mv_source_msg){.folder = src->folder,
                               .path = src->path,
                               .offset = 0,
                               .flags = src->flags,
                               .internaldate = (int64_t)sb.st_mtime,
                               .size = (int64_t)sb.st_size};
    src->start = src->pos = 0;
    src->end = (int64_t)sb.st_size;
    src->emitted = 0;
    src->at_line_start = true;
    src->have_msg = true;
    return MV_OK;
}

static void mbox_yield(mv_source *src)
{
    const mbox_rec *r = &src->recs[src->rec_i++];
    format_flags(r->flags, src->flags, sizeof src->flags);
    src->msg = (mv_source_msg){.folder = src->folder,
                               .path = src->path,
                               .offset = r->from_off,
                               .flags = src->flags,
                               .internaldate = r->date,
                               .size = r->size};
    src->start = src->pos = r->start;
    src->end = r->start + r->raw_len;
    src->emitted = 0;
    src->at_line_start = true;
    src->have_msg = true;
}

mv_status mv_source_open(const char *path, const mv_source_options *opt, mv_source **out,
                         mv_error *err)
{
    struct stat sb;
    mv_source *src;
    mv_status st;

    if (out == NULL || path == NULL || path[0] == '\0')
        return mv_error_set(err, MV_ERR_USAGE, "no path to import from");
    *out = NULL;
    if (stat(path, &sb) < 0)
        return mv_error_set(err, MV_ERR_INPUT, "%s: %s", path, strerror(errno));
    if (!S_ISDIR(sb.st_mode) && !S_ISREG(sb.st_mode))
        return mv_error_set(err, MV_ERR_INPUT, "%s: not a file or directory", path);
    if ((src = calloc(1, sizeof *src)) == NULL)
        return mv_error_set(err, MV_ERR_NOMEM, "out of memory");
    src->fd = -1;
    src->variant = opt ? opt->mbox_variant : MV_MBOX_RD;
    src->buf = malloc(BUF_SIZE);
    src->root = strdup(path);
    bool want_prefix = opt && opt->folder_prefix && opt->folder_prefix[0];
    if (want_prefix)
        src->prefix = strdup(opt->folder_prefix);
    if (!src->buf || !src->root || (want_prefix && !src->prefix)) {
        mv_source_close(src);
        return mv_error_set(err, MV_ERR_NOMEM, "out of memory");
    }
    /* "dir/" and "dir" must name files the same way. */
    for (size_t n = strlen(src->root); n > 1 && src->root[n - 1] == '/'; n--)
        src->root[n - 1] = '\0';
    if (S_ISREG(sb.st_mode)) {
        src->root_is_file = true;
    } else {
        char *root = strdup(src->root);
        char *folder = strdup("");
        enum dir_kind k = root && is_maildir(root) ? DK_MAILDIR : DK_PLAIN;
        if ((st = push_frame(src, root, folder, k, 0, err)) != MV_OK) {
            mv_source_close(src);
            return st;
        }
    }
    *out = src;
    return MV_OK;
}

mv_status mv_source_next(mv_source *src, const mv_source_msg **msg, mv_error *err)
{
    *msg = NULL;
    if (src->is_mbox && src->rec_i < src->nrecs) {
        mbox_yield(src);
        *msg = &src->msg;
        return MV_OK;
    }
    close_file(src);
    for (;;) {
        entry e;
        bool found;
        mv_status st = walk_next(src, &e, &found, err);
        if (st != MV_OK) {
            close_file(src);
            return st;
        }
        if (!found)
            return MV_OK;
        if ((st = open_file(src, &e, err)) != MV_OK) {
            close_file(src);
            return st;
        }
        if (!src->is_mbox) {
            *msg = &src->msg;
            return MV_OK;
        }
        if (src->nrecs > 0) {
            mbox_yield(src);
            *msg = &src->msg;
            return MV_OK;
        }
        close_file(src);
    }
}

/* 1: *c is the byte at off; 0: the file ended before off; -1: read error. */
static int peek(mv_source *src, int64_t off, unsigned char *c)
{
    if (off < src->buf_off || off >= src->buf_off + (int64_t)src->buf_len) {
        ssize_t n;
        do
            n = pread(src->fd, src->buf, BUF_SIZE, off);
        while (n < 0 && errno == EINTR);
        if (n < 0)
            return -1;
        src->buf_off = off;
        src->buf_len = (size_t)n;
        if (n == 0)
            return 0;
    }
    *c = src->buf[off - src->buf_off];
    return 1;
}

/* Whether the line starting at off is an escaped From_ line; looks ahead as far as the
 * '>' run goes, which the caller's cap must not limit (cap 1 must give the same bytes). */
static int escaped_at(mv_source *src, int64_t off)
{
    unsigned char c;
    int64_t p = off;
    int r;
    while (p < src->end) {
        if ((r = peek(src, p, &c)) <= 0)
            return r < 0 ? -1 : -2;
        if (c != '>')
            break;
        p++;
    }
    if (p == off || (src->variant == MV_MBOX_O && p - off != 1) || src->end - p < 5)
        return 0;
    for (int i = 0; i < 5; i++) {
        if ((r = peek(src, p + i, &c)) <= 0)
            return r < 0 ? -1 : -2;
        if (c != (unsigned char)"From "[i])
            return 0;
    }
    return 1;
}

static mv_status changed(mv_source *src, mv_error *err)
{
    return mv_error_set(err, MV_ERR_INPUT, "%s: file changed while being read", src->path);
}

static mv_status read_mbox(mv_source *src, unsigned char *out, size_t cap, size_t *got,
                           mv_error *err)
{
    while (*got < cap && src->pos < src->end) {
        unsigned char c;
        int r;
        if (src->at_line_start) {
            src->at_line_start = false;
            if ((r = escaped_at(src, src->pos)) < 0)
                return r == -1
                           ? mv_error_set(err, MV_ERR_INPUT, "%s: %s", src->path, strerror(errno))
                           : changed(src, err);
            if (r) {
                src->pos++;
                continue;
            }
        }
        if ((r = peek(src, src->pos, &c)) <= 0)
            return r < 0 ? mv_error_set(err, MV_ERR_INPUT, "%s: %s", src->path, strerror(errno))
                         : changed(src, err);
        const unsigned char *p = src->buf + (src->pos - src->buf_off);
        size_t avail = (size_t)(src->buf_off + (int64_t)src->buf_len - src->pos);
        if ((int64_t)avail > src->end - src->pos)
            avail = (size_t)(src->end - src->pos);
        if (avail > cap - *got)
            avail = cap - *got;
        const unsigned char *nl = memchr(p, '\n', avail);
        size_t n = nl ? (size_t)(nl - p) + 1 : avail;
        memcpy(out + *got, p, n);
        *got += n;
        src->pos += (int64_t)n;
        src->emitted += (int64_t)n;
        if (nl)
            src->at_line_start = true;
    }
    /* The size promised by next() must be what was delivered. */
    if (src->emitted > src->msg.size || (src->pos == src->end && src->emitted != src->msg.size))
        return changed(src, err);
    return MV_OK;
}

mv_status mv_source_read(mv_source *src, void *buf, size_t cap, size_t *got, mv_error *err)
{
    *got = 0;
    if (!src->have_msg)
        return mv_error_set(err, MV_ERR_INTERNAL, "mv_source_read without a current message");
    if (cap == 0 || src->pos >= src->end)
        return MV_OK;
    if (src->is_mbox)
        return read_mbox(src, buf, cap, got, err);
    size_t want = cap;
    if ((int64_t)want > src->end - src->pos)
        want = (size_t)(src->end - src->pos);
    ssize_t n;
    do
        n = pread(src->fd, buf, want, src->pos);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return mv_error_set(err, MV_ERR_INPUT, "%s: %s", src->path, strerror(errno));
    if (n == 0)
        return changed(src, err);
    src->pos += n;
    *got = (size_t)n;
    return MV_OK;
}

mv_status mv_source_rewind(mv_source *src, mv_error *err)
{
    if (!src->have_msg)
        return mv_error_set(err, MV_ERR_INTERNAL, "mv_source_rewind without a current message");
    src->pos = src->start;
    src->emitted = 0;
    src->at_line_start = true;
    return MV_OK;
}

void mv_source_close(mv_source *src)
{
    if (src == NULL)
        return;
    close_file(src);
    while (src->nframes > 0)
        pop_frame(src);
    free(src->stack);
    free(src->recs);
    free(src->buf);
    free(src->root);
    free(src->prefix);
    free(src);
}
