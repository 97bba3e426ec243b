/* mailvault: the configuration file (libinih), and the secrets it points at.
 *
 * Location: --config PATH, else $XDG_CONFIG_HOME/mailvault/config, else
 * ~/.config/mailvault/config. Format:
 *
 *   [general]
 *   archive_dir = ~/.local/share/mailvault   ; where account archives go by default
 *
 *   [account work]
 *   protocol = imap              ; imap (default) | pop3
 *   host = imap.example.com
 *   port = 993                   ; default: 993 imaps, 143 imap, 995 pop3s, 110 pop3
 *   tls = imaps                  ; imaps (default) | starttls | none
 *   user = me@example.com
 *   passcmd = pass show mail/work ; first line of its output is the password
 *   password_env = WORK_PASSWORD ; or: the password is in this environment variable
 *   netrc = yes                  ; or: look host/user up in ~/.netrc (netrc_file = PATH)
 *   password = ...               ; discouraged: plain in the file (a warning if the file is
 *                                ; readable by others)
 *   oauth2_token_cmd = CMD       ; XOAUTH2 / OAUTHBEARER: first line of output is the token
 *   auth = PLAIN                 ; force a mechanism: PLAIN LOGIN CRAM-MD5 XOAUTH2 APOP (POP3)
 *                                ; OAUTHBEARER (default: the best the server offers)
 *   ca_file = /etc/ssl/my-ca.pem ; extra trust anchor
 *   tls_verify = yes             ; no: accept any certificate (an explicit, logged choice)
 *   allow_plaintext = no         ; yes: allow password login without TLS (tls = none)
 *   proxy = socks5h://127.0.0.1:1080
 *   include = *                  ; folder glob patterns, whitespace-separated, "quoted" for
 *   exclude = Trash "Junk Mail"  ; names with spaces; may repeat; exclude wins
 *   archive = /srv/mail/work.sqlite ; this account's archive file
 *   connections = 2              ; parallel IMAP connections (1..16)
 *   timeout = 60                 ; seconds without progress before a connection is dropped
 *   folder = INBOX               ; pop3: the archive folder messages are filed under
 *   delete_after_days = 30       ; pop3: delete from the server N days after archiving
 *
 * Unknown keys and sections are errors (a typo must not silently disable a setting).
 * Keys in [general] other than archive_dir are defaults for every account.
 */
#ifndef MV_CONFIG_H
#define MV_CONFIG_H

#include <stddef.h>

#include "error.h"

typedef enum { MV_PROTO_IMAP, MV_PROTO_POP3 } mv_protocol;
typedef enum { MV_TLS_IMPLICIT, MV_TLS_STARTTLS, MV_TLS_NONE } mv_tls_mode;

typedef struct mv_account {
    const char *name;
    mv_protocol protocol;
    const char *host;
    int port;                  /* resolved default when not given */
    mv_tls_mode tls;
    const char *user;
    const char *passcmd;
    const char *password_env;
    int netrc;                 /* 1: use ~/.netrc or netrc_file */
    const char *netrc_file;
    const char *password;      /* plain in the file */
    const char *oauth2_token_cmd;
    const char *auth;          /* upper-cased SASL mechanism or NULL */
    const char *ca_file;
    int tls_verify;            /* default 1 */
    int allow_plaintext;       /* default 0 */
    const char *proxy;
    const char *const *include; /* NULL-terminated; default {"*"} */
    const char *const *exclude; /* NULL-terminated; default empty */
    const char *archive;       /* expanded path; default <archive_dir>/<name>.sqlite */
    int connections;           /* default 2 */
    int timeout;               /* seconds, default 60 */
    const char *folder;        /* pop3, default "INBOX" */
    int delete_after_days;     /* pop3, default -1 = never */
} mv_account;

typedef struct mv_config mv_config;

/* Called for each warning (e.g. a password in a file others can read); may be NULL. */
typedef void (*mv_config_warn_cb)(void *ctx, const char *message);

/* path NULL: the default location (a missing default file is an empty configuration; a
 * missing explicit path is MV_ERR_CONFIG). Errors name the file and line. data_home is the
 * directory for default archives when [general] archive_dir is absent (the caller passes
 * $XDG_DATA_HOME/mailvault or ~/.local/share/mailvault). */
mv_status mv_config_load(const char *path, const char *data_home, mv_config_warn_cb warn,
                         void *warn_ctx, mv_config **out, mv_error *err);
void mv_config_free(mv_config *c);
const char *mv_config_path(const mv_config *c); /* NULL if no file was read */

size_t mv_config_count(const mv_config *c);
const mv_account *mv_config_account(const mv_config *c, size_t i);
const mv_account *mv_config_find(const mv_config *c, const char *name);

/* The account's password from passcmd (run with /bin/sh -c, output read through a pipe,
 * first line), password_env, netrc or password, in that order of preference. *out is
 * malloc'd; wipe it with mv_config_secret_free. MV_ERR_CONFIG if none is configured or the
 * command fails (the message never contains the secret). */
mv_status mv_config_password(const mv_account *a, char **out, mv_error *err);
/* The OAuth2 bearer token from oauth2_token_cmd. */
mv_status mv_config_oauth2_token(const mv_account *a, char **out, mv_error *err);
void mv_config_secret_free(char *secret);

/* 1 if the folder is selected by the account's include/exclude patterns (fnmatch, where '*'
 * also matches the hierarchy delimiter). */
int mv_config_folder_selected(const mv_account *a, const char *folder);

#endif
