# mailvault integration tests: shared helpers. Source it; then MV is the binary under test
# and T a scratch directory removed at exit.
set -euo pipefail

MV=${1:?usage: $0 PATH_TO_MAILVAULT}
MV=$(cd "$(dirname "$MV")" && pwd)/$(basename "$MV")
SRC=${MV_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
SAMPLE=$SRC/examples/sample-mail
SHARED=$SRC/../shared
T=$(mktemp -d "${TMPDIR:-/tmp}/mv-it-XXXXXX")
chmod 755 "$T"
# Never fail the test from here: a server that is still exiting may hold files a moment.
_mv_cleanup() { rm -rf "$T" 2>/dev/null || { sleep 1; rm -rf "$T" 2>/dev/null; } || true; }
trap _mv_cleanup EXIT
TESTS_RUN=0

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { TESTS_RUN=$((TESTS_RUN + 1)); echo "ok - $*"; }

# expect_exit CODE CMD...: runs CMD, checks its exit status; its stderr is in $T/err.
expect_exit() {
    local want=$1; shift
    local got=0
    "$@" >"$T/out" 2>"$T/err" || got=$?
    if [ "$got" != "$want" ]; then
        echo "--- stdout:" >&2; cat "$T/out" >&2
        echo "--- stderr:" >&2; cat "$T/err" >&2
        fail "expected exit $want, got $got: $*"
    fi
}

# The error output must be exactly one line and contain the given text.
expect_one_line_error() {
    local n
    n=$(wc -l <"$T/err")
    [ "$n" = 1 ] || { cat "$T/err" >&2; fail "expected a one-line error, got $n lines"; }
    grep -qF -- "$1" "$T/err" || { cat "$T/err" >&2; fail "error does not mention '$1'"; }
}

# The SHA-256 set (sorted, unique) of what an archive holds.
sha_set() { "$MV" --archive "$1" list --sha256 --expunged | awk '{print $1}' | sort -u; }

# A fingerprint of an archive's logical content: folders, counts, and every location's hash.
fingerprint() {
    { "$MV" --archive "$1" list; "$MV" --archive "$1" list --sha256 --expunged | sort; } | sha256sum
}
