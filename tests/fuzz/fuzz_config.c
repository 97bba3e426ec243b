/* libFuzzer harness for core/config.c's file parser.
 *
 * Each input is written to a temporary file and loaded as a configuration (as mailvault
 * would with --config). A refused file must say why on one line that names the file; a
 * loaded one must hold only complete accounts with values in range, which are then walked
 * and matched against a few folder names.
 *
 * Secrets are never asked for: mv_config_password and mv_config_oauth2_token would run the
 * fuzzed passcmd / oauth2_token_cmd through /bin/sh, so this harness must not call them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

/* The harness's one temporary file, reused for every input. */
static char tmp_path[64];

static void remove_tmp(void)
{
    if (tmp_path[0])
        unlink(tmp_path);
}

static void write_input(const uint8_t *data, size_t size)
{
    if (tmp_path[0] == '\0') {
        const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(tmp_path, sizeof tmp_path, "%s/fuzz_config.XXXXXX", dir);
        int fd = mkstemp(tmp_path);
        if (fd < 0)
            abort();
        close(fd);
        atexit(remove_tmp);
    }
    FILE *f = fopen(tmp_path, "wb");
    if (f == NULL)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    if (fclose(f) != 0)
        abort();
}

static void warned(void *ctx, const char *message)
{
    if (message == NULL || strchr(message, '\n'))
        abort();
    ++*(int *)ctx;
}

/* Touches every byte of s, so that ASan sees a dangling or unterminated string. */
static size_t touch(const char *s)
{
    return s ? strlen(s) : 0;
}

static void check_list(const char *const *l)
{
    if (l == NULL)
        abort();
    for (size_t i = 0; l[i]; i++) {
        touch(l[i]);
        if (i > 100000)
            abort();
    }
}

static void walk(const mv_config *c)
{
    static const char *const folders[] = {
        "INBOX", "Trash", "Junk Mail", "[Gmail]/All Mail", "Work/2024/Q1", "Lists.dev", "", "*",
    };
    size_t n = mv_config_count(c);
    for (size_t i = 0; i < n; i++) {
        const mv_account *a = mv_config_account(c, i);
        if (a == NULL || a->name == NULL || a->name[0] == '\0' || strchr(a->name, '/'))
            abort();
        if (mv_config_find(c, a->name) != a)
            abort(); /* names are unique */
        if (a->host == NULL || a->host[0] == '\0' || a->user == NULL || a->user[0] == '\0' ||
            a->archive == NULL || a->archive[0] == '\0' || a->folder == NULL)
            abort();
        if (a->port < 1 || a->port > 65535 || a->connections < 1 || a->connections > 16 ||
            a->timeout < 1 || a->timeout > 3600 || a->delete_after_days < -1 ||
            (a->tls_verify != 0 && a->tls_verify != 1) ||
            (a->allow_plaintext != 0 && a->allow_plaintext != 1) ||
            (a->netrc != 0 && a->netrc != 1))
            abort();
        if (a->protocol != MV_PROTO_IMAP && a->protocol != MV_PROTO_POP3)
            abort();
        if (a->tls != MV_TLS_IMPLICIT && a->tls != MV_TLS_STARTTLS && a->tls != MV_TLS_NONE)
            abort();
        touch(a->passcmd);
        touch(a->password_env);
        touch(a->netrc_file);
        touch(a->password);
        touch(a->oauth2_token_cmd);
        touch(a->auth);
        touch(a->ca_file);
        touch(a->proxy);
        check_list(a->include);
        check_list(a->exclude);
        if (a->include[0] == NULL)
            abort(); /* an include list always selects something */
        for (size_t f = 0; f < sizeof folders / sizeof folders[0]; f++) {
            int sel = mv_config_folder_selected(a, folders[f]);
            if (sel != 0 && sel != 1)
                abort();
        }
    }
    if (mv_config_account(c, n) != NULL)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    write_input(data, size);
    mv_config *c = NULL;
    mv_error err = {0};
    int warnings = 0;
    mv_status st = mv_config_load(tmp_path, "/nonexistent/data", warned, &warnings, &c, &err);
    if (st != MV_OK) {
        if (c != NULL || err.status != st || strchr(err.msg, '\n') ||
            (st == MV_ERR_CONFIG && strstr(err.msg, tmp_path) == NULL) || st == MV_ERR_INTERNAL)
            abort();
        return 0;
    }
    if (c == NULL || mv_config_path(c) == NULL || strcmp(mv_config_path(c), tmp_path) != 0)
        abort();
    walk(c);
    mv_config_free(c);
    return 0;
}
