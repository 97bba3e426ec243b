# Integration test: `mailvault sync` of a POP3 account against a real Dovecot on 127.0.0.1.
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
mv_dovecot_load_maildir alice "$SAMPLE/maildir" # INBOX: 17 messages
mv_dovecot_start "$D" >/dev/null

# Mail that tests the byte-stuffing: lines that start with "." and "..", lone "." lines
# (one of them the last line), and a message without a final newline.
printf '%s\n' 'From: Dot Tester <dots@example.com>' 'To: alice@example.com' \
    'Subject: lines that start with dots' 'Message-ID: <dots@example.com>' \
    'Date: Mon, 02 Mar 2020 10:00:00 +0000' '' '.' '..' '...' '.hidden line' \
    '..two dots' '. a space after the dot' 'x.' '.' 'the line above is a lone dot' '' '.' |
    mv_dovecot_doveadm save -u alice -m INBOX
printf 'From: nonl@example.com\nSubject: no final newline\nMessage-ID: <nonl@example.com>\n\nlast line.\n.' |
    mv_dovecot_doveadm save -u alice -m INBOX
# Dovecot 2.3 sends a message's first line without byte-stuffing; mailvault must still
# store the leading "." (RFC 5322 allows it in a field name).
printf '.x-first: a header line that starts with a dot\nFrom: first@example.com\nSubject: first line dot\n\nbody\n' |
    mv_dovecot_doveadm save -u alice -m INBOX

export ALICE_PW=secret
A=$T/alice.sqlite
# pop3conf FILE [KEY=VALUE...]: a POP3 account for alice; later keys replace earlier ones.
pop3conf() {
    local f=$1 kv
    shift
    {
        echo "[account alice]"
        for kv in protocol=pop3 host=127.0.0.1 "port=$MV_DOVECOT_POP3_PORT" tls=none \
            allow_plaintext=yes user=alice password_env=ALICE_PW "archive=$A" "$@"; do
            echo "${kv%%=*} = ${kv#*=}"
        done
    } | awk -F' = ' '{ if ($1 in seen) lines[seen[$1]] = $0; else { seen[$1] = NR; lines[NR] = $0 } }
                     END { for (i = 1; i <= NR; i++) if (i in lines) print lines[i] }' >"$f"
    chmod 600 "$f"
}
pop3conf "$T/config"
# What the server serves, by an independent client (Python's poplib), cross-checked
# against the bytes Dovecot serves over IMAP for the same messages.
server_shas() {
    python3 "$SRC/tests/lib/pop3_sha.py" 127.0.0.1 "$MV_DOVECOT_POP3_PORT" alice secret \
        --imap-port "$MV_DOVECOT_IMAP_PORT" | awk '{print $1}' | sort -u
}
server_count() { python3 "$SRC/tests/lib/pop3_sha.py" 127.0.0.1 "$MV_DOVECOT_POP3_PORT" alice secret --stat | awk '{print $1}'; }
field() { python3 -c "import json,sys; r=json.load(open(sys.argv[1]))[0]; f=r['folders'][0] if r['folders'] else {}; print(r[sys.argv[2]] if sys.argv[2] in r else f[sys.argv[2]])" "$T/out" "$1"; }
expect_fields() { # NAME=VALUE...: the first folder of the last --json report
    local kv got
    for kv in "$@"; do
        got=$(field "${kv%%=*}")
        [ "$got" = "${kv#*=}" ] || { cat "$T/out" "$T/err" >&2; fail "report: ${kv%%=*} is $got, expected ${kv#*=}"; }
    done
}

# --- (a) first fetch: byte-exact against what the server serves ---
total=$(server_count)
[ "$total" = 20 ] || fail "the server should hold 20 messages, holds $total"
expect_exit 0 "$MV" --config "$T/config" sync --json
expect_fields status=ok name=INBOX new=20 stored=20 expunged=0 deleted=0 uidl_fallback=False
server_shas >"$T/server.set" || fail "the POP3 reference differs from the IMAP bytes"
[ "$(sha_set "$A")" = "$(cat "$T/server.set")" ] || {
    diff "$T/server.set" <(sha_set "$A") >&2
    fail "archive differs from what the server serves"
}
expect_exit 0 "$MV" --archive "$A" verify
"$MV" --archive "$A" list --messages --folder INBOX | grep -q 'lines that start with dots' ||
    fail "the dots message is not listed"
[ "$(server_count)" = 20 ] || fail "a sync without delete_after_days removed mail from the server"
expect_exit 0 "$MV" --config "$T/config" sync --json
expect_fields status=ok new=0 stored=0 expunged=0 deleted=0
ok "first fetch: 20 messages byte-exact (dot lines, no final newline, leading dot), left on the server; resync fetches nothing"

# --- (b) incremental: one new message ---
printf 'From: later@example.com\nSubject: arrived later\nMessage-ID: <later@example.com>\n\nnew\n' |
    mv_dovecot_doveadm save -u alice -m INBOX
expect_exit 0 "$MV" --config "$T/config" sync --json
expect_fields status=ok new=1 stored=1 expunged=0 deleted=0
[ "$(sha_set "$A")" = "$(server_shas)" ] || fail "archive differs after an incremental fetch"
ok "incremental: only the new message is fetched"

# --- (c) a message deleted on the server: marked, kept ---
mv_dovecot_doveadm expunge -u alice mailbox INBOX uid 2
expect_exit 0 "$MV" --config "$T/config" sync --json
expect_fields status=ok new=0 expunged=1 deleted=0
"$MV" --archive "$A" list --messages --expunged | grep -q "deleted on server" || fail "expunged message not kept"
[ "$("$MV" --archive "$A" list --messages --expunged | wc -l)" = 21 ] || fail "the archive should still list 21"
expect_exit 0 "$MV" --config "$T/config" sync --json
expect_fields expunged=0
ok "a message deleted on the server stays archived, marked deleted (once)"

# --- a server without UIDL: identity from TOP n 0 (Message-ID, Date, size) ---
pop3conf "$T/fallback" "archive=$T/fallback.sqlite"
MAILVAULT_IGNORE_CAPS=UIDL expect_exit 0 "$MV" --config "$T/fallback" sync --json
expect_fields status=ok new=20 uidl_fallback=True
[ "$(sha_set "$T/fallback.sqlite")" = "$(server_shas)" ] || fail "fallback fetch differs from the server"
MAILVAULT_IGNORE_CAPS=UIDL expect_exit 0 "$MV" --config "$T/fallback" sync --json
expect_fields status=ok new=0 expunged=0 uidl_fallback=True
ok "without UIDL: messages identified by their headers, reported as uidl_fallback, nothing fetched twice"

# --- (f) wrong password; (g) plaintext refused, TLS ---
pop3conf "$T/bad" password_env=WRONG_PW "archive=$T/bad.sqlite"
WRONG_PW=nope expect_exit 12 "$MV" --config "$T/bad" sync
expect_one_line_error "login failed"
grep -q nope "$T/err" && fail "the password appeared in an error message"
ok "wrong password: exit 12, one line, password never printed"

pop3conf "$T/plain" allow_plaintext=no "archive=$T/plain.sqlite"
expect_exit 9 "$MV" --config "$T/plain" sync
expect_one_line_error "without TLS"
ok "credentials over an unencrypted connection are refused by default: exit 9"

pop3conf "$T/tls" "port=$MV_DOVECOT_POP3S_PORT" tls=pop3s allow_plaintext=no "archive=$T/tls.sqlite"
expect_exit 11 "$MV" --config "$T/tls" sync
expect_one_line_error "TLS failed"
pop3conf "$T/tls" "port=$MV_DOVECOT_POP3S_PORT" tls=pop3s allow_plaintext=no "archive=$T/tls.sqlite" \
    "ca_file=$MV_DOVECOT_CERT"
expect_exit 0 "$MV" --config "$T/tls" sync --json
expect_fields status=ok new=20
[ "$(sha_set "$T/tls.sqlite")" = "$(server_shas)" ] || fail "pop3s fetch differs"
pop3conf "$T/stls" tls=starttls allow_plaintext=no "archive=$T/stls.sqlite" "ca_file=$MV_DOVECOT_CERT"
expect_exit 0 "$MV" --config "$T/stls" sync --json
expect_fields status=ok new=20
[ "$(sha_set "$T/stls.sqlite")" = "$(server_shas)" ] || fail "STARTTLS fetch differs"
ok "pop3s: self-signed certificate rejected (exit 11), accepted with ca_file; STARTTLS works"

# --- (d) the delete policy: 30 days deletes nothing; a dry run deletes nothing ---
pop3conf "$T/keep30" delete_after_days=30
expect_exit 0 "$MV" --config "$T/keep30" sync --json
expect_fields status=ok deleted=0
[ "$(server_count)" = 20 ] || fail "delete_after_days = 30 deleted mail archived today"
pop3conf "$T/del0" delete_after_days=0
cp "$A" "$T/before-dry.sqlite"
before=$(fingerprint "$A")
expect_exit 0 "$MV" --config "$T/del0" sync --dry-run --json
expect_fields status=ok deleted=20 new=0
[ "$(server_count)" = 20 ] || fail "a dry run deleted mail"
[ "$(fingerprint "$A")" = "$before" ] || fail "a dry run changed the archive"
ok "delete_after_days = 30 keeps mail archived today; --dry-run with 0 reports 20 and deletes nothing"

# --- (e) the connection dies after DELEs started: the server keeps every message ---
# tests/lib/cutproxy.py drops the link after N bytes from the server. Cut points step
# through login, LIST, UIDL, NOOP and the DELE answers; every failed run must leave all
# 20 messages on the server (POP3 applies DELE only at QUIT). The sweep ends at the first
# run that got as far as QUIT (there the outcome depends on whether the server saw it).
sha_set "$A" >"$T/before-delete.set"
sweep_dele=0 sweep_runs=0
for cut in $(seq 100 23 2500); do
    rm -f "$T/proxy.port"
    python3 "$SRC/tests/lib/cutproxy.py" "$T/proxy.port" "$MV_DOVECOT_POP3_PORT" --cut-after-bytes "$cut" &
    proxy=$!
    for _ in $(seq 50); do [ -s "$T/proxy.port" ] && break; sleep 0.1; done
    pop3conf "$T/cut" delete_after_days=0 "port=$(cat "$T/proxy.port")"
    rc=0
    "$MV" --config "$T/cut" sync --json >"$T/out" 2>"$T/err" || rc=$?
    kill "$proxy" 2>/dev/null || true
    wait "$proxy" 2>/dev/null || true
    proxy=
    sweep_runs=$((sweep_runs + 1))
    [ "$rc" = 0 ] && break
    [ "$rc" = 10 ] || { cat "$T/out" "$T/err" >&2; fail "cut after $cut bytes: exit $rc, expected 10"; }
    grep -q "may not have applied" "$T/err" && break
    [ "$(server_count)" = 20 ] || { cat "$T/err" >&2; fail "cut after $cut bytes: a failed run deleted mail"; }
    grep -q "DELE.*without QUIT" "$T/err" && sweep_dele=$((sweep_dele + 1))
    [ -z "${MV_TEST_VERBOSE:-}" ] || echo "cut $cut: rc $rc: $(tail -1 "$T/err")"
done
[ "$sweep_dele" -gt 0 ] || fail "no cut point fell between two DELEs ($sweep_runs runs)"
expect_exit 0 "$MV" --config "$T/del0" sync --json
expect_fields status=ok
[ "$(server_count)" = 0 ] || fail "after a clean run with delete_after_days = 0 the server still has mail"
n=$("$MV" --archive "$A" list --messages --expunged | grep -c "deleted on server")
[ "$n" = 21 ] || fail "every archived message should now be marked deleted on server, $n are"
[ "$(sha_set "$A")" = "$(cat "$T/before-delete.set")" ] || fail "deleting from the server changed the archive"
expect_exit 0 "$MV" --archive "$A" verify
ok "cut after DELEs started ($sweep_dele of $sweep_runs runs): every message stays on the server; a clean run then deletes all, archive intact"

# --- (d) continued: mail that arrives later waits its N days ---
printf 'From: later@example.com\nSubject: after the purge\nMessage-ID: <purge@example.com>\n\nx\n' |
    mv_dovecot_doveadm save -u alice -m INBOX
expect_exit 0 "$MV" --config "$T/keep30" sync --json
expect_fields status=ok new=1 deleted=0
[ "$(server_count)" = 1 ] || fail "mail archived today was deleted with delete_after_days = 30"
ok "after the purge, new mail is archived and left on the server for its 30 days"

echo "pop3: $TESTS_RUN checks passed"
