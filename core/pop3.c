/* mailvault: POP3 sync over libcurl's POP3 transfers (see pop3.h).
 *
 * One easy handle carries the whole run, and libcurl keeps its connection between
 * transfers. POP3 message numbers are only valid within one session, so every transfer
 * checks CURLINFO_NUM_CONNECTS: when libcurl had to connect again, the listing is stale
 * and is taken again before any number is used. During deletion no new connection may be
 * opened at all (the open-socket callback refuses), so a DELE can never reach a session
 * whose numbering we have not seen.
 */
#include "pop3.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "blob.h"
#include "hash.h"

/* A UIDL or LIST answer beyond this is not an honest one (16 MiB is ~200,000 messages). */
#define MV_POP3_LISTING_MAX (16 * 1024 * 1024)
/* Header bytes kept from TOP n 0 for the fallback identity. */
#define MV_POP3_HEADER_MAX (256 * 1024)
#define MV_POP3_UIDL_MAX 70 /* RFC 1939 */
#define MV_POP3_NUM_MAX 100000000L
#define MV_POP3_BATCH_MESSAGES 50
#define MV_POP3_BATCH_BYTES (16 * 1024 * 1024)
#define MV_POP3_MESSAGE_MAX (1024LL * 1024 * 1024)
#define MV_POP3_BUF (64 * 1024)
#define MV_POP3_RETRIES 3   /* failed passes in a row before giving up */
#define MV_POP3_PASSES 1000 /* passes over the mailbox in one run, whatever happens */
#define MV_POP3_LISTINGS 4  /* attempts at one consistent listing */
#define MV_POP3_SKIPPED_MAX 10000

typedef struct mv_pop3_msg {
    long num;     /* message number in the listing's session */
    int64_t size; /* from LIST */
    char uidl[MV_POP3_UIDL_MAX + 1];
    int has_uidl;
    int archived; /* the archive holds it, committed */
    int64_t first_seen;
    int deleted; /* marked with DELE in this session */
} mv_pop3_msg;

typedef struct mv_pop3_known {
    char *uidl;
    int64_t first_seen;
    int expunged;
} mv_pop3_known;

typedef struct mv_pop3_buf {
    char *data;
    size_t len, cap, max;
    int truncate; /* keep the first max bytes instead of failing */
} mv_pop3_buf;

typedef struct mv_pop3 {
    CURL *curl;
    char where[300]; /* "host:port", for messages */
    char base[400];  /* pop3[s]://host:port/ */
    /* libcurl writes error details here during every transfer, so it lives with the handle. */
    char curl_error[CURL_ERROR_SIZE];
    int trace;
    int timeout;
    int session;            /* bumped whenever libcurl had to connect */
    int listing_session;    /* the session the current listing belongs to */
    int no_new_connections; /* deletion: a new session could have other numbers */
    int fallback;           /* no UIDL: identities from TOP n 0 */
    int ignore_uidl;        /* MAILVAULT_IGNORE_CAPS=UIDL (tests) */

    mv_archive *ar;
    const mv_sync_options *opt;
    const mv_account *acct;
    mv_sync_folder *rep;
    int64_t account, mailbox, run;
    mv_blob_codec *codec;
    mv_run_counts counts;
    mv_sync_progress progress;

    mv_pop3_msg *msgs; /* the listing, by number */
    size_t nmsgs;
    mv_pop3_known *known; /* the archive's UIDLs, by UIDL */
    size_t nknown;
    mv_pop3_buf lbuf; /* LIST, UIDL and TOP answers */

    /* The message being received. */
    mv_blob_stage *stage;
    unsigned char *buf;
    size_t nbuf;
    int64_t got, expect;
    int start_checked;
    mv_error cb_err;

    /* Fetched, not yet committed: stages and the listing entries they belong to. */
    mv_blob_stage *bstage[MV_POP3_BATCH_MESSAGES];
    size_t bmsg[MV_POP3_BATCH_MESSAGES];
    size_t nbatch;
    int64_t batch_bytes;

    /* Messages that could not be archived this run (UIDLs), and why the first one. */
    char **skipped;
    size_t nskipped;
    mv_error skip_err;
} mv_pop3;

static void mv_pop3_trace(mv_pop3 *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void mv_pop3_trace(mv_pop3 *p, const char *fmt, ...)
{
    if (!p->trace)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "pop3 %s: ", p->where);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static mv_status mv_pop3_nomem(mv_error *err)
{
    return mv_error_set(err, MV_ERR_NOMEM, "out of memory");
}

static double mv_pop3_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* ---------------------------------------------------------------- transfers */

static size_t mv_pop3_write_buf(char *data, size_t size, size_t n, void *ctx)
{
    mv_pop3 *p = ctx;
    mv_pop3_buf *b = &p->lbuf;
    size_t len = size * n, take = len;
    if (b->len + take > b->max) {
        if (!b->truncate) {
            mv_error_set(&p->cb_err, MV_ERR_PROTOCOL, "%s: the server's listing exceeds %d MiB",
                         p->where, MV_POP3_LISTING_MAX / (1024 * 1024));
            return 0;
        }
        take = b->max - b->len;
    }
    if (b->len + take + 1 > b->cap) {
        size_t cap = (b->len + take + 1) * 2;
        if (cap > b->max + 1)
            cap = b->max + 1;
        char *d = realloc(b->data, cap);
        if (d == NULL) {
            mv_pop3_nomem(&p->cb_err);
            return 0;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, take);
    b->len += take;
    b->data[b->len] = '\0';
    return len;
}

/* Empties the buffer: an answer with no lines must not leave the last one's in place. */
static void mv_pop3_buf_reset(mv_pop3_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

/* Dovecot 2.3 does not byte-stuff the first line of a RETR or TOP answer, and libcurl turns
 * the lone leading '.' it then sees into a CR. A message cannot begin with a bare CR (RFC
 * 5322 has no bare CR at all), so a CR not followed by LF in first place is that '.'. */
static void mv_pop3_fix_start(mv_pop3 *p)
{
    if (p->start_checked || p->nbuf < 2)
        return;
    p->start_checked = 1;
    if (p->buf[0] == '\r' && p->buf[1] != '\n')
        p->buf[0] = '.';
}

/* Hands the buffered bytes to the stage but the last `keep`: the end of a message is only
 * known to be its own once the transfer is over (see mv_pop3_finish_message). */
static mv_status mv_pop3_flush(mv_pop3 *p, size_t keep, mv_error *err)
{
    if (p->nbuf <= keep)
        return MV_OK;
    mv_pop3_fix_start(p);
    size_t out = p->nbuf - keep;
    mv_status st = mv_blob_stage_write(p->stage, p->buf, out, err);
    memmove(p->buf, p->buf + out, keep);
    p->nbuf = keep;
    return st;
}

/* RETR bodies go straight into the stage: libcurl calls this about once per line, so bytes
 * gather in a 64 KiB buffer first. */
static size_t mv_pop3_write_stage(char *data, size_t size, size_t n, void *ctx)
{
    mv_pop3 *p = ctx;
    size_t len = size * n;
    p->got += (int64_t)len;
    /* +2: the line end a message without a final newline is given on the wire. */
    if (p->got > p->expect + 2 || p->got > MV_POP3_MESSAGE_MAX) {
        mv_error_set(&p->cb_err, MV_ERR_PROTOCOL,
                     "%s: RETR sent more than the %lld bytes LIST announced", p->where,
                     (long long)p->expect);
        return 0;
    }
    while (len > 0) {
        size_t room = MV_POP3_BUF - p->nbuf, take = len < room ? len : room;
        memcpy(p->buf + p->nbuf, data, take);
        p->nbuf += take;
        data += take;
        len -= take;
        if (p->nbuf == MV_POP3_BUF && mv_pop3_flush(p, 2, &p->cb_err) != MV_OK)
            return 0;
    }
    return size * n;
}

static size_t mv_pop3_write_none(char *data, size_t size, size_t n, void *ctx)
{
    (void)data;
    (void)ctx;
    return size * n;
}

/* During deletion a reconnect would start a session with its own numbering; refusing the
 * socket makes libcurl fail the transfer instead. */
static curl_socket_t mv_pop3_open_socket(void *ctx, curlsocktype purpose, struct curl_sockaddr *a)
{
    mv_pop3 *p = ctx;
    (void)purpose;
    if (p->no_new_connections)
        return CURL_SOCKET_BAD;
    return socket(a->family, a->socktype, a->protocol);
}

typedef size_t (*mv_pop3_sink)(char *, size_t, size_t, void *);

/* One libcurl transfer. num: a message number, or 0 for the mailbox; custom: the command
 * (NULL: LIST for the mailbox, RETR for a message); nobody: a single-line command. */
static CURLcode mv_pop3_perform(mv_pop3 *p, long num, const char *custom, int nobody,
                                mv_pop3_sink sink)
{
    char url[440];
    if (num > 0)
        snprintf(url, sizeof url, "%s%ld", p->base, num);
    else
        snprintf(url, sizeof url, "%s", p->base);
    curl_easy_setopt(p->curl, CURLOPT_URL, url);
    curl_easy_setopt(p->curl, CURLOPT_CUSTOMREQUEST, custom);
    curl_easy_setopt(p->curl, CURLOPT_NOBODY, nobody ? 1L : 0L);
    curl_easy_setopt(p->curl, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(p->curl, CURLOPT_WRITEDATA, p);
    p->curl_error[0] = '\0';
    mv_error_clear(&p->cb_err);
    CURLcode rc = curl_easy_perform(p->curl);
    long connects = 0;
    if (curl_easy_getinfo(p->curl, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK && connects > 0)
        p->session++;
    if (num > 0)
        mv_pop3_trace(p, "%s %ld: %s", custom ? custom : "RETR", num,
                      rc == CURLE_OK ? "ok" : curl_easy_strerror(rc));
    else
        mv_pop3_trace(p, "%s: %s", custom ? custom : "LIST",
                      rc == CURLE_OK ? "ok" : curl_easy_strerror(rc));
    return rc;
}

/* A failed transfer as a status. `what` names the command, for the message. */
static mv_status mv_pop3_fail(mv_pop3 *p, CURLcode rc, const char *what, mv_error *err)
{
    const char *d = p->curl_error[0] ? p->curl_error : curl_easy_strerror(rc);
    if (rc == CURLE_WRITE_ERROR && p->cb_err.status != MV_OK)
        return mv_error_set(err, p->cb_err.status, "%s", p->cb_err.msg);
    switch (rc) {
    case CURLE_LOGIN_DENIED:
    case CURLE_REMOTE_ACCESS_DENIED:
    case CURLE_AUTH_ERROR:
        return mv_error_set(err, MV_ERR_AUTH, "%s: login failed: %s", p->where, d);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
        return mv_error_set(err, MV_ERR_TLS, "%s: TLS failed: %s", p->where, d);
    case CURLE_USE_SSL_FAILED:
        return mv_error_set(err, MV_ERR_TLS,
                            "%s: the server does not offer STARTTLS (STLS), and tls = starttls "
                            "requires it",
                            p->where);
    case CURLE_OPERATION_TIMEDOUT:
        return mv_error_set(err, MV_ERR_TIMEOUT, "%s: no answer to %s within %d s: %s", p->where,
                            what, p->timeout, d);
    case CURLE_WEIRD_SERVER_REPLY:
        /* An -ERR answer, or something that is not POP3 at all (then libcurl says what). */
        return mv_error_set(err, MV_ERR_PROTOCOL, "%s: %s failed: %s", p->where, what,
                            p->curl_error[0] ? p->curl_error : "the server answered -ERR");
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
        return mv_error_set(err, MV_ERR_CONNECT, "%s: cannot connect: %s", p->where, d);
    case CURLE_OUT_OF_MEMORY:
        return mv_pop3_nomem(err);
    default:
        return mv_error_set(err, MV_ERR_CONNECT, "%s: connection lost during %s: %s", p->where,
                            what, d);
    }
}

static int mv_pop3_retryable(mv_status st)
{
    return st == MV_ERR_CONNECT || st == MV_ERR_TIMEOUT;
}

/* ---------------------------------------------------------------- the listing */

static int mv_pop3_cmp_num(const void *a, const void *b)
{
    long x = ((const mv_pop3_msg *)a)->num, y = ((const mv_pop3_msg *)b)->num;
    return x < y ? -1 : x > y;
}

static mv_pop3_msg *mv_pop3_find_num(mv_pop3 *p, long num)
{
    mv_pop3_msg key = {.num = num};
    if (p->nmsgs == 0)
        return NULL;
    return bsearch(&key, p->msgs, p->nmsgs, sizeof *p->msgs, mv_pop3_cmp_num);
}

/* Splits the answer in lines; returns the next line start, or NULL at the end. The line is
 * NUL-terminated in place (without CR LF). */
static char *mv_pop3_next_line(char **cursor)
{
    char *s = *cursor;
    if (s == NULL || *s == '\0')
        return NULL;
    char *nl = strchr(s, '\n');
    if (nl) {
        *nl = '\0';
        *cursor = nl + 1;
    } else {
        *cursor = s + strlen(s);
    }
    size_t len = strlen(s);
    if (len > 0 && s[len - 1] == '\r')
        s[len - 1] = '\0';
    return s;
}

static int mv_pop3_parse_num(const char *s, char **end, long *out)
{
    char *e;
    long v = strtol(s, &e, 10);
    if (e == s || v < 1 || v > MV_POP3_NUM_MAX)
        return -1;
    *end = e;
    *out = v;
    return 0;
}

/* LIST: "N SIZE" per message. */
static mv_status mv_pop3_parse_list(mv_pop3 *p, mv_error *err)
{
    char *cursor = p->lbuf.data, *line;
    size_t cap = 0;
    p->nmsgs = 0;
    while ((line = mv_pop3_next_line(&cursor)) != NULL) {
        if (line[0] == '\0')
            continue;
        char *end;
        long num;
        long long size;
        if (mv_pop3_parse_num(line, &end, &num) || sscanf(end, " %lld", &size) != 1 || size < 0)
            return mv_error_set(err, MV_ERR_PROTOCOL, "%s: malformed LIST line \"%.60s\"", p->where,
                                line);
        if (p->nmsgs == cap) {
            cap = cap ? cap * 2 : 256;
            mv_pop3_msg *v = realloc(p->msgs, cap * sizeof *v);
            if (v == NULL)
                return mv_pop3_nomem(err);
            p->msgs = v;
        }
        mv_pop3_msg *m = &p->msgs[p->nmsgs++];
        memset(m, 0, sizeof *m);
        m->num = num;
        m->size = size;
    }
    if (p->nmsgs > 0)
        qsort(p->msgs, p->nmsgs, sizeof *p->msgs, mv_pop3_cmp_num);
    for (size_t i = 1; i < p->nmsgs; i++)
        if (p->msgs[i].num == p->msgs[i - 1].num)
            return mv_error_set(err, MV_ERR_PROTOCOL, "%s: LIST names message %ld twice", p->where,
                                p->msgs[i].num);
    return MV_OK;
}

/* UIDL: "N UIDL" per message; a UIDL is 1 to 70 characters 0x21-0x7E (RFC 1939). */
static mv_status mv_pop3_parse_uidl(mv_pop3 *p, mv_error *err)
{
    char *cursor = p->lbuf.data, *line;
    while ((line = mv_pop3_next_line(&cursor)) != NULL) {
        if (line[0] == '\0')
            continue;
        char *end;
        long num;
        if (mv_pop3_parse_num(line, &end, &num) || *end != ' ')
            return mv_error_set(err, MV_ERR_PROTOCOL, "%s: malformed UIDL line \"%.60s\"", p->where,
                                line);
        while (*end == ' ')
            end++;
        size_t len = strcspn(end, " ");
        int ok = len >= 1 && len <= MV_POP3_UIDL_MAX && end[len + strspn(end + len, " ")] == '\0';
        for (size_t i = 0; ok && i < len; i++)
            ok = end[i] >= 0x21 && end[i] <= 0x7e;
        if (!ok)
            return mv_error_set(err, MV_ERR_PROTOCOL, "%s: invalid UIDL for message %ld: \"%.80s\"",
                                p->where, num, end);
        mv_pop3_msg *m = mv_pop3_find_num(p, num);
        if (m == NULL || m->has_uidl)
            return mv_error_set(err, MV_ERR_PROTOCOL, "%s: UIDL names message %ld %s", p->where,
                                num, m ? "twice" : "that LIST did not");
        memcpy(m->uidl, end, len);
        m->uidl[len] = '\0';
        m->has_uidl = 1;
    }
    for (size_t i = 0; i < p->nmsgs; i++)
        if (!p->msgs[i].has_uidl)
            return mv_error_set(err, MV_ERR_PROTOCOL,
                                "%s: UIDL gives no identifier for message %ld", p->where,
                                p->msgs[i].num);
    return MV_OK;
}

/* The unfolded, trimmed value of the first header field `name` in the header block h. */
static void mv_pop3_header(const char *h, size_t len, const char *name, char *out, size_t cap)
{
    size_t nlen = strlen(name), i = 0, o = 0;
    out[0] = '\0';
    while (i < len) {
        size_t eol = i;
        while (eol < len && h[eol] != '\n')
            eol++;
        size_t end = eol > i && h[eol - 1] == '\r' ? eol - 1 : eol;
        if (end == i)
            return; /* the blank line: end of the header */
        if (end - i > nlen && h[i + nlen] == ':' && strncasecmp(h + i, name, nlen) == 0) {
            size_t j = i + nlen + 1;
            for (;;) {
                for (; j < end && o + 1 < cap; j++)
                    out[o++] = h[j] == '\t' ? ' ' : h[j];
                i = eol + 1;
                if (i >= len || (h[i] != ' ' && h[i] != '\t'))
                    break;
                for (eol = i; eol < len && h[eol] != '\n'; eol++)
                    ;
                end = eol > i && h[eol - 1] == '\r' ? eol - 1 : eol;
                j = i;
            }
            while (o > 0 && out[o - 1] == ' ')
                o--;
            out[o] = '\0';
            size_t lead = strspn(out, " ");
            memmove(out, out + lead, o - lead + 1);
            return;
        }
        i = eol + 1;
    }
}

typedef struct mv_pop3_ident {
    unsigned char digest[MV_SHA256_LEN];
    size_t index;
} mv_pop3_ident;

static int mv_pop3_cmp_ident(const void *a, const void *b)
{
    const mv_pop3_ident *x = a, *y = b;
    int c = memcmp(x->digest, y->digest, MV_SHA256_LEN);
    return c ? c : x->index < y->index ? -1 : x->index > y->index;
}

/* Without UIDL, a message is known by Message-ID, Date and size: "mv:" + SHA-256 of
 * "Message-ID|Date|size", with "|k" added for the k-th of several alike (k >= 2, in message
 * number order), so identical-looking messages still each get fetched. */
static mv_status mv_pop3_fallback_ids(mv_pop3 *p, int session, mv_error *err)
{
    mv_pop3_ident *ids = calloc(p->nmsgs ? p->nmsgs : 1, sizeof *ids);
    char **keys = calloc(p->nmsgs ? p->nmsgs : 1, sizeof *keys);
    mv_status st = MV_OK;
    if (ids == NULL || keys == NULL) {
        st = mv_pop3_nomem(err);
        goto out;
    }
    for (size_t i = 0; i < p->nmsgs; i++) {
        char cmd[64], msgid[512], date[512], key[1100];
        snprintf(cmd, sizeof cmd, "TOP %ld 0", p->msgs[i].num);
        mv_pop3_buf_reset(&p->lbuf);
        p->lbuf.max = MV_POP3_HEADER_MAX;
        p->lbuf.truncate = 1;
        CURLcode rc = mv_pop3_perform(p, 0, cmd, 0, mv_pop3_write_buf);
        p->lbuf.max = MV_POP3_LISTING_MAX;
        p->lbuf.truncate = 0;
        if (rc != CURLE_OK) {
            st = mv_pop3_fail(p, rc, "TOP", err);
            goto out;
        }
        if (p->session != session)
            goto out; /* the caller sees the new session and lists again */
        const char *h = p->lbuf.data ? p->lbuf.data : "";
        mv_pop3_header(h, p->lbuf.len, "Message-ID", msgid, sizeof msgid);
        mv_pop3_header(h, p->lbuf.len, "Date", date, sizeof date);
        snprintf(key, sizeof key, "%s|%s|%lld", msgid, date, (long long)p->msgs[i].size);
        if ((keys[i] = strdup(key)) == NULL) {
            st = mv_pop3_nomem(err);
            goto out;
        }
        mv_hash_sha256(key, strlen(key), ids[i].digest);
        ids[i].index = i;
    }
    qsort(ids, p->nmsgs, sizeof *ids, mv_pop3_cmp_ident);
    for (size_t i = 0, occurrence = 0; i < p->nmsgs; i++) {
        occurrence = i > 0 && memcmp(ids[i].digest, ids[i - 1].digest, MV_SHA256_LEN) == 0
                         ? occurrence + 1
                         : 0;
        mv_pop3_msg *m = &p->msgs[ids[i].index];
        unsigned char d[MV_SHA256_LEN];
        char key[1150], hex[MV_SHA256_HEX_LEN + 1];
        if (occurrence == 0)
            snprintf(key, sizeof key, "%s", keys[ids[i].index]);
        else
            snprintf(key, sizeof key, "%s|%zu", keys[ids[i].index], occurrence + 1);
        mv_hash_sha256(key, strlen(key), d);
        mv_hash_hex(d, hex);
        snprintf(m->uidl, sizeof m->uidl, "mv:%s", hex);
        m->has_uidl = 1;
    }
out:
    for (size_t i = 0; keys && i < p->nmsgs; i++)
        free(keys[i]);
    free(ids);
    free(keys);
    return st;
}

static int mv_pop3_cmp_uidl_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Two messages under one UIDL would leave one of them unreachable for good. */
static mv_status mv_pop3_check_unique(mv_pop3 *p, mv_error *err)
{
    const char **v = malloc((p->nmsgs ? p->nmsgs : 1) * sizeof *v);
    if (v == NULL)
        return mv_pop3_nomem(err);
    for (size_t i = 0; i < p->nmsgs; i++)
        v[i] = p->msgs[i].uidl;
    qsort(v, p->nmsgs, sizeof *v, mv_pop3_cmp_uidl_ptr);
    mv_status st = MV_OK;
    for (size_t i = 1; i < p->nmsgs && st == MV_OK; i++)
        if (strcmp(v[i], v[i - 1]) == 0)
            st = mv_error_set(err, MV_ERR_PROTOCOL, "%s: two messages have the UIDL \"%s\"",
                              p->where, v[i]);
    free(v);
    return st;
}

/* LIST then UIDL (or TOP per message) in one session. libcurl ends a session with QUIT
 * after any -ERR, so a server that rejects UIDL is listed again, in a new session, the
 * fallback way. */
static mv_status mv_pop3_list(mv_pop3 *p, mv_error *err)
{
    for (int attempt = 0; attempt < MV_POP3_LISTINGS; attempt++) {
        mv_status st;
        mv_pop3_buf_reset(&p->lbuf);
        CURLcode rc = mv_pop3_perform(p, 0, NULL, 0, mv_pop3_write_buf);
        if (rc != CURLE_OK)
            return mv_pop3_fail(p, rc, "LIST", err);
        int session = p->session;
        if ((st = mv_pop3_parse_list(p, err)) != MV_OK)
            return st;
        if (!p->fallback && p->ignore_uidl) {
            mv_pop3_trace(p, "UIDL ignored (MAILVAULT_IGNORE_CAPS)");
            p->fallback = 1;
        }
        if (!p->fallback) {
            mv_pop3_buf_reset(&p->lbuf);
            rc = mv_pop3_perform(p, 0, "UIDL", 0, mv_pop3_write_buf);
            if (rc == CURLE_WEIRD_SERVER_REPLY) {
                mv_pop3_trace(p, "no UIDL: messages are told apart by Message-ID, Date, size");
                p->fallback = 1;
                continue;
            }
            if (rc != CURLE_OK)
                return mv_pop3_fail(p, rc, "UIDL", err);
            if (p->session != session)
                continue;
            if ((st = mv_pop3_parse_uidl(p, err)) != MV_OK)
                return st;
        } else if ((st = mv_pop3_fallback_ids(p, session, err)) != MV_OK) {
            return st;
        }
        if (p->session != session)
            continue;
        if ((st = mv_pop3_check_unique(p, err)) != MV_OK)
            return st;
        p->listing_session = session;
        mv_pop3_trace(p, "%zu messages on the server", p->nmsgs);
        return MV_OK;
    }
    return mv_error_set(err, MV_ERR_CONNECT,
                        "%s: the connection kept being re-established while listing the mailbox",
                        p->where);
}

/* ---------------------------------------------------------------- what the archive holds */

static int mv_pop3_cmp_known(const void *a, const void *b)
{
    return strcmp(((const mv_pop3_known *)a)->uidl, ((const mv_pop3_known *)b)->uidl);
}

static void mv_pop3_free_known(mv_pop3 *p)
{
    for (size_t i = 0; i < p->nknown; i++)
        free(p->known[i].uidl);
    free(p->known);
    p->known = NULL;
    p->nknown = 0;
}

typedef struct mv_pop3_collect {
    mv_pop3 *p;
    size_t cap;
    int failed;
} mv_pop3_collect;

static int mv_pop3_collect_known(void *ctx, const char *uidl, int64_t location, int64_t first_seen,
                                 int expunged)
{
    mv_pop3_collect *c = ctx;
    mv_pop3 *p = c->p;
    (void)location;
    if (p->nknown == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 1024;
        mv_pop3_known *v = realloc(p->known, cap * sizeof *v);
        if (v == NULL) {
            c->failed = 1;
            return 1;
        }
        p->known = v;
        c->cap = cap;
    }
    if ((p->known[p->nknown].uidl = strdup(uidl)) == NULL) {
        c->failed = 1;
        return 1;
    }
    p->known[p->nknown].first_seen = first_seen;
    p->known[p->nknown].expunged = expunged;
    p->nknown++;
    return 0;
}

static mv_pop3_known *mv_pop3_find_known(mv_pop3 *p, const char *uidl)
{
    mv_pop3_known key = {(char *)uidl, 0, 0};
    if (p->nknown == 0)
        return NULL;
    return bsearch(&key, p->known, p->nknown, sizeof *p->known, mv_pop3_cmp_known);
}

/* Reads the archive's UIDLs and marks the listing's messages that are archived. */
static mv_status mv_pop3_load_known(mv_pop3 *p, mv_error *err)
{
    mv_pop3_free_known(p);
    if (p->mailbox) {
        mv_pop3_collect c = {p, 0, 0};
        mv_status st = mv_archive_uidls(p->ar, p->mailbox, mv_pop3_collect_known, &c, err);
        if (c.failed)
            return mv_pop3_nomem(err);
        if (st != MV_OK)
            return st;
    }
    if (p->nknown > 0)
        qsort(p->known, p->nknown, sizeof *p->known, mv_pop3_cmp_known);
    for (size_t i = 0; i < p->nmsgs; i++) {
        const mv_pop3_known *k = mv_pop3_find_known(p, p->msgs[i].uidl);
        p->msgs[i].archived = k != NULL;
        p->msgs[i].first_seen = k ? k->first_seen : 0;
    }
    return MV_OK;
}

static int mv_pop3_count_location(void *ctx, int64_t uid, const char *flags)
{
    (void)uid;
    (void)flags;
    (*(int64_t *)ctx)++;
    return 0;
}

/* Every live location of a POP3 folder has a UIDL. One that does not was filed by an IMAP sync
 * of an account of the same name, and numbers its mail with the server's UIDs: POP3 mail
 * filed there would take UIDs that server has yet to hand out. */
static mv_status mv_pop3_check_folder(mv_pop3 *p, mv_error *err)
{
    mv_mailbox_state ms;
    int64_t live = 0, recorded = 0;
    if (p->mailbox == 0)
        return MV_OK;
    mv_status st = mv_archive_mailbox_state(p->ar, p->mailbox, &ms, err);
    if (st == MV_OK && ms.uidvalidity != 0)
        st = mv_archive_locations(p->ar, p->mailbox, ms.uidvalidity, mv_pop3_count_location, &live,
                                  err);
    if (st != MV_OK)
        return st;
    for (size_t i = 0; i < p->nknown; i++)
        recorded += !p->known[i].expunged;
    if (live > recorded)
        return mv_error_set(err, MV_ERR_CONFIG,
                            "account %s: archive folder %s holds mail synced over IMAP; give the "
                            "POP3 account a folder of its own (folder = ...) or another archive",
                            p->acct->name, p->acct->folder);
    return MV_OK;
}

/* Recorded UIDLs, not yet expunged, that the listing lacks: deleted on the server. Marked
 * (or in a dry run counted) now; the archive keeps them. */
static mv_status mv_pop3_mark_vanished(mv_pop3 *p, mv_error *err)
{
    const char **listed = malloc((p->nmsgs ? p->nmsgs : 1) * sizeof *listed);
    if (listed == NULL)
        return mv_pop3_nomem(err);
    for (size_t i = 0; i < p->nmsgs; i++)
        listed[i] = p->msgs[i].uidl;
    qsort(listed, p->nmsgs, sizeof *listed, mv_pop3_cmp_uidl_ptr);
    mv_status st = MV_OK;
    int64_t gone = 0;
    int open = 0;
    for (size_t i = 0; i < p->nknown && st == MV_OK; i++) {
        const char *u = p->known[i].uidl;
        if (p->known[i].expunged ||
            bsearch(&u, listed, p->nmsgs, sizeof *listed, mv_pop3_cmp_uidl_ptr) != NULL)
            continue;
        if (p->opt->dry_run) {
            gone++;
            continue;
        }
        if (!open && (st = mv_archive_begin(p->ar, err)) == MV_OK)
            open = 1;
        int changed = 0;
        if (st == MV_OK &&
            (st = mv_archive_uidl_expunge(p->ar, p->mailbox, u, &changed, err)) == MV_OK)
            gone += changed;
    }
    if (open && st == MV_OK)
        st = mv_archive_commit(p->ar, err);
    if (open && st != MV_OK)
        mv_archive_rollback(p->ar);
    free(listed);
    if (st != MV_OK)
        return st;
    p->rep->expunged += gone;
    p->counts.expunged += p->opt->dry_run ? 0 : gone;
    if (gone)
        mv_pop3_trace(p, "%lld archived messages are no longer on the server", (long long)gone);
    return MV_OK;
}

/* ---------------------------------------------------------------- fetching */

static int mv_pop3_is_skipped(const mv_pop3 *p, const char *uidl)
{
    for (size_t i = 0; i < p->nskipped; i++)
        if (strcmp(p->skipped[i], uidl) == 0)
            return 1;
    return 0;
}

/* A message that cannot be archived this run: the others still are, and the run reports
 * it. */
static mv_status mv_pop3_skip(mv_pop3 *p, const mv_pop3_msg *m, const mv_error *why, mv_error *err)
{
    if (p->nskipped >= MV_POP3_SKIPPED_MAX)
        return mv_error_set(err, why->status, "%s", why->msg);
    char **v = realloc(p->skipped, (p->nskipped + 1) * sizeof *v);
    if (v == NULL)
        return mv_pop3_nomem(err);
    p->skipped = v;
    if ((v[p->nskipped] = strdup(m->uidl)) == NULL)
        return mv_pop3_nomem(err);
    p->nskipped++;
    mv_error_set(&p->skip_err, why->status, "%s", why->msg);
    mv_pop3_trace(p, "message %ld not archived: %s", m->num, why->msg);
    return MV_OK;
}

static void mv_pop3_drop_stage(mv_pop3 *p)
{
    mv_blob_stage_free(p->stage);
    p->stage = NULL;
    p->nbuf = 0;
}

/* The transfer is over: libcurl has removed the byte-stuffing and given the CR LF that
 * precedes the terminating dot as part of the message (RFC 1939). The message is LIST's
 * size; if it arrived 2 bytes longer, ending in that CR LF, the server had added the line
 * end to a message without a final newline, and those 2 bytes are not the message's. Any
 * other difference means the bytes are not the server's message. */
static mv_status mv_pop3_finish_message(mv_pop3 *p, const mv_pop3_msg *m, mv_error *err)
{
    int64_t got = p->got;
    mv_pop3_fix_start(p);
    if (got == m->size + 2 && p->nbuf >= 2 && memcmp(p->buf + p->nbuf - 2, "\r\n", 2) == 0) {
        p->nbuf -= 2;
        got -= 2;
    }
    if (got != m->size)
        return mv_error_set(err, MV_ERR_PROTOCOL,
                            "%s: message %ld (UIDL %s): RETR gave %lld bytes, LIST announced "
                            "%lld; not archived",
                            p->where, m->num, m->uidl, (long long)p->got, (long long)m->size);
    mv_status st = mv_pop3_flush(p, 0, err);
    if (st == MV_OK)
        st = mv_blob_stage_finish(p->stage, err);
    return st;
}

static void mv_pop3_progress(mv_pop3 *p)
{
    if (p->opt->on_progress)
        p->opt->on_progress(p->opt->ctx, &p->progress);
}

static void mv_pop3_free_batch(mv_pop3 *p)
{
    for (size_t i = 0; i < p->nbatch; i++)
        mv_blob_stage_free(p->bstage[i]);
    p->nbatch = 0;
    p->batch_bytes = 0;
}

/* The fetched messages, their UIDLs and the run's counts so far, in one transaction: a run
 * that dies at any point leaves whole batches and nothing else. */
static mv_status mv_pop3_commit(mv_pop3 *p, mv_error *err)
{
    if (p->nbatch == 0)
        return MV_OK;
    mv_run_counts c = p->counts;
    int64_t added_total = 0;
    mv_status st = mv_archive_begin(p->ar, err);
    if (st != MV_OK)
        return st;
    for (size_t i = 0; i < p->nbatch && st == MV_OK; i++) {
        int64_t id;
        int is_new = 0, added = 0;
        if ((st = mv_blob_stage_store(p->ar, p->bstage[i], &id, &is_new, err)) != MV_OK)
            break;
        st = mv_archive_uidl_put(p->ar, p->mailbox, p->msgs[p->bmsg[i]].uidl, id, "", -1, &added,
                                 err);
        c.messages_new += is_new;
        c.locations_new += added;
        c.bytes += is_new ? mv_blob_stage_size(p->bstage[i]) : 0;
        added_total += added;
    }
    if (st == MV_OK)
        st = mv_archive_run_end(p->ar, p->run, "running", &c, NULL, err);
    if (st == MV_OK)
        st = mv_archive_commit(p->ar, err);
    if (st != MV_OK) {
        mv_archive_rollback(p->ar);
        return st;
    }
    int64_t now = (int64_t)time(NULL);
    for (size_t i = 0; i < p->nbatch; i++) {
        mv_pop3_msg *m = &p->msgs[p->bmsg[i]];
        m->archived = 1;
        m->first_seen = now;
    }
    p->rep->new_messages += added_total;
    p->rep->stored += c.messages_new - p->counts.messages_new;
    p->counts = c;
    mv_pop3_free_batch(p);

    /* A first sync of a big mailbox trains its dictionary early and compresses the rest of
     * the run with it (no stage is open now, so the old codec can go). */
    mv_totals tot;
    mv_error ignored = {0};
    if (mv_archive_totals(p->ar, &tot, &ignored) == MV_OK &&
        mv_archive_training_due(p->ar, tot.messages)) {
        int trained = 0;
        mv_blob_codec *codec;
        if (mv_archive_maybe_train(p->ar, &trained, &ignored) == MV_OK && trained &&
            mv_blob_codec_new(p->ar, &codec, &ignored) == MV_OK) {
            mv_blob_codec_free(p->codec);
            p->codec = codec;
        }
    }
    return MV_OK;
}

/* RETR one message into a stage and queue it for the next commit. */
static mv_status mv_pop3_fetch_one(mv_pop3 *p, size_t index, mv_error *err)
{
    mv_pop3_msg *m = &p->msgs[index];
    mv_status st = mv_blob_stage_begin(p->codec, m->size, &p->stage, err);
    if (st != MV_OK)
        return st;
    p->nbuf = 0;
    p->got = 0;
    p->expect = m->size;
    p->start_checked = 0;
    CURLcode rc = mv_pop3_perform(p, m->num, NULL, 0, mv_pop3_write_stage);
    if (rc != CURLE_OK) {
        mv_pop3_drop_stage(p);
        char what[48];
        snprintf(what, sizeof what, "RETR %ld", m->num);
        st = mv_pop3_fail(p, rc, what, err);
        if (st == MV_ERR_PROTOCOL) {
            /* More bytes than LIST said, or the server refused this message (-ERR): this
             * message only. (After either, libcurl connects anew and the pass relists.) */
            mv_error why = *err;
            mv_error_clear(err);
            return mv_pop3_skip(p, m, &why, err);
        }
        return st;
    }
    if (p->session != p->listing_session) {
        /* libcurl connected again: "m->num" may have named another message there. */
        mv_pop3_drop_stage(p);
        return mv_error_set(err, MV_ERR_CONNECT, "%s: the connection was re-established", p->where);
    }
    mv_error why = {0};
    if ((st = mv_pop3_finish_message(p, m, &why)) != MV_OK) {
        mv_pop3_drop_stage(p);
        if (st != MV_ERR_PROTOCOL)
            return mv_error_set(err, st, "%s", why.msg);
        return mv_pop3_skip(p, m, &why, err);
    }
    int64_t size = mv_blob_stage_size(p->stage);
    p->bstage[p->nbatch] = p->stage;
    p->bmsg[p->nbatch] = index;
    p->nbatch++;
    p->batch_bytes += size;
    p->stage = NULL;
    p->rep->bytes += size;
    p->progress.messages_done++;
    p->progress.bytes_done += size;
    mv_pop3_progress(p);
    if (p->nbatch == MV_POP3_BATCH_MESSAGES || p->batch_bytes >= MV_POP3_BATCH_BYTES)
        return mv_pop3_commit(p, err);
    return MV_OK;
}

/* One pass over the listing: every message not archived and not given up on. */
static mv_status mv_pop3_fetch_pass(mv_pop3 *p, mv_error *err)
{
    for (size_t i = 0; i < p->nmsgs; i++) {
        if (p->msgs[i].archived || mv_pop3_is_skipped(p, p->msgs[i].uidl))
            continue;
        mv_status st = mv_pop3_fetch_one(p, i, err);
        if (st != MV_OK)
            return st;
    }
    return MV_OK;
}

static int64_t mv_pop3_to_fetch(const mv_pop3 *p, int64_t *bytes)
{
    int64_t n = 0, b = 0;
    for (size_t i = 0; i < p->nmsgs; i++)
        if (!p->msgs[i].archived && !mv_pop3_is_skipped(p, p->msgs[i].uidl)) {
            n++;
            b += p->msgs[i].size;
        }
    if (bytes)
        *bytes = b;
    return n;
}

/* Fetches until every listed message is archived. A dropped connection commits what came
 * whole, waits (1, 2, 4 s), lists again and goes on; a link that keeps failing but moves
 * forward each time is followed to the end, one that makes no progress three times is
 * given up. */
static mv_status mv_pop3_fetch(mv_pop3 *p, mv_error *err)
{
    int fails = 0;
    for (int pass = 0; pass < MV_POP3_PASSES; pass++) {
        mv_status st = MV_OK;
        int64_t before = p->counts.locations_new;
        if (pass > 0) {
            sleep(1u << (fails - 1));
            mv_error_clear(err);
            if ((st = mv_pop3_list(p, err)) == MV_OK && (st = mv_pop3_load_known(p, err)) == MV_OK)
                st = mv_pop3_mark_vanished(p, err);
            p->progress.messages_total = p->progress.messages_done + mv_pop3_to_fetch(p, NULL);
        }
        if (st == MV_OK)
            st = mv_pop3_fetch_pass(p, err);
        mv_error cerr = {0};
        mv_status cst = mv_pop3_commit(p, &cerr);
        if (cst != MV_OK)
            return mv_error_reset(err, cst, "%s", cerr.msg);
        if (st == MV_OK)
            return MV_OK;
        if (!mv_pop3_retryable(st))
            return st;
        fails = p->counts.locations_new > before ? 1 : fails + 1;
        if (fails > MV_POP3_RETRIES)
            return st;
        mv_pop3_trace(p, "%s; trying again in %u s", err->msg, 1u << (fails - 1));
    }
    return mv_error_set(err, MV_ERR_CONNECT, "%s: gave up after %d attempts", p->where,
                        MV_POP3_PASSES);
}

/* ---------------------------------------------------------------- deletion */

static int mv_pop3_deletable(const mv_pop3_msg *m, int64_t cutoff)
{
    return m->archived && m->first_seen <= cutoff;
}

/* What we deleted is no longer on the server: its locations say so now rather than at the
 * next run (which would count them as deleted by someone else). */
static mv_status mv_pop3_mark_deleted(mv_pop3 *p, mv_error *err)
{
    int64_t n = 0;
    mv_status st = mv_archive_begin(p->ar, err);
    if (st != MV_OK)
        return st;
    for (size_t i = 0; i < p->nmsgs && st == MV_OK; i++) {
        int changed = 0;
        if (p->msgs[i].deleted && (st = mv_archive_uidl_expunge(p->ar, p->mailbox, p->msgs[i].uidl,
                                                                &changed, err)) == MV_OK)
            n += changed;
    }
    if (st == MV_OK && (st = mv_archive_commit(p->ar, err)) == MV_OK) {
        p->counts.expunged += n;
        return MV_OK;
    }
    mv_archive_rollback(p->ar);
    return st;
}

static mv_status mv_pop3_undo(mv_pop3 *p)
{
    /* Marks are dropped by RSET on a live session; on a dead one the server drops them
     * itself, since POP3 applies deletions only at QUIT. */
    CURLcode rc = mv_pop3_perform(p, 0, "RSET", 1, mv_pop3_write_none);
    return rc == CURLE_OK && p->session == p->listing_session ? MV_OK : MV_ERR_CONNECT;
}

/* DELE every message archived at least delete_after_days ago, then QUIT, which is when the
 * server applies them. Returns after the QUIT (the connection is closed then). */
static mv_status mv_pop3_delete(mv_pop3 *p, mv_error *err)
{
    int64_t cutoff = (int64_t)time(NULL) - (int64_t)p->acct->delete_after_days * 86400;
    size_t n = 0;
    for (size_t i = 0; i < p->nmsgs; i++)
        n += mv_pop3_deletable(&p->msgs[i], cutoff);
    if (n == 0)
        return MV_OK;
    /* The listing must belong to the session the DELEs go to: NOOP finds out whether libcurl
     * has to connect again (an idle server may have hung up while batches committed). */
    CURLcode rc = mv_pop3_perform(p, 0, "NOOP", 1, mv_pop3_write_none);
    if (rc != CURLE_OK)
        return mv_pop3_fail(p, rc, "NOOP", err);
    if (p->session != p->listing_session) {
        mv_status st = mv_pop3_list(p, err);
        if (st == MV_OK)
            st = mv_pop3_load_known(p, err);
        if (st != MV_OK)
            return st;
    }
    p->no_new_connections = 1;
    int64_t marked = 0;
    for (size_t i = 0; i < p->nmsgs; i++) {
        if (!mv_pop3_deletable(&p->msgs[i], cutoff))
            continue;
        char what[48];
        snprintf(what, sizeof what, "DELE %ld", p->msgs[i].num);
        rc = mv_pop3_perform(p, p->msgs[i].num, "DELE", 1, mv_pop3_write_none);
        if (rc == CURLE_OK && p->session == p->listing_session) {
            p->msgs[i].deleted = 1;
            marked++;
            continue;
        }
        mv_status st = rc == CURLE_OK
                           ? mv_error_set(err, MV_ERR_CONNECT,
                                          "%s: the connection was re-established", p->where)
                           : mv_pop3_fail(p, rc, what, err);
        if (marked == 0)
            return st;
        if (rc == CURLE_WEIRD_SERVER_REPLY)
            /* libcurl answers an -ERR by ending the session with QUIT, which applies the
             * deletions already marked; each of those messages is archived. */
            return mv_error_reset(err, st,
                                  "%s: %s refused by the server; libcurl then ended the session "
                                  "with QUIT, so the %lld deletions before it may have been "
                                  "applied (all of those messages are archived)",
                                  p->where, what, (long long)marked);
        char why[MV_ERROR_MSG_MAX];
        snprintf(why, sizeof why, "%s", err->msg);
        if (mv_pop3_undo(p) == MV_OK)
            return mv_error_reset(err, st, "%s; RSET: no message was deleted", why);
        return mv_error_reset(err, st,
                              "%s; the session ended without QUIT, so the server keeps every "
                              "message",
                              why);
    }
    /* QUIT asked for explicitly, rather than left to curl_easy_cleanup, so that the
     * server's answer tells whether the deletions were applied. */
    rc = mv_pop3_perform(p, 0, "QUIT", 1, mv_pop3_write_none);
    if (rc != CURLE_OK || p->session != p->listing_session) {
        mv_error why = {0};
        mv_status st = mv_pop3_fail(p, rc == CURLE_OK ? CURLE_COULDNT_CONNECT : rc, "QUIT", &why);
        return mv_error_set(err, st, "%s; the server may not have applied the %lld deletions",
                            why.msg, (long long)marked);
    }
    p->rep->deleted += marked;
    mv_pop3_trace(p, "%lld messages deleted from the server", (long long)marked);
    return mv_pop3_mark_deleted(p, err);
}

/* ---------------------------------------------------------------- the run */

static mv_status mv_pop3_setup(mv_pop3 *p, mv_error *err)
{
    const mv_account *a = p->acct;
    snprintf(p->where, sizeof p->where, strchr(a->host, ':') ? "[%s]:%d" : "%s:%d", a->host,
             a->port);
    snprintf(p->base, sizeof p->base, "%s://%s/", a->tls == MV_TLS_IMPLICIT ? "pop3s" : "pop3",
             p->where);
    p->buf = malloc(MV_POP3_BUF);
    p->lbuf.max = MV_POP3_LISTING_MAX;
    if ((p->curl = curl_easy_init()) == NULL || p->buf == NULL)
        return mv_pop3_nomem(err);
    CURL *h = p->curl;
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, p->curl_error);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "pop3,pop3s");
#endif
    curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, mv_pop3_open_socket);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, p);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)p->timeout);
    /* The timeout is "seconds without progress": for a response line, and for a body. */
    curl_easy_setopt(h, CURLOPT_SERVER_RESPONSE_TIMEOUT, (long)p->timeout);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)p->timeout);
    curl_easy_setopt(h, CURLOPT_BUFFERSIZE, (long)MV_POP3_BUF);
    curl_easy_setopt(h, CURLOPT_USERNAME, a->user);
    if (p->opt->password)
        curl_easy_setopt(h, CURLOPT_PASSWORD, p->opt->password);
    if (p->opt->bearer)
        curl_easy_setopt(h, CURLOPT_XOAUTH2_BEARER, p->opt->bearer);
    if (a->auth) {
        char opts[64];
        /* libcurl spells a forced APOP "+APOP"; SASL mechanisms go by their names. */
        snprintf(opts, sizeof opts, "AUTH=%s%s", strcasecmp(a->auth, "APOP") == 0 ? "+" : "",
                 a->auth);
        curl_easy_setopt(h, CURLOPT_LOGIN_OPTIONS, opts);
    }
    /* One round trip less per login (RFC 5034 allows the initial response). */
    curl_easy_setopt(h, CURLOPT_SASL_IR, 1L);
    if (a->tls == MV_TLS_STARTTLS)
        curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    if (a->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, a->ca_file);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, a->tls_verify ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, a->tls_verify ? 2L : 0L);
    if (a->proxy)
        curl_easy_setopt(h, CURLOPT_PROXY, a->proxy);
    return MV_OK;
}

/* The account, its folder and the run, created unless this is a dry run. */
static mv_status mv_pop3_open_folder(mv_pop3 *p, mv_error *err)
{
    mv_status st;
    if (p->opt->dry_run) {
        if ((st = mv_archive_account_find(p->ar, p->acct->name, &p->account, err)) == MV_OK &&
            p->account)
            st = mv_archive_mailbox_find(p->ar, p->account, p->acct->folder, &p->mailbox, err);
        return st;
    }
    if ((st = mv_archive_begin(p->ar, err)) != MV_OK)
        return st;
    if ((st = mv_archive_account(p->ar, p->acct->name, "pop3", &p->account, err)) == MV_OK &&
        (st = mv_archive_mailbox(p->ar, p->account, p->acct->folder, 0, &p->mailbox, err)) ==
            MV_OK &&
        (st = mv_archive_run_begin(p->ar, p->account, "sync", &p->run, err)) == MV_OK)
        st = mv_archive_commit(p->ar, err);
    if (st != MV_OK) {
        mv_archive_rollback(p->ar);
        p->run = 0;
        return st;
    }
    return mv_blob_codec_new(p->ar, &p->codec, err);
}

static void mv_pop3_cleanup(mv_pop3 *p)
{
    mv_pop3_drop_stage(p);
    mv_pop3_free_batch(p);
    /* With no DELE pending this says QUIT to a live session, which changes nothing. */
    if (p->curl)
        curl_easy_cleanup(p->curl);
    mv_blob_codec_free(p->codec);
    mv_pop3_free_known(p);
    for (size_t i = 0; i < p->nskipped; i++)
        free(p->skipped[i]);
    free(p->skipped);
    free(p->msgs);
    free(p->lbuf.data);
    free(p->buf);
}

static int mv_pop3_archive_failure(mv_status st)
{
    return st == MV_ERR_ARCHIVE || st == MV_ERR_READONLY || st == MV_ERR_LOCKED ||
           st == MV_ERR_FULL || st == MV_ERR_IO || st == MV_ERR_CORRUPT || st == MV_ERR_NOMEM ||
           st == MV_ERR_INTERNAL;
}

/* The mailbox, once listed: what the archive lacks is fetched, what the server lost is
 * marked, and then what the policy says goes is deleted. */
static mv_status mv_pop3_mailbox(mv_pop3 *p, mv_error *err)
{
    mv_status st;
    if ((st = mv_pop3_open_folder(p, err)) != MV_OK || (st = mv_pop3_load_known(p, err)) != MV_OK ||
        (st = mv_pop3_check_folder(p, err)) != MV_OK ||
        (st = mv_pop3_mark_vanished(p, err)) != MV_OK)
        return st;
    int64_t bytes = 0;
    p->progress.messages_total = mv_pop3_to_fetch(p, &bytes);
    mv_pop3_progress(p);
    int deleting = p->acct->delete_after_days >= 0;
    if (p->opt->dry_run) {
        p->rep->new_messages = p->progress.messages_total;
        p->rep->bytes = bytes;
        if (deleting) {
            /* What a real run would delete: what is archived and old enough, and with N = 0
             * also what it would fetch first. */
            int64_t cutoff = (int64_t)time(NULL) - (int64_t)p->acct->delete_after_days * 86400;
            for (size_t i = 0; i < p->nmsgs; i++)
                p->rep->deleted += mv_pop3_deletable(&p->msgs[i], cutoff) ||
                                   (p->acct->delete_after_days == 0 && !p->msgs[i].archived);
        }
        return MV_OK;
    }
    if ((st = mv_pop3_fetch(p, err)) != MV_OK)
        return st;
    if (p->nskipped > 0)
        /* Deleting is only for runs that archived everything they were meant to. */
        return mv_error_set(err, p->skip_err.status, "%zu message%s not archived%s; first: %s",
                            p->nskipped, p->nskipped == 1 ? "" : "s",
                            deleting ? ", nothing deleted" : "", p->skip_err.msg);
    return deleting ? mv_pop3_delete(p, err) : MV_OK;
}

mv_status mv_pop3_run(mv_archive *ar, const mv_sync_options *opt, mv_sync_report *rep,
                      mv_error *err)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    memset(rep, 0, sizeof *rep);
    const mv_account *a = opt->account;
    if (a->tls == MV_TLS_NONE && !a->allow_plaintext && (opt->password || opt->bearer))
        return mv_error_set(err, MV_ERR_CONFIG,
                            "refusing to send the credentials of %s to %s without TLS "
                            "(tls = none); set allow_plaintext = yes to allow it",
                            a->user, a->host);

    mv_pop3 p = {0};
    p.ar = ar;
    p.opt = opt;
    p.acct = a;
    p.trace = opt->trace;
    p.timeout = a->timeout > 0 ? a->timeout : 60;
    const char *ignore = getenv("MAILVAULT_IGNORE_CAPS");
    p.ignore_uidl = ignore && strstr(ignore, "UIDL") != NULL;
    p.progress.folders_total = 1;

    mv_status st = mv_pop3_setup(&p, err);
    if (st == MV_OK)
        st = mv_pop3_list(&p, err);
    if (st == MV_OK) {
        /* Reached and listed: from here on the mailbox has its line in the report. */
        if ((rep->folders = calloc(1, sizeof *rep->folders)) == NULL ||
            (rep->folders[0].name = strdup(a->folder)) == NULL) {
            free(rep->folders);
            rep->folders = NULL;
            st = mv_pop3_nomem(err);
        } else {
            rep->nfolders = 1;
            p.rep = &rep->folders[0];
            p.rep->uidl_fallback = p.fallback;
            st = mv_pop3_mailbox(&p, err);
            p.rep->status = st;
            if (st != MV_OK)
                snprintf(p.rep->error, sizeof p.rep->error, "%s", err->msg);
            p.rep->uidl_fallback = p.fallback;
            p.progress.folders_done = 1;
            mv_pop3_progress(&p);
        }
    }
    /* As for IMAP: a failed folder is a partial failure, unless the connection, TLS or the
     * login is what failed (or the archive, which stops everything, or the configuration). */
    if (st != MV_OK && rep->nfolders == 1 && !mv_pop3_archive_failure(st) && st != MV_ERR_AUTH &&
        st != MV_ERR_TLS && st != MV_ERR_CONFIG && !mv_pop3_retryable(st))
        st = mv_error_reset(err, MV_ERR_PARTIAL, "1 of 1 folders failed");
    if (p.run) {
        mv_error ignored = {0};
        p.counts.errors = st != MV_OK;
        if (mv_archive_begin(ar, &ignored) == MV_OK) {
            if (mv_archive_run_end(ar, p.run,
                                   st == MV_OK            ? "ok"
                                   : st == MV_ERR_PARTIAL ? "partial"
                                                          : "failed",
                                   &p.counts, st == MV_OK ? NULL : err->msg, &ignored) == MV_OK)
                mv_archive_commit(ar, &ignored);
            else
                mv_archive_rollback(ar);
        }
    }
    mv_pop3_cleanup(&p);
    rep->seconds = mv_pop3_since(&t0);
    if (rep->nfolders == 1)
        rep->folders[0].seconds = rep->seconds;
    return st;
}
