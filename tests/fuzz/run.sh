#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang, ASan + UBSan) and runs each for SECONDS seconds
# (default 60) on a scratch copy of its seed corpus, so the repository's seeds stay as they
# are. Prints each harness's execution count; exits nonzero on the first finding.
#
#   tests/fuzz/run.sh [SECONDS] [HARNESS...]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-60}
shift || true
build=${MV_FUZZ_BUILD:-$top/build-fuzz}
CC=clang cmake -S "$top" -B "$build" -DMV_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(imap_parse mime mbox config text fts query)
work=$(mktemp -d "${TMPDIR:-/tmp}/mv-fuzz-XXXXXX")
trap 'rm -rf "$work"' EXIT
for h in "${harnesses[@]}"; do
    mkdir -p "$work/$h"
    cp -r "$top/tests/fuzz/seeds/$h/." "$work/$h/" 2>/dev/null || true
    log=$work/$h.log
    if ! (cd "$work" && "$build/fuzz_$h" -max_total_time="$secs" -print_final_stats=1 \
            -artifact_prefix="$work/$h-" "$work/$h" >"$log" 2>&1); then
        tail -40 "$log" >&2
        echo "fuzz_$h: FINDING (artifact kept in $work; rerun to reproduce)" >&2
        trap - EXIT
        exit 1
    fi
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    echo "fuzz_$h: $runs executions in $secs s, no findings"
done
