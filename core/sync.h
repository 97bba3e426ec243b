/* mailvault: `mailvault sync` — an incremental mirror of an IMAP account into the archive.
 *
 * Per folder: EXAMINE (never SELECT, so nothing on the server changes), then
 *   - changes to mail already archived: with QRESYNC the EXAMINE itself reports flag changes
 *     and expunges since the stored HIGHESTMODSEQ; with CONDSTORE a CHANGEDSINCE fetch and a
 *     UID SEARCH; otherwise a UID FETCH 1:* (UID FLAGS) compared with the archive;
 *   - new mail: UID SEARCH from the stored UIDNEXT, then pipelined UID FETCH batches of
 *     (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[]), bodies streamed into blob stages.
 * Each batch lands in one transaction together with the folder's new UIDNEXT, so a run that
 * is killed resumes where it stopped with nothing lost or stored twice. A folder whose
 * UIDVALIDITY changed is fetched again and matched by content. Folders whose LIST-STATUS
 * shows no change are skipped without a single extra round trip.
 *
 * Folders are spread over several connections, each on its own thread, which also
 * compresses; only the calling thread touches the archive.
 */
#ifndef MV_SYNC_H
#define MV_SYNC_H

#include <stdint.h>

#include "archive.h"
#include "config.h"
#include "error.h"

typedef struct mv_sync_progress {
    int64_t messages_done;  /* new messages archived so far */
    int64_t messages_total; /* new messages known to be coming (grows as folders are seen) */
    int64_t bytes_done;
    int folders_done;
    int folders_total;
} mv_sync_progress;

typedef struct mv_sync_options {
    const mv_account *account;
    const char *password; /* or */
    const char *bearer;
    int dry_run;     /* report what would be fetched; the archive is not written */
    int connections; /* 0: the account's setting */
    int trace;       /* IMAP conversation (without secrets) on stderr */
    void (*on_progress)(void *ctx, const mv_sync_progress *p);
    void *ctx;
} mv_sync_options;

typedef struct mv_sync_folder {
    char *name;
    mv_status status;
    char error[MV_ERROR_MSG_MAX];
    int64_t new_messages; /* fetched and filed (dry run: would be) */
    int64_t stored;       /* of which new content */
    int64_t bytes;        /* bytes fetched */
    int64_t flag_changes;
    int64_t expunged;      /* deleted on the server by others: still archived */
    int64_t deleted;       /* POP3: deleted from the server by us (delete_after_days) */
    int64_t exists;        /* IMAP: messages in the folder on the server (EXISTS or STATUS) */
    int uidvalidity_changed;
    int unchanged; /* skipped: nothing changed since the last sync */
    int uidl_fallback; /* POP3: the server has no UIDL; messages told apart by headers */
    double seconds;
} mv_sync_folder;

typedef struct mv_sync_report {
    mv_sync_folder *folders;
    size_t nfolders;
    int64_t vanished_folders; /* folders gone from the server (their mail stays archived) */
    double seconds;
} mv_sync_report;

/* MV_OK when every folder synced; MV_ERR_PARTIAL when some failed (see each folder's status
 * and error); the connection, TLS, authentication or archive status when nothing could be
 * done. rep is filled in every case and must be freed. */
mv_status mv_sync_run(mv_archive *ar, const mv_sync_options *opt, mv_sync_report *rep,
                      mv_error *err);
void mv_sync_report_free(mv_sync_report *rep);

struct mv_imap;
/* Connects and logs in to the account's IMAP server the way sync does (TLS mode, certificate,
 * proxy, SASL mechanism, timeout from the account; password or bearer token as given). For
 * other commands that talk to a configured account (restore). */
mv_status mv_sync_login(const mv_account *a, const char *password, const char *bearer, int trace,
                        struct mv_imap **out, mv_error *err);

/* Flags as the archive keeps them: system flags in a fixed order, then keywords sorted;
 * \Recent dropped. Returns the length, or -1 if cap is too small. Exposed for tests. */
int mv_sync_canonical_flags(const char *const *flags, size_t n, char *out, size_t cap);
/* "17-Jul-1996 02:44:25 -0700" to seconds since the epoch, -1 if malformed. */
int64_t mv_sync_parse_internaldate(const char *s);

#endif
