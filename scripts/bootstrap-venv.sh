#!/bin/sh
# Creates the controller virtualenv with the pinned requirements.
# Prints a step line before each long step; pip prints one line per package
# (no progress bar without a TTY, so CI logs stay readable).
set -eu
venv=${1:-.venv}
step() { echo "== bootstrap-venv: $*"; }
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    step "installing python3-venv (needed for the virtualenv)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv python3-pip
fi
if [ ! -x "$venv/bin/python" ]; then
    step "creating the virtualenv $venv"
    python3 -m venv "$venv"
fi
if [ -t 1 ]; then progress=on; else progress=off; fi
step "installing requirements.txt into $venv (a few minutes on a fresh venv)"
"$venv/bin/python" -m pip install --progress-bar "$progress" --disable-pip-version-check \
    -r requirements.txt
if [ -f crawler/pyproject.toml ]; then
    step "installing the crawler package (editable)"
    "$venv/bin/python" -m pip install --progress-bar "$progress" --disable-pip-version-check \
        --no-deps -e ./crawler
fi
step "done"
