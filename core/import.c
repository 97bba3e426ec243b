/* mailvault: `mailvault import` (see import.h). */
#include "import.h"

#include <stdlib.h>
#include <string.h>

#include "blob.h"
#include "hash.h"
#include "index.h"
#include "text.h"

#define IO_BUF (64 * 1024)
/* Batches bound the WAL's growth and the work lost to a crash. */
#define BATCH_DEFAULT 500
#define BATCH_BYTES (64 * 1024 * 1024)

typedef struct importer {
    mv_archive *ar;
    const mv_import_options *opt;
    mv_import_report *rep;
    mv_source *src;
    unsigned char *buf;
    mv_hash *hash;
    int64_t account;
    int64_t run;
    char *folder; /* the folder whose mailbox id is cached */
    int64_t mailbox;
    int in_batch;
    int committed; /* batches committed so far */
    int batch_count;
    int64_t batch_bytes;
    int64_t messages_before; /* messages in the archive when the import started */
    mv_run_counts counts;
    mv_blob_codec *codec; /* the archive's compression settings, refreshed after training */
} importer;

static mv_status hash_message(importer *im, unsigned char sha[MV_SHA256_LEN], mv_error *err)
{
    for (;;) {
        size_t got;
        mv_status st = mv_source_read(im->src, im->buf, IO_BUF, &got, err);
        if (st != MV_OK)
            return st;
        if (got == 0)
            break;
        mv_hash_update(im->hash, im->buf, got);
    }
    mv_hash_final(im->hash, sha);
    return MV_OK;
}

/* Compresses the message into a stage (keeping the uncompressed bytes long enough to
 * extract its search text), stores it, and indexes it if it is new. */
static mv_status store_message(importer *im, int64_t msg_size, int64_t *id, int *is_new,
                               mv_error *err)
{
    mv_blob_stage *s = NULL;
    mv_text text = {0};
    mv_status st = mv_source_rewind(im->src, err);
    if (st == MV_OK && im->codec == NULL)
        st = mv_blob_codec_new(im->ar, &im->codec, err);
    if (st == MV_OK)
        st = mv_blob_stage_begin(im->codec, msg_size, &s, err);
    if (st != MV_OK)
        return st;
    mv_blob_stage_keep_raw(s);
    for (;;) {
        size_t got;
        if ((st = mv_source_read(im->src, im->buf, IO_BUF, &got, err)) != MV_OK || got == 0)
            break;
        if ((st = mv_blob_stage_write(s, im->buf, got, err)) != MV_OK)
            break;
    }
    if (st == MV_OK)
        st = mv_blob_stage_finish(s, err);
    if (st == MV_OK) {
        size_t len;
        const unsigned char *raw = mv_blob_stage_raw(s, &len, NULL);
        st = mv_text_extract(raw ? (const char *)raw : "", len, &text, err);
        mv_blob_stage_drop_raw(s);
    }
    if (st == MV_OK)
        st = mv_blob_stage_store(im->ar, s, id, is_new, err);
    if (st == MV_OK && *is_new)
        st = mv_index_add(im->ar, *id, &text, err);
    mv_text_free(&text);
    mv_blob_stage_free(s);
    return st;
}

static mv_status batch_begin(importer *im, mv_error *err)
{
    mv_status st = mv_archive_begin(im->ar, err);
    if (st != MV_OK)
        return st;
    im->in_batch = 1;
    im->batch_count = 0;
    im->batch_bytes = 0;
    /* The account and the run record are written with the first batch, so that an import
     * that stores nothing leaves the archive exactly as it was. */
    if (im->account == 0 &&
        (st = mv_archive_account(im->ar, im->opt->account ? im->opt->account : "local", "local",
                                 &im->account, err)) != MV_OK)
        return st;
    if (im->run == 0 &&
        (st = mv_archive_run_begin(im->ar, im->account, "import", &im->run, err)) != MV_OK)
        return st;
    return MV_OK;
}

static mv_status batch_commit(importer *im, int last, mv_error *err)
{
    mv_status st;
    if (last) {
        im->counts.errors = im->rep->errors;
        if ((st = mv_archive_run_end(im->ar, im->run, im->rep->errors ? "partial" : "ok",
                                     &im->counts, NULL, err)) != MV_OK)
            return st;
    }
    im->in_batch = 0;
    if ((st = mv_archive_commit(im->ar, err)) != MV_OK)
        return st;
    im->committed++;
    int trained;
    if ((st = mv_archive_maybe_train(im->ar, &trained, err)) != MV_OK)
        return st;
    if (trained) {
        /* Messages from now on use the new dictionary. */
        mv_blob_codec_free(im->codec);
        im->codec = NULL;
    }
    return MV_OK;
}

static mv_status file_message(importer *im, const mv_source_msg *msg, mv_error *err)
{
    unsigned char sha[MV_SHA256_LEN];
    int64_t id;
    int is_new = 0, added, changed;
    mv_status st;

    /* Hash before compressing: re-importing a tree is then a read-only pass, and only new
     * content pays for compression. */
    if ((st = hash_message(im, sha, err)) != MV_OK)
        return st;
    if (!im->in_batch && (st = batch_begin(im, err)) != MV_OK)
        return st;
    if ((st = mv_archive_message_find(im->ar, sha, &id, err)) != MV_OK)
        return st;
    if (id == 0 && (st = store_message(im, msg->size, &id, &is_new, err)) != MV_OK)
        return st;
    if (im->folder == NULL || strcmp(im->folder, msg->folder) != 0) {
        free(im->folder);
        if ((im->folder = strdup(msg->folder)) == NULL)
            return mv_error_set(err, MV_ERR_NOMEM, "out of memory");
        if ((st = mv_archive_mailbox(im->ar, im->account, msg->folder, '/', &im->mailbox, err)) !=
            MV_OK)
            return st;
    }
    if ((st = mv_archive_local_file(im->ar, im->mailbox, id, msg->flags, msg->internaldate, im->run,
                                    &added, &changed, err)) != MV_OK)
        return st;

    if (is_new) {
        im->rep->stored++;
        im->rep->stored_bytes += msg->size;
        im->counts.messages_new++;
        im->counts.bytes += msg->size;
    }
    im->rep->filed += added;
    im->counts.locations_new += added;
    im->rep->flag_changes += changed;
    im->counts.flag_changes += changed;
    if (!added && !changed)
        im->rep->unchanged++;
    im->batch_count++;
    im->batch_bytes += is_new ? msg->size : 0;
    return MV_OK;
}

static int batch_full(importer *im)
{
    int limit = im->opt->batch_messages > 0 ? im->opt->batch_messages : BATCH_DEFAULT;
    if (!im->in_batch)
        return 0;
    /* End the batch early when the archive is due for a compression dictionary, so that
     * the rest of this import is compressed with it. */
    return im->batch_count >= limit || im->batch_bytes >= BATCH_BYTES ||
           mv_archive_training_due(im->ar, im->messages_before + im->rep->stored);
}

mv_status mv_import_run(mv_archive *ar, const char *path, const mv_import_options *opt,
                        mv_import_report *rep, mv_error *err)
{
    mv_import_options defaults = {0};
    importer im = {0};
    mv_status st;

    memset(rep, 0, sizeof *rep);
    im.ar = ar;
    im.opt = opt ? opt : &defaults;
    im.rep = rep;
    mv_source_options so = {im.opt->mbox_variant, im.opt->folder_prefix};
    if ((st = mv_source_open(path, &so, &im.src, err)) != MV_OK)
        return st;
    mv_totals totals;
    if ((st = mv_archive_totals(ar, &totals, err)) != MV_OK) {
        mv_source_close(im.src);
        return st;
    }
    im.messages_before = totals.messages;
    im.buf = malloc(IO_BUF);
    im.hash = mv_hash_new();
    if (im.buf == NULL || im.hash == NULL) {
        st = mv_error_set(err, MV_ERR_NOMEM, "out of memory");
        goto out;
    }

    for (;;) {
        const mv_source_msg *msg;
        mv_error fe = {0};
        st = mv_source_next(im.src, &msg, &fe);
        if (st == MV_OK && msg == NULL)
            break;
        if (st == MV_OK) {
            rep->seen++;
            st = file_message(&im, msg, &fe);
        }
        if (st == MV_ERR_INPUT) {
            /* One bad or vanished file: skip it and go on. Nothing of it was written: the
             * blob writer rolls back its own savepoint. */
            rep->errors++;
            if (im.opt->on_error)
                im.opt->on_error(im.opt->ctx, &fe);
            continue;
        }
        if (st != MV_OK) {
            mv_error_set(err, st, "%s", fe.msg);
            goto out;
        }
        if (im.opt->on_progress)
            im.opt->on_progress(im.opt->ctx, rep);
        if (batch_full(&im) && (st = batch_commit(&im, 0, err)) != MV_OK)
            goto out;
    }

    if (im.in_batch && (st = batch_commit(&im, 1, err)) != MV_OK)
        goto out;
    if (rep->errors == 0)
        st = MV_OK;
    else if (rep->seen == 0)
        st = mv_error_set(err, MV_ERR_INPUT, "%s: no mail imported (%lld file%s could not be read)",
                          path, (long long)rep->errors, rep->errors == 1 ? "" : "s");
    else
        st = mv_error_set(err, MV_ERR_PARTIAL, "%s: %lld file%s skipped", path,
                          (long long)rep->errors, rep->errors == 1 ? "" : "s");
out:
    if (im.in_batch) {
        mv_archive_rollback(ar);
        /* Earlier batches are committed; say in their run record that the import did not
         * finish. Best effort: after a disk-full error this may fail too. */
        if (im.committed) {
            mv_error ignored = {0};
            im.counts.errors = rep->errors + 1;
            if (mv_archive_begin(ar, &ignored) == MV_OK) {
                if (mv_archive_run_end(ar, im.run, "failed", &im.counts, err ? err->msg : NULL,
                                       &ignored) == MV_OK)
                    mv_archive_commit(ar, &ignored);
                else
                    mv_archive_rollback(ar);
            }
        }
    }
    mv_source_close(im.src);
    mv_blob_codec_free(im.codec);
    mv_hash_free(im.hash);
    free(im.buf);
    free(im.folder);
    return st;
}
