"""What an operator sees on each server after roles/docker_engine ran (the
playbooks/docker_host.yml part of site.yml): the three fresh hosts of this
scenario, so the engine is not deployed a second time in a scenario of its
own."""

import json

from stack_helpers import CORE, WORKERS

testinfra_hosts = [f"ansible://{name}" for name in [*CORE, *WORKERS]]


def test_docker_service_runs_under_systemd(host):
    docker = host.service("docker")
    assert docker.is_running
    assert docker.is_enabled


def test_engine_answers_and_reports_overlay2(host):
    info = json.loads(host.check_output("docker info --format '{{json .}}'"))
    assert info["Driver"] == "overlay2"
    assert info["ServerVersion"]


def test_compose_v2_plugin_is_installed(host):
    version = host.check_output("docker compose version --short")
    assert version.startswith("2."), version


def test_daemon_json_rotates_container_logs(host):
    daemon = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert daemon["log-driver"] == "json-file"
    assert daemon["log-opts"]["max-size"] == "10m"
    assert daemon["log-opts"]["max-file"] == "3"
    live = host.check_output("docker info --format '{{.LoggingDriver}}'")
    assert live == "json-file"


def test_engine_runs_a_container(host):
    # An image made from one static binary (tini, shipped with the engine):
    # proves the nested engine runs containers without any registry.
    out = host.run(
        "rm -rf /tmp/rootfs && mkdir -p /tmp/rootfs "
        "&& cp -L /usr/bin/docker-init /tmp/rootfs/tini "
        "&& tar -C /tmp/rootfs -c . | docker import - acs-probe:latest >/dev/null "
        "&& docker run --rm acs-probe:latest /tini --version"
    )
    assert out.rc == 0, out.stderr
    assert "tini version" in out.stdout
