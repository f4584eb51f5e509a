"""compose_state: the runbook's view of a compose project (no engine: the
engine's container list and `docker compose config` are given)."""

from __future__ import annotations

import pytest
from module_support import ModuleFail, load_library

PROJECT = "com.docker.compose.project"


def _container(name, service, state="running", status="Up 2 hours", ips=(), oneoff=False):
    return {
        "Id": f"id-{name}",
        "Names": [f"/{name}"],
        "State": state,
        "Status": status,
        "Labels": {
            PROJECT: "acs",
            "com.docker.compose.service": service,
            "com.docker.compose.oneoff": "True" if oneoff else "False",
        },
        "NetworkSettings": {"Networks": {f"net{i}": {"IPAddress": ip} for i, ip in enumerate(ips)}},
    }


CONFIG = {
    "name": "acs",
    "services": {
        "airflow-init": {"restart": "no"},
        "api": {"restart": "unless-stopped", "scale": 2},
        "mongodb": {"restart": "unless-stopped"},
        "nginx": {"restart": "always"},
        "redis": {},  # no restart policy: a service, not a job
    },
}


def test_project_state_names_containers_addresses_jobs_and_missing_services():
    items = [
        _container("acs-mongodb-1", "mongodb", status="Up 1 hour (healthy)", ips=("", "10.0.0.3")),
        _container("acs-api-2", "api", status="Up 5 seconds (health: starting)", ips=("10.0.0.6",)),
        _container("acs-api-1", "api", status="Up 1 hour (unhealthy)", ips=("10.0.0.5",)),
        _container("acs-airflow-init-1", "airflow-init", state="exited", status="Exited (0)"),
        _container("acs-api-run-0a1b", "api", ips=("10.0.0.9",), oneoff=True),
        _container("acs-nginx-1", "nginx", state="exited", status="Exited (1)", ips=("10.0.0.4",)),
    ]
    state = load_library("compose_state").project_state(items, CONFIG)
    assert [c["name"] for c in state["containers"]] == [
        "acs-airflow-init-1",
        "acs-api-1",
        "acs-api-2",
        "acs-api-run-0a1b",
        "acs-mongodb-1",
        "acs-nginx-1",
    ]
    assert state["containers"][1] == {
        "service": "api",
        "name": "acs-api-1",
        "id": "id-acs-api-1",
        "state": "running",
        "status": "Up 1 hour (unhealthy)",
        "oneoff": False,
        "health": "unhealthy",
        "ip": "10.0.0.5",
    }
    assert [c["health"] for c in state["containers"]] == [
        "-",
        "unhealthy",
        "starting",
        "-",
        "healthy",
        "-",
    ]
    assert state["containers"][3]["oneoff"] is True
    # The first running container of a service (by name) with an address;
    # not the one-off run container, not the exited nginx.
    assert state["service_ip"] == {"api": "10.0.0.5", "mongodb": "10.0.0.3"}
    assert state["config"] is CONFIG
    assert state["jobs"] == ["airflow-init"]
    assert state["missing_services"] == ["redis"]


def test_a_container_without_names_labels_or_networks():
    [entry] = load_library("compose_state").project_state([{"Id": "x", "State": "created"}], {})[
        "containers"
    ]
    assert entry == {
        "service": "?",
        "name": "",
        "id": "x",
        "state": "created",
        "status": "",
        "oneoff": False,
        "health": "-",
        "ip": "",
    }


def test_project_name_and_directory_are_required(run_module):
    with pytest.raises(ModuleFail) as failed:
        run_module("compose_state", {"project_name": "acs"})
    assert "project_dir" in failed.value.result["msg"]


def test_compose_config_starts_from_the_raw_parameters(monkeypatch):
    """main() starts `docker compose config` before community.docker's import;
    without a usable project_name/project_dir it leaves it to main()."""
    from ansible.module_utils.testing import patch_module_args

    module = load_library("compose_state")
    started = []

    class Process:
        def __init__(self, argv, **kwargs):
            started.append(argv)

    monkeypatch.setattr(module.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(module.subprocess, "Popen", Process)
    monkeypatch.setenv("ACS_TEST_DIR", "/opt/acs")
    with patch_module_args({"project_name": "acs", "project_dir": "$ACS_TEST_DIR"}):
        argv, _ = module._start_config()
    assert argv == module.config_argv("/usr/bin/docker", "/opt/acs", "acs")
    assert started == [argv]
    with patch_module_args({"project_name": "acs"}):
        assert module._start_config() is None
    monkeypatch.setattr(module.shutil, "which", lambda name: None)
    with patch_module_args({"project_name": "acs", "project_dir": "/opt/acs"}):
        assert module._start_config() is None
