"""site.yml on this machine: every service healthy, the runbook's own
commands answer, only nginx is public, files are private, re-runs and check
mode change nothing, and the API scales behind nginx."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest
import requests
import yaml
from stack_support import PROJECT_DIR, api_key, compose, site

pytestmark = [pytest.mark.integration, pytest.mark.docker]

EXPECTED = {
    "mongodb",
    "postgres",
    "redis",
    "selenium-hub",
    "chrome",
    "api",
    "airflow-init",
    "airflow-webserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "nginx",
    "prometheus",
    "pushgateway",
    "alertmanager",
    "blackbox-exporter",
    "cadvisor",
}


def test_every_container_running_and_healthy(project_containers):
    services = {}
    for c in project_containers:
        c.reload()
        services.setdefault(c.labels["com.docker.compose.service"], []).append(c)
    assert set(services) == EXPECTED
    for name, containers in services.items():
        for c in containers:
            state = c.attrs["State"]
            if name == "airflow-init":
                assert state["Status"] == "exited" and state["ExitCode"] == 0
                continue
            assert state["Status"] == "running", name
            assert state["Health"]["Status"] == "healthy", name


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/health", "http://127.0.0.1/health", "https://127.0.0.1/health"]
)
def test_api_health_through_nginx(deployed, url):
    # The self-signed certificate the nginx role generated is the trust anchor.
    r = requests.get(url, timeout=10, verify=str(PROJECT_DIR / "nginx/certs/server.crt"))
    assert r.status_code == 200
    assert r.json()["status"] == "healthy"


def test_nginx_hides_its_version_and_sends_security_headers(deployed):
    cert = str(PROJECT_DIR / "nginx/certs/server.crt")
    https = requests.get(
        "https://127.0.0.1/api/sources", headers=api_key(), timeout=10, verify=cert
    )
    assert https.status_code == 200, https.text
    missing = requests.get("https://127.0.0.1/no-such-page", timeout=10, verify=cert)
    for r in (https, missing):
        assert r.headers["Server"] == "nginx"  # no version
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["Strict-Transport-Security"].startswith("max-age=")
    # plain HTTP on the public port goes to HTTPS before a key could be sent again
    plain = requests.get("http://127.0.0.1/api/sources", timeout=10, allow_redirects=False)
    assert plain.status_code == 301
    assert plain.headers["Location"].startswith("https://")
    assert "Strict-Transport-Security" not in plain.headers


def test_api_reads_need_a_key_and_changes_an_admin_key(deployed):
    """On the loopback port and through nginx's HTTPS: a read without a key
    is 401, a read-only key reads but changes nothing (403), the health
    checks stay open and show no data."""
    cert = str(PROJECT_DIR / "nginx/certs/server.crt")
    for base in ("http://127.0.0.1:8000", "https://127.0.0.1"):

        def get(path, base=base, **kw):
            return requests.get(f"{base}{path}", timeout=10, verify=cert, **kw)

        assert get("/api/sources").status_code == 401
        assert get("/api/backup/").status_code == 401
        assert get("/api/sources", headers=api_key()).status_code == 200
        assert get("/api/sources", headers=api_key("api_key")).status_code == 200
        r = requests.post(f"{base}/api/backup/trigger", headers=api_key(), timeout=10, verify=cert)
        assert r.status_code == 403 and "read-only" in r.json()["detail"]
        health = get("/api/monitoring/health")
        assert health.status_code == 200 and "sources" not in health.json()
        assert "sources" in get("/api/monitoring/health", headers=api_key()).json()


def test_public_ports_limit_data_changes_and_hide_metrics(deployed):
    cert = str(PROJECT_DIR / "nginx/certs/server.crt")
    with requests.Session() as public:
        # without a key: each is a 401 from the API until nginx says 429
        codes = [
            public.post("https://127.0.0.1/api/backup/trigger", timeout=10, verify=cert)
            for _ in range(12)
        ]
    limited = [r for r in codes if r.status_code == 429]
    assert limited, [r.status_code for r in codes]
    assert limited[0].headers["Retry-After"] == "1"
    assert limited[0].headers["X-Content-Type-Options"] == "nosniff"
    assert {r.status_code for r in codes} <= {401, 429}
    # reads are not limited, nor is the loopback port the runbook uses
    assert requests.get("https://127.0.0.1/health", timeout=10, verify=cert).status_code == 200
    assert all(
        requests.post("http://127.0.0.1:8000/api/backup/trigger", timeout=10).status_code == 401
        for _ in range(12)
    )
    assert requests.get("https://127.0.0.1/metrics", timeout=10, verify=cert).status_code == 404
    assert requests.get("http://127.0.0.1:8000/metrics", timeout=10).status_code == 200


def test_prometheus_cannot_be_stopped_or_reloaded_over_http(deployed):
    # without --web.enable-lifecycle these answer 403 instead of acting
    for endpoint in ("/-/quit", "/-/reload"):
        r = requests.post(f"http://127.0.0.1:9090{endpoint}", timeout=10)
        assert r.status_code == 403, endpoint
    assert requests.get("http://127.0.0.1:9090/-/healthy", timeout=10).status_code == 200


def test_airflow_health_on_the_runbook_url(deployed):
    r = requests.get("http://127.0.0.1:8080/health", timeout=10)
    assert r.status_code == 200
    body = r.json()
    assert body["metadatabase"]["status"] == "healthy"
    assert body["scheduler"]["status"] == "healthy"


def test_runbook_mongodb_ping_from_the_api_container(deployed):
    proc = compose(
        "exec",
        "-T",
        "api",
        "python",
        "-c",
        "from pymongo import MongoClient; c=MongoClient('mongodb://mongodb:27017'); print(c.admin.command('ping'))",
    )
    assert "'ok': 1" in proc.stdout


def test_grid_ready_with_a_node(deployed):
    proc = compose(
        "exec",
        "-T",
        "api",
        "python",
        "-c",
        "import json,urllib.request;"
        "print(json.dumps(json.load(urllib.request.urlopen('http://selenium-hub:4444/status'))['value']))",
    )
    status = json.loads(proc.stdout)
    assert status["ready"] is True
    assert len(status["nodes"]) >= 1
    assert status["nodes"][0]["slots"].__len__() == 3  # SE_NODE_MAX_SESSIONS


def test_only_nginx_is_published_on_all_interfaces(project_containers):
    public = set()
    for c in project_containers:
        for port, bindings in (c.attrs["HostConfig"]["PortBindings"] or {}).items():
            for b in bindings:
                if b["HostIp"] in ("", "0.0.0.0", "::"):
                    public.add((c.labels["com.docker.compose.service"], b["HostPort"]))
                else:
                    assert b["HostIp"] == "127.0.0.1", (c.name, port, b)
    assert public == {("nginx", "80"), ("nginx", "443")}


@pytest.mark.parametrize(
    ("path", "mode"),
    [
        (PROJECT_DIR / ".env", 0o600),
        ("/root/.airflow-crawler-system/credentials.yml", 0o600),
        (PROJECT_DIR / "nginx/certs/server.key", 0o600),
        (PROJECT_DIR / "nginx/certs/server.crt", 0o644),
    ],
)
def test_file_modes(deployed, path, mode):
    assert stat.S_IMODE(os.stat(path).st_mode) == mode


DEFAULT_PASSWORDS = {"", "admin", "airflow", "password", "postgres", "mongo", "changeme", "secret"}


def _env_values() -> dict[str, str]:
    """.env as docker compose reads it: unquoted values."""
    out = {}
    for line in (PROJECT_DIR / ".env").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            out[key] = value.strip().strip("'\"")
    return out


def test_no_default_password(deployed):
    env = _env_values()
    secrets = {k: v for k, v in env.items() if any(w in k for w in ("PASSWORD", "SECRET", "KEY"))}
    assert len(secrets) >= 8, sorted(secrets)  # the secrets are really in .env
    for key, value in secrets.items():
        assert value.lower() not in DEFAULT_PASSWORDS and len(value) >= 16, key
    assert len(set(secrets.values())) == len(secrets), "two services share one secret"
    user = yaml.safe_load((Path.home() / ".airflow-crawler-system" / "credentials.yml").read_text())
    token_url = "http://127.0.0.1:8080/auth/token"
    # The admin that exists logs in with its generated password ...
    good = requests.post(
        token_url,
        json={"username": "acs_admin", "password": user["airflow_admin_password"]},
        timeout=10,
    )
    assert good.status_code in (200, 201), good.text
    # ... and neither with a default password nor as the default admin/admin.
    for username, password in (("acs_admin", "admin"), ("admin", "admin"), ("airflow", "airflow")):
        r = requests.post(token_url, json={"username": username, "password": password}, timeout=10)
        assert r.status_code in (401, 403), (username, r.status_code)


def test_second_run_changes_nothing(deployed):
    run = site()
    assert run.proc.returncode == 0, run.proc.stdout[-4000:]
    print(f"\nsite.yml idempotent re-run: {run.seconds:.1f} s")
    assert run.recap["changed"] == 0, run.proc.stdout[-4000:]


def test_check_mode_changes_nothing(deployed):
    run = site("--check", "--diff")
    assert run.proc.returncode == 0, run.proc.stdout[-4000:]
    assert run.recap["changed"] == 0, run.proc.stdout[-4000:]


def test_nginx_config_passes_nginx_t_in_its_image(deployed):
    proc = compose("run", "--rm", "--no-deps", "-T", "--entrypoint", "nginx", "nginx", "-t")
    assert "syntax is ok" in proc.stderr and "test is successful" in proc.stderr


def test_api_scales_behind_nginx(deployed, docker_client):
    """The runbook's --scale api=3: nginx spreads over the replicas and keeps
    answering when one of them stops."""
    try:
        compose("up", "-d", "--no-deps", "--no-recreate", "--wait", "--scale", "api=3", "api")
        replicas = docker_client.containers.list(
            filters={
                "label": [
                    "com.docker.compose.project=airflow-crawler-system",
                    "com.docker.compose.service=api",
                ]
            }
        )
        assert len(replicas) == 3
        time.sleep(11)  # nginx re-resolves `api` every 10 s
        sorted(replicas, key=lambda c: c.name)[1].stop(timeout=5)
        codes = [
            requests.get("http://127.0.0.1:8000/health", timeout=10).status_code for _ in range(12)
        ]
        assert codes == [200] * 12
    finally:
        compose("up", "-d", "--no-deps", "--wait", "--scale", "api=1", "api")
        # nginx keeps the removed replicas' addresses until it re-resolves `api`
        # (10 s); a container started on a freed address meanwhile (the next
        # test's website) would receive API requests.
        time.sleep(11)
