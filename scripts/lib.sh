# Shared helpers for scripts/demo, scripts/test and scripts/bench. Sourced, not run.
# Each step says what it is doing and installs only what is missing.

set -euo pipefail

PAYRAIL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PEERS_DIR="$PAYRAIL_ROOT/.build/peers"
PEERS_VENV="$PEERS_DIR/venv"
PEERS_REQUIREMENTS="$PAYRAIL_ROOT/scripts/peers-requirements.txt"
LNBITS_VENV="$PEERS_DIR/lnbits"
LNBITS_REQUIREMENTS="$PAYRAIL_ROOT/scripts/lnbits-requirements.txt"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else die "need root to run '$*' (install sudo or run as root)"; fi
}

APT_UPDATED=0
apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install these packages by hand: $*"
    if [ "$APT_UPDATED" -eq 0 ]; then
        say "apt-get update (once)"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        APT_UPDATED=1
    fi
    say "apt-get install $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# The Swift toolchain is the one thing we do not install.
ensure_swift() {
    command -v swift >/dev/null 2>&1 || die "the Swift toolchain (6.0 or newer) is not on PATH: install it from swift.org first"
}

# System C libraries behind the package's .systemLibrary targets.
ensure_system_libraries() {
    local missing=()
    command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
    if ! pkg-config --exists 'libcrypto >= 3.0' 2>/dev/null; then missing+=(libssl-dev); fi
    if ! pkg-config --exists sqlite3 2>/dev/null; then missing+=(libsqlite3-dev); fi
    if ! pkg-config --exists libmicrohttpd 2>/dev/null; then missing+=(libmicrohttpd-dev); fi
    # The sqlite3 shell plays "another process" in the store's cross-process lock test.
    command -v sqlite3 >/dev/null 2>&1 || missing+=(sqlite3)
    # curl plays the founding article's client in the serve interop test.
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    # libpq for the PayRailPostgres module; the server binaries (initdb, postgres, psql) for the
    # PostgreSQL store tests, which start their own server in a temporary directory.
    if ! pkg-config --exists libpq 2>/dev/null; then missing+=(libpq-dev); fi
    if ! compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; then missing+=(postgresql); fi
    if [ ${#missing[@]} -gt 0 ]; then
        say "missing system libraries: ${missing[*]}"
        apt_install "${missing[@]}"
    else
        say "system libraries present (OpenSSL $(pkg-config --modversion libcrypto), SQLite $(pkg-config --modversion sqlite3), libmicrohttpd $(pkg-config --modversion libmicrohttpd), libpq $(pkg-config --modversion libpq))"
    fi
}

# Python peers for interoperability tests, pinned, in a venv under .build/peers.
ensure_peers() {
    if ! command -v python3 >/dev/null 2>&1; then
        say "python3 is missing (needed only for the test peers)"
        apt_install python3 python3-venv
    fi
    if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
        say "python3 venv support is missing"
        apt_install python3-venv
    fi
    local stamp="$PEERS_DIR/requirements.installed"
    if [ -x "$PEERS_VENV/bin/python" ] && [ -f "$stamp" ] && cmp -s "$stamp" "$PEERS_REQUIREMENTS"; then
        say "test peers present in $PEERS_VENV"
        return
    fi
    say "installing pinned test peers into $PEERS_VENV ($(grep -cv '^#' "$PEERS_REQUIREMENTS") packages)"
    mkdir -p "$PEERS_DIR"
    [ -x "$PEERS_VENV/bin/python" ] || python3 -m venv "$PEERS_VENV"
    "$PEERS_VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$PEERS_REQUIREMENTS"
    cp "$PEERS_REQUIREMENTS" "$stamp"
}

# LNbits (the real Lightning wallet server of the LightningRail tests), pinned, in its own venv:
# its pins (pyjwt~=2.12, pydantic 1.x) conflict with the main peers venv. About 270 MB.
ensure_lnbits() {
    if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
        say "python3 with venv support is missing (needed only for LNbits)"
        apt_install python3 python3-venv
    fi
    local stamp="$LNBITS_VENV/requirements.installed"
    if [ -x "$LNBITS_VENV/bin/lnbits" ] && [ -f "$stamp" ] && cmp -s "$stamp" "$LNBITS_REQUIREMENTS"; then
        say "LNbits present in $LNBITS_VENV"
        return
    fi
    say "installing pinned LNbits into $LNBITS_VENV ($(grep -c '==' "$LNBITS_REQUIREMENTS") packages, a few minutes)"
    mkdir -p "$PEERS_DIR"
    [ -x "$LNBITS_VENV/bin/python" ] || python3 -m venv "$LNBITS_VENV"
    "$LNBITS_VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$LNBITS_REQUIREMENTS"
    cp "$LNBITS_REQUIREMENTS" "$stamp"
}
