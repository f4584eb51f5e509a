"""Restore drills against FerretDB backups, into a real throwaway server: a
container from the stack's mongodb image on an internal Docker network of its
own. Every injected fault fails the drill on the check that guards against
it; a good backup passes; the throwaway container and network are gone
afterwards in every case; the operator's data is never touched."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os

import pytest
from backup_support import snapshot, write_signed
from test_encryption import _identity

from crawler import _backup_engine as engine

pytestmark = [pytest.mark.integration, pytest.mark.docker]

IMAGE = os.environ.get("ACS_MONGODB_TEST_IMAGE", "acs-local/mongodb:7.0-ferretdb1.24.2")


@pytest.fixture(autouse=True)
def no_leftovers(monkeypatch):
    """Each test's throwaway names are its own; none may survive the test."""
    import uuid

    prefix = f"acs-drill-test-{uuid.uuid4().hex[:6]}-"
    monkeypatch.setattr(engine.throwaway, "DRILL_PREFIX", prefix)
    yield prefix
    assert engine.throwaway.leftovers() == []


@pytest.fixture
def backup(mongo_uri, seeded, tmp_path):
    """A signed native backup of the seeded data: (manifest, backup_dir)."""
    made = engine.run_backup(mongo_uri, str(tmp_path / "backups"), label="nightly")
    return made, tmp_path / "backups"


def drill(backup_dir, **options):
    return engine.restore_drill(str(backup_dir), image=IMAGE, **options)


def status(result):
    return {c["name"]: c["status"] for c in result["checks"]}


def failed_on(result, check):
    assert result["result"] == "failed", result
    assert result["failed_checks"] == [check], result["checks"]
    return next(c["detail"] for c in result["checks"] if c["name"] == check)


def _rewrite(made, change):
    """Rebuild the archive through ``change(prelude, docs)`` and re-sign its
    manifest with the stack key for the new size and sha256 (a lie about
    content that only the drill's own checks can catch)."""
    prelude, docs = [], {}

    def on_prelude(collections):
        prelude.extend(collections)

    def on_documents(db, coll, batch):
        docs.setdefault((db, coll), []).extend(batch)

    engine.read_archive(made["path"], on_documents=on_documents, on_prelude=on_prelude)
    change(prelude, docs)
    raw = io.BytesIO()
    writer = engine.ArchiveWriter(raw, "7.0.42", "test")
    writer.write_prelude([(m["db"], m["collection"], m["metadata"], "collection") for m in prelude])
    for m in prelude:
        writer.write_collection(
            m["db"], m["collection"], [b"".join(docs.get((m["db"], m["collection"]), []))]
        )
    data = gzip.compress(raw.getvalue())
    with open(made["path"], "wb") as handle:
        handle.write(data)
    manifest = json.loads(open(made["manifest_path"]).read())  # noqa: SIM115
    manifest.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    write_signed(made["manifest_path"], manifest)


def _edit_manifest(made, edit, sign=True):
    manifest = json.loads(open(made["manifest_path"]).read())  # noqa: SIM115
    edit(manifest)
    if sign:
        write_signed(made["manifest_path"], manifest)
    else:
        with open(made["manifest_path"], "w") as handle:
            json.dump(manifest, handle)


def test_a_good_backup_passes_without_touching_the_operators_data(backup, mongo):
    made, backup_dir = backup
    before = snapshot(mongo)
    result = drill(backup_dir)
    assert result["result"] == "passed", result["checks"]
    assert status(result) == dict.fromkeys(engine.drill.CHECKS, "passed")
    assert result["backup"] == made["name"]
    assert 0 < result["restore_seconds"] <= result["rto_seconds"] <= result["duration_seconds"]
    assert result["check_seconds"] > 0
    assert result["throwaway"]["image"] == IMAGE
    assert snapshot(mongo) == before
    # The record the metrics and status reports read.
    record = engine.last_drill(str(backup_dir))
    assert record["last"]["result"] == "passed"
    assert record["last_passed"]["backup"] == made["name"]


def test_the_throwaway_network_is_internal_and_holds_only_the_server(backup, monkeypatch):
    import docker

    _made, backup_dir = backup
    seen = {}
    real = engine.drill._content_checks

    def spy(client, manifest):
        docker_client = docker.from_env()
        name = engine.throwaway.DRILL_PREFIX
        net = docker_client.networks.list(filters={"name": name})[0]
        net.reload()
        seen.update(internal=net.attrs["Internal"], members=list(net.attrs["Containers"]))
        docker_client.close()
        return real(client, manifest)

    monkeypatch.setattr(engine.drill, "_content_checks", spy)
    assert drill(backup_dir)["result"] == "passed"
    assert seen["internal"] is True
    assert len(seen["members"]) == 1


def test_a_server_that_never_answers_fails_and_is_removed(backup):
    _made, backup_dir = backup
    # A shell image: its container exits at once, no server ever listens.
    result = engine.restore_drill(
        str(backup_dir), image="acs-local/debian:bookworm", ready_timeout=20
    )
    assert "the throwaway server exited" in failed_on(result, "restore")
    assert status(result)["cleanup"] == "passed"


def test_a_restore_that_breaks_half_way_leaves_nothing_behind(backup, monkeypatch):
    _made, backup_dir = backup

    def broken(*_args):
        raise engine.BackupError("disk full in the middle of the restore")

    monkeypatch.setattr(engine.runners.Native, "restore", broken)
    result = drill(backup_dir)
    assert "disk full" in failed_on(result, "restore")
    assert status(result)["cleanup"] == "passed"
    assert engine.last_drill(str(backup_dir))["last"]["failed_checks"] == ["restore"]


def test_a_truncated_archive_fails_the_archive_check(backup):
    made, backup_dir = backup
    size = os.path.getsize(made["path"])
    with open(made["path"], "r+b") as handle:
        handle.truncate(size // 2)
    assert "truncated" in failed_on(drill(backup_dir), "archive")


def test_one_flipped_byte_fails_the_archive_check(backup):
    made, backup_dir = backup
    with open(made["path"], "r+b") as handle:
        handle.seek(os.path.getsize(made["path"]) // 2)
        byte = handle.read(1)
        handle.seek(-1, 1)
        handle.write(bytes([byte[0] ^ 0x01]))
    assert "sha256" in failed_on(drill(backup_dir), "archive")


def test_a_collection_missing_from_the_archive_fails(backup):
    made, backup_dir = backup

    def drop_jobs(prelude, docs):
        prelude[:] = [m for m in prelude if m["collection"] != "jobs"]

    _rewrite(made, drop_jobs)
    assert "jobs" in failed_on(drill(backup_dir), "archive")


def test_a_manifest_whose_sha256_lies_fails_even_re_signed(backup):
    made, backup_dir = backup
    _edit_manifest(made, lambda m: m.update(sha256="0" * 64))
    assert "sha256" in failed_on(drill(backup_dir), "archive")


def test_a_manifest_whose_counts_lie_fails_even_re_signed(backup):
    made, backup_dir = backup

    def lie(m):
        m["databases"]["crawler"]["collections"]["pages"]["documents"] += 1

    _edit_manifest(made, lie)
    assert "documents" in failed_on(drill(backup_dir), "archive")


def test_an_unsigned_lie_fails_on_the_signature(backup):
    made, backup_dir = backup

    def lie(m):
        m["databases"]["crawler"]["collections"]["pages"]["documents"] += 1

    _edit_manifest(made, lie, sign=False)
    assert "signature mismatch" in failed_on(drill(backup_dir), "trust")


def test_an_untrusted_newest_backup_is_not_passed_over_for_an_older_good_one(backup, mongo_uri):
    made, backup_dir = backup
    newer = engine.run_backup(mongo_uri, str(backup_dir), label="nightly")
    _edit_manifest(newer, lambda m: m.update(sha256="0" * 64), sign=False)
    result = drill(backup_dir)
    detail = failed_on(result, "trust")
    assert f"({newer['name']}: signature mismatch)" in detail
    # Not drilled instead: the older good backup would make the drill pass.
    assert result["backup"] is None and made["name"] != newer["name"]


def test_an_index_missing_from_the_archive_fails_the_index_check(backup):
    made, backup_dir = backup

    def drop_index(prelude, docs):
        from bson import json_util

        for m in prelude:
            if m["collection"] == "pages":
                meta = json_util.loads(m["metadata"])
                meta["indexes"] = [ix for ix in meta["indexes"] if ix["name"] != "url_1"]
                m["metadata"] = json_util.dumps(meta)

    _rewrite(made, drop_index)
    result = drill(backup_dir)
    detail = failed_on(result, "indexes")
    assert list(detail) == ["crawler.pages"]
    assert status(result)["archive"] == "passed"


def test_a_changed_document_fails_the_sample_check(backup):
    import bson

    made, backup_dir = backup

    def change_one(prelude, docs):
        batch = docs[("crawler", "pages")]
        doc = bson.decode(batch[0])
        doc["n"] = -1
        batch[0] = bson.encode(doc)

    _rewrite(made, change_one)
    result = drill(backup_dir)
    assert failed_on(result, "sample") == {"crawler.pages": "2 of 10 sample hashes differ"}


def test_an_old_manifest_is_drilled_and_says_what_it_could_not_check(backup):
    made, backup_dir = backup

    def old(m):
        m.pop("content")
        for entry in m["databases"].values():
            for info in entry["collections"].values():
                info.pop("indexes"), info.pop("sample_sha256")
        m["engine"]["version"] = "1.0.0"

    _edit_manifest(made, old)
    result = drill(backup_dir)
    assert result["result"] == "passed"
    assert result["skipped_checks"] == ["indexes", "sample"]
    skipped = {c["name"]: c["detail"] for c in result["checks"] if c["status"] == "skipped"}
    assert "not recorded in the manifest (made by engine 1.0.0)" in skipped["sample"]


def test_check_mode_plans_and_starts_nothing(backup, monkeypatch):
    _made, backup_dir = backup

    def never(*_a, **_k):
        raise AssertionError("check mode started a server")

    monkeypatch.setattr(engine.drill, "throwaway_server", never)
    result = drill(backup_dir, check_mode=True)
    assert result["result"] == "planned" and result["changed"] is False
    assert result["plan"]["image"] == IMAGE
    assert "internal" in result["plan"]["network"]
    assert engine.last_drill(str(backup_dir)) is None


def test_an_encrypted_s3_copy_is_drilled_with_the_offline_identity(mongo_uri, seeded, tmp_path, s3):
    path, public, _secret = _identity(tmp_path / "laptop" / "id.txt")
    made = engine.run_backup(
        mongo_uri, str(tmp_path / "host-a"), label="offsite", s3=s3, age_recipients=[public]
    )
    key = f"prod/mongodb/{made['name']}.archive.gz.age"
    fresh = tmp_path / "host-b"
    refused = drill(fresh, source=key, s3=s3)
    assert "age_identity_file" in failed_on(refused, "trust")
    result = drill(fresh, source=key, s3=s3, age_identity_file=str(path))
    assert result["result"] == "passed", result["checks"]


def test_the_dag_waits_for_the_drill_it_asked_for_and_fails_with_it(backup, monkeypatch):
    """The DAG's `wait` task: a drill recorded before the request does not
    count; the first one after it does, and its failure is the task's."""
    import time

    from crawler.dags_support import RestoreDrillFailed, RestoreDrillNotRun, wait_for_restore_drill

    made, backup_dir = backup
    monkeypatch.setenv("BACKUP_DIR", str(backup_dir))
    assert drill(backup_dir)["result"] == "passed"
    requested = time.time()
    with pytest.raises(RestoreDrillNotRun, match="no restore drill started within 1 s"):
        wait_for_restore_drill(requested, timeout=1, poll=0.2)
    assert drill(backup_dir)["result"] == "passed"
    assert wait_for_restore_drill(requested, timeout=1)["result"] == "passed"
    with open(made["path"], "r+b") as handle:
        handle.truncate(100)
    requested = time.time()
    drill(backup_dir)
    with pytest.raises(
        RestoreDrillFailed, match=f"restore drill of {made['name']} failed: archive"
    ):
        wait_for_restore_drill(requested, timeout=1)
    record = engine.last_drill(str(backup_dir))
    assert record["last"]["result"] == "failed" and record["last_passed"]["result"] == "passed"


def test_no_drill_is_asked_for_before_the_first_backup(tmp_path, monkeypatch):
    """A new stack: the DAG's first run (when the deploy unpauses it) finds no
    backup and asks for nothing; with a backup it would push to this closed
    port and fail."""
    from crawler.dags_support import request_restore_drill

    monkeypatch.setenv("BACKUP_DIR", str(tmp_path))
    monkeypatch.setenv("PUSHGATEWAY_URL", "http://127.0.0.1:9")
    assert request_restore_drill() is None
