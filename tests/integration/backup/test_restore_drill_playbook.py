"""playbooks/runbook/restore_drill.yml against a backup of a container named
like the stack's mongodb service: the drill takes that service's image for
its throwaway server, passes on a good backup, fails naming the check on a
damaged one, and in check mode only says what it would do."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from backup_support import snapshot
from test_playbooks import IMAGE, PLAYBOOK_SIGNING_KEY, run_playbook, stack_mongodb  # noqa: F401

from crawler import _backup_engine as engine

pytestmark = [pytest.mark.integration, pytest.mark.docker]

DRILL = "restore_drill : Restore drill (verify, restore into a throwaway server, check, remove it)"
REPORT = "restore_drill : Report the drill"


@pytest.fixture
def backed_up(stack_mongodb, tmp_path):  # noqa: F811 - the fixture imported above
    project, mongo = stack_mongodb
    mongo.crawler.pages.insert_many([{"url": f"u{i}", "n": i} for i in range(120)])
    mongo.crawler.pages.create_index("url", unique=True)
    uri = mongo.address and f"mongodb://{mongo.address[0]}:{mongo.address[1]}/"
    backups = tmp_path / "backups"
    made = engine.run_backup(uri, str(backups), label="nightly", signing_key=PLAYBOOK_SIGNING_KEY)
    common = ["-e", f"stack_project_name={project}", "-e", f"stack_backup_dir={backups}"]
    return made, mongo, common


def test_the_drill_playbook_passes_on_a_good_backup_and_records_it(backed_up, tmp_path):
    made, mongo, common = backed_up
    before = snapshot(mongo, ("crawler",))
    rc, tasks = run_playbook(tmp_path, "restore_drill.yml", *common)
    assert rc == 0, [t.get("msg") for t in tasks.values() if t.get("failed")]
    drilled = tasks[DRILL]
    assert drilled["result"] == "passed" and drilled["backup"] == made["name"]
    assert drilled["throwaway"]["image"] == IMAGE
    assert [c["status"] for c in drilled["checks"]] == ["passed"] * 7
    assert "RTO" in tasks[REPORT]["msg"]
    assert snapshot(mongo, ("crawler",)) == before
    record = json.loads(Path(made["path"]).with_name(".restore-drill.json").read_text())
    assert record["last_passed"]["backup"] == made["name"]
    assert engine.throwaway.leftovers() == []


def test_the_drill_playbook_fails_naming_the_check(backed_up, tmp_path):
    made, _mongo, common = backed_up
    with open(made["path"], "r+b") as handle:
        handle.seek(os.path.getsize(made["path"]) // 2)
        byte = handle.read(1)
        handle.seek(-1, 1)
        handle.write(bytes([byte[0] ^ 0xFF]))
    rc, tasks = run_playbook(tmp_path, "restore_drill.yml", *common)
    assert rc != 0
    failed = tasks[DRILL]
    assert failed["msg"].startswith(f"restore drill of {made['name']} failed: archive: ")
    assert failed["failed_checks"] == ["archive"]
    assert engine.throwaway.leftovers() == []


def test_the_drill_playbook_in_check_mode_says_what_it_would_do(backed_up, tmp_path):
    made, _mongo, common = backed_up
    rc, tasks = run_playbook(tmp_path, "restore_drill.yml", "--check", *common)
    assert rc == 0, [t.get("msg") for t in tasks.values() if t.get("failed")]
    report = tasks[REPORT]["msg"]
    assert report.startswith(f"would drill {made['name']} in a throwaway {IMAGE} container")
    assert not Path(made["path"]).with_name(".restore-drill.json").exists()
