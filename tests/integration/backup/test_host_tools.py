"""The host method: mongodump/mongorestore from tools_dir on this host. The
MongoDB database tools cannot be built here, so stand-in scripts take their
place: the stand-in mongodump prints a real archive (made beforehand by the
engine from FerretDB), the stand-in mongorestore records its arguments. The
engine's side is real: the command lines, streaming, hashing, the manifest,
verification, the safety backup and the count check."""

from __future__ import annotations

import pytest
from backup_support import snapshot

from crawler import _backup_engine as engine

pytestmark = pytest.mark.integration

STANDIN = """#!/bin/sh
if [ "$1" = "--version" ]; then echo "{tool} version: 100.10.0-standin"; exit 0; fi
echo "$@" >> {log}
{action}
"""


@pytest.fixture
def tools_dir(mongo_uri, seeded, tmp_path):
    made = engine.run_backup(mongo_uri, str(tmp_path / "source"), label="src", method="native")
    tools = tmp_path / "tools"
    tools.mkdir()
    for tool, action in (("mongodump", f"exec cat {made['path']}"), ("mongorestore", "exit 0")):
        script = tools / tool
        script.write_text(STANDIN.format(tool=tool, log=tmp_path / f"{tool}.args", action=action))
        script.chmod(0o755)
    return tools


def _args(tools_dir, tool):
    return (tools_dir.parent / f"{tool}.args").read_text().splitlines()


def test_host_backup_streams_mongodump_and_records_the_tool(mongo_uri, tools_dir, tmp_path):
    planned = engine.run_backup(
        mongo_uri, str(tmp_path / "b"), method="host", tools_dir=str(tools_dir), check_mode=True
    )
    path = str(tools_dir / "mongodump")
    assert planned["method"] == "mongodump"
    assert planned["plan"] == {
        "runs_in": "this host",
        "command": [path, "--uri=" + mongo_uri, "--archive", "--gzip", "--quiet"],
    }
    result = engine.run_backup(
        mongo_uri, str(tmp_path / "b"), method="host", tools_dir=str(tools_dir)
    )
    assert result["method"] == "mongodump"
    assert result["tool"] == {"name": "mongodump", "version": "100.10.0-standin"}
    assert _args(tools_dir, "mongodump") == [f"--uri={mongo_uri} --archive --gzip --quiet"]
    assert result["totals"]["documents"] == 365
    assert engine.verify_backup(result["path"])["verified"] is True


def test_host_backup_of_two_databases_is_refused(mongo_uri, tools_dir, tmp_path):
    with pytest.raises(engine.BackupError, match="mongodump dumps one database or all"):
        engine.run_backup(
            mongo_uri,
            str(tmp_path / "b"),
            method="mongodump",
            tools_dir=str(tools_dir),
            databases=["crawler", "metrics"],
        )
    assert not list((tmp_path / "b").iterdir())


def test_host_restore_rehearses_then_restores_with_drop(mongo_uri, seeded, tools_dir, tmp_path):
    backups = tmp_path / "b"
    backup = engine.run_backup(mongo_uri, str(backups), label="x", method="native")
    before = snapshot(seeded)
    result = engine.restore(
        mongo_uri, backup["path"], str(backups), method="host", tools_dir=str(tools_dir)
    )
    assert result["method"] == "mongodump"
    assert result["safety_backup"]["method"] == "mongodump"
    assert _args(tools_dir, "mongorestore") == [
        f"--uri={mongo_uri} --archive={backup['path']} --gzip --drop --quiet --dryRun",
        f"--uri={mongo_uri} --archive={backup['path']} --gzip --drop --quiet",
    ]
    assert result["restored_counts"] == engine.manifest_counts(backup)
    assert snapshot(seeded) == before
