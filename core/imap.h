/* mailvault: an IMAP client connection.
 *
 * libcurl does what it does well — connect, TLS or STARTTLS, certificate checks, proxies,
 * the greeting, CAPABILITY and SASL — through CURLOPT_CONNECT_ONLY. From then on mailvault
 * speaks IMAP itself over curl_easy_send/curl_easy_recv: its own tags, several commands in
 * flight, and the streaming parser of imap_parse.h, so message bodies go straight from the
 * socket into the archive's stages and are never fetched one round trip at a time.
 *
 * A connection is used by one thread at a time. Calls block, with the connection's timeout
 * applied to every wait for the server.
 */
#ifndef MV_IMAP_H
#define MV_IMAP_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "error.h"
#include "imap_parse.h"

typedef struct mv_imap mv_imap;

typedef struct mv_imap_login {
    const char *host;
    int port;
    mv_tls_mode tls;
    const char *user;
    const char *password;  /* NULL with a bearer token */
    const char *bearer;    /* OAuth2 token for XOAUTH2 / OAUTHBEARER */
    const char *mechanism; /* SASL mechanism to insist on, or NULL */
    const char *ca_file;
    int verify; /* certificate verification */
    const char *proxy;
    int allow_plaintext; /* allow credentials over an unencrypted connection */
    int timeout;         /* seconds without progress before giving up */
    int trace;           /* print the conversation (no secrets) to stderr */
} mv_imap_login;

/* Connects and logs in, then learns the server's capabilities. Statuses: MV_ERR_CONNECT,
 * MV_ERR_TLS, MV_ERR_AUTH, MV_ERR_TIMEOUT, MV_ERR_PROTOCOL, MV_ERR_CONFIG (plaintext refused). */
mv_status mv_imap_connect(const mv_imap_login *login, mv_imap **out, mv_error *err);
/* Says LOGOUT (without waiting for the answer) and closes. NULL is fine. */
void mv_imap_close(mv_imap *c);
/* Closes without a word, for connections already in trouble. */
void mv_imap_abort(mv_imap *c);

/* Capability check, case-insensitive ("CONDSTORE", "AUTH=PLAIN"). The CAPABILITY command is
 * sent by mv_imap_connect and its answer awaited here the first time. */
int mv_imap_has(mv_imap *c, const char *capability);
/* ENABLEs an extension (QRESYNC, UTF8=ACCEPT) if offered; 1 when it is on. */
int mv_imap_enable(mv_imap *c, const char *extension, mv_error *err);
int mv_imap_enabled(const mv_imap *c, const char *extension);

/* Where untagged responses and literals go while commands run. The callbacks have the
 * meaning of mv_imap_callbacks in imap_parse.h; any may be NULL. */
typedef struct mv_imap_handler {
    void *ctx;
    mv_status (*on_untagged)(void *ctx, const mv_imap_response *r, mv_error *err);
    int (*on_literal_begin)(void *ctx, const char *key, uint64_t number, uint64_t size,
                            uint64_t *cookie);
    mv_status (*on_literal_data)(void *ctx, const void *data, size_t len, mv_error *err);
    mv_status (*on_literal_end)(void *ctx, mv_error *err);
} mv_imap_handler;
void mv_imap_set_handler(mv_imap *c, const mv_imap_handler *h);

/* Queues a command (without tag or CRLF; build arguments with mv_imap_quote) and returns its
 * tag number. It goes out while the connection waits for anything. */
mv_status mv_imap_send(mv_imap *c, const char *command, unsigned *tag, mv_error *err);

typedef struct mv_imap_result {
    mv_imap_status status; /* OK, NO or BAD */
    char code[64];         /* response code, upper-cased, "" for none */
    int64_t code_num[3];   /* its first numeric arguments ([APPENDUID 38505 3955]), else 0 */
    char text[256];
} mv_imap_result;

/* Reads until the tagged response of `tag` arrives (answers to earlier tags are recorded on
 * the way). The tagged NO or BAD is not an error of this call: look at res->status. */
mv_status mv_imap_wait(mv_imap *c, unsigned tag, mv_imap_result *res, mv_error *err);

/* send + wait; a NO or BAD becomes MV_ERR_PROTOCOL naming the command's verb. */
mv_status mv_imap_run(mv_imap *c, const char *command, mv_imap_result *res, mv_error *err);

/* Where the bytes of an appended message come from: fill buf with up to cap bytes. */
typedef mv_status (*mv_imap_source_cb)(void *ctx, void *buf, size_t cap, size_t *got,
                                       mv_error *err);

/* Sends an APPEND of size bytes (read from source in pieces, so a 50 MB message never sits in
 * memory) to mailbox (as the server spells it: modified UTF-7 unless UTF8=ACCEPT is on), with
 * flags (space-separated, may be empty) and internaldate (-1: the server's time). With
 * LITERAL+ the bytes follow at once and several appends may be in flight; without it the
 * server's continuation is awaited first. Returns once the bytes are queued; the outcome (and
 * the APPENDUID code under UIDPLUS) comes with mv_imap_wait(tag). */
mv_status mv_imap_append(mv_imap *c, const char *mailbox, const char *flags, int64_t internaldate,
                         uint64_t size, mv_imap_source_cb source, void *ctx, unsigned *tag,
                         mv_error *err);

/* Appends s to buf as an IMAP quoted string (names with control characters, which IMAP
 * cannot quote, are refused). Returns the length written or -1 if cap is too small. */
int mv_imap_quote(const char *s, char *buf, size_t cap);

/* Modified UTF-7 mailbox names (RFC 3501 5.1.3) to UTF-8 and back. Return the output length
 * or -1 on invalid input or small cap. */
int mv_imap_utf7_decode(const char *in, char *out, size_t cap);
int mv_imap_utf7_encode(const char *in, char *out, size_t cap);

#endif
