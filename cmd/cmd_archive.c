/* mailvault: the archive commands: init, import, list, show, export, verify, stats. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blob.h"
#include "cli.h"
#include "export.h"
#include "query.h"
#include "hash.h"
#include "import.h"
#include "index.h"
#include "mime.h"
#include "text.h"
#include "source.h"

#define OPTION_END(c)                                                                              \
    if ((c) == -2)                                                                                 \
        return MV_EXIT_USAGE;                                                                      \
    if ((c) == -3)                                                                                 \
        return MV_EXIT_OK;

/* --- init --- */

int mv_cmd_init(mv_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"no-dictionary", no_argument, NULL, 'D'},
                                         {"compression-level", required_argument, NULL, 'L'},
                                         {NULL, 0, NULL, 0}};
    int c, no_dict = 0, level = 0;
    while ((c = mv_cli_next_option(cli, argc, argv, "", opts)) >= 0) {
        if (c == 'D')
            no_dict = 1;
        else if (c == 'L') {
            if (optarg[0] < '1' || optarg[0] > '9' || optarg[1] != '\0')
                return mv_cli_usage_error(cli, "--compression-level is 1 to 9, not \"%s\"", optarg);
            level = optarg[0] - '0';
        }
    }
    OPTION_END(c);
    if (optind < argc)
        return mv_cli_usage_error(cli, "unexpected argument \"%s\"", argv[optind]);

    mv_error err = {0};
    mv_archive *ar;
    mv_archive_options o = {
        .mode = MV_ARCHIVE_CREATE, .lock_wait_ms = cli->lock_wait_ms, .no_dictionary = no_dict};
    const char *path;
    if (mv_cli_archive_path(cli, &path, &err) != MV_OK ||
        mv_archive_open(path, &o, &ar, &err) != MV_OK)
        return mv_cli_fail(cli, &err);
    if (level && mv_archive_set_compression(ar, level, &err) != MV_OK) {
        mv_archive_close(ar);
        return mv_cli_fail(cli, &err);
    }
    if (!cli->quiet)
        printf("%s archive %s (zlib level %d)\n",
               mv_archive_created(ar) ? "Created" : "Ready:", mv_archive_path(ar),
               mv_archive_compression(ar));
    mv_archive_close(ar);
    return MV_EXIT_OK;
}

/* --- import --- */

typedef struct import_ui {
    mv_cli *cli;
    struct timespec last;
    int drawn;
} import_ui;

static void import_error(void *ctx, const mv_error *e)
{
    import_ui *ui = ctx;
    if (ui->drawn) {
        fputs("\r\033[K", stderr);
        ui->drawn = 0;
    }
    fprintf(stderr, "%s: import: %s\n", ui->cli->prog, e->msg);
}

static void import_progress(void *ctx, const mv_import_report *r)
{
    import_ui *ui = ctx;
    struct timespec now;
    if (!ui->cli->progress)
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    /* Redrawing more than ten times a second only costs time. */
    if ((now.tv_sec - ui->last.tv_sec) * 1000 + (now.tv_nsec - ui->last.tv_nsec) / 1000000 < 100)
        return;
    ui->last = now;
    char b[32];
    fprintf(stderr, "\r\033[Kimporting: %lld messages read, %lld new (%s)", (long long)r->seen,
            (long long)r->stored, mv_cli_bytes(r->stored_bytes, b, sizeof b));
    ui->drawn = 1;
}

int mv_cmd_import(mv_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"folder", required_argument, NULL, 'f'},
                                         {"mbox-variant", required_argument, NULL, 'M'},
                                         {NULL, 0, NULL, 0}};
    mv_import_options io = {0};
    int c;
    while ((c = mv_cli_next_option(cli, argc, argv, "f:", opts)) >= 0) {
        if (c == 'f') {
            if (optarg[0] == '\0' || optarg[0] == '/' || optarg[strlen(optarg) - 1] == '/')
                return mv_cli_usage_error(cli, "bad folder name \"%s\"", optarg);
            io.folder_prefix = optarg;
        } else if (c == 'M') {
            if (strcmp(optarg, "rd") == 0 || strcmp(optarg, "mboxrd") == 0)
                io.mbox_variant = MV_MBOX_RD;
            else if (strcmp(optarg, "o") == 0 || strcmp(optarg, "mboxo") == 0)
                io.mbox_variant = MV_MBOX_O;
            else
                return mv_cli_usage_error(cli, "--mbox-variant is rd or o, not \"%s\"", optarg);
        }
    }
    OPTION_END(c);
    if (optind >= argc)
        return mv_cli_usage_error(cli, "which path? (a Maildir, an mbox or a message file)");

    /* Check every path before touching the archive: a typo must not create an archive or
     * half-import a list of paths. */
    for (int i = optind; i < argc; i++) {
        struct stat sb;
        if (stat(argv[i], &sb) != 0 || access(argv[i], R_OK) != 0) {
            fprintf(stderr, "%s: import: %s: %s\n", cli->prog, argv[i], strerror(errno));
            return MV_EXIT_INPUT;
        }
    }

    mv_error err = {0};
    mv_archive *ar;
    if (mv_cli_open(cli, MV_ARCHIVE_CREATE, &ar, &err) != MV_OK)
        return mv_cli_fail(cli, &err);

    import_ui ui = {.cli = cli};
    /* Local mail is its own account inside whichever archive was chosen, so its folders
     * never mix with a server's (an IMAP INBOX and an imported INBOX stay apart). */
    io.account = "local";
    io.on_error = import_error;
    io.on_progress = import_progress;
    io.ctx = &ui;
    mv_import_report total = {0};
    mv_status worst = MV_OK;
    int rc = MV_EXIT_OK;
    for (int i = optind; i < argc; i++) {
        mv_import_report rep;
        mv_error e = {0};
        mv_status st = mv_import_run(ar, argv[i], &io, &rep, &e);
        total.seen += rep.seen;
        total.stored += rep.stored;
        total.stored_bytes += rep.stored_bytes;
        total.filed += rep.filed;
        total.unchanged += rep.unchanged;
        total.flag_changes += rep.flag_changes;
        total.errors += rep.errors;
        if (ui.drawn) {
            fputs("\r\033[K", stderr);
            ui.drawn = 0;
        }
        if (st == MV_ERR_PARTIAL || st == MV_ERR_INPUT) {
            /* Each skipped file was already reported. */
            if (worst == MV_OK)
                worst = st;
            continue;
        }
        if (st != MV_OK) {
            rc = mv_cli_fail(cli, &e);
            worst = st;
            break;
        }
    }
    mv_archive_close(ar);

    /* After a failure the counts include work that was rolled back: the one-line error is
     * the whole story then. */
    if (!cli->quiet && rc == MV_EXIT_OK) {
        char b[32];
        printf("%lld message%s read: %lld new (%s), %lld filed in folders, %lld already "
               "archived, %lld flag change%s, %lld skipped\n",
               (long long)total.seen, total.seen == 1 ? "" : "s", (long long)total.stored,
               mv_cli_bytes(total.stored_bytes, b, sizeof b), (long long)total.filed,
               (long long)total.unchanged, (long long)total.flag_changes,
               total.flag_changes == 1 ? "" : "s", (long long)total.errors);
    }
    if (rc != MV_EXIT_OK)
        return rc;
    if (worst == MV_ERR_INPUT && total.seen == 0)
        return MV_EXIT_INPUT;
    return worst == MV_OK ? MV_EXIT_OK : MV_EXIT_PARTIAL;
}

/* --- list --- */

static int print_folder(void *ctx, const mv_folder_info *f)
{
    char b[32];
    int multi = *(int *)ctx;
    if (multi)
        printf("%-16s ", f->account);
    printf("%-32s %8lld %8lld %12s\n", f->name, (long long)f->messages, (long long)f->expunged,
           mv_cli_bytes(f->raw_bytes, b, sizeof b));
    return 0;
}

/* Whether the archive holds folders of more than one account (then list shows which). The
 * row's text is only valid during the callback, so the first name is copied. */
typedef struct accounts_seen {
    char first[256];
    int multi;
} accounts_seen;

static int count_accounts(void *ctx, const mv_folder_info *f)
{
    accounts_seen *a = ctx;
    if (a->first[0] == '\0')
        snprintf(a->first, sizeof a->first, "%s", f->account);
    else if (strcmp(a->first, f->account) != 0)
        a->multi = 1;
    return 0;
}

/* One line per message; control characters were removed when the summary was extracted. */
static int print_message(void *ctx, const mv_message_info *m)
{
    const int *sha_only = ctx;
    char d[32];
    if (*sha_only) {
        /* sha256sum's layout, so a listing can be compared with `sha256sum` of a Maildir. */
        char hex[MV_SHA256_HEX_LEN + 1];
        mv_hash_hex(m->sha256, hex);
        printf("%s  %s\n", hex, m->folder);
        return 0;
    }
    /* Flags as Maildir letters (D F P R S T): compact, and familiar from mutt and mbsync. */
    char letters[16];
    if (mv_source_flags_to_maildir(m->flags ? m->flags : "", letters, sizeof letters) < 0)
        letters[0] = '\0';
    printf("%6lld  %-16s  ", (long long)m->id,
           mv_cli_date(m->date >= 0 ? m->date : m->internaldate, d, sizeof d));
    mv_cli_column(stdout, m->folder, 20);
    printf("  %-6s  ", letters);
    mv_cli_column(stdout, m->from ? m->from : "-", 24);
    printf("  %s%s\n", m->subject ? m->subject : "(no subject)",
           m->expunged_at ? "  [deleted on server]" : "");
    return 0;
}

int mv_cmd_list(mv_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"messages", no_argument, NULL, 'm'},
                                         {"folder", required_argument, NULL, 'f'},
                                         {"expunged", no_argument, NULL, 'x'},
                                         {"sha256", no_argument, NULL, 's'},
                                         {NULL, 0, NULL, 0}};
    int c, messages = 0, expunged = 0, sha_only = 0;
    const char *folder = NULL;
    while ((c = mv_cli_next_option(cli, argc, argv, "mf:", opts)) >= 0) {
        if (c == 'm')
            messages = 1;
        else if (c == 'f')
            folder = optarg;
        else if (c == 'x')
            expunged = 1;
        else if (c == 's')
            sha_only = messages = 1;
    }
    OPTION_END(c);
    if (optind < argc)
        return mv_cli_usage_error(cli, "unexpected argument \"%s\"", argv[optind]);

    mv_error err = {0};
    mv_archive *ar;
    if (mv_cli_open(cli, MV_ARCHIVE_READ, &ar, &err) != MV_OK)
        return mv_cli_fail(cli, &err);
    mv_status st = MV_OK;
    if (folder) {
        int exists;
        if ((st = mv_archive_folder_exists(ar, folder, &exists, &err)) == MV_OK && !exists)
            st = mv_error_set(&err, MV_ERR_NOTFOUND, "%s: no folder named \"%s\"",
                              mv_archive_path(ar), folder);
    }
    if (st == MV_OK && (messages || folder)) {
        mv_message_filter f = {folder, expunged, NULL};
        st = mv_archive_messages(ar, &f, print_message, &sha_only, &err);
    } else if (st == MV_OK) {
        accounts_seen seen = {{0}, 0};
        st = mv_archive_folders(ar, count_accounts, &seen, &err);
        int multi = seen.multi;
        if (st == MV_OK) {
            if (multi)
                printf("%-16s ", "ACCOUNT");
            printf("%-32s %8s %8s %12s\n", "FOLDER", "MESSAGES", "DELETED", "SIZE");
            st = mv_archive_folders(ar, print_folder, &multi, &err);
        }
    }
    mv_archive_close(ar);
    return st == MV_OK ? MV_EXIT_OK : mv_cli_fail(cli, &err);
}

/* --- show --- */

/* A message for reading: the main headers decoded, the text of its body (HTML turned into
 * text, every charset into UTF-8), and its attachments by name. */
static mv_status show_decoded(mv_archive *ar, int64_t id, mv_error *err)
{
    unsigned char head[64 * 1024];
    size_t len = 0;
    mv_blob_reader *r;
    mv_status st = mv_blob_reader_open(ar, id, &r, err);
    while (st == MV_OK && len < sizeof head) {
        size_t got;
        if ((st = mv_blob_reader_read(r, head + len, sizeof head - len, &got, err)) != MV_OK ||
            got == 0)
            break;
        len += got;
    }
    mv_blob_reader_close(r);
    if (st != MV_OK)
        return st;
    mv_mime_summary sum;
    mv_text text;
    if ((st = mv_mime_summarize((const char *)head, len, &sum, err)) != MV_OK)
        return st;
    if ((st = mv_index_extract(ar, id, &text, err)) != MV_OK) {
        mv_mime_summary_free(&sum);
        return st;
    }
    char d[32];
    printf("Date:    %s UTC\n", mv_cli_date(sum.date, d, sizeof d));
    printf("From:    %s\n", sum.from ? sum.from : "");
    printf("To:      %s\n", text.recipients);
    printf("Subject: %s\n", sum.subject ? sum.subject : "");
    if (text.attachments[0])
        printf("Attachments: %s\n", text.attachments);
    printf("\n%s\n", text.body);
    mv_text_free(&text);
    mv_mime_summary_free(&sum);
    return MV_OK;
}

int mv_cmd_show(mv_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"raw", no_argument, NULL, 'r'}, {NULL, 0, NULL, 0}};
    int c, raw = 0;
    while ((c = mv_cli_next_option(cli, argc, argv, "r", opts)) >= 0)
        if (c == 'r')
            raw = 1;
    OPTION_END(c);
    if (optind + 1 != argc)
        return mv_cli_usage_error(cli, "which message? (one ID from `mailvault list --messages`)");

    mv_error err = {0};
    mv_archive *ar;
    if (mv_cli_open(cli, MV_ARCHIVE_READ, &ar, &err) != MV_OK)
        return mv_cli_fail(cli, &err);
    int64_t id;
    mv_blob_reader *r = NULL;
    mv_status st = mv_archive_message_resolve(ar, argv[optind], &id, &err);
    if (st == MV_OK && !raw) {
        st = show_decoded(ar, id, &err);
        mv_archive_close(ar);
        return st == MV_OK ? MV_EXIT_OK : mv_cli_fail(cli, &err);
    }
    if (st == MV_OK)
        st = mv_blob_reader_open(ar, id, &r, &err);
    static unsigned char buf[64 * 1024];
    while (st == MV_OK) {
        size_t got;
        if ((st = mv_blob_reader_read(r, buf, sizeof buf, &got, &err)) != MV_OK || got == 0)
            break;
        if (fwrite(buf, 1, got, stdout) != got) {
            st = mv_error_set(&err, MV_ERR_IO, "writing to standard output: %s", strerror(errno));
            break;
        }
    }
    mv_blob_reader_close(r);
    mv_archive_close(ar);
    return st == MV_OK ? MV_EXIT_OK : mv_cli_fail(cli, &err);
}

/* --- export --- */

int mv_cmd_export(mv_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"format", required_argument, NULL, 'F'}, {"out", required_argument, NULL, 'o'},
        {"folder", required_argument, NULL, 'f'}, {"no-expunged", no_argument, NULL, 'n'},
        {"query", required_argument, NULL, 'Q'},  {NULL, 0, NULL, 0}};
    mv_export_options eo = {.include_expunged = 1};
    const char *format = NULL, *query_text = NULL;
    int c;
    while ((c = mv_cli_next_option(cli, argc, argv, "F:o:f:", opts)) >= 0) {
        if (c == 'F')
            format = optarg;
        else if (c == 'o')
            eo.out_dir = optarg;
        else if (c == 'f')
            eo.folder = optarg;
        else if (c == 'n')
            eo.include_expunged = 0;
        else if (c == 'Q')
            query_text = optarg;
    }
    OPTION_END(c);
    if (optind < argc)
        return mv_cli_usage_error(cli, "unexpected argument \"%s\"", argv[optind]);
    if (format == NULL)
        return mv_cli_usage_error(cli, "--format maildir|mbox|eml is required");
    if (strcmp(format, "maildir") == 0)
        eo.format = MV_EXPORT_MAILDIR;
    else if (strcmp(format, "mbox") == 0)
        eo.format = MV_EXPORT_MBOX;
    else if (strcmp(format, "eml") == 0)
        eo.format = MV_EXPORT_EML;
    else
        return mv_cli_usage_error(cli, "--format is maildir, mbox or eml, not \"%s\"", format);
    if (eo.out_dir == NULL || eo.out_dir[0] == '\0')
        return mv_cli_usage_error(cli, "--out DIR is required");

    mv_error err = {0};
    mv_archive *ar;
    mv_query *q = NULL;
    if (query_text && mv_query_parse(query_text, (int64_t)time(NULL), &q, &err) != MV_OK)
        return mv_cli_fail(cli, &err);
    eo.query = q;
    if (mv_cli_open(cli, MV_ARCHIVE_READ, &ar, &err) != MV_OK) {
        mv_query_free(q);
        return mv_cli_fail(cli, &err);
    }
    mv_export_report rep;
    mv_status st = mv_export_run(ar, &eo, &rep, &err);
    mv_archive_close(ar);
    mv_query_free(q);
    if (st != MV_OK)
        return mv_cli_fail(cli, &err);
    if (!cli->quiet) {
        char b[32];
        printf("exported %lld message%s (%s) from %lld folder%s to %s", (long long)rep.messages,
               rep.messages == 1 ? "" : "s", mv_cli_bytes(rep.bytes, b, sizeof b),
               (long long)rep.folders, rep.folders == 1 ? "" : "s", eo.out_dir);
        if (rep.existing)
            printf("; %lld already there", (long long)rep.existing);
        printf("\n");
    }
    if (rep.newline_added)
        fprintf(stderr,
                "%s: export: %lld message%s did not end with a newline; mbox needs one, so it "
                "was added (use --format maildir or eml for exact bytes)\n",
                cli->prog, (long long)rep.newline_added, rep.newline_added == 1 ? "" : "s");
    return MV_EXIT_OK;
}

/* --- verify --- */

static void print_damage(void *ctx, const mv_damage *d)
{
    mv_cli *cli = ctx;
    if (d->id)
        fprintf(stderr, "%s: verify: message %lld (sha256 %s): %s\n", cli->prog, (long long)d->id,
                d->sha256_hex, d->problem);
    else
        fprintf(stderr, "%s: verify: %s\n", cli->prog, d->problem);
}

int mv_cmd_verify(mv_cli *cli, int argc, char **argv)
{
    int c;
    while ((c = mv_cli_next_option(cli, argc, argv, "", NULL)) >= 0)
        ;
    OPTION_END(c);
    if (optind < argc)
        return mv_cli_usage_error(cli, "unexpected argument \"%s\"", argv[optind]);

    mv_error err = {0};
    mv_archive *ar;
    if (mv_cli_open(cli, MV_ARCHIVE_READ, &ar, &err) != MV_OK)
        return mv_cli_fail(cli, &err);
    int64_t checked, damaged;
    mv_status st = mv_archive_verify(ar, print_damage, cli, &checked, &damaged, &err);
    mv_archive_close(ar);
    if (st == MV_ERR_CORRUPT) {
        fprintf(stderr, "%s: verify: %lld message%s checked, %lld problem%s\n", cli->prog,
                (long long)checked, checked == 1 ? "" : "s", (long long)damaged,
                damaged == 1 ? "" : "s");
        return MV_EXIT_DAMAGED;
    }
    if (st != MV_OK)
        return mv_cli_fail(cli, &err);
    if (!cli->quiet)
        printf("verified %lld message%s: all intact\n", (long long)checked,
               checked == 1 ? "" : "s");
    return MV_EXIT_OK;
}

/* --- stats --- */

static double ratio(int64_t raw, int64_t stored)
{
    return stored > 0 ? (double)raw / (double)stored : 0.0;
}

static int print_folder_stats(void *ctx, const mv_folder_info *f)
{
    (void)ctx;
    char a[32], b[32];
    printf("  %-30s %8lld %12s %12s %6.2fx\n", f->name, (long long)(f->messages + f->expunged),
           mv_cli_bytes(f->raw_bytes, a, sizeof a), mv_cli_bytes(f->stored_bytes, b, sizeof b),
           ratio(f->raw_bytes, f->stored_bytes));
    return 0;
}

int mv_cmd_stats(mv_cli *cli, int argc, char **argv)
{
    int c;
    while ((c = mv_cli_next_option(cli, argc, argv, "", NULL)) >= 0)
        ;
    OPTION_END(c);
    if (optind < argc)
        return mv_cli_usage_error(cli, "unexpected argument \"%s\"", argv[optind]);

    mv_error err = {0};
    mv_archive *ar;
    if (mv_cli_open(cli, MV_ARCHIVE_READ, &ar, &err) != MV_OK)
        return mv_cli_fail(cli, &err);
    mv_totals t;
    mv_status st = mv_archive_totals(ar, &t, &err);
    if (st == MV_OK) {
        char a[32], b[32], f[32];
        printf("archive:      %s (%s on disk)\n", mv_archive_path(ar),
               mv_cli_bytes(t.file_bytes, f, sizeof f));
        printf("messages:     %lld distinct, %lld folder entries\n", (long long)t.messages,
               (long long)t.locations);
        printf("raw bytes:    %lld (%s)\n", (long long)t.raw_bytes,
               mv_cli_bytes(t.raw_bytes, a, sizeof a));
        printf("stored bytes: %lld (%s)\n", (long long)t.stored_bytes,
               mv_cli_bytes(t.stored_bytes, b, sizeof b));
        printf("ratio:        %.2fx (stored is %.1f%% of raw)\n",
               ratio(t.raw_bytes, t.stored_bytes),
               t.raw_bytes ? 100.0 * (double)t.stored_bytes / (double)t.raw_bytes : 0.0);
        printf("compression:  zlib level %d for new messages\n", mv_archive_compression(ar));
        printf("dictionary:   %lld trained, %lld message%s compressed with one\n",
               (long long)t.dictionaries, (long long)t.with_dictionary,
               t.with_dictionary == 1 ? "" : "s");
        printf("per folder:   %-30s %8s %12s %12s %7s\n", "", "MESSAGES", "RAW", "STORED", "RATIO");
        st = mv_archive_folders(ar, print_folder_stats, NULL, &err);
    }
    mv_archive_close(ar);
    return st == MV_OK ? MV_EXIT_OK : mv_cli_fail(cli, &err);
}
