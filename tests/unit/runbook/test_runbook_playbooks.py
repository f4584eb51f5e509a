"""The runbook playbooks follow the runbook: one task per step, in order,
named after it, and docs/runbook.ko.md maps every command of the runbook."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
# The operators' manual runbook, kept verbatim as the specification.
RUNBOOK = REPO / "docs" / "operations-runbook.ko.txt"
DOC = REPO / "docs" / "runbook.ko.md"

# playbook -> (step label in task names, the runbook's numbered steps)
PROCEDURES = {
    "recover_api": ("API 무응답", [1, 2, 3, 4, 5]),
    "recover_airflow": ("Airflow DAG 실행 안 됨", [1, 2, 3, 4, 5]),
    "recover_mongodb": ("MongoDB 연결 실패", [1, 2, 3, 4]),
    "recover_crawl_failures": ("크롤링 실패율 급등", [1, 2, 3, 4]),
    "recover_oom": ("메모리 부족 / OOM", [1, 2, 3, 4]),
    "status": ("서비스 상태 확인", [1, 2, 3, 4, 5]),
    "scale": ("스케일링", [1, 2, 3]),
    "weekly_check": ("정기 점검", [1, 2, 3, 4, 5, 6]),
}


def _task_names(tasks):
    for task in tasks or []:
        if "name" in task:
            yield task["name"]
        for key in ("block", "rescue", "always"):
            yield from _task_names(task.get(key))


@pytest.mark.parametrize("playbook", sorted(PROCEDURES))
def test_every_runbook_step_is_a_task_in_order(playbook):
    label, steps = PROCEDURES[playbook]
    plays = yaml.safe_load((REPO / "playbooks" / "runbook" / f"{playbook}.yml").read_text())
    names = [n for play in plays for n in _task_names(play["tasks"])]
    pattern = re.compile(rf"^\[{re.escape(label)} (\d+)")
    seen = [int(m.group(1)) for n in names if (m := pattern.match(n))]
    assert set(steps) <= set(seen), (
        f"{playbook}: steps {sorted(set(steps) - set(seen))} have no task"
    )
    first_seen = sorted(set(seen), key=seen.index)
    assert first_seen == sorted(first_seen), (
        f"{playbook}: steps out of the runbook's order: {first_seen}"
    )


def test_every_playbook_ends_with_a_verdict_and_feeds_the_report():
    for playbook in PROCEDURES:
        text = (REPO / "playbooks" / "runbook" / f"{playbook}.yml").read_text()
        assert "incident_result:" in text, playbook
        plays = yaml.safe_load(text)
        last = plays[-1]["tasks"][-1]
        assert "ansible.builtin.assert" in last, (
            f"{playbook} must end with an assert on the final state"
        )


def _runbook_commands():
    """The commands and API calls of the runbook, first four words each."""
    for line in RUNBOOK.read_text().splitlines():
        for column in re.split(r"\s{2,}", line.strip()):
            m = re.search(r"((?:docker|curl|GET|POST) [^가-힣]+)", column)
            if m:
                yield " ".join(m.group(1).split()[:4])


def test_docs_map_every_runbook_command():
    doc = DOC.read_text().replace("\\|", "|")
    commands = list(_runbook_commands())
    assert len(commands) > 25, commands
    missing = [c for c in commands if c not in doc]
    assert not missing, f"docs/runbook.ko.md does not mention: {missing}"


def test_playbooks_pass_the_syntax_check():
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    )
    books = [str(REPO / "playbooks" / "runbook" / f"{p}.yml") for p in sorted(PROCEDURES)]
    proc = subprocess.run(
        ["ansible-playbook", "--syntax-check", "-i", "localhost,", *books],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
