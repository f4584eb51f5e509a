"""The runbook's reads of the crawler API send its read-only key.

Every read of `{{ runbook_api_url }}/api/...` needs a key (the API's
crawler/api/dependencies.py); the runbook only reads, so it sends the
read-only key (`runbook` role, tasks_from `api_key`), and under no_log,
because the request's headers would otherwise reach the output and
ansible-runner's event files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_api_field_names import api_reads

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent


def test_the_runbook_reads_the_api():
    # errors, health, sources, backups x3, status: backups and errors
    assert len(api_reads()) >= 7, api_reads()


@pytest.mark.parametrize(
    "where,task,args",
    [r[:3] for r in api_reads()],
    ids=[f"{w}:{t.get('name', '?')}:{n}" for w, t, _, n in api_reads()],
)
def test_every_api_read_sends_the_read_only_key_under_no_log(where, task, args):
    method = str(args.get("method", "GET")).upper()
    # Reads only: a change would need an admin key, which the runbook does not hold.
    assert method == "GET", f"{where}: {task['name']} is a {method}; give it an admin key"
    assert args.get("headers") == "{{ runbook_api_read_headers }}", (
        f"{where}: {task['name']} sends no X-API-Key; add headers: "
        '"{{ runbook_api_read_headers }}" (include_role runbook, tasks_from: api_key, first)'
    )
    assert task.get("no_log") is True, f"{where}: {task['name']} would log the key; add no_log"


def _api_key_headers(tmp_path: Path, credentials: str | None, extra: dict | None = None):
    """runbook_api_read_headers as tasks_from api_key sets it, and the play's output."""
    creds = tmp_path / "credentials.yml"
    if credentials is not None:
        creds.write_text(credentials)
    out = tmp_path / "headers.json"
    play = tmp_path / "play.yml"
    play.write_text(
        yaml.safe_dump(
            [
                {
                    "hosts": "localhost",
                    "connection": "local",
                    "gather_facts": False,
                    "vars": {
                        "ansible_python_interpreter": sys.executable,
                        "runbook_credentials_file": str(creds),
                        **(extra or {}),
                    },
                    "tasks": [
                        {
                            "ansible.builtin.include_role": {
                                "name": "runbook",
                                "tasks_from": "api_key",
                            }
                        },
                        {
                            "ansible.builtin.copy": {
                                "content": "{{ runbook_api_read_headers | to_json }}",
                                "dest": str(out),
                                "mode": "0600",
                            }
                        },
                    ],
                }
            ]
        )
    )
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_ROLES_PATH=str(REPO / "roles"),
        ACS_REPORTS_DIR=str(tmp_path / "reports"),
        ANSIBLE_NOCOLOR="1",
    )
    proc = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "localhost,", str(play)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text()), proc.stdout


def test_the_key_comes_from_the_credentials_file_and_is_not_printed(tmp_path):
    key = "read-key-from-the-file-0123456789"
    headers, output = _api_key_headers(
        tmp_path, f"api_key: admin-0123456789\napi_read_key: {key}\n"
    )
    assert headers == {"X-API-Key": key}
    assert key not in output and "admin-0123456789" not in output


def test_the_vaulted_key_wins(tmp_path):
    headers, _ = _api_key_headers(
        tmp_path, "api_read_key: from-the-file\n", {"stack_secrets": {"api_read_key": "vaulted"}}
    )
    assert headers == {"X-API-Key": "vaulted"}


@pytest.mark.parametrize("credentials", [None, "api_key: only-the-admin-key\n", ""])
def test_without_a_read_key_the_reads_go_keyless_and_the_report_says_why(tmp_path, credentials):
    headers, _ = _api_key_headers(tmp_path, credentials)
    assert headers == {}
    [report] = (tmp_path / "reports").glob("*.json")
    findings = json.loads(report.read_text())["findings"]
    assert any("no api_read_key" in f and "playbooks/site.yml" in f for f in findings), findings
