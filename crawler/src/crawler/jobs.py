"""Backups and restores as jobs that every API replica sees.

The API runs as several replicas behind nginx, so a job's record cannot live
in one process: each job is a small JSON file on the shared backup volume,
``<backup_dir>/.jobs/<id>.json``, replaced atomically on every change. Who
may run is decided by the backup engine's own directory flock (locking.py),
which the kernel shares across containers on one volume: a restore is
started only when its worker holds that lock, so a second restore, from any
replica, a retry or a client that timed out, is refused while one runs.

A worker writes a heartbeat into its record every HEARTBEAT_SECONDS. A
replica killed mid-job cannot mark its job failed; the next reader does:
a queued or running job whose heartbeat is older than STALE_SECONDS, and
whose worker no longer holds the directory lock, is failed as abandoned."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from crawler._backup_engine import locking
from crawler._backup_engine.errors import BackupError
from crawler._backup_engine.marker import lock_is_held

JOBS_DIR = ".jobs"
HEARTBEAT_SECONDS = 5.0
STALE_SECONDS = 30.0
ACTIVE = ("queued", "running")
KEEP_FINISHED = 200  # records of ended jobs kept for GET /api/backup/jobs


class JobRefused(Exception):
    """The job cannot start now (another one holds the backup directory)."""


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(ts: datetime) -> str:
    return ts.isoformat(timespec="seconds").replace("+00:00", "Z")


def _parse(ts: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00")) if ts else None
    except ValueError:
        return None


def job_id_for(kind: str, idempotency_key: str | None) -> str:
    """A fresh id, or the one id a client's Idempotency-Key always maps to
    (per kind): the retry of a request that timed out finds the job it
    already started."""
    if idempotency_key:
        return hashlib.sha256(f"{kind}\0{idempotency_key}".encode()).hexdigest()[:32]
    return uuid.uuid4().hex


class JobStore:
    def __init__(self, backup_dir: str | Path):
        self.backup_dir = str(backup_dir)
        self.dir = Path(backup_dir) / JOBS_DIR

    def _path(self, job_id: str) -> Path:
        return self.dir / f"{job_id}.json"

    def write(self, job: dict) -> None:
        """Atomically: a reader on another replica sees the old or the new record."""
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self._path(job["id"])
        tmp = path.with_name(f".{job['id']}.{os.getpid()}.{threading.get_ident()}.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(job, fh, default=str)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    def get(self, job_id: str) -> dict | None:
        try:
            with open(self._path(job_id), encoding="utf-8") as fh:
                job = json.load(fh)
        except (FileNotFoundError, ValueError):
            return None
        return self._settle(job)

    def jobs(self) -> list[dict]:
        if not self.dir.is_dir():
            return []
        found = (self.get(p.stem) for p in self.dir.glob("*.json"))
        return [j for j in found if j is not None]

    def active(self, kind: str | None = None) -> list[dict]:
        return [j for j in self.jobs() if j["state"] in ACTIVE and kind in (None, j["kind"])]

    def prune(self, keep: int = KEEP_FINISHED) -> None:
        """Drop the records of all but the newest ``keep`` ended jobs."""
        ended = sorted(
            (j for j in self.jobs() if j["state"] not in ACTIVE),
            key=lambda j: j.get("created") or "",
            reverse=True,
        )
        for job in ended[keep:]:
            with contextlib.suppress(FileNotFoundError):
                self._path(job["id"]).unlink()

    def _holds_lock(self, job: dict) -> bool:
        holder = locking._holder(self.backup_dir)
        return job["id"] in holder and lock_is_held(self.backup_dir)

    def _settle(self, job: dict) -> dict:
        """Fail a job whose worker is gone (its replica stopped or was killed)."""
        if job.get("state") not in ACTIVE:
            return job
        beat = _parse(job.get("heartbeat"))
        if beat and _now() - beat < timedelta(seconds=STALE_SECONDS):
            return job
        if self._holds_lock(job):
            return job
        job.update(
            state="failed",
            abandoned=True,
            finished=_iso(_now()),
            error=(
                f"abandoned: the worker (pid {job.get('pid')} on {job.get('host')}) stopped "
                f"sending heartbeats at {job.get('heartbeat')} and no longer holds the backup "
                "directory's lock (its API replica was stopped or killed); "
                + (
                    "check the data with GET /api/backup/ and restore again if needed"
                    if job.get("kind") == "restore"
                    else "trigger the backup again"
                )
            ),
        )
        self.write(job)
        return job


class _Worker:
    """Runs one job in a thread: takes the lock, beats, records the outcome."""

    def __init__(self, store: JobStore, job: dict, work: Callable[[], dict], lock_timeout: float):
        self.store, self.job, self.work = store, job, work
        self.lock_timeout = lock_timeout
        self.answer_refusal = False  # set when the caller waits for the lock
        self.started = threading.Event()
        self.refused: str | None = None
        self.done = threading.Event()
        self._write_lock = threading.Lock()

    def _save(self, **changes) -> None:
        with self._write_lock:
            self.job.update(changes, heartbeat=_iso(_now()))
            self.store.write(self.job)

    def _beat(self) -> None:
        while not self.done.wait(HEARTBEAT_SECONDS):
            with self._write_lock, contextlib.suppress(OSError):
                if self.done.is_set():
                    return  # the outcome is written (or the record removed): never undo it
                self.job["heartbeat"] = _iso(_now())
                self.store.write(self.job)

    def run(self) -> None:
        threading.Thread(target=self._beat, daemon=True, name=f"job-beat-{self.job['id']}").start()
        operation = f"{self.job['kind']} job {self.job['id']}"
        try:
            with locking.backup_dir_lock(self.store.backup_dir, operation, self.lock_timeout):
                self._save(state="running", started=_iso(_now()))
                self.started.set()
                result = self.work()
            self._save(state="succeeded", finished=_iso(_now()), result=result)
        except BackupError as exc:
            if not self.started.is_set() and self.answer_refusal:
                self.refused = str(exc)  # never ran: start_job answers 409
                return
            self._save(state="failed", finished=_iso(_now()), error=str(exc))
        except Exception as exc:  # a job never stays "running" because of a bug
            self._save(state="failed", finished=_iso(_now()), error=f"{type(exc).__name__}: {exc}")
        finally:
            self.done.set()
            self.started.set()


def start_job(
    store: JobStore,
    kind: str,
    params: dict,
    work: Callable[[], dict],
    lock_timeout: float = 0.0,
    wait_for_lock: bool = False,
    job_id: str | None = None,
) -> dict:
    """Record a queued job and start its worker. With ``wait_for_lock`` the
    call returns only once the worker holds the backup directory's lock, and
    raises JobRefused (the record removed: it never ran) when it cannot."""
    now = _iso(_now())
    job = {
        "id": job_id or uuid.uuid4().hex,
        "kind": kind,
        "state": "queued",
        "params": params,
        "created": now,
        "started": None,
        "finished": None,
        "heartbeat": now,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "result": None,
        "error": None,
    }
    store.prune()
    store.write(job)
    worker = _Worker(store, job, work, lock_timeout)
    worker.answer_refusal = wait_for_lock
    threading.Thread(target=worker.run, daemon=True, name=f"job-{job['id']}").start()
    if wait_for_lock:
        worker.started.wait()
        if worker.refused is not None:
            worker.done.wait()
            with worker._write_lock, contextlib.suppress(FileNotFoundError):
                store._path(job["id"]).unlink()
            raise JobRefused(worker.refused)
    return dict(job)


def wait(store: JobStore, job_id: str, timeout: float = 60.0) -> dict | None:
    """Poll a job until it ends (tests, the CLI)."""
    deadline = time.monotonic() + timeout
    while True:
        job = store.get(job_id)
        if job is None or job["state"] not in ACTIVE or time.monotonic() > deadline:
            return job
        time.sleep(0.1)
