"""mongodb_backup: argument validation, check mode, idempotence decisions.

No server is needed: every case here is decided before the engine connects."""

from __future__ import annotations

import hashlib
import json

import pytest
from module_support import TEST_SIGNING_KEY, ModuleFail, write_manifest


def _fake_backup(backup_dir, name, finished_at, size=10, key=TEST_SIGNING_KEY):
    data = b"x" * size
    (backup_dir / f"{name}.archive.gz").write_bytes(data)
    manifest = {
        "format": "acs-backup-manifest/1",
        "name": name,
        "label": name.split("-", 1)[1],
        "archive": f"{name}.archive.gz",
        "size": size,
        "sha256": hashlib.sha256(data).hexdigest(),
        "started_at": finished_at,
        "finished_at": finished_at,
        "databases": {},
    }
    return write_manifest(backup_dir / f"{name}.manifest.json", manifest, key)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            {"method": "docker"},
            "method is docker but any of the following are missing: container, network",
        ),
        (
            {"container": "acs-mongodb-1", "network": "stack_backend"},
            "parameters are mutually exclusive: container|network",
        ),
        (
            {"container": "acs-mongodb-1", "image": "mongo:7.0"},
            "parameters are mutually exclusive: container|image",
        ),
        ({"image": "mongo:7.0"}, "missing parameter(s) required by 'image': network"),
        (
            {"import_from": "/tmp/x", "network": "stack_backend"},
            "parameters are mutually exclusive: import_from|network",
        ),
        (
            {"method": "native", "network": "stack_backend"},
            "network='stack_backend' applies to method=docker (or auto) only, not method=native",
        ),
        (
            {"import_from": "/tmp/x", "databases": ["crawler"]},
            "parameters are mutually exclusive: import_from|databases",
        ),
        ({"login_user": "admin"}, "parameters are required together: login_user, login_password"),
        ({"method": "mongodumpp"}, "value of method must be one of"),
        ({"keep_last": -1}, "keep_last=-1 must be >= 0"),
        ({"label": "bad label/../x"}, "label='bad label/../x' is invalid"),
        ({"if_older_than": "soon"}, "if_older_than='soon' is not a duration"),
        ({"s3": {"prefix": "x"}}, "missing required arguments: bucket found in s3"),
        (
            {"uri": "http://db", "login_user": "u", "login_password": "p"},
            "must start with mongodb://",
        ),
    ],
)
def test_bad_arguments_fail_naming_the_field(run_module, tmp_path, args, message):
    args = {"backup_dir": str(tmp_path / "b"), "_ansible_check_mode": True, **args}
    with pytest.raises(ModuleFail) as failed:
        run_module("mongodb_backup", args)
    assert message in failed.value.result["msg"]
    assert not (tmp_path / "b").exists()


def test_check_mode_reports_the_archive_and_writes_nothing(run_module, tmp_path):
    result = run_module(
        "mongodb_backup",
        {"backup_dir": str(tmp_path / "b"), "label": "nightly", "_ansible_check_mode": True},
    )
    assert result["changed"] is True
    assert result["path"].startswith(str(tmp_path / "b") + "/")
    assert result["path"].endswith("-nightly.archive.gz")
    assert result["method"] in ("native", "mongodump")
    assert not (tmp_path / "b").exists()


def test_if_older_than_with_a_fresh_good_backup_is_no_change(run_module, tmp_path):
    import datetime as dt

    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    _fake_backup(tmp_path, "20261127T000000Z-nightly", now)
    result = run_module(
        "mongodb_backup",
        {"backup_dir": str(tmp_path), "if_older_than": "20h", "uri": "mongodb://127.0.0.1:1"},
    )
    assert result["changed"] is False
    assert result["name"] == "20261127T000000Z-nightly"
    assert "younger than if_older_than=20h" in result["skipped_reason"]


def test_retention_in_check_mode_lists_and_keeps(run_module, tmp_path):
    _fake_backup(tmp_path, "20260101T000000Z-n", "2026-01-01T00:00:00.000000Z")
    _fake_backup(tmp_path, "20260102T000000Z-n", "2026-01-02T00:00:00.000000Z")
    _fake_backup(tmp_path, "20260103T000000Z-n", "2026-01-03T00:00:00.000000Z")
    result = run_module(
        "mongodb_backup",
        {
            "backup_dir": str(tmp_path),
            "if_older_than": "100000d",
            "keep_last": 1,
            "_ansible_check_mode": True,
        },
    )
    assert sorted(result["retention"]["deleted"]) == ["20260101T000000Z-n", "20260102T000000Z-n"]
    assert result["changed"] is True
    assert len(list(tmp_path.glob("*.archive.gz"))) == 3


def test_generations_reach_the_engine_through_the_module(run_module, tmp_path):
    """keep_monthly: the newest of each month is kept, the rest of the month goes."""
    for day in ("20260105", "20260120", "20260203", "20260214"):
        iso = f"{day[:4]}-{day[4:6]}-{day[6:]}T00:00:00.000000Z"
        _fake_backup(tmp_path, f"{day}T000000Z-n", iso)
    result = run_module(
        "mongodb_backup",
        {
            "backup_dir": str(tmp_path),
            "if_older_than": "100000d",
            "keep_last": 0,
            "max_age_days": 0,
            "keep_monthly": 2,
            "_ansible_check_mode": True,
        },
    )
    assert sorted(result["retention"]["deleted"]) == ["20260105T000000Z-n", "20260203T000000Z-n"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"keep_weekly": -1}, "keep_weekly=-1 must be >= 0"),
        (
            {"import_from": "/tmp/x", "age_recipients": ["age1x"]},
            "parameters are mutually exclusive: import_from|age_recipients",
        ),
    ],
)
def test_retention_and_encryption_arguments_are_checked(run_module, tmp_path, args, message):
    with pytest.raises(ModuleFail) as failed:
        run_module("mongodb_backup", {"backup_dir": str(tmp_path), **args})
    assert message in failed.value.result["msg"]


def test_import_of_a_file_that_is_not_an_archive_fails_clearly(run_module, tmp_path):
    junk = tmp_path / "junk.gz"
    junk.write_bytes(b"not an archive at all")
    with pytest.raises(ModuleFail) as failed:
        run_module("mongodb_backup", {"backup_dir": str(tmp_path / "b"), "import_from": str(junk)})
    assert "not a mongodump archive" in failed.value.result["msg"]
    assert not (tmp_path / "b").exists()


def test_check_mode_plan_for_the_mongodb_container_redacts_the_password(run_module, tmp_path):
    result = run_module(
        "mongodb_backup",
        {
            "backup_dir": str(tmp_path / "b"),
            "method": "docker",
            "container": "acs-mongodb-1",
            "login_user": "backup",
            "login_password": "s3cret-pw",
            "_ansible_check_mode": True,
        },
    )
    assert result["method"] == "docker"
    assert result["plan"] == {
        "runs_in": "container acs-mongodb-1 (docker exec), output streamed to the host",
        "container": "acs-mongodb-1",
        "command": [
            "mongodump",
            # The password goes to the tool in a file, never on its command line.
            "--config=<0600 file, removed afterwards, with uri: "
            "mongodb://backup:********@localhost:27017>",
            "--archive",
            "--gzip",
            "--quiet",
        ],
    }
    assert "s3cret-pw" not in json.dumps(result)
    assert not (tmp_path / "b").exists()


def test_check_mode_plan_for_native(run_module, tmp_path):
    result = run_module(
        "mongodb_backup",
        {"backup_dir": str(tmp_path / "b"), "method": "native", "_ansible_check_mode": True},
    )
    assert result["plan"] == {
        "runs_in": "this host (pymongo and the engine's archive writer)",
        "command": None,
    }


def test_retention_reports_unsigned_and_orphan_files_and_keeps_them(run_module, tmp_path):
    _fake_backup(tmp_path, "20260101T000000Z-n", "2026-01-01T00:00:00.000000Z", key=None)
    _fake_backup(tmp_path, "20260102T000000Z-n", "2026-01-02T00:00:00.000000Z")
    (tmp_path / "20260103T000000Z-lost.archive.gz").write_bytes(b"no manifest")
    result = run_module(
        "mongodb_backup",
        {
            "backup_dir": str(tmp_path),
            "if_older_than": "100000d",
            "keep_last": 0,
            "max_age_days": 1,
            "_ansible_check_mode": True,
        },
    )
    retention = result["retention"]
    assert retention["deleted"] == []  # the signed one is the newest good: kept
    assert {r["name"]: r["reason"] for r in retention["rejected"]} == {
        "20260101T000000Z-n": "unsigned",
        "20260103T000000Z-lost": "archive without manifest",
    }
    assert len(list(tmp_path.iterdir())) == 5


def test_without_a_key_the_result_warns_that_the_backup_is_unsigned(
    run_module, tmp_path, monkeypatch
):
    monkeypatch.delenv("ACS_BACKUP_SIGNING_KEY")
    result = run_module(
        "mongodb_backup", {"backup_dir": str(tmp_path / "b"), "_ansible_check_mode": True}
    )
    assert result["signed"] is False


def test_sign_existing_check_mode_verifies_and_writes_nothing(run_module, tmp_path):
    manifest = _fake_backup(tmp_path, "20260101T000000Z-n", "2026-01-01T00:00:00.000000Z", key=None)
    before = (tmp_path / "20260101T000000Z-n.manifest.json").read_text()
    result = run_module(
        "mongodb_backup",
        {"backup_dir": str(tmp_path), "sign_existing": True, "_ansible_check_mode": True},
    )
    # b"xxxxxxxxxx" is no mongodump archive: it does not verify, so it is not signed.
    assert result["signed"] == [] and result["changed"] is False
    assert result["refused"][0]["name"] == manifest["name"]
    assert "does not verify" in result["refused"][0]["reason"]
    assert (tmp_path / "20260101T000000Z-n.manifest.json").read_text() == before


def test_sign_existing_makes_no_backup(run_module, tmp_path):
    with pytest.raises(ModuleFail) as failed:
        run_module(
            "mongodb_backup",
            {"backup_dir": str(tmp_path), "sign_existing": True, "if_older_than": "1d"},
        )
    assert "sign_existing=true makes no backup: drop if_older_than" in failed.value.result["msg"]
