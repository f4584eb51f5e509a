"""The named queries of the crawler's MongoDB collections, over storage.py.

Every read and every single-document write of the API, the CLI, the DAG
helpers, the monitoring and the healing engine goes through a function here,
so a collection's query shapes (filters, sort orders, projections) and the
indexes in Storage.ensure_indexes can be checked against each other in one
file. Batched and spooled writes stay in storage.py (Storage, Writer).

Every function raises PyMongoError when MongoDB does not answer; the callers
decide whether that is an error (API: 503) or a reason to spool."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from pymongo import DESCENDING

from crawler.storage import Storage


def _match(**equal) -> dict:
    """The equality filters that are set: a None or empty value filters nothing."""
    return {k: v for k, v in equal.items() if v}


# --- sources (_id is the source name) ------------------------------------------


def all_sources(storage: Storage) -> list[dict]:
    return list(storage.db.sources.find().sort("_id"))


def enabled_sources(storage: Storage) -> list[dict]:
    return list(storage.db.sources.find({"enabled": {"$ne": False}}).sort("_id"))


def sources_by_name(storage: Storage) -> dict[str, dict]:
    return {d["_id"]: d for d in storage.db.sources.find()}


def source_modes(storage: Storage) -> dict[str, dict]:
    """Per source: only what the health report needs (mode, enabled, state)."""
    return {d["_id"]: d for d in storage.db.sources.find({}, {"mode": 1, "enabled": 1, "state": 1})}


def get_source(storage: Storage, name: str) -> dict | None:
    return storage.db.sources.find_one({"_id": name})


def insert_source(storage: Storage, doc: dict) -> None:
    """Raises DuplicateKeyError when the name is taken."""
    storage.db.sources.insert_one(doc)


def save_source(storage: Storage, name: str, doc: dict, *, upsert: bool = True) -> None:
    storage.db.sources.replace_one({"_id": name}, doc, upsert=upsert)


def delete_source(storage: Storage, name: str) -> bool:
    """True when there was a source to delete."""
    return storage.db.sources.delete_one({"_id": name}).deleted_count > 0


def update_source_state(storage: Storage, name: str, changes: dict) -> None:
    """Set some keys of a source's state (what self-healing learnt) in place."""
    storage.check_writable()  # during a restore: WritesPaused, handled as MongoDB away
    storage.db.sources.update_one(
        {"_id": name}, {"$set": {f"state.{k}": v for k, v in changes.items()}}
    )


# --- crawl runs ----------------------------------------------------------------


def save_run(storage: Storage, run_doc: dict) -> None:
    storage.check_writable()  # during a restore: WritesPaused, handled as MongoDB away
    storage.db.crawl_runs.replace_one({"_id": run_doc["_id"]}, run_doc, upsert=True)


def recent_runs(storage: Storage, source: str | None, limit: int) -> list[dict]:
    q = _match(source=source)
    return list(storage.db.crawl_runs.find(q).sort("started_at", DESCENDING).limit(limit))


def finished_runs_since(storage: Storage, since: datetime) -> list[dict]:
    return list(
        storage.db.crawl_runs.find({"started_at": {"$gte": since}, "status": {"$ne": "running"}})
    )


def last_run(storage: Storage, source: str) -> dict | None:
    return storage.db.crawl_runs.find_one({"source": source}, sort=[("started_at", DESCENDING)])


# --- crawl results -------------------------------------------------------------


def results_page(
    storage: Storage,
    *,
    source: str | None,
    status: str | None,
    since: datetime | None,
    url_contains: str | None,
    page: int,
    page_size: int,
) -> tuple[int, list[dict]]:
    """(total matching, the page's documents), newest first."""
    q = _match(source=source, status=status)
    if since:
        q["fetched_at"] = {"$gte": since}
    if url_contains:
        q["url"] = {"$regex": re.escape(url_contains)}
    total = storage.db.crawl_results.count_documents(q)
    docs = list(
        storage.db.crawl_results.find(q)
        .sort([("fetched_at", DESCENDING), ("_id", DESCENDING)])
        .skip((page - 1) * page_size)
        .limit(page_size)
    )
    return total, docs


def result_urls_of_run(storage: Storage, run_id: str) -> set[str]:
    return {d["url"] for d in storage.db.crawl_results.find({"run_id": run_id}, {"url": 1})}


# --- error logs ----------------------------------------------------------------


def recent_errors(
    storage: Storage,
    *,
    source: str | None = None,
    code: str | None = None,
    since: datetime | None = None,
    limit: int,
) -> list[dict]:
    """Newest first."""
    q = _match(source=source, code=code)
    if since:
        q["ts"] = {"$gte": since}
    return list(storage.db.error_logs.find(q).sort("ts", DESCENDING).limit(limit))


def failed_urls_of_run(storage: Storage, run_id: str, codes: Iterable[str]) -> set[str]:
    """The URLs of a run that failed with one of these codes."""
    return {
        e["url"]
        for e in storage.db.error_logs.find(
            {"run_id": run_id, "code": {"$in": list(codes)}, "url": {"$ne": None}}
        )
    }


# --- healing sessions ----------------------------------------------------------


def healing_sessions(
    storage: Storage, *, status: str | None, source: str | None, limit: int
) -> list[dict]:
    q = _match(status=status, source=source)
    return list(storage.db.healing_sessions.find(q).sort("started_at", DESCENDING).limit(limit))


def active_healing_sessions(storage: Storage, limit: int = 50) -> list[dict]:
    return list(
        storage.db.healing_sessions.find({"status": "active"})
        .sort("started_at", DESCENDING)
        .limit(limit)
    )


def healing_outcomes_since(storage: Storage, since: datetime) -> list[dict]:
    return list(
        storage.db.healing_sessions.find(
            {"started_at": {"$gte": since}}, {"outcome": 1, "remedy": 1}
        )
    )


def save_healing_session(storage: Storage, doc: dict) -> None:
    storage.check_writable()  # during a restore: WritesPaused, handled as MongoDB away
    storage.db.healing_sessions.replace_one({"_id": doc["_id"]}, doc, upsert=True)


# --- well-known cases (what healed which error pattern) -----------------------


def wellknown_cases(storage: Storage, pattern: str) -> list[dict]:
    return list(storage.db.wellknown_cases.find({"pattern": pattern}))


def update_wellknown_case(storage: Storage, pattern: str, update: dict) -> None:
    storage.check_writable()  # during a restore: WritesPaused, handled as MongoDB away
    storage.db.wellknown_cases.update_one({"pattern": pattern}, update, upsert=True)
