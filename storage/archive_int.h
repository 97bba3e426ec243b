/* mailvault: what the storage modules share about an open archive. Not a public API:
 * only the storage modules and their unit tests include this. */
#ifndef MV_ARCHIVE_INT_H
#define MV_ARCHIVE_INT_H

#include <sqlite3.h>
#include <stdint.h>

#include "archive.h"

#define MV_STMT_CACHE 48
#define MV_DICT_CACHE 8

struct mv_archive {
    sqlite3 *db;
    char *path;
    int lock_fd; /* held open until after sqlite3_close: closing any descriptor of the file
                    would drop SQLite's POSIX locks (see mv_archive_close) */
    mv_archive_mode mode;
    int created;
    int compress_level;
    int no_dictionary;
    int in_txn;
    int64_t dict_id;         /* dictionary new blobs are compressed with; 0 = none */
    int64_t dict_trained_on; /* archive size when the newest dictionary was trained */
    struct {
        const char *sql;
        sqlite3_stmt *st;
    } stmts[MV_STMT_CACHE];
    struct {
        int64_t id;
        unsigned char *data;
        int len;
    } dicts[MV_DICT_CACHE];
};

/* A cached prepared statement, reset and with bindings cleared. sql must be a string
 * literal (the cache is keyed by its address). NULL on error, with err set. */
sqlite3_stmt *mv_archive_stmt(mv_archive *ar, const char *sql, mv_error *err);

/* Maps an SQLite result code to a status and a one-line message naming the archive. */
mv_status mv_archive_sqlerr(mv_archive *ar, int rc, const char *what, mv_error *err);

/* Runs SQL that returns no rows. */
mv_status mv_archive_exec(mv_archive *ar, const char *sql, mv_error *err);

/* The bytes of dictionary id (cached for the life of the handle). */
mv_status mv_archive_dictionary(mv_archive *ar, int64_t id, const unsigned char **data, int *len,
                                mv_error *err);

/* Schema steps: steps[i] moves an archive from user_version i to i + 1. Exposed so the unit
 * test can run the migration machinery on steps of its own. */
mv_status mv_archive_migrate(mv_archive *ar, const char *const *steps, int nsteps, mv_error *err);

#endif
