"""The crawler API signs in to Airflow as a least-privilege user (acs_api),
not as the admin: it may list DAGs, trigger a run and pause or unpause a
DAG, and Airflow refuses it everything else. The admin's password is in no
environment of the api container."""

from __future__ import annotations

import pytest
import requests
import yaml
from stack_support import AIRFLOW, PROJECT, airflow_auth, api_key, wait_for_dag

pytestmark = [pytest.mark.integration, pytest.mark.docker]

API = "http://127.0.0.1:8000"
SOURCE = "api_user_probe"


@pytest.fixture()
def credentials(deployed):
    with open("/root/.airflow-crawler-system/credentials.yml") as f:
        return yaml.safe_load(f)


@pytest.fixture()
def api_user(credentials):
    return airflow_auth("acs_api")


@pytest.fixture(scope="module")
def paused_dag(deployed):
    """A crawl DAG of its own source, paused: a run triggered there is created
    but never scheduled."""
    admin_key = api_key("api_key")
    requests.delete(f"{API}/api/sources/{SOURCE}", headers=admin_key, timeout=10)
    created = requests.post(
        f"{API}/api/sources",
        headers=admin_key,
        json={
            "name": SOURCE,
            "start_urls": ["https://example.org/"],
            "fields": {"heading": {"selector": "h1"}},
            "schedule": None,
        },
        timeout=10,
    )
    assert created.status_code == 201, created.text
    dag_id, runs = f"crawl_{SOURCE}", []
    admin = airflow_auth()
    try:
        wait_for_dag(dag_id, admin)
        requests.patch(
            f"{AIRFLOW}/api/v2/dags/{dag_id}", headers=admin, json={"is_paused": True}, timeout=10
        ).raise_for_status()
        yield dag_id, runs
    finally:
        for run_id in runs:  # the API user may not delete runs; the admin cleans up
            requests.delete(
                f"{AIRFLOW}/api/v2/dags/{dag_id}/dagRuns/{run_id}", headers=admin, timeout=10
            )
        requests.delete(f"{API}/api/sources/{SOURCE}", headers=admin_key, timeout=10)


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
