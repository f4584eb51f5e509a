"""One crawl DAG per enabled source in MongoDB `sources`.

DAGs appear and disappear as sources are added, disabled or deleted (the
DAG processor re-parses this file). Tasks: crawl -> heal (only when the run
had failures or spooled results) -> push run metrics to the pushgateway."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import DAG, task

from crawler.config import Settings
from crawler.dags_support import load_sources_for_dags

DEFAULT_ARGS = {
    "owner": "crawler",
    "retries": 1,
    "retry_delay": timedelta(minutes=5),
    "execution_timeout": timedelta(minutes=Settings().crawl_task_timeout_minutes),
}


def build(source_name: str, schedule: str | None) -> DAG:
    with DAG(
        dag_id=f"crawl_{source_name}",
        schedule=schedule,
        start_date=datetime(2024, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["crawler", f"source:{source_name}"],
        doc_md=f"Crawl source `{source_name}` (generated from MongoDB `sources`).",
    ) as dag:

        @task(task_id="crawl")
        def crawl(**context) -> dict:
            from crawler.dags_support import crawl as run_crawl

            return run_crawl(source_name, run_id=None)

        @task.branch(task_id="check")
        def check(stats: dict) -> str:
            from crawler.dags_support import needs_healing

            return "heal" if needs_healing(stats) else "push_metrics"

        @task(task_id="heal")
        def heal(stats: dict) -> dict:
            from crawler.dags_support import heal as run_heal

            return run_heal(stats)

        @task(task_id="push_metrics", trigger_rule="none_failed_min_one_success")
        def push_metrics(stats: dict) -> bool:
            from crawler.dags_support import push_metrics as push

            return push(stats)

        stats = crawl()
        branch = check(stats)
        healed = heal(stats)
        pushed = push_metrics(stats)
        branch >> [healed, pushed]
        healed >> pushed
    return dag


for _source in load_sources_for_dags():
    globals()[f"crawl_{_source.name}"] = build(_source.name, _source.schedule)
