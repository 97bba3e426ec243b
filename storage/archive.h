/* mailvault: the archive file.
 *
 * One SQLite database per account. Every message's exact bytes are stored once, keyed by
 * SHA-256 and compressed (see blob.h); mailboxes, UIDs, flags and dates are rows that point
 * at them. Nothing is ever deleted because a server deleted it: a location gets an
 * expunged-at time instead.
 *
 * Writers hold an exclusive lock for the life of the handle, so two mailvault processes never
 * interleave batches into one archive; readers use SQLite's WAL snapshots and never wait.
 */
#ifndef MV_ARCHIVE_H
#define MV_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "hash.h"

typedef struct mv_archive mv_archive;

typedef enum {
    MV_ARCHIVE_READ,  /* the archive must exist; nothing is written */
    MV_ARCHIVE_WRITE, /* the archive must exist */
    MV_ARCHIVE_CREATE /* like WRITE, but create the file (and its directory) if missing */
} mv_archive_mode;

typedef struct mv_archive_options {
    mv_archive_mode mode;
    int lock_wait_ms;   /* how long a writer waits for another writer; 0 = fail at once */
    int compress_level; /* zlib level 1..9 for this run; 0: the archive's setting (6) */
    int no_dictionary;  /* CREATE only: never train a preset dictionary for this archive */
} mv_archive_options;

/* The schema this build writes; archives with a higher PRAGMA user_version are refused. */
#define MV_ARCHIVE_SCHEMA_VERSION 3

mv_status mv_archive_open(const char *path, const mv_archive_options *opt, mv_archive **out,
                          mv_error *err);
void mv_archive_close(mv_archive *ar);
const char *mv_archive_path(const mv_archive *ar);
/* The zlib level new messages are compressed with, and setting it for the archive (kept in
 * the file: every later writer uses it). Old messages keep theirs; any level reads back. */
int mv_archive_compression(const mv_archive *ar);
mv_status mv_archive_set_compression(mv_archive *ar, int level, mv_error *err);

/* 1 when mv_archive_open created the file. */
int mv_archive_created(const mv_archive *ar);

/* A write transaction. Everything between begin and commit lands together or not at all. */
mv_status mv_archive_begin(mv_archive *ar, mv_error *err);
mv_status mv_archive_commit(mv_archive *ar, mv_error *err);
void mv_archive_rollback(mv_archive *ar);

/* Accounts and mailboxes are found by name and created on first use. */
mv_status mv_archive_account(mv_archive *ar, const char *name, const char *protocol, int64_t *id,
                             mv_error *err);
mv_status mv_archive_mailbox(mv_archive *ar, int64_t account, const char *name, char delimiter,
                             int64_t *id, mv_error *err);

/* Lookups that never create: *id = 0 when there is no such row. */
mv_status mv_archive_account_find(mv_archive *ar, const char *name, int64_t *id, mv_error *err);
mv_status mv_archive_mailbox_find(mv_archive *ar, int64_t account, const char *name, int64_t *id,
                                  mv_error *err);

typedef struct mv_mailbox_state {
    int64_t uidvalidity;
    int64_t uidnext;
    int64_t highestmodseq;
    int64_t last_sync;
} mv_mailbox_state;

mv_status mv_archive_mailbox_state(mv_archive *ar, int64_t mailbox, mv_mailbox_state *st,
                                   mv_error *err);

/* The message stored under this SHA-256, or *id = 0 when there is none. */
mv_status mv_archive_message_find(mv_archive *ar, const unsigned char sha[MV_SHA256_LEN],
                                  int64_t *id, mv_error *err);
/* Resolves what a user typed: a message number, or a SHA-256 hex prefix of 8+ digits. */
mv_status mv_archive_message_resolve(mv_archive *ar, const char *spec, int64_t *id, mv_error *err);

/* Local mail (import) has no server UIDs: it is identified by content within its mailbox.
 * Adds a location for the message unless the mailbox already holds it; when it does, and
 * the flags differ, updates them and records the change. *added / *flags_changed say which. */
mv_status mv_archive_local_file(mv_archive *ar, int64_t mailbox, int64_t message, const char *flags,
                                int64_t internaldate, int64_t run, int *added, int *flags_changed,
                                mv_error *err);

/* --- Sync state (IMAP and POP3) --- */

/* Records what the server says about a folder; clears a previous deleted_at. */
mv_status mv_archive_mailbox_set_info(mv_archive *ar, int64_t mailbox, char delimiter,
                                      const char *special_use, mv_error *err);
/* Stores the folder's sync state; last_sync is set to now when finished is 1. */
mv_status mv_archive_mailbox_set_state(mv_archive *ar, int64_t mailbox, const mv_mailbox_state *st,
                                       int finished, mv_error *err);
/* The folder's UIDVALIDITY changed: start again from UID 1 under the new value. Locations
 * under the old one stay; each is marked superseded when the same content reappears under
 * the new UIDVALIDITY (mv_archive_location_put), and the rest are marked expunged by
 * mv_archive_mailbox_settle once the folder is fully fetched again. */
mv_status mv_archive_mailbox_reset(mv_archive *ar, int64_t mailbox, int64_t uidvalidity,
                                   mv_error *err);
/* After a complete fetch of the folder: locations under other UIDVALIDITYs that were not
 * matched by content are marked expunged. *expunged counts them. */
mv_status mv_archive_mailbox_settle(mv_archive *ar, int64_t mailbox, int64_t uidvalidity,
                                    int64_t *expunged, mv_error *err);
/* The folder is gone from the server: deleted_at, and its messages count as expunged. */
mv_status mv_archive_mailbox_vanished(mv_archive *ar, int64_t mailbox, int64_t *expunged,
                                      mv_error *err);

typedef int (*mv_mailbox_cb)(void *ctx, int64_t id, const char *name, int deleted);
mv_status mv_archive_mailboxes(mv_archive *ar, int64_t account, mv_mailbox_cb cb, void *ctx,
                               mv_error *err);

/* A message seen on the server at (mailbox, uidvalidity, uid). A location already recorded
 * there is left alone (*added = 0). */
mv_status mv_archive_location_put(mv_archive *ar, int64_t mailbox, int64_t uidvalidity, int64_t uid,
                                  int64_t message, const char *flags, int64_t internaldate,
                                  int64_t modseq, int *added, mv_error *err);
/* New flags for a known location; a change is recorded in flag_history. Unknown UIDs and
 * expunged locations are ignored. */
mv_status mv_archive_location_flags(mv_archive *ar, int64_t mailbox, int64_t uidvalidity,
                                    int64_t uid, const char *flags, int64_t modseq, int64_t run,
                                    int *changed, mv_error *err);
/* The server no longer has this UID: the location gets an expunged-at time (the message
 * stays). *changed is 0 if it was unknown or already expunged. */
mv_status mv_archive_location_expunge(mv_archive *ar, int64_t mailbox, int64_t uidvalidity,
                                      int64_t uid, int *changed, mv_error *err);

typedef int (*mv_location_cb)(void *ctx, int64_t uid, const char *flags);
/* Live (not expunged) locations of the folder under uidvalidity, in UID order. */
mv_status mv_archive_locations(mv_archive *ar, int64_t mailbox, int64_t uidvalidity,
                               mv_location_cb cb, void *ctx, mv_error *err);

/* --- POP3: messages identified by UIDL strings --- */

typedef int (*mv_uidl_cb)(void *ctx, const char *uidl, int64_t location, int64_t first_seen,
                          int expunged);
/* Every UIDL recorded for the mailbox, with its location. */
mv_status mv_archive_uidls(mv_archive *ar, int64_t mailbox, mv_uidl_cb cb, void *ctx,
                           mv_error *err);
/* Files message under a new location of the mailbox (numbered like local mail) and records
 * its UIDL. A UIDL already recorded is left alone (*added = 0). */
mv_status mv_archive_uidl_put(mv_archive *ar, int64_t mailbox, const char *uidl, int64_t message,
                              const char *flags, int64_t internaldate, int *added, mv_error *err);
/* The server no longer lists this UIDL: its location gets an expunged-at time. */
mv_status mv_archive_uidl_expunge(mv_archive *ar, int64_t mailbox, const char *uidl, int *changed,
                                  mv_error *err);

/* Runs record what each command did, for `status` and for post-mortems. */
mv_status mv_archive_run_begin(mv_archive *ar, int64_t account, const char *command, int64_t *run,
                               mv_error *err);
typedef struct mv_run_counts {
    int64_t messages_new;  /* blobs stored */
    int64_t locations_new; /* folder entries added */
    int64_t flag_changes;
    int64_t expunged;
    int64_t bytes; /* raw bytes of stored blobs */
    int64_t errors;
} mv_run_counts;
mv_status mv_archive_run_end(mv_archive *ar, int64_t run, const char *outcome,
                             const mv_run_counts *counts, const char *detail, mv_error *err);

/* 1 when an archive holding `messages` messages is due for a (new) dictionary: callers that
 * batch their commits end a batch then, so mv_archive_maybe_train can run early. */
int mv_archive_training_due(const mv_archive *ar, int64_t messages);

/* Trains a compression dictionary if the archive has grown enough since the last one (see
 * archive.c for the policy). Call between transactions. *trained is set to 1 when it did. */
mv_status mv_archive_maybe_train(mv_archive *ar, int *trained, mv_error *err);

/* --- Reading --- */

typedef struct mv_folder_info {
    const char *account;
    const char *name;
    int64_t messages;  /* locations not expunged */
    int64_t expunged;  /* locations the server deleted (still archived) */
    int64_t raw_bytes; /* sum of message sizes over all locations */
    int64_t stored_bytes;
} mv_folder_info;
typedef int (*mv_folder_cb)(void *ctx, const mv_folder_info *f);
mv_status mv_archive_folders(mv_archive *ar, mv_folder_cb cb, void *ctx, mv_error *err);

typedef struct mv_totals {
    int64_t messages; /* distinct stored messages */
    int64_t locations;
    int64_t raw_bytes;    /* distinct messages' sizes */
    int64_t stored_bytes; /* compressed bytes of distinct messages */
    int64_t with_dictionary;
    int64_t dictionaries;
    int64_t file_bytes; /* the database file with its WAL */
} mv_totals;
mv_status mv_archive_totals(mv_archive *ar, mv_totals *t, mv_error *err);

typedef struct mv_message_info {
    int64_t id;
    unsigned char sha256[MV_SHA256_LEN];
    int64_t size;
    int64_t date; /* Date: header, -1 unknown */
    const char *from;
    const char *to;
    const char *subject;
    const char *message_id;
    /* Location fields; for mv_archive_messages one row per location. */
    const char *folder;
    int64_t uidvalidity;
    int64_t uid;
    const char *flags;
    int64_t internaldate; /* -1 unknown */
    int64_t expunged_at;  /* 0 when still on the server */
} mv_message_info;
typedef int (*mv_message_cb)(void *ctx, const mv_message_info *m);

struct mv_query;
typedef struct mv_message_filter {
    const char *folder;           /* NULL: all folders */
    int include_expunged;         /* also locations deleted on the server */
    const struct mv_query *query; /* only messages matching this search (core/query.h) */
} mv_message_filter;
/* Locations in folder order then UID order. Returning nonzero from cb stops the walk. */
mv_status mv_archive_messages(mv_archive *ar, const mv_message_filter *f, mv_message_cb cb,
                              void *ctx, mv_error *err);
/* 1 if a folder of that name exists (in any account). */
mv_status mv_archive_folder_exists(mv_archive *ar, const char *folder, int *exists, mv_error *err);

typedef struct mv_damage {
    int64_t id;             /* 0 for damage not tied to one message */
    const char *sha256_hex; /* NULL when id == 0 */
    const char *problem;
} mv_damage;
typedef void (*mv_damage_cb)(void *ctx, const mv_damage *d);
/* Decompresses every message, recomputes its SHA-256 and size, runs PRAGMA integrity_check
 * and foreign_key_check. Calls cb for each problem; *checked counts messages read. Returns
 * MV_ERR_CORRUPT if anything is damaged. */
mv_status mv_archive_verify(mv_archive *ar, mv_damage_cb cb, void *ctx, int64_t *checked,
                            int64_t *damaged, mv_error *err);

#endif
