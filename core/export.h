/* mailvault: `mailvault export` — archived mail back out as files.
 *
 * maildir: OUT/<folder>/{cur,new,tmp}, one file per message, flags in the file name, mtime
 *          set to the INTERNALDATE, so that importing OUT gives back the same archive.
 * eml:     OUT/<folder>/<id>.eml, one file per message, mtime = INTERNALDATE.
 * mbox:    OUT/<folder>.mbox in mboxrd form (From_ lines escaped with '>'), one per folder.
 * Folder hierarchy becomes directories; names are made safe for the file system (no "..",
 * no absolute paths). Message bytes are written exactly as archived; the one exception is
 * mbox, which cannot represent a message that does not end in a newline, so one is added
 * (and counted in the report).
 */
#ifndef MV_EXPORT_H
#define MV_EXPORT_H

#include <stdint.h>

#include "archive.h"
#include "error.h"

struct mv_query;

typedef enum { MV_EXPORT_MAILDIR, MV_EXPORT_MBOX, MV_EXPORT_EML } mv_export_format;

typedef struct mv_export_options {
    mv_export_format format;
    const char *out_dir;
    const char *folder;           /* NULL: every folder */
    int include_expunged;         /* also mail the server has deleted (default in the CLI) */
    const struct mv_query *query; /* only the messages matching this search, or NULL */
} mv_export_options;

typedef struct mv_export_report {
    int64_t messages; /* written */
    int64_t bytes;
    int64_t existing;      /* maildir/eml: already present in OUT, left alone */
    int64_t newline_added; /* mbox: messages that needed a final newline */
    int64_t folders;
} mv_export_report;

mv_status mv_export_run(mv_archive *ar, const mv_export_options *opt, mv_export_report *rep,
                        mv_error *err);

/* Turns a folder name ('/'-separated) into a relative path that cannot leave the output
 * directory: empty, "." and ".." components and control characters are escaped as %XX,
 * and so is '%' itself. Returns bytes written excluding NUL, or -1 if cap is too small. */
int mv_export_folder_path(const char *folder, char *out, size_t cap);

#endif
