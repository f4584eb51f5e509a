#!/usr/bin/env python3
"""Static crawl benchmark: this crawler next to Scrapy in the same run, on the
same locally served corpus, same concurrency, same fields and link rules,
items written to the same MongoDB (FerretDB on SQLite), plus the fetch-only
rate of the same URLs (aiohttp) as the ceiling. For each run: pages/s, MB/s
of HTML fetched and stored, and where the CPU went (crawler process with its
parse workers, the database server, the file server). Prints numbers;
asserts nothing.

Corpora: python-docs (default; the real Sphinx HTML of Debian's python3.11-doc,
~96 KB a page, several copies under /c0/, /c1/, ...) and synthetic (~7.5 KB
pages from crawl_common.make_corpus).

    .venv/bin/python bench/crawl_static_bench.py [--corpus python-docs|synthetic]
        [--copies 4] [--concurrency 16] [--parse-workers 2] [--repeat 1] [--profile]
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
from crawl_common import REPO, start_ferretdb, start_fileserver, stop
from crawl_corpora import CORPORA, Corpus, MissingPackage, page_bytes
from crawl_cpu import CpuMeter, self_cpu
from crawl_profile import top

BENCH = REPO / "bench"


async def fetch_all(urls: list[str], concurrency: int) -> tuple[int, int]:
    sem = asyncio.Semaphore(concurrency)
    ok = size = 0
    conn = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    async with aiohttp.ClientSession(connector=conn) as s:

        async def one(u):
            nonlocal ok, size
            async with sem, s.get(u) as r:
                size += len(await r.read())
                ok += r.status == 200

        await asyncio.gather(*(one(u) for u in urls))
    return ok, size


class Bench:
    def __init__(self, a, corpus: Corpus, base: str, mongo: str, pids: dict[str, int]):
        self.a = a
        self.corpus = corpus
        self.base = base
        self.mongo = mongo
        self.pids = pids
        self.n = 0

    def _stored_urls(self, db: str, source: str) -> list[str]:
        coll = MongoClient(self.mongo)[db].crawl_results
        return [d["url"] for d in coll.find({"source": source}, {"url": 1})]

    def _row(self, db: str, source: str, elapsed: float, cpu: float, other: dict) -> dict:
        urls = self._stored_urls(db, source)
        size = page_bytes(self.corpus.root, self.base, urls)
        return {
            "stored": len(urls),
            "seconds": elapsed,
            "pages_per_s": len(urls) / elapsed,
            "mb_per_s": size / elapsed / 1e6,
            "bytes": size,
            "crawler_cores": cpu / elapsed,
            **{f"{k}_cores": v / elapsed for k, v in other.items()},
            "urls": urls,
        }

    def _subprocess(self, cmd: list[str], tag: str) -> tuple[dict, dict]:
        meter = CpuMeter(self.pids)
        meter.start()
        env = {**os.environ, "PYTHONPATH": str(self.a.crawler_src)}
        p = subprocess.run(cmd, capture_output=True, text=True, env=env)
        other = meter.stop()
        line = [ln for ln in p.stdout.splitlines() if ln.startswith(tag + " ")]
        if p.returncode != 0 or not line:
            raise RuntimeError(f"{cmd[1]} failed: {p.stderr[-3000:]}")
        return json.loads(line[0].split(" ", 1)[1]), other

    def ours(self, workers: int, profile: Path | None = None) -> dict:
        self.n += 1
        db = f"bench_ours_{self.n}"
        c = self.corpus
        spec = {
            "start_path": c.start_path,
            "fields": c.fields,
            "deny": c.deny,
            "max_depth": c.max_depth,
        }
        cmd = [
            sys.executable,
            str(BENCH / "crawl_ours.py"),
            *("--base", self.base, "--mongo", self.mongo, "--db", db, "--spec", json.dumps(spec)),
            *("--concurrency", str(self.a.concurrency), "--workers", str(workers)),
            *("--spool", str(self.a.workdir / f"spool-{self.n}")),
            *(("--profile", str(profile)) if profile else ()),
        ]
        r, other = self._subprocess(cmd, "OURS_JSON")
        row = self._row(db, "bench", r["elapsed"], r["cpu"], other)
        row.update(pages=r["pages_ok"], failed=r["failed"], errors=r["errors_by_code"])
        el = r["elapsed"]
        row.update(main_cores=r["cpu_main"] / el, workers_cores=r["cpu_workers"] / el)
        row["thread_cores"] = {k: v / el for k, v in r["threads"].items() if v >= 0.01}
        return row

    def scrapy(self) -> dict:
        self.n += 1
        db = f"bench_scrapy_{self.n}"
        c = self.corpus
        cmd = [
            sys.executable,
            str(BENCH / "crawl_scrapy_spider.py"),
            *("--url", f"{self.base}/{c.start_path}", "--mongo", self.mongo, "--db", db),
            *("--concurrency", str(self.a.concurrency), "--depth", str(c.max_depth)),
            *("--fields", json.dumps(c.fields), "--deny", json.dumps(c.deny)),
        ]
        r, other = self._subprocess(cmd, "SCRAPY_JSON")
        row = self._row(db, "scrapy", r["elapsed"], r["cpu"], other)
        row.update(pages=row["stored"], failed=0)
        return row

    def ceiling(self, urls: list[str]) -> dict:
        meter = CpuMeter(self.pids)
        meter.start()
        c0, t0 = self_cpu(), time.perf_counter()
        ok, size = asyncio.run(fetch_all(urls, self.a.concurrency))
        el = time.perf_counter() - t0
        other = meter.stop()
        return {
            "pages": ok,
            "stored": "-",
            "failed": len(urls) - ok,
            "seconds": el,
            "pages_per_s": ok / el,
            "mb_per_s": size / el / 1e6,
            "crawler_cores": (self_cpu() - c0) / el,
            **{f"{k}_cores": v / el for k, v in other.items()},
        }


# cores: CPU seconds / elapsed seconds of the crawler (with its parse workers),
# FerretDB, the file server, their sum, and the whole machine (the others on
# it are machine - sum; the machine's window also holds the crawler's start)
HEAD = (
    f"{'run':34} {'pages':>6} {'stored':>6} {'fail':>4} {'seconds':>8} {'pages/s':>8} "
    f"{'MB/s':>6} | {'cores: crawler':>14} {'db':>5} {'http':>5} {'sum':>5} {'machine':>7}"
)


def fmt(name: str, r: dict) -> str:
    total = r["crawler_cores"] + r["db_cores"] + r["http_cores"]
    return (
        f"{name:34} {r['pages']:6d} {r['stored']!s:>6} {r['failed']:4d} {r['seconds']:8.2f} "
        f"{r['pages_per_s']:8.1f} {r['mb_per_s']:6.1f} | {r['crawler_cores']:14.2f} "
        f"{r['db_cores']:5.2f} {r['http_cores']:5.2f} {total:5.2f} {r['machine_cores']:7.2f}"
    )


def median_row(rows: list[dict]) -> dict:
    """The run of the median rate (of two, the slower: not a best-of)."""
    return sorted(rows, key=lambda r: r["pages_per_s"])[(len(rows) - 1) // 2]


def profile(b: Bench, workers: int, out: Path) -> None:
    r = b.ours(workers, profile=out)
    print(
        f"\n== profiled run (cProfile slows it down): {r['pages_per_s']:.1f} pages/s, "
        f"{r['crawler_cores']:.2f} crawler cores, {r['db_cores']:.2f} db cores"
    )
    print("\n-- event-loop process, by cumulative time --")
    print(top([out / "main.prof"], 35))
    print("-- event-loop process, by own time --")
    print(top([out / "main.prof"], 25, sort="tottime"))
    workers_prof = sorted(out.glob("worker-*.prof"))
    if workers_prof:
        print(f"-- {len(workers_prof)} parse workers merged, by cumulative time --")
        print(top(workers_prof, 30))
        print("-- parse workers merged, by own time --")
        print(top(workers_prof, 20, sort="tottime"))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--corpus", choices=sorted(CORPORA), default="python-docs")
    ap.add_argument("--copies", type=int, default=4, help="python-docs: copies served")
    ap.add_argument("--sections", type=int, default=24, help="synthetic: sections")
    ap.add_argument("--per-section", type=int, default=100, help="synthetic: pages a section")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--parse-workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1, help="runs of each crawler (median shown)")
    ap.add_argument("--skip-inline", action="store_true", help="no run with parse_workers=0")
    ap.add_argument("--profile", action="store_true", help="and one run of ours under cProfile")
    ap.add_argument(
        "--crawler-src",
        type=Path,
        default=REPO / "crawler" / "src",
        help="the crawler package measured (an export of an earlier commit, for before/after)",
    )
    ap.add_argument("--workdir", type=Path)
    a = ap.parse_args()
    a.workdir = a.workdir or Path(tempfile.mkdtemp(prefix="acs-crawl-bench-"))
    a.workdir.mkdir(parents=True, exist_ok=True)
    try:
        if a.corpus == "python-docs":
            corpus = CORPORA[a.corpus](a.workdir, a.copies)
        else:
            corpus = CORPORA[a.corpus](a.workdir, a.sections, a.per_section)
    except MissingPackage as exc:
        sys.exit(f"crawl_static_bench: {exc}")
    fs, base = start_fileserver(corpus.root, a.workdir)
    fdb, mongo = start_ferretdb(a.workdir)
    try:
        print(
            f"corpus {corpus.describe()}; crawler from {a.crawler_src}; concurrency {a.concurrency}; "
            f"{os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}"
        )
        b = Bench(a, corpus, base, mongo, {"db": fdb.pid, "http": fs.pid})
        ours, scrapy_r, inline = [], [], []
        for _ in range(a.repeat):
            ours.append(b.ours(a.parse_workers))
            scrapy_r.append(b.scrapy())
            if not a.skip_inline:
                inline.append(b.ours(0))
        ceiling = b.ceiling(ours[0]["urls"])
        o, s = median_row(ours), median_row(scrapy_r)
        print(HEAD)
        print(fmt("fetch only (aiohttp, ceiling)", ceiling))
        for r in ours:
            print(fmt(f"acs crawler, {a.parse_workers} parse workers", r))
        for r in inline:
            print(fmt("acs crawler, parsing in the loop", r))
        for r in scrapy_r:
            print(fmt("Scrapy 2.19", r))
        if a.repeat > 1:
            pairs = [
                f"{x['pages_per_s'] / y['pages_per_s']:.2f}x"
                for x, y in zip(ours, scrapy_r, strict=True)
            ]
            print(f"ratio of each pair of runs: {', '.join(pairs)}; the medians give:")
        print(
            f"acs crawler / Scrapy: {o['pages_per_s'] / s['pages_per_s']:.2f}x pages/s"
            + (
                f" (parsing in the loop: {median_row(inline)['pages_per_s'] / s['pages_per_s']:.2f}x)"
                if inline
                else ""
            )
            + f"; share of the fetch ceiling: {o['pages_per_s'] / ceiling['pages_per_s']:.0%}"
        )
        for name, r in (("acs crawler", o), ("Scrapy", s)):
            ms = 1000 / r["pages_per_s"]
            print(
                f"{name}: CPU a page {r['crawler_cores'] * ms:.1f} ms crawler, "
                f"{r['db_cores'] * ms:.1f} ms database, {r['http_cores'] * ms:.1f} ms file server"
            )
        threads = ", ".join(f"{k} {v:.2f}" for k, v in o["thread_cores"].items())
        print(
            f"acs crawler cores: {o['main_cores']:.2f} in its own process (threads: {threads}), "
            f"{o['workers_cores']:.2f} in {a.parse_workers} parse workers"
        )
        if sorted(o["urls"]) != sorted(s["urls"]):
            only = set(o["urls"]) ^ set(s["urls"])
            print(f"NOTE: the two crawlers stored different URL sets ({len(only)} differ)")
        strip = {"urls"}
        result = {
            "corpus": {k: v for k, v in corpus.info.items() if k != "description"},
            "ceiling": ceiling,
            "ours": [{k: v for k, v in r.items() if k not in strip} for r in ours],
            "ours_inline": [{k: v for k, v in r.items() if k not in strip} for r in inline],
            "scrapy": [{k: v for k, v in r.items() if k not in strip} for r in scrapy_r],
        }
        print("RESULT_JSON " + json.dumps(result))
        if a.profile:
            profile(b, a.parse_workers, a.workdir / "profile")
    finally:
        stop([fs, fdb])


if __name__ == "__main__":
    main()
