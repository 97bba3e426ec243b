/* mailvault: a streaming parser for IMAP server responses (RFC 3501 / RFC 9051).
 *
 * Push-driven: the connection feeds whatever bytes it received, split anywhere, and the
 * parser calls back once per complete response. It honours {N} literals and ~{N} literal8
 * and never looks for a line end inside one. Literals can be streamed: a message body of
 * 50 MB goes to the callback in pieces and never sits in memory; everything else of a
 * response is kept in a small tree that lives until the callback returns.
 */
#ifndef MV_IMAP_PARSE_H
#define MV_IMAP_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef enum {
    MV_IMAP_ATOM,    /* includes flags (\Seen), BODY[...] section atoms, sequence sets */
    MV_IMAP_NUMBER,  /* an atom of digits only, value in num (str also set) */
    MV_IMAP_STRING,  /* a quoted string or an inline literal (str/len, may hold NULs) */
    MV_IMAP_NIL,
    MV_IMAP_LIST,    /* parenthesised list: items[0..n) */
    MV_IMAP_STREAMED /* a literal whose bytes went to on_literal_data; cookie and size set */
} mv_imap_type;

typedef struct mv_imap_value {
    mv_imap_type type;
    const char *str; /* NUL-terminated (ATOM, NUMBER, STRING) */
    size_t len;
    uint64_t num;    /* NUMBER; STREAMED: the literal's size */
    uint64_t cookie; /* STREAMED: what on_literal_begin returned */
    const struct mv_imap_value *items;
    size_t n;
} mv_imap_value;

typedef enum {
    MV_IMAP_RESP_UNTAGGED, /* "* ..." */
    MV_IMAP_RESP_TAGGED,   /* "A0001 OK ..." */
    MV_IMAP_RESP_CONTINUE  /* "+ ..." */
} mv_imap_resp_kind;

typedef enum {
    MV_IMAP_NONE = 0, /* not a status response (e.g. "* 3 EXISTS", "* LIST ...") */
    MV_IMAP_OK,
    MV_IMAP_NO,
    MV_IMAP_BAD,
    MV_IMAP_BYE,
    MV_IMAP_PREAUTH
} mv_imap_status;

typedef struct mv_imap_response {
    mv_imap_resp_kind kind;
    const char *tag;      /* TAGGED only */
    mv_imap_status status;
    /* Status responses: the response code, e.g. "[UIDVALIDITY 3857529045]" gives code
     * "UIDVALIDITY" (upper-cased) and code_args a LIST holding NUMBER 3857529045 (an empty
     * LIST for "[READ-ONLY]"). A code whose arguments do not tokenise keeps everything up to
     * ']' as code_args of type STRING instead. Both NULL without a code. */
    const char *code;
    const mv_imap_value *code_args;
    const char *text;     /* human-readable text of status and continuation responses, else "" */
    /* Data responses: "* 12 FETCH (...)" has number 12 (has_number 1) and keyword "FETCH";
     * "* LIST (\HasNoChildren) "/" INBOX" has keyword "LIST". Keywords are upper-cased; a
     * status response has its status word ("OK", "BYE") as keyword, a continuation "". */
    int has_number;
    uint64_t number;
    const char *keyword;
    const mv_imap_value *data; /* a LIST of the tokens after the keyword (never NULL) */
} mv_imap_response;

typedef struct mv_imap_callbacks {
    void *ctx;
    /* One complete response; everything it points to is valid only during the call.
     * Returning anything but MV_OK stops mv_imap_parser_feed with that status. */
    mv_status (*on_response)(void *ctx, const mv_imap_response *r, mv_error *err);
    /* A literal of size bytes starts. key is the atom just before it in the enclosing list
     * (e.g. "BODY[]" or "BINARY[1]"), or NULL; number is the message number of an untagged
     * FETCH, else 0. Return 1 to stream it (then on_literal_data gets its bytes in pieces and
     * on_literal_end follows; the tree holds a STREAMED value carrying *cookie), or 0 to keep
     * it inline as a STRING. NULL callback: every literal is inline. */
    int (*on_literal_begin)(void *ctx, const char *key, uint64_t number, uint64_t size,
                            uint64_t *cookie);
    mv_status (*on_literal_data)(void *ctx, const void *data, size_t len, mv_error *err);
    mv_status (*on_literal_end)(void *ctx, mv_error *err);
} mv_imap_callbacks;

typedef struct mv_imap_limits {
    uint64_t max_inline_literal; /* default 1 MiB: larger non-streamed literals are an error */
    size_t max_response;         /* default 64 MiB of non-streamed bytes per response */
    int max_depth;               /* default 64 levels of nested lists */
} mv_imap_limits;

typedef struct mv_imap_parser mv_imap_parser;

/* limits may be NULL for the defaults. NULL on out-of-memory. */
mv_imap_parser *mv_imap_parser_new(const mv_imap_callbacks *cb, const mv_imap_limits *limits);
void mv_imap_parser_free(mv_imap_parser *p);

/* Consumes all len bytes, calling back for each complete response. A malformed response is
 * MV_ERR_PROTOCOL with a one-line message quoting (sanitised, shortened) what was wrong; the
 * parser is then unusable. Limits exceeded are MV_ERR_PROTOCOL too. */
mv_status mv_imap_parser_feed(mv_imap_parser *p, const void *data, size_t len, mv_error *err);

/* 1 between responses (nothing partial buffered), 0 in the middle of one. */
int mv_imap_parser_idle(const mv_imap_parser *p);

/* Convenience for reading trees. */
/* Case-insensitive comparison of an ATOM/NUMBER/STRING value with s. */
int mv_imap_value_is(const mv_imap_value *v, const char *s);
/* In a LIST of key/value pairs such as a FETCH response, the value after key (case-insensitive),
 * or NULL. */
const mv_imap_value *mv_imap_list_find(const mv_imap_value *list, const char *key);

#endif
