"""Browser fetchers behind one interface: Selenium Remote WebDriver through a
Grid hub (primary) and Playwright with the system Chromium (second engine).

Grid discipline: read /status before opening sessions, never open more than
the free slots, always quit (also on error), restart a session after N pages
to bound browser memory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time

from crawler.errors import CrawlError, ErrorCode
from crawler.fetch import Page
from crawler.fetch.grid import GridClient
from crawler.fetch.page_load import (
    BLOCKED_RESOURCE_TYPES,
    CHROME_BLOCK_ARGS,
    CHROME_BLOCK_PREFS,
    FOUND_ANY_JS,
    WAIT_FOR_ANY_JS,
    block_with_devtools,
)

log = logging.getLogger(__name__)

CHROME_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
]


class _Session:
    def __init__(self, driver):
        self.driver = driver
        self.pages = 0


class _SessionLimits:
    """What both browser fetchers bound the same way: sessions at once, pages
    per session (a browser is recycled after that many), page timeout, the
    selectors a page load waits for, and whether images, fonts and media are
    skipped (fetch/page_load.py)."""

    def _set_limits(
        self,
        max_sessions: int,
        pages_per_session: int,
        page_timeout: float,
        wait_selectors: list[str] | None,
        block_resources: bool = True,
    ) -> None:
        self.max_sessions = max_sessions
        self.pages_per_session = pages_per_session
        self.page_timeout = page_timeout
        self.wait_selectors = wait_selectors or []
        self.block_resources = block_resources
        # How long a loaded page may take to show a required element.
        self.selector_wait = min(10.0, page_timeout)


class SeleniumFetcher(_SessionLimits):
    """Pool of Remote WebDriver sessions used from worker threads."""

    mode = "browser"

    def __init__(
        self,
        hub_url: str,
        *,
        max_sessions: int = 1,
        pages_per_session: int = 50,
        page_timeout: float = 30.0,
        wait_selectors: list[str] | None = None,
        block_resources: bool = True,
        capacity_timeout: float = 60.0,
        binary_location: str | None = None,
    ):
        self.grid = GridClient(hub_url)
        self.hub_url = hub_url.rstrip("/")
        self._set_limits(
            max_sessions, pages_per_session, page_timeout, wait_selectors, block_resources
        )
        self.capacity_timeout = capacity_timeout
        self.binary_location = binary_location
        self._idle: list[_Session] = []
        self._open = 0
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self.limit = 0
        self.sessions_started = 0
        self.sessions_quit = 0

    def start(self) -> None:
        st = self.grid.wait_for_capacity(1, timeout=self.capacity_timeout)
        self.limit = max(1, min(self.max_sessions, st["free_slots"]))
        log.info("Grid ready: %s; using up to %d sessions", st, self.limit)

    def _new_driver(self):
        from selenium import webdriver

        opts = webdriver.ChromeOptions()
        for a in CHROME_ARGS:
            opts.add_argument(a)
        if self.block_resources:
            for a in CHROME_BLOCK_ARGS:
                opts.add_argument(a)
            opts.add_experimental_option("prefs", CHROME_BLOCK_PREFS)
        if self.binary_location:
            opts.binary_location = self.binary_location
        opts.page_load_strategy = "normal"
        drv = webdriver.Remote(command_executor=self.hub_url, options=opts)
        drv.set_page_load_timeout(self.page_timeout)
        drv.set_script_timeout(self.selector_wait + 5)
        if self.block_resources:
            block_with_devtools(drv)  # fonts and media too, where the Grid forwards it
        self.sessions_started += 1
        return drv

    def _quit(self, sess: _Session) -> None:
        try:
            sess.driver.quit()
        except Exception as exc:  # a dead session must not stop the crawl
            log.warning("quitting a WebDriver session failed: %s", exc)
        finally:
            self.sessions_quit += 1

    def _acquire(self) -> _Session:
        if self.limit == 0:
            self.start()  # reads /status first; raises E008 when the Grid has no capacity
        with self._cond:
            while not self._idle and self._open >= self.limit:
                self._cond.wait()
            if self._idle:
                return self._idle.pop()
            self._open += 1
        try:
            # never ask for more than the Grid has free right now
            self.grid.wait_for_capacity(1, timeout=self.capacity_timeout)
            return _Session(self._new_driver())
        except Exception:
            with self._cond:
                self._open -= 1
                self._cond.notify()
            raise

    def _release(self, sess: _Session, broken: bool) -> None:
        if broken or sess.pages >= self.pages_per_session:
            self._quit(sess)
            with self._cond:
                self._open -= 1
                self._cond.notify()
            return
        with self._cond:
            self._idle.append(sess)
            self._cond.notify()

    def fetch_sync(self, url: str) -> Page:
        from selenium.common.exceptions import TimeoutException, WebDriverException

        t0 = time.perf_counter()
        try:
            sess = self._acquire()
        except CrawlError:
            raise
        except Exception as exc:
            raise CrawlError(
                ErrorCode.BROWSER, f"cannot open a Grid session: {exc}", url=url
            ) from exc
        broken = False
        try:
            drv = sess.driver
            try:
                drv.get(url)
            except TimeoutException as exc:
                raise CrawlError(
                    ErrorCode.TIMEOUT, f"page load timeout: {exc.msg}", url=url
                ) from exc
            if self.wait_selectors:
                # Returns when one appears (no polling interval); not found in
                # time: extraction decides whether that is selector rot.
                with contextlib.suppress(TimeoutException):
                    drv.execute_async_script(
                        WAIT_FOR_ANY_JS, self.wait_selectors, int(self.selector_wait * 1000)
                    )
            html = drv.page_source
            sess.pages += 1
            return Page(
                url=url,
                final_url=drv.current_url,
                status=200,
                text=html,
                mode="browser",
                elapsed=time.perf_counter() - t0,
            )
        except CrawlError:
            raise
        except WebDriverException as exc:
            broken = True
            raise CrawlError(ErrorCode.BROWSER, f"WebDriver failure: {exc.msg}", url=url) from exc
        except Exception as exc:
            broken = True
            raise CrawlError(ErrorCode.BROWSER, f"browser failure: {exc}", url=url) from exc
        finally:
            self._release(sess, broken)

    async def fetch(self, url: str) -> Page:
        return await asyncio.to_thread(self.fetch_sync, url)

    def close(self) -> None:
        with self._cond:
            idle, self._idle = self._idle, []
            self._open -= len(idle)
        for s in idle:
            self._quit(s)

    async def __aenter__(self):
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(self, *exc):
        await asyncio.to_thread(self.close)


class PlaywrightFetcher(_SessionLimits):
    """Same interface, Playwright driving the system Chromium directly."""

    mode = "browser"

    def __init__(
        self,
        chromium_path: str = "/usr/bin/chromium",
        *,
        max_sessions: int = 1,
        pages_per_session: int = 50,
        page_timeout: float = 30.0,
        wait_selectors: list[str] | None = None,
        block_resources: bool = True,
    ):
        self.chromium_path = chromium_path
        self._set_limits(
            max_sessions, pages_per_session, page_timeout, wait_selectors, block_resources
        )
        self._pw = None
        self._browser = None
        self._sem: asyncio.Semaphore | None = None
        self._pages_in_browser = 0
        self._restart_lock: asyncio.Lock | None = None

    async def __aenter__(self):
        try:
            from playwright.async_api import async_playwright
        except ImportError as exc:
            raise CrawlError(
                ErrorCode.BROWSER,
                "playwright is not installed (pip install acs-crawler[playwright])",
            ) from exc
        self._pw = await async_playwright().start()
        await self._launch()
        self._sem = asyncio.Semaphore(self.max_sessions)
        self._restart_lock = asyncio.Lock()
        return self

    async def _launch(self):
        self._browser = await self._pw.chromium.launch(
            executable_path=self.chromium_path, args=CHROME_ARGS
        )
        self._pages_in_browser = 0

    async def __aexit__(self, *exc):
        try:
            if self._browser:
                await self._browser.close()
        finally:
            if self._pw:
                await self._pw.stop()

    async def fetch(self, url: str) -> Page:
        from playwright.async_api import TimeoutError as PlaywrightTimeout

        t0 = time.perf_counter()
        async with self._sem:
            async with self._restart_lock:
                if self._pages_in_browser >= self.pages_per_session * self.max_sessions:
                    await self._browser.close()
                    await self._launch()
                self._pages_in_browser += 1
            ctx = await self._browser.new_context()
            try:
                if self.block_resources:
                    await ctx.route("**/*", _skip_unread_resources)
                page = await ctx.new_page()
                try:
                    resp = await page.goto(url, timeout=self.page_timeout * 1000, wait_until="load")
                except Exception as exc:
                    code = (
                        ErrorCode.TIMEOUT if "Timeout" in type(exc).__name__ else ErrorCode.BROWSER
                    )
                    raise CrawlError(code, f"playwright: {exc}", url=url) from exc
                if self.wait_selectors:
                    # any of them, re-checked every animation frame (Playwright
                    # has no mutation polling); absence is judged by extraction
                    with contextlib.suppress(PlaywrightTimeout):
                        await page.wait_for_function(
                            FOUND_ANY_JS,
                            arg=self.wait_selectors,
                            polling="raf",
                            timeout=self.selector_wait * 1000,
                        )
                html = await page.content()
                return Page(
                    url=url,
                    final_url=page.url,
                    status=resp.status if resp else 200,
                    text=html,
                    mode="browser",
                    elapsed=time.perf_counter() - t0,
                )
            finally:
                await ctx.close()


async def _skip_unread_resources(route) -> None:
    """Playwright route handler: abort images, fonts and media."""
    if route.request.resource_type in BLOCKED_RESOURCE_TYPES:
        await route.abort()
    else:
        await route.continue_()
