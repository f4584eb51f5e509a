"""`python -m ops`: finds its own tools without an activated venv, and lists
the procedures with their runbook headings taken from the playbooks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from ops import cli, runner  # noqa: E402

VENV_BIN = Path(sys.executable).parent

PLAYBOOK = """---
# Proves the tools come from the venv ops runs in.
- name: "[테스트 절차] Check the PATH"
  hosts: all
  gather_facts: false
  tasks:
    - name: ansible-playbook resolves to the venv's
      ansible.builtin.command: which ansible-playbook
      register: which
      changed_when: false
    - name: Report it
      ansible.builtin.debug:
        msg: "TOOL={{ which.stdout }}"
"""


def _bare_path() -> str:
    """The system PATH without the venv's bin: what a user who did not
    activate the venv has."""
    parts = [
        p
        for p in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep)
        if p
        and Path(p).resolve() != VENV_BIN.resolve()
        and not (Path(p) / "ansible-playbook").exists()
    ]
    return os.pathsep.join(parts or ["/usr/bin", "/bin"])


def test_ops_run_works_without_the_venv_on_path(tmp_path):
    path = _bare_path()
    assert shutil.which("ansible-playbook", path=path) is None
    book = tmp_path / "path_check.yml"
    book.write_text(PLAYBOOK)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ops",
            "run",
            str(book),
            "-i",
            "localhost,",
            "-e",
            "ansible_connection=local",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            "--artifacts",
            str(tmp_path / "runs"),
        ],
        cwd=ROOT,
        env=dict(os.environ, PATH=path),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = proc.stdout[-3000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, output
    assert "rc=127" not in proc.stdout
    (run_dir,) = (tmp_path / "runs").iterdir()
    stdout = next(run_dir.glob("artifacts/*/stdout")).read_text()
    assert f"TOOL={VENV_BIN}/ansible-playbook" in stdout, stdout[-2000:]
    (report,) = run_dir.glob("reports/*.json")
    assert json.loads(report.read_text())["result"]


def test_tool_path_puts_the_venv_bin_first_once():
    path = runner.tool_path(f"/usr/bin{os.pathsep}{VENV_BIN}{os.pathsep}/bin")
    assert path.split(os.pathsep) == [str(VENV_BIN), "/usr/bin", "/bin"]
    assert runner.tool_path("").split(os.pathsep) == [str(VENV_BIN)]


def _book(path: Path, name: str, comment: str = "# A playbook.") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'---\n{comment}\n- name: "{name}"\n  hosts: all\n  tasks: []\n')
    return path


def test_discovery_looks_in_runbook_first_then_playbooks(tmp_path):
    top, runbook_dir = tmp_path / "playbooks", tmp_path / "playbooks" / "runbook"
    _book(runbook_dir / "recover_api.yml", "[API 무응답] Recover the API")
    _book(top / "recover_api.yml", "[API 무응답] the old copy")
    _book(top / "status.yml", "[서비스 상태 확인] Service status")
    _book(runbook_dir / "backup.yml", "Back up MongoDB")
    _book(top / "site.yml", "Prepare Docker hosts", "# Deploys the whole stack:")
    (top / "site.yml").write_text(
        "---\n# Deploys the whole stack:\n- name: Prepare\n"
        "  ansible.builtin.import_playbook: docker_host.yml\n"
    )
    books = runner.discover_playbooks((runbook_dir, top))
    assert sorted(books) == ["backup", "recover_api", "site", "status"]
    assert books["recover_api"].path == runbook_dir / "recover_api.yml"
    assert (books["recover_api"].heading, books["recover_api"].purpose) == (
        "API 무응답",
        "Recover the API",
    )
    assert books["status"].is_runbook  # not moved yet, known by its heading
    assert books["backup"].is_runbook and books["backup"].heading == ""
    assert not books["site"].is_runbook
    assert books["site"].purpose == "Deploys the whole stack"

    listing = cli.list_playbooks((runbook_dir, top))
    procedures, deploy = listing.split("Deploy and other playbooks:")
    assert "[API 무응답] Recover the API" in procedures
    assert "the old copy" not in listing
    assert "[서비스 상태 확인] Service status" in procedures
    assert "backup" in procedures
    assert "site" in deploy and "Deploys the whole stack" in deploy


def test_ops_list_shows_every_procedure_with_its_heading_from_the_playbook():
    proc = subprocess.run(
        [sys.executable, "-m", "ops", "list"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    books = runner.discover_playbooks()
    headed = [b for b in books.values() if b.heading]
    assert {b.name for b in headed} >= {"status", "recover_api", "recover_crawl_failures"}
    for book in headed:
        # The play's own name, e.g. "[크롤링 실패율 급등] Recover from a crawl failure spike".
        assert f"[{book.heading}] {book.purpose}" in proc.stdout
        assert book.purpose
    assert "[서비스 상태 확인] Service status" in proc.stdout
    procedures, deploy = proc.stdout.split("Deploy and other playbooks:")
    assert "site" in deploy and "site" not in procedures.split()
    for book in books.values():
        assert book.name in proc.stdout
