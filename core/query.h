/* mailvault: the search query language, compiled to SQL.
 *
 * Familiar to notmuch and mu users:
 *   bare words (AND), "phrases", OR, NOT and -term, parentheses, prefix*,
 *   from: to: (To/Cc/Bcc) subject: body: attachment: (file name or MIME type),
 *   folder:NAME (glob, * and ?), account:NAME,
 *   date:2019..2020-06-30, date:2019-03, before:DATE, after:DATE
 *     (DATE: YYYY, YYYY-MM, YYYY-MM-DD; also today, yesterday, Nd/Nw/Nm/Ny ago as 7d, 2w...),
 *   is:unread|read|flagged|answered|draft|expunged (expunged: deleted on the server),
 *   has:attachment, size:>1M size:<10k size:100k..2M (k/M/G = 1024 multiples),
 *   id:MESSAGE-ID (with or without <>).
 * Field values may be quoted: subject:"quarterly report", folder:"Sent Items".
 * Operator precedence: NOT binds tightest, then AND (explicit or implicit), then OR.
 *
 * Details:
 *   - OR, AND, NOT are operators only in upper case ("or" is a word, as in notmuch); -term
 *     is NOT term when the '-' starts a word. A lone * matches every message.
 *   - Quotes: "..." is a phrase; a '"' inside is written "" ("say ""hi"""); backslash is an
 *     ordinary character. A '"' inside a bare word is part of it (a"b is one word). A
 *     quote opens only at the start of a word or right after field:. "phrase"* is a prefix
 *     phrase (the last word is a prefix).
 *   - Bare words and unquoted values end at white space, '(' or ')'; quote a value that has
 *     them (folder:"Work (old)"). Letters then ':' start a field: an unknown one is an
 *     error (quote it to search for the text: "re:").
 *   - Field names and is:/has: values ignore case; folder names and globs do not, except
 *     that folder:inbox means INBOX. In folder: only * and ? are wildcards ([ is literal,
 *     so folder:"[Gmail]/All Mail" is exact). account: is exact.
 *   - Dates are UTC. A date names a period: 2019 (the year), 2019-03 (the month),
 *     2019-03-15 (the day), today, yesterday. date:D is that period; date:A..B runs from the
 *     start of A to the end of B; date:A.. and date:..B are open. before:D is before the
 *     start of D; after:D is on or after the start of D (after:2019-03 includes March 1),
 *     so before:D and after:D split the archive in two. Nd, Nw, Nm, Ny (7d, 2w, 3m, 1y; m
 *     and y by the calendar) name the instant that long before now: date:7d and after:7d
 *     mean the last seven days, before:7d older than that. Messages without a date match
 *     no date term (and so do match -date:...).
 *   - size:N is exactly N bytes; size:>N, <N, >=N, <=N; size:N..M is inclusive, N.. and
 *     ..M are open. Suffixes k, M, G (any case, optional B) are 1024 multiples; a fraction
 *     needs one (1.5M = 1572864 bytes, rounded to the byte).
 *   - is:read/unread/flagged/answered/draft look at the flags of the message's current
 *     copies on the server (not superseded, not expunged): is:unread is a copy without \Seen.
 *     is:expunged is a copy that was deleted on the server (the message may remain in
 *     another folder). folder: and account: also count expunged copies.
 *   - A query is at most 16384 bytes, 256 terms, and 32 levels of parentheses and NOTs.
 *
 * The compiled form is an SQL boolean expression over the alias m (the messages table) to be
 * used as `SELECT ... FROM messages m WHERE <expr>`, with every user-supplied value bound as a
 * parameter (?1 .. ?N in the order they appear in the SQL, which may differ from the order of
 * the query), so no query can inject SQL. Full-text leaves become
 * `m.id IN (SELECT rowid FROM search WHERE search MATCH ?k)` (the full-text terms of one AND
 * or OR are merged into one such leaf) where the bound value is an FTS5 expression built with every
 * user term quoted as an FTS5 string (so no query can inject FTS5 syntax either), with column
 * filters {subject} {sender} {recipients} {body} {attachments}. Metadata leaves use the schema in
 * storage/archive.c: messages (id, size, date, message_id, has_attachment), locations l (message,
 * mailbox, flags, expunged_at, superseded_at), mailboxes b (id, account, name), accounts a (id,
 * name); flags are space-separated IMAP flags such as "\Seen \Flagged".
 */
#ifndef MV_QUERY_H
#define MV_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef struct mv_query mv_query;

typedef struct mv_query_param {
    int is_int;
    int64_t i;
    const char *s;
} mv_query_param;

/* now: the current time (seconds since the epoch, UTC), for relative dates. A malformed
 * query is MV_ERR_USAGE with a one-line message that names the problem and its position,
 * e.g. `query: unbalanced ")" at character 14` or `query: unknown field "form:" at
 * character 1 (did you mean from:?)`. An empty query matches everything. */
mv_status mv_query_parse(const char *text, int64_t now, mv_query **out, mv_error *err);
void mv_query_free(mv_query *q);

const char *mv_query_where(const mv_query *q);
size_t mv_query_nparams(const mv_query *q);
const mv_query_param *mv_query_param_at(const mv_query *q, size_t i);

/* For ranking: an FTS5 expression matching the messages that contain the query's accented
 * words exactly (with the "=" tokens of storage/fts.h), or NULL when the query has none.
 * Only positive terms count; each accented word is one "=word" string, ORed (a phrase is
 * split into its words: "=l =été" could never match, as "=l" is never indexed).
 * Meant for `ORDER BY m.id IN (SELECT rowid FROM search WHERE search MATCH ?) DESC`. */
const char *mv_query_exact(const mv_query *q);

/* The positive free-text words and phrases of the query (not those under NOT; fielded ones
 * such as subject:x included), for highlighting snippets: as typed without quotes, a
 * prefix term with its trailing '*', each once. */
size_t mv_query_nterms(const mv_query *q);
const char *mv_query_term(const mv_query *q, size_t i);

#endif
