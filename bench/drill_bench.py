#!/usr/bin/env python3
"""Restore drill RTO on generated data: seed N documents into a FerretDB of its
own (as bench/backup_bench.py does), take a native backup, drill it into a
throwaway container of the stack's mongodb image, print the times.

    .venv/bin/python bench/drill_bench.py [--docs 100000] [--image acs-local/mongodb:...]

Prints numbers; asserts nothing but that the drill passed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import pymongo

sys.path.insert(0, str(Path(__file__).resolve().parent))
from backup_bench import DB, seed, start_ferretdb

from crawler import _backup_engine as engine

IMAGE = os.environ.get("ACS_MONGODB_TEST_IMAGE", "acs-local/mongodb:7.0-ferretdb1.24.2")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--image", default=IMAGE)
    args = parser.parse_args()
    os.environ.setdefault("ACS_BACKUP_SIGNING_KEY", "drill-bench-key")
    with tempfile.TemporaryDirectory(prefix="acs-drill-bench-") as tmp:
        proc, uri = start_ferretdb(Path(tmp) / "fdb")
        try:
            client = pymongo.MongoClient(uri)
            t0 = time.monotonic()
            seed(client, args.docs)
            print(f"seeded {args.docs} documents into {DB}.pages in {time.monotonic() - t0:.1f} s")
            t0 = time.monotonic()
            made = engine.run_backup(uri, f"{tmp}/backups", label="bench", databases=[DB])
            print(f"backup {made['size'] / 2**20:.1f} MiB in {time.monotonic() - t0:.1f} s")
            result = engine.restore_drill(f"{tmp}/backups", image=args.image)
            for check in result["checks"]:
                print(f"  {check['name']:8} {check['status']:7} {check['detail']}")
            print(
                f"drill {result['result']}: RTO {result['rto_seconds']} s "
                f"(restore {result['restore_seconds']} s), checks {result.get('check_seconds')} s, "
                f"whole drill "
                f"{result['duration_seconds']} s, {args.docs} documents"
            )
            return 0 if result["result"] == "passed" else 1
        finally:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    raise SystemExit(main())
