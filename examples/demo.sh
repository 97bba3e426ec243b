#!/usr/bin/env bash
# mailvault demo: installs what is missing (Debian 12, as root), builds mailvault, starts a
# throwaway Dovecot on 127.0.0.1 holding the project's sample mailbox, and shows mailvault
# doing its main job: sync the account into an archive, list and inspect it, sync again
# (nothing to do), pick up changes made on the server, export and verify.
# Everything it writes goes to a scratch directory removed at the end (DEMO_KEEP=1 keeps it).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/tests/deps.sh"
cmake -S "$top" -B "$top/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$top/build" -j"$(nproc 2>/dev/null || echo 2)" --target mailvault >/dev/null
mv=$top/build/mailvault
work=$(mktemp -d "${TMPDIR:-/tmp}/mailvault-demo-XXXXXX")
chmod 711 "$work"
# shellcheck source=../tests/lib/dovecot.sh
. "$top/tests/lib/dovecot.sh"
cleanup() { mv_dovecot_stop >/dev/null 2>&1 || true; [ -n "${DEMO_KEEP:-}" ] || rm -rf "$work"; }
trap cleanup EXIT

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { step "mailvault ${*//$work/\$DEMO}"; "$mv" --config "$work/config" "$@"; }

echo "Demo directory: \$DEMO = $work"
mkdir -p "$work/dovecot"
mv_dovecot_init "$work/dovecot" >/dev/null
mv_dovecot_add_user demo demo-password
mv_dovecot_load_maildir demo "$top/examples/sample-mail/maildir"
mv_dovecot_start "$work/dovecot" >/dev/null
echo "A private Dovecot listens on 127.0.0.1:$MV_DOVECOT_IMAPS_PORT (IMAPS), holding the sample mail."

# The password comes from a command, never from the command line; the certificate is the
# throwaway one the harness made, trusted explicitly.
printf 'demo-password\n' >"$work/password"
chmod 600 "$work/password"
cat >"$work/config" <<CONFIG
[account demo]
host = 127.0.0.1
port = $MV_DOVECOT_IMAPS_PORT
tls = imaps
ca_file = $MV_DOVECOT_CERT
user = demo
passcmd = cat $work/password
archive = $work/demo.sqlite
CONFIG
chmod 600 "$work/config"
step "cat \$DEMO/config"
sed "s#$work#\$DEMO#g" "$work/config"

run sync -v
run list
run list --messages --folder INBOX
run stats
step "mailvault sync --json   # again: nothing changed on the server"
"$mv" --config "$work/config" sync --json | python3 -c \
    'import json,sys; r=json.load(sys.stdin)[0]; print("%d folders, %d skipped as unchanged, %d new messages" % (len(r["folders"]), sum(f["unchanged"] for f in r["folders"]), sum(f["new"] for f in r["folders"])))'
step "# on the server: one message deleted, one flagged, one new"
mv_dovecot_doveadm expunge -u demo mailbox INBOX uid 1
mv_dovecot_doveadm flags add -u demo '\Flagged' mailbox INBOX uid 2
printf 'From: Demo <demo@example.com>\nTo: demo@example.com\nSubject: Arrived after the first sync\nMessage-ID: <late@example.com>\nDate: Fri, 27 Nov 2026 12:00:00 +0000\n\nHello again.\n' |
    mv_dovecot_doveadm save -u demo -m INBOX
run sync -v
run list --messages --folder INBOX --expunged
run export --format maildir --out "$work/export"
step "find \$DEMO/export -type f | head -3"
find "$work/export" -type f | sort | head -3 | sed "s#$work#\$DEMO#"
run verify
