"""cli.read, what the status playbook and the weekly check read in-process
(the remediator_state lookup), is what `python -m ops remediator status
--json` and `summary --days N --json` print."""

from __future__ import annotations

import json
import time

import pytest
import yaml

from ops.cli import main
from ops.remediator import CONFIG_ENV, cli
from ops.remediator.ledger import Ledger


@pytest.fixture(autouse=True)
def _restore_config_env(monkeypatch):
    """`--config` sets the environment for the process; undo it after each test."""
    monkeypatch.setenv(CONFIG_ENV, "/nonexistent/remediator.yml")


def _config(tmp_path, **settings):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    alert = ledger.record_alert(
        {"alertname": "ApiDown", "status": "firing", "labels": {"procedure": "recover_api"}}
    )
    ledger.finish_action(ledger.start_action("recover_api", alert), 1, False)
    ledger.open_breaker("recover_api", "2 failed actions in a row", now=time.time())
    config = tmp_path / "remediator.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "ledger": str(tmp_path / "ledger.sqlite3"),
                "procedures": {"recover_api": {"verify": {"promql": "up == 1"}}},
                **settings,
            }
        )
    )
    return config


def _printed(capsys, *argv):
    assert main(["remediator", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_read_is_what_the_commands_print(tmp_path, capsys):
    config = _config(tmp_path, dry_run=True)
    state = cli.read(config, days=3)
    assert state["deployed"] is True and state["error"] == ""
    assert state["config"] == str(config)
    assert state["status"] == _printed(capsys, "--config", str(config), "status", "--json")
    assert state["summary"] == _printed(
        capsys, "--config", str(config), "summary", "--days", "3", "--json"
    )
    assert state["status"]["dry_run"] is True
    assert [b["procedure"] for b in state["status"]["breakers"]] == ["recover_api"]


def test_status_only_without_days(tmp_path):
    assert cli.read(_config(tmp_path))["summary"] is None


def test_an_absent_remediator_is_not_deployed(tmp_path):
    assert cli.read(tmp_path / "absent.yml") == {
        "deployed": False,
        "config": str(tmp_path / "absent.yml"),
        "status": None,
        "summary": None,
        "error": "",
    }


def test_an_unreadable_configuration_is_an_error_as_the_command_says(tmp_path, capsys):
    config = tmp_path / "remediator.yml"
    config.write_text("ledger: [not, a, path]\n")
    state = cli.read(config, days=7)
    assert (state["status"], state["summary"]) == (None, None)
    assert main(["remediator", "--config", str(config), "status", "--json"]) == 2
    assert state["error"] == capsys.readouterr().err.strip()
    assert state["error"].startswith("remediator: ") and "ledger" in state["error"]
