/* mailvault: the full-text index, kept in step with the stored messages.
 *
 * An FTS5 table `search` (subject, sender, recipients, body, attachments; rowid = message id)
 * with the "mailvault" tokenizer (fts.h). It is contentless: the extracted text is not kept
 * a second time — results are shown from the compressed messages — so the index costs only
 * its posting lists. A message is indexed in the same transaction that stores it, so after
 * a crash the index agrees with the messages. messages.has_attachment doubles as the
 * "indexed" mark: NULL until the message is in the index.
 */
#ifndef MV_INDEX_H
#define MV_INDEX_H

#include <stdint.h>

#include "archive.h"
#include "error.h"
#include "text.h"

/* Adds a stored message's text to the index. Inside a transaction. */
mv_status mv_index_add(mv_archive *ar, int64_t message, const mv_text *t, mv_error *err);

/* Reads a stored message back and extracts its text (the first MV_BLOB_RAW_MAX bytes). */
mv_status mv_index_extract(mv_archive *ar, int64_t message, mv_text *t, mv_error *err);

/* Messages not in the index yet (stored by a version without it, or before a reindex). */
mv_status mv_index_pending(mv_archive *ar, int64_t *count, mv_error *err);

typedef void (*mv_index_progress_cb)(void *ctx, int64_t done, int64_t total);
/* Indexes every message not in the index yet, or with all = 1 rebuilds the whole index.
 * Commits in batches; an interrupted run leaves a consistent index and resumes. */
mv_status mv_index_rebuild(mv_archive *ar, int all, mv_index_progress_cb cb, void *ctx,
                           int64_t *indexed, mv_error *err);

/* --- Searching (the query language is core/query.h) --- */

struct mv_query;

typedef struct mv_search_hit {
    int64_t id;
    unsigned char sha256[32];
    int64_t date; /* -1 unknown */
    int64_t size;
    const char *from, *to, *subject, *message_id;
    const char *folders; /* every folder it is filed in, ", "-separated */
    int deleted;         /* deleted on the server everywhere it was (still archived) */
    int exact;           /* contains the query's accented words exactly (ranked first) */
} mv_search_hit;
typedef int (*mv_search_cb)(void *ctx, const mv_search_hit *h);

/* Matching messages, exact-accent matches first, then newest first; limit < 0: all. */
mv_status mv_index_search(mv_archive *ar, const struct mv_query *q, int64_t limit, mv_search_cb cb,
                          void *ctx, mv_error *err);
mv_status mv_index_count(mv_archive *ar, const struct mv_query *q, int64_t *count, mv_error *err);
/* For each of ids[0..n), a one-line excerpt around the query's words with open/close around
 * each match (or the start of the body when the query has no words). out[i] is malloc'd. */
mv_status mv_index_snippets(mv_archive *ar, const struct mv_query *q, const int64_t *ids, size_t n,
                            const char *open, const char *close, char **out, mv_error *err);

/* Bytes the index occupies in the archive file. */
mv_status mv_index_size(mv_archive *ar, int64_t *bytes, mv_error *err);

#endif
