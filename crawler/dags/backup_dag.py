"""MongoDB backup on a schedule, through the one backup engine
(the package module_utils/acs_backup/, shipped as crawler._backup_engine).

Schedule: ACS_BACKUP_SCHEDULE (cron, default 03:00 daily); retention:
BACKUP_KEEP_LAST / BACKUP_MAX_AGE_DAYS and the generations BACKUP_KEEP_DAILY /
BACKUP_KEEP_WEEKLY / BACKUP_KEEP_MONTHLY (crawler.config.Settings.backup_retention);
target: BACKUP_DIR (/data/backups)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from airflow.sdk import DAG, task

from crawler.config import Settings

with DAG(
    dag_id="backup_dag",
    schedule=os.environ.get("ACS_BACKUP_SCHEDULE", "0 3 * * *"),
    start_date=datetime(2024, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "crawler",
        "retries": 2,
        "retry_delay": timedelta(minutes=10),
        "execution_timeout": timedelta(minutes=Settings().backup_task_timeout_minutes),
        # Backups go to the core host's disk: with Celery, its worker's queue
        # (ACS_CORE_QUEUE, set by the airflow role); LocalExecutor ignores it.
        "queue": os.environ.get("ACS_CORE_QUEUE", "default"),
    },
    tags=["backup"],
) as dag:

    @task(task_id="backup")
    def backup() -> dict:
        from crawler.dags_support import backup as run_backup

        return run_backup("scheduled")

    backup()
