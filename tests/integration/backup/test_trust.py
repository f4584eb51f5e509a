"""Manifests are trusted only when signed: what listing, the choice of the
backup to restore and restore itself do with manifests that are altered,
forged, future-dated or broken (issue 10). Against a real FerretDB."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest
from backup_support import snapshot, write_signed

from crawler import _backup_engine as engine

pytestmark = pytest.mark.integration


def _backup(uri, backup_dir, **kw):
    kw.setdefault("label", "nightly")
    return engine.run_backup(uri, str(backup_dir), **kw)


def _manifest(backup):
    return json.loads(Path(backup["manifest_path"]).read_text())


def _write(backup, manifest):
    Path(backup["manifest_path"]).write_text(json.dumps(manifest))


def _reasons(backup_dir):
    return {r["name"]: r["reason"] for r in engine.scan_backups(str(backup_dir))["rejected"]}


def _older_and_newer(uri, backup_dir):
    now = dt.datetime.now(dt.UTC)
    older = _backup(uri, backup_dir, now=now - dt.timedelta(hours=2))
    newer = _backup(uri, backup_dir, now=now - dt.timedelta(hours=1))
    return older, newer


def test_backups_are_signed_and_listed(mongo_uri, seeded, tmp_path, signing_key):
    backup = _backup(mongo_uri, tmp_path)
    signature = _manifest(backup)["signature"]
    assert signature["alg"] == "hmac-sha256"
    assert signing_key not in json.dumps(_manifest(backup))  # the id, never the key
    assert backup["signed"] is True and backup["warnings"] == []
    assert [m["name"] for m in engine.list_backups(str(tmp_path))] == [backup["name"]]
    assert engine.scan_backups(str(tmp_path))["rejected"] == []


def test_tampered_count_is_not_good_is_reported_and_restore_is_refused(mongo_uri, seeded, tmp_path):
    older, newer = _older_and_newer(mongo_uri, tmp_path)
    manifest = _manifest(newer)
    manifest["databases"]["crawler"]["collections"]["pages"]["documents"] = 5
    _write(newer, manifest)
    seeded.crawler.pages.delete_many({"n": {"$lt": 5}})
    before = snapshot(seeded)

    assert [m["name"] for m in engine.list_backups(str(tmp_path))] == [older["name"]]
    assert engine.last_good_backup(str(tmp_path))["name"] == older["name"]
    assert _reasons(tmp_path) == {newer["name"]: "signature mismatch"}
    with pytest.raises(engine.BackupError, match=r"not trusted: signature mismatch.*sign_existing"):
        engine.restore(mongo_uri, newer["name"], str(tmp_path))
    assert snapshot(seeded) == before
    assert not list(tmp_path.glob("*pre-restore*"))


def test_forged_manifest_without_the_key_is_ignored_and_refused(mongo_uri, seeded, tmp_path):
    """Someone who can write the backup directory but has no key: a manifest
    naming their own archive (here a copy of a real one, under a newer name)."""
    real = _backup(mongo_uri, tmp_path, now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    forged_name = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-nightly"
    forged_archive = tmp_path / f"{forged_name}.archive.gz"
    forged_archive.write_bytes(Path(real["path"]).read_bytes())
    manifest = _manifest(real)
    manifest.pop("signature", None)
    manifest.update(name=forged_name, archive=forged_archive.name)
    manifest["finished_at"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    (tmp_path / f"{forged_name}.manifest.json").write_text(json.dumps(manifest))
    other_key = dict(manifest, name=forged_name)
    before = snapshot(seeded)

    assert [m["name"] for m in engine.list_backups(str(tmp_path))] == [real["name"]]
    assert engine.last_good_backup(str(tmp_path))["name"] == real["name"]
    assert _reasons(tmp_path) == {forged_name: "unsigned"}
    with pytest.raises(engine.BackupError, match=r"not trusted: unsigned.*allow_unsigned"):
        engine.restore(mongo_uri, str(forged_archive), str(tmp_path))
    # Signed with a key of their own: still not this stack's key.
    write_signed(tmp_path / f"{forged_name}.manifest.json", other_key, key="attacker-key")
    assert _reasons(tmp_path)[forged_name].startswith("signed with another key")
    with pytest.raises(engine.BackupError, match="signed with another key"):
        engine.restore(mongo_uri, forged_name, str(tmp_path))
    assert snapshot(seeded) == before


def test_operator_override_restores_an_unsigned_backup(mongo_uri, seeded, tmp_path, monkeypatch):
    monkeypatch.delenv("ACS_BACKUP_SIGNING_KEY")
    backup = _backup(mongo_uri, tmp_path)
    assert backup["signed"] is False and "UNSIGNED" in backup["warnings"][0]
    before = snapshot(seeded)
    seeded.crawler.pages.delete_many({})
    with pytest.raises(engine.BackupError, match=r"no good signed backup.*unsigned"):
        engine.restore(mongo_uri, None, str(tmp_path), skip_safety_backup=True)
    result = engine.restore(
        mongo_uri, backup["name"], str(tmp_path), skip_safety_backup=True, allow_unsigned=True
    )
    assert result["restored_counts"]["crawler"]["pages"] == 300
    assert snapshot(seeded) == before


def test_future_dated_manifest_is_ignored(mongo_uri, seeded, tmp_path):
    """Signed (a host with a wrong clock, or someone with the key) but days
    ahead: it would stay "the newest backup" and outlive retention."""
    real = _backup(mongo_uri, tmp_path)
    future = _backup(mongo_uri, tmp_path, label="future")
    manifest = _manifest(future)
    manifest["finished_at"] = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ"
    )
    write_signed(future["manifest_path"], manifest)

    assert [m["name"] for m in engine.list_backups(str(tmp_path))] == [real["name"]]
    assert _reasons(tmp_path)[future["name"]].startswith("finished_at in the future")
    with pytest.raises(engine.BackupError, match="finished_at in the future"):
        engine.restore(mongo_uri, future["name"], str(tmp_path), check_mode=True)
    assert (
        engine.restore(mongo_uri, None, str(tmp_path), check_mode=True)["archive"] == real["path"]
    )


def test_small_clock_skew_is_tolerated(mongo_uri, seeded, tmp_path):
    backup = _backup(mongo_uri, tmp_path, now=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2))
    assert [m["name"] for m in engine.list_backups(str(tmp_path))] == [backup["name"]]


@pytest.mark.parametrize(
    ("breakage", "reason"),
    [
        (lambda m: m.pop("sha256"), "missing field sha256"),
        (lambda m: m.pop("finished_at"), "missing field finished_at"),
        (None, "bad JSON"),
    ],
    ids=["no-sha256", "no-finished_at", "bad-json"],
)
def test_broken_manifest_never_breaks_listing(mongo_uri, seeded, tmp_path, breakage, reason):
    good, broken = _older_and_newer(mongo_uri, tmp_path)
    if breakage is None:
        Path(broken["manifest_path"]).write_text('{"format": "acs-backup-manifest/1", "na')
    else:
        manifest = _manifest(broken)
        breakage(manifest)
        write_signed(broken["manifest_path"], manifest)  # even signed: unusable

    assert [m["name"] for m in engine.list_backups(str(tmp_path))] == [good["name"]]
    assert _reasons(tmp_path)[broken["name"]].startswith(reason)
    retention = engine.apply_retention(str(tmp_path), keep_last=1, check_mode=True)
    assert retention["deleted"] == []
    assert broken["name"] in {r["name"] for r in retention["rejected"]}


def test_good_means_the_sha256_matches_not_only_the_size(mongo_uri, seeded, tmp_path):
    older, newer = _older_and_newer(mongo_uri, tmp_path)
    # Same size, other bytes: a replaced archive.
    data = bytearray(Path(newer["path"]).read_bytes())
    data[len(data) // 2] ^= 0xFF
    Path(newer["path"]).write_bytes(bytes(data))

    listed = {m["name"]: m["good"] for m in engine.list_backups(str(tmp_path))}
    assert listed == {older["name"]: True, newer["name"]: False}
    assert engine.last_good_backup(str(tmp_path))["name"] == older["name"]
    # keep_last=1 keeps the newest (broken, for a person to look at) and the
    # newest verified one, though the count rule alone would delete it.
    result = engine.apply_retention(str(tmp_path), keep_last=1)
    assert result["deleted"] == []
    assert os.path.exists(older["path"])
