"""No backup is lost to a concurrent caller, a full disk or a bad directory
(issue 10), against FerretDB: one lock per backup directory (held by another
process, as the API, a DAG and a module would), a name per backup even in
the same second, the free space checked before the dump, OSError as a
BackupError naming the path, and the default restore never choosing a
safety backup."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import textwrap
import threading

import pytest

from crawler import _backup_engine as engine
from crawler._backup_engine.locking import backup_dir_lock

pytestmark = pytest.mark.integration


def hold_lock_in_another_process(backup_dir, seconds: float) -> subprocess.Popen:
    """A second process holding the directory's lock, as a running backup would."""
    code = textwrap.dedent(
        f"""
        import sys, time
        from crawler._backup_engine.locking import backup_dir_lock
        with backup_dir_lock({str(backup_dir)!r}, "backup nightly"):
            print("held", flush=True)
            time.sleep({seconds})
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_backup_is_refused_naming_the_one_running(mongo_uri, seeded, tmp_path):
    holder = hold_lock_in_another_process(tmp_path, 30)
    try:
        with pytest.raises(engine.BackupError) as busy:
            engine.run_backup(mongo_uri, str(tmp_path), label="api")
        message = str(busy.value)
        assert "busy" in message and "backup nightly" in message and str(holder.pid) in message
        assert not list(tmp_path.glob("*.archive.gz"))
    finally:
        holder.kill()
        holder.wait()


def test_a_second_backup_waits_for_the_first_when_told_to(mongo_uri, seeded, tmp_path):
    holder = hold_lock_in_another_process(tmp_path, 1.5)
    result = engine.run_backup(mongo_uri, str(tmp_path), label="api", lock_timeout=30)
    assert holder.wait(timeout=30) == 0
    assert result["good"] and engine.verify_backup(result["path"])["verified"]


def test_a_restore_never_runs_during_a_backup(mongo_uri, seeded, tmp_path):
    made = engine.run_backup(mongo_uri, str(tmp_path), label="nightly")
    holder = hold_lock_in_another_process(tmp_path, 30)
    try:
        with pytest.raises(engine.BackupError, match="busy"):
            engine.restore(mongo_uri, made["name"], str(tmp_path))
    finally:
        holder.kill()
        holder.wait()
    assert seeded.crawler.pages.count_documents({}) == 300  # untouched


def test_parallel_backups_in_one_second_all_land_under_their_own_names(mongo_uri, seeded, tmp_path):
    fixed = engine.common.utcnow()
    results, errors = [], []

    def one():
        try:
            results.append(
                engine.run_backup(mongo_uri, str(tmp_path), label="api", now=fixed, lock_timeout=60)
            )
        except Exception as exc:  # collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    names = sorted(r["name"] for r in results)
    assert len(set(names)) == 3, names
    assert all(engine.verify_backup(r["path"])["verified"] for r in results)
    assert not list(tmp_path.glob("*.partial"))


def test_not_enough_free_space_is_refused_before_the_dump(mongo_uri, seeded, tmp_path):
    with pytest.raises(engine.BackupError) as full:
        engine.run_backup(mongo_uri, str(tmp_path), label="x", min_free_bytes=2**60)
    assert "free in" in str(full.value) and str(tmp_path) in str(full.value)
    assert "keep_last" in str(full.value)  # the fix
    assert not list(tmp_path.glob("*.archive.gz*"))


def test_an_unusable_backup_dir_is_a_backup_error_naming_it(mongo_uri, seeded, tmp_path):
    not_a_dir = tmp_path / "backups"
    not_a_dir.write_text("a file")
    with pytest.raises(engine.BackupError) as bad:
        engine.run_backup(mongo_uri, str(not_a_dir), label="x")
    assert str(not_a_dir) in str(bad.value) and "permissions" in str(bad.value)


def test_the_default_restore_skips_safety_backups(mongo_uri, seeded, tmp_path):
    nightly = engine.run_backup(mongo_uri, str(tmp_path), label="nightly")
    seeded.crawler.pages.insert_one({"url": "https://example.test/new", "n": -1})
    first = engine.restore(mongo_uri, None, str(tmp_path))
    assert first["backup"]["name"] == nightly["name"]
    assert first["safety_backup"]["label"] == "pre-restore"  # newer than nightly
    # A second default restore picks nightly again, not the safety backup of the first.
    again = engine.restore(mongo_uri, None, str(tmp_path), check_mode=True)
    assert again["backup"]["name"] == nightly["name"]
    # The safety backup is restored only when named.
    named = engine.restore(
        mongo_uri, first["safety_backup"]["name"], str(tmp_path), check_mode=True
    )
    assert named["backup"]["name"] == first["safety_backup"]["name"]


def test_a_caller_refused_just_as_the_holder_locks_still_learns_who_holds_it(tmp_path):
    """The holder writes who it is just after it got the lock: a caller
    refused in that moment names it all the same (seen saying "another
    process" when six API restores raced)."""
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # locked, nothing written yet
    info = {"operation": "restore job 1234", "pid": 1, "host": "api-2", "since": "now"}
    writer = threading.Timer(
        0.15, lambda: (tmp_path / ".acs-backup.lock").write_text(json.dumps(info))
    )
    writer.start()
    try:
        refused = pytest.raises(engine.BackupError, match=r"restore job 1234 \(pid 1 on api-2")
        with refused, backup_dir_lock(str(tmp_path), "backup"):
            pass
    finally:
        writer.join()
        os.close(fd)
