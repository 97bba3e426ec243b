/* mailvault: the full-text tokenizer, registered with SQLite FTS5 as "mailvault".
 *
 * It is unicode61 with remove_diacritics 2, plus what unicode61 misses for mail in the
 * languages our users write:
 *   - Vietnamese đ/Đ fold to d, so "da nang" finds "Đà Nẵng" and "dien tu" finds "điện tử";
 *   - Chinese, Japanese (kanji, hiragana, katakana) and Korean runs are split into
 *     overlapping two-character tokens (a single character stays one token), so a
 *     two-character word is found inside a sentence without spaces;
 *   - at index time (FTS5_TOKENIZE_DOCUMENT) each token whose lower-cased form differs from
 *     its folded form is also emitted, colocated (FTS5_TOKEN_COLOCATED), as "=" followed by
 *     the lower-cased form with its accents; a query string that starts with "=" is
 *     tokenized that way (lower-cased, accents kept, same CJK rule), each token with the
 *     "=" prefix. This lets a search rank exact-accent matches first without a second index.
 * Case is always folded. The tokenizer takes no arguments.
 */
#ifndef MV_FTS_H
#define MV_FTS_H

#include <sqlite3.h>

#include "error.h"

/* Registers the tokenizer on db (call once per connection, before the FTS5 table is used). */
mv_status mv_fts_register(sqlite3 *db, mv_error *err);

#endif
