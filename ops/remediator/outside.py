"""What the remediator asks of other services: Alertmanager's silences,
Prometheus's verdict, the Docker engine's replica count, the escalation
webhook and the incident report. Each answers or fails softly with a reason:
the remediator must keep deciding when a neighbour is away."""

from __future__ import annotations

import time
from pathlib import Path

import requests

from ops.incident_report import record_verification
from ops.remediator.config import Config, Verify
from ops.remediator.ledger import iso

_TIMEOUT = 5


def pause_silence(config: Config) -> str:
    """'id: comment' of an active silence carrying the pause matcher, or ''."""
    if not config.alertmanager_url:
        return ""
    try:
        answer = requests.get(f"{config.alertmanager_url}/api/v2/silences", timeout=_TIMEOUT)
        answer.raise_for_status()
        silences = answer.json()
    except (requests.RequestException, ValueError):
        return ""  # Alertmanager away: the kill switch variable still holds
    wanted = config.silence_matcher
    for silence in silences:
        if silence.get("status", {}).get("state") != "active":
            continue
        matchers = {
            m.get("name"): m.get("value")
            for m in silence.get("matchers", [])
            if m.get("isEqual", True) and not m.get("isRegex", False)
        }
        if all(matchers.get(k) == v for k, v in wanted.items()):
            return f"{silence.get('id', '?')}: {silence.get('comment', '')}".strip()
    return ""


def running_replicas(project: str, service: str) -> int:
    import docker

    client = docker.from_env(timeout=_TIMEOUT)
    try:
        return len(
            client.containers.list(
                filters={
                    "label": [
                        f"com.docker.compose.project={project}",
                        f"com.docker.compose.service={service}",
                    ],
                    "status": "running",
                }
            )
        )
    finally:
        client.close()


def query(prometheus_url: str, promql: str) -> list:
    answer = requests.get(
        f"{prometheus_url}/api/v1/query", params={"query": promql}, timeout=_TIMEOUT
    )
    answer.raise_for_status()
    return answer.json().get("data", {}).get("result", [])


def active_since(prometheus_url: str, labels: dict[str, str]) -> str:
    """When Prometheus first saw the alert's condition (its activeAt: the
    start of the pending period), which is when the fault was detected;
    Alertmanager's startsAt is when it began to fire. '' when unknown."""
    try:
        answer = requests.get(f"{prometheus_url}/api/v1/alerts", timeout=_TIMEOUT)
        answer.raise_for_status()
        alerts = answer.json().get("data", {}).get("alerts", [])
    except (requests.RequestException, ValueError):
        return ""
    # The notification's labels add Prometheus's external labels.
    for alert in alerts:
        own = alert.get("labels") or {}
        if own and all(labels.get(k) == v for k, v in own.items()):
            return str(alert.get("activeAt", ""))
    return ""


def verify(prometheus_url: str, check: Verify, poll: float = 2.0) -> dict:
    """Polls until the condition returns a sample or its time is up."""
    started = time.monotonic()
    deadline = started + check.within_seconds
    last_error = ""
    while True:
        try:
            if query(prometheus_url, check.promql):
                return {
                    "verified": True,
                    "verified_at": iso(time.time()),
                    "waited_seconds": round(time.monotonic() - started, 1),
                }
        except (requests.RequestException, ValueError) as exc:
            last_error = str(exc)
        if time.monotonic() >= deadline:
            return {
                "verified": False,
                "verified_at": None,
                "waited_seconds": round(time.monotonic() - started, 1),
                "error": last_error,
            }
        time.sleep(poll)


def escalate(url: str, payload: dict) -> tuple[bool, str]:
    if not url:
        return False, "no escalation webhook configured"
    try:
        answer = requests.post(url, json=payload, timeout=_TIMEOUT)
        answer.raise_for_status()
    except requests.RequestException as exc:
        return False, str(exc)
    return True, ""


def update_report(reports_dir: Path, verification: dict) -> None:
    """Adds the verification to the run's incident report (same renderer as
    the callback)."""
    if reports_dir.is_dir():
        record_verification(reports_dir, verification)
