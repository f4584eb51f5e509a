"""roles/local_images and images/: every image of the catalog has a build
context that keeps its official image's contract (base, port, health check),
the role's variables are specified, and the entrypoint scripts translate the
official images' variables (run here with stand-ins for the servers)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
ROLE = REPO / "roles" / "local_images"
IMAGES = REPO / "images"
DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
CATALOG = DEFAULTS["local_images_catalog"]

# docs/design.md "Ports": the port each drop-in must expose.
PORTS = {
    "mongodb": {"27017"},
    "postgres": {"5432"},
    "redis": {"6379"},
    "selenium-hub": {"4442", "4443", "4444"},
    "node-chromium": {"5555"},
    "nginx": {"80", "443"},
    "airflow": {"8080"},
    "prometheus": {"9090"},
    "pushgateway": {"9091"},
    "alertmanager": {"9093"},
    "blackbox-exporter": {"9115"},
    "cadvisor": {"8080"},
}
NO_SERVICE = {"python"}  # a base image for the project's own images


def dockerfile(context: str) -> str:
    return (IMAGES / context / "Dockerfile").read_text()


@pytest.mark.parametrize("image", CATALOG, ids=[i["context"] for i in CATALOG])
def test_image_builds_from_the_base_image_variable(image):
    text = dockerfile(image["context"])
    assert re.search(r"^ARG BASE_IMAGE=acs-local/debian:bookworm$", text, re.M)
    froms = re.findall(r"^FROM (\S+)", text, re.M)
    assert froms and all(f == "${BASE_IMAGE}" for f in froms)


@pytest.mark.parametrize("image", CATALOG, ids=[i["context"] for i in CATALOG])
def test_image_exposes_its_official_port_and_probes_health(image):
    context = image["context"]
    text = dockerfile(context)
    if context in NO_SERVICE:
        assert "HEALTHCHECK" not in text
        return
    if context in PORTS:
        exposed = {p for line in re.findall(r"^EXPOSE (.+)$", text, re.M) for p in line.split()}
        assert exposed == PORTS[context]
    assert re.search(r"^HEALTHCHECK .*\\\n\s+CMD ", text, re.M), "no HEALTHCHECK ... CMD"


def test_catalog_names_are_the_design_contract():
    design = (REPO / "docs" / "design.md").read_text()
    for image in CATALOG:
        if image["context"] == "debian-systemd":
            continue  # the molecule test host, not a stack service
        assert f"`{image['name']}:{image['tag']}" in design, image


def test_argument_specs_mirror_defaults():
    spec = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())
    options = spec["argument_specs"]["main"]["options"]
    assert set(options) == set(DEFAULTS)
    for name, value in DEFAULTS.items():
        assert name.startswith("local_images_")
        assert options[name].get("description"), name
        if "{{" not in str(value):
            assert options[name].get("default") == value, name


def run_script(script: Path, args: list[str], env: dict[str, str], fakes: dict[str, str], tmp_path):
    """Run an entrypoint with stand-in commands first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, body in fakes.items():
        path = bin_dir / name
        path.write_text("#!/bin/sh\n" + body)
        path.chmod(0o755)
    full_env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)} | env
    return subprocess.run(
        [str(script), *args], env=full_env, capture_output=True, text=True, timeout=30
    )


NOT_ROOT = {"id": "echo 1000\n"}
SHOW_FERRETDB_ENV = {"ferretdb": "env | grep ^FERRETDB_ | sort\n"}


def test_mongodb_entrypoint_maps_mongod_flags(tmp_path):
    proc = run_script(
        IMAGES / "mongodb" / "docker-entrypoint.sh",
        ["mongod", "--port", "27018", "--bind_ip_all", "--wiredTigerCacheSizeGB", "1"],
        {},
        NOT_ROOT | SHOW_FERRETDB_ENV,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "FERRETDB_LISTEN_ADDR=0.0.0.0:27018" in proc.stdout
    assert "--wiredTigerCacheSizeGB" in proc.stderr
    assert "FERRETDB_TEST_ENABLE_NEW_AUTH" not in proc.stdout


def test_mongodb_entrypoint_creates_root_user_from_file(tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("from-a-file\n")
    proc = run_script(
        IMAGES / "mongodb" / "docker-entrypoint.sh",
        [],
        {"MONGO_INITDB_ROOT_USERNAME": "root", "MONGO_INITDB_ROOT_PASSWORD_FILE": str(secret)},
        NOT_ROOT | SHOW_FERRETDB_ENV,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "FERRETDB_SETUP_USERNAME=root" in proc.stdout
    assert "FERRETDB_SETUP_PASSWORD=from-a-file" in proc.stdout
    assert "FERRETDB_SETUP_DATABASE=admin" in proc.stdout
    assert "FERRETDB_TEST_ENABLE_NEW_AUTH=true" in proc.stdout


def test_mongodb_entrypoint_rejects_user_without_password(tmp_path):
    proc = run_script(
        IMAGES / "mongodb" / "docker-entrypoint.sh",
        ["mongod"],
        {"MONGO_INITDB_ROOT_USERNAME": "root"},
        NOT_ROOT | SHOW_FERRETDB_ENV,
        tmp_path,
    )
    assert proc.returncode == 1
    assert "MONGO_INITDB_ROOT_PASSWORD" in proc.stderr
    assert proc.stdout == ""


def test_mongodb_entrypoint_runs_other_commands_as_given(tmp_path):
    proc = run_script(
        IMAGES / "mongodb" / "docker-entrypoint.sh",
        ["mongodump", "--archive"],
        {},
        NOT_ROOT | {"mongodump": 'echo "mongodump $*"\n'},
        tmp_path,
    )
    assert proc.stdout.strip() == "mongodump --archive"


SHOW_NODE = {
    "java": 'echo "ARGS $*"\nwhile [ $# -gt 0 ]; do [ "$1" = --config ] && cat "$2"; shift; done\n'
}
NODE_ENV = {
    "SE_EVENT_BUS_PUBLISH_PORT": "4442",
    "SE_EVENT_BUS_SUBSCRIBE_PORT": "4443",
    "SE_NODE_PORT": "5555",
    "SE_NODE_HOST": "",
    "SE_NODE_MAX_SESSIONS": "1",
    "SE_NODE_OVERRIDE_MAX_SESSIONS": "false",
    "SE_NODE_SESSION_TIMEOUT": "300",
    "SE_NODE_GRID_URL": "",
    "SE_DRAIN_AFTER_SESSION_COUNT": "0",
    "SE_LOG_LEVEL": "INFO",
    "SE_JAVA_OPTS": "",
    "SE_OPTS": "",
}


def test_node_registers_through_the_event_bus_with_its_session_limits(tmp_path):
    env = NODE_ENV | {
        "SE_EVENT_BUS_HOST": "selenium-hub",
        "SE_NODE_MAX_SESSIONS": "4",
        "SE_NODE_OVERRIDE_MAX_SESSIONS": "true",
    }
    script = IMAGES / "node-chromium" / "start-selenium-node.sh"
    text = script.read_text().replace("/tmp/selenium-node-config.toml", str(tmp_path / "node.toml"))
    local = tmp_path / "start.sh"
    local.write_text(text)
    local.chmod(0o755)
    proc = run_script(local, [], env, SHOW_NODE, tmp_path)
    assert proc.returncode == 0, proc.stderr
    args = proc.stdout.splitlines()[0]
    assert "--publish-events tcp://selenium-hub:4442" in args
    assert "--subscribe-events tcp://selenium-hub:4443" in args
    assert "--port 5555" in args
    assert "max-sessions = 4" in proc.stdout
    assert "override-max-sessions = true" in proc.stdout
    assert '"browserName": "chrome"' in proc.stdout


def test_node_without_event_bus_says_which_variable_is_missing(tmp_path):
    proc = run_script(
        IMAGES / "node-chromium" / "start-selenium-node.sh",
        [],
        NODE_ENV | {"SE_EVENT_BUS_HOST": ""},
        SHOW_NODE,
        tmp_path,
    )
    assert proc.returncode == 1
    assert "SE_EVENT_BUS_HOST" in proc.stderr


@pytest.mark.parametrize(
    "script",
    sorted(p for p in IMAGES.rglob("*.sh")),
    ids=lambda p: str(p.relative_to(IMAGES)),
)
def test_shell_scripts_parse_and_are_executable(script):
    shell = "bash" if script.read_text().startswith("#!/bin/bash") else "sh"
    assert subprocess.run([shell, "-n", str(script)], capture_output=True).returncode == 0
    assert os.access(script, os.X_OK)
