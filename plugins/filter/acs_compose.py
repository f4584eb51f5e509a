"""Filters of the compose fragments (``compose.d/<role>.yml``).

Every service role renders the services it owns into a fragment of the
compose project; the settings each service repeats come from here, so that a
fragment holds only what is particular to its services:

``acs_compose_common``
    The health check, memory/CPU limits, restart policy, logging and network
    of one service, as an indented YAML block to place under the service::

        {{ stack_compose | acs_compose_common('mongodb') }}
        {{ stack_compose | acs_compose_common('api', test='http://127.0.0.1:8000/health' | acs_compose_http_probe) }}

    ``stack_compose`` is the stack role's input of every fragment
    (roles/stack/vars/main.yml): ``healthcheck`` timings, ``healthchecks``
    (service key -> test for the image source in use; a service missing from
    it keeps its image's own HEALTHCHECK), ``resources`` (service key ->
    mem_limit and cpus), ``restart`` and ``logging``. Keyword arguments
    override the test, start period, timeout or restart policy (``restart=''``
    leaves the key out), and ``networks`` replaces the default ``[backend]``
    (the Selenium Grid's nodes sit on ``grid`` and ``egress`` only).

``acs_compose_http_probe``
    A health check test that fetches a URL with the image's python3 (the
    crawler and Airflow images have neither curl nor wget).

``acs_compose_cluster_ports``
    On a core host with worker hosts, the ``ports:`` line publishing a
    service's cluster ports (``stack_compose.cluster_ports``) on the core
    host's address, where worker hosts reach them (and, by the host
    firewall, only they); an empty string on a single host::

        {{ stack_compose | acs_compose_cluster_ports('mongodb') }}
"""

from __future__ import annotations

import json

import yaml

NETWORK = "backend"

# Exits non-zero unless the URL (argv[1]) answers 2xx within 8 seconds.
PYTHON_HTTP_PROBE = "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=8)"


def _service_common(
    compose, service, test=None, start_period=None, timeout=None, restart=None, networks=None
):
    timings = compose["healthcheck"]
    check = {}
    test = compose.get("healthchecks", {}).get(service) if test is None else test
    if test is not None:
        check["test"] = list(test)
    check["interval"] = timings["interval"]
    check["timeout"] = timeout or timings["timeout"]
    check["retries"] = int(timings["retries"])
    check["start_period"] = start_period or timings["start_period"]
    limits = compose["resources"][service]
    out = {
        "healthcheck": check,
        "mem_limit": str(limits["mem_limit"]),
        "cpus": float(limits["cpus"]),
    }
    restart = compose["restart"] if restart is None else restart
    if restart:
        out["restart"] = str(restart)
    out["logging"] = compose["logging"]
    out["networks"] = [NETWORK] if networks is None else [str(n) for n in networks]
    return out


def acs_compose_common(compose, service, indent=4, **overrides):
    """The repeated settings of one service as YAML indented by ``indent``."""
    # Plain types: yaml's safe dumper refuses Ansible's tagged str subclasses.
    plain = json.loads(json.dumps(_service_common(compose, service, **overrides)))
    block = yaml.safe_dump(
        plain,
        default_flow_style=False,
        sort_keys=False,
        width=1000,
    )
    pad = " " * indent
    return "".join(pad + line if line.strip() else line for line in block.splitlines(True))


def acs_compose_http_probe(url):
    """A CMD health check test fetching ``url`` with python3."""
    return ["CMD", "python3", "-c", PYTHON_HTTP_PROBE, str(url)]


def acs_compose_cluster_ports(compose, service, indent=4):
    """The ports line of ``service`` for worker hosts, or ``''``."""
    if not compose.get("worker_addresses") or compose.get("host_role") != "core":
        return ""
    ports = compose["cluster_ports"][service]
    ports = [ports] if isinstance(ports, int | str) else list(ports)
    address = compose["core_address"]
    published = ", ".join(f'"{address}:{int(port)}:{int(port)}"' for port in ports)
    return " " * indent + f"ports: [{published}]"


class FilterModule:
    """Compose fragment filters of the Airflow Crawler System."""

    def filters(self):
        return {
            "acs_compose_common": acs_compose_common,
            "acs_compose_http_probe": acs_compose_http_probe,
            "acs_compose_cluster_ports": acs_compose_cluster_ports,
        }
