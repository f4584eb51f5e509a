"""One crawl run of one source: frontier, fetch, extract, store, heal."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from urllib.parse import urlsplit

from pymongo.errors import PyMongoError

from crawler import repository
from crawler.config import Settings
from crawler.crawl_healing import CrawlHealing
from crawler.errors import CrawlError, ErrorCode, classify_exception
from crawler.fetch.factory import open_browser
from crawler.fetch.guard import TargetPolicy, check_navigation
from crawler.fetch.static import StaticFetcher
from crawler.healing import (
    SLOWED_DOWN_BY,
    SPOOL,
    Diagnosis,
    HealingEngine,
    storage_pattern,
)
from crawler.metrics import Metrics, default_metrics
from crawler.models import Source
from crawler.pages import content_hash, process_page
from crawler.storage import Spool, Storage, Writer, new_id, now
from crawler.urls import normalize_url

log = logging.getLogger(__name__)


# content_hash and process_page stay importable from here: the tests and the
# benchmarks take them from crawler.engine.
__all__ = ["Crawler", "content_hash", "crawl_source", "process_page"]


class Crawler(CrawlHealing):
    def __init__(
        self,
        source: Source,
        storage: Storage | None,
        settings: Settings | None = None,
        *,
        metrics: Metrics | None = None,
        healing: HealingEngine | None = None,
        spool: Spool | None = None,
        browser_factory=None,
        parse_workers: int = 0,
        run_id: str | None = None,
        trigger: str = "manual",
        writer: Writer | None = None,
    ):
        self.source = source
        self.storage = storage
        self.settings = settings or Settings()
        self.policy = TargetPolicy.parse(self.settings.allowed_targets)
        self.metrics = metrics or default_metrics()
        self.healing = healing or HealingEngine(storage, metrics=self.metrics)
        self.spool = spool or Spool(self.settings.spool_dir)
        self.writer = writer or Writer(
            storage, self.spool, self.settings.batch_size, on_storage_error=self._storage_error
        )
        self.browser_factory = browser_factory or partial(
            open_browser, self.settings, source.politeness
        )
        self.parse_workers = parse_workers
        self.run_id = run_id or new_id()
        self.trigger = trigger
        st = source.state
        self.mode = st.effective_mode or ("browser" if source.mode == "browser" else "static")
        self.preferred = dict(st.selectors)
        self._fields_json = json.dumps(
            {k: v.model_dump(mode="json") for k, v in source.fields.items()}, sort_keys=True
        )
        self._rules_json = source.links.model_dump_json()
        self._hosts = tuple(sorted({urlsplit(str(u)).netloc for u in source.start_urls}))
        self.stats = {
            "pages_ok": 0,
            "pages_failed": 0,
            "pages_incomplete": 0,
            "errors_by_code": {},
            "healed": 0,
            "heal_failed": 0,
            "robots_denied": 0,
        }
        self._browser = None
        self._browser_cm = None
        self._browser_lock = asyncio.Lock()
        self._seen: set[str] = set()
        self._healed_fields: set[str] = set()
        self._state_changes: dict = {}
        self._storage_session_open = False
        self._flush_lock = asyncio.Lock()
        self.flush_interval = 5.0

    # --- helpers ---------------------------------------------------------------
    def _wait_selectors(self) -> list[str]:
        return [
            spec.selector
            for spec in self.source.fields.values()
            if spec.type == "css" and spec.required
        ]

    async def browser(self):
        async with self._browser_lock:
            if self._browser is None:
                self._browser_cm = self.browser_factory(self._wait_selectors())
                self._browser = await self._browser_cm.__aenter__()
            return self._browser

    def _storage_error(self, exc, n):
        self._count_error(ErrorCode.STORAGE)
        # spooled with the next flush, so the outage itself shows in /api/errors afterwards
        self.writer.add_doc(
            "error_logs",
            {
                "ts": now(),
                "source": self.source.name,
                "run_id": self.run_id,
                "url": None,
                "code": str(ErrorCode.STORAGE),
                "message": f"MongoDB write failed, {n} records spooled: {str(exc)[:300]}",
                "status": None,
                "mode": None,
            },
        )
        if not self._storage_session_open:
            # one healing session per outage: spool now, replay when MongoDB answers
            self._storage_session_open = True
            self._spool_session = self.healing.start(
                Diagnosis(
                    ErrorCode.STORAGE,
                    self.source.name,
                    storage_pattern(self.source.name),
                    message=str(exc),
                ),
                SPOOL,
                self.run_id,
            )

    def _count_error(self, code: ErrorCode):
        self.stats["errors_by_code"][str(code)] = self.stats["errors_by_code"].get(str(code), 0) + 1
        self.metrics.errors.labels(str(code)).inc()

    def _error(self, err: CrawlError, mode: str):
        self._count_error(err.code)
        self.writer.add_doc(
            "error_logs",
            {
                "ts": now(),
                "source": self.source.name,
                "run_id": self.run_id,
                "url": err.url,
                "code": str(err.code),
                "message": err.message,
                "status": err.status,
                "mode": mode,
            },
        )

    def _persist_state(self, **changes):
        self._state_changes.update(changes)
        if self.storage is None:
            return
        try:
            repository.update_source_state(self.storage, self.source.name, changes)
        except PyMongoError as exc:
            log.warning("cannot persist source state %s: %s", changes, exc)

    async def _flush(self):
        async with self._flush_lock:
            await asyncio.to_thread(self.writer.flush)
        if self._storage_session_open and not self.spool.files():
            self._storage_session_open = False
            self.healing.finish(
                self._spool_session, True, {"replayed": self.writer.stats["replayed"]}
            )

    # --- fetching with healing -------------------------------------------------
    async def _fetch(self, url: str, mode: str, retries: int | None = None):
        if mode == "browser":
            await check_navigation(self.policy, url)
            page = await (await self.browser()).fetch(url)
            if page.final_url != url:  # the browser followed a redirect: judge where it went
                await check_navigation(self.policy, page.final_url)
            return page
        return await self.static.fetch(url, retries)

    async def _process(self, text: str, url: str, follow: bool) -> dict:
        args = (
            text,
            url,
            self._fields_json,
            dict(self.preferred),
            follow,
            self._rules_json,
            self._hosts,
        )
        if self._pool is not None:
            return await asyncio.get_running_loop().run_in_executor(self._pool, process_page, *args)
        return process_page(*args)

    # --- one page --------------------------------------------------------------
    async def _page(self, url: str, depth: int, queue: asyncio.Queue):
        mode = self.mode
        follow = depth < self.source.links.max_depth
        try:
            if self.source.politeness.obey_robots and not await self.static.allowed(url):
                self.stats["robots_denied"] += 1
                return
            page = await self._fetch_healing(url, mode)
            res = await self._process(page.text, page.final_url or url, follow)
            if res["missing"] and res["blocked"]:
                err = CrawlError(
                    ErrorCode.BLOCKED,
                    "bot-check page instead of content",
                    url=url,
                    status=page.status,
                )
                self._error(err, page.mode)
                self.stats["pages_failed"] += 1
                self.metrics.pages.labels(page.mode, "blocked").inc()
                return
            if res["missing"]:
                page, res = await self._heal_selectors(url, page, res, follow)
            else:
                self._note_fallbacks(url, res)
            status = "ok" if not res["missing"] else "incomplete"
            self.metrics.pages.labels(page.mode, status).inc()
            self.stats["pages_ok" if status == "ok" else "pages_incomplete"] += 1
            fields = res["fields"]
            self.writer.add_result(
                {
                    "source": self.source.name,
                    "url": url,
                    "fields": fields,
                    "content_hash": content_hash(fields),
                    "status": status,
                    "fetched_at": now(),
                    "mode": page.mode,
                    "run_id": self.run_id,
                }
            )
            if self.writer.pending >= self.writer.batch_size and not self._flush_lock.locked():
                await self._flush()
            robots = self.source.politeness.obey_robots
            for link in res["links"]:
                if link in self._seen:
                    continue
                if robots and not await self.static.allowed(link):
                    self.stats["robots_denied"] += 1
                    continue
                self._enqueue(link, depth + 1, queue)
        except CrawlError as err:
            self.stats["pages_failed"] += 1
            self.metrics.pages.labels(mode, "error").inc()
            if err.code in (ErrorCode.PARSE,):
                self._error(err, mode)
        except Exception as exc:  # keep crawling; classify and record
            code = classify_exception(exc)
            log.exception("unexpected failure on %s", url)
            self.stats["pages_failed"] += 1
            self._error(CrawlError(code, f"{type(exc).__name__}: {exc}", url=url), mode)

    def _enqueue(self, url: str, depth: int, queue: asyncio.Queue):
        if url in self._seen or len(self._seen) >= self.source.links.max_pages:
            return
        self._seen.add(url)
        queue.put_nowait((url, depth))

    # --- the run ---------------------------------------------------------------
    async def run(self) -> dict:
        t0 = time.perf_counter()
        started = now()
        pol = self.source.politeness
        delay = pol.delay_seconds * max(1.0, self.source.state.delay_factor)
        # remember-first: selectors that healed this source before
        for case in self._known_selector_cases():
            self.preferred.setdefault(case["field"], case["selector"])
        run_doc = {
            "_id": self.run_id,
            "source": self.source.name,
            "started_at": started,
            "status": "running",
            "trigger": self.trigger,
            "mode": self.mode,
        }
        if self.storage is not None:
            try:
                self.storage.ensure_indexes()
                repository.save_run(self.storage, run_doc)
            except PyMongoError as exc:
                log.warning("MongoDB unavailable at run start (%s); results will be spooled", exc)
        queue: asyncio.Queue = asyncio.Queue()
        for u in self.source.start_urls:
            n = normalize_url(str(u))
            if n:
                self._enqueue(n, 0, queue)
        concurrency = pol.concurrency_per_domain
        if self.source.state.concurrency_cap:
            concurrency = min(concurrency, self.source.state.concurrency_cap)
        workers_n = max(1, concurrency * len(self._hosts))
        self._pool = ProcessPoolExecutor(self.parse_workers) if self.parse_workers > 0 else None
        try:
            async with StaticFetcher(
                concurrency_per_domain=concurrency,
                delay=delay,
                timeout=pol.timeout_seconds,
                max_retries=pol.max_retries,
                user_agent=pol.user_agent,
                obey_robots=pol.obey_robots,
                max_body_bytes=self.settings.max_body_bytes,
                max_crawl_delay=self.settings.max_crawl_delay,
                policy=self.policy,
            ) as static:
                self.static = static

                async def worker():
                    while True:
                        url, depth = await queue.get()
                        try:
                            await self._page(url, depth, queue)
                        finally:
                            queue.task_done()

                async def flusher():
                    # errors and small batches reach MongoDB (and /api/errors) while a long run goes on
                    while True:
                        await asyncio.sleep(self.flush_interval)
                        await self._flush()

                tasks = [asyncio.create_task(worker()) for _ in range(workers_n)]
                tasks.append(asyncio.create_task(flusher()))
                await queue.join()
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            if self._pool is not None:
                self._pool.shutdown(cancel_futures=True)
            if self._browser_cm is not None:
                await self._browser_cm.__aexit__(None, None, None)
        if (
            not any(self.stats["errors_by_code"].get(str(c)) for c in SLOWED_DOWN_BY)
            and self.source.state.delay_factor > 1
        ):
            self._persist_state(delay_factor=max(1.0, self.source.state.delay_factor / 2))
        duration = time.perf_counter() - t0
        self.metrics.duration.labels(self.source.name).observe(duration)
        total = self.stats["pages_ok"] + self.stats["pages_failed"] + self.stats["pages_incomplete"]
        status = (
            "ok"
            if not self.stats["pages_failed"] and not self.stats["pages_incomplete"]
            else ("failed" if total and self.stats["pages_ok"] == 0 else "partial")
        )
        for doc in self.healing.take_pending():
            self.writer.add_doc("healing_sessions", doc)
        run_doc.update(
            {
                "finished_at": now(),
                "duration_seconds": round(duration, 3),
                "status": status,
                "mode": self.mode,
                "pages_total": total,
                **self.stats,
                "storage": dict(self.writer.stats),
            }
        )
        self.writer.add_doc("crawl_runs", run_doc)
        await self._flush()
        run_doc["storage"] = dict(self.writer.stats)
        run_doc["spool_records"] = self.spool.size()
        self.metrics.spool.set(run_doc["spool_records"])
        return run_doc


def crawl_source(
    source: Source, storage: Storage | None, settings: Settings | None = None, **kw
) -> dict:
    return asyncio.run(Crawler(source, storage, settings, **kw).run())
