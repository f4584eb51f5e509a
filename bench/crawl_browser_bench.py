#!/usr/bin/env python3
"""Browser crawl benchmark: pages/min through a real Selenium Grid (hub + one
node, Debian chromium) with 1 Grid session (the baseline) and with 3, in the
same run, with the crawler's resource blocking off and on, and optionally an
older checkout's crawler (--before-src) next to this one. Prints a table and
where the cores went; asserts nothing.

    .venv/bin/python bench/crawl_browser_bench.py                   # real Sphinx pages
    .venv/bin/python bench/crawl_browser_bench.py --corpus js       # JavaScript-rendered pages
    .venv/bin/python bench/crawl_browser_bench.py --before-src /tmp/old/crawler/src

Each run is a process of its own (so a before and an after crawler can be
imported side by side); the CPU of the Grid and its Chrome processes is the
machine's busy time less the crawler's, the database's, the file server's and
what the machine used before the runs (a deployed stack idles at about a
third of a core), measured for a few seconds first.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from crawl_common import REPO, make_corpus, start_ferretdb, start_fileserver, start_grid, stop
from crawl_corpora import SPHINX_FIELDS, python_docs
from crawl_cpu import CpuMeter, machine_cpu, self_cpu

JS_FIELDS = {"title": {"selector": "h1.title"}, "body": {"selector": "div.content"}}
# Sphinx pages that are not documentation (indexes of every name, search).
SKIP = ("genindex", "search.html", "py-modindex", "_static", "_sources", "_images")


def one_run(spec: dict) -> dict:
    """A crawl of spec["urls"] through the Grid, in this process."""
    from prometheus_client import CollectorRegistry

    from crawler.config import Settings
    from crawler.engine import Crawler
    from crawler.metrics import Metrics
    from crawler.models import Source
    from crawler.storage import Storage

    n = len(spec["urls"])
    src = Source.model_validate(
        {
            "name": f"browser{spec['sessions']}",
            "mode": "browser",
            "start_urls": spec["urls"],
            "fields": spec["fields"],
            "links": {"max_depth": 0, "max_pages": n},
            "politeness": {
                "concurrency_per_domain": spec["sessions"],
                "delay_seconds": 0,
                "timeout_seconds": 30,
            },
        }
    )
    os.environ["CRAWLER_BROWSER_BLOCK_RESOURCES"] = "true" if spec["block"] else "false"
    settings = Settings(
        mongo_uri=spec["mongo"],
        mongo_db=spec["db"],
        selenium_hub_url=spec["hub"],
        spool_dir=Path(spec["work"]) / "spool",
        browser_pages_per_session=50,
        api_keys=[],
        allowed_targets="127.0.0.1/32",  # the corpus server is on the loopback
    )
    storage = Storage(spec["mongo"], spec["db"])
    cpu0, t0 = self_cpu(), time.perf_counter()
    r = asyncio.run(Crawler(src, storage, settings, metrics=Metrics(CollectorRegistry())).run())
    return {
        "pages": r["pages_ok"],
        "failed": r["pages_failed"],
        "seconds": time.perf_counter() - t0,
        "crawler_cpu": self_cpu() - cpu0,
    }


def corpus_urls(kind: str, work: Path, pages: int) -> tuple[Path, list[str], dict, str]:
    """(site root, paths of the pages to crawl, fields, description)."""
    if kind == "js":
        root = work / "site"
        make_corpus(root, sections=1, per_section=5, js_pages=pages)
        paths = [f"js/p{i}.html" for i in range(pages)]
        return root, paths, JS_FIELDS, f"{pages} JavaScript-rendered pages (bench/crawl_common.py)"
    corpus = python_docs(work, copies=1)
    paths = sorted(
        str(p.relative_to(corpus.root))
        for p in (corpus.root / "c0").rglob("*.html")
        if not any(s in str(p) for s in SKIP)
    )[:pages]
    size = sum((corpus.root / p).stat().st_size for p in paths)
    return (
        corpus.root,
        paths,
        SPHINX_FIELDS,
        f"{len(paths)} pages of {corpus.info['description'].split(',')[0]}, "
        f"{size / len(paths) / 1e3:.0f} KB of HTML a page, with their CSS, JavaScript and images",
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--corpus", choices=["python-docs", "js"], default="python-docs")
    ap.add_argument("--pages", type=int, default=60)
    ap.add_argument("--sessions", type=int, nargs="+", default=[1, 3])
    ap.add_argument("--repeat", type=int, default=1, help="rounds; the median run is shown")
    ap.add_argument("--crawler-src", type=Path, default=REPO / "crawler" / "src")
    ap.add_argument("--before-src", type=Path, help="an older checkout's crawler/src")
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: one run's spec (JSON)
    a = ap.parse_args()
    if a.one:
        print("RUN_JSON " + json.dumps(one_run(json.loads(a.one))), flush=True)
        return
    work = a.workdir or Path(tempfile.mkdtemp(prefix="acs-browser-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    root, paths, fields, description = corpus_urls(a.corpus, work, a.pages)
    fs, base = start_fileserver(root, work)
    fdb, mongo = start_ferretdb(work)
    grid, hub = start_grid(work, max_sessions=max(a.sessions))
    crawlers = [("after", a.crawler_src)] + ([("before", a.before_src)] if a.before_src else [])
    variants = [
        (label, src, block)
        for label, src in crawlers
        for block in ((False, True) if label == "after" else (False,))
    ]
    rows = []
    # A first crawl warms the hub, the node and Chrome's caches; without it
    # the first measured run pays for that (it read 20-30 % slower).
    warm = {"urls": [f"{base}/{p}" for p in paths[:10]], "fields": fields, "sessions": 1}
    warm |= {"block": False, "mongo": mongo, "db": "browser_bench_warm", "hub": hub}
    subprocess.run(
        [sys.executable, __file__, "--one", json.dumps(warm | {"work": str(work)})],
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(a.crawler_src)},
        check=False,
    )
    before = machine_cpu()
    time.sleep(5)
    others = (machine_cpu() - before) / 5  # busy cores before any run
    try:
        # Rounds of every variant, in the reverse order every other round, so
        # that a machine getting busier or quieter favours none of them.
        runs = []
        for k in range(a.repeat):
            one_round = [(*v, sessions) for sessions in a.sessions for v in variants]
            runs += one_round[::-1] if k % 2 else one_round
        for n, (label, src, block, sessions) in enumerate(runs, start=1):
            spec = {
                "urls": [f"{base}/{p}" for p in paths],
                "fields": fields,
                "sessions": sessions,
                "block": block,
                "mongo": mongo,
                "db": f"browser_bench_{n}",
                "hub": hub,
                "work": str(work),
            }
            meter = CpuMeter({"db": fdb.pid, "files": fs.pid})
            meter.start()
            p = subprocess.run(
                [sys.executable, __file__, "--one", json.dumps(spec)],
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONPATH": str(src)},
            )
            cpu = meter.stop()
            line = next((ln for ln in p.stdout.splitlines() if ln.startswith("RUN_JSON ")), None)
            if line is None:
                sys.exit(f"run {label} x{sessions} failed:\n{p.stdout[-2000:]}\n{p.stderr[-4000:]}")
            r = json.loads(line[9:])
            browser = (
                cpu["machine"] - r["crawler_cpu"] - cpu["db"] - cpu["files"] - others * r["seconds"]
            )
            rows.append(
                {
                    "crawler": label,
                    "blocking": block,
                    "sessions": sessions,
                    **r,
                    "pages_per_min": r["pages"] / r["seconds"] * 60,
                    "busy_cores": cpu["machine"] / r["seconds"] - others,
                    "others_cores": others,
                    "browser_cpu_per_page": browser / max(1, r["pages"]),
                    "crawler_cpu_per_page": r["crawler_cpu"] / max(1, r["pages"]),
                    "db_cpu": cpu["db"],
                }
            )
            print_row(rows[-1], flush=True)
    finally:
        stop([*grid, fs, fdb])
    report(rows, description)


def print_row(r: dict, flush: bool = False) -> None:
    print(
        f"{r['crawler']:<6} blocking {'on ' if r['blocking'] else 'off'} "
        f"{r['sessions']} session(s): {r['pages']} pages ({r['failed']} failed) in "
        f"{r['seconds']:.1f} s = {r['pages_per_min']:.1f} pages/min; cores it kept busy "
        f"{r['busy_cores']:.2f}; CPU a page: browser {r['browser_cpu_per_page']:.2f} s, "
        f"crawler {r['crawler_cpu_per_page']:.3f} s",
        flush=flush,
    )


def report(rows: list[dict], description: str) -> None:
    cores = os.cpu_count() or 1
    print(f"\ncorpus: {description}; {cores} cores")
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["crawler"], r["blocking"], r["sessions"]), []).append(r)
    # the median run of each variant (the slower middle one of an even count)
    by = {
        key: sorted(runs, key=lambda r: r["pages_per_min"])[(len(runs) - 1) // 2]
        for key, runs in groups.items()
    }
    if any(len(runs) > 1 for runs in groups.values()):
        print("median runs:")
        for _, r in sorted(by.items()):
            print_row(r)
    for (crawler, blocking, sessions), r in sorted(by.items()):
        if sessions == 1:
            continue
        one = by.get((crawler, blocking, 1))
        if not one:
            continue
        # What the cores allow: one session keeps `busy` cores busy for its
        # pages/min; n sessions can at best keep every core the machine's
        # other work leaves free busy.
        free = cores - one["others_cores"]
        ceiling = min(sessions, free / one["busy_cores"])
        print(
            f"{crawler} blocking {'on' if blocking else 'off'}: {sessions} sessions / 1 = "
            f"{r['pages_per_min'] / one['pages_per_min']:.2f}x (the cores allow at most "
            f"{ceiling:.2f}x: one session keeps {one['busy_cores']:.2f} of the {free:.2f} "
            f"cores that other work leaves free busy)"
        )
    print("RESULT_JSON " + json.dumps(rows))


if __name__ == "__main__":
    main()
