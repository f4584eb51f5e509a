"""A page a Chrome node renders runs untrusted JavaScript: from a Chrome node
none of the stack's data stores, its monitoring, the Airflow API, the crawler
API or the Docker host may answer a TCP connection, by name or by address.
The node still reaches the hub's event bus (its registration) and the
websites on the egress network."""

from __future__ import annotations

import re
import subprocess

import pytest
from stack_support import PROJECT

pytestmark = [pytest.mark.integration, pytest.mark.docker]

# service -> the port a page would go for
STACK_SERVICES = {
    "mongodb": 27017,
    "postgres": 5432,
    "redis": 6379,
    "prometheus": 9090,
    "pushgateway": 9091,
    "alertmanager": 9093,
    "blackbox-exporter": 9115,
    "cadvisor": 8080,
    "airflow-webserver": 8080,  # the Airflow API
    "api": 8000,
    "nginx": 80,
}
# The ports the Docker host listens on for everyone (nginx's public ports
# through docker-proxy and whatever the host itself serves), and the
# remediator's webhook on docker0 (it runs playbooks: a page must not reach it).
HOST_PORTS = (80, 443, 2024, 9418)

# Exit 0 when a TCP connection to $1:$2 opens within 3 s.
PROBE = 'timeout 3 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null'


def _service_containers(client, service):
    return client.containers.list(
        filters={
            "label": [
                f"com.docker.compose.project={PROJECT}",
                f"com.docker.compose.service={service}",
            ]
        }
    )


def _connects(node, host: str, port: int) -> bool:
    result = node.exec_run(["bash", "-c", PROBE, "probe", host, str(port)])
    return result.exit_code == 0


def _targets(client) -> list[tuple[str, str, int]]:
    """(what, host, port): each stack service by name and by every address."""
    out = []
    for service, port in STACK_SERVICES.items():
        out.append((service, service, port))
        for c in _service_containers(client, service):
            for net in c.attrs["NetworkSettings"]["Networks"].values():
                out.append((service, net["IPAddress"], port))
    return out


def _host_addresses(node) -> set[str]:
    """The Docker host as a node may see it: the gateway of each of the node's
    networks and every IPv4 address of the host's interfaces."""
    listing = subprocess.run(
        ["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, check=True
    ).stdout
    own = {a for a in re.findall(r"inet (\d+\.\d+\.\d+\.\d+)", listing) if not a.startswith("127.")}
    networks = node.attrs["NetworkSettings"]["Networks"].values()
    return own | {net["Gateway"] for net in networks if net["Gateway"]}


@pytest.fixture()
def chrome_nodes(deployed, docker_client):
    nodes = _service_containers(docker_client, "chrome")
    assert nodes, "no chrome node is running"
    return nodes


def test_a_chrome_node_reaches_no_stack_service(chrome_nodes, docker_client):
    targets = _targets(docker_client)
    for node in chrome_nodes:
        reached = [
            (what, host, port) for what, host, port in targets if _connects(node, host, port)
        ]
        assert reached == [], f"{node.name} reaches {reached}"


def test_a_chrome_node_cannot_reach_the_docker_host(chrome_nodes):
    for node in chrome_nodes:
        addresses = sorted(_host_addresses(node))
        assert addresses
        reached = [(a, p) for a in addresses for p in HOST_PORTS if _connects(node, a, p)]
        # Other work on this engine adds and removes networks; an address the
        # host no longer holds leads outside (where a page may go), not here.
        still_the_host = _host_addresses(node)
        reached = [(a, p) for a, p in reached if a in still_the_host]
        assert reached == [], f"{node.name} reaches the Docker host at {reached}"


def test_a_chrome_node_still_reaches_the_hub_event_bus(chrome_nodes):
    # Without this the probes above could pass because nothing connects at all.
    for node in chrome_nodes:
        assert _connects(node, "selenium-hub", 4442), node.name
        assert _connects(node, "selenium-hub", 4443), node.name
