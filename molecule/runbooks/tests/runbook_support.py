"""The deployed local stack (/opt/airflow-crawler-system, compose project
airflow-crawler-system) and helpers to inject faults into it and to run a
runbook playbook through `python -m ops run`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import docker
import pytest
import requests
import yaml
from pymongo import MongoClient

REPO = Path(__file__).resolve().parents[3]
PROJECT = "airflow-crawler-system"
API = "http://127.0.0.1:8000"


def container(service: str, client=None):
    client = client or docker.from_env()
    found = client.containers.list(
        all=True,
        filters={
            "label": [
                f"com.docker.compose.project={PROJECT}",
                f"com.docker.compose.service={service}",
            ]
        },
    )
    return found[0] if found else None


def api_healthy(timeout: float = 3) -> bool:
    try:
        r = requests.get(f"{API}/health", timeout=timeout)
        return r.status_code == 200 and r.json().get("status") == "healthy"
    except requests.RequestException:
        return False


def credentials() -> dict:
    """What site.yml generated (API keys, Airflow admin password)."""
    return yaml.safe_load(Path("/root/.airflow-crawler-system/credentials.yml").read_text())


def read_key() -> dict[str, str]:
    """X-API-Key with the API's read-only key: every read of /api/ needs a key."""
    key = credentials().get("api_read_key")
    if not key:
        pytest.fail(
            "/root/.airflow-crawler-system/credentials.yml has no api_read_key: the stack was "
            "deployed before reads needed a key; deploy again (playbooks/site.yml)"
        )
    return {"X-API-Key": key}


def mongo_client() -> MongoClient:
    c = container("mongodb")
    ip = next(
        n["IPAddress"] for n in c.attrs["NetworkSettings"]["Networks"].values() if n["IPAddress"]
    )
    return MongoClient(f"mongodb://{ip}:27017", serverSelectionTimeoutMS=5000)


def document_counts() -> dict[str, int]:
    with mongo_client() as client:
        db = client["crawler"]
        return {name: db[name].count_documents({}) for name in sorted(db.list_collection_names())}


def stored_results(source: str) -> int:
    with mongo_client() as client:
        return client["crawler"]["crawl_results"].count_documents({"source": source})


def distinct_result_urls(source: str) -> int:
    with mongo_client() as client:
        return len(client["crawler"]["crawl_results"].distinct("url", {"source": source}))


class CrawlInContainer:
    """`python -m crawler crawl SOURCE` run in a service's container (the
    operator's one-off crawl), in the background."""

    def __init__(self, target, source: str, batch_size: int = 200) -> None:
        self._api = docker.APIClient()
        self._exec = self._api.exec_create(
            target.id,
            ["python", "-m", "crawler", "crawl", source],
            environment={"CRAWLER_BATCH_SIZE": str(batch_size)},
        )["Id"]
        self._output = b""
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self._output = self._api.exec_start(self._exec)

    def wait(self, timeout: float) -> tuple[int | None, str]:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError(f"the crawl did not finish within {timeout} s")
        return self._api.exec_inspect(self._exec)["ExitCode"], self._output.decode(errors="replace")

    def close(self) -> None:
        self._api.close()


class Recovery:
    """Polls GET /health in the background from the playbook's start: the
    time to recovery is when it first answers healthy again."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.healthy_after: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            if api_healthy(timeout=1):
                self.healthy_after = round(time.monotonic() - self.started, 1)
                return
            time.sleep(0.25)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def run_playbook(
    name: str, tmp_path: Path, *args: str
) -> tuple[subprocess.CompletedProcess, dict, float]:
    """`python -m ops run NAME -i inventory/local ARGS`: (process, report, seconds)."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    started = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ops",
            "run",
            name,
            "-i",
            "inventory/local",
            "--artifacts",
            str(tmp_path),
            *args,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    elapsed = round(time.monotonic() - started, 1)
    reports = sorted(tmp_path.glob(f"*-{name}/reports/*.json"))
    report = json.loads(reports[-1].read_text()) if reports else {}
    return proc, report, elapsed


def record(fault: str, **numbers) -> None:
    """Appends one measured recovery to $ACS_RECOVERY_LOG (default reports/recoveries.jsonl)."""
    path = Path(os.environ.get("ACS_RECOVERY_LOG", REPO / "reports" / "recoveries.jsonl"))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fh.write(
            json.dumps(
                {
                    "fault": fault,
                    "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    **numbers,
                }
            )
            + "\n"
        )
    print(f"recovery {fault}: {numbers}")


def _all_healthy(client) -> bool:
    """Every running container of the project reports its health check healthy."""
    running = client.containers.list(filters={"label": f"com.docker.compose.project={PROJECT}"})
    return all(
        c.attrs["State"].get("Health", {}).get("Status", "healthy") == "healthy" for c in running
    )


def serve_site(client, site: Path, name: str, alias: str):
    """Serves directory ``site`` over real HTTP from container ``name``, reachable
    as ``alias`` on the stack's network and on the egress network of the Chrome
    nodes; a leftover of an interrupted run goes first."""
    for leftover in client.containers.list(all=True, filters={"name": name}):
        leftover.remove(force=True)
    server = client.containers.run(
        "acs-local/python:3.11",
        ["python3", "-m", "http.server", "8000", "--directory", "/site"],
        detach=True,
        remove=True,
        volumes={str(site): {"bind": "/site", "mode": "ro"}},
        name=name,
    )
    for network in ("backend", "egress"):
        client.networks.get(f"{PROJECT}_{network}").connect(server, aliases=[alias])
    return server


class _Site:
    pages = 40
    index = "http://fault-site:8000/index.html"


def wait(predicate, timeout: float, what: str):
    """Polls until ``predicate`` returns something true, and returns it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def site_source(name: str, site) -> dict:
    """A static source crawling every page of ``site`` (crawl_site) slowly
    enough that a fault lands in the middle of its writes."""
    return {
        "name": name,
        "start_urls": [site.index],
        "mode": "static",
        "fields": {"heading": {"selector": "h1"}},
        "links": {"allow": [r"/p\d+\.html$"], "max_depth": 1, "max_pages": site.pages + 1},
        "politeness": {
            "obey_robots": False,
            "delay_seconds": 0.4,
            "concurrency_per_domain": 1,
            "max_retries": 0,
        },
    }


@pytest.fixture()
def crawl_site(deployed_stack, tmp_path):
    """A small website on the stack's network (name fault-site): an index
    linking to 40 pages, served over real HTTP."""
    site = tmp_path / "site"
    site.mkdir()
    links = "".join(f'<li><a href="p{i}.html">page {i}</a></li>' for i in range(_Site.pages))
    (site / "index.html").write_text(f"<html><body><h1>Index</h1><ul>{links}</ul></body></html>")
    for i in range(_Site.pages):
        (site / f"p{i}.html").write_text(
            f"<html><body><h1>Page {i}</h1><p>{'text ' * 200}</p></body></html>"
        )
    for path in [tmp_path, site, *site.iterdir()]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    server = serve_site(deployed_stack, site, "acs-test-fault-site", "fault-site")
    yield _Site
    server.stop(timeout=2)


@pytest.fixture(scope="module")
def deployed_stack():
    """The local stack must be deployed and healthy before faults are injected."""
    client = docker.from_env()
    # A test run just before may have scaled or recreated services; nginx
    # re-resolves the api replicas within seconds, so allow a bounded settle.
    deadline = time.monotonic() + 180
    while not (container("api", client) is not None and api_healthy() and _all_healthy(client)):
        if time.monotonic() > deadline:
            break
        time.sleep(2)
    api = container("api", client)
    if api is None or not api_healthy():
        pytest.fail(
            f"the local stack is not deployed or not healthy (GET {API}/health): deploy it with "
            "`ansible-playbook playbooks/site.yml` (inventory/local) before the runbook fault tests"
        )
    yield client
    # Leave the stack as found: every service of the project running.
    subprocess.run(
        [
            "docker",
            "compose",
            "--project-directory",
            f"/opt/{PROJECT}",
            "-p",
            PROJECT,
            "up",
            "-d",
            "--wait",
        ],
        check=False,
        capture_output=True,
        timeout=600,
    )
