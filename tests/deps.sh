#!/usr/bin/env bash
# Installs the Debian 12 packages mailvault needs to build, test and demo. Run as root;
# as another user it only says what is missing. MV_SKIP_APT=1 skips it entirely.
set -euo pipefail
packages=(
    build-essential cmake pkg-config clang
    libcurl4-openssl-dev libsqlite3-dev sqlite3 zlib1g-dev libssl-dev
    libgmime-3.0-dev libinih-dev libcmocka-dev
    dovecot-imapd dovecot-pop3d openssl ca-certificates curl
    python3 util-linux procps iproute2 time bc isync getmail6
)
[ -n "${MV_SKIP_APT:-}" ] && exit 0
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages (install them as root): ${missing[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
# The packaged Dovecot must not run: the tests start private instances on their own ports.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet dovecot 2>/dev/null; then
    systemctl stop dovecot || true
fi
