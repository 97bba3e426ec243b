/* Unit tests for storage/blob.c: chunked compressed message storage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive_int.h"
#include "blob.h"
#include "hash.h"
#include "mime.h"

typedef struct fixture {
    char dir[64];
    char path[128];
    mv_archive *ar;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/mv-test-blob-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/a.sqlite", f->dir);
    mv_archive_options o = {.mode = MV_ARCHIVE_CREATE};
    mv_error err = {0};
    assert_int_equal(mv_archive_open(f->path, &o, &f->ar, &err), MV_OK);
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

/* Deterministic bytes with some redundancy, like mail. */
static unsigned char *make_bytes(size_t n, unsigned seed)
{
    unsigned char *p = malloc(n ? n : 1);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (i % 80 == 79) ? '\n' : (unsigned char)('a' + (x >> 16) % 20);
    }
    return p;
}

static int64_t store(mv_archive *ar, const unsigned char *data, size_t n, size_t piece, int *is_new)
{
    mv_error err = {0};
    mv_blob_writer *w;
    int64_t id;
    assert_int_equal(mv_archive_begin(ar, &err), MV_OK);
    assert_int_equal(mv_blob_writer_begin(ar, -1, &w, &err), MV_OK);
    for (size_t off = 0; off < n; off += piece) {
        size_t len = n - off < piece ? n - off : piece;
        assert_int_equal(mv_blob_writer_write(w, data + off, len, &err), MV_OK);
    }
    unsigned char sha[MV_SHA256_LEN], want[MV_SHA256_LEN];
    assert_int_equal(mv_blob_writer_finish(w, &id, is_new, sha, &err), MV_OK);
    mv_hash_sha256(data, n, want);
    assert_memory_equal(sha, want, MV_SHA256_LEN);
    assert_int_equal(mv_archive_commit(ar, &err), MV_OK);
    return id;
}

static void read_back(mv_archive *ar, int64_t id, const unsigned char *want, size_t n, size_t cap)
{
    mv_error err = {0};
    mv_blob_reader *r;
    unsigned char *buf = malloc(cap);
    size_t total = 0;
    assert_int_equal(mv_blob_reader_open(ar, id, &r, &err), MV_OK);
    for (;;) {
        size_t got;
        assert_int_equal(mv_blob_reader_read(r, buf, cap, &got, &err), MV_OK);
        if (got == 0)
            break;
        assert_true(total + got <= n);
        assert_memory_equal(buf, want + total, got);
        total += got;
    }
    assert_int_equal(total, n);
    mv_blob_reader_close(r);
    free(buf);
}

static void test_roundtrip_sizes(void **state)
{
    fixture *f = *state;
    /* Empty, tiny, exactly a chunk, just over, and several chunks of poorly compressible
     * data so the compressed stream really spans chunk rows. */
    size_t sizes[] = {0, 1, 100, MV_BLOB_CHUNK, MV_BLOB_CHUNK + 1, 3 * MV_BLOB_CHUNK + 17};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *data = make_bytes(sizes[i], (unsigned)i);
        int is_new;
        int64_t id = store(f->ar, data, sizes[i], 4099, &is_new);
        assert_true(id > 0);
        assert_int_equal(is_new, 1);
        read_back(f->ar, id, data, sizes[i], 65536);
        read_back(f->ar, id, data, sizes[i], 1);
        free(data);
    }
}

static void test_random_data_spans_chunks(void **state)
{
    fixture *f = *state;
    size_t n = 2 * MV_BLOB_CHUNK + 5000;
    unsigned char *data = malloc(n);
    FILE *ur = fopen("/dev/urandom", "rb");
    assert_non_null(ur);
    assert_int_equal(fread(data, 1, n, ur), n);
    fclose(ur);
    int is_new;
    int64_t id = store(f->ar, data, n, n, &is_new);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(
                         f->ar->db, "SELECT chunks, size, stored_size FROM messages WHERE id = ?1",
                         -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(st, 1, id);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_true(sqlite3_column_int64(st, 0) >= 3);
    assert_int_equal(sqlite3_column_int64(st, 1), (int64_t)n);
    sqlite3_finalize(st);
    read_back(f->ar, id, data, n, 7777);
    free(data);
}

static void test_duplicate_is_stored_once(void **state)
{
    fixture *f = *state;
    const char *msg = "From: a@example.com\r\nSubject: twice\r\n\r\nsame bytes\r\n";
    int is_new;
    int64_t a = store(f->ar, (const unsigned char *)msg, strlen(msg), 5, &is_new);
    assert_int_equal(is_new, 1);
    int64_t b = store(f->ar, (const unsigned char *)msg, strlen(msg), 7, &is_new);
    assert_int_equal(is_new, 0);
    assert_int_equal(a, b);
    mv_totals t;
    mv_error err = {0};
    assert_int_equal(mv_archive_totals(f->ar, &t, &err), MV_OK);
    assert_int_equal(t.messages, 1);
    /* The duplicate left no chunks behind. */
    sqlite3_stmt *st;
    sqlite3_prepare_v2(f->ar->db, "SELECT count(*) FROM chunks", -1, &st, NULL);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 1);
    sqlite3_finalize(st);
}

static void test_summary_columns(void **state)
{
    fixture *f = *state;
    const char *msg = "Date: Mon, 4 Mar 2019 09:12:45 +0000\n"
                      "From: Alice <alice@example.com>\n"
                      "To: Bob <bob@example.org>\n"
                      "Subject: =?UTF-8?B?xJDDoCBO4bq1bmc=?=\n"
                      "Message-ID: <abc@example.com>\n"
                      "\n"
                      "body\n";
    int is_new;
    int64_t id = store(f->ar, (const unsigned char *)msg, strlen(msg), 3, &is_new);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(f->ar->db,
                       "SELECT date, from_addr, subject, message_id FROM messages WHERE id = ?1",
                       -1, &st, NULL);
    sqlite3_bind_int64(st, 1, id);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(st, 0), 1551690765);
    assert_non_null(strstr((const char *)sqlite3_column_text(st, 1), "alice@example.com"));
    assert_string_equal((const char *)sqlite3_column_text(st, 2), "Đà Nẵng");
    assert_string_equal((const char *)sqlite3_column_text(st, 3), "abc@example.com");
    sqlite3_finalize(st);
}

static void test_abort_leaves_nothing(void **state)
{
    fixture *f = *state;
    mv_error err = {0};
    mv_blob_writer *w;
    unsigned char *data = make_bytes(MV_BLOB_CHUNK * 2, 9);
    assert_int_equal(mv_archive_begin(f->ar, &err), MV_OK);
    assert_int_equal(mv_blob_writer_begin(f->ar, -1, &w, &err), MV_OK);
    assert_int_equal(mv_blob_writer_write(w, data, MV_BLOB_CHUNK * 2, &err), MV_OK);
    mv_blob_writer_abort(w);
    assert_int_equal(mv_archive_commit(f->ar, &err), MV_OK);
    mv_totals t;
    assert_int_equal(mv_archive_totals(f->ar, &t, &err), MV_OK);
    assert_int_equal(t.messages, 0);
    free(data);
}

static void test_store_needs_transaction(void **state)
{
    fixture *f = *state;
    mv_error err = {0};
    mv_blob_writer *w;
    int64_t id;
    int is_new;
    assert_int_equal(mv_blob_writer_begin(f->ar, -1, &w, &err), MV_OK);
    assert_int_equal(mv_blob_writer_write(w, "x\n", 2, &err), MV_OK);
    assert_int_equal(mv_blob_writer_finish(w, &id, &is_new, NULL, &err), MV_ERR_INTERNAL);
    assert_int_equal(id, 0);
}

/* Stages are filled away from the archive (on connection threads during sync). */
typedef struct stage_job {
    const mv_blob_codec *codec;
    const unsigned char *data;
    size_t len;
    mv_blob_stage *stage;
    mv_status st;
} stage_job;

static void *fill_stage(void *arg)
{
    stage_job *j = arg;
    mv_error err = {0};
    j->st = mv_blob_stage_begin(j->codec, -1, &j->stage, &err);
    for (size_t off = 0; j->st == MV_OK && off < j->len; off += 100000)
        j->st = mv_blob_stage_write(j->stage, j->data + off,
                                    j->len - off < 100000 ? j->len - off : 100000, &err);
    if (j->st == MV_OK)
        j->st = mv_blob_stage_finish(j->stage, &err);
    return NULL;
}

static void test_stage_on_threads_and_spill(void **state)
{
    fixture *f = *state;
    mv_error err = {0};
    mv_blob_codec *codec;
    assert_int_equal(mv_blob_codec_new(f->ar, &codec, &err), MV_OK);
    /* A small message stays in memory; a large incompressible one spills to a file. */
    size_t big = 3 * MV_BLOB_STAGE_MEM;
    unsigned char *random = malloc(big);
    FILE *ur = fopen("/dev/urandom", "rb");
    assert_int_equal(fread(random, 1, big, ur), big);
    fclose(ur);
    unsigned char *text = make_bytes(50000, 3);
    stage_job jobs[2] = {{codec, text, 50000, NULL, MV_OK}, {codec, random, big, NULL, MV_OK}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, fill_stage, &jobs[i]), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    assert_int_equal(jobs[0].st, MV_OK);
    assert_int_equal(jobs[1].st, MV_OK);
    assert_true(mv_blob_stage_memory(jobs[1].stage) < 2 * MV_BLOB_STAGE_MEM);
    assert_int_equal(mv_blob_stage_size(jobs[1].stage), (int64_t)big);
    unsigned char want[MV_SHA256_LEN];
    mv_hash_sha256(random, big, want);
    assert_memory_equal(mv_blob_stage_sha(jobs[1].stage), want, MV_SHA256_LEN);

    int64_t ids[2];
    int is_new;
    assert_int_equal(mv_archive_begin(f->ar, &err), MV_OK);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(mv_blob_stage_store(f->ar, jobs[i].stage, &ids[i], &is_new, &err), MV_OK);
        assert_int_equal(is_new, 1);
        mv_blob_stage_free(jobs[i].stage);
    }
    assert_int_equal(mv_archive_commit(f->ar, &err), MV_OK);
    read_back(f->ar, ids[0], text, 50000, 4096);
    read_back(f->ar, ids[1], random, big, 65536);
    mv_blob_codec_free(codec);
    free(random);
    free(text);
}

static void expect_damage(mv_archive *ar, int64_t id)
{
    mv_error err = {0};
    mv_blob_reader *r;
    unsigned char buf[4096];
    mv_status st = mv_blob_reader_open(ar, id, &r, &err);
    while (st == MV_OK) {
        size_t got;
        st = mv_blob_reader_read(r, buf, sizeof buf, &got, &err);
        if (st != MV_OK || got == 0)
            break;
    }
    mv_blob_reader_close(r);
    assert_int_equal(st, MV_ERR_CORRUPT);
    assert_non_null(strstr(err.msg, "damaged"));
}

static void test_damage_detected(void **state)
{
    fixture *f = *state;
    size_t n = 2 * MV_BLOB_CHUNK;
    unsigned char *data = malloc(n);
    FILE *ur = fopen("/dev/urandom", "rb");
    assert_int_equal(fread(data, 1, n, ur), n);
    fclose(ur);
    int is_new;
    int64_t id = store(f->ar, data, n, n, &is_new);
    free(data);
    char sql[200];

    /* A lost chunk. */
    assert_int_equal(mv_archive_begin(f->ar, &(mv_error){0}), MV_OK);
    assert_int_equal(mv_archive_exec(f->ar, "SAVEPOINT t", &(mv_error){0}), MV_OK);
    snprintf(sql, sizeof sql, "DELETE FROM chunks WHERE message = %lld AND seq = 1", (long long)id);
    assert_int_equal(mv_archive_exec(f->ar, sql, &(mv_error){0}), MV_OK);
    expect_damage(f->ar, id);
    assert_int_equal(mv_archive_exec(f->ar, "ROLLBACK TO t", &(mv_error){0}), MV_OK);

    /* A flipped byte in the middle of the first chunk (random data is stored almost raw,
     * so this lands in the data and zlib's Adler-32 catches it if inflate doesn't). */
    snprintf(sql, sizeof sql,
             "UPDATE chunks SET data = substr(data, 1, 1000) || x'00' || substr(data, 1002)"
             " WHERE message = %lld AND seq = 0",
             (long long)id);
    assert_int_equal(mv_archive_exec(f->ar, sql, &(mv_error){0}), MV_OK);
    expect_damage(f->ar, id);
    mv_archive_rollback(f->ar);
}

static void test_dictionary_is_used_and_recorded(void **state)
{
    fixture *f = *state;
    mv_error err = {0};
    int is_new, trained = 0;
    char msg[2048];
    /* Enough similar messages for the archive to train a dictionary. */
    for (int i = 0; i < 120; i++) {
        snprintf(msg, sizeof msg,
                 "Received: from mail.example.com (mail.example.com [192.0.2.1])\n"
                 "\tby mx.example.org (Postfix) with ESMTPS id %05d\n"
                 "MIME-Version: 1.0\n"
                 "Content-Type: text/plain; charset=\"utf-8\"\n"
                 "Content-Transfer-Encoding: 8bit\n"
                 "List-Id: Development discussion <dev.lists.example.org>\n"
                 "List-Unsubscribe: <mailto:dev-unsubscribe@lists.example.org>\n"
                 "From: Sender %d <sender%d@example.com>\n"
                 "Subject: message number %d\n"
                 "\n"
                 "Body %d\n",
                 i * 7, i, i, i, i);
        store(f->ar, (const unsigned char *)msg, strlen(msg), 64, &is_new);
    }
    assert_int_equal(mv_archive_maybe_train(f->ar, &trained, &err), MV_OK);
    assert_int_equal(trained, 1);
    assert_true(f->ar->dict_id > 0);
    snprintf(msg, sizeof msg,
             "Received: from mail.example.com (mail.example.com [192.0.2.1])\n"
             "\tby mx.example.org (Postfix) with ESMTPS id 99999\n"
             "MIME-Version: 1.0\n"
             "Content-Type: text/plain; charset=\"utf-8\"\n"
             "Content-Transfer-Encoding: 8bit\n"
             "List-Id: Development discussion <dev.lists.example.org>\n"
             "List-Unsubscribe: <mailto:dev-unsubscribe@lists.example.org>\n"
             "From: Sender new <new@example.com>\n"
             "Subject: after training\n"
             "\n"
             "Body\n");
    int64_t id = store(f->ar, (const unsigned char *)msg, strlen(msg), 10, &is_new);
    read_back(f->ar, id, (const unsigned char *)msg, strlen(msg), 100);

    sqlite3_stmt *st;
    sqlite3_prepare_v2(f->ar->db,
                       "SELECT dictionary, stored_size,"
                       " (SELECT stored_size FROM messages WHERE id = 1)"
                       " FROM messages WHERE id = ?1",
                       -1, &st, NULL);
    sqlite3_bind_int64(st, 1, id);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(st, 0), f->ar->dict_id);
    /* The same shape of message compresses clearly better with the dictionary. */
    assert_true(sqlite3_column_int64(st, 1) * 10 < sqlite3_column_int64(st, 2) * 8);
    sqlite3_finalize(st);
    /* Old blobs (no dictionary) still read back. */
    mv_blob_reader *r;
    unsigned char buf[4096];
    size_t got;
    assert_int_equal(mv_blob_reader_open(f->ar, 1, &r, &err), MV_OK);
    assert_int_equal(mv_blob_reader_read(r, buf, sizeof buf, &got, &err), MV_OK);
    assert_true(got > 100);
    assert_memory_equal(buf, "Received: from mail.example.com", 31);
    mv_blob_reader_close(r);
    /* No second training until the archive has grown tenfold. */
    assert_int_equal(mv_archive_maybe_train(f->ar, &trained, &err), MV_OK);
    assert_int_equal(trained, 0);
}

static void test_missing_message(void **state)
{
    fixture *f = *state;
    mv_error err = {0};
    mv_blob_reader *r;
    assert_int_equal(mv_blob_reader_open(f->ar, 4242, &r, &err), MV_ERR_NOTFOUND);
}

int main(void)
{
    mv_mime_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip_sizes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_data_spans_chunks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_is_stored_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_summary_columns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abort_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_needs_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stage_on_threads_and_spill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damage_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dictionary_is_used_and_recorded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_message, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    mv_mime_shutdown();
    return rc;
}
