"""Pure parts of the backup engine: durations, labels, CRC, the archive codec,
retention selection. No server."""

from __future__ import annotations

import datetime as dt
import io
import os

import bson
import pytest
from ansible.module_utils.acs_common import mongo_uri_with_login
from module_support import REPO

from crawler import _backup_engine as engine

# The engine under test must be this checkout's module_utils/acs_backup/.
assert os.path.dirname(os.path.realpath(engine.__file__)) == str(
    REPO / "module_utils" / "acs_backup"
), f"crawler._backup_engine is {engine.__file__}: pip install -e ./crawler from this checkout"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(30, 30), ("90s", 90), ("30m", 1800), ("20h", 72000), ("7d", 604800), ("2w", 1209600)],
)
def test_durations(value, seconds):
    assert engine.parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["soon", "-1h", "0", "1y"])
def test_bad_durations_name_the_field(value):
    with pytest.raises(engine.BackupError, match="if_older_than="):
        engine.parse_duration(value)


def test_crc64_matches_the_go_ecma_check_value():
    assert engine.crc64(b"123456789") == 0x995DC9BBDF1939FA
    assert engine.crc64(b"56789", engine.crc64(b"1234")) == 0x995DC9BBDF1939FA
    assert engine.archive._crc64_py(b"123456789", 0) == 0x995DC9BBDF1939FA


def test_archive_codec_round_trip_in_memory():
    docs = [bson.encode({"_id": i, "s": "x" * i}) for i in range(50)]
    out = io.BytesIO()
    writer = engine.ArchiveWriter(out, "7.0.0", "test")
    writer.write_prelude(
        [("db", "c", '{"indexes":[]}', "collection"), ("db", "e", "", "collection")]
    )
    assert writer.write_collection("db", "c", [b"".join(docs[:20]), b"".join(docs[20:])]) == (
        50,
        sum(map(len, docs)),
    )
    assert writer.write_collection("db", "e", []) == (0, 0)
    seen = []
    reader = engine.ArchiveReader(
        io.BytesIO(out.getvalue()), lambda d, c, batch: seen.extend(batch), 7
    )
    reader.read()
    assert reader.counts == {"db": {"c": 50, "e": 0}}
    assert seen == docs
    assert reader.header["server_version"] == "7.0.0"


@pytest.mark.parametrize("cut", [3, 40, 200, -5, -1])
def test_truncated_archive_streams_are_rejected(cut):
    out = io.BytesIO()
    writer = engine.ArchiveWriter(out, "7.0.0", "test")
    writer.write_prelude([("db", "c", "", "collection")])
    writer.write_collection("db", "c", [b"".join(bson.encode({"i": i}) for i in range(20))])
    data = out.getvalue()[:cut]
    with pytest.raises(engine.BackupError, match=r"truncated|not a mongodump archive"):
        engine.ArchiveReader(io.BytesIO(data)).read()


def _two_collection_archive(docs_c, docs_e):
    out = io.BytesIO()
    writer = engine.ArchiveWriter(out, "7.0.0", "test")
    writer.write_prelude([("db", "c", "", "collection"), ("db", "e", "", "collection")])
    writer.write_collection("db", "c", [b"".join(docs_c)])
    writer.write_collection("db", "e", [b"".join(docs_e)])
    return out.getvalue()


@pytest.mark.parametrize("chunk", [1, 5, 64, 1000, 1 << 20])
def test_reader_gives_every_document_whatever_the_read_size(monkeypatch, chunk):
    """The reader walks chunks in memory: documents that straddle a chunk
    boundary, headers and terminators split across reads all come out whole."""
    monkeypatch.setattr(engine.archive, "_CHUNK", chunk)
    docs_c = [bson.encode({"_id": i, "s": "\xff" * (i % 13)}) for i in range(120)]
    docs_e = [bson.encode({"_id": i, "b": bson.Binary(b"\xff\xff\xff\xff" * i)}) for i in range(9)]
    seen = []
    reader = engine.ArchiveReader(
        io.BytesIO(_two_collection_archive(docs_c, docs_e)),
        lambda d, c, batch: seen.extend((c, raw) for raw in batch),
        batch_docs=16,
    ).read()
    assert reader.counts == {"db": {"c": 120, "e": 9}}
    assert seen == [("c", raw) for raw in docs_c] + [("e", raw) for raw in docs_e]


@pytest.mark.parametrize("chunk", [3, 64, 1 << 20])
def test_a_changed_document_byte_fails_the_crc_whatever_the_read_size(monkeypatch, chunk):
    monkeypatch.setattr(engine.archive, "_CHUNK", chunk)
    docs = [bson.encode({"_id": i, "v": i}) for i in range(50)]
    data = bytearray(_two_collection_archive(docs, docs[:3]))
    data[data.index(docs[37]) + 15] ^= 0x01  # inside the int32 value of document 37
    with pytest.raises(engine.BackupError, match=r"CRC\) mismatch in db\.c"):
        engine.ArchiveReader(io.BytesIO(bytes(data))).read()


def test_an_impossible_document_length_is_named(monkeypatch):
    docs = [bson.encode({"_id": i}) for i in range(5)]
    data = bytearray(_two_collection_archive(docs, []))
    at = data.index(docs[2])
    data[at : at + 4] = (2).to_bytes(4, "little")
    with pytest.raises(
        engine.BackupError, match=r"impossible BSON length 2 in the documents of db\.c"
    ):
        engine.ArchiveReader(io.BytesIO(bytes(data))).read()


def test_restore_pass_refuses_a_file_changed_after_verification(tmp_path):
    """The restore pass trusts the CRCs only for the very file verify proved."""
    path = tmp_path / "x.archive.gz"
    path.write_bytes(b"\x1f\x8b" + b"0" * 100)
    with open(path, "rb") as handle:
        proved = engine.manifest._fingerprint(handle)
    path.write_bytes(b"\x1f\x8b" + b"1" * 100)  # same size, new content
    os.utime(path, ns=(proved[3] + 1, proved[3] + 1))
    with pytest.raises(engine.BackupError, match="changed after it was verified; nothing was"):
        engine.native._restore_native(None, str(path), proved)


def test_retention_selection_keeps_newest_good_even_with_zero():
    now = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)

    def item(days, good=True):
        ts = now - dt.timedelta(days=days)
        return {
            "name": f"b{days}",
            "finished_at": ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "good": good,
        }

    items = [item(1, good=False), item(2), item(5), item(9)]
    expired = [m["name"] for m in engine.retention._select_expired(items, 0, 3, now)]
    assert expired == ["b5", "b9"]
    expired = [m["name"] for m in engine.retention._select_expired(items, 3, None, now)]
    assert expired == ["b9"]
    assert engine.retention._select_expired(items, None, None, now) == []


def test_uri_login_is_quoted():
    assert (
        mongo_uri_with_login("mongodb://db:27017/?authSource=admin", "op", "p@ss:/word")
        == "mongodb://op:p%40ss%3A%2Fword@db:27017/?authSource=admin"
    )
    assert mongo_uri_with_login("mongodb://db", None, None) == "mongodb://db"
