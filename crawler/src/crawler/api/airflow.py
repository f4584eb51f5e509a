"""The Airflow 3 REST client of POST /api/sources/{id}/crawl."""

from __future__ import annotations

import requests
from fastapi import HTTPException

from crawler.config import Settings


def dag_id(source_id: str) -> str:
    """The DAG that crawl_dags.py makes for a source."""
    return f"crawl_{source_id}"


def trigger_dag_run(settings: Settings, source_id: str) -> dict:
    """Get a JWT from /auth/token, then create a DAG run. Raises HTTPException
    with the status the API answers when Airflow cannot start the run."""
    base = settings.airflow_api_url.rstrip("/")
    dag = dag_id(source_id)
    headers = {}
    try:
        if settings.airflow_username:
            tok = requests.post(
                f"{base}/auth/token",
                json={"username": settings.airflow_username, "password": settings.airflow_password},
                timeout=10,
            )
            tok.raise_for_status()
            headers["Authorization"] = f"Bearer {tok.json()['access_token']}"
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
