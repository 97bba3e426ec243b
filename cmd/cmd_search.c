/* mailvault: `search`, `reindex`, and `show` (decoded). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "blob.h"
#include "cli.h"
#include "hash.h"
#include "index.h"
#include "mime.h"
#include "query.h"
#include "text.h"

/* The query is the rest of the command line, joined: `mailvault search from:ann budget`. */
static char *join_args(int argc, char **argv, int from)
{
    size_t len = 1;
    for (int i = from; i < argc; i++)
        len += strlen(argv[i]) + 1;
    char *q = malloc(len), *p = q;
    if (q == NULL)
        return NULL;
    *p = '\0';
    for (int i = from; i < argc; i++)
        p += sprintf(p, "%s%s", i > from ? " " : "", argv[i]);
    return q;
}

typedef struct hits {
    int64_t *ids;
    mv_search_hit *v;
    size_t n, cap;
} hits;

static char *dup0(const char *s)
{
    return strdup(s ? s : "");
}

static int collect(void *ctx, const mv_search_hit *h)
{
    hits *hs = ctx;
    if (hs->n == hs->cap) {
        size_t cap = hs->cap ? hs->cap * 2 : 64;
        mv_search_hit *v = realloc(hs->v, cap * sizeof *v);
        int64_t *ids = realloc(hs->ids, cap * sizeof *ids);
        if (v)
            hs->v = v;
        if (ids)
            hs->ids = ids;
        if (v == NULL || ids == NULL)
            return 1;
        hs->cap = cap;
    }
    mv_search_hit c = *h;
    c.from = dup0(h->from);
    c.to = dup0(h->to);
    c.subject = dup0(h->subject);
    c.message_id = dup0(h->message_id);
    c.folders = dup0(h->folders);
    hs->v[hs->n] = c;
    hs->ids[hs->n] = h->id;
    hs->n++;
    return 0;
}

static void free_hits(hits *hs)
{
    for (size_t i = 0; i < hs->n; i++) {
        free((char *)hs->v[i].from);
        free((char *)hs->v[i].to);
        free((char *)hs->v[i].subject);
        free((char *)hs->v[i].message_id);
        free((char *)hs->v[i].folders);
    }
    free(hs->v);
    free(hs->ids);
}

static int print_id(void *ctx, const mv_search_hit *h)
{
    (void)ctx;
    printf("%lld\n", (long long)h->id);
    return 0;
}

static void iso_date(int64_t t, char *buf, size_t cap)
{
    if (t < 0) {
        snprintf(buf, cap, "null");
        return;
    }
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, cap, "\"%Y-%m-%dT%H:%M:%SZ\"", &tm);
}

int mv_cmd_search(mv_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"limit", required_argument, NULL, 'l'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"count", no_argument, NULL, 'c'},
                                         {"output", required_argument, NULL, 'o'},
                                         {NULL, 0, NULL, 0}};
    int c, json = 0, count = 0, ids_only = 0;
    int64_t limit = 50;
    while ((c = mv_cli_next_option(cli, argc, argv, "l:jco:", opts)) >= 0) {
        if (c == 'j')
            json = 1;
        else if (c == 'c')
            count = 1;
        else if (c == 'o') {
            if (strcmp(optarg, "ids") == 0)
                ids_only = 1;
            else if (strcmp(optarg, "summary") != 0)
                return mv_cli_usage_error(cli, "--output is summary or ids, not \"%s\"", optarg);
        } else if (c == 'l') {
            char *end;
            long long v = strtoll(optarg, &end, 10);
            if (*end || v < 0)
                return mv_cli_usage_error(cli, "--limit wants a number, not \"%s\"", optarg);
            limit = v == 0 ? -1 : v;
        }
    }
    if (c == -2)
        return MV_EXIT_USAGE;
    if (c == -3)
        return MV_EXIT_OK;
    char *text = join_args(argc, argv, optind);
    if (text == NULL)
        return MV_EXIT_INTERNAL;

    mv_error err = {0};
    mv_query *q = NULL;
    mv_archive *ar = NULL;
    mv_status st = mv_query_parse(text, (int64_t)time(NULL), &q, &err);
    free(text);
    if (st != MV_OK)
        return mv_cli_fail(cli, &err);
    if ((st = mv_cli_open(cli, MV_ARCHIVE_READ, &ar, &err)) != MV_OK) {
        mv_query_free(q);
        return mv_cli_fail(cli, &err);
    }
    int64_t pending = 0;
    if (mv_index_pending(ar, &pending, &err) == MV_OK && pending > 0)
        fprintf(stderr, "%s: search: %lld message%s not indexed yet (run `mailvault reindex`)\n",
                cli->prog, (long long)pending, pending == 1 ? " is" : "s are");
    mv_error_clear(&err);

    hits hs = {0};
    if (count) {
        int64_t n;
        if ((st = mv_index_count(ar, q, &n, &err)) == MV_OK)
            printf("%lld\n", (long long)n);
    } else if (ids_only && !json) {
        st = mv_index_search(ar, q, limit, print_id, NULL, &err);
    } else {
        st = mv_index_search(ar, q, limit, collect, &hs, &err);
    }
    char **snips = NULL;
    if (st == MV_OK && hs.n > 0) {
        /* Highlighting on a terminal; plain text otherwise, so scripts get clean output. */
        int tty = isatty(STDOUT_FILENO) && !json;
        snips = calloc(hs.n, sizeof *snips);
        if (snips == NULL)
            st = mv_error_set(&err, MV_ERR_NOMEM, "out of memory");
        else
            st = mv_index_snippets(ar, q, hs.ids, hs.n, tty ? "\033[1;33m" : "",
                                   tty ? "\033[0m" : "", snips, &err);
    }
    if (st == MV_OK && json) {
        printf("[");
        for (size_t i = 0; i < hs.n; i++) {
            const mv_search_hit *h = &hs.v[i];
            char hex[MV_SHA256_HEX_LEN + 1], d[40];
            mv_hash_hex(h->sha256, hex);
            iso_date(h->date, d, sizeof d);
            printf(
                "%s\n {\"id\": %lld, \"sha256\": \"%s\", \"date\": %s, \"size\": %lld, \"from\": ",
                i ? "," : "", (long long)h->id, hex, d, (long long)h->size);
            mv_cli_json_string(stdout, h->from);
            printf(", \"to\": ");
            mv_cli_json_string(stdout, h->to);
            printf(", \"subject\": ");
            mv_cli_json_string(stdout, h->subject);
            printf(", \"message_id\": ");
            mv_cli_json_string(stdout, h->message_id);
            printf(", \"folders\": ");
            mv_cli_json_string(stdout, h->folders);
            printf(", \"deleted_on_server\": %s, \"exact\": %s, \"snippet\": ",
                   h->deleted ? "true" : "false", h->exact ? "true" : "false");
            mv_cli_json_string(stdout, snips ? snips[i] : "");
            printf("}");
        }
        printf("]\n");
    } else if (st == MV_OK && ids_only) {
        for (size_t i = 0; i < hs.n; i++)
            printf("%lld\n", (long long)hs.v[i].id);
    } else if (st == MV_OK) {
        for (size_t i = 0; i < hs.n; i++) {
            const mv_search_hit *h = &hs.v[i];
            char d[32];
            printf("%6lld  %-16s  ", (long long)h->id, mv_cli_date(h->date, d, sizeof d));
            mv_cli_column(stdout, h->from && h->from[0] ? h->from : "-", 24);
            printf("  ");
            mv_cli_column(stdout, h->subject && h->subject[0] ? h->subject : "(no subject)", 40);
            printf("  %s%s\n", h->folders ? h->folders : "",
                   h->deleted ? "  [deleted on server]" : "");
            if (snips && snips[i] && snips[i][0])
                printf("        %s\n", snips[i]);
        }
    }
    for (size_t i = 0; snips && i < hs.n; i++)
        free(snips[i]);
    free(snips);
    free_hits(&hs);
    mv_archive_close(ar);
    mv_query_free(q);
    return st == MV_OK ? MV_EXIT_OK : mv_cli_fail(cli, &err);
}

static void reindex_progress(void *ctx, int64_t done, int64_t total)
{
    mv_cli *cli = ctx;
    if (cli->progress)
        fprintf(stderr, "\r\033[Kindexing: %lld of %lld", (long long)done, (long long)total);
}

int mv_cmd_reindex(mv_cli *cli, int argc, char **argv)
{
    /* A long-only option: its code must not collide with the global short ones (-a). */
    static const struct option opts[] = {{"all", no_argument, NULL, 256}, {NULL, 0, NULL, 0}};
    int c, all = 0;
    while ((c = mv_cli_next_option(cli, argc, argv, "", opts)) >= 0)
        if (c == 256)
            all = 1;
    if (c == -2)
        return MV_EXIT_USAGE;
    if (c == -3)
        return MV_EXIT_OK;
    if (optind < argc)
        return mv_cli_usage_error(cli, "unexpected argument \"%s\"", argv[optind]);
    mv_error err = {0};
    mv_archive *ar;
    if (mv_cli_open(cli, MV_ARCHIVE_WRITE, &ar, &err) != MV_OK)
        return mv_cli_fail(cli, &err);
    int64_t n = 0, bytes = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    mv_status st = mv_index_rebuild(ar, all, reindex_progress, cli, &n, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (cli->progress)
        fputs("\r\033[K", stderr);
    if (st == MV_OK && !cli->quiet) {
        double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        char b[32];
        mv_index_size(ar, &bytes, &err);
        printf("indexed %lld message%s in %.1f s; the index takes %s\n", (long long)n,
               n == 1 ? "" : "s", s, mv_cli_bytes(bytes, b, sizeof b));
    }
    mv_archive_close(ar);
    return st == MV_OK ? MV_EXIT_OK : mv_cli_fail(cli, &err);
}
