/* mailvault: what the archive needs to know about a message, extracted with GMime.
 *
 * Only the header section is parsed here: the listing columns (Date, From, To, Subject,
 * Message-ID) never need the body, and streaming sync must not hold whole messages in memory.
 * Full-text extraction of bodies is a separate concern (the search index).
 */
#ifndef MV_MIME_H
#define MV_MIME_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* GMime keeps process-wide tables; cmd/ calls these once around everything else. */
void mv_mime_init(void);
void mv_mime_shutdown(void);

typedef struct mv_mime_summary {
    int64_t date;     /* Date: as seconds since the epoch (UTC); -1 when absent or unparsable */
    char *from;       /* decoded UTF-8, e.g. "Nguyễn Văn A <a@example.vn>"; NULL when absent */
    char *to;         /* decoded UTF-8, addresses joined with ", "; NULL when absent */
    char *subject;    /* decoded UTF-8 (RFC 2047), unfolded; NULL when absent */
    char *message_id; /* without angle brackets; NULL when absent */
} mv_mime_summary;

/* Parses the header section in buf[0..len) (it may also contain the start of the body, which is
 * ignored). Never fails on malformed headers: what cannot be decoded is left NULL/-1 or kept
 * as raw UTF-8-sanitised text. Fails only on out-of-memory. Every string in *out is valid
 * UTF-8 with no control characters other than tab. Release with mv_mime_summary_free. */
mv_status mv_mime_summarize(const char *buf, size_t len, mv_mime_summary *out, mv_error *err);
void mv_mime_summary_free(mv_mime_summary *s);

/* Length of the header section in buf: the offset just past the blank line that ends it
 * ("\n\n" or "\r\n\r\n"), or len if no blank line is within buf. */
size_t mv_mime_header_length(const char *buf, size_t len);

#endif
