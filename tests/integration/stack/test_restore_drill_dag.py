"""The scheduled restore drill on the deployed stack: restore_drill_dag asks
(Airflow has no Docker engine), Prometheus raises RestoreDrillRequested, the
host's remediator runs playbooks/runbook/restore_drill.yml, and the DAG's
`wait` task passes with the drill's outcome. The newest backup is one the
API made a moment before, so the drill restores real documents."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import alertmanager_silence
import pytest
import requests
from stack_support import AIRFLOW, airflow_auth, api_key, trigger_dag, wait_for_dag

pytestmark = [pytest.mark.integration, pytest.mark.docker]

API = "http://127.0.0.1:8000"
DAG = "restore_drill_dag"
LEDGER = Path("/var/lib/acs-remediator/ledger.sqlite3")


def follow(path: str, headers: dict, done, timeout: float, what: str) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        answer = requests.get(path, headers=headers, timeout=10).json()
        if done(answer):
            return answer
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not finish in {timeout:.0f} s: {str(answer)[:400]}")
        time.sleep(3)


def other_incidents() -> list[str]:
    """Alerts the remediator would act on, but the drill's request."""
    answer = requests.get(
        "http://127.0.0.1:9090/api/v1/query",
        params={"query": 'ALERTS{alertstate="firing", remediation="auto"}'},
        timeout=5,
    )
    answer.raise_for_status()
    names = [r["metric"]["alertname"] for r in answer.json()["data"]["result"]]
    return [n for n in names if n != "RestoreDrillRequested"]


@pytest.fixture()
def remediator_acting(deployed):
    """The suite's pause (tests/conftest.py) lifted for this test, once the
    earlier tests' faults no longer fire; put back afterwards."""
    deadline = time.monotonic() + 480
    while other_incidents():
        if time.monotonic() > deadline:
            pytest.fail(f"earlier faults still fire: {other_incidents()}")
        time.sleep(10)
    lifted, others = alertmanager_silence.resume()
    if others:
        pytest.fail(f"the remediator is paused by a person's silence: {others[0]['comment']}")
    yield
    if lifted:
        alertmanager_silence.pause("pytest: faults injected for manual runbook runs")


@pytest.fixture()
def fresh_backup(deployed):
    """A backup made now through the API (its job followed to the end)."""
    job = requests.post(f"{API}/api/backup/trigger", headers=api_key("api_key"), timeout=30)
    assert job.status_code == 202, job.text
    done = follow(
        f"{API}/api/backup/jobs/{job.json()['id']}",
        api_key(),
        lambda j: j["state"] in ("succeeded", "failed"),
        600,
        "the backup",
    )
    assert done["state"] == "succeeded", done
    return done["result"]["name"]


def test_the_scheduled_drill_runs_on_the_host_and_the_dag_reports_it(
    drill_dag_idle, fresh_backup, remediator_acting
):
    auth = airflow_auth()
    wait_for_dag(DAG, auth)
    asked = datetime.now(UTC)
    run_id = trigger_dag(DAG, auth)
    # Triggered runs of a paused DAG wait; the deploy leaves it unpaused.
    assert (
        requests.get(f"{AIRFLOW}/api/v2/dags/{DAG}", headers=auth, timeout=10).json()["is_paused"]
        is False
    )
    t0 = time.monotonic()
    final = follow(
        f"{AIRFLOW}/api/v2/dags/{DAG}/dagRuns/{run_id}",
        auth,
        lambda r: r.get("state") in ("success", "failed"),
        900,
        "restore_drill_dag",
    )
    print(
        f"\nrestore_drill_dag run: {time.monotonic() - t0:.1f} s from trigger to {final['state']}"
    )
    assert final["state"] == "success", final
    # The drill restored the backup made just before, after the request.
    drill = requests.get(f"{API}/api/backup/", headers=api_key(), timeout=10).json()["drill"]
    last = drill["last"]
    assert last["backup"] == fresh_backup and last["result"] == "passed", drill
    assert datetime.fromisoformat(last["started_at"].replace("Z", "+00:00")) > asked
    # The remediator ran it, and its ledger says so once it verified the
    # drill (the DAG's task may see the drill's record before that).
    deadline = time.monotonic() + 360
    while True:
        with sqlite3.connect(f"file:{LEDGER}?mode=ro", uri=True) as db:
            rows = db.execute(
                "SELECT outcome FROM actions WHERE procedure = 'restore_drill' AND started_at >= ?",
                (asked.timestamp(),),
            ).fetchall()
        if (rows and rows[-1][0] != "running") or time.monotonic() > deadline:
            break
        time.sleep(3)
    # "succeeded": run, and verified (the drill's end seen by Prometheus).
    assert rows and rows[-1][0] == "succeeded", rows
