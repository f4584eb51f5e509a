"""Async HTTP fetcher: pooled connections, per-domain concurrency and delay,
robots.txt (with Crawl-delay, capped), timeouts, exponential backoff with
jitter and Retry-After on 429/503, and bounds on what a site can make us
read: HTML/XHTML only, a body size cap, the charset a page declares."""

from __future__ import annotations

import asyncio
import email.utils
import random
import re
import time
import urllib.robotparser
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import aiohttp

from crawler.errors import CrawlError, ErrorCode, classify_exception, classify_status
from crawler.fetch import Page
from crawler.fetch.guard import GuardedResolver, TargetPolicy

RETRYABLE = {
    ErrorCode.CONNECTION,
    ErrorCode.TIMEOUT,
    ErrorCode.SERVER_ERROR,
    ErrorCode.RATE_LIMITED,
}


# What is parsed; a response without a Content-Type is tried as HTML.
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
# A robots.txt may ask for any Crawl-delay; one of hours would stall a run.
DEFAULT_MAX_CRAWL_DELAY = 30.0
# Redirects are followed here, hop by hop, so that each hop's target is checked.
MAX_REDIRECTS = 10
REDIRECTS = frozenset({301, 302, 303, 307, 308})
# <meta charset="..."> or <meta http-equiv="Content-Type" content="...; charset=...">,
# looked for in the first 1024 bytes as the HTML standard's prescan does.
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


def declared_charset(raw: bytes) -> str | None:
    """The charset a page declares in a <meta> tag near its start, if any."""
    m = _META_CHARSET.search(raw[:1024])
    return m.group(1).decode("ascii") if m else None


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def backoff_delay(attempt: int, base: float = 0.5, cap: float = 30.0) -> float:
    """Exponential backoff with jitter (between half and the full step)."""
    step = min(cap, base * (2**attempt))
    return random.uniform(step / 2, step)  # noqa: S311 - jitter, not cryptography


class DomainGate:
    """At most `concurrency` requests in flight per host, and at least
    `delay` seconds between the starts of two requests to it."""

    def __init__(self, concurrency: int, delay: float):
        self.sem = asyncio.Semaphore(concurrency)
        self.delay = delay
        self._lock = asyncio.Lock()
        self._next = 0.0

    async def __aenter__(self):
        await self.sem.acquire()
        if self.delay > 0:
            async with self._lock:
                wait = self._next - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                self._next = time.monotonic() + self.delay
        return self

    async def __aexit__(self, *exc):
        self.sem.release()

    def slow_down(self, delay: float) -> None:
        self.delay = max(self.delay, delay)
        self._next = max(self._next, time.monotonic() + delay)


class StaticFetcher:
    def __init__(
        self,
        *,
        concurrency_per_domain: int = 2,
        delay: float = 0.0,
        timeout: float = 30.0,
        max_retries: int = 3,
        user_agent: str = "acs-crawler/0.1",
        obey_robots: bool = True,
        max_retry_after: float = 120.0,
        backoff_base: float = 0.5,
        total_connections: int = 100,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_crawl_delay: float = DEFAULT_MAX_CRAWL_DELAY,
        policy: TargetPolicy | None = None,
    ):
        self.concurrency = concurrency_per_domain
        self.delay = delay
        self.timeout = timeout
        self.max_retries = max_retries
        self.user_agent = user_agent
        self.obey_robots = obey_robots
        self.max_retry_after = max_retry_after
        self.backoff_base = backoff_base
        self.total_connections = total_connections
        self.max_body_bytes = max_body_bytes
        self.max_crawl_delay = max_crawl_delay
        self.policy = policy or TargetPolicy()
        self._gates: dict[str, DomainGate] = {}
        self._robots: dict[str, urllib.robotparser.RobotFileParser | None] = {}
        self._robots_lock = asyncio.Lock()
        self.session: aiohttp.ClientSession | None = None
        self.retries = 0

    async def __aenter__(self):
        connector = aiohttp.TCPConnector(
            limit=self.total_connections,
            limit_per_host=self.concurrency,
            ttl_dns_cache=300,
            resolver=GuardedResolver(self.policy),
        )
        self.session = aiohttp.ClientSession(
            connector=connector,
            headers={"User-Agent": self.user_agent},
            timeout=aiohttp.ClientTimeout(total=self.timeout, sock_connect=min(10, self.timeout)),
        )
        return self

    async def __aexit__(self, *exc):
        if self.session:
            await self.session.close()

    def crawl_delay(self, rp: urllib.robotparser.RobotFileParser | None) -> float:
        """The site's Crawl-delay for us, at most max_crawl_delay (0 when none)."""
        cd = rp.crawl_delay(self.user_agent) if rp is not None else None
        return min(float(cd), self.max_crawl_delay) if cd else 0.0

    def gate(self, host: str) -> DomainGate:
        if host not in self._gates:
            delay = max(self.delay, self.crawl_delay(self._robots.get(host)))
            self._gates[host] = DomainGate(self.concurrency, delay)
        return self._gates[host]

    async def robots(self, url: str) -> urllib.robotparser.RobotFileParser | None:
        parts = urlsplit(url)
        host = parts.netloc
        if host in self._robots:
            return self._robots[host]
        async with self._robots_lock:
            if host in self._robots:
                return self._robots[host]
            rp: urllib.robotparser.RobotFileParser | None = None
            robots_url = f"{parts.scheme}://{host}/robots.txt"
            try:
                # A redirect of robots.txt is not followed: where it points is unchecked.
                self.policy.check_url(robots_url)
                async with self.session.get(
                    robots_url,
                    timeout=aiohttp.ClientTimeout(total=min(10, self.timeout)),
                    allow_redirects=False,
                ) as resp:
                    if resp.status == 200:
                        rp = urllib.robotparser.RobotFileParser()
                        rp.parse((await resp.text(errors="replace")).splitlines())
                    elif resp.status in (401, 403) or resp.status >= 500:
                        # RFC 9309 2.3.1.4: a server error means complete disallow;
                        # 401/403 are read the same cautious way.
                        rp = urllib.robotparser.RobotFileParser()
                        rp.disallow_all = True
            except (TimeoutError, aiohttp.ClientError, CrawlError):
                # no robots.txt reachable: allowed (a refused target fails the page itself)
                rp = None
            self._robots[host] = rp
            if host in self._gates and self.crawl_delay(rp):
                self._gates[host].slow_down(self.crawl_delay(rp))
            return rp

    async def allowed(self, url: str) -> bool:
        if not self.obey_robots:
            return True
        rp = await self.robots(url)
        return rp is None or rp.can_fetch(self.user_agent, url)

    async def fetch(self, url: str, retries: int | None = None) -> Page:
        max_retries = self.max_retries if retries is None else retries
        host = urlsplit(url).netloc
        if self.obey_robots:
            await self.robots(url)
        gate = self.gate(host)
        attempt = 0
        while True:
            try:
                return await self._fetch_once(url, gate)
            except CrawlError as err:
                if err.code not in RETRYABLE or attempt >= max_retries:
                    raise
                wait = backoff_delay(attempt, self.backoff_base)
                if err.retry_after is not None:
                    if err.retry_after > self.max_retry_after:
                        raise
                    wait = max(wait, err.retry_after)
                    gate.slow_down(err.retry_after)
                attempt += 1
                self.retries += 1
                await asyncio.sleep(wait)

    async def _fetch_once(self, url: str, gate: DomainGate) -> Page:
        t0 = time.perf_counter()
        async with gate:
            current = url
            for _hop in range(MAX_REDIRECTS + 1):
                self.policy.check_url(current)
                try:
                    async with self.session.get(current, allow_redirects=False) as resp:
                        location = resp.headers.get("Location")
                        if resp.status in REDIRECTS and location:
                            current = urljoin(current, location)
                            continue
                        return await self._page(resp, url, current, t0)
                except CrawlError:
                    raise
                except Exception as exc:  # network layer: classify, keep the message
                    code = classify_exception(exc)
                    message = (
                        str(exc.os_error)  # the resolver's refusal, not aiohttp's wrapper
                        if code == ErrorCode.FORBIDDEN_TARGET
                        else f"{type(exc).__name__}: {exc}"
                    )
                    raise CrawlError(code, message, url=url) from exc
            raise CrawlError(ErrorCode.UNKNOWN, f"more than {MAX_REDIRECTS} redirects", url=url)

    async def _page(
        self, resp: aiohttp.ClientResponse, url: str, final_url: str, t0: float
    ) -> Page:
        status = resp.status
        code = classify_status(status)
        if code is not None:
            retry_after = None
            if status in (429, 503):
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            raise CrawlError(
                code, f"HTTP {status}", url=url, status=status, retry_after=retry_after
            )
        self._check_type(resp, url)
        raw = await self._read_capped(resp, url)
        return Page(
            url=url,
            final_url=final_url,
            status=status,
            text=self._decode(raw, resp.charset, url, status),
            mode="static",
            elapsed=time.perf_counter() - t0,
            headers={"content-type": resp.headers.get("Content-Type", "")},
        )

    def _check_type(self, resp: aiohttp.ClientResponse, url: str) -> None:
        # Refused before the body is read: a PDF or a video is not downloaded.
        if resp.headers.get("Content-Type") and resp.content_type not in HTML_TYPES:
            raise CrawlError(
                ErrorCode.NOT_HTML,
                f"not HTML: Content-Type {resp.content_type}",
                url=url,
                status=resp.status,
            )

    async def _read_capped(self, resp: aiohttp.ClientResponse, url: str) -> bytes:
        cap = self.max_body_bytes
        too_large = CrawlError(
            ErrorCode.TOO_LARGE,
            f"body over the {cap}-byte cap (CRAWLER_MAX_BODY_BYTES)",
            url=url,
            status=resp.status,
        )
        if resp.content_length is not None and resp.content_length > cap:
            raise too_large
        chunks, size = [], 0
        async for chunk in resp.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > cap:  # a body without Content-Length, or one that lies
                raise too_large
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def _decode(raw: bytes, header_charset: str | None, url: str, status: int) -> str:
        # The header's charset wins, then the page's own <meta>, then UTF-8.
        for charset in (header_charset, declared_charset(raw), "utf-8"):
            if not charset:
                continue
            try:
                return raw.decode(charset)
            except LookupError:
                continue  # an unknown charset name: try the next one
            except UnicodeDecodeError as exc:
                if charset == "utf-8":
                    raise CrawlError(
                        ErrorCode.PARSE, f"cannot decode body: {exc}", url=url, status=status
                    ) from exc
        raise CrawlError(ErrorCode.PARSE, "cannot decode body", url=url, status=status)
