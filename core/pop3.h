/* mailvault: `mailvault sync` for accounts with protocol = pop3.
 *
 * POP3 has one mailbox and no stable numbering, so the server's UIDL strings identify
 * messages: every message whose UIDL the archive has not recorded is fetched (RETR) and
 * filed under the account's `folder`, and a recorded UIDL the server no longer lists is
 * marked expunged, never removed. All protocol work goes through libcurl's own POP3
 * transfers on one easy handle, so one connection serves the whole run: LIST and UIDL (or,
 * for a server without UIDL, LIST and `TOP n 0` per message, identified by Message-ID,
 * Date and size), RETR by URL streamed into blob stages, DELE and QUIT as single-line
 * commands. Messages commit in batches, each with its UIDLs and the run record.
 *
 * Mail stays on the server unless delete_after_days = N (N >= 0): then, once every fetch
 * has committed, messages archived at least N days ago (N = 0: all archived ones, this
 * run's included) are marked with DELE and the deletions confirmed by QUIT. POP3 applies
 * deletions only at QUIT, so a run that fails before it (connection lost, or RSET on an
 * error we detect) leaves every message on the server.
 */
#ifndef MV_POP3_H
#define MV_POP3_H

#include "archive.h"
#include "error.h"
#include "sync.h"

/* Fills rep with one folder (the account's `folder`) once the server has been reached and
 * listed; its status and error say how the mailbox went. Returns MV_OK, or the status of
 * what failed: MV_ERR_CONFIG (credentials over plaintext refused), MV_ERR_CONNECT,
 * MV_ERR_TIMEOUT, MV_ERR_TLS, MV_ERR_AUTH, MV_ERR_PROTOCOL before the folder exists; after
 * that as mv_sync_run does (the connection statuses as they are, archive failures as
 * theirs, anything else MV_ERR_PARTIAL). rep is filled in every case and must be freed with
 * mv_sync_report_free. */
mv_status mv_pop3_run(mv_archive *ar, const mv_sync_options *opt, mv_sync_report *rep,
                      mv_error *err);

#endif
