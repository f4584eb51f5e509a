#!/bin/sh
# Creates the controller virtualenv with the pinned requirements.
set -eu
venv=${1:-.venv}
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    echo "installing python3-venv (needed for the virtualenv)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv python3-pip >/dev/null
fi
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet -r requirements.txt
if [ -f crawler/pyproject.toml ]; then
    "$venv/bin/python" -m pip install --quiet --no-deps -e ./crawler
fi
