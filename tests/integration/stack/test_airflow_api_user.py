"""The crawler API signs in to Airflow as a least-privilege user (acs_api),
not as the admin: it may list DAGs, trigger a run and pause or unpause a
DAG, and Airflow refuses it everything else. The admin's password is in no
environment of the api container."""

from __future__ import annotations

import pytest
import requests
import yaml
from stack_support import PROJECT

pytestmark = [pytest.mark.integration, pytest.mark.docker]

AIRFLOW = "http://127.0.0.1:8080"


@pytest.fixture()
def credentials(deployed):
    with open("/root/.airflow-crawler-system/credentials.yml") as f:
        return yaml.safe_load(f)


def _auth(username: str, password: str) -> dict:
    r = requests.post(
        f"{AIRFLOW}/auth/token", json={"username": username, "password": password}, timeout=10
    )
    assert r.status_code in (200, 201), (username, r.status_code)
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture()
def api_user(credentials):
    return _auth("acs_api", credentials["airflow_api_user_password"])


@pytest.fixture()
def paused_dag(credentials):
    """A paused crawl DAG: a run triggered there is created but never scheduled."""
    admin = _auth("acs_admin", credentials["airflow_admin_password"])
    dags = requests.get(f"{AIRFLOW}/api/v2/dags", headers=admin, timeout=10).json()["dags"]
    paused = [d["dag_id"] for d in dags if d["is_paused"] and d["dag_id"].startswith("crawl_")]
    if not paused:
        pytest.skip("no paused crawl DAG in this deployment")
    runs: list[str] = []
    yield paused[0], runs
    for run_id in runs:  # the API user may not delete runs; the admin cleans up
        requests.delete(
            f"{AIRFLOW}/api/v2/dags/{paused[0]}/dagRuns/{run_id}", headers=admin, timeout=10
        )


def test_the_api_user_triggers_and_pauses(api_user, paused_dag):
    dag_id, runs = paused_dag
    assert requests.get(f"{AIRFLOW}/api/v2/dags", headers=api_user, timeout=10).status_code == 200
    run = requests.post(
        f"{AIRFLOW}/api/v2/dags/{dag_id}/dagRuns",
        headers=api_user,
        json={"logical_date": None, "conf": {"trigger": "test"}},
        timeout=15,
    )
    assert run.status_code == 200, run.text
    runs.append(run.json()["dag_run_id"])
    state = requests.get(
        f"{AIRFLOW}/api/v2/dags/{dag_id}/dagRuns/{runs[0]}", headers=api_user, timeout=10
    )
    assert state.status_code == 200
    # pause (what a restore does); the DAG is paused already, so nothing runs
    pause = requests.patch(
        f"{AIRFLOW}/api/v2/dags/{dag_id}", headers=api_user, json={"is_paused": True}, timeout=10
    )
    assert pause.status_code == 200, pause.text


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/v2/connections", {"connection_id": "acs_probe", "conn_type": "http"}),
        ("POST", "/api/v2/variables", {"key": "acs_probe", "value": "x"}),
        ("DELETE", "/api/v2/dags/{dag}", None),
        ("GET", "/auth/fab/v1/users", None),
        ("GET", "/api/v2/config", None),
    ],
)
def test_the_api_user_may_do_nothing_else(api_user, paused_dag, method, path, body):
    dag_id, _ = paused_dag
    r = requests.request(
        method,
        AIRFLOW + path.format(dag=dag_id),
        headers=api_user,
        json=body,
        timeout=10,
    )
    assert r.status_code == 403, (method, path, r.status_code, r.text[:200])


def test_the_admin_password_is_not_in_the_api_container(credentials, docker_client):
    api = docker_client.containers.list(
        filters={
            "label": [
                f"com.docker.compose.project={PROJECT}",
                "com.docker.compose.service=api",
            ]
        }
    )
    assert api
    for container in api:
        env = dict(e.split("=", 1) for e in container.attrs["Config"]["Env"])
        assert env["AIRFLOW_API_USERNAME"] == "acs_api"
        assert credentials["airflow_admin_password"] not in env.values(), container.name
        assert env["AIRFLOW_API_PASSWORD"] == credentials["airflow_api_user_password"]
