"""The three modules run by ansible-playbook for real against FerretDB: check
mode first, then for real, then again to prove idempotence."""

from __future__ import annotations

from pathlib import Path

import pytest
from backup_support import play, snapshot

pytestmark = pytest.mark.integration


def test_backup_module_check_mode_then_real_then_idempotent(mongo_uri, seeded, tmp_path):
    backups = tmp_path / "backups"
    task = {
        "name": "backup",
        "mongodb_backup": {
            "uri": mongo_uri,
            "backup_dir": str(backups),
            "label": "nightly",
            "if_older_than": "1h",
        },
    }
    dry = play(tmp_path, [task], check=True)["backup"]
    assert dry["changed"] is True
    assert dry["path"].endswith("-nightly.archive.gz")
    assert not backups.exists()

    first = play(tmp_path, [task])["backup"]
    assert first["changed"] is True, first
    assert Path(first["path"]).is_file()
    assert first["totals"] == {"databases": 2, "collections": 4, "documents": 365}
    assert first["manifest"]["sha256"] == first["sha256"]

    second = play(tmp_path, [task])["backup"]
    assert second["changed"] is False
    assert second["path"] == first["path"]
    assert len(list(backups.glob("*.archive.gz"))) == 1


def test_restore_module_check_diff_then_real(mongo_uri, seeded, tmp_path):
    backups = tmp_path / "backups"
    original = snapshot(seeded)
    play(
        tmp_path,
        [{"name": "b", "mongodb_backup": {"uri": mongo_uri, "backup_dir": str(backups)}}],
    )
    seeded.crawler.pages.delete_many({"n": {"$gte": 7}})
    damaged = snapshot(seeded)
    task = {
        "name": "restore",
        "mongodb_restore": {"uri": mongo_uri, "backup_dir": str(backups)},
    }

    dry = play(tmp_path, [task], check=True, diff=True)["restore"]
    assert dry["changed"] is True
    assert "crawler.pages: 7 documents" in dry["diff"]["before"]
    assert "crawler.pages: 300 documents" in dry["diff"]["after"]
    assert snapshot(seeded) == damaged

    done = play(tmp_path, [task])["restore"]
    assert snapshot(seeded) == original
    assert Path(done["safety_backup_path"]).is_file()
    assert "-pre-restore.archive.gz" in done["safety_backup_path"]
    assert done["restored_counts"]["crawler"]["pages"] == 300


def test_restore_module_refuses_a_damaged_archive(mongo_uri, seeded, tmp_path):
    backups = tmp_path / "backups"
    made = play(
        tmp_path,
        [{"name": "b", "mongodb_backup": {"uri": mongo_uri, "backup_dir": str(backups)}}],
    )["b"]
    with open(made["path"], "r+b") as handle:
        handle.truncate(made["size"] - 10)
    seeded.crawler.jobs.delete_many({})
    before = snapshot(seeded)
    result = play(
        tmp_path,
        [{"name": "r", "mongodb_restore": {"uri": mongo_uri, "source": made["path"]}}],
    )["r"]
    assert result["failed"] is True
    assert "truncated or was replaced" in result["msg"]
    assert snapshot(seeded) == before


def test_service_health_module(mongo_uri, seeded, tmp_path):
    port = int(mongo_uri.rsplit(":", 1)[1].strip("/"))
    ok = play(
        tmp_path,
        [
            {
                "name": "health",
                "service_health": {
                    "targets": [
                        {"name": "mongodb", "type": "mongodb", "uri": mongo_uri},
                        {"name": "mongodb-port", "type": "tcp", "host": "127.0.0.1", "port": port},
                    ]
                },
            }
        ],
        check=True,
    )["health"]
    assert ok["changed"] is False
    assert sorted(ok["healthy"]) == ["mongodb", "mongodb-port"]
    assert "ping ok" in ok["targets"]["mongodb"]["detail"]
