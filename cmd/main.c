/* mailvault: command-line entry point. The only place that prints errors and exits. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sqlite3.h>
#include <zlib.h>
#include <gmime/gmime.h>

#include "cli.h"
#include "config.h"
#include "mime.h"

static const struct {
    const char *name;
    int (*run)(mv_cli *, int, char **);
} commands[] = {
    {"init", mv_cmd_init},       {"import", mv_cmd_import}, {"list", mv_cmd_list},
    {"show", mv_cmd_show},       {"export", mv_cmd_export}, {"verify", mv_cmd_verify},
    {"stats", mv_cmd_stats},     {"sync", mv_cmd_sync},     {"search", mv_cmd_search},
    {"reindex", mv_cmd_reindex},
};

int mv_cli_exit_code(mv_status st)
{
    switch (st) {
    case MV_OK:
        return MV_EXIT_OK;
    case MV_ERR_USAGE:
        return MV_EXIT_USAGE;
    case MV_ERR_PARTIAL:
        return MV_EXIT_PARTIAL;
    case MV_ERR_INPUT:
    case MV_ERR_NOTFOUND:
        return MV_EXIT_INPUT;
    case MV_ERR_ARCHIVE:
    case MV_ERR_IO:
        return MV_EXIT_ARCHIVE;
    case MV_ERR_LOCKED:
        return MV_EXIT_LOCKED;
    case MV_ERR_READONLY:
    case MV_ERR_FULL:
        return MV_EXIT_NOWRITE;
    case MV_ERR_CORRUPT:
        return MV_EXIT_DAMAGED;
    case MV_ERR_CONFIG:
        return MV_EXIT_CONFIG;
    case MV_ERR_CONNECT:
    case MV_ERR_TIMEOUT:
        return MV_EXIT_CONNECT;
    case MV_ERR_TLS:
        return MV_EXIT_TLS;
    case MV_ERR_AUTH:
        return MV_EXIT_AUTH;
    case MV_ERR_PROTOCOL:
        return MV_EXIT_PROTOCOL;
    case MV_ERR_NOMEM:
    case MV_ERR_INTERNAL:
        return MV_EXIT_INTERNAL;
    }
    return MV_EXIT_INTERNAL;
}

int mv_cli_fail(mv_cli *cli, const mv_error *err)
{
    fprintf(stderr, "%s: %s\n", cli->prog, err->msg[0] ? err->msg : mv_status_name(err->status));
    return mv_cli_exit_code(err->status);
}

int mv_cli_usage_error(mv_cli *cli, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: %s%s", cli->prog, cli->command ? cli->command : "",
            cli->command ? ": " : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (cli->command)
        fprintf(stderr, " (see `%s %s --help`)\n", cli->prog, cli->command);
    else
        fprintf(stderr, " (see `%s --help`)\n", cli->prog);
    return MV_EXIT_USAGE;
}

int mv_cli_global_option(mv_cli *cli, int c, const char *arg)
{
    switch (c) {
    case 'A':
        cli->archive = arg;
        return 1;
    case 'a':
        if (arg[0] == '\0' || strchr(arg, '/') || strcmp(arg, ".") == 0 || strcmp(arg, "..") == 0)
            return mv_cli_usage_error(cli, "bad account name \"%s\"", arg), -1;
        cli->account = arg;
        return 1;
    case 'C':
        cli->config = arg;
        return 1;
    case 'q':
        cli->quiet = 1;
        cli->progress = 0;
        return 1;
    case 'W': {
        char *end;
        errno = 0;
        double s = strtod(arg, &end);
        if (errno || *end || s < 0 || s > 86400)
            return mv_cli_usage_error(cli, "--lock-wait wants seconds, got \"%s\"", arg), -1;
        cli->lock_wait_ms = (int)(s * 1000);
        return 1;
    }
    }
    return 0;
}

const char *mv_cli_data_home(char *buf, size_t cap)
{
    /* One archive per account, where XDG says application data lives. */
    const char *xdg = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");
    if (xdg && xdg[0] == '/')
        snprintf(buf, cap, "%s/mailvault", xdg);
    else
        snprintf(buf, cap, "%s/.local/share/mailvault", home && home[0] ? home : ".");
    return buf;
}

int mv_cli_next_option(mv_cli *cli, int argc, char **argv, const char *shortopts,
                       const struct option *own)
{
    static const struct option global[] = {MV_CLI_GLOBAL_OPTIONS};
    struct option all[32];
    size_t n = 0;
    for (; own && own[n].name && n < 24; n++)
        all[n] = own[n];
    for (size_t i = 0; i < sizeof global / sizeof global[0]; i++)
        all[n++] = global[i];
    memset(&all[n], 0, sizeof all[n]);

    char spec[80];
    snprintf(spec, sizeof spec, ":%s%s", shortopts, MV_CLI_GLOBAL_SHORT);
    opterr = 0;
    for (;;) {
        int c = getopt_long(argc, argv, spec, all, NULL);
        if (c == -1)
            return -1;
        if (c == '?') {
            mv_cli_usage_error(cli, "unknown option \"%s\"", argv[optind - 1]);
            return -2;
        }
        if (c == ':') {
            mv_cli_usage_error(cli, "option \"%s\" needs a value", argv[optind - 1]);
            return -2;
        }
        if (c == 'h') {
            mv_cli_help(cli->command);
            return -3;
        }
        int g = mv_cli_global_option(cli, c, optarg);
        if (g < 0)
            return -2;
        if (g == 0)
            return c;
    }
}

void mv_cli_column(FILE *f, const char *s, int width)
{
    /* Counted in characters, not bytes, and never cut inside a UTF-8 sequence. Wide (CJK)
     * characters still count as one: good enough for a listing. */
    const unsigned char *p = (const unsigned char *)s;
    int n = 0;
    while (*p && n < width) {
        size_t len = *p < 0x80 ? 1 : *p < 0xe0 ? 2 : *p < 0xf0 ? 3 : 4;
        size_t have = strnlen((const char *)p, len);
        fwrite(p, 1, have, f);
        p += have;
        n++;
    }
    for (; n < width; n++)
        fputc(' ', f);
}

void mv_cli_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

mv_status mv_cli_archive_path(mv_cli *cli, const char **path, mv_error *err)
{
    char dir[PATH_MAX - 256];
    *path = cli->default_path;
    if (cli->archive) {
        *path = cli->archive;
        if (cli->account == NULL)
            cli->account = "local";
        return MV_OK;
    }
    /* The account's archive as configured; without --account, the only configured account;
     * failing both, the "local" account's default place. */
    mv_config *cfg = NULL;
    mv_status st = mv_cli_load_config(cli, &cfg, err);
    if (st != MV_OK)
        return st;
    const mv_account *a = NULL;
    if (cli->account)
        a = mv_config_find(cfg, cli->account);
    else if (mv_config_count(cfg) == 1)
        a = mv_config_account(cfg, 0);
    if (a) {
        snprintf(cli->default_path, sizeof cli->default_path, "%s", a->archive);
        snprintf(cli->account_buf, sizeof cli->account_buf, "%s", a->name);
        cli->account = cli->account_buf;
    } else {
        if (cli->account == NULL)
            cli->account = "local";
        snprintf(cli->default_path, sizeof cli->default_path, "%s/%.200s.sqlite",
                 mv_cli_data_home(dir, sizeof dir), cli->account);
    }
    mv_config_free(cfg);
    return MV_OK;
}

mv_status mv_cli_open(mv_cli *cli, mv_archive_mode mode, mv_archive **ar, mv_error *err)
{
    mv_archive_options o = {.mode = mode, .lock_wait_ms = cli->lock_wait_ms};
    const char *path;
    mv_status st = mv_cli_archive_path(cli, &path, err);
    if (st != MV_OK)
        return st;
    return mv_archive_open(path, &o, ar, err);
}

const char *mv_cli_bytes(int64_t n, char *buf, size_t cap)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, cap, "%lld B", (long long)n);
    else
        snprintf(buf, cap, "%.1f %s", v, units[u]);
    return buf;
}

const char *mv_cli_date(int64_t t, char *buf, size_t cap)
{
    if (t < 0) {
        snprintf(buf, cap, "-");
        return buf;
    }
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, cap, "%Y-%m-%d %H:%M", &tm);
    return buf;
}

static void version(void)
{
    curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
    printf("mailvault %s\n", MV_VERSION);
    printf("libcurl %s (%s), SQLite %s, zlib %s, GMime %u.%u.%u\n", cv->version,
           cv->ssl_version ? cv->ssl_version : "no TLS", sqlite3_libversion(), zlibVersion(),
           gmime_major_version, gmime_minor_version, gmime_micro_version);
}

int main(int argc, char **argv)
{
    mv_cli cli = {0};
    cli.prog = "mailvault";
    cli.progress = isatty(STDERR_FILENO);

    /* A file size limit (ulimit -f) must surface as a write error that rolls back the
     * transaction, not as a signal that kills us mid-commit. */
    signal(SIGXFSZ, SIG_IGN);
    /* Once, before any thread exists (sync runs connections on threads). */
    curl_global_init(CURL_GLOBAL_DEFAULT);

    /* Global options before the command; each command accepts them after it too. */
    static const struct option longopts[] = {
        MV_CLI_GLOBAL_OPTIONS, {"version", no_argument, NULL, 'V'}, {NULL, 0, NULL, 0}};
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+" MV_CLI_GLOBAL_SHORT "V", longopts, NULL)) != -1) {
        if (c == 'h') {
            mv_cli_help(NULL);
            return MV_EXIT_OK;
        }
        if (c == 'V') {
            version();
            return MV_EXIT_OK;
        }
        if (c == '?')
            return mv_cli_usage_error(&cli, "unknown option \"%s\"", argv[optind - 1]);
        if (c == ':')
            return mv_cli_usage_error(&cli, "option \"%s\" needs a value", argv[optind - 1]);
        int r = mv_cli_global_option(&cli, c, optarg);
        if (r < 0)
            return MV_EXIT_USAGE;
    }
    if (optind >= argc) {
        mv_cli_help(NULL);
        return MV_EXIT_USAGE;
    }
    const char *name = argv[optind];
    if (strcmp(name, "help") == 0) {
        mv_cli_help(optind + 1 < argc ? argv[optind + 1] : NULL);
        return MV_EXIT_OK;
    }
    if (strcmp(name, "version") == 0) {
        version();
        return MV_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(name, commands[i].name) != 0)
            continue;
        cli.command = name;
        mv_mime_init();
        /* Commands parse their own options starting at their name. */
        int sub_argc = argc - optind;
        char **sub_argv = argv + optind;
        optind = 0; /* 0, not 1: makes glibc reinitialise getopt, including permutation */
        int rc = commands[i].run(&cli, sub_argc, sub_argv);
        mv_mime_shutdown();
        /* A reader that went away (`| head`) is not an error worth a message. */
        if (fflush(stdout) != 0 && rc == MV_EXIT_OK && errno != EPIPE) {
            fprintf(stderr, "%s: writing output: %s\n", cli.prog, strerror(errno));
            rc = MV_EXIT_INTERNAL;
        }
        return rc;
    }
    return mv_cli_usage_error(&cli, "unknown command \"%s\"", name);
}
