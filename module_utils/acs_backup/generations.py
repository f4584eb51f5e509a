# Copyright: Airflow Crawler System contributors
# Apache License 2.0
"""Retention by generations: the newest backup of each of the last N days,
ISO weeks and months, as restic's ``forget --keep-daily/--keep-weekly/
--keep-monthly`` defines it:

    "for the last n days which have one or more snapshots, keep only the most
    recent one for each day" (and likewise per ISO week, per month)

So a day without a backup does not use up one of the N (a week with no
backups does not shorten the history kept), and each rule counts on its own:
one backup may be the newest of its day, of its week and of its month at once,
and it then counts for each of the three rules (restic's behaviour; borg
instead makes a backup kept by an earlier rule not count for the later ones,
which keeps more backups than configured without the operator asking).

Time stamps are the manifests' ``finished_at`` in UTC, the same field the
listing sorts by and ``max_age_days`` measures: a backup "of Monday" is one
that finished on Monday, UTC, on every host and in the bucket alike.
"""

from __future__ import annotations

from .common import _parse_iso

# (option, the calendar bucket a time stamp falls in). ISO weeks as restic and
# borg count them: a year's week 1 is the week with its first Thursday, so the
# days around new year belong to one week, not two half weeks.
GENERATIONS = (
    ("keep_daily", lambda ts: (ts.year, ts.month, ts.day)),
    ("keep_weekly", lambda ts: tuple(ts.isocalendar())[:2]),
    ("keep_monthly", lambda ts: (ts.year, ts.month)),
)
OPTIONS = tuple(name for name, _ in GENERATIONS)


def newest_first(items):
    """The order every rule counts in: newest finished first, the name breaking ties
    (two backups finished in one microsecond still have one order on every host)."""
    return sorted(items, key=lambda m: (m["finished_at"], m["name"]), reverse=True)


def kept_by_generation(items, option, count):
    """Names of the newest backup of each of the last ``count`` buckets of ``option``
    (one of OPTIONS) that hold a backup."""
    if not count:
        return set()
    bucket_of = dict(GENERATIONS)[option]
    kept, last = set(), None
    for manifest in newest_first(items):
        bucket = bucket_of(_parse_iso(manifest["finished_at"]))
        if bucket == last:
            continue  # an older backup of a bucket already counted
        last = bucket
        kept.add(manifest["name"])
        if len(kept) == count:
            break
    return kept


def kept_by_generations(items, keep_daily=None, keep_weekly=None, keep_monthly=None):
    """Names kept by any of the three rules (their union)."""
    counts = {"keep_daily": keep_daily, "keep_weekly": keep_weekly, "keep_monthly": keep_monthly}
    kept = set()
    for option, count in counts.items():
        kept |= kept_by_generation(items, option, count)
    return kept
