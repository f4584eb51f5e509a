"""The rules themselves, offline: ansible-rulebook (Drools on Java) runs
extensions/eda/rulebooks/remediator.yml with the project's source replaying
recorded requests, in check mode, so each rule's action really runs
`python -m ops remediator handle` and records its decision, and no
playbook runs."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import ROOT, SECRET, payload

from ops.remediator.ledger import Ledger


def _record(directory, name: str, notification: dict, secret: str = SECRET) -> None:
    (directory / f"{name}.json").write_text(
        json.dumps({"headers": {"Authorization": f"Bearer {secret}"}, "body": notification})
    )


def test_recorded_requests_through_the_real_rules(remediator_config, tmp_path):
    replay = tmp_path / "replay"
    replay.mkdir()
    _record(replay, "1-firing", payload("firing_api_down"))
    _record(replay, "2-unknown", payload("unknown_alert"))
    _record(replay, "3-bad-signature", payload("firing_mongodb_down"), secret="forged")
    _record(replay, "4-resolved", payload("resolved_api_down"))
    _record(replay, "5-destructive", payload("destructive_restore"))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ops",
            "remediator",
            "--config",
            str(remediator_config),
            "replay",
            str(replay),
            "--check",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    decided = {}
    for entry in ledger.entries(kinds=("decision",)):
        alert = ledger.alert(entry["alert_id"])
        decided[(alert["alertname"], alert["status"])] = entry["detail"]["action"]
    assert decided == {
        ("ApiDown", "firing"): "run",
        ("SomethingNew", "firing"): "ignore",
        ("ApiDown", "resolved"): "ignore",
        ("RestoreWanted", "firing"): "refuse",
    }
    assert [e["procedure"] for e in ledger.entries(kinds=("would_run",))] == ["recover_api"]
    assert ledger.actions() == []  # check mode: nothing ran
    [rejected] = ledger.entries(kinds=("rejected",))
    assert "secret" in rejected["reason"]
    assert "replay 3-bad-signature.json: 401" in proc.stdout
