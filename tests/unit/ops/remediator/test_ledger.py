"""The ledger: shared by the event source and concurrent handlers, kept
across restarts, and summarised per day for the weekly check."""

from __future__ import annotations

import multiprocessing
import sqlite3

from ops.remediator.ledger import Ledger

DAY = 86400.0
T0 = 1_796_000_000.0  # 2026-11-30 UTC


def _writer(path: str, worker: int, count: int) -> None:
    ledger = Ledger(path)
    for i in range(count):
        alert_id = ledger.record_alert(
            {
                "alertname": "ApiDown",
                "status": "firing",
                "labels": {"procedure": "recover_api"},
                "fingerprint": f"{worker}-{i}",
                "starts_at": "2026-12-02T20:00:00Z",
            }
        )
        action = ledger.start_action("recover_api", alert_id)
        ledger.finish_action(action, 0, True)


def test_concurrent_writers_lose_nothing(tmp_path):
    path = str(tmp_path / "ledger.sqlite3")
    Ledger(path)
    workers = [multiprocessing.Process(target=_writer, args=(path, w, 40)) for w in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
        assert w.exitcode == 0
    ledger = Ledger(path)
    assert len(ledger.actions("recover_api")) == 160
    assert len(ledger.entries(kinds=("received",))) == 160
    assert {a["outcome"] for a in ledger.actions()} == {"succeeded"}


def test_breakers_and_budgets_survive_a_restart(tmp_path):
    first = Ledger(tmp_path / "ledger.sqlite3")
    first.finish_action(first.start_action("recover_api", None, now=T0), 0, True, now=T0 + 20)
    assert first.open_breaker("recover_api", "budget exhausted", now=T0 + 30)
    assert not first.open_breaker("recover_api", "again", now=T0 + 40)  # one opening, one call
    del first
    again = Ledger(tmp_path / "ledger.sqlite3")
    assert again.breaker("recover_api")["reason"] == "budget exhausted"
    assert len(again.actions("recover_api", since=T0 - 1)) == 1
    assert again.reset_breaker("recover_api", by="operator", now=T0 + 50)
    assert again.breaker("recover_api") is None
    assert again.entries(kinds=("breaker_reset",))[0]["reason"] == "reset by operator"


def test_consecutive_failures_count_back_to_the_last_success(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    for rc, verified in [(1, False), (0, True), (0, False), (2, False)]:
        ledger.finish_action(ledger.start_action("recover_oom", None), rc, verified)
    assert [a["outcome"] for a in ledger.actions()] == [
        "failed",
        "succeeded",
        "unverified",
        "failed",
    ]
    assert ledger.consecutive_failures("recover_oom") == 2


def test_daily_summary_counts_per_day(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    for day, outcomes in ((0, [(0, True), (1, False)]), (2, [(0, True)])):
        at = T0 + day * DAY
        for rc, ok in outcomes:
            alert = ledger.record_alert(
                {"alertname": "ApiDown", "labels": {"procedure": "recover_api"}}, now=at
            )
            ledger.log("decision", "recover_api", alert, "firing", now=at, detail={"action": "run"})
            ledger.finish_action(
                ledger.start_action("recover_api", alert, now=at), rc, ok, now=at + 30
            )
    ledger.log("decision", "recover_api", None, "cool-down", now=T0, detail={"action": "skip"})
    ledger.log("escalated", "recover_api", None, "x", now=T0 + 40)
    rows = ledger.daily_summary(days=7, now=T0 + 3 * DAY)
    assert [r["day"] for r in rows] == ["2026-11-30", "2026-12-02"]
    assert rows[0]["received"] == 2 and rows[0]["actions_succeeded"] == 1
    assert rows[0]["actions_failed"] == 1 and rows[0]["not_acted_skip"] == 1
    assert rows[0]["escalated"] == 1 and rows[0]["by_procedure"] == {"recover_api": 2}
    assert rows[1] == {
        "day": "2026-12-02",
        "action_started": 1,
        "actions_succeeded": 1,
        "received": 1,
        "by_procedure": {"recover_api": 1},
    }


def test_a_torn_write_leaves_no_half_record(tmp_path):
    """A handler killed mid-transaction: the transaction is rolled back."""
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    try:
        with ledger._db() as db:
            db.execute("INSERT INTO actions (procedure, started_at) VALUES ('recover_api', 1)")
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert ledger.actions() == []
    assert sqlite3.connect(tmp_path / "ledger.sqlite3").execute(
        "PRAGMA integrity_check"
    ).fetchone() == ("ok",)
