"""Prometheus metrics. The API exposes the default registry on /metrics;
crawl runs in Airflow push a per-run registry to the pushgateway."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        kw = {"registry": registry} if registry is not None else {}
        self.registry = registry
        self.pages = Counter(
            "crawler_pages_fetched_total", "Pages fetched", ["mode", "status"], **kw
        )
        self.errors = Counter("crawler_errors_total", "Crawl errors by stable code", ["code"], **kw)
        self.healing = Counter(
            "crawler_healing_outcomes_total", "Self-healing attempts", ["remedy", "outcome"], **kw
        )
        self.duration = Histogram(
            "crawler_crawl_duration_seconds",
            "Duration of a crawl run",
            ["source"],
            buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600),
            **kw,
        )
        self.spool = Gauge(
            "crawler_spool_records", "Results waiting in the local spool for MongoDB", **kw
        )
        self.spool_quarantined = Gauge(
            "crawler_spool_quarantined_records",
            "Spool lines set aside as unreadable (torn or damaged); a person should look",
            **kw,
        )


_default: Metrics | None = None


def default_metrics() -> Metrics:
    global _default
    if _default is None:
        _default = Metrics()
    return _default


def push_run_metrics(gateway: str, source: str, stats: dict) -> None:
    """Push one run's numbers (used by the DAG's last task)."""
    from prometheus_client import push_to_gateway

    reg = CollectorRegistry()
    g = Gauge("crawler_run_pages", "Pages in the last run", ["source", "outcome"], registry=reg)
    g.labels(source, "ok").set(stats.get("pages_ok", 0))
    g.labels(source, "failed").set(stats.get("pages_failed", 0))
    e = Gauge(
        "crawler_run_errors", "Errors in the last run by code", ["source", "code"], registry=reg
    )
    for code, n in (stats.get("errors_by_code") or {}).items():
        e.labels(source, code).set(n)
    Gauge(
        "crawler_run_duration_seconds", "Duration of the last run", ["source"], registry=reg
    ).labels(source).set(stats.get("duration_seconds", 0))
    Gauge(
        "crawler_run_last_success_timestamp", "End of the last run", ["source"], registry=reg
    ).labels(source).set_to_current_time()
    push_to_gateway(gateway, job="crawler", grouping_key={"source": source}, registry=reg)
