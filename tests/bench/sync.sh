#!/usr/bin/env bash
# IMAP sync benchmark: mailvault sync against mbsync and against the protocol floor, over a
# 30 ms round trip, on the reference corpus. Prints Markdown tables for the README.
#
#   tests/bench/sync.sh [BUILD_DIR]      (default: build-bench, built here in Release mode)
#
# Environment:
#   BENCH_MESSAGES  corpus size (default 20000: about 508 MB in 5 folders)
#   BENCH_CACHE     where generated corpora are kept between runs, keyed by size and
#                   generator version (default /tmp/mailvault-bench-cache)
#   BENCH_DELAY_MS  one-way delay of the latency proxy (default 15, i.e. 30 ms RTT)
#   BENCH_PERF=1    also profile one first sync with `perf record -g`, print the top symbols
#   BENCH_KEEP=1    keep the work directory (archives, logs, perf.data)
#
# Needs ../shared (gen-corpus, latency-proxy); says so and exits 0 without it. Needs Dovecot,
# mbsync (isync), python3 and GNU time (tests/deps.sh installs them). A private Dovecot serves
# the corpus on 127.0.0.1; every client goes through ../shared/tools/latency-proxy except the
# correctness reference (tests/lib/imap_sha.py), which talks to Dovecot directly. Takes
# several minutes for 20000 messages; do not run other heavy jobs meanwhile.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$top/build-bench}
shared=$top/../shared
n=${BENCH_MESSAGES:-20000}
cache=${BENCH_CACHE:-/tmp/mailvault-bench-cache}
delay=${BENCH_DELAY_MS:-15}
limit=3600 # seconds any single timed command may take

if [ ! -x "$shared/tools/gen-corpus" ] || [ ! -f "$shared/tools/latency-proxy" ]; then
    echo "sync benchmark skipped: $shared/tools (gen-corpus, latency-proxy) not found"
    exit 0
fi
for tool in dovecot doveadm python3 /usr/bin/time timeout bc ss; do
    command -v "$tool" >/dev/null || { echo "sync.sh: $tool not found (run tests/deps.sh as root)" >&2; exit 1; }
done
have_mbsync=0
command -v mbsync >/dev/null && have_mbsync=1
[ "$have_mbsync" = 1 ] || echo "sync.sh: mbsync not found (apt-get install isync); its rows stay empty" >&2

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { echo "sync.sh: FAIL: $*" >&2; exit 1; }

log "building mailvault (Release) in $build"
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$(nproc)" --target mailvault >/dev/null
mv=$build/mailvault

# shellcheck source=../lib/dovecot.sh
. "$top/tests/lib/dovecot.sh"
work=$(mktemp -d "${TMPDIR:-/tmp}/mv-syncbench-XXXXXX")
chmod 0711 "$work" # the dovecot user must reach the mail store inside
proxy_pid=
cleanup() {
    local rc=$?
    if [ -n "$proxy_pid" ]; then
        kill "$proxy_pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$proxy_pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$proxy_pid" 2>/dev/null || true
    fi
    mv_dovecot_stop >/dev/null 2>&1
    rm -rf "$cache"/corpus-*.tmp.$$
    if [ -n "${BENCH_KEEP:-}" ]; then
        echo "work directory kept: $work" >&2
    else
        rm -rf "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# corpus N: the directory of the generated N-message corpus, generated once and cached.
corpus() {
    local d
    d=$cache/corpus-$1-$(sha256sum "$shared/tools/gen-corpus" | cut -c1-12)
    if [ ! -f "$d/manifest.tsv" ]; then
        log "generating the $1-message corpus into $d"
        mkdir -p "$cache"
        rm -rf "$d" "$d.tmp.$$"
        timeout "$limit" "$shared/tools/gen-corpus" "$d.tmp.$$" --messages "$1" >/dev/null
        mv "$d.tmp.$$" "$d"
    fi
    echo "$d"
}

# A free port below the ephemeral range (as tests/lib/dovecot.sh picks its own).
free_port() {
    local p
    for _ in $(seq 200); do
        p=$((20000 + RANDOM % 12000))
        [ -z "$(ss -Htan "sport = :$p")" ] && { echo "$p"; return 0; }
    done
    return 1
}

# measure LABEL CMD...: runs CMD under GNU time (and a timeout); sets WALL (s), RSS (KiB) and
# CPU (user + system seconds).
# Its stdout and stderr are in $work/LABEL.out and $work/LABEL.err.
measure() {
    local label=$1 rc=0
    shift
    sync # earlier runs' writeback must not land in this one
    log "timing: $label"
    timeout -k 10 "$limit" /usr/bin/time -f '%e %M %U %S' -o "$work/$label.time" "$@" \
        >"$work/$label.out" 2>"$work/$label.err" || rc=$?
    if [ "$rc" != 0 ]; then
        tail -n 20 "$work/$label.err" >&2
        die "$label exited with status $rc: $*"
    fi
    local usr sys
    read -r WALL RSS usr sys < <(tail -n 1 "$work/$label.time")
    CPU=$(echo "$usr + $sys" | bc | sed 's/^\./0./')
    log "  $label: ${WALL} s, peak RSS $(mib "$RSS") MiB, CPU $CPU s"
}
mib() { echo "scale=1; $1 / 1024" | bc | sed 's/^\./0./'; }
ratio() { echo "scale=2; $1 / $2" | bc | sed 's/^\./0./'; }

# --- the data sets and the server ---
n4=$((n / 4))
n2=$((n / 2))
c_full=$(corpus "$n")
c_4=$(corpus "$n4")
c_2=$(corpus "$n2")

log "starting Dovecot in $work/dovecot"
mkdir -p "$work/dovecot"
mv_dovecot_init "$work/dovecot" >/dev/null
export BENCH_PW=secret
load_corpus() { # USER DIR: INBOX as the root, the other folders under their own names
    local user=$1 dir=$2 f
    mv_dovecot_add_user "$user" "$BENCH_PW"
    mv_dovecot_load_maildir "$user" "$dir/INBOX"
    for f in "$dir"/*/; do
        f=$(basename "$f")
        [ "$f" = INBOX ] || mv_dovecot_load_maildir "$user" "$dir/$f" "$f"
    done
}
load_corpus bench "$c_full"
load_corpus bench4 "$c_4"
load_corpus bench2 "$c_2"
mv_dovecot_start "$work/dovecot" >/dev/null
port=$MV_DOVECOT_IMAP_PORT

# Dovecot builds its indexes and caches on first access; do that now, untimed, so no client
# pays for it, and read every body once so the mail store is in the page cache for everyone.
for u in bench bench4 bench2; do
    log "indexing and warming $u"
    timeout "$limit" doveadm -c "$MV_DOVECOT_CONF" force-resync -u "$u" '*'
    timeout "$limit" doveadm -c "$MV_DOVECOT_CONF" mailbox status -u "$u" all '*' >/dev/null
    timeout "$limit" python3 "$top/tests/bench/raw_fetch.py" 127.0.0.1 "$port" "$u" "$BENCH_PW" \
        --items '(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])' >/dev/null
done

pport=$(free_port) || die "no free port for the latency proxy"
python3 "$shared/tools/latency-proxy" "$pport" "$port" --delay-ms "$delay" >"$work/proxy.log" 2>&1 &
proxy_pid=$!
up=0
for _ in $(seq 50); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$pport" && IFS= read -r -t 2 line <&3 && [[ $line == '* OK'* ]]) 2>/dev/null; then
        up=1
        break
    fi
    kill -0 "$proxy_pid" 2>/dev/null || break
    sleep 0.1
done
[ "$up" = 1 ] || { cat "$work/proxy.log" >&2; die "latency proxy on port $pport did not come up"; }
log "latency proxy: 127.0.0.1:$pport -> $port, ${delay} ms each way"

mvconf() { # FILE USER PORT ARCHIVE CONNECTIONS
    cat >"$1" <<EOF
[account $2]
host = 127.0.0.1
port = $3
tls = none
allow_plaintext = yes
user = $2
password_env = BENCH_PW
archive = $4
connections = $5
EOF
    chmod 600 "$1"
}
# mvsync LABEL USER ARCHIVE CONNECTIONS: a timed `mailvault sync` through the proxy.
mvsync() {
    mvconf "$work/$1.conf" "$2" "$pport" "$3" "$4"
    measure "$1" "$mv" --config "$work/$1.conf" sync --json
    python3 - "$work/$1.out" <<'EOF' || die "$1: the sync report is not clean: $(cat "$work/$1.out")"
import json, sys
r = json.load(open(sys.argv[1]))[0]
assert r["status"] == "ok" and all(f["status"] == "ok" for f in r["folders"]), r
EOF
}
json_sum() { # FILE FIELD: sum of a per-folder field of a --json report
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))[0]; print(sum(int(f[sys.argv[2]]) for f in r["folders"]))' "$1" "$2"
}
sha_set() { "$mv" --archive "$1" list --sha256 --expunged | awk '{print $1}' | sort -u; }
manifest_set() { awk -F'\t' 'NR > 1 {print $3}' "$1/manifest.tsv" | sort -u; }

# --- timed runs, one at a time ---
measure floor python3 "$top/tests/bench/raw_fetch.py" 127.0.0.1 "$pport" bench "$BENCH_PW"
floor_wall=$WALL floor_cpu=$CPU
read -r _ floor_folders _ floor_msgs _ <"$work/floor.out"

mb_wall=; mb_rss=; mb_cpu=; mb_re_wall=; mb_re_rss=; mb_re_cpu=; mb_du=
if [ "$have_mbsync" = 1 ]; then
    mkdir -p "$work/mbsync"
    cat >"$work/mbsyncrc" <<EOF
IMAPAccount bench
Host 127.0.0.1
Port $pport
User bench
Pass $BENCH_PW
SSLType None
AuthMechs LOGIN

IMAPStore far
Account bench

MaildirStore near
Path $work/mbsync/
Inbox $work/mbsync/INBOX
SubFolders Verbatim

Channel bench
Far :far:
Near :near:
Patterns *
Create Near
Sync Pull
SyncState *
EOF
    measure mbsync mbsync -c "$work/mbsyncrc" -a
    mb_wall=$WALL mb_rss=$RSS mb_cpu=$CPU
    got=$(find "$work/mbsync" -type f -path '*/cur/*' -o -type f -path '*/new/*' | wc -l)
    [ "$got" = "$floor_msgs" ] || die "mbsync stored $got messages, the server has $floor_msgs"
    measure mbsync-resync mbsync -c "$work/mbsyncrc" -a
    mb_re_wall=$WALL mb_re_rss=$RSS mb_re_cpu=$CPU
    mb_du=$(du -sb "$work/mbsync" | cut -f1)
fi

A=$work/c2.sqlite
mvsync mv-c2 bench "$A" 2
c2_wall=$WALL c2_rss=$RSS c2_cpu=$CPU
new=$(json_sum "$work/mv-c2.out" new)
[ "$new" = "$floor_msgs" ] || die "mailvault filed $new messages, the server has $floor_msgs"
mvsync mv-resync bench "$A" 2
re_wall=$WALL re_rss=$RSS re_cpu=$CPU
re_new=$(json_sum "$work/mv-resync.out" new)
re_skipped=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))[0]; print("%d/%d" % (sum(f["unchanged"] for f in r["folders"]), len(r["folders"])))' "$work/mv-resync.out")
[ "$re_new" = 0 ] || die "the no-change resync fetched $re_new messages"
mvsync mv-c1 bench "$work/c1.sqlite" 1
c1_wall=$WALL c1_rss=$RSS c1_cpu=$CPU
mvsync mv-c4 bench "$work/c4.sqlite" 4
c4_wall=$WALL c4_rss=$RSS c4_cpu=$CPU
"$mv" -q --archive "$work/l1.sqlite" init --compression-level 1
mvsync mv-l1 bench "$work/l1.sqlite" 2
l1_wall=$WALL l1_rss=$RSS l1_cpu=$CPU
l1_size=$(stat -c %s "$work/l1.sqlite")
mvsync mv-n4 bench4 "$work/n4.sqlite" 2
n4_wall=$WALL n4_rss=$RSS n4_cpu=$CPU
mvsync mv-n2 bench2 "$work/n2.sqlite" 2
n2_wall=$WALL n2_rss=$RSS n2_cpu=$CPU

# --- correctness: the archive holds exactly what the server serves ---
log "checking the archives against the server (tests/lib/imap_sha.py, direct) and the manifests"
timeout "$limit" python3 "$top/tests/lib/imap_sha.py" 127.0.0.1 "$port" bench "$BENCH_PW" >"$work/server.sha"
awk '{print $1}' "$work/server.sha" | sort -u >"$work/server.set"
sha_set "$A" >"$work/archive.set"
if ! cmp -s "$work/server.set" "$work/archive.set"; then
    diff "$work/server.set" "$work/archive.set" | head -n 10 >&2
    die "the archive's SHA-256 set differs from what the server serves ($(wc -l <"$work/server.set") on the server, $(wc -l <"$work/archive.set") archived)"
fi
entries=$("$mv" --archive "$A" list --sha256 --expunged | wc -l)
[ "$entries" = "$(wc -l <"$work/server.sha")" ] ||
    die "the archive has $entries folder entries, the server serves $(wc -l <"$work/server.sha") messages"
manifest_set "$c_full" | cmp -s - "$work/server.set" || die "the server does not serve the corpus manifest's messages"
for a in c1 c4; do
    sha_set "$work/$a.sqlite" | cmp -s - "$work/archive.set" || die "$a.sqlite differs from the server"
done
sha_set "$work/n4.sqlite" | cmp -s - <(manifest_set "$c_4") || die "n4.sqlite differs from its corpus"
sha_set "$work/n2.sqlite" | cmp -s - <(manifest_set "$c_2") || die "n2.sqlite differs from its corpus"
distinct=$(wc -l <"$work/archive.set")
measure verify "$mv" --archive "$A" verify
verify_wall=$WALL verify_rss=$RSS verify_cpu=$CPU

"$mv" --archive "$A" stats >"$work/stats"
raw=$(awk '/^raw bytes:/ {print $3}' "$work/stats")
served=$(awk -F'\t' 'NR > 1 {s += $4} END {print s}' "$c_full/manifest.tsv")
[ -f "$A-wal" ] && wal=$(stat -c %s "$A-wal") || wal=0
arch=$(($(stat -c %s "$A") + wal))

# --- optional profile of one first sync (not timed) ---
perf_top=
if [ -n "${BENCH_PERF:-}" ]; then
    if command -v perf >/dev/null; then
        log "profiling a first sync with perf record -g"
        mvconf "$work/perf.conf" bench "$pport" "$work/perf.sqlite" 2
        if timeout -k 10 "$limit" perf record -g -o "$work/perf.data" -- \
            "$mv" --config "$work/perf.conf" sync --json >"$work/perf.out" 2>"$work/perf.err"; then
            perf buildid-list -i "$work/perf.data" >"$work/perf.dsos" 2>/dev/null || true
            perf report -i "$work/perf.data" --no-children -F overhead,dso,sym --stdio -g none \
                >"$work/perf.syms" 2>/dev/null || true
            perf report -i "$work/perf.data" --no-children -F overhead,dso --stdio -g none \
                >"$work/perf.by-dso" 2>/dev/null || true
            # Stripped libraries (Debian's libz has no symbol table) show one row per address;
            # fold those into their function, found from the library's .eh_frame ranges.
            perf_top=$(python3 - "$work/perf.syms" "$work/perf.dsos" <<'EOF'
import bisect, collections, os, re, subprocess, sys
paths = {}
for line in open(sys.argv[2]):
    p = line.split(None, 1)[-1].strip()
    paths.setdefault(os.path.basename(p), p)
ranges = {}
def func_of(dso, addr):
    if dso not in ranges:
        r = []
        try:
            out = subprocess.run(["readelf", "--debug-dump=frames", paths.get(dso, "")],
                                 capture_output=True, text=True, timeout=60).stdout
            r = sorted((int(a, 16), int(b, 16)) for a, b in re.findall(r"pc=([0-9a-f]+)\.\.([0-9a-f]+)", out))
        except Exception:
            pass
        ranges[dso] = r
    r = ranges[dso]
    i = bisect.bisect_right(r, (addr, float("inf"))) - 1
    if i >= 0 and r[i][0] <= addr < r[i][1]:
        return "%s: function at 0x%x (no symbol)" % (dso, r[i][0])
    return "%s: 0x%x" % (dso, addr)
total = collections.Counter()
for line in open(sys.argv[1]):
    m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[.\]\s+(.*\S)", line)
    if not m:
        continue
    pct, dso, sym = float(m.group(1)), m.group(2), m.group(3)
    if re.fullmatch(r"0x[0-9a-f]+", sym):
        sym = func_of(dso, int(sym, 16))
    else:
        sym = "%s: %s" % (dso, sym)
    total[sym] += pct
for sym, pct in total.most_common(15):
    print("%6.2f%%  %s" % (pct, sym))
print("by object (>= 0.5%): " + ", ".join(
    "%s %s" % (l.split()[1], l.split()[0]) for l in open(sys.argv[1].replace("syms", "by-dso"))
    if re.match(r"\s*[\d.]+%", l) and float(l.split()[0].rstrip("%")) >= 0.5))
EOF
            ) || log "could not summarise the profile"
        else
            log "perf record failed: $(tail -n 3 "$work/perf.err")"
        fi
    else
        log "perf not installed (apt-get install linux-perf): no profile"
    fi
fi

# --- report ---
rtt=$(echo "2 * $delay" | bc)
pct() { echo "scale=1; 100 * $1 / $2" | bc | sed 's/^\./0./'; }
row_vs() { [ -n "$mb_wall" ] && ratio "$1" "$mb_wall" || echo "–"; }
echo
echo "## IMAP sync: $n messages ($(mib $((served / 1024))) MiB served, $distinct distinct), ${rtt} ms RTT"
echo
echo "Release build, $(nproc) cores, Dovecot $(dovecot --version | cut -d' ' -f1) on 127.0.0.1 behind" \
    "../shared/tools/latency-proxy (--delay-ms $delay); mailbox indexed and in the page cache" \
    "before timing. Wall time and peak RSS from GNU time, one run each."
echo
echo "| | wall | peak RSS | CPU (user+sys) | wall vs mbsync | goal |"
echo "|---|---|---|---|---|---|"
echo "| protocol floor: one \`UID FETCH 1:* (BODY.PEEK[])\` per folder, 1 connection ($floor_folders folders; Python client) | $floor_wall s | – | $floor_cpu s | $(row_vs "$floor_wall") | |"
if [ -n "$mb_wall" ]; then
    echo "| mbsync $(mbsync --version | awk '{print $2}') first sync | $mb_wall s | $(mib "$mb_rss") MiB | $mb_cpu s | 1.00 | |"
fi
echo "| mailvault first sync, connections = 1 | $c1_wall s | $(mib "$c1_rss") MiB | $c1_cpu s | $(row_vs "$c1_wall") | |"
echo "| mailvault first sync, connections = 2 (default) | $c2_wall s | $(mib "$c2_rss") MiB | $c2_cpu s | $(row_vs "$c2_wall") | ≤ 0.5 |"
echo "| mailvault first sync, connections = 4 | $c4_wall s | $(mib "$c4_rss") MiB | $c4_cpu s | $(row_vs "$c4_wall") | |"
echo "| mailvault first sync, connections = 2, \`init --compression-level 1\` (archive $(mib $((l1_size / 1024))) MiB) | $l1_wall s | $(mib "$l1_rss") MiB | $l1_cpu s | $(row_vs "$l1_wall") | |"
if [ -n "$mb_re_wall" ]; then
    echo "| mbsync no-change resync | $mb_re_wall s | $(mib "$mb_re_rss") MiB | $mb_re_cpu s | 1.00 | |"
    echo "| mailvault no-change resync ($re_skipped folders skipped) | $re_wall s | $(mib "$re_rss") MiB | $re_cpu s | $(ratio "$re_wall" "$mb_re_wall") | ≤ 0.15 |"
else
    echo "| mailvault no-change resync ($re_skipped folders skipped) | $re_wall s | $(mib "$re_rss") MiB | $re_cpu s | – | |"
fi
echo "| mailvault verify (local, no network) | $verify_wall s | $(mib "$verify_rss") MiB | $verify_cpu s | | |"
echo
echo "Peak RSS of the first sync (connections = 2) as the mailbox grows (goal: ≤ 64 MiB and flat):"
echo
echo "| messages | wall | peak RSS | CPU |"
echo "|---|---|---|---|"
echo "| $n4 | $n4_wall s | $(mib "$n4_rss") MiB | $n4_cpu s |"
echo "| $n2 | $n2_wall s | $(mib "$n2_rss") MiB | $n2_cpu s |"
echo "| $n | $c2_wall s | $(mib "$c2_rss") MiB | $c2_cpu s |"
echo
echo "Storage:"
echo
echo "| | bytes | % of served |"
echo "|---|---|---|"
echo "| served by IMAP ($floor_msgs messages) | $served | 100% |"
echo "| distinct content ($distinct messages) | $raw | $(pct "$raw" "$served")% |"
[ -n "$mb_du" ] && echo "| mbsync Maildir (du -sb; mbsync stores LF line ends, so not byte-exact) | $mb_du | $(pct "$mb_du" "$served")% |"
echo "| mailvault archive file | $arch | $(pct "$arch" "$served")% |"
echo
echo "Correctness: the archive's SHA-256 set equals what Dovecot serves (tests/lib/imap_sha.py," \
    "$distinct distinct, $entries folder entries) and the corpus manifest; connections = 1 and 4" \
    "give the same set; \`mailvault verify\` passed."
if [ -n "$perf_top" ]; then
    echo
    echo "perf record -g, one first sync (connections = 2), top symbols by self time:"
    echo
    echo '```'
    echo "$perf_top"
    echo '```'
fi
