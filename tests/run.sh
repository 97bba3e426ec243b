#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 clone: installs what is missing, builds
# mailvault twice (a normal build and an ASan+UBSan build) and runs every test in both.
# Each Dovecot the integration tests need is started and stopped by the tests themselves.
#
#   tests/run.sh            everything
#   MV_QUICK=1 tests/run.sh the normal build only
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/tests/deps.sh"

jobs=$(nproc 2>/dev/null || echo 2)
run_suite() {
    local dir=$1; shift
    cmake -S "$top" -B "$dir" "$@" >/dev/null
    cmake --build "$dir" -j"$jobs"
    ctest --test-dir "$dir" --output-on-failure -j"$jobs" --timeout 900
}

run_suite "$top/build-test" -DCMAKE_BUILD_TYPE=RelWithDebInfo
if [ -z "${MV_QUICK:-}" ]; then
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    run_suite "$top/build-asan" -DCMAKE_BUILD_TYPE=Debug -DMV_SANITIZE=ON
fi
echo "all tests passed"
