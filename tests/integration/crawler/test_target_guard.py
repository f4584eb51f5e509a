"""The crawler cannot be turned against the stack or the host (issue 10): a
source that points at the loopback, the metadata service, a stack service or
a name that resolves to a private address is refused with E014 before any
connection, a redirect hop to such a target is refused too, and an operator
can allow an intranet host by name or network (CRAWLER_ALLOWED_TARGETS)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import pytest

from crawler.engine import Crawler
from crawler.fetch.guard import TargetPolicy, check_navigation

pytestmark = pytest.mark.integration


def crawl(source, storage, settings, allowed: str) -> dict:
    settings.allowed_targets = allowed
    return asyncio.run(Crawler(source, storage, settings).run())


def errors_of(storage, source: str) -> dict[str, dict]:
    return {d["url"]: d for d in storage.db.error_logs.find({"source": source})}


def a_name_of_this_host() -> str:
    """A real DNS name (no stack name, no 'localhost') that resolves to the loopback."""
    name = socket.gethostname()
    addresses = {info[4][0] for info in socket.getaddrinfo(name, None)}
    assert addresses and all(not ipaddress.ip_address(a).is_global for a in addresses), (
        f"{name} resolves to {addresses}: this test needs the host name to resolve locally"
    )
    return name


def test_the_loopback_is_refused_by_default(site, storage, settings, source_factory):
    src = source_factory("loop", [f"{site.base}/docs/0"])
    run = crawl(src, storage, settings, allowed="")
    errors = errors_of(storage, "loop")
    assert errors[f"{site.base}/docs/0"]["code"] == "E014"
    assert "CRAWLER_ALLOWED_TARGETS" in errors[f"{site.base}/docs/0"]["message"]
    assert site.count("/docs/0") == 0 and site.count("/robots.txt") == 0  # never connected
    assert run["pages_ok"] == 0
    assert storage.db.crawl_results.count_documents({"source": "loop"}) == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
        "http://[::ffff:127.0.0.1]:9/",  # the loopback spelt as IPv6
        "http://10.0.0.1/",  # private
        "http://0.0.0.0:27017/",  # unspecified
        "http://mongodb:27017/",  # a stack service, by name
        "http://api:8000/api/sources",
    ],
)
def test_private_targets_and_stack_services_are_refused(url, storage, settings, source_factory):
    src = source_factory("ssrf", [url], politeness={"max_retries": 0, "timeout_seconds": 3})
    crawl(src, storage, settings, allowed="")
    # (pydantic may respell the URL: [::ffff:127.0.0.1] becomes [::ffff:7f00:1])
    assert [e["code"] for e in errors_of(storage, "ssrf").values()] == ["E014"]


def test_a_stack_service_stays_refused_when_its_network_is_allowed(
    storage, settings, source_factory
):
    src = source_factory("stack", ["http://mongodb:27017/"], politeness={"max_retries": 0})
    crawl(src, storage, settings, allowed="0.0.0.0/0,::/0")
    assert errors_of(storage, "stack")["http://mongodb:27017/"]["code"] == "E014"


def test_a_name_that_resolves_to_the_loopback_is_refused_after_dns(
    site, storage, settings, source_factory
):
    name = a_name_of_this_host()
    url = f"http://{name}:{site.port}/docs/0"
    src = source_factory("dns", [url], links={"max_depth": 0})
    crawl(src, storage, settings, allowed="")
    error = errors_of(storage, "dns")[url]
    assert error["code"] == "E014" and "127.0.0.1" in error["message"]
    assert site.count("/docs/0") == 0


@pytest.mark.parametrize("allowed", ["by name", "by network"])
def test_an_operator_allows_an_intranet_host(allowed, site, storage, settings, source_factory):
    name = a_name_of_this_host()
    src = source_factory("intranet", [f"http://{name}:{site.port}/docs/0"], links={"max_depth": 0})
    run = crawl(src, storage, settings, allowed=name if allowed == "by name" else "127.0.0.0/8")
    assert run["pages_ok"] == 1 and site.count("/docs/0") == 1


def test_a_redirect_hop_to_a_refused_target_is_not_followed(
    site, storage, settings, source_factory
):
    # 127.0.0.2 is the same server, on an address the operator did not allow
    hop = f"http://127.0.0.2:{site.port}/private/secret"
    url = f"{site.base}/redirect?to={hop}"
    src = source_factory("hop", [url], politeness={"obey_robots": False})
    crawl(src, storage, settings, allowed="127.0.0.1/32")
    assert site.count("/redirect") == 1
    assert site.count("/private/secret") == 0
    error = next(iter(errors_of(storage, "hop").values()))
    assert error["code"] == "E014" and "127.0.0.2" in error["message"]


def test_a_redirect_to_an_allowed_page_is_followed(site, storage, settings, source_factory):
    url = f"{site.base}/redirect?to={site.base}/docs/3"
    src = source_factory("hop-ok", [url], links={"max_depth": 0})
    run = crawl(src, storage, settings, allowed="127.0.0.1/32")
    assert run["pages_ok"] == 1 and site.count("/docs/3") == 1


@pytest.mark.parametrize(
    "url", ["http://169.254.169.254/", "http://redis:6379/", "http://localhost:8000/"]
)
def test_a_browser_navigation_is_checked_first(url):
    from crawler.errors import CrawlError

    with pytest.raises(CrawlError) as refused:
        asyncio.run(check_navigation(TargetPolicy(), url))
    assert refused.value.code == "E014"


def test_a_browser_navigation_to_a_name_on_the_loopback_is_refused():
    from crawler.errors import CrawlError

    with pytest.raises(CrawlError, match=r"127\.0\.0\.1"):
        asyncio.run(check_navigation(TargetPolicy(), f"http://{a_name_of_this_host()}/"))
    # allowed by name: no error
    name = a_name_of_this_host()
    asyncio.run(check_navigation(TargetPolicy.parse(name), f"http://{name}/"))
