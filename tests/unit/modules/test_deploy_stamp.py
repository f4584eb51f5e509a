"""The deploy stamp (library/deploy_stamp.py, plugins/action/deploy_stamp.py):
whatever a full converge would change makes the fingerprint differ from the
stamp, so the fast path is never taken over drift; nothing else does."""

from __future__ import annotations

import importlib.util
import json
import os
import stat
from pathlib import Path
from unittest import mock

import pytest
import yaml
from ansible.module_utils import acs_deploy_stamp
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar
from module_support import REPO

PROJECT = "acs-test"


# --- host side: the module with a fake Docker Engine API -------------------


def _container(service, state="running", health="healthy", image="sha256:aaa", config="c1"):
    status = {"running": f"Up 5 minutes ({health})", "exited": "Exited (0) 5 minutes ago"}[state]
    return {
        "Labels": {
            "com.docker.compose.project": PROJECT,
            "com.docker.compose.service": service,
            "com.docker.compose.container-number": "1",
            "com.docker.compose.config-hash": config,
        },
        "ImageID": image,
        "State": state,
        "Status": status,
    }


@pytest.fixture
def engine(monkeypatch):
    """The Engine API's answers, as a dict the tests change."""
    state = {
        "containers": [_container("api"), _container("init", state="exited")],
        "images": [
            {"Id": "sha256:aaa", "RepoTags": ["acs/crawler:0.1.0"]},
            {"Id": "sha256:bbb", "RepoTags": ["acs-local/redis:7"]},
        ],
        "version": {"Version": "26.1.5", "ApiVersion": "1.45"},
    }

    def get(path, sock_path=None, timeout=None):
        if path.startswith("/containers/json"):
            return state["containers"]
        if path == "/images/json":
            return state["images"]
        if path == "/version":
            return state["version"]
        raise AssertionError(path)

    monkeypatch.setattr(acs_deploy_stamp, "docker_get", get)
    monkeypatch.setattr(acs_deploy_stamp, "compose_version", lambda: "2.40.3")
    return state


@pytest.fixture
def host(tmp_path, engine, run_module):
    """A project directory with rendered files; stamp(state) runs the module."""
    project = tmp_path / "project"
    (project / "compose.d").mkdir(parents=True)
    (project / "compose.d" / "api.yml").write_text("services: {api: {}}\n")
    (project / ".env").write_text("SECRET=s3cr3t-value\n")
    (project / "airflow" / "logs").mkdir(parents=True)
    (project / "airflow" / "logs" / "task.log").write_text("data, not configuration\n")
    outside = tmp_path / "etc-docker-daemon.json"
    outside.write_text("{}\n")

    def stamp(state="check", **extra):
        args = {
            "state": state,
            "project_dir": str(project),
            "project_name": PROJECT,
            "stamp_file": str(project / ".deploy-stamp.json"),
            "project_excludes": ["airflow/logs"],
            "paths": [str(outside)],
            "images": ["acs/crawler:0.1.0", "acs-local/redis:7"],
            "inputs": {"inputs:vars:stack": "digest-of-the-inputs"},
            **extra,
        }
        return run_module("deploy_stamp", args)

    stamp.project = project
    stamp.outside = outside
    return stamp


def test_first_deploy_has_no_stamp_then_writes_one_0600(host):
    assert host()["differences"] == ["no stamp of a full deploy"]
    written = host("write")
    assert written["changed"] and written["stamp_time"]
    path = host.project / ".deploy-stamp.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "s3cr3t-value" not in path.read_text()  # only digests are written
    assert host()["unchanged"] is True
    # The same state again: the stamp stays as it is (changed=0 on a re-run).
    assert host("write")["changed"] is False


def test_check_mode_never_writes(host):
    assert host("write", _ansible_check_mode=True)["changed"] is True
    assert not (host.project / ".deploy-stamp.json").exists()


def test_data_and_the_stamp_itself_do_not_count(host):
    host("write")
    (host.project / "airflow" / "logs" / "task.log").write_text("more logs\n")
    assert host()["unchanged"] is True


@pytest.mark.parametrize(
    ("drift", "section"),
    [
        ("edit a rendered file", "host:files"),
        ("chmod a rendered file", "host:files"),
        ("edit a managed file outside the project", "host:paths"),
        ("stop a container", "host:containers"),
        ("recreate a container with another configuration", "host:containers"),
        ("rebuild an image", "host:images"),
        ("upgrade the engine", "host:versions"),
        ("change the inputs on the controller", "inputs:vars:stack"),
    ],
)
def test_drift_makes_a_full_run(host, engine, drift, section):
    host("write")
    if drift == "edit a rendered file":
        (host.project / "compose.d" / "api.yml").write_text("services: {api: {x: 1}}\n")
    elif drift == "chmod a rendered file":
        (host.project / ".env").chmod(0o666)
    elif drift == "edit a managed file outside the project":
        host.outside.write_text('{"debug": true}\n')
    elif drift == "stop a container":
        engine["containers"][0].update(State="exited", Status="Exited (137) 1 second ago")
    elif drift == "recreate a container with another configuration":
        engine["containers"][0]["Labels"]["com.docker.compose.config-hash"] = "c2"
    elif drift == "rebuild an image":
        engine["images"][1]["Id"] = "sha256:ccc"
    elif drift == "upgrade the engine":
        engine["version"]["Version"] = "27.0.0"
    result = (
        host(inputs={"inputs:vars:stack": "another digest"})
        if section.startswith("inputs")
        else host()
    )
    assert result["unchanged"] is False
    assert section in result["differences"]


def test_an_unhealthy_service_makes_a_full_run_without_changing_the_fingerprint(host, engine):
    host("write")
    engine["containers"][0]["Status"] = "Up 5 minutes (unhealthy)"
    result = host()
    assert result["differences"] == []
    assert result["unhealthy"] == ["api-1 (unhealthy)"]
    assert result["unchanged"] is False


def test_a_service_url_that_does_not_answer_makes_a_full_run(host):
    host("write")
    result = host(health_urls=["http://127.0.0.1:9/health"])
    assert result["unchanged"] is False and result["unhealthy"]


@pytest.mark.parametrize(
    ("ipam", "gateway"),
    [
        ([{"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"}], "172.17.0.1"),
        # a fresh Debian docker.io: the subnet alone (every deploy missed the
        # remediator on 127.0.0.1 and converged everything)
        ([{"Subnet": "172.18.0.0/16"}], "172.18.0.1"),
        ([{"Subnet": "not a network"}], "127.0.0.1"),
        (None, "127.0.0.1"),
    ],
)
def test_the_docker_gateway_is_found_where_the_engine_names_only_the_subnet(ipam, gateway):
    def get(path):
        assert path == "/networks/bridge"
        return {"IPAM": {"Driver": "default", "Config": ipam}}

    assert acs_deploy_stamp.docker_gateway(get) == gateway


def test_no_engine_means_no_fast_path(host, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("connection refused")

    monkeypatch.setattr(acs_deploy_stamp, "docker_get", refuse)
    result = host()
    assert result["unchanged"] is False
    assert "cannot fingerprint" in result["differences"][0]


# --- controller side: the action plugin's inputs -------------------------------


def _action_module():
    path = REPO / "plugins" / "action" / "deploy_stamp.py"
    spec = importlib.util.spec_from_file_location("acs_action_deploy_stamp", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ACTION = _action_module()


@pytest.fixture
def checkout(tmp_path):
    """A checkout with one role (demo) and the deploy_stamp role's settings."""
    repo = tmp_path / "repo"
    demo = repo / "roles" / "demo"
    for sub in ("defaults", "meta", "vars"):
        (demo / sub).mkdir(parents=True)
    (demo / "defaults" / "main.yml").write_text(
        "demo_port: 8080\ndemo_url: 'http://{{ demo_host }}:{{ demo_port }}/'\n"
        "demo_host: localhost\ndemo_password: ''\n"
    )
    (demo / "vars" / "main.yml").write_text("_demo_internal: fixed\n")
    (demo / "meta" / "argument_specs.yml").write_text(
        yaml.safe_dump(
            {
                "argument_specs": {
                    "main": {
                        "options": {
                            n: {"type": "str"}
                            for n in ("demo_port", "demo_url", "demo_host", "demo_password")
                        }
                    }
                }
            }
        )
    )
    stamp_role = repo / "roles" / "deploy_stamp" / "defaults"
    stamp_role.mkdir(parents=True)
    (stamp_role / "main.yml").write_text(
        "deploy_stamp_project_dir: /opt/p\ndeploy_stamp_project_name: p\n"
        "deploy_stamp_file: /opt/p/.deploy-stamp.json\ndeploy_stamp_project_excludes: []\n"
        "deploy_stamp_host_paths: ['{{ demo_host }}.conf']\ndeploy_stamp_images: []\n"
        "deploy_stamp_health_urls: []\n"
    )
    inventory = repo / "inventory" / "test"
    (inventory / "group_vars").mkdir(parents=True)
    (inventory / "hosts.yml").write_text("all: {hosts: {localhost: {}}}\n")
    return repo


def controller_inputs(repo: Path, extra_vars: dict | None = None) -> dict:
    """Run the action plugin; return the module arguments it would send."""
    task = mock.MagicMock()
    task.args = {"state": "check", "roles": ["demo"], "controller_paths": ["roles"]}
    task.async_val = 0
    loader = DataLoader()
    action = ACTION.ActionModule(
        task, mock.MagicMock(), mock.MagicMock(), loader, Templar(loader), mock.MagicMock()
    )
    task_vars = {
        "role_path": str(repo / "roles" / "deploy_stamp"),
        "ansible_inventory_sources": [str(repo / "inventory" / "test" / "hosts.yml")],
        **(extra_vars or {}),
    }
    sent = {}

    def execute(module_name, module_args, task_vars):
        sent.update(module_args)
        return {"unchanged": True, "differences": []}

    with mock.patch.object(action, "_execute_module", side_effect=execute):
        action.run(task_vars=task_vars)
    return sent


def test_a_changed_role_default_changes_the_inputs(checkout):
    before = controller_inputs(checkout)["inputs"]
    defaults = checkout / "roles" / "demo" / "defaults" / "main.yml"
    defaults.write_text(defaults.read_text().replace("8080", "8081"))
    after = controller_inputs(checkout)["inputs"]
    assert before["inputs:vars:demo"] != after["inputs:vars:demo"]
    assert before["inputs:files:roles"] != after["inputs:files:roles"]


def test_a_changed_inventory_file_changes_the_inputs(checkout):
    before = controller_inputs(checkout)["inputs"]
    (checkout / "inventory" / "test" / "group_vars" / "all.yml").write_text("demo_port: 9\n")
    after = controller_inputs(checkout)["inputs"]
    assert (
        before["inputs:files:inventory:inventory/test"]
        != (after["inputs:files:inventory:inventory/test"])
    )


@pytest.mark.parametrize(
    "variables",
    [
        {"demo_port": 9090},  # an inventory or extra variable over a default
        {"demo_host": "api.internal"},  # one that a templated default uses
    ],
)
def test_a_changed_variable_changes_the_effective_values(checkout, variables):
    before = controller_inputs(checkout)
    after = controller_inputs(checkout, variables)
    assert before["inputs"]["inputs:vars:demo"] != after["inputs"]["inputs:vars:demo"]
    # Only the values changed, not the files.
    assert before["inputs"]["inputs:files:roles"] == after["inputs"]["inputs:files:roles"]


def test_settings_are_templated_with_the_roles_defaults(checkout):
    assert controller_inputs(checkout)["paths"] == ["localhost.conf"]
    assert controller_inputs(checkout, {"demo_host": "h"})["paths"] == ["h.conf"]


def test_secrets_are_only_hashed(checkout):
    sent = controller_inputs(checkout, {"demo_password": "vaulted-s3cret"})
    assert "vaulted-s3cret" not in json.dumps(sent)


def test_the_same_inputs_give_the_same_digests(checkout):
    assert controller_inputs(checkout) == controller_inputs(checkout)


def test_the_checkout_inputs_do_not_depend_on_where_it_lives():
    """Paths inside the digests are relative: the stamp does not change when
    only the checkout's absolute path differs... but remediator_repo (the
    checkout that deploys) is a role variable, so it does count."""
    entries = acs_deploy_stamp.tree(str(REPO / "roles" / "deploy_stamp"), with_owner=False)
    assert all(not os.path.isabs(name) for name in entries)
