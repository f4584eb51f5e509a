"""Deploys the stack on this machine with playbooks/site.yml and
inventory/local (local images must exist: playbooks/images.yml), once per
test session. Needs root, the Docker engine and free ports 80, 443, 8000,
8080 and 9090."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
PROJECT = "airflow-crawler-system"
PROJECT_DIR = Path("/opt/airflow-crawler-system")
CREDENTIALS = Path("/root/.airflow-crawler-system/credentials.yml")


def api_key(kind: str = "api_read_key") -> dict[str, str]:
    """X-API-Key with a key site.yml generated: `api_read_key` (reads) or
    `api_key` (admin: changes). Every read of /api/ needs one."""
    import yaml

    key = (yaml.safe_load(CREDENTIALS.read_text()) or {}).get(kind)
    if not key:
        pytest.fail(
            f"{CREDENTIALS} has no {kind}: the stack was deployed before reads needed a "
            "key; deploy again (playbooks/site.yml)"
        )
    return {"X-API-Key": key}


@dataclass
class Run:
    proc: subprocess.CompletedProcess
    seconds: float

    @property
    def recap(self) -> dict[str, int]:
        m = re.search(r"localhost\s+:\s+(.*)", self.proc.stdout)
        assert m, self.proc.stdout[-3000:]
        return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}


def site(*args: str, timeout: int = 3600, skip_docker_engine: bool = True) -> Run:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    env["ANSIBLE_NOCOLOR"] = "1"
    t0 = time.monotonic()
    # The engine on this machine is already running and shared with other
    # work: the docker_engine role is the foundation's and tested there.
    proc = subprocess.run(
        [
            str(BIN / "ansible-playbook"),
            "playbooks/site.yml",
            "-i",
            "inventory/local",
            *(["--skip-tags", "docker_engine"] if skip_docker_engine else []),
            *args,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Run(proc, time.monotonic() - t0)


def compose(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker", "compose", "--project-directory", str(PROJECT_DIR), *args],
        capture_output=True,
        text=True,
        check=check,
        timeout=600,
    )


@pytest.fixture(scope="session")
def deployed() -> Run:
    run = site()
    assert run.proc.returncode == 0, run.proc.stdout[-6000:] + run.proc.stderr[-3000:]
    print(f"\nsite.yml converge: {run.seconds:.1f} s, recap {run.recap}")
    return run


@pytest.fixture(scope="session")
def docker_client():
    return docker.from_env()


@pytest.fixture()
def project_containers(deployed, docker_client):
    return docker_client.containers.list(
        all=True, filters={"label": f"com.docker.compose.project={PROJECT}"}
    )


AIRFLOW = "http://127.0.0.1:8080"
# Airflow users site.yml creates -> their entries in the credentials file
AIRFLOW_USERS = {"acs_admin": "airflow_admin_password", "acs_api": "airflow_api_user_password"}


def airflow_auth(user: str = "acs_admin") -> dict:
    """Bearer header of an Airflow user whose password site.yml generated."""
    import requests
    import yaml

    password = (yaml.safe_load(CREDENTIALS.read_text()) or {})[AIRFLOW_USERS[user]]
    r = requests.post(
        f"{AIRFLOW}/auth/token", json={"username": user, "password": password}, timeout=10
    )
    assert r.status_code in (200, 201), (user, r.status_code, r.text[:200])
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def wait_for_dag(dag_id: str, auth: dict, timeout: float = 240) -> dict:
    """The DAG once the DAG processor has parsed it. A DAG left by an earlier
    source of that name answers 200 with is_stale=true until then."""
    import requests

    deadline = time.monotonic() + timeout
    while True:
        dag = requests.get(f"{AIRFLOW}/api/v2/dags/{dag_id}", headers=auth, timeout=10)
        if dag.status_code == 200 and not dag.json()["is_stale"]:
            return dag.json()
        if time.monotonic() > deadline:
            pytest.fail(f"the DAG processor did not create {dag_id}: {dag.text[:300]}")
        time.sleep(5)


def trigger_dag(dag_id: str, auth: dict) -> str:
    """A manual run of the DAG (Airflow's REST API); its run id."""
    import requests

    run = requests.post(
        f"{AIRFLOW}/api/v2/dags/{dag_id}/dagRuns",
        headers=auth,
        json={"logical_date": None, "conf": {}},
        timeout=10,
    )
    assert run.status_code in (200, 201), run.text
    return run.json()["dag_run_id"]


def end_active_runs(dag_id: str, auth: dict, keep: str | None = None) -> list[str]:
    """Marks every queued or running run of the DAG failed (Airflow's REST
    API), but `keep`; the ids it ended. A DAG with max_active_runs=1 (the
    restore drill) queues a new run behind one left active by an earlier
    session or a failed test: that run waits for a drill request the
    restarted host no longer holds, up to its hour."""
    import requests

    ended = []
    for state in ("running", "queued"):
        runs = requests.get(
            f"{AIRFLOW}/api/v2/dags/{dag_id}/dagRuns",
            headers=auth,
            params={"state": state, "limit": 100},
            timeout=10,
        )
        runs.raise_for_status()
        for run in runs.json()["dag_runs"]:
            if run["dag_run_id"] == keep:
                continue
            done = requests.patch(
                f"{AIRFLOW}/api/v2/dags/{dag_id}/dagRuns/{run['dag_run_id']}",
                headers=auth,
                json={"state": "failed"},
                timeout=30,
            )
            assert done.status_code == 200, done.text[:300]
            ended.append(run["dag_run_id"])
    return ended


@pytest.fixture()
def drill_dag_idle(deployed):
    """restore_drill_dag with no active run before the test (one an earlier
    session left is ended and named) and none after it, whatever the test
    did: the next test's run is not queued behind it."""
    stale = end_active_runs("restore_drill_dag", airflow_auth())
    if stale:
        print(f"\nrestore_drill_dag: ended runs left active before this test: {stale}")
    yield
    end_active_runs("restore_drill_dag", airflow_auth())
