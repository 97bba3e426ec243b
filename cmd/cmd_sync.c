/* mailvault: `mailvault sync` — mirror IMAP accounts into their archives. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "pop3.h"
#include "sync.h"

static void config_warning(void *ctx, const char *message)
{
    mv_cli *cli = ctx;
    fprintf(stderr, "%s: warning: %s\n", cli->prog, message);
}

mv_status mv_cli_load_config(mv_cli *cli, mv_config **cfg, mv_error *err)
{
    char data[PATH_MAX];
    return mv_config_load(cli->config, mv_cli_data_home(data, sizeof data), config_warning, cli,
                          cfg, err);
}

typedef struct sync_ui {
    mv_cli *cli;
    const char *account;
    struct timespec start, last;
    int drawn;
} sync_ui;

static double since(const struct timespec *a)
{
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a->tv_sec) + (double)(b.tv_nsec - a->tv_nsec) / 1e9;
}

static void clear_line(sync_ui *ui)
{
    if (ui->drawn) {
        fputs("\r\033[K", stderr);
        ui->drawn = 0;
    }
}

static void sync_progress(void *ctx, const mv_sync_progress *p)
{
    sync_ui *ui = ctx;
    if (!ui->cli->progress || since(&ui->last) < 0.1)
        return;
    clock_gettime(CLOCK_MONOTONIC, &ui->last);
    double t = since(&ui->start);
    double rate = t > 0 ? (double)p->messages_done / t : 0;
    char b[32], r[32], eta[32] = "";
    if (rate > 0 && p->messages_total > p->messages_done)
        snprintf(eta, sizeof eta, ", ETA %.0f s",
                 (double)(p->messages_total - p->messages_done) / rate);
    fprintf(stderr, "\r\033[K%s: folders %d/%d, messages %lld/%lld, %s, %s/s%s", ui->account,
            p->folders_done, p->folders_total, (long long)p->messages_done,
            (long long)p->messages_total, mv_cli_bytes(p->bytes_done, b, sizeof b),
            mv_cli_bytes(t > 0 ? (int64_t)((double)p->bytes_done / t) : 0, r, sizeof r), eta);
    ui->drawn = 1;
}

static void print_json(const mv_account *a, const char *archive, const mv_sync_report *rep,
                       mv_status st, const mv_error *err, int dry_run, int first)
{
    printf("%s{\"account\": ", first ? "" : ",\n");
    mv_cli_json_string(stdout, a->name);
    printf(", \"archive\": ");
    mv_cli_json_string(stdout, archive);
    printf(", \"dry_run\": %s, \"status\": \"%s\", \"error\": ", dry_run ? "true" : "false",
           mv_status_name(st));
    if (st == MV_OK)
        printf("null");
    else
        mv_cli_json_string(stdout, err->msg);
    printf(", \"seconds\": %.3f, \"vanished_folders\": %lld, \"folders\": [", rep->seconds,
           (long long)rep->vanished_folders);
    for (size_t i = 0; i < rep->nfolders; i++) {
        const mv_sync_folder *f = &rep->folders[i];
        printf("%s\n  {\"name\": ", i ? "," : "");
        mv_cli_json_string(stdout, f->name);
        printf(", \"status\": \"%s\", \"new\": %lld, \"stored\": %lld, \"bytes\": %lld, "
               "\"flag_changes\": %lld, \"expunged\": %lld, \"deleted\": %lld, "
               "\"uidvalidity_changed\": %s, "
               "\"unchanged\": %s, \"uidl_fallback\": %s, \"seconds\": %.3f, \"error\": ",
               mv_status_name(f->status), (long long)f->new_messages, (long long)f->stored,
               (long long)f->bytes, (long long)f->flag_changes, (long long)f->expunged,
               (long long)f->deleted, f->uidvalidity_changed ? "true" : "false",
               f->unchanged ? "true" : "false", f->uidl_fallback ? "true" : "false", f->seconds);
        if (f->status == MV_OK)
            printf("null");
        else
            mv_cli_json_string(stdout, f->error);
        printf("}");
    }
    printf("]}");
}

static void print_table(const mv_account *a, const mv_sync_report *rep, int dry_run)
{
    char b[32];
    printf("%s%s: %zu folder%s in %.1f s\n", a->name, dry_run ? " (dry run)" : "", rep->nfolders,
           rep->nfolders == 1 ? "" : "s", rep->seconds);
    printf("  %-32s %8s %10s %8s %8s  %s\n", "FOLDER", dry_run ? "TO FETCH" : "NEW", "BYTES",
           "FLAGS", "DELETED", "");
    for (size_t i = 0; i < rep->nfolders; i++) {
        const mv_sync_folder *f = &rep->folders[i];
        printf("  %-32s %8lld %10s %8lld %8lld  %s%s\n", f->name, (long long)f->new_messages,
               mv_cli_bytes(f->bytes, b, sizeof b), (long long)f->flag_changes,
               (long long)f->expunged,
               f->status != MV_OK ? "FAILED"
               : f->unchanged     ? "unchanged"
                                  : "ok",
               f->uidvalidity_changed ? " (UIDVALIDITY changed: refetched)" : "");
        if (f->deleted)
            printf("  %-32s %lld deleted from the server as archived (delete_after_days)\n", "",
                   (long long)f->deleted);
    }
    if (rep->vanished_folders)
        printf("  %lld folder%s no longer on the server (mail kept in the archive)\n",
               (long long)rep->vanished_folders, rep->vanished_folders == 1 ? "" : "s");
}

static int sync_account(mv_cli *cli, const mv_account *a, int dry_run, int json, int verbose,
                        int connections, int trace, int first_json)
{
    mv_error err = {0};
    char *secret = NULL;
    mv_status st;
    const char *archive = cli->archive ? cli->archive : a->archive;

    /* The secret is fetched once per run and wiped when the run ends. */
    if (a->oauth2_token_cmd)
        st = mv_config_oauth2_token(a, &secret, &err);
    else
        st = mv_config_password(a, &secret, &err);
    if (st != MV_OK)
        return mv_cli_fail(cli, &err);

    mv_archive *ar;
    mv_archive_options o = {.mode = dry_run ? MV_ARCHIVE_READ : MV_ARCHIVE_CREATE,
                            .lock_wait_ms = cli->lock_wait_ms};
    if (dry_run && access(archive, F_OK) != 0)
        o.mode = MV_ARCHIVE_CREATE; /* nothing to read yet: an empty archive answers */
    if ((st = mv_archive_open(archive, &o, &ar, &err)) != MV_OK) {
        mv_config_secret_free(secret);
        return mv_cli_fail(cli, &err);
    }

    sync_ui ui = {.cli = cli, .account = a->name};
    clock_gettime(CLOCK_MONOTONIC, &ui.start);
    mv_sync_options so = {
        .account = a,
        .password = a->oauth2_token_cmd ? NULL : secret,
        .bearer = a->oauth2_token_cmd ? secret : NULL,
        .dry_run = dry_run,
        .connections = connections,
        .trace = trace,
        .on_progress = sync_progress,
        .ctx = &ui,
    };
    mv_sync_report rep;
    st = a->protocol == MV_PROTO_POP3 ? mv_pop3_run(ar, &so, &rep, &err)
                                      : mv_sync_run(ar, &so, &rep, &err);
    mv_config_secret_free(secret);
    mv_archive_close(ar);
    clear_line(&ui);

    if (json)
        print_json(a, archive, &rep, st, &err, dry_run, first_json);
    else if ((cli->progress || verbose) && !cli->quiet)
        print_table(a, &rep, dry_run);
    /* Failures always reach stderr, one line per folder, so cron mails them. */
    for (size_t i = 0; i < rep.nfolders; i++)
        if (rep.folders[i].status != MV_OK)
            fprintf(stderr, "%s: sync %s: %s: %s\n", cli->prog, a->name, rep.folders[i].name,
                    rep.folders[i].error);
    mv_sync_report_free(&rep);
    if (st != MV_OK) {
        fprintf(stderr, "%s: sync %s: %s\n", cli->prog, a->name, err.msg);
        return mv_cli_exit_code(st);
    }
    return MV_EXIT_OK;
}

/* A run over several accounts exits with the worst outcome: any failure beats success, and
 * a partial failure is the mildest failure. */
static int worse(int a, int b)
{
    int ra = a == MV_EXIT_PARTIAL ? 1
             : a                  ? a + 1
                                  : 0,
        rb = b == MV_EXIT_PARTIAL ? 1
             : b                  ? b + 1
                                  : 0;
    return ra >= rb ? a : b;
}

int mv_cmd_sync(mv_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"dry-run", no_argument, NULL, 'n'},           {"json", no_argument, NULL, 'j'},
        {"connections", required_argument, NULL, 'c'}, {"trace", no_argument, NULL, 't'},
        {"verbose", no_argument, NULL, 'v'},           {NULL, 0, NULL, 0}};
    int c, dry_run = 0, json = 0, connections = 0, trace = 0, verbose = 0;
    while ((c = mv_cli_next_option(cli, argc, argv, "njv", opts)) >= 0) {
        if (c == 'v')
            verbose = 1;
        else if (c == 'n')
            dry_run = 1;
        else if (c == 'j')
            json = 1;
        else if (c == 't')
            trace = 1;
        else if (c == 'c') {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 16)
                return mv_cli_usage_error(cli, "--connections is 1 to 16, not \"%s\"", optarg);
            connections = (int)v;
        }
    }
    if (c == -2)
        return MV_EXIT_USAGE;
    if (c == -3)
        return MV_EXIT_OK;
    if (json)
        cli->progress = 0;

    mv_error err = {0};
    mv_config *cfg;
    if (mv_cli_load_config(cli, &cfg, &err) != MV_OK)
        return mv_cli_fail(cli, &err);
    const mv_account *chosen[64];
    size_t n = 0;
    if (optind < argc) {
        for (int i = optind; i < argc && n < 64; i++) {
            const mv_account *a = mv_config_find(cfg, argv[i]);
            if (a == NULL) {
                mv_error_set(&err, MV_ERR_CONFIG, "no account \"%s\" in %s", argv[i],
                             mv_config_path(cfg) ? mv_config_path(cfg) : "the configuration");
                mv_config_free(cfg);
                return mv_cli_fail(cli, &err);
            }
            chosen[n++] = a;
        }
    } else if (cli->account && mv_config_find(cfg, cli->account)) {
        chosen[n++] = mv_config_find(cfg, cli->account);
    } else if (mv_config_count(cfg) == 1) {
        chosen[n++] = mv_config_account(cfg, 0);
    } else {
        int rc =
            mv_config_count(cfg) == 0
                ? mv_cli_usage_error(cli, "no accounts configured (see `mailvault sync --help`)")
                : mv_cli_usage_error(cli, "which account? %zu are configured",
                                     mv_config_count(cfg));
        mv_config_free(cfg);
        return rc;
    }
    if (cli->archive && n > 1) {
        mv_config_free(cfg);
        return mv_cli_usage_error(cli, "--archive names one file; sync one account with it");
    }

    int rc = MV_EXIT_OK;
    if (json)
        printf("[");
    for (size_t i = 0; i < n; i++)
        rc = worse(
            rc, sync_account(cli, chosen[i], dry_run, json, verbose, connections, trace, i == 0));
    if (json)
        printf("]\n");
    mv_config_free(cfg);
    return rc;
}
