/* Unit tests for storage/archive.c: opening, refusing, locking, locations, verify. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "archive_int.h"
#include "blob.h"
#include "fts.h"
#include "mime.h"

typedef struct fixture {
    char dir[64];
    char path[128];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/mv-test-archive-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/sub/dir/a.sqlite", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static mv_archive *open_mode(const char *path, mv_archive_mode mode, mv_status want, mv_error *err)
{
    mv_archive_options o = {.mode = mode};
    mv_archive *ar = NULL;
    mv_error_clear(err);
    assert_int_equal(mv_archive_open(path, &o, &ar, err), want);
    return ar;
}

static int64_t scalar(mv_archive *ar, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(ar->db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int64_t add_message(mv_archive *ar, const char *text)
{
    mv_error err = {0};
    mv_blob_writer *w;
    int64_t id;
    int is_new;
    assert_int_equal(mv_blob_writer_begin(ar, -1, &w, &err), MV_OK);
    assert_int_equal(mv_blob_writer_write(w, text, strlen(text), &err), MV_OK);
    assert_int_equal(mv_blob_writer_finish(w, &id, &is_new, NULL, &err), MV_OK);
    return id;
}

static void test_create_modes_and_permissions(void **state)
{
    fixture *f = *state;
    mv_error err;
    /* Missing archive: READ and WRITE refuse, CREATE makes it and its directories. */
    assert_null(open_mode(f->path, MV_ARCHIVE_READ, MV_ERR_ARCHIVE, &err));
    assert_non_null(strstr(err.msg, "no archive here"));
    assert_null(open_mode(f->path, MV_ARCHIVE_WRITE, MV_ERR_ARCHIVE, &err));
    mv_archive *ar = open_mode(f->path, MV_ARCHIVE_CREATE, MV_OK, &err);
    assert_int_equal(mv_archive_created(ar), 1);
    assert_int_equal(scalar(ar, "PRAGMA user_version"), MV_ARCHIVE_SCHEMA_VERSION);
    assert_int_equal(scalar(ar, "PRAGMA application_id"), 0x4d564c54);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(ar->db, "PRAGMA journal_mode", -1, &st, NULL);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    mv_archive_close(ar);

    struct stat sb;
    assert_int_equal(stat(f->path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    char dir[160];
    snprintf(dir, sizeof dir, "%s/sub/dir", f->dir);
    assert_int_equal(stat(dir, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);

    /* Opening again does not "create". */
    ar = open_mode(f->path, MV_ARCHIVE_CREATE, MV_OK, &err);
    assert_int_equal(mv_archive_created(ar), 0);
    mv_archive_close(ar);
    ar = open_mode(f->path, MV_ARCHIVE_READ, MV_OK, &err);
    mv_archive_close(ar);
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, n, fp), n);
    fclose(fp);
}

static void test_refuses_foreign_files(void **state)
{
    fixture *f = *state;
    mv_error err;
    char p[160];

    snprintf(p, sizeof p, "%s/text.txt", f->dir);
    write_file(p, "hello, this is not a database at all\n", 37);
    assert_null(open_mode(p, MV_ARCHIVE_WRITE, MV_ERR_ARCHIVE, &err));
    assert_non_null(strstr(err.msg, "not an SQLite database"));
    assert_non_null(strstr(err.msg, p));

    snprintf(p, sizeof p, "%s/empty", f->dir);
    write_file(p, "", 0);
    assert_null(open_mode(p, MV_ARCHIVE_READ, MV_ERR_ARCHIVE, &err));
    assert_non_null(strstr(err.msg, "empty file"));

    /* Another program's SQLite database. */
    snprintf(p, sizeof p, "%s/other.sqlite", f->dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_null(open_mode(p, MV_ARCHIVE_WRITE, MV_ERR_ARCHIVE, &err));
    assert_non_null(strstr(err.msg, "another program"));
    /* ... and it was not touched. */
    assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "SELECT x FROM t", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    /* A directory. */
    assert_null(open_mode(f->dir, MV_ARCHIVE_CREATE, MV_ERR_ARCHIVE, &err));
    assert_non_null(strstr(err.msg, "directory"));
}

static void test_refuses_newer_schema(void **state)
{
    fixture *f = *state;
    mv_error err;
    mv_archive *ar = open_mode(f->path, MV_ARCHIVE_CREATE, MV_OK, &err);
    mv_archive_close(ar);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_null(open_mode(f->path, MV_ARCHIVE_WRITE, MV_ERR_ARCHIVE, &err));
    assert_non_null(strstr(err.msg, "newer mailvault"));
    assert_null(open_mode(f->path, MV_ARCHIVE_READ, MV_ERR_ARCHIVE, &err));
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 99);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void test_migrations_run_forward_once(void **state)
{
    fixture *f = *state;
    mv_error err;
    mv_archive *ar = open_mode(f->path, MV_ARCHIVE_CREATE, MV_OK, &err);
    /* The machinery on steps of our own: the real versions (no-ops here), then two more. */
    const char *steps[MV_ARCHIVE_SCHEMA_VERSION + 3];
    int v = MV_ARCHIVE_SCHEMA_VERSION;
    for (int i = 0; i < v; i++)
        steps[i] = "SELECT 1";
    steps[v] = "CREATE TABLE extra(x); INSERT INTO extra VALUES(2)";
    steps[v + 1] = "INSERT INTO extra VALUES(3)";
    assert_int_equal(mv_archive_migrate(ar, steps, v + 2, &err), MV_OK);
    assert_int_equal(scalar(ar, "PRAGMA user_version"), v + 2);
    assert_int_equal(scalar(ar, "SELECT sum(x) FROM extra"), 5);
    /* Running again does nothing. */
    assert_int_equal(mv_archive_migrate(ar, steps, v + 2, &err), MV_OK);
    assert_int_equal(scalar(ar, "SELECT count(*) FROM extra"), 2);
    /* A failing step rolls back entirely: the version stays. */
    steps[v + 2] = "INSERT INTO extra VALUES(4); INSERT INTO nosuch VALUES(1)";
    mv_error_clear(&err);
    assert_int_not_equal(mv_archive_migrate(ar, steps, v + 3, &err), MV_OK);
    assert_int_equal(scalar(ar, "PRAGMA user_version"), v + 2);
    assert_int_equal(scalar(ar, "SELECT count(*) FROM extra"), 2);
    mv_archive_close(ar);
}

/* An archive written by the first release (schema 1) is brought forward by a writer, and
 * refused by a reader until then. */
static void test_upgrade_from_schema_1(void **state)
{
    fixture *f = *state;
    mv_error err;
    mv_archive *ar = open_mode(f->path, MV_ARCHIVE_CREATE, MV_OK, &err);
    mv_archive_close(ar);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(mv_fts_register(db, &err), MV_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "DROP TABLE search;"
                                  "DROP TABLE pop3_uidls;"
                                  "ALTER TABLE messages DROP COLUMN has_attachment;"
                                  "PRAGMA user_version = 1",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_null(open_mode(f->path, MV_ARCHIVE_READ, MV_ERR_ARCHIVE, &err));
    assert_non_null(strstr(err.msg, "mailvault init"));
    ar = open_mode(f->path, MV_ARCHIVE_WRITE, MV_OK, &err);
    assert_int_equal(scalar(ar, "PRAGMA user_version"), MV_ARCHIVE_SCHEMA_VERSION);
    assert_int_equal(scalar(ar, "SELECT count(*) FROM pop3_uidls"), 0);
    assert_int_equal(scalar(ar, "SELECT count(has_attachment) FROM messages"), 0);
    assert_int_equal(scalar(ar, "SELECT count(*) FROM sqlite_master WHERE name = 'search'"), 1);
    mv_archive_close(ar);
}

static void test_writer_lock(void **state)
{
    fixture *f = *state;
    mv_error err;
    mv_archive *a = open_mode(f->path, MV_ARCHIVE_CREATE, MV_OK, &err);
    /* A second writer in another process is refused at once... */
    pid_t pid = fork();
    if (pid == 0) {
        mv_archive_options o = {.mode = MV_ARCHIVE_WRITE};
        mv_archive *b;
        mv_error e = {0};
        mv_status st = mv_archive_open(f->path, &o, &b, &e);
        _exit(st == MV_ERR_LOCKED && strstr(e.msg, "in use") ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* ... while a reader is not. */
    mv_archive *r = open_mode(f->path, MV_ARCHIVE_READ, MV_OK, &err);
    mv_archive_close(r);
    /* A writer that waits gets in once the first one is gone. */
    pid = fork();
    if (pid == 0) {
        /* The child inherited our descriptor, which shares the flock: drop it, as exec
         * (O_CLOEXEC) would. */
        close(a->lock_fd);
        mv_archive_options o = {.mode = MV_ARCHIVE_WRITE, .lock_wait_ms = 5000};
        mv_archive *b;
        mv_error e = {0};
        _exit(mv_archive_open(f->path, &o, &b, &e) == MV_OK ? 0 : 1);
    }
    usleep(300 * 1000);
    mv_archive_close(a);
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_local_file_dedup_and_flags(void **state)
{
    fixture *f = *state;
    mv_error err;
    mv_archive *ar = open_mode(f->path, MV_ARCHIVE_CREATE, MV_OK, &err);
    int64_t acct, inbox, archive, run, msg;
    int added, changed;
    assert_int_equal(mv_archive_begin(ar, &err), MV_OK);
    assert_int_equal(mv_archive_account(ar, "local", "local", &acct, &err), MV_OK);
    assert_int_equal(mv_archive_run_begin(ar, acct, "import", &run, &err), MV_OK);
    assert_int_equal(mv_archive_mailbox(ar, acct, "INBOX", '/', &inbox, &err), MV_OK);
    assert_int_equal(mv_archive_mailbox(ar, acct, "Archive/2019", '/', &archive, &err), MV_OK);
    int64_t again;
    assert_int_equal(mv_archive_mailbox(ar, acct, "INBOX", '/', &again, &err), MV_OK);
    assert_int_equal(again, inbox);
    msg = add_message(ar, "Subject: one\n\nbody\n");

    assert_int_equal(
        mv_archive_local_file(ar, inbox, msg, "\\Seen", 1000, run, &added, &changed, &err), MV_OK);
    assert_true(added && !changed);
    /* Same content, same folder: nothing new. */
    assert_int_equal(
        mv_archive_local_file(ar, inbox, msg, "\\Seen", 1000, run, &added, &changed, &err), MV_OK);
    assert_true(!added && !changed);
    /* Same content in a second folder: one blob, two locations. */
    assert_int_equal(mv_archive_local_file(ar, archive, msg, "", -1, run, &added, &changed, &err),
                     MV_OK);
    assert_true(added);
    /* Flags changed: updated and recorded. */
    assert_int_equal(mv_archive_local_file(ar, inbox, msg, "\\Flagged \\Seen", 1000, run, &added,
                                           &changed, &err),
                     MV_OK);
    assert_true(!added && changed);
    mv_run_counts c = {.messages_new = 1, .locations_new = 2, .flag_changes = 1};
    assert_int_equal(mv_archive_run_end(ar, run, "ok", &c, NULL, &err), MV_OK);
    assert_int_equal(mv_archive_commit(ar, &err), MV_OK);

    assert_int_equal(scalar(ar, "SELECT count(*) FROM messages"), 1);
    assert_int_equal(scalar(ar, "SELECT count(*) FROM locations"), 2);
    assert_int_equal(scalar(ar, "SELECT count(*) FROM flag_history WHERE old_flags = '\\Seen'"
                                " AND new_flags = '\\Flagged \\Seen'"),
                     1);
    assert_int_equal(scalar(ar, "SELECT uid FROM locations WHERE mailbox = 1"), 1);
    assert_int_equal(scalar(ar, "SELECT uidnext FROM mailboxes WHERE name = 'INBOX'"), 2);
    assert_int_equal(scalar(ar, "SELECT internaldate FROM locations WHERE mailbox = 1"), 1000);
    assert_int_equal(scalar(ar, "SELECT count(*) FROM runs WHERE outcome = 'ok'"
                                " AND locations_new = 2 AND ended_at IS NOT NULL"),
                     1);

    mv_mailbox_state ms;
    assert_int_equal(mv_archive_mailbox_state(ar, inbox, &ms, &err), MV_OK);
    assert_true(ms.uidvalidity > 0);
    assert_int_equal(ms.uidnext, 2);
    mv_archive_close(ar);
}

static int count_cb(void *ctx, const mv_folder_info *fi)
{
    int64_t *n = ctx;
    n[0]++;
    n[1] += fi->messages;
    return 0;
}

static int msg_cb(void *ctx, const mv_message_info *m)
{
    int *n = ctx;
    (*n)++;
    assert_non_null(m->folder);
    assert_true(m->size > 0);
    return 0;
}

static void test_listing_and_resolve(void **state)
{
    fixture *f = *state;
    mv_error err;
    mv_archive *ar = open_mode(f->path, MV_ARCHIVE_CREATE, MV_OK, &err);
    int64_t acct, inbox, sent, m1, m2;
    int added, changed;
    assert_int_equal(mv_archive_begin(ar, &err), MV_OK);
    assert_int_equal(mv_archive_account(ar, "local", "local", &acct, &err), MV_OK);
    assert_int_equal(mv_archive_mailbox(ar, acct, "INBOX", '/', &inbox, &err), MV_OK);
    assert_int_equal(mv_archive_mailbox(ar, acct, "Sent", '/', &sent, &err), MV_OK);
    m1 = add_message(ar, "Subject: one\n\nbody\n");
    m2 = add_message(ar, "Subject: two\n\nbody\n");
    mv_archive_local_file(ar, inbox, m1, "", 0, 0, &added, &changed, &err);
    mv_archive_local_file(ar, inbox, m2, "", 0, 0, &added, &changed, &err);
    mv_archive_local_file(ar, sent, m2, "", 0, 0, &added, &changed, &err);
    /* A location the server deleted: listed separately, exported only when asked. */
    assert_int_equal(mv_archive_exec(ar, "UPDATE locations SET expunged_at = 5 WHERE id = 1", &err),
                     MV_OK);
    assert_int_equal(mv_archive_commit(ar, &err), MV_OK);

    int64_t n[2] = {0, 0};
    assert_int_equal(mv_archive_folders(ar, count_cb, n, &err), MV_OK);
    assert_int_equal(n[0], 2);
    assert_int_equal(n[1], 2);
    int count = 0;
    mv_message_filter all = {NULL, 1, NULL}, live = {NULL, 0, NULL},
                      inbox_only = {"INBOX", 1, NULL};
    assert_int_equal(mv_archive_messages(ar, &all, msg_cb, &count, &err), MV_OK);
    assert_int_equal(count, 3);
    count = 0;
    assert_int_equal(mv_archive_messages(ar, &live, msg_cb, &count, &err), MV_OK);
    assert_int_equal(count, 2);
    count = 0;
    assert_int_equal(mv_archive_messages(ar, &inbox_only, msg_cb, &count, &err), MV_OK);
    assert_int_equal(count, 2);

    int64_t id;
    assert_int_equal(mv_archive_message_resolve(ar, "2", &id, &err), MV_OK);
    assert_int_equal(id, m2);
    assert_int_equal(mv_archive_message_resolve(ar, "77", &id, &err), MV_ERR_NOTFOUND);
    unsigned char sha[MV_SHA256_LEN];
    char hex[MV_SHA256_HEX_LEN + 1];
    const char *text = "Subject: one\n\nbody\n";
    mv_hash_sha256(text, strlen(text), sha);
    mv_hash_hex(sha, hex);
    hex[12] = '\0';
    assert_int_equal(mv_archive_message_resolve(ar, hex, &id, &err), MV_OK);
    assert_int_equal(id, m1);
    assert_int_equal(mv_archive_message_resolve(ar, "zz12345678", &id, &err), MV_ERR_USAGE);
    mv_archive_close(ar);
}

typedef struct damage_log {
    int count;
    int64_t id;
    char problem[600];
} damage_log;

static void damage_cb(void *ctx, const mv_damage *d)
{
    damage_log *log = ctx;
    log->count++;
    if (d->id) {
        log->id = d->id;
        snprintf(log->problem, sizeof log->problem, "%s", d->problem);
    }
}

static void test_verify(void **state)
{
    fixture *f = *state;
    mv_error err;
    mv_archive *ar = open_mode(f->path, MV_ARCHIVE_CREATE, MV_OK, &err);
    int64_t acct, inbox, m1, m2;
    int added, changed;
    assert_int_equal(mv_archive_begin(ar, &err), MV_OK);
    assert_int_equal(mv_archive_account(ar, "local", "local", &acct, &err), MV_OK);
    assert_int_equal(mv_archive_mailbox(ar, acct, "INBOX", '/', &inbox, &err), MV_OK);
    m1 = add_message(ar, "Subject: one\n\nbody one\n");
    m2 = add_message(ar, "Subject: two\n\nbody two\n");
    mv_archive_local_file(ar, inbox, m1, "", 0, 0, &added, &changed, &err);
    mv_archive_local_file(ar, inbox, m2, "", 0, 0, &added, &changed, &err);
    assert_int_equal(mv_archive_commit(ar, &err), MV_OK);

    damage_log log = {0};
    int64_t checked, damaged;
    assert_int_equal(mv_archive_verify(ar, damage_cb, &log, &checked, &damaged, &err), MV_OK);
    assert_int_equal(checked, 2);
    assert_int_equal(damaged, 0);
    assert_int_equal(log.count, 0);

    /* Replace message 2's stored bytes with a valid zlib stream of different content:
     * only the SHA-256 comparison can notice. */
    sqlite3_stmt *st;
    sqlite3_prepare_v2(ar->db,
                       "UPDATE chunks SET data = (SELECT data FROM chunks WHERE message = ?1)"
                       " WHERE message = ?2",
                       -1, &st, NULL);
    sqlite3_bind_int64(st, 1, m1);
    sqlite3_bind_int64(st, 2, m2);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    mv_error_clear(&err);
    assert_int_equal(mv_archive_verify(ar, damage_cb, &log, &checked, &damaged, &err),
                     MV_ERR_CORRUPT);
    assert_int_equal(checked, 2);
    assert_int_equal(damaged, 1);
    assert_int_equal(log.id, m2);
    assert_non_null(strstr(log.problem, "SHA-256"));
    assert_non_null(strstr(log.problem, "INBOX UID 2"));
    mv_archive_close(ar);
}

int main(void)
{
    mv_mime_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_modes_and_permissions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_foreign_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_newer_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrations_run_forward_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_from_schema_1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_local_file_dedup_and_flags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listing_and_resolve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    mv_mime_shutdown();
    return rc;
}
