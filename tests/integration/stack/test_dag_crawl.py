"""A crawl of a fixture site through a real DAG run: the source is created
through the API, the DAG processor turns it into `crawl_fixture`, the API
triggers it in Airflow, and the results land in MongoDB. In browser mode
the page is rendered by a Chrome node through the Grid, over the egress
network (the nodes are on no other network a website is on)."""

from __future__ import annotations

import contextlib
import time

import docker
import pytest
import requests
import yaml
from stack_support import AIRFLOW, PROJECT, airflow_auth, api_key, wait_for_dag

pytestmark = [pytest.mark.integration, pytest.mark.docker]

API = "http://127.0.0.1:8000"
# The script runs only in a browser: the heading says which path fetched the page.
PAGE = (
    "<html><head><title>t</title></head><body><h1 id='h'>Fixture page</h1><p class='p'>hello</p>"
    "<script>document.getElementById('h').textContent += ' (rendered)';</script></body></html>"
)
HEADING = {"static": "Fixture page", "browser": "Fixture page (rendered)"}


@pytest.fixture()
def fixture_site(deployed, docker_client, tmp_path):
    (tmp_path / "index.html").write_text(PAGE)
    tmp_path.chmod(0o755)
    (tmp_path / "index.html").chmod(0o644)
    container = docker_client.containers.run(
        "acs-local/python:3.11",
        ["python3", "-m", "http.server", "8000", "--directory", "/site"],
        detach=True,
        remove=True,
        volumes={str(tmp_path): {"bind": "/site", "mode": "ro"}},
        network=f"{PROJECT}_backend",
        name="acs-test-fixture-site",
    )
    # The crawler reaches it by this name on the compose network, the
    # Chrome nodes on the egress network.
    docker_client.networks.get(f"{PROJECT}_backend").disconnect(container)
    for network in ("backend", "egress"):
        docker_client.networks.get(f"{PROJECT}_{network}").connect(
            container, aliases=["fixture-site"]
        )
    yield "http://fixture-site:8000/index.html"
    container.stop(timeout=2)
    # auto-removal is asynchronous: the next test reuses the name
    with contextlib.suppress(docker.errors.NotFound):
        container.wait(condition="removed")


@pytest.fixture()
def credentials():
    with open("/root/.airflow-crawler-system/credentials.yml") as f:
        return yaml.safe_load(f)


@pytest.mark.parametrize("mode", ["static", "browser"])
def test_fixture_site_crawled_by_a_dag_run(fixture_site, credentials, mode):
    key = {"X-API-Key": credentials["api_key"]}
    requests.delete(f"{API}/api/sources/fixture", headers=key, timeout=10)
    r = requests.post(
        f"{API}/api/sources",
        headers=key,
        timeout=10,
        json={
            "name": "fixture",
            "start_urls": [fixture_site],
            "mode": mode,
            "schedule": None,
            "fields": {"heading": {"selector": "h1"}},
            "politeness": {"obey_robots": False, "delay_seconds": 0},
        },
    )
    assert r.status_code == 201, r.text
    try:
        auth = airflow_auth()
        wait_for_dag("crawl_fixture", auth)
        requests.patch(
            f"{AIRFLOW}/api/v2/dags/crawl_fixture",
            headers=auth,
            json={"is_paused": False},
            timeout=10,
        ).raise_for_status()

        t = requests.post(f"{API}/api/sources/fixture/crawl", headers=key, timeout=30)
        assert t.status_code == 202, t.text
        assert t.json()["via"] == "airflow"
        run_id = t.json()["run_id"]

        state = None
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            run = requests.get(
                f"{AIRFLOW}/api/v2/dags/crawl_fixture/dagRuns/{run_id}", headers=auth, timeout=10
            )
            state = run.json().get("state")
            if state in ("success", "failed"):
                break
            time.sleep(5)
        assert state == "success"

        results = requests.get(
            f"{API}/api/results", params={"source": "fixture"}, headers=api_key(), timeout=10
        ).json()
        items = results["items"] if isinstance(results, dict) else results
        assert HEADING[mode] in [item["fields"].get("heading") for item in items], results
    finally:
        requests.delete(f"{API}/api/sources/fixture", headers=key, timeout=10)
