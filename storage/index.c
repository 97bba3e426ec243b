/* mailvault: the full-text index (see index.h). */
#include "index.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive_int.h"
#include "blob.h"
#include "query.h"

#define REBUILD_BATCH 256
#define MAX_THREADS 8

mv_status mv_index_add(mv_archive *ar, int64_t message, const mv_text *t, mv_error *err)
{
    sqlite3_stmt *st = mv_archive_stmt(ar,
                                       "INSERT INTO search(rowid, subject, sender, recipients,"
                                       " body, attachments) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                                       err);
    if (st == NULL)
        return err->status;
    sqlite3_bind_int64(st, 1, message);
    sqlite3_bind_text(st, 2, t->subject, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, t->sender, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, t->recipients, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, t->body, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, t->attachments, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return mv_archive_sqlerr(ar, rc, "indexing a message", err);
    st = mv_archive_stmt(ar, "UPDATE messages SET has_attachment = ?2 WHERE id = ?1", err);
    if (st == NULL)
        return err->status;
    sqlite3_bind_int64(st, 1, message);
    sqlite3_bind_int(st, 2, t->has_attachment ? 1 : 0);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return mv_archive_sqlerr(ar, rc, "indexing a message", err);
    return MV_OK;
}

/* The message's bytes, up to MV_BLOB_RAW_MAX, in one malloc'd buffer. */
static mv_status read_message(mv_archive *ar, int64_t message, unsigned char **out, size_t *len,
                              mv_error *err)
{
    mv_blob_reader *r;
    mv_status st = mv_blob_reader_open(ar, message, &r, err);
    size_t cap = 64 * 1024;
    unsigned char *buf = NULL;
    *out = NULL;
    *len = 0;
    if (st != MV_OK)
        return st;
    if ((buf = malloc(cap)) == NULL) {
        mv_blob_reader_close(r);
        return mv_error_set(err, MV_ERR_NOMEM, "out of memory");
    }
    for (;;) {
        if (*len == cap) {
            if (cap >= MV_BLOB_RAW_MAX)
                break;
            size_t ncap = cap * 2 > MV_BLOB_RAW_MAX ? MV_BLOB_RAW_MAX : cap * 2;
            unsigned char *b = realloc(buf, ncap);
            if (b == NULL) {
                st = mv_error_set(err, MV_ERR_NOMEM, "out of memory");
                break;
            }
            buf = b;
            cap = ncap;
        }
        size_t got;
        if ((st = mv_blob_reader_read(r, buf + *len, cap - *len, &got, err)) != MV_OK || got == 0)
            break;
        *len += got;
    }
    mv_blob_reader_close(r);
    if (st != MV_OK) {
        free(buf);
        return st;
    }
    *out = buf;
    return MV_OK;
}

mv_status mv_index_extract(mv_archive *ar, int64_t message, mv_text *t, mv_error *err)
{
    unsigned char *buf;
    size_t len;
    mv_status st = read_message(ar, message, &buf, &len, err);
    if (st != MV_OK)
        return st;
    st = mv_text_extract((const char *)buf, len, t, err);
    free(buf);
    return st;
}

mv_status mv_index_pending(mv_archive *ar, int64_t *count, mv_error *err)
{
    sqlite3_stmt *st =
        mv_archive_stmt(ar, "SELECT count(*) FROM messages WHERE has_attachment IS NULL", err);
    if (st == NULL)
        return err->status;
    int rc = sqlite3_step(st);
    *count = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW)
        return mv_archive_sqlerr(ar, rc, "counting unindexed messages", err);
    return MV_OK;
}

mv_status mv_index_size(mv_archive *ar, int64_t *bytes, mv_error *err)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(
        ar->db, "SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name LIKE 'search%'", -1, &st,
        NULL);
    if (rc != SQLITE_OK)
        return mv_archive_sqlerr(ar, rc, "measuring the index", err);
    rc = sqlite3_step(st);
    *bytes = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW)
        return mv_archive_sqlerr(ar, rc, "measuring the index", err);
    return MV_OK;
}

/* Rebuilding: the archive's thread reads messages (SQLite and inflate are fast), worker
 * threads extract their text (GMime is the slow part), and the archive's thread inserts. */
typedef struct item {
    int64_t id;
    unsigned char *raw;
    size_t len;
    mv_text text;
    mv_status st;
} item;

typedef struct slice {
    item *items;
    size_t from, to;
} slice;

static void *extract_slice(void *arg)
{
    slice *s = arg;
    for (size_t i = s->from; i < s->to; i++) {
        mv_error e = {0};
        item *it = &s->items[i];
        it->st = mv_text_extract((const char *)it->raw, it->len, &it->text, &e);
        free(it->raw);
        it->raw = NULL;
    }
    return NULL;
}

static int cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (int)n;
}

static mv_status index_batch(mv_archive *ar, item *items, size_t n, mv_error *err)
{
    int nthreads = cpu_count();
    pthread_t th[MAX_THREADS];
    slice sl[MAX_THREADS];
    int started = 0;
    size_t per = (n + (size_t)nthreads - 1) / (size_t)nthreads;
    for (int t = 0; t < nthreads; t++) {
        sl[t].items = items;
        sl[t].from = (size_t)t * per < n ? (size_t)t * per : n;
        sl[t].to = sl[t].from + per < n ? sl[t].from + per : n;
        if (t > 0 && sl[t].from < sl[t].to &&
            pthread_create(&th[t], NULL, extract_slice, &sl[t]) == 0)
            started |= 1 << t;
        else if (t > 0)
            extract_slice(&sl[t]);
    }
    extract_slice(&sl[0]);
    for (int t = 1; t < nthreads; t++)
        if (started & (1 << t))
            pthread_join(th[t], NULL);

    mv_status st = mv_archive_begin(ar, err);
    for (size_t i = 0; st == MV_OK && i < n; i++) {
        if (items[i].st != MV_OK) {
            st = mv_error_set(err, items[i].st, "out of memory while extracting text");
            break;
        }
        st = mv_index_add(ar, items[i].id, &items[i].text, err);
    }
    if (st == MV_OK)
        return mv_archive_commit(ar, err);
    mv_archive_rollback(ar);
    return st;
}

mv_status mv_index_rebuild(mv_archive *ar, int all, mv_index_progress_cb cb, void *ctx,
                           int64_t *indexed, mv_error *err)
{
    mv_status st;
    int64_t total = 0;
    *indexed = 0;
    if (all) {
        /* The contentless table cannot have rows deleted one by one without their text;
         * 'delete-all' empties it, and the marks say everything is to be done again. */
        if ((st = mv_archive_begin(ar, err)) != MV_OK)
            return st;
        if ((st = mv_archive_exec(ar,
                                  "INSERT INTO search(search) VALUES('delete-all');"
                                  "UPDATE messages SET has_attachment = NULL;",
                                  err)) != MV_OK) {
            mv_archive_rollback(ar);
            return st;
        }
        if ((st = mv_archive_commit(ar, err)) != MV_OK)
            return st;
    }
    if ((st = mv_index_pending(ar, &total, err)) != MV_OK)
        return st;
    item *items = calloc(REBUILD_BATCH, sizeof *items);
    if (items == NULL)
        return mv_error_set(err, MV_ERR_NOMEM, "out of memory");
    int64_t after = 0;
    for (;;) {
        sqlite3_stmt *q;
        int rc = sqlite3_prepare_v2(ar->db,
                                    "SELECT id FROM messages WHERE has_attachment IS NULL"
                                    " AND id > ?1 ORDER BY id LIMIT ?2",
                                    -1, &q, NULL);
        if (rc != SQLITE_OK) {
            st = mv_archive_sqlerr(ar, rc, "listing unindexed messages", err);
            break;
        }
        sqlite3_bind_int64(q, 1, after);
        sqlite3_bind_int(q, 2, REBUILD_BATCH);
        size_t n = 0;
        while (n < REBUILD_BATCH && sqlite3_step(q) == SQLITE_ROW)
            items[n++].id = sqlite3_column_int64(q, 0);
        sqlite3_finalize(q);
        if (n == 0)
            break;
        after = items[n - 1].id;
        for (size_t i = 0; st == MV_OK && i < n; i++) {
            mv_error e = {0};
            st = read_message(ar, items[i].id, &items[i].raw, &items[i].len, &e);
            /* A damaged message is indexed as empty (verify names it); one bad blob must not
             * stop the rest from becoming searchable. */
            if (st == MV_ERR_CORRUPT)
                st = MV_OK;
            else if (st != MV_OK)
                mv_error_set(err, st, "%s", e.msg);
        }
        if (st == MV_OK)
            st = index_batch(ar, items, n, err);
        for (size_t i = 0; i < n; i++) {
            free(items[i].raw);
            mv_text_free(&items[i].text);
        }
        memset(items, 0, REBUILD_BATCH * sizeof *items);
        if (st != MV_OK)
            break;
        *indexed += (int64_t)n;
        if (cb)
            cb(ctx, *indexed, total);
    }
    free(items);
    return st;
}

/* --- searching --- */

static mv_status bind_query(mv_archive *ar, sqlite3_stmt *st, const mv_query *q, mv_error *err)
{
    size_t n = mv_query_nparams(q);
    for (size_t i = 0; i < n; i++) {
        const mv_query_param *p = mv_query_param_at(q, i);
        int rc = p->is_int ? sqlite3_bind_int64(st, (int)i + 1, p->i)
                           : sqlite3_bind_text(st, (int)i + 1, p->s, -1, SQLITE_STATIC);
        if (rc != SQLITE_OK)
            return mv_archive_sqlerr(ar, rc, "preparing a search", err);
    }
    return MV_OK;
}

/* A compiled query that SQLite refuses is a bug in the compiler, never the user's fault;
 * say so plainly rather than pass SQLite's words on. */
static mv_status search_error(mv_archive *ar, int rc, mv_error *err)
{
    if ((rc & 0xff) == SQLITE_ERROR)
        return mv_error_set(err, MV_ERR_INTERNAL, "search failed: %s (please report this query)",
                            sqlite3_errmsg(ar->db));
    return mv_archive_sqlerr(ar, rc, "searching", err);
}

mv_status mv_index_count(mv_archive *ar, const mv_query *q, int64_t *count, mv_error *err)
{
    char *sql = sqlite3_mprintf("SELECT count(*) FROM messages m WHERE %s", mv_query_where(q));
    sqlite3_stmt *st = NULL;
    mv_status s = MV_OK;
    if (sql == NULL)
        return mv_error_set(err, MV_ERR_NOMEM, "out of memory");
    int rc = sqlite3_prepare_v2(ar->db, sql, -1, &st, NULL);
    sqlite3_free(sql);
    if (rc != SQLITE_OK)
        return search_error(ar, rc, err);
    if ((s = bind_query(ar, st, q, err)) == MV_OK) {
        rc = sqlite3_step(st);
        *count = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        if (rc != SQLITE_ROW)
            s = search_error(ar, rc, err);
    }
    sqlite3_finalize(st);
    return s;
}

mv_status mv_index_search(mv_archive *ar, const mv_query *q, int64_t limit, mv_search_cb cb,
                          void *ctx, mv_error *err)
{
    /* The query's parameters are ?1..?N; ours come after them, numbered explicitly (a named
     * parameter appearing earlier in the text would take a number the query uses). */
    const char *exact = mv_query_exact(q);
    size_t nparams = mv_query_nparams(q);
    char exact_sql[96];
    if (exact)
        snprintf(exact_sql, sizeof exact_sql,
                 "m.id IN (SELECT rowid FROM search WHERE search MATCH ?%d)", (int)nparams + 1);
    else
        snprintf(exact_sql, sizeof exact_sql, "0");
    char *sql = sqlite3_mprintf(
        "SELECT m.id, m.sha256, coalesce(m.date, -1), m.size, m.from_addr, m.to_addr, m.subject,"
        " m.message_id,"
        " (SELECT group_concat(name, ', ') FROM (SELECT DISTINCT b.name FROM locations l"
        "   JOIN mailboxes b ON b.id = l.mailbox WHERE l.message = m.id"
        "   AND l.superseded_at IS NULL ORDER BY b.name)),"
        " NOT EXISTS (SELECT 1 FROM locations l WHERE l.message = m.id"
        "   AND l.superseded_at IS NULL AND l.expunged_at IS NULL),"
        " %s AS exact"
        " FROM messages m WHERE %s"
        " ORDER BY exact DESC, coalesce(m.date, 0) DESC, m.id DESC LIMIT ?%d",
        exact_sql, mv_query_where(q), (int)nparams + 2);
    sqlite3_stmt *st = NULL;
    mv_status s;
    if (sql == NULL)
        return mv_error_set(err, MV_ERR_NOMEM, "out of memory");
    int rc = sqlite3_prepare_v2(ar->db, sql, -1, &st, NULL);
    sqlite3_free(sql);
    if (rc != SQLITE_OK)
        return search_error(ar, rc, err);
    if ((s = bind_query(ar, st, q, err)) != MV_OK) {
        sqlite3_finalize(st);
        return s;
    }
    sqlite3_bind_int64(st, (int)nparams + 2, limit < 0 ? -1 : limit);
    if (exact)
        sqlite3_bind_text(st, (int)nparams + 1, exact, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        mv_search_hit h = {
            .id = sqlite3_column_int64(st, 0),
            .date = sqlite3_column_int64(st, 2),
            .size = sqlite3_column_int64(st, 3),
            .from = (const char *)sqlite3_column_text(st, 4),
            .to = (const char *)sqlite3_column_text(st, 5),
            .subject = (const char *)sqlite3_column_text(st, 6),
            .message_id = (const char *)sqlite3_column_text(st, 7),
            .folders = (const char *)sqlite3_column_text(st, 8),
            .deleted = sqlite3_column_int(st, 9),
            .exact = sqlite3_column_int(st, 10),
        };
        if (sqlite3_column_bytes(st, 1) == 32)
            memcpy(h.sha256, sqlite3_column_blob(st, 1), 32);
        if (cb(ctx, &h)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    s = rc == SQLITE_DONE ? MV_OK : search_error(ar, rc, err);
    sqlite3_finalize(st);
    return s;
}

/* The query's words as one FTS5 expression, each quoted (an FTS5 string doubles its '"'). */
static char *terms_expression(const mv_query *q)
{
    size_t n = mv_query_nterms(q), cap = 16;
    for (size_t i = 0; i < n; i++)
        cap += 2 * strlen(mv_query_term(q, i)) + 8;
    char *out = malloc(cap), *p = out;
    if (out == NULL)
        return NULL;
    *p = '\0';
    for (size_t i = 0; i < n; i++) {
        const char *t = mv_query_term(q, i);
        size_t len = strlen(t);
        int prefix = len > 1 && t[len - 1] == '*';
        if (i)
            p += sprintf(p, " OR ");
        *p++ = '"';
        for (size_t k = 0; k < len - (size_t)prefix; k++) {
            if (t[k] == '"')
                *p++ = '"';
            *p++ = t[k];
        }
        *p++ = '"';
        if (prefix)
            p += sprintf(p, " *");
        *p = '\0';
    }
    return out;
}

/* One line of at most about 100 characters from the start of s, whitespace collapsed. */
static char *first_line(const char *s)
{
    size_t cap = 400, n = 0, chars = 0;
    char *out = malloc(cap + 1);
    if (out == NULL)
        return NULL;
    int space = 0;
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p && n < cap && chars < 100;
         p++) {
        if (*p == '\n' || *p == '\t' || *p == '\r' || *p == ' ') {
            space = n > 0;
            continue;
        }
        if (space && n < cap) {
            out[n++] = ' ';
            chars++;
        }
        space = 0;
        out[n++] = (char)*p;
        if ((*p & 0xc0) != 0x80)
            chars++;
    }
    /* Do not end inside a UTF-8 sequence. */
    while (n > 0 && ((unsigned char)out[n - 1] & 0xc0) == 0x80 && n == cap)
        n--;
    out[n] = '\0';
    return out;
}

mv_status mv_index_snippets(mv_archive *ar, const mv_query *q, const int64_t *ids, size_t n,
                            const char *open, const char *close, char **out, mv_error *err)
{
    mv_status s = MV_OK;
    char *expr = mv_query_nterms(q) ? terms_expression(q) : NULL;
    sqlite3_stmt *ins = NULL, *sel = NULL;
    mv_text *texts = calloc(n ? n : 1, sizeof *texts);
    memset(out, 0, n * sizeof *out);
    if (texts == NULL || (mv_query_nterms(q) && expr == NULL)) {
        s = mv_error_set(err, MV_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n && s == MV_OK; i++) {
        mv_error e = {0};
        if (mv_index_extract(ar, ids[i], &texts[i], &e) != MV_OK)
            memset(&texts[i], 0, sizeof texts[i]); /* no snippet for a damaged message */
    }
    if (expr) {
        /* FTS5's own snippet() finds the matches exactly as the search did (same tokenizer,
         * same folding); the index itself is contentless, so the few messages shown are put
         * in a temporary table with their text. */
        int rc = sqlite3_exec(ar->db,
                              "CREATE VIRTUAL TABLE IF NOT EXISTS temp.snip USING fts5(subject,"
                              " sender, recipients, body, attachments, tokenize='mailvault');"
                              "DELETE FROM temp.snip;",
                              NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_prepare_v2(ar->db,
                                    "INSERT INTO temp.snip(rowid, subject, sender, recipients,"
                                    " body, attachments) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                                    -1, &ins, NULL);
        for (size_t i = 0; rc == SQLITE_OK && i < n; i++) {
            sqlite3_reset(ins);
            sqlite3_bind_int64(ins, 1, ids[i]);
            sqlite3_bind_text(ins, 2, texts[i].subject, -1, SQLITE_STATIC);
            sqlite3_bind_text(ins, 3, texts[i].sender, -1, SQLITE_STATIC);
            sqlite3_bind_text(ins, 4, texts[i].recipients, -1, SQLITE_STATIC);
            sqlite3_bind_text(ins, 5, texts[i].body, -1, SQLITE_STATIC);
            sqlite3_bind_text(ins, 6, texts[i].attachments, -1, SQLITE_STATIC);
            rc = sqlite3_step(ins) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
        }
        if (rc == SQLITE_OK)
            rc = sqlite3_prepare_v2(ar->db,
                                    "SELECT rowid, snippet(snip, -1, ?2, ?3, '…', 14) FROM"
                                    " temp.snip WHERE snip MATCH ?1",
                                    -1, &sel, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_text(sel, 1, expr, -1, SQLITE_STATIC);
            sqlite3_bind_text(sel, 2, open, -1, SQLITE_STATIC);
            sqlite3_bind_text(sel, 3, close, -1, SQLITE_STATIC);
            while (sqlite3_step(sel) == SQLITE_ROW) {
                int64_t id = sqlite3_column_int64(sel, 0);
                const char *snip = (const char *)sqlite3_column_text(sel, 1);
                for (size_t i = 0; i < n; i++)
                    if (ids[i] == id && out[i] == NULL && snip && snip[0])
                        out[i] = first_line(snip);
            }
        }
        if (rc != SQLITE_OK)
            s = mv_archive_sqlerr(ar, rc, "making snippets", err);
    }
    /* Messages matched only on other fields (subject, folder, dates): the body's start. */
    for (size_t i = 0; s == MV_OK && i < n; i++)
        if (out[i] == NULL && (out[i] = first_line(texts[i].body)) == NULL)
            s = mv_error_set(err, MV_ERR_NOMEM, "out of memory");
done:
    sqlite3_finalize(ins);
    sqlite3_finalize(sel);
    for (size_t i = 0; texts && i < n; i++)
        mv_text_free(&texts[i]);
    free(texts);
    free(expr);
    return s;
}
