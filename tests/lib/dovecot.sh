# shellcheck shell=bash
# Throwaway Dovecot (2.3) for mailvault's integration tests and demo.
#
# Source this file; it defines functions and variables only, sets no shell
# options and installs no traps. One instance per shell at a time (run several
# in subshells or separate processes; parallel ctest jobs are fine).
#
#   source tests/lib/dovecot.sh
#   dir=$(mktemp -d)
#   trap 'mv_dovecot_stop; rm -rf "$dir"' EXIT   # or: mv_dovecot_trap (chains)
#   mv_dovecot_start "$dir"            # Maildir++ layout, '.' separator
#   mv_dovecot_start "$dir" fs         # LAYOUT=fs, '/' separator
#   mv_dovecot_add_user alice secret
#   mv_dovecot_load_maildir alice ./corpus/inbox            # -> INBOX
#   mv_dovecot_load_maildir alice ./corpus/work Work/2019   # -> folder Work/2019
#   mv_dovecot_doveadm expunge -u alice mailbox INBOX uid 3
#   mv_dovecot_stop
#
# mv_dovecot_init DIR [fs] prepares DIR without starting, so users and mail
# can be loaded before mv_dovecot_start. mv_dovecot_trap puts mv_dovecot_stop
# in front of the caller's existing EXIT trap instead of replacing it.
# Runs as root (login processes as dovenull, mail as dovecot) or as any other
# user (everything as that user). Every wait is bounded; start takes well
# under a second, stop 1-2 s (Dovecot's own shutdown).
#
# After mv_dovecot_start these are exported:
#   MV_DOVECOT_DIR  MV_DOVECOT_CONF  MV_DOVECOT_CERT (self-signed; use as CA file)
#   MV_DOVECOT_IMAP_PORT (plain+STARTTLS)  MV_DOVECOT_IMAPS_PORT
#   MV_DOVECOT_POP3_PORT (plain+STLS)      MV_DOVECOT_POP3S_PORT
#   MV_DOVECOT_LAYOUT (maildir++|fs)       MV_DOVECOT_SEPARATOR (.|/)
#   MV_DOVECOT_INSTANCE (process titles are "dovecot-$MV_DOVECOT_INSTANCE/...")
# and written to $MV_DOVECOT_DIR/env.sh for other processes to source.
#
# Optional environment, read by mv_dovecot_init/start:
#   MV_DOVECOT_LAYOUT         maildir++ (default) or fs; the 2nd argument wins
#   MV_DOVECOT_SPECIAL_AUTO   auto= for Drafts/Sent/Trash/Junk/Archive:
#                             subscribe (default), create or no
#   MV_DOVECOT_DEBUG=1        auth_debug and mail_debug into the log
#
# Layout of the state directory. Its mode becomes 0711 so the dovecot user
# can reach the mail store; its parents need o+x too (true for mktemp -d in
# /tmp; chmod 0711 a mktemp -d that you nest the state directory in). When
# the path is long, base_dir goes to /tmp/mvdc.XXXXXX (socket path limit)
# and mv_dovecot_stop removes it.
#   dovecot.conf dovecot.log passwd env.sh tls/{cert,key}.pem
#   run/ (base_dir) lib/ (state_dir) mail/USER/ (mail store) home/USER/

_MV_DC_LOCK=${TMPDIR:-/tmp}/mailvault-dovecot-ports.lock

_mv_dc_err() { printf 'dovecot harness: %s\n' "$*" >&2; }

_mv_dc_require() {
    if [[ -z ${MV_DOVECOT_DIR:-} || ! -f ${MV_DOVECOT_DIR}/dovecot.conf ]]; then
        _mv_dc_err "no instance: call mv_dovecot_init or mv_dovecot_start first"
        return 1
    fi
}

_mv_dc_identity() {
    # Dovecot refuses to run login processes as root, and the mail store is
    # owned by the dovecot user. When not root everything runs as ourselves.
    if [[ $(id -u) -eq 0 ]]; then
        _MV_DC_LOGIN_USER=dovenull
        _MV_DC_INTERNAL_USER=dovecot
        _MV_DC_INTERNAL_GROUP=dovecot
        _MV_DC_MAIL_UID=$(id -u dovecot) || return 1
        _MV_DC_MAIL_GID=$(id -g dovecot) || return 1
        id -u dovenull >/dev/null || return 1
    else
        _MV_DC_LOGIN_USER=$(id -un)
        _MV_DC_INTERNAL_USER=$(id -un)
        _MV_DC_INTERNAL_GROUP=$(id -gn)
        _MV_DC_MAIL_UID=$(id -u)
        _MV_DC_MAIL_GID=$(id -g)
    fi
}

_mv_dc_port_free() {
    local port=$1
    if command -v ss >/dev/null 2>&1; then
        # Any TCP socket at all on that local port (listening or connected).
        [[ -z $(ss -Htan "sport = :$port" 2>/dev/null) ]]
    else
        ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
    fi
}

# Sets _MV_DC_PORTS to four distinct free ports below the kernel's ephemeral
# range, so outgoing connections cannot be sitting on them.
_mv_dc_pick_ports() {
    local lo=20000 hi=32767 tries=0 p eph
    if read -r eph _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null &&
        ((eph > lo + 4000 && eph - 1 < hi)); then
        hi=$((eph - 1))
    fi
    _MV_DC_PORTS=()
    while ((${#_MV_DC_PORTS[@]} < 4)); do
        if ((++tries > 200)); then
            _mv_dc_err "no free port found in $lo-$hi after 200 tries"
            return 1
        fi
        p=$((lo + (${SRANDOM:-$((RANDOM * 32768 + RANDOM))} % (hi - lo + 1))))
        [[ " ${_MV_DC_PORTS[*]} " == *" $p "* ]] && continue
        _mv_dc_port_free "$p" && _MV_DC_PORTS+=("$p")
    done
}

# True when PORT on 127.0.0.1 answers with an untagged OK greeting (IMAP "* OK",
# POP3 "+OK"), within 2 s.
_mv_dc_greets() {
    local port=$1 want=$2
    (
        exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
        IFS= read -r -t 2 line <&3 || exit 1
        [[ $line == "$want"* ]]
    ) 2>/dev/null
}

# Process titles become "dovecot-NAME/imap" etc.; tests use it to find strays.
# Unique per state directory (basename + checksum of the full path).
_mv_dc_instance_name() {
    local n=${1##*/} sum
    sum=$(printf '%s' "$1" | cksum)
    printf 'mvdc-%s-%s\n' "${n//[^A-Za-z0-9._-]/_}" "${sum%% *}"
}

_mv_dc_write_conf() {
    local d=$MV_DOVECOT_DIR sep auto debug=no loc
    if [[ $MV_DOVECOT_LAYOUT == fs ]]; then
        sep=/
        loc="maildir:$d/mail/%u:LAYOUT=fs"
    else
        sep=.
        loc="maildir:$d/mail/%u"
    fi
    auto=${MV_DOVECOT_SPECIAL_AUTO:-subscribe}
    [[ ${MV_DOVECOT_DEBUG:-0} == 1 ]] && debug=yes
    local nochroot=""
    if [[ $(id -u) -ne 0 ]]; then
        # Unprivileged master cannot chroot or switch users.
        local svc
        for svc in imap-login pop3-login anvil ipc old-stats; do
            nochroot+=$'\n'"service $svc {"$'\n'"  chroot ="$'\n'"}"
        done
        nochroot+=$'\nservice auth-worker {\n  user = $default_internal_user\n}'
    fi
    cat >"$d/dovecot.conf.tmp" <<EOF
# Generated by tests/lib/dovecot.sh; rewritten on every start.
instance_name = $(_mv_dc_instance_name "$d")
base_dir = $(<"$d/base_dir.path")
state_dir = $d/lib
log_path = $d/dovecot.log
info_log_path =
debug_log_path =
protocols = imap pop3
listen = 127.0.0.1
shutdown_clients = yes

default_login_user = $_MV_DC_LOGIN_USER
default_internal_user = $_MV_DC_INTERNAL_USER
default_internal_group = $_MV_DC_INTERNAL_GROUP
first_valid_uid = $_MV_DC_MAIL_UID
first_valid_gid = $_MV_DC_MAIL_GID

ssl = yes
ssl_cert = <$d/tls/cert.pem
ssl_key = <$d/tls/key.pem

disable_plaintext_auth = no
auth_mechanisms = plain login cram-md5
# A failed login would otherwise stall every negative test by 2 s.
auth_failure_delay = 0
auth_verbose = yes
auth_debug = $debug
mail_debug = $debug

passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $d/passwd
}
userdb {
  driver = passwd-file
  args = username_format=%u $d/passwd
}

mail_location = $loc
mail_plugins =

namespace inbox {
  inbox = yes
  prefix =
  separator = $sep
  mailbox Drafts {
    special_use = \\Drafts
    auto = $auto
  }
  mailbox Sent {
    special_use = \\Sent
    auto = $auto
  }
  mailbox Trash {
    special_use = \\Trash
    auto = $auto
  }
  mailbox Junk {
    special_use = \\Junk
    auto = $auto
  }
  mailbox Archive {
    special_use = \\Archive
    auto = $auto
  }
}

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $MV_DOVECOT_IMAP_PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $MV_DOVECOT_IMAPS_PORT
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = $MV_DOVECOT_POP3_PORT
  }
  inet_listener pop3s {
    address = 127.0.0.1
    port = $MV_DOVECOT_POP3S_PORT
    ssl = yes
  }
}
# Dovecot 2.3 makes the first login after a failed one from an IP wait 4 s
# (anvil auth penalty) and login_trusted_networks no longer exempts anyone.
# Negative tests would stall the next test's login, so the auth process is
# kept away from the penalty socket, which makes it skip penalties.
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
$nochroot

protocol imap {
  # Tests open several connections per user from one address.
  mail_max_userip_connections = 100
}
protocol pop3 {
  pop3_uidl_format = %08Xu%08Xv
  mail_max_userip_connections = 100
}
EOF
    mv -f "$d/dovecot.conf.tmp" "$d/dovecot.conf"
    cat >"$d/env.sh" <<EOF
export MV_DOVECOT_DIR='$d'
export MV_DOVECOT_CONF='$d/dovecot.conf'
export MV_DOVECOT_CERT='$d/tls/cert.pem'
export MV_DOVECOT_LAYOUT='$MV_DOVECOT_LAYOUT'
export MV_DOVECOT_INSTANCE='$MV_DOVECOT_INSTANCE'
export MV_DOVECOT_SEPARATOR='$sep'
export MV_DOVECOT_IMAP_PORT='$MV_DOVECOT_IMAP_PORT'
export MV_DOVECOT_IMAPS_PORT='$MV_DOVECOT_IMAPS_PORT'
export MV_DOVECOT_POP3_PORT='$MV_DOVECOT_POP3_PORT'
export MV_DOVECOT_POP3S_PORT='$MV_DOVECOT_POP3S_PORT'
EOF
    export MV_DOVECOT_SEPARATOR=$sep
}

# mv_dovecot_init STATEDIR [fs|maildir++]
# Prepares STATEDIR (directories, TLS certificate, empty passwd-file) without
# starting the server, so users and mail can be loaded first. Idempotent.
mv_dovecot_init() {
    local dir=${1:-} layout=${2:-${MV_DOVECOT_LAYOUT:-maildir++}}
    if [[ -z $dir || ! -d $dir ]]; then
        _mv_dc_err "usage: mv_dovecot_init STATEDIR [fs]  (STATEDIR must exist)"
        return 2
    fi
    case $layout in
    fs | maildir++) ;;
    maildir | '') layout=maildir++ ;;
    *)
        _mv_dc_err "unknown layout '$layout' (use fs or maildir++)"
        return 2
        ;;
    esac
    if ! command -v dovecot >/dev/null || ! command -v doveadm >/dev/null; then
        _mv_dc_err "dovecot/doveadm not found (apt-get install dovecot-imapd dovecot-pop3d)"
        return 1
    fi
    _mv_dc_identity || { _mv_dc_err "users dovecot/dovenull missing"; return 1; }
    dir=$(cd -- "$dir" && pwd -P) || return 1
    if [[ -f $dir/dovecot.conf && -f $dir/layout && $(<"$dir/layout") != "$layout" ]]; then
        _mv_dc_err "$dir was initialised with layout $(<"$dir/layout"), not $layout"
        return 1
    fi
    chmod 0711 "$dir" &&
        mkdir -p "$dir/lib" "$dir/mail" "$dir/home" "$dir/tls" || return 1
    if [[ $(id -u) -eq 0 ]] && command -v setpriv >/dev/null 2>&1 &&
        ! setpriv --reuid="$_MV_DC_MAIL_UID" --regid="$_MV_DC_MAIL_GID" --clear-groups \
            test -x "$dir/mail"; then
        # Otherwise auth and imap fail later with "Permission denied" in the log.
        _mv_dc_err "user dovecot cannot reach $dir: a parent directory lacks o+x" \
            "(e.g. chmod 0711 the mktemp -d directory it lives in)"
        return 1
    fi
    printf '%s\n' "$layout" >"$dir/layout"
    [[ -f $dir/passwd ]] || : >"$dir/passwd"
    chmod 0644 "$dir/passwd"
    if [[ ! -f $dir/base_dir.path || ! -d $(<"$dir/base_dir.path") ]]; then
        # Unix socket paths are limited to 108 bytes; keep base_dir short.
        local base=$dir/run
        if ((${#base} > 70)); then
            base=$(mktemp -d "${TMPDIR:-/tmp}/mvdc.XXXXXX") || return 1
        else
            mkdir -p "$base" || return 1
        fi
        chmod 0755 "$base"
        printf '%s\n' "$base" >"$dir/base_dir.path"
    fi
    if [[ ! -s $dir/tls/cert.pem || ! -s $dir/tls/key.pem ]]; then
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
            -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
            -keyout "$dir/tls/key.pem" -out "$dir/tls/cert.pem" \
            >"$dir/tls/openssl.log" 2>&1 || {
            _mv_dc_err "openssl failed:"
            cat "$dir/tls/openssl.log" >&2
            return 1
        }
        chmod 0600 "$dir/tls/key.pem"
    fi
    export MV_DOVECOT_DIR=$dir
    export MV_DOVECOT_CONF=$dir/dovecot.conf
    export MV_DOVECOT_CERT=$dir/tls/cert.pem
    export MV_DOVECOT_LAYOUT=$layout
    MV_DOVECOT_INSTANCE=$(_mv_dc_instance_name "$dir")
    export MV_DOVECOT_INSTANCE
    export MV_DOVECOT_IMAP_PORT=${MV_DOVECOT_IMAP_PORT:-0} MV_DOVECOT_IMAPS_PORT=${MV_DOVECOT_IMAPS_PORT:-0}
    export MV_DOVECOT_POP3_PORT=${MV_DOVECOT_POP3_PORT:-0} MV_DOVECOT_POP3S_PORT=${MV_DOVECOT_POP3S_PORT:-0}
    # A config exists from here on so doveadm-free helpers work before start.
    _mv_dc_write_conf
}

_mv_dc_master_pid() {
    local f pid
    f=$(<"$MV_DOVECOT_DIR/base_dir.path")/master.pid
    [[ -r $f ]] && read -r pid <"$f" 2>/dev/null && [[ $pid =~ ^[0-9]+$ ]] &&
        _mv_dc_pid_alive "$pid" && printf '%s\n' "$pid"
}

# Zombies count as dead: the daemonised master is re-parented, and where PID 1
# is slow to reap (containers) it and its children linger as zombies.
_mv_dc_pid_alive() {
    local st
    st=$(ps -o stat= -p "$1" 2>/dev/null) && [[ -n $st && $st != Z* ]]
}

_mv_dc_launch() { # CONF [FD_TO_CLOSE]
    local fd=${2:-}
    if [[ -n $fd ]]; then
        dovecot -c "$1" {fd}>&- </dev/null
    else
        dovecot -c "$1" </dev/null
    fi
}

# mv_dovecot_start STATEDIR [fs|maildir++]
# Returns 0 once the IMAP port greets; otherwise prints the log tail, leaves
# nothing running and returns nonzero.
mv_dovecot_start() {
    mv_dovecot_init "$@" || return
    local d=$MV_DOVECOT_DIR i ok lockfd=
    if _mv_dc_master_pid >/dev/null; then
        _mv_dc_err "already running in $d"
        return 1
    fi
    # Serialise port choice + bind between harnesses on this host; the retry
    # below covers anything else that grabs a port in between.
    if command -v flock >/dev/null 2>&1; then
        { exec {lockfd}>>"$_MV_DC_LOCK"; } 2>/dev/null ||
            { exec {lockfd}<"$_MV_DC_LOCK"; } 2>/dev/null || lockfd=
        if [[ -n $lockfd ]]; then
            chmod 0666 "$_MV_DC_LOCK" 2>/dev/null
            flock -w 60 "$lockfd" || _mv_dc_err "port lock busy for 60 s; going on without it"
        fi
    fi
    for _ in 1 2 3 4 5; do
        _mv_dc_pick_ports || break
        MV_DOVECOT_IMAP_PORT=${_MV_DC_PORTS[0]} MV_DOVECOT_IMAPS_PORT=${_MV_DC_PORTS[1]}
        MV_DOVECOT_POP3_PORT=${_MV_DC_PORTS[2]} MV_DOVECOT_POP3S_PORT=${_MV_DC_PORTS[3]}
        _mv_dc_write_conf
        : >>"$d/dovecot.log"
        local logpos
        logpos=$(wc -c <"$d/dovecot.log")
        ok=0
        # The daemon must not inherit the lock fd, or it would hold the lock
        # for its whole life.
        if _mv_dc_launch "$d/dovecot.conf" "$lockfd" >>"$d/dovecot.start.log" 2>&1; then
            for ((i = 0; i < 100; i++)); do
                if _mv_dc_greets "$MV_DOVECOT_IMAP_PORT" '* OK'; then
                    ok=1
                    break
                fi
                _mv_dc_master_pid >/dev/null || break
                sleep 0.1
            done
        fi
        if ((ok)); then
            [[ -n $lockfd ]] && exec {lockfd}>&-
            return 0
        fi
        local pid
        pid=$(_mv_dc_master_pid) && _mv_dc_kill "$pid" >/dev/null 2>&1
        if tail -c +"$((logpos + 1))" "$d/dovecot.log" | cat - "$d/dovecot.start.log" |
            grep -q 'Address already in use'; then
            : >"$d/dovecot.start.log"
            continue # lost a race for a port: new ports
        fi
        break
    done
    [[ -n $lockfd ]] && exec {lockfd}>&-
    _mv_dc_err "dovecot did not come up (state dir $d); last log lines:"
    if [[ -s $d/dovecot.log ]]; then
        tail -n 20 "$d/dovecot.log" >&2
    else
        tail -n 20 "$d/dovecot.start.log" >&2
    fi
    return 1
}

# True while a process of group PGID is alive (zombies do not count).
_mv_dc_group_alive() {
    ps -eo pgid=,stat= 2>/dev/null | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { f = 1 } END { exit !f }'
}

# mv_dovecot_stop [STATEDIR]
# Stops the instance (default: the active one). Safe to call twice, before
# start, or from an EXIT trap; always returns 0 so it never masks a test's
# exit status, and complains on stderr if something had to be killed.
# shellcheck disable=SC2120 # STATEDIR is optional
mv_dovecot_stop() {
    local d=${1:-${MV_DOVECOT_DIR:-}} pid base
    [[ -n $d && -f $d/dovecot.conf && -f $d/base_dir.path ]] || return 0
    local MV_DOVECOT_DIR=$d
    if pid=$(_mv_dc_master_pid); then
        _mv_dc_kill "$pid"
    fi
    # A base_dir moved out to /tmp (long STATEDIR) holds only sockets.
    base=$(<"$d/base_dir.path")
    if [[ $base != "$d/run" && ${base##*/} == mvdc.* ]]; then
        rm -rf -- "$base" "$d/base_dir.path"
    fi
    return 0
}

_mv_dc_kill() {
    local pid=$1 pgid i
    # The daemonised master leads its own process group with all its children.
    pgid=$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')
    [[ $pgid == "$pid" ]] || pgid=
    # What "dovecot -c CONF stop" does, minus its slow (~3 s) wait loop.
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 100; i++)); do
        if [[ -n $pgid ]]; then
            _mv_dc_group_alive "$pgid" || return 0
        else
            _mv_dc_pid_alive "$pid" || return 0
        fi
        sleep 0.1
    done
    _mv_dc_err "dovecot (pid $pid) ignored stop for 10 s; killing it"
    if [[ -n $pgid ]]; then
        kill -KILL -- "-$pgid" 2>/dev/null
    else
        kill -KILL "$pid" 2>/dev/null
    fi
    for ((i = 0; i < 20; i++)); do
        _mv_dc_pid_alive "$pid" || break
        sleep 0.1
    done
    return 0
}

# mv_dovecot_trap: install mv_dovecot_stop on EXIT in front of whatever EXIT
# trap the caller already has (which keeps running afterwards). Call it again
# after replacing your own EXIT trap.
mv_dovecot_trap() {
    local old=''
    local cur
    cur=$(trap -p EXIT)
    if [[ -n $cur ]]; then
        local -a parts
        eval "parts=($cur)" # trap -- 'CMD' EXIT
        old=${parts[2]}
    fi
    [[ $old == *mv_dovecot_stop* ]] && return 0
    # shellcheck disable=SC2064
    trap "mv_dovecot_stop${old:+; $old}" EXIT
}

# mv_dovecot_add_user NAME PASSWORD
# Adds (or replaces) a user; Dovecot re-reads the passwd-file on change, so
# this works while the server runs.
mv_dovecot_add_user() {
    local name=${1:-} pass=${2-}
    _mv_dc_require || return
    if [[ -z $name || $# -ne 2 ]]; then
        _mv_dc_err "usage: mv_dovecot_add_user NAME PASSWORD"
        return 2
    fi
    if [[ $name == *[:/[:space:]]* || $name == .* || $pass == *[:$'\n']* ]]; then
        _mv_dc_err "user '$name': names cannot contain ':', '/', spaces or start with '.'; passwords cannot contain ':' or newlines"
        return 2
    fi
    local d=$MV_DOVECOT_DIR
    _mv_dc_identity || return 1
    mkdir -p "$d/mail/$name" "$d/home/$name" || return 1
    _mv_dc_chown "$d/mail/$name" "$d/home/$name"
    {
        grep -v -- "^$name:" "$d/passwd" || true
        printf '%s:{PLAIN}%s:%s:%s::%s::\n' "$name" "$pass" \
            "$_MV_DC_MAIL_UID" "$_MV_DC_MAIL_GID" "$d/home/$name"
    } >"$d/passwd.tmp" && chmod 0644 "$d/passwd.tmp" && mv -f "$d/passwd.tmp" "$d/passwd"
}

_mv_dc_chown() {
    [[ $(id -u) -eq 0 ]] || return 0
    chown -R "$_MV_DC_MAIL_UID:$_MV_DC_MAIL_GID" "$@"
}

# Prints the on-disk directory of FOLDER for USER. FOLDER is split on '/';
# with the Maildir++ layout '.' separates levels too ("A/B" = "A.B").
_mv_dc_folder_path() {
    local user=$1 folder=$2 root=$MV_DOVECOT_DIR/mail/$1
    if [[ -z $folder || ${folder^^} == INBOX ]]; then
        printf '%s\n' "$root"
    elif [[ $MV_DOVECOT_LAYOUT == fs ]]; then
        printf '%s/%s\n' "$root" "$folder"
    else
        printf '%s/.%s\n' "$root" "${folder//\//.}"
    fi
}

# mv_dovecot_load_maildir USER SRC_DIR [FOLDER]
# Copies mail into USER's store. SRC_DIR is a Maildir (has cur/ and/or new/)
# and/or a tree of them: SRC_DIR itself becomes FOLDER (default INBOX), a
# subdirectory A/B/ becomes FOLDER/A/B (just A/B when FOLDER is INBOX), and a
# Maildir++ subfolder .A.B/ likewise. Message files keep their names, so
# flags in ":2,FS" suffixes are kept. Works before or after start (Dovecot
# notices new files on the next SELECT/STATUS/LIST).
mv_dovecot_load_maildir() {
    local user=${1:-} src=${2:-} base=${3:-INBOX}
    _mv_dc_require || return
    if [[ -z $user || -z $src || ! -d $src ]]; then
        _mv_dc_err "usage: mv_dovecot_load_maildir USER SRC_DIR [FOLDER]"
        return 2
    fi
    if ! grep -q -- "^$user:" "$MV_DOVECOT_DIR/passwd"; then
        _mv_dc_err "unknown user '$user' (mv_dovecot_add_user first)"
        return 1
    fi
    _mv_dc_identity || return 1
    local -a boxes=()
    local box rel name dest sub n=0
    src=$(cd -- "$src" && pwd -P) || return 1
    mapfile -t boxes < <(find "$src" -type d \( -name cur -o -name new \) \
        -printf '%h\n' | LC_ALL=C sort -u)
    if ((${#boxes[@]} == 0)); then
        _mv_dc_err "$src contains no Maildir (no cur/ or new/ directory)"
        return 1
    fi
    for box in "${boxes[@]}"; do
        rel=${box#"$src"}
        rel=${rel#/}
        if [[ $rel == .?* && $rel != */* ]]; then
            rel=${rel#.}
            rel=${rel//./\/} # Maildir++ ".A.B" -> A/B
        fi
        if [[ -z $rel ]]; then
            name=$base
        elif [[ ${base^^} == INBOX ]]; then
            name=$rel
        else
            name=$base/$rel
        fi
        if [[ $MV_DOVECOT_LAYOUT != fs ]]; then
            name=${name//./\/}
        fi
        dest=$(_mv_dc_folder_path "$user" "$name")
        mkdir -p "$dest/cur" "$dest/new" "$dest/tmp" || return 1
        if [[ $MV_DOVECOT_LAYOUT != fs && $dest != "$MV_DOVECOT_DIR/mail/$user" ]]; then
            : >>"$dest/maildirfolder"
        fi
        for sub in cur new; do
            [[ -d $box/$sub ]] || continue
            find "$box/$sub" -maxdepth 1 -type f -exec cp -p -t "$dest/$sub" -- {} + ||
                return 1
            n=$((n + $(find "$box/$sub" -maxdepth 1 -type f | wc -l)))
        done
    done
    _mv_dc_chown "$MV_DOVECOT_DIR/mail/$user"
    ((n > 0)) || _mv_dc_err "note: $src held no message files"
    return 0
}

# mv_dovecot_doveadm ARGS...   e.g. mv_dovecot_doveadm fetch -u alice uid mailbox INBOX all
mv_dovecot_doveadm() {
    _mv_dc_require || return
    doveadm -c "$MV_DOVECOT_DIR/dovecot.conf" "$@"
}
