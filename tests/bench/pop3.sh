#!/usr/bin/env bash
# POP3 sync benchmark: mailvault against getmail6 (and against the protocol floor, one
# RETR per round trip and all RETRs pipelined) over a 30 ms round trip. Prints a Markdown
# table, and whether the server offers PIPELINING (RFC 2449 CAPA).
#
#   tests/bench/pop3.sh [BUILD_DIR]      (default: build-bench, built here in Release mode)
#
# Environment:
#   BENCH_MESSAGES  messages in the POP3 mailbox (default 2000)
#   BENCH_CACHE     where generated corpora are kept between runs (default
#                   /tmp/mailvault-bench-cache)
#   BENCH_DELAY_MS  one-way delay of the latency proxy (default 15, i.e. 30 ms RTT)
#   BENCH_KEEP=1    keep the work directory
#
# Needs ../shared (gen-corpus, latency-proxy); says so and exits 0 without it. Needs Dovecot,
# getmail6, python3 and GNU time (tests/deps.sh installs them). Every client goes through
# the latency proxy except the correctness reference (tests/lib/pop3_sha.py).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$top/build-bench}
shared=$top/../shared
n=${BENCH_MESSAGES:-2000}
cache=${BENCH_CACHE:-/tmp/mailvault-bench-cache}
delay=${BENCH_DELAY_MS:-15}
limit=3600 # seconds any single timed command may take

if [ ! -x "$shared/tools/gen-corpus" ] || [ ! -f "$shared/tools/latency-proxy" ]; then
    echo "pop3 benchmark skipped: $shared/tools (gen-corpus, latency-proxy) not found"
    exit 0
fi
for tool in dovecot doveadm python3 /usr/bin/time timeout bc ss getmail; do
    command -v "$tool" >/dev/null || { echo "pop3.sh: $tool not found (run tests/deps.sh as root)" >&2; exit 1; }
done

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { echo "pop3.sh: FAIL: $*" >&2; exit 1; }

log "building mailvault (Release) in $build"
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$(nproc)" --target mailvault >/dev/null
mv=$build/mailvault

# shellcheck source=../lib/dovecot.sh
. "$top/tests/lib/dovecot.sh"
work=$(mktemp -d "${TMPDIR:-/tmp}/mv-pop3bench-XXXXXX")
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
    rm -rf "$cache"/corpus1-*.tmp.$$
    if [ -n "${BENCH_KEEP:-}" ]; then
        echo "work directory kept: $work" >&2
    else
        rm -rf "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# One folder, so every generated message is in INBOX, the only mailbox POP3 sees.
corpus=$cache/corpus1-$n-$(sha256sum "$shared/tools/gen-corpus" | cut -c1-12)
if [ ! -f "$corpus/manifest.tsv" ]; then
    log "generating the $n-message corpus into $corpus"
    mkdir -p "$cache"
    rm -rf "$corpus" "$corpus.tmp.$$"
    timeout "$limit" "$shared/tools/gen-corpus" "$corpus.tmp.$$" --messages "$n" --folders 1 >/dev/null
    mv "$corpus.tmp.$$" "$corpus"
fi

free_port() {
    local p
    for _ in $(seq 200); do
        p=$((20000 + RANDOM % 12000))
        [ -z "$(ss -Htan "sport = :$p")" ] && { echo "$p"; return 0; }
    done
    return 1
}

# measure LABEL CMD...: runs CMD under GNU time; sets WALL (s), RSS (KiB), CPU (user+sys s).
measure() {
    local label=$1 rc=0
    shift
    sync
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
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { r = a / b; printf(r < 0.1 ? "%.3f" : "%.2f", r) }'; }

log "starting Dovecot in $work/dovecot"
mkdir -p "$work/dovecot"
mv_dovecot_init "$work/dovecot" >/dev/null
export BENCH_PW=secret
mv_dovecot_add_user bench "$BENCH_PW"
mv_dovecot_load_maildir bench "$corpus/INBOX"
mv_dovecot_start "$work/dovecot" >/dev/null
port=$MV_DOVECOT_POP3_PORT

# The protocol floor, standard library only: one RETR per round trip, or every RETR sent at
# once (RFC 2449 PIPELINING); bodies read and thrown away. Prints messages, bytes, seconds.
cat >"$work/floor.py" <<'EOF'
import socket, sys, time
host, port, user, password, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
t0 = time.monotonic()
s = socket.create_connection((host, port), timeout=300)
f = s.makefile("rb")
def line():
    l = f.readline()
    if not l:
        raise SystemExit("connection closed")
    return l
def ok():
    l = line()
    if not l.startswith(b"+OK"):
        raise SystemExit("server said " + l.decode(errors="replace"))
def multiline():
    ok()
    n = 0
    while True:
        l = line()
        if l == b".\r\n":
            return n
        n += len(l)
line()
for cmd in (b"USER " + user.encode(), b"PASS " + password.encode()):
    s.sendall(cmd + b"\r\n")
    ok()
s.sendall(b"STAT\r\n")
st = line().split()
count = int(st[1])
total = 0
if mode == "pipelined":
    s.sendall(b"".join(b"RETR %d\r\n" % i for i in range(1, count + 1)))
    for i in range(count):
        total += multiline()
else:
    for i in range(1, count + 1):
        s.sendall(b"RETR %d\r\n" % i)
        total += multiline()
s.sendall(b"QUIT\r\n")
ok()
print(count, total, "%.2f" % (time.monotonic() - t0))
EOF

# Dovecot indexes on first access; do it now, untimed, and read every body once so the mail
# store is in the page cache for everyone.
log "indexing and warming the mailbox"
timeout "$limit" doveadm -c "$MV_DOVECOT_CONF" force-resync -u bench INBOX
timeout "$limit" python3 "$work/floor.py" 127.0.0.1 "$port" bench "$BENCH_PW" serial >/dev/null

caps=$(python3 -c 'import poplib,sys; p=poplib.POP3("127.0.0.1", int(sys.argv[1])); print(" ".join(sorted(p.capa()))); p.quit()' "$port")
pipelining=no
[[ " $caps " == *" PIPELINING "* ]] && pipelining=yes
log "CAPA: $caps"

pport=$(free_port) || die "no free port for the latency proxy"
python3 "$shared/tools/latency-proxy" "$pport" "$port" --delay-ms "$delay" >"$work/proxy.log" 2>&1 &
proxy_pid=$!
up=0
for _ in $(seq 50); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$pport" && IFS= read -r -t 2 line <&3 && [[ $line == '+OK'* ]]) 2>/dev/null; then
        up=1
        break
    fi
    kill -0 "$proxy_pid" 2>/dev/null || break
    sleep 0.1
done
[ "$up" = 1 ] || { cat "$work/proxy.log" >&2; die "latency proxy on port $pport did not come up"; }
log "latency proxy: 127.0.0.1:$pport -> $port, ${delay} ms each way"

# --- timed runs, one at a time ---
measure floor-serial python3 "$work/floor.py" 127.0.0.1 "$pport" bench "$BENCH_PW" serial
fs_wall=$WALL fs_cpu=$CPU
read -r msgs bytes _ <"$work/floor-serial.out"
[ "$msgs" -gt 0 ] || die "the server holds no messages"
measure floor-pipelined python3 "$work/floor.py" 127.0.0.1 "$pport" bench "$BENCH_PW" pipelined
fp_wall=$WALL fp_cpu=$CPU

mkdir -p "$work/getmail/state" "$work/getmail/Maildir/cur" "$work/getmail/Maildir/new" "$work/getmail/Maildir/tmp"
cat >"$work/getmail/state/getmailrc" <<EOF
[retriever]
type = SimplePOP3Retriever
server = 127.0.0.1
port = $pport
username = bench
password = $BENCH_PW

[destination]
type = Maildir
path = $work/getmail/Maildir/

[options]
read_all = true
delete = false
verbose = 0
message_log_syslog = false
EOF
# getmail6 (6.18.11) forks one child per Maildir delivery and installs its SIGCHLD handler
# only after the fork; a child that exits first is missed, and getmail waits 60 s and aborts
# ("waiting child pid N timed out"), which 2000 deliveries on two cores reliably hit. It runs
# here with that order fixed and nothing else changed: still one fork per message.
cat >"$work/getmail/getmail-fixed.py" <<'PY'
import os, runpy, sys, threading, time
from getmailcore import baseclasses

class Exited(threading.Condition):
    """A wait that returns at once when the child was reaped before it began."""
    def __init__(self, owner):
        super().__init__()
        self.owner = owner
    def wait(self, timeout=None):
        end = None if timeout is None else time.monotonic() + timeout
        while self.owner._ForkingBase__child_pid == 0:
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                return False
            super().wait(left)
        return True

def prepare_child(self, orig=baseclasses.ForkingBase._prepare_child):
    orig(self)
    self._ForkingBase__child_exited = Exited(self)

def forkchild(self, childfun, with_out=True):
    self.child = child = baseclasses.Namespace()
    child.stdout = baseclasses.TemporaryFile23()
    child.stderr = baseclasses.TemporaryFile23()
    child.childpid = -1  # the handler reaps any child: there is only this one
    self._prepare_child()  # before the fork, so its SIGCHLD cannot be missed
    pid = os.fork()
    if pid == 0:
        childfun(child.stdout, child.stderr)
        os._exit(0)
    child.childpid = pid
    child.exitcode = self._wait_for_child(pid)
    child.stderr.seek(0)
    child.err = child.stderr.read().strip().decode()
    child.stdout.seek(0)
    if with_out:
        child.out = child.stdout.read().strip()
    return child

baseclasses.ForkingBase._prepare_child = prepare_child
baseclasses.ForkingBase.forkchild = forkchild
sys.argv = ["/usr/bin/getmail"] + sys.argv[1:]
runpy.run_path("/usr/bin/getmail", run_name="__main__")
PY
# getmail6 refuses to deliver as root: run it as nobody then, as a user would run it.
as_user=()
if [ "$(id -u)" = 0 ]; then
    chown -R nobody:nogroup "$work/getmail"
    as_user=(setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME="$work/getmail")
fi
measure getmail "${as_user[@]}" python3 "$work/getmail/getmail-fixed.py" \
    --getmaildir "$work/getmail/state" --rcfile getmailrc
gm_wall=$WALL gm_rss=$RSS gm_cpu=$CPU
got=$(find "$work/getmail/Maildir/new" "$work/getmail/Maildir/cur" -type f | wc -l)
[ "$got" = "$msgs" ] || die "getmail6 stored $got messages, the server has $msgs"

cat >"$work/mv.conf" <<EOF
[account bench]
protocol = pop3
host = 127.0.0.1
port = $pport
tls = none
allow_plaintext = yes
user = bench
password_env = BENCH_PW
archive = $work/mv.sqlite
EOF
chmod 600 "$work/mv.conf"
measure mailvault "$mv" --config "$work/mv.conf" sync --json
mv_wall=$WALL mv_rss=$RSS mv_cpu=$CPU
python3 - "$work/mailvault.out" "$msgs" <<'EOF' || die "the mailvault report is not clean: $(cat "$work/mailvault.out")"
import json, sys
r = json.load(open(sys.argv[1]))[0]
f = r["folders"][0]
assert r["status"] == "ok" and f["status"] == "ok" and f["new"] == int(sys.argv[2]), r
EOF
measure mailvault-resync "$mv" --config "$work/mv.conf" sync --json
re_wall=$WALL re_rss=$RSS re_cpu=$CPU

# --- correctness: the archive holds exactly what the server serves ---
log "checking the archive against tests/lib/pop3_sha.py (direct)"
timeout "$limit" python3 "$top/tests/lib/pop3_sha.py" 127.0.0.1 "$port" bench "$BENCH_PW" |
    awk '{print $1}' | sort -u >"$work/server.set"
"$mv" --archive "$work/mv.sqlite" list --sha256 --expunged | awk '{print $1}' | sort -u >"$work/archive.set"
cmp -s "$work/server.set" "$work/archive.set" || die "the archive's SHA-256 set differs from what the server serves"
distinct=$(wc -l <"$work/archive.set")

# --- report ---
rtt=$(echo "2 * $delay" | bc)
rtt_total=$(echo "scale=1; $msgs * $rtt / 1000" | bc | sed 's/^\./0./')
echo
echo "## POP3 sync: $msgs messages ($(mib $((bytes / 1024))) MiB served), ${rtt} ms RTT"
echo
echo "Release build, $(nproc) cores, Dovecot $(dovecot --version | cut -d' ' -f1) on 127.0.0.1 behind" \
    "../shared/tools/latency-proxy (--delay-ms $delay); mailbox indexed and in the page cache" \
    "before timing. Wall time and peak RSS from GNU time, one run each."
echo
echo "| | wall | peak RSS | CPU (user+sys) | wall vs getmail6 | goal |"
echo "|---|---|---|---|---|---|"
echo "| protocol floor: one RETR per round trip (Python, bodies discarded) | $fs_wall s | – | $fs_cpu s | $(ratio "$fs_wall" "$gm_wall") | |"
echo "| protocol floor: every RETR pipelined (Python, bodies discarded) | $fp_wall s | – | $fp_cpu s | $(ratio "$fp_wall" "$gm_wall") | |"
echo "| getmail6 $(getmail --version 2>/dev/null | awk '{print $2}' | head -n 1) (SimplePOP3Retriever → Maildir, read_all, no delete) | $gm_wall s | $(mib "$gm_rss") MiB | $gm_cpu s | 1.00 | |"
echo "| **mailvault sync** (first run) | $mv_wall s | $(mib "$mv_rss") MiB | $mv_cpu s | **$(ratio "$mv_wall" "$gm_wall")** | ≤ 1.0 |"
echo "| mailvault sync, nothing new (LIST + UIDL) | $re_wall s | $(mib "$re_rss") MiB | $re_cpu s | $(ratio "$re_wall" "$gm_wall") | |"
echo
echo "Correctness: the archive's SHA-256 set equals what Dovecot serves over POP3" \
    "(tests/lib/pop3_sha.py, $distinct distinct); getmail6 stored $got files."
echo
echo "PIPELINING offered by the server (CAPA): $pipelining. Round trips alone, one per RETR:" \
    "$msgs × $rtt ms = $rtt_total s."
