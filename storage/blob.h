/* mailvault: message bytes, compressed, in pieces.
 *
 * A message is written and read as a stream of zlib-compressed chunks of at most
 * MV_BLOB_CHUNK bytes each, so memory stays fixed whatever the message size. The SHA-256 is
 * only known once the last byte is in, so a message is compressed into a stage first; if
 * the archive already holds those bytes, storing the stage just returns the existing
 * message.
 */
#ifndef MV_BLOB_H
#define MV_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include "archive.h"
#include "error.h"
#include "hash.h"

#define MV_BLOB_CHUNK (256 * 1024)

typedef struct mv_blob_writer mv_blob_writer;
typedef struct mv_blob_reader mv_blob_reader;
typedef struct mv_blob_stage mv_blob_stage;
typedef struct mv_blob_codec mv_blob_codec;

/* --- Staging: compress and hash a message away from the archive ---
 *
 * Network sync compresses on its connection threads and only the short final step touches
 * SQLite, so compression runs in parallel and a transaction never waits on the network.
 * A codec is a snapshot of how the archive compresses new messages (level, dictionary);
 * stages made from it may be filled on any thread, then stored by the archive's thread. */

/* A private copy of the archive's current compression settings. */
mv_status mv_blob_codec_new(mv_archive *ar, mv_blob_codec **out, mv_error *err);
void mv_blob_codec_free(mv_blob_codec *c);

/* Compressed bytes stay in memory up to MV_BLOB_STAGE_MEM, then spill to a temporary file. */
#define MV_BLOB_STAGE_MEM (1024 * 1024)

/* size_hint: the message's size if known (IMAP announces it, files have one), else -1. The
 * preset dictionary is only worth loading for small messages (see blob.c). */
mv_status mv_blob_stage_begin(const mv_blob_codec *c, int64_t size_hint, mv_blob_stage **out,
                              mv_error *err);
mv_status mv_blob_stage_write(mv_blob_stage *s, const void *data, size_t len, mv_error *err);
/* Asks the stage to keep the uncompressed bytes too (up to MV_BLOB_RAW_MAX; the rest is only
 * compressed), so the search text can be extracted on the same thread without reading the
 * message back. Call right after begin; drop them as soon as they have served. */
#define MV_BLOB_RAW_MAX (16 * 1024 * 1024)
void mv_blob_stage_keep_raw(mv_blob_stage *s);
const unsigned char *mv_blob_stage_raw(const mv_blob_stage *s, size_t *len, int *truncated);
void mv_blob_stage_drop_raw(mv_blob_stage *s);

/* Ends the compressed stream; afterwards the digest and size are known. */
mv_status mv_blob_stage_finish(mv_blob_stage *s, mv_error *err);
const unsigned char *mv_blob_stage_sha(const mv_blob_stage *s);
int64_t mv_blob_stage_size(const mv_blob_stage *s);
/* Bytes of memory the stage holds (for back-pressure accounting). */
size_t mv_blob_stage_memory(const mv_blob_stage *s);
/* Stores a finished stage in the archive, or finds the identical message already there.
 * Must run inside a transaction on the archive's thread. *is_new as for the writer. */
mv_status mv_blob_stage_store(mv_archive *ar, mv_blob_stage *s, int64_t *id, int *is_new,
                              mv_error *err);
void mv_blob_stage_free(mv_blob_stage *s);

/* --- Writing in one go: a stage stored at finish --- */

mv_status mv_blob_writer_begin(mv_archive *ar, int64_t size_hint, mv_blob_writer **out,
                               mv_error *err);
mv_status mv_blob_writer_write(mv_blob_writer *w, const void *data, size_t len, mv_error *err);
/* Stores the message (or finds the identical one) and frees w; must be inside a transaction.
 * *is_new is 1 when these bytes were not in the archive before. sha may be NULL. */
mv_status mv_blob_writer_finish(mv_blob_writer *w, int64_t *id, int *is_new,
                                unsigned char sha[MV_SHA256_LEN], mv_error *err);
/* Discards everything written and frees w. */
void mv_blob_writer_abort(mv_blob_writer *w);

mv_status mv_blob_reader_open(mv_archive *ar, int64_t id, mv_blob_reader **out, mv_error *err);
/* Fills buf with the next decompressed bytes; *got == 0 at the end. A damaged blob gives
 * MV_ERR_CORRUPT. */
mv_status mv_blob_reader_read(mv_blob_reader *r, void *buf, size_t cap, size_t *got, mv_error *err);
void mv_blob_reader_close(mv_blob_reader *r);

#endif
