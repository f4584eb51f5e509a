"""The procedure runs through `python -m ops run` like an operator's run,
even though the handler itself was started by the ansible-runner of the
rule's action, whose environment (awx_display stdout callback, artifact
settings) must not leak into it; the run leaves its incident report with
the automation's context."""

from __future__ import annotations

import json
from pathlib import Path

import ansible_runner

from ops.remediator import config as config_mod
from ops.remediator import handler

PLAYBOOK = """---
- name: "[테스트] A harmless procedure"
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Publish a finding
      ansible.builtin.set_stats:
        data:
          incident_findings: ["hello from an automatic run"]
          incident_result: recovered
"""


def test_a_procedure_run_from_a_rule_action_has_a_clean_environment(
    remediator_config, tmp_path, monkeypatch
):
    runner_callbacks = Path(ansible_runner.__file__).parent / "display_callback" / "callback"
    # What ansible-runner sets for the rule action's wrapper play.
    monkeypatch.setenv("ANSIBLE_STDOUT_CALLBACK", "awx_display")
    monkeypatch.setenv("ANSIBLE_CALLBACK_PLUGINS", str(runner_callbacks))
    monkeypatch.setenv("AWX_ISOLATED_DATA_DIR", str(tmp_path / "wrapper-artifacts"))
    playbook = tmp_path / "harmless.yml"
    playbook.write_text(PLAYBOOK)
    inventory = tmp_path / "hosts"
    inventory.write_text("localhost ansible_connection=local\n")
    text = remediator_config.read_text() + f"inventory: {inventory}\n"
    remediator_config.write_text(text)
    cfg = config_mod.load()
    context = {
        "trigger": "remediator",
        "alert": {
            "alertname": "ApiDown",
            "status": "firing",
            "labels": {"alertname": "ApiDown", "procedure": "recover_api"},
            "annotations": {},
            "starts_at": "2026-12-02T20:00:00Z",
            "fingerprint": "ab",
        },
        "received_at": "2026-12-02T20:00:40Z",
        "decision": {"procedure": "recover_api", "action": "run", "reason": "test"},
        "action_started_at": "2026-12-02T20:00:41Z",
    }
    rc, run_dir = handler.run_procedure(cfg, str(playbook), {}, context)
    assert rc == 0, run_dir
    [report] = Path(run_dir, "reports").glob("*.json")
    data = json.loads(report.read_text())
    assert data["result"] == "recovered"
    assert data["automation"]["decision"]["reason"] == "test"
    assert data["mttd_seconds"] == 40
