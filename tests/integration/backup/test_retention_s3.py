"""Retention by generations on a directory and on a real S3-compatible bucket
(gofakes3): the same selection deletes the same backups in both places,
encrypted copies (.archive.gz.age) included, and a second pass deletes
nothing. The backups are small signed stand-ins: retention reads manifests."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from backup_support import write_signed

from crawler import _backup_engine as engine

pytestmark = pytest.mark.integration

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
# Finished times, newest first; what each rule keeps is worked out by hand below.
SCHEDULE = {
    "A": "2026-03-10 03:00",  # Tue, ISO week 11
    "B": "2026-03-09 03:00",  # Mon, week 11
    "C": "2026-03-09 01:00",  # Mon, week 11, the older of that day
    "D": "2026-03-05 03:00",  # Thu, week 10
    "E": "2026-03-02 03:00",  # Mon, week 10
    "F": "2026-02-25 03:00",  # week 9, February's newest
    "G": "2026-02-10 03:00",
    "H": "2026-01-20 03:00",  # January's newest
    "I": "2025-12-31 03:00",  # ISO week 2026-W01, but December
    "J": "2025-11-15 03:00",
}
RULES = dict(keep_last=1, max_age_days=0, keep_daily=3, keep_weekly=3, keep_monthly=3)
# keep_last 1: A; daily 3: A, B, D (days 03-10, 03-09, 03-05); weekly 3: A, D, F
# (weeks 11, 10, 9); monthly 3: A, F, H (March, February, January).
KEPT = {"A", "B", "D", "F", "H"}
ENCRYPTED = {"B", "C", "G", "I"}


def _stand_in(backup_dir, client, s3, letter, finished):
    when = dt.datetime.strptime(finished, "%Y-%m-%d %H:%M").replace(tzinfo=dt.UTC)
    name = when.strftime("%Y%m%dT%H%M%SZ") + f"-{letter.lower()}"
    data = f"archive {letter}".encode()
    (backup_dir / f"{name}.archive.gz").write_bytes(data)
    iso = when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    manifest = {
        "format": engine.common.MANIFEST_FORMAT,
        "name": name,
        "label": letter.lower(),
        "archive": f"{name}.archive.gz",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "started_at": iso,
        "finished_at": iso,
        "databases": {},
        "remote": None,
    }
    stored, body = f"{name}.archive.gz", data
    if letter in ENCRYPTED:
        body = b"age-encryption.org/v1\n stand-in " + data
        stored += ".age"
        manifest["encryption"] = {
            "scheme": "age",
            "recipients": ["age1standin"],
            "archive": stored,
            "size": len(body),
            "sha256": hashlib.sha256(body).hexdigest(),
        }
    mpath = backup_dir / f"{name}.manifest.json"
    write_signed(mpath, manifest)
    client.put_object(Bucket=s3["bucket"], Key=f"{s3['prefix']}/{stored}", Body=body)
    client.put_object(
        Bucket=s3["bucket"], Key=f"{s3['prefix']}/{name}.manifest.json", Body=mpath.read_bytes()
    )
    return name, stored


def test_local_and_remote_keep_exactly_the_generations_and_stay_put(tmp_path, s3, s3_client):
    names, stored = {}, {}
    for letter, finished in SCHEDULE.items():
        names[letter], stored[letter] = _stand_in(tmp_path, s3_client, s3, letter, finished)

    result = engine.apply_retention(str(tmp_path), s3=s3, now=NOW, **RULES)

    gone = [x for x in SCHEDULE if x not in KEPT]
    assert set(result["deleted"]) == {names[x] for x in gone}
    # The same backups in the bucket: one selection, two places.
    assert set(result["deleted_remote"]) == {f"{s3['prefix']}/{stored[x]}" for x in gone}
    remaining = s3_client.list_objects_v2(Bucket=s3["bucket"])["Contents"]
    assert sorted(o["Key"] for o in remaining) == sorted(
        [f"{s3['prefix']}/{stored[x]}" for x in KEPT]
        + [f"{s3['prefix']}/{names[x]}.manifest.json" for x in KEPT]
    )
    assert {b["name"] for b in engine.list_backups(str(tmp_path))} == {names[x] for x in KEPT}

    again = engine.apply_retention(str(tmp_path), s3=s3, now=NOW, **RULES)
    assert again["deleted"] == [] and again["deleted_remote"] == [] and not again["changed"]


def test_the_manifest_keys_of_encrypted_copies_point_at_the_age_objects(tmp_path, s3, s3_client):
    for letter in ("B", "D"):
        _stand_in(tmp_path, s3_client, s3, letter, SCHEDULE[letter])
    keys = {m["label"]: m["key"] for m in engine.list_remote_backups(s3, now=NOW)}
    assert keys["b"].endswith(".archive.gz.age") and keys["d"].endswith(".archive.gz")
    manifest_key = keys["b"].removesuffix(".archive.gz.age") + ".manifest.json"
    body = s3_client.get_object(Bucket=s3["bucket"], Key=manifest_key)["Body"].read()
    assert json.loads(body)["encryption"]["archive"] == keys["b"].rsplit("/", 1)[1]
