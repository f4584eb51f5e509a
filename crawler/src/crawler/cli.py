"""Operator CLI: `python -m crawler <command>` (also `acs-crawler`).

Exit status: 0 done, 1 failed (MongoDB away, crawl failed), 2 bad input."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

from pymongo.errors import PyMongoError

from crawler import repository
from crawler.config import Settings
from crawler.storage import Spool, Storage


def _print(obj) -> None:
    print(json.dumps(obj, indent=2, default=str, ensure_ascii=False))


def _storage(s: Settings) -> Storage:
    return Storage(s.mongo_uri, s.mongo_db, backup_dir=s.backup_dir)


def cmd_crawl(args, s: Settings) -> int:
    from crawler.engine import crawl_source
    from crawler.models import Source

    if args.browser_engine:
        s.browser_engine = args.browser_engine
    st = _storage(s)
    doc = repository.get_source(st, args.source)
    if doc is None:
        print(
            f"error: source {args.source!r} not found; list them with: python -m crawler sources list",
            file=sys.stderr,
        )
        return 2
    result = crawl_source(
        Source.from_doc(doc), st, s, trigger="cli", parse_workers=args.parse_workers
    )
    _print(result)
    return 0 if result["status"] != "failed" else 1


def cmd_errors(args, s: Settings) -> int:
    errors = repository.recent_errors(
        _storage(s), source=args.source, code=args.code, since=args.since, limit=args.limit
    )
    for d in errors:
        print(
            f"{d['ts']:%Y-%m-%dT%H:%M:%SZ} {d['code']} {d.get('source')} {d.get('url') or '-'} {d.get('message')}"
        )
    return 0


def cmd_healing(args, s: Settings) -> int:
    from crawler.monitoring import healing_status

    _print(healing_status(_storage(s), Spool(s.spool_dir), s.selenium_hub_url, args.window))
    return 0


def cmd_replay(args, s: Settings) -> int:
    spool = Spool(s.spool_dir)
    before = spool.size()
    if args.check:
        _print({"spool_dir": str(s.spool_dir), "records": before, "changed": False})
        return 0
    n = spool.replay(_storage(s))
    _print({"spool_dir": str(s.spool_dir), "replayed": n, "left": spool.size(), "changed": n > 0})
    return 0


def cmd_sources(args, s: Settings) -> int:
    from crawler.models import Source, load_sources_yaml
    from crawler.storage import now

    st = _storage(s)
    if args.action == "list":
        for d in repository.all_sources(st):
            print(
                f"{d['_id']}\t{d.get('mode')}\t{d.get('schedule')}\t{'enabled' if d.get('enabled', True) else 'disabled'}"
            )
        return 0
    try:
        wanted = load_sources_yaml(Path(args.file).read_text())
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    existing = repository.sources_by_name(st)
    report = {"created": [], "updated": [], "unchanged": [], "deleted": []}
    for src in wanted:
        doc = Source(**src.model_dump()).to_doc()
        old = existing.get(src.name)
        if old is not None:
            doc["state"] = old.get("state", doc["state"])
            comparable = {k: v for k, v in old.items() if k not in ("created_at", "updated_at")}
            if comparable == doc:
                report["unchanged"].append(src.name)
                continue
        report["updated" if old else "created"].append(src.name)
        if not args.check:
            doc["created_at"] = (old or {}).get("created_at", now())
            doc["updated_at"] = now()
            repository.save_source(st, src.name, doc)
    if args.prune:
        for name in sorted(set(existing) - {w.name for w in wanted}):
            report["deleted"].append(name)
            if not args.check:
                repository.delete_source(st, name)
    report["changed"] = any(report[k] for k in ("created", "updated", "deleted"))
    report["check_mode"] = args.check
    _print(report)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m crawler", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("crawl", help="crawl one source once, now")
    c.add_argument("source")
    c.add_argument("--browser-engine", choices=["selenium", "playwright"])
    c.add_argument(
        "--parse-workers", type=int, default=0, help="processes for parsing (0 = in the event loop)"
    )
    e = sub.add_parser("errors", help="recent errors, newest first")
    e.add_argument("--limit", type=int, default=20)
    e.add_argument("--source")
    e.add_argument("--code", help="E001..E014")
    e.add_argument(
        "--since", type=datetime.fromisoformat, help="ISO time, e.g. 2026-01-31T00:00:00+00:00"
    )
    h = sub.add_parser("healing", help="self-healing status (as GET /api/monitoring/health)")
    h.add_argument("--window", type=int, default=60, help="minutes")
    r = sub.add_parser("replay-spool", help="write spooled results to MongoDB")
    r.add_argument("--check", action="store_true", help="only count what is waiting")
    so = sub.add_parser("sources", help="list sources, or load them from a YAML file")
    so.add_argument("action", choices=["list", "load"])
    so.add_argument("file", nargs="?")
    so.add_argument("--check", action="store_true", help="report what would change, write nothing")
    so.add_argument(
        "--prune", action="store_true", help="delete sources that the file does not name"
    )
    sub.add_parser("init-db", help="create the MongoDB indexes (idempotent)")
    args = p.parse_args(argv)
    if args.command == "sources" and args.action == "load" and not args.file:
        p.error("sources load needs a FILE")
    s = Settings()
    try:
        if args.command == "init-db":
            _storage(s).ensure_indexes()
            _print({"indexes": "ok"})
            return 0
        return {
            "crawl": cmd_crawl,
            "errors": cmd_errors,
            "healing": cmd_healing,
            "replay-spool": cmd_replay,
            "sources": cmd_sources,
        }[args.command](args, s)
    except PyMongoError as exc:
        print(f"error E009: MongoDB at {s.mongo_uri} not usable: {exc}", file=sys.stderr)
        return 1
