"""The remediator's pause silence (matcher remediator="paused") on the
deployed stack's Alertmanager: tests that inject faults for a person's
playbook run hold it, so the automation does not race them; the
self-healing tests lift it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import requests

ALERTMANAGER = "http://127.0.0.1:9093"
MATCHER = {"name": "remediator", "value": "paused", "isRegex": False, "isEqual": True}


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
            "createdBy": "pytest",
            "comment": comment,
        },
        timeout=5,
    )
    answer.raise_for_status()
    return answer.json()["silenceID"]


def resume() -> tuple[list[str], list[dict]]:
    """Expires the pauses the tests made; returns their ids and the pauses
    a person made, which stay."""
    expired, others = [], []
    for silence in active_pauses():
        if silence.get("createdBy") != "pytest":
            others.append(silence)
            continue
        url = f"{ALERTMANAGER}/api/v2/silence/{silence['id']}"
        requests.delete(url, timeout=5).raise_for_status()
        expired.append(silence["id"])
    return expired, others
