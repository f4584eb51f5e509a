"""What the Airflow DAGs call. Kept out of the DAG files so that they stay
thin, import fast in the DagBag, and the logic is tested without Airflow."""

from __future__ import annotations

import contextlib
import json
import logging
import os
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


def restore_drill(settings: Settings | None = None) -> dict:
    """The engine's restore drill of the newest signed backup; raises when it failed."""
    from crawler import backup as engine

    settings = settings or Settings()
    result = engine.restore_drill(
        str(settings.backup_dir),
        image=os.environ.get("ACS_RESTORE_DRILL_IMAGE") or None,
        project=os.environ.get("COMPOSE_PROJECT_NAME") or None,
    )
    result = json.loads(json.dumps(result, default=str))
    if result["result"] != "passed":
        failed = [c for c in result["checks"] if c["status"] == "failed"]
        raise RestoreDrillFailed(
            f"restore drill of {result['backup'] or '(no backup)'} failed: "
            + "; ".join(f"{c['name']}: {c['detail']}" for c in failed)
        )
    return result
