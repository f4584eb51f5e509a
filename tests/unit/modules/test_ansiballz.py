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


def test_mongodb_backup_runs_through_ansiballz_in_check_mode(tmp_path):
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
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
    # raw_decode: the callback may print a summary after the JSON document.
    report, _ = json.JSONDecoder().raw_decode(proc.stdout)
    result = report["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert result["method"] == "native"
    assert result["path"].endswith("-probe.archive.gz")
    assert not (tmp_path / "b").exists()
