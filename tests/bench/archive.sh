#!/usr/bin/env bash
# Archive benchmark: memory with big messages, compression with and without the trained
# dictionary, import throughput. Prints Markdown tables for the README.
#
#   tests/bench/archive.sh [BUILD_DIR]      (default: build-bench, built here)
#
# Uses ../shared (corpus, gen-corpus) when present; skips those parts otherwise.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$top/build-bench}
if [ ! -x "$build/mailvault" ]; then
    cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$build" -j"$(nproc)" --target mailvault >/dev/null
fi
mv=$build/mailvault
shared=$top/../shared
work=$(mktemp -d "${TMPDIR:-/tmp}/mv-bench-XXXXXX")
trap 'rm -rf "$work"' EXIT

# peak RSS in MiB of a command, from GNU time
rss() { /usr/bin/time -f %M -o "$work/time" "$@" >/dev/null; echo "$(($(cat "$work/time") / 1024))"; }
secs() { local s e; s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N); echo "$e - $s" | bc; }

echo "## Peak memory with big messages"
echo
echo "| message size | import peak RSS | show peak RSS | export (maildir) peak RSS |"
echo "|---|---|---|---|"
for mb in 1 5 50 200; do
    d=$work/big$mb
    mkdir -p "$d/cur"
    { printf 'From: big@example.com\nSubject: %d MB\nMessage-ID: <big%d@example.com>\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n' "$mb" "$mb"
      head -c $((mb * 1024 * 1024 * 3 / 4)) /dev/urandom | base64; } >"$d/cur/1.big:2,S"
    a=$work/big$mb.sqlite
    r1=$(rss "$mv" -q --archive "$a" import "$d")
    r2=$(rss "$mv" --archive "$a" show 1)
    r3=$(rss "$mv" -q --archive "$a" export --format maildir --out "$work/out$mb")
    cmp -s "$d/cur/1.big:2,S" "$(find "$work/out$mb" -type f -path '*cur*')" || { echo "round trip differs" >&2; exit 1; }
    echo "| $mb MB | $r1 MiB | $r2 MiB | $r3 MiB |"
    rm -rf "$d" "$a"* "$work/out$mb"
done
echo

if [ -d "$shared/corpus" ]; then
    echo "## Compression on ../shared/corpus (real mailing-list mail)"
    echo
    "$mv" -q --archive "$work/nodict.sqlite" init --no-dictionary
    "$mv" -q --archive "$work/nodict.sqlite" import "$shared/corpus" 2>/dev/null || true
    "$mv" -q --archive "$work/dict.sqlite" import "$shared/corpus" 2>/dev/null || true
    "$mv" --archive "$work/nodict.sqlite" stats >"$work/s1"
    "$mv" --archive "$work/dict.sqlite" stats >"$work/s2"
    raw=$(awk '/^raw bytes:/ {print $3}' "$work/s1")
    s1=$(awk '/^stored bytes:/ {print $3}' "$work/s1")
    s2=$(awk '/^stored bytes:/ {print $3}' "$work/s2")
    n=$(awk '/^messages:/ {print $2}' "$work/s2")
    nd=$(awk '/^dictionary:/ {print $4}' "$work/s2")
    echo "| | stored bytes | % of raw |"
    echo "|---|---|---|"
    echo "| raw ($n messages) | $raw | 100% |"
    echo "| zlib, no dictionary | $s1 | $(echo "scale=1; 100 * $s1 / $raw" | bc)% |"
    echo "| zlib + trained dictionary ($nd of $n messages compressed with it) | $s2 | $(echo "scale=1; 100 * $s2 / $raw" | bc)% |"
    echo
fi

if [ -x "$shared/tools/gen-corpus" ]; then
    n=${BENCH_MESSAGES:-5000}
    echo "## Import of gen-corpus ($n messages)"
    echo
    "$shared/tools/gen-corpus" "$work/gc" --messages "$n" >/dev/null
    rm "$work/gc/manifest.tsv"
    t=$(secs "$mv" -q --archive "$work/gc.sqlite" import "$work/gc")
    r=$(rss "$mv" -q --archive "$work/gc.sqlite" import "$work/gc")
    t2=$(secs "$mv" -q --archive "$work/gc.sqlite" import "$work/gc")
    "$mv" --archive "$work/gc.sqlite" stats >"$work/s3"
    "$mv" -q --archive "$work/gcnd.sqlite" init --no-dictionary
    "$mv" -q --archive "$work/gcnd.sqlite" import "$work/gc"
    "$mv" --archive "$work/gcnd.sqlite" stats >"$work/s4"
    echo "| | value |"
    echo "|---|---|"
    echo "| first import | ${t} s ($(echo "scale=0; $n / $t" | bc) messages/s) |"
    echo "| import again (nothing new) | ${t2} s, peak RSS $r MiB |"
    echo "| raw | $(awk '/^raw bytes:/ {print $3}' "$work/s3") bytes |"
    echo "| stored, no dictionary | $(awk '/^stored bytes:/ {print $3}' "$work/s4") bytes ($(awk '/^ratio:/ {print $5}' "$work/s4" | tr -d '(') of raw) |"
    echo "| stored, with dictionary | $(awk '/^stored bytes:/ {print $3}' "$work/s3") bytes ($(awk '/^ratio:/ {print $5}' "$work/s3" | tr -d '(') of raw) |"
    echo "| archive file | $(stat -c %s "$work/gc.sqlite") bytes |"
fi
