"""A restore that fails after it dropped data puts the safety backup back.

The fault is real: an archive whose second collection holds the same _id
twice. It passes every check made before anything is touched (import,
manifest, sha256, CRC-64, read to the end), then the server refuses the
duplicate after the restore has already dropped and re-filled collections."""

from __future__ import annotations

import os

import pytest
from backup_support import snapshot
from test_engine import write_mongodump_style_archive

from crawler import _backup_engine as engine
from crawler._backup_engine import restoring

pytestmark = pytest.mark.integration


def _poisoned_backup(tmp_path, backups):
    docs_a = [{"_id": i, "k": f"new{i}"} for i in range(60)]
    docs_b = [{"_id": "same", "n": 1}, {"_id": "same", "n": 2}]
    path = tmp_path / "poisoned.archive.gz"
    write_mongodump_style_archive(path, docs_a, docs_b)
    return engine.import_archive(str(path), str(backups), label="poisoned")


@pytest.fixture
def before(mongo, seeded):
    mongo.compat.a.insert_many([{"_id": i, "k": f"old{i}"} for i in range(10)])
    mongo.compat.b.insert_many([{"_id": f"b{i}"} for i in range(5)])
    return snapshot(mongo, ("crawler", "metrics", "compat"))


def test_a_restore_failing_part_way_puts_the_safety_backup_back(mongo_uri, mongo, before, tmp_path):
    backups = tmp_path / "backups"
    poisoned = _poisoned_backup(tmp_path, backups)
    with pytest.raises(engine.BackupError) as err:
        engine.restore(mongo_uri, poisoned["path"], str(backups), method="native")
    # every document and index as before, in every database
    after = snapshot(mongo, ("crawler", "metrics", "compat"))
    assert {ns: len(docs) for ns, (docs, _) in after.items()} == {
        ns: len(docs) for ns, (docs, _) in before.items()
    }
    assert after == before
    message = str(err.value)
    assert f"restore of {os.path.basename(poisoned['path'])} failed part way" in message
    assert "was put back automatically" in message and "pre-restore" in message
    # writers are not left paused
    assert engine.marker.restore_in_progress(str(backups)) is None


def test_when_the_put_back_fails_too_the_error_names_the_backup_to_restore_by_hand(
    mongo_uri, mongo, before, tmp_path, monkeypatch
):
    backups = tmp_path / "backups"
    poisoned = _poisoned_backup(tmp_path, backups)
    real_backup = restoring.run_backup

    def safety_backup_then_disk_damage(*a, **kw):
        made = real_backup(*a, **kw)
        with open(made["path"], "r+b") as fh:  # the disk loses its second half
            fh.truncate(os.path.getsize(made["path"]) // 2)
        return made

    monkeypatch.setattr(restoring, "run_backup", safety_backup_then_disk_damage)
    with pytest.raises(engine.BackupError) as err:
        engine.restore(mongo_uri, poisoned["path"], str(backups), method="native")
    message = str(err.value)
    safety = next(b for b in engine.list_backups(str(backups)) if b["label"] == "pre-restore")
    assert "failed part way" in message and "putting back the safety backup failed too" in message
    assert f"restore the safety backup {safety['path']} by hand" in message
