/* mailvault: message bytes, compressed, in pieces.
 *
 * A message is written and read as a stream of zlib-compressed chunks of at most
 * MV_BLOB_CHUNK bytes each, so memory stays fixed whatever the message size. The SHA-256 is
 * only known once the last byte is in; if the archive already holds those bytes, the
 * writer throws its chunks away (a savepoint) and returns the existing message.
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

/* Must be called inside a transaction (mv_archive_begin). */
mv_status mv_blob_writer_begin(mv_archive *ar, mv_blob_writer **out, mv_error *err);
mv_status mv_blob_writer_write(mv_blob_writer *w, const void *data, size_t len, mv_error *err);
/* Stores the message (or finds the identical one) and frees w. *is_new is 1 when these bytes
 * were not in the archive before. sha may be NULL. */
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
