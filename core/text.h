/* mailvault: the searchable text of a message, extracted with GMime.
 *
 * Everything comes out as UTF-8: headers decoded (RFC 2047 encoded words, RFC 2231
 * parameters), text/plain parts in their charset converted, text/html turned into text
 * (tags, <style> and <script> dropped, entities decoded), attachment file names and MIME
 * types, and embedded message/rfc822 parts (their headers and text) included. A message that
 * cannot be decoded in part still yields what could be; extraction never fails on bad input,
 * only on out-of-memory.
 */
#ifndef MV_TEXT_H
#define MV_TEXT_H

#include <stddef.h>

#include "error.h"

/* Caps keep a pathological message from making the index (and memory) explode; what is cut
 * is the tail of very long bodies, which search rarely needs. */
#define MV_TEXT_BODY_MAX (1024 * 1024)
#define MV_TEXT_FIELD_MAX (64 * 1024)

typedef struct mv_text {
    char *subject;     /* decoded Subject (of the message itself) */
    char *sender;      /* From, Sender, Reply-To: names and addresses, decoded */
    char *recipients;  /* To, Cc, Bcc (and Delivered-To, X-Original-To) */
    char *body;        /* text of text/plain and text/html parts, and of embedded messages */
    char *attachments; /* file names and MIME types of attachments, space-separated */
    int has_attachment; /* a part with a file name, or disposition attachment */
} mv_text;

/* Parses msg[0..len) (the message's exact bytes). Every field is a malloc'd NUL-terminated
 * UTF-8 string (possibly empty, never NULL) without NULs; release with mv_text_free. Needs
 * mv_mime_init (mime.h). Safe to call from several threads at once on different messages. */
mv_status mv_text_extract(const char *msg, size_t len, mv_text *out, mv_error *err);
void mv_text_free(mv_text *t);

/* HTML to plain text (exposed for tests): tags removed, <style>/<script>/<head> contents
 * dropped, block elements (p, br, div, li, tr, h1-6) become line breaks, character and
 * named entities (at least the HTML 4 set and all numeric forms) decoded. Input is UTF-8
 * (as converted from the part's charset); output is UTF-8, malloc'd. */
char *mv_text_from_html(const char *html, size_t len);

#endif
