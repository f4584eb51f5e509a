"""The API's and backup_dag's retention: every rule from the environment,
through the one Settings.backup_retention() both hand to the engine."""

from __future__ import annotations

from crawler import backup as backup_engine
from crawler import dags_support
from crawler._backup_engine import retention
from crawler.config import Settings


def test_defaults_are_the_engines(monkeypatch):
    for name in ("KEEP_LAST", "MAX_AGE_DAYS", "KEEP_DAILY", "KEEP_WEEKLY", "KEEP_MONTHLY"):
        monkeypatch.delenv(f"BACKUP_{name}", raising=False)
    assert Settings().backup_retention() == {
        "keep_last": retention.DEFAULT_KEEP_LAST,
        "max_age_days": retention.DEFAULT_MAX_AGE_DAYS,
        "keep_daily": retention.DEFAULT_KEEP_DAILY,
        "keep_weekly": retention.DEFAULT_KEEP_WEEKLY,
        "keep_monthly": retention.DEFAULT_KEEP_MONTHLY,
    }


def test_the_dag_hands_the_generations_to_the_engine(monkeypatch, tmp_path):
    monkeypatch.setenv("BACKUP_KEEP_DAILY", "7")
    monkeypatch.setenv("BACKUP_KEEP_WEEKLY", "4")
    monkeypatch.setenv("BACKUP_KEEP_MONTHLY", "12")
    monkeypatch.setenv("BACKUP_DIR", str(tmp_path))
    seen = {}

    def fake_run_backup(uri, backup_dir, label="manual", **options):
        seen.update(options, label=label)
        return {"name": "x"}

    monkeypatch.setattr(backup_engine, "run_backup", fake_run_backup)
    dags_support.backup("scheduled")
    assert (seen["keep_daily"], seen["keep_weekly"], seen["keep_monthly"]) == (7, 4, 12)
    assert seen["keep_last"] == retention.DEFAULT_KEEP_LAST and seen["label"] == "scheduled"
