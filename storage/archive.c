/* mailvault: the archive file (see archive.h). */
#include "archive_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blob.h"
#include "dict.h"
#include "fts.h"
#include "mime.h"
#include "query.h"

/* "MVLT": lets us tell our archive from any other SQLite file before touching it. */
#define MV_APPLICATION_ID 0x4d564c54

/* Schema, one step per version. Never edit a released step: add a new one, so that every
 * archive ever written can be brought forward. */
static const char *const schema_steps[] = {
    /* 0 -> 1: the archive as introduced. */
    "CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE accounts("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  protocol TEXT NOT NULL," /* local, imap, pop3 */
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE mailboxes("
    "  id INTEGER PRIMARY KEY,"
    "  account INTEGER NOT NULL REFERENCES accounts(id),"
    "  name TEXT NOT NULL," /* UTF-8, with the server's own delimiter */
    "  delimiter TEXT,"     /* NULL: flat namespace */
    "  special_use TEXT,"
    "  uidvalidity INTEGER NOT NULL DEFAULT 0,"
    "  uidnext INTEGER NOT NULL DEFAULT 1,"
    "  highestmodseq INTEGER NOT NULL DEFAULT 0,"
    "  last_sync INTEGER,"
    "  created_at INTEGER NOT NULL,"
    "  deleted_at INTEGER," /* the folder disappeared from the server */
    "  UNIQUE(account, name));"
    "CREATE TABLE dictionaries("
    "  id INTEGER PRIMARY KEY,"
    "  created_at INTEGER NOT NULL,"
    "  trained_on INTEGER NOT NULL," /* messages in the archive when it was trained */
    "  data BLOB NOT NULL);"
    "CREATE TABLE messages("
    "  id INTEGER PRIMARY KEY,"
    "  sha256 BLOB NOT NULL UNIQUE,"
    "  size INTEGER NOT NULL,"
    "  stored_size INTEGER NOT NULL,"
    "  codec INTEGER NOT NULL," /* 1: zlib stream over all chunks */
    "  dictionary INTEGER REFERENCES dictionaries(id),"
    "  chunks INTEGER NOT NULL,"
    "  added_at INTEGER NOT NULL,"
    "  date INTEGER,"
    "  from_addr TEXT,"
    "  to_addr TEXT,"
    "  subject TEXT,"
    "  message_id TEXT);"
    "CREATE INDEX messages_message_id ON messages(message_id);"
    "CREATE INDEX messages_date ON messages(date);"
    /* Chunks live in their own rowid table: large rows in a WITHOUT ROWID table would be
     * stored in the index b-tree and spill badly. */
    "CREATE TABLE chunks("
    "  id INTEGER PRIMARY KEY,"
    "  message INTEGER NOT NULL REFERENCES messages(id),"
    "  seq INTEGER NOT NULL,"
    "  data BLOB NOT NULL,"
    "  UNIQUE(message, seq));"
    "CREATE TABLE locations("
    "  id INTEGER PRIMARY KEY,"
    "  mailbox INTEGER NOT NULL REFERENCES mailboxes(id),"
    "  uidvalidity INTEGER NOT NULL,"
    "  uid INTEGER NOT NULL,"
    "  message INTEGER NOT NULL REFERENCES messages(id),"
    "  flags TEXT NOT NULL DEFAULT '',"
    "  internaldate INTEGER,"
    "  modseq INTEGER,"
    "  first_seen INTEGER NOT NULL,"
    "  expunged_at INTEGER,"   /* deleted on the server; the message stays */
    "  superseded_at INTEGER," /* replaced after a UIDVALIDITY change */
    "  UNIQUE(mailbox, uidvalidity, uid));"
    "CREATE INDEX locations_message ON locations(message, mailbox);"
    "CREATE TABLE runs("
    "  id INTEGER PRIMARY KEY,"
    "  account INTEGER REFERENCES accounts(id),"
    "  command TEXT NOT NULL,"
    "  started_at INTEGER NOT NULL,"
    "  ended_at INTEGER,"
    "  outcome TEXT NOT NULL DEFAULT 'running',"
    "  messages_new INTEGER NOT NULL DEFAULT 0,"
    "  locations_new INTEGER NOT NULL DEFAULT 0,"
    "  flag_changes INTEGER NOT NULL DEFAULT 0,"
    "  expunged INTEGER NOT NULL DEFAULT 0,"
    "  bytes INTEGER NOT NULL DEFAULT 0,"
    "  errors INTEGER NOT NULL DEFAULT 0,"
    "  detail TEXT);"
    "CREATE TABLE flag_history("
    "  id INTEGER PRIMARY KEY,"
    "  location INTEGER NOT NULL REFERENCES locations(id),"
    "  changed_at INTEGER NOT NULL,"
    "  old_flags TEXT NOT NULL,"
    "  new_flags TEXT NOT NULL,"
    "  run INTEGER REFERENCES runs(id));"
    "CREATE INDEX flag_history_location ON flag_history(location, changed_at);",
    /* 1 -> 2: POP3 has no numeric UIDs; its UIDL strings map to locations here. And a flag
     * the search index fills in (NULL until the message is indexed). */
    "CREATE TABLE pop3_uidls("
    "  mailbox INTEGER NOT NULL REFERENCES mailboxes(id),"
    "  uidl TEXT NOT NULL,"
    "  location INTEGER NOT NULL REFERENCES locations(id),"
    "  PRIMARY KEY(mailbox, uidl)) WITHOUT ROWID;"
    "ALTER TABLE messages ADD COLUMN has_attachment INTEGER;",
    /* 2 -> 3: the full-text index (index.h). Contentless, so the text is not stored twice;
     * no column sizes, since results are ordered by date, not by bm25. Messages stored
     * before this step are indexed by `mailvault reindex`. */
    "CREATE VIRTUAL TABLE search USING fts5(subject, sender, recipients, body, attachments,"
    " content='', columnsize=0, tokenize='mailvault');",
};

static int64_t now(void)
{
    return (int64_t)time(NULL);
}

/* SQLite's errno for a failed write is unreliable (it is read after cleanup syscalls may
 * have replaced it), so when a write fails, look at the causes that matter to the user
 * directly: a file size limit in force, or a nearly full file system. */
static int out_of_room(const mv_archive *ar)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        return 1;
    if (ar == NULL)
        return 0;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", ar->path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    struct statvfs vfs;
    return statvfs(dir, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < 4u * 1024 * 1024;
}

mv_status mv_archive_sqlerr(mv_archive *ar, int rc, const char *what, mv_error *err)
{
    const char *path = ar ? ar->path : "archive";
    const char *msg = ar && ar->db ? sqlite3_errmsg(ar->db) : sqlite3_errstr(rc);
    int sys = ar && ar->db ? sqlite3_system_errno(ar->db) : 0;

    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return mv_error_set(err, MV_ERR_LOCKED, "%s: archive is busy (another process): %s", path,
                            what);
    case SQLITE_READONLY:
        return mv_error_set(err, MV_ERR_READONLY, "%s: archive is read-only (%s)", path, what);
    case SQLITE_FULL:
        return mv_error_set(err, MV_ERR_FULL,
                            "%s: disk full while %s; the unfinished work was rolled back", path,
                            what);
    case SQLITE_NOMEM:
        return mv_error_set(err, MV_ERR_NOMEM, "out of memory while %s", what);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return mv_error_set(err, MV_ERR_CORRUPT, "%s: archive is damaged (%s while %s)", path, msg,
                            what);
    case SQLITE_IOERR:
        /* SQLite reports ENOSPC as SQLITE_FULL but a file size limit (EFBIG) or a quota as
         * a plain I/O error; to the user all three mean the same thing. */
        if (sys == EFBIG || sys == ENOSPC || sys == EDQUOT || out_of_room(ar))
            return mv_error_set(err, MV_ERR_FULL,
                                "%s: disk full or file size limit reached while %s; the "
                                "unfinished work was rolled back",
                                path, what);
        if (sys == EROFS || sys == EACCES || sys == EPERM)
            return mv_error_set(err, MV_ERR_READONLY, "%s: archive is read-only (%s)", path, what);
        return mv_error_set(err, MV_ERR_IO, "%s: I/O error while %s: %s", path, what,
                            sys ? strerror(sys) : msg);
    case SQLITE_CANTOPEN:
        return mv_error_set(err, MV_ERR_ARCHIVE, "%s: cannot open archive (%s)", path,
                            sys ? strerror(sys) : msg);
    default:
        return mv_error_set(err, MV_ERR_INTERNAL, "%s: %s while %s", path, msg, what);
    }
}

sqlite3_stmt *mv_archive_stmt(mv_archive *ar, const char *sql, mv_error *err)
{
    int i;
    for (i = 0; i < MV_STMT_CACHE && ar->stmts[i].sql; i++) {
        if (ar->stmts[i].sql == sql) {
            sqlite3_reset(ar->stmts[i].st);
            sqlite3_clear_bindings(ar->stmts[i].st);
            return ar->stmts[i].st;
        }
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v3(ar->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
    if (rc != SQLITE_OK) {
        mv_archive_sqlerr(ar, rc, "preparing a query", err);
        return NULL;
    }
    if (i < MV_STMT_CACHE) {
        ar->stmts[i].sql = sql;
        ar->stmts[i].st = st;
    } else {
        /* Cache full: cannot happen with the fixed set of queries, but stay correct. */
        mv_error_set(err, MV_ERR_INTERNAL, "statement cache full");
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

mv_status mv_archive_exec(mv_archive *ar, const char *sql, mv_error *err)
{
    int rc = sqlite3_exec(ar->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return mv_archive_sqlerr(ar, rc, "updating the archive", err);
    return MV_OK;
}

static mv_status pragma_int(mv_archive *ar, const char *sql, int64_t *out, mv_error *err)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(ar->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return mv_archive_sqlerr(ar, rc, "reading the archive header", err);
    rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return mv_archive_sqlerr(ar, rc, "reading the archive header", err);
    return MV_OK;
}

mv_status mv_archive_migrate(mv_archive *ar, const char *const *steps, int nsteps, mv_error *err)
{
    int64_t version;
    mv_status st = mv_archive_begin(ar, err);
    if (st != MV_OK)
        return st;
    /* Read the version inside the write transaction: another process may have migrated the
     * file between our open and our lock. */
    if ((st = pragma_int(ar, "PRAGMA user_version", &version, err)) != MV_OK)
        goto fail;
    for (int64_t v = version; v < nsteps; v++) {
        if ((st = mv_archive_exec(ar, steps[v], err)) != MV_OK)
            goto fail;
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %lld", (long long)(v + 1));
        if ((st = mv_archive_exec(ar, sql, err)) != MV_OK)
            goto fail;
    }
    return mv_archive_commit(ar, err);
fail:
    mv_archive_rollback(ar);
    return st;
}

static mv_status setting_get(mv_archive *ar, const char *key, char *out, size_t cap, mv_error *err)
{
    sqlite3_stmt *st = mv_archive_stmt(ar, "SELECT value FROM settings WHERE key = ?1", err);
    if (st == NULL)
        return err ? err->status : MV_ERR_INTERNAL;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    out[0] = '\0';
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    else if (rc != SQLITE_DONE)
        return mv_archive_sqlerr(ar, rc, "reading settings", err);
    sqlite3_reset(st);
    return MV_OK;
}

static mv_status initialise(mv_archive *ar, const mv_archive_options *opt, mv_error *err)
{
    mv_status st;
    /* WAL: readers (list, search, export) never block a running sync, and a crash mid-write
     * leaves the main file untouched. The mode is persistent, so set it once here. */
    int rc = sqlite3_exec(ar->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return mv_archive_sqlerr(ar, rc, "creating the archive", err);
    if ((st = mv_archive_migrate(ar, schema_steps, MV_ARCHIVE_SCHEMA_VERSION, err)) != MV_OK)
        return st;
    if ((st = mv_archive_begin(ar, err)) != MV_OK)
        return st;
    char sql[256];
    snprintf(sql, sizeof sql,
             "PRAGMA application_id = %d;"
             "INSERT INTO settings VALUES('created_at', '%lld'), ('dictionary', '%s');",
             MV_APPLICATION_ID, (long long)now(), opt->no_dictionary ? "off" : "on");
    if ((st = mv_archive_exec(ar, sql, err)) != MV_OK) {
        mv_archive_rollback(ar);
        return st;
    }
    return mv_archive_commit(ar, err);
}

/* Checks the first bytes ourselves so that a stray file is refused with a clear message
 * instead of SQLite's "file is not a database" at some later query. */
static mv_status check_header(int fd, const char *path, int allow_empty, int *empty, mv_error *err)
{
    unsigned char buf[16];
    ssize_t n = pread(fd, buf, sizeof buf, 0);
    *empty = 0;
    if (n < 0)
        return mv_error_set(err, MV_ERR_ARCHIVE, "%s: cannot read: %s", path, strerror(errno));
    if (n == 0) {
        if (allow_empty) {
            *empty = 1;
            return MV_OK;
        }
        return mv_error_set(err, MV_ERR_ARCHIVE,
                            "%s: not a mailvault archive (empty file; create one with "
                            "`mailvault init`)",
                            path);
    }
    if (n < 16 || memcmp(buf, "SQLite format 3", 16) != 0)
        return mv_error_set(err, MV_ERR_ARCHIVE,
                            "%s: not a mailvault archive (not an SQLite database)", path);
    return MV_OK;
}

static mv_status make_parent_dirs(const char *path, mv_error *err)
{
    char *copy = strdup(path);
    if (copy == NULL)
        return mv_error_set(err, MV_ERR_NOMEM, "out of memory");
    for (char *p = copy + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        /* 0700: the archive holds someone's mail. */
        if (mkdir(copy, 0700) != 0 && errno != EEXIST) {
            mv_status st = mv_error_set(
                err, errno == EACCES || errno == EROFS ? MV_ERR_READONLY : MV_ERR_ARCHIVE,
                "%s: cannot create directory %s: %s", path, copy, strerror(errno));
            free(copy);
            return st;
        }
        *p = '/';
    }
    free(copy);
    return MV_OK;
}

static mv_status take_lock(mv_archive *ar, int wait_ms, mv_error *err)
{
    /* flock and SQLite's fcntl locks are independent on Linux, so this process-level lock
     * cannot interfere with SQLite's own locking. It keeps a second writer (a cron job
     * overlapping a manual run) from interleaving with us at all. */
    for (int waited = 0;; waited += 100) {
        if (flock(ar->lock_fd, LOCK_EX | LOCK_NB) == 0)
            return MV_OK;
        if (errno != EWOULDBLOCK)
            return mv_error_set(err, MV_ERR_IO, "%s: cannot lock archive: %s", ar->path,
                                strerror(errno));
        if (waited >= wait_ms)
            return mv_error_set(err, MV_ERR_LOCKED,
                                "%s: archive is in use by another mailvault process "
                                "(try again later, or wait with --lock-wait SECONDS)",
                                ar->path);
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static mv_status open_file(mv_archive *ar, const mv_archive_options *opt, mv_error *err)
{
    int write = opt->mode != MV_ARCHIVE_READ;
    struct stat sb;

    if (stat(ar->path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return mv_error_set(err, MV_ERR_ARCHIVE, "%s: is a directory, not an archive", ar->path);

    ar->lock_fd = open(ar->path, (write ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (ar->lock_fd < 0 && errno == ENOENT && opt->mode == MV_ARCHIVE_CREATE) {
        mv_status st = make_parent_dirs(ar->path, err);
        if (st != MV_OK)
            return st;
        /* O_EXCL + 0600 here rather than letting SQLite create the file: SQLite would use
         * 0644, and its -wal and -shm files copy the main file's mode. */
        ar->lock_fd = open(ar->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (ar->lock_fd >= 0)
            ar->created = 1;
    }
    if (ar->lock_fd < 0) {
        int e = errno;
        if (e == ENOENT)
            return mv_error_set(err, MV_ERR_ARCHIVE,
                                "%s: no archive here (create one with `mailvault init` or "
                                "`mailvault import`)",
                                ar->path);
        if (write && (e == EACCES || e == EROFS || e == EPERM))
            return mv_error_set(err, MV_ERR_READONLY, "%s: archive is read-only (%s)", ar->path,
                                strerror(e));
        return mv_error_set(err, MV_ERR_ARCHIVE, "%s: cannot open archive: %s", ar->path,
                            strerror(e));
    }
    return MV_OK;
}

mv_status mv_archive_open(const char *path, const mv_archive_options *opt, mv_archive **out,
                          mv_error *err)
{
    mv_archive_options defaults = {0};
    mv_status st;
    int empty = 0;
    *out = NULL;
    if (opt == NULL)
        opt = &defaults;

    mv_archive *ar = calloc(1, sizeof *ar);
    if (ar == NULL || (ar->path = strdup(path)) == NULL) {
        free(ar);
        return mv_error_set(err, MV_ERR_NOMEM, "out of memory");
    }
    ar->lock_fd = -1;
    ar->mode = opt->mode;
    ar->compress_level =
        opt->compress_level > 0 && opt->compress_level <= 9 ? opt->compress_level : 6;

    if ((st = open_file(ar, opt, err)) != MV_OK)
        goto fail;
    if (opt->mode != MV_ARCHIVE_READ && (st = take_lock(ar, opt->lock_wait_ms, err)) != MV_OK)
        goto fail;
    /* Check only after locking: a file still being created by another `init` is empty. */
    if ((st = check_header(ar->lock_fd, path, opt->mode == MV_ARCHIVE_CREATE, &empty, err)) !=
        MV_OK)
        goto fail;

    int flags = opt->mode == MV_ARCHIVE_READ ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
    int rc = sqlite3_open_v2(path, &ar->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        st = mv_archive_sqlerr(ar, rc, "opening", err);
        goto fail;
    }
    sqlite3_extended_result_codes(ar->db, 1);
    /* Before anything touches the search table, which names this tokenizer. */
    if ((st = mv_fts_register(ar->db, err)) != MV_OK)
        goto fail;
    /* Only other readers' checkpoints can hold SQLite's own locks briefly; writers are
     * already serialised by take_lock. */
    sqlite3_busy_timeout(ar->db, 10000);
    if (opt->mode != MV_ARCHIVE_READ && sqlite3_db_readonly(ar->db, "main") == 1) {
        st = mv_error_set(err, MV_ERR_READONLY, "%s: archive is read-only", path);
        goto fail;
    }

    if (empty) {
        if ((st = initialise(ar, opt, err)) != MV_OK)
            goto fail;
        ar->created = 1;
    } else {
        int64_t app = 0, version = 0;
        if ((st = pragma_int(ar, "PRAGMA application_id", &app, err)) != MV_OK)
            goto fail;
        if (app != MV_APPLICATION_ID) {
            st = mv_error_set(err, MV_ERR_ARCHIVE,
                              "%s: not a mailvault archive (an SQLite database of another "
                              "program)",
                              path);
            goto fail;
        }
        if ((st = pragma_int(ar, "PRAGMA user_version", &version, err)) != MV_OK)
            goto fail;
        if (version > MV_ARCHIVE_SCHEMA_VERSION) {
            st = mv_error_set(err, MV_ERR_ARCHIVE,
                              "%s: archive was written by a newer mailvault (schema %lld; "
                              "this version reads up to %d); upgrade mailvault",
                              path, (long long)version, MV_ARCHIVE_SCHEMA_VERSION);
            goto fail;
        }
        if (version < MV_ARCHIVE_SCHEMA_VERSION) {
            if (opt->mode == MV_ARCHIVE_READ) {
                st = mv_error_set(err, MV_ERR_ARCHIVE,
                                  "%s: archive has schema %lld and needs an upgrade to %d: "
                                  "run `mailvault init` once",
                                  path, (long long)version, MV_ARCHIVE_SCHEMA_VERSION);
                goto fail;
            }
            if ((st = mv_archive_migrate(ar, schema_steps, MV_ARCHIVE_SCHEMA_VERSION, err)) !=
                MV_OK)
                goto fail;
        }
    }

    if ((st = mv_archive_exec(ar,
                              "PRAGMA foreign_keys = ON;"
                              /* FULL: a commit that returned is on disk, even after a power
                               * cut. We commit per batch, so the fsync is cheap. */
                              "PRAGMA synchronous = FULL;"
                              "PRAGMA cache_size = -8192;",
                              err)) != MV_OK)
        goto fail;

    char value[16];
    if ((st = setting_get(ar, "dictionary", value, sizeof value, err)) != MV_OK)
        goto fail;
    ar->no_dictionary = strcmp(value, "off") == 0;
    if (opt->compress_level == 0) {
        if ((st = setting_get(ar, "compression_level", value, sizeof value, err)) != MV_OK)
            goto fail;
        if (value[0] >= '1' && value[0] <= '9' && value[1] == '\0')
            ar->compress_level = value[0] - '0';
    }
    int64_t dict = 0;
    if ((st = pragma_int(ar, "SELECT coalesce(max(id), 0) FROM dictionaries", &dict, err)) != MV_OK)
        goto fail;
    ar->dict_id = ar->no_dictionary ? 0 : dict;
    if ((st = pragma_int(ar, "SELECT coalesce(max(trained_on), 0) FROM dictionaries",
                         &ar->dict_trained_on, err)) != MV_OK)
        goto fail;

    *out = ar;
    return MV_OK;
fail:
    mv_archive_close(ar);
    return st;
}

void mv_archive_close(mv_archive *ar)
{
    if (ar == NULL)
        return;
    if (ar->in_txn)
        mv_archive_rollback(ar);
    for (int i = 0; i < MV_STMT_CACHE && ar->stmts[i].sql; i++)
        sqlite3_finalize(ar->stmts[i].st);
    for (int i = 0; i < MV_DICT_CACHE; i++)
        free(ar->dicts[i].data);
    if (ar->db)
        sqlite3_close(ar->db);
    /* Only now: closing a descriptor of the database file while SQLite has it open would
     * release SQLite's POSIX advisory locks for the whole process. */
    if (ar->lock_fd >= 0)
        close(ar->lock_fd);
    free(ar->path);
    free(ar);
}

const char *mv_archive_path(const mv_archive *ar)
{
    return ar->path;
}

int mv_archive_compression(const mv_archive *ar)
{
    return ar->compress_level;
}

mv_status mv_archive_set_compression(mv_archive *ar, int level, mv_error *err)
{
    if (level < 1 || level > 9)
        return mv_error_set(err, MV_ERR_USAGE, "compression level is 1 to 9, not %d", level);
    mv_status st = mv_archive_begin(ar, err);
    if (st != MV_OK)
        return st;
    sqlite3_stmt *q = mv_archive_stmt(
        ar, "INSERT OR REPLACE INTO settings(key, value) VALUES('compression_level', ?1)", err);
    if (q == NULL) {
        mv_archive_rollback(ar);
        return err->status;
    }
    sqlite3_bind_int(q, 1, level);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc != SQLITE_DONE) {
        mv_archive_rollback(ar);
        return mv_archive_sqlerr(ar, rc, "saving a setting", err);
    }
    if ((st = mv_archive_commit(ar, err)) == MV_OK)
        ar->compress_level = level;
    return st;
}

int mv_archive_created(const mv_archive *ar)
{
    return ar->created;
}

mv_status mv_archive_begin(mv_archive *ar, mv_error *err)
{
    if (ar->mode == MV_ARCHIVE_READ)
        return mv_error_set(err, MV_ERR_INTERNAL, "%s: write on a read-only handle", ar->path);
    int rc = sqlite3_exec(ar->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return mv_archive_sqlerr(ar, rc, "starting a transaction", err);
    ar->in_txn = 1;
    return MV_OK;
}

mv_status mv_archive_commit(mv_archive *ar, mv_error *err)
{
    int rc = sqlite3_exec(ar->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        mv_status st = mv_archive_sqlerr(ar, rc, "committing", err);
        mv_archive_rollback(ar);
        return st;
    }
    ar->in_txn = 0;
    return MV_OK;
}

void mv_archive_rollback(mv_archive *ar)
{
    /* After some errors (SQLITE_FULL, IOERR) SQLite has already rolled back; a second
     * ROLLBACK then fails harmlessly. */
    if (sqlite3_get_autocommit(ar->db) == 0)
        sqlite3_exec(ar->db, "ROLLBACK", NULL, NULL, NULL);
    ar->in_txn = 0;
}

mv_status mv_archive_account(mv_archive *ar, const char *name, const char *protocol, int64_t *id,
                             mv_error *err)
{
    sqlite3_stmt *st =
        mv_archive_stmt(ar, "SELECT id, protocol FROM accounts WHERE name = ?1", err);
    if (st == NULL)
        return err->status;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        /* Numbered locations (local, POP3) and server UIDs (IMAP) in one folder would
         * collide: an account keeps the protocol it was first archived with. */
        int same = strcmp((const char *)sqlite3_column_text(st, 1), protocol) == 0;
        char was[16];
        snprintf(was, sizeof was, "%s", (const char *)sqlite3_column_text(st, 1));
        sqlite3_reset(st);
        if (!same)
            return mv_error_set(err, MV_ERR_CONFIG,
                                "%s: account \"%s\" was archived as %s, not %s; use another "
                                "archive (or account name) for it",
                                ar->path, name, was, protocol);
        return MV_OK;
    }
    if (rc != SQLITE_DONE)
        return mv_archive_sqlerr(ar, rc, "reading accounts", err);
    st = mv_archive_stmt(ar, "INSERT INTO accounts(name, protocol, created_at) VALUES(?1, ?2, ?3)",
                         err);
    if (st == NULL)
        return err->status;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, protocol, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now());
    if ((rc = sqlite3_step(st)) != SQLITE_DONE)
        return mv_archive_sqlerr(ar, rc, "adding an account", err);
    *id = sqlite3_last_insert_rowid(ar->db);
    return MV_OK;
}

mv_status mv_archive_mailbox(mv_archive *ar, int64_t account, const char *name, char delimiter,
                             int64_t *id, mv_error *err)
{
    sqlite3_stmt *st =
        mv_archive_stmt(ar, "SELECT id FROM mailboxes WHERE account = ?1 AND name = ?2", err);
    if (st == NULL)
        return err->status;
    sqlite3_bind_int64(st, 1, account);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        return MV_OK;
    }
    if (rc != SQLITE_DONE)
        return mv_archive_sqlerr(ar, rc, "reading mailboxes", err);
    st = mv_archive_stmt(ar,
                         "INSERT INTO mailboxes(account, name, delimiter, created_at)"
                         " VALUES(?1, ?2, ?3, ?4)",
                         err);
    if (st == NULL)
        return err->status;
    char delim[2] = {delimiter, '\0'};
    sqlite3_bind_int64(st, 1, account);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    if (delimiter)
        sqlite3_bind_text(st, 3, delim, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, now());
    if ((rc = sqlite3_step(st)) != SQLITE_DONE)
        return mv_archive_sqlerr(ar, rc, "adding a mailbox", err);
    *id = sqlite3_last_insert_rowid(ar->db);
    return MV_OK;
}

mv_status mv_archive_mailbox_state(mv_archive *ar, int64_t mailbox, mv_mailbox_state *out,
                                   mv_error *err)
{
    sqlite3_stmt *st = mv_archive_stmt(ar,
                                       "SELECT uidvalidity, uidnext, highestmodseq,"
                                       " coalesce(last_sync, 0) FROM mailboxes WHERE id = ?1",
                                       err);
    if (st == NULL)
        return err->status;
    sqlite3_bind_int64(st, 1, mailbox);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        if (rc == SQLITE_DONE)
            return mv_error_set(err, MV_ERR_NOTFOUND, "no mailbox %lld", (long long)mailbox);
        return mv_archive_sqlerr(ar, rc, "reading a mailbox", err);
    }
    out->uidvalidity = sqlite3_column_int64(st, 0);
    out->uidnext = sqlite3_column_int64(st, 1);
    out->highestmodseq = sqlite3_column_int64(st, 2);
    out->last_sync = sqlite3_column_int64(st, 3);
    sqlite3_reset(st);
    return MV_OK;
}

mv_status mv_archive_message_find(mv_archive *ar, const unsigned char sha[MV_SHA256_LEN],
                                  int64_t *id, mv_error *err)
{
    sqlite3_stmt *st = mv_archive_stmt(ar, "SELECT id FROM messages WHERE sha256 = ?1", err);
    if (st == NULL)
        return err->status;
    sqlite3_bind_blob(st, 1, sha, MV_SHA256_LEN, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *id = 0;
    if (rc == SQLITE_ROW)
        *id = sqlite3_column_int64(st, 0);
    else if (rc != SQLITE_DONE)
        return mv_archive_sqlerr(ar, rc, "looking up a message", err);
    sqlite3_reset(st);
    return MV_OK;
}

mv_status mv_archive_message_resolve(mv_archive *ar, const char *spec, int64_t *id, mv_error *err)
{
    size_t len = strlen(spec);
    int digits = len > 0 && strspn(spec, "0123456789") == len;
    *id = 0;
    if (digits && len < 8) {
        char *end;
        long long v = strtoll(spec, &end, 10);
        sqlite3_stmt *st = mv_archive_stmt(ar, "SELECT id FROM messages WHERE id = ?1", err);
        if (st == NULL)
            return err->status;
        sqlite3_bind_int64(st, 1, v);
        if (sqlite3_step(st) == SQLITE_ROW)
            *id = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        if (*id == 0)
            return mv_error_set(err, MV_ERR_NOTFOUND, "%s: no message %s", ar->path, spec);
        return MV_OK;
    }
    unsigned char lo[MV_SHA256_LEN] = {0}, hi[MV_SHA256_LEN];
    memset(hi, 0xff, sizeof hi);
    size_t n = len >= 8 ? mv_hash_unhex(spec, lo, sizeof lo) : 0;
    if (n != len)
        return mv_error_set(err, MV_ERR_USAGE,
                            "%s: not a message id (a number from `mailvault list`, or 8 to 64 "
                            "hex digits of a SHA-256)",
                            spec);
    /* The hex prefix bounds a range of digests: lo is the prefix padded with zero bits,
     * hi the prefix padded with one bits. */
    memcpy(hi, lo, (n + 1) / 2);
    if (n % 2)
        hi[n / 2] |= 0x0f;
    sqlite3_stmt *st =
        mv_archive_stmt(ar, "SELECT id FROM messages WHERE sha256 BETWEEN ?1 AND ?2 LIMIT 2", err);
    if (st == NULL)
        return err->status;
    sqlite3_bind_blob(st, 1, lo, MV_SHA256_LEN, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, hi, MV_SHA256_LEN, SQLITE_STATIC);
    int found = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        found++;
    }
    sqlite3_reset(st);
    if (found == 0)
        return mv_error_set(err, MV_ERR_NOTFOUND, "%s: no message with SHA-256 %s...", ar->path,
                            spec);
    if (found > 1)
        return mv_error_set(err, MV_ERR_USAGE, "%s: SHA-256 prefix %s is ambiguous", ar->path,
                            spec);
    return MV_OK;
}

static mv_status record_flag_change(mv_archive *ar, int64_t location, const char *old_flags,
                                    const char *new_flags, int64_t run, mv_error *err)
{
    sqlite3_stmt *st = mv_archive_stmt(ar, "UPDATE locations SET flags = ?2 WHERE id = ?1", err);
    if (st == NULL)
        return err->status;
    sqlite3_bind_int64(st, 1, location);
    sqlite3_bind_text(st, 2, new_flags, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        return mv_archive_sqlerr(ar, rc, "updating flags", err);
    st = mv_archive_stmt(ar,
                         "INSERT INTO flag_history(location, changed_at, old_flags, new_flags,"
                         " run) VALUES(?1, ?2, ?3, ?4, nullif(?5, 0))",
                         err);
    if (st == NULL)
        return err->status;
    sqlite3_bind_int64(st, 1, location);
    sqlite3_bind_int64(st, 2, now());
    sqlite3_bind_text(st, 3, old_flags, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, new_flags, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, run);
    if ((rc = sqlite3_step(st)) != SQLITE_DONE)
        return mv_archive_sqlerr(ar, rc, "recording a flag change", err);
    return MV_OK;
}

static mv_status step_done(mv_archive *ar, sqlite3_stmt *st, const char *what, int *changes,
                           mv_error *err);

/* A location numbered by us, for mail without server UIDs (local files, POP3): the next UID
 * of its folder, as a server would give. Such a folder gets a UIDVALIDITY on first use too
 * (servers typically use the time), so that restore and export treat every location alike. */
static mv_status numbered_location(mv_archive *ar, int64_t mailbox, int64_t message,
                                   const char *flags, int64_t internaldate, int64_t *location,
                                   mv_error *err)
{
    sqlite3_stmt *st = mv_archive_stmt(ar,
                                       "UPDATE mailboxes SET uidnext = uidnext + 1, uidvalidity ="
                                       " CASE WHEN uidvalidity = 0 THEN ?2 ELSE uidvalidity END"
                                       " WHERE id = ?1 RETURNING uidvalidity, uidnext - 1",
                                       err);
    if (st == NULL)
        return err->status;
    sqlite3_bind_int64(st, 1, mailbox);
    sqlite3_bind_int64(st, 2, now());
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return mv_archive_sqlerr(ar, rc, "numbering a message", err);
    }
    int64_t uidvalidity = sqlite3_column_int64(st, 0), uid = sqlite3_column_int64(st, 1);
    sqlite3_reset(st);

    st = mv_archive_stmt(ar,
                         "INSERT INTO locations(mailbox, uidvalidity, uid, message, flags,"
                         " internaldate, first_seen) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                         err);
    if (st == NULL)
        return err->status;
    sqlite3_bind_int64(st, 1, mailbox);
    sqlite3_bind_int64(st, 2, uidvalidity);
    sqlite3_bind_int64(st, 3, uid);
    sqlite3_bind_int64(st, 4, message);
    sqlite3_bind_text(st, 5, flags, -1, SQLITE_STATIC);
    if (internaldate >= 0)
        sqlite3_bind_int64(st, 6, internaldate);
    sqlite3_bind_int64(st, 7, now());
    if ((rc = sqlite3_step(st)) != SQLITE_DONE)
        return mv_archive_sqlerr(ar, rc, "adding a location", err);
    if (location)
        *location = sqlite3_last_insert_rowid(ar->db);
    return MV_OK;
}

mv_status mv_archive_local_file(mv_archive *ar, int64_t mailbox, int64_t message, const char *flags,
                                int64_t internaldate, int64_t run, int *added, int *flags_changed,
                                mv_error *err)
{
    *added = *flags_changed = 0;
    sqlite3_stmt *st = mv_archive_stmt(ar,
                                       "SELECT id, flags FROM locations WHERE message = ?1"
                                       " AND mailbox = ?2 AND superseded_at IS NULL LIMIT 1",
                                       err);
    if (st == NULL)
        return err->status;
    sqlite3_bind_int64(st, 1, message);
    sqlite3_bind_int64(st, 2, mailbox);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        int64_t loc = sqlite3_column_int64(st, 0);
        char *old = strdup((const char *)sqlite3_column_text(st, 1));
        sqlite3_reset(st);
        if (old == NULL)
            return mv_error_set(err, MV_ERR_NOMEM, "out of memory");
        mv_status s = MV_OK;
        if (strcmp(old, flags) != 0) {
            s = record_flag_change(ar, loc, old, flags, run, err);
            *flags_changed = s == MV_OK;
        }
        free(old);
        return s;
    }
    if (rc != SQLITE_DONE)
        return mv_archive_sqlerr(ar, rc, "reading locations", err);

    mv_status s = numbered_location(ar, mailbox, message, flags, internaldate, NULL, err);
    *added = s == MV_OK;
    return s;
}

mv_status mv_archive_uidls(mv_archive *ar, int64_t mailbox, mv_uidl_cb cb, void *ctx, mv_error *err)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(ar->db,
                                "SELECT p.uidl, p.location, l.first_seen, l.expunged_at IS NOT NULL"
                                " FROM pop3_uidls p JOIN locations l ON l.id = p.location"
                                " WHERE p.mailbox = ?1",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return mv_archive_sqlerr(ar, rc, "reading UIDLs", err);
    sqlite3_bind_int64(st, 1, mailbox);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (cb(ctx, (const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1),
               sqlite3_column_int64(st, 2), sqlite3_column_int(st, 3))) {
            rc = SQLITE_DONE;
            break;
        }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return mv_archive_sqlerr(ar, rc, "reading UIDLs", err);
    return MV_OK;
}

mv_status mv_archive_uidl_put(mv_archive *ar, int64_t mailbox, const char *uidl, int64_t message,
                              const char *flags, int64_t internaldate, int *added, mv_error *err)
{
    *added = 0;
    sqlite3_stmt *st =
        mv_archive_stmt(ar, "SELECT 1 FROM pop3_uidls WHERE mailbox = ?1 AND uidl = ?2", err);
    if (st == NULL)
        return err->status;
    sqlite3_bind_int64(st, 1, mailbox);
    sqlite3_bind_text(st, 2, uidl, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return MV_OK;
    if (rc != SQLITE_DONE)
        return mv_archive_sqlerr(ar, rc, "reading UIDLs", err);
    int64_t loc;
    mv_status s = numbered_location(ar, mailbox, message, flags, internaldate, &loc, err);
    if (s != MV_OK)
        return s;
    st = mv_archive_stmt(ar, "INSERT INTO pop3_uidls(mailbox, uidl, location) VALUES(?1, ?2, ?3)",
                         err);
    if (st == NULL)
        return err->status;
    sqlite3_bind_int64(st, 1, mailbox);
    sqlite3_bind_text(st, 2, uidl, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, loc);
    if ((s = step_done(ar, st, "recording a UIDL", NULL, err)) == MV_OK)
        *added = 1;
    return s;
}

mv_status mv_archive_uidl_expunge(mv_archive *ar, int64_t mailbox, const char *uidl, int *changed,
                                  mv_error *err)
{
    sqlite3_stmt *st = mv_archive_stmt(ar,
                                       "UPDATE locations SET expunged_at = ?3 WHERE id = ("
                                       " SELECT location FROM pop3_uidls WHERE mailbox = ?1"
                                       " AND uidl = ?2) AND expunged_at IS NULL",
                                       err);
    if (st == NULL)
        return err->status;
    sqlite3_bind_int64(st, 1, mailbox);
    sqlite3_bind_text(st, 2, uidl, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now());
    return step_done(ar, st, "marking a message expunged", changed, err);
}

mv_status mv_archive_account_find(mv_archive *ar, const char *name, int64_t *id, mv_error *err)
{
    sqlite3_stmt *st = mv_archive_stmt(ar, "SELECT id FROM accounts WHERE name = ?1", err);
    if (st == NULL)
        return err->status;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return mv_archive_sqlerr(ar, rc, "reading accounts", err);
    return MV_OK;
}

mv_status mv_archive_mailbox_find(mv_archive *ar, int64_t account, const char *name, int64_t *id,
                                  mv_error *err)
{
    sqlite3_stmt *st =
        mv_archive_stmt(ar, "SELECT id FROM mailboxes WHERE account = ?1 AND name = ?2", err);
    if (st == NULL)
        return err->status;
    sqlite3_bind_int64(st, 1, account);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return mv_archive_sqlerr(ar, rc, "reading mailboxes", err);
    return MV_OK;
}

/* Runs one prepared statement to completion; *changes gets the rows it touched. */
static mv_status step_done(mv_archive *ar, sqlite3_stmt *st, const char *what, int *changes,
                           mv_error *err)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return mv_archive_sqlerr(ar, rc, what, err);
    if (changes)
        *changes = sqlite3_changes(ar->db);
    return MV_OK;
}

mv_status mv_archive_mailbox_set_info(mv_archive *ar, int64_t mailbox, char delimiter,
                                      const char *special_use, mv_error *err)
{
    sqlite3_stmt *st = mv_archive_stmt(ar,
                                       "UPDATE mailboxes SET delimiter = ?2, special_use = ?3,"
                                       " deleted_at = NULL WHERE id = ?1",
                                       err);
    if (st == NULL)
        return err->status;
    char delim[2] = {delimiter, '\0'};
    sqlite3_bind_int64(st, 1, mailbox);
    if (delimiter)
        sqlite3_bind_text(st, 2, delim, -1, SQLITE_TRANSIENT);
    if (special_use && special_use[0])
        sqlite3_bind_text(st, 3, special_use, -1, SQLITE_STATIC);
    return step_done(ar, st, "updating a mailbox", NULL, err);
}

mv_status mv_archive_mailbox_set_state(mv_archive *ar, int64_t mailbox, const mv_mailbox_state *ms,
                                       int finished, mv_error *err)
{
    sqlite3_stmt *st = mv_archive_stmt(ar,
                                       "UPDATE mailboxes SET uidvalidity = ?2, uidnext = ?3,"
                                       " highestmodseq = ?4,"
                                       " last_sync = CASE WHEN ?5 THEN ?6 ELSE last_sync END"
                                       " WHERE id = ?1",
                                       err);
    if (st == NULL)
        return err->status;
    sqlite3_bind_int64(st, 1, mailbox);
    sqlite3_bind_int64(st, 2, ms->uidvalidity);
    sqlite3_bind_int64(st, 3, ms->uidnext);
    sqlite3_bind_int64(st, 4, ms->highestmodseq);
    sqlite3_bind_int(st, 5, finished);
    sqlite3_bind_int64(st, 6, now());
    return step_done(ar, st, "saving sync state", NULL, err);
}

mv_status mv_archive_mailbox_reset(mv_archive *ar, int64_t mailbox, int64_t uidvalidity,
                                   mv_error *err)
{
    mv_mailbox_state ms = {uidvalidity, 1, 0, 0};
    return mv_archive_mailbox_set_state(ar, mailbox, &ms, 0, err);
}

mv_status mv_archive_mailbox_settle(mv_archive *ar, int64_t mailbox, int64_t uidvalidity,
                                    int64_t *expunged, mv_error *err)
{
    int n = 0;
    sqlite3_stmt *st = mv_archive_stmt(ar,
                                       "UPDATE locations SET expunged_at = ?3 WHERE mailbox = ?1"
                                       " AND uidvalidity <> ?2 AND superseded_at IS NULL"
                                       " AND expunged_at IS NULL",
                                       err);
    if (st == NULL)
        return err->status;
    sqlite3_bind_int64(st, 1, mailbox);
    sqlite3_bind_int64(st, 2, uidvalidity);
    sqlite3_bind_int64(st, 3, now());
    mv_status s = step_done(ar, st, "settling a mailbox", &n, err);
    *expunged = n;
    return s;
}

mv_status mv_archive_mailbox_vanished(mv_archive *ar, int64_t mailbox, int64_t *expunged,
                                      mv_error *err)
{
    int n = 0;
    sqlite3_stmt *st = mv_archive_stmt(ar,
                                       "UPDATE locations SET expunged_at = ?2 WHERE mailbox = ?1"
                                       " AND superseded_at IS NULL AND expunged_at IS NULL",
                                       err);
    if (st == NULL)
        return err->status;
    sqlite3_bind_int64(st, 1, mailbox);
    sqlite3_bind_int64(st, 2, now());
    mv_status s = step_done(ar, st, "marking a folder deleted", &n, err);
    *expunged = n;
    if (s != MV_OK)
        return s;
    st = mv_archive_stmt(ar, "UPDATE mailboxes SET deleted_at = ?2 WHERE id = ?1", err);
    if (st == NULL)
        return err->status;
    sqlite3_bind_int64(st, 1, mailbox);
    sqlite3_bind_int64(st, 2, now());
    return step_done(ar, st, "marking a folder deleted", NULL, err);
}

mv_status mv_archive_mailboxes(mv_archive *ar, int64_t account, mv_mailbox_cb cb, void *ctx,
                               mv_error *err)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(ar->db,
                                "SELECT id, name, deleted_at IS NOT NULL FROM mailboxes"
                                " WHERE account = ?1 ORDER BY name",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return mv_archive_sqlerr(ar, rc, "listing mailboxes", err);
    sqlite3_bind_int64(st, 1, account);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (cb(ctx, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
               sqlite3_column_int(st, 2))) {
            rc = SQLITE_DONE;
            break;
        }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return mv_archive_sqlerr(ar, rc, "listing mailboxes", err);
    return MV_OK;
}

mv_status mv_archive_location_put(mv_archive *ar, int64_t mailbox, int64_t uidvalidity, int64_t uid,
                                  int64_t message, const char *flags, int64_t internaldate,
                                  int64_t modseq, int *added, mv_error *err)
{
    int n = 0;
    *added = 0;
    sqlite3_stmt *st = mv_archive_stmt(ar,
                                       "INSERT INTO locations(mailbox, uidvalidity, uid, message,"
                                       " flags, internaldate, modseq, first_seen)"
                                       " VALUES(?1, ?2, ?3, ?4, ?5, ?6, nullif(?7, 0), ?8)"
                                       " ON CONFLICT(mailbox, uidvalidity, uid) DO NOTHING",
                                       err);
    if (st == NULL)
        return err->status;
    sqlite3_bind_int64(st, 1, mailbox);
    sqlite3_bind_int64(st, 2, uidvalidity);
    sqlite3_bind_int64(st, 3, uid);
    sqlite3_bind_int64(st, 4, message);
    sqlite3_bind_text(st, 5, flags, -1, SQLITE_STATIC);
    if (internaldate >= 0)
        sqlite3_bind_int64(st, 6, internaldate);
    sqlite3_bind_int64(st, 7, modseq);
    sqlite3_bind_int64(st, 8, now());
    mv_status s = step_done(ar, st, "recording a message's place", &n, err);
    if (s != MV_OK || n == 0)
        return s;
    *added = 1;
    /* After a UIDVALIDITY change the same content reappears under new UIDs: the old entry is
     * superseded by this one, one for one, so the folder never lists a message twice. */
    st = mv_archive_stmt(ar,
                         "UPDATE locations SET superseded_at = ?4 WHERE id = ("
                         " SELECT id FROM locations WHERE mailbox = ?1 AND message = ?2"
                         " AND uidvalidity <> ?3 AND superseded_at IS NULL ORDER BY id LIMIT 1)",
                         err);
    if (st == NULL)
        return err->status;
    sqlite3_bind_int64(st, 1, mailbox);
    sqlite3_bind_int64(st, 2, message);
    sqlite3_bind_int64(st, 3, uidvalidity);
    sqlite3_bind_int64(st, 4, now());
    return step_done(ar, st, "recording a message's place", NULL, err);
}

mv_status mv_archive_location_flags(mv_archive *ar, int64_t mailbox, int64_t uidvalidity,
                                    int64_t uid, const char *flags, int64_t modseq, int64_t run,
                                    int *changed, mv_error *err)
{
    *changed = 0;
    sqlite3_stmt *st = mv_archive_stmt(ar,
                                       "SELECT id, flags FROM locations WHERE mailbox = ?1"
                                       " AND uidvalidity = ?2 AND uid = ?3"
                                       " AND expunged_at IS NULL",
                                       err);
    if (st == NULL)
        return err->status;
    sqlite3_bind_int64(st, 1, mailbox);
    sqlite3_bind_int64(st, 2, uidvalidity);
    sqlite3_bind_int64(st, 3, uid);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        if (rc == SQLITE_DONE)
            return MV_OK;
        return mv_archive_sqlerr(ar, rc, "reading flags", err);
    }
    int64_t loc = sqlite3_column_int64(st, 0);
    int same = strcmp((const char *)sqlite3_column_text(st, 1), flags) == 0;
    char *old = same ? NULL : strdup((const char *)sqlite3_column_text(st, 1));
    sqlite3_reset(st);
    if (!same && old == NULL)
        return mv_error_set(err, MV_ERR_NOMEM, "out of memory");
    mv_status s = MV_OK;
    if (!same) {
        s = record_flag_change(ar, loc, old, flags, run, err);
        *changed = s == MV_OK;
    }
    free(old);
    if (s == MV_OK && modseq > 0) {
        st = mv_archive_stmt(ar, "UPDATE locations SET modseq = ?2 WHERE id = ?1", err);
        if (st == NULL)
            return err->status;
        sqlite3_bind_int64(st, 1, loc);
        sqlite3_bind_int64(st, 2, modseq);
        s = step_done(ar, st, "updating flags", NULL, err);
    }
    return s;
}

mv_status mv_archive_location_expunge(mv_archive *ar, int64_t mailbox, int64_t uidvalidity,
                                      int64_t uid, int *changed, mv_error *err)
{
    sqlite3_stmt *st = mv_archive_stmt(ar,
                                       "UPDATE locations SET expunged_at = ?4 WHERE mailbox = ?1"
                                       " AND uidvalidity = ?2 AND uid = ?3"
                                       " AND expunged_at IS NULL",
                                       err);
    if (st == NULL)
        return err->status;
    sqlite3_bind_int64(st, 1, mailbox);
    sqlite3_bind_int64(st, 2, uidvalidity);
    sqlite3_bind_int64(st, 3, uid);
    sqlite3_bind_int64(st, 4, now());
    return step_done(ar, st, "marking a message expunged", changed, err);
}

mv_status mv_archive_locations(mv_archive *ar, int64_t mailbox, int64_t uidvalidity,
                               mv_location_cb cb, void *ctx, mv_error *err)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(ar->db,
                                "SELECT uid, flags FROM locations WHERE mailbox = ?1"
                                " AND uidvalidity = ?2 AND expunged_at IS NULL ORDER BY uid",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return mv_archive_sqlerr(ar, rc, "reading locations", err);
    sqlite3_bind_int64(st, 1, mailbox);
    sqlite3_bind_int64(st, 2, uidvalidity);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (cb(ctx, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1))) {
            rc = SQLITE_DONE;
            break;
        }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return mv_archive_sqlerr(ar, rc, "reading locations", err);
    return MV_OK;
}

mv_status mv_archive_run_begin(mv_archive *ar, int64_t account, const char *command, int64_t *run,
                               mv_error *err)
{
    sqlite3_stmt *st = mv_archive_stmt(
        ar, "INSERT INTO runs(account, command, started_at) VALUES(nullif(?1, 0), ?2, ?3)", err);
    if (st == NULL)
        return err->status;
    sqlite3_bind_int64(st, 1, account);
    sqlite3_bind_text(st, 2, command, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now());
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        return mv_archive_sqlerr(ar, rc, "recording a run", err);
    *run = sqlite3_last_insert_rowid(ar->db);
    return MV_OK;
}

mv_status mv_archive_run_end(mv_archive *ar, int64_t run, const char *outcome,
                             const mv_run_counts *c, const char *detail, mv_error *err)
{
    sqlite3_stmt *st = mv_archive_stmt(ar,
                                       "UPDATE runs SET ended_at = ?2, outcome = ?3,"
                                       " messages_new = ?4, locations_new = ?5,"
                                       " flag_changes = ?6, expunged = ?7, bytes = ?8,"
                                       " errors = ?9, detail = ?10 WHERE id = ?1",
                                       err);
    if (st == NULL)
        return err->status;
    sqlite3_bind_int64(st, 1, run);
    sqlite3_bind_int64(st, 2, now());
    sqlite3_bind_text(st, 3, outcome, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, c->messages_new);
    sqlite3_bind_int64(st, 5, c->locations_new);
    sqlite3_bind_int64(st, 6, c->flag_changes);
    sqlite3_bind_int64(st, 7, c->expunged);
    sqlite3_bind_int64(st, 8, c->bytes);
    sqlite3_bind_int64(st, 9, c->errors);
    if (detail)
        sqlite3_bind_text(st, 10, detail, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        return mv_archive_sqlerr(ar, rc, "recording a run", err);
    return MV_OK;
}

mv_status mv_archive_dictionary(mv_archive *ar, int64_t id, const unsigned char **data, int *len,
                                mv_error *err)
{
    int slot = -1;
    for (int i = 0; i < MV_DICT_CACHE; i++) {
        if (ar->dicts[i].id == id && ar->dicts[i].data) {
            *data = ar->dicts[i].data;
            *len = ar->dicts[i].len;
            return MV_OK;
        }
        if (slot < 0 && ar->dicts[i].data == NULL)
            slot = i;
    }
    if (slot < 0) {
        /* More dictionaries in use than slots: evict one. Archives hold a handful at most. */
        slot = (int)(id % MV_DICT_CACHE);
        free(ar->dicts[slot].data);
        ar->dicts[slot].data = NULL;
    }
    sqlite3_stmt *st = mv_archive_stmt(ar, "SELECT data FROM dictionaries WHERE id = ?1", err);
    if (st == NULL)
        return err->status;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        if (rc == SQLITE_DONE)
            return mv_error_set(err, MV_ERR_CORRUPT, "%s: compression dictionary %lld is missing",
                                ar->path, (long long)id);
        return mv_archive_sqlerr(ar, rc, "reading a dictionary", err);
    }
    int n = sqlite3_column_bytes(st, 0);
    unsigned char *copy = malloc(n > 0 ? (size_t)n : 1);
    if (copy == NULL) {
        sqlite3_reset(st);
        return mv_error_set(err, MV_ERR_NOMEM, "out of memory");
    }
    memcpy(copy, sqlite3_column_blob(st, 0), (size_t)n);
    sqlite3_reset(st);
    ar->dicts[slot].id = id;
    ar->dicts[slot].data = copy;
    ar->dicts[slot].len = n;
    *data = copy;
    *len = n;
    return MV_OK;
}

/* Dictionary policy. The first dictionary is trained once MV_DICT_FIRST messages are in,
 * which is enough to see the boilerplate of the mail's usual senders; later ones each time
 * the archive has grown tenfold, as the mix of mail drifts. Samples are the newest headers,
 * the best guess at what is coming next. */
#define MV_DICT_FIRST 100
#define MV_DICT_SAMPLES 1000
#define MV_DICT_HEADER_MAX (16 * 1024)

static mv_status read_header(mv_archive *ar, int64_t id, unsigned char *buf, size_t cap,
                             size_t *len, mv_error *err)
{
    mv_blob_reader *r;
    mv_status st = mv_blob_reader_open(ar, id, &r, err);
    if (st != MV_OK)
        return st;
    *len = 0;
    while (*len < cap) {
        size_t got;
        /* Small steps: the header usually ends within the first 2 KiB, and the rest of the
         * sample buffer then stays untouched (unmapped) memory. */
        size_t step = cap - *len < 2048 ? cap - *len : 2048;
        if ((st = mv_blob_reader_read(r, buf + *len, step, &got, err)) != MV_OK)
            break;
        if (got == 0)
            break;
        *len += got;
        size_t h = mv_mime_header_length((const char *)buf, *len);
        if (h < *len) {
            *len = h;
            break;
        }
    }
    mv_blob_reader_close(r);
    return st;
}

int mv_archive_training_due(const mv_archive *ar, int64_t messages)
{
    if (ar->no_dictionary || ar->mode == MV_ARCHIVE_READ)
        return 0;
    return ar->dict_trained_on == 0 ? messages >= MV_DICT_FIRST
                                    : messages >= ar->dict_trained_on * 10;
}

mv_status mv_archive_maybe_train(mv_archive *ar, int *trained, mv_error *err)
{
    int64_t count = 0, last = 0;
    mv_status st;
    *trained = 0;
    if (ar->no_dictionary || ar->mode == MV_ARCHIVE_READ)
        return MV_OK;
    if ((st = pragma_int(ar, "SELECT count(*) FROM messages", &count, err)) != MV_OK)
        return st;
    if ((st = pragma_int(ar, "SELECT coalesce(max(trained_on), 0) FROM dictionaries", &last,
                         err)) != MV_OK)
        return st;
    ar->dict_trained_on = last;
    if (!mv_archive_training_due(ar, count))
        return MV_OK;

    /* Headers are packed one after another (a few KiB each), so training a dictionary costs
     * about a megabyte of samples, not MV_DICT_SAMPLES full buffers. */
    mv_dict_sample *samples = calloc(MV_DICT_SAMPLES, sizeof *samples);
    size_t *offsets = calloc(MV_DICT_SAMPLES, sizeof *offsets);
    unsigned char *scratch = malloc(MV_DICT_HEADER_MAX);
    unsigned char *pool = NULL;
    size_t pool_len = 0, pool_cap = 0;
    unsigned char *dict = NULL;
    size_t n = 0, dict_len = 0;
    sqlite3_stmt *q = NULL;
    if (samples == NULL || offsets == NULL || scratch == NULL) {
        st = mv_error_set(err, MV_ERR_NOMEM, "out of memory");
        goto out;
    }
    int rc = sqlite3_prepare_v2(ar->db, "SELECT id FROM messages ORDER BY id DESC LIMIT ?1", -1, &q,
                                NULL);
    if (rc != SQLITE_OK) {
        st = mv_archive_sqlerr(ar, rc, "choosing dictionary samples", err);
        goto out;
    }
    sqlite3_bind_int(q, 1, MV_DICT_SAMPLES);
    while (n < MV_DICT_SAMPLES && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        size_t len;
        if ((st = read_header(ar, sqlite3_column_int64(q, 0), scratch, MV_DICT_HEADER_MAX, &len,
                              err)) != MV_OK)
            goto out;
        if (pool_len + len > pool_cap) {
            size_t cap = pool_cap ? pool_cap * 2 : 256 * 1024;
            while (cap < pool_len + len)
                cap *= 2;
            unsigned char *p = realloc(pool, cap);
            if (p == NULL) {
                st = mv_error_set(err, MV_ERR_NOMEM, "out of memory");
                goto out;
            }
            pool = p;
            pool_cap = cap;
        }
        memcpy(pool + pool_len, scratch, len);
        offsets[n] = pool_len;
        samples[n].len = len;
        pool_len += len;
        n++;
    }
    for (size_t i = 0; i < n; i++)
        samples[i].data = pool + offsets[i];
    /* Oldest first, so the newest mail's strings end up nearest the end of the dictionary
     * if the trainer keeps ties in input order. */
    for (size_t i = 0; i < n / 2; i++) {
        mv_dict_sample t = samples[i];
        samples[i] = samples[n - 1 - i];
        samples[n - 1 - i] = t;
    }
    if ((st = mv_dict_train(samples, n, MV_DICT_MAX, &dict, &dict_len, err)) != MV_OK)
        goto out;
    if (dict == NULL) {
        /* Nothing worth a dictionary yet: wait for the next growth step rather than trying
         * again after every batch. */
        ar->dict_trained_on = count;
        goto out;
    }

    if ((st = mv_archive_begin(ar, err)) != MV_OK)
        goto out;
    sqlite3_stmt *ins = mv_archive_stmt(
        ar, "INSERT INTO dictionaries(created_at, trained_on, data) VALUES(?1, ?2, ?3)", err);
    if (ins == NULL) {
        st = err->status;
        mv_archive_rollback(ar);
        goto out;
    }
    sqlite3_bind_int64(ins, 1, now());
    sqlite3_bind_int64(ins, 2, count);
    sqlite3_bind_blob(ins, 3, dict, (int)dict_len, SQLITE_STATIC);
    if ((rc = sqlite3_step(ins)) != SQLITE_DONE) {
        st = mv_archive_sqlerr(ar, rc, "storing a dictionary", err);
        mv_archive_rollback(ar);
        goto out;
    }
    int64_t id = sqlite3_last_insert_rowid(ar->db);
    if ((st = mv_archive_commit(ar, err)) != MV_OK)
        goto out;
    ar->dict_id = id;
    ar->dict_trained_on = count;
    *trained = 1;
out:
    sqlite3_finalize(q);
    free(dict);
    free(pool);
    free(scratch);
    free(offsets);
    free(samples);
    return st;
}

/* --- Reading --- */

mv_status mv_archive_folders(mv_archive *ar, mv_folder_cb cb, void *ctx, mv_error *err)
{
    sqlite3_stmt *st =
        mv_archive_stmt(ar,
                        "SELECT a.name, b.name,"
                        " count(l.id) FILTER (WHERE l.expunged_at IS NULL),"
                        " count(l.id) FILTER (WHERE l.expunged_at IS NOT NULL),"
                        " coalesce(sum(m.size), 0), coalesce(sum(m.stored_size), 0)"
                        " FROM mailboxes b JOIN accounts a ON a.id = b.account"
                        " LEFT JOIN locations l ON l.mailbox = b.id AND l.superseded_at IS NULL"
                        " LEFT JOIN messages m ON m.id = l.message"
                        " GROUP BY b.id ORDER BY a.name, b.name",
                        err);
    if (st == NULL)
        return err->status;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        mv_folder_info f = {
            .account = (const char *)sqlite3_column_text(st, 0),
            .name = (const char *)sqlite3_column_text(st, 1),
            .messages = sqlite3_column_int64(st, 2),
            .expunged = sqlite3_column_int64(st, 3),
            .raw_bytes = sqlite3_column_int64(st, 4),
            .stored_bytes = sqlite3_column_int64(st, 5),
        };
        if (cb(ctx, &f))
            break;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return mv_archive_sqlerr(ar, rc, "listing folders", err);
    return MV_OK;
}

mv_status mv_archive_totals(mv_archive *ar, mv_totals *t, mv_error *err)
{
    sqlite3_stmt *st = mv_archive_stmt(
        ar,
        "SELECT count(*), coalesce(sum(size), 0), coalesce(sum(stored_size), 0),"
        " count(dictionary), (SELECT count(*) FROM locations WHERE superseded_at IS NULL),"
        " (SELECT count(*) FROM dictionaries) FROM messages",
        err);
    if (st == NULL)
        return err->status;
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        return mv_archive_sqlerr(ar, rc, "counting messages", err);
    memset(t, 0, sizeof *t);
    t->messages = sqlite3_column_int64(st, 0);
    t->raw_bytes = sqlite3_column_int64(st, 1);
    t->stored_bytes = sqlite3_column_int64(st, 2);
    t->with_dictionary = sqlite3_column_int64(st, 3);
    t->locations = sqlite3_column_int64(st, 4);
    t->dictionaries = sqlite3_column_int64(st, 5);
    sqlite3_reset(st);
    struct stat sb;
    if (stat(ar->path, &sb) == 0)
        t->file_bytes = sb.st_size;
    size_t n = strlen(ar->path) + 5;
    char *wal = malloc(n);
    if (wal) {
        snprintf(wal, n, "%s-wal", ar->path);
        if (stat(wal, &sb) == 0)
            t->file_bytes += sb.st_size;
        free(wal);
    }
    return MV_OK;
}

mv_status mv_archive_folder_exists(mv_archive *ar, const char *folder, int *exists, mv_error *err)
{
    sqlite3_stmt *st = mv_archive_stmt(ar, "SELECT 1 FROM mailboxes WHERE name = ?1", err);
    if (st == NULL)
        return err->status;
    sqlite3_bind_text(st, 1, folder, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *exists = rc == SQLITE_ROW;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return mv_archive_sqlerr(ar, rc, "reading mailboxes", err);
    return MV_OK;
}

mv_status mv_archive_messages(mv_archive *ar, const mv_message_filter *f, mv_message_cb cb,
                              void *ctx, mv_error *err)
{
    /* Not a cached statement: the callback may read blobs, and a nested walk (export calling
     * list) must not reset it. A search query adds its own condition, whose parameters are
     * numbered ?1..?N; ours follow them, numbered explicitly. */
    const mv_query *q = f ? f->query : NULL;
    int nq = q ? (int)mv_query_nparams(q) : 0;
    char *sql = sqlite3_mprintf(
        "SELECT m.id, m.sha256, m.size, coalesce(m.date, -1), m.from_addr, m.to_addr,"
        " m.subject, m.message_id, b.name, l.flags, coalesce(l.internaldate, -1),"
        " coalesce(l.expunged_at, 0), l.uidvalidity, l.uid"
        " FROM locations l JOIN messages m ON m.id = l.message"
        " JOIN mailboxes b ON b.id = l.mailbox"
        " WHERE l.superseded_at IS NULL AND (?%d IS NULL OR b.name = ?%d)"
        " AND (?%d OR l.expunged_at IS NULL) AND (%s)"
        " ORDER BY b.name, l.uidvalidity, l.uid",
        nq + 1, nq + 1, nq + 2, q ? mv_query_where(q) : "1");
    if (sql == NULL)
        return mv_error_set(err, MV_ERR_NOMEM, "out of memory");
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(ar->db, sql, -1, &st, NULL);
    sqlite3_free(sql);
    if (rc != SQLITE_OK)
        return mv_archive_sqlerr(ar, rc, "listing messages", err);
    for (size_t i = 0; q && i < mv_query_nparams(q); i++) {
        const mv_query_param *p = mv_query_param_at(q, i);
        if (p->is_int)
            sqlite3_bind_int64(st, (int)i + 1, p->i);
        else
            sqlite3_bind_text(st, (int)i + 1, p->s, -1, SQLITE_STATIC);
    }
    if (f && f->folder)
        sqlite3_bind_text(st, nq + 1, f->folder, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, nq + 2, f ? f->include_expunged : 0);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        mv_message_info m = {
            .id = sqlite3_column_int64(st, 0),
            .size = sqlite3_column_int64(st, 2),
            .date = sqlite3_column_int64(st, 3),
            .from = (const char *)sqlite3_column_text(st, 4),
            .to = (const char *)sqlite3_column_text(st, 5),
            .subject = (const char *)sqlite3_column_text(st, 6),
            .message_id = (const char *)sqlite3_column_text(st, 7),
            .folder = (const char *)sqlite3_column_text(st, 8),
            .flags = (const char *)sqlite3_column_text(st, 9),
            .internaldate = sqlite3_column_int64(st, 10),
            .expunged_at = sqlite3_column_int64(st, 11),
            .uidvalidity = sqlite3_column_int64(st, 12),
            .uid = sqlite3_column_int64(st, 13),
        };
        if (sqlite3_column_bytes(st, 1) == MV_SHA256_LEN)
            memcpy(m.sha256, sqlite3_column_blob(st, 1), MV_SHA256_LEN);
        if (cb(ctx, &m)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return mv_archive_sqlerr(ar, rc, "listing messages", err);
    return MV_OK;
}

/* Where a damaged message is filed, so the user knows what was lost. */
static void describe_locations(mv_archive *ar, int64_t id, char *out, size_t cap)
{
    sqlite3_stmt *st;
    out[0] = '\0';
    if (sqlite3_prepare_v2(ar->db,
                           "SELECT group_concat(b.name || ' UID ' || l.uid, ', ')"
                           " FROM locations l JOIN mailboxes b ON b.id = l.mailbox"
                           " WHERE l.message = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(out, cap, " (in %s)", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
}

static void report(mv_damage_cb cb, void *ctx, int64_t id, const unsigned char *sha,
                   const char *problem)
{
    char hex[MV_SHA256_HEX_LEN + 1];
    mv_damage d = {id, NULL, problem};
    if (sha) {
        mv_hash_hex(sha, hex);
        d.sha256_hex = hex;
    }
    cb(ctx, &d);
}

static mv_status verify_blob(mv_archive *ar, int64_t id, const unsigned char *want,
                             int64_t want_size, mv_hash *h, unsigned char *buf, size_t cap,
                             char *problem, size_t pcap)
{
    mv_error e = {0};
    mv_blob_reader *r = NULL;
    int64_t size = 0;
    problem[0] = '\0';
    mv_status st = mv_blob_reader_open(ar, id, &r, &e);
    while (st == MV_OK) {
        size_t got;
        st = mv_blob_reader_read(r, buf, cap, &got, &e);
        if (st != MV_OK || got == 0)
            break;
        mv_hash_update(h, buf, got);
        size += (int64_t)got;
    }
    mv_blob_reader_close(r);
    unsigned char got_sha[MV_SHA256_LEN];
    mv_hash_final(h, got_sha);
    if (st == MV_ERR_NOMEM)
        return st;
    if (st != MV_OK)
        snprintf(problem, pcap, "cannot be read back: %s", e.msg);
    else if (size != want_size)
        snprintf(problem, pcap, "size is %lld bytes, expected %lld", (long long)size,
                 (long long)want_size);
    else if (memcmp(got_sha, want, MV_SHA256_LEN) != 0)
        snprintf(problem, pcap, "content does not match its SHA-256");
    return MV_OK;
}

mv_status mv_archive_verify(mv_archive *ar, mv_damage_cb cb, void *ctx, int64_t *checked,
                            int64_t *damaged, mv_error *err)
{
    sqlite3_stmt *st = NULL;
    mv_status s = MV_OK;
    size_t cap = 64 * 1024;
    unsigned char *buf = malloc(cap);
    mv_hash *h = mv_hash_new();
    *checked = *damaged = 0;
    if (buf == NULL || h == NULL) {
        s = mv_error_set(err, MV_ERR_NOMEM, "out of memory");
        goto out;
    }

    /* Structure first: if SQLite's own b-trees are damaged, say so even if every message
     * that can still be reached reads back fine. */
    int rc = sqlite3_prepare_v2(ar->db, "PRAGMA integrity_check", -1, &st, NULL);
    if (rc != SQLITE_OK) {
        s = mv_archive_sqlerr(ar, rc, "checking integrity", err);
        goto out;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *line = (const char *)sqlite3_column_text(st, 0);
        if (line && strcmp(line, "ok") != 0) {
            char problem[600];
            snprintf(problem, sizeof problem, "database structure: %s", line);
            report(cb, ctx, 0, NULL, problem);
            (*damaged)++;
        }
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc != SQLITE_DONE) {
        char problem[600];
        snprintf(problem, sizeof problem, "database structure: %s", sqlite3_errmsg(ar->db));
        report(cb, ctx, 0, NULL, problem);
        (*damaged)++;
    }

    rc = sqlite3_prepare_v2(ar->db, "PRAGMA foreign_key_check", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW) {
            char problem[200];
            snprintf(problem, sizeof problem, "row %lld of table %s points at a missing %s row",
                     (long long)sqlite3_column_int64(st, 1),
                     (const char *)sqlite3_column_text(st, 0),
                     (const char *)sqlite3_column_text(st, 2));
            report(cb, ctx, 0, NULL, problem);
            (*damaged)++;
        }
        sqlite3_finalize(st);
        st = NULL;
    }

    rc = sqlite3_prepare_v2(ar->db, "SELECT id, sha256, size FROM messages ORDER BY id", -1, &st,
                            NULL);
    if (rc != SQLITE_OK) {
        s = mv_archive_sqlerr(ar, rc, "listing messages", err);
        goto out;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        unsigned char want[MV_SHA256_LEN] = {0};
        char problem[MV_ERROR_MSG_MAX + 64];
        if (sqlite3_column_bytes(st, 1) == MV_SHA256_LEN)
            memcpy(want, sqlite3_column_blob(st, 1), MV_SHA256_LEN);
        if ((s = verify_blob(ar, id, want, sqlite3_column_int64(st, 2), h, buf, cap, problem,
                             sizeof problem)) != MV_OK) {
            mv_error_set(err, s, "out of memory");
            goto out;
        }
        (*checked)++;
        if (problem[0]) {
            char where[256], full[MV_ERROR_MSG_MAX + 400];
            describe_locations(ar, id, where, sizeof where);
            snprintf(full, sizeof full, "%s%s", problem, where);
            report(cb, ctx, id, want, full);
            (*damaged)++;
        }
    }
    if (rc != SQLITE_DONE) {
        char problem[600];
        snprintf(problem, sizeof problem, "cannot list all messages: %s", sqlite3_errmsg(ar->db));
        report(cb, ctx, 0, NULL, problem);
        (*damaged)++;
    }
    if (*damaged)
        s = mv_error_set(err, MV_ERR_CORRUPT, "%s: %lld problem%s found", ar->path,
                         (long long)*damaged, *damaged == 1 ? "" : "s");
out:
    sqlite3_finalize(st);
    mv_hash_free(h);
    free(buf);
    return s;
}
