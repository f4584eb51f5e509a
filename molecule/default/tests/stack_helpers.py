"""What the scenario's tests share: the hosts of the molecule inventory, HTTP
from inside a host, the Airflow API, the fixture website, playbook runs."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import testinfra
import testinfra.utils.ansible_runner
import yaml

PROJECT = "airflow-crawler-system"
PROJECT_DIR = f"/opt/{PROJECT}"
COMPOSE = f"docker compose --project-directory {PROJECT_DIR} -p {PROJECT}"
API, AIRFLOW = "http://127.0.0.1:8000", "http://127.0.0.1:8080"
REPO = Path(__file__).resolve().parents[3]
INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
CORE = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY).get_hosts("crawler_stack")
WORKERS = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY).get_hosts("crawler_workers")

# Any method, JSON body and headers: prints the status, then the body.
HTTP_REQUEST = """
import json, ssl, sys, urllib.error, urllib.request
method, url, headers, body = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
req = urllib.request.Request(url, method=method, headers=headers, data=body.encode() or None)
ctx = ssl._create_unverified_context()
try:
    r = urllib.request.urlopen(req, timeout=30, context=ctx)
    status, text = r.status, r.read().decode()
except urllib.error.HTTPError as exc:
    status, text = exc.code, exc.read().decode()
print(status)
print(text)
"""


def host_named(name):
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={INVENTORY}")


def request(host, method, url, headers=None, body=None, raw=False):
    """(status, JSON body) of an HTTP request made on ``host``."""
    headers = dict(headers or {}, **({"Content-Type": "application/json"} if body else {}))
    args = [method, url, json.dumps(headers), json.dumps(body) if body is not None else ""]
    result = host.run("python3 -c " + " ".join(shlex.quote(a) for a in [HTTP_REQUEST, *args]))
    assert result.rc == 0, f"{method} {url}: {result.stderr}"
    status, _, text = result.stdout.partition("\n")
    if raw:
        return int(status), text
    return int(status), (json.loads(text) if text.strip() else None)


def containers(host):
    out = host.check_output(f"{COMPOSE} ps --all --format json")
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    if len(rows) == 1 and isinstance(rows[0], list):
        rows = rows[0]
    return rows


def credentials(core):
    return yaml.safe_load(core.file("/root/.airflow-crawler-system/credentials.yml").content_string)


def airflow_auth(core, creds):
    status, token = request(
        core,
        "POST",
        f"{AIRFLOW}/auth/token",
        body={"username": "acs_admin", "password": creds["airflow_admin_password"]},
    )
    assert status in (200, 201), token
    return {"Authorization": f"Bearer {token['access_token']}"}


def create_sources(core, key, auth, specs):
    """Sources made through the API, their DAGs created by the DAG processor
    and unpaused, as an operator does it. All are posted before the first
    wait: the DAG processor picks them up in one parse of the DAG file."""
    for spec in specs:
        status, body = request(core, "POST", f"{API}/api/sources", key, spec)
        assert status == 201, body
    dag_ids = [f"crawl_{spec['name']}" for spec in specs]
    for dag_id in dag_ids:
        dag, deadline = None, time.monotonic() + 300
        while time.monotonic() < deadline:
            status, dag = request(core, "GET", f"{AIRFLOW}/api/v2/dags/{dag_id}", auth)
            if status == 200 and not dag["is_stale"]:
                break
            time.sleep(2)
        assert dag and not dag.get("is_stale", True), f"the DAG processor did not create {dag_id}"
        status, _ = request(
            core, "PATCH", f"{AIRFLOW}/api/v2/dags/{dag_id}", auth, {"is_paused": False}
        )
        assert status == 200
    return dag_ids


def create_source(core, key, auth, spec):
    """One source made through the API (create_sources); its DAG id."""
    return create_sources(core, key, auth, [spec])[0]


def wait_run(core, auth, dag_id, run_id, timeout=600):
    run, deadline = {}, time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, run = request(core, "GET", f"{AIRFLOW}/api/v2/dags/{dag_id}/dagRuns/{run_id}", auth)
        if run.get("state") in ("success", "failed"):
            return run
        time.sleep(2)
    return run


def task_instances(core, auth, dag_id, run_id):
    status, body = request(
        core, "GET", f"{AIRFLOW}/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", auth
    )
    assert status == 200, body
    return body["task_instances"]


def fixture_pages(count):
    """An index linking to ``count`` pages, each with a heading."""
    links = "".join(f'<a href="p{i}.html">p{i}</a>' for i in range(count))
    pages = {"index.html": f"<html><body><h1>Fixture page</h1>{links}</body></html>"}
    for i in range(count):
        pages[f"p{i}.html"] = f"<html><body><h1>Page {i}</h1><p>text {i}</p></body></html>"
    return pages


def start_fixture_site(host, pages):
    """The fixture website on ``host``'s stack networks as `fixture-site`:
    backend (a Celery worker's static fetches) and egress (Chrome nodes)."""
    script = "; ".join(
        f"printf %s {shlex.quote(text)} > /tmp/fixture-site/{name}" for name, text in pages.items()
    )
    host.check_output(f"rm -rf /tmp/fixture-site && mkdir -p /tmp/fixture-site && {script}")
    host.run("docker rm -f acs-fixture-site")
    # acs/airflow: the one image with python3 on every host of the stack.
    host.check_output(
        "docker run -d --name acs-fixture-site -v /tmp/fixture-site:/site:ro "
        f"--network {PROJECT}_backend --network-alias fixture-site "
        "--entrypoint python3 acs/airflow:0.1.0 -m http.server 8000 --directory /site"
    )
    host.check_output(
        f"docker network connect --alias fixture-site {PROJECT}_egress acs-fixture-site"
    )


def run_playbook(playbook, *args, timeout=1800):
    """ansible-playbook on the molecule inventory, as the operator runs it."""
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_ROLES_PATH=str(REPO / "roles"),
        ANSIBLE_LIBRARY=str(REPO / "library"),
        ANSIBLE_MODULE_UTILS=str(REPO / "module_utils"),
        ANSIBLE_FILTER_PLUGINS=str(REPO / "plugins" / "filter"),
        ANSIBLE_LOOKUP_PLUGINS=str(REPO / "plugins" / "lookup"),
        ANSIBLE_ACTION_PLUGINS=str(REPO / "plugins" / "action"),
        # ansible.cfg's callback, which molecule's own setting (profile_tasks)
        # replaces in the verifier's environment: the tests read the report.
        ANSIBLE_CALLBACKS_ENABLED="incident_report",
        PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    )
    return subprocess.run(
        ["ansible-playbook", "-i", str(Path(INVENTORY).parent), str(REPO / playbook), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
