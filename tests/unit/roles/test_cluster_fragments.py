"""A stack over three hosts, as the roles render it: the core host publishes
to the worker hosts what their tasks and nodes use, on its cluster address
only; a worker host runs a Celery worker and a Chrome node that reach the
core host by its services' names; a single host publishes nothing new."""

from __future__ import annotations

import pytest
import yaml
from stack_role_helpers import render

CORE, WORKER1, WORKER2 = "10.20.0.10", "10.20.0.21", "10.20.0.22"


@pytest.fixture(scope="module")
def inventory(tmp_path_factory):
    path = tmp_path_factory.mktemp("inventory") / "hosts.yml"
    hosts = {
        "crawler_stack": {"hosts": {"core1": {"stack_node_address": CORE}}},
        "crawler_workers": {
            "hosts": {
                "worker1": {"stack_node_address": WORKER1},
                "worker2": {"stack_node_address": WORKER2},
            }
        },
    }
    local = {"ansible_python_interpreter": "{{ ansible_playbook_python }}"}
    path.write_text(yaml.safe_dump({"all": {"vars": local, "children": hosts}}))
    return path


@pytest.fixture(scope="module")
def core(inventory, tmp_path_factory):
    return render(tmp_path_factory.mktemp("core"), {"render_host": "core1"}, inventory).compose


@pytest.fixture(scope="module")
def worker(inventory, tmp_path_factory):
    return render(tmp_path_factory.mktemp("worker"), {"render_host": "worker1"}, inventory).compose


def _published(service):
    return sorted((p["host_ip"], p["published"]) for p in service.get("ports", []))


def test_the_core_host_publishes_the_cluster_ports_on_its_address_only(core):
    services = core["services"]
    assert _published(services["postgres"]) == [(CORE, "5432")]
    assert _published(services["redis"]) == [(CORE, "6379")]
    assert _published(services["mongodb"]) == [(CORE, "27017")]
    assert _published(services["pushgateway"]) == [(CORE, "9091")]
    assert _published(services["selenium-hub"]) == [(CORE, "4442"), (CORE, "4443"), (CORE, "4444")]
    assert (CORE, "8080") in _published(services["airflow-webserver"])


def test_the_core_host_runs_celery_with_a_worker_for_its_own_queue(core):
    services = core["services"]
    env = services["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://:redis-password-for-tests@redis:6379/0"
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://airflow:")
    assert services["airflow-worker"]["command"] == ["celery", "worker", "--queues", "core"]
    assert services["airflow-worker"]["environment"]["ACS_CORE_QUEUE"] == "core"
    # The UI fetches a worker host's task log by the name the task recorded.
    assert sorted(services["airflow-webserver"]["extra_hosts"]) == sorted(
        [f"worker1={WORKER1}", f"worker2={WORKER2}"]
    ) or sorted(services["airflow-webserver"]["extra_hosts"]) == sorted(
        [f"worker1:{WORKER1}", f"worker2:{WORKER2}"]
    )


def test_a_worker_host_runs_a_celery_worker_and_a_chrome_node_only(worker):
    services = worker["services"]
    assert sorted(services) == ["airflow-worker", "chrome"]
    celery = services["airflow-worker"]
    assert celery["command"] == ["celery", "worker"]
    assert celery["hostname"] == "worker1"
    assert _published(celery) == [(WORKER1, "8793")]
    names = {entry.replace("=", ":").split(":")[0]: entry for entry in celery["extra_hosts"]}
    for name in (
        "postgres",
        "redis",
        "airflow-webserver",
        "mongodb",
        "selenium-hub",
        "pushgateway",
    ):
        assert CORE in names[name], name
    assert celery["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    chrome = services["chrome"]
    assert chrome["environment"]["SE_EVENT_BUS_HOST"] == CORE
    assert chrome["environment"]["SE_NODE_HOST"] == WORKER1
    assert _published(chrome) == [(WORKER1, "5555")]
    assert list(chrome["networks"]) == ["egress"]


def test_a_single_host_publishes_nothing_for_other_hosts(rendered_local):
    services = rendered_local.compose["services"]
    for name in ("postgres", "redis", "mongodb", "pushgateway", "selenium-hub"):
        assert not services[name].get("ports"), name
    assert "airflow-worker" not in services
    env = services["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert "AIRFLOW__CELERY__BROKER_URL" not in env
