"""What a site can make the crawler read is bounded (issue 10): HTML only, a
body size cap, the page's own charset, robots.txt 5xx as disallow, a capped
Crawl-delay, and 404/410 recorded as "not found" rather than "unknown"."""

from __future__ import annotations

import asyncio

import pytest

from crawler.engine import Crawler
from crawler.fetch.guard import TargetPolicy
from crawler.fetch.static import StaticFetcher

pytestmark = pytest.mark.integration


def run(source, storage, settings):
    return asyncio.run(Crawler(source, storage, settings).run())


def codes_of(storage, source: str) -> dict[str, str]:
    return {
        d["url"].rsplit("/", 1)[1]: d["code"]
        for d in storage.db.error_logs.find({"source": source})
    }


def test_404_and_410_are_not_found_not_unknown(site, storage, settings, source_factory):
    src = source_factory("gone", [f"{site.base}/no-such-page", f"{site.base}/gone"])
    run(src, storage, settings)
    assert codes_of(storage, "gone") == {"no-such-page": "E011", "gone": "E011"}
    # a page that is gone is not asked again by a remedy
    assert site.count("/gone") == 1


def test_a_pdf_is_recorded_as_not_html_and_not_parsed(site, storage, settings, source_factory):
    src = source_factory("pdf", [f"{site.base}/manual.pdf"])
    run_doc = run(src, storage, settings)
    assert codes_of(storage, "pdf") == {"manual.pdf": "E013"}
    assert storage.db.crawl_results.count_documents({"source": "pdf"}) == 0
    assert run_doc["errors_by_code"] == {"E013": 1}


@pytest.mark.parametrize("path", ["big", "big-unannounced"])
def test_a_body_over_the_cap_is_refused(path, site, storage, settings, source_factory):
    site.state["big_bytes"] = 64 * 1024
    settings.max_body_bytes = 16 * 1024
    src = source_factory(f"cap-{path}", [f"{site.base}/{path}"])
    run(src, storage, settings)
    assert codes_of(storage, f"cap-{path}") == {path: "E012"}
    error = storage.db.error_logs.find_one({"source": f"cap-{path}"})
    assert "CRAWLER_MAX_BODY_BYTES" in error["message"]


def test_a_body_under_the_cap_is_stored(site, storage, settings, source_factory):
    site.state["big_bytes"] = 8 * 1024
    settings.max_body_bytes = 16 * 1024
    src = source_factory(
        "under-cap", [f"{site.base}/big-unannounced"], fields={"body": {"selector": "body"}}
    )
    run(src, storage, settings)
    doc = storage.db.crawl_results.find_one({"source": "under-cap"})
    assert doc is not None and doc["fields"]["body"] == "y" * 8 * 1024


def test_charset_declared_in_meta_is_used(site, storage, settings, source_factory):
    src = source_factory("euc", [f"{site.base}/euc-kr"])
    run(src, storage, settings)
    doc = storage.db.crawl_results.find_one({"source": "euc"})
    assert doc is not None, list(storage.db.error_logs.find({"source": "euc"}))
    assert doc["fields"]["title"] == "\uacf5\uc9c0\uc0ac\ud56d"


def test_robots_txt_answering_5xx_disallows_the_site(site, storage, settings, source_factory):
    site.state["robots_status"] = 503
    src = source_factory("robots-down", [f"{site.base}/docs/0"])
    run_doc = run(src, storage, settings)
    assert site.count("/docs/0") == 0
    assert run_doc["pages_ok"] == 0


def test_crawl_delay_is_capped(site):
    site.state["robots"] = "User-agent: *\nCrawl-delay: 3600\n"

    async def delay_after_robots() -> float:
        async with StaticFetcher(
            max_crawl_delay=2.0, policy=TargetPolicy.parse("127.0.0.1/32")
        ) as fetcher:
            await fetcher.fetch(f"{site.base}/docs/0")
            return fetcher.gate(f"127.0.0.1:{site.port}").delay

    assert asyncio.run(delay_after_robots()) == 2.0
