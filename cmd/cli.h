/* mailvault command line: what every command shares. */
#ifndef MV_CLI_H
#define MV_CLI_H

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdint.h>

#include "archive.h"
#include "error.h"

/* Exit codes, documented in README.md and `mailvault --help`. */
enum {
    MV_EXIT_OK = 0,
    MV_EXIT_INTERNAL = 1, /* a bug or out of memory */
    MV_EXIT_USAGE = 2,
    MV_EXIT_PARTIAL = 3, /* some items failed, the others were done */
    MV_EXIT_INPUT = 4,   /* input path unreadable or not mail; no such message or folder */
    MV_EXIT_ARCHIVE = 5, /* not an archive, newer schema, damaged database, I/O error */
    MV_EXIT_LOCKED = 6,  /* another mailvault process is writing the archive */
    MV_EXIT_NOWRITE = 7, /* archive read-only, or disk full / file size limit */
    MV_EXIT_DAMAGED = 8, /* verify found damaged messages */
    MV_EXIT_CONFIG = 9,
    MV_EXIT_CONNECT = 10, /* cannot connect, connection lost, timeout */
    MV_EXIT_TLS = 11,
    MV_EXIT_AUTH = 12,
    MV_EXIT_PROTOCOL = 13 /* the server misbehaved */
};

typedef struct mv_cli {
    const char *prog;
    const char *command;
    const char *archive; /* --archive, or NULL for the default path */
    const char *account; /* --account; see mv_cli_archive_path */
    const char *config;  /* --config, or NULL for the default location */
    int quiet;
    int lock_wait_ms;
    int progress; /* stderr is a terminal and not --quiet */
    char default_path[PATH_MAX];
    char account_buf[256];
} mv_cli;

/* Long options every command accepts; handled by mv_cli_global_option. */
/* clang-format off */
#define MV_CLI_GLOBAL_OPTIONS                                        \
    {"archive", required_argument, NULL, 'A'},                       \
    {"account", required_argument, NULL, 'a'},                       \
    {"quiet", no_argument, NULL, 'q'},                               \
    {"lock-wait", required_argument, NULL, 'W'},                     \
    {"config", required_argument, NULL, 'C'},                        \
    {"help", no_argument, NULL, 'h'}
/* clang-format on */
#define MV_CLI_GLOBAL_SHORT "A:a:qW:C:h"

/* Parses the command's options (its own and the global ones). Returns the option character,
 * -1 at the end, -2 after printing a usage error (return MV_EXIT_USAGE), -3 after printing
 * the command's help (return MV_EXIT_OK). */
int mv_cli_next_option(mv_cli *cli, int argc, char **argv, const char *shortopts,
                       const struct option *own);

/* The configuration from --config or the default place; warnings go to stderr. */
struct mv_config;
mv_status mv_cli_load_config(mv_cli *cli, struct mv_config **cfg, mv_error *err);

/* 1: handled; 0: not a global option; -1: bad value (message printed). */
int mv_cli_global_option(mv_cli *cli, int c, const char *arg);

int mv_cli_exit_code(mv_status st);
/* Prints "mailvault: MESSAGE" to stderr and returns the exit code for err. */
int mv_cli_fail(mv_cli *cli, const mv_error *err);
int mv_cli_usage_error(mv_cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The archive to use: --archive; else the account's (--account, or the only one in the
 * configuration) as configured; else $XDG_DATA_HOME/mailvault/ACCOUNT.sqlite with ACCOUNT
 * "local". Sets cli->account. */
mv_status mv_cli_archive_path(mv_cli *cli, const char **path, mv_error *err);
/* $XDG_DATA_HOME/mailvault or ~/.local/share/mailvault (buf of PATH_MAX). */
const char *mv_cli_data_home(char *buf, size_t cap);
mv_status mv_cli_open(mv_cli *cli, mv_archive_mode mode, mv_archive **ar, mv_error *err);

/* "1.5 MiB"; buf of at least 32 bytes. */
const char *mv_cli_bytes(int64_t n, char *buf, size_t cap);
/* "2019-03-04 09:12" in UTC, or "-" when unknown; buf of at least 32 bytes. */
const char *mv_cli_date(int64_t t, char *buf, size_t cap);

/* Prints the command's help text (command NULL: the overview) to stdout. */
void mv_cli_help(const char *command);

int mv_cmd_init(mv_cli *cli, int argc, char **argv);
int mv_cmd_import(mv_cli *cli, int argc, char **argv);
int mv_cmd_list(mv_cli *cli, int argc, char **argv);
int mv_cmd_show(mv_cli *cli, int argc, char **argv);
int mv_cmd_export(mv_cli *cli, int argc, char **argv);
int mv_cmd_verify(mv_cli *cli, int argc, char **argv);
int mv_cmd_stats(mv_cli *cli, int argc, char **argv);
int mv_cmd_sync(mv_cli *cli, int argc, char **argv);
int mv_cmd_search(mv_cli *cli, int argc, char **argv);
int mv_cmd_reindex(mv_cli *cli, int argc, char **argv);

/* Writes s cut or padded to width characters. */
void mv_cli_column(FILE *f, const char *s, int width);

/* Writes s as a JSON string literal (with quotes). */
void mv_cli_json_string(FILE *f, const char *s);

#endif
