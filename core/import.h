/* mailvault: `mailvault import` — local mail (Maildir, mbox, .eml) into the archive.
 *
 * Messages are committed in batches: each batch (its blobs, locations and the run record)
 * lands whole or not at all, so an interrupted import leaves a consistent archive and a
 * rerun continues where it stopped: content already archived is recognised by SHA-256 and
 * never stored twice.
 */
#ifndef MV_IMPORT_H
#define MV_IMPORT_H

#include <stdint.h>

#include "archive.h"
#include "error.h"
#include "source.h"

typedef struct mv_import_report {
    int64_t seen;         /* messages read from the source */
    int64_t stored;       /* new content stored */
    int64_t stored_bytes; /* raw bytes of new content */
    int64_t filed;        /* new folder entries (includes known content in a new folder) */
    int64_t unchanged;    /* already archived in that folder */
    int64_t flag_changes;
    int64_t errors; /* files skipped because of errors */
} mv_import_report;

/* Called for each file that could not be imported; the import goes on. */
typedef void (*mv_import_error_cb)(void *ctx, const mv_error *e);
/* Called after each message, for progress displays. */
typedef void (*mv_import_progress_cb)(void *ctx, const mv_import_report *r);

typedef struct mv_import_options {
    const char *account;       /* account the folders belong to; default "local" */
    const char *folder_prefix; /* see source.h */
    mv_mbox_variant mbox_variant;
    int batch_messages; /* 0: default */
    mv_import_error_cb on_error;
    mv_import_progress_cb on_progress;
    void *ctx;
} mv_import_options;

/* Returns MV_OK when everything was imported, MV_ERR_PARTIAL when some files were skipped
 * (each reported through on_error), MV_ERR_INPUT when the path could not be read or held no
 * mail at all, or the archive's status if writing failed (the failing batch is rolled back). */
mv_status mv_import_run(mv_archive *ar, const char *path, const mv_import_options *opt,
                        mv_import_report *rep, mv_error *err);

#endif
