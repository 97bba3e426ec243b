/* mailvault: `mailvault sync` (see sync.h).
 *
 * Threads: the caller's thread is the only one that touches the archive (the writer); each
 * connection runs on a worker thread that talks IMAP, parses, and compresses bodies into
 * blob stages. Workers hand the writer jobs through one FIFO queue: requests they wait for
 * (a folder's stored state, the UIDs already archived) and batches they do not (messages,
 * flag changes). The queue is bounded by the memory its staged messages hold, so a fast
 * server cannot outrun the disk. Per worker the FIFO keeps order, which is what makes "a
 * batch and the folder's UIDNEXT commit together" hold across pipelined batches.
 */
#include "sync.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "blob.h"
#include "imap.h"
#include "index.h"
#include "text.h"

#define BATCH_UIDS 100
#define IN_FLIGHT 3
#define QUEUE_MEMORY (4 * 1024 * 1024)
#define MAX_MESSAGE (1024ull * 1024 * 1024)
#define RETRIES 3
#define NAME_MAX_BYTES 1024

/* ---------------------------------------------------------------- flags and dates */

static const char *const system_flags[] = {"\\Answered", "\\Flagged", "\\Deleted",
                                           "\\Seen",     "\\Draft",   NULL};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int mv_sync_canonical_flags(const char *const *flags, size_t n, char *out, size_t cap)
{
    size_t len = 0;
    const char *kw[256];
    size_t nkw = 0;
    out[0] = '\0';
    /* Same order as import (source.h), so a flag change is a real change, not a reorder. */
    for (int s = 0; system_flags[s]; s++)
        for (size_t i = 0; i < n; i++)
            if (strcasecmp(flags[i], system_flags[s]) == 0) {
                int w = snprintf(out + len, cap - len, "%s%s", len ? " " : "", system_flags[s]);
                if (w < 0 || (size_t)w >= cap - len)
                    return -1;
                len += (size_t)w;
                break;
            }
    for (size_t i = 0; i < n && nkw < 256; i++) {
        if (flags[i][0] == '\\') {
            int known = 0;
            for (int s = 0; system_flags[s]; s++)
                known |= strcasecmp(flags[i], system_flags[s]) == 0;
            /* \Recent is session state; other unknown system flags are kept as given. */
            if (known || strcasecmp(flags[i], "\\Recent") == 0)
                continue;
        }
        int dup = 0;
        for (size_t j = 0; j < nkw; j++)
            dup |= strcmp(kw[j], flags[i]) == 0;
        if (!dup)
            kw[nkw++] = flags[i];
    }
    qsort(kw, nkw, sizeof kw[0], cmp_str);
    for (size_t i = 0; i < nkw; i++) {
        int w = snprintf(out + len, cap - len, "%s%s", len ? " " : "", kw[i]);
        if (w < 0 || (size_t)w >= cap - len)
            return -1;
        len += (size_t)w;
    }
    return (int)len;
}

static int flags_from_list(const mv_imap_value *list, char *out, size_t cap)
{
    const char *names[256];
    size_t n = 0;
    if (list == NULL || list->type != MV_IMAP_LIST)
        return -1;
    for (size_t i = 0; i < list->n && n < 256; i++)
        if (list->items[i].type == MV_IMAP_ATOM || list->items[i].type == MV_IMAP_NUMBER)
            names[n++] = list->items[i].str;
    return mv_sync_canonical_flags(names, n, out, cap);
}

int64_t mv_sync_parse_internaldate(const char *s)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    int day, year, hh, mm, ss, zone;
    char mon[4], sign;
    if (s == NULL)
        return -1;
    while (*s == ' ')
        s++;
    if (sscanf(s, "%2d-%3c-%4d %2d:%2d:%2d %c%4d", &day, mon, &year, &hh, &mm, &ss, &sign, &zone) !=
        8)
        return -1;
    mon[3] = '\0';
    const char *m = strstr(months, mon);
    if (m == NULL || (m - months) % 3 != 0 || (sign != '+' && sign != '-') || day < 1 || day > 31 ||
        hh > 23 || mm > 59 || ss > 60 || year < 1900)
        return -1;
    /* Days from the civil date (Howard Hinnant's algorithm): timegm without touching TZ. */
    int mo = (int)((m - months) / 3) + 1;
    int y = year - (mo <= 2);
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;
    int doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = (int64_t)era * 146097 + doe - 719468;
    int64_t off = (zone / 100) * 3600 + (zone % 100) * 60;
    return days * 86400 + hh * 3600 + mm * 60 + ss - (sign == '+' ? off : -off);
}

/* ---------------------------------------------------------------- UID sets */

typedef struct uid_list {
    int64_t *v;
    size_t n, cap;
} uid_list;

static int uid_push(uid_list *l, int64_t uid)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        int64_t *v = realloc(l->v, cap * sizeof *v);
        if (v == NULL)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = uid;
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Parses "1:5,9,12:10" (a server may write ranges either way round), appending every UID.
 * A range larger than a million UIDs is refused: no honest answer to our commands has one. */
static int parse_set(const char *s, uid_list *out)
{
    while (*s) {
        char *end;
        long long a = strtoll(s, &end, 10), b = a;
        if (end == s || a <= 0)
            return -1;
        s = end;
        if (*s == ':') {
            b = strtoll(s + 1, &end, 10);
            if (end == s + 1 || b <= 0)
                return -1;
            s = end;
        }
        if (a > b) {
            long long t = a;
            a = b;
            b = t;
        }
        if (b - a > 1000000)
            return -1;
        for (long long u = a; u <= b; u++)
            if (uid_push(out, u))
                return -1;
        if (*s == ',')
            s++;
        else if (*s)
            return -1;
    }
    return 0;
}

/* Writes v[0..n) (sorted) as a compact IMAP sequence set. */
static int format_set(const int64_t *v, size_t n, char *out, size_t cap)
{
    size_t len = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && v[j + 1] == v[j] + 1)
            j++;
        int w = j > i ? snprintf(out + len, cap - len, "%s%lld:%lld", len ? "," : "",
                                 (long long)v[i], (long long)v[j])
                      : snprintf(out + len, cap - len, "%s%lld", len ? "," : "", (long long)v[i]);
        if (w < 0 || (size_t)w >= cap - len)
            return -1;
        len += (size_t)w;
        i = j + 1;
    }
    return (int)len;
}

/* ---------------------------------------------------------------- jobs */

typedef struct msg_item {
    int64_t uid;
    char *flags;
    int64_t internaldate;
    int64_t modseq;
    mv_blob_stage *stage;
    mv_text text; /* extracted on the connection's thread, indexed with the message */
} msg_item;

typedef struct flag_item {
    int64_t uid;
    char *flags;
    int64_t modseq;
} flag_item;

typedef struct flag_list {
    flag_item *v;
    size_t n, cap;
} flag_list;

typedef enum { J_BEGIN, J_KNOWN, J_RESET, J_BATCH, J_CHANGES, J_DONE } job_kind;

typedef struct folder_task folder_task;

typedef struct job {
    job_kind kind;
    struct job *next;
    folder_task *task;
    int wait; /* the worker blocks until done */
    int done;
    mv_status status;
    mv_error err;
    mv_mailbox_state state; /* BEGIN: reply; RESET/BATCH/DONE: state to store */
    msg_item *msgs;         /* BATCH */
    size_t nmsgs;
    size_t memory;
    flag_list flags;   /* CHANGES: new flags; KNOWN: reply */
    uid_list expunged; /* CHANGES */
} job;

struct folder_task {
    char *raw;  /* the name as the server spells it, for commands */
    char *name; /* UTF-8, as archived */
    char delim;
    char special[64];
    int has_status;
    int64_t st_uidvalidity, st_uidnext, st_modseq;
    int64_t mailbox;
    int reset;       /* UIDVALIDITY changed during this run */
    int64_t batches; /* batches handed to the writer, to tell a retry that made progress */
    mv_sync_folder *rep;
};

typedef struct engine {
    mv_archive *ar;
    const mv_sync_options *opt;
    const mv_account *acct;
    mv_sync_report *rep;
    int64_t account;
    int64_t run;
    pthread_mutex_t mu;
    pthread_cond_t cv_writer; /* a job was queued, or a worker finished */
    pthread_cond_t cv_worker; /* a job was done, or memory was freed */
    job *head, *tail;
    size_t queued_memory;
    folder_task *tasks;
    size_t ntasks, next_task;
    int workers_running;
    int abort;
    mv_error fatal;
    mv_blob_codec *codecs[16]; /* the current one last; older ones live until the end */
    int ncodecs;
    int qresync, condstore, utf8;
    /* Extensions to act as if the server lacked (MAILVAULT_IGNORE_CAPS, for tests of the
     * fallback paths against a server that has them all). */
    int no_qresync, no_condstore, no_list_status;
    mv_sync_progress progress;
    mv_run_counts counts;
} engine;

static job *job_new(job_kind kind, folder_task *t)
{
    job *j = calloc(1, sizeof *j);
    if (j) {
        j->kind = kind;
        j->task = t;
    }
    return j;
}

static void job_free(job *j)
{
    if (j == NULL)
        return;
    for (size_t i = 0; i < j->nmsgs; i++) {
        free(j->msgs[i].flags);
        mv_blob_stage_free(j->msgs[i].stage);
        mv_text_free(&j->msgs[i].text);
    }
    free(j->msgs);
    for (size_t i = 0; i < j->flags.n; i++)
        free(j->flags.v[i].flags);
    free(j->flags.v);
    free(j->expunged.v);
    free(j);
}

/* Queues a job. A waiting job returns its status (and frees the job unless keep is set, for
 * replies); others return at once, after waiting for queue memory if need be. */
static mv_status submit(engine *e, job *j, int wait, int keep, mv_error *err)
{
    pthread_mutex_lock(&e->mu);
    while (!wait && !e->abort && e->head && e->queued_memory + j->memory > QUEUE_MEMORY)
        pthread_cond_wait(&e->cv_worker, &e->mu);
    if (e->abort) {
        pthread_mutex_unlock(&e->mu);
        if (!keep)
            job_free(j);
        return mv_error_set(err, MV_ERR_INTERNAL, "sync stopped: archive error");
    }
    j->wait = wait;
    if (e->tail)
        e->tail->next = j;
    else
        e->head = j;
    e->tail = j;
    e->queued_memory += j->memory;
    pthread_cond_signal(&e->cv_writer);
    if (!wait) {
        pthread_mutex_unlock(&e->mu);
        return MV_OK;
    }
    while (!j->done)
        pthread_cond_wait(&e->cv_worker, &e->mu);
    pthread_mutex_unlock(&e->mu);
    mv_status st = j->status;
    if (st != MV_OK)
        mv_error_set(err, st, "%s", j->err.msg);
    if (!keep)
        job_free(j);
    return st;
}

static mv_blob_codec *current_codec(engine *e)
{
    pthread_mutex_lock(&e->mu);
    mv_blob_codec *c = e->codecs[e->ncodecs - 1];
    pthread_mutex_unlock(&e->mu);
    return c;
}

/* ---------------------------------------------------------------- the writer */

static mv_status w_begin(engine *e, job *j)
{
    folder_task *t = j->task;
    mv_status st = MV_OK;
    memset(&j->state, 0, sizeof j->state);
    if (e->opt->dry_run) {
        st = e->account ? mv_archive_mailbox_find(e->ar, e->account, t->name, &t->mailbox, &j->err)
                        : MV_OK;
        if (st == MV_OK && t->mailbox)
            st = mv_archive_mailbox_state(e->ar, t->mailbox, &j->state, &j->err);
        return st;
    }
    if ((st = mv_archive_begin(e->ar, &j->err)) != MV_OK)
        return st;
    if ((st = mv_archive_mailbox(e->ar, e->account, t->name, t->delim, &t->mailbox, &j->err)) ==
            MV_OK &&
        (st = mv_archive_mailbox_set_info(e->ar, t->mailbox, t->delim, t->special, &j->err)) ==
            MV_OK &&
        (st = mv_archive_mailbox_state(e->ar, t->mailbox, &j->state, &j->err)) == MV_OK)
        st = mv_archive_commit(e->ar, &j->err);
    if (st != MV_OK)
        mv_archive_rollback(e->ar);
    /* A mailbox made by this run starts without a UIDVALIDITY: nothing is known yet. */
    return st;
}

static int collect_known(void *ctx, int64_t uid, const char *flags)
{
    flag_list *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        flag_item *v = realloc(l->v, cap * sizeof *v);
        if (v == NULL)
            return 1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n].uid = uid;
    l->v[l->n].modseq = 0;
    if ((l->v[l->n].flags = strdup(flags)) == NULL)
        return 1;
    l->n++;
    return 0;
}

static mv_status w_batch(engine *e, job *j)
{
    folder_task *t = j->task;
    mv_status st;
    int64_t stored = 0, bytes = 0;
    if ((st = mv_archive_begin(e->ar, &j->err)) != MV_OK)
        return st;
    for (size_t i = 0; i < j->nmsgs; i++) {
        msg_item *m = &j->msgs[i];
        int64_t id;
        int is_new, added;
        if ((st = mv_blob_stage_store(e->ar, m->stage, &id, &is_new, &j->err)) != MV_OK)
            goto fail;
        /* New content enters the search index in the same transaction as its bytes. */
        if (is_new && (st = mv_index_add(e->ar, id, &m->text, &j->err)) != MV_OK)
            goto fail;
        if ((st = mv_archive_location_put(e->ar, t->mailbox, j->state.uidvalidity, m->uid, id,
                                          m->flags, m->internaldate, m->modseq, &added, &j->err)) !=
            MV_OK)
            goto fail;
        stored += is_new;
        bytes += mv_blob_stage_size(m->stage);
        e->counts.locations_new += added;
    }
    if ((st = mv_archive_mailbox_set_state(e->ar, t->mailbox, &j->state, 0, &j->err)) != MV_OK)
        goto fail;
    if ((st = mv_archive_commit(e->ar, &j->err)) != MV_OK)
        return st;
    t->rep->new_messages += (int64_t)j->nmsgs;
    t->rep->stored += stored;
    t->rep->bytes += bytes;
    e->counts.messages_new += stored;
    e->counts.bytes += bytes;
    pthread_mutex_lock(&e->mu);
    e->progress.messages_done += (int64_t)j->nmsgs;
    e->progress.bytes_done += bytes;
    pthread_mutex_unlock(&e->mu);

    /* A first sync of a big account trains its dictionary early, and the rest of the run
     * compresses with it. */
    mv_totals tot;
    if (e->ncodecs < 16 && mv_archive_totals(e->ar, &tot, &j->err) == MV_OK &&
        mv_archive_training_due(e->ar, tot.messages)) {
        int trained = 0;
        mv_blob_codec *c;
        if (mv_archive_maybe_train(e->ar, &trained, &j->err) == MV_OK && trained &&
            mv_blob_codec_new(e->ar, &c, &j->err) == MV_OK) {
            pthread_mutex_lock(&e->mu);
            e->codecs[e->ncodecs++] = c;
            pthread_mutex_unlock(&e->mu);
        }
        mv_error_clear(&j->err);
    }
    return MV_OK;
fail:
    mv_archive_rollback(e->ar);
    return st;
}

static mv_status w_changes(engine *e, job *j)
{
    folder_task *t = j->task;
    mv_status st;
    int64_t changed_total = 0, expunged_total = 0;
    if (e->opt->dry_run) {
        t->rep->flag_changes += (int64_t)j->flags.n;
        t->rep->expunged += (int64_t)j->expunged.n;
        return MV_OK;
    }
    if ((st = mv_archive_begin(e->ar, &j->err)) != MV_OK)
        return st;
    for (size_t i = 0; i < j->flags.n; i++) {
        int changed;
        if ((st = mv_archive_location_flags(
                 e->ar, t->mailbox, j->state.uidvalidity, j->flags.v[i].uid, j->flags.v[i].flags,
                 j->flags.v[i].modseq, e->run, &changed, &j->err)) != MV_OK)
            goto fail;
        changed_total += changed;
    }
    for (size_t i = 0; i < j->expunged.n; i++) {
        int changed;
        if ((st = mv_archive_location_expunge(e->ar, t->mailbox, j->state.uidvalidity,
                                              j->expunged.v[i], &changed, &j->err)) != MV_OK)
            goto fail;
        expunged_total += changed;
    }
    if ((st = mv_archive_commit(e->ar, &j->err)) != MV_OK)
        return st;
    t->rep->flag_changes += changed_total;
    t->rep->expunged += expunged_total;
    e->counts.flag_changes += changed_total;
    e->counts.expunged += expunged_total;
    return MV_OK;
fail:
    mv_archive_rollback(e->ar);
    return st;
}

static mv_status w_done(engine *e, job *j)
{
    folder_task *t = j->task;
    mv_status st;
    int64_t settled = 0;
    if ((st = mv_archive_begin(e->ar, &j->err)) != MV_OK)
        return st;
    if ((st = mv_archive_mailbox_settle(e->ar, t->mailbox, j->state.uidvalidity, &settled,
                                        &j->err)) == MV_OK &&
        (st = mv_archive_mailbox_set_state(e->ar, t->mailbox, &j->state, 1, &j->err)) == MV_OK)
        st = mv_archive_commit(e->ar, &j->err);
    if (st != MV_OK) {
        mv_archive_rollback(e->ar);
        return st;
    }
    t->rep->expunged += settled;
    e->counts.expunged += settled;
    return MV_OK;
}

static mv_status w_run(engine *e, job *j)
{
    switch (j->kind) {
    case J_BEGIN:
        return w_begin(e, j);
    case J_KNOWN:
        if (j->task->mailbox == 0)
            return MV_OK;
        return mv_archive_locations(e->ar, j->task->mailbox, j->state.uidvalidity, collect_known,
                                    &j->flags, &j->err);
    case J_RESET:
        if (e->opt->dry_run)
            return MV_OK;
        if (mv_archive_begin(e->ar, &j->err) != MV_OK)
            return j->err.status;
        if (mv_archive_mailbox_reset(e->ar, j->task->mailbox, j->state.uidvalidity, &j->err) !=
            MV_OK) {
            mv_archive_rollback(e->ar);
            return j->err.status;
        }
        return mv_archive_commit(e->ar, &j->err);
    case J_BATCH:
        return e->opt->dry_run ? MV_OK : w_batch(e, j);
    case J_CHANGES:
        return w_changes(e, j);
    case J_DONE:
        return e->opt->dry_run ? MV_OK : w_done(e, j);
    }
    return MV_OK;
}

/* Runs jobs until every worker has finished and the queue is empty. */
static void writer_loop(engine *e)
{
    pthread_mutex_lock(&e->mu);
    for (;;) {
        while (e->head == NULL && e->workers_running > 0)
            pthread_cond_wait(&e->cv_writer, &e->mu);
        job *j = e->head;
        if (j == NULL)
            break;
        e->head = j->next;
        if (e->head == NULL)
            e->tail = NULL;
        int aborted = e->abort;
        pthread_mutex_unlock(&e->mu);

        mv_status st = aborted ? MV_ERR_INTERNAL : w_run(e, j);
        if (aborted)
            mv_error_set(&j->err, st, "sync stopped: archive error");

        pthread_mutex_lock(&e->mu);
        e->queued_memory -= j->memory;
        /* An archive failure (disk full, locked, damaged) stops everything: going on would
         * only fetch mail that cannot be stored. */
        if (st != MV_OK && !aborted && j->kind != J_BEGIN && j->kind != J_KNOWN &&
            st != MV_ERR_NOMEM) {
            e->abort = 1;
            mv_error_set(&e->fatal, st, "%s", j->err.msg);
        } else if (st != MV_OK && !aborted &&
                   (st == MV_ERR_FULL || st == MV_ERR_READONLY || st == MV_ERR_IO ||
                    st == MV_ERR_CORRUPT || st == MV_ERR_LOCKED)) {
            e->abort = 1;
            mv_error_set(&e->fatal, st, "%s", j->err.msg);
        }
        if (j->wait) {
            j->status = st;
            j->done = 1;
        } else {
            if (st != MV_OK && j->task->rep->status == MV_OK) {
                j->task->rep->status = st;
                snprintf(j->task->rep->error, sizeof j->task->rep->error, "%s", j->err.msg);
            }
            job_free(j);
        }
        pthread_cond_broadcast(&e->cv_worker);
        mv_sync_progress p = e->progress;
        pthread_mutex_unlock(&e->mu);
        if (e->opt->on_progress)
            e->opt->on_progress(e->opt->ctx, &p);
        pthread_mutex_lock(&e->mu);
    }
    pthread_mutex_unlock(&e->mu);
}

/* ---------------------------------------------------------------- a folder, on a worker */

typedef struct batch {
    unsigned tag;
    int64_t lo, hi;
    const int64_t *uids; /* the UIDs asked for (into fctx.uids) */
    size_t nuids;
    job *job;
    size_t cap;
} batch;

typedef enum { M_IDLE, M_EXAMINE, M_FLAGS, M_SEARCH, M_FETCH } fmode;

typedef struct worker worker;

typedef struct fctx {
    worker *w;
    folder_task *t;
    fmode mode;
    int64_t exists, uidvalidity, uidnext, modseq;
    int nomodseq;
    uid_list vanished;
    uid_list uids; /* SEARCH results */
    flag_list upd; /* flags reported by EXAMINE (QRESYNC) or a FLAGS fetch */
    batch inflight[IN_FLIGHT];
    int ninflight;
    mv_blob_stage *stage; /* the body being received */
    mv_text text;         /* its searchable text, once it is complete */
    mv_blob_codec *codec;
    uint64_t stage_left;
    mv_error stage_err;
} fctx;

struct worker {
    engine *e;
    int index;
    mv_imap *conn;
    pthread_t thread;
};

static mv_status nomem(mv_error *err)
{
    return mv_error_set(err, MV_ERR_NOMEM, "out of memory");
}

static int push_flags(flag_list *l, int64_t uid, const char *flags, int64_t modseq)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        flag_item *v = realloc(l->v, cap * sizeof *v);
        if (v == NULL)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    if ((l->v[l->n].flags = strdup(flags)) == NULL)
        return -1;
    l->v[l->n].uid = uid;
    l->v[l->n].modseq = modseq;
    l->n++;
    return 0;
}

static void free_flags(flag_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].flags);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int64_t value_num(const mv_imap_value *v)
{
    return v && v->type == MV_IMAP_NUMBER ? (int64_t)v->num : -1;
}

static batch *batch_for(fctx *f, int64_t uid)
{
    for (int i = 0; i < f->ninflight; i++)
        if (uid >= f->inflight[i].lo && uid <= f->inflight[i].hi)
            return &f->inflight[i];
    return NULL;
}

static mv_status on_fetch(fctx *f, const mv_imap_response *r, mv_error *err)
{
    const mv_imap_value *list = r->data->n > 0 ? &r->data->items[0] : NULL;
    if (list == NULL || list->type != MV_IMAP_LIST)
        return MV_OK;
    int64_t uid = value_num(mv_imap_list_find(list, "UID"));
    const mv_imap_value *body = mv_imap_list_find(list, "BODY[]");
    const mv_imap_value *fl = mv_imap_list_find(list, "FLAGS");
    const mv_imap_value *ms = mv_imap_list_find(list, "MODSEQ");
    int64_t modseq = ms && ms->type == MV_IMAP_LIST && ms->n == 1 ? value_num(&ms->items[0]) : 0;
    char flags[4096];

    if (body && body->type == MV_IMAP_STREAMED) {
        mv_blob_stage *stage = f->stage;
        f->stage = NULL;
        batch *b = uid > 0 ? batch_for(f, uid) : NULL;
        if (b == NULL || stage == NULL || f->mode != M_FETCH) {
            /* A body we did not ask for (or without a UID): not ours to file. */
            mv_blob_stage_free(stage);
            return MV_OK;
        }
        job *j = b->job;
        if (j->nmsgs == b->cap) {
            size_t cap = b->cap ? b->cap * 2 : 64;
            msg_item *v = realloc(j->msgs, cap * sizeof *v);
            if (v == NULL) {
                mv_blob_stage_free(stage);
                return nomem(err);
            }
            j->msgs = v;
            b->cap = cap;
        }
        msg_item *m = &j->msgs[j->nmsgs];
        memset(m, 0, sizeof *m);
        m->uid = uid;
        m->stage = stage;
        m->text = f->text;
        memset(&f->text, 0, sizeof f->text);
        m->modseq = modseq > 0 ? modseq : 0;
        const mv_imap_value *d = mv_imap_list_find(list, "INTERNALDATE");
        m->internaldate = d && d->type == MV_IMAP_STRING ? mv_sync_parse_internaldate(d->str) : -1;
        if (flags_from_list(fl, flags, sizeof flags) < 0)
            flags[0] = '\0';
        if ((m->flags = strdup(flags)) == NULL) {
            mv_blob_stage_free(stage);
            return nomem(err);
        }
        j->nmsgs++;
        j->memory += mv_blob_stage_memory(stage);
        return MV_OK;
    }
    /* A flags report: from EXAMINE (QRESYNC), our FLAGS fetch, or unsolicited. */
    if (uid > 0 && fl && (f->mode == M_EXAMINE || f->mode == M_FLAGS)) {
        if (flags_from_list(fl, flags, sizeof flags) < 0)
            return mv_error_set(err, MV_ERR_PROTOCOL, "too many flags on UID %lld", (long long)uid);
        if (push_flags(&f->upd, uid, flags, modseq > 0 ? modseq : 0))
            return nomem(err);
    }
    return MV_OK;
}

static mv_status f_untagged(void *ctx, const mv_imap_response *r, mv_error *err)
{
    fctx *f = ctx;
    if (r->status != MV_IMAP_NONE) {
        if (r->code == NULL)
            return MV_OK;
        const mv_imap_value *a =
            r->code_args && r->code_args->n > 0 ? &r->code_args->items[0] : NULL;
        if (strcmp(r->code, "UIDVALIDITY") == 0)
            f->uidvalidity = value_num(a);
        else if (strcmp(r->code, "UIDNEXT") == 0)
            f->uidnext = value_num(a);
        else if (strcmp(r->code, "HIGHESTMODSEQ") == 0)
            f->modseq = value_num(a);
        else if (strcmp(r->code, "NOMODSEQ") == 0)
            f->nomodseq = 1;
        return MV_OK;
    }
    if (r->keyword == NULL)
        return MV_OK;
    if (strcmp(r->keyword, "EXISTS") == 0) {
        f->exists = (int64_t)r->number;
    } else if (strcmp(r->keyword, "FETCH") == 0) {
        return on_fetch(f, r, err);
    } else if (strcmp(r->keyword, "VANISHED") == 0) {
        const mv_imap_value *set = r->data->n > 0 ? &r->data->items[r->data->n - 1] : NULL;
        if (set && (set->type == MV_IMAP_ATOM || set->type == MV_IMAP_NUMBER) &&
            parse_set(set->str, &f->vanished))
            return mv_error_set(err, MV_ERR_PROTOCOL, "bad VANISHED set from the server");
    } else if (strcmp(r->keyword, "SEARCH") == 0 && f->mode == M_SEARCH) {
        for (size_t i = 0; i < r->data->n; i++) {
            int64_t u = value_num(&r->data->items[i]);
            if (u > 0 && uid_push(&f->uids, u))
                return nomem(err);
        }
    }
    return MV_OK;
}

static int f_literal_begin(void *ctx, const char *key, uint64_t number, uint64_t size,
                           uint64_t *cookie)
{
    fctx *f = ctx;
    (void)number;
    *cookie = 0;
    if (f->mode != M_FETCH || key == NULL || strcasecmp(key, "BODY[]") != 0)
        return 0;
    mv_blob_stage_free(f->stage);
    f->stage = NULL;
    mv_error_clear(&f->stage_err);
    if (size > MAX_MESSAGE) {
        mv_error_set(&f->stage_err, MV_ERR_PROTOCOL,
                     "server announced a %llu-byte message, more than the %llu-byte limit",
                     (unsigned long long)size, (unsigned long long)MAX_MESSAGE);
        return 1;
    }
    f->stage_left = size;
    if (mv_blob_stage_begin(f->codec, (int64_t)size, &f->stage, &f->stage_err) == MV_OK)
        mv_blob_stage_keep_raw(f->stage);
    return 1;
}

static mv_status f_literal_data(void *ctx, const void *data, size_t len, mv_error *err)
{
    fctx *f = ctx;
    if (f->stage == NULL)
        return mv_error_set(err, f->stage_err.status ? f->stage_err.status : MV_ERR_INTERNAL, "%s",
                            f->stage_err.msg);
    return mv_blob_stage_write(f->stage, data, len, err);
}

static mv_status f_literal_end(void *ctx, mv_error *err)
{
    fctx *f = ctx;
    if (f->stage == NULL)
        return mv_error_set(err, f->stage_err.status ? f->stage_err.status : MV_ERR_INTERNAL, "%s",
                            f->stage_err.msg);
    mv_status st = mv_blob_stage_finish(f->stage, err);
    if (st != MV_OK)
        return st;
    /* The text is extracted here, on the connection's thread, in parallel with the other
     * connections; the uncompressed copy is dropped as soon as it has served. */
    size_t len;
    const unsigned char *raw = mv_blob_stage_raw(f->stage, &len, NULL);
    mv_text_free(&f->text);
    st = mv_text_extract(raw ? (const char *)raw : "", len, &f->text, err);
    mv_blob_stage_drop_raw(f->stage);
    return st;
}

static void fctx_free(fctx *f)
{
    free(f->vanished.v);
    free(f->uids.v);
    free_flags(&f->upd);
    mv_blob_stage_free(f->stage);
    mv_text_free(&f->text);
    for (int i = 0; i < f->ninflight; i++)
        job_free(f->inflight[i].job);
    memset(f, 0, sizeof *f);
}

static mv_status examine(worker *w, fctx *f, const mv_mailbox_state *known, mv_error *err)
{
    engine *e = w->e;
    char cmd[NAME_MAX_BYTES * 2 + 128], q[NAME_MAX_BYTES * 2];
    if (mv_imap_quote(f->t->raw, q, sizeof q) < 0)
        return mv_error_set(err, MV_ERR_PROTOCOL, "folder name cannot be quoted");
    if (e->qresync && known->uidvalidity > 0 && known->highestmodseq > 0)
        snprintf(cmd, sizeof cmd, "EXAMINE %s (QRESYNC (%lld %lld))", q,
                 (long long)known->uidvalidity, (long long)known->highestmodseq);
    else if (e->condstore)
        snprintf(cmd, sizeof cmd, "EXAMINE %s (CONDSTORE)", q);
    else
        snprintf(cmd, sizeof cmd, "EXAMINE %s", q);
    f->mode = M_EXAMINE;
    mv_status st = mv_imap_run(w->conn, cmd, NULL, err);
    f->mode = M_IDLE;
    if (st != MV_OK)
        return st;
    if (f->uidvalidity <= 0)
        return mv_error_set(err, MV_ERR_PROTOCOL,
                            "server gave no valid UIDVALIDITY for the folder (got %lld)",
                            (long long)f->uidvalidity);
    return MV_OK;
}

/* Flag changes and expunges of mail already archived. */
static mv_status known_changes(worker *w, fctx *f, const mv_mailbox_state *known, int used_qresync,
                               mv_error *err)
{
    engine *e = w->e;
    mv_status st;
    job *ch = job_new(J_CHANGES, f->t);
    if (ch == NULL)
        return nomem(err);
    ch->state = *known;
    char cmd[128];
    int64_t last = known->uidnext - 1;

    if (used_qresync) {
        /* EXAMINE already reported everything since our HIGHESTMODSEQ. */
        ch->flags = f->upd;
        memset(&f->upd, 0, sizeof f->upd);
        ch->expunged = f->vanished;
        memset(&f->vanished, 0, sizeof f->vanished);
        return submit(e, ch, 0, 0, err);
    }

    int incremental = e->condstore && known->highestmodseq > 0 && !f->nomodseq && f->modseq > 0;
    free_flags(&f->upd);
    if (incremental)
        snprintf(cmd, sizeof cmd, "UID FETCH 1:%lld (UID FLAGS) (CHANGEDSINCE %lld)",
                 (long long)last, (long long)known->highestmodseq);
    else
        snprintf(cmd, sizeof cmd, "UID FETCH 1:%lld (UID FLAGS)", (long long)last);
    f->mode = M_FLAGS;
    st = mv_imap_run(w->conn, cmd, NULL, err);
    if (st == MV_OK && incremental) {
        /* CHANGEDSINCE only names changed messages; expunges need the full UID list. */
        f->mode = M_SEARCH;
        f->uids.n = 0;
        snprintf(cmd, sizeof cmd, "UID SEARCH UID 1:%lld", (long long)last);
        st = mv_imap_run(w->conn, cmd, NULL, err);
    }
    f->mode = M_IDLE;
    if (st != MV_OK) {
        job_free(ch);
        return st;
    }

    /* What the archive holds for this folder, to find what the server no longer has. */
    job *kn = job_new(J_KNOWN, f->t);
    if (kn == NULL) {
        job_free(ch);
        return nomem(err);
    }
    kn->state = *known;
    if ((st = submit(e, kn, 1, 1, err)) != MV_OK) {
        job_free(kn);
        job_free(ch);
        return st;
    }
    uid_list present = {0};
    if (incremental) {
        present = f->uids;
        memset(&f->uids, 0, sizeof f->uids);
    } else {
        for (size_t i = 0; i < f->upd.n; i++)
            if (uid_push(&present, f->upd.v[i].uid)) {
                free(present.v);
                job_free(kn);
                job_free(ch);
                return nomem(err);
            }
    }
    qsort(present.v, present.n, sizeof *present.v, cmp_i64);
    for (size_t i = 0; i < kn->flags.n; i++) {
        int64_t uid = kn->flags.v[i].uid;
        if (bsearch(&uid, present.v, present.n, sizeof *present.v, cmp_i64) == NULL &&
            uid_push(&ch->expunged, uid)) {
            st = nomem(err);
            break;
        }
    }
    if (st == MV_OK && !incremental) {
        /* Only real differences travel to the writer (which checks again anyway). */
        for (size_t i = 0; i < f->upd.n; i++) {
            flag_item key = {f->upd.v[i].uid, NULL, 0};
            flag_item *k = NULL;
            size_t lo = 0, hi = kn->flags.n;
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (kn->flags.v[mid].uid < key.uid)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            if (lo < kn->flags.n && kn->flags.v[lo].uid == key.uid)
                k = &kn->flags.v[lo];
            if (k && strcmp(k->flags, f->upd.v[i].flags) != 0 &&
                push_flags(&ch->flags, key.uid, f->upd.v[i].flags, f->upd.v[i].modseq)) {
                st = nomem(err);
                break;
            }
        }
    } else if (st == MV_OK) {
        ch->flags = f->upd;
        memset(&f->upd, 0, sizeof f->upd);
    }
    free(present.v);
    job_free(kn);
    if (st != MV_OK) {
        job_free(ch);
        return st;
    }
    return submit(e, ch, 0, 0, err);
}

static mv_status send_batch(worker *w, fctx *f, const int64_t *uids, size_t n,
                            const mv_mailbox_state *state, mv_error *err)
{
    char set[BATCH_UIDS * 24], cmd[BATCH_UIDS * 24 + 128];
    if (format_set(uids, n, set, sizeof set) < 0)
        return mv_error_set(err, MV_ERR_INTERNAL, "UID set too long");
    snprintf(cmd, sizeof cmd, "UID FETCH %s (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])", set);
    batch *b = &f->inflight[f->ninflight];
    memset(b, 0, sizeof *b);
    if ((b->job = job_new(J_BATCH, f->t)) == NULL)
        return nomem(err);
    b->lo = uids[0];
    b->hi = uids[n - 1];
    b->uids = uids;
    b->nuids = n;
    b->job->state = *state;
    b->job->state.uidnext = b->hi + 1;
    f->ninflight++;
    return mv_imap_send(w->conn, cmd, &b->tag, err);
}

/* The connection failed in the middle of a batch. The messages that arrived whole, in an
 * unbroken run from the batch's first UID, are kept and committed with a UIDNEXT just past
 * them: a link that drops every few hundred kilobytes still makes progress, however large
 * the batches. */
static void salvage(engine *e, fctx *f, mv_mailbox_state *state)
{
    batch *b = &f->inflight[0];
    job *j = b->job;
    size_t keep = 0;
    for (; keep < b->nuids; keep++) {
        size_t k;
        for (k = 0; k < j->nmsgs && j->msgs[k].uid != b->uids[keep]; k++)
            ;
        if (k == j->nmsgs)
            break;
        /* Move it into position keep, so the first keep messages are the run. */
        msg_item tmp = j->msgs[keep];
        j->msgs[keep] = j->msgs[k];
        j->msgs[k] = tmp;
    }
    if (keep == 0)
        return;
    for (size_t k = keep; k < j->nmsgs; k++) {
        free(j->msgs[k].flags);
        mv_blob_stage_free(j->msgs[k].stage);
        mv_text_free(&j->msgs[k].text);
    }
    j->nmsgs = keep;
    j->memory = 0;
    for (size_t k = 0; k < keep; k++)
        j->memory += mv_blob_stage_memory(j->msgs[k].stage);
    j->state.uidnext = b->uids[keep - 1] + 1;
    state->uidnext = j->state.uidnext;
    memmove(&f->inflight[0], &f->inflight[1], (size_t)(f->ninflight - 1) * sizeof(batch));
    f->ninflight--;
    f->t->batches++;
    mv_error ignored = {0};
    submit(e, j, 0, 0, &ignored);
}

static mv_status fetch_new(worker *w, fctx *f, mv_mailbox_state *state, mv_error *err)
{
    engine *e = w->e;
    mv_status st;
    char cmd[128];
    f->uids.n = 0;
    f->mode = M_SEARCH;
    snprintf(cmd, sizeof cmd, "UID SEARCH UID %lld:*", (long long)state->uidnext);
    st = mv_imap_run(w->conn, cmd, NULL, err);
    f->mode = M_IDLE;
    if (st != MV_OK)
        return st;
    /* "n:*" always matches the highest UID, even one below n. */
    size_t keep = 0;
    for (size_t i = 0; i < f->uids.n; i++)
        if (f->uids.v[i] >= state->uidnext)
            f->uids.v[keep++] = f->uids.v[i];
    f->uids.n = keep;
    qsort(f->uids.v, f->uids.n, sizeof *f->uids.v, cmp_i64);
    pthread_mutex_lock(&e->mu);
    e->progress.messages_total += (int64_t)f->uids.n;
    pthread_mutex_unlock(&e->mu);
    if (e->opt->dry_run) {
        f->t->rep->new_messages = (int64_t)f->uids.n;
        return MV_OK;
    }

    f->mode = M_FETCH;
    f->codec = current_codec(e);
    size_t next = 0;
    while (st == MV_OK && (next < f->uids.n || f->ninflight > 0)) {
        /* Keep IN_FLIGHT commands queued at the server so the link never idles. */
        while (st == MV_OK && next < f->uids.n && f->ninflight < IN_FLIGHT) {
            size_t n = f->uids.n - next < BATCH_UIDS ? f->uids.n - next : BATCH_UIDS;
            st = send_batch(w, f, f->uids.v + next, n, state, err);
            next += n;
        }
        if (st != MV_OK)
            break;
        mv_imap_result res;
        batch *b = &f->inflight[0];
        if ((st = mv_imap_wait(w->conn, b->tag, &res, err)) != MV_OK)
            break;
        if (res.status != MV_IMAP_OK) {
            st = mv_error_set(err, MV_ERR_PROTOCOL, "UID FETCH failed: %s", res.text);
            break;
        }
        job *j = b->job;
        memmove(&f->inflight[0], &f->inflight[1], (size_t)(f->ninflight - 1) * sizeof(batch));
        f->ninflight--;
        state->uidnext = j->state.uidnext;
        f->t->batches++;
        st = submit(e, j, 0, 0, err);
        /* A new dictionary may have been trained meanwhile. */
        f->codec = current_codec(e);
    }
    if (st != MV_OK && f->ninflight > 0)
        salvage(e, f, state);
    f->mode = M_IDLE;
    return st;
}

static mv_status sync_folder(worker *w, folder_task *t, mv_error *err)
{
    engine *e = w->e;
    fctx f = {0};
    mv_status st;
    f.w = w;
    f.t = t;
    mv_imap_handler h = {&f, f_untagged, f_literal_begin, f_literal_data, f_literal_end};
    mv_imap_set_handler(w->conn, &h);

    job *bj = job_new(J_BEGIN, t);
    if (bj == NULL)
        return nomem(err);
    if ((st = submit(e, bj, 1, 1, err)) != MV_OK) {
        job_free(bj);
        goto out;
    }
    mv_mailbox_state known = bj->state;
    job_free(bj);

    if ((st = examine(w, &f, &known, err)) != MV_OK)
        goto out;
    int used_qresync = e->qresync && known.uidvalidity == f.uidvalidity && known.highestmodseq > 0;

    if (known.uidvalidity != 0 && known.uidvalidity != f.uidvalidity) {
        /* The server renumbered the folder: fetch it again, matched by content. */
        t->rep->uidvalidity_changed = 1;
        t->reset = 1;
        job *rj = job_new(J_RESET, t);
        if (rj == NULL) {
            st = nomem(err);
            goto out;
        }
        rj->state.uidvalidity = f.uidvalidity;
        if ((st = submit(e, rj, 1, 0, err)) != MV_OK)
            goto out;
        known.uidvalidity = f.uidvalidity;
        known.uidnext = 1;
        known.highestmodseq = 0;
        used_qresync = 0;
    }
    if (known.uidvalidity == 0) {
        known.uidvalidity = f.uidvalidity;
        known.uidnext = 1;
    }
    if (known.uidnext > 1 && (st = known_changes(w, &f, &known, used_qresync, err)) != MV_OK)
        goto out;

    mv_mailbox_state state = known;
    if (f.uidnext <= 0 || f.uidnext > known.uidnext || f.exists > 0)
        if ((st = fetch_new(w, &f, &state, err)) != MV_OK)
            goto out;

    if (!e->opt->dry_run) {
        job *dj = job_new(J_DONE, t);
        if (dj == NULL) {
            st = nomem(err);
            goto out;
        }
        dj->state.uidvalidity = f.uidvalidity;
        /* Never go back: a UIDNEXT lower than what we fetched would refetch. */
        dj->state.uidnext = f.uidnext > state.uidnext ? f.uidnext : state.uidnext;
        dj->state.highestmodseq = f.nomodseq ? 0 : f.modseq;
        st = submit(e, dj, 1, 0, err);
    }
out:
    mv_imap_set_handler(w->conn, NULL);
    fctx_free(&f);
    return st;
}

/* ---------------------------------------------------------------- workers */

static mv_status connect_worker(worker *w, mv_error *err)
{
    engine *e = w->e;
    const mv_account *a = e->acct;
    mv_imap_login l = {
        .host = a->host,
        .port = a->port,
        .tls = a->tls,
        .user = a->user,
        .password = e->opt->password,
        .bearer = e->opt->bearer,
        .mechanism = a->auth,
        .ca_file = a->ca_file,
        .verify = a->tls_verify,
        .proxy = a->proxy,
        .allow_plaintext = a->allow_plaintext,
        .timeout = a->timeout,
        .trace = e->opt->trace,
    };
    mv_status st = mv_imap_connect(&l, &w->conn, err);
    if (st != MV_OK)
        return st;
    /* Extra connections behave like the first: the same extensions on. Not awaited; the
     * folder's EXAMINE queues behind it. */
    unsigned tag = 0;
    if ((e->qresync || e->utf8) &&
        (st =
             mv_imap_send(w->conn, e->qresync ? "ENABLE QRESYNC UTF8=ACCEPT" : "ENABLE UTF8=ACCEPT",
                          &tag, err)) != MV_OK) {
        mv_imap_abort(w->conn);
        w->conn = NULL;
        return st;
    }
    mv_error_clear(err);
    return MV_OK;
}

static folder_task *take_task(engine *e)
{
    folder_task *t = NULL;
    pthread_mutex_lock(&e->mu);
    while (e->next_task < e->ntasks && !e->abort) {
        folder_task *c = &e->tasks[e->next_task++];
        if (!c->rep->unchanged) {
            t = c;
            break;
        }
    }
    pthread_mutex_unlock(&e->mu);
    return t;
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    engine *e = w->e;
    folder_task *t;
    while ((t = take_task(e)) != NULL) {
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        mv_error err = {0};
        mv_status st = MV_OK;
        for (int attempt = 0; attempt <= RETRIES; attempt++) {
            mv_error_clear(&err);
            if (attempt > 0) {
                /* Bounded backoff: 1, 2, 4 seconds. */
                sleep(1u << (attempt - 1));
            }
            if (w->conn == NULL && (st = connect_worker(w, &err)) != MV_OK) {
                if (st == MV_ERR_CONNECT || st == MV_ERR_TIMEOUT)
                    continue;
                break;
            }
            int64_t batches = t->batches;
            st = sync_folder(w, t, &err);
            if (st == MV_OK)
                break;
            /* A link that keeps dropping but moves the folder forward each time is retried
             * until the folder is done: every retry commits more of it. */
            if (t->batches > batches && (st == MV_ERR_CONNECT || st == MV_ERR_TIMEOUT))
                attempt = -1; /* the loop's ++ makes it 0: reconnect at once */
            /* After any failure the connection may be mid-response: start afresh. */
            mv_imap_abort(w->conn);
            w->conn = NULL;
            if (st != MV_ERR_CONNECT && st != MV_ERR_TIMEOUT)
                break;
        }
        pthread_mutex_lock(&e->mu);
        t->rep->seconds = seconds_since(&t0);
        if (st != MV_OK && t->rep->status == MV_OK) {
            t->rep->status = st;
            snprintf(t->rep->error, sizeof t->rep->error, "%s", err.msg);
        }
        e->progress.folders_done++;
        pthread_mutex_unlock(&e->mu);
    }
    mv_imap_close(w->conn);
    w->conn = NULL;
    pthread_mutex_lock(&e->mu);
    e->workers_running--;
    pthread_cond_broadcast(&e->cv_writer);
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

/* ---------------------------------------------------------------- LIST and the run */

typedef struct list_ctx {
    engine *e;
    mv_imap *conn;
    folder_task *v;
    size_t n, cap;
    mv_status st;
    mv_error *err;
} list_ctx;

static folder_task *find_task(list_ctx *l, const char *raw)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].raw, raw) == 0)
            return &l->v[i];
    return NULL;
}

static const char *special_uses[] = {"\\All",  "\\Archive", "\\Drafts", "\\Flagged",
                                     "\\Junk", "\\Sent",    "\\Trash",  NULL};

static mv_status list_untagged(void *ctx, const mv_imap_response *r, mv_error *err)
{
    list_ctx *l = ctx;
    if (r->keyword == NULL)
        return MV_OK;
    if (strcmp(r->keyword, "LIST") == 0 && r->data->n >= 3) {
        const mv_imap_value *attrs = &r->data->items[0], *del = &r->data->items[1],
                            *nm = &r->data->items[2];
        if (attrs->type != MV_IMAP_LIST ||
            (nm->type != MV_IMAP_STRING && nm->type != MV_IMAP_ATOM && nm->type != MV_IMAP_NUMBER))
            return mv_error_set(err, MV_ERR_PROTOCOL, "malformed LIST response");
        char special[64] = "";
        for (size_t i = 0; i < attrs->n; i++) {
            const mv_imap_value *a = &attrs->items[i];
            if (mv_imap_value_is(a, "\\Noselect") || mv_imap_value_is(a, "\\NonExistent"))
                return MV_OK;
            for (int s = 0; special_uses[s]; s++)
                if (mv_imap_value_is(a, special_uses[s]))
                    snprintf(special + strlen(special), sizeof special - strlen(special), "%s%s",
                             special[0] ? " " : "", special_uses[s]);
        }
        if (nm->len == 0 || nm->len >= NAME_MAX_BYTES || memchr(nm->str, '\0', nm->len))
            return MV_OK;
        char name[NAME_MAX_BYTES * 4];
        /* Asked of the connection, not the engine: the ENABLE may have been answered in the
         * same read as these LIST lines. */
        if (mv_imap_enabled(l->conn, "UTF8=ACCEPT"))
            snprintf(name, sizeof name, "%s", nm->str);
        else if (mv_imap_utf7_decode(nm->str, name, sizeof name) < 0)
            /* Not valid modified UTF-7: keep the server's spelling rather than skip mail. */
            snprintf(name, sizeof name, "%s", nm->str);
        /* INBOX is case-insensitive (RFC 3501): archive it under one spelling. */
        if (strcasecmp(name, "INBOX") == 0)
            snprintf(name, sizeof name, "INBOX");
        if (!mv_config_folder_selected(l->e->acct, name))
            return MV_OK;
        if (find_task(l, nm->str))
            return MV_OK;
        if (l->n == l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 16;
            folder_task *v = realloc(l->v, cap * sizeof *v);
            if (v == NULL)
                return nomem(err);
            l->v = v;
            l->cap = cap;
        }
        folder_task *t = &l->v[l->n];
        memset(t, 0, sizeof *t);
        t->raw = strdup(nm->str);
        t->name = strdup(name);
        if (t->raw == NULL || t->name == NULL) {
            free(t->raw);
            free(t->name);
            return nomem(err);
        }
        t->delim = del->type == MV_IMAP_STRING && del->len == 1 ? del->str[0] : 0;
        snprintf(t->special, sizeof t->special, "%s", special);
        l->n++;
    } else if (strcmp(r->keyword, "STATUS") == 0 && r->data->n >= 2) {
        const mv_imap_value *nm = &r->data->items[0], *items = &r->data->items[1];
        folder_task *t = nm->str ? find_task(l, nm->str) : NULL;
        if (t == NULL || items->type != MV_IMAP_LIST)
            return MV_OK;
        t->has_status = 1;
        t->st_uidvalidity = value_num(mv_imap_list_find(items, "UIDVALIDITY"));
        t->st_uidnext = value_num(mv_imap_list_find(items, "UIDNEXT"));
        t->st_modseq = value_num(mv_imap_list_find(items, "HIGHESTMODSEQ"));
    }
    return MV_OK;
}

static int cmp_task(const void *a, const void *b)
{
    const folder_task *x = a, *y = b;
    /* INBOX first, then by name: the order users expect in reports. */
    int xi = strcmp(x->name, "INBOX") == 0, yi = strcmp(y->name, "INBOX") == 0;
    if (xi != yi)
        return yi - xi;
    return strcmp(x->name, y->name);
}

static void free_tasks(list_ctx *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].raw);
        free(l->v[i].name);
    }
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

/* The first exchange after login, pipelined behind the CAPABILITY that connect sent: ENABLE
 * and the richest LIST (folders, special use and every folder's STATUS in one answer) go out
 * before any answer is in. A server that rejects that LIST gets a plainer one afterwards, so
 * modern servers cost one round trip here and old ones two. */
static mv_status list_folders(engine *e, mv_imap *c, mv_error *err)
{
    list_ctx l = {e, c, NULL, 0, 0, MV_OK, err};
    mv_imap_handler h = {&l, list_untagged, NULL, NULL, NULL};
    mv_imap_result res;
    unsigned en_tag, list_tag;
    mv_status st;
    mv_imap_set_handler(c, &h);
    const char *list = e->no_list_status ? "LIST \"\" \"*\""
                                         : "LIST \"\" \"*\" RETURN (SPECIAL-USE STATUS (MESSAGES "
                                           "UIDNEXT UIDVALIDITY HIGHESTMODSEQ))";
    if ((st = mv_imap_send(c, e->no_qresync ? "ENABLE UTF8=ACCEPT" : "ENABLE QRESYNC UTF8=ACCEPT",
                           &en_tag, err)) != MV_OK ||
        (st = mv_imap_send(c, list, &list_tag, err)) != MV_OK ||
        (st = mv_imap_wait(c, en_tag, &res, err)) != MV_OK)
        goto out;
    e->condstore = !e->no_condstore && mv_imap_has(c, "CONDSTORE");
    e->qresync = !e->no_qresync && mv_imap_enabled(c, "QRESYNC");
    e->utf8 = mv_imap_enabled(c, "UTF8=ACCEPT");
    if ((st = mv_imap_wait(c, list_tag, &res, err)) != MV_OK)
        goto out;
    if (res.status != MV_IMAP_OK) {
        free_tasks(&l);
        const char *cmd = "LIST \"\" \"*\"";
        if (!e->no_list_status && mv_imap_has(c, "LIST-STATUS"))
            cmd = e->condstore ? "LIST \"\" \"*\" RETURN (STATUS (MESSAGES UIDNEXT UIDVALIDITY "
                                 "HIGHESTMODSEQ))"
                               : "LIST \"\" \"*\" RETURN (STATUS (MESSAGES UIDNEXT UIDVALIDITY))";
        else if (mv_imap_has(c, "SPECIAL-USE") && mv_imap_has(c, "LIST-EXTENDED"))
            cmd = "LIST \"\" \"*\" RETURN (SPECIAL-USE)";
        st = mv_imap_run(c, cmd, NULL, err);
    }
out:
    mv_imap_set_handler(c, NULL);
    if (st == MV_OK) {
        qsort(l.v, l.n, sizeof *l.v, cmp_task);
        e->tasks = l.v;
        e->ntasks = l.n;
        return MV_OK;
    }
    free_tasks(&l);
    return st;
}

typedef struct vanish_ctx {
    engine *e;
    int64_t *ids;
    size_t n, cap;
} vanish_ctx;

static int collect_vanished(void *ctx, int64_t id, const char *name, int deleted)
{
    vanish_ctx *v = ctx;
    if (deleted || !mv_config_folder_selected(v->e->acct, name))
        return 0;
    for (size_t i = 0; i < v->e->ntasks; i++)
        if (strcmp(v->e->tasks[i].name, name) == 0)
            return 0;
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        int64_t *ids = realloc(v->ids, cap * sizeof *ids);
        if (ids == NULL)
            return 1;
        v->ids = ids;
        v->cap = cap;
    }
    v->ids[v->n++] = id;
    return 0;
}

/* Folders the archive has but the server no longer lists: their mail stays, marked as
 * deleted on the server. */
static mv_status mark_vanished(engine *e, mv_error *err)
{
    vanish_ctx v = {e, NULL, 0, 0};
    mv_status st = mv_archive_mailboxes(e->ar, e->account, collect_vanished, &v, err);
    if (st == MV_OK && v.n > 0 && !e->opt->dry_run) {
        if ((st = mv_archive_begin(e->ar, err)) == MV_OK) {
            for (size_t i = 0; i < v.n && st == MV_OK; i++) {
                int64_t n;
                st = mv_archive_mailbox_vanished(e->ar, v.ids[i], &n, err);
                e->counts.expunged += n;
            }
            if (st == MV_OK)
                st = mv_archive_commit(e->ar, err);
            else
                mv_archive_rollback(e->ar);
        }
    }
    e->rep->vanished_folders = (int64_t)v.n;
    free(v.ids);
    return st;
}

void mv_sync_report_free(mv_sync_report *rep)
{
    for (size_t i = 0; i < rep->nfolders; i++)
        free(rep->folders[i].name);
    free(rep->folders);
    memset(rep, 0, sizeof *rep);
}

mv_status mv_sync_run(mv_archive *ar, const mv_sync_options *opt, mv_sync_report *rep,
                      mv_error *err)
{
    engine e = {0};
    mv_status st;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    memset(rep, 0, sizeof *rep);
    e.ar = ar;
    e.opt = opt;
    e.acct = opt->account;
    e.rep = rep;
    pthread_mutex_init(&e.mu, NULL);
    pthread_cond_init(&e.cv_writer, NULL);
    pthread_cond_init(&e.cv_worker, NULL);
    int nconn = opt->connections > 0 ? opt->connections : e.acct->connections;
    if (nconn < 1)
        nconn = 1;
    if (nconn > 16)
        nconn = 16;
    worker *workers = calloc((size_t)nconn, sizeof *workers);
    if (workers == NULL || mv_blob_codec_new(ar, &e.codecs[0], err) != MV_OK) {
        free(workers);
        return err->status ? err->status : nomem(err);
    }
    e.ncodecs = 1;
    const char *ignore = getenv("MAILVAULT_IGNORE_CAPS");
    if (ignore) {
        e.no_qresync = strstr(ignore, "QRESYNC") != NULL;
        e.no_condstore = strstr(ignore, "CONDSTORE") != NULL;
        e.no_qresync |= e.no_condstore; /* QRESYNC builds on CONDSTORE */
        e.no_list_status = strstr(ignore, "LIST-STATUS") != NULL;
    }

    /* The first connection lists the folders, then becomes the first worker's. */
    workers[0].e = &e;
    if ((st = connect_worker(&workers[0], err)) != MV_OK)
        goto out;
    if ((st = list_folders(&e, workers[0].conn, err)) != MV_OK)
        goto out;

    if (!opt->dry_run) {
        if ((st = mv_archive_begin(ar, err)) != MV_OK)
            goto out;
        if ((st = mv_archive_account(ar, e.acct->name, "imap", &e.account, err)) != MV_OK ||
            (st = mv_archive_run_begin(ar, e.account, "sync", &e.run, err)) != MV_OK ||
            (st = mv_archive_commit(ar, err)) != MV_OK) {
            mv_archive_rollback(ar);
            goto out;
        }
    } else if ((st = mv_archive_account_find(ar, e.acct->name, &e.account, err)) != MV_OK) {
        goto out;
    }

    rep->folders = calloc(e.ntasks ? e.ntasks : 1, sizeof *rep->folders);
    if (rep->folders == NULL) {
        st = nomem(err);
        goto out;
    }
    rep->nfolders = e.ntasks;
    size_t busy = 0;
    for (size_t i = 0; i < e.ntasks; i++) {
        folder_task *t = &e.tasks[i];
        t->rep = &rep->folders[i];
        if ((t->rep->name = strdup(t->name)) == NULL) {
            st = nomem(err);
            goto out;
        }
        /* LIST-STATUS said nothing changed since our last complete sync: skip the folder
         * without a round trip of its own. */
        int64_t mb = 0;
        mv_mailbox_state ms = {0};
        if (t->has_status && t->st_modseq > 0 && e.account &&
            mv_archive_mailbox_find(ar, e.account, t->name, &mb, err) == MV_OK && mb &&
            mv_archive_mailbox_state(ar, mb, &ms, err) == MV_OK && ms.last_sync > 0 &&
            ms.uidvalidity == t->st_uidvalidity && ms.uidnext == t->st_uidnext &&
            ms.highestmodseq == t->st_modseq)
            t->rep->unchanged = 1;
        else
            busy++;
        mv_error_clear(err);
    }
    if (e.account && (st = mark_vanished(&e, err)) != MV_OK)
        goto out;
    e.progress.folders_total = (int)e.ntasks;
    e.progress.folders_done = (int)(e.ntasks - busy);

    /* One worker per connection, but never more than there are folders to do. */
    int nworkers = busy < (size_t)nconn ? (int)busy : nconn;
    if (nworkers < 1)
        nworkers = 0;
    e.workers_running = nworkers;
    int started = 0;
    for (int i = 0; i < nworkers; i++) {
        workers[i].e = &e;
        workers[i].index = i;
        if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0)
            break;
        started++;
    }
    pthread_mutex_lock(&e.mu);
    e.workers_running = started;
    pthread_mutex_unlock(&e.mu);
    writer_loop(&e);
    for (int i = 0; i < started; i++)
        pthread_join(workers[i].thread, NULL);

    /* Outcome: an archive failure is the run's; otherwise count failed folders. */
    size_t failed = 0;
    mv_status first = MV_OK;
    for (size_t i = 0; i < rep->nfolders; i++)
        if (rep->folders[i].status != MV_OK) {
            failed++;
            if (first == MV_OK)
                first = rep->folders[i].status;
        }
    if (e.abort) {
        st = mv_error_set(err, e.fatal.status, "%s", e.fatal.msg);
    } else if (failed == 0) {
        st = MV_OK;
    } else if (failed == rep->nfolders && (first == MV_ERR_AUTH || first == MV_ERR_TLS ||
                                           first == MV_ERR_CONNECT || first == MV_ERR_TIMEOUT)) {
        st = mv_error_set(err, first, "%s", rep->folders[0].error);
    } else {
        st = mv_error_set(err, MV_ERR_PARTIAL, "%zu of %zu folders failed", failed, rep->nfolders);
    }
out:
    if (e.run) {
        mv_error ignored = {0};
        e.counts.errors = 0;
        for (size_t i = 0; i < rep->nfolders; i++)
            e.counts.errors += rep->folders[i].status != MV_OK;
        if (mv_archive_begin(ar, &ignored) == MV_OK) {
            if (mv_archive_run_end(ar, e.run,
                                   st == MV_OK            ? "ok"
                                   : st == MV_ERR_PARTIAL ? "partial"
                                                          : "failed",
                                   &e.counts, st == MV_OK ? NULL : err->msg, &ignored) == MV_OK)
                mv_archive_commit(ar, &ignored);
            else
                mv_archive_rollback(ar);
        }
    }
    if (workers[0].conn && e.workers_running == 0)
        mv_imap_close(workers[0].conn);
    for (size_t i = 0; i < e.ntasks; i++) {
        free(e.tasks[i].raw);
        free(e.tasks[i].name);
    }
    free(e.tasks);
    for (job *j = e.head; j;) {
        job *next = j->next;
        job_free(j);
        j = next;
    }
    for (int i = 0; i < e.ncodecs; i++)
        mv_blob_codec_free(e.codecs[i]);
    free(workers);
    pthread_mutex_destroy(&e.mu);
    pthread_cond_destroy(&e.cv_writer);
    pthread_cond_destroy(&e.cv_worker);
    rep->seconds = seconds_since(&t0);
    return st;
}
