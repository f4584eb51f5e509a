"""Self-healing against real failures: selector rot, MongoDB outage, blocking."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from crawler.engine import Crawler
from crawler.storage import Spool

pytestmark = pytest.mark.integration

FIELDS = {
    "title": {"selector": "h1.title", "fallbacks": ["h2.headline"]},
    "body": {"selector": ".content", "required": False},
}


def run(source, storage, settings, **kw):
    return asyncio.run(Crawler(source, storage, settings, **kw).run())


def test_selector_rot_heals_with_fallback_and_remembers_it(site, storage, settings, source_factory):
    from crawler.models import Source

    src = source_factory(
        "shop", [f"{site.base}/changing/a", f"{site.base}/changing/b"], fields=FIELDS
    )
    storage.db.sources.insert_one(src.to_doc())
    first = run(src, storage, settings)
    assert first["pages_ok"] == 2 and first["healed"] == 0
    site.state["version"] = 2  # the site ships a new layout: h1.title is gone
    second = run(Source.from_doc(storage.db.sources.find_one({"_id": "shop"})), storage, settings)
    assert second["pages_ok"] == 2
    doc = storage.db.crawl_results.find_one({"url": f"{site.base}/changing/a"})
    assert (
        doc["fields"]["title"] == "Item a" and doc["fields"]["body"] == "v2" and doc["version"] == 2
    )
    sessions = list(storage.db.healing_sessions.find({"source": "shop", "run_id": second["_id"]}))
    assert [(s["code"], s["remedy"], s["outcome"]) for s in sessions] == [
        ("E006", "fallback_selector", "success")
    ]
    case = storage.db.wellknown_cases.find_one({"pattern": "E006|shop|title|h1.title"})
    assert case["success_count"] == 1 and case["value"]["selector"] == "h2.headline"
    assert (
        storage.db.sources.find_one({"_id": "shop"})["state"]["selectors"]["title"] == "h2.headline"
    )
    # next run: the remembered selector is tried first, nothing left to heal
    third = run(Source.from_doc(storage.db.sources.find_one({"_id": "shop"})), storage, settings)
    assert third["pages_ok"] == 2 and third["healed"] == 0
    assert storage.db.healing_sessions.count_documents({"run_id": third["_id"]}) == 0


def test_selector_rot_without_fallback_is_e006_and_kept_apart_from_blocked(
    site, storage, settings, source_factory
):
    site.state["version"] = 2
    src = source_factory(
        "rot",
        [f"{site.base}/changing/a", f"{site.base}/botcheck"],
        fields={"title": {"selector": "h1.title"}},
    )
    result = run(src, storage, settings)
    codes = {
        e["url"].rsplit("/", 1)[1]: e["code"] for e in storage.db.error_logs.find({"source": "rot"})
    }
    assert codes == {"a": "E006", "botcheck": "E003"}
    assert result["pages_incomplete"] == 1 and result["pages_failed"] == 1
    doc = storage.db.crawl_results.find_one({"source": "rot"})
    assert doc["status"] == "incomplete" and doc["fields"]["title"] is None


def test_rate_limit_slows_the_source_down_and_is_remembered(
    site, storage, settings, source_factory
):
    from crawler.models import Source

    site.state.update(ratelimit_times=3, retry_after=1)
    src = source_factory(
        "rl",
        [f"{site.base}/ratelimited/z"],
        politeness={"max_retries": 1, "delay_seconds": 0.2, "timeout_seconds": 5},
    )
    storage.db.sources.insert_one(src.to_doc())
    result = run(src, storage, settings)
    # 1st: 429, fetcher retry after Retry-After: 429, healing slows down: 429 -> failure ... the 4th answers
    sessions = list(storage.db.healing_sessions.find({"source": "rl"}))
    assert sessions and sessions[0]["remedy"] == "slow_down" and sessions[0]["code"] == "E004"
    state = Source.from_doc(storage.db.sources.find_one({"_id": "rl"})).state
    assert state.delay_factor == 2.0
    assert result["errors_by_code"]["E004"] >= 1


def test_mongodb_outage_mid_crawl_loses_nothing_and_duplicates_nothing(
    ferretdb, site, storage, settings, source_factory
):
    site.state["docs_pages"] = 60
    settings.batch_size = 5
    src = source_factory(
        "outage",
        [f"{site.base}/docs/0"],
        links={"max_depth": 10, "max_pages": 60},
        politeness={
            "concurrency_per_domain": 1,
            "delay_seconds": 0.15,
            "timeout_seconds": 5,
            "max_retries": 1,
        },
    )
    crawler = Crawler(src, storage, settings)
    crawler.flush_interval = 0.5
    events = {}

    def chaos():
        time.sleep(1.2)
        events["stopped_at"] = crawler.stats["pages_ok"]
        ferretdb.stop()
        time.sleep(2.5)
        ferretdb.start()
        events["restarted_at"] = crawler.stats["pages_ok"]

    t = threading.Thread(target=chaos)
    t.start()
    result = asyncio.run(crawler.run())
    t.join()
    assert 0 < events["stopped_at"] < events["restarted_at"] < 60  # the outage really was mid-crawl
    assert result["storage"]["spooled"] > 0
    assert result["pages_ok"] == 60
    Spool(settings.spool_dir).replay(
        storage
    )  # anything spooled after the last flush (normally none)
    assert Spool(settings.spool_dir).size() == 0
    docs = list(storage.db.crawl_results.find({"source": "outage"}))
    urls = [d["url"] for d in docs]
    assert len(urls) == 60 and len(set(urls)) == 60
    assert all(d["version"] == 1 for d in docs)
    assert storage.db.error_logs.count_documents({"source": "outage", "code": "E009"}) >= 1
    spool_sessions = list(
        storage.db.healing_sessions.find({"source": "outage", "remedy": "spool_and_replay"})
    )
    assert len(spool_sessions) == 1 and spool_sessions[0]["outcome"] == "success"
    run_doc = storage.db.crawl_runs.find_one({"_id": result["_id"]})
    assert run_doc["pages_ok"] == 60
