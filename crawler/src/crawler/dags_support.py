"""What the Airflow DAGs call. Kept out of the DAG files so that they stay
thin, import fast in the DagBag, and the logic is tested without Airflow."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from datetime import datetime
from pathlib import Path

from pymongo.errors import PyMongoError

from crawler import repository
from crawler.config import Settings
from crawler.healing import RETRY_AFTER_RUN
from crawler.models import Source, load_sources_yaml
from crawler.storage import Spool, Storage

log = logging.getLogger(__name__)


def _cache_path() -> Path:
    return Path(os.environ.get("CRAWLER_DAG_SOURCES_CACHE", "/tmp/acs-crawler-sources.json"))  # noqa: S108


def load_sources_for_dags(settings: Settings | None = None) -> list[Source]:
    """Enabled sources from MongoDB. When MongoDB does not answer within a
    second, the last list seen (cache file) keeps the DAGs in place instead of
    making them vanish on a blip; without a cache, the YAML sources file."""
    settings = settings or Settings()
    try:
        st = Storage(
            settings.mongo_uri, settings.mongo_db, timeout_ms=1000, backup_dir=settings.backup_dir
        )
        try:
            docs = repository.enabled_sources(st)
        finally:
            st.client.close()
        sources = []
        for d in docs:
            try:
                sources.append(Source.from_doc(d))
            except ValueError as exc:  # one bad document must not hide every other DAG
                log.error("source %s is invalid, no DAG for it: %s", d.get("_id"), exc)
        with contextlib.suppress(OSError):  # a read-only cache only costs the fallback
            _cache_path().write_text(json.dumps([s.model_dump(mode="json") for s in sources]))
        return sources
    except PyMongoError as exc:
        log.warning("MongoDB unavailable while parsing DAGs (%s)", exc)
    cache = _cache_path()
    if cache.is_file():
        return [Source.model_validate(d) for d in json.loads(cache.read_text())]
    if settings.sources_file and settings.sources_file.is_file():
        return [
            Source(**s.model_dump())
            for s in load_sources_yaml(settings.sources_file.read_text())
            if s.enabled
        ]
    return []


def airflow_schedule(source: Source) -> str | None:
    if source.schedule in (None, "@once", "@continuous"):
        return source.schedule
    return source.schedule


def crawl(source_name: str, run_id: str | None = None, settings: Settings | None = None) -> dict:
    from crawler.engine import crawl_source

    settings = settings or Settings()
    st = Storage(settings.mongo_uri, settings.mongo_db, backup_dir=settings.backup_dir)
    doc = repository.get_source(st, source_name)
    if doc is None:
        raise ValueError(
            f"source {source_name!r} not found in MongoDB (deleted after the DAG was parsed?)"
        )
    result = crawl_source(Source.from_doc(doc), st, settings, run_id=run_id, trigger="airflow")
    return json.loads(json.dumps(result, default=str))


def needs_healing(stats: dict) -> bool:
    return bool(stats.get("pages_failed") or stats.get("spool_records"))


def heal(stats: dict, settings: Settings | None = None) -> dict:
    """After a run with failures: replay the spool (E009), then re-crawl once
    the pages that failed with a code a later attempt can cure
    (healing.RETRY_AFTER_RUN),
    with the slowed-down politeness the run has recorded."""
    from crawler.engine import crawl_source

    settings = settings or Settings()
    st = Storage(settings.mongo_uri, settings.mongo_db, backup_dir=settings.backup_dir)
    out = {"replayed": 0, "retried": 0, "recovered": 0}
    out["replayed"] = Spool(settings.spool_dir).replay(st)
    failed = sorted(
        repository.failed_urls_of_run(st, stats["_id"], [str(c) for c in RETRY_AFTER_RUN])
    )
    ok_urls = repository.result_urls_of_run(st, stats["_id"])
    failed = [u for u in failed if u not in ok_urls]
    if failed:
        src = Source.from_doc(repository.get_source(st, stats["source"]))
        src.start_urls = failed
        src.links.max_depth = 0
        res = crawl_source(src, st, settings, trigger="airflow-heal")
        out.update(retried=len(failed), recovered=res["pages_ok"], heal_run_id=res["_id"])
    return out


def push_metrics(stats: dict, settings: Settings | None = None) -> bool:
    from crawler.metrics import push_run_metrics

    settings = settings or Settings()
    if not settings.pushgateway_url:
        log.info("PUSHGATEWAY_URL not set: metrics not pushed")
        return False
    push_run_metrics(settings.pushgateway_url, stats["source"], stats)
    return True


def backup(label: str = "scheduled", settings: Settings | None = None) -> dict:
    from crawler import backup as engine

    settings = settings or Settings()
    # The scheduled backup waits its turn behind an operator's backup or restore.
    opts = {
        "lock_timeout": max(settings.backup_lock_timeout, 600.0),
        **settings.backup_retention(),
    }
    result = engine.run_backup(settings.mongo_uri, str(settings.backup_dir), label=label, **opts)
    return json.loads(json.dumps(result, default=str))


class RestoreDrillFailed(RuntimeError):
    """The drill ran and a check failed (its outcome is recorded all the same)."""


class RestoreDrillNotRun(RuntimeError):
    """No drill answered the request in time (remediator away, breaker open)."""


# The request's metric: the remediator runs playbooks/runbook/restore_drill.yml
# when it is newer than the last drill (alert RestoreDrillRequested).
DRILL_REQUEST_METRIC = "acs_restore_drill_requested_timestamp_seconds"


def request_restore_drill(
    settings: Settings | None = None, now: float | None = None
) -> float | None:
    """Asks for a drill; returns the request's time (epoch seconds), or None
    without asking when there is no backup to drill yet (a new stack: the
    first run comes when the DAG is unpaused; RestoreDrillMissing covers the
    time until the first backup).

    The drill needs the Docker engine (a throwaway server), which Airflow is
    not given: the request goes to the pushgateway, Prometheus turns it into
    the RestoreDrillRequested alert, and the host's remediator runs the
    drill's playbook (the one engine, module mongodb_restore_drill), within
    its budget and with its ledger entry."""
    from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

    from crawler import backup as engine

    settings = settings or Settings()
    if not settings.pushgateway_url:
        raise RestoreDrillNotRun("PUSHGATEWAY_URL is not set: no drill can be requested")
    if engine.engine().last_good_backup(str(settings.backup_dir), ("pre-restore",)) is None:
        return None
    requested = time.time() if now is None else now
    reg = CollectorRegistry()
    Gauge(DRILL_REQUEST_METRIC, "When a restore drill was last asked for", registry=reg).set(
        requested
    )
    push_to_gateway(settings.pushgateway_url, job="restore_drill", registry=reg)
    return requested


def wait_for_restore_drill(
    requested: float,
    settings: Settings | None = None,
    timeout: float = 3600.0,
    poll: float = 10.0,
) -> dict:
    """The first drill that started after ``requested``, once it finished;
    raises when it failed or when none ran within ``timeout`` seconds."""
    from crawler._backup_engine.drill import last_drill

    settings = settings or Settings()
    deadline = time.monotonic() + timeout
    while True:
        last = (last_drill(str(settings.backup_dir)) or {}).get("last") or {}
        started = last.get("started_at")
        if (
            started
            and datetime.fromisoformat(started.replace("Z", "+00:00")).timestamp() >= requested
        ):
            break
        if time.monotonic() >= deadline:
            raise RestoreDrillNotRun(
                f"no restore drill started within {timeout:.0f} s of the request: is the "
                "remediator running (python -m ops remediator status) and its restore_drill "
                "breaker closed? The drill also runs by hand: playbooks/runbook/restore_drill.yml"
            )
        time.sleep(poll)
    if last.get("result") != "passed":
        detail = (
            "; ".join(str(f) for f in last.get("failed_checks") or []) or "see GET /api/backup/"
        )
        raise RestoreDrillFailed(
            f"restore drill of {last.get('backup') or '(no backup)'} failed: {detail}"
        )
    return last
