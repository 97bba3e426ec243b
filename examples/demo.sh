#!/usr/bin/env bash
# mailvault demo: installs what is missing (Debian 12, as root), builds mailvault, and runs
# it on the project's own sample mailbox: import, list, stats, export, re-import, verify.
# Everything it writes goes to a scratch directory, removed at the end (DEMO_KEEP=1 keeps it).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/tests/deps.sh"
cmake -S "$top" -B "$top/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$top/build" -j"$(nproc 2>/dev/null || echo 2)" --target mailvault >/dev/null
mv=$top/build/mailvault
work=$(mktemp -d "${TMPDIR:-/tmp}/mailvault-demo-XXXXXX")
[ -n "${DEMO_KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
archive=$work/demo.sqlite
sample=$top/examples/sample-mail

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { step "mailvault ${*//$work/\$DEMO}"; "$mv" --archive "$archive" "$@"; }

echo "Demo directory: \$DEMO = $work"
run import "$sample/maildir" "$sample/old-mail.mbox"
run list
run list --messages --folder INBOX
run stats
step "importing the same mail again stores nothing new"
"$mv" --archive "$archive" import "$sample/maildir" "$sample/old-mail.mbox"
run export --format maildir --out "$work/export"
step "find \$DEMO/export -type f | head -3"
find "$work/export" -type f | sort | head -3
run verify
step "sha256 of the sample's files vs. what the archive holds"
if diff <(awk '{print $1}' "$sample/MANIFEST.sha256" | sort -u) \
        <("$mv" --archive "$archive" list --sha256 | awk '{print $1}' | sort -u) >/dev/null; then
    echo "identical: every message archived byte for byte"
else
    echo "DIFFERENT" >&2
    exit 1
fi
