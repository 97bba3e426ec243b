#!/usr/bin/env bash
# Self-test of tests/lib/dovecot.sh: a private Dovecot comes up on 127.0.0.1
# with IMAP/IMAPS/POP3/POP3S, TLS verifiable against the generated cert, the
# expected capabilities, working doveadm and both mailbox layouts, and goes
# away completely on stop.
# Usage: bash tests/integration/dovecot_harness.sh [MAILVAULT_BINARY]  (ignored)
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib/dovecot.sh
source "$here/../lib/dovecot.sh"

fail() {
    printf 'FAIL: %s\n' "$*" >&2
    if [[ -n ${MV_DOVECOT_DIR:-} && -f $MV_DOVECOT_DIR/dovecot.log ]]; then
        printf -- '--- last lines of %s:\n' "$MV_DOVECOT_DIR/dovecot.log" >&2
        tail -n 15 "$MV_DOVECOT_DIR/dovecot.log" >&2
    fi
    exit 1
}
pass() { printf 'ok - %s\n' "$*"; }

for tool in dovecot doveadm openssl curl; do
    command -v "$tool" >/dev/null ||
        fail "$tool not installed (apt-get install dovecot-imapd dovecot-pop3d openssl curl)"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/mv-dovecot-selftest.XXXXXX")
chmod 0711 "$work" # the dovecot user must reach the state dirs inside
trap 'rm -rf "$work"' EXIT
mv_dovecot_trap # stops the server first, then runs the rm above

CURL=(curl --silent --show-error --max-time 15)

# imap_session PORT CMD... : one connection, prints the greeting and every
# response line (CR stripped); each command is tagged t1, t2, ...
imap_session() {
    local port=$1
    shift
    (
        exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
        IFS= read -r -t 5 line <&3 || exit 1
        printf '%s\n' "${line%$'\r'}"
        n=0
        for cmd in "$@"; do
            n=$((n + 1))
            printf 't%d %s\r\n' "$n" "$cmd" >&3
            for ((i = 0; i < 2000; i++)); do
                IFS= read -r -t 5 line <&3 || exit 1
                line=${line%$'\r'}
                printf '%s\n' "$line"
                [[ $line == "t$n "* ]] && break
            done
        done
    )
}

# tls_session PORT imap|pop3 [starttls] : runs a verified TLS session (plus
# STARTTLS/STLS first if asked) that sends NOOP (POP3: CAPA) and logs out; prints what the
# server said over TLS. Empty output = handshake or verification failed.
tls_session() {
    local port=$1 proto=$2 mode=${3:-} out
    local -a st=()
    [[ $mode == starttls ]] && st=(-starttls "$proto")
    local cmds=$'t1 NOOP\r\nt2 LOGOUT\r\n'
    [[ $proto == pop3 ]] && cmds=$'CAPA\r\nQUIT\r\n'
    out=$(printf '%s' "$cmds" | timeout 15 openssl s_client -connect "127.0.0.1:$port" "${st[@]}" \
        -CAfile "$MV_DOVECOT_CERT" -verify_return_error -verify_ip 127.0.0.1 -quiet \
        2>/dev/null) || true
    printf '%s\n' "${out//$'\r'/}"
}

status_messages() { # USER MAILBOX -> message count via doveadm
    mv_dovecot_doveadm mailbox status -u "$1" messages "$2" | sed -n 's/.*messages=\([0-9]*\).*/\1/p'
}

assert_gone() { # DIR INSTANCE MASTER_PID PORT...
    local dir=$1 inst=$2 pid=$3 port
    shift 3
    local st
    st=$(ps -o stat= -p "$pid") || st=
    # A zombie (stat Z) has exited; it only waits for PID 1 to reap it.
    [[ -z $st || $st == Z* ]] || fail "dovecot master $pid still running after stop ($st)"
    # shellcheck disable=SC2009 # pgrep -f would match this shell's own args
    if ps -eo args= | grep -F -e "dovecot-$inst/" -e "$dir/dovecot.conf" | grep -v grep; then
        fail "processes of instance $inst remain after stop"
    fi
    for port in "$@"; do
        [[ -z $(ss -Hltn "sport = :$port") ]] || fail "port $port still listening after stop"
    done
}

# ---- test mail, written inline --------------------------------------------
msg() { # FILE FROM SUBJECT BODY
    local id
    id=$(basename -- "$1" | tr -c 'A-Za-z0-9\n' _)
    mkdir -p "$(dirname -- "$1")"
    cat >"$1" <<EOF
From: $2
To: alice@example.test
Subject: $3
Date: Mon, 01 Jan 2024 10:00:00 +0000
Message-ID: <$id@example.test>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

$4
EOF
}
src=$work/src
msg "$src/inbox/cur/1700000001.M1P1.test:2,S" carol@example.test "First" "Hello one."
msg "$src/inbox/cur/1700000002.M2P1.test:2,FS" dave@example.test "Second" "Hello two."
msg "$src/inbox/new/1700000003.M3P1.test" erin@example.test "Third" "Hello three."
mkdir -p "$src/inbox/tmp"
# A Maildir++ tree: root = INBOX of that tree, ".Lists.Dev" = Lists/Dev.
msg "$src/tree/cur/1700000010.M10P1.test:2,S" x@example.test "Tree root" "root"
msg "$src/tree/.Lists.Dev/cur/1700000011.M11P1.test:2," y@example.test "Dev list" "dev"
# A nested-directory tree: Projects/Alpha/{cur,new}.
msg "$src/nested/Projects/Alpha/new/1700000020.M20P1.test" z@example.test "Alpha" "alpha"
msg "$src/nested/Projects/Alpha/cur/1700000021.M21P1.test:2,S" z@example.test "Alpha 2" "alpha2"

# ---- default layout (Maildir++, '.') ----------------------------------------
d1=$work/maildirpp
mkdir -p "$d1"
mv_dovecot_init "$d1" || fail "mv_dovecot_init"
mv_dovecot_add_user alice 's3cret pass' || fail "add_user before start"
mv_dovecot_load_maildir alice "$src/inbox" || fail "load_maildir before start"
mv_dovecot_start "$d1" || fail "mv_dovecot_start (Maildir++)"
pass "started Maildir++ instance: imap=$MV_DOVECOT_IMAP_PORT imaps=$MV_DOVECOT_IMAPS_PORT pop3=$MV_DOVECOT_POP3_PORT pop3s=$MV_DOVECOT_POP3S_PORT"
[[ $MV_DOVECOT_SEPARATOR == . ]] || fail "separator is '$MV_DOVECOT_SEPARATOR', want '.'"
ports=("$MV_DOVECOT_IMAP_PORT" "$MV_DOVECOT_IMAPS_PORT" "$MV_DOVECOT_POP3_PORT" "$MV_DOVECOT_POP3S_PORT")
[[ $(printf '%s\n' "${ports[@]}" | sort -u | wc -l) -eq 4 ]] || fail "ports not distinct: ${ports[*]}"

for port in "${ports[@]}"; do
    listeners=$(ss -Hltn "sport = :$port" | awk '{print $4}')
    [[ $listeners == "127.0.0.1:$port" ]] || fail "port $port listens on '${listeners//$'\n'/ }', want only 127.0.0.1"
done
pass "all four ports listen on 127.0.0.1 only"

mv_dovecot_add_user bob hunter2 || fail "add_user after start"
mv_dovecot_load_maildir bob "$src/tree" || fail "load Maildir++ tree"
mv_dovecot_load_maildir alice "$src/nested" Work || fail "load nested tree after start"
[[ -d $d1/mail/alice/.Work.Projects.Alpha/cur && -f $d1/mail/alice/.Work.Projects.Alpha/maildirfolder ]] ||
    fail "nested tree not at .Work.Projects.Alpha"
[[ $(stat -c %U "$d1/mail/alice/.Work.Projects.Alpha/cur") == "$(id -u dovecot >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]] && echo dovecot || id -un)" ]] ||
    fail "mail store not owned by the mail user"

# Greetings: plaintext IMAP, implicit TLS IMAP, STARTTLS.
out=$(imap_session "$MV_DOVECOT_IMAP_PORT") || fail "no IMAP greeting on $MV_DOVECOT_IMAP_PORT"
[[ $out == "* OK"* ]] || fail "bad IMAP greeting: $out"
out=$(tls_session "$MV_DOVECOT_IMAPS_PORT" imap)
[[ $out == "* OK"* && $out == *$'\nt1 OK'* ]] || fail "IMAPS (verified) session: $out"
out=$(tls_session "$MV_DOVECOT_IMAP_PORT" imap starttls)
[[ $out == *$'t1 OK'* && $out == *$'\nt2 OK'* ]] || fail "IMAP STARTTLS (verified) session: $out"
out=$(tls_session "$MV_DOVECOT_POP3S_PORT" pop3)
[[ $out == "+OK"* && $(grep -c '^+OK' <<<"$out") -ge 3 ]] || fail "POP3S (verified) session: $out"
out=$(tls_session "$MV_DOVECOT_POP3_PORT" pop3 starttls)
[[ $(grep -c '^+OK' <<<"$out") -ge 2 ]] || fail "POP3 STLS (verified) session: $out"
pass "greetings on imap/imaps/pop3s, STARTTLS and STLS verify against MV_DOVECOT_CERT"

# Plaintext LOGIN, capabilities, LIST, STATUS on the non-TLS port.
out=$(imap_session "$MV_DOVECOT_IMAP_PORT" 'LOGIN alice "s3cret pass"' CAPABILITY \
    'LIST "" "*"' 'LIST (SPECIAL-USE) "" "*"' 'STATUS INBOX (MESSAGES UIDNEXT HIGHESTMODSEQ)' \
    'STATUS Work.Projects.Alpha (MESSAGES)' LOGOUT) || fail "IMAP session failed"
grep -q '^t1 OK' <<<"$out" || fail "LOGIN on plaintext port: $(grep '^t1' <<<"$out")"
caps=$(grep '^\* CAPABILITY' <<<"$out") || fail "no CAPABILITY response"
for cap in IMAP4rev1 CONDSTORE QRESYNC SPECIAL-USE UIDPLUS LIST-STATUS LITERAL+ ENABLE; do
    [[ " $caps " == *" $cap "* ]] || fail "capability $cap missing: $caps"
done
pass "plaintext LOGIN; CAPABILITY has CONDSTORE QRESYNC SPECIAL-USE UIDPLUS LIST-STATUS LITERAL+"
grep -q '^\* LIST (.*) "\." INBOX$' <<<"$out" || fail "INBOX not listed with '.' delimiter"
grep -q '^\* LIST (.*) "\." Work\.Projects\.Alpha$' <<<"$out" || fail "Work.Projects.Alpha not listed"
for su in Sent Drafts Trash Junk Archive; do
    grep -q "^\\* LIST (.*\\\\$su.*) \"\\.\" $su\$" <<<"$out" || fail "$su not listed with \\$su"
done
grep -q '^\* STATUS INBOX (MESSAGES 3 UIDNEXT 4 HIGHESTMODSEQ [0-9]*)' <<<"$out" ||
    fail "INBOX status: $(grep '^\* STATUS INBOX' <<<"$out")"
grep -q '^\* STATUS Work.Projects.Alpha (MESSAGES 2)' <<<"$out" || fail "folder loaded after start not seen"
pass "LIST uses '.', special-use folders flagged, mail loaded before and after start is visible"

out=$(imap_session "$MV_DOVECOT_IMAP_PORT" 'LOGIN alice wrong' LOGOUT) || fail "IMAP session failed"
grep -q '^t1 NO' <<<"$out" || fail "wrong password was not refused"
t0=$EPOCHREALTIME
out=$(imap_session "$MV_DOVECOT_IMAP_PORT" 'LOGIN bob hunter2' 'LIST "" "*"' LOGOUT) || fail "bob session"
ms=$(((${EPOCHREALTIME/./} - ${t0/./}) / 1000))
((ms < 2000)) || fail "login right after a failed one took $ms ms (auth penalty not disabled?)"
grep -q '"\." Lists\.Dev$' <<<"$out" || fail "Maildir++ source tree .Lists.Dev not listed for bob"
pass "wrong password refused, next login not penalised; Maildir++ source tree loaded as Lists.Dev"

# curl over IMAPS: verification with the CA file works, without it fails.
out=$("${CURL[@]}" --cacert "$MV_DOVECOT_CERT" -u 'alice:s3cret pass' \
    "imaps://127.0.0.1:$MV_DOVECOT_IMAPS_PORT/") || fail "curl imaps with --cacert failed"
grep -q 'INBOX' <<<"$out" || fail "curl imaps LIST has no INBOX: $out"
out=$("${CURL[@]}" --cacert "$MV_DOVECOT_CERT" -u 'alice:s3cret pass' \
    --resolve "localhost:$MV_DOVECOT_IMAPS_PORT:127.0.0.1" \
    "imaps://localhost:$MV_DOVECOT_IMAPS_PORT/") || fail "curl imaps to name localhost failed"
rc=0
"${CURL[@]}" -u 'alice:s3cret pass' "imaps://127.0.0.1:$MV_DOVECOT_IMAPS_PORT/" >/dev/null 2>&1 || rc=$?
[[ $rc -eq 60 ]] || fail "curl without CA file: exit $rc, want 60 (peer verification failure)"
pass "curl imaps verifies with --cacert (IP and DNS name), fails without it (exit 60)"

out=$("${CURL[@]}" --ssl-reqd --cacert "$MV_DOVECOT_CERT" -u 'alice:s3cret pass' \
    "imap://127.0.0.1:$MV_DOVECOT_IMAP_PORT/") || fail "curl imap STARTTLS failed"
grep -q 'INBOX' <<<"$out" || fail "curl STARTTLS LIST has no INBOX"
"${CURL[@]}" --login-options AUTH=CRAM-MD5 -u 'alice:s3cret pass' \
    "imap://127.0.0.1:$MV_DOVECOT_IMAP_PORT/" >/dev/null || fail "AUTH=CRAM-MD5 failed"
pass "curl STARTTLS (--ssl-reqd) and AUTH=CRAM-MD5 work"

# POP3 LIST/UIDL on pop3 and pop3s.
for scheme in pop3 pop3s; do
    port=$MV_DOVECOT_POP3_PORT
    [[ $scheme == pop3s ]] && port=$MV_DOVECOT_POP3S_PORT
    list=$("${CURL[@]}" --cacert "$MV_DOVECOT_CERT" -u 'alice:s3cret pass' \
        "$scheme://127.0.0.1:$port/") || fail "$scheme LIST failed"
    [[ $(grep -c '^[0-9]* [0-9]*' <<<"$list") -eq 3 ]] || fail "$scheme LIST: $list"
    uidl=$("${CURL[@]}" --cacert "$MV_DOVECOT_CERT" -u 'alice:s3cret pass' -X UIDL \
        "$scheme://127.0.0.1:$port/") || fail "$scheme UIDL failed"
    [[ $(grep -cE '^[0-9]+ [0-9a-fA-F]{16}' <<<"${uidl//$'\r'/}") -eq 3 ]] || fail "$scheme UIDL: $uidl"
done
[[ $(sed -n '1s/^1 \([0-9a-fA-F]*\).*/\1/p' <<<"${uidl//$'\r'/}") == 00000001* ]] ||
    fail "UIDL not in %08Xu%08Xv format: $uidl"
pass "POP3 LIST/UIDL on pop3 and pop3s (UIDL = %08Xu%08Xv)"

# doveadm: expunge, flags, save.
[[ $(status_messages alice INBOX) == 3 ]] || fail "doveadm status: want 3 messages"
mv_dovecot_doveadm expunge -u alice mailbox INBOX uid 3 || fail "doveadm expunge"
[[ $(status_messages alice INBOX) == 2 ]] || fail "doveadm status after expunge: want 2"
mv_dovecot_doveadm flags add -u alice '\Flagged' mailbox INBOX uid 1 || fail "doveadm flags add"
flags=$(mv_dovecot_doveadm fetch -u alice flags mailbox INBOX uid 1) || fail "doveadm fetch"
[[ $flags == *'\Flagged'* ]] || fail "flag not set: $flags"
msg "$work/saved.eml" f@example.test "Saved" "via doveadm save"
mv_dovecot_doveadm save -u alice -m Archive <"$work/saved.eml" || fail "doveadm save"
out=$(imap_session "$MV_DOVECOT_IMAP_PORT" 'LOGIN alice "s3cret pass"' \
    'STATUS INBOX (MESSAGES)' 'STATUS Archive (MESSAGES)' LOGOUT) || fail "IMAP session failed"
grep -q '^\* STATUS INBOX (MESSAGES 2)' <<<"$out" || fail "IMAP does not see expunge"
grep -q '^\* STATUS Archive (MESSAGES 1)' <<<"$out" || fail "IMAP does not see doveadm save"
pass "doveadm expunge/flags/fetch/save, visible over IMAP"

inst=$MV_DOVECOT_INSTANCE
pid=$(<"$(<"$d1/base_dir.path")/master.pid")
mv_dovecot_stop
assert_gone "$d1" "$inst" "$pid" "${ports[@]}"
mv_dovecot_stop # second stop is a no-op
pass "stopped; no process of $inst left, ports closed"

# ---- LAYOUT=fs, '/' ----------------------------------------------------------
d2=$work/fs
mkdir -p "$d2"
mv_dovecot_start "$d2" fs || fail "mv_dovecot_start (fs)"
[[ $MV_DOVECOT_SEPARATOR == / ]] || fail "separator is '$MV_DOVECOT_SEPARATOR', want '/'"
mv_dovecot_add_user carol pw || fail "add_user (fs)"
mv_dovecot_load_maildir carol "$src/inbox" || fail "load inbox (fs)"
mv_dovecot_load_maildir carol "$src/nested" || fail "load nested (fs)"
mv_dovecot_load_maildir carol "$src/tree" Old/Stuff || fail "load tree under Old/Stuff (fs)"
[[ -d $d2/mail/carol/Projects/Alpha/cur && -d $d2/mail/carol/Old/Stuff/Lists/Dev/cur ]] ||
    fail "fs layout directories not as expected"
out=$(imap_session "$MV_DOVECOT_IMAP_PORT" 'LOGIN carol pw' 'LIST "" "*"' \
    'STATUS Projects/Alpha (MESSAGES)' 'STATUS Old/Stuff/Lists/Dev (MESSAGES)' \
    'STATUS INBOX (MESSAGES)' LOGOUT) || fail "IMAP session (fs) failed"
grep -q '^t1 OK' <<<"$out" || fail "LOGIN (fs)"
grep -q '^\* LIST (.*) "/" Projects/Alpha$' <<<"$out" || fail "Projects/Alpha not listed with '/'"
grep -q '^\* LIST (.*) "/" Old/Stuff/Lists/Dev$' <<<"$out" || fail "Old/Stuff/Lists/Dev not listed"
grep -q '^\* LIST (.*\\Sent.*) "/" Sent$' <<<"$out" || fail "Sent (fs) not flagged"
grep -q '^\* STATUS Projects/Alpha (MESSAGES 2)' <<<"$out" || fail "Projects/Alpha count"
grep -q '^\* STATUS Old/Stuff/Lists/Dev (MESSAGES 1)' <<<"$out" || fail "Old/Stuff/Lists/Dev count"
grep -q '^\* STATUS INBOX (MESSAGES 3)' <<<"$out" || fail "INBOX count (fs)"
mv_dovecot_doveadm mailbox create -u carol 'New/Sub' || fail "doveadm mailbox create New/Sub (fs)"
[[ -d $d2/mail/carol/New/Sub ]] || fail "doveadm-created New/Sub not at New/Sub"
pass "LAYOUT=fs instance: LIST delimiter '/', nested folders and counts right"

inst=$MV_DOVECOT_INSTANCE
pid=$(<"$(<"$d2/base_dir.path")/master.pid")
ports=("$MV_DOVECOT_IMAP_PORT" "$MV_DOVECOT_IMAPS_PORT" "$MV_DOVECOT_POP3_PORT" "$MV_DOVECOT_POP3S_PORT")
mv_dovecot_stop
assert_gone "$d2" "$inst" "$pid" "${ports[@]}"
pass "stopped fs instance; nothing left"
echo "dovecot harness self-test: all passed"
