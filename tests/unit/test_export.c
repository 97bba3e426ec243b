/* Unit tests for core/export.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "archive.h"
#include "blob.h"
#include "export.h"
#include "mime.h"
#include "source.h"

static void test_folder_path_is_confined(void **state)
{
    (void)state;
    char out[64];
    struct {
        const char *in, *want;
    } cases[] = {
        {"INBOX", "INBOX"},
        {"Archive/2019", "Archive/2019"},
        {"../../etc", "%2E%2E/%2E%2E/etc"},
        {"/etc/passwd", "%00/etc/passwd"},
        {"a//b", "a/%00/b"},
        {"a/./b", "a/%2E/b"},
        {".hidden", "%2Ehidden"},
        {"100%", "100%25"},
        {"new\nline", "new%0Aline"},
        {"Lists.kernel", "Lists.kernel"},
        {"Đà Nẵng", "Đà Nẵng"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(mv_export_folder_path(cases[i].in, out, sizeof out),
                         (int)strlen(cases[i].want));
        assert_string_equal(out, cases[i].want);
    }
    assert_int_equal(mv_export_folder_path("a-rather-long-folder-name", out, 8), -1);
}

typedef struct fixture {
    char dir[64];
    mv_archive *ar;
    int64_t mailbox;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    char path[128];
    mv_error err = {0};
    snprintf(f->dir, sizeof f->dir, "/tmp/mv-test-export-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(path, sizeof path, "%s/a.sqlite", f->dir);
    mv_archive_options o = {.mode = MV_ARCHIVE_CREATE};
    assert_int_equal(mv_archive_open(path, &o, &f->ar, &err), MV_OK);
    int64_t acct;
    assert_int_equal(mv_archive_begin(f->ar, &err), MV_OK);
    assert_int_equal(mv_archive_account(f->ar, "local", "local", &acct, &err), MV_OK);
    assert_int_equal(mv_archive_mailbox(f->ar, acct, "Lists/dev", '/', &f->mailbox, &err), MV_OK);
    assert_int_equal(mv_archive_commit(f->ar, &err), MV_OK);
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

static void add(fixture *f, const char *text, size_t len, const char *flags, int64_t date)
{
    mv_error err = {0};
    mv_blob_writer *w;
    int64_t id;
    int is_new, added, changed;
    assert_int_equal(mv_archive_begin(f->ar, &err), MV_OK);
    assert_int_equal(mv_blob_writer_begin(f->ar, -1, &w, &err), MV_OK);
    assert_int_equal(mv_blob_writer_write(w, text, len, &err), MV_OK);
    assert_int_equal(mv_blob_writer_finish(w, &id, &is_new, NULL, &err), MV_OK);
    assert_int_equal(
        mv_archive_local_file(f->ar, f->mailbox, id, flags, date, 0, &added, &changed, &err),
        MV_OK);
    assert_int_equal(mv_archive_commit(f->ar, &err), MV_OK);
}

/* Message bodies that stress mboxrd escaping: From lines, quoted From lines, a CRLF message,
 * a message ending inside a would-be "From " and a message with no final newline. */
static const char *const tricky[] = {
    "Subject: a\n\nFrom the start of a line\n>From quoted\n>>From twice\nFrom\n",
    "Subject: b\r\n\r\nFrom crlf\r\n>From crlf quoted\r\n",
    "Subject: c\n\nends on a partial\n>>Fro",
    "Subject: d\n\n\n\nblank lines at the end\n\n\n",
    "Subject: e\n\nno final newline",
};

static void read_message(mv_source *src, char *buf, size_t cap, size_t *len)
{
    mv_error err = {0};
    *len = 0;
    for (;;) {
        size_t got;
        assert_int_equal(mv_source_read(src, buf + *len, cap - *len, &got, &err), MV_OK);
        if (got == 0)
            break;
        *len += got;
    }
}

static void test_mbox_round_trip(void **state)
{
    fixture *f = *state;
    mv_error err = {0};
    size_t n = sizeof tricky / sizeof tricky[0];
    for (size_t i = 0; i < n; i++)
        add(f, tricky[i], strlen(tricky[i]), "\\Seen", 1551690765 + (int64_t)i);

    char out[128], mbox[160];
    snprintf(out, sizeof out, "%s/out", f->dir);
    mv_export_options eo = {.format = MV_EXPORT_MBOX, .out_dir = out, .include_expunged = 1};
    mv_export_report rep;
    assert_int_equal(mv_export_run(f->ar, &eo, &rep, &err), MV_OK);
    assert_int_equal(rep.messages, (int64_t)n);
    assert_int_equal(rep.newline_added, 2); /* c and e */
    assert_int_equal(rep.folders, 1);
    snprintf(mbox, sizeof mbox, "%s/Lists/dev.mbox", out);

    mv_source *src;
    mv_source_options so = {MV_MBOX_RD, NULL};
    assert_int_equal(mv_source_open(mbox, &so, &src, &err), MV_OK);
    for (size_t i = 0; i < n; i++) {
        const mv_source_msg *m;
        char buf[512];
        size_t len;
        assert_int_equal(mv_source_next(src, &m, &err), MV_OK);
        assert_non_null(m);
        read_message(src, buf, sizeof buf, &len);
        if (tricky[i][strlen(tricky[i]) - 1] != '\n') {
            /* What mbox cannot carry: it comes back with the newline export added. */
            assert_int_equal(len, strlen(tricky[i]) + 1);
            assert_memory_equal(buf, tricky[i], strlen(tricky[i]));
        } else {
            assert_int_equal(len, strlen(tricky[i]));
            assert_memory_equal(buf, tricky[i], len);
        }
        /* From_ line carries the INTERNALDATE. */
        assert_int_equal(m->internaldate, 1551690765 + (int64_t)i);
    }
    const mv_source_msg *end;
    assert_int_equal(mv_source_next(src, &end, &err), MV_OK);
    assert_null(end);
    mv_source_close(src);

    /* The escaping itself, as a reader without unescaping sees it. */
    FILE *fp = fopen(mbox, "r");
    char text[4096];
    size_t got = fread(text, 1, sizeof text - 1, fp);
    fclose(fp);
    text[got] = '\0';
    assert_non_null(
        strstr(text, "\n>From the start of a line\n>>From quoted\n>>>From twice\nFrom\n"));
    assert_non_null(strstr(text, "\n>From crlf\r\n>>From crlf quoted\r\n"));
    assert_memory_equal(text, "From MAILER-DAEMON Mon Mar  4 09:12:45 2019\n", 44);
}

static void test_maildir_names_flags_and_dates(void **state)
{
    fixture *f = *state;
    mv_error err = {0};
    const char *msg = "Subject: flagged\n\nbody\n";
    add(f, msg, strlen(msg), "\\Answered \\Flagged \\Seen", 1262304000);

    char out[128], cur[192];
    snprintf(out, sizeof out, "%s/md", f->dir);
    mv_export_options eo = {.format = MV_EXPORT_MAILDIR, .out_dir = out, .include_expunged = 1};
    mv_export_report rep;
    assert_int_equal(mv_export_run(f->ar, &eo, &rep, &err), MV_OK);
    assert_int_equal(rep.messages, 1);
    snprintf(cur, sizeof cur, "%s/Lists/dev/cur", out);
    DIR *d = opendir(cur);
    assert_non_null(d);
    struct dirent *e;
    char name[256] = "";
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            snprintf(name, sizeof name, "%s", e->d_name);
    closedir(d);
    assert_non_null(strstr(name, ":2,FRS"));
    assert_non_null(strstr(name, ",S=23"));
    char path[512];
    snprintf(path, sizeof path, "%s/%s", cur, name);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal((int64_t)sb.st_mtime, 1262304000);
    assert_int_equal(sb.st_size, (off_t)strlen(msg));
    snprintf(path, sizeof path, "%s/Lists/dev/tmp", out);
    assert_int_equal(stat(path, &sb), 0);

    /* Again: nothing rewritten. */
    assert_int_equal(mv_export_run(f->ar, &eo, &rep, &err), MV_OK);
    assert_int_equal(rep.messages, 0);
    assert_int_equal(rep.existing, 1);

    /* An unknown folder is an error, not an empty export. */
    eo.folder = "Nope";
    assert_int_equal(mv_export_run(f->ar, &eo, &rep, &err), MV_ERR_NOTFOUND);
}

int main(void)
{
    mv_mime_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_folder_path_is_confined),
        cmocka_unit_test_setup_teardown(test_mbox_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_maildir_names_flags_and_dates, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    mv_mime_shutdown();
    return rc;
}
