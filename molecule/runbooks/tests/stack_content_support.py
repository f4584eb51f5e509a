"""Realistic content for the runbook fault tests, as a production stack holds:
sources of each mode (enabled and disabled, one whose site is broken), stored
results and errors, a crawl DAG run and a backup DAG run in Airflow, and a
backup. The fault tests run with it present, and the document counts they
compare before and after include it.

The content uses its own source names (prefix ``rb-``) and its own website
container, so it never depends on what the operator's stack already holds,
and it removes only what it made (the backup it took stays: backups are
never deleted by tests)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pytest
import requests
from runbook_support import (
    API,
    CrawlInContainer,
    container,
    credentials,
    mongo_client,
    serve_site,
)

AIRFLOW = "http://127.0.0.1:8080"
SITE_HOST = "rb-content-site"
SITE = f"http://{SITE_HOST}:8000"
SITE_PAGES = 12


@dataclass
class StackContent:
    """What the fixture made; the tests assert against these names."""

    healthy: list[str] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)
    failing: str = ""
    start_urls: dict[str, str] = field(default_factory=dict)
    backup: str = ""
    dag_runs: dict[str, str] = field(default_factory=dict)


def _source(name: str, url: str, mode: str, enabled: bool = True) -> dict:
    return {
        "name": name,
        "start_urls": [url],
        "mode": mode,
        "enabled": enabled,
        "fields": {"title": {"selector": "h1"}},
        "links": {"max_depth": 1, "max_pages": SITE_PAGES + 1},
        "schedule": "@daily",
        "politeness": {
            "obey_robots": False,
            "delay_seconds": 0,
            "max_retries": 0,
            "timeout_seconds": 10,
        },
    }


def _site(tmp_path_factory, client):
    """An index linking to SITE_PAGES pages over real HTTP, on the stack's
    network, reachable by the API, the scheduler and the Chrome nodes."""
    root = tmp_path_factory.mktemp("rb-content")
    site = root / "site"
    site.mkdir()
    links = "".join(f'<li><a href="p{i}.html">page {i}</a></li>' for i in range(SITE_PAGES))
    (site / "index.html").write_text(
        f"<html><body><h1>Catalogue</h1><ul>{links}</ul></body></html>"
    )
    for i in range(SITE_PAGES):
        (site / f"p{i}.html").write_text(
            f"<html><head><title>Item {i}</title></head>"
            f"<body><h1>Item {i}</h1><p>{'description ' * 150}</p></body></html>"
        )
    for path in [root, site, *site.iterdir()]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return serve_site(client, site, "acs-test-rb-content", SITE_HOST)


def _airflow_run(dag_id: str, auth: dict, timeout: float = 240) -> tuple[str, bool]:
    """Triggers DAG ``dag_id`` once it is parsed: (run id, whether it was paused)."""
    deadline = time.monotonic() + timeout
    while True:
        dag = requests.get(f"{AIRFLOW}/api/v2/dags/{dag_id}", headers=auth, timeout=10)
        if dag.status_code == 200 and not dag.json().get("is_stale"):
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"Airflow did not parse DAG {dag_id} within {timeout} s")
        time.sleep(3)
    paused = dag.json()["is_paused"]
    requests.patch(
        f"{AIRFLOW}/api/v2/dags/{dag_id}", json={"is_paused": False}, headers=auth, timeout=10
    ).raise_for_status()
    run = requests.post(
        f"{AIRFLOW}/api/v2/dags/{dag_id}/dagRuns",
        json={"logical_date": None, "conf": {}},
        headers=auth,
        timeout=15,
    )
    run.raise_for_status()
    return run.json()["dag_run_id"], paused


def _airflow_auth() -> dict:
    token = requests.post(
        f"{AIRFLOW}/auth/token",
        json={"username": "acs_admin", "password": credentials()["airflow_admin_password"]},
        timeout=15,
    )
    token.raise_for_status()
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def _wait_run(dag_id: str, run_id: str, auth: dict, timeout: float = 300) -> str:
    deadline = time.monotonic() + timeout
    state = "queued"
    while time.monotonic() < deadline:
        state = requests.get(
            f"{AIRFLOW}/api/v2/dags/{dag_id}/dagRuns/{run_id}", headers=auth, timeout=10
        ).json()["state"]
        if state in ("success", "failed"):
            return state
        time.sleep(3)
    return state


@pytest.fixture(scope="module")
def stack_content(deployed_stack, tmp_path_factory):
    key = {"X-API-Key": credentials()["api_key"]}
    server = _site(tmp_path_factory, deployed_stack)
    content = StackContent(
        healthy=["rb-catalogue", "rb-catalogue-js"],
        disabled=["rb-archive", "rb-archive-js"],
        failing="rb-broken",
    )
    sources = [
        _source("rb-catalogue", f"{SITE}/index.html", "static"),
        _source("rb-catalogue-js", f"{SITE}/index.html", "browser"),
        _source("rb-archive", f"{SITE}/index.html", "static", enabled=False),
        _source("rb-archive-js", f"{SITE}/index.html", "browser", enabled=False),
        # The site answers, but every page of this source is gone (404).
        _source("rb-broken", f"{SITE}/retired/index.html", "static"),
    ]
    names = [s["name"] for s in sources]
    for name in names:  # a previous run interrupted before its teardown
        requests.delete(f"{API}/api/sources/{name}", headers=key, timeout=10)
    for body in sources:
        created = requests.post(f"{API}/api/sources", json=body, headers=key, timeout=10)
        assert created.status_code == 201, created.text
        content.start_urls[body["name"]] = body["start_urls"][0]
    try:
        # Stored results and errors: the operator's one-off crawls.
        api = container("api", deployed_stack)
        for name in ["rb-catalogue", "rb-broken"]:
            crawl = CrawlInContainer(api, name, batch_size=5)
            try:
                code, output = crawl.wait(timeout=300)
            finally:
                crawl.close()
            # A crawl whose every page failed exits 1, as it should for rb-broken.
            assert code == (0 if name in content.healthy else 1), output[-2000:]
        # Airflow history: a crawl DAG run (through the Grid) and a backup DAG run.
        auth = _airflow_auth()
        for dag_id in ["crawl_rb-catalogue-js", "backup_dag"]:
            content.dag_runs[dag_id], was_paused = _airflow_run(dag_id, auth)
            state = _wait_run(dag_id, content.dag_runs[dag_id], auth)
            if was_paused:  # leave the operator's schedule as it was
                requests.patch(
                    f"{AIRFLOW}/api/v2/dags/{dag_id}",
                    json={"is_paused": True},
                    headers=auth,
                    timeout=10,
                )
            assert state == "success", f"DAG run {dag_id} ended {state}"
        backup = requests.post(
            f"{API}/api/backup/trigger", json={"label": "rb-content"}, headers=key, timeout=30
        )
        assert backup.status_code == 202, backup.text
        # a backup is a job: followed through its Location to its end
        job = backup.json()
        deadline = time.monotonic() + 300
        while job["state"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(1)
            job = requests.get(f"{API}{backup.headers['Location']}", headers=key, timeout=10).json()
        assert job["state"] == "succeeded", job
        content.backup = job["result"]["name"]
        yield content
    finally:
        for name in names:
            requests.delete(f"{API}/api/sources/{name}", headers=key, timeout=10)
        with mongo_client() as client:
            db = client["crawler"]
            for collection in ["crawl_results", "crawl_runs", "error_logs", "healing_sessions"]:
                db[collection].delete_many({"source": {"$in": names}})
        server.stop(timeout=2)
