"""The remediator's pause silence (matcher remediator="paused") on the
deployed stack's Alertmanager: tests that inject faults for a person's
playbook run hold it, so the automation does not race them; the
self-healing tests lift it."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import requests

ALERTMANAGER = "http://127.0.0.1:9093"
MATCHER = {"name": "remediator", "value": "paused", "isRegex": False, "isEqual": True}
# Whose pauses these are: the outermost pytest process of this run, which the
# sessions it starts (molecule's verify) inherit, so their pauses are its own.
OWNER = os.environ.setdefault("ACS_TEST_PAUSE_OWNER", str(os.getpid()))


def reachable() -> bool:
    try:
        return requests.get(f"{ALERTMANAGER}/-/ready", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def active_pauses() -> list[dict]:
    answer = requests.get(f"{ALERTMANAGER}/api/v2/silences", timeout=5)
    answer.raise_for_status()
    return [
        s
        for s in answer.json()
        if s["status"]["state"] == "active"
        and any(m["name"] == "remediator" and m["value"] == "paused" for m in s["matchers"])
    ]


def pause(comment: str, hours: float = 6) -> str:
    now = datetime.now(UTC)
    answer = requests.post(
        f"{ALERTMANAGER}/api/v2/silences",
        json={
            "matchers": [MATCHER],
            "startsAt": now.isoformat(),
            "endsAt": (now + timedelta(hours=hours)).isoformat(),
            "createdBy": f"pytest {OWNER}",
            "comment": comment,
        },
        timeout=5,
    )
    answer.raise_for_status()
    return answer.json()["silenceID"]


def resume(own_only: bool = False) -> tuple[list[str], list[dict]]:
    """Expires the pauses the tests made; returns their ids and the pauses
    a person made, which stay. ``own_only``: just this run's (OWNER), so a
    pytest run that ends while another goes on (a quick test during the CI
    tier) leaves the other's pause alone; expiring it let the remediator race
    that run's fault tests."""
    expired, others = [], []
    for silence in active_pauses():
        made_by = silence.get("createdBy", "")
        if made_by.split(" ")[0] != "pytest":
            others.append(silence)
            continue
        if own_only and made_by != f"pytest {OWNER}":
            continue
        url = f"{ALERTMANAGER}/api/v2/silence/{silence['id']}"
        requests.delete(url, timeout=5).raise_for_status()
        expired.append(silence["id"])
    return expired, others
