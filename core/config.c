/* mailvault: the configuration file and the secrets it points at (see config.h).
 *
 * libinih splits the file into sections and key/value pairs; the meaning is ours. inih is fed
 * through our own line reader (ini_parse_stream) for three reasons: Debian builds inih without
 * INI_HANDLER_LINENO, so only the reader knows which line a key is on; inih silently cuts a
 * line longer than its buffer into two, and the tail of a long passcmd must not become a line
 * of its own; and inih never tells the handler about a section without keys, which would hide
 * an empty "[account x]" or a misspelt empty section. The reader also drops leading
 * whitespace, which turns off inih's continuation lines: an indented "user = me" is a key of
 * its own, not more text for the key above it.
 *
 * inih's comment rules (as built by Debian, checked by the unit tests): ';' or '#' at the
 * start of a line begins a comment; ';' after whitespace ends the value; '#' later in a line
 * is part of the value.
 */
/* pipe2(2), for a pipe that is close-on-exec from the start (a thread forking in between
 * pipe() and fcntl() would leak our end into its child, and we would wait for EOF forever).
 * It is in POSIX.1-2024; glibc 2.36 declares it, and environ, only for _GNU_SOURCE. */
#define _GNU_SOURCE
#include "config.h"
#include "config_int.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ini.h>

/* A .netrc bigger than this is not one. */
#define NETRC_MAX (1024 * 1024)
/* Long enough for any sane value; keeps "N days" in seconds far from overflowing. */
#define DELETE_AFTER_DAYS_MAX 36500

enum key_type {
    T_STR,      /* non-empty text */
    T_OPTSTR,   /* text; empty means "none", which still overrides [general] */
    T_PATH,     /* like T_STR, with ~ expanded */
    T_OPTPATH,  /* like T_OPTSTR, with ~ expanded */
    T_PROTOCOL, /* mv_protocol */
    T_TLS,      /* mv_tls_mode */
    T_AUTH,     /* SASL mechanism, upper-cased; empty: the server's best */
    T_BOOL,
    T_INT,
    T_PATTERNS /* folder globs; repeated keys accumulate */
};

enum key_id {
    K_PROTOCOL,
    K_HOST,
    K_PORT,
    K_TLS,
    K_USER,
    K_PASSCMD,
    K_PASSWORD_ENV,
    K_NETRC,
    K_NETRC_FILE,
    K_PASSWORD,
    K_OAUTH2_TOKEN_CMD,
    K_AUTH,
    K_CA_FILE,
    K_TLS_VERIFY,
    K_ALLOW_PLAINTEXT,
    K_PROXY,
    K_INCLUDE,
    K_EXCLUDE,
    K_ARCHIVE,
    K_CONNECTIONS,
    K_TIMEOUT,
    K_FOLDER,
    K_DELETE_AFTER_DAYS,
    K_ARCHIVE_DIR,
    NKEYS
};

/* KF_SECRET keys choose where the password comes from. An account that sets any of them
 * inherits none of them from [general]: mv_config_password prefers passcmd, so an account's
 * password_env could otherwise never win over a passcmd in [general]. */
enum { KF_GENERAL_ONLY = 1, KF_SECRET = 2 };

static const struct keydef {
    const char *name;
    enum key_type type;
    int min, max; /* T_INT */
    unsigned flags;
} keydefs[NKEYS] = {
    [K_PROTOCOL] = {"protocol", T_PROTOCOL, 0, 0, 0},
    [K_HOST] = {"host", T_STR, 0, 0, 0},
    [K_PORT] = {"port", T_INT, 1, 65535, 0},
    [K_TLS] = {"tls", T_TLS, 0, 0, 0},
    [K_USER] = {"user", T_STR, 0, 0, 0},
    [K_PASSCMD] = {"passcmd", T_OPTSTR, 0, 0, KF_SECRET},
    [K_PASSWORD_ENV] = {"password_env", T_OPTSTR, 0, 0, KF_SECRET},
    [K_NETRC] = {"netrc", T_BOOL, 0, 0, KF_SECRET},
    [K_NETRC_FILE] = {"netrc_file", T_OPTPATH, 0, 0, 0},
    [K_PASSWORD] = {"password", T_OPTSTR, 0, 0, KF_SECRET},
    [K_OAUTH2_TOKEN_CMD] = {"oauth2_token_cmd", T_OPTSTR, 0, 0, 0},
    [K_AUTH] = {"auth", T_AUTH, 0, 0, 0},
    [K_CA_FILE] = {"ca_file", T_OPTPATH, 0, 0, 0},
    [K_TLS_VERIFY] = {"tls_verify", T_BOOL, 0, 0, 0},
    [K_ALLOW_PLAINTEXT] = {"allow_plaintext", T_BOOL, 0, 0, 0},
    [K_PROXY] = {"proxy", T_OPTSTR, 0, 0, 0},
    [K_INCLUDE] = {"include", T_PATTERNS, 0, 0, 0},
    [K_EXCLUDE] = {"exclude", T_PATTERNS, 0, 0, 0},
    [K_ARCHIVE] = {"archive", T_PATH, 0, 0, 0},
    [K_CONNECTIONS] = {"connections", T_INT, 1, 16, 0},
    [K_TIMEOUT] = {"timeout", T_INT, 1, 3600, 0},
    [K_FOLDER] = {"folder", T_STR, 0, 0, 0},
    [K_DELETE_AFTER_DAYS] = {"delete_after_days", T_INT, 0, DELETE_AFTER_DAYS_MAX, 0},
    [K_ARCHIVE_DIR] = {"archive_dir", T_PATH, 0, 0, KF_GENERAL_ONLY},
};

static const char *const auth_mechs[] = {"PLAIN",   "LOGIN",       "CRAM-MD5",
                                         "XOAUTH2", "OAUTHBEARER", "APOP"};

static const char *const default_include[] = {"*", NULL};
static const char *const empty_list[] = {NULL};

typedef struct value {
    int line;    /* 0: not set in this section */
    char *str;   /* text types; NULL when explicitly empty */
    int num;     /* T_INT, T_BOOL, T_PROTOCOL, T_TLS */
    char **list; /* T_PATTERNS, NULL-terminated once anything was added */
    size_t nlist;
} value;

typedef struct settings {
    value v[NKEYS];
} settings;

typedef struct acct_rec {
    mv_account pub;
    char *name;
    int line; /* of the section header */
    settings s;
    char *archive; /* the default archive path, when one was built */
} acct_rec;

struct mv_config {
    char *path;
    settings general;
    acct_rec **accts; /* pointers, so that an account stays put while the array grows */
    size_t n, cap;
};

typedef enum { SEC_NONE, SEC_GENERAL, SEC_ACCOUNT } section_kind;

typedef struct parse_ctx {
    mv_config *c;
    FILE *f;
    const char *path;
    int line;
    char *buf; /* getline's; wiped at the end, it may have held a password */
    size_t cap;
    section_kind kind;
    acct_rec *cur;
    char *section_raw; /* the text between the brackets, as inih sees it */
    bool has_password;
    bool failed;
    int err_line;
    mv_error *err;
    mv_status st;
} parse_ctx;

/* ---- small helpers ---- */

static bool is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static char *trim(char *s)
{
    while (is_space((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && is_space((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

static void free_settings(settings *s)
{
    for (size_t i = 0; i < NKEYS; i++) {
        value *v = &s->v[i];
        if (v->str && i == K_PASSWORD)
            explicit_bzero(v->str, strlen(v->str));
        free(v->str);
        for (size_t j = 0; j < v->nlist; j++)
            free(v->list[j]);
        free(v->list);
    }
}

static void free_acct(acct_rec *a)
{
    if (a == NULL)
        return;
    free_settings(&a->s);
    free(a->name);
    free(a->archive);
    free(a);
}

void mv_config_free(mv_config *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n; i++)
        free_acct(c->accts[i]);
    free(c->accts);
    free_settings(&c->general);
    free(c->path);
    free(c);
}

const char *mv_config_path(const mv_config *c)
{
    return c ? c->path : NULL;
}

size_t mv_config_count(const mv_config *c)
{
    return c ? c->n : 0;
}

const mv_account *mv_config_account(const mv_config *c, size_t i)
{
    return c && i < c->n ? &c->accts[i]->pub : NULL;
}

const mv_account *mv_config_find(const mv_config *c, const char *name)
{
    if (c == NULL || name == NULL)
        return NULL;
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->accts[i]->name, name) == 0)
            return &c->accts[i]->pub;
    return NULL;
}

/* ---- parsing ---- */

__attribute__((format(printf, 3, 4))) static int fail(parse_ctx *p, mv_status st, const char *fmt,
                                                      ...)
{
    char msg[MV_ERROR_MSG_MAX];
    va_list ap;
    if (p->failed)
        return 0;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    mv_error_set(p->err, st, "%s", msg);
    p->failed = true;
    p->st = st;
    p->err_line = p->line;
    return 0;
}

static int nomem(parse_ctx *p)
{
    return fail(p, MV_ERR_NOMEM, "out of memory reading %s", p->path);
}

/* "[general]" or "[account NAME]", for messages. */
static const char *section_name(const parse_ctx *p, char *buf, size_t cap)
{
    if (p->kind == SEC_ACCOUNT)
        snprintf(buf, cap, "[account %s]", p->cur->name);
    else
        snprintf(buf, cap, "[general]");
    return buf;
}

/* Only "~" and "~/..." are expanded: "~user" would need the password database and is far
 * more likely a typo than a wish, so it is refused rather than taken as a relative path. */
static int expand_path(parse_ctx *p, const char *key, const char *v, char **out)
{
    *out = NULL;
    if (v[0] != '~') {
        *out = strdup(v);
        return *out ? 1 : nomem(p);
    }
    if (v[1] != '\0' && v[1] != '/')
        return fail(p, MV_ERR_CONFIG, "'%s' at %s:%d: only ~ and ~/ are expanded, not ~user", key,
                    p->path, p->line);
    const char *home = getenv("HOME");
    if (home == NULL || home[0] == '\0')
        return fail(p, MV_ERR_CONFIG, "'%s' at %s:%d starts with ~ but HOME is not set", key,
                    p->path, p->line);
    size_t lh = strlen(home), lv = strlen(v + 1);
    char *s = malloc(lh + lv + 1);
    if (s == NULL)
        return nomem(p);
    memcpy(s, home, lh);
    memcpy(s + lh, v + 1, lv + 1);
    *out = s;
    return 1;
}

/* Strictly decimal: strtol alone would also take " 12", "+12" and "0x1f". */
static bool parse_int(const char *s, int min, int max, int *out)
{
    const char *d = s[0] == '-' ? s + 1 : s;
    if (*d < '0' || *d > '9')
        return false;
    for (const char *q = d; *q; q++)
        if (*q < '0' || *q > '9')
            return false;
    errno = 0;
    char *end;
    long n = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || n < min || n > max)
        return false;
    *out = (int)n;
    return true;
}

static bool parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return true;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return true;
        }
    }
    return false;
}

static bool parse_tls(const char *s, int *out)
{
    static const char *const implicit[] = {"implicit", "imaps", "pop3s", "ssl"};
    for (size_t i = 0; i < 4; i++)
        if (strcasecmp(s, implicit[i]) == 0) {
            *out = MV_TLS_IMPLICIT;
            return true;
        }
    if (strcasecmp(s, "starttls") == 0) {
        *out = MV_TLS_STARTTLS;
        return true;
    }
    if (strcasecmp(s, "none") == 0 || strcasecmp(s, "plain") == 0) {
        *out = MV_TLS_NONE;
        return true;
    }
    return false;
}

static int add_pattern(parse_ctx *p, value *v, char *pat)
{
    char **l = realloc(v->list, (v->nlist + 2) * sizeof *l);
    if (l == NULL) {
        free(pat);
        return nomem(p);
    }
    l[v->nlist++] = pat;
    l[v->nlist] = NULL;
    v->list = l;
    return 1;
}

/* Whitespace separates patterns; double quotes group one with spaces, and may be glued to
 * unquoted text as in a shell (Foo" "Bar is "Foo Bar"). Inside quotes \" and \\ stand for
 * " and \; any other backslash is kept, so that fnmatch still sees an escaped "\*". */
static int add_patterns(parse_ctx *p, value *v, const char *s, const char *key)
{
    /* Make the list exist (and be empty) even for an empty value: "exclude =" in an
     * account means "exclude nothing", overriding [general]. */
    if (v->list == NULL) {
        v->list = calloc(1, sizeof *v->list);
        if (v->list == NULL)
            return nomem(p);
    }
    for (;;) {
        while (is_space((unsigned char)*s))
            s++;
        if (*s == '\0')
            return 1;
        char *tok = malloc(strlen(s) + 1);
        size_t n = 0;
        if (tok == NULL)
            return nomem(p);
        while (*s && !is_space((unsigned char)*s)) {
            if (*s != '"') {
                tok[n++] = *s++;
                continue;
            }
            s++;
            while (*s && *s != '"') {
                if (*s == '\\' && (s[1] == '"' || s[1] == '\\'))
                    s++;
                tok[n++] = *s++;
            }
            if (*s != '"') {
                free(tok);
                return fail(p, MV_ERR_CONFIG, "unbalanced quote in '%s' at %s:%d", key, p->path,
                            p->line);
            }
            s++;
        }
        tok[n] = '\0';
        if (!add_pattern(p, v, tok))
            return 0;
    }
}

static int bad_value(parse_ctx *p, const char *key, const char *val, const char *expected)
{
    char sec[300];
    return fail(p, MV_ERR_CONFIG, "bad value '%.60s' for '%s' in %s at %s:%d (expected %s)", val,
                key, section_name(p, sec, sizeof sec), p->path, p->line, expected);
}

static int set_value(parse_ctx *p, settings *s, enum key_id id, const char *val)
{
    const struct keydef *kd = &keydefs[id];
    value *v = &s->v[id];
    char sec[300];
    char expected[64];

    if (v->line != 0 && kd->type != T_PATTERNS)
        return fail(p, MV_ERR_CONFIG, "duplicate key '%s' in %s at %s:%d (first set at line %d)",
                    kd->name, section_name(p, sec, sizeof sec), p->path, p->line, v->line);
    switch (kd->type) {
    case T_STR:
    case T_PATH:
        if (val[0] == '\0')
            return fail(p, MV_ERR_CONFIG, "empty value for '%s' in %s at %s:%d", kd->name,
                        section_name(p, sec, sizeof sec), p->path, p->line);
        /* fall through */
    case T_OPTSTR:
    case T_OPTPATH:
        if (val[0] == '\0')
            break;
        if (kd->type == T_PATH || kd->type == T_OPTPATH) {
            if (!expand_path(p, kd->name, val, &v->str))
                return 0;
        } else if ((v->str = strdup(val)) == NULL) {
            return nomem(p);
        }
        if (id == K_PASSWORD)
            p->has_password = true;
        break;
    case T_AUTH: {
        if (val[0] == '\0')
            break;
        size_t i;
        for (i = 0; i < sizeof auth_mechs / sizeof auth_mechs[0]; i++)
            if (strcasecmp(val, auth_mechs[i]) == 0)
                break;
        if (i == sizeof auth_mechs / sizeof auth_mechs[0])
            return bad_value(p, kd->name, val,
                             "PLAIN, LOGIN, CRAM-MD5, XOAUTH2, OAUTHBEARER or APOP (POP3)");
        if ((v->str = strdup(auth_mechs[i])) == NULL)
            return nomem(p);
        break;
    }
    case T_PROTOCOL:
        if (strcasecmp(val, "imap") == 0)
            v->num = MV_PROTO_IMAP;
        else if (strcasecmp(val, "pop3") == 0)
            v->num = MV_PROTO_POP3;
        else
            return bad_value(p, kd->name, val, "imap or pop3");
        break;
    case T_TLS:
        if (!parse_tls(val, &v->num))
            return bad_value(p, kd->name, val, "imaps, starttls or none");
        break;
    case T_BOOL:
        if (!parse_bool(val, &v->num))
            return bad_value(p, kd->name, val, "yes or no");
        break;
    case T_INT:
        if (!parse_int(val, kd->min, kd->max, &v->num)) {
            snprintf(expected, sizeof expected, "a number from %d to %d", kd->min, kd->max);
            return bad_value(p, kd->name, val, expected);
        }
        break;
    case T_PATTERNS:
        if (!add_patterns(p, v, val, kd->name))
            return 0;
        /* An include list that selects nothing is a mistake, not a wish. */
        if (id == K_INCLUDE && v->nlist == 0)
            return fail(p, MV_ERR_CONFIG, "'include' in %s at %s:%d has no patterns",
                        section_name(p, sec, sizeof sec), p->path, p->line);
        break;
    }
    if (v->line == 0)
        v->line = p->line;
    return 1;
}

static int config_handler(void *user, const char *section, const char *name, const char *val)
{
    parse_ctx *p = user;
    char sec[300];

    if (p->failed)
        return 0;
    /* inih keeps a truncated copy of the section name (49 bytes in r55), so ours must begin
     * with its; anything else means the reader and inih split the file differently. */
    if (p->section_raw == NULL ? section[0] != '\0'
                               : strncmp(section, p->section_raw, strlen(section)) != 0)
        return fail(p, MV_ERR_INTERNAL, "cannot follow the sections of %s at line %d", p->path,
                    p->line);
    if (p->kind == SEC_NONE)
        return fail(p, MV_ERR_CONFIG, "key '%s' at %s:%d is outside any [section]", name, p->path,
                    p->line);

    size_t id;
    for (id = 0; id < NKEYS; id++)
        if (strcmp(name, keydefs[id].name) == 0)
            break;
    if (id == NKEYS)
        return fail(p, MV_ERR_CONFIG, "unknown key '%s' in %s at %s:%d", name,
                    section_name(p, sec, sizeof sec), p->path, p->line);
    if ((keydefs[id].flags & KF_GENERAL_ONLY) && p->kind != SEC_GENERAL)
        return fail(p, MV_ERR_CONFIG, "key '%s' in %s at %s:%d belongs in [general]", name,
                    section_name(p, sec, sizeof sec), p->path, p->line);
    return set_value(p, p->kind == SEC_GENERAL ? &p->c->general : &p->cur->s, (enum key_id)id, val);
}

/* A section header as inih reads it: '[' up to the first ']', unless a ';' that follows
 * whitespace (an inline comment) comes first, which inih reports as an error. */
static int start_section(parse_ctx *p, char *line)
{
    size_t i = 1;
    bool was_space = false;
    while (line[i] && line[i] != ']' && !(was_space && line[i] == ';')) {
        was_space = is_space((unsigned char)line[i]);
        i++;
    }
    if (line[i] != ']')
        return fail(p, MV_ERR_CONFIG, "syntax error at %s:%d: a section header needs a ']'",
                    p->path, p->line);

    free(p->section_raw);
    p->section_raw = strndup(line + 1, i - 1);
    if (p->section_raw == NULL)
        return nomem(p);
    char *tmp = strdup(p->section_raw);
    if (tmp == NULL)
        return nomem(p);
    char *s = trim(tmp);
    int ok = 1;

    if (strcmp(s, "general") == 0) {
        p->kind = SEC_GENERAL;
        p->cur = NULL;
    } else if (strncmp(s, "account", 7) == 0 && (s[7] == '\0' || is_space((unsigned char)s[7]))) {
        char *name = trim(s + 7);
        bool ctl = false;
        for (const char *q = name; *q; q++)
            if ((unsigned char)*q < 0x20 || *q == 0x7f)
                ctl = true;
        if (name[0] == '\0')
            ok = fail(p, MV_ERR_CONFIG, "[account] at %s:%d needs a name: [account NAME]", p->path,
                      p->line);
        else if (strchr(name, '/') || ctl)
            ok = fail(p, MV_ERR_CONFIG,
                      "account name '%s' at %s:%d may not contain '/' or control characters", name,
                      p->path, p->line);
        for (size_t k = 0; ok && k < p->c->n; k++)
            if (strcmp(p->c->accts[k]->name, name) == 0)
                ok = fail(p, MV_ERR_CONFIG, "duplicate account '%s' at %s:%d (first at line %d)",
                          name, p->path, p->line, p->c->accts[k]->line);
        if (ok) {
            acct_rec *a = calloc(1, sizeof *a);
            if (a == NULL || (a->name = strdup(name)) == NULL) {
                free(a);
                ok = nomem(p);
            } else if (p->c->n == p->c->cap) {
                size_t ncap = p->c->cap ? 2 * p->c->cap : 8;
                acct_rec **na = realloc(p->c->accts, ncap * sizeof *na);
                if (na == NULL) {
                    free_acct(a);
                    a = NULL;
                    ok = nomem(p);
                } else {
                    p->c->accts = na;
                    p->c->cap = ncap;
                }
            }
            if (ok) {
                a->line = p->line;
                p->c->accts[p->c->n++] = a;
                p->kind = SEC_ACCOUNT;
                p->cur = a;
            }
        }
    } else {
        ok = fail(p, MV_ERR_CONFIG, "unknown section '[%s]' at %s:%d", s, p->path, p->line);
    }
    free(tmp);
    return ok;
}

/* inih's fgets-style reader: one whole line per call, or NULL to end the parse. */
static char *config_reader(char *str, int num, void *stream)
{
    parse_ctx *p = stream;
    if (p->failed)
        return NULL;
    errno = 0;
    ssize_t n = getline(&p->buf, &p->cap, p->f);
    if (n < 0) {
        if (ferror(p->f))
            fail(p, errno == ENOMEM ? MV_ERR_NOMEM : MV_ERR_CONFIG, "cannot read %s: %s", p->path,
                 strerror(errno ? errno : EIO));
        return NULL;
    }
    p->line++;
    char *s = p->buf;
    size_t len = (size_t)n;
    if (memchr(s, '\0', len)) {
        fail(p, MV_ERR_CONFIG, "%s:%d contains a NUL byte; is it a text file?", p->path, p->line);
        return NULL;
    }
    /* The BOM is dropped here rather than by inih so that a header right after it is seen
     * by start_section too. */
    if (p->line == 1 && len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
        s += 3;
        len -= 3;
    }
    while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r'))
        len--;
    while (len > 0 && is_space((unsigned char)*s)) {
        s++;
        len--;
    }
    /* inih would strip a second BOM at the start of line 1 too, and then see a header that
     * start_section did not; a leading space keeps it text for both of us (a syntax error). */
    size_t pad = p->line == 1 && len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0;
    if (num < 2 || len + pad > (size_t)num - 2) {
        fail(p, MV_ERR_CONFIG, "line %s:%d is too long (the limit is %d characters)", p->path,
             p->line, num > 2 ? num - 2 : 0);
        return NULL;
    }
    str[0] = ' ';
    memcpy(str + pad, s, len);
    str[pad + len] = '\n';
    str[pad + len + 1] = '\0';
    if (str[0] == '[' && !start_section(p, str))
        return NULL;
    return str;
}

/* ---- after the whole file: [general] defaults, checks, derived values ---- */

static const value *pick(const acct_rec *a, const settings *g, enum key_id id, bool own_secrets)
{
    if (a->s.v[id].line)
        return &a->s.v[id];
    if ((keydefs[id].flags & KF_SECRET) && own_secrets)
        return NULL;
    return g->v[id].line ? &g->v[id] : NULL;
}

static mv_status finish_account(mv_config *c, acct_rec *a, const char *data_home, const char *path,
                                mv_error *err)
{
    const settings *g = &c->general;
    mv_account *pub = &a->pub;
    bool own_secrets = false;
    const value *v;

    for (size_t i = 0; i < NKEYS; i++)
        if ((keydefs[i].flags & KF_SECRET) && a->s.v[i].line)
            own_secrets = true;

#define STR(id) ((v = pick(a, g, id, own_secrets)) ? v->str : NULL)
#define NUM(id, dflt) ((v = pick(a, g, id, own_secrets)) ? v->num : (dflt))
    pub->name = a->name;
    pub->protocol = (mv_protocol)NUM(K_PROTOCOL, MV_PROTO_IMAP);
    pub->host = STR(K_HOST);
    pub->tls = (mv_tls_mode)NUM(K_TLS, MV_TLS_IMPLICIT);
    pub->user = STR(K_USER);
    pub->passcmd = STR(K_PASSCMD);
    pub->password_env = STR(K_PASSWORD_ENV);
    pub->netrc = NUM(K_NETRC, 0);
    pub->netrc_file = STR(K_NETRC_FILE);
    pub->password = STR(K_PASSWORD);
    pub->oauth2_token_cmd = STR(K_OAUTH2_TOKEN_CMD);
    pub->auth = STR(K_AUTH);
    pub->ca_file = STR(K_CA_FILE);
    pub->tls_verify = NUM(K_TLS_VERIFY, 1);
    pub->allow_plaintext = NUM(K_ALLOW_PLAINTEXT, 0);
    pub->proxy = STR(K_PROXY);
    pub->connections = NUM(K_CONNECTIONS, 2);
    pub->timeout = NUM(K_TIMEOUT, 60);
    pub->folder = STR(K_FOLDER);
    pub->delete_after_days = NUM(K_DELETE_AFTER_DAYS, -1);
#undef STR
#undef NUM
    v = pick(a, g, K_INCLUDE, own_secrets);
    pub->include = v ? (const char *const *)v->list : default_include;
    v = pick(a, g, K_EXCLUDE, own_secrets);
    pub->exclude = v ? (const char *const *)v->list : empty_list;
    if (pub->folder == NULL)
        pub->folder = "INBOX";

    v = pick(a, g, K_PORT, own_secrets);
    if (v)
        pub->port = v->num;
    else if (pub->protocol == MV_PROTO_IMAP)
        pub->port = pub->tls == MV_TLS_IMPLICIT ? 993 : 143;
    else
        pub->port = pub->tls == MV_TLS_IMPLICIT ? 995 : 110;

    if (pub->host == NULL)
        return mv_error_set(err, MV_ERR_CONFIG, "missing 'host' in [account %s] at %s:%d", a->name,
                            path, a->line);
    if (pub->user == NULL)
        return mv_error_set(err, MV_ERR_CONFIG, "missing 'user' in [account %s] at %s:%d", a->name,
                            path, a->line);

    v = pick(a, g, K_ARCHIVE, own_secrets);
    if (v) {
        pub->archive = v->str;
    } else {
        const char *dir = g->v[K_ARCHIVE_DIR].line ? g->v[K_ARCHIVE_DIR].str : data_home;
        if (dir == NULL || dir[0] == '\0')
            return mv_error_set(err, MV_ERR_CONFIG,
                                "no archive path for [account %s] at %s:%d: set 'archive', or "
                                "'archive_dir' in [general]",
                                a->name, path, a->line);
        size_t ld = strlen(dir), ln = strlen(a->name);
        bool slash = dir[ld - 1] == '/';
        a->archive = malloc(ld + ln + sizeof "/.sqlite");
        if (a->archive == NULL)
            return mv_error_set(err, MV_ERR_NOMEM, "out of memory reading %s", path);
        snprintf(a->archive, ld + ln + sizeof "/.sqlite", "%s%s%s.sqlite", dir, slash ? "" : "/",
                 a->name);
        pub->archive = a->archive;
    }
    return MV_OK;
}

static mv_status parse_file(mv_config *c, FILE *f, const char *path, const char *data_home,
                            mv_config_warn_cb warn, void *warn_ctx, mv_error *err)
{
    parse_ctx p = {.c = c, .f = f, .path = path, .err = err};
    struct stat sb;
    mv_status st = MV_OK;

    int r = ini_parse_stream(config_reader, &p, config_handler, &p);
    if (p.buf) {
        explicit_bzero(p.buf, p.cap);
        free(p.buf);
    }
    free(p.section_raw);
    /* inih goes on after a bad line and returns the first one; ours may come later. */
    if (r > 0 && (!p.failed || r < p.err_line)) {
        /* Replace our own, later message; never a caller's. */
        if (p.failed)
            return mv_error_reset(err, MV_ERR_CONFIG,
                                  "syntax error at %s:%d: expected 'key = value' or '[section]'",
                                  path, r);
        return mv_error_set(err, MV_ERR_CONFIG,
                            "syntax error at %s:%d: expected 'key = value' or '[section]'", path,
                            r);
    }
    if (p.failed)
        return p.st;
    if (r < 0)
        return mv_error_set(err, r == -2 ? MV_ERR_NOMEM : MV_ERR_INTERNAL, "cannot parse %s", path);

    for (size_t i = 0; i < c->n && st == MV_OK; i++)
        st = finish_account(c, c->accts[i], data_home, path, err);
    if (st != MV_OK || warn == NULL)
        return st;

    char msg[MV_ERROR_MSG_MAX];
    if (p.has_password && fstat(fileno(f), &sb) == 0 && (sb.st_mode & 044)) {
        snprintf(msg, sizeof msg,
                 "%s is readable by other users and holds a password; chmod 600 it", path);
        warn(warn_ctx, msg);
    }
    for (size_t i = 0; i < c->n; i++)
        if (!c->accts[i]->pub.tls_verify) {
            snprintf(msg, sizeof msg, "certificate verification is off for account %s",
                     c->accts[i]->name);
            warn(warn_ctx, msg);
        }
    return MV_OK;
}

/* $XDG_CONFIG_HOME/mailvault/config, else ~/.config/mailvault/config; NULL if there is
 * neither variable (or no memory, which the caller cannot tell apart: both mean no file). */
static char *default_path(void)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    char *s;
    /* The XDG spec says a relative XDG_CONFIG_HOME is invalid and must be ignored. */
    if (xdg && xdg[0] == '/') {
        size_t n = strlen(xdg) + sizeof "/mailvault/config";
        if ((s = malloc(n)) != NULL)
            snprintf(s, n, "%s/mailvault/config", xdg);
    } else if (home && home[0] != '\0') {
        size_t n = strlen(home) + sizeof "/.config/mailvault/config";
        if ((s = malloc(n)) != NULL)
            snprintf(s, n, "%s/.config/mailvault/config", home);
    } else {
        s = NULL;
    }
    return s;
}

mv_status mv_config_load(const char *path, const char *data_home, mv_config_warn_cb warn,
                         void *warn_ctx, mv_config **out, mv_error *err)
{
    if (out == NULL)
        return mv_error_set(err, MV_ERR_INTERNAL, "mv_config_load: no output");
    *out = NULL;
    mv_config *c = calloc(1, sizeof *c);
    if (c == NULL)
        return mv_error_set(err, MV_ERR_NOMEM, "out of memory");

    char *file = path ? strdup(path) : default_path();
    if (file == NULL) {
        if (path) {
            mv_config_free(c);
            return mv_error_set(err, MV_ERR_NOMEM, "out of memory");
        }
        *out = c;
        return MV_OK;
    }
    /* "e": a passcmd started later must not inherit the descriptor. */
    FILE *f = fopen(file, "re");
    if (f == NULL) {
        int e = errno;
        if (path == NULL && e == ENOENT) {
            free(file);
            *out = c;
            return MV_OK;
        }
        mv_error_set(err, MV_ERR_CONFIG, "cannot open %s: %s", file, strerror(e));
        free(file);
        mv_config_free(c);
        return MV_ERR_CONFIG;
    }
    struct stat sb;
    mv_status st;
    if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode))
        st = mv_error_set(err, MV_ERR_CONFIG, "cannot read %s: it is a directory", file);
    else
        st = parse_file(c, f, file, data_home, warn, warn_ctx, err);
    fclose(f);
    if (st != MV_OK) {
        free(file);
        mv_config_free(c);
        return st;
    }
    c->path = file;
    *out = c;
    return MV_OK;
}

int mv_config_folder_selected(const mv_account *a, const char *folder)
{
    if (a == NULL || folder == NULL)
        return 0;
    const char *const *inc = a->include ? a->include : default_include;
    bool in = false;
    for (size_t i = 0; inc[i] && !in; i++)
        in = fnmatch(inc[i], folder, 0) == 0;
    if (!in)
        return 0;
    for (size_t i = 0; a->exclude && a->exclude[i]; i++)
        if (fnmatch(a->exclude[i], folder, 0) == 0)
            return 0;
    return 1;
}

/* ---- secrets ---- */

void mv_config_secret_free(char *secret)
{
    if (secret == NULL)
        return;
    explicit_bzero(secret, strlen(secret));
    free(secret);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* dup2 onto itself keeps O_CLOEXEC, which would close the descriptor at exec. */
static int move_fd(int from, int to)
{
    if (from == to)
        return fcntl(to, F_SETFD, 0);
    return dup2(from, to) < 0 ? -1 : 0;
}

/* Waits for pid until the deadline, then kills it. Returns the wait status, or -1. */
static int reap(pid_t pid, int64_t deadline, bool *killed)
{
    int status;
    long nap_us = 1000;
    for (;;) {
        pid_t r = waitpid(pid, &status, *killed ? 0 : WNOHANG);
        if (r == pid)
            return status;
        if (r < 0 && errno != EINTR)
            return -1;
        if (r == 0) {
            if (now_ms() >= deadline) {
                kill(pid, SIGKILL);
                *killed = true;
                continue;
            }
            struct timespec ts = {0, nap_us * 1000};
            nanosleep(&ts, NULL);
            if (nap_us < 50000)
                nap_us *= 2;
        }
    }
}

mv_status mv_config_run_secret_cmd(const char *cmd, int timeout_ms, const char *what,
                                   const char *account, char **out, mv_error *err)
{
    int fds[2];
    *out = NULL;
    if (pipe2(fds, O_CLOEXEC) < 0)
        return mv_error_set(err, MV_ERR_IO, "cannot run %s for account %s: %s", what, account,
                            strerror(errno));
    /* One buffer, allocated up front and wiped at the end: a growing buffer would leave
     * copies of the secret in freed memory. */
    char *buf = malloc(MV_CONFIG_CMD_OUTPUT_MAX + 1);
    if (buf == NULL) {
        close(fds[0]);
        close(fds[1]);
        return mv_error_set(err, MV_ERR_NOMEM, "out of memory");
    }
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        free(buf);
        return mv_error_set(err, MV_ERR_IO, "cannot run %s for account %s: %s", what, account,
                            strerror(e));
    }
    if (pid == 0) {
        /* Only async-signal-safe calls from here: the parent may have threads. The command
         * keeps our process group and stderr, so that it can still prompt on the terminal
         * (gpg's pinentry, a hardware token). */
        char *argv[] = {"sh", "-c", (char *)cmd, NULL};
        if (move_fd(fds[1], 1) < 0)
            _exit(127);
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null < 0 || move_fd(null, 0) < 0)
            _exit(127);
        execve("/bin/sh", argv, environ);
        _exit(127);
    }
    close(fds[1]);

    int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    size_t len = 0;
    bool timed_out = false, too_big = false, io_error = false;
    int io_errno = 0;
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        struct pollfd pfd = {fds[0], POLLIN, 0};
        int r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            io_error = true;
            io_errno = errno;
            break;
        }
        if (r == 0) {
            timed_out = true;
            break;
        }
        ssize_t n = read(fds[0], buf + len, MV_CONFIG_CMD_OUTPUT_MAX + 1 - len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0) {
            io_error = true;
            io_errno = errno;
            break;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > MV_CONFIG_CMD_OUTPUT_MAX) {
            too_big = true;
            break;
        }
    }
    close(fds[0]);
    /* Killing the shell can orphan a command it started; with our end of the pipe closed,
     * that command dies of SIGPIPE as soon as it writes. */
    bool killed = timed_out || too_big || io_error;
    if (killed)
        kill(pid, SIGKILL);
    int status = reap(pid, deadline, &killed);
    /* EOF came in time, but the command went on running (it closed stdout) and was killed
     * at the deadline. */
    if (killed && !too_big && !io_error)
        timed_out = true;

    mv_status st = MV_OK;
    size_t line_len = 0;
    if (timed_out) {
        if (timeout_ms >= 1000)
            st = mv_error_set(err, MV_ERR_CONFIG, "%s for account %s timed out after %d s", what,
                              account, timeout_ms / 1000);
        else
            st = mv_error_set(err, MV_ERR_CONFIG, "%s for account %s timed out after %d ms", what,
                              account, timeout_ms);
    } else if (too_big) {
        st = mv_error_set(err, MV_ERR_CONFIG, "%s for account %s printed more than %d KiB", what,
                          account, MV_CONFIG_CMD_OUTPUT_MAX / 1024);
    } else if (io_error) {
        st = mv_error_set(err, MV_ERR_IO, "cannot read the output of %s for account %s: %s", what,
                          account, strerror(io_errno));
    } else if (status == -1) {
        st = mv_error_set(err, MV_ERR_IO, "cannot wait for %s for account %s: %s", what, account,
                          strerror(errno));
    } else if (WIFSIGNALED(status)) {
        st = mv_error_set(err, MV_ERR_CONFIG, "%s for account %s failed (killed by signal %d)",
                          what, account, WTERMSIG(status));
    } else if (WEXITSTATUS(status) != 0) {
        st = mv_error_set(err, MV_ERR_CONFIG, "%s for account %s failed (exit status %d)", what,
                          account, WEXITSTATUS(status));
    } else {
        char *nl = memchr(buf, '\n', len);
        line_len = nl ? (size_t)(nl - buf) : len;
        if (line_len > 0 && buf[line_len - 1] == '\r')
            line_len--;
        if (line_len == 0)
            st = mv_error_set(err, MV_ERR_CONFIG,
                              "%s for account %s failed (its first line of output is empty)", what,
                              account);
        else if (memchr(buf, '\0', line_len))
            st = mv_error_set(err, MV_ERR_CONFIG,
                              "%s for account %s failed (its output contains a NUL byte)", what,
                              account);
    }
    if (st == MV_OK) {
        *out = malloc(line_len + 1);
        if (*out == NULL) {
            st = mv_error_set(err, MV_ERR_NOMEM, "out of memory");
        } else {
            memcpy(*out, buf, line_len);
            (*out)[line_len] = '\0';
        }
    }
    explicit_bzero(buf, MV_CONFIG_CMD_OUTPUT_MAX + 1);
    free(buf);
    return st;
}

/* A netrc token: a word, or a double-quoted string with backslash escapes (as curl reads
 * them). Tokens are cut in place; *term gets the character that ended the token, which the
 * NUL overwrote. */
static char *netrc_token(char *buf, size_t len, size_t *pos, char *term)
{
    size_t i = *pos;
    while (i < len && is_space((unsigned char)buf[i]))
        i++;
    if (i >= len) {
        *pos = len;
        return NULL;
    }
    char *tok = buf + i, *w = buf + i;
    if (buf[i] == '"') {
        i++;
        while (i < len && buf[i] != '"') {
            if (buf[i] == '\\' && i + 1 < len)
                i++;
            *w++ = buf[i++];
        }
        if (i < len)
            i++; /* the closing quote */
    } else {
        while (i < len && !is_space((unsigned char)buf[i]))
            *w++ = buf[i++];
    }
    *term = i < len && is_space((unsigned char)buf[i]) ? buf[i] : '\0';
    *w = '\0'; /* may overwrite buf[i], whose value is in *term */
    if (*term)
        i++;
    *pos = i;
    return tok;
}

typedef struct netrc_entry {
    bool active, is_default;
    const char *machine, *login, *password;
} netrc_entry;

static bool netrc_matches(const netrc_entry *e, const char *host, const char *user)
{
    return e->active && e->password && (e->login == NULL || strcmp(e->login, user) == 0) &&
           (e->is_default || (e->machine && strcasecmp(e->machine, host) == 0));
}

static mv_status netrc_lookup(const char *file, const char *host, const char *user, char **out,
                              mv_error *err)
{
    /* read(2), not stdio: a FILE buffer would keep a copy of the passwords we cannot wipe. */
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mv_error_set(err, MV_ERR_CONFIG, "cannot open %s: %s", file, strerror(errno));
    struct stat sb;
    size_t cap = NETRC_MAX;
    if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size < NETRC_MAX)
        cap = (size_t)sb.st_size;
    /* One byte more than expected, to notice a file that is too big (or grew). */
    char *buf = malloc(cap + 2);
    if (buf == NULL) {
        close(fd);
        return mv_error_set(err, MV_ERR_NOMEM, "out of memory");
    }
    size_t len = 0;
    int read_errno = 0;
    while (len < cap + 1) {
        ssize_t n = read(fd, buf + len, cap + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            read_errno = errno;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    mv_status st = MV_OK;
    if (read_errno)
        st = mv_error_set(err, MV_ERR_CONFIG, "cannot read %s: %s", file, strerror(read_errno));
    else if (len > cap)
        st = mv_error_set(err, MV_ERR_CONFIG,
                          "%s is larger than %d KiB or changed while it was read", file,
                          NETRC_MAX / 1024);

    const char *found = NULL, *fallback = NULL;
    netrc_entry e = {0};
    size_t pos = 0;
    char term;
    while (st == MV_OK && found == NULL) {
        char *tok = netrc_token(buf, len, &pos, &term);
        bool entry_start =
            tok == NULL || strcmp(tok, "machine") == 0 || strcmp(tok, "default") == 0;
        if (entry_start) {
            if (netrc_matches(&e, host, user)) {
                if (!e.is_default)
                    found = e.password;
                else if (fallback == NULL)
                    fallback = e.password;
            }
            if (tok == NULL || found)
                break;
            memset(&e, 0, sizeof e);
            e.active = true;
            if (strcmp(tok, "default") == 0)
                e.is_default = true;
            else
                e.machine = netrc_token(buf, len, &pos, &term);
        } else if (strcmp(tok, "login") == 0) {
            e.login = netrc_token(buf, len, &pos, &term);
        } else if (strcmp(tok, "password") == 0) {
            e.password = netrc_token(buf, len, &pos, &term);
        } else if (strcmp(tok, "account") == 0 || strcmp(tok, "port") == 0) {
            netrc_token(buf, len, &pos, &term);
        } else if (strcmp(tok, "macdef") == 0) {
            /* A macro body runs from the next line to the first empty line; its words
             * must not be read as tokens. */
            if (netrc_token(buf, len, &pos, &term) == NULL)
                break;
            if (term != '\n')
                while (pos < len && buf[pos++] != '\n')
                    ;
            while (pos < len) {
                if (buf[pos] == '\n' || (buf[pos] == '\r' && pos + 1 < len && buf[pos + 1] == '\n'))
                    break;
                while (pos < len && buf[pos++] != '\n')
                    ;
            }
        }
    }
    if (st == MV_OK) {
        const char *pw = found ? found : fallback;
        if (pw == NULL || pw[0] == '\0')
            st = mv_error_set(err, MV_ERR_CONFIG, "no password for %s@%s in %s", user, host, file);
        else if ((*out = strdup(pw)) == NULL)
            st = mv_error_set(err, MV_ERR_NOMEM, "out of memory");
    }
    explicit_bzero(buf, cap + 2);
    free(buf);
    return st;
}

mv_status mv_config_password(const mv_account *a, char **out, mv_error *err)
{
    if (out == NULL || a == NULL)
        return mv_error_set(err, MV_ERR_INTERNAL, "mv_config_password: no account");
    *out = NULL;
    if (a->passcmd)
        return mv_config_run_secret_cmd(a->passcmd, MV_CONFIG_CMD_TIMEOUT_MS, "passcmd", a->name,
                                        out, err);
    if (a->password_env) {
        const char *v = getenv(a->password_env);
        if (v == NULL || v[0] == '\0')
            return mv_error_set(err, MV_ERR_CONFIG,
                                "environment variable %s (password_env of account %s) is not "
                                "set or empty",
                                a->password_env, a->name);
        if ((*out = strdup(v)) == NULL)
            return mv_error_set(err, MV_ERR_NOMEM, "out of memory");
        return MV_OK;
    }
    if (a->netrc) {
        if (a->netrc_file)
            return netrc_lookup(a->netrc_file, a->host, a->user, out, err);
        const char *home = getenv("HOME");
        if (home == NULL || home[0] == '\0')
            return mv_error_set(err, MV_ERR_CONFIG, "account %s uses ~/.netrc but HOME is not set",
                                a->name);
        size_t n = strlen(home) + sizeof "/.netrc";
        char *file = malloc(n);
        if (file == NULL)
            return mv_error_set(err, MV_ERR_NOMEM, "out of memory");
        snprintf(file, n, "%s/.netrc", home);
        mv_status st = netrc_lookup(file, a->host, a->user, out, err);
        free(file);
        return st;
    }
    if (a->password) {
        if ((*out = strdup(a->password)) == NULL)
            return mv_error_set(err, MV_ERR_NOMEM, "out of memory");
        return MV_OK;
    }
    return mv_error_set(err, MV_ERR_CONFIG,
                        "no password configured for account %s (set passcmd, password_env, "
                        "netrc or password)",
                        a->name);
}

mv_status mv_config_oauth2_token(const mv_account *a, char **out, mv_error *err)
{
    if (out == NULL || a == NULL)
        return mv_error_set(err, MV_ERR_INTERNAL, "mv_config_oauth2_token: no account");
    *out = NULL;
    if (a->oauth2_token_cmd == NULL)
        return mv_error_set(err, MV_ERR_CONFIG, "no oauth2_token_cmd configured for account %s",
                            a->name);
    return mv_config_run_secret_cmd(a->oauth2_token_cmd, MV_CONFIG_CMD_TIMEOUT_MS,
                                    "oauth2_token_cmd", a->name, out, err);
}
