"""The upgrade's Airflow step (roles/upgrade/tasks/airflow.yml) on the
deployed stack: a task instance is running when the scheduler (which runs the
tasks: LocalExecutor) is to be replaced; the step waits for it instead of
killing it, and the task ends as a success before the new scheduler starts.

The running task is restore_drill_dag's `wait`: with the remediator paused
(tests/conftest.py) no drill answers its request, so it runs until the test
drills by hand."""

from __future__ import annotations

import os
import subprocess
import time
from datetime import datetime

import alertmanager_silence
import pytest
import requests
from stack_support import AIRFLOW, BIN, PROJECT, REPO, airflow_auth, trigger_dag, wait_for_dag

pytestmark = [pytest.mark.integration, pytest.mark.docker]

DAG = "restore_drill_dag"
PLAY = """\
- name: The upgrade's Airflow step alone
  hosts: crawler_stack
  gather_facts: false
  tasks:
    - name: Drain, replace the scheduler, resume
      ansible.builtin.include_role:
        name: upgrade
        tasks_from: airflow
      vars:
        upgrade_airflow_targets: [airflow-scheduler]
        upgrade_airflow_recreate: always
"""


def task_instance(auth: dict, run_id: str) -> dict:
    url = f"{AIRFLOW}/api/v2/dags/{DAG}/dagRuns/{run_id}/taskInstances/wait"
    return requests.get(url, headers=auth, timeout=10).json()


def started_at(service: str) -> datetime:
    out = subprocess.run(
        [
            "docker",
            "ps",
            "-q",
            "--filter",
            f"label=com.docker.compose.project={PROJECT}",
            "--filter",
            f"label=com.docker.compose.service={service}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert len(out) == 1, out
    text = subprocess.run(
        ["docker", "inspect", "--format", "{{.State.StartedAt}}", out[0]],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return datetime.fromisoformat(text[:26].rstrip("Z") + "+00:00")


def ansible(*args: str, wait: bool = True):
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    argv = [str(BIN / "ansible-playbook"), "-i", "inventory/local", *args]
    if wait:
        return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    return subprocess.Popen(
        argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def test_the_scheduler_is_replaced_only_after_the_running_task_finished(
    deployed, drill_dag_idle, tmp_path
):
    assert alertmanager_silence.active_pauses(), "the suite's pause keeps the drill from running"
    auth = airflow_auth()
    wait_for_dag(DAG, auth)
    run_id = trigger_dag(DAG, auth)
    deadline = time.monotonic() + 180
    while task_instance(auth, run_id).get("state") != "running":
        assert time.monotonic() < deadline, task_instance(auth, run_id)
        time.sleep(3)

    play = tmp_path / "airflow_step.yml"
    play.write_text(PLAY)
    step = ansible(str(play), wait=False)
    try:
        time.sleep(25)
        assert step.poll() is None, "the step went on while a task instance ran"
        assert task_instance(auth, run_id)["state"] == "running"
        # The drill the task waits for, by hand: the task ends, the step goes on.
        drill = ansible("playbooks/runbook/restore_drill.yml")
        assert drill.returncode == 0, drill.stdout[-3000:]
        out, _ = step.communicate(timeout=900)
    finally:
        if step.poll() is None:
            step.kill()
    assert step.returncode == 0, out[-4000:]
    auth = airflow_auth()
    ti = task_instance(auth, run_id)
    assert ti["state"] == "success", ti
    ended = datetime.fromisoformat(ti["end_date"].replace("Z", "+00:00"))
    assert ended < started_at("airflow-scheduler"), "the new scheduler started after the task ended"
    dag = requests.get(f"{AIRFLOW}/api/v2/dags/{DAG}", headers=auth, timeout=10).json()
    assert dag["is_paused"] is False, "the DAG paused for the drain is unpaused again"
