"""MongoDB storage (pymongo) with batched writes and a durable local spool.

Every write here is idempotent (upsert by natural key or by a client-made
_id), so replaying the spool after an outage never duplicates anything."""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from datetime import UTC, datetime

import bson
from pymongo import ASCENDING, DESCENDING, MongoClient, ReplaceOne, UpdateOne
from pymongo.errors import BulkWriteError, PyMongoError

from crawler._backup_engine.marker import describe, restore_in_progress
from crawler.spool import Spool  # Writer spools into it; callers import it from here too

log = logging.getLogger(__name__)

COLLECTIONS = (
    "sources",
    "crawl_results",
    "crawl_runs",
    "error_logs",
    "healing_sessions",
    "wellknown_cases",
)


# MongoDB refuses a document over 16 MiB; a result's fields are cut well below
# that, so the rest of the document (URL, hash, status) always fits.
MAX_FIELDS_BYTES = 15 * 1024 * 1024


def fit_result(r: dict, limit: int = MAX_FIELDS_BYTES) -> dict:
    """The result as it can be stored: when its fields are too large for one
    MongoDB document, it is kept without their values (flagged `oversized`,
    with the names and the size that were left out) instead of being lost."""
    size = len(bson.encode({"f": r.get("fields") or {}}))
    if size <= limit:
        return r
    return {
        **r,
        "fields": {},
        "oversized": {"fields_bytes": size, "dropped_fields": sorted(r.get("fields") or {})},
    }


def now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


class WritesPaused(PyMongoError):
    """A restore is replacing the data: writes wait in the spool until it ends.

    A PyMongoError on purpose: every write path of a crawl already handles
    "MongoDB cannot take this now" (spool, pending healing sessions, a run
    document written at the end), and a restore is exactly that for a while."""


class Storage:
    def __init__(self, uri: str, db: str = "crawler", timeout_ms: int = 3000, backup_dir=None):
        self.client = MongoClient(
            uri,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            socketTimeoutMS=max(timeout_ms * 5, 10000),
            tz_aware=True,
        )
        self.db = self.client[db]
        self._indexed = False
        # Where a restore stands its .restore-in-progress marker (the shared
        # backup volume; Settings.backup_dir has the same default).
        self.backup_dir = str(backup_dir or os.environ.get("BACKUP_DIR", "/data/backups"))

    def check_writable(self) -> None:
        """Raise WritesPaused while a restore runs: a write now would land in
        a half-restored database. Writer spools the batch instead."""
        info = restore_in_progress(self.backup_dir)
        if info is not None:
            raise WritesPaused(f"writes paused: {describe(info)} is in progress")

    def __getattr__(self, name: str):
        if name in COLLECTIONS:
            return self.db[name]
        raise AttributeError(name)

    def ping(self) -> float:
        t0 = time.perf_counter()
        self.client.admin.command("ping")
        return time.perf_counter() - t0

    def ensure_indexes(self) -> None:
        """Idempotent: create_index is a no-op when the index exists."""
        if self._indexed:
            return
        db = self.db
        db.crawl_results.create_index(
            [("source", ASCENDING), ("url", ASCENDING)], unique=True, name="source_url"
        )
        db.crawl_results.create_index(
            [("source", ASCENDING), ("fetched_at", DESCENDING)], name="source_fetched"
        )
        db.crawl_runs.create_index(
            [("source", ASCENDING), ("started_at", DESCENDING)], name="source_started"
        )
        db.error_logs.create_index([("ts", DESCENDING)], name="ts")
        db.error_logs.create_index([("source", ASCENDING), ("ts", DESCENDING)], name="source_ts")
        db.error_logs.create_index([("code", ASCENDING), ("ts", DESCENDING)], name="code_ts")
        db.healing_sessions.create_index(
            [("source", ASCENDING), ("started_at", DESCENDING)], name="source_started"
        )
        db.healing_sessions.create_index([("status", ASCENDING)], name="status")
        db.wellknown_cases.create_index([("pattern", ASCENDING)], unique=True, name="pattern")
        self._indexed = True

    # --- writes (raise PyMongoError; callers spool) -------------------------
    def write_results(self, results: list[dict]) -> dict:
        """Upsert by (source, url). A new version only when content_hash changes.

        Insert first: on a first crawl every page is new and a bulk insert is
        far cheaper than upserts (FerretDB scans on update); the unique index
        turns the known URLs into duplicate-key errors, which then take the
        update path."""
        self.check_writable()
        stats = {"new": 0, "changed": 0, "unchanged": 0}
        by_source: dict[str, list[dict]] = {}
        for r in results:
            by_source.setdefault(r["source"], []).append(fit_result(r))
        for source, items in by_source.items():
            latest = {r["url"]: r for r in items}  # last write wins inside one batch
            inserts = [
                {
                    "source": source,
                    "url": url,
                    **self._base(r),
                    "content_hash": r["content_hash"],
                    "fields": r["fields"],
                    "changed_at": r["fetched_at"],
                    "first_seen": r["fetched_at"],
                    "version": 1,
                }
                for url, r in latest.items()
            ]
            known: list[str] = []
            try:
                self.db.crawl_results.insert_many(inserts, ordered=False)
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors", [])
                if any(e.get("code") != 11000 for e in errors):
                    raise
                known = [inserts[e["index"]]["url"] for e in errors]
            stats["new"] += len(inserts) - len(known)
            if not known:
                continue
            existing = {
                d["url"]: d.get("content_hash")
                for d in self.db.crawl_results.find(
                    {"source": source, "url": {"$in": known}}, {"url": 1, "content_hash": 1}
                )
            }
            ops = []
            for url in known:
                r = latest[url]
                if existing.get(url) != r["content_hash"]:
                    stats["changed"] += 1
                    ops.append(self._change_op(source, url, existing.get(url), r, self._base(r)))
                else:
                    stats["unchanged"] += 1
                    ops.append(UpdateOne({"source": source, "url": url}, {"$set": self._base(r)}))
            self.db.crawl_results.bulk_write(ops, ordered=False)
        return stats

    @staticmethod
    def _base(r: dict) -> dict:
        return {
            "status": r.get("status"),
            "fetched_at": r["fetched_at"],
            "mode": r.get("mode"),
            "run_id": r.get("run_id"),
            "oversized": r.get("oversized"),
        }

    @staticmethod
    def _change_op(source: str, url: str, old_hash: str, r: dict, base: dict) -> UpdateOne:
        return UpdateOne(
            {"source": source, "url": url, "content_hash": old_hash},
            {
                "$set": {
                    **base,
                    "content_hash": r["content_hash"],
                    "fields": r["fields"],
                    "changed_at": r["fetched_at"],
                },
                "$inc": {"version": 1},
            },
        )

    def write_docs(self, collection: str, docs: list[dict]) -> None:
        """Insert-or-replace by _id, so a replayed document lands once."""
        self.check_writable()
        # the last copy of a document wins (a session saved twice, spooled twice)
        docs = list({d["_id"]: d for d in docs}.values())
        if docs:
            self.db[collection].bulk_write(
                [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in docs], ordered=False
            )


class Writer:
    """Batches results and log documents; when a batch cannot be written, for
    whatever reason, spools it and replays the spool as soon as a later write
    succeeds. When even the spool cannot be written (disk full), the batch
    stays in memory for the next flush."""

    def __init__(
        self, storage: Storage, spool: Spool, batch_size: int = 200, on_storage_error=None
    ):
        self.storage = storage
        self.spool = spool
        self.batch_size = batch_size
        self.on_storage_error = on_storage_error
        self._results: list[dict] = []
        self._docs: dict[str, list[dict]] = {}
        self.stats = {"new": 0, "changed": 0, "unchanged": 0, "spooled": 0, "replayed": 0}
        self.storage_failures = 0
        # the crawler adds from the event loop and flushes from a worker thread
        self._lock = threading.Lock()
        self._flush_mutex = threading.Lock()

    @property
    def pending(self) -> int:
        return len(self._results)

    def add_result(self, doc: dict) -> None:
        with self._lock:
            self._results.append(doc)

    def add_doc(self, collection: str, doc: dict) -> None:
        doc.setdefault("_id", new_id())
        with self._lock:
            self._docs.setdefault(collection, []).append(doc)

    def flush(self) -> bool:
        with self._flush_mutex:
            return self._flush()

    def _flush(self) -> bool:
        with self._lock:
            results, self._results = self._results, []
            docs, self._docs = self._docs, {}
        try:
            if self.spool.files():
                self.stats["replayed"] += self.spool.replay(self.storage)
            if results:
                for k, v in self.storage.write_results(results).items():
                    self.stats[k] += v
            for coll, items in docs.items():
                self.storage.write_docs(coll, items)
            return True
        except Exception as exc:  # not only PyMongoError: a batch is never dropped
            paused = isinstance(exc, WritesPaused)  # a restore runs: waiting, not failing
            if not paused:
                self.storage_failures += 1
            try:
                n = self.spool.append("result", results)
                for coll, items in docs.items():
                    n += self.spool.append(coll, items)
            except OSError as spool_exc:
                # Spool files are append-only and replays idempotent, so a
                # partial append followed by a retry of the whole batch is safe.
                self._requeue(results, docs)
                log.error(
                    "E009 write failed (%s) and the spool too (%s): %d results kept in memory",
                    exc,
                    spool_exc,
                    len(results),
                )
                return False
            self.stats["spooled"] += n
            if paused:
                log.info("%s: spooled %d records, written after it", exc, n)
                return False
            log.warning("E009 MongoDB write failed, spooled %d records: %s", n, exc)
            if self.on_storage_error:
                self.on_storage_error(exc, n)
            return False

    def _requeue(self, results: list[dict], docs: dict[str, list[dict]]) -> None:
        with self._lock:
            self._results[:0] = results
            for coll, items in docs.items():
                self._docs.setdefault(coll, [])[:0] = items
