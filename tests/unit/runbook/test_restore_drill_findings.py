"""The status summary and the weekly check show the last restore drill next to
the last good backup, from GET /api/backup/'s "drill" (the record the engine
keeps in the backup directory): none yet, passed with its RTO and the age of
the last verified restore, OLD past runbook_restore_drill_max_age_hours, and
FAILED with the failed checks; a failed drill calls for action in the weekly
check. The role's real task files run through ansible-playbook (see
test_remediator_findings), the other steps stubbed healthy."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime, timedelta

import pytest
from test_remediator_findings import STATUS_HEALTHY, WEEKLY_HEALTHY, _run

# The ages are computed when the cases are collected, minutes before a case
# may run in a long suite: an age is matched as AGE(h), h to h + 0.9.
AGE = r"{}\.\d h ago"


def _at(hours_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _matches(pattern: str, text: str) -> bool:
    """``pattern`` is literal text but for AGE(h) placeholders."""
    parts = re.split(r"(AGE\(\d+\))", pattern)
    regex = "".join(AGE.format(p[4:-1]) if p.startswith("AGE(") else re.escape(p) for p in parts)
    return re.match(regex, text) is not None


def _drill(result: str, hours_ago: float, passed_hours_ago: float | None = None) -> dict:
    last = {
        "backup": "20261203T030000Z-nightly",
        "result": result,
        "failed_checks": [] if result == "passed" else ["indexes"],
        "finished_at": _at(hours_ago),
        "rto_seconds": 3.5 if result == "passed" else None,
    }
    passed = dict(last, result="passed", failed_checks=[], rto_seconds=3.5)
    if passed_hours_ago is not None:
        passed["finished_at"] = _at(passed_hours_ago)
    return {"last": last, "last_passed": passed if result == "passed" or passed_hours_ago else None}


def _with_drill(facts: dict, register: str, drill: dict | None) -> dict:
    """The facts with GET /api/backup/ answering `drill`; `register` is the
    registered result, or `_status_health` whose `backups` target holds it."""
    facts = copy.deepcopy(facts)
    result = facts[register]
    if register == "_status_health":
        result = result["targets"]["backups"]
    result["json"]["drill"] = drill
    return facts


# The drills are made when the test runs, not when it is collected: a long
# suite reaches these tests over an hour after collection.
@pytest.mark.parametrize(
    ("drill_args", "expected"),
    [
        (
            None,
            "last restore drill | none | no drill recorded (playbooks/runbook/restore_drill.yml)",
        ),
        (
            ("passed", 2),
            "last restore drill | ok | 20261203T030000Z-nightly passed, RTO 3.5 s, "
            "last verified restore AGE(2)",
        ),
        (("passed", 30), "last restore drill | OLD | "),
        (
            ("failed", 1, 25),
            "last restore drill | FAILED | 20261203T030000Z-nightly failed (indexes), "
            "last verified restore AGE(25)",
        ),
    ],
)
def test_status_shows_the_last_drill_next_to_the_last_backup(tmp_path, drill_args, expected):
    drill = _drill(*drill_args) if drill_args else None
    rc, out, report = _run(
        tmp_path,
        [("status", "summary.yml")],
        _with_drill(STATUS_HEALTHY, "_status_health", drill),
        {"runbook_remediator_config": str(tmp_path / "absent.yml")},
    )
    rows = report["findings"]
    [row] = [f for f in rows if f.startswith("last restore drill | ")]
    assert _matches(expected, row), rows
    names = [f.split(" | ")[0] for f in rows]
    assert names.index("last restore drill") == names.index("last good backup") + 1
    assert rc == 0, out[-3000:]


def _weekly(tmp_path, drill):
    return _run(
        tmp_path,
        [("weekly_check", "07_automation.yml"), ("weekly_check", "summary.yml")],
        _with_drill(WEEKLY_HEALTHY, "_weekly_check_backups", drill),
        {"weekly_check_remediator_config": str(tmp_path / "absent.yml")},
    )


def test_weekly_check_shows_a_passed_drill_and_passes(tmp_path):
    rc, out, report = _weekly(tmp_path, _drill("passed", 2))
    [line] = [f for f in report["findings"] if f.startswith("last restore drill: ")]
    assert _matches(
        "last restore drill: 20261203T030000Z-nightly passed, RTO 3.5 s, "
        "last verified restore AGE(2)",
        line,
    ), line
    assert rc == 0, out[-3000:]


def test_weekly_check_calls_for_action_on_a_failed_drill(tmp_path):
    rc, out, report = _weekly(tmp_path, _drill("failed", 1, passed_hours_ago=30))
    [line] = [f for f in report["findings"] if f.startswith("last restore drill: ")]
    assert line.startswith("last restore drill: 20261203T030000Z-nightly FAILED (indexes)")
    assert line.endswith("(OLDER than 26 h)")
    assert rc != 0
    assert "action needed: last restore drill failed" in out, out[-3000:]
