/* mailvault: reading local mail for `mailvault import`.
 *
 * A source walks one path (a Maildir, a tree of Maildirs with Maildir++ subfolders, a
 * directory of message files, an mbox file, or a single message file) and yields one
 * message at a time with the folder it belongs to and its flags. Message bytes are read in
 * pieces so that a 50 MB message never sits in memory.
 *
 * Folder names use '/' as the hierarchy delimiter:
 *   PATH itself (a Maildir, or loose files directly in PATH)   -> "INBOX"
 *   PATH/.Lists.kernel (Maildir++ subfolder of a root Maildir) -> "Lists/kernel"
 *   PATH/Archive/2019 (plain subdirectories, Maildir or not)    -> "Archive/2019"
 *   PATH/Sent/cur/... and PATH/Sent/new/...                   -> "Sent"
 *   an mbox file PATH/lists/foo.mbox found in a tree           -> "lists/foo"
 *   PATH is an mbox file or a single message file             -> basename without
 *                                                                ".mbox"/".mbx"/".eml", or
 *                                                                the prefix when one is given
 * With opt->folder_prefix set, every name becomes prefix + "/" + name, and the root "INBOX"
 * becomes prefix itself.
 */
#ifndef MV_SOURCE_H
#define MV_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef enum {
    MV_MBOX_RD = 0, /* mboxrd: ">From ", ">>From " ... lose one '>' (default) */
    MV_MBOX_O       /* mboxo: only ">From " loses its '>' */
} mv_mbox_variant;

typedef struct mv_source_options {
    mv_mbox_variant mbox_variant;
    const char *folder_prefix; /* NULL for the names described above */
} mv_source_options;

typedef struct mv_source mv_source;

typedef struct mv_source_msg {
    const char *folder;     /* UTF-8, '/'-delimited, see above */
    const char *path;       /* the file this message comes from (for messages and errors) */
    int64_t offset;         /* byte offset of the message in path (of its From_ line in an mbox) */
    const char *flags;      /* IMAP flags, space-separated in the fixed order
                               \Answered \Flagged \Deleted \Seen \Draft $Forwarded; "" for none */
    int64_t internaldate;   /* mbox: From_ line date; files: mtime; -1 when unknown */
    int64_t size;           /* exact size of the message bytes mv_source_read will return */
} mv_source_msg;

mv_status mv_source_open(const char *path, const mv_source_options *opt, mv_source **out,
                         mv_error *err);

/* Advances to the next message and sets *msg (valid until the next call), or sets *msg to NULL
 * at the end. A file that cannot be read or is not mail, or an mbox that is truncated, returns
 * MV_ERR_INPUT with a one-line message naming the file; nothing from a bad mbox is yielded.
 * After such an error the caller may call mv_source_next again to go on with the next file. */
mv_status mv_source_next(mv_source *src, const mv_source_msg **msg, mv_error *err);

/* Reads the next piece of the current message's exact bytes (for an mbox: unescaped, without
 * the From_ line and without the separating blank line). *got == 0 means the end. */
mv_status mv_source_read(mv_source *src, void *buf, size_t cap, size_t *got, mv_error *err);

/* Starts the current message's bytes again from the first byte. */
mv_status mv_source_rewind(mv_source *src, mv_error *err);

void mv_source_close(mv_source *src);

/* Maildir file-name flags (the letters after ":2,") to IMAP flags in the order above,
 * and back (letters sorted as the Maildir spec asks). Unknown letters are dropped.
 * Both return the number of bytes written excluding the NUL, or -1 if cap is too small. */
int mv_source_flags_from_maildir(const char *letters, char *out, size_t cap);
int mv_source_flags_to_maildir(const char *flags, char *out, size_t cap);

#endif
