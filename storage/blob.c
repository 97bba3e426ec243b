/* mailvault: message bytes, compressed, in pieces (see blob.h). */
#include "blob.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "archive_int.h"
#include "mime.h"

/* Enough for the header section of all but pathological mail; a longer header only means
 * the summary columns are taken from its first 64 KiB. */
#define HEADER_CAPTURE (64 * 1024)

struct mv_blob_writer {
    mv_archive *ar;
    z_stream z;
    int z_ready;
    mv_hash *hash;
    unsigned char *out; /* one chunk's worth of compressed output */
    int64_t id;         /* the row the chunks hang off, with a placeholder digest */
    int64_t seq;
    int64_t size;
    int64_t stored;
    char *header;
    size_t header_len;
    int64_t dict_id;
};

struct mv_blob_reader {
    mv_archive *ar;
    sqlite3_stmt *st;
    z_stream z;
    int z_ready;
    int64_t id;
    int64_t dict_id;
    int64_t next_seq;
    int64_t chunks;
    int ended;
};

static mv_status zerr(mv_archive *ar, int zrc, const char *what, mv_error *err)
{
    if (zrc == Z_MEM_ERROR)
        return mv_error_set(err, MV_ERR_NOMEM, "out of memory while %s", what);
    return mv_error_set(err, MV_ERR_INTERNAL, "%s: zlib error %d while %s", mv_archive_path(ar),
                        zrc, what);
}

static mv_status flush_chunk(mv_blob_writer *w, mv_error *err)
{
    size_t n = MV_BLOB_CHUNK - w->z.avail_out;
    if (n == 0)
        return MV_OK;
    sqlite3_stmt *st =
        mv_archive_stmt(w->ar, "INSERT INTO chunks(message, seq, data) VALUES(?1, ?2, ?3)", err);
    if (st == NULL)
        return err->status;
    sqlite3_bind_int64(st, 1, w->id);
    sqlite3_bind_int64(st, 2, w->seq);
    sqlite3_bind_blob(st, 3, w->out, (int)n, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return mv_archive_sqlerr(w->ar, rc, "storing a message", err);
    w->seq++;
    w->stored += (int64_t)n;
    w->z.next_out = w->out;
    w->z.avail_out = MV_BLOB_CHUNK;
    return MV_OK;
}

mv_status mv_blob_writer_begin(mv_archive *ar, mv_blob_writer **out, mv_error *err)
{
    mv_status st;
    *out = NULL;
    if (!ar->in_txn)
        return mv_error_set(err, MV_ERR_INTERNAL, "blob writer outside a transaction");
    mv_blob_writer *w = calloc(1, sizeof *w);
    if (w == NULL)
        return mv_error_set(err, MV_ERR_NOMEM, "out of memory");
    w->ar = ar;
    w->hash = mv_hash_new();
    w->out = malloc(MV_BLOB_CHUNK);
    w->header = malloc(HEADER_CAPTURE);
    if (w->hash == NULL || w->out == NULL || w->header == NULL) {
        st = mv_error_set(err, MV_ERR_NOMEM, "out of memory");
        goto fail;
    }
    int zrc = deflateInit2(&w->z, ar->compress_level, Z_DEFLATED, 15, 8, Z_DEFAULT_STRATEGY);
    if (zrc != Z_OK) {
        st = zerr(ar, zrc, "starting compression", err);
        goto fail;
    }
    w->z_ready = 1;
    w->dict_id = ar->dict_id;
    if (w->dict_id) {
        const unsigned char *dict;
        int len;
        if ((st = mv_archive_dictionary(ar, w->dict_id, &dict, &len, err)) != MV_OK)
            goto fail;
        if ((zrc = deflateSetDictionary(&w->z, dict, (uInt)len)) != Z_OK) {
            st = zerr(ar, zrc, "loading the dictionary", err);
            goto fail;
        }
    }
    w->z.next_out = w->out;
    w->z.avail_out = MV_BLOB_CHUNK;

    /* The savepoint makes a duplicate cheap to forget: finish() rolls back to it, taking the
     * chunks already written with it. */
    if ((st = mv_archive_exec(ar, "SAVEPOINT mv_blob", err)) != MV_OK)
        goto fail;
    /* The digest is only known at the end, but chunks need their row now. The placeholder
     * cannot collide with a real SHA-256 in practice and is unique among open writers. */
    unsigned char placeholder[MV_SHA256_LEN] = "mailvault-incomplete-blob";
    uint64_t seq = ++ar->placeholder_seq;
    memcpy(placeholder + MV_SHA256_LEN - sizeof seq, &seq, sizeof seq);
    sqlite3_stmt *ins = mv_archive_stmt(ar,
                                        "INSERT INTO messages(sha256, size, stored_size, codec,"
                                        " dictionary, chunks, added_at)"
                                        " VALUES(?1, 0, 0, 1, nullif(?2, 0), 0, ?3)",
                                        err);
    if (ins == NULL) {
        st = err->status;
        goto fail_savepoint;
    }
    sqlite3_bind_blob(ins, 1, placeholder, MV_SHA256_LEN, SQLITE_TRANSIENT);
    sqlite3_bind_int64(ins, 2, w->dict_id);
    sqlite3_bind_int64(ins, 3, (int64_t)time(NULL));
    int rc = sqlite3_step(ins);
    sqlite3_reset(ins);
    if (rc != SQLITE_DONE) {
        st = mv_archive_sqlerr(ar, rc, "storing a message", err);
        goto fail_savepoint;
    }
    w->id = sqlite3_last_insert_rowid(ar->db);
    *out = w;
    return MV_OK;

fail_savepoint:
    sqlite3_exec(ar->db, "ROLLBACK TO mv_blob; RELEASE mv_blob", NULL, NULL, NULL);
fail:
    w->id = 0;
    mv_blob_writer_abort(w);
    return st;
}

mv_status mv_blob_writer_write(mv_blob_writer *w, const void *data, size_t len, mv_error *err)
{
    if (w->header_len < HEADER_CAPTURE) {
        size_t n = HEADER_CAPTURE - w->header_len;
        if (n > len)
            n = len;
        memcpy(w->header + w->header_len, data, n);
        w->header_len += n;
    }
    mv_hash_update(w->hash, data, len);
    w->size += (int64_t)len;
    w->z.next_in = (Bytef *)data;
    while (len > 0) {
        /* zlib counts input in uInt; feed huge buffers in slices. */
        uInt slice = len > (1u << 30) ? (1u << 30) : (uInt)len;
        w->z.avail_in = slice;
        while (w->z.avail_in > 0) {
            int zrc = deflate(&w->z, Z_NO_FLUSH);
            if (zrc != Z_OK && zrc != Z_BUF_ERROR)
                return zerr(w->ar, zrc, "compressing", err);
            if (w->z.avail_out == 0) {
                mv_status st = flush_chunk(w, err);
                if (st != MV_OK)
                    return st;
            }
        }
        len -= slice;
    }
    return MV_OK;
}

mv_status mv_blob_writer_finish(mv_blob_writer *w, int64_t *id, int *is_new,
                                unsigned char sha_out[MV_SHA256_LEN], mv_error *err)
{
    mv_archive *ar = w->ar;
    mv_status st;
    unsigned char sha[MV_SHA256_LEN];
    int zrc;

    *id = 0;
    *is_new = 0;
    do {
        zrc = deflate(&w->z, Z_FINISH);
        if (zrc != Z_OK && zrc != Z_STREAM_END && zrc != Z_BUF_ERROR) {
            st = zerr(ar, zrc, "compressing", err);
            goto fail;
        }
        if (w->z.avail_out == 0 || zrc == Z_STREAM_END)
            if ((st = flush_chunk(w, err)) != MV_OK)
                goto fail;
    } while (zrc != Z_STREAM_END);
    mv_hash_final(w->hash, sha);
    if (sha_out)
        memcpy(sha_out, sha, MV_SHA256_LEN);

    int64_t existing;
    if ((st = mv_archive_message_find(ar, sha, &existing, err)) != MV_OK)
        goto fail;
    if (existing) {
        if ((st = mv_archive_exec(ar, "ROLLBACK TO mv_blob; RELEASE mv_blob", err)) != MV_OK)
            goto fail;
        w->id = 0;
        *id = existing;
        mv_blob_writer_abort(w);
        return MV_OK;
    }

    mv_mime_summary sum;
    if ((st = mv_mime_summarize(w->header, w->header_len, &sum, err)) != MV_OK)
        goto fail;
    sqlite3_stmt *up = mv_archive_stmt(ar,
                                       "UPDATE messages SET sha256 = ?2, size = ?3,"
                                       " stored_size = ?4, chunks = ?5, date = ?6,"
                                       " from_addr = ?7, to_addr = ?8, subject = ?9,"
                                       " message_id = ?10 WHERE id = ?1",
                                       err);
    if (up == NULL) {
        mv_mime_summary_free(&sum);
        st = err->status;
        goto fail;
    }
    sqlite3_bind_int64(up, 1, w->id);
    sqlite3_bind_blob(up, 2, sha, MV_SHA256_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(up, 3, w->size);
    sqlite3_bind_int64(up, 4, w->stored);
    sqlite3_bind_int64(up, 5, w->seq);
    if (sum.date >= 0)
        sqlite3_bind_int64(up, 6, sum.date);
    sqlite3_bind_text(up, 7, sum.from, -1, SQLITE_STATIC);
    sqlite3_bind_text(up, 8, sum.to, -1, SQLITE_STATIC);
    sqlite3_bind_text(up, 9, sum.subject, -1, SQLITE_STATIC);
    sqlite3_bind_text(up, 10, sum.message_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(up);
    sqlite3_reset(up);
    mv_mime_summary_free(&sum);
    if (rc != SQLITE_DONE) {
        st = mv_archive_sqlerr(ar, rc, "storing a message", err);
        goto fail;
    }
    if ((st = mv_archive_exec(ar, "RELEASE mv_blob", err)) != MV_OK)
        goto fail;
    *id = w->id;
    *is_new = 1;
    w->id = 0;
    mv_blob_writer_abort(w);
    return MV_OK;
fail:
    mv_blob_writer_abort(w);
    return st;
}

void mv_blob_writer_abort(mv_blob_writer *w)
{
    if (w == NULL)
        return;
    /* id != 0: the savepoint is still open. After an I/O error SQLite may already have
     * rolled the whole transaction back, in which case this fails harmlessly. */
    if (w->id)
        sqlite3_exec(w->ar->db, "ROLLBACK TO mv_blob; RELEASE mv_blob", NULL, NULL, NULL);
    if (w->z_ready)
        deflateEnd(&w->z);
    mv_hash_free(w->hash);
    free(w->out);
    free(w->header);
    free(w);
}

mv_status mv_blob_reader_open(mv_archive *ar, int64_t id, mv_blob_reader **out, mv_error *err)
{
    *out = NULL;
    sqlite3_stmt *q = mv_archive_stmt(
        ar, "SELECT codec, coalesce(dictionary, 0), chunks FROM messages WHERE id = ?1", err);
    if (q == NULL)
        return err->status;
    sqlite3_bind_int64(q, 1, id);
    int rc = sqlite3_step(q);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(q);
        if (rc == SQLITE_DONE)
            return mv_error_set(err, MV_ERR_NOTFOUND, "%s: no message %lld", mv_archive_path(ar),
                                (long long)id);
        return mv_archive_sqlerr(ar, rc, "reading a message", err);
    }
    int codec = sqlite3_column_int(q, 0);
    int64_t dict_id = sqlite3_column_int64(q, 1), chunks = sqlite3_column_int64(q, 2);
    sqlite3_reset(q);
    if (codec != 1)
        return mv_error_set(err, MV_ERR_CORRUPT, "%s: message %lld has unknown codec %d",
                            mv_archive_path(ar), (long long)id, codec);

    mv_blob_reader *r = calloc(1, sizeof *r);
    if (r == NULL)
        return mv_error_set(err, MV_ERR_NOMEM, "out of memory");
    r->ar = ar;
    r->id = id;
    r->dict_id = dict_id;
    r->chunks = chunks;
    /* Each reader has its own statement: callers may hold several readers open at once. */
    rc = sqlite3_prepare_v2(ar->db, "SELECT seq, data FROM chunks WHERE message = ?1 ORDER BY seq",
                            -1, &r->st, NULL);
    if (rc != SQLITE_OK) {
        mv_blob_reader_close(r);
        return mv_archive_sqlerr(ar, rc, "reading a message", err);
    }
    sqlite3_bind_int64(r->st, 1, id);
    int zrc = inflateInit2(&r->z, 15);
    if (zrc != Z_OK) {
        mv_blob_reader_close(r);
        return zerr(ar, zrc, "starting decompression", err);
    }
    r->z_ready = 1;
    *out = r;
    return MV_OK;
}

static mv_status damaged(mv_blob_reader *r, const char *why, mv_error *err)
{
    return mv_error_set(err, MV_ERR_CORRUPT, "%s: message %lld is damaged (%s)",
                        mv_archive_path(r->ar), (long long)r->id, why);
}

mv_status mv_blob_reader_read(mv_blob_reader *r, void *buf, size_t cap, size_t *got, mv_error *err)
{
    *got = 0;
    if (r->ended || cap == 0)
        return MV_OK;
    r->z.next_out = buf;
    r->z.avail_out = cap > (1u << 30) ? (1u << 30) : (uInt)cap;
    while (r->z.avail_out > 0) {
        if (r->z.avail_in == 0) {
            /* The previous chunk's bytes are consumed, so stepping (which invalidates them)
             * is safe now. */
            int rc = sqlite3_step(r->st);
            if (rc == SQLITE_DONE)
                return damaged(r, "chunks missing at the end", err);
            if (rc != SQLITE_ROW)
                return mv_archive_sqlerr(r->ar, rc, "reading a message", err);
            if (sqlite3_column_int64(r->st, 0) != r->next_seq)
                return damaged(r, "a chunk is missing", err);
            r->next_seq++;
            r->z.next_in = (Bytef *)sqlite3_column_blob(r->st, 1);
            r->z.avail_in = (uInt)sqlite3_column_bytes(r->st, 1);
            if (r->z.avail_in == 0)
                return damaged(r, "empty chunk", err);
        }
        int zrc = inflate(&r->z, Z_NO_FLUSH);
        if (zrc == Z_NEED_DICT) {
            const unsigned char *dict;
            int len;
            if (r->dict_id == 0)
                return damaged(r, "needs a dictionary but records none", err);
            mv_status st = mv_archive_dictionary(r->ar, r->dict_id, &dict, &len, err);
            if (st != MV_OK)
                return st;
            if (inflateSetDictionary(&r->z, dict, (uInt)len) != Z_OK)
                return damaged(r, "wrong dictionary", err);
            continue;
        }
        if (zrc == Z_STREAM_END) {
            r->ended = 1;
            /* Trailing bytes or rows after the end mean the stored stream is not what
             * we wrote. */
            if (r->z.avail_in != 0 || sqlite3_step(r->st) != SQLITE_DONE ||
                r->next_seq != r->chunks)
                return damaged(r, "unexpected data after the end", err);
            break;
        }
        if (zrc == Z_MEM_ERROR)
            return mv_error_set(err, MV_ERR_NOMEM, "out of memory");
        if (zrc != Z_OK && zrc != Z_BUF_ERROR)
            return damaged(r, r->z.msg ? r->z.msg : "bad compressed data", err);
        /* No progress with input and room for output: the stream is inconsistent, and
         * looping would never end. */
        if (zrc == Z_BUF_ERROR && r->z.avail_in > 0 && r->z.avail_out > 0)
            return damaged(r, "stalled compressed data", err);
    }
    *got = (size_t)(r->z.next_out - (Bytef *)buf);
    return MV_OK;
}

void mv_blob_reader_close(mv_blob_reader *r)
{
    if (r == NULL)
        return;
    sqlite3_finalize(r->st);
    if (r->z_ready)
        inflateEnd(&r->z);
    free(r);
}
