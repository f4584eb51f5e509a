#!/bin/sh
# Refuses, with one clear message and no change to the machine, to set up a
# host this repository does not support: not Debian, not root, or no route
# to the Debian package archive.
set -u
fail() { echo "make: this host cannot be set up: $*" >&2; exit 2; }

[ -r /etc/os-release ] || fail "no /etc/os-release; a Debian 12 (bookworm) host is required."
. /etc/os-release
[ "${ID:-}" = debian ] || fail "it runs ${PRETTY_NAME:-an unknown OS}; a Debian 12 (bookworm) host is required."
[ "${VERSION_ID:-0}" -ge 12 ] 2>/dev/null || fail "it runs ${PRETTY_NAME:-Debian ${VERSION_ID:-?}}; Debian 12 (bookworm) or later is required."
[ "$(id -u)" -eq 0 ] || fail "run it as root (sudo make ...): it installs packages and starts the Docker engine."
command -v python3 >/dev/null 2>&1 || fail "python3 is missing; install it with: apt-get install python3"

mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
[ -n "$mirror" ] || mirror=$(sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\) .*/\2/p' /etc/apt/sources.list 2>/dev/null | head -n 1)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
python3 - "$mirror" "${VERSION_CODENAME:-bookworm}" <<'PY' || fail "the Debian package archive ($mirror) does not answer; check the network or the apt sources."
import sys, urllib.request
url = f"{sys.argv[1].rstrip('/')}/dists/{sys.argv[2]}/Release"
req = urllib.request.Request(url, method="HEAD")
urllib.request.urlopen(req, timeout=15)
PY
exit 0
