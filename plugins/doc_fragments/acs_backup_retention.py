# Copyright: Airflow Crawler System contributors
# Apache License 2.0
"""Documentation of module_utils/acs_common.retention_argument_spec(): the
retention options, one definition for every module that applies retention."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  keep_last:
    description:
      - Retention after the backup, keep the newest N backups (0, no count rule).
      - A backup is kept when any rule keeps it (I(keep_last), I(max_age_days),
        I(keep_daily), I(keep_weekly), I(keep_monthly)); the newest good backup is always
        kept. All rules C(0) keep every backup.
      - The same selection runs on I(backup_dir) and on the S3 prefix (I(s3)).
    type: int
    default: 14
  max_age_days:
    description: Retention after the backup, keep backups younger than this many days (0, no age rule).
    type: float
    default: 7
  keep_daily:
    description:
      - Retention by generations, keep the newest backup of each of the last N days that
        have a backup (UTC days of C(finished_at); days without a backup do not count),
        as restic's C(forget --keep-daily) (0, no daily rule).
    type: int
    default: 0
  keep_weekly:
    description:
      - Keep the newest backup of each of the last N ISO weeks (Monday to Sunday, UTC)
        that have a backup, as restic's C(--keep-weekly) (0, no weekly rule).
    type: int
    default: 0
  keep_monthly:
    description:
      - Keep the newest backup of each of the last N calendar months (UTC) that have a
        backup, as restic's C(--keep-monthly) (0, no monthly rule).
    type: int
    default: 0
  delete_orphans:
    description:
      - Let retention delete orphans too, archives without a manifest and stale partial
        files (older than an hour while no backup or restore holds I(backup_dir)).
        Without it they are only reported, in I(retention.rejected).
    type: bool
    default: false
"""
