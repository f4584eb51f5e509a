"""The remedies a crawl run applies while it runs: retry, slow down or wait for
the Grid after a failed fetch, fallback selectors, and the switch to the
browser when a page needs JavaScript. What to try comes from the healing
engine (crawler.healing); this is how a run carries it out."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from crawler.errors import CrawlError, ErrorCode
from crawler.fetch.static import backoff_delay
from crawler.healing import (
    FALLBACK_SELECTOR,
    SLOW_DOWN,
    SWITCH_TO_BROWSER,
    WAIT_FOR_GRID,
    Diagnosis,
    fetch_pattern,
    fetch_remedy,
    mode_pattern,
    selector_pattern,
)


class CrawlHealing:
    """Mixed into Crawler: uses its source, stats, healing engine, fetchers
    (_fetch, _process) and its records (_error, _persist_state)."""

    async def _fetch_healing(self, url: str, mode: str):
        try:
            return await self._fetch(url, mode)
        except CrawlError as err:
            err.url = err.url or url
            self._error(err, mode)
            remedy = fetch_remedy(err.code)
            if remedy is None:
                raise
            diag = Diagnosis(
                err.code,
                self.source.name,
                fetch_pattern(err.code, self.source.name, urlsplit(url).netloc),
                url=url,
                message=err.message,
                details={"status": err.status},
            )
            plan = self.healing.plan(diag)
            remedy = plan[0] if plan else remedy
            session = self.healing.start(diag, remedy, self.run_id)
            try:
                if remedy == SLOW_DOWN:
                    gate = self.static.gate(urlsplit(url).netloc)
                    new_delay = min(60.0, max(1.0, gate.delay * 2, err.retry_after or 0))
                    gate.slow_down(new_delay)
                    factor = min(64.0, self.source.state.delay_factor * 2)
                    self.source.state.delay_factor = factor
                    self._persist_state(delay_factor=factor)
                    await asyncio.sleep(min(new_delay, 60.0))
                elif remedy == WAIT_FOR_GRID and mode == "browser":
                    br = await self.browser()
                    if hasattr(br, "grid"):
                        await asyncio.to_thread(br.grid.wait_for_capacity, 1, 60.0)
                else:
                    await asyncio.sleep(backoff_delay(self.source.politeness.max_retries + 1))
                page = await self._fetch(url, mode, retries=0)
            except CrawlError as err2:
                self.healing.finish(
                    session, False, {"code": str(err2.code), "message": err2.message}
                )
                self.stats["heal_failed"] += 1
                err2.url = err2.url or url
                raise err2 from err
            self.healing.finish(session, True, {"status": page.status})
            self.stats["healed"] += 1
            return page

    def _note_fallbacks(self, url: str, res: dict):
        for name, used in res["used"].items():
            spec = self.source.fields[name]
            if (
                used != spec.selector
                and self.preferred.get(name) != used
                and name not in self._healed_fields
            ):
                self._healed_fields.add(name)
                self.preferred[name] = used
                diag = Diagnosis(
                    ErrorCode.SELECTOR_ROT,
                    self.source.name,
                    selector_pattern(self.source.name, name, spec.selector),
                    url=url,
                    message=f"primary selector {spec.selector!r} matched nothing",
                    details={"field": name},
                )
                self.healing.record(
                    diag,
                    FALLBACK_SELECTOR,
                    True,
                    self.run_id,
                    {"selector": used},
                    remember_value={"field": name, "selector": used},
                )
                self.stats["healed"] += 1
                self._persist_state(selectors=dict(self.preferred))

    async def _heal_selectors(self, url: str, page, res: dict, follow: bool):
        """E006: fallbacks were already tried by extract(); next is the browser
        when the page evidently needs JavaScript (auto mode, or any static
        source whose markup is rendered client-side)."""
        missing = ", ".join(res["missing"])
        diag = Diagnosis(
            ErrorCode.SELECTOR_ROT,
            self.source.name,
            mode_pattern(self.source.name),
            url=url,
            message=f"required field(s) empty: {missing}",
            details={"fields": res["missing"]},
        )
        if page.mode == "static" and res["needs_js"] and self.source.mode in ("auto", "static"):
            session = self.healing.start(diag, SWITCH_TO_BROWSER, self.run_id)
            try:
                bpage = await self._fetch(url, "browser")
                bres = await self._process(bpage.text, bpage.final_url or url, follow)
            except CrawlError as err:
                self._error(err, "browser")
                self.healing.finish(session, False, {"code": str(err.code), "message": err.message})
                self.stats["heal_failed"] += 1
            else:
                if not bres["missing"]:
                    self.healing.finish(
                        session, True, {"mode": "browser"}, remember_value={"mode": "browser"}
                    )
                    self.stats["healed"] += 1
                    if self.mode != "browser":
                        self.mode = "browser"
                        self.source.state.effective_mode = "browser"
                        self._persist_state(effective_mode="browser")
                    self._note_fallbacks(url, bres)
                    return bpage, bres
                self.healing.finish(session, False, {"missing": bres["missing"]})
                self.stats["heal_failed"] += 1
                page, res = bpage, bres
        self._error(
            CrawlError(
                ErrorCode.SELECTOR_ROT,
                f"required field(s) empty: {missing}",
                url=url,
                status=page.status,
            ),
            page.mode,
        )
        for name in res["missing"]:
            spec = self.source.fields[name]
            if spec.fallbacks:
                self.healing.remember(
                    selector_pattern(self.source.name, name, spec.selector),
                    FALLBACK_SELECTOR,
                    False,
                )
        return page, res

    def _known_selector_cases(self) -> list[dict]:
        if self.storage is None:
            return []
        out = []
        for name, spec in self.source.fields.items():
            for case in self.healing.known_remedies(
                selector_pattern(self.source.name, name, spec.selector)
            ):
                value = case.get("value") or {}
                if case.get("remedy") == FALLBACK_SELECTOR and value.get("selector"):
                    out.append({"field": name, "selector": value["selector"]})
        return out
