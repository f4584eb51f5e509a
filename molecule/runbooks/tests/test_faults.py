"""Each runbook procedure against a real fault injected into the deployed
local stack, run through `python -m ops run`. Every test restores the stack
and records its time to recovery and document counts (see conftest.record)."""

from __future__ import annotations

import os
import signal
import time

import pytest
import requests
from runbook_support import (
    API,
    CrawlInContainer,
    Recovery,
    api_healthy,
    container,
    credentials,
    distinct_result_urls,
    document_counts,
    mongo_client,
    read_key,
    record,
    run_playbook,
    site_source,
    stored_results,
    wait,
)

# Every fault meets a stack holding realistic content (stack_content_support).
pytestmark = [
    pytest.mark.integration,
    pytest.mark.docker,
    pytest.mark.usefixtures("stack_content"),
]
AIRFLOW = "http://127.0.0.1:8080"


def test_status_summarises_a_healthy_stack(deployed_stack, tmp_path):
    proc, report, _ = run_playbook("status", tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert report["result"] == "healthy"
    rows = report["findings"]
    assert any(r.startswith("check api | ok") for r in rows)
    assert any(r.startswith("check mongodb | ok") for r in rows)
    assert any(r.startswith("check selenium-grid | ok") for r in rows)


def test_check_mode_changes_nothing(deployed_stack, tmp_path):
    api = container("api", deployed_stack)
    api.stop(timeout=5)
    try:
        proc, report, _ = run_playbook("recover_api", tmp_path, "--check")
        assert proc.returncode == 0, proc.stdout[-3000:]
        assert report["check_mode"] is True
        assert report["result"].startswith("check mode: api down")
        api.reload()
        assert api.status == "exited", "check mode must not start the api container"
    finally:
        api.start()
        wait(api_healthy, 90, "the API to come back")


def test_recover_api_after_process_killed_and_container_stopped(deployed_stack, tmp_path):
    before = document_counts()
    api = container("api", deployed_stack)
    os.kill(api.attrs["State"]["Pid"], signal.SIGKILL)  # the API process dies...
    api.reload()
    api.stop(timeout=5)  # ...and the container is stopped
    assert not api_healthy(), "fault not injected: the API still answers"
    recovery = Recovery()
    proc, report, elapsed = run_playbook("recover_api", tmp_path)
    recovery.stop()
    after = document_counts()
    record(
        "api",
        time_to_healthy_s=recovery.healthy_after,
        playbook_s=elapsed,
        documents_before=before,
        documents_after=after,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert report["result"] == "recovered"
    assert any(
        f.startswith("fixed by: step 2") or f.startswith("fixed by: step 4")
        for f in report["findings"]
    )
    assert sum(1 for f in report["findings"] if f.startswith("api log | ")) > 0
    assert api_healthy()
    assert all(after.get(k, 0) >= v for k, v in before.items()), (before, after)


def test_recover_api_fails_when_the_api_cannot_come_back(deployed_stack, tmp_path):
    """Exit status non-zero when not recovered: MongoDB down keeps /health at 503."""
    mongodb = container("mongodb", deployed_stack)
    mongodb.stop(timeout=10)
    try:
        proc, report, _ = run_playbook(
            "recover_api",
            tmp_path,
            "-e",
            "recover_api_restart_timeout=5",
            "-e",
            "runbook_health_timeout=10",
        )
        assert proc.returncode != 0
        assert report["result"] == "failed"
        assert any("MongoDB from the api container: FAILED" in f for f in report["findings"])
    finally:
        mongodb.start()
        wait(api_healthy, 120, "the API to be healthy again with MongoDB back")


def test_recover_mongodb_stopped_while_a_crawl_writes(deployed_stack, crawl_site, tmp_path):
    """MongoDB stops in the middle of a crawl: the crawler spools what it
    cannot write, the playbook restarts MongoDB and replays the spool, and
    every page arrives exactly once; nothing that was stored before is lost."""
    source = "fault_mongodb"
    key = {"X-API-Key": credentials()["api_key"]}
    requests.delete(f"{API}/api/sources/{source}", headers=key, timeout=10)
    r = requests.post(
        f"{API}/api/sources",
        headers=key,
        timeout=10,
        json=site_source(source, crawl_site),
    )
    assert r.status_code == 201, r.text
    probe = "runbook_fault_probe"
    with mongo_client() as client:
        client["crawler"][probe].insert_many([{"n": i} for i in range(500)])
        client["crawler"]["crawl_results"].delete_many({"source": source})
    before = document_counts()
    api = container("api", deployed_stack)
    # The operator's one-off crawl, in small batches so that it writes all along.
    crawl = CrawlInContainer(api, source, batch_size=5)
    try:
        wait(lambda: stored_results(source) >= 5, 60, "the crawl's first writes")
        mongodb = container("mongodb", deployed_stack)
        mongodb.stop(timeout=10)
        exit_code, output = crawl.wait(timeout=300)
        assert exit_code == 0, output[-2000:]
        assert '"spooled"' in output, output[-2000:]
        recovery = Recovery()
        proc, report, elapsed = run_playbook("recover_mongodb", tmp_path)
        recovery.stop()
        after = document_counts()
        stored = stored_results(source)
        distinct = distinct_result_urls(source)
        record(
            "mongodb",
            time_to_healthy_s=recovery.healthy_after,
            playbook_s=elapsed,
            documents_before=before,
            documents_after=after,
            crawled_pages=crawl_site.pages + 1,
            results_stored=stored,
        )
        assert proc.returncode == 0, proc.stdout[-3000:]
        assert report["result"] == "recovered"
        assert any("nothing lost" in f for f in report["findings"]), report["findings"]
        assert any(f.startswith("spool: api replayed ") for f in report["findings"]), report[
            "findings"
        ]
        assert stored == distinct == crawl_site.pages + 1, (stored, distinct)
        assert after[probe] == before[probe] == 500
    finally:
        crawl.close()
        container("mongodb", deployed_stack).start()
        wait(api_healthy, 120, "the API to be healthy again with MongoDB back")
        requests.delete(f"{API}/api/sources/{source}", headers=key, timeout=10)
        with mongo_client() as client:
            client["crawler"].drop_collection(probe)
            client["crawler"]["crawl_results"].delete_many({"source": source})


def test_recover_crawl_failures_names_the_failing_source(stack_content, tmp_path):
    """Sources of each mode exist, one of them failing: the procedure reads
    them by the API's field names, reports the failing one, probes its site,
    and leaves the healthy browser path alone."""
    before = document_counts()
    proc, report, elapsed = run_playbook("recover_crawl_failures", tmp_path)
    after = document_counts()
    record("crawl failures, one source failing", playbook_s=elapsed)
    assert proc.returncode == 0, proc.stdout[-3000:]
    failing_line = next(f for f in report["findings"] if f.startswith("failing sources: "))
    failing = failing_line.removeprefix("failing sources: ").split(" (of ")[0].split(", ")
    assert stack_content.failing in failing, failing_line
    assert not set(stack_content.healthy) & set(failing), failing_line
    assert not set(stack_content.disabled) & set(failing), failing_line
    probed = [f for f in report["findings"] if f.startswith("site of failing source ")]
    assert any(
        f.startswith(f"site of failing source {stack_content.failing} ")
        and stack_content.start_urls[stack_content.failing] in f
        for f in probed
    ), probed
    assert not any(
        f.startswith(f"site of failing source {name} ")
        for name in stack_content.healthy
        for f in probed
    ), probed
    assert report["actions"] == [], "one failing source must not restart the Grid"
    assert report["result"].startswith("browser path healthy; failing sources"), report["result"]
    assert all(after.get(k, 0) >= v for k, v in before.items()), (before, after)


def test_recover_crawl_failures_when_chrome_nodes_stop(deployed_stack, tmp_path):
    before = document_counts()
    chromes = [
        c
        for c in deployed_stack.containers.list(
            filters={"label": "com.docker.compose.service=chrome"}
        )
    ]
    for c in chromes:
        c.stop(timeout=5)
    started = time.monotonic()
    proc, report, elapsed = run_playbook("recover_crawl_failures", tmp_path)
    after = document_counts()
    record(
        "chrome",
        playbook_s=elapsed,
        time_to_grid_s=round(time.monotonic() - started, 1),
        documents_before=before,
        documents_after=after,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert report["result"] == "recovered"
    assert any(
        a.startswith("docker compose restart selenium-hub chrome") for a in report["actions"]
    )
    assert any(f.startswith("test crawl through the Grid: ok") for f in report["findings"])
    grid = requests.get(f"{API}/api/monitoring/health", headers=read_key(), timeout=15).json()[
        "grid"
    ]
    assert grid["ready"] and grid["free_slots"] >= 1
    assert all(after.get(k, 0) >= v for k, v in before.items()), (before, after)


def test_recover_oom_after_allocating_past_the_limit(deployed_stack, tmp_path):
    before = document_counts()
    api = container("api", deployed_stack)
    limit = api.attrs["HostConfig"]["Memory"]
    assert limit > 0, "the api service has no mem_limit"
    # Allocates (and touches) more than the container may hold: the kernel's OOM killer fires.
    result = api.exec_run(
        ["python3", "-c", f"b = bytearray({limit + 256 * 1024 * 1024}); print(len(b))"]
    )
    assert result.exit_code == 137, (result.exit_code, result.output[-500:])
    recovery = Recovery()
    proc, report, elapsed = run_playbook("recover_oom", tmp_path)
    recovery.stop()
    after = document_counts()
    record(
        "oom",
        time_to_healthy_s=recovery.healthy_after,
        playbook_s=elapsed,
        documents_before=before,
        documents_after=after,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert report["result"] == "recovered"
    assert any("OFFENDER" in f and "-api-" in f for f in report["findings"])
    assert any(a.startswith("docker compose restart") and "api" in a for a in report["actions"])
    assert any(f.startswith("limit api: mem_limit") for f in report["findings"])
    assert api_healthy()
    assert all(after.get(k, 0) >= v for k, v in before.items()), (before, after)


def _airflow_session() -> requests.Session:
    creds = credentials()
    token = requests.post(
        f"{AIRFLOW}/auth/token",
        json={"username": "acs_admin", "password": creds["airflow_admin_password"]},
        timeout=30,
    ).json()["access_token"]
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    return session


def test_recover_airflow_after_dag_paused_and_scheduler_stopped(deployed_stack, tmp_path):
    dag = "backup_dag"
    airflow = _airflow_session()
    before = document_counts()
    r = airflow.patch(
        f"{AIRFLOW}/api/v2/dags/{dag}?update_mask=is_paused", json={"is_paused": True}, timeout=30
    )
    assert r.status_code == 200, r.text
    scheduler = container("airflow-scheduler", deployed_stack)
    scheduler.stop(timeout=10)
    started = time.monotonic()
    proc, report, elapsed = run_playbook(
        "recover_airflow", tmp_path, "-e", f"runbook_managed_dags={dag}"
    )
    after = document_counts()
    record(
        "airflow",
        playbook_s=elapsed,
        time_to_scheduled_s=round(time.monotonic() - started, 1),
        documents_before=before,
        documents_after=after,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert report["result"] == "recovered"
    assert f"unpaused {dag}" in report["actions"]
    assert "docker compose restart airflow-scheduler" in report["actions"]
    assert airflow.get(f"{AIRFLOW}/api/v2/dags/{dag}", timeout=30).json()["is_paused"] is False
    assert any(
        f.startswith(f"probe run: {dag} ") and not f.endswith(" is queued")
        for f in report["findings"]
    )
    assert all(after.get(k, 0) >= v for k, v in before.items()), (before, after)
