"""Signing around the edges (issue 10): what an import signs, the orphans
retention reports, adopting backups made before signing, remote copies."""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path

import pytest

from crawler import _backup_engine as engine

pytestmark = pytest.mark.integration


def _backup(uri, backup_dir, **kw):
    kw.setdefault("label", "nightly")
    return engine.run_backup(uri, str(backup_dir), **kw)


def _age(path, seconds):
    old = time.time() - seconds
    os.utime(path, (old, old))


# ------------------------------------------------------------------- import


def test_import_signs_only_what_it_read_to_the_end(mongo_uri, seeded, tmp_path, monkeypatch):
    """The source is cut short after the check (a dump still being written,
    a file replaced): the signed backup must still be one that verifies."""
    source = tmp_path / "dump.archive.gz"
    source.write_bytes(Path(_backup(mongo_uri, tmp_path / "made")["path"]).read_bytes())
    real_read = engine.backup.read_archive

    def read_then_cut_the_source(path, *a, **kw):
        reader = real_read(path, *a, **kw)
        with open(source, "r+b") as handle:
            handle.truncate(source.stat().st_size // 2)
        return reader

    monkeypatch.setattr(engine.backup, "read_archive", read_then_cut_the_source)
    backups = tmp_path / "backups"
    try:
        imported = engine.import_archive(str(source), str(backups))
    except engine.BackupError:
        imported = None  # refusing is fine too; signing a cut file is not
    for listed in engine.list_backups(str(backups)):
        assert listed["good"]
        engine.verify_backup(listed["path"])  # raises for a truncated archive
    if imported is not None:
        assert imported["signed"] is True


def test_import_of_a_truncated_archive_writes_and_signs_nothing(mongo_uri, seeded, tmp_path):
    source = tmp_path / "dump.archive.gz"
    data = Path(_backup(mongo_uri, tmp_path / "made")["path"]).read_bytes()
    source.write_bytes(data[: len(data) // 2])
    backups = tmp_path / "backups"
    backups.mkdir()
    with pytest.raises(engine.BackupError, match="truncated"):
        engine.import_archive(str(source), str(backups))
    assert sorted(os.listdir(backups)) == []


# ------------------------------------------------------------------ orphans


def test_orphan_archive_and_stale_partial_are_reported_not_deleted(mongo_uri, seeded, tmp_path):
    backup = _backup(mongo_uri, tmp_path)
    orphan = tmp_path / "20260101T000000Z-lost.archive.gz"
    orphan.write_bytes(b"an archive whose manifest is gone")
    stale = tmp_path / "20260101T000000Z-crashed.archive.gz.4242-deadbeef.partial"
    stale.write_bytes(b"half a dump")
    _age(stale, 2 * 3600)
    fresh = tmp_path / "20260101T000000Z-running.archive.gz.4243-cafebabe.partial"
    fresh.write_bytes(b"a dump being written")

    result = engine.apply_retention(str(tmp_path), keep_last=5, check_mode=True)
    reasons = {r["name"]: r["reason"] for r in result["rejected"]}
    assert reasons[orphan.name[: -len(".archive.gz")]] == "archive without manifest"
    assert reasons[stale.name].startswith("stale partial")
    assert fresh.name not in reasons  # young: may still be written
    assert result["deleted_orphans"] == []
    assert orphan.exists() and stale.exists()

    planned = engine.apply_retention(
        str(tmp_path), keep_last=5, delete_orphans=True, check_mode=True
    )
    assert sorted(planned["deleted_orphans"]) == sorted(
        [orphan.name[: -len(".archive.gz")], stale.name]
    )
    assert orphan.exists() and stale.exists()  # check mode only says so

    done = engine.apply_retention(str(tmp_path), keep_last=5, delete_orphans=True)
    assert sorted(done["deleted_orphans"]) == sorted(planned["deleted_orphans"])
    assert not orphan.exists() and not stale.exists() and fresh.exists()
    assert [m["name"] for m in engine.list_backups(str(tmp_path))] == [backup["name"]]


def test_partial_is_not_stale_while_a_backup_holds_the_directory(tmp_path):
    stale = tmp_path / "20260101T000000Z-x.archive.gz.1-abcdef12.partial"
    stale.write_bytes(b"x")
    _age(stale, 2 * 3600)
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)  # another process's lock
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert engine.scan_backups(str(tmp_path))["rejected"] == []
    finally:
        os.close(fd)
    assert [r["name"] for r in engine.scan_backups(str(tmp_path))["rejected"]] == [stale.name]


# ----------------------------------------------------------------- adoption


def test_backups_made_without_a_key_are_adopted_by_sign_existing(
    mongo_uri, seeded, tmp_path, monkeypatch, signing_key
):
    monkeypatch.delenv("ACS_BACKUP_SIGNING_KEY")
    old = _backup(mongo_uri, tmp_path)
    tampered = _backup(mongo_uri, tmp_path, label="tampered")
    manifest = json.loads(Path(tampered["manifest_path"]).read_text())
    manifest["databases"]["crawler"]["collections"]["pages"]["documents"] = 1
    Path(tampered["manifest_path"]).write_text(json.dumps(manifest))
    monkeypatch.setenv("ACS_BACKUP_SIGNING_KEY", signing_key)
    assert engine.list_backups(str(tmp_path)) == []

    planned = engine.sign_existing(str(tmp_path), check_mode=True)
    assert planned["signed"] == [old["name"]] and planned["check_mode"] is True
    assert "signature" not in json.loads(Path(old["manifest_path"]).read_text())
    assert [r["name"] for r in planned["refused"]] == [tampered["name"]]
    assert "does not verify" in planned["refused"][0]["reason"]

    done = engine.sign_existing(str(tmp_path))
    assert done["signed"] == [old["name"]] and done["changed"] is True
    assert [m["name"] for m in engine.list_backups(str(tmp_path))] == [old["name"]]
    assert engine.sign_existing(str(tmp_path), names=[old["name"]])["already_signed"] == [
        old["name"]
    ]


def test_sign_existing_never_re_signs_an_altered_manifest(mongo_uri, seeded, tmp_path):
    backup = _backup(mongo_uri, tmp_path)
    manifest = json.loads(Path(backup["manifest_path"]).read_text())
    manifest["label"] = "weekly"
    Path(backup["manifest_path"]).write_text(json.dumps(manifest))
    result = engine.sign_existing(str(tmp_path), names=[backup["name"]])
    assert result["signed"] == []
    assert result["refused"][0]["reason"].startswith("signature mismatch")


def test_sign_existing_without_a_key_says_where_it_comes_from(tmp_path, monkeypatch):
    monkeypatch.delenv("ACS_BACKUP_SIGNING_KEY")
    with pytest.raises(engine.BackupError, match="ACS_BACKUP_SIGNING_KEY"):
        engine.sign_existing(str(tmp_path))


def test_key_from_a_file(mongo_uri, seeded, tmp_path, monkeypatch, signing_key):
    monkeypatch.delenv("ACS_BACKUP_SIGNING_KEY")
    key_file = tmp_path / "key"
    key_file.write_text(signing_key + "\n")
    monkeypatch.setenv("ACS_BACKUP_SIGNING_KEY_FILE", str(key_file))
    backup = _backup(mongo_uri, tmp_path / "b")
    monkeypatch.delenv("ACS_BACKUP_SIGNING_KEY_FILE")
    monkeypatch.setenv("ACS_BACKUP_SIGNING_KEY", signing_key)
    assert [m["name"] for m in engine.list_backups(str(tmp_path / "b"))] == [backup["name"]]


# ------------------------------------------------------------------- remote


def test_remote_manifest_keeps_the_signature_and_unsigned_ones_are_ignored(
    mongo_uri, seeded, tmp_path, s3, s3_client
):
    result = _backup(mongo_uri, tmp_path, s3=s3)
    key = f"prod/mongodb/{result['name']}.manifest.json"
    remote = json.loads(s3_client.get_object(Bucket=s3["bucket"], Key=key)["Body"].read())
    assert remote["signature"] == json.loads(Path(result["manifest_path"]).read_text())["signature"]
    assert remote["remote"]["key"].endswith(".archive.gz")  # "remote" is signed too

    forged = dict(remote, name="20300101T000000Z-forged")
    forged.pop("signature")
    forged["finished_at"] = "2026-01-01T00:00:00.000000Z"
    s3_client.put_object(
        Bucket=s3["bucket"],
        Key="prod/mongodb/20300101T000000Z-forged.manifest.json",
        Body=json.dumps(forged).encode(),
    )
    s3_client.put_object(
        Bucket=s3["bucket"], Key="prod/mongodb/20300101T000001Z-bad.manifest.json", Body=b"{"
    )
    rejected = []
    listed = engine.list_remote_backups(s3, rejected=rejected)
    assert [m["name"] for m in listed] == [result["name"]]
    assert {r["name"]: r["reason"][:8] for r in rejected} == {
        "20300101T000000Z-forged": "unsigned",
        "20300101T000001Z-bad": "bad JSON",
    }
    retention = engine.apply_retention(str(tmp_path), keep_last=0, max_age_days=1, s3=s3)
    assert retention["deleted_remote"] == []
    assert len(retention["rejected_remote"]) == 2
