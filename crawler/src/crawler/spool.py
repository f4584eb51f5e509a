"""The durable local spool: what MongoDB could not take waits here, as
fsynced JSON lines, until a later write replays it (idempotently: every
write of crawler.storage is an upsert by natural key or client-made _id)."""

from __future__ import annotations

import fcntl
import logging
import os
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from bson import json_util

if TYPE_CHECKING:
    from crawler.storage import Storage

log = logging.getLogger(__name__)
_WRITER = socket.gethostname()


QUARANTINE_SUFFIX = ".quarantine"
# What write_results needs of a spooled result; one without them would fail
# every replay, so it is quarantined instead.
RESULT_KEYS = frozenset({"source", "url", "fetched_at", "content_hash", "fields"})


class Spool:
    """Append-only JSON-lines files, fsynced, one per process. Replay claims a
    file by renaming it, writes its records idempotently, then deletes it.

    A line that cannot be read back (torn by a crash mid-write, or damaged)
    is set aside, as it was, in a `.quarantine` file next to it, counted by
    quarantined(), and never stops the other records from reaching MongoDB."""

    def __init__(self, directory: Path):
        self.dir = Path(directory)

    def _ensure(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)

    def append(self, kind: str, docs: Iterable[dict]) -> int:
        self._ensure()
        # Host name and pid: API replicas and Airflow workers may share one
        # spool volume, and their processes often have the same pid.
        path = self.dir / f"spool-{_WRITER}-{os.getpid()}.jsonl"
        n = 0
        with open(path, "ab+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            end = fh.seek(0, os.SEEK_END)
            if end > 0:
                # A crash mid-write leaves a torn last line: end it, so this
                # batch does not glue itself to it and share its quarantine.
                fh.seek(end - 1)
                if fh.read(1) != b"\n":
                    fh.write(b"\n")
            for d in docs:
                fh.write((json_util.dumps({"kind": kind, "doc": d}) + "\n").encode("utf-8"))
                n += 1
            fh.flush()
            os.fsync(fh.fileno())
        return n

    def files(self) -> list[Path]:
        if not self.dir.is_dir():
            return []
        return sorted(p for p in self.dir.iterdir() if p.suffix in (".jsonl", ".replaying"))

    def size(self) -> int:
        """Number of spooled records waiting for MongoDB."""
        total = 0
        for p in self.files():
            try:
                with open(p, "rb") as fh:
                    total += sum(1 for _ in fh)
            except FileNotFoundError:
                continue
        return total

    def quarantined(self) -> int:
        """Number of spool lines set aside as unreadable (kept for a person to look at)."""
        if not self.dir.is_dir():
            return 0
        total = 0
        for p in self.dir.glob(f"*{QUARANTINE_SUFFIX}"):
            with open(p, "rb") as fh:
                total += sum(1 for _ in fh)
        return total

    def _read(self, claimed: Path) -> list[dict]:
        records, bad = [], []
        with open(claimed, encoding="utf-8", errors="surrogateescape") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    record = json_util.loads(line)
                    if not isinstance(record, dict) or not isinstance(record.get("doc"), dict):
                        raise ValueError("not a spool record")
                    record["kind"] = str(record["kind"])
                    if record["kind"] == "result" and not record["doc"].keys() >= RESULT_KEYS:
                        raise ValueError("a result without " + ", ".join(sorted(RESULT_KEYS)))
                except (ValueError, KeyError, TypeError) as exc:
                    bad.append(line if line.endswith("\n") else line + "\n")
                    log.error("spool line set aside in quarantine (%s): %.120s", exc, line)
                    continue
                records.append(record)
        if bad:
            target = claimed.with_name(claimed.name.split(".", 1)[0] + QUARANTINE_SUFFIX)
            with open(target, "a", encoding="utf-8", errors="surrogateescape") as fh:
                fh.writelines(bad)
                fh.flush()
                os.fsync(fh.fileno())
        return records

    def replay(self, storage: Storage) -> int:
        """Write every spooled record to MongoDB. Raises (and keeps the file)
        when MongoDB is still away."""
        done = 0
        for path in self.files():
            claimed = (
                path
                if path.suffix == ".replaying"
                else path.with_suffix(f".{_WRITER}-{os.getpid()}.replaying")
            )
            if path != claimed:
                try:
                    # take the writer's lock so we never rename a half-written batch
                    with open(path, encoding="utf-8") as fh:
                        fcntl.flock(fh, fcntl.LOCK_EX)
                        os.rename(path, claimed)
                except FileNotFoundError:
                    continue
            records = self._read(claimed)
            results = [r["doc"] for r in records if r["kind"] == "result"]
            others: dict[str, list[dict]] = {}
            for r in records:
                if r["kind"] != "result":
                    others.setdefault(r["kind"], []).append(r["doc"])
            for i in range(0, len(results), 500):
                storage.write_results(results[i : i + 500])
            for coll, docs in others.items():
                storage.write_docs(coll, docs)
            # Another replayer may have finished the same leftover file first;
            # the writes are idempotent, so that is harmless.
            claimed.unlink(missing_ok=True)
            done += len(records)
        return done
