# Copyright: Airflow Crawler System contributors
# Apache License 2.0
"""Retention: which backups expire, deleted locally and remotely."""

from __future__ import annotations

import datetime as _dt
import os

from .common import _parse_iso, utcnow
from .errors import BackupError
from .manifest import list_backups
from .s3 import S3Settings, list_remote_backups

# Applied wherever a backup is made (module, API, DAG) unless told otherwise:
# the runbook's two weeks of dailies, at least a week of everything.
DEFAULT_KEEP_LAST = 14
DEFAULT_MAX_AGE_DAYS = 7


def _select_expired(items, keep_last, max_age_days, now):
    """Names to delete from items (newest first); the newest good one stays."""
    if not keep_last and not max_age_days:
        return []
    cutoff = now - _dt.timedelta(days=max_age_days) if max_age_days else None
    newest_good = next((m["name"] for m in items if m.get("good", True)), None)
    expired = []
    for index, manifest in enumerate(items):
        keep = manifest["name"] == newest_good
        if keep_last and index < keep_last:
            keep = True
        if cutoff is not None and _parse_iso(manifest["finished_at"]) >= cutoff:
            keep = True
        if not keep:
            expired.append(manifest)
    return expired


def apply_retention(
    backup_dir, keep_last=None, max_age_days=None, s3=None, check_mode=False, now=None
):
    """Delete expired backups locally and remotely; returns what was (or would be) deleted."""
    for field, value in (("keep_last", keep_last), ("max_age_days", max_age_days)):
        if value is not None and (not isinstance(value, (int, float)) or value < 0):
            raise BackupError(f"{field}={value!r} must be a number >= 0")
    now = now or utcnow()
    local = _select_expired(list_backups(backup_dir), keep_last, max_age_days, now)
    deleted_local = []
    for manifest in local:
        deleted_local.append(manifest["name"])
        if not check_mode:
            for path in (manifest["path"], manifest["manifest_path"]):
                if os.path.exists(path):
                    os.unlink(path)
    deleted_remote = []
    if s3:
        settings = S3Settings(s3)
        remote = _select_expired(list_remote_backups(s3), keep_last, max_age_days, now)
        client = settings.client() if remote and not check_mode else None
        for manifest in remote:
            deleted_remote.append(manifest["key"])
            if client is not None:
                # Manifest last: a listing never shows an archive-less manifest.
                client.delete_object(Bucket=settings.bucket, Key=manifest["key"])
                client.delete_object(Bucket=settings.bucket, Key=manifest["manifest_key"])
    return {
        "changed": bool(deleted_local or deleted_remote),
        "deleted": deleted_local,
        "deleted_remote": deleted_remote,
        "check_mode": check_mode,
    }
