"""mongodb_restore_drill: what it hands the engine and how a drill's outcome
becomes the task's (a failed check fails the task, naming it; every check
stays in the result)."""

from __future__ import annotations

import pytest
from ansible.module_utils import acs_backup as engine
from module_support import ModuleFail


def _checks(**statuses):
    return [{"name": n, "status": s, "detail": f"{n} {s}"} for n, s in statuses.items()]


@pytest.fixture
def drilled(monkeypatch):
    """The engine's restore_drill replaced: records its call, returns ``outcome``."""
    seen = {"outcome": None}

    def fake(backup_dir, **options):
        seen.update(backup_dir=backup_dir, options=options)
        return dict(seen["outcome"])

    monkeypatch.setattr(engine, "restore_drill", fake)
    return seen


def test_a_passed_drill_exits_with_every_check(run_module, drilled, tmp_path):
    drilled["outcome"] = {
        "changed": True,
        "result": "passed",
        "backup": "20261127T030000Z-nightly",
        "checks": _checks(trust="passed", archive="passed", indexes="skipped"),
        "rto_seconds": 1.5,
    }
    result = run_module(
        "mongodb_restore_drill",
        {"backup_dir": str(tmp_path), "age_identity_file": "/root/id.txt", "image": "m:7"},
    )
    assert result["result"] == "passed" and result["rto_seconds"] == 1.5
    assert drilled["backup_dir"] == str(tmp_path)
    assert drilled["options"]["age_identity_file"] == "/root/id.txt"
    assert drilled["options"]["image"] == "m:7"
    assert drilled["options"]["check_mode"] is False


def test_a_failed_drill_fails_the_task_naming_the_check(run_module, drilled, tmp_path):
    drilled["outcome"] = {
        "changed": True,
        "result": "failed",
        "backup": "20261127T030000Z-nightly",
        "checks": _checks(trust="passed", archive="failed"),
        "failed_checks": ["archive"],
    }
    with pytest.raises(ModuleFail) as failed:
        run_module("mongodb_restore_drill", {"backup_dir": str(tmp_path)})
    result = failed.value.result
    assert result["msg"] == (
        "restore drill of 20261127T030000Z-nightly failed: archive: archive failed"
    )
    assert result["failed_checks"] == ["archive"] and len(result["checks"]) == 2
