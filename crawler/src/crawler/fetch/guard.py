"""Where the crawler may connect.

A source is written by an API caller, and every page it fetches may link or
redirect anywhere. Without a check, a source could point the crawler at the
cloud metadata service (169.254.169.254), at the stack's own MongoDB or at
the host's loopback, and the API would hand back what it read. So every
address is checked at connect time, after DNS, for the start URL, each link,
each redirect hop and robots.txt alike:

- refused: loopback, private, link-local, unique-local (fc00::/7), shared
  (100.64/10), multicast, unspecified and reserved addresses, and the
  stack's own service names (`mongodb`, `api`, ...) whatever they resolve to;
- allowed anyway: what the operator lists in one setting,
  ``CRAWLER_ALLOWED_TARGETS`` (comma-separated host names and networks,
  e.g. ``intranet.example.org,10.20.0.0/16``), for an intranet source.

The check sits in the resolver (names) and before each request (addresses
written in the URL, which no resolver sees), so a name that resolves to a
public address when checked and a private one when connecting (DNS
rebinding) cannot slip through: the address checked is the address used."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from crawler.errors import CrawlError, ErrorCode, ForbiddenAddress

SETTING = "CRAWLER_ALLOWED_TARGETS"

# The compose services of the stack and the names of this host: refused by
# name even when an allowed network would cover their addresses.
REFUSED_NAMES = frozenset(
    {
        "mongodb",
        "postgres",
        "redis",
        "api",
        "nginx",
        "prometheus",
        "pushgateway",
        "alertmanager",
        "blackbox-exporter",
        "cadvisor",
        "grafana",
        "loki",
        "promtail",
        "selenium-hub",
        "chrome",
        "airflow-webserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "airflow-worker",
        "host.docker.internal",
        "localhost",
    }
)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _kind(ip: Address) -> str | None:
    """Why an address is refused, None when it is a public unicast one."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        return _kind(ip.ipv4_mapped)
    for name in ("loopback", "link_local", "private", "multicast", "unspecified", "reserved"):
        if getattr(ip, f"is_{name}"):
            return name.replace("_", "-")
    if not ip.is_global:
        return "non-global"
    return None


@dataclass(frozen=True)
class TargetPolicy:
    """The operator's exceptions; the empty policy refuses every private target."""

    hosts: frozenset[str] = field(default_factory=frozenset)
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, value: str | None) -> TargetPolicy:
        hosts, networks = set(), []
        for item in (value or "").split(","):
            item = item.strip().lower()
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                hosts.add(item.rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def allows_host(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def refusal(self, host: str, ip: Address | None) -> str | None:
        """Why connecting to host (at ip) is refused, None when it is allowed."""
        name = host.lower().rstrip(".")
        if name in self.hosts:
            return None
        if name in REFUSED_NAMES or name.endswith(".localhost"):
            return f"{host} names the stack or this host"
        if ip is None:
            return None
        kind = _kind(ip)
        if kind is None or any(ip in net for net in self.networks):
            return None
        return f"{host} is at {ip}, a {kind} address"

    def check(self, host: str, ip: Address | None) -> None:
        reason = self.refusal(host, ip)
        if reason:
            raise ForbiddenAddress(f"{reason}: refused (an operator may allow it in {SETTING})")

    def check_url(self, url: str) -> None:
        """Before a request: names of the stack and addresses written in the URL."""
        host = urlsplit(url).hostname or ""
        try:
            ip: Address | None = ipaddress.ip_address(host)
        except ValueError:
            ip = None
        try:
            self.check(host, ip)
        except ForbiddenAddress as exc:
            raise CrawlError(ErrorCode.FORBIDDEN_TARGET, str(exc), url=url) from exc


async def check_navigation(policy: TargetPolicy, url: str) -> None:
    """Before a browser navigates (the browser resolves names itself): the
    URL's host is resolved here and every address it has must be allowed."""
    policy.check_url(url)
    host = urlsplit(url).hostname or ""
    if policy.allows_host(host):
        return
    try:
        ipaddress.ip_address(host)
        return  # an address in the URL: check_url has judged it
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None)
    except OSError:
        return  # the browser will fail to resolve it too, and say so
    try:
        for *_, sockaddr in infos:
            policy.check(host, ipaddress.ip_address(sockaddr[0]))
    except ForbiddenAddress as exc:
        raise CrawlError(ErrorCode.FORBIDDEN_TARGET, str(exc), url=url) from exc


class GuardedResolver(AbstractResolver):
    """DNS through aiohttp's threaded resolver, keeping only allowed addresses."""

    def __init__(self, policy: TargetPolicy, inner: AbstractResolver | None = None):
        self.policy = policy
        self.inner = inner or ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.policy.check(host, None)
        infos = await self.inner.resolve(host, port, family)
        if self.policy.allows_host(host):
            return infos
        kept = [i for i in infos if not self.policy.refusal(host, ipaddress.ip_address(i["host"]))]
        if not kept:
            self.policy.check(host, ipaddress.ip_address(infos[0]["host"]))
        return kept

    async def close(self) -> None:
        await self.inner.close()
