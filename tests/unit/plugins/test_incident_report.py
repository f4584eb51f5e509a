"""The incident report every playbook run leaves behind, and `python -m ops`."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

PLAYBOOK = """
- name: A procedure that finds something and fixes it
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Step 1 - look at the service
      ansible.builtin.debug:
        msg: looking
    - name: Step 2 - publish what was found and done
      ansible.builtin.set_stats:
        data:
          incident_findings: ["api answered 503"]
          incident_actions: ["restarted api"]
          incident_result: recovered
    - name: Step 3 - {outcome}
      ansible.builtin.command: "{command}"
      changed_when: false
"""


def _run_playbook(tmp_path, outcome, command, *extra):
    return _run(tmp_path, PLAYBOOK.format(outcome=outcome, command=command), *extra)


def _run(tmp_path, playbook, *extra, env=None):
    """ansible-playbook of `playbook` (text) with the incident report on; (proc, reports dir)."""
    book = tmp_path / "procedure.yml"
    book.write_text(playbook)
    reports = tmp_path / "reports"
    env = dict(
        os.environ if env is None else env,
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ACS_REPORTS_DIR=str(reports),
        PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    )
    proc = subprocess.run(
        [
            "ansible-playbook",
            "-i",
            "localhost,",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            str(book),
            *extra,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return proc, reports


def test_report_carries_findings_actions_result_and_timeline(tmp_path):
    proc, reports = _run_playbook(tmp_path, "verify", "true")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (report_file,) = reports.glob("*.json")
    report = json.loads(report_file.read_text())
    assert report["playbook"] == "procedure"
    assert report["result"] == "recovered"
    assert report["findings"] == ["api answered 503"]
    assert report["actions"] == ["restarted api"]
    tasks = [event["task"] for event in report["timeline"]]
    assert tasks == [
        "Step 1 - look at the service",
        "Step 2 - publish what was found and done",
        "Step 3 - verify",
    ]
    markdown = report_file.with_suffix(".md").read_text()
    assert "**recovered**" in markdown
    assert "| localhost | Step 3 - verify | ok |" in markdown


def test_failed_run_is_reported_failed_whatever_the_playbook_claimed(tmp_path):
    proc, reports = _run_playbook(tmp_path, "verify fails", "false")
    assert proc.returncode != 0
    (report_file,) = reports.glob("*.json")
    report = json.loads(report_file.read_text())
    assert report["result"] == "failed"
    assert report["timeline"][-1]["status"] == "failed"


SECRET_PLAYBOOK = """
- name: A procedure that copies log lines holding secrets
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Publish what the logs said
      ansible.builtin.set_stats:
        data:
          incident_findings:
            - "api log: MONGO_URI=mongodb://crawler:Zq8uLmP2vX@mongodb:27017/crawler"
            - "api log: request with X-API-Key: k-3f9c2a7b81d4"
          incident_actions: ["sent Authorization: Bearer eyJhbGciOiJIUzI1.x"]
    - name: A step that fails quoting the tool's error
      ansible.builtin.fail:
        msg: "mongosh: login failed, password=Hunter2Secret"
"""


def test_report_hides_secrets_from_copied_log_lines_and_errors(tmp_path):
    _, reports = _run(tmp_path, SECRET_PLAYBOOK)
    (report_file,) = reports.glob("*.json")
    for written in (report_file, report_file.with_suffix(".md")):
        text = written.read_text()
        for secret in ("Zq8uLmP2vX", "k-3f9c2a7b81d4", "eyJhbGciOiJIUzI1", "Hunter2Secret"):
            assert secret not in text, (written.name, secret)
        assert "mongodb://crawler:***@mongodb" in text and "password=***" in text


def test_check_mode_is_recorded(tmp_path):
    _, reports = _run_playbook(tmp_path, "verify", "true", "--check")
    (report_file,) = reports.glob("*.json")
    assert json.loads(report_file.read_text())["check_mode"] is True


def test_ops_runner_exits_with_the_playbook_status_and_keeps_artifacts(tmp_path):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")

    def ops(*args):
        return subprocess.run(
            [sys.executable, "-m", "ops", "run", *args, "--artifacts", str(tmp_path / "runs")],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    proc = ops("no_such_playbook")
    assert proc.returncode != 0
    assert "no playbook named 'no_such_playbook'" in proc.stderr

    book = tmp_path / "procedure.yml"
    book.write_text(PLAYBOOK.format(outcome="verify", command="true"))
    proc = ops(str(book), "-i", "localhost,", "-e", f"ansible_python_interpreter={sys.executable}")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "[ok] localhost: Step 3 - verify" in proc.stdout
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert list(run_dir.glob("artifacts/*/job_events/*.json"))
    assert list(run_dir.glob("artifacts/*/stdout"))
    (report,) = run_dir.glob("reports/*.json")
    assert json.loads(report.read_text())["result"] == "recovered"

    book.write_text(PLAYBOOK.format(outcome="verify fails", command="false"))
    proc = ops(str(book), "-i", "localhost,", "-e", f"ansible_python_interpreter={sys.executable}")
    assert proc.returncode == 2, proc.stdout[-2000:]
    assert "[FAILED] localhost: Step 3 - verify fails" in proc.stdout
