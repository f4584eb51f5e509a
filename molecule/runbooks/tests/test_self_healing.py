"""The stack heals itself: a real fault, nobody running a playbook. Prometheus
fires the alert, Alertmanager posts it to the remediator, the rules run the
procedure through `python -m ops run`, Prometheus confirms the fix, and the
run's incident report carries the alert, MTTD and MTTR. Fault -> healthy
times go to reports/recoveries.jsonl (conftest.record)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml
from runbook_support import (
    API,
    REPO,
    CrawlInContainer,
    api_healthy,
    container,
    credentials,
    distinct_result_urls,
    document_counts,
    mongo_client,
    record,
    site_source,
    stored_results,
    wait,
)

sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import alertmanager_silence

from ops.remediator.ledger import Ledger

pytestmark = [
    pytest.mark.integration,
    pytest.mark.docker,
    pytest.mark.usefixtures("stack_content"),
]
CONFIG = Path("/etc/acs-remediator/remediator.yml")


@pytest.fixture
def remediator(deployed_stack):
    """The deployed remediator, acting: the suite's pause silence (if any) is
    lifted for the test and put back afterwards."""
    if not CONFIG.is_file():
        pytest.fail(f"{CONFIG} is missing: deploy the stack (playbooks/site.yml) first")
    settings = yaml.safe_load(CONFIG.read_text())
    health = f"http://{settings['listen_address']}:{settings['port']}/health"
    assert requests.get(health, timeout=5).status_code == 200, "the remediator does not answer"
    # Alerts that still fire from earlier tests' faults (an OOM kill counts
    # for five minutes) would be acted on the moment the pause lifts.
    wait(_no_incident_fires, 480, "earlier faults' alerts to resolve before lifting the pause")
    lifted, others = alertmanager_silence.resume()
    if others:
        pytest.fail(f"the remediator is paused by a person's silence: {others[0]['comment']}")
    ledger = Ledger(settings["ledger"])
    if ledger.breakers():
        pytest.fail(
            f"a breaker is open ({ledger.breakers()}): close it with "
            "`python -m ops remediator reset PROCEDURE` after looking at why"
        )
    yield ledger
    if lifted:  # the suite's pause, put back for the tests that follow
        alertmanager_silence.pause("pytest: faults injected for manual runbook runs")


def _no_incident_fires() -> bool:
    answer = requests.get(
        "http://127.0.0.1:9090/api/v1/query",
        params={"query": 'ALERTS{alertstate="firing", remediation="auto"}'},
        timeout=5,
    )
    answer.raise_for_status()
    return not answer.json()["data"]["result"]


def _finished_action(ledger: Ledger, procedure: str, since: float) -> dict | None:
    done = [a for a in ledger.actions(procedure, since=since) if a["outcome"] != "running"]
    return done[-1] if done else None


def _automatic_report(action: dict) -> dict:
    [path] = sorted(Path(action["run_dir"], "reports").glob("*.json"))
    return json.loads(path.read_text())


def _check_the_automation(ledger: Ledger, action: dict, alertname: str) -> dict:
    assert action["outcome"] == "succeeded", action
    alert = ledger.alert(action["alert_id"])
    assert alert["alertname"] == alertname and alert["status"] == "firing", alert
    assert alert["labels"]["remediation"] == "auto"
    verified = [e for e in ledger.entries(kinds=("verified",)) if e["alert_id"] == alert["id"]]
    assert verified and verified[0]["detail"]["verified"] is True
    report = _automatic_report(action)
    assert report["result"] == "recovered", report["result"]
    assert report["automation"]["alert"]["alertname"] == alertname
    assert report["automation"]["verification"]["verified"] is True
    assert report["mttd_seconds"] is not None and report["mttr_seconds"] is not None
    return report


def test_a_frozen_api_heals_itself(deployed_stack, remediator):
    """The API process frozen (SIGSTOP): ApiDown fires, recover_api runs by
    itself, Prometheus sees every replica answer again."""
    before = document_counts()
    since = time.time()
    api = container("api", deployed_stack)
    pid = api.attrs["State"]["Pid"]
    os.kill(pid, signal.SIGSTOP)
    frozen_at = time.monotonic()
    try:
        assert not api_healthy(timeout=2), "fault not injected: the API still answers"
        wait(api_healthy, 300, "the API to answer again with nobody running a playbook")
        healthy_after = round(time.monotonic() - frozen_at, 1)
        action = wait(
            lambda: _finished_action(remediator, "recover_api", since),
            180,
            "the remediator's recover_api to finish and be verified",
        )
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)  # a failed test leaves no frozen process
    report = _check_the_automation(remediator, action, "ApiDown")
    after = document_counts()
    record(
        "self-healing: api frozen",
        fault_to_healthy_s=healthy_after,
        mttd_s=report["mttd_seconds"],
        mttr_s=report["mttr_seconds"],
        documents_before=before,
        documents_after=after,
    )
    assert all(after.get(k, 0) >= v for k, v in before.items()), (before, after)


def test_mongodb_stopped_during_a_crawl_heals_itself(deployed_stack, crawl_site, remediator):
    """MongoDB stops while a crawl writes: MongoDBDown fires (and holds back
    ApiDown), recover_mongodb starts it and replays the spool; every page
    arrives exactly once and nothing stored before is lost."""
    source = "self_heal_mongodb"
    key = {"X-API-Key": credentials()["api_key"]}
    requests.delete(f"{API}/api/sources/{source}", headers=key, timeout=10)
    r = requests.post(
        f"{API}/api/sources",
        headers=key,
        timeout=10,
        json=site_source(source, crawl_site),
    )
    assert r.status_code == 201, r.text
    before = document_counts()
    since = time.time()
    crawl = CrawlInContainer(container("api", deployed_stack), source, batch_size=5)
    try:
        wait(lambda: stored_results(source) >= 5, 60, "the crawl's first writes")
        container("mongodb", deployed_stack).stop(timeout=10)
        stopped_at = time.monotonic()
        exit_code, output = crawl.wait(timeout=400)
        assert exit_code == 0, output[-2000:]
        action = wait(
            lambda: _finished_action(remediator, "recover_mongodb", since),
            300,
            "the remediator's recover_mongodb to finish and be verified",
        )
        wait(api_healthy, 120, "the API to answer with MongoDB back")
        healthy_after = round(time.monotonic() - stopped_at, 1)
        report = _check_the_automation(remediator, action, "MongoDBDown")
        wait(
            lambda: stored_results(source) == crawl_site.pages + 1, 120, "every crawled page stored"
        )
        after = document_counts()
        record(
            "self-healing: mongodb stopped during a crawl",
            fault_to_healthy_s=healthy_after,
            mttd_s=report["mttd_seconds"],
            mttr_s=report["mttr_seconds"],
            results_stored=stored_results(source),
            documents_before=before,
            documents_after=after,
        )
        assert distinct_result_urls(source) == stored_results(source) == crawl_site.pages + 1
        assert all(after.get(k, 0) >= v for k, v in before.items() if k != "crawl_results")
        api_down = [
            e
            for e in remediator.entries(since=since, kinds=("decision",))
            if e["detail"]["action"] == "run" and e["procedure"] == "recover_api"
        ]
        assert api_down == [], "ApiDown (a symptom) was acted on while MongoDB was the cause"
    finally:
        crawl.close()
        mongodb = container("mongodb", deployed_stack)
        mongodb.reload()
        if mongodb.status != "running":
            mongodb.start()
        wait(api_healthy, 120, "the API to be healthy again")
        requests.delete(f"{API}/api/sources/{source}", headers=key, timeout=10)
        with mongo_client() as client:
            client["crawler"]["crawl_results"].delete_many({"source": source})
