# Copyright: Airflow Crawler System contributors
# Apache License 2.0
"""Retention: which backups expire, deleted locally and remotely.

One selection, ``_select_expired``, decides for the local directory and for
the bucket alike. A backup stays when ANY rule keeps it: the newest
``keep_last``, those younger than ``max_age_days``, the generations
(``keep_daily``/``keep_weekly``/``keep_monthly``, generations.py) and always
the newest good one. All rules 0 or None keep everything.

Only trusted backups (listing.scan_backups) take part: an untrusted manifest
is neither counted as a backup to keep nor deleted; it is reported, with the
orphans (archives without manifest, stale partial files), which are deleted
only with ``delete_orphans=True``."""

from __future__ import annotations

import datetime as _dt
import os

from .common import _parse_iso, utcnow
from .errors import BackupError
from .generations import OPTIONS as GENERATION_OPTIONS
from .generations import kept_by_generations
from .listing import STALE_PARTIAL_SECONDS, first_good, scan_backups
from .s3 import S3Settings, list_remote_backups

# Applied wherever a backup is made (module, API, DAG) unless told otherwise:
# the runbook's two weeks of dailies, at least a week of everything.
DEFAULT_KEEP_LAST = 14
DEFAULT_MAX_AGE_DAYS = 7
# Generations are off unless asked for: with them at 0 retention is the
# keep_last/max_age_days rule it always was (they only ever keep more).
DEFAULT_KEEP_DAILY = DEFAULT_KEEP_WEEKLY = DEFAULT_KEEP_MONTHLY = 0
RULES = ("keep_last", "max_age_days", *GENERATION_OPTIONS)


def check_rules(**rules):
    """Refuse a negative or non-numeric rule before anything is deleted."""
    for field, value in rules.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise BackupError(f"{field}={value!r} must be a number >= 0")
        if field != "max_age_days" and value != int(value):
            raise BackupError(f"{field}={value!r} must be a whole number")


def any_rule(**rules):
    return any(rules.get(name) for name in RULES)


def _select_expired(
    items, keep_last, max_age_days, now, keep_daily=None, keep_weekly=None, keep_monthly=None
):
    """Backups to delete from items (newest first); the newest good (verified) one stays."""
    generations = dict(keep_daily=keep_daily, keep_weekly=keep_weekly, keep_monthly=keep_monthly)
    if not any_rule(keep_last=keep_last, max_age_days=max_age_days, **generations):
        return []
    kept = kept_by_generations(items, **{k: int(v or 0) for k, v in generations.items()})
    cutoff = now - _dt.timedelta(days=max_age_days) if max_age_days else None
    # Remote items carry no "good": their manifests are trusted, their archives
    # were verified at upload.
    local = bool(items) and "good" in items[0]
    newest = first_good(items) if local else (items[0] if items else None)
    newest_good = newest["name"] if newest else None
    expired = []
    for index, manifest in enumerate(items):
        keep = manifest["name"] == newest_good or manifest["name"] in kept
        if keep_last and index < keep_last:
            keep = True
        if cutoff is not None and _parse_iso(manifest["finished_at"]) >= cutoff:
            keep = True
        if not keep:
            expired.append(manifest)
    return expired


def _delete_orphans(rejected, check_mode):
    """Orphans to delete (all of them: the caller asked), deleted unless check mode."""
    deleted = []
    for item in rejected:
        if not item.get("orphan"):
            continue
        deleted.append(item["name"])
        if not check_mode and os.path.exists(item["path"]):
            os.unlink(item["path"])
    return deleted


def apply_retention(
    backup_dir,
    keep_last=None,
    max_age_days=None,
    s3=None,
    check_mode=False,
    now=None,
    signing_key=None,
    delete_orphans=False,
    stale_after=STALE_PARTIAL_SECONDS,
    keep_daily=None,
    keep_weekly=None,
    keep_monthly=None,
):
    """Delete expired backups locally and remotely; returns what was (or would be)
    deleted, ``rejected`` (local and remote files ignored, with the reason) and
    ``deleted_orphans``."""
    generations = dict(keep_daily=keep_daily, keep_weekly=keep_weekly, keep_monthly=keep_monthly)
    check_rules(keep_last=keep_last, max_age_days=max_age_days, **generations)
    now = now or utcnow()
    scan = scan_backups(backup_dir, signing_key, now, stale_after, verify=False)
    local = _select_expired(scan["backups"], keep_last, max_age_days, now, **generations)
    deleted_local = []
    for manifest in local:
        deleted_local.append(manifest["name"])
        if not check_mode:
            for path in (manifest["path"], manifest["manifest_path"]):
                if os.path.exists(path):
                    os.unlink(path)
    deleted_orphans = _delete_orphans(scan["rejected"], check_mode) if delete_orphans else []
    deleted_remote = []
    rejected_remote = []
    if s3:
        settings = S3Settings(s3)
        listed = list_remote_backups(s3, signing_key, rejected=rejected_remote, now=now)
        # The same selection as for the local directory: one rule, two places.
        remote = _select_expired(listed, keep_last, max_age_days, now, **generations)
        client = settings.client() if remote and not check_mode else None
        for manifest in remote:
            deleted_remote.append(manifest["key"])
            if client is not None:
                # Manifest last: a listing never shows an archive-less manifest.
                client.delete_object(Bucket=settings.bucket, Key=manifest["key"])
                client.delete_object(Bucket=settings.bucket, Key=manifest["manifest_key"])
    return {
        "changed": bool(deleted_local or deleted_remote or deleted_orphans),
        "deleted": deleted_local,
        "deleted_remote": deleted_remote,
        "deleted_orphans": deleted_orphans,
        "rejected": [{k: v for k, v in r.items() if k != "path"} for r in scan["rejected"]],
        "rejected_remote": rejected_remote,
        "check_mode": check_mode,
    }
