# Integration test: full-text search on the project's sample (and ../shared/corpus when present).
. "$(dirname "$0")/../lib/common.sh" "$@"

A=$T/s.sqlite
expect_exit 0 "$MV" --archive "$A" import "$SAMPLE/maildir" "$SAMPLE/old-mail.mbox"
count() { "$MV" --archive "$A" search --count "$@"; }
subjects() { "$MV" --archive "$A" search --json --limit 0 "$@" | python3 -c 'import json,sys; print("\n".join(sorted(h["subject"] for h in json.load(sys.stdin))))'; }
expect_count() {
    local want=$1; shift
    local got
    got=$(count "$@") || fail "search $* failed"
    [ "$got" = "$want" ] || fail "search '$*': expected $want, got $got"
}

# --- every operator, with result sets known from the sample's README ---
expect_count 3 "da nang"                 # Vietnamese, without accents
expect_count 3 "Đà Nẵng"                 # ... and with them
expect_count 3 "dien tu"
expect_count 2 "会議"                     # Japanese (ISO-2022-JP), two-character word
expect_count 2 "議事録"
expect_count 1 "отчет"                   # Russian (KOI8-R), ё folded
expect_count 2 "zurich"                  # Latin-1
expect_count 5 "from:bob"
expect_count 1 "attachment:pdf"
expect_count 1 'attachment:"báo-cáo.txt"'  # RFC 2231 file name
expect_count 6 "has:attachment"
expect_count 1 "size:>100k"
expect_count 6 "folder:Sent"
expect_count 6 "folder:Lists*"
expect_count 4 "subject:offsite -from:carol"
expect_count 4 "subject:offsite NOT from:carol"
expect_count 2 'body:"A004 OK done"'
expect_count 3 "(offsite OR budget) from:carol"
expect_count 1 "id:20200422183000.7c21.tanaka@mail.example.jp"
expect_count 1 "id:<20200422183000.7c21.tanaka@mail.example.jp>"
expect_count 11 "date:2019"
expect_count 0 "date:2030.."
expect_count 40 ""
[ "$(count 'quart*')" -ge 2 ] || fail "prefix search"
[ "$(count 'is:unread')" -gt 0 ] && [ "$(count 'is:unread')" -lt 40 ] || fail "is:unread"
[ "$(($(count 'is:unread') + $(count 'is:read')))" -ge 40 ] || fail "is:read + is:unread"
[ "$(count is:flagged)" -ge 2 ] || fail "is:flagged"
ok "words, phrases, prefixes, fields, dates, sizes, flags, folders, ids, AND/OR/NOT"

# HTML-only mail: found by its text, never by its markup or script.
expect_count 1 "Lausanne Riviera"
expect_count 0 "trackingId OR openOffer OR wrapper OR Georgia"   # script and style only
subjects "Genève" | grep -q "Spring offers" || fail "HTML entity text not indexed"
ok "HTML-only mail indexed as text (entities decoded, style and script dropped)"

# Accented matches rank first; results otherwise newest first.
first=$("$MV" --archive "$A" search --json "Đà Nẵng" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r[0]["exact"], r[-1]["exact"])')
[ "$first" = "True False" ] || fail "exact-accent matches should come first ($first)"
"$MV" --archive "$A" search --json --limit 0 "" | python3 -c '
import json, sys
d = [h["date"] for h in json.load(sys.stdin) if h["date"]]
assert d == sorted(d, reverse=True), "not newest first"' || fail "results not newest first"
ok "exact-accent matches first, then newest first"

# Output forms.
expect_exit 0 "$MV" --archive "$A" search --output=ids "from:bob"
[ "$(wc -l <"$T/out")" = 5 ] || fail "--output=ids"
id=$(head -1 "$T/out")
expect_exit 0 "$MV" --archive "$A" show "$id"
grep -q "^From: " "$T/out" || fail "show (decoded) lacks From:"
expect_exit 0 "$MV" --archive "$A" search --limit 2 "from:bob"
[ "$(grep -c '^ *[0-9]' "$T/out")" = 2 ] || fail "--limit"
expect_exit 0 "$MV" --archive "$A" export --format mbox --out "$T/exp" --query "from:bob"
[ "$(cat "$T"/exp/*.mbox "$T"/exp/*/*.mbox 2>/dev/null | grep -c '^From ')" = 5 ] || fail "export --query"
ok "--output=ids, --limit, show, export --query"

# Bad queries: one line, the problem and where; never SQL; nothing injected.
expect_exit 2 "$MV" --archive "$A" search "(budget OR offsite"
expect_one_line_error "unbalanced"
expect_exit 2 "$MV" --archive "$A" search "form:bob"
expect_one_line_error "did you mean from:"
expect_exit 2 "$MV" --archive "$A" search 'size:>lots'
expect_exit 2 "$MV" --archive "$A" search 'date:2019-13'
grep -qi "sql" "$T/err" && fail "a query error mentions SQL"
expect_count 0 "folder:\"x' OR 1=1 --\""
expect_exit 2 "$MV" --archive "$A" search "'); DROP TABLE messages; --"
expect_exit 0 "$MV" --archive "$A" verify
ok "malformed queries: one-line errors with positions; injection attempts harmless"

# The index is kept in step: a reindex finds nothing missing; --all rebuilds the same.
expect_exit 0 "$MV" --archive "$A" reindex
grep -q "indexed 0 messages" "$T/out" || fail "import left messages unindexed"
expect_exit 0 "$MV" --archive "$A" reindex --all
grep -q "indexed 40 messages" "$T/out" || fail "reindex --all"
expect_count 3 "da nang"
ok "import indexes as it stores; reindex --all rebuilds the same index"

if [ -d "$SHARED/corpus" ]; then
    C=$T/corpus.sqlite
    "$MV" --archive "$C" import -q "$SHARED/corpus" 2>/dev/null || true
    n=$("$MV" --archive "$C" search --count "notmuch")
    [ "$n" -gt 20 ] || fail "corpus: 'notmuch' found only $n"
    [ "$("$MV" --archive "$C" search --count 'from:"Carl Worth"')" -gt 5 ] || fail "corpus: from:\"Carl Worth\""
    [ "$("$MV" --archive "$C" search --count 'attachment:patch OR attachment:diff')" -ge 1 ] || fail "corpus: attachments"
    [ "$("$MV" --archive "$C" search --count 'hunter2')" -ge 1 ] || fail "corpus: HTML text"
    [ "$("$MV" --archive "$C" search --count 'swordfish')" = 0 ] || fail "corpus: HTML attribute indexed"
    [ "$("$MV" --archive "$C" search --count 'date:2009..2010')" -gt 20 ] || fail "corpus: dates"
    expect_exit 0 "$MV" --archive "$C" reindex
    grep -q "indexed 0 messages" "$T/out" || fail "corpus: unindexed messages"
    ok "../shared/corpus: words, senders, attachments, HTML, dates"
else
    echo "skip - ../shared/corpus not present"
fi

echo "search: $TESTS_RUN checks passed"
