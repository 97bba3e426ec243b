# Integration test: `mailvault sync` against a real Dovecot on 127.0.0.1.
. "$(dirname "$0")/../lib/common.sh" "$@"
. "$SRC/tests/lib/dovecot.sh"

D=$T/dovecot
mkdir -p "$D"
proxy=
finish() {
    [ -z "$proxy" ] || kill "$proxy" 2>/dev/null || true
    mv_dovecot_stop >/dev/null 2>&1 || true
    _mv_cleanup
}
trap finish EXIT
mv_dovecot_init "$D" >/dev/null
mv_dovecot_add_user alice secret
mv_dovecot_add_user bob hunter2
mv_dovecot_load_maildir alice "$SAMPLE/maildir"
mv_dovecot_start "$D" >/dev/null

export ALICE_PW=secret
A=$T/alice.sqlite
cat >"$T/config" <<EOF
[account alice]
host = 127.0.0.1
port = $MV_DOVECOT_IMAP_PORT
tls = none
allow_plaintext = yes
user = alice
password_env = ALICE_PW
archive = $A
EOF
chmod 600 "$T/config"
sync() { "$MV" --config "$T/config" "$@"; }
# Every message the server serves, by an independent client (Python's imaplib).
server_shas() { python3 "$SRC/tests/lib/imap_sha.py" 127.0.0.1 "$MV_DOVECOT_IMAP_PORT" alice secret | awk '{print $1}' | sort -u; }
folder_count() { "$MV" --archive "$A" list | awk -v f="$1" '$1 == f {print $2}'; }
json_field() { python3 -c "import json,sys; r=json.load(open(sys.argv[1]))[0]; f=[x for x in r['folders'] if x['name']==sys.argv[2]][0]; print(f[sys.argv[3]])" "$T/out" "$1" "$2"; }

# --- first sync: byte-exact against what the server serves ---
expect_exit 0 sync sync --json
[ "$(sha_set "$A")" = "$(server_shas)" ] || fail "archive differs from what the server serves"
[ "$(folder_count INBOX)" = 17 ] || fail "INBOX should hold 17"
[ "$(folder_count Archive.2019)" = 6 ] || fail "Archive.2019 should hold 6"
[ "$(json_field INBOX new)" = 17 ] || fail "JSON report: INBOX new"
# The message filed in two folders is stored once.
n=$("$MV" --archive "$A" stats | awk "/^messages:/ {print \$2}"); [ "$n" = 34 ] || fail "expected 34 distinct, got $n"
expect_exit 0 "$MV" --archive "$A" verify
# Flags came along (\Seen on most; one \Flagged).
"$MV" --archive "$A" list --messages --folder INBOX | awk '{print $5}' | grep -qx 'FS' || fail "flags not archived"
# Not a single \Seen was set by us: EXAMINE and BODY.PEEK only.
python3 "$SRC/tests/lib/imap_sha.py" 127.0.0.1 "$MV_DOVECOT_IMAP_PORT" alice secret --flags >"$T/flags-after"
[ "$(grep -c 'Seen' "$T/flags-after")" = "$(find "$SAMPLE/maildir" -path '*/cur/*' -name '*:2,*S*' | wc -l)" ] ||
    fail "the sync changed \\Seen flags on the server"
ok "first sync: every folder, byte-exact, deduplicated, flags kept, server untouched"

# --- nothing changed: every folder skipped from LIST-STATUS ---
expect_exit 0 sync sync --json
python3 -c "import json,sys; r=json.load(open(sys.argv[1]))[0]; assert all(f['unchanged'] for f in r['folders']), r" "$T/out" ||
    fail "a no-change resync should skip every folder"
ok "no-change resync skips every folder"

# --- add, delete, re-flag on the server, then resync ---
printf 'From: new@example.com\nSubject: added later\nMessage-ID: <added@example.com>\n\nhello\n' |
    mv_dovecot_doveadm save -u alice -m INBOX
printf 'From: new@example.com\nSubject: added later\nMessage-ID: <added2@example.com>\n\nhello again\n' |
    mv_dovecot_doveadm save -u alice -m INBOX
mv_dovecot_doveadm expunge -u alice mailbox INBOX uid 2
mv_dovecot_doveadm flags add -u alice '\Flagged' mailbox INBOX uid 3
mv_dovecot_doveadm flags remove -u alice '\Seen' mailbox Sent uid 1
expect_exit 0 sync sync --json
[ "$(json_field INBOX expunged)" = 1 ] || { cat "$T/out"; fail "expunge not seen"; }
[ "$(json_field INBOX flag_changes)" = 1 ] || { cat "$T/out"; fail "INBOX flag change not seen"; }
[ "$(json_field Sent flag_changes)" = 1 ] || { cat "$T/out"; fail "Sent flag change not seen"; }
[ "$(json_field INBOX new)" = 2 ] || fail "new mail not fetched"
# The deleted message is still archived, marked as deleted on the server.
"$MV" --archive "$A" list --messages --folder INBOX --expunged | grep -q "deleted on server" || fail "expunged message lost"
# ... and found by search, marked as such.
[ "$("$MV" --archive "$A" search --count is:expunged)" -ge 1 ] || fail "search is:expunged"
"$MV" --archive "$A" search is:expunged | grep -q "deleted on server" || fail "search does not mark deleted mail"
server_shas >"$T/now"
sha_set "$A" >"$T/have"
comm -23 "$T/now" "$T/have" | grep -q . && fail "archive misses messages the server has"
expect_exit 0 "$MV" --archive "$A" verify
ok "resync picks up new mail, an expunge (message kept) and flag changes"

# --- UIDVALIDITY reset: delete and recreate the folder on the server ---
before=$("$MV" --archive "$A" stats | awk '/^messages:/ {print $2}')
mkdir -p "$T/lists/cur" "$T/lists/new" "$T/lists/tmp"
cp "$SAMPLE"/maildir/.Lists.dev/cur/* "$SAMPLE"/maildir/.Lists.dev/new/* "$T/lists/cur/" 2>/dev/null || true
rm -f "$T/lists/cur/.keep"
mv_dovecot_doveadm mailbox delete -u alice Lists.dev
mv_dovecot_doveadm mailbox create -u alice Lists.dev
mv_dovecot_load_maildir alice "$T/lists" Lists.dev
expect_exit 0 sync sync --json
[ "$(json_field Lists.dev uidvalidity_changed)" = True ] || { cat "$T/out"; fail "UIDVALIDITY change not noticed"; }
[ "$(json_field Lists.dev stored)" = 0 ] || fail "refetched messages were stored twice"
[ "$("$MV" --archive "$A" stats | awk '/^messages:/ {print $2}')" = "$before" ] || fail "distinct count changed"
[ "$(folder_count Lists.dev)" = 6 ] || fail "Lists.dev should list 6 (no duplicates), got $(folder_count Lists.dev)"
expect_exit 0 "$MV" --archive "$A" verify
ok "UIDVALIDITY change: refetched, matched by content, nothing stored twice"

# --- the paths for servers without QRESYNC, or without CONDSTORE and LIST-STATUS ---
for mode in QRESYNC "CONDSTORE LIST-STATUS"; do
    M=$T/mode-${mode%% *}.sqlite
    expect_exit 0 "$MV" --config "$T/config" --archive "$M" sync
    uids=$(python3 "$SRC/tests/lib/imap_sha.py" 127.0.0.1 "$MV_DOVECOT_IMAP_PORT" alice secret --flags | awk '$1 == "Sent" {print $2}')
    first=$(echo "$uids" | head -1) second=$(echo "$uids" | sed -n 2p)
    mv_dovecot_doveadm expunge -u alice mailbox Sent uid "$first"
    mv_dovecot_doveadm flags add -u alice '$Label1' mailbox Sent uid "$second"
    printf 'From: x@example.com\nSubject: for %s\nMessage-ID: <%s@example.com>\n\nx\n' "$mode" "${mode%% *}" |
        mv_dovecot_doveadm save -u alice -m Sent
    MAILVAULT_IGNORE_CAPS="$mode" expect_exit 0 "$MV" --config "$T/config" --archive "$M" sync --json
    for field in new expunged flag_changes; do
        [ "$(json_field Sent $field)" = 1 ] || { cat "$T/out"; fail "without $mode: Sent $field should be 1"; }
    done
    server_shas >"$T/now"
    sha_set "$M" | comm -13 - "$T/now" | grep -q . && fail "without $mode: archive misses messages"
    MAILVAULT_IGNORE_CAPS="$mode" expect_exit 0 "$MV" --config "$T/config" --archive "$M" sync --json
    python3 -c "import json,sys; r=json.load(open(sys.argv[1]))[0]; assert sum(f['new']+f['flag_changes']+f['expunged'] for f in r['folders']) == 0, r" "$T/out" ||
        fail "without $mode: a second resync found changes that were already recorded"
done
ok "without QRESYNC (CHANGEDSINCE + SEARCH) and without CONDSTORE/LIST-STATUS (full flag diff): same results"

# --- a chosen SASL mechanism, and folder patterns ---
sed 's#archive = .*#archive = '"$T/login.sqlite"'#' "$T/config" >"$T/login"
printf 'auth = LOGIN\nexclude = Junk Trash "Lists*"\n' >>"$T/login"
expect_exit 0 "$MV" --config "$T/login" sync --json
python3 -c "import json,sys; n=[f['name'] for f in json.load(open(sys.argv[1]))[0]['folders']]; assert 'INBOX' in n and not any(x in ('Junk','Trash','Lists.dev') for x in n), n" "$T/out" ||
    fail "exclude patterns not applied"
ok "auth = LOGIN works; include/exclude patterns select folders"

# --- wrong password, plaintext refused, TLS verification ---
cat >"$T/bad" <<EOF
[account alice]
host = 127.0.0.1
port = $MV_DOVECOT_IMAP_PORT
tls = none
allow_plaintext = yes
user = alice
password_env = WRONG_PW
archive = $T/bad.sqlite
EOF
WRONG_PW=nope expect_exit 12 "$MV" --config "$T/bad" sync
grep -q "login failed" "$T/err" || { cat "$T/err"; fail "wrong password message"; }
grep -q "nope" "$T/err" && fail "the password appeared in an error message"
ok "wrong password: exit 12, password never printed"

sed -i '/allow_plaintext/d' "$T/bad"
WRONG_PW=secret expect_exit 9 "$MV" --config "$T/bad" sync
expect_one_line_error "without TLS"
ok "password over an unencrypted connection is refused by default: exit 9"

cat >"$T/tls" <<EOF
[account alice]
host = 127.0.0.1
port = $MV_DOVECOT_IMAPS_PORT
tls = imaps
user = alice
password_env = ALICE_PW
archive = $T/tls.sqlite
EOF
expect_exit 11 "$MV" --config "$T/tls" sync
grep -q "TLS failed" "$T/err" || { cat "$T/err"; fail "TLS failure message"; }
echo "ca_file = $MV_DOVECOT_CERT" >>"$T/tls"
expect_exit 0 "$MV" --config "$T/tls" sync
[ "$(sha_set "$T/tls.sqlite")" = "$(server_shas)" ] || fail "imaps sync differs"
sed -i "s/port = .*/port = $MV_DOVECOT_IMAP_PORT/; s/tls = imaps/tls = starttls/" "$T/tls"
rm -f "$T/tls.sqlite"*
expect_exit 0 "$MV" --config "$T/tls" sync
[ "$(sha_set "$T/tls.sqlite")" = "$(server_shas)" ] || fail "STARTTLS sync differs"
ok "self-signed certificate rejected (exit 11), accepted with ca_file; imaps and STARTTLS"

# --- dry run: says what it would fetch, writes nothing ---
expect_exit 0 sync sync   # bring the archive up to date first
cp "$A" "$T/dry.sqlite"
printf 'From: x@example.com\nSubject: dry\nMessage-ID: <dry@example.com>\n\nx\n' | mv_dovecot_doveadm save -u alice -m Sent
before=$(fingerprint "$T/dry.sqlite")
expect_exit 0 "$MV" --config "$T/config" --archive "$T/dry.sqlite" sync --dry-run --json
[ "$(json_field Sent new)" = 1 ] || { cat "$T/out"; fail "dry run should report 1 new in Sent"; }
[ "$(fingerprint "$T/dry.sqlite")" = "$before" ] || fail "dry run changed the archive"
ok "--dry-run reports what would be fetched and changes nothing"

# --- volume: SIGKILL at random moments, then resync ---
python3 "$SRC/tests/lib/make_maildir.py" "$T/bulk" 3000 --seed 7 --body-bytes 3000
cat >"$T/bob" <<EOF
[account bob]
host = 127.0.0.1
port = $MV_DOVECOT_IMAP_PORT
tls = none
allow_plaintext = yes
user = bob
password_env = BOB_PW
archive = $T/bob.sqlite
connections = 2
EOF
export BOB_PW=hunter2
mv_dovecot_load_maildir bob "$T/bulk"
mv_dovecot_load_maildir bob "$SAMPLE/maildir/.Sent" Sent
bob_shas() { python3 "$SRC/tests/lib/imap_sha.py" 127.0.0.1 "$MV_DOVECOT_IMAP_PORT" bob hunter2 | awk '{print $1}' | sort -u; }
kills=0
for delay in 0.15 0.3 0.05 0.5 0.2; do
    "$MV" --config "$T/bob" sync >/dev/null 2>&1 &
    pid=$!
    sleep "$delay"
    kill -9 "$pid" 2>/dev/null && kills=$((kills + 1))
    wait "$pid" 2>/dev/null || true
done
expect_exit 0 "$MV" --config "$T/bob" sync
[ "$(sha_set "$T/bob.sqlite")" = "$(bob_shas)" ] || fail "after SIGKILLs the archive differs from the server"
n_loc=$("$MV" --archive "$T/bob.sqlite" list --sha256 | wc -l)
[ "$n_loc" = 3006 ] || fail "expected 3006 folder entries after kills, got $n_loc (duplicates?)"
expect_exit 0 "$MV" --archive "$T/bob.sqlite" verify
# The search index agrees with the stored messages: nothing left to index, all searchable.
expect_exit 0 "$MV" --archive "$T/bob.sqlite" reindex
grep -q "indexed 0 messages" "$T/out" || fail "after SIGKILLs some messages are not indexed"
[ "$("$MV" --archive "$T/bob.sqlite" search --count "seed 7")" = 3000 ] || fail "search after SIGKILLs"
ok "SIGKILL mid-sync ($kills kills) then resync: exact, no duplicates, verifies, index complete"

# --- a connection cut mid-fetch, then resync ---
python3 "$SRC/tests/lib/cutproxy.py" "$T/proxy.port" "$MV_DOVECOT_IMAP_PORT" --cut-after-bytes 300000 &
proxy=$!
for _ in $(seq 50); do [ -s "$T/proxy.port" ] && break; sleep 0.1; done
sed "s/port = .*/port = $(cat "$T/proxy.port")/; s#archive = .*#archive = $T/cut.sqlite#" "$T/bob" >"$T/cut"
rc=1
for attempt in $(seq 1 15); do
    rc=0
    "$MV" --config "$T/cut" sync >/dev/null 2>"$T/cut.err" || rc=$?
    [ $rc = 0 ] && break
    [ $rc = 3 ] || [ $rc = 10 ] || { cat "$T/cut.err"; fail "unexpected exit $rc through the cutting proxy"; }
done
kill "$proxy" 2>/dev/null || true
[ $rc = 0 ] || { cat "$T/cut.err"; fail "sync through the cutting proxy never completed"; }
[ "$(sha_set "$T/cut.sqlite")" = "$(bob_shas)" ] || fail "after cuts the archive differs from the server"
[ "$("$MV" --archive "$T/cut.sqlite" list --sha256 | wc -l)" = 3006 ] || fail "duplicates after cuts"
expect_exit 0 "$MV" --archive "$T/cut.sqlite" verify
ok "connections cut every 300 KB: retried and resumed, exact, no duplicates (attempts: $attempt)"

# --- the shared real-world corpus, when present: served by Dovecot, synced byte-exactly ---
if [ -d "$SHARED/corpus" ]; then
    mkdir -p "$T/cm/cur" "$T/cm/new" "$T/cm/tmp"
    i=0
    while read -r file; do
        i=$((i + 1))
        cp "$file" "$T/cm/cur/$i.corpus:2,S"
    done < <(find "$SHARED/corpus" -type f ! -name README | sort)
    mv_dovecot_add_user carol corpus-pw
    mv_dovecot_load_maildir carol "$T/cm"
    cat >"$T/carol" <<CONF
[account carol]
host = 127.0.0.1
port = $MV_DOVECOT_IMAP_PORT
tls = none
allow_plaintext = yes
user = carol
password_env = CAROL_PW
archive = $T/carol.sqlite
CONF
    CAROL_PW=corpus-pw expect_exit 0 "$MV" --config "$T/carol" sync
    python3 "$SRC/tests/lib/imap_sha.py" 127.0.0.1 "$MV_DOVECOT_IMAP_PORT" carol corpus-pw | awk '{print $1}' | sort -u >"$T/carol-server"
    [ "$(sha_set "$T/carol.sqlite")" = "$(cat "$T/carol-server")" ] || fail "corpus sync differs from what the server serves"
    expect_exit 0 "$MV" --archive "$T/carol.sqlite" verify
    ok "../shared/corpus served by Dovecot: synced byte-exactly ($(wc -l <"$T/carol-server") messages)"
else
    echo "skip - ../shared/corpus not present"
fi

echo "imap_sync: $TESTS_RUN checks passed"
