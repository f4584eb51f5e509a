"""Pure parts of the backup engine: durations, labels, CRC, the archive codec,
retention selection. No server."""

from __future__ import annotations

import datetime as dt
import io

import bson
import pytest
from ansible.module_utils import acs_backup as engine
from ansible.module_utils.acs_common import mongo_uri_with_login


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
    assert engine._crc64_py(b"123456789", 0) == 0x995DC9BBDF1939FA


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
    expired = [m["name"] for m in engine._select_expired(items, 0, 3, now)]
    assert expired == ["b5", "b9"]
    expired = [m["name"] for m in engine._select_expired(items, 3, None, now)]
    assert expired == ["b9"]
    assert engine._select_expired(items, None, None, now) == []


def test_uri_login_is_quoted():
    assert (
        mongo_uri_with_login("mongodb://db:27017/?authSource=admin", "op", "p@ss:/word")
        == "mongodb://op:p%40ss%3A%2Fword@db:27017/?authSource=admin"
    )
    assert mongo_uri_with_login("mongodb://db", None, None) == "mongodb://db"
