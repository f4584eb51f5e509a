#!/usr/bin/env python3
"""Static crawl benchmark: this crawler next to Scrapy on the same locally
served corpus (>= 2,000 documentation-like pages, two index pages with every
link), same concurrency, same extraction, items written to the same MongoDB
(FerretDB), plus the fetch-only rate of the same URLs as the ceiling.
Prints numbers; asserts nothing.

    .venv/bin/python bench/crawl_static_bench.py [--concurrency 16] [--parse-workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from pymongo import MongoClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from crawl_common import REPO, make_corpus, start_ferretdb, start_fileserver, stop

FIELDS = {
    "title": {"selector": "h1.title"},
    "body": {"selector": "div.content", "required": False},
    "updated": {"selector": "span.updated", "required": False},
    "breadcrumb": {"selector": "nav.breadcrumb a", "many": True, "required": False},
}


def cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


async def fetch_all(urls: list[str], concurrency: int) -> int:
    sem = asyncio.Semaphore(concurrency)
    ok = 0
    conn = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    async with aiohttp.ClientSession(connector=conn) as s:

        async def one(u):
            nonlocal ok
            async with sem, s.get(u) as r:
                await r.read()
                ok += r.status == 200

        await asyncio.gather(*(one(u) for u in urls))
    return ok


def bench_ceiling(base: str, root: Path, concurrency: int) -> dict:
    urls = [
        f"{base}/{p.relative_to(root)}"
        for p in sorted(root.rglob("*.html"))
        if not str(p.relative_to(root)).startswith(("js/", "private/"))
    ]
    c0, t0 = cpu(), time.perf_counter()
    ok = asyncio.run(fetch_all(urls, concurrency))
    el = time.perf_counter() - t0
    return {"pages": ok, "seconds": el, "pages_per_s": ok / el, "cpu_cores": (cpu() - c0) / el}


def bench_ours(base: str, mongo: str, db: str, concurrency: int, workers: int, spool: Path) -> dict:
    from prometheus_client import CollectorRegistry

    from crawler.config import Settings
    from crawler.engine import Crawler
    from crawler.metrics import Metrics
    from crawler.models import Source
    from crawler.storage import Storage

    src = Source.model_validate(
        {
            "name": "bench",
            "start_urls": [f"{base}/index.html"],
            "fields": FIELDS,
            "links": {"max_depth": 5, "max_pages": 100000},
            "politeness": {
                "concurrency_per_domain": concurrency,
                "delay_seconds": 0,
                "max_retries": 2,
                "obey_robots": True,
            },
        }
    )
    settings = Settings(
        mongo_uri=mongo,
        mongo_db=db,
        spool_dir=spool,
        batch_size=200,
        api_keys=[],
        allowed_targets="127.0.0.1/32",  # the corpus server is on the loopback
    )
    storage = Storage(mongo, db)
    storage.ensure_indexes()
    crawler = Crawler(
        src, storage, settings, parse_workers=workers, metrics=Metrics(CollectorRegistry())
    )
    c0, t0 = cpu(), time.perf_counter()
    result = asyncio.run(crawler.run())
    el = time.perf_counter() - t0
    stored = storage.db.crawl_results.count_documents({"source": "bench"})
    return {
        "pages": result["pages_ok"],
        "stored": stored,
        "failed": result["pages_failed"],
        "seconds": el,
        "pages_per_s": result["pages_ok"] / el,
        "cpu_cores": (cpu() - c0) / el,
    }


def bench_scrapy(base: str, mongo: str, db: str, concurrency: int) -> dict:
    t0 = time.perf_counter()
    p = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "crawl_scrapy_spider.py"),
            "--url",
            f"{base}/index.html",
            "--mongo",
            mongo,
            "--db",
            db,
            "--concurrency",
            str(concurrency),
            "--depth",
            "5",
        ],
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t0
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("SCRAPY_JSON ")]
    if p.returncode != 0 or not line:
        raise RuntimeError(f"scrapy failed: {p.stderr[-2000:]}")
    el = json.loads(line[0].split(" ", 1)[1])["elapsed"]
    stored = MongoClient(mongo)[db].crawl_results.count_documents({"source": "scrapy"})
    # CPU of the child process (reaped by subprocess.run)
    return {
        "pages": stored,
        "stored": stored,
        "seconds": el,
        "pages_per_s": stored / el,
        "wall_with_startup": wall,
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--parse-workers", type=int, default=2)
    ap.add_argument("--sections", type=int, default=24)
    ap.add_argument("--per-section", type=int, default=100)
    ap.add_argument("--workdir", type=Path)
    a = ap.parse_args()
    work = a.workdir or Path(tempfile.mkdtemp(prefix="acs-crawl-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    corpus = make_corpus(work / "site", a.sections, a.per_section)
    fs, base = start_fileserver(work / "site", work)
    fdb, mongo = start_ferretdb(work)
    try:
        print(
            f"corpus: {corpus['pages']} pages ({corpus['doc_pages']} documentation pages, 2 index pages "
            f"with {corpus['doc_pages']} links each), {corpus['bytes'] / 1e6:.1f} MB; "
            f"concurrency {a.concurrency}; {os.cpu_count()} CPUs"
        )
        ceiling = bench_ceiling(base, work / "site", a.concurrency)
        ours = bench_ours(base, mongo, "bench_ours", a.concurrency, a.parse_workers, work / "spool")
        scrapy_r = bench_scrapy(base, mongo, "bench_scrapy", a.concurrency)
        ours1 = bench_ours(base, mongo, "bench_ours_inline", a.concurrency, 0, work / "spool")
        rows = [
            ("fetch only (aiohttp, ceiling)", ceiling),
            (f"acs crawler, {a.parse_workers} parse workers", ours),
            ("acs crawler, parsing in the event loop", ours1),
            ("Scrapy 2.19", scrapy_r),
        ]
        print(f"{'run':42} {'pages':>6} {'stored':>6} {'seconds':>8} {'pages/s':>8} {'cores':>6}")
        for name, r in rows:
            print(
                f"{name:42} {r['pages']:6d} {r.get('stored', '-')!s:>6} {r['seconds']:8.2f} "
                f"{r['pages_per_s']:8.1f} {r.get('cpu_cores', float('nan')):6.2f}"
            )
        print(
            f"acs crawler / Scrapy: {ours['pages_per_s'] / scrapy_r['pages_per_s']:.2f}x "
            f"(in-loop parsing: {ours1['pages_per_s'] / scrapy_r['pages_per_s']:.2f}x); "
            f"share of the fetch ceiling: {ours['pages_per_s'] / ceiling['pages_per_s']:.0%}"
        )
        print(
            "RESULT_JSON "
            + json.dumps(
                {
                    "corpus": corpus,
                    "ceiling": ceiling,
                    "ours": ours,
                    "ours_inline": ours1,
                    "scrapy": scrapy_r,
                }
            )
        )
    finally:
        stop([fs, fdb])


if __name__ == "__main__":
    main()
