"""age-encrypted S3 copies against FerretDB and a real S3-compatible server
(gofakes3): what leaves the host is encrypted and verifiable without the
identity; a host that never had the backup restores it with the offline
identity only; no identity or the wrong one fails clearly, touching nothing.
The key pairs are generated here, in tmp_path: none is committed."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest
from backup_support import REPO, play, snapshot
from pyrage import x25519

from crawler import _backup_engine as engine

pytestmark = pytest.mark.integration


def _identity(path):
    """An identity file as `age-keygen -o` writes it; (path, public key, secret)."""
    identity = x25519.Identity.generate()
    public = str(identity.to_public())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# created: 2026-12-03T00:00:00Z\n# public key: {public}\n{identity}\n")
    path.chmod(0o600)
    return path, public, str(identity)


@pytest.fixture
def offline(tmp_path):
    """The operators' key pair: only the public key is ever given to a backup."""
    return _identity(tmp_path / "operator-laptop" / "backup-identity.txt")


def _keys(s3_client, s3):
    listed = s3_client.list_objects_v2(Bucket=s3["bucket"]).get("Contents", [])
    return sorted(o["Key"] for o in listed)


def _leftovers(directory):
    return sorted(os.listdir(directory)) if directory.exists() else []


def test_the_s3_copy_is_encrypted_and_its_checksum_verifies(
    mongo_uri, seeded, tmp_path, s3, s3_client, offline
):
    _, public, secret = offline
    result = engine.run_backup(
        mongo_uri, str(tmp_path / "host-a"), label="offsite", s3=s3, age_recipients=[public]
    )
    name = result["name"]
    assert result["encrypted"] is True
    assert result["remote_url"] == f"s3://{s3['bucket']}/prod/mongodb/{name}.archive.gz.age"
    # Nothing plain left the host: the bucket holds the encrypted copy and the manifest.
    assert _keys(s3_client, s3) == [
        f"prod/mongodb/{name}.archive.gz.age",
        f"prod/mongodb/{name}.manifest.json",
    ]
    stored = s3_client.get_object(Bucket=s3["bucket"], Key=f"prod/mongodb/{name}.archive.gz.age")[
        "Body"
    ].read()
    assert stored.startswith(b"age-encryption.org/v1\n")
    remote_manifest = json.loads(
        s3_client.get_object(Bucket=s3["bucket"], Key=f"prod/mongodb/{name}.manifest.json")[
            "Body"
        ].read()
    )
    block = remote_manifest["encryption"]
    assert block["scheme"] == "age" and block["recipients"] == [public]
    assert block["size"] == len(stored)
    assert block["sha256"] == hashlib.sha256(stored).hexdigest()
    # The manifest's checksum verifies the encrypted archive, without the identity.
    copy = tmp_path / "auditor" / f"{name}.archive.gz.age"
    copy.parent.mkdir()
    copy.write_bytes(stored)
    assert engine.verify_encrypted(str(copy), remote_manifest) == block["sha256"]
    # The signature covers the encryption block: a changed recipient list is not trusted.
    key = engine.signing.resolve_key()
    assert engine.signing.trust_problem(remote_manifest, key, name) is None
    altered = dict(remote_manifest, encryption=dict(block, recipients=["age1attacker"]))
    assert engine.signing.trust_problem(altered, key, name) == "signature mismatch"
    # The local archive stays plain (the safety put-back needs no identity) and verifies.
    assert engine.verify_backup(result["path"])["verified"] is True
    assert engine.list_remote_backups(s3)[0]["key"] == f"prod/mongodb/{name}.archive.gz.age"
    assert secret not in json.dumps(result) + json.dumps(remote_manifest)


def test_a_host_that_never_had_it_restores_with_the_offline_identity_only(
    mongo_uri, seeded, tmp_path, s3, offline
):
    identity_path, public, secret = offline
    before = snapshot(seeded)
    backup = engine.run_backup(
        mongo_uri, str(tmp_path / "host-a"), label="offsite", s3=s3, age_recipients=[public]
    )
    seeded.crawler.pages.delete_many({})
    seeded.metrics.samples.drop()
    # A fresh process, as on a new host: an empty backup directory, the bucket,
    # the stack's signing key (environment) and the identity file's path.
    fresh = tmp_path / "host-b" / "backups"
    code = (
        "import json, sys\n"
        "from crawler import _backup_engine as engine\n"
        "uri, key, backup_dir, s3, identity = sys.argv[1:]\n"
        "result = engine.restore(uri, key, backup_dir, s3=json.loads(s3),"
        " age_identity_file=identity)\n"
        "print(json.dumps({'archive': result['archive'], 'counts': result['restored_counts']}))\n"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            mongo_uri,
            backup["remote"]["key"],
            str(fresh),
            json.dumps(s3),
            str(identity_path),
        ],
        cwd=REPO,
        env=dict(
            os.environ, PYTHONPATH=f"{REPO / 'crawler/src'}:{os.environ.get('PYTHONPATH', '')}"
        ),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert secret not in proc.stdout + proc.stderr
    assert snapshot(seeded) == before
    restored = json.loads(proc.stdout)
    assert restored["archive"] == str(fresh / f"{backup['name']}.archive.gz")
    # The new host keeps the decrypted archive with its manifest (trusted, verified),
    # the safety backup, and no encrypted or partial file.
    names = _leftovers(fresh)
    assert not [n for n in names if n.endswith((".age", ".partial"))], names
    assert backup["name"] in [b["name"] for b in engine.list_backups(str(fresh)) if b["good"]]


@pytest.mark.parametrize("given", ["none", "wrong"])
def test_without_the_right_identity_the_restore_fails_and_touches_nothing(
    mongo_uri, seeded, tmp_path, s3, offline, given
):
    _, public, _ = offline
    backup = engine.run_backup(
        mongo_uri, str(tmp_path / "host-a"), label="offsite", s3=s3, age_recipients=[public]
    )
    seeded.crawler.pages.insert_one({"url": "https://example.test/after-the-backup"})
    current = snapshot(seeded)
    fresh = tmp_path / "host-b"
    options = {}
    if given == "wrong":
        wrong_path, wrong_public, wrong_secret = _identity(tmp_path / "someone-else" / "id.txt")
        options["age_identity_file"] = str(wrong_path)
    with pytest.raises(engine.BackupError) as failed:
        engine.restore(mongo_uri, backup["remote"]["key"], str(fresh), s3=s3, **options)
    message = str(failed.value)
    if given == "none":
        assert "is encrypted with age" in message and "pass age_identity_file=PATH" in message
        assert "restore_age_identity_file" in message
    else:
        assert f"age_identity_file={wrong_path} cannot decrypt" in message
        assert wrong_public in message and public in message
        assert wrong_secret not in message
    assert "nothing was restored" in message
    assert snapshot(seeded) == current
    # No manifest, archive or partial file that could pass for a backup.
    assert [n for n in _leftovers(fresh) if not n.startswith(".")] == []


def test_the_restore_module_without_identity_fails_with_the_fix_not_a_traceback(
    mongo_uri, seeded, tmp_path, s3, offline
):
    identity_path, public, secret = offline
    made = play(
        tmp_path,
        [
            {
                "name": "backup",
                "mongodb_backup": {
                    "uri": mongo_uri,
                    "backup_dir": str(tmp_path / "host-a"),
                    "label": "offsite",
                    "s3": s3,
                    "age_recipients": [public],
                    "method": "native",
                },
            }
        ],
    )["backup"]
    assert made["encrypted"] is True and made["remote_url"].endswith(".archive.gz.age")
    current = snapshot(seeded)
    task = {
        "name": "restore",
        "mongodb_restore": {
            "uri": mongo_uri,
            "source": made["remote_url"].split(f"{s3['bucket']}/", 1)[1],
            "backup_dir": str(tmp_path / "host-b"),
            "s3": s3,
            "method": "native",
        },
    }
    refused = play(tmp_path, [task])["restore"]
    assert refused["failed"] is True
    assert "pass age_identity_file=PATH" in refused["msg"]
    # ansible-core fills "exception" for every failure; a crash would put a Traceback there.
    assert "Traceback" not in refused.get("exception", "") + refused["msg"]
    assert snapshot(seeded) == current
    task["mongodb_restore"]["age_identity_file"] = str(identity_path)
    done = play(tmp_path, [task])["restore"]
    assert done["changed"] is True and not done.get("failed"), done.get("msg")
    assert secret not in json.dumps(done)


def test_an_altered_remote_manifest_is_refused_before_the_identity_is_used(
    mongo_uri, seeded, tmp_path, s3, s3_client, offline
):
    identity_path, public, _ = offline
    backup = engine.run_backup(
        mongo_uri, str(tmp_path / "host-a"), label="offsite", s3=s3, age_recipients=[public]
    )
    key = backup["remote"]["manifest_key"]
    manifest = json.loads(s3_client.get_object(Bucket=s3["bucket"], Key=key)["Body"].read())
    manifest["encryption"]["sha256"] = "0" * 64  # points at other bytes; not re-signed
    s3_client.put_object(Bucket=s3["bucket"], Key=key, Body=json.dumps(manifest).encode())
    current = snapshot(seeded)
    fresh = tmp_path / "host-b"
    with pytest.raises(engine.BackupError, match="is not trusted: signature mismatch"):
        engine.restore(
            mongo_uri,
            backup["remote"]["key"],
            str(fresh),
            s3=s3,
            age_identity_file=str(identity_path),
        )
    assert snapshot(seeded) == current
    assert [n for n in _leftovers(fresh) if not n.startswith(".")] == []
