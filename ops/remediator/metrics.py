"""The remediator's own metrics, read from the ledger at scrape time: an
open breaker fires RemediatorBreakerOpen, a failed action RemediationFailed."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from ops.remediator.config import Config
from ops.remediator.ledger import Ledger


def render(config: Config, ledger: Ledger) -> bytes:
    registry = CollectorRegistry()
    Gauge("acs_remediator_enabled", "1 unless the kill switch is on", registry=registry).set(
        int(config.enabled and not config.dry_run)
    )
    breaker = Gauge(
        "acs_remediator_breaker_open",
        "1 while the procedure's circuit breaker is open (no automatic action)",
        ["procedure"],
        registry=registry,
    )
    open_now = {b["procedure"] for b in ledger.breakers()}
    for procedure in sorted(set(config.procedures) | open_now):
        breaker.labels(procedure).set(int(procedure in open_now))
    actions = Gauge(
        "acs_remediator_actions_total",
        "Automatic actions by outcome (succeeded = run and verified)",
        ["procedure", "outcome"],
        registry=registry,
    )
    last = Gauge(
        "acs_remediator_last_action_timestamp_seconds",
        "Start of the procedure's last automatic action",
        ["procedure"],
        registry=registry,
    )
    for procedure in sorted(config.procedures):
        for outcome in ("succeeded", "failed", "unverified", "running"):
            actions.labels(procedure, outcome).set(0)
    for action in ledger.actions():
        actions.labels(action["procedure"], action["outcome"]).inc()
        last.labels(action["procedure"]).set(action["started_at"])
    counts = Gauge(
        "acs_remediator_events_total",
        "Alerts received, rejected and escalations made",
        ["kind"],
        registry=registry,
    )
    for kind in ("received", "rejected", "escalated"):
        counts.labels(kind).set(len(ledger.entries(kinds=(kind,))))
    return generate_latest(registry)
