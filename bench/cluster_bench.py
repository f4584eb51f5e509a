#!/usr/bin/env python3
"""Browser crawl pages/min across the stack of molecule/default (a core host
and two worker hosts), with two worker hosts and with one, in the same run
(issue 14). Also the Grid's slots of each variant.

Several browser sources crawl at once, as a busy site's schedule does: each
crawl task runs on some Celery worker and takes its browser sessions from the
hub, which hands them to any node with a free slot. "one worker host" stops
the second worker host's Celery worker and Chrome node (`docker compose
stop`, as remove_worker's drain leaves it) and starts them again after.

The pages are real documentation HTML (python3.11-doc, as bench/
crawl_static_bench.py), served on every host as `fixture-site`. Prints a
table and a RESULT_JSON line; asserts nothing.

    PATH=.venv/bin:$PATH molecule converge -s default
    export MOLECULE_INVENTORY_FILE=$(ls -d ~/.ansible/tmp/molecule.*.default)/inventory/ansible_inventory.yml
    .venv/bin/python bench/cluster_bench.py --sources 4 --pages 30 --repeat 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "molecule" / "default" / "tests"))
sys.path.insert(0, str(REPO / "bench"))
from crawl_corpora import PYTHON_DOCS, PYTHON_DOCS_PACKAGE  # noqa: E402
from crawl_cpu import machine_cpu  # noqa: E402
from stack_helpers import (  # noqa: E402
    API,
    COMPOSE,
    CORE,
    WORKERS,
    airflow_auth,
    create_source,
    credentials,
    host_named,
    request,
    start_fixture_site,
    task_instances,
    wait_run,
)

GRID = (
    "import json, urllib.request;"
    " s = json.load(urllib.request.urlopen('http://selenium-hub:4444/status'))['value'];"
    " print(json.dumps([n for n in s['nodes'] if n['availability'] == 'UP']))"
)


def doc_pages(count: int) -> dict[str, str]:
    """``count`` pages of the Python library reference and an index linking them."""
    if not (PYTHON_DOCS / "library").is_dir():
        sys.exit(f"{PYTHON_DOCS} is missing: apt-get install {PYTHON_DOCS_PACKAGE}")
    files = sorted((PYTHON_DOCS / "library").glob("*.html"), key=lambda p: p.stat().st_size)
    # the middle of the size range: neither stubs nor the few huge pages
    chosen = files[len(files) // 4 :][:count]
    links = "".join(f'<a href="{p.name}">{p.stem}</a> ' for p in chosen)
    pages = {"index.html": f"<html><body><h1>Library</h1>{links}</body></html>"}
    pages.update({p.name: p.read_text(errors="replace") for p in chosen})
    return pages


def serve(name: str, pages: dict[str, str]) -> None:
    """The fixture site on molecule host ``name``: its server started with
    the index alone (stack_helpers), the real pages copied in after (too big
    for a command line; the molecule hosts are containers)."""
    start_fixture_site(host_named(name), {"index.html": pages["index.html"]})
    with tempfile.TemporaryDirectory() as tmp:
        for page, text in pages.items():
            Path(tmp, page).write_text(text)
        subprocess.run(["docker", "cp", f"{tmp}/.", f"{name}:/tmp/fixture-site"], check=True)


def grid_nodes(core) -> list[dict]:
    return json.loads(core.check_output(f'{COMPOSE} exec -T api python -c "{GRID}"'))


def wait_nodes(core, count: int, timeout: float = 180) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        nodes = grid_nodes(core)
        if len(nodes) == count:
            return nodes
        time.sleep(2)
    sys.exit(f"the Grid did not reach {count} nodes")


def source(name: str, pages: int, concurrency: int) -> dict:
    return {
        "name": name,
        "start_urls": ["http://fixture-site:8000/index.html"],
        "mode": "browser",
        "schedule": None,
        "fields": {
            "title": {"selector": "h1"},
            "body": {"selector": "div.body", "required": False},
        },
        "links": {"max_depth": 1, "max_pages": pages},
        "politeness": {
            "obey_robots": False,
            "delay_seconds": 0,
            "concurrency_per_domain": concurrency,
        },
    }


def stamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def crawl_round(core, key, auth, names: list[str]) -> dict:
    """Trigger every source at once; pages stored and the span from the first
    run's start to the last one's end (Airflow's own timestamps)."""
    cpu0, runs = machine_cpu(), {}
    wall0 = time.monotonic()
    for name in names:
        status, run = request(core, "POST", f"{API}/api/sources/{name}/crawl", key)
        assert status == 202, run
        runs[name] = run["run_id"]
    finished = {
        name: wait_run(core, auth, f"crawl_{name}", run_id, timeout=1800)
        for name, run_id in runs.items()
    }
    wall, cpu = time.monotonic() - wall0, machine_cpu() - cpu0
    if any(r.get("state") != "success" for r in finished.values()):
        sys.exit(f"a crawl failed: {finished}")
    pages, hosts = 0, {}
    for name, run_id in runs.items():
        _, body = request(core, "GET", f"{API}/api/results?source={name}&page_size=500", key)
        pages += len(body["items"])  # each source is crawled once
        for t in task_instances(core, auth, f"crawl_{name}", run_id):
            if t["task_id"] == "crawl":
                hosts[t["hostname"]] = hosts.get(t["hostname"], 0) + 1
    span = max(stamp(r["end_date"]) for r in finished.values()) - min(
        stamp(r["start_date"]) for r in finished.values()
    )
    return {
        "pages": pages,
        "span_s": span,
        "pages_per_min": 60 * pages / span,
        "busy_cores": cpu / wall,
        "crawl_tasks_on": hosts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sources", type=int, default=4, help="browser sources crawled at once")
    parser.add_argument("--pages", type=int, default=30, help="pages a source")
    parser.add_argument("--concurrency", type=int, default=3, help="browser sessions a source")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    core, spare = host_named(CORE[0]), host_named(WORKERS[-1])
    creds = credentials(core)
    key, auth = {"X-API-Key": creds["api_key"]}, airflow_auth(core, creds)
    pages = doc_pages(args.pages)
    for name in [*CORE, *WORKERS]:
        serve(name, pages)
    stamp_ = int(time.time())
    variants = ["two worker hosts", "one worker host"]
    names = {
        (r, v): [
            f"bench{stamp_}r{r}{'two' if v == variants[0] else 'one'}{k}"
            for k in range(args.sources)
        ]
        for r in range(args.repeat)
        for v in variants
    }
    # Every source first: the DAG processor's parse is not the crawl's time.
    for group in names.values():
        for name in group:
            create_source(core, key, auth, source(name, args.pages, args.concurrency))

    results: dict[str, list[dict]] = {v: [] for v in variants}
    full = len(grid_nodes(core))
    for r in range(args.repeat):
        # alternate the order: neither variant always runs on a warmer stack
        for v in variants if r % 2 == 0 else variants[::-1]:
            if v == variants[1]:
                spare.check_output(f"{COMPOSE} stop airflow-worker chrome")
                nodes = wait_nodes(core, full - 1)
            else:
                spare.check_output(f"{COMPOSE} start airflow-worker chrome")
                nodes = wait_nodes(core, full)
            outcome = crawl_round(core, key, auth, names[(r, v)])
            outcome["grid_slots"] = sum(len(n["slots"]) for n in nodes)
            results[v].append(outcome)
            print(f"round {r} {v}: {json.dumps(outcome)}", flush=True)
    spare.check_output(f"{COMPOSE} start airflow-worker chrome")
    wait_nodes(core, full)

    rows = []
    for v in variants:
        runs = results[v]
        rows.append(
            {
                "variant": v,
                "grid_slots": runs[0]["grid_slots"],
                "pages_per_min": statistics.median(x["pages_per_min"] for x in runs),
                "runs": [round(x["pages_per_min"], 1) for x in runs],
                "busy_cores": statistics.median(x["busy_cores"] for x in runs),
                "pages": runs[0]["pages"],
            }
        )
    print(
        f"\n{args.sources} browser sources at once, {args.pages} pages each (python3.11-doc), "
        f"{args.concurrency} sessions a source; median of {args.repeat}"
    )
    print(f"{'variant':20} {'Grid slots':>10} {'pages/min':>10} {'busy cores':>11}  runs")
    for row in rows:
        print(
            f"{row['variant']:20} {row['grid_slots']:>10} {row['pages_per_min']:10.1f} "
            f"{row['busy_cores']:11.2f}  {row['runs']}"
        )
    print(f"ratio two/one: {rows[0]['pages_per_min'] / rows[1]['pages_per_min']:.2f}")
    print("RESULT_JSON " + json.dumps(rows))


if __name__ == "__main__":
    main()
