"""The Airflow 3 REST client: POST /api/sources/{id}/crawl starts DAG runs,
and a restore job pauses the crawl DAGs for its duration."""

from __future__ import annotations

import contextlib
import logging

import requests
from fastapi import HTTPException

from crawler.config import Settings

log = logging.getLogger(__name__)


def dag_id(source_id: str) -> str:
    """The DAG that crawl_dags.py makes for a source."""
    return f"crawl_{source_id}"


def trigger_dag_run(settings: Settings, source_id: str) -> dict:
    """Get a JWT from /auth/token, then create a DAG run. Raises HTTPException
    with the status the API answers when Airflow cannot start the run."""
    base = settings.airflow_api_url.rstrip("/")
    dag = dag_id(source_id)
    try:
        headers = auth_headers(settings, base)
        r = requests.post(
            f"{base}/api/v2/dags/{dag}/dagRuns",
            headers=headers,
            json={"logical_date": None, "conf": {"trigger": "api"}},
            timeout=10,
        )
    except requests.RequestException as exc:
        raise HTTPException(502, f"Airflow not reachable at {base}: {exc}") from exc
    if r.status_code == 404:
        # A source created a moment ago has no DAG until the DAG processor's
        # next parse: that is "not yet", not an Airflow failure.
        raise HTTPException(
            503,
            f"Airflow does not know DAG {dag} yet: the DAG processor creates it on its next "
            "parse of crawl_dags.py (every AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL seconds); retry shortly",
            headers={"Retry-After": "30"},
        )
    if r.status_code >= 400:
        raise HTTPException(502, f"Airflow refused the run ({r.status_code}): {r.text[:300]}")
    data = r.json()
    return {"run_id": data.get("dag_run_id"), "dag_id": dag, "state": data.get("state")}


def auth_headers(settings: Settings, base: str, timeout: float = 10) -> dict:
    """The Authorization header of a JWT from /auth/token (none without a user)."""
    if not settings.airflow_username:
        return {}
    tok = requests.post(
        f"{base}/auth/token",
        json={"username": settings.airflow_username, "password": settings.airflow_password},
        timeout=timeout,
    )
    tok.raise_for_status()
    return {"Authorization": f"Bearer {tok.json()['access_token']}"}


def _set_paused(base: str, headers: dict, dags: list[str], paused: bool) -> None:
    for dag in dags:
        r = requests.patch(
            f"{base}/api/v2/dags/{dag}?update_mask=is_paused",
            headers=headers,
            json={"is_paused": paused},
            timeout=10,
        )
        r.raise_for_status()


@contextlib.contextmanager
def crawl_dags_paused(settings: Settings, report: dict):
    """Pause the crawl DAGs that are running on schedule and resume exactly
    those afterwards (a DAG an operator paused stays paused). ``report``
    gets what was done. Airflow being away does not stop the restore: the
    restore marker already keeps crawl writes out of the database."""
    report.update(paused=[], resumed=[], error=None)
    if not settings.airflow_api_url:
        report["error"] = "AIRFLOW_API_URL not set: crawl DAGs not paused"
        yield report
        return
    base = settings.airflow_api_url.rstrip("/")
    try:
        headers = auth_headers(settings, base)
        r = requests.get(
            f"{base}/api/v2/dags",
            headers=headers,
            params={"dag_id_pattern": "crawl_", "paused": "false", "limit": 1000},
            timeout=10,
        )
        r.raise_for_status()
        running = [d["dag_id"] for d in r.json().get("dags", []) if not d.get("is_paused")]
        running = [d for d in running if d.startswith("crawl_")]
        for dag in running:  # one by one: whatever got paused is resumed
            _set_paused(base, headers, [dag], True)
            report["paused"].append(dag)
    except (requests.RequestException, ValueError, KeyError) as exc:
        report["error"] = f"could not pause the crawl DAGs at {base}: {exc}"
        log.warning("%s", report["error"])
    try:
        yield report
    finally:
        if report["paused"]:
            try:
                _set_paused(base, auth_headers(settings, base), report["paused"], False)
                report["resumed"] = list(report["paused"])
            except (requests.RequestException, ValueError, KeyError) as exc:
                report["error"] = (
                    f"could not resume the crawl DAGs {report['paused']} at {base}: {exc}; "
                    "unpause them in the Airflow UI or with `airflow dags unpause`"
                )
                log.error("%s", report["error"])
