"""Backups and restores as jobs shared by API replicas (two apps on one
backup directory are two replicas), against FerretDB."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from api_support import KEY, READ, finished_job, source_body
from fake_airflow import FakeAirflow
from fastapi.testclient import TestClient

from crawler import backup as backup_engine
from crawler import jobs
from crawler.api.app import create_app
from crawler.storage import Storage

pytestmark = pytest.mark.integration
CONFIRM = {"confirm": True}


@pytest.fixture
def replicas(settings, storage):
    """Two API replicas: each its own app, both on one database and backup dir."""
    with (
        TestClient(create_app(settings, storage), headers=READ) as a,
        TestClient(
            create_app(settings, Storage(settings.mongo_uri, settings.mongo_db)), headers=READ
        ) as b,
    ):
        yield a, b


@pytest.fixture
def backed_up(settings, storage):
    storage.db.crawl_results.insert_many(
        [{"source": "s", "url": f"u{i}", "fields": {}} for i in range(5)]
    )
    return backup_engine.run_backup(settings.mongo_uri, str(settings.backup_dir), label="base")


@pytest.fixture
def held_restores(monkeypatch):
    """The engine's restore, counted, held open until the test lets it go:
    the requests below arrive while a restore really runs."""
    real, release, calls = backup_engine.restore, threading.Event(), []

    def restore(*a, **kw):
        calls.append(a)
        assert release.wait(30)
        return real(*a, **kw)

    monkeypatch.setattr(backup_engine, "restore", restore)
    yield calls, release
    release.set()


def test_parallel_restores_one_is_accepted_the_others_409(replicas, backed_up, held_restores):
    a, b = replicas
    calls, release = held_restores
    with ThreadPoolExecutor(6) as pool:
        answers = list(
            pool.map(
                lambda i: (a, b)[i % 2].post("/api/backup/restore", json=CONFIRM, headers=KEY),
                range(6),
            )
        )
    codes = sorted(r.status_code for r in answers)
    assert codes == [202, 409, 409, 409, 409, 409], [r.text for r in answers]
    refused = next(r for r in answers if r.status_code == 409)
    assert "busy" in refused.json()["detail"] and "restore job" in refused.json()["detail"]
    accepted = next(r for r in answers if r.status_code == 202)
    release.set()
    job = finished_job(b, accepted)
    assert job["state"] == "succeeded", job
    assert len(calls) == 1
    assert job["result"]["restored_counts"]


def test_a_retried_restore_with_its_idempotency_key_starts_nothing(
    replicas, backed_up, held_restores
):
    a, b = replicas
    calls, release = held_restores
    key = {**KEY, "Idempotency-Key": "restore-2026-12-02-a"}
    first = a.post("/api/backup/restore", json=CONFIRM, headers=key)
    retry = b.post("/api/backup/restore", json=CONFIRM, headers=key)  # the client timed out
    assert (first.status_code, retry.status_code) == (202, 202), retry.text
    assert retry.json()["id"] == first.json()["id"]
    release.set()
    assert finished_job(a, first)["state"] == "succeeded"
    again = b.post("/api/backup/restore", json=CONFIRM, headers=key)
    assert again.json()["state"] == "succeeded" and len(calls) == 1


def test_a_job_is_visible_and_exclusive_across_replicas(replicas, backed_up, held_restores, site):
    a, b = replicas
    _, release = held_restores
    r = a.post("/api/backup/restore", json=CONFIRM, headers=KEY)
    assert r.status_code == 202, r.text
    seen = b.get(r.headers["Location"]).json()
    assert (seen["id"], seen["kind"], seen["state"]) == (r.json()["id"], "restore", "running")
    assert any(j["id"] == seen["id"] for j in b.get("/api/backup/jobs").json()["items"])
    # while it runs, the other replica starts neither a backup nor a crawl nor a change
    backup = b.post("/api/backup/trigger", json={"label": "x"}, headers=KEY)
    assert backup.status_code == 409 and "restore in progress" in backup.json()["detail"]
    source = source_body(site)
    change = b.post("/api/sources", json=source, headers=KEY)
    assert change.status_code == 409 and "restore in progress" in change.json()["detail"]
    assert b.post("/api/sources/docs/crawl", headers=KEY).status_code == 409
    release.set()
    assert finished_job(b, r)["state"] == "succeeded"
    assert b.post("/api/sources", json=source, headers=KEY).status_code == 201
    job = finished_job(a, b.post("/api/backup/trigger", json={"label": "after"}, headers=KEY))
    assert job["state"] == "succeeded", job


def test_check_mode_restore_stays_synchronous(replicas, backed_up):
    a, _ = replicas
    r = a.post("/api/backup/restore", json={"check_mode": True}, headers=KEY)
    assert r.status_code == 200, r.text
    assert r.json()["check_mode"] is True and r.json()["plan"]["verified"] is True


def test_unknown_job_is_404(replicas):
    a, _ = replicas
    r = a.get("/api/backup/jobs/" + "0" * 32)
    assert r.status_code == 404 and "GET /api/backup/jobs" in r.json()["detail"]


_WORKER = """
import sys, time
from crawler import jobs
store = jobs.JobStore(sys.argv[1])
jobs.start_job(store, "restore", {}, lambda: time.sleep(600), wait_for_lock=True,
               job_id=sys.argv[2])
print("started", flush=True)
time.sleep(600)
"""


def test_a_job_whose_replica_was_killed_ends_as_abandoned(replicas, settings, monkeypatch):
    a, _ = replicas
    settings.backup_dir.mkdir(parents=True, exist_ok=True)
    job_id = "a" * 32
    proc = subprocess.Popen(
        [sys.executable, "-c", _WORKER, str(settings.backup_dir), job_id],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        assert proc.stdout.readline().strip() == "started"
        monkeypatch.setattr(jobs, "STALE_SECONDS", 0.0)  # every heartbeat counts as old
        # the worker still holds the directory lock: alive, whatever its heartbeat
        assert a.get(f"/api/backup/jobs/{job_id}").json()["state"] == "running"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    job = a.get(f"/api/backup/jobs/{job_id}").json()
    assert (job["state"], job["abandoned"]) == ("failed", True), job
    assert job["error"].startswith("abandoned") and str(proc.pid) in job["error"]
    assert job["finished"]
    # and nothing waits for it: the directory is free for the next job
    job = finished_job(a, a.post("/api/backup/trigger", json={"label": "next"}, headers=KEY))
    assert job["state"] == "succeeded", job


def test_an_api_restore_pauses_the_crawl_dags_and_resumes_only_those(
    settings, storage, backed_up, monkeypatch
):
    airflow = FakeAirflow({"crawl_news": False, "crawl_docs": False, "crawl_old": True})
    paused_during = []
    real = backup_engine.restore

    def restore(*a, **kw):
        paused_during.append(dict(airflow.dags))
        return real(*a, **kw)

    monkeypatch.setattr(backup_engine, "restore", restore)
    with airflow.serving():
        s = dataclasses.replace(settings, airflow_api_url=airflow.url)
        with TestClient(create_app(s, storage), headers=READ) as c:
            job = finished_job(c, c.post("/api/backup/restore", json=CONFIRM, headers=KEY))
    assert job["state"] == "succeeded", job
    assert paused_during == [{"crawl_news": True, "crawl_docs": True, "crawl_old": True}]
    assert airflow.dags == {"crawl_news": False, "crawl_docs": False, "crawl_old": True}
    assert job["result"]["crawl_dags"]["resumed"] == ["crawl_docs", "crawl_news"]
    assert ("crawl_old", False) not in airflow.calls


def test_a_running_job_beats(replicas, backed_up, held_restores, monkeypatch):
    a, b = replicas
    _, release = held_restores
    monkeypatch.setattr(jobs, "HEARTBEAT_SECONDS", 0.2)
    r = a.post("/api/backup/restore", json=CONFIRM, headers=KEY)
    first = b.get(r.headers["Location"]).json()["heartbeat"]
    deadline = time.monotonic() + 10
    while b.get(r.headers["Location"]).json()["heartbeat"] == first:
        assert time.monotonic() < deadline, "no heartbeat in 10 s"
        time.sleep(0.2)
    assert b.get(r.headers["Location"]).json()["state"] == "running"
    release.set()
    assert finished_job(b, r)["state"] == "succeeded"
