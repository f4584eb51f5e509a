"""The backup engine against a real MongoDB-compatible server (FerretDB)."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

import bson
import pytest
from backup_support import BIN_DIR, snapshot, write_signed
from bson.son import SON

from crawler import _backup_engine as engine

pytestmark = pytest.mark.integration


def _backup(uri, backup_dir, **kw):
    kw.setdefault("label", "nightly")
    return engine.run_backup(uri, str(backup_dir), **kw)


def test_backup_writes_archive_and_manifest(mongo_uri, seeded, tmp_path):
    result = _backup(mongo_uri, tmp_path)

    archive = tmp_path / os.path.basename(result["path"])
    assert archive.name.endswith("-nightly.archive.gz")
    assert archive.name[:16] == result["started_at"][:19].replace("-", "").replace(":", "") + "Z"
    assert result["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert result["size"] == archive.stat().st_size
    manifest = json.loads((tmp_path / (result["name"] + ".manifest.json")).read_text())
    assert manifest["format"] == "acs-backup-manifest/1"
    assert engine.manifest_counts(manifest) == {
        "crawler": {"empty": 0, "jobs": 25, "pages": 300},
        "metrics": {"samples": 40},
    }
    # What a restore drill checks a restored copy against (content.py).
    pages = manifest["databases"]["crawler"]["collections"]["pages"]
    assert pages["indexes"] == [
        {"key": [["_id", 1]], "name": "_id_"},
        {"key": [["url", 1]], "name": "url_1", "unique": True},
    ]
    assert len(pages["sample_sha256"]) == manifest["content"]["sample"]["size"] == 10
    assert manifest["databases"]["crawler"]["collections"]["empty"]["sample_sha256"] == []
    assert manifest["totals"] == {"databases": 2, "collections": 4, "documents": 365}
    assert manifest["server"]["version"]
    # method "auto" uses mongodump when the tools are installed, else the native dumper
    expected_tool = "mongodump" if engine.find_tool("mongodump") else "acs-backup-native"
    assert manifest["tool"]["name"] == expected_tool
    assert manifest["host"] and manifest["label"] == "nightly"
    assert manifest["started_at"] <= manifest["finished_at"]
    assert not list(tmp_path.glob("*.partial"))
    assert engine.verify_backup(str(archive))["verified"] is True


def test_archive_has_the_mongodump_layout(mongo_uri, seeded, tmp_path):
    result = _backup(mongo_uri, tmp_path)
    raw = gzip.decompress(Path(result["path"]).read_bytes())
    assert raw[:4] == bytes.fromhex("6de29981")
    length = struct.unpack_from("<i", raw, 4)[0]
    header = bson.decode(raw[4 : 4 + length])
    assert header["version"] == "0.1"
    assert set(header) == {"concurrent_collections", "version", "server_version", "tool_version"}
    reader = engine.read_archive(result["path"])
    pages = next(c for c in reader.collections if c["collection"] == "pages")
    meta = json.loads(pages["metadata"])
    assert meta["collectionName"] == "pages"
    assert {ix["name"] for ix in meta["indexes"]} == {"_id_", "url_1"}


def test_restore_round_trip_takes_a_safety_backup_first(mongo_uri, seeded, tmp_path):
    before = snapshot(seeded)
    backup = _backup(mongo_uri, tmp_path)
    seeded.crawler.pages.delete_many({"n": {"$lt": 100}})
    seeded.crawler.pages.drop_index("url_1")
    seeded.crawler.jobs.insert_one({"job": "new"})
    damaged = snapshot(seeded)

    result = engine.restore(mongo_uri, backup["path"], str(tmp_path))

    assert snapshot(seeded) == before
    safety = result["safety_backup"]
    assert safety["label"] == "pre-restore"
    assert safety["databases"]["crawler"]["collections"]["pages"]["documents"] == 200
    assert result["restored_counts"]["crawler"]["pages"] == 300
    # The safety backup really holds the state that was replaced.
    engine.restore(mongo_uri, safety["path"], str(tmp_path), skip_safety_backup=True)
    assert snapshot(seeded) == damaged


def test_restore_check_mode_reports_and_changes_nothing(mongo_uri, seeded, tmp_path):
    backup = _backup(mongo_uri, tmp_path)
    seeded.crawler.pages.delete_many({"n": {"$gte": 10}})
    before = snapshot(seeded)
    result = engine.restore(mongo_uri, backup["path"], str(tmp_path), check_mode=True)
    assert snapshot(seeded) == before
    pages = next(r for r in result["replaced"] if r["namespace"] == "crawler.pages")
    assert pages == {
        "namespace": "crawler.pages",
        "current_documents": 10,
        "backup_documents": 300,
    }
    assert len(engine.list_backups(str(tmp_path))) == 1  # no safety backup in check mode


def test_restore_defaults_to_newest_good_backup(mongo_uri, seeded, tmp_path):
    old = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    _backup(mongo_uri, tmp_path, now=old)
    seeded.metrics.samples.insert_one({"v": "newest"})
    newest = _backup(mongo_uri, tmp_path)
    seeded.metrics.samples.delete_many({})
    result = engine.restore(mongo_uri, None, str(tmp_path), skip_safety_backup=True)
    assert result["archive"] == newest["path"]
    assert seeded.metrics.samples.count_documents({}) == 41


def test_if_older_than_makes_a_second_run_a_no_op(mongo_uri, seeded, tmp_path):
    first = _backup(mongo_uri, tmp_path, if_older_than="1h")
    second = _backup(mongo_uri, tmp_path, if_older_than="1h")
    assert first["changed"] is True
    assert second["changed"] is False
    assert second["name"] == first["name"]
    assert "younger than if_older_than=1h" in second["skipped_reason"]
    assert len(engine.list_backups(str(tmp_path))) == 1
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    third = _backup(mongo_uri, tmp_path, if_older_than="1h", now=later)
    assert third["changed"] is True


def test_check_mode_backup_writes_nothing(mongo_uri, seeded, tmp_path):
    result = _backup(mongo_uri, tmp_path / "b", check_mode=True)
    assert result["changed"] is True
    assert result["path"].endswith("-nightly.archive.gz")
    assert not (tmp_path / "b").exists()


def test_retention_keeps_last_n_and_recent_and_the_newest(mongo_uri, seeded, tmp_path):
    now = dt.datetime.now(dt.UTC)
    for days in (30, 20, 10, 2, 1):
        _backup(mongo_uri, tmp_path, now=now - dt.timedelta(days=days))
    names = [m["name"] for m in engine.list_backups(str(tmp_path))]
    assert len(names) == 5

    dry = engine.apply_retention(str(tmp_path), keep_last=2, max_age_days=15, check_mode=True)
    assert sorted(dry["deleted"]) == sorted(names[3:])
    assert len(engine.list_backups(str(tmp_path))) == 5

    done = engine.apply_retention(str(tmp_path), keep_last=2, max_age_days=15)
    assert sorted(done["deleted"]) == sorted(names[3:])
    left = engine.list_backups(str(tmp_path))
    assert [m["name"] for m in left] == names[:3]
    assert len(list(tmp_path.glob("*.archive.gz"))) == 3

    # Even "keep nothing" keeps the newest good backup.
    engine.apply_retention(str(tmp_path), keep_last=0, max_age_days=0.0001)
    assert [m["name"] for m in engine.list_backups(str(tmp_path))] == names[:1]


def test_retention_never_counts_a_broken_backup_as_the_newest_good(mongo_uri, seeded, tmp_path):
    now = dt.datetime.now(dt.UTC)
    good = _backup(mongo_uri, tmp_path, now=now - dt.timedelta(days=9))
    broken = _backup(mongo_uri, tmp_path, now=now - dt.timedelta(days=8))
    with open(broken["path"], "r+b") as handle:
        handle.truncate(100)
    engine.apply_retention(str(tmp_path), keep_last=1, max_age_days=1)
    left = {m["name"]: m["good"] for m in engine.list_backups(str(tmp_path))}
    # keep_last=1 is the broken (newest) one, which retention keeps for a person
    # to look at; the good one stays as the newest good backup, though older
    # than both rules allow.
    assert left == {broken["name"]: False, good["name"]: True}


# ---------------------------------------------------------------- corruption


def _truncate(backup):
    with open(backup["path"], "r+b") as handle:
        handle.truncate(backup["size"] // 2)


def _flip_byte(backup):
    with open(backup["path"], "r+b") as handle:
        handle.seek(backup["size"] // 2)
        byte = handle.read(1)
        handle.seek(backup["size"] // 2)
        handle.write(bytes([byte[0] ^ 0xFF]))


def _wrong_checksum(backup):
    manifest = json.loads(Path(backup["manifest_path"]).read_text())
    manifest["sha256"] = "0" * 64
    with open(backup["manifest_path"], "w") as handle:
        json.dump(manifest, handle)


def _missing_manifest(backup):
    os.unlink(backup["manifest_path"])


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_truncate, "truncated"),
        (_flip_byte, "does not match the manifest"),
        # The manifest edited after signing: caught before the archive is read.
        (_wrong_checksum, "not trusted: signature mismatch"),
        (_missing_manifest, "manifest .* is missing"),
    ],
    ids=["truncated", "flipped-byte", "wrong-checksum", "missing-manifest"],
)
def test_damaged_backup_fails_clearly_and_changes_nothing(
    mongo_uri, seeded, tmp_path, damage, message
):
    backup = _backup(mongo_uri, tmp_path)
    seeded.crawler.pages.delete_many({"n": {"$lt": 5}})
    before = snapshot(seeded)
    damage(backup)
    with pytest.raises(engine.BackupError, match=message):
        engine.restore(mongo_uri, backup["path"], str(tmp_path))
    assert snapshot(seeded) == before
    assert not list(tmp_path.glob("*pre-restore*"))


def test_flipped_byte_with_matching_manifest_is_caught_by_reading_to_the_end(
    mongo_uri, seeded, tmp_path
):
    """Someone with the key 'fixes' and re-signs the manifest after damage:
    the gzip/CRC read still fails."""
    backup = _backup(mongo_uri, tmp_path)
    _flip_byte(backup)
    manifest = json.loads(Path(backup["manifest_path"]).read_text())
    manifest["sha256"] = hashlib.sha256(Path(backup["path"]).read_bytes()).hexdigest()
    write_signed(backup["manifest_path"], manifest)
    before = snapshot(seeded)
    with pytest.raises(engine.BackupError, match=r"corrupt|truncated"):
        engine.restore(mongo_uri, backup["path"], str(tmp_path))
    assert snapshot(seeded) == before


# ------------------------------------------------------------- compatibility


def _crc64_xz(data: bytes) -> int:
    """Independent bitwise CRC-64/XZ, so this test does not trust the engine's."""
    crc = 0xFFFFFFFFFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xC96C5795D7870F42 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFFFFFFFFFF


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def write_mongodump_style_archive(path, docs_a, docs_b):
    """An archive laid out the way a concurrent mongodump writes one: both
    collections interleaved in several segments each (spec: mongo-tools
    common/archive/spec.md), built here without the engine's writer."""
    term = b"\xff\xff\xff\xff"
    enc = bson.encode
    out = [struct.pack("<I", 0x8199E26D)]
    out.append(
        enc(
            SON(
                [
                    ("concurrent_collections", 4),
                    ("version", "0.1"),
                    ("server_version", "7.0.14"),
                    ("tool_version", "100.10.0"),
                ]
            )
        )
    )
    meta_a = '{"indexes":[{"v":{"$numberInt":"2"},"key":{"_id":{"$numberInt":"1"}},"name":"_id_"},{"v":{"$numberInt":"2"},"key":{"k":{"$numberInt":"1"}},"name":"k_1"}],"uuid":"0f1e2d3c4b5a69788796a5b4c3d2e1f0","collectionName":"a","type":"collection"}'
    meta_b = '{"indexes":[{"v":{"$numberInt":"2"},"key":{"_id":{"$numberInt":"1"}},"name":"_id_"}],"collectionName":"b","type":"collection"}'
    for coll, meta in (("a", meta_a), ("b", meta_b)):
        out.append(
            enc(
                SON(
                    [
                        ("db", "compat"),
                        ("collection", coll),
                        ("metadata", meta),
                        ("size", 0),
                        ("type", "collection"),
                    ]
                )
            )
        )
    out.append(term)

    def header(coll, eof=False, crc=0):
        return enc(
            SON(
                [
                    ("db", "compat"),
                    ("collection", coll),
                    ("EOF", eof),
                    ("CRC", bson.int64.Int64(_signed(crc))),
                ]
            )
        )

    raw_a = [enc(d) for d in docs_a]
    raw_b = [enc(d) for d in docs_b]
    half_a, half_b = len(raw_a) // 2, len(raw_b) // 2
    for coll, chunk in (
        ("a", raw_a[:half_a]),
        ("b", raw_b[:half_b]),
        ("a", raw_a[half_a:]),
        ("b", raw_b[half_b:]),
    ):
        out += [header(coll), *chunk, term]
    out += [header("a", True, _crc64_xz(b"".join(raw_a))), term]
    out += [header("b", True, _crc64_xz(b"".join(raw_b))), term]
    with gzip.open(path, "wb") as handle:
        handle.write(b"".join(out))


def test_mongodump_style_archive_imports_and_restores(mongo_uri, mongo, tmp_path):
    docs_a = [{"_id": i, "k": f"key{i}", "nested": {"x": [i, i * 2]}} for i in range(60)]
    docs_b = [{"_id": f"b{i}", "when": dt.datetime(2026, 1, 1, 0, 0, i)} for i in range(30)]
    foreign = tmp_path / "plain-mongodump.archive.gz"
    write_mongodump_style_archive(foreign, docs_a, docs_b)
    backups = tmp_path / "backups"

    imported = engine.import_archive(str(foreign), str(backups), label="imported")
    assert imported["tool"] == {"name": "mongodump", "version": "100.10.0"}
    assert imported["totals"]["documents"] == 90

    engine.restore(mongo_uri, imported["path"], str(backups), skip_safety_backup=True)
    assert list(mongo.compat.a.find({}, sort=[("_id", 1)])) == docs_a
    got_b = list(mongo.compat.b.find({}, sort=[("_id", 1)]))
    assert [d["_id"] for d in got_b] == sorted(d["_id"] for d in docs_b)
    assert {ix["name"] for ix in mongo.compat.a.list_indexes()} == {"_id_", "k_1"}


def test_wrong_crc_in_a_mongodump_archive_is_rejected(tmp_path):
    foreign = tmp_path / "bad.archive.gz"
    write_mongodump_style_archive(foreign, [{"_id": 1}], [{"_id": 2}])
    raw = bytearray(gzip.decompress(foreign.read_bytes()))
    raw[raw.index(bson.encode({"_id": 1})) + 7] ^= 0x01  # the int32 value of _id
    foreign.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(engine.BackupError, match="CRC"):
        engine.import_archive(str(foreign), str(tmp_path / "b"))


def test_engine_archive_written_with_the_independent_crc(mongo_uri, seeded, tmp_path):
    """Our EOF blocks carry the CRC-64/XZ that mongorestore checks."""
    result = _backup(mongo_uri, tmp_path)
    raw = gzip.decompress(Path(result["path"]).read_bytes())
    reader = engine.read_archive(result["path"])
    pages = list(seeded.crawler.jobs.find_raw_batches({}, sort=[("_id", 1)]))
    expected = _signed(_crc64_xz(b"".join(pages)))
    marker = bson.encode(
        SON(
            [
                ("db", "crawler"),
                ("collection", "jobs"),
                ("EOF", True),
                ("CRC", bson.int64.Int64(expected)),
            ]
        )
    )
    assert marker in raw
    assert reader.counts["crawler"]["jobs"] == 25


REAL_MONGORESTORE = shutil.which("mongorestore") or (
    str(BIN_DIR / "mongorestore") if (BIN_DIR / "mongorestore").exists() else None
)


@pytest.mark.skipif(
    REAL_MONGORESTORE is None,
    reason="the MongoDB database tools cannot be built here (module refused by the Go proxy); "
    "runs wherever mongorestore is installed",
)
def test_our_archive_restores_with_plain_mongorestore(mongo_uri, seeded, tmp_path):
    before = snapshot(seeded)
    result = _backup(mongo_uri, tmp_path, method="native")
    seeded.crawler.pages.delete_many({})
    subprocess.run(
        [
            REAL_MONGORESTORE,
            f"--uri={mongo_uri}",
            f"--archive={result['path']}",
            "--gzip",
            "--drop",
        ],
        check=True,
    )
    assert snapshot(seeded) == before
