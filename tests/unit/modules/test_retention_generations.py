"""Retention by generations, property-tested: the one selection
(retention._select_expired) that the local directory and the bucket share,
against a reference written from restic's documented rule, not from the code:

    --keep-daily n  "for the last n days which have one or more snapshots,
                    keep only the most recent one for each day"
    (and so per ISO week, per month; each rule counts on its own)

plus keep_last, max_age_days and the newest good backup, any of which keeps
a backup. No server, no files."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler import _backup_engine as engine

select = engine.retention._select_expired
BASE = dt.datetime(2024, 11, 1, tzinfo=dt.UTC)  # spans two new years and their ISO weeks
ISO = "%Y-%m-%dT%H:%M:%S.%fZ"

# The calendar buckets, spelled with strftime: independent of generations.py.
BUCKETS = {
    "keep_daily": lambda ts: ts.strftime("%Y-%m-%d"),
    "keep_weekly": lambda ts: ts.strftime("%G-W%V"),
    "keep_monthly": lambda ts: ts.strftime("%Y-%m"),
}


def _items(draw_times, goods, local):
    """Manifests as the listings give them: newest first by (finished_at, name)."""
    items = []
    for i, (ts, good) in enumerate(zip(draw_times, goods, strict=True)):
        item = {"name": f"b{i:04d}", "finished_at": ts.strftime(ISO)}
        if local:
            item["good"] = good  # a bool: first_good needs no archive to hash
        items.append(item)
    return sorted(items, key=lambda m: (m["finished_at"], m["name"]), reverse=True)


def _ts(item):
    return dt.datetime.strptime(item["finished_at"], ISO).replace(tzinfo=dt.UTC)


def reference_generation(items, option, count):
    """Newest of each of the last ``count`` buckets that hold a backup."""
    newest = {}
    for item in items:
        bucket = BUCKETS[option](_ts(item))
        if bucket not in newest or (item["finished_at"], item["name"]) > (
            newest[bucket]["finished_at"],
            newest[bucket]["name"],
        ):
            newest[bucket] = item
    # Bucket labels sort as time does (zero-padded, ISO year with ISO week).
    return {newest[b]["name"] for b in sorted(newest, reverse=True)[:count]}


def reference_kept(items, rules, now):
    names = [m["name"] for m in items]
    if not any(rules.values()):
        return set(names)
    kept = set(names[: rules["keep_last"] or 0])
    if rules["max_age_days"]:
        cutoff = now - dt.timedelta(days=rules["max_age_days"])
        kept |= {m["name"] for m in items if _ts(m) >= cutoff}
    for option in BUCKETS:
        kept |= reference_generation(items, option, rules[option] or 0)
    # Local items say whether their archive verified; remote ones were verified at upload.
    newest_good = next((m["name"] for m in items if m.get("good", True)), None)
    if newest_good:
        kept.add(newest_good)
    return kept


def _expired(items, rules, now):
    return {m["name"] for m in select(items, now=now, **rules)}


times = st.lists(
    st.tuples(
        st.integers(0, 800),  # day
        st.integers(0, 86399),  # second of that day: several backups a day
    ),
    min_size=0,
    max_size=40,
).map(lambda pairs: [BASE + dt.timedelta(days=d, seconds=s) for d, s in pairs])
rules_st = st.fixed_dictionaries(
    {
        "keep_last": st.none() | st.integers(0, 6),
        "max_age_days": st.none() | st.sampled_from([0, 0.5, 1, 7, 30, 90]),
        "keep_daily": st.none() | st.integers(0, 10),
        "keep_weekly": st.none() | st.integers(0, 6),
        "keep_monthly": st.none() | st.integers(0, 14),
    }
)
PROPERTY = settings(
    max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def scenarios(draw):
    stamps = draw(times)
    goods = draw(st.lists(st.booleans(), min_size=len(stamps), max_size=len(stamps)))
    local = draw(st.booleans())
    latest = max(stamps, default=BASE)
    now = latest + dt.timedelta(seconds=draw(st.integers(0, 20 * 86400)))
    return _items(stamps, goods, local), draw(rules_st), now, local


@PROPERTY
@given(scenarios())
def test_the_kept_set_is_exactly_the_rules_union(scenario):
    items, rules, now, _ = scenario
    expired = _expired(items, rules, now)
    assert {m["name"] for m in items} - expired == reference_kept(items, rules, now)


@PROPERTY
@given(scenarios())
def test_the_newest_verified_backup_is_never_deleted(scenario):
    items, rules, now, _ = scenario
    newest_good = next((m for m in items if m.get("good", True)), None)
    if newest_good is not None:
        assert newest_good["name"] not in _expired(items, rules, now)


@PROPERTY
@given(scenarios())
def test_a_backup_kept_by_any_single_rule_is_kept(scenario):
    items, rules, now, _ = scenario
    expired = _expired(items, rules, now)
    for option in BUCKETS:
        assert not reference_generation(items, option, rules[option] or 0) & expired, option
    assert not {m["name"] for m in items[: rules["keep_last"] or 0]} & expired


@PROPERTY
@given(scenarios())
def test_applying_the_rule_twice_deletes_nothing_more(scenario):
    items, rules, now, _ = scenario
    expired = _expired(items, rules, now)
    remaining = [m for m in items if m["name"] not in expired]
    assert _expired(remaining, rules, now) == set()


@PROPERTY
@given(scenarios())
def test_the_order_of_the_listing_does_not_change_the_generations(scenario):
    """Local listing and S3 listing sort alike, but the rule must not depend on it."""
    items, rules, _, _ = scenario
    gens = {k: rules[k] or 0 for k in BUCKETS}
    shuffled = list(reversed(items))
    assert engine.generations.kept_by_generations(
        items, **gens
    ) == engine.generations.kept_by_generations(shuffled, **gens)


def _at(text):
    return {"name": text, "finished_at": text.replace(" ", "T") + ".000000Z"}


def test_days_without_a_backup_do_not_count():
    """restic: the last N days WHICH HAVE backups, not the last N calendar days."""
    items = [_at("2026-03-10 03:00:00"), _at("2026-03-01 03:00:00"), _at("2026-02-01 03:00:00")]
    assert engine.generations.kept_by_generation(items, "keep_daily", 3) == {
        i["name"] for i in items
    }


def test_the_newest_of_a_day_is_the_one_kept():
    items = [_at("2026-03-10 23:00:00"), _at("2026-03-10 03:00:00"), _at("2026-03-09 03:00:00")]
    assert engine.generations.kept_by_generation(items, "keep_daily", 2) == {
        "2026-03-10 23:00:00",
        "2026-03-09 03:00:00",
    }


def test_iso_weeks_cross_the_new_year():
    """2026-01-01 (Thursday) is in ISO week 2026-W01 with 2025-12-29: one week."""
    items = [_at("2026-01-01 03:00:00"), _at("2025-12-29 03:00:00"), _at("2025-12-28 03:00:00")]
    assert engine.generations.kept_by_generation(items, "keep_weekly", 2) == {
        "2026-01-01 03:00:00",
        "2025-12-28 03:00:00",
    }


def test_negative_or_fractional_counts_are_refused():
    for bad in ({"keep_weekly": -1}, {"keep_daily": 1.5}, {"keep_monthly": True}):
        try:
            engine.retention.check_rules(**bad)
        except engine.BackupError as exc:
            assert next(iter(bad)) in str(exc)
        else:
            raise AssertionError(f"{bad} accepted")
