"""Restore drill on a schedule. Airflow asks, the host runs it: the drill
needs the Docker engine (a throwaway server from the stack's mongodb image on
an internal network of its own, removed afterwards), and Airflow gets no
Docker socket. So `request` pushes the request's time to the pushgateway,
Prometheus raises RestoreDrillRequested, and the remediator on the host runs
playbooks/runbook/restore_drill.yml (the one engine, within its budget, in
its ledger); `wait` then reads the drill's outcome in the backup directory
and fails when the drill failed or none ran. Without any backup yet (a new
stack) both are skipped.

Schedule: ACS_RESTORE_DRILL_SCHEDULE (cron, default 04:30 daily, after the
03:00 backup); ACS_RESTORE_DRILL_WAIT_MINUTES: how long `wait` waits (60)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from airflow.sdk import DAG, task

WAIT_MINUTES = float(os.environ.get("ACS_RESTORE_DRILL_WAIT_MINUTES", "60"))

with DAG(
    dag_id="restore_drill_dag",
    schedule=os.environ.get("ACS_RESTORE_DRILL_SCHEDULE", "30 4 * * *"),
    start_date=datetime(2024, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    # `wait` reads the backup directory of the core host: its Celery queue.
    default_args={
        "owner": "crawler",
        "retries": 0,
        "queue": os.environ.get("ACS_CORE_QUEUE", "default"),
    },
    tags=["backup"],
) as dag:

    @task(task_id="request", execution_timeout=timedelta(minutes=2))
    def request() -> float:
        from airflow.sdk.exceptions import AirflowSkipException

        from crawler.dags_support import request_restore_drill

        requested = request_restore_drill()
        if requested is None:
            raise AirflowSkipException("no backup to drill yet (backup_dag makes the first)")
        return requested

    @task(task_id="wait", execution_timeout=timedelta(minutes=WAIT_MINUTES + 5))
    def wait(requested: float) -> dict:
        from crawler.dags_support import wait_for_restore_drill

        return wait_for_restore_drill(requested, timeout=WAIT_MINUTES * 60)

    wait(request())
