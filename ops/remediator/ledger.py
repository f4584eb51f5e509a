"""The remediator's persistent record: every alert received, every decision,
every action with its outcome, and each procedure's circuit breaker.

SQLite on a host volume, not MongoDB (which may be the thing that is down).
WAL mode and a busy timeout let the event source and several handlers write
at once; each write is one transaction, so a crash leaves no half record and
budgets and breakers survive a restart of the remediator.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter, defaultdict
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY,
    received_at REAL NOT NULL,
    alertname TEXT NOT NULL,
    status TEXT NOT NULL,
    procedure TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    event TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS log (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    procedure TEXT NOT NULL DEFAULT '',
    alert_id INTEGER,
    reason TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS actions (
    id INTEGER PRIMARY KEY,
    alert_id INTEGER,
    procedure TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    rc INTEGER,
    verified INTEGER,
    outcome TEXT NOT NULL DEFAULT 'running',
    run_dir TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS breakers (
    procedure TEXT PRIMARY KEY,
    opened_at REAL NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS actions_by_procedure ON actions (procedure, started_at);
CREATE INDEX IF NOT EXISTS log_by_time ON log (at);
"""

# Outcomes of a finished action; "succeeded" means run and verified.
SUCCEEDED, FAILED, UNVERIFIED, RUNNING = "succeeded", "failed", "unverified", "running"


class Ledger:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        db = sqlite3.connect(self.path, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)  # commits by itself
        finally:
            db.close()

    @contextmanager
    def _db(self):
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            db.execute("PRAGMA busy_timeout=30000")
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            db.close()

    # -- writes ---------------------------------------------------------
    def record_alert(self, event: dict, now: float | None = None) -> int:
        now = time.time() if now is None else now
        with self._db() as db:
            cur = db.execute(
                "INSERT INTO alerts (received_at, alertname, status, procedure, fingerprint,"
                " starts_at, event) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    now,
                    event.get("alertname", ""),
                    event.get("status", ""),
                    event.get("labels", {}).get("procedure", ""),
                    event.get("fingerprint", ""),
                    event.get("starts_at", ""),
                    json.dumps(event, sort_keys=True),
                ),
            )
            alert_id = cur.lastrowid
            _log(db, now, "received", event.get("labels", {}).get("procedure", ""), alert_id)
        return alert_id

    def log(
        self,
        kind: str,
        procedure: str = "",
        alert_id: int | None = None,
        reason: str = "",
        now: float | None = None,
        detail: dict | None = None,
    ) -> None:
        with self._db() as db:
            _log(db, time.time() if now is None else now, kind, procedure, alert_id, reason, detail)

    def start_action(self, procedure: str, alert_id: int | None, now: float | None = None) -> int:
        now = time.time() if now is None else now
        with self._db() as db:
            cur = db.execute(
                "INSERT INTO actions (alert_id, procedure, started_at) VALUES (?, ?, ?)",
                (alert_id, procedure, now),
            )
            _log(db, now, "action_started", procedure, alert_id)
            return cur.lastrowid

    def finish_action(
        self,
        action_id: int,
        rc: int | None,
        verified: bool | None,
        run_dir: str = "",
        now: float | None = None,
    ) -> str:
        now = time.time() if now is None else now
        outcome = FAILED if rc != 0 else (SUCCEEDED if verified else UNVERIFIED)
        with self._db() as db:
            row = db.execute(
                "SELECT procedure, alert_id FROM actions WHERE id = ?", (action_id,)
            ).fetchone()
            db.execute(
                "UPDATE actions SET finished_at = ?, rc = ?, verified = ?, outcome = ?, run_dir = ?"
                " WHERE id = ?",
                (now, rc, None if verified is None else int(verified), outcome, run_dir, action_id),
            )
            _log(db, now, "action_finished", row["procedure"], row["alert_id"], outcome, {"rc": rc})
        return outcome

    def open_breaker(self, procedure: str, reason: str, now: float | None = None) -> bool:
        """Opens it; False when it was already open (nobody is called twice)."""
        now = time.time() if now is None else now
        with self._db() as db:
            if db.execute("SELECT 1 FROM breakers WHERE procedure = ?", (procedure,)).fetchone():
                return False
            db.execute("INSERT INTO breakers VALUES (?, ?, ?)", (procedure, now, reason))
            _log(db, now, "breaker_opened", procedure, None, reason)
            return True

    def reset_breaker(self, procedure: str, by: str, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        with self._db() as db:
            gone = db.execute("DELETE FROM breakers WHERE procedure = ?", (procedure,)).rowcount
            if gone:
                _log(db, now, "breaker_reset", procedure, None, f"reset by {by}")
            return bool(gone)

    # -- reads ----------------------------------------------------------
    def alert(self, alert_id: int) -> dict | None:
        with self._db() as db:
            row = db.execute("SELECT * FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        if row is None:
            return None
        return {**json.loads(row["event"]), "id": row["id"], "received_at": row["received_at"]}

    def breaker(self, procedure: str) -> dict | None:
        with self._db() as db:
            row = db.execute("SELECT * FROM breakers WHERE procedure = ?", (procedure,)).fetchone()
        return dict(row) if row else None

    def breakers(self) -> list[dict]:
        with self._db() as db:
            return [dict(r) for r in db.execute("SELECT * FROM breakers ORDER BY procedure")]

    def actions(self, procedure: str | None = None, since: float = 0) -> list[dict]:
        query = "SELECT * FROM actions WHERE started_at >= ?"
        args: list = [since]
        if procedure is not None:
            query += " AND procedure = ?"
            args.append(procedure)
        with self._db() as db:
            return [dict(r) for r in db.execute(query + " ORDER BY id", args)]

    def consecutive_failures(self, procedure: str) -> int:
        count = 0
        for action in reversed(self.actions(procedure)):
            if action["outcome"] == RUNNING:
                continue
            if action["outcome"] == SUCCEEDED:
                break
            count += 1
        return count

    def entries(self, since: float = 0, kinds: tuple[str, ...] = ()) -> list[dict]:
        query = "SELECT * FROM log WHERE at >= ?"
        args: list = [since]
        if kinds:
            query += f" AND kind IN ({','.join('?' * len(kinds))})"
            args += list(kinds)
        with self._db() as db:
            rows = [dict(r) for r in db.execute(query + " ORDER BY id", args)]
        for row in rows:
            row["detail"] = json.loads(row["detail"] or "{}")
        return rows

    def daily_summary(self, days: int = 7, now: float | None = None) -> list[dict]:
        """One row per UTC day of the last ``days``: alerts received, actions
        and their outcomes, refusals by reason, escalations, breakers opened."""
        now = time.time() if now is None else now
        since = now - days * 86400
        per_day: dict[str, Counter] = defaultdict(Counter)
        procedures: dict[str, Counter] = defaultdict(Counter)
        for entry in self.entries(since):
            day = datetime.fromtimestamp(entry["at"], UTC).date().isoformat()
            kind = entry["kind"]
            if kind == "action_finished":
                per_day[day][f"actions_{entry['reason']}"] += 1
                procedures[day][entry["procedure"]] += 1
            elif kind == "decision" and entry["detail"].get("action") != "run":
                per_day[day][f"not_acted_{entry['detail'].get('action', 'skip')}"] += 1
            elif kind in ("received", "rejected", "escalated", "breaker_opened", "action_started"):
                per_day[day][kind] += 1
        return [
            {
                "day": day,
                **dict(sorted(per_day[day].items())),
                "by_procedure": dict(procedures[day]),
            }
            for day in sorted(per_day)
        ]


def iso(moment: float) -> str:
    """A ledger timestamp as reports and people read it (UTC, seconds)."""
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _log(db, at, kind, procedure, alert_id, reason="", detail=None) -> None:
    db.execute(
        "INSERT INTO log (at, kind, procedure, alert_id, reason, detail) VALUES (?, ?, ?, ?, ?, ?)",
        (at, kind, procedure, alert_id, reason, json.dumps(detail or {}, sort_keys=True)),
    )
