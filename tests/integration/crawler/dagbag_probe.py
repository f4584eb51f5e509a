"""Run with the Airflow virtualenv's python: parse crawler/dags in a DagBag and
print what Airflow sees as JSON (import errors, DAG ids, schedules, tasks)."""

import json
import sys

from airflow.dag_processing.dagbag import DagBag

bag = DagBag(dag_folder=sys.argv[1])
out = {"import_errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": {}}
for dag_id, dag in bag.dags.items():
    out["dags"][dag_id] = {
        "schedule": str(getattr(dag, "schedule", None)),
        "tasks": sorted(t.task_id for t in dag.tasks),
        "downstream": {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks},
        "execution_timeout": {
            t.task_id: t.execution_timeout.total_seconds() if t.execution_timeout else None
            for t in dag.tasks
        },
    }
print("DAGBAG_JSON " + json.dumps(out))
