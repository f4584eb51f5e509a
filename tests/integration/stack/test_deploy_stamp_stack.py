"""The deploy stamp on this machine (roles/deploy_stamp): a deploy with
nothing to do ends after the stamp check with changed=0, and a managed file
edited on the host makes the next deploy converge everything and repair it.

These runs are whole deploys (no --skip-tags): a run that skips a role
neither checks nor writes the stamp."""

from __future__ import annotations

import json
import stat

import pytest
from stack_support import PROJECT_DIR, site

pytestmark = [pytest.mark.integration, pytest.mark.docker]

STAMP = PROJECT_DIR / ".deploy-stamp.json"
FAST = "nothing changed since"
# Rendered by the monitoring role (a handler restarts only blackbox-exporter).
MANAGED = PROJECT_DIR / "monitoring" / "blackbox" / "config.yml"


def whole_deploy(*args: str):
    run = site(*args, skip_docker_engine=False)
    assert run.proc.returncode == 0, run.proc.stdout[-6000:] + run.proc.stderr[-3000:]
    return run


@pytest.fixture(scope="module")
def stamped(deployed):
    """A whole deploy that leaves a stamp (the first one may converge)."""
    run = whole_deploy()
    assert STAMP.exists(), run.proc.stdout[-4000:]
    return run


def test_the_stamp_is_private_and_holds_no_secret(stamped):
    assert stat.S_IMODE(STAMP.stat().st_mode) == 0o600
    text = STAMP.read_text()
    env = (PROJECT_DIR / ".env").read_text()
    secrets = [
        line.split("=", 1)[1].strip("'\"") for line in env.splitlines() if "PASSWORD=" in line
    ]
    assert secrets and not any(s and s in text for s in secrets)
    stamp = json.loads(text)
    assert stamp["counts"]["containers"] > 0 and stamp["counts"]["images"] > 0


def test_a_second_deploy_takes_the_fast_path(stamped):
    run = whole_deploy()
    print(f"\nno-op deploy: {run.seconds:.1f} s, recap {run.recap}")
    assert FAST in run.proc.stdout, run.proc.stdout[-4000:]
    assert run.recap["changed"] == 0
    # The roles did not run: only the stamp check's handful of tasks did.
    assert "TASK [stack :" not in run.proc.stdout
    assert run.recap["ok"] < 15, run.recap


def test_check_mode_on_an_unchanged_host_takes_the_fast_path_too(stamped):
    run = whole_deploy("--check")
    assert FAST in run.proc.stdout and run.recap["changed"] == 0


def test_an_edited_managed_file_is_repaired_by_a_full_converge(stamped):
    original = MANAGED.read_text()
    MANAGED.write_text(original + "# edited on the host\n")
    try:
        # Check mode shows the repair and leaves the stamp alone.
        stamp_before = STAMP.read_text()
        check = whole_deploy("--check")
        assert FAST not in check.proc.stdout and "host:files" in check.proc.stdout
        assert STAMP.read_text() == stamp_before
        run = whole_deploy()
        assert FAST not in run.proc.stdout
        assert "host:files" in run.proc.stdout, run.proc.stdout[-4000:]
        assert "TASK [monitoring :" in run.proc.stdout  # every role ran
        assert run.recap["changed"] >= 1
    finally:
        if MANAGED.read_text() != original:
            MANAGED.write_text(original)
    assert MANAGED.read_text() == original
    # The repaired host is stamped again: the next deploy is fast.
    again = whole_deploy()
    assert FAST in again.proc.stdout and again.recap["changed"] == 0
