"""Upload, verification, remote retention and remote restore against a real
S3-compatible HTTP server (gofakes3 built from its Go module); credentials
against moto's server, which checks them (gofakes3 takes any)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from backup_support import snapshot

from crawler import _backup_engine as engine

pytestmark = pytest.mark.integration


def test_backup_uploads_archive_and_manifest_and_verifies(
    mongo_uri, seeded, tmp_path, s3, s3_client
):
    result = engine.run_backup(mongo_uri, str(tmp_path), label="nightly", s3=s3)

    key = f"prod/mongodb/{result['name']}.archive.gz"
    assert result["remote_url"] == f"s3://{s3['bucket']}/{key}"
    head = s3_client.head_object(Bucket=s3["bucket"], Key=key)
    assert head["ContentLength"] == result["size"]
    assert {k.lower(): v for k, v in head["Metadata"].items()}["sha256"] == result["sha256"], head
    assert result["remote"]["verified_by"] in ("etag", "download")
    remote_manifest = json.loads(
        s3_client.get_object(
            Bucket=s3["bucket"], Key=f"prod/mongodb/{result['name']}.manifest.json"
        )["Body"].read()
    )
    assert remote_manifest["sha256"] == result["sha256"]
    assert remote_manifest["remote"]["url"] == result["remote_url"]
    local_manifest = json.loads(open(result["manifest_path"]).read())  # noqa: SIM115
    assert local_manifest["remote"]["key"] == key
    assert [m["name"] for m in engine.list_remote_backups(s3)] == [result["name"]]


def test_remote_retention_never_deletes_the_newest(mongo_uri, seeded, tmp_path, s3, s3_client):
    now = dt.datetime.now(dt.UTC)
    names = [
        engine.run_backup(
            mongo_uri, str(tmp_path), label="n", s3=s3, now=now - dt.timedelta(days=d)
        )["name"]
        for d in (9, 6, 3)
    ]
    result = engine.apply_retention(str(tmp_path), keep_last=0, max_age_days=1, s3=s3)
    assert sorted(result["deleted"]) == sorted(names[:2])
    assert len(result["deleted_remote"]) == 2
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=s3["bucket"])["Contents"]]
    assert sorted(keys) == sorted(
        [f"prod/mongodb/{names[2]}.archive.gz", f"prod/mongodb/{names[2]}.manifest.json"]
    )


def test_restore_from_a_remote_key(mongo_uri, seeded, tmp_path, s3):
    before = snapshot(seeded)
    backup = engine.run_backup(mongo_uri, str(tmp_path / "host-a"), label="offsite", s3=s3)
    seeded.crawler.pages.delete_many({})
    # A different host with an empty backup dir restores from the bucket.
    result = engine.restore(mongo_uri, backup["remote"]["key"], str(tmp_path / "host-b"), s3=s3)
    assert snapshot(seeded) == before
    assert result["safety_backup"]["databases"]["crawler"]["collections"]["pages"]["documents"] == 0


def test_remote_key_without_manifest_is_refused(mongo_uri, seeded, tmp_path, s3, s3_client):
    backup = engine.run_backup(mongo_uri, str(tmp_path / "a"), label="x", s3=s3)
    s3_client.delete_object(Bucket=s3["bucket"], Key=backup["remote"]["manifest_key"])
    before = snapshot(seeded)
    with pytest.raises(engine.BackupError, match="manifest for remote backup"):
        engine.restore(mongo_uri, backup["remote"]["key"], str(tmp_path / "b"), s3=s3)
    assert snapshot(seeded) == before


def test_a_missing_bucket_names_the_settings(mongo_uri, seeded, tmp_path, s3):
    bad = dict(s3, bucket="no-such-bucket-acs")
    with pytest.raises(engine.BackupError, match=r"s3\.endpoint_url, bucket and credentials"):
        engine.run_backup(mongo_uri, str(tmp_path), label="x", s3=bad)


def _objects(settings):
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=settings["endpoint_url"],
        region_name=settings["region"],
        aws_access_key_id=settings["access_key"],
        aws_secret_access_key=settings["secret_key"],
    )
    return [o["Key"] for o in client.list_objects_v2(Bucket=settings["bucket"]).get("Contents", [])]


@pytest.mark.parametrize(
    ("wrong", "code"),
    [
        ({"secret_key": "not-the-secret"}, "SignatureDoesNotMatch"),
        ({"access_key": "AKIAACSNOSUCHKEY0000"}, "InvalidAccessKeyId"),
    ],
)
def test_wrong_credentials_fail_the_backup_and_name_the_settings(
    mongo_uri, seeded, tmp_path, s3_auth_server, wrong, code
):
    bad = dict(s3_auth_server, **wrong)
    with pytest.raises(engine.BackupError) as failed:
        engine.run_backup(mongo_uri, str(tmp_path), label="x", s3=bad)
    message = str(failed.value)
    assert code in message and "s3.endpoint_url, bucket and credentials" in message
    assert bad["secret_key"] not in message and s3_auth_server["secret_key"] not in message
    assert _objects(s3_auth_server) == []


def test_the_issued_credentials_upload(mongo_uri, seeded, tmp_path, s3_auth_server):
    """The control of the test above: the same server lets the right key in."""
    result = engine.run_backup(mongo_uri, str(tmp_path), label="x", s3=s3_auth_server)
    assert result["remote"]["verified_by"] in ("etag", "download")
    assert sorted(_objects(s3_auth_server)) == sorted(
        [result["remote"]["key"], result["remote"]["manifest_key"]]
    )
