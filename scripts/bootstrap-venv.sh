#!/bin/sh
# Creates the controller virtualenv with the pinned requirements.
# Prints a step line before each long step (uv prints no progress bar
# without a TTY, so CI logs stay readable).
set -eu
venv=${1:-.venv}
# The uv that installs the requirements (the same pin as the UV_VERSION of
# images/airflow/Dockerfile and crawler/Dockerfile).
UV_VERSION=0.13.9
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
# uv installs the pinned requirements: it downloads in parallel (seconds on
# a fresh venv, where pip takes a minute).
step "installing uv ${UV_VERSION} into $venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "uv==${UV_VERSION}"
step "installing requirements.txt into $venv"
"$venv/bin/uv" pip install --python "$venv/bin/python" -r requirements.txt
if [ -f crawler/pyproject.toml ]; then
    step "installing the crawler package (editable)"
    "$venv/bin/uv" pip install --python "$venv/bin/python" --no-deps -e ./crawler
fi
# Byte-code, compiled once here: with PYTHONDONTWRITEBYTECODE set (as in CI)
# Python never keeps what it compiles, and every ansible-playbook would pay
# ~0.6 s to compile its imports again. The collections the project uses are
# compiled, not the other ~50 of the ansible package (15,000 files, ~25 s).
step "compiling the byte-code of $venv"
"$venv/bin/python" -m compileall -q -j 0 \
    -x 'ansible_collections/(?!(community/(docker|general|crypto)|ansible/(posix|utils))/)' \
    "$venv/lib/python3.11/site-packages" >/dev/null
step "done"
