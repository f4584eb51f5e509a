"""Restore drill on a schedule, through the one backup engine (the package
module_utils/acs_backup/, shipped as crawler._backup_engine): the newest
signed backup is restored into a throwaway server (a one-off container from
the stack's mongodb image on an internal network of its own, removed
afterwards) and checked against its manifest; the outcome is recorded in the
backup directory, where the API's acs_restore_drill_* metrics read it.

Schedule: ACS_RESTORE_DRILL_SCHEDULE (cron, default 04:30 daily, after the
03:00 backup); image: ACS_RESTORE_DRILL_IMAGE (default: that of the running
mongodb service). The task needs the Docker engine (DOCKER_HOST or its
socket); without it the drill fails, saying so, and is recorded as failed."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from airflow.sdk import DAG, task

from crawler.config import Settings

with DAG(
    dag_id="restore_drill_dag",
    schedule=os.environ.get("ACS_RESTORE_DRILL_SCHEDULE", "30 4 * * *"),
    start_date=datetime(2024, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "crawler",
        "retries": 0,
        "execution_timeout": timedelta(minutes=Settings().backup_task_timeout_minutes),
    },
    tags=["backup"],
) as dag:

    @task(task_id="restore_drill")
    def restore_drill() -> dict:
        from crawler.dags_support import restore_drill as run_drill

        return run_drill()

    restore_drill()
