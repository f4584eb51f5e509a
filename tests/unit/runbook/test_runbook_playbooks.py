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


# Roles of the other procedures, each with a step file a runbook step.
CHECK_ROLES = ["status", "weekly_check", "scale"]


def _task_list(tasks, base: Path):
    """The tasks in run order: blocks flattened, import_tasks/include_tasks of a
    role's files followed."""
    for task in tasks or []:
        yield task
        for key in ("block", "rescue", "always"):
            yield from _task_list(task.get(key), base)
        for key in ("ansible.builtin.import_tasks", "ansible.builtin.include_tasks"):
            if key in task:
                path = base / task[key]
                yield from _task_list(yaml.safe_load(path.read_text()), path.parent)


def _role_tasks(role: str):
    main = REPO / "roles" / role / "tasks" / "main.yml"
    return list(_task_list(yaml.safe_load(main.read_text()), main.parent))


def _play_tasks(play):
    """What a play runs, in order: its roles' tasks, then its own tasks."""
    tasks = list(_task_list(play.get("pre_tasks"), REPO / "playbooks" / "runbook"))
    for role in play.get("roles") or []:
        tasks += _role_tasks(role if isinstance(role, str) else role["role"])
    for key in ("tasks", "post_tasks"):
        tasks += list(_task_list(play.get(key), REPO / "playbooks" / "runbook"))
    return tasks


def _playbook_tasks(playbook: str):
    plays = yaml.safe_load((REPO / "playbooks" / "runbook" / f"{playbook}.yml").read_text())
    return [task for play in plays for task in _play_tasks(play)]


def _playbook_files(playbook: str) -> list[Path]:
    """The playbook and the task files of the roles it lists."""
    path = REPO / "playbooks" / "runbook" / f"{playbook}.yml"
    files = [path]
    for play in yaml.safe_load(path.read_text()):
        for role in play.get("roles") or []:
            name = role if isinstance(role, str) else role["role"]
            files += sorted((REPO / "roles" / name / "tasks").glob("*.yml"))
    return files


@pytest.mark.parametrize("playbook", sorted(PROCEDURES))
def test_every_runbook_step_is_a_task_in_order(playbook):
    label, steps = PROCEDURES[playbook]
    names = [t["name"] for t in _playbook_tasks(playbook) if "name" in t]
    # "[label 2]", or "[label 2, 3 +]" for one task that does steps 2 and 3.
    pattern = re.compile(rf"^\[{re.escape(label)} (\d+(?:, \d+)*)")
    seen = [int(d) for n in names if (m := pattern.match(n)) for d in m.group(1).split(", ")]
    assert set(steps) <= set(seen), (
        f"{playbook}: steps {sorted(set(steps) - set(seen))} have no task"
    )
    first_seen = sorted(set(seen), key=seen.index)
    assert first_seen == sorted(first_seen), (
        f"{playbook}: steps out of the runbook's order: {first_seen}"
    )


def test_every_playbook_ends_with_a_verdict_and_feeds_the_report():
    for playbook in PROCEDURES:
        text = "".join(p.read_text() for p in _playbook_files(playbook))
        assert "incident_result:" in text, playbook
        last = _playbook_tasks(playbook)[-1]
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


# A file the doc points at: roles/<role>/tasks/<step>.yml, playbooks/..., or a
# runbook playbook by its file name (status.yml).
_POINTER = re.compile(r"`((?:roles|playbooks)/[\w./]+\.yml|\w+\.yml)`")
# A task the doc quotes: `[절차 번호] name...` ("[... 3]" abbreviations are not checked).
_QUOTED_TASK = re.compile(r"`(\[(?!\.\.\.)[^`]+)`")


def _doc_file(pointer: str) -> Path:
    """A path from the repository root; a bare name is a runbook playbook (status.yml)."""
    return REPO / pointer if "/" in pointer else REPO / "playbooks" / "runbook" / pointer


def _names_in(path: Path) -> list[str]:
    """Task names a file runs: a runbook playbook with its roles, or one task file."""
    if path.parent == REPO / "playbooks" / "runbook":
        tasks = _playbook_tasks(path.stem)
    else:
        tasks = list(_task_list(yaml.safe_load(path.read_text()), path.parent))
    return [str(t["name"]) for t in tasks if "name" in t]


def test_docs_point_at_the_files_that_run_each_step():
    """Every file docs/runbook.ko.md points at exists; every task it quotes is a
    task of the files its row points at (else of its section's playbook); every
    step file of a recover role and of the other procedures' roles is pointed at."""
    doc = DOC.read_text().replace("\\|", "|")
    section: list[str] = []
    pointed: set[Path] = set()
    problems = []
    for line in doc.splitlines():
        pointers = _POINTER.findall(line)
        for pointer in pointers:
            # A bare name that is no runbook playbook is prose (01_logs.yml, site.yml).
            if "/" in pointer and not _doc_file(pointer).is_file():
                problems.append(f"{pointer} does not exist")
        if line.startswith("#"):
            section = [p for p in pointers if p.startswith("playbooks/")]
            continue
        if not line.startswith("|"):
            continue
        files = [_doc_file(p) for p in pointers if _doc_file(p).is_file()] or [
            _doc_file(p) for p in section
        ]
        pointed.update(files)
        names = [n for f in files for n in _names_in(f)]
        for quoted in _QUOTED_TASK.findall(line):
            prefix = quoted.removesuffix("...").rstrip()
            if not any(n.startswith(prefix) for n in names):
                problems.append(
                    f"{quoted!r} is not a task of {[str(f.relative_to(REPO)) for f in files]}"
                )
    roles = [
        *sorted((REPO / "roles").glob("recover_*")),
        *(REPO / "roles" / r for r in CHECK_ROLES),
    ]
    for role in roles:
        for step in sorted((role / "tasks").glob("*.yml")):
            if step.name != "main.yml" and step not in pointed:
                problems.append(f"{step.relative_to(REPO)} is not pointed at")
    assert not problems, "docs/runbook.ko.md:\n" + "\n".join(problems)


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
