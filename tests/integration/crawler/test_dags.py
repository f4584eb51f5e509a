"""Every DAG file imports cleanly in Airflow's DagBag; crawl DAGs follow the
sources collection. Needs Airflow 3.3.2 in a separate virtualenv:

    python3 -m venv /var/cache/acs-build/airflow-venv
    /var/cache/acs-build/airflow-venv/bin/pip install apache-airflow==3.3.2 -r crawler/requirements-airflow.txt
    /var/cache/acs-build/airflow-venv/bin/pip install --no-deps -e crawler
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

AIRFLOW_PY = (
    Path(os.environ.get("ACS_AIRFLOW_VENV", "/var/cache/acs-build/airflow-venv")) / "bin" / "python"
)
REPO = Path(__file__).resolve().parents[3]


def dagbag(tmp_path, env_extra: dict) -> dict:
    if not AIRFLOW_PY.exists():
        pytest.fail(f"Airflow virtualenv missing ({AIRFLOW_PY}); see this module's docstring")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "CRAWLER_DAG_SOURCES_CACHE": str(tmp_path / "cache.json"),
        **env_extra,
    }
    proc = subprocess.run(
        [
            str(AIRFLOW_PY),
            str(Path(__file__).with_name("dagbag_probe.py")),
            str(REPO / "crawler" / "dags"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("DAGBAG_JSON ")]
    assert proc.returncode == 0 and line, proc.stderr[-3000:]
    return json.loads(line[0].split(" ", 1)[1])


def test_dag_files_import_and_follow_sources(
    tmp_path, storage, mongo_db_name, ferretdb, source_factory
):
    a = source_factory("alpha", ["http://127.0.0.1/a"], schedule="*/15 * * * *")
    b = source_factory("beta", ["http://127.0.0.1/b"], schedule="@daily")
    off = source_factory("gamma", ["http://127.0.0.1/c"], enabled=False)
    storage.db.sources.insert_many([a.to_doc(), b.to_doc(), off.to_doc()])
    env = {
        "MONGO_URI": ferretdb.uri,
        "MONGO_DB": mongo_db_name,
        "ACS_BACKUP_SCHEDULE": "30 2 * * *",
        "ACS_RESTORE_DRILL_SCHEDULE": "15 5 * * *",
        "CRAWLER_TASK_TIMEOUT_MINUTES": "45",
    }
    bag = dagbag(tmp_path, env)
    assert bag["import_errors"] == {}
    assert sorted(bag["dags"]) == ["backup_dag", "crawl_alpha", "crawl_beta", "restore_drill_dag"]
    alpha = bag["dags"]["crawl_alpha"]
    assert "*/15 * * * *" in alpha["schedule"]
    assert alpha["tasks"] == ["check", "crawl", "heal", "push_metrics"]
    assert alpha["downstream"]["crawl"] == ["check", "heal", "push_metrics"]
    assert alpha["downstream"]["check"] == ["heal", "push_metrics"]
    assert alpha["downstream"]["heal"] == ["push_metrics"]
    assert "30 2 * * *" in bag["dags"]["backup_dag"]["schedule"]
    assert "15 5 * * *" in bag["dags"]["restore_drill_dag"]["schedule"]
    assert bag["dags"]["restore_drill_dag"]["tasks"] == ["request", "wait"]
    # no task can hang forever: the crawl ones as configured, the backup by default
    assert set(alpha["execution_timeout"].values()) == {45 * 60}
    assert bag["dags"]["backup_dag"]["execution_timeout"] == {"backup": 60 * 60}
    # a deleted source's DAG disappears at the next parse
    storage.db.sources.delete_one({"_id": "beta"})
    assert sorted(dagbag(tmp_path, env)["dags"]) == [
        "backup_dag",
        "crawl_alpha",
        "restore_drill_dag",
    ]
    # MongoDB away: the last list seen keeps the DAGs instead of dropping them all
    env_down = {**env, "MONGO_URI": "mongodb://127.0.0.1:1/"}
    assert sorted(dagbag(tmp_path, env_down)["dags"]) == [
        "backup_dag",
        "crawl_alpha",
        "restore_drill_dag",
    ]
