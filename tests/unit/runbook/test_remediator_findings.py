"""The weekly check's step 7 and the status summary read the remediator's
ledger on the controller (`python -m ops remediator ... --json`, roles/runbook
tasks_from remediator) and say what it did, whether it is on and which
breakers are open; an open breaker calls for action in the weekly check.

Each test runs the role's real task files through ansible-playbook against a
real ledger in tmp and reads the incident report; the other steps' results
are stubbed healthy, so the remediator's findings alone decide the verdict."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO))

from ops.remediator.ledger import Ledger  # noqa: E402

NOW = time.time()
TODAY = datetime.fromtimestamp(NOW, UTC).date().isoformat()
TWO_DAYS_AGO = datetime.fromtimestamp(NOW - 2 * 86400, UTC).date().isoformat()

# What the other weekly steps register, all healthy.
_SOON = datetime.now(UTC)
WEEKLY_HEALTHY = {
    "runbook_df_summary": "images 1 GB",
    "runbook_fs": {"mount": "/", "used_percent": 10, "free": 10**10, "pressure": False},
    "_weekly_check_db": {"databases": {}, "error_trend": {}},
    "_weekly_check_backups": {
        "status": 200,
        "json": {
            "items": [
                {
                    "name": "b1",
                    "good": True,
                    "finished_at": (_SOON - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                }
            ]
        },
    },
    "_weekly_check_cert": {
        "not_after": (_SOON + timedelta(days=300)).strftime("%Y%m%d%H%M%SZ"),
    },
    "_weekly_check_audit_probe": {"status": 200},
    "_weekly_check_audit": {"rc": 0, "stdout": json.dumps({"dependencies": [{"name": "x"}]})},
    "runbook_cert_file": "/etc/cert.pem",
}

# What the other status steps register, all healthy.
_OK = {"ok": True, "detail": "ok"}
STATUS_HEALTHY = {
    "runbook_containers": [],
    "runbook_missing_services": [],
    "runbook_jobs": [],
    "_status_health": {
        "unhealthy": [],
        "targets": {
            "api": _OK,
            "airflow": _OK,
            "selenium-grid": _OK,
            "mongodb": _OK,
            "backups": {**_OK, "status": 200, "json": {"items": []}},
            "errors": {**_OK, "status": 200, "json": {"items": []}},
        },
    },
}


def _config(tmp_path: Path, ledger: Path, **settings) -> Path:
    config = tmp_path / "remediator.yml"
    policy = {"verify": {"promql": "up == 1"}}
    config.write_text(
        yaml.safe_dump(
            {
                "ledger": str(ledger),
                "procedures": {"recover_api": policy, "recover_oom": policy},
                **settings,
            }
        )
    )
    return config


def _busy_ledger(path: Path) -> Ledger:
    """Two days of activity: a verified recover_api today, a failed one two
    days ago, after which its breaker opened."""
    ledger = Ledger(path)
    for at, rc, verified in ((NOW - 2 * 86400, 1, False), (NOW - 60, 0, True)):
        alert = ledger.record_alert(
            {"alertname": "ApiDown", "status": "firing", "labels": {"procedure": "recover_api"}},
            now=at,
        )
        ledger.log("decision", "recover_api", alert, "firing", now=at, detail={"action": "run"})
        ledger.finish_action(
            ledger.start_action("recover_api", alert, now=at), rc, verified, now=at
        )
    ledger.log(
        "decision", "recover_oom", None, "cool-down", now=NOW - 30, detail={"action": "skip"}
    )
    ledger.open_breaker("recover_api", "2 failed actions in a row", now=NOW - 2 * 86400 + 5)
    return ledger


def _run(tmp_path: Path, files: list[tuple[str, str]], facts: dict, extra: dict):
    """(role, task file)s in one play on localhost; (rc, output, report)."""
    tasks = [{"name": "Stub the other steps", "ansible.builtin.set_fact": facts}]
    tasks += [
        {"ansible.builtin.include_role": {"name": role, "tasks_from": name}} for role, name in files
    ]
    play = tmp_path / "play.yml"
    play.write_text(
        yaml.safe_dump(
            [
                {
                    "name": "remediator findings",
                    "hosts": "localhost",
                    "connection": "local",
                    "gather_facts": False,
                    "vars": {"ansible_python_interpreter": sys.executable, **extra},
                    "roles": [{"role": "runbook"}],
                    "tasks": tasks,
                }
            ]
        )
    )
    reports = tmp_path / "reports"
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_ROLES_PATH=str(REPO / "roles"),
        ACS_REPORTS_DIR=str(reports),
        ANSIBLE_NOCOLOR="1",
        PATH=f"{BIN}:{os.environ['PATH']}",
    )
    # The config is handed in by variable only: the environment must not win.
    env.pop("ACS_REMEDIATOR_CONFIG", None)
    proc = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "localhost,", str(play)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    [report] = reports.glob("*.json")
    return proc.returncode, proc.stdout + proc.stderr, json.loads(report.read_text())


def _weekly(tmp_path: Path, config: Path):
    return _run(
        tmp_path,
        [("weekly_check", "07_automation.yml"), ("weekly_check", "summary.yml")],
        WEEKLY_HEALTHY,
        {"weekly_check_remediator_config": str(config)},
    )


def _automation(report: dict) -> list[str]:
    return [f for f in report["findings"] if f.startswith("automation | ")]


def test_weekly_check_reports_each_day_and_the_open_breaker_calls_for_action(tmp_path):
    _busy_ledger(tmp_path / "data" / "ledger.sqlite3")
    rc, out, report = _weekly(tmp_path, _config(tmp_path, tmp_path / "data" / "ledger.sqlite3"))
    findings = _automation(report)
    assert findings[0] == "automation | remediator enabled", findings
    assert (
        f"automation | {TWO_DAYS_AGO}: action_started=1, actions_failed=1, breaker_opened=1,"
        " received=1; by procedure recover_api=1"
    ) in findings, findings
    [today] = [f for f in findings if f.startswith(f"automation | {TODAY}:")]
    assert "received=1" in today and "actions_succeeded=1" in today, today
    assert "not_acted_skip=1" in today and "recover_api=1" in today, today
    [breaker] = [f for f in findings if "breaker OPEN" in f]
    assert breaker.startswith("automation | breaker OPEN recover_api: since ")
    assert "2 failed actions in a row" in breaker and "remediator reset recover_api" in breaker
    # Everything else is healthy: the open breaker alone makes the check fail.
    assert rc != 0, out
    assert "action needed: remediator breaker open: recover_api" in out, out[-3000:]


def test_weekly_check_after_a_quiet_week_with_the_breaker_closed_passes(tmp_path):
    ledger = _busy_ledger(tmp_path / "ledger.sqlite3")
    ledger.reset_breaker("recover_api", "test")
    config = _config(tmp_path, tmp_path / "ledger.sqlite3", enabled=False)
    rc, out, report = _run(
        tmp_path,
        [("weekly_check", "07_automation.yml"), ("weekly_check", "summary.yml")],
        WEEKLY_HEALTHY,
        # Only today's actions are within one day.
        {"weekly_check_remediator_config": str(config), "weekly_check_automation_days": 1},
    )
    findings = _automation(report)
    assert findings[0] == "automation | remediator PAUSED (kill switch)", findings
    assert not [f for f in findings if TWO_DAYS_AGO in f or "OPEN" in f], findings
    assert rc == 0, out[-3000:]
    assert report["result"] == "healthy"


def test_weekly_check_with_an_empty_ledger_says_no_automatic_activity(tmp_path):
    Ledger(tmp_path / "ledger.sqlite3")
    rc, out, report = _weekly(tmp_path, _config(tmp_path, tmp_path / "ledger.sqlite3"))
    assert _automation(report) == [
        "automation | remediator enabled",
        "automation | no automatic activity in the last 7 days",
    ]
    assert rc == 0, out[-3000:]


def test_weekly_check_without_the_remediator_says_so_and_passes(tmp_path):
    missing = tmp_path / "etc" / "remediator.yml"
    rc, out, report = _weekly(tmp_path, missing)
    assert _automation(report) == [
        f"automation | remediator not deployed (no {missing} on the controller)"
    ]
    assert rc == 0, out[-3000:]
    assert report["result"] == "healthy"


def test_weekly_check_with_a_broken_config_calls_for_action(tmp_path):
    config = tmp_path / "remediator.yml"
    config.write_text("ledger: [not, a, path]\n")
    rc, out, report = _weekly(tmp_path, config)
    [finding] = _automation(report)
    assert finding.startswith("automation | remediator UNREADABLE: ") and "ledger" in finding
    assert rc != 0 and "remediator ledger unreadable" in out, out[-3000:]


@pytest.mark.parametrize(
    "settings,expected",
    [
        ({}, "remediator | enabled | open breakers: recover_api"),
        ({"enabled": False, "dry_run": True}, "remediator | PAUSED (dry run) | open breakers: "),
        (None, "remediator | not deployed | no "),
    ],
    ids=["enabled", "paused", "not-deployed"],
)
def test_status_shows_the_remediator(tmp_path, settings, expected):
    _busy_ledger(tmp_path / "ledger.sqlite3")
    config = (
        tmp_path / "absent.yml"
        if settings is None
        else _config(tmp_path, tmp_path / "ledger.sqlite3", **settings)
    )
    rc, out, report = _run(
        tmp_path,
        # 03_extra_checks.yml's last task; the health round (02_health.yml) needs the stack.
        [("runbook", "remediator"), ("status", "summary.yml")],
        STATUS_HEALTHY,
        {"runbook_remediator_config": str(config)},
    )
    [row] = [f for f in report["findings"] if f.startswith("remediator | ")]
    assert row.startswith(expected), report["findings"]
    # An open breaker is the weekly check's business, not a service's health.
    assert rc == 0, out[-3000:]


def test_status_reads_the_remediator_in_its_extra_checks():
    tasks = yaml.safe_load((REPO / "roles/status/tasks/03_extra_checks.yml").read_text())
    assert tasks[-1]["ansible.builtin.include_role"] == {
        "name": "runbook",
        "tasks_from": "remediator",
    }
