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

import requests

from crawler.errors import CrawlError, ErrorCode
from crawler.fetch import Page

log = logging.getLogger(__name__)

CHROME_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
]


class GridClient:
    def __init__(self, hub_url: str, timeout: float = 5.0):
        self.hub_url = hub_url.rstrip("/")
        self.timeout = timeout

    def status(self) -> dict:
        """ready, total/free slots and queue length, from the hub's /status
        (and /graphql for the queue, when it answers)."""
        try:
            r = requests.get(f"{self.hub_url}/status", timeout=self.timeout)
            r.raise_for_status()
            value = r.json().get("value", {})
        except (requests.RequestException, ValueError) as exc:
            return {
                "reachable": False,
                "ready": False,
                "total_slots": 0,
                "free_slots": 0,
                "queue": None,
                "error": str(exc),
            }
        total = free = 0
        nodes = value.get("nodes", [])
        for node in nodes:
            if node.get("availability", "UP") != "UP":
                continue
            # a node offers a slot per detected browser and session, but runs
            # at most maxSessions sessions at once: count that, not the slots
            slots = [
                s
                for s in node.get("slots", [])
                if (s.get("stereotype") or {}).get("browserName", "chrome")
                in ("chrome", "chromium")
            ]
            used = sum(1 for s in node.get("slots", []) if s.get("session"))
            cap = node.get("maxSessions") or len(slots)
            total += min(len(slots), cap)
            free += max(0, min(len(slots) - used, cap - used))
        queue = None
        try:
            g = requests.post(
                f"{self.hub_url}/graphql",
                json={"query": "{ grid { sessionQueueSize } }"},
                timeout=self.timeout,
            )
            queue = g.json()["data"]["grid"]["sessionQueueSize"]
        except (requests.RequestException, ValueError, KeyError, TypeError):
            pass
        return {
            "reachable": True,
            "ready": bool(value.get("ready")),
            "total_slots": total,
            "free_slots": free,
            "queue": queue,
            "nodes": len(nodes),
        }

    def wait_for_capacity(
        self, need: int = 1, timeout: float = 60.0, interval: float = 1.0
    ) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            st = self.status()
            if st["ready"] and st["free_slots"] >= need and not st.get("queue"):
                return st
            if time.monotonic() >= deadline:
                raise CrawlError(ErrorCode.BROWSER, f"no Grid capacity within {timeout:.0f}s: {st}")
            time.sleep(interval)


class _Session:
    def __init__(self, driver):
        self.driver = driver
        self.pages = 0


class _SessionLimits:
    """What both browser fetchers bound the same way: sessions at once, pages
    per session (a browser is recycled after that many), page timeout, and the
    selectors a page load waits for."""

    def _set_limits(
        self,
        max_sessions: int,
        pages_per_session: int,
        page_timeout: float,
        wait_selectors: list[str] | None,
    ) -> None:
        self.max_sessions = max_sessions
        self.pages_per_session = pages_per_session
        self.page_timeout = page_timeout
        self.wait_selectors = wait_selectors or []


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
        capacity_timeout: float = 60.0,
        binary_location: str | None = None,
    ):
        self.grid = GridClient(hub_url)
        self.hub_url = hub_url.rstrip("/")
        self._set_limits(max_sessions, pages_per_session, page_timeout, wait_selectors)
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
        if self.binary_location:
            opts.binary_location = self.binary_location
        opts.page_load_strategy = "normal"
        drv = webdriver.Remote(command_executor=self.hub_url, options=opts)
        drv.set_page_load_timeout(self.page_timeout)
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
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

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
                # not found in time: extraction decides whether that is selector rot
                with contextlib.suppress(TimeoutException):
                    WebDriverWait(drv, min(10.0, self.page_timeout)).until(
                        lambda d: any(
                            d.find_elements(By.CSS_SELECTOR, s) for s in self.wait_selectors
                        )
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
    ):
        self.chromium_path = chromium_path
        self._set_limits(max_sessions, pages_per_session, page_timeout, wait_selectors)
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
        t0 = time.perf_counter()
        async with self._sem:
            async with self._restart_lock:
                if self._pages_in_browser >= self.pages_per_session * self.max_sessions:
                    await self._browser.close()
                    await self._launch()
                self._pages_in_browser += 1
            ctx = await self._browser.new_context()
            try:
                page = await ctx.new_page()
                try:
                    resp = await page.goto(url, timeout=self.page_timeout * 1000, wait_until="load")
                except Exception as exc:
                    code = (
                        ErrorCode.TIMEOUT if "Timeout" in type(exc).__name__ else ErrorCode.BROWSER
                    )
                    raise CrawlError(code, f"playwright: {exc}", url=url) from exc
                for sel in self.wait_selectors:
                    try:
                        await page.wait_for_selector(
                            sel, timeout=min(10.0, self.page_timeout) * 1000
                        )
                        break
                    except Exception:  # noqa: S112 - absence is judged by extraction
                        continue
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
