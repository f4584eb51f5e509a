"""The browser fetcher a crawl opens when a page needs one, as configured."""

from __future__ import annotations

from crawler.config import Settings
from crawler.models import Politeness


def open_browser(settings: Settings, politeness: Politeness, wait_selectors: list[str]):
    """A browser fetcher (async context manager) of settings.browser_engine."""
    sessions = {
        "max_sessions": politeness.concurrency_per_domain,
        "pages_per_session": settings.browser_pages_per_session,
        "page_timeout": politeness.timeout_seconds,
        "wait_selectors": wait_selectors,
        "block_resources": settings.browser_block_resources,
    }
    if settings.browser_engine == "playwright":
        from crawler.fetch.browser import PlaywrightFetcher

        return PlaywrightFetcher(settings.chromium_path, **sessions)
    from crawler.fetch.browser import SeleniumFetcher

    return SeleniumFetcher(settings.selenium_hub_url, **sessions)
