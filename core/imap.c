/* mailvault: an IMAP client connection (see imap.h). */
#include "imap.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#define RECV_BUF (64 * 1024)
#define MAX_PENDING 256
#define MAX_CAPS 128

typedef struct pending {
    unsigned tag;
    int done;
    mv_imap_result res;
} pending;

struct mv_imap {
    CURL *curl;
    curl_socket_t sock;
    mv_imap_parser *parser;
    mv_imap_handler handler;
    char where[300]; /* "host:port", for messages */
    int timeout_ms;
    int trace;
    unsigned next_tag;
    pending pending[MAX_PENDING];
    char *out; /* queued command bytes not yet sent */
    size_t out_len, out_cap, out_sent;
    unsigned char *in;
    char *caps[MAX_CAPS];
    int ncaps;
    char *enabled[16];
    int nenabled;
    int closed; /* the server closed the connection */
    int broken; /* a protocol or I/O error: the connection cannot be trusted */
    char bye[200];
    unsigned cap_tag;      /* the CAPABILITY sent after login, answered or not yet */
    int want_continuation; /* waiting for "+" before sending a literal's bytes */
    /* libcurl writes error details here on any later failure too (curl_easy_recv), so it
     * lives as long as the handle. */
    char curl_error[CURL_ERROR_SIZE];
};

static void trace(mv_imap *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void trace(mv_imap *c, const char *fmt, ...)
{
    if (!c->trace)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "imap %s: ", c->where);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static pending *find_pending(mv_imap *c, unsigned tag)
{
    return &c->pending[tag % MAX_PENDING];
}

static void set_caps(mv_imap *c, const mv_imap_value *list, size_t first)
{
    for (int i = 0; i < c->ncaps; i++)
        free(c->caps[i]);
    c->ncaps = 0;
    for (size_t i = first; list && i < list->n && c->ncaps < MAX_CAPS; i++) {
        const mv_imap_value *v = &list->items[i];
        if (v->type == MV_IMAP_ATOM && (c->caps[c->ncaps] = strdup(v->str)) != NULL)
            c->ncaps++;
    }
}

static void copy_result(mv_imap_result *res, const mv_imap_response *r)
{
    res->status = r->status;
    snprintf(res->code, sizeof res->code, "%s", r->code ? r->code : "");
    memset(res->code_num, 0, sizeof res->code_num);
    for (size_t i = 0;
         r->code_args && r->code_args->type == MV_IMAP_LIST && i < 3 && i < r->code_args->n; i++)
        if (r->code_args->items[i].type == MV_IMAP_NUMBER)
            res->code_num[i] = (int64_t)r->code_args->items[i].num;
    snprintf(res->text, sizeof res->text, "%s", r->text ? r->text : "");
}

static mv_status on_response(void *ctx, const mv_imap_response *r, mv_error *err)
{
    mv_imap *c = ctx;
    if (r->kind == MV_IMAP_RESP_TAGGED) {
        unsigned tag = 0;
        if (r->tag[0] != 'm' || sscanf(r->tag + 1, "%u", &tag) != 1)
            return mv_error_set(err, MV_ERR_PROTOCOL, "%s: answer to a command never sent (%.40s)",
                                c->where, r->tag);
        pending *p = find_pending(c, tag);
        if (p->tag != tag || p->done)
            return mv_error_set(err, MV_ERR_PROTOCOL, "%s: answer to a command never sent (%.40s)",
                                c->where, r->tag);
        p->done = 1;
        copy_result(&p->res, r);
        trace(c, "S: %s %s %s%s%s%s", r->tag,
              r->status == MV_IMAP_OK   ? "OK"
              : r->status == MV_IMAP_NO ? "NO"
                                        : "BAD",
              p->res.code[0] ? "[" : "", p->res.code, p->res.code[0] ? "] " : "", p->res.text);
        return MV_OK;
    }
    if (r->kind == MV_IMAP_RESP_CONTINUE) {
        /* Only a synchronizing literal we sent asks for one (mv_imap_append). */
        if (!c->want_continuation)
            return mv_error_set(err, MV_ERR_PROTOCOL, "%s: unexpected continuation request",
                                c->where);
        c->want_continuation = 0;
        return MV_OK;
    }
    /* Untagged. Some we keep for ourselves; the rest is the current handler's. */
    if (r->status == MV_IMAP_BYE) {
        snprintf(c->bye, sizeof c->bye, "%s", r->text ? r->text : "");
        trace(c, "S: * BYE %s", c->bye);
        return MV_OK;
    }
    if (r->code && strcmp(r->code, "CAPABILITY") == 0)
        set_caps(c, r->code_args, 0);
    if (r->keyword && strcmp(r->keyword, "CAPABILITY") == 0) {
        set_caps(c, r->data, 0);
        return MV_OK;
    }
    if (r->keyword && strcmp(r->keyword, "ENABLED") == 0) {
        for (size_t i = 0; i < r->data->n && c->nenabled < 16; i++)
            if (r->data->items[i].type == MV_IMAP_ATOM)
                c->enabled[c->nenabled++] = strdup(r->data->items[i].str);
        return MV_OK;
    }
    if (c->handler.on_untagged)
        return c->handler.on_untagged(c->handler.ctx, r, err);
    return MV_OK;
}

static int on_literal_begin(void *ctx, const char *key, uint64_t number, uint64_t size,
                            uint64_t *cookie)
{
    mv_imap *c = ctx;
    if (c->handler.on_literal_begin)
        return c->handler.on_literal_begin(c->handler.ctx, key, number, size, cookie);
    return 0;
}

static mv_status on_literal_data(void *ctx, const void *data, size_t len, mv_error *err)
{
    mv_imap *c = ctx;
    return c->handler.on_literal_data ? c->handler.on_literal_data(c->handler.ctx, data, len, err)
                                      : MV_OK;
}

static mv_status on_literal_end(void *ctx, mv_error *err)
{
    mv_imap *c = ctx;
    return c->handler.on_literal_end ? c->handler.on_literal_end(c->handler.ctx, err) : MV_OK;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static mv_status conn_error(mv_imap *c, CURLcode rc, const char *what, mv_error *err)
{
    c->broken = 1;
    return mv_error_set(err, MV_ERR_CONNECT, "%s: connection lost while %s (%s)", c->where, what,
                        c->curl_error[0] ? c->curl_error : curl_easy_strerror(rc));
}

/* Sends what is queued as far as the socket takes it. *progress is set when bytes went. */
static mv_status flush_out(mv_imap *c, int *progress, mv_error *err)
{
    while (c->out_sent < c->out_len) {
        size_t n = 0;
        CURLcode rc = curl_easy_send(c->curl, c->out + c->out_sent, c->out_len - c->out_sent, &n);
        if (rc == CURLE_AGAIN)
            return MV_OK;
        if (rc != CURLE_OK)
            return conn_error(c, rc, "sending", err);
        c->out_sent += n;
        *progress = 1;
    }
    c->out_len = c->out_sent = 0;
    return MV_OK;
}

/* Reads everything available and feeds the parser. TLS may hold decrypted bytes that poll()
 * cannot see, so this always runs before waiting on the socket. */
static mv_status drain_in(mv_imap *c, int *progress, mv_error *err)
{
    for (;;) {
        size_t n = 0;
        CURLcode rc = curl_easy_recv(c->curl, c->in, RECV_BUF, &n);
        if (rc == CURLE_AGAIN)
            return MV_OK;
        if (rc != CURLE_OK)
            return conn_error(c, rc, "reading", err);
        if (n == 0) {
            c->closed = 1;
            return MV_OK;
        }
        *progress = 1;
        mv_status st = mv_imap_parser_feed(c->parser, c->in, n, err);
        if (st != MV_OK) {
            c->broken = 1;
            return st;
        }
    }
}

/* One round of I/O: send, receive, and if neither moved, wait for the socket (at most
 * wait_ms). *progress tells whether anything happened. */
static mv_status pump(mv_imap *c, int wait_ms, int *progress, mv_error *err)
{
    mv_status st;
    *progress = 0;
    if ((st = flush_out(c, progress, err)) != MV_OK)
        return st;
    if ((st = drain_in(c, progress, err)) != MV_OK)
        return st;
    if (*progress || c->closed)
        return MV_OK;
    struct pollfd pfd = {c->sock, POLLIN, 0};
    if (c->out_sent < c->out_len)
        pfd.events |= POLLOUT;
    int r = poll(&pfd, 1, wait_ms);
    if (r < 0 && errno != EINTR) {
        c->broken = 1;
        return mv_error_set(err, MV_ERR_CONNECT, "%s: poll: %s", c->where, strerror(errno));
    }
    return MV_OK;
}

mv_status mv_imap_send(mv_imap *c, const char *command, unsigned *tag, mv_error *err)
{
    if (c->broken || c->closed)
        return mv_error_set(err, MV_ERR_CONNECT, "%s: connection is closed", c->where);
    unsigned t = ++c->next_tag;
    pending *p = find_pending(c, t);
    if (p->tag != 0 && !p->done)
        return mv_error_set(err, MV_ERR_INTERNAL, "%s: too many commands in flight", c->where);
    size_t need = strlen(command) + 16;
    if (c->out_len + need > c->out_cap) {
        size_t cap = (c->out_len + need) * 2;
        char *o = realloc(c->out, cap);
        if (o == NULL)
            return mv_error_set(err, MV_ERR_NOMEM, "out of memory");
        c->out = o;
        c->out_cap = cap;
    }
    c->out_len +=
        (size_t)snprintf(c->out + c->out_len, c->out_cap - c->out_len, "m%u %s\r\n", t, command);
    memset(p, 0, sizeof *p);
    p->tag = t;
    *tag = t;
    trace(c, "C: m%u %s", t, command);
    int progress;
    return flush_out(c, &progress, err);
}

mv_status mv_imap_wait(mv_imap *c, unsigned tag, mv_imap_result *res, mv_error *err)
{
    pending *p = find_pending(c, tag);
    int64_t last = now_ms();
    if (p->tag != tag)
        return mv_error_set(err, MV_ERR_INTERNAL, "%s: waiting for an unknown command", c->where);
    while (!p->done) {
        if (c->broken)
            return mv_error_set(err, MV_ERR_CONNECT, "%s: connection is broken", c->where);
        if (c->closed)
            return mv_error_set(err, MV_ERR_CONNECT, "%s: server closed the connection%s%s",
                                c->where, c->bye[0] ? ": " : "", c->bye);
        int progress;
        int64_t left = c->timeout_ms - (now_ms() - last);
        mv_status st = pump(c, left > 0 ? (int)left : 0, &progress, err);
        if (st != MV_OK)
            return st;
        if (progress)
            last = now_ms();
        else if (now_ms() - last >= c->timeout_ms) {
            c->broken = 1;
            return mv_error_set(err, MV_ERR_TIMEOUT, "%s: no answer from the server for %d s",
                                c->where, c->timeout_ms / 1000);
        }
    }
    if (res)
        *res = p->res;
    p->tag = 0;
    return MV_OK;
}

mv_status mv_imap_run(mv_imap *c, const char *command, mv_imap_result *res, mv_error *err)
{
    unsigned tag = 0;
    mv_imap_result local;
    if (res == NULL)
        res = &local;
    mv_status st = mv_imap_send(c, command, &tag, err);
    if (st == MV_OK)
        st = mv_imap_wait(c, tag, res, err);
    if (st != MV_OK)
        return st;
    if (res->status != MV_IMAP_OK) {
        size_t verb = strcspn(command, " ");
        return mv_error_set(err, MV_ERR_PROTOCOL, "%s: %.*s failed: %s%s%s%s", c->where, (int)verb,
                            command, res->code[0] ? "[" : "", res->code, res->code[0] ? "] " : "",
                            res->text);
    }
    return MV_OK;
}

/* Queues bytes without a tag (a literal's data, its closing CRLF). */
static mv_status queue_raw(mv_imap *c, const void *data, size_t len, mv_error *err)
{
    if (c->out_len + len > c->out_cap) {
        size_t cap = (c->out_len + len) * 2;
        char *o = realloc(c->out, cap);
        if (o == NULL)
            return mv_error_set(err, MV_ERR_NOMEM, "out of memory");
        c->out = o;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    return MV_OK;
}

/* Sends what is queued down to at most keep bytes, reading answers meanwhile: a server
 * busy answering earlier commands must never be left blocked on a full socket while we are
 * blocked writing to it. */
static mv_status drain_out(mv_imap *c, size_t keep, mv_error *err)
{
    int64_t last = now_ms();
    while (c->out_len - c->out_sent > keep) {
        if (c->closed)
            return mv_error_set(err, MV_ERR_CONNECT, "%s: server closed the connection%s%s",
                                c->where, c->bye[0] ? ": " : "", c->bye);
        int progress;
        mv_status st = pump(c, 200, &progress, err);
        if (st != MV_OK)
            return st;
        if (progress)
            last = now_ms();
        else if (now_ms() - last >= c->timeout_ms) {
            c->broken = 1;
            return mv_error_set(err, MV_ERR_TIMEOUT, "%s: the server stopped reading for %d s",
                                c->where, c->timeout_ms / 1000);
        }
    }
    return MV_OK;
}

mv_status mv_imap_append(mv_imap *c, const char *mailbox, const char *flags, int64_t internaldate,
                         uint64_t size, mv_imap_source_cb source, void *ctx, unsigned *tag,
                         mv_error *err)
{
    char q[2048], date[64] = "", cmd[2048 + 512];
    if (mv_imap_quote(mailbox, q, sizeof q) < 0)
        return mv_error_set(err, MV_ERR_USAGE, "folder name cannot be sent: %.100s", mailbox);
    if (internaldate >= 0) {
        time_t t = (time_t)internaldate;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(date, sizeof date, " \"%d-%b-%Y %H:%M:%S +0000\"", &tm);
    }
    /* LITERAL+ (or LITERAL- for literals up to 4 KiB) lets the bytes follow at once, so
     * appends pipeline without a round trip each; otherwise the server's "+" is awaited. */
    int plus = mv_imap_has(c, "LITERAL+") || (mv_imap_has(c, "LITERAL-") && size <= 4096);
    snprintf(cmd, sizeof cmd, "APPEND %s (%s)%s {%llu%s}", q, flags ? flags : "", date,
             (unsigned long long)size, plus ? "+" : "");
    mv_status st;
    if (!plus)
        c->want_continuation = 1;
    if ((st = mv_imap_send(c, cmd, tag, err)) != MV_OK)
        return st;
    if (!plus) {
        /* Until "+" arrives, or the command is refused outright (a tagged NO: the caller
         * sees it through mv_imap_wait). */
        pending *p = find_pending(c, *tag);
        int64_t last = now_ms();
        while (c->want_continuation && !p->done) {
            int progress;
            if ((st = pump(c, 200, &progress, err)) != MV_OK)
                return st;
            if (c->closed)
                return mv_error_set(err, MV_ERR_CONNECT, "%s: server closed the connection",
                                    c->where);
            if (progress)
                last = now_ms();
            else if (now_ms() - last >= c->timeout_ms) {
                c->broken = 1;
                return mv_error_set(err, MV_ERR_TIMEOUT, "%s: no answer to APPEND for %d s",
                                    c->where, c->timeout_ms / 1000);
            }
        }
        c->want_continuation = 0;
        if (p->done)
            return MV_OK; /* refused; nothing of the literal may follow */
    }
    char buf[64 * 1024];
    uint64_t sent = 0;
    while (sent < size) {
        size_t want = size - sent < sizeof buf ? (size_t)(size - sent) : sizeof buf, got = 0;
        if ((st = source(ctx, buf, want, &got, err)) != MV_OK)
            break;
        if (got == 0) {
            /* The literal's length was promised: the connection cannot be saved. */
            st = mv_error_set(err, MV_ERR_INTERNAL, "message shorter than its announced size");
            break;
        }
        if ((st = queue_raw(c, buf, got, err)) != MV_OK ||
            (st = drain_out(c, 256 * 1024, err)) != MV_OK)
            break;
        sent += got;
    }
    if (st != MV_OK) {
        c->broken = 1;
        return st;
    }
    if ((st = queue_raw(c, "\r\n", 2, err)) != MV_OK)
        return st;
    return drain_out(c, 256 * 1024, err);
}

int mv_imap_has(mv_imap *c, const char *capability)
{
    if (c->cap_tag) {
        mv_error ignored = {0};
        mv_imap_result res;
        unsigned tag = c->cap_tag;
        c->cap_tag = 0;
        if (mv_imap_wait(c, tag, &res, &ignored) != MV_OK)
            return 0;
    }
    for (int i = 0; i < c->ncaps; i++)
        if (strcasecmp(c->caps[i], capability) == 0)
            return 1;
    return 0;
}

int mv_imap_enabled(const mv_imap *c, const char *extension)
{
    for (int i = 0; i < c->nenabled; i++)
        if (c->enabled[i] && strcasecmp(c->enabled[i], extension) == 0)
            return 1;
    return 0;
}

int mv_imap_enable(mv_imap *c, const char *extension, mv_error *err)
{
    char cmd[128];
    if (!mv_imap_has(c, extension) || !mv_imap_has(c, "ENABLE"))
        return 0;
    if (mv_imap_enabled(c, extension))
        return 1;
    snprintf(cmd, sizeof cmd, "ENABLE %s", extension);
    mv_imap_result res;
    if (mv_imap_run(c, cmd, &res, err) != MV_OK)
        return 0;
    return mv_imap_enabled(c, extension);
}

void mv_imap_set_handler(mv_imap *c, const mv_imap_handler *h)
{
    if (h)
        c->handler = *h;
    else
        memset(&c->handler, 0, sizeof c->handler);
}

static mv_status map_connect_error(mv_imap *c, CURLcode rc, const char *detail, mv_error *err)
{
    const char *d = detail && detail[0] ? detail : curl_easy_strerror(rc);
    switch (rc) {
    case CURLE_LOGIN_DENIED:
    case CURLE_REMOTE_ACCESS_DENIED:
    case CURLE_AUTH_ERROR:
        return mv_error_set(err, MV_ERR_AUTH, "%s: login failed: %s", c->where, d);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
        return mv_error_set(err, MV_ERR_TLS, "%s: TLS failed: %s", c->where, d);
    case CURLE_USE_SSL_FAILED:
        return mv_error_set(err, MV_ERR_TLS,
                            "%s: the server does not offer STARTTLS, and tls = starttls "
                            "requires it",
                            c->where);
    case CURLE_OPERATION_TIMEDOUT:
        return mv_error_set(err, MV_ERR_TIMEOUT, "%s: timed out connecting: %s", c->where, d);
    case CURLE_WEIRD_SERVER_REPLY:
        return mv_error_set(err, MV_ERR_PROTOCOL, "%s: not an IMAP server: %s", c->where, d);
    default:
        return mv_error_set(err, MV_ERR_CONNECT, "%s: cannot connect: %s", c->where, d);
    }
}

mv_status mv_imap_connect(const mv_imap_login *l, mv_imap **out, mv_error *err)
{
    mv_status st;
    *out = NULL;
    if (l->tls == MV_TLS_NONE && !l->allow_plaintext && (l->password || l->bearer))
        return mv_error_set(err, MV_ERR_CONFIG,
                            "refusing to send the credentials of %s to %s without TLS "
                            "(tls = none); set allow_plaintext = yes to allow it",
                            l->user, l->host);

    mv_imap *c = calloc(1, sizeof *c);
    if (c == NULL)
        return mv_error_set(err, MV_ERR_NOMEM, "out of memory");
    c->sock = CURL_SOCKET_BAD;
    c->timeout_ms = (l->timeout > 0 ? l->timeout : 60) * 1000;
    c->trace = l->trace;
    snprintf(c->where, sizeof c->where, strchr(l->host, ':') ? "[%s]:%d" : "%s:%d", l->host,
             l->port);
    mv_imap_callbacks cb = {c, on_response, on_literal_begin, on_literal_data, on_literal_end};
    c->parser = mv_imap_parser_new(&cb, NULL);
    c->in = malloc(RECV_BUF);
    c->curl = curl_easy_init();
    if (c->parser == NULL || c->in == NULL || c->curl == NULL) {
        mv_imap_abort(c);
        return mv_error_set(err, MV_ERR_NOMEM, "out of memory");
    }

    char url[400];
    const char *detail = c->curl_error;
    snprintf(url, sizeof url, "%s://%s/", l->tls == MV_TLS_IMPLICIT ? "imaps" : "imap", c->where);
    CURL *h = c->curl;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->curl_error);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)(c->timeout_ms / 1000));
    /* libcurl's IMAP login has no timeout of its own in CONNECT_ONLY mode; bound the whole
     * connect phase (TCP, TLS, greeting, CAPABILITY, SASL). */
    curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)(c->timeout_ms / 1000 * 2));
    curl_easy_setopt(h, CURLOPT_USERNAME, l->user);
    if (l->password)
        curl_easy_setopt(h, CURLOPT_PASSWORD, l->password);
    if (l->bearer)
        curl_easy_setopt(h, CURLOPT_XOAUTH2_BEARER, l->bearer);
    if (l->mechanism) {
        char opts[64];
        snprintf(opts, sizeof opts, "AUTH=%s", l->mechanism);
        curl_easy_setopt(h, CURLOPT_LOGIN_OPTIONS, opts);
    }
    if (l->tls == MV_TLS_STARTTLS)
        curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    if (l->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, l->ca_file);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, l->verify ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, l->verify ? 2L : 0L);
    if (l->proxy)
        curl_easy_setopt(h, CURLOPT_PROXY, l->proxy);

    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        st = map_connect_error(c, rc, detail, err);
        mv_imap_abort(c);
        return st;
    }
    if (curl_easy_getinfo(h, CURLINFO_ACTIVESOCKET, &c->sock) != CURLE_OK ||
        c->sock == CURL_SOCKET_BAD) {
        mv_imap_abort(c);
        return mv_error_set(err, MV_ERR_CONNECT, "%s: no socket after connecting", c->where);
    }
    /* Our tags must never collide with the ones libcurl used for the login (A001...). */
    trace(c, "connected and logged in as %s", l->user);
    /* Asked now, awaited only when first needed (mv_imap_has): callers pipeline their first
     * commands behind it and save a round trip. */
    if ((st = mv_imap_send(c, "CAPABILITY", &c->cap_tag, err)) != MV_OK) {
        mv_imap_abort(c);
        return st;
    }
    *out = c;
    return MV_OK;
}

void mv_imap_abort(mv_imap *c)
{
    if (c == NULL)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    mv_imap_parser_free(c->parser);
    for (int i = 0; i < c->ncaps; i++)
        free(c->caps[i]);
    for (int i = 0; i < c->nenabled; i++)
        free(c->enabled[i]);
    free(c->out);
    free(c->in);
    free(c);
}

void mv_imap_close(mv_imap *c)
{
    if (c == NULL)
        return;
    if (!c->broken && !c->closed) {
        mv_error ignored = {0};
        unsigned tag;
        mv_imap_set_handler(c, NULL);
        /* LOGOUT is said, but its answer not awaited: the server logs the session out on
         * receipt, and a no-change run should not pay a round trip to hear "BYE". */
        mv_imap_send(c, "LOGOUT", &tag, &ignored);
    }
    mv_imap_abort(c);
}

int mv_imap_quote(const char *s, char *buf, size_t cap)
{
    size_t n = 0;
    if (cap < 3)
        return -1;
    buf[n++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\r' || *p == '\n')
            return -1;
        if (*p == '"' || *p == '\\') {
            if (n + 2 >= cap)
                return -1;
            buf[n++] = '\\';
        }
        if (n + 1 >= cap)
            return -1;
        buf[n++] = (char)*p;
    }
    if (n + 2 > cap)
        return -1;
    buf[n++] = '"';
    buf[n] = '\0';
    return (int)n;
}

/* --- modified UTF-7 (RFC 3501 5.1.3) --- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int b64val(char ch)
{
    const char *p = ch ? strchr(b64, ch) : NULL;
    return p ? (int)(p - b64) : -1;
}

static int put_utf8(uint32_t cp, char *out, size_t cap, size_t *n)
{
    unsigned char tmp[4];
    size_t len;
    if (cp < 0x80) {
        tmp[0] = (unsigned char)cp;
        len = 1;
    } else if (cp < 0x800) {
        tmp[0] = (unsigned char)(0xc0 | cp >> 6);
        tmp[1] = (unsigned char)(0x80 | (cp & 0x3f));
        len = 2;
    } else if (cp < 0x10000) {
        tmp[0] = (unsigned char)(0xe0 | cp >> 12);
        tmp[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        tmp[2] = (unsigned char)(0x80 | (cp & 0x3f));
        len = 3;
    } else {
        tmp[0] = (unsigned char)(0xf0 | cp >> 18);
        tmp[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
        tmp[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        tmp[3] = (unsigned char)(0x80 | (cp & 0x3f));
        len = 4;
    }
    if (*n + len >= cap)
        return -1;
    memcpy(out + *n, tmp, len);
    *n += len;
    return 0;
}

int mv_imap_utf7_decode(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = in; *p;) {
        unsigned char ch = (unsigned char)*p;
        if (ch < 0x20 || ch > 0x7e)
            return -1; /* raw 8-bit or controls are not modified UTF-7 */
        if (ch != '&') {
            if (n + 1 >= cap)
                return -1;
            out[n++] = (char)ch;
            p++;
            continue;
        }
        p++;
        if (*p == '-') {
            if (n + 1 >= cap)
                return -1;
            out[n++] = '&';
            p++;
            continue;
        }
        uint32_t bits = 0, high = 0;
        int nbits = 0, units = 0;
        for (; *p && *p != '-'; p++) {
            int v = b64val(*p);
            if (v < 0)
                return -1;
            bits = bits << 6 | (uint32_t)v;
            nbits += 6;
            if (nbits >= 16) {
                nbits -= 16;
                uint32_t u = (bits >> nbits) & 0xffff;
                units++;
                if (high) {
                    if (u < 0xdc00 || u > 0xdfff)
                        return -1;
                    if (put_utf8(0x10000 + ((high - 0xd800) << 10) + (u - 0xdc00), out, cap, &n))
                        return -1;
                    high = 0;
                } else if (u >= 0xd800 && u <= 0xdbff) {
                    high = u;
                } else if (u >= 0xdc00 && u <= 0xdfff) {
                    return -1;
                } else {
                    /* Printable ASCII must not be encoded (RFC 3501): reject, so that every
                     * name has exactly one spelling. */
                    if (u >= 0x20 && u <= 0x7e)
                        return -1;
                    if (put_utf8(u, out, cap, &n))
                        return -1;
                }
            }
        }
        if (*p != '-' || units == 0 || high || nbits >= 6 || (bits & ((1u << nbits) - 1)) != 0)
            return -1;
        p++;
    }
    if (n >= cap)
        return -1;
    out[n] = '\0';
    return (int)n;
}

/* Next code point of UTF-8 text, or -1 for invalid input. */
static int32_t next_cp(const unsigned char **pp)
{
    const unsigned char *p = *pp;
    uint32_t cp;
    int extra;
    if (p[0] < 0x80) {
        *pp = p + 1;
        return p[0];
    }
    if ((p[0] & 0xe0) == 0xc0) {
        cp = p[0] & 0x1f;
        extra = 1;
    } else if ((p[0] & 0xf0) == 0xe0) {
        cp = p[0] & 0x0f;
        extra = 2;
    } else if ((p[0] & 0xf8) == 0xf0) {
        cp = p[0] & 0x07;
        extra = 3;
    } else {
        return -1;
    }
    for (int i = 1; i <= extra; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return -1;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    static const uint32_t min[] = {0, 0x80, 0x800, 0x10000};
    if (cp < min[extra] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return -1;
    *pp = p + extra + 1;
    return (int32_t)cp;
}

int mv_imap_utf7_encode(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    const unsigned char *p = (const unsigned char *)in;
    while (*p) {
        if (*p >= 0x20 && *p <= 0x7e) {
            size_t need = *p == '&' ? 2 : 1;
            if (n + need >= cap)
                return -1;
            out[n++] = (char)*p;
            if (*p == '&')
                out[n++] = '-';
            p++;
            continue;
        }
        /* A run of characters outside printable ASCII, as base64 of UTF-16BE. */
        if (n + 1 >= cap)
            return -1;
        out[n++] = '&';
        uint32_t bits = 0;
        int nbits = 0;
        while (*p && (*p < 0x20 || *p > 0x7e)) {
            int32_t cp = next_cp(&p);
            if (cp < 0)
                return -1;
            uint32_t units[2];
            int nu = 0;
            if (cp >= 0x10000) {
                units[nu++] = 0xd800 + (((uint32_t)cp - 0x10000) >> 10);
                units[nu++] = 0xdc00 + (((uint32_t)cp - 0x10000) & 0x3ff);
            } else {
                units[nu++] = (uint32_t)cp;
            }
            for (int i = 0; i < nu; i++) {
                bits = bits << 16 | units[i];
                nbits += 16;
                while (nbits >= 6) {
                    nbits -= 6;
                    if (n + 1 >= cap)
                        return -1;
                    out[n++] = b64[(bits >> nbits) & 0x3f];
                }
            }
        }
        if (nbits > 0) {
            if (n + 1 >= cap)
                return -1;
            out[n++] = b64[(bits << (6 - nbits)) & 0x3f];
        }
        if (n + 1 >= cap)
            return -1;
        out[n++] = '-';
    }
    if (n >= cap)
        return -1;
    out[n] = '\0';
    return (int)n;
}
