/* Unit tests for core/import.c: batching, deduplication, flag updates, partial failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "archive.h"
#include "import.h"
#include "mime.h"

typedef struct fixture {
    char dir[64];
    char md[96];
    mv_archive *ar;
} fixture;

static void write_msg(const char *path, int i)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "From: a%d@example.com\nSubject: message %d\nMessage-ID: <%d@example.com>\n\nbody %d\n",
            i, i, i, i);
    fclose(f);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    char path[160];
    snprintf(f->dir, sizeof f->dir, "/tmp/mv-test-import-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->md, sizeof f->md, "%s/md", f->dir);
    mkdir(f->md, 0700);
    const char *sub[] = {"cur", "new", "tmp", ".Sent", ".Sent/cur", ".Sent/new", ".Sent/tmp"};
    for (size_t i = 0; i < sizeof sub / sizeof sub[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", f->md, sub[i]);
        assert_int_equal(mkdir(path, 0700), 0);
    }
    /* 250 messages in INBOX (more than two batches), one also in Sent. */
    for (int i = 0; i < 250; i++) {
        snprintf(path, sizeof path, "%s/cur/%d.test:2,S", f->md, i);
        write_msg(path, i);
    }
    snprintf(path, sizeof path, "%s/.Sent/cur/x.test:2,S", f->md);
    write_msg(path, 7);
    snprintf(path, sizeof path, "%s/a.sqlite", f->dir);
    mv_archive_options o = {.mode = MV_ARCHIVE_CREATE};
    mv_error err = {0};
    assert_int_equal(mv_archive_open(path, &o, &f->ar, &err), MV_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[160];
    mv_archive_close(f->ar);
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

typedef struct counter {
    int errors;
    int progress;
    char last[MV_ERROR_MSG_MAX];
} counter;

static void on_error(void *ctx, const mv_error *e)
{
    counter *c = ctx;
    c->errors++;
    snprintf(c->last, sizeof c->last, "%s", e->msg);
}

static void on_progress(void *ctx, const mv_import_report *r)
{
    counter *c = ctx;
    (void)r;
    c->progress++;
}

static void test_import_and_reimport(void **state)
{
    fixture *f = *state;
    mv_error err = {0};
    counter c = {0};
    mv_import_options o = {.account = "local",
                           .batch_messages = 100,
                           .on_error = on_error,
                           .on_progress = on_progress,
                           .ctx = &c};
    mv_import_report rep;
    assert_int_equal(mv_import_run(f->ar, f->md, &o, &rep, &err), MV_OK);
    assert_int_equal(rep.seen, 251);
    assert_int_equal(rep.stored, 250);
    assert_int_equal(rep.filed, 251);
    assert_int_equal(rep.errors, 0);
    assert_int_equal(c.progress, 251);
    mv_totals t;
    assert_int_equal(mv_archive_totals(f->ar, &t, &err), MV_OK);
    assert_int_equal(t.messages, 250);
    assert_int_equal(t.locations, 251);
    /* 250 messages pass the training threshold: the import ended a batch for it. */
    assert_int_equal(t.dictionaries, 1);
    assert_true(t.with_dictionary > 100);

    /* Again: nothing new. */
    assert_int_equal(mv_import_run(f->ar, f->md, &o, &rep, &err), MV_OK);
    assert_int_equal(rep.stored, 0);
    assert_int_equal(rep.filed, 0);
    assert_int_equal(rep.unchanged, 251);

    /* A flag change in a file name is picked up. */
    char from[200], to[200];
    snprintf(from, sizeof from, "%s/cur/5.test:2,S", f->md);
    snprintf(to, sizeof to, "%s/cur/5.test:2,FS", f->md);
    assert_int_equal(rename(from, to), 0);
    assert_int_equal(mv_import_run(f->ar, f->md, &o, &rep, &err), MV_OK);
    assert_int_equal(rep.flag_changes, 1);
    assert_int_equal(rep.stored, 0);
}

static void test_partial_and_input_errors(void **state)
{
    fixture *f = *state;
    mv_error err = {0};
    counter c = {0};
    mv_import_options o = {.on_error = on_error, .ctx = &c};
    mv_import_report rep;
    char path[200];
    snprintf(path, sizeof path, "%s/cur/garbage:2,S", f->md);
    FILE *g = fopen(path, "wb");
    fwrite("\x01\x02\x03 not mail at all", 1, 20, g);
    fclose(g);
    assert_int_equal(mv_import_run(f->ar, f->md, &o, &rep, &err), MV_ERR_PARTIAL);
    assert_int_equal(c.errors, 1);
    assert_non_null(strstr(c.last, "garbage:2,S"));
    assert_int_equal(rep.stored, 250);

    /* Only bad input: an input error, and nothing written. */
    mv_totals before, after;
    assert_int_equal(mv_archive_totals(f->ar, &before, &err), MV_OK);
    mv_error_clear(&err);
    assert_int_equal(mv_import_run(f->ar, path, &o, &rep, &err), MV_ERR_INPUT);
    assert_int_equal(mv_archive_totals(f->ar, &after, &err), MV_OK);
    assert_int_equal(before.messages, after.messages);
    assert_int_equal(before.locations, after.locations);
    snprintf(path, sizeof path, "%s/missing", f->dir);
    mv_error_clear(&err);
    assert_int_equal(mv_import_run(f->ar, path, &o, &rep, &err), MV_ERR_INPUT);
    assert_non_null(strstr(err.msg, "missing"));
}

int main(void)
{
    mv_mime_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_import_and_reimport, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_and_input_errors, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    mv_mime_shutdown();
    return rc;
}
