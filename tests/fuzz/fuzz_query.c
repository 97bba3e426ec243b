/* libFuzzer harness for core/query.c.
 *
 * Each input is a query. A refused query must be MV_ERR_USAGE with one line that says
 * where ("query: ... at character N", N within the text). An accepted one must compile to
 * SQL that SQLite prepares (nested in a larger statement, as storage/index.c does), with
 * exactly the parameters it declares, and that runs to the end without an error, FTS5
 * included (an FTS5 expression is only parsed when the statement runs). The same goes for
 * the exact-accent expression. The database is in memory, made once, with a few messages so
 * that the full-text and metadata subqueries have something to look at.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "query.h"

#define NOW INT64_C(1700000000) /* 2023-11-14 22:13:20 UTC */

static const char schema[] =
    "CREATE TABLE accounts(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
    "CREATE TABLE mailboxes(id INTEGER PRIMARY KEY, account INTEGER NOT NULL, name TEXT NOT "
    "NULL, UNIQUE(account, name));"
    "CREATE TABLE messages(id INTEGER PRIMARY KEY, size INTEGER NOT NULL, date INTEGER,"
    " message_id TEXT, has_attachment INTEGER);"
    "CREATE INDEX messages_message_id ON messages(message_id);"
    "CREATE INDEX messages_date ON messages(date);"
    "CREATE TABLE locations(id INTEGER PRIMARY KEY, mailbox INTEGER NOT NULL,"
    " uidvalidity INTEGER NOT NULL DEFAULT 1, uid INTEGER NOT NULL, message INTEGER NOT NULL,"
    " flags TEXT NOT NULL DEFAULT '', expunged_at INTEGER, superseded_at INTEGER,"
    " UNIQUE(mailbox, uidvalidity, uid));"
    "CREATE INDEX locations_message ON locations(message, mailbox);"
    "CREATE VIRTUAL TABLE search USING fts5(subject, sender, recipients, body, attachments);"
    "INSERT INTO accounts VALUES (1, 'work'), (2, 'home');"
    "INSERT INTO mailboxes VALUES (1, 1, 'INBOX'), (2, 1, '[Gmail]/All Mail'), (3, 2, 'Sent');"
    "INSERT INTO messages VALUES (1, 1000, 1546300800, 'a@x', 1), (2, 2000000, NULL, NULL, 0),"
    " (3, 50, 1700000000, 'c@y', NULL);"
    "INSERT INTO locations(mailbox, uid, message, flags, expunged_at) VALUES"
    " (1, 1, 1, '\\Seen', NULL), (2, 2, 1, '\\Seen \\Flagged', NULL), (3, 3, 2, '', 5),"
    " (1, 4, 3, '\\Draft \\Answered', NULL);"
    "INSERT INTO search(rowid, subject, sender, recipients, body, attachments) VALUES"
    " (1, 'quarterly report', 'alice@example.org', 'bob@example.org', 'café in Đà Nẵng', ''),"
    " (2, 'hello', 'carol', 'dave', 'near the end', 'report.pdf application/pdf'),"
    " (3, 'NOT AND OR', 'x', 'y', 'a \"quoted\" body*', '');";

static sqlite3 *db;

static void setup(void)
{
    if (db != NULL)
        return;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK ||
        sqlite3_exec(db, schema, NULL, NULL, NULL) != SQLITE_OK)
        abort();
}

/* Prepares sql, binds q's parameters (and extra, if any, as the last one) and runs it. */
static void run(const char *sql, const mv_query *q, const char *extra)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "prepare failed: %s\n%s\n", sqlite3_errmsg(db), sql);
        abort();
    }
    size_t n = q ? mv_query_nparams(q) : 0;
    if ((size_t)sqlite3_bind_parameter_count(st) != n + (extra != NULL))
        abort();
    for (size_t i = 0; i < n; i++) {
        const mv_query_param *p = mv_query_param_at(q, i);
        if (p == NULL || (!p->is_int && p->s == NULL))
            abort();
        int rc = p->is_int ? sqlite3_bind_int64(st, (int)i + 1, p->i)
                           : sqlite3_bind_text(st, (int)i + 1, p->s, -1, SQLITE_STATIC);
        if (rc != SQLITE_OK)
            abort();
    }
    if (extra && sqlite3_bind_text(st, (int)n + 1, extra, -1, SQLITE_STATIC) != SQLITE_OK)
        abort();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ;
    if (rc != SQLITE_DONE) {
        fprintf(stderr, "step failed: %s\n%s\n", sqlite3_errmsg(db), sql);
        abort();
    }
    sqlite3_finalize(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    char *text = malloc(size + 1);
    if (text == NULL)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    mv_query *q = (mv_query *)1;
    mv_error err = {0};
    mv_status st = mv_query_parse(text, NOW, &q, &err);
    if (st != MV_OK) {
        /* the last one: the message may quote user text that says " at character " */
        const char *at = NULL;
        for (const char *s = err.msg; (s = strstr(s, " at character ")) != NULL; s++)
            at = s;
        if (q != NULL || st != MV_ERR_USAGE || err.status != st ||
            strncmp(err.msg, "query: ", 7) != 0 || at == NULL || strchr(err.msg, '\n'))
            abort();
        long pos = strtol(at + 14, NULL, 10);
        if (pos < 1 || (size_t)pos > strlen(text) + 1)
            abort();
        free(text);
        return 0;
    }
    const char *where = mv_query_where(q);
    if (where == NULL || where[0] == '\0')
        abort();
    char *sql = sqlite3_mprintf(
        "SELECT m.id, (SELECT group_concat(b.name) FROM locations l JOIN mailboxes b ON b.id ="
        " l.mailbox WHERE l.message = m.id), ?%d AS exact FROM messages m WHERE %s"
        " ORDER BY exact DESC, m.id",
        (int)mv_query_nparams(q) + 1, where);
    if (sql == NULL)
        abort();
    run(sql, q, "\"x\"");
    sqlite3_free(sql);
    const char *exact = mv_query_exact(q);
    if (exact != NULL)
        run("SELECT rowid FROM search WHERE search MATCH ?1", NULL, exact);
    for (size_t i = 0; i < mv_query_nterms(q); i++)
        if (mv_query_term(q, i) == NULL || mv_query_term(q, i)[0] == '\0')
            abort();
    if (mv_query_term(q, mv_query_nterms(q)) != NULL ||
        mv_query_param_at(q, mv_query_nparams(q)) != NULL)
        abort();
    mv_query_free(q);
    free(text);
    return 0;
}
