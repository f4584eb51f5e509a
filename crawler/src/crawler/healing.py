"""Self-healing rule engine.

A failure is diagnosed by its stable code (crawler.errors) and an error
pattern (code + source + detail). Remedies are tried in this order: the ones
that worked before for the same pattern (wellknown_cases, best score first),
then the rule table below. Every attempt becomes a healing session
(diagnosis, remedy, outcome).

Extension point: an Advisor turns a Diagnosis into an ordered list of remedy
names. RuleAdvisor is the built-in one; set CRAWLER_ADVISOR=module:Class to
append another (for example a client for an AI service, which this network
cannot reach) without touching the engine."""

from __future__ import annotations

import importlib
import logging
import os
from dataclasses import dataclass, field
from typing import Protocol

from pymongo.errors import PyMongoError

from crawler import repository
from crawler.errors import ErrorCode
from crawler.storage import Storage, new_id, now

log = logging.getLogger(__name__)

RETRY = "retry_with_backoff"
SLOW_DOWN = "slow_down"
FALLBACK_SELECTOR = "fallback_selector"
SWITCH_TO_BROWSER = "switch_to_browser"
WAIT_FOR_GRID = "wait_for_grid"
SPOOL = "spool_and_replay"

RULES: dict[ErrorCode, list[str]] = {
    ErrorCode.CONNECTION: [RETRY],
    ErrorCode.TIMEOUT: [RETRY],
    ErrorCode.SERVER_ERROR: [RETRY],
    ErrorCode.BLOCKED: [SLOW_DOWN],
    ErrorCode.RATE_LIMITED: [SLOW_DOWN],
    ErrorCode.SELECTOR_ROT: [FALLBACK_SELECTOR, SWITCH_TO_BROWSER],
    ErrorCode.BROWSER: [WAIT_FOR_GRID],
    ErrorCode.STORAGE: [SPOOL],
}

# A failed fetch is healed inside the run when its code has a rule; E006 and
# E009 are not fetch failures (they are healed by the selector and the spool
# paths), so they never start a fetch remedy.
_NOT_FETCH_FAILURES = (ErrorCode.SELECTOR_ROT, ErrorCode.STORAGE)

# What the heal task re-crawls after a run: the failures a later attempt can
# cure. E003 is left out on purpose: a site that blocks us is not asked again
# at once.
RETRY_AFTER_RUN: tuple[ErrorCode, ...] = (
    ErrorCode.CONNECTION,
    ErrorCode.TIMEOUT,
    ErrorCode.RATE_LIMITED,
    ErrorCode.SERVER_ERROR,
    ErrorCode.BROWSER,
)

# The codes whose remedy slows the source down; a run without them lets the
# slow-down relax again.
SLOWED_DOWN_BY: tuple[ErrorCode, ...] = tuple(c for c, r in RULES.items() if SLOW_DOWN in r)


def fetch_remedy(code: ErrorCode) -> str | None:
    """The rule-table remedy for a failed fetch, None when it is not healed."""
    if code in _NOT_FETCH_FAILURES or code not in RULES:
        return None
    return RULES[code][0]


# Error patterns: the key under which a failure and the remedy that cured it
# are remembered (wellknown_cases), so the same spelling everywhere matters.
def fetch_pattern(code: ErrorCode, source: str, host: str) -> str:
    return f"{code}|{source}|{host}"


def selector_pattern(source: str, field_name: str, selector: str) -> str:
    return f"{ErrorCode.SELECTOR_ROT}|{source}|{field_name}|{selector}"


def mode_pattern(source: str) -> str:
    return f"{ErrorCode.SELECTOR_ROT}|{source}|mode"


def storage_pattern(source: str) -> str:
    return f"{ErrorCode.STORAGE}|{source}"


@dataclass
class Diagnosis:
    code: ErrorCode
    source: str
    pattern: str
    url: str | None = None
    message: str = ""
    details: dict = field(default_factory=dict)


class Advisor(Protocol):
    def suggest(self, diagnosis: Diagnosis) -> list[str]: ...


class RuleAdvisor:
    def suggest(self, diagnosis: Diagnosis) -> list[str]:
        return list(RULES.get(diagnosis.code, []))


def load_advisors() -> list[Advisor]:
    advisors: list[Advisor] = [RuleAdvisor()]
    spec = os.environ.get("CRAWLER_ADVISOR")
    if spec:
        mod, _, cls = spec.partition(":")
        advisors.append(getattr(importlib.import_module(mod), cls)())
    return advisors


class HealingEngine:
    def __init__(
        self, storage: Storage | None, advisors: list[Advisor] | None = None, metrics=None
    ):
        self.storage = storage
        self.advisors = advisors if advisors is not None else load_advisors()
        self.metrics = metrics
        self.sessions: list[dict] = []  # this process's sessions, also when MongoDB is away
        self._pending: set[str] = set()  # ids of sessions MongoDB refused; the crawl spools them

    # --- memory ----------------------------------------------------------------
    def known_remedies(self, pattern: str) -> list[dict]:
        if self.storage is None:
            return []
        try:
            cases = repository.wellknown_cases(self.storage, pattern)
        except PyMongoError:
            return []
        cases.sort(
            key=lambda c: c.get("success_count", 0) - c.get("failure_count", 0), reverse=True
        )
        return [c for c in cases if c.get("success_count", 0) > c.get("failure_count", 0)]

    def plan(self, diagnosis: Diagnosis) -> list[str]:
        order: list[str] = [c["remedy"] for c in self.known_remedies(diagnosis.pattern)]
        for adv in self.advisors:
            for remedy in adv.suggest(diagnosis):
                if remedy not in order:
                    order.append(remedy)
        return order

    def remember(self, pattern: str, remedy: str, success: bool, value: dict | None = None) -> None:
        if self.storage is None:
            return
        inc = {"success_count": 1} if success else {"failure_count": 1}
        update: dict = {
            "$inc": inc,
            "$set": {"remedy": remedy, "updated_at": now()},
            "$setOnInsert": {"created_at": now()},
        }
        if success and value:
            update["$set"]["value"] = value
        try:
            repository.update_wellknown_case(self.storage, pattern, update)
        except PyMongoError as exc:
            log.warning("cannot update wellknown_cases: %s", exc)

    # --- sessions --------------------------------------------------------------
    def start(self, diagnosis: Diagnosis, remedy: str, run_id: str | None = None) -> dict:
        doc = {
            "_id": new_id(),
            "source": diagnosis.source,
            "run_id": run_id,
            "code": str(diagnosis.code),
            "pattern": diagnosis.pattern,
            "url": diagnosis.url,
            "diagnosis": {
                "code": str(diagnosis.code),
                "message": diagnosis.message,
                **diagnosis.details,
            },
            "remedy": remedy,
            "status": "active",
            "outcome": None,
            "started_at": now(),
            "finished_at": None,
        }
        self.sessions.append(doc)
        self._save(doc)
        return doc

    def finish(
        self,
        session: dict,
        success: bool,
        details: dict | None = None,
        remember_value: dict | None = None,
    ):
        session.update(
            {
                "status": "finished",
                "outcome": "success" if success else "failure",
                "finished_at": now(),
                "result": details or {},
            }
        )
        self._save(session)
        if self.metrics:
            self.metrics.healing.labels(session["remedy"], session["outcome"]).inc()
        self.remember(session["pattern"], session["remedy"], success, remember_value)

    def take_pending(self) -> list[dict]:
        """Latest state of every session MongoDB did not take, for the spool."""
        docs = [dict(s) for s in self.sessions if s["_id"] in self._pending]
        self._pending.clear()
        return docs

    def _save(self, doc: dict) -> None:
        if self.storage is None:
            return
        try:
            repository.save_healing_session(self.storage, doc)
        except PyMongoError as exc:
            log.warning("cannot save healing session %s: %s", doc["_id"], exc)
            self._pending.add(doc["_id"])
            return
        self._pending.discard(doc["_id"])

    def record(
        self,
        diagnosis: Diagnosis,
        remedy: str,
        success: bool,
        run_id: str | None = None,
        details: dict | None = None,
        remember_value: dict | None = None,
    ) -> dict:
        s = self.start(diagnosis, remedy, run_id)
        self.finish(s, success, details, remember_value)
        return s
