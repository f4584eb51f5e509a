"""Shared by the backup tests: paths, the engine import, data snapshots."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import ansible.module_utils
import yaml

from crawler import _backup_engine as engine

REPO = Path(__file__).resolve().parents[3]
BIN_DIR = Path(os.environ.get("ACS_BUILD_DIR", "/var/cache/acs-build")) / "bin"
# The other module_utils files (acs_health) as the unit tests reach them:
# ansible.module_utils with this checkout's module_utils/ on its package path.
if str(REPO / "module_utils") not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(str(REPO / "module_utils"))
# The engine is module_utils/acs_backup/, imported as the crawler package
# carries it (crawler._backup_engine, a link to that folder): the venv of
# scripts/bootstrap-venv.sh installs the crawler editable from this checkout.
if Path(engine.__file__).resolve().parent != REPO / "module_utils" / "acs_backup":
    raise ImportError(
        f"crawler._backup_engine is {engine.__file__}, not this checkout's "
        f"module_utils/acs_backup: pip install -e {REPO / 'crawler'} (or PYTHONPATH=crawler/src)"
    )


def write_signed(manifest_path, manifest, key=None):
    """Write ``manifest`` signed with ``key`` (default: the environment's, as the
    engine does): for tests of what happens past the signature check."""
    signing = getattr(engine, "signing", None)  # None: an engine before signing
    if signing is not None:
        signing.sign(manifest, signing.resolve_key(key))
    Path(manifest_path).write_text(json.dumps(manifest, indent=2, sort_keys=True))


def snapshot(client, databases=("crawler", "metrics")):
    """Every document and index name, for 'data unchanged' assertions."""
    state = {}
    for db in databases:
        for coll in sorted(client[db].list_collection_names()):
            docs = list(client[db][coll].find({}, sort=[("_id", 1)]))
            indexes = sorted(ix["name"] for ix in client[db][coll].list_indexes())
            state[f"{db}.{coll}"] = (docs, indexes)
    return state


def play(tmp_path, tasks, check=False, diff=False):
    """Run one localhost play; returns {task name: result}."""
    cfg = tmp_path / "ansible.cfg"
    cfg.write_text(
        "[defaults]\n"
        f"library = {REPO / 'library'}\n"
        f"module_utils = {REPO / 'module_utils'}\n"
        "stdout_callback = ansible.posix.json\n"
        "retry_files_enabled = false\n"
    )
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        yaml.safe_dump([{"name": "t", "hosts": "localhost", "gather_facts": False, "tasks": tasks}])
    )
    cmd = [
        str(Path(sys.executable).with_name("ansible-playbook")),
        "-i",
        "localhost,",
        "-c",
        "local",
        "-e",
        f"ansible_python_interpreter={sys.executable}",
        str(playbook),
    ]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    env = dict(os.environ, ANSIBLE_CONFIG=str(cfg), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, check=False)
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError(
            f"ansible-playbook output is not JSON:\n{proc.stdout}\n{proc.stderr}"
        ) from None
    results = {}
    for task in report["plays"][0]["tasks"]:
        results[task["task"]["name"]] = task["hosts"]["localhost"]
    return results
