"""What an operator sees on the core host after `site.yml` deployed the
stack to fresh servers (test_cluster.py: the worker hosts)."""

import json

import pytest
from stack_helpers import (
    API,
    COMPOSE,
    CORE,
    PROJECT_DIR,
    WORKERS,
    airflow_auth,
    containers,
    create_source,
    credentials,
    fixture_pages,
    host_named,
    request,
    start_fixture_site,
    wait_run,
)

testinfra_hosts = [f"ansible://{name}" for name in CORE]
LOCAL_MODE_SERVICES = {
    "api",
    "airflow-webserver",
    "airflow-scheduler",
    "airflow-triggerer",
    # CeleryExecutor (the scenario has worker hosts): the core queue's worker.
    "airflow-worker",
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


def _get(host, url):
    result = host.run(HTTP_GET.format(url))
    assert result.rc == 0, f"{url}: {result.stderr}"
    status, _, body = result.stdout.partition("\n")
    return int(status), body


def test_every_service_runs_and_is_healthy(host):
    rows = containers(host)
    running = {r["Service"] for r in rows if r["State"] == "running"}
    assert running >= LOCAL_MODE_SERVICES, f"not running: {LOCAL_MODE_SERVICES - running}"
    unhealthy = {
        r["Service"]: r.get("Health")
        for r in rows
        if r["State"] == "running" and r.get("Health") != "healthy"
    }
    assert not unhealthy


def test_airflow_init_completed_successfully(host):
    (init,) = [r for r in containers(host) if r["Service"] == "airflow-init"]
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


def test_a_dag_run_crawls_a_fixture_site_into_mongodb(host):
    """The whole path an operator relies on: a source created through the API
    becomes a DAG, the API triggers it in Airflow, a Celery worker on a
    worker host runs the crawl, and the results are in MongoDB."""
    creds = credentials(host)
    key = {"X-API-Key": creds["api_key"]}
    assert creds.get("api_read_key"), "site.yml generated no api_read_key (the API's read-only key)"
    read = {"X-API-Key": creds["api_read_key"]}
    # The crawl task runs on whichever worker host takes it.
    for name in [*CORE, *WORKERS]:
        start_fixture_site(host_named(name), fixture_pages(0))
    try:
        auth = airflow_auth(host, creds)
        dag_id = create_source(
            host,
            key,
            auth,
            {
                "name": "fixture",
                "start_urls": ["http://fixture-site:8000/index.html"],
                "mode": "static",
                "schedule": None,
                "fields": {"heading": {"selector": "h1"}},
                "politeness": {"obey_robots": False, "delay_seconds": 0},
            },
        )
        status, run = request(host, "POST", f"{API}/api/sources/fixture/crawl", key)
        assert status == 202, run
        assert run["via"] == "airflow"
        dag_run = wait_run(host, auth, dag_id, run["run_id"])
        assert dag_run.get("state") == "success", dag_run

        # reads need a key: the read-only one reads, and cannot change anything
        assert request(host, "GET", f"{API}/api/results?source=fixture")[0] == 401
        assert request(host, "DELETE", f"{API}/api/sources/fixture", read)[0] == 403
        status, results = request(host, "GET", f"{API}/api/results?source=fixture", read)
        assert status == 200
        assert [item["fields"].get("heading") for item in results["items"]] == ["Fixture page"]
    finally:
        request(host, "DELETE", f"{API}/api/sources/fixture", key)
