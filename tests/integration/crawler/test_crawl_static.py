"""Static crawling against the fixture website and FerretDB."""

from __future__ import annotations

import time

import pytest

from crawler.engine import Crawler

pytestmark = pytest.mark.integration


def run(source, storage, settings, **kw):
    import asyncio

    return asyncio.run(Crawler(source, storage, settings, **kw).run())


def test_follows_links_extracts_and_stores_each_page_once(site, storage, settings, source_factory):
    src = source_factory("docs", [f"{site.base}/docs/0"], links={"max_depth": 10, "max_pages": 100})
    run_doc = run(src, storage, settings)
    urls = sorted(d["url"] for d in storage.db.crawl_results.find({"source": "docs"}))
    # 15 pages in the tree; the fragment link, mailto, /private/ (robots) and the other host are not followed
    assert urls == sorted(f"{site.base}/docs/{i}" for i in range(15))
    assert run_doc["pages_ok"] == 15 and run_doc["status"] == "ok"
    doc = storage.db.crawl_results.find_one({"url": f"{site.base}/docs/3"})
    assert doc["fields"]["title"] == "Doc 3" and doc["fields"]["body"].startswith("Section 3")
    assert doc["version"] == 1 and len(doc["content_hash"]) == 64
    assert site.count("/private/secret") == 0
    assert site.count("/docs/0") == 1  # "#top" and "/docs/0" are one URL
    assert storage.db.crawl_runs.find_one({"_id": run_doc["_id"]})["pages_ok"] == 15


def test_max_pages_and_depth_bound_the_crawl(site, storage, settings, source_factory):
    src = source_factory(
        "bounded", [f"{site.base}/docs/0"], links={"max_depth": 1, "max_pages": 100}
    )
    run(src, storage, settings)
    assert (
        storage.db.crawl_results.count_documents({"source": "bounded"}) == 3
    )  # 0 and its two children
    src = source_factory("capped", [f"{site.base}/docs/0"], links={"max_depth": 10, "max_pages": 5})
    run(src, storage, settings)
    assert storage.db.crawl_results.count_documents({"source": "capped"}) == 5


def test_new_version_only_when_content_changes(site, storage, settings, source_factory):
    src = source_factory("ver", [f"{site.base}/docs/1"])
    run(src, storage, settings)
    run(src, storage, settings)
    doc = storage.db.crawl_results.find_one({"source": "ver"})
    assert doc["version"] == 1
    site.state["docs_pages"] = 2  # page 1 loses its child links: the title/body stay the same
    run(src, storage, settings)
    assert storage.db.crawl_results.find_one({"source": "ver"})["version"] == 1
    src2 = source_factory(
        "ver",
        [f"{site.base}/docs/1"],
        fields={"title": {"selector": "h1.title"}, "price": {"selector": ".price"}},
    )
    run(src2, storage, settings)
    doc = storage.db.crawl_results.find_one({"source": "ver"})
    assert doc["version"] == 2 and doc["fields"]["price"] == "1.00"
    assert storage.db.crawl_results.count_documents({"source": "ver"}) == 1


def test_retry_after_is_honoured_on_429(site, storage, settings, source_factory):
    site.state.update(retry_after=2, ratelimit_times=1)
    src = source_factory("rl", [f"{site.base}/ratelimited/a"])
    run_doc = run(src, storage, settings)
    hits = site.hits["/ratelimited/a"]
    assert len(hits) == 2
    assert hits[1] - hits[0] >= 1.9  # waited for the server's Retry-After, not our shorter backoff
    assert run_doc["pages_ok"] == 1


def test_server_errors_retried_then_classified(site, storage, settings, source_factory):
    site.state["flaky_times"] = 1
    src = source_factory(
        "srv",
        [
            f"{site.base}/flaky/x",
            f"{site.base}/error500",
            f"{site.base}/forbidden",
            f"{site.base}/botcheck",
        ],
    )
    run_doc = run(src, storage, settings)
    assert site.count("/flaky/x") == 2
    codes = {
        d["url"].rsplit("/", 1)[1]: d["code"] for d in storage.db.error_logs.find({"source": "srv"})
    }
    assert codes["error500"] == "E005"
    assert codes["forbidden"] == "E003"
    assert codes["botcheck"] == "E003"  # a bot-check page is "blocked", not selector rot
    assert "x" not in codes
    assert run_doc["errors_by_code"]["E005"] >= 1
    # the 500 was retried by the fetcher (max_retries=2) and once more by the healing rule
    assert site.count("/error500") == 4
    sessions = list(storage.db.healing_sessions.find({"source": "srv"}))
    assert {s["remedy"] for s in sessions} >= {"retry_with_backoff", "slow_down"}
    assert all(s["status"] == "finished" and s["outcome"] == "failure" for s in sessions)


def test_connection_refused_and_timeout_codes(site, storage, settings, source_factory):
    from crawler_support import free_port

    dead = f"http://127.0.0.1:{free_port()}/nothing"
    src = source_factory(
        "net",
        [dead, f"{site.base}/slow/3"],
        politeness={
            "timeout_seconds": 1,
            "max_retries": 0,
            "delay_seconds": 0,
            "obey_robots": False,
        },
    )
    run(src, storage, settings)
    codes = {d["url"]: d["code"] for d in storage.db.error_logs.find({"source": "net"})}
    assert codes[dead] == "E001"
    assert codes[f"{site.base}/slow/3"] == "E002"


def test_robots_crawl_delay_spaces_requests(site, storage, settings, source_factory):
    site.state["robots"] = "User-agent: *\nCrawl-delay: 1\n"
    src = source_factory("polite", [f"{site.base}/docs/{i}" for i in range(3)])
    t0 = time.monotonic()
    run(src, storage, settings)
    starts = sorted(t for i in range(3) for t in site.hits[f"/docs/{i}"])
    assert starts[1] - starts[0] >= 0.95 and starts[2] - starts[1] >= 0.95
    assert time.monotonic() - t0 >= 2


def test_latin1_page_decoded(site, storage, settings, source_factory):
    src = source_factory("enc", [f"{site.base}/latin1"])
    run(src, storage, settings)
    assert storage.db.crawl_results.find_one({"source": "enc"})["fields"]["title"] == "caf\u00e9"
