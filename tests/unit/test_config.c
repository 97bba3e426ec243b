/* Unit tests for core/config.c: the configuration file, [general] defaults, folder patterns
 * and the secret sources (passcmd, password_env, netrc, password). Every file is written at
 * test time under a fresh mkdtemp() directory; HOME and XDG_CONFIG_HOME are pointed into it
 * where a test depends on them and restored afterwards. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "config_int.h"

#define DATA_HOME "/data/home/mailvault"

typedef struct fixture {
    char dir[256];
    char *home, *xdg; /* saved environment */
} fixture;

typedef struct warnings {
    int n;
    char msg[8][MV_ERROR_MSG_MAX];
} warnings;

/* ---- helpers ---- */

static char *saved_env(const char *name)
{
    const char *v = getenv(name);
    return v ? strdup(v) : NULL;
}

static void restore_env(const char *name, char *v)
{
    if (v)
        setenv(name, v, 1);
    else
        unsetenv(name);
    free(v);
}

static void rmtree(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) < 0)
        return;
    if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *de;
        while (d && (de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            char child[1024];
            snprintf(child, sizeof child, "%s/%s", path, de->d_name);
            rmtree(child);
        }
        if (d)
            closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    if (fx == NULL)
        return -1;
    snprintf(fx->dir, sizeof fx->dir, "/tmp/mv_test_config.XXXXXX");
    if (mkdtemp(fx->dir) == NULL) {
        free(fx);
        return -1;
    }
    fx->home = saved_env("HOME");
    fx->xdg = saved_env("XDG_CONFIG_HOME");
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    restore_env("HOME", fx->home);
    restore_env("XDG_CONFIG_HOME", fx->xdg);
    rmtree(fx->dir);
    free(fx);
    return 0;
}

/* Writes dir/name with the given mode; returns the path in buf. */
static const char *put(const fixture *fx, const char *name, const char *text, mode_t mode,
                       char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", fx->dir, name);
    FILE *f = fopen(buf, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(buf, mode), 0);
    return buf;
}

static void collect_warning(void *ctx, const char *message)
{
    warnings *w = ctx;
    assert_non_null(message);
    assert_null(strchr(message, '\n'));
    if (w->n < 8)
        snprintf(w->msg[w->n], sizeof w->msg[w->n], "%s", message);
    w->n++;
}

/* Loads text as "config" (mode 0600) and expects success. */
static mv_config *load_ok(const fixture *fx, const char *text, warnings *w)
{
    char path[512];
    mv_config *c = NULL;
    mv_error err = {0};
    put(fx, "config", text, 0600, path, sizeof path);
    mv_status st = mv_config_load(path, DATA_HOME, w ? collect_warning : NULL, w, &c, &err);
    if (st != MV_OK)
        fail_msg("load failed: %s", err.msg);
    assert_non_null(c);
    assert_string_equal(mv_config_path(c), path);
    return c;
}

/* Loads text and expects MV_ERR_CONFIG with a message containing want, in which "@" stands
 * for the file's path. */
static void load_fails(const fixture *fx, const char *text, const char *want)
{
    char path[512], expect[1024];
    mv_config *c = (mv_config *)1;
    mv_error err = {0};
    warnings w = {0};
    put(fx, "config", text, 0600, path, sizeof path);
    mv_status st = mv_config_load(path, DATA_HOME, collect_warning, &w, &c, &err);
    size_t n = 0;
    for (const char *p = want; *p && n + 1 < sizeof expect; p++) {
        if (*p == '@') {
            n += (size_t)snprintf(expect + n, sizeof expect - n, "%s", path);
            continue;
        }
        expect[n++] = *p;
    }
    expect[n] = '\0';
    if (st != MV_ERR_CONFIG || strstr(err.msg, expect) == NULL)
        fail_msg("config:\n%s\nstatus %d, message \"%s\"; wanted \"%s\"", text, st, err.msg,
                 expect);
    assert_int_equal(err.status, MV_ERR_CONFIG);
    assert_null(c);
    assert_null(strchr(err.msg, '\n'));
    assert_int_equal(w.n, 0);
}

static size_t list_len(const char *const *l)
{
    size_t n = 0;
    while (l[n])
        n++;
    return n;
}

/* ---- the file ---- */

static void test_full_example(void **state)
{
    fixture *fx = *state;
    warnings w = {0};
    char text[2048];
    setenv("HOME", "/home/tester", 1);
    snprintf(text, sizeof text,
             "[general]\n"
             "archive_dir = ~/mv\n"
             "\n"
             "[account work]\n"
             "protocol = imap\n"
             "host = imap.example.com\n"
             "port = 1993\n"
             "tls = starttls\n"
             "user = me@example.com\n"
             "passcmd = pass show mail/work\n"
             "password_env = WORK_PASSWORD\n"
             "netrc = yes\n"
             "netrc_file = ~/.netrc-mail\n"
             "password = hunter2\n"
             "oauth2_token_cmd = oama access me@example.com\n"
             "auth = xoauth2\n"
             "ca_file = ~/ca/my-ca.pem\n"
             "tls_verify = off\n"
             "allow_plaintext = true\n"
             "proxy = socks5h://127.0.0.1:1080\n"
             "include = INBOX \"Sent Items\"\n"
             "exclude = Trash \"Junk Mail\"\n"
             "archive = ~/srv/work.sqlite\n"
             "connections = 16\n"
             "timeout = 3600\n"
             "folder = Received\n"
             "delete_after_days = 0\n");
    mv_config *c = load_ok(fx, text, &w);
    assert_int_equal(mv_config_count(c), 1);
    const mv_account *a = mv_config_account(c, 0);
    assert_non_null(a);
    assert_ptr_equal(mv_config_find(c, "work"), a);
    assert_string_equal(a->name, "work");
    assert_int_equal(a->protocol, MV_PROTO_IMAP);
    assert_string_equal(a->host, "imap.example.com");
    assert_int_equal(a->port, 1993);
    assert_int_equal(a->tls, MV_TLS_STARTTLS);
    assert_string_equal(a->user, "me@example.com");
    assert_string_equal(a->passcmd, "pass show mail/work");
    assert_string_equal(a->password_env, "WORK_PASSWORD");
    assert_int_equal(a->netrc, 1);
    assert_string_equal(a->netrc_file, "/home/tester/.netrc-mail");
    assert_string_equal(a->password, "hunter2");
    assert_string_equal(a->oauth2_token_cmd, "oama access me@example.com");
    assert_string_equal(a->auth, "XOAUTH2");
    assert_string_equal(a->ca_file, "/home/tester/ca/my-ca.pem");
    assert_int_equal(a->tls_verify, 0);
    assert_int_equal(a->allow_plaintext, 1);
    assert_string_equal(a->proxy, "socks5h://127.0.0.1:1080");
    assert_int_equal(list_len(a->include), 2);
    assert_string_equal(a->include[0], "INBOX");
    assert_string_equal(a->include[1], "Sent Items");
    assert_int_equal(list_len(a->exclude), 2);
    assert_string_equal(a->exclude[0], "Trash");
    assert_string_equal(a->exclude[1], "Junk Mail");
    assert_string_equal(a->archive, "/home/tester/srv/work.sqlite");
    assert_int_equal(a->connections, 16);
    assert_int_equal(a->timeout, 3600);
    assert_string_equal(a->folder, "Received");
    assert_int_equal(a->delete_after_days, 0);
    assert_null(mv_config_account(c, 1));
    assert_null(mv_config_find(c, "home"));
    /* A password in a 0600 file is not worth a warning; tls_verify = off is. */
    assert_int_equal(w.n, 1);
    assert_string_equal(w.msg[0], "certificate verification is off for account work");
    mv_config_free(c);
}

static void test_defaults(void **state)
{
    fixture *fx = *state;
    warnings w = {0};
    mv_config *c = load_ok(fx,
                           "[account min]\nhost = h1\nuser = u1\n"
                           "[account imap-starttls]\nhost = h\nuser = u\ntls = starttls\n"
                           "[account imap-none]\nhost = h\nuser = u\ntls = none\n"
                           "[account pop]\nprotocol = pop3\nhost = h\nuser = u\n"
                           "[account pop-starttls]\nprotocol = POP3\nhost = h\nuser = u\n"
                           "tls = starttls\n"
                           "[account pop-plain]\nprotocol = pop3\nhost = h\nuser = u\n"
                           "tls = plain\n"
                           "[account pop-ssl]\nprotocol = pop3\nhost = h\nuser = u\ntls = ssl\n",
                           &w);
    assert_int_equal(mv_config_count(c), 7);
    const mv_account *a = mv_config_find(c, "min");
    assert_non_null(a);
    assert_string_equal(a->name, "min");
    assert_int_equal(a->protocol, MV_PROTO_IMAP);
    assert_string_equal(a->host, "h1");
    assert_string_equal(a->user, "u1");
    assert_int_equal(a->port, 993);
    assert_int_equal(a->tls, MV_TLS_IMPLICIT);
    assert_null(a->passcmd);
    assert_null(a->password_env);
    assert_int_equal(a->netrc, 0);
    assert_null(a->netrc_file);
    assert_null(a->password);
    assert_null(a->oauth2_token_cmd);
    assert_null(a->auth);
    assert_null(a->ca_file);
    assert_int_equal(a->tls_verify, 1);
    assert_int_equal(a->allow_plaintext, 0);
    assert_null(a->proxy);
    assert_int_equal(list_len(a->include), 1);
    assert_string_equal(a->include[0], "*");
    assert_int_equal(list_len(a->exclude), 0);
    assert_string_equal(a->archive, DATA_HOME "/min.sqlite");
    assert_int_equal(a->connections, 2);
    assert_int_equal(a->timeout, 60);
    assert_string_equal(a->folder, "INBOX");
    assert_int_equal(a->delete_after_days, -1);

    static const struct {
        const char *name;
        int port;
        mv_protocol proto;
        mv_tls_mode tls;
    } ports[] = {
        {"imap-starttls", 143, MV_PROTO_IMAP, MV_TLS_STARTTLS},
        {"imap-none", 143, MV_PROTO_IMAP, MV_TLS_NONE},
        {"pop", 995, MV_PROTO_POP3, MV_TLS_IMPLICIT},
        {"pop-starttls", 110, MV_PROTO_POP3, MV_TLS_STARTTLS},
        {"pop-plain", 110, MV_PROTO_POP3, MV_TLS_NONE},
        {"pop-ssl", 995, MV_PROTO_POP3, MV_TLS_IMPLICIT},
    };
    for (size_t i = 0; i < sizeof ports / sizeof ports[0]; i++) {
        a = mv_config_find(c, ports[i].name);
        assert_non_null(a);
        assert_int_equal(a->port, ports[i].port);
        assert_int_equal(a->protocol, ports[i].proto);
        assert_int_equal(a->tls, ports[i].tls);
    }
    /* Accounts keep the file's order. */
    assert_string_equal(mv_config_account(c, 0)->name, "min");
    assert_string_equal(mv_config_account(c, 6)->name, "pop-ssl");
    assert_int_equal(w.n, 0);
    mv_config_free(c);
}

static void test_tls_aliases(void **state)
{
    fixture *fx = *state;
    static const struct {
        const char *word;
        mv_tls_mode tls;
    } cases[] = {{"implicit", MV_TLS_IMPLICIT}, {"imaps", MV_TLS_IMPLICIT},
                 {"pop3s", MV_TLS_IMPLICIT},    {"SSL", MV_TLS_IMPLICIT},
                 {"starttls", MV_TLS_STARTTLS}, {"none", MV_TLS_NONE},
                 {"Plain", MV_TLS_NONE}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "[account a]\nhost = h\nuser = u\ntls = %s\n", cases[i].word);
        mv_config *c = load_ok(fx, text, NULL);
        assert_int_equal(mv_config_account(c, 0)->tls, cases[i].tls);
        mv_config_free(c);
    }
    static const char *const yes[] = {"yes", "true", "on", "1", "YES"};
    static const char *const no[] = {"no", "false", "off", "0", "Off"};
    for (size_t i = 0; i < 5; i++) {
        char text[256];
        snprintf(text, sizeof text,
                 "[account a]\nhost = h\nuser = u\nallow_plaintext = %s\nnetrc = %s\n", yes[i],
                 no[i]);
        mv_config *c = load_ok(fx, text, NULL);
        assert_int_equal(mv_config_account(c, 0)->allow_plaintext, 1);
        assert_int_equal(mv_config_account(c, 0)->netrc, 0);
        mv_config_free(c);
    }
    static const char *const mechs[] = {"plain",   "Login",       "cram-md5",
                                        "XOAUTH2", "oauthbearer", "apop"};
    static const char *const upper[] = {"PLAIN",   "LOGIN",       "CRAM-MD5",
                                        "XOAUTH2", "OAUTHBEARER", "APOP"};
    for (size_t i = 0; i < 6; i++) {
        char text[256];
        snprintf(text, sizeof text, "[account a]\nhost = h\nuser = u\nauth = %s\n", mechs[i]);
        mv_config *c = load_ok(fx, text, NULL);
        assert_string_equal(mv_config_account(c, 0)->auth, upper[i]);
        mv_config_free(c);
    }
}

static void test_general_defaults(void **state)
{
    fixture *fx = *state;
    warnings w = {0};
    setenv("HOME", "/home/tester", 1);
    mv_config *c = load_ok(fx,
                           "[account a]\n"
                           "host = imap.a.example\n"
                           "timeout = 5\n"
                           "exclude =\n"
                           "proxy =\n"
                           "\n"
                           "[account b]\n"
                           "host = imap.b.example\n"
                           "user = bob\n"
                           "password_env = B_PASSWORD\n"
                           "archive = /srv/b.sqlite\n"
                           "\n"
                           "; [general] may come last; its keys still apply to every account.\n"
                           "[general]\n"
                           "archive_dir = ~/archives/\n"
                           "user = shared@example.com\n"
                           "timeout = 30\n"
                           "connections = 4\n"
                           "passcmd = pass show shared\n"
                           "proxy = http://proxy:3128\n"
                           "exclude = Trash\n"
                           "include = INBOX Lists/*\n"
                           "tls = starttls\n",
                           &w);
    assert_int_equal(mv_config_count(c), 2);
    const mv_account *a = mv_config_find(c, "a");
    const mv_account *b = mv_config_find(c, "b");
    assert_non_null(a);
    assert_non_null(b);

    assert_string_equal(a->user, "shared@example.com");
    assert_int_equal(a->timeout, 5);
    assert_int_equal(a->connections, 4);
    assert_string_equal(a->passcmd, "pass show shared");
    /* "key =" in an account means "none", overriding [general]. */
    assert_null(a->proxy);
    assert_int_equal(list_len(a->exclude), 0);
    assert_int_equal(list_len(a->include), 2);
    assert_string_equal(a->include[0], "INBOX");
    assert_string_equal(a->include[1], "Lists/*");
    assert_int_equal(a->tls, MV_TLS_STARTTLS);
    assert_int_equal(a->port, 143);
    assert_string_equal(a->archive, "/home/tester/archives/a.sqlite");

    assert_string_equal(b->user, "bob");
    assert_int_equal(b->timeout, 30);
    assert_string_equal(b->proxy, "http://proxy:3128");
    assert_int_equal(list_len(b->exclude), 1);
    assert_string_equal(b->exclude[0], "Trash");
    /* An account that names its own password source inherits none from [general]:
     * passcmd would otherwise always win over b's password_env. */
    assert_null(b->passcmd);
    assert_string_equal(b->password_env, "B_PASSWORD");
    assert_string_equal(b->archive, "/srv/b.sqlite");
    assert_int_equal(w.n, 0);
    mv_config_free(c);
}

/* What Debian's libinih does with comments, '=' and '#' in values; the example files
 * document exactly this. */
static void test_comments_and_syntax(void **state)
{
    fixture *fx = *state;
    mv_config *c = load_ok(fx,
                           "\xEF\xBB\xBF# a comment line\r\n"
                           "; another comment line\r\n"
                           "[account  spaced name ] ; a comment after a header\r\n"
                           "host = imap.example.com ; an inline comment\r\n"
                           "user: me@example.com\r\n"
                           "passcmd = printf 'a=b#c;d'\r\n"
                           "password_env = PW#1\r\n"
                           "    proxy = http://indented.example\r\n"
                           "\t folder = A;B\r\n"
                           "oauth2_token_cmd = tok # not a comment\r\n",
                           NULL);
    const mv_account *a = mv_config_account(c, 0);
    assert_non_null(a);
    assert_string_equal(a->name, "spaced name");
    assert_string_equal(a->host, "imap.example.com");
    assert_string_equal(a->user, "me@example.com");
    assert_string_equal(a->passcmd, "printf 'a=b#c;d'");
    assert_string_equal(a->password_env, "PW#1");
    /* No continuation lines: an indented line is a key of its own. */
    assert_string_equal(a->proxy, "http://indented.example");
    assert_string_equal(a->folder, "A;B");
    assert_string_equal(a->oauth2_token_cmd, "tok # not a comment");
    assert_string_equal(a->archive, DATA_HOME "/spaced name.sqlite");
    mv_config_free(c);

    /* The longest line libinih can take whole (198 characters) loads; one more is an
     * error rather than two half lines. */
    char text[512];
    int n = snprintf(text, sizeof text, "[account a]\nhost = h\nuser = u\npasscmd = ");
    size_t prefix = strlen("passcmd = ");
    memset(text + n, 'x', 198 - prefix);
    snprintf(text + n + (198 - prefix), sizeof text - (size_t)n - (198 - prefix), "\n");
    c = load_ok(fx, text, NULL);
    assert_int_equal(strlen(mv_config_account(c, 0)->passcmd), 198 - prefix);
    mv_config_free(c);
    n = snprintf(text, sizeof text, "[account a]\nhost = h\nuser = u\npasscmd = ");
    memset(text + n, 'x', 199 - prefix);
    snprintf(text + n + (199 - prefix), sizeof text - (size_t)n - (199 - prefix),
             "\nhost = injected\n");
    load_fails(fx, text, "line @:4 is too long (the limit is 198 characters)");
}

static void test_errors(void **state)
{
    fixture *fx = *state;
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"[account work]\nhost = h\nuser = u\n\npasword = x\n",
         "unknown key 'pasword' in [account work] at @:5"},
        {"[general]\ntimeout = 5\nverbose = yes\n", "unknown key 'verbose' in [general] at @:3"},
        {"[account a]\nhost = h\nuser = u\n[acount b]\nhost = h\n",
         "unknown section '[acount b]' at @:4"},
        {"[account a]\nhost = h\nuser = u\n[options]\n", "unknown section '[options]' at @:4"},
        {"host = h\n[account a]\n", "key 'host' at @:1 is outside any [section]"},
        {"[account a]\nhost = h\nuser = u\nprotocol = smtp\n",
         "bad value 'smtp' for 'protocol' in [account a] at @:4 (expected imap or pop3)"},
        {"[account a]\nhost = h\nuser = u\ntls = yes\n",
         "bad value 'yes' for 'tls' in [account a] at @:4 (expected imaps, starttls or none)"},
        {"[account a]\nhost = h\nuser = u\nport = 0\n",
         "bad value '0' for 'port' in [account a] at @:4 (expected a number from 1 to 65535)"},
        {"[account a]\nhost = h\nuser = u\nport = 65536\n",
         "bad value '65536' for 'port' in [account a] at @:4"},
        {"[account a]\nhost = h\nuser = u\nport = 0x3e1\n",
         "bad value '0x3e1' for 'port' in [account a] at @:4"},
        {"[account a]\nhost = h\nuser = u\nport = +993\n",
         "bad value '+993' for 'port' in [account a] at @:4"},
        {"[account a]\nhost = h\nuser = u\nport =\n", "bad value '' for 'port' in [account a]"},
        {"[account a]\nhost = h\nuser = u\nport = 99999999999999999999\n",
         "bad value '99999999999999999999' for 'port'"},
        {"[account a]\nhost = h\nuser = u\ntls_verify = maybe\n",
         "bad value 'maybe' for 'tls_verify' in [account a] at @:4 (expected yes or no)"},
        {"[account a]\nhost = h\nuser = u\nallow_plaintext = 2\n",
         "bad value '2' for 'allow_plaintext' in [account a] at @:4"},
        {"[account a]\nhost = h\nuser = u\nnetrc = y\n",
         "bad value 'y' for 'netrc' in [account a] at @:4"},
        {"[account a]\nhost = h\nuser = u\nconnections = 0\n",
         "bad value '0' for 'connections' in [account a] at @:4 (expected a number from 1 to "
         "16)"},
        {"[account a]\nhost = h\nuser = u\nconnections = 17\n",
         "bad value '17' for 'connections' in [account a] at @:4"},
        {"[account a]\nhost = h\nuser = u\ntimeout = 0\n",
         "bad value '0' for 'timeout' in [account a] at @:4 (expected a number from 1 to 3600)"},
        {"[account a]\nhost = h\nuser = u\ntimeout = 3601\n",
         "bad value '3601' for 'timeout' in [account a] at @:4"},
        {"[account a]\nhost = h\nuser = u\ndelete_after_days = -1\n",
         "bad value '-1' for 'delete_after_days' in [account a] at @:4 (expected a number from "
         "0 to 36500)"},
        {"[account a]\nhost = h\nuser = u\ndelete_after_days = soon\n",
         "bad value 'soon' for 'delete_after_days' in [account a] at @:4"},
        {"[account a]\nhost = h\nuser = u\nauth = GSSAPI\n",
         "bad value 'GSSAPI' for 'auth' in [account a] at @:4 (expected PLAIN, LOGIN, CRAM-MD5, "
         "XOAUTH2, OAUTHBEARER or APOP (POP3))"},
        {"[general]\nconnections = many\n[account a]\nhost = h\nuser = u\n",
         "bad value 'many' for 'connections' in [general] at @:2"},
        {"[account a]\nuser = u\n[account b]\nhost = h\nuser = u\n",
         "missing 'host' in [account a] at @:1"},
        {"[account a]\nhost = h\nuser = u\n\n[account b]\nhost = h\n",
         "missing 'user' in [account b] at @:5"},
        {"[account a]\n", "missing 'host' in [account a] at @:1"},
        {"[account a]\nhost = h\nuser = u\n[account a]\nhost = h2\n",
         "duplicate account 'a' at @:4 (first at line 1)"},
        {"[account a]\nhost = h\nuser = u\n[account b]\n[account  a ]\n",
         "duplicate account 'a' at @:5 (first at line 1)"},
        {"[account a]\nhost = h\nuser = u\nhost = h2\n",
         "duplicate key 'host' in [account a] at @:4 (first set at line 2)"},
        {"[account a]\nhost = h\nuser = u\nexclude = Trash \"Junk Mail\n",
         "unbalanced quote in 'exclude' at @:4"},
        {"[account a]\nhost = h\nuser = u\ninclude = \"a\\\"\n",
         "unbalanced quote in 'include' at @:4"},
        {"[account a]\nhost = h\nuser = u\ninclude =\n",
         "'include' in [account a] at @:4 has no patterns"},
        {"[account]\nhost = h\n", "[account] at @:1 needs a name"},
        {"[account   ]\nhost = h\n", "[account] at @:1 needs a name"},
        {"[account a/b]\nhost = h\n", "account name 'a/b' at @:1 may not contain '/'"},
        {"[account a]\nhost = h\nuser = u\nthis line has no equals sign\n",
         "syntax error at @:4: expected 'key = value' or '[section]'"},
        {"[account a]\nhost = h\nbroken line\nuser = u\nbad = key\n", "syntax error at @:3"},
        {"[account a\nhost = h\n", "syntax error at @:1: a section header needs a ']'"},
        {"[account a ; comment]\nhost = h\n", "syntax error at @:1"},
        /* Only one BOM is skipped (found by fuzzing). */
        {"\xEF\xBB\xBF \xEF\xBB\xBF[general]\ntimeout = 5\n", "syntax error at @:1"},
        {"[account a]\nhost = h\nuser = u\narchive_dir = /x\n",
         "key 'archive_dir' in [account a] at @:4 belongs in [general]"},
        {"[account a]\nhost = h\nuser = u\narchive = ~bob/a.sqlite\n",
         "'archive' at @:4: only ~ and ~/ are expanded, not ~user"},
        {"[account a]\nhost =\nuser = u\n", "empty value for 'host' in [account a] at @:2"},
        {"[account a]\nhost = h\nuser = u\nfolder =  ; nothing\n",
         "empty value for 'folder' in [account a] at @:4"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        load_fails(fx, cases[i].text, cases[i].want);

    /* A NUL byte means the file is not text. */
    char path[512];
    mv_config *c = NULL;
    mv_error err = {0};
    snprintf(path, sizeof path, "%s/nul", fx->dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fwrite("[account a]\nhost = h\0x\nuser = u\n", 1, 32, f);
    fclose(f);
    assert_int_equal(mv_config_load(path, DATA_HOME, NULL, NULL, &c, &err), MV_ERR_CONFIG);
    assert_non_null(strstr(err.msg, ":2 contains a NUL byte"));
    assert_null(c);

    /* HOME unset: a ~ path cannot be expanded. */
    unsetenv("HOME");
    load_fails(fx, "[account a]\nhost = h\nuser = u\nca_file = ~/ca.pem\n",
               "'ca_file' at @:4 starts with ~ but HOME is not set");

    /* Without data_home, an account needs an archive path from somewhere. */
    put(fx, "config", "[account a]\nhost = h\nuser = u\n", 0600, path, sizeof path);
    mv_error_clear(&err);
    assert_int_equal(mv_config_load(path, NULL, NULL, NULL, &c, &err), MV_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "no archive path for [account a]"));
    assert_null(c);
}

static void test_paths(void **state)
{
    fixture *fx = *state;
    char path[512], expect[1024];
    mv_config *c = (mv_config *)1;
    mv_error err = {0};

    /* A missing explicit file is an error naming it. */
    snprintf(path, sizeof path, "%s/nope/config", fx->dir);
    assert_int_equal(mv_config_load(path, DATA_HOME, NULL, NULL, &c, &err), MV_ERR_CONFIG);
    snprintf(expect, sizeof expect, "cannot open %s: No such file or directory", path);
    assert_string_equal(err.msg, expect);
    assert_null(c);

    /* A directory is not a configuration file. */
    mv_error_clear(&err);
    assert_int_equal(mv_config_load(fx->dir, DATA_HOME, NULL, NULL, &c, &err), MV_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "it is a directory"));

    /* The default file missing: an empty configuration. */
    setenv("XDG_CONFIG_HOME", fx->dir, 1);
    mv_error_clear(&err);
    assert_int_equal(mv_config_load(NULL, DATA_HOME, NULL, NULL, &c, &err), MV_OK);
    assert_non_null(c);
    assert_null(mv_config_path(c));
    assert_int_equal(mv_config_count(c), 0);
    assert_null(mv_config_account(c, 0));
    assert_null(mv_config_find(c, "a"));
    mv_config_free(c);

    /* The default file present: $XDG_CONFIG_HOME/mailvault/config. */
    snprintf(path, sizeof path, "%s/mailvault", fx->dir);
    assert_int_equal(mkdir(path, 0700), 0);
    put(fx, "mailvault/config", "[account x]\nhost = h\nuser = u\n", 0600, path, sizeof path);
    assert_int_equal(mv_config_load(NULL, DATA_HOME, NULL, NULL, &c, &err), MV_OK);
    assert_string_equal(mv_config_path(c), path);
    assert_int_equal(mv_config_count(c), 1);
    mv_config_free(c);

    /* Without XDG_CONFIG_HOME: ~/.config/mailvault/config. */
    unsetenv("XDG_CONFIG_HOME");
    setenv("HOME", fx->dir, 1);
    assert_int_equal(mv_config_load(NULL, DATA_HOME, NULL, NULL, &c, &err), MV_OK);
    assert_null(mv_config_path(c));
    assert_int_equal(mv_config_count(c), 0);
    mv_config_free(c);
    snprintf(path, sizeof path, "%s/.config", fx->dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/.config/mailvault", fx->dir);
    assert_int_equal(mkdir(path, 0700), 0);
    put(fx, ".config/mailvault/config", "[account y]\nhost = h\nuser = u\n", 0600, path,
        sizeof path);
    assert_int_equal(mv_config_load(NULL, DATA_HOME, NULL, NULL, &c, &err), MV_OK);
    assert_string_equal(mv_config_path(c), path);
    assert_non_null(mv_config_find(c, "y"));
    mv_config_free(c);
    assert_int_equal(err.status, MV_OK);

    /* ~ expansion in every path key, and "~" alone. */
    setenv("HOME", "/home/t", 1);
    c = load_ok(fx,
                "[general]\narchive_dir = ~\n"
                "[account a]\nhost = h\nuser = u\nca_file = ~/ca.pem\nnetrc_file = ~/n\n"
                "[account b]\nhost = h\nuser = u\narchive = ~/b/b.sqlite\n"
                "[account c]\nhost = h\nuser = u\narchive = rel/~/c.sqlite\n",
                NULL);
    assert_string_equal(mv_config_find(c, "a")->archive, "/home/t/a.sqlite");
    assert_string_equal(mv_config_find(c, "a")->ca_file, "/home/t/ca.pem");
    assert_string_equal(mv_config_find(c, "a")->netrc_file, "/home/t/n");
    assert_string_equal(mv_config_find(c, "b")->archive, "/home/t/b/b.sqlite");
    assert_string_equal(mv_config_find(c, "c")->archive, "rel/~/c.sqlite");
    mv_config_free(c);
}

static void test_patterns(void **state)
{
    fixture *fx = *state;
    mv_config *c = load_ok(fx,
                           "[account a]\nhost = h\nuser = u\n"
                           "include = INBOX \"Junk Mail\" Work/*\n"
                           "include = Lists.* \"say \\\"hi\\\"\" back\\slash a\" \"b\n"
                           "exclude = \"Work/Old *\" *Spam*\n"
                           "exclude = \"\\[Gmail]/All Mail\"\n",
                           NULL);
    const mv_account *a = mv_config_account(c, 0);
    assert_int_equal(list_len(a->include), 7);
    assert_string_equal(a->include[0], "INBOX");
    assert_string_equal(a->include[1], "Junk Mail");
    assert_string_equal(a->include[2], "Work/*");
    assert_string_equal(a->include[3], "Lists.*");
    assert_string_equal(a->include[4], "say \"hi\"");
    assert_string_equal(a->include[5], "back\\slash");
    assert_string_equal(a->include[6], "a b");
    assert_int_equal(list_len(a->exclude), 3);
    assert_string_equal(a->exclude[0], "Work/Old *");
    assert_string_equal(a->exclude[1], "*Spam*");
    assert_string_equal(a->exclude[2], "\\[Gmail]/All Mail");

    assert_int_equal(mv_config_folder_selected(a, "INBOX"), 1);
    assert_int_equal(mv_config_folder_selected(a, "inbox"), 0);
    assert_int_equal(mv_config_folder_selected(a, "Junk Mail"), 1);
    assert_int_equal(mv_config_folder_selected(a, "Junk"), 0);
    /* '*' crosses the hierarchy delimiter and leading dots. */
    assert_int_equal(mv_config_folder_selected(a, "Work/2024/Q1"), 1);
    assert_int_equal(mv_config_folder_selected(a, "Work/.hidden"), 1);
    assert_int_equal(mv_config_folder_selected(a, "Lists.dev.announce"), 1);
    assert_int_equal(mv_config_folder_selected(a, "say \"hi\""), 1);
    assert_int_equal(mv_config_folder_selected(a, "a b"), 1);
    /* The exclude list wins. */
    assert_int_equal(mv_config_folder_selected(a, "Work/Old mail"), 0);
    assert_int_equal(mv_config_folder_selected(a, "Work/Oldies"), 1);
    assert_int_equal(mv_config_folder_selected(a, "Work/Spam"), 0);
    assert_int_equal(mv_config_folder_selected(a, "Sent"), 0);
    assert_int_equal(mv_config_folder_selected(a, ""), 0);
    assert_int_equal(mv_config_folder_selected(a, NULL), 0);
    assert_int_equal(mv_config_folder_selected(NULL, "INBOX"), 0);
    mv_config_free(c);

    /* Default include "*", and "[...]" is a character class unless escaped. */
    c = load_ok(fx,
                "[account g]\nhost = h\nuser = u\n"
                "exclude = \"\\[Gmail]/All Mail\" [Gmail]/Spam\n",
                NULL);
    a = mv_config_account(c, 0);
    assert_int_equal(mv_config_folder_selected(a, "INBOX"), 1);
    assert_int_equal(mv_config_folder_selected(a, "[Gmail]/Sent Mail"), 1);
    assert_int_equal(mv_config_folder_selected(a, "[Gmail]/All Mail"), 0);
    assert_int_equal(mv_config_folder_selected(a, "[Gmail]/Spam"), 1);
    assert_int_equal(mv_config_folder_selected(a, "G/Spam"), 0);
    assert_int_equal(mv_config_folder_selected(a, "a/b/c.d"), 1);
    mv_config_free(c);
}

static void test_warnings(void **state)
{
    fixture *fx = *state;
    char path[512], expect[1024];
    const char *text = "[account a]\nhost = h\nuser = u\npassword = s3cret\n"
                       "[account b]\nhost = h\nuser = u\npassword = other\n";
    mv_config *c = NULL;
    mv_error err = {0};
    warnings w = {0};

    put(fx, "config", text, 0644, path, sizeof path);
    assert_int_equal(mv_config_load(path, DATA_HOME, collect_warning, &w, &c, &err), MV_OK);
    assert_int_equal(w.n, 1);
    snprintf(expect, sizeof expect,
             "%s is readable by other users and holds a password; chmod 600 it", path);
    assert_string_equal(w.msg[0], expect);
    assert_null(strstr(w.msg[0], "s3cret"));
    mv_config_free(c);

    /* Group-readable is enough. */
    memset(&w, 0, sizeof w);
    put(fx, "config", text, 0640, path, sizeof path);
    assert_int_equal(mv_config_load(path, DATA_HOME, collect_warning, &w, &c, &err), MV_OK);
    assert_int_equal(w.n, 1);
    mv_config_free(c);

    memset(&w, 0, sizeof w);
    put(fx, "config", text, 0600, path, sizeof path);
    assert_int_equal(mv_config_load(path, DATA_HOME, collect_warning, &w, &c, &err), MV_OK);
    assert_int_equal(w.n, 0);
    mv_config_free(c);

    /* No password, no warning, whatever the mode; a NULL callback is fine. */
    memset(&w, 0, sizeof w);
    put(fx, "config", "[account a]\nhost = h\nuser = u\npasscmd = true\n", 0644, path, sizeof path);
    assert_int_equal(mv_config_load(path, DATA_HOME, collect_warning, &w, &c, &err), MV_OK);
    assert_int_equal(w.n, 0);
    mv_config_free(c);
    put(fx, "config", text, 0644, path, sizeof path);
    assert_int_equal(mv_config_load(path, DATA_HOME, NULL, NULL, &c, &err), MV_OK);
    mv_config_free(c);

    /* tls_verify = no in [general] reaches every account. */
    memset(&w, 0, sizeof w);
    c = load_ok(fx,
                "[general]\ntls_verify = no\n[account a]\nhost = h\nuser = u\n"
                "[account b]\nhost = h\nuser = u\ntls_verify = yes\n"
                "[account c]\nhost = h\nuser = u\n",
                &w);
    assert_int_equal(w.n, 2);
    assert_string_equal(w.msg[0], "certificate verification is off for account a");
    assert_string_equal(w.msg[1], "certificate verification is off for account c");
    mv_config_free(c);
}

/* ---- secrets ---- */

static mv_config *secret_config(const fixture *fx, const char *keys)
{
    char text[2048];
    snprintf(text, sizeof text, "[account acct]\nhost = imap.example.com\nuser = carol\n%s", keys);
    return load_ok(fx, text, NULL);
}

static void expect_password(const fixture *fx, const char *keys, const char *want)
{
    mv_config *c = secret_config(fx, keys);
    char *pw = (char *)1;
    mv_error err = {0};
    mv_status st = mv_config_password(mv_config_account(c, 0), &pw, &err);
    if (st != MV_OK)
        fail_msg("%s: %s", keys, err.msg);
    assert_string_equal(pw, want);
    mv_config_secret_free(pw);
    mv_config_free(c);
}

/* Expects failure; the message must contain want and none of the secret words. */
static void expect_password_error(const fixture *fx, const char *keys, const char *want)
{
    mv_config *c = secret_config(fx, keys);
    char *pw = (char *)1;
    mv_error err = {0};
    mv_status st = mv_config_password(mv_config_account(c, 0), &pw, &err);
    if (st != MV_ERR_CONFIG || strstr(err.msg, want) == NULL)
        fail_msg("%s: status %d, message \"%s\"; wanted \"%s\"", keys, st, err.msg, want);
    assert_null(pw);
    assert_null(strstr(err.msg, "topsecret"));
    assert_null(strchr(err.msg, '\n'));
    mv_config_free(c);
}

static int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}

static void test_passcmd(void **state)
{
    fixture *fx = *state;
    int fds = count_fds();
    expect_password(fx, "passcmd = printf 'secret\\nsecond\\n'\n", "secret");
    expect_password(fx, "passcmd = printf 'crlf secret\\r\\nmore'\n", "crlf secret");
    expect_password(fx, "passcmd = printf 'no newline'\n", "no newline");
    /* A password may hold '#' and '=' and ';' (after no space). */
    expect_password(fx, "passcmd = echo 'p#w=x;y'\n", "p#w=x;y");
    /* stdin is /dev/null, not the terminal: read gets EOF at once. */
    expect_password(fx, "passcmd = read x; echo \"read status $?\"\n", "read status 1");
    /* passcmd wins over every other source. */
    expect_password(fx, "passcmd = echo fromcmd\npassword = plain\npassword_env = HOME\n",
                    "fromcmd");

    expect_password_error(fx, "passcmd = echo topsecret; exit 3\n",
                          "passcmd for account acct failed (exit status 3)");
    expect_password_error(fx, "passcmd = true\n",
                          "passcmd for account acct failed (its first line of output is empty)");
    expect_password_error(fx, "passcmd = printf '\\ntopsecret\\n'\n",
                          "passcmd for account acct failed (its first line of output is empty)");
    expect_password_error(fx, "passcmd = /nonexistent/helper topsecret\n",
                          "passcmd for account acct failed (exit status 127)");
    expect_password_error(fx, "passcmd = echo topsecret; kill -9 $$\n",
                          "passcmd for account acct failed (killed by signal 9)");
    expect_password_error(fx, "passcmd = head -c 70000 /dev/zero | tr '\\0' x\n",
                          "passcmd for account acct printed more than 64 KiB");
    /* Every pipe end is closed again, on success and on failure. */
    assert_int_equal(count_fds(), fds);
}

static double elapsed_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void test_secret_cmd_timeout(void **state)
{
    (void)state;
    static const char *const cmds[] = {
        /* Silent forever. */
        "exec sleep 100",
        /* A line in time, but no end. */
        "echo topsecret; exec sleep 100",
        /* EOF in time, but the process lives on. */
        "exec >&-; exec sleep 100",
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        struct timespec t0;
        char *out = (char *)1;
        mv_error err = {0};
        clock_gettime(CLOCK_MONOTONIC, &t0);
        mv_status st = mv_config_run_secret_cmd(cmds[i], 300, "passcmd", "slow", &out, &err);
        double secs = elapsed_since(&t0);
        assert_int_equal(st, MV_ERR_CONFIG);
        assert_null(out);
        assert_string_equal(err.msg, "passcmd for account slow timed out after 300 ms");
        assert_true(secs >= 0.25 && secs < 5.0);
    }
    /* The real deadline is reported in seconds. */
    assert_int_equal(MV_CONFIG_CMD_TIMEOUT_MS, 60000);
    char *out = NULL;
    mv_error err = {0};
    assert_int_equal(
        mv_config_run_secret_cmd("exec sleep 100", 1000, "oauth2_token_cmd", "x", &out, &err),
        MV_ERR_CONFIG);
    assert_string_equal(err.msg, "oauth2_token_cmd for account x timed out after 1 s");
}

static void test_oauth2_token(void **state)
{
    fixture *fx = *state;
    mv_config *c = secret_config(fx, "oauth2_token_cmd = printf 'ya29.token\\nrefresh\\n'\n"
                                     "passcmd = echo pw\n");
    char *tok = NULL;
    mv_error err = {0};
    assert_int_equal(mv_config_oauth2_token(mv_config_account(c, 0), &tok, &err), MV_OK);
    assert_string_equal(tok, "ya29.token");
    mv_config_secret_free(tok);
    mv_config_free(c);

    c = secret_config(fx, "oauth2_token_cmd = echo topsecret; exit 2\n");
    tok = (char *)1;
    assert_int_equal(mv_config_oauth2_token(mv_config_account(c, 0), &tok, &err), MV_ERR_CONFIG);
    assert_null(tok);
    assert_string_equal(err.msg, "oauth2_token_cmd for account acct failed (exit status 2)");
    mv_config_free(c);

    c = secret_config(fx, "passcmd = echo pw\n");
    mv_error_clear(&err);
    assert_int_equal(mv_config_oauth2_token(mv_config_account(c, 0), &tok, &err), MV_ERR_CONFIG);
    assert_string_equal(err.msg, "no oauth2_token_cmd configured for account acct");
    mv_config_free(c);
    mv_config_secret_free(NULL);
}

static void test_password_env_and_plain(void **state)
{
    fixture *fx = *state;
    setenv("MV_TEST_PW", "from env", 1);
    expect_password(fx, "password_env = MV_TEST_PW\npassword = plain\n", "from env");
    setenv("MV_TEST_PW", "", 1);
    expect_password_error(fx, "password_env = MV_TEST_PW\n",
                          "environment variable MV_TEST_PW (password_env of account acct) is "
                          "not set or empty");
    unsetenv("MV_TEST_PW");
    expect_password_error(fx, "password_env = MV_TEST_PW\npassword = plain\n",
                          "environment variable MV_TEST_PW");
    expect_password(fx, "password = plain text#1\n", "plain text#1");
    expect_password_error(fx, "",
                          "no password configured for account acct (set passcmd, password_env, "
                          "netrc or password)");
    /* "passcmd =" means none: the plain password is used. */
    expect_password(fx, "passcmd =\npassword = p\n", "p");
}

static void test_netrc(void **state)
{
    fixture *fx = *state;
    char netrc[512], keys[1024];
    put(fx, "netrc",
        "machine other.example login carol password nope\n"
        "machine imap.example.com login alice password alicepw\n"
        "macdef init\n"
        "machine imap.example.com login carol password macropw\n"
        "\n"
        "machine IMAP.example.com\n"
        "    login carol\n"
        "    account ignored\n"
        "    password \"carol pw\\\"x\"\n"
        "machine nologin.example password nologinpw\n"
        "machine nopass.example login carol\n"
        "default login erin password defaultpw\n",
        0600, netrc, sizeof netrc);

    snprintf(keys, sizeof keys, "netrc = yes\nnetrc_file = %s\n", netrc);
    /* The macro body is skipped: its "machine" line is not an entry. */
    expect_password(fx, keys, "carol pw\"x");

    char text[2048];
    static const struct {
        const char *host, *user, *want;
    } cases[] = {
        {"imap.example.com", "alice", "alicepw"},
        {"nologin.example", "anyone", "nologinpw"},
        {"unknown.example", "erin", "defaultpw"},
        {"imap.example.com", "erin", "defaultpw"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(text, sizeof text,
                 "[account n]\nhost = %s\nuser = %s\nnetrc = on\nnetrc_file = %s\n", cases[i].host,
                 cases[i].user, netrc);
        mv_config *c = load_ok(fx, text, NULL);
        char *pw = NULL;
        mv_error err = {0};
        assert_int_equal(mv_config_password(mv_config_account(c, 0), &pw, &err), MV_OK);
        assert_string_equal(pw, cases[i].want);
        mv_config_secret_free(pw);
        mv_config_free(c);
    }

    static const struct {
        const char *host, *user;
    } misses[] = {{"imap.example.com", "dave"}, {"nopass.example", "carol"}};
    for (size_t i = 0; i < sizeof misses / sizeof misses[0]; i++) {
        snprintf(text, sizeof text,
                 "[account n]\nhost = %s\nuser = %s\nnetrc = yes\nnetrc_file = %s\n",
                 misses[i].host, misses[i].user, netrc);
        mv_config *c = load_ok(fx, text, NULL);
        char *pw = (char *)1;
        mv_error err = {0};
        char expect[1024];
        assert_int_equal(mv_config_password(mv_config_account(c, 0), &pw, &err), MV_ERR_CONFIG);
        assert_null(pw);
        snprintf(expect, sizeof expect, "no password for %s@%s in %s", misses[i].user,
                 misses[i].host, netrc);
        assert_string_equal(err.msg, expect);
        mv_config_free(c);
    }

    /* ~/.netrc by default. */
    setenv("HOME", fx->dir, 1);
    put(fx, ".netrc", "machine imap.example.com login carol password homepw\n", 0600, netrc,
        sizeof netrc);
    expect_password(fx, "netrc = yes\n", "homepw");
    /* netrc comes before a plain password, after password_env. */
    expect_password(fx, "netrc = yes\npassword = plain\n", "homepw");
    setenv("MV_TEST_PW", "envpw", 1);
    expect_password(fx, "netrc = yes\npassword_env = MV_TEST_PW\n", "envpw");
    unsetenv("MV_TEST_PW");
    /* A missing file names itself. */
    unlink(netrc);
    expect_password_error(fx, "netrc = yes\n", "cannot open ");
    expect_password_error(fx, "netrc = yes\n", "/.netrc: No such file or directory");
    /* netrc = no: the next source. */
    expect_password(fx, "netrc = no\npassword = plain\n", "plain");
}

/* ---- the shipped examples ---- */

static void test_example_files(void **state)
{
    (void)state;
    char dir[1024];
    /* The examples keep archives under ~; HOME is restored by teardown. */
    setenv("HOME", "/home/example", 1);
    const char *src = getenv("MV_SOURCE_DIR");
    if (src && src[0]) {
        snprintf(dir, sizeof dir, "%s/examples/config", src);
    } else {
        /* tests/unit/test_config.c -> examples/config */
        snprintf(dir, sizeof dir, "%s", __FILE__);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        else
            snprintf(dir, sizeof dir, ".");
        strncat(dir, "/../../examples/config", sizeof dir - strlen(dir) - 1);
    }
    DIR *d = opendir(dir);
    if (d == NULL)
        fail_msg("cannot open %s: %s", dir, strerror(errno));
    struct dirent *de;
    int files = 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char path[2048];
        mv_config *c = NULL;
        mv_error err = {0};
        warnings w = {0};
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (mv_config_load(path, DATA_HOME, collect_warning, &w, &c, &err) != MV_OK)
            fail_msg("%s: %s", path, err.msg);
        assert_true(mv_config_count(c) >= 1);
        /* Examples teach good habits: no plain password, certificates verified. */
        assert_int_equal(w.n, 0);
        for (size_t i = 0; i < mv_config_count(c); i++) {
            const mv_account *a = mv_config_account(c, i);
            assert_non_null(a->host);
            assert_non_null(a->user);
            assert_null(a->password);
            assert_true(a->passcmd || a->password_env || a->netrc || a->oauth2_token_cmd);
        }
        if (strcmp(de->d_name, "gmail-oauth2.conf") == 0) {
            const mv_account *a = mv_config_find(c, "gmail");
            assert_non_null(a);
            assert_string_equal(a->auth, "XOAUTH2");
            assert_int_equal(mv_config_folder_selected(a, "INBOX"), 1);
            assert_int_equal(mv_config_folder_selected(a, "[Gmail]/Sent Mail"), 1);
            assert_int_equal(mv_config_folder_selected(a, "[Gmail]/All Mail"), 0);
            assert_int_equal(mv_config_folder_selected(a, "[Gmail]/Spam"), 0);
            assert_int_equal(mv_config_folder_selected(a, "[Gmail]/Bin"), 0);
        } else if (strcmp(de->d_name, "pop3.conf") == 0) {
            const mv_account *a = mv_config_account(c, 0);
            assert_int_equal(a->protocol, MV_PROTO_POP3);
            assert_int_equal(a->port, 995);
            assert_int_equal(a->delete_after_days, 30);
        } else if (strcmp(de->d_name, "dovecot-local.conf") == 0) {
            const mv_account *a = mv_config_account(c, 0);
            assert_int_equal(a->tls, MV_TLS_STARTTLS);
            assert_int_equal(a->port, 143);
            assert_int_equal(mv_config_folder_selected(a, "Deleted Messages"), 0);
        } else if (strcmp(de->d_name, "outlook-oauth2.conf") == 0) {
            const mv_account *a = mv_config_find(c, "personal");
            assert_non_null(a);
            assert_string_equal(a->host, "outlook.office365.com");
            assert_string_equal(a->auth, "XOAUTH2");
            assert_int_equal(a->timeout, 90);
        } else if (strcmp(de->d_name, "fastmail.conf") == 0) {
            const mv_account *a = mv_config_account(c, 0);
            assert_string_equal(a->host, "imap.fastmail.com");
            assert_int_equal(a->tls, MV_TLS_IMPLICIT);
            assert_int_equal(a->timeout, 120);
        }
        mv_config_free(c);
        files++;
    }
    closedir(d);
    assert_true(files >= 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_full_example, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_aliases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_general_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_comments_and_syntax, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_patterns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_warnings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_passcmd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_cmd_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oauth2_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_password_env_and_plain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_netrc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_example_files, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
