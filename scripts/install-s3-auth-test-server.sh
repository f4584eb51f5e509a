#!/usr/bin/env bash
# Installs the credential-checking S3 server of the backup tests: moto's
# server (Apache-2.0), in its own virtualenv, pinned in
# tests/requirements-s3-auth-server.txt. gofakes3 accepts any credentials, so
# a test of wrong credentials needs this one.
# Output: ${ACS_BUILD_DIR:-/var/cache/acs-build}/moto-venv/bin/moto_server
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${ACS_BUILD_DIR:-/var/cache/acs-build}"
venv="$build_dir/moto-venv"
if [[ -x "$venv/bin/moto_server" && "${FORCE:-0}" != 1 ]]; then
  echo "moto server already installed: $venv/bin/moto_server"
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --disable-pip-version-check --quiet \
  -r "$repo/tests/requirements-s3-auth-server.txt"
echo "installed $venv/bin/moto_server ($("$venv/bin/python" -m pip show moto | sed -n 's/^Version: //p'))"
