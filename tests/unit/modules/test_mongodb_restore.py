"""mongodb_restore: arguments and the checks that run before any data is touched."""

from __future__ import annotations

import gzip

import pytest
from module_support import TEST_SIGNING_KEY, ModuleFail, write_manifest


def _archive_with_manifest(tmp_path, sha="0" * 64, key=TEST_SIGNING_KEY, **fields):
    name = "20261127T010203Z-nightly"
    archive = tmp_path / f"{name}.archive.gz"
    archive.write_bytes(gzip.compress(b"\x6d\xe2\x99\x81"))
    manifest = {
        "format": "acs-backup-manifest/1",
        "name": name,
        "label": "nightly",
        "archive": archive.name,
        "size": archive.stat().st_size,
        "sha256": sha,
        "started_at": "2026-11-27T01:02:03.000000Z",
        "finished_at": "2026-11-27T01:02:03.000000Z",
        "databases": {},
        **fields,
    }
    write_manifest(tmp_path / f"{name}.manifest.json", manifest, key)
    return archive


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
        ({"image": "mongo:7.0"}, "missing parameter(s) required by 'image': network"),
        (
            {"method": "native", "network": "stack_backend"},
            "network='stack_backend' applies to method=docker (or auto) only, not method=native",
        ),
        ({"login_password": "x"}, "parameters are required together"),
        ({"safety_label": "no spaces"}, "label='no spaces' is invalid"),
    ],
)
def test_bad_arguments(run_module, tmp_path, args, message):
    with pytest.raises(ModuleFail) as failed:
        run_module("mongodb_restore", {"backup_dir": str(tmp_path), **args})
    assert message in failed.value.result["msg"]


def test_no_backup_at_all_says_how_to_choose_one(run_module, tmp_path):
    with pytest.raises(ModuleFail) as failed:
        run_module("mongodb_restore", {"backup_dir": str(tmp_path), "_ansible_check_mode": True})
    assert "pass restore_from=PATH_OR_REMOTE_KEY" in failed.value.result["msg"]


def test_missing_manifest_fails_before_connecting(run_module, tmp_path):
    archive = tmp_path / "20261127T010203Z-x.archive.gz"
    archive.write_bytes(gzip.compress(b"data"))
    with pytest.raises(ModuleFail) as failed:
        run_module(
            "mongodb_restore",
            {
                "backup_dir": str(tmp_path),
                "restore_from": str(archive),
                "uri": "mongodb://127.0.0.1:1",
            },
        )
    assert "manifest" in failed.value.result["msg"]
    assert "is missing" in failed.value.result["msg"]


def test_checksum_mismatch_fails_before_connecting(run_module, tmp_path):
    archive = _archive_with_manifest(tmp_path)
    with pytest.raises(ModuleFail) as failed:
        run_module(
            "mongodb_restore",
            {"backup_dir": str(tmp_path), "source": str(archive), "uri": "mongodb://127.0.0.1:1"},
        )
    assert "does not match the manifest" in failed.value.result["msg"]


def test_remote_key_without_s3_settings_is_explained(run_module, tmp_path):
    with pytest.raises(ModuleFail) as failed:
        run_module("mongodb_restore", {"backup_dir": str(tmp_path), "source": "prod/x.archive.gz"})
    assert "give s3 settings for a remote key" in failed.value.result["msg"]


def test_diff_lists_counts_before_and_after():
    from module_support import load_library

    module = load_library("mongodb_restore")
    diff = module._diff(
        [
            {"namespace": "crawler.pages", "current_documents": 3, "backup_documents": 300},
            {"namespace": "crawler.new", "current_documents": None, "backup_documents": 1},
        ]
    )
    assert diff["before"] == "crawler.new: None documents\ncrawler.pages: 3 documents\n"
    assert diff["after"] == "crawler.new: 1 documents\ncrawler.pages: 300 documents\n"


def test_unsigned_manifest_is_refused_naming_reason_and_fix(run_module, tmp_path):
    archive = _archive_with_manifest(tmp_path, key=None)
    with pytest.raises(ModuleFail) as failed:
        run_module(
            "mongodb_restore",
            {"backup_dir": str(tmp_path), "source": str(archive), "uri": "mongodb://127.0.0.1:1"},
        )
    msg = failed.value.result["msg"]
    assert "is not trusted: unsigned" in msg
    assert "sign_existing=true" in msg and "allow_unsigned=true" in msg


def test_allow_unsigned_still_verifies_the_archive(run_module, tmp_path):
    archive = _archive_with_manifest(tmp_path, key=None)
    with pytest.raises(ModuleFail) as failed:
        run_module(
            "mongodb_restore",
            {
                "backup_dir": str(tmp_path),
                "source": str(archive),
                "allow_unsigned": True,
                "uri": "mongodb://127.0.0.1:1",
            },
        )
    assert "does not match the manifest" in failed.value.result["msg"]


def test_allow_unsigned_needs_a_named_source(run_module, tmp_path):
    with pytest.raises(ModuleFail) as failed:
        run_module("mongodb_restore", {"backup_dir": str(tmp_path), "allow_unsigned": True})
    assert "allow_unsigned=true needs source" in failed.value.result["msg"]


def test_signing_key_is_never_echoed(run_module, tmp_path):
    archive = _archive_with_manifest(tmp_path)
    with pytest.raises(ModuleFail) as failed:
        run_module(
            "mongodb_restore",
            {
                "backup_dir": str(tmp_path),
                "source": str(archive),
                "signing_key": TEST_SIGNING_KEY,
                "uri": "mongodb://127.0.0.1:1",
            },
        )
    assert TEST_SIGNING_KEY not in str(failed.value.result)
