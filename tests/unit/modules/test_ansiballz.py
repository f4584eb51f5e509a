"""mongodb_backup through AnsiballZ, the way a playbook runs it: ansible packs
the module with every module_utils file it imports (the engine included), so a
missing or unresolvable engine import fails here and not only on a host.
Check mode with method=native decides everything before it connects."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from module_support import REPO


def _ansible_check_run(tmp_path, **env_extra):
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        **env_extra,
    )
    args = f"backup_dir={tmp_path / 'b'} method=native label=probe"
    proc = subprocess.run(
        [
            os.path.join(os.path.dirname(sys.executable), "ansible"),
            "localhost",
            "-c",
            "local",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            "-m",
            "mongodb_backup",
            "-a",
            args,
            "--check",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_mongodb_backup_runs_through_ansiballz_in_check_mode(tmp_path):
    proc = _ansible_check_run(tmp_path)
    # raw_decode: the callback may print a summary after the JSON document.
    report, _ = json.JSONDecoder().raw_decode(proc.stdout)
    result = report["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert result["method"] == "native"
    assert result["path"].endswith("-probe.archive.gz")
    assert not (tmp_path / "b").exists()


def test_ansiballz_carries_every_file_of_the_engine_package(tmp_path):
    """The engine is the package module_utils/acs_backup/: the payload holds all of it."""
    remote_tmp = tmp_path / "remote"
    _ansible_check_run(tmp_path, ANSIBLE_KEEP_REMOTE_FILES="1", ANSIBLE_REMOTE_TMP=str(remote_tmp))
    (wrapper,) = remote_tmp.glob("*/AnsiballZ_mongodb_backup.py")
    subprocess.run(
        [sys.executable, str(wrapper), "explode"],
        cwd=wrapper.parent,
        capture_output=True,
        timeout=120,
        check=True,
    )
    packed = wrapper.parent / "debug_dir" / "ansible" / "module_utils" / "acs_backup"
    assert sorted(p.name for p in packed.glob("*.py")) == sorted(
        p.name for p in (REPO / "module_utils" / "acs_backup").glob("*.py")
    )
