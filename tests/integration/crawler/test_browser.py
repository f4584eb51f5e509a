"""Browser fetching through a real Selenium Grid (hub + node, Debian chromium),
and Playwright driving the same chromium."""

from __future__ import annotations

import asyncio

import pytest

from crawler.engine import Crawler
from crawler.errors import CrawlError
from crawler.fetch.browser import GridClient, PlaywrightFetcher, SeleniumFetcher

pytestmark = pytest.mark.integration


def rendered(html: str, name: str) -> bool:
    """The heading the page's script adds is in the DOM (its text alone is
    also in the script)."""
    return f'<h1 class="title">Rendered {name}</h1>' in html


def free_slots_settle(hub: str, expect: int = 3, timeout: float = 15.0) -> int:
    """The hub frees a slot a moment after the session's DELETE: poll."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        free = GridClient(hub).status()["free_slots"]
        if free == expect or time.monotonic() > deadline:
            return free
        time.sleep(0.3)


def test_grid_status_reports_free_slots(selenium_grid):
    st = GridClient(selenium_grid).status()
    assert st["reachable"] and st["ready"]
    assert st["total_slots"] == 3 and st["free_slots"] == 3
    assert st["queue"] == 0


def test_selenium_renders_javascript_and_bounds_sessions(selenium_grid, site):
    f = SeleniumFetcher(
        selenium_grid, max_sessions=5, pages_per_session=2, wait_selectors=["h1.title"]
    )
    f.start()
    try:
        assert f.limit == 3  # asked for 5, the Grid has 3 free slots
        pages = [f.fetch_sync(f"{site.base}/js/p{i}") for i in range(5)]
        # the element the script made (the script's own text holds the words too)
        assert all(rendered(p.text, f"p{i}") for i, p in enumerate(pages))
        # one session at a time here, restarted after every 2 pages: 3 sessions for 5 pages
        assert f.sessions_started == 3
    finally:
        f.close()
    assert f.sessions_quit == f.sessions_started
    assert free_slots_settle(selenium_grid) == 3  # every session was quit


def test_selenium_timeout_is_e002_and_session_still_quit(selenium_grid, site):
    f = SeleniumFetcher(selenium_grid, max_sessions=1, page_timeout=1)
    f.start()
    try:
        with pytest.raises(CrawlError) as exc:
            f.fetch_sync(f"{site.base}/slow/4")
        assert exc.value.code == "E002"
    finally:
        f.close()
    assert f.sessions_quit == f.sessions_started == 1
    assert free_slots_settle(selenium_grid) == 3


def test_unreachable_grid_is_e008():
    from crawler_support import free_port

    f = SeleniumFetcher(f"http://127.0.0.1:{free_port()}", capacity_timeout=1)
    with pytest.raises(CrawlError) as exc:
        f.fetch_sync("http://127.0.0.1/")
    assert exc.value.code == "E008"


def test_auto_mode_switches_to_browser_and_remembers(
    selenium_grid, site, storage, settings, source_factory
):
    from crawler.models import Source

    settings.selenium_hub_url = selenium_grid
    src = source_factory("spa", [f"{site.base}/js/a", f"{site.base}/js/b"], mode="auto")
    storage.db.sources.insert_one(src.to_doc())
    first = asyncio.run(Crawler(src, storage, settings).run())
    assert first["pages_ok"] == 2 and first["mode"] == "browser"
    doc = storage.db.crawl_results.find_one({"url": f"{site.base}/js/a"})
    assert doc["fields"]["title"] == "Rendered a" and doc["mode"] == "browser"
    sessions = list(
        storage.db.healing_sessions.find({"run_id": first["_id"], "remedy": "switch_to_browser"})
    )
    assert sessions and all(s["outcome"] == "success" for s in sessions)
    saved = Source.from_doc(storage.db.sources.find_one({"_id": "spa"}))
    assert saved.state.effective_mode == "browser"
    site.hits.clear()
    second = asyncio.run(Crawler(saved, storage, settings).run())
    assert second["pages_ok"] == 2 and second["healed"] == 0
    assert site.count("/js/a") == 1  # straight to the browser, no static attempt first
    assert free_slots_settle(selenium_grid) == 3


def test_playwright_engine_renders_the_same_page(site):
    async def go():
        async with PlaywrightFetcher(
            "/usr/bin/chromium", max_sessions=2, pages_per_session=2, wait_selectors=["h1.title"]
        ) as f:
            return await asyncio.gather(*(f.fetch(f"{site.base}/js/w{i}") for i in range(3)))

    pages = asyncio.run(go())
    assert [rendered(p.text, f"w{i}") for i, p in enumerate(pages)] == [True] * 3
    assert all(p.mode == "browser" and p.status == 200 for p in pages)


def assets_fetched(site) -> list[str]:
    return sorted(path for path in site.hits if path.startswith("/assets/"))


@pytest.mark.parametrize("block", [True, False], ids=["blocking", "loading-whole"])
def test_selenium_skips_images_fonts_and_media_the_extraction_never_reads(
    selenium_grid, site, block
):
    f = SeleniumFetcher(
        selenium_grid, max_sessions=1, wait_selectors=["h1.title"], block_resources=block
    )
    f.start()
    try:
        page = f.fetch_sync(f"{site.base}/media/a")
    finally:
        f.close()
    # rendered 300 ms after the load event: the wait saw it appear either way
    assert rendered(page.text, "a")
    if block:
        assert assets_fetched(site) == []
    else:
        assert "/assets/logo.png" in assets_fetched(site)
    assert free_slots_settle(selenium_grid) == 3


def test_selenium_page_without_its_selector_is_returned_after_the_wait(selenium_grid, site):
    # The content never comes within the wait: the page is returned as it is
    # and extraction reports the missing field (not a timeout error).
    f = SeleniumFetcher(
        selenium_grid, max_sessions=1, page_timeout=2, wait_selectors=["h1.title", "h2.headline"]
    )
    f.start()
    try:
        page = f.fetch_sync(f"{site.base}/media/late/60000")
    finally:
        f.close()
    assert page.status == 200 and not rendered(page.text, "late") and 'id="root"' in page.text


@pytest.mark.parametrize("block", [True, False], ids=["blocking", "loading-whole"])
def test_playwright_skips_images_fonts_and_media_too(site, block):
    async def go():
        async with PlaywrightFetcher(
            "/usr/bin/chromium", wait_selectors=["h2.none", "h1.title"], block_resources=block
        ) as f:
            return await f.fetch(f"{site.base}/media/b")

    page = asyncio.run(go())
    assert rendered(page.text, "b")  # any of the selectors, not the first one only
    if block:
        assert assets_fetched(site) == []
    else:
        assert "/assets/logo.png" in assets_fetched(site)
