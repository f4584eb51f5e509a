#!/usr/bin/env python3
"""Browser crawl benchmark: pages/min through a real Selenium Grid (hub + one
node with max 3 sessions, Debian chromium) with 1 and with 3 sessions, on
JavaScript-rendered pages served locally. Prints numbers; asserts nothing.

    .venv/bin/python bench/crawl_browser_bench.py [--pages 120]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from crawl_common import make_corpus, start_ferretdb, start_fileserver, start_grid, stop


def run(base: str, mongo: str, hub: str, sessions: int, pages: int, work: Path) -> dict:
    from prometheus_client import CollectorRegistry

    from crawler.config import Settings
    from crawler.engine import Crawler
    from crawler.metrics import Metrics
    from crawler.models import Source
    from crawler.storage import Storage

    src = Source.model_validate(
        {
            "name": f"browser{sessions}",
            "mode": "browser",
            "start_urls": [f"{base}/js/p{i}.html" for i in range(pages)],
            "fields": {"title": {"selector": "h1.title"}, "body": {"selector": "div.content"}},
            "links": {"max_depth": 0, "max_pages": pages},
            "politeness": {
                "concurrency_per_domain": sessions,
                "delay_seconds": 0,
                "timeout_seconds": 30,
            },
        }
    )
    settings = Settings(
        mongo_uri=mongo,
        mongo_db="browser_bench",
        selenium_hub_url=hub,
        spool_dir=work / "spool",
        browser_pages_per_session=50,
        api_keys=[],
        allowed_targets="127.0.0.1/32",  # the corpus server is on the loopback
    )
    storage = Storage(mongo, "browser_bench")
    t0 = time.perf_counter()
    r = asyncio.run(Crawler(src, storage, settings, metrics=Metrics(CollectorRegistry())).run())
    el = time.perf_counter() - t0
    return {
        "sessions": sessions,
        "pages": r["pages_ok"],
        "failed": r["pages_failed"],
        "seconds": el,
        "pages_per_min": r["pages_ok"] / el * 60,
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--pages", type=int, default=120)
    ap.add_argument("--workdir", type=Path)
    a = ap.parse_args()
    work = a.workdir or Path(tempfile.mkdtemp(prefix="acs-browser-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    make_corpus(work / "site", sections=1, per_section=5, js_pages=a.pages)
    fs, base = start_fileserver(work / "site", work)
    fdb, mongo = start_ferretdb(work)
    grid, hub = start_grid(work, max_sessions=3)
    try:
        one = run(base, mongo, hub, 1, a.pages, work)
        three = run(base, mongo, hub, 3, a.pages, work)
        for r in (one, three):
            print(
                f"{r['sessions']} Grid session(s): {r['pages']} pages in {r['seconds']:.1f} s = "
                f"{r['pages_per_min']:.1f} pages/min ({r['failed']} failed)"
            )
        print(f"ratio 3 sessions / 1 session: {three['pages_per_min'] / one['pages_per_min']:.2f}x")
        print("RESULT_JSON " + json.dumps({"one": one, "three": three}))
    finally:
        stop([*grid, fs, fdb])


if __name__ == "__main__":
    main()
