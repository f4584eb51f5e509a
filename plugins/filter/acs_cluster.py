"""Filters of a stack spread over several hosts (docs/scale-out.md).

The core host (group ``crawler_stack``) runs every service; worker hosts
(group ``crawler_workers``) run Celery workers and Chrome nodes that join the
core host's Airflow and Selenium Grid. Each side needs the other's address:

``acs_node_address``
    The address other hosts of the stack reach ``host`` at: its
    ``stack_node_address`` when the inventory sets one, else the IPv4 address
    of its default route from gathered facts::

        {{ hostvars | acs_node_address(groups['crawler_stack'] | first) }}

``acs_node_addresses``
    The same for a list of hosts, in the list's order.
"""

from __future__ import annotations

import ipaddress

from ansible.errors import AnsibleFilterError


def acs_node_address(hostvars, host):
    """The routable address of one inventory host, validated."""
    try:
        host_vars = hostvars[host]
    except KeyError as exc:
        raise AnsibleFilterError(f"acs_node_address: {host} is not in the inventory") from exc
    address = host_vars.get("stack_node_address")
    if not address:
        facts = host_vars.get("ansible_facts") or {}
        address = (facts.get("default_ipv4") or {}).get("address")
    if not address:
        raise AnsibleFilterError(
            f"acs_node_address: no address for {host}: set stack_node_address in its "
            "host_vars (the address the other hosts of the stack reach it at), or gather "
            "its network facts first"
        )
    try:
        ipaddress.ip_address(str(address))
    except ValueError as exc:
        raise AnsibleFilterError(
            f"acs_node_address: stack_node_address of {host} must be an IP address "
            f"(compose binds ports to it and nftables matches it), got {address!r}"
        ) from exc
    return str(address)


def acs_node_addresses(hostvars, hosts):
    """The routable addresses of several inventory hosts."""
    return [acs_node_address(hostvars, host) for host in hosts]


class FilterModule:
    def filters(self):
        return {
            "acs_node_address": acs_node_address,
            "acs_node_addresses": acs_node_addresses,
        }
