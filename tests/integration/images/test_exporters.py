"""The exporter drop-ins against the real engine: acs-local/cadvisor reports a
memory-limited container's usage, limit and the OOM kills its limit causes;
acs-local/blackbox-exporter loads the monitoring role's modules and fails
the scheduler probe on an unhealthy answer."""

from __future__ import annotations

import time
from pathlib import Path

import jinja2
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

pytestmark = [pytest.mark.integration, pytest.mark.docker]

REPO = Path(__file__).resolve().parents[3]
CADVISOR = "acs-local/cadvisor:0"
BLACKBOX = "acs-local/blackbox-exporter:0"
PYTHON = "acs-local/python:3.11"
LIMIT = 64 * 1024 * 1024

# A child allocates past the limit (the kernel kills it, the container
# lives), then PID 1 does and the container dies.
HOG = """
import subprocess, sys, time
time.sleep(8)
subprocess.run([sys.executable, "-c", "x = bytearray(200 * 1024 * 1024)"])
time.sleep(8)
x = bytearray(200 * 1024 * 1024)
"""


def samples(base: str, name: str) -> dict:
    """metric -> value of the samples whose `name` label is `name`."""
    text = requests.get(f"{base}/metrics", timeout=10).text
    return {
        s.name: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.labels.get("name") == name
    }


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(1)
    pytest.fail(f"{what} not seen within {timeout:.0f}s; last: {last}")


def test_cadvisor_sees_memory_limit_and_oom_kills(lab):
    exporter = lab.run(
        CADVISOR,
        alias="cadvisor",
        command=[
            "--store_container_labels=false",
            "--whitelisted_container_labels=com.docker.compose.service",
        ],
        volumes={
            "/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "ro"},
            "/sys": {"bind": "/sys", "mode": "ro"},
        },
        # As the monitoring role runs it: the kernel log is the one source
        # of PID 1's kill (no engine event here, docs ENVIRONMENT).
        devices=["/dev/kmsg:/dev/kmsg:r"],
        cap_add=["SYSLOG"],
    )
    lab.wait_healthy(exporter, timeout=60)
    base = f"http://{lab.ip(exporter)}:8080"
    hog = lab.run(
        PYTHON,
        alias="hog",
        command=["python3", "-c", HOG],
        # As compose's mem_limit: memory only. With memswap_limit equal to it
        # the memsw counter hits first and memory.failcnt (v1) stays 0.
        mem_limit=LIMIT,
        labels={"com.docker.compose.service": "hog"},
    )
    running = wait_for(
        lambda: (m := samples(base, hog.name)).get("container_memory_usage_bytes") and m,
        20,
        "the hog's memory",
    )
    assert running["container_spec_memory_limit_bytes"] == LIMIT
    assert 0 < running["container_memory_usage_bytes"] < LIMIT
    assert running["container_start_time_seconds"] > time.time() - 60
    assert running["container_oom_events_total"] == 0

    # The child's kill: counted while the container still runs.
    after_child = wait_for(
        lambda: (m := samples(base, hog.name)).get("container_oom_events_total") and m,
        30,
        "the child's OOM kill",
    )
    assert after_child["container_oom_events_total"] == 1
    assert after_child["container_memory_failcnt"] > 0

    # PID 1's kill stops the container; its count stays on the exited one.
    hog.wait(timeout=60)
    hog.reload()
    assert hog.attrs["State"]["ExitCode"] == 137
    final = wait_for(
        lambda: (m := samples(base, hog.name)).get("container_oom_events_total", 0) >= 2 and m,
        15,
        "PID 1's OOM kill",
    )
    assert final["container_oom_events_total"] == 2
    assert "container_memory_usage_bytes" not in final  # not running: no cgroup


SCHEDULER_UP = '{"metadatabase":{"status":"healthy"},"scheduler":{"status":"healthy","latest_scheduler_heartbeat":"x"}}'
SCHEDULER_DOWN = '{"metadatabase":{"status":"healthy"},"scheduler":{"status":"unhealthy","latest_scheduler_heartbeat":null}}'
FAKE_AIRFLOW = f"""
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = {{"/up": {SCHEDULER_UP!r}, "/down": {SCHEDULER_DOWN!r}}}[self.path].encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.HTTPServer(("", 8080), H).serve_forever()
"""


def test_blackbox_loads_the_role_modules_and_probes(lab, tmp_path):
    template = (REPO / "roles/monitoring/templates/blackbox.yml.j2").read_text()
    (tmp_path / "config.yml").write_text(jinja2.Template(template).render(ansible_managed="test"))
    tmp_path.chmod(0o755)
    (tmp_path / "config.yml").chmod(0o644)
    exporter = lab.run(
        BLACKBOX,
        alias="blackbox",
        command=["--config.file=/etc/blackbox_exporter/config.yml"],
        user="65534:65534",
        volumes={str(tmp_path): {"bind": "/etc/blackbox_exporter", "mode": "ro"}},
    )
    lab.wait_healthy(exporter, timeout=60)
    airflow = lab.run(PYTHON, alias="airflow", command=["python3", "-c", FAKE_AIRFLOW])
    base = f"http://{lab.ip(exporter)}:9115"

    def probe(module: str, target: str) -> float:
        text = requests.get(
            f"{base}/probe",
            params={"module": module, "target": target},
            headers={"X-Prometheus-Scrape-Timeout-Seconds": "5"},
            timeout=10,
        ).text
        return next(
            s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == "probe_success"
        )

    wait_for(lambda: probe("http_2xx", "http://airflow:8080/up"), 30, "the fake api-server")
    assert probe("airflow_scheduler", "http://airflow:8080/up") == 1
    assert probe("airflow_scheduler", "http://airflow:8080/down") == 0
    assert probe("tcp_connect", "airflow:8080") == 1
    assert probe("tcp_connect", "airflow:27017") == 0
    airflow.kill(signal="SIGSTOP")  # a frozen server: the probe times out
    assert probe("http_2xx", "http://airflow:8080/up") == 0
