"""What an operator sees on a fresh server after `site.yml` deployed the stack."""

import json
import shlex
import time

import pytest
import yaml

PROJECT = "airflow-crawler-system"
PROJECT_DIR = f"/opt/{PROJECT}"
COMPOSE = f"docker compose --project-directory {PROJECT_DIR} -p {PROJECT}"
LOCAL_MODE_SERVICES = {
    "api",
    "airflow-webserver",
    "airflow-scheduler",
    "airflow-triggerer",
    "airflow-dag-processor",
    "postgres",
    "mongodb",
    "redis",
    "selenium-hub",
    "chrome",
    "nginx",
    "prometheus",
    "pushgateway",
    "alertmanager",
    "blackbox-exporter",
    "cadvisor",
}
# A probe run with the host's Python: curl is not part of a minimal server.
HTTP_GET = (
    "python3 -c 'import sys, urllib.request, ssl;"
    " ctx = ssl._create_unverified_context();"
    " r = urllib.request.urlopen(sys.argv[1], timeout=10, context=ctx);"
    " print(r.status); print(r.read().decode())' {}"
)


# Any method, JSON body and headers: prints the status, then the body.
HTTP_REQUEST = """
import json, sys, urllib.error, urllib.request
method, url, headers, body = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
req = urllib.request.Request(url, method=method, headers=headers, data=body.encode() or None)
try:
    r = urllib.request.urlopen(req, timeout=30)
    status, text = r.status, r.read().decode()
except urllib.error.HTTPError as exc:
    status, text = exc.code, exc.read().decode()
print(status)
print(text)
"""


def _request(host, method, url, headers=None, body=None):
    headers = dict(headers or {}, **({"Content-Type": "application/json"} if body else {}))
    args = [method, url, json.dumps(headers), json.dumps(body) if body is not None else ""]
    result = host.run("python3 -c " + " ".join(shlex.quote(a) for a in [HTTP_REQUEST, *args]))
    assert result.rc == 0, f"{method} {url}: {result.stderr}"
    status, _, text = result.stdout.partition("\n")
    return int(status), (json.loads(text) if text.strip() else None)


def _containers(host):
    out = host.check_output(f"{COMPOSE} ps --all --format json")
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    if len(rows) == 1 and isinstance(rows[0], list):
        rows = rows[0]
    return rows


def _get(host, url):
    result = host.run(HTTP_GET.format(url))
    assert result.rc == 0, f"{url}: {result.stderr}"
    status, _, body = result.stdout.partition("\n")
    return int(status), body


def test_every_service_runs_and_is_healthy(host):
    rows = _containers(host)
    running = {r["Service"] for r in rows if r["State"] == "running"}
    assert running >= LOCAL_MODE_SERVICES, f"not running: {LOCAL_MODE_SERVICES - running}"
    unhealthy = {
        r["Service"]: r.get("Health")
        for r in rows
        if r["State"] == "running" and r.get("Health") != "healthy"
    }
    assert not unhealthy


def test_airflow_init_completed_successfully(host):
    (init,) = [r for r in _containers(host) if r["Service"] == "airflow-init"]
    assert init["State"] == "exited"
    assert init["ExitCode"] == 0


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/health", "http://127.0.0.1/health", "https://127.0.0.1/health"]
)
def test_api_health_answers_through_nginx(host, url):
    status, body = _get(host, url)
    assert status == 200
    assert json.loads(body)["status"] == "healthy"


def test_airflow_reports_every_component_healthy(host):
    status, body = _get(host, "http://127.0.0.1:8080/api/v2/monitor/health")
    assert status == 200
    health = json.loads(body)
    for component in ("metadatabase", "scheduler", "triggerer", "dag_processor"):
        assert health[component]["status"] == "healthy", (component, health)


def test_selenium_grid_is_ready_with_a_chrome_node(host):
    probe = (
        "import json, urllib.request;"
        " s = json.load(urllib.request.urlopen('http://selenium-hub:4444/status'))['value'];"
        " print(json.dumps({'ready': s['ready'], 'nodes': len(s['nodes'])}))"
    )
    out = host.check_output(f'{COMPOSE} exec -T api python -c "{probe}"')
    grid = json.loads(out)
    assert grid["ready"] is True
    assert grid["nodes"] >= 1


def test_runbook_mongodb_ping_from_the_api_container(host):
    # The runbook's own command, [API 무응답] step 5.
    cmd = (
        f'{COMPOSE} exec -T api python -c "from pymongo import MongoClient;'
        " c=MongoClient('mongodb://mongodb:27017'); print(c.admin.command('ping'))\""
    )
    assert "'ok': 1" in host.check_output(cmd)


def test_only_nginx_listens_on_every_interface(host):
    listeners = host.check_output("ss -Hltn | awk '{print $4}'").split()
    public = {
        addr.rsplit(":", 1)[1] for addr in listeners if addr.startswith(("0.0.0.0:", "*:", "[::]:"))
    }
    assert public <= {"80", "443"}, public


def test_secrets_and_private_key_are_readable_by_root_only(host):
    env_file = host.file(f"{PROJECT_DIR}/.env")
    assert env_file.mode == 0o600
    assert env_file.user == "root"
    assert host.file(f"{PROJECT_DIR}/nginx/certs/server.key").mode == 0o600


def test_no_default_or_weak_passwords_were_deployed(host):
    secrets = {}
    for line in host.file(f"{PROJECT_DIR}/.env").content_string.splitlines():
        key, sep, value = line.partition("=")
        if sep and any(word in key for word in ("PASSWORD", "SECRET", "KEY")):
            secrets[key] = value.strip().strip("'\"")
    assert secrets, "the .env file carries no secrets at all"
    weak = {k for k, v in secrets.items() if len(v) < 16 or v.lower() in {"admin", "airflow"}}
    assert not weak, weak


FIXTURE_PAGE = "<html><body><h1>Fixture page</h1><p>served on the stack network</p></body></html>"


def test_a_dag_run_crawls_a_fixture_site_into_mongodb(host):
    """The whole path an operator relies on: a source created through the API
    becomes a DAG, the API triggers it in Airflow, the scheduler runs the
    crawl, and the results are in MongoDB."""
    creds = yaml.safe_load(
        host.file("/root/.airflow-crawler-system/credentials.yml").content_string
    )
    key = {"X-API-Key": creds["api_key"]}
    assert creds.get("api_read_key"), "site.yml generated no api_read_key (the API's read-only key)"
    read = {"X-API-Key": creds["api_read_key"]}
    api, airflow = "http://127.0.0.1:8000", "http://127.0.0.1:8080"
    host.check_output(
        "mkdir -p /tmp/fixture-site && echo %s > /tmp/fixture-site/index.html && "
        "docker rm -f acs-fixture-site >/dev/null 2>&1; "
        f"docker run -d --name acs-fixture-site --network {PROJECT}_backend --network-alias fixture-site "
        "-v /tmp/fixture-site:/site:ro acs-local/python:3.11 python3 -m http.server 8000 --directory /site && "
        # The Chrome nodes reach websites only on their egress network.
        f"docker network connect --alias fixture-site {PROJECT}_egress acs-fixture-site",
        FIXTURE_PAGE,
    )
    try:
        status, body = _request(
            host,
            "POST",
            f"{api}/api/sources",
            key,
            {
                "name": "fixture",
                "start_urls": ["http://fixture-site:8000/index.html"],
                "mode": "static",
                "schedule": None,
                "fields": {"heading": {"selector": "h1"}},
                "politeness": {"obey_robots": False, "delay_seconds": 0},
            },
        )
        assert status == 201, body
        status, token = _request(
            host,
            "POST",
            f"{airflow}/auth/token",
            body={"username": "acs_admin", "password": creds["airflow_admin_password"]},
        )
        assert status in (200, 201), token
        auth = {"Authorization": f"Bearer {token['access_token']}"}
        dag = None
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            status, dag = _request(host, "GET", f"{airflow}/api/v2/dags/crawl_fixture", auth)
            if status == 200 and not dag["is_stale"]:
                break
            time.sleep(5)
        assert dag and not dag.get("is_stale", True), (
            f"the DAG processor did not create crawl_fixture: {dag}"
        )
        status, _ = _request(
            host, "PATCH", f"{airflow}/api/v2/dags/crawl_fixture", auth, {"is_paused": False}
        )
        assert status == 200

        status, run = _request(host, "POST", f"{api}/api/sources/fixture/crawl", key)
        assert status == 202, run
        assert run["via"] == "airflow"
        state = None
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            _, dag_run = _request(
                host, "GET", f"{airflow}/api/v2/dags/crawl_fixture/dagRuns/{run['run_id']}", auth
            )
            state = dag_run.get("state")
            if state in ("success", "failed"):
                break
            time.sleep(5)
        assert state == "success", dag_run

        # reads need a key: the read-only one reads, and cannot change anything
        assert _request(host, "GET", f"{api}/api/results?source=fixture")[0] == 401
        assert _request(host, "DELETE", f"{api}/api/sources/fixture", read)[0] == 403
        status, results = _request(host, "GET", f"{api}/api/results?source=fixture", read)
        assert status == 200
        assert [item["fields"].get("heading") for item in results["items"]] == ["Fixture page"]
    finally:
        _request(host, "DELETE", f"{api}/api/sources/fixture", key)
        host.run("docker rm -f acs-fixture-site")
