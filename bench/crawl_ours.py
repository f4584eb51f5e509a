"""One run of this project's crawler for crawl_static_bench.py, in a process
of its own as the Scrapy baseline is (no caches warmed by an earlier run, CPU
counted for this run alone). Prints OURS_JSON with the elapsed time and the
CPU seconds of this process and its parse workers during the crawl.

    crawl_ours.py --base URL --mongo URI --db NAME --spec JSON [--profile DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from crawl_cpu import split_cpu
from crawl_profile import ThreadCpu, profiling_pool


def build(a, spec: dict):
    from prometheus_client import CollectorRegistry

    from crawler.config import Settings
    from crawler.engine import Crawler
    from crawler.metrics import Metrics
    from crawler.models import Source
    from crawler.storage import Storage

    src = Source.model_validate(
        {
            "name": "bench",
            "start_urls": [f"{a.base}/{spec['start_path']}"],
            "fields": spec["fields"],
            "links": {"deny": spec["deny"], "max_depth": spec["max_depth"], "max_pages": 100000},
            "politeness": {
                "concurrency_per_domain": a.concurrency,
                "delay_seconds": 0,
                "max_retries": 2,
                "obey_robots": True,
            },
        }
    )
    settings = Settings(
        mongo_uri=a.mongo,
        mongo_db=a.db,
        spool_dir=a.spool,
        batch_size=a.batch,
        api_keys=[],
        allowed_targets="127.0.0.1/32",  # the corpus server is on the loopback
    )
    storage = Storage(a.mongo, a.db)
    storage.ensure_indexes()
    crawler = Crawler(
        src,
        storage,
        settings,
        parse_workers=a.workers,
        metrics=Metrics(CollectorRegistry()),
    )
    return crawler, storage


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--mongo", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--spec", required=True, help="JSON: start_path, fields, deny, max_depth")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--spool", type=Path, required=True)
    ap.add_argument("--profile", type=Path, help="write cProfile stats into this directory")
    a = ap.parse_args()
    # what was stored is counted by the bench, after the run: a count here
    # would be FerretDB work (a scan of every stored page) charged to the run
    crawler, _storage = build(a, json.loads(a.spec))
    prof = None
    if a.profile:
        import crawler.engine as engine

        a.profile.mkdir(parents=True, exist_ok=True)
        engine.ProcessPoolExecutor = profiling_pool(a.profile)
        prof = cProfile.Profile()
        prof.enable()
    (m0, w0), t0 = split_cpu(), time.perf_counter()
    with ThreadCpu() as threads:
        result = asyncio.run(crawler.run())
    elapsed = time.perf_counter() - t0
    m1, w1 = split_cpu()
    if prof is not None:
        prof.disable()
        prof.dump_stats(a.profile / "main.prof")
    out = {
        "elapsed": elapsed,
        "cpu": (m1 - m0) + (w1 - w0),
        "cpu_main": m1 - m0,  # event loop, its threads (storage, pool feeding)
        "cpu_workers": w1 - w0,  # the parse worker processes
        "pages_ok": result["pages_ok"],
        "failed": result["pages_failed"] + result["pages_incomplete"],
        "errors_by_code": result["errors_by_code"],
        "threads": threads.by_name(),  # CPU seconds by thread, since process start
    }
    print("OURS_JSON " + json.dumps(out))


if __name__ == "__main__":
    main()
