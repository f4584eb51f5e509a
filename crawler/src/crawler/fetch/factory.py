"""The browser fetcher a crawl opens when a page needs one, as configured."""

from __future__ import annotations

from crawler.config import Settings
from crawler.models import Politeness


def open_browser(settings: Settings, politeness: Politeness, wait_selectors: list[str]):
    """A browser fetcher (async context manager) of settings.browser_engine."""
    s = settings
    pol = politeness
    if s.browser_engine == "playwright":
        from crawler.fetch.browser import PlaywrightFetcher

        return PlaywrightFetcher(
            s.chromium_path,
            max_sessions=pol.concurrency_per_domain,
            pages_per_session=s.browser_pages_per_session,
            page_timeout=pol.timeout_seconds,
            wait_selectors=wait_selectors,
        )
    from crawler.fetch.browser import SeleniumFetcher

    return SeleniumFetcher(
        s.selenium_hub_url,
        max_sessions=pol.concurrency_per_domain,
        pages_per_session=s.browser_pages_per_session,
        page_timeout=pol.timeout_seconds,
        wait_selectors=wait_selectors,
    )
