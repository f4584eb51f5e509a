"""Runtime settings from environment variables (12-factor; compose sets them)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from crawler._backup_engine import retention


def _keys(env: str = "CRAWLER_API_KEYS") -> list[str]:
    """Keys from `env` (comma separated) and the file named by `env`_FILE (one a line)."""
    keys = [k.strip() for k in os.environ.get(env, "").split(",") if k.strip()]
    key_file = os.environ.get(f"{env}_FILE")
    if key_file and Path(key_file).is_file():
        keys += [
            ln.strip()
            for ln in Path(key_file).read_text().splitlines()
            if ln.strip() and not ln.startswith("#")
        ]
    return keys


def _int_or(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


@dataclass
class Settings:
    mongo_uri: str = field(
        default_factory=lambda: os.environ.get("MONGO_URI", "mongodb://mongodb:27017")
    )
    mongo_db: str = field(default_factory=lambda: os.environ.get("MONGO_DB", "crawler"))
    # Admin keys read and change; read-only keys only read (api/dependencies.py).
    api_keys: list[str] = field(default_factory=_keys)
    api_read_keys: list[str] = field(default_factory=lambda: _keys("CRAWLER_API_READ_KEYS"))
    selenium_hub_url: str = field(
        default_factory=lambda: os.environ.get("SELENIUM_HUB_URL", "http://selenium-hub:4444")
    )
    browser_engine: str = field(
        default_factory=lambda: os.environ.get("CRAWLER_BROWSER_ENGINE", "selenium")
    )
    chromium_path: str = field(
        default_factory=lambda: os.environ.get("CRAWLER_CHROMIUM_PATH", "/usr/bin/chromium")
    )
    browser_pages_per_session: int = field(
        default_factory=lambda: int(os.environ.get("CRAWLER_PAGES_PER_SESSION", "50"))
    )
    # Images, fonts and media are not fetched by the browser (fetch/page_load.py):
    # extraction reads the DOM only. "false" loads pages whole.
    browser_block_resources: bool = field(
        default_factory=lambda: (
            os.environ.get("CRAWLER_BROWSER_BLOCK_RESOURCES", "true").strip().lower()
            not in ("0", "false", "no", "off")
        )
    )
    spool_dir: Path = field(
        default_factory=lambda: Path(os.environ.get("CRAWLER_SPOOL_DIR", "/var/lib/crawler/spool"))
    )
    pushgateway_url: str | None = field(
        default_factory=lambda: os.environ.get("PUSHGATEWAY_URL") or None
    )
    airflow_api_url: str | None = field(
        default_factory=lambda: os.environ.get("AIRFLOW_API_URL") or None
    )
    airflow_username: str | None = field(
        default_factory=lambda: os.environ.get("AIRFLOW_API_USERNAME") or None
    )
    airflow_password: str | None = field(
        default_factory=lambda: os.environ.get("AIRFLOW_API_PASSWORD") or None
    )
    backup_dir: Path = field(
        default_factory=lambda: Path(os.environ.get("BACKUP_DIR", "/data/backups"))
    )
    # Retention after every API and scheduled backup (0 and 0 keep everything).
    backup_keep_last: int = field(
        default_factory=lambda: _int_or("BACKUP_KEEP_LAST", retention.DEFAULT_KEEP_LAST)
    )
    backup_max_age_days: int = field(
        default_factory=lambda: _int_or("BACKUP_MAX_AGE_DAYS", retention.DEFAULT_MAX_AGE_DAYS)
    )
    # Generations (newest of each of the last N days / ISO weeks / months), on top.
    backup_keep_daily: int = field(
        default_factory=lambda: _int_or("BACKUP_KEEP_DAILY", retention.DEFAULT_KEEP_DAILY)
    )
    backup_keep_weekly: int = field(
        default_factory=lambda: _int_or("BACKUP_KEEP_WEEKLY", retention.DEFAULT_KEEP_WEEKLY)
    )
    backup_keep_monthly: int = field(
        default_factory=lambda: _int_or("BACKUP_KEEP_MONTHLY", retention.DEFAULT_KEEP_MONTHLY)
    )
    # How long an API or DAG backup waits for one already running (seconds).
    backup_lock_timeout: float = field(
        default_factory=lambda: float(os.environ.get("BACKUP_LOCK_TIMEOUT", "60"))
    )
    sources_file: Path | None = field(
        default_factory=lambda: Path(p) if (p := os.environ.get("CRAWLER_SOURCES_FILE")) else None
    )
    batch_size: int = field(
        default_factory=lambda: int(os.environ.get("CRAWLER_BATCH_SIZE", "200"))
    )
    # Private hosts and networks an intranet source may reach (fetch/guard.py):
    # comma-separated names and CIDRs; empty refuses every private target.
    allowed_targets: str = field(
        default_factory=lambda: os.environ.get("CRAWLER_ALLOWED_TARGETS", "")
    )
    # Bounds on what one site can make a crawl read (fetch/static.py).
    max_body_bytes: int = field(
        default_factory=lambda: int(os.environ.get("CRAWLER_MAX_BODY_BYTES", str(10 * 1024 * 1024)))
    )
    max_crawl_delay: float = field(
        default_factory=lambda: float(os.environ.get("CRAWLER_MAX_CRAWL_DELAY", "30"))
    )
    # Airflow's execution_timeout of the crawl and backup tasks: a task that
    # hangs (a site that trickles, a stuck dump) fails instead of holding its slot.
    crawl_task_timeout_minutes: int = field(
        default_factory=lambda: int(os.environ.get("CRAWLER_TASK_TIMEOUT_MINUTES", "120"))
    )
    backup_task_timeout_minutes: int = field(
        default_factory=lambda: int(os.environ.get("BACKUP_TASK_TIMEOUT_MINUTES", "60"))
    )
    health_window_minutes: int = field(
        default_factory=lambda: int(os.environ.get("CRAWLER_HEALTH_WINDOW_MINUTES", "60"))
    )

    def backup_retention(self) -> dict[str, int]:
        """The engine's retention keywords: one place for the API and the DAG."""
        return {
            "keep_last": self.backup_keep_last,
            "max_age_days": self.backup_max_age_days,
            "keep_daily": self.backup_keep_daily,
            "keep_weekly": self.backup_keep_weekly,
            "keep_monthly": self.backup_keep_monthly,
        }
