"""The runbook playbooks with age: backup.yml encrypts the S3 copy for the
inventory's stack_backup_age_recipients; restore.yml on a fresh backup
directory restores it with -e restore_age_identity_file (a path on the
controller), copies the identity in for that run only and removes it, and
without it fails naming the option. The key pair is generated here."""

from __future__ import annotations

import glob
import json

import pytest
from backup_support import snapshot
from pyrage import x25519
from test_playbooks import run_playbook, stack_mongodb  # noqa: F401 - the fixture

pytestmark = [pytest.mark.integration, pytest.mark.docker]


def _identity_files():
    return set(glob.glob("/tmp/ansible.*.age-identity"))


def test_encrypted_s3_copy_restored_with_the_offline_identity(stack_mongodb, tmp_path, s3):  # noqa: F811
    project, mongo = stack_mongodb
    mongo.crawler.pages.insert_many([{"url": f"u{i}", "n": i} for i in range(80)])
    original = snapshot(mongo, ("crawler",))
    identity = x25519.Identity.generate()
    public, secret = str(identity.to_public()), str(identity)
    identity_file = tmp_path / "operator" / "backup-identity.txt"
    identity_file.parent.mkdir()
    identity_file.write_text(f"# public key: {public}\n{secret}\n")
    identity_file.chmod(0o600)
    common = ["-e", f"stack_project_name={project}"]

    rc, tasks = run_playbook(
        tmp_path,
        "backup.yml",
        *common,
        "-e",
        f"stack_backup_dir={tmp_path / 'host-a'}",
        "-e",
        json.dumps({"backup_s3": s3, "stack_backup_age_recipients": [public]}),
    )
    assert rc == 0, tasks
    made = tasks["Back up MongoDB to " + str(tmp_path / "host-a")]
    assert made["encrypted"] is True and made["remote_url"].endswith(".archive.gz.age")
    assert "(age-encrypted)" in tasks["Report the backup"]["msg"]
    remote_key = made["remote_url"].split(f"{s3['bucket']}/", 1)[1]

    mongo.crawler.pages.delete_many({"n": {"$gte": 10}})
    damaged = snapshot(mongo, ("crawler",))
    before = _identity_files()
    restore = [
        *common,
        "-e",
        f"restore_dir={tmp_path / 'host-b'}",
        "-e",
        "confirm=yes",
        "-e",
        f"restore_from={remote_key}",
        "-e",
        json.dumps({"restore_s3": s3, "restore_health_targets": [], "restore_pause_dags": False}),
    ]
    rc, tasks = run_playbook(tmp_path, "restore.yml", *restore)
    assert rc != 0
    refused = tasks["Restore MongoDB (verify, safety backup, restore, check counts)"]
    assert "pass age_identity_file=PATH" in refused["msg"]
    assert "restore_age_identity_file" in refused["msg"]
    assert snapshot(mongo, ("crawler",)) == damaged

    rc, tasks = run_playbook(
        tmp_path, "restore.yml", *restore, "-e", f"restore_age_identity_file={identity_file}"
    )
    assert rc == 0, tasks
    assert snapshot(mongo, ("crawler",)) == original
    # The identity was on the host for the restore only, and never printed.
    assert _identity_files() == before
    assert secret not in json.dumps(tasks)
