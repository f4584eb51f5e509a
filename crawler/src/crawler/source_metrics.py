"""Gauges the API reads from other services when Prometheus scrapes /metrics:
Selenium Grid capacity, the pause state of the DAGs the crawler manages,
the newest backup and the last restore drills. The alert rules (roles/monitoring) need them and neither
the hub nor Airflow exports them in Prometheus' format.

A scrape must never fail or be slow because of them: an unhealthy /metrics
would read as "API down" and restart a healthy API. So each source is read
in parallel with short timeouts, the result is cached for ``ttl`` seconds
(replicas and repeated scrapes do not hammer Airflow), and a source that
fails exports nothing of its own plus ``crawler_metrics_source_up{source} 0``."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

import requests
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from crawler._backup_engine.common import _parse_iso
from crawler._backup_engine.drill import last_drill
from crawler._backup_engine.listing import scan_backups
from crawler._backup_engine.marker import restore_in_progress
from crawler.api.airflow import auth_headers
from crawler.config import Settings
from crawler.fetch.grid import GridClient

log = logging.getLogger(__name__)

# The DAGs the runbook's [Airflow DAG 실행 안 됨] unpauses: backup_dag and one
# crawl_<source> per enabled source (inventory airflow_managed_dags).
BACKUP_DAG = "backup_dag"
CRAWL_DAG_PREFIX = "crawl_"


class SourceError(Exception):
    """A source answered, but not with what the gauges need."""


def grid_families(settings: Settings, timeout: float) -> list[Metric]:
    # GridClient.status is the crawler's one reading of the hub (free slots as
    # the fetcher counts them); it reports failures instead of raising.
    st = GridClient(settings.selenium_hub_url, timeout=timeout).status()
    if not st["reachable"]:
        raise SourceError(f"Selenium hub not reachable: {st.get('error')}")
    if st["queue"] is None:
        raise SourceError("Selenium hub did not answer the session queue size (/graphql)")
    slots = GaugeMetricFamily(
        "crawler_grid_slots", "Selenium Grid browser slots by state", labels=["state"]
    )
    slots.add_metric(["total"], st["total_slots"])
    slots.add_metric(["free"], st["free_slots"])
    queue = GaugeMetricFamily(
        "crawler_grid_session_queue", "New-session requests waiting in the Grid's queue"
    )
    queue.add_metric([], st["queue"])
    return [slots, queue]


def managed_dag(dag: dict) -> bool:
    dag_id = str(dag.get("dag_id") or "")
    # a stale DAG (its source deleted) is not scheduled any more: pausing it is right
    if dag.get("is_stale"):
        return False
    return dag_id == BACKUP_DAG or dag_id.startswith(CRAWL_DAG_PREFIX)


def airflow_families(settings: Settings, timeout: float) -> list[Metric]:
    if not settings.airflow_api_url:
        raise SourceError("AIRFLOW_API_URL is not set")
    base = settings.airflow_api_url.rstrip("/")
    r = requests.get(
        f"{base}/api/v2/dags",
        headers=auth_headers(settings, base, timeout=timeout),
        params={"limit": 1000},
        timeout=timeout,
    )
    r.raise_for_status()
    dags = r.json()["dags"]
    paused = GaugeMetricFamily(
        "crawler_airflow_dag_paused",
        "1 while a DAG the crawler manages (crawl_*, backup_dag) is paused",
        labels=["dag_id"],
    )
    for dag in sorted((d for d in dags if managed_dag(d)), key=lambda d: d["dag_id"]):
        paused.add_metric([dag["dag_id"]], 1 if dag.get("is_paused") else 0)
    return [paused]


def backup_families(settings: Settings, timeout: float) -> list[Metric]:
    restoring = GaugeMetricFamily(
        "crawler_restore_in_progress",
        "1 while a restore stands its marker in the backup directory (crawl DAGs paused on purpose)",
    )
    restoring.add_metric([], 1 if restore_in_progress(str(settings.backup_dir)) is not None else 0)
    # verify=False: signed manifests only, no archive hashing on every scrape
    backups = scan_backups(str(settings.backup_dir), verify=False)["backups"]
    families: list[Metric] = [restoring]
    if backups:
        newest = _parse_iso(backups[0]["finished_at"]).timestamp()
        last = GaugeMetricFamily(
            "acs_backup_last_success_timestamp_seconds",
            "End of the newest signed backup in the backup directory",
        )
        last.add_metric([], newest)
        families.append(last)
    return families + drill_families(last_drill(str(settings.backup_dir)) or {})


def _gauge(name, doc, value):
    family = GaugeMetricFamily(name, doc)
    family.add_metric([], value)
    return family


def drill_families(record: dict) -> list[Metric]:
    """The restore drills recorded in the backup directory (engine drill.py):
    nothing before the first, so RestoreDrillMissing tells "never" from "old"."""
    families: list[Metric] = []
    last, passed = record.get("last"), record.get("last_passed")
    if last:
        families.append(
            _gauge(
                "acs_restore_drill_success",
                "1 when the last restore drill passed, 0 when it failed",
                1 if last.get("result") == "passed" else 0,
            )
        )
        if last.get("finished_at"):
            # Compared with acs_restore_drill_requested_timestamp_seconds (the
            # DAG's request) by the RestoreDrillRequested alert.
            families.append(
                _gauge(
                    "acs_restore_drill_last_run_timestamp_seconds",
                    "End of the last restore drill, passed or failed",
                    _parse_iso(last["finished_at"]).timestamp(),
                )
            )
        families.append(
            _gauge(
                "acs_restore_drill_duration_seconds",
                "Duration of the last restore drill",
                last.get("duration_seconds") or 0,
            )
        )
    if passed:
        families.append(
            _gauge(
                "acs_restore_drill_last_success_timestamp_seconds",
                "End of the last restore drill that passed (the last verified restore)",
                _parse_iso(passed["finished_at"]).timestamp(),
            )
        )
        families.append(
            _gauge(
                "acs_restore_drill_rto_seconds",
                "Restore time (RTO) of the last verified restore",
                passed.get("rto_seconds") or 0,
            )
        )
    return families


SOURCES: dict[str, Callable[[Settings, float], list[Metric]]] = {
    "grid": grid_families,
    "airflow": airflow_families,
    "backup": backup_families,
}


class SourceCollector(Collector):
    """prometheus_client collector of the SOURCES, cached for ``ttl`` seconds."""

    def __init__(
        self,
        settings: Settings,
        ttl: float = 10.0,
        timeout: float = 2.0,
        sources: dict[str, Callable[[Settings, float], list[Metric]]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.settings = settings
        self.ttl = ttl
        self.timeout = timeout
        self.sources = dict(SOURCES if sources is None else sources)
        self.clock = clock
        self._lock = threading.Lock()
        self._cached: list[Metric] = []
        self._at: float | None = None

    def describe(self) -> Iterable[Metric]:
        # nothing up front: registering must not call Airflow or the hub
        return []

    def collect(self) -> Iterable[Metric]:
        with self._lock:  # concurrent scrapes wait for one refresh, not start their own
            if self._at is None or self.clock() - self._at >= self.ttl:
                self._cached = self._read_all()
                self._at = self.clock()
            return list(self._cached)

    def _read_one(self, name: str) -> list[Metric] | None:
        try:
            return self.sources[name](self.settings, self.timeout)
        except Exception as exc:  # any failure of a source is "source down", never a failed scrape
            log.warning("metrics source %s unavailable: %s", name, exc)
            return None

    def _read_all(self) -> list[Metric]:
        with ThreadPoolExecutor(max_workers=len(self.sources) or 1) as pool:
            results = dict(zip(self.sources, pool.map(self._read_one, self.sources), strict=True))
        up = GaugeMetricFamily(
            "crawler_metrics_source_up",
            "1 when the API could read the source of its grid/airflow/backup gauges",
            labels=["source"],
        )
        families: list[Metric] = [up]
        for name, got in results.items():
            up.add_metric([name], 0 if got is None else 1)
            families.extend(got or [])
        return families
