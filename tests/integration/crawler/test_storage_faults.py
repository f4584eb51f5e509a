"""No result is lost on the write path (issue 10): a document too large for
MongoDB is stored without its fields and flagged, an unreadable spool line is
quarantined without blocking the rest, and a batch that can be written
neither to MongoDB nor to the spool stays in memory for the next flush.
Against FerretDB, with real documents and real files."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from bson import json_util
from pymongo.errors import PyMongoError

from crawler import _backup_engine as engine
from crawler import repository
from crawler.monitoring import healing_status
from crawler.storage import Spool, Storage, Writer

pytestmark = pytest.mark.integration


def result(url: str, body: str = "text") -> dict:
    return {
        "source": "faults",
        "url": url,
        "fetched_at": datetime.now(UTC),
        "content_hash": f"h-{len(body)}-{url}",
        "fields": {"title": url, "body": body},
        "status": "ok",
        "mode": "static",
        "run_id": "r1",
    }


@pytest.mark.parametrize("seen_before", [False, True], ids=["first-crawl", "recrawl"])
def test_an_oversized_result_is_stored_without_its_fields_and_flagged(
    seen_before, storage, tmp_path
):
    writer = Writer(storage, Spool(tmp_path / "spool"), batch_size=10)
    if seen_before:
        # the update path: pymongo refuses the 17 MiB $set (DocumentTooLarge,
        # not a PyMongoError), which used to drop the whole batch unspooled
        writer.add_result(result("https://x/big", body="small"))
        assert writer.flush() is True
    # 17 MiB of text: over MongoDB's 16 MiB document limit
    big = result("https://x/big", body="x" * (17 * 1024 * 1024))
    for doc in (result("https://x/a"), big, result("https://x/b")):
        writer.add_result(doc)
    assert writer.flush() is True
    stored = {d["url"]: d for d in storage.db.crawl_results.find({"source": "faults"})}
    assert set(stored) == {"https://x/a", "https://x/big", "https://x/b"}
    assert stored["https://x/big"]["fields"] == {}
    assert stored["https://x/big"]["oversized"]["dropped_fields"] == ["body", "title"]
    assert stored["https://x/big"]["oversized"]["fields_bytes"] > 16 * 1024 * 1024
    assert stored["https://x/a"]["fields"]["body"] == "text"
    assert not Spool(tmp_path / "spool").files()


def test_a_torn_spool_line_is_quarantined_and_the_rest_replayed(storage, tmp_path):
    spool = Spool(tmp_path / "spool")
    spool.append("result", [result("https://x/1"), result("https://x/2")])
    path = spool.files()[0]
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("this is not json\n")
        fh.write(json_util.dumps({"kind": "result", "doc": {"url": "no source"}}) + "\n")
        fh.write('{"kind": "result", "doc": {"source": "faults", "url": "https://x/torn"')
    spool.append("result", [result("https://x/3")])  # a later batch, after the crash
    writer = Writer(storage, spool)
    assert writer.flush() is True
    urls = sorted(d["url"] for d in storage.db.crawl_results.find({"source": "faults"}))
    assert urls == ["https://x/1", "https://x/2", "https://x/3"]
    assert spool.files() == [] and spool.quarantined() == 3
    # the set-aside lines are kept as they were, for a person to read
    kept = next((tmp_path / "spool").glob("*.quarantine")).read_text()
    assert "this is not json" in kept and "https://x/torn" in kept
    # later flushes are not blocked
    writer.add_result(result("https://x/4"))
    assert writer.flush() is True
    # and the healing status says so
    health = healing_status(storage, spool=spool)
    assert health["spool_quarantined"] == 3 and health["status"] == "degraded"
    assert any("quarantine" in r for r in health["reasons"])


def test_a_batch_neither_mongodb_nor_the_spool_takes_stays_in_memory(storage, tmp_path):
    blocker = tmp_path / "spool"
    blocker.write_text("a file where the spool directory should be")  # mkdir fails: OSError
    down = Storage("mongodb://127.0.0.1:1/", storage.db.name, timeout_ms=300)
    writer = Writer(down, Spool(blocker))
    writer.add_result(result("https://x/kept"))
    assert writer.flush() is False
    assert writer.pending == 1  # not dropped
    writer.storage = storage  # MongoDB is back
    assert writer.flush() is True
    assert storage.db.crawl_results.count_documents({"url": "https://x/kept"}) == 1


def _writer_beside(backups, ferretdb, mongo_db_name, tmp_path, monkeypatch):
    # BACKUP_DIR as the crawler containers get it: the shared backup volume
    monkeypatch.setenv("BACKUP_DIR", str(backups))
    return Writer(Storage(ferretdb.uri, mongo_db_name), Spool(tmp_path / "spool"), batch_size=10)


def test_writes_wait_in_the_spool_while_a_restore_runs(
    ferretdb, mongo_db_name, tmp_path, monkeypatch
):
    backups = tmp_path / "backups"
    backups.mkdir()
    writer = _writer_beside(backups, ferretdb, mongo_db_name, tmp_path, monkeypatch)
    db = writer.storage.db
    # a restore as the engine runs one: the directory lock held, the marker standing
    with engine.locking.backup_dir_lock(str(backups), "restore"):
        (backups / ".restore-in-progress").write_text(json.dumps({"archive": "x.archive.gz"}))
        for i in range(25):
            writer.add_result(result(f"https://x/{i}"))
        writer.add_doc("error_logs", {"ts": datetime.now(UTC), "code": "E001"})
        assert writer.flush() is False
        assert db.crawl_results.count_documents({}) == 0
        assert db.error_logs.count_documents({}) == 0
        assert writer.spool.size() == 26
        # a pause is not an outage: no E009, no healing session
        assert writer.storage_failures == 0
        # the run document a crawl writes at its start waits too (its end goes through the spool)
        with pytest.raises(PyMongoError, match=r"restore of x\.archive\.gz"):
            repository.save_run(writer.storage, {"_id": "r1", "source": "faults"})
        assert db.crawl_runs.count_documents({}) == 0
        (backups / ".restore-in-progress").unlink()
    writer.add_result(result("https://x/after"))
    assert writer.flush() is True
    assert db.crawl_results.count_documents({}) == 26
    assert db.error_logs.count_documents({}) == 1
    assert writer.spool.size() == 0


def test_a_marker_left_by_a_killed_restore_does_not_pause_writers(
    ferretdb, mongo_db_name, tmp_path, monkeypatch
):
    backups = tmp_path / "backups"
    backups.mkdir()
    writer = _writer_beside(backups, ferretdb, mongo_db_name, tmp_path, monkeypatch)
    # the restore died with SIGKILL: its marker stayed, the kernel let go of its lock
    (backups / ".restore-in-progress").write_text(json.dumps({"archive": "x.archive.gz"}))
    writer.add_result(result("https://x/1"))
    assert writer.flush() is True
    assert writer.storage.db.crawl_results.count_documents({}) == 1
