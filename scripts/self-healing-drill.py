#!/usr/bin/env python3
"""Self-healing drill on the deployed local stack: injects a real fault,
touches nothing else, and prints how long the stack took to heal itself and
what the remediator's ledger recorded. For the operators' drills and the
figures of docs/self-healing.md; CI runs the API and MongoDB cases as tests
(molecule/runbooks/tests/test_self_healing.py).

  .venv/bin/python scripts/self-healing-drill.py airflow    # scheduler stopped, DAG paused
  .venv/bin/python scripts/self-healing-drill.py chrome     # every Chrome node stopped
  .venv/bin/python scripts/self-healing-drill.py memory     # a memory hog in the api container
  .venv/bin/python scripts/self-healing-drill.py flapping   # the API frozen 10 times in 10 min

flapping needs an escalation webhook: it listens on 127.0.0.1:PORT and
expects the remediator to be deployed with
-e remediator_escalation_webhook_url=http://127.0.0.1:PORT/escalate (--port).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "molecule/runbooks/tests")]

from runbook_support import api_healthy, container, credentials, wait  # noqa: E402

from ops.remediator.ledger import Ledger  # noqa: E402

AIRFLOW = "http://127.0.0.1:8080"
PROMETHEUS = "http://127.0.0.1:9090"
SETTINGS = yaml.safe_load(Path("/etc/acs-remediator/remediator.yml").read_text())


def prom(query: str) -> list:
    answer = requests.get(f"{PROMETHEUS}/api/v1/query", params={"query": query}, timeout=5)
    return answer.json()["data"]["result"]


def finished(ledger: Ledger, procedure: str, since: float):
    done = [a for a in ledger.actions(procedure, since=since) if a["outcome"] != "running"]
    return done[-1] if done else None


def report_of(action: dict) -> dict:
    paths = sorted(Path(action["run_dir"], "reports").glob("*.json"))
    return json.loads(paths[-1].read_text()) if paths else {}


def airflow_session() -> requests.Session:
    password = credentials()["airflow_admin_password"]
    token = requests.post(
        f"{AIRFLOW}/auth/token", json={"username": "acs_admin", "password": password}, timeout=30
    ).json()["access_token"]
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    return session


def heal(name: str, procedure: str, inject, healthy, timeout: float = 600) -> dict:
    ledger = Ledger(SETTINGS["ledger"])
    since = time.time()
    started = time.monotonic()
    inject()
    # Prometheus may still hold the healthy figures of the last scrape.
    wait(lambda: not healthy(), 180, f"{name}: the fault to show")
    wait(healthy, timeout, f"{name}: healthy again")
    healthy_after = round(time.monotonic() - started, 1)
    action = wait(lambda: finished(ledger, procedure, since), timeout, f"{name}: {procedure}")
    report = report_of(action)
    row = {
        "fault": name,
        "procedure": procedure,
        "outcome": action["outcome"],
        "fault_to_healthy_s": healthy_after,
        "mttd_s": report.get("mttd_seconds"),
        "mttr_s": report.get("mttr_seconds"),
        "report": action["run_dir"],
    }
    print(json.dumps(row))
    return row


def drill_airflow() -> dict:
    airflow = airflow_session()
    dag = "backup_dag"

    def inject():
        airflow.patch(
            f"{AIRFLOW}/api/v2/dags/{dag}?update_mask=is_paused",
            json={"is_paused": True},
            timeout=30,
        ).raise_for_status()
        container("airflow-scheduler").stop(timeout=10)

    def healthy():
        up = prom('min(probe_success{job="airflow_scheduler"}) == 1')
        return (
            up and not airflow.get(f"{AIRFLOW}/api/v2/dags/{dag}", timeout=30).json()["is_paused"]
        )

    return heal("airflow scheduler stopped, DAG paused", "recover_airflow", inject, healthy)


def drill_chrome() -> dict:
    def inject():
        for node in container_all("chrome"):
            node.stop(timeout=10)

    return heal(
        "every chrome node stopped",
        "recover_crawl_failures",
        inject,
        lambda: prom('max(crawler_grid_slots{state="free"}) > 0'),
    )


def drill_memory() -> dict:
    api = container("api")
    limit = api.attrs["HostConfig"]["Memory"]
    hog = int(limit * 0.95)

    def inject():
        # Holds 95 % of the limit without crossing it: near the limit, no OOM kill.
        api.exec_run(
            ["python3", "-c", f"import time; b = bytearray({hog}); time.sleep(3600)"], detach=True
        )

    return heal(
        "memory hog in the api container",
        "recover_oom",
        inject,
        lambda: (
            prom(
                'max(container_memory_working_set_bytes{container_label_com_docker_compose_service="api"}'
                " / container_spec_memory_limit_bytes) < 0.9"
            )
            and api_healthy()
        ),
    )


def container_all(service: str):
    import docker

    return docker.from_env().containers.list(
        filters={"label": [f"com.docker.compose.service={service}"]}
    )


class Escalations(ThreadingHTTPServer):
    def __init__(self, port: int) -> None:
        self.calls: list[dict] = []
        super().__init__(("127.0.0.1", port), _Hook)


class _Hook(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.calls.append(json.loads(body or b"{}"))
        self.send_response(200)
        self.end_headers()


def drill_flapping(port: int, freezes: int = 10, every: float = 60) -> dict:
    hook = Escalations(port)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    ledger = Ledger(SETTINGS["ledger"])
    since = time.time()
    for i in range(freezes):
        started = time.monotonic()
        api = container("api")
        if api.status == "running" and api_healthy(timeout=2):
            os.kill(api.attrs["State"]["Pid"], signal.SIGSTOP)
            print(f"freeze {i + 1}: api process {api.attrs['State']['Pid']} stopped", flush=True)
        else:
            print(f"freeze {i + 1}: the API is still down", flush=True)
        time.sleep(max(0, every - (time.monotonic() - started)))
    actions = ledger.actions("recover_api", since=since)
    breaker = ledger.breaker("recover_api")
    ctl = Path("/etc/acs-remediator/acs-remediator-ctl")
    subprocess.run([str(ctl), "restart"], check=True)
    still_open = Ledger(SETTINGS["ledger"]).breaker("recover_api") is not None
    row = {
        "fault": f"api frozen {freezes} times in {freezes * every / 60:g} min",
        "actions": len(actions),
        "outcomes": [a["outcome"] for a in actions],
        "breaker_open": breaker is not None,
        "breaker_reason": breaker["reason"] if breaker else "",
        "escalation_calls": len(hook.calls),
        "breaker_open_after_restart": still_open,
    }
    print(json.dumps(row))
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", choices=["airflow", "chrome", "memory", "flapping"])
    parser.add_argument("--port", type=int, default=9419)
    args = parser.parse_args()
    if args.case == "flapping":
        drill_flapping(args.port)
    else:
        {"airflow": drill_airflow, "chrome": drill_chrome, "memory": drill_memory}[args.case]()
    return 0


if __name__ == "__main__":
    sys.exit(main())
