#!/usr/bin/env python3
"""Where operators wait, next to the baseline of each, in the same run, on
the deployed stack (`make deploy` first):

  deploy       `make deploy` when nothing changed   | `ansible-playbook` of an empty play
  status       `python -m ops run status`           | `docker compose ps`
  recover-api  `python -m ops run recover_api` on a | the runbook by hand: `docker compose
               frozen API process and on a killed   | restart api`, then curl /health until
               and stopped container                | it answers

Prints a table (seconds per run, the median of --repeat runs) and a
RESULT_JSON line; asserts nothing. The remediator is paused with an
Alertmanager silence while faults are injected, so it does not race the
measured procedure.

    .venv/bin/python bench/ops_bench.py all --repeat 3
    .venv/bin/python bench/ops_bench.py status
    # and the code before a change, interleaved in the same loop:
    git worktree add /tmp/before main
    .venv/bin/python bench/ops_bench.py status --before /tmp/before
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "molecule" / "runbooks" / "tests"))
import alertmanager_silence  # noqa: E402
from runbook_support import api_healthy, container  # noqa: E402

PROJECT_DIR = "/opt/airflow-crawler-system"
EMPTY_PLAY = "- hosts: crawler_stack\n  gather_facts: false\n  tasks: []\n"


def env() -> dict:
    return dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", ANSIBLE_NOCOLOR="1")


def timed(argv: list[str], cwd: Path = REPO, **kwargs) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    proc = subprocess.run(
        argv, cwd=cwd, env=env(), capture_output=True, text=True, check=False, **kwargs
    )
    return time.perf_counter() - started, proc


def recap(stdout: str) -> str:
    match = re.search(r"localhost\s+:\s+(.*)", stdout)
    return " ".join(match.group(1).split()) if match else "?"


def bench_deploy(repeat: int) -> list[dict]:
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as play:
        play.write(EMPTY_PLAY)
    # One converge first: the measured runs are the ones with nothing to do.
    first, proc = timed(["make", "deploy"])
    if proc.returncode:
        sys.exit(f"make deploy failed:\n{proc.stdout[-3000:]}")
    ours, base, last = [], [], proc
    for _ in range(repeat):
        seconds, last = timed(["make", "deploy"])
        ours.append(seconds)
        base.append(timed(["ansible-playbook", "-i", "inventory/local", play.name])[0])
    os.unlink(play.name)
    return [
        row("make deploy (nothing changed)", ours, recap(last.stdout), converge_s=first),
        row("ansible-playbook of an empty play", base, ""),
    ]


def bench_status(repeat: int, before: Path | None = None) -> list[dict]:
    """ours, `docker compose ps` and, with ``before`` (another checkout, the
    code before a change), its `python -m ops run status`, one of each a round."""
    ours, base, rc, old, old_rc = [], [], [], [], []
    status = [sys.executable, "-m", "ops", "run", "status"]
    for _ in range(repeat):
        if before:
            seconds, proc = timed(status, cwd=before)
            old.append(seconds)
            old_rc.append(proc.returncode)
        seconds, proc = timed(status)
        ours.append(seconds)
        rc.append(proc.returncode)
        base.append(timed(["docker", "compose", "--project-directory", PROJECT_DIR, "ps"])[0])
    rows = [row("python -m ops run status", ours, f"exit {sorted(set(rc))}")]
    if before:
        rows.append(row(f"  the same from {before}", old, f"exit {sorted(set(old_rc))}"))
    return [*rows, row("docker compose ps", base, "")]


def freeze(api) -> None:
    os.kill(api.attrs["State"]["Pid"], signal.SIGSTOP)


def kill_and_stop(api) -> None:
    os.kill(api.attrs["State"]["Pid"], signal.SIGKILL)
    api.reload()
    api.stop(timeout=5)


def until_healthy(started: float, timeout: float = 180) -> float:
    while time.perf_counter() - started < timeout:
        if api_healthy(timeout=1):
            return time.perf_counter() - started
        time.sleep(0.2)
    sys.exit("the API did not come back")


def recover_once(fault, by_hand: bool, cwd: Path = REPO) -> tuple[float, str]:
    api = container("api")
    fault(api)
    if api_healthy(timeout=2):
        sys.exit("fault not injected: the API still answers")
    started = time.perf_counter()
    if by_hand:
        subprocess.run(
            ["docker", "compose", "--project-directory", PROJECT_DIR, "restart", "api"],
            capture_output=True,
            check=False,
        )
        return until_healthy(started), ""
    seconds, proc = timed([sys.executable, "-m", "ops", "run", "recover_api"], cwd=cwd)
    healthy = api_healthy(timeout=2)
    return seconds, f"exit {proc.returncode}, healthy after: {healthy}"


def bench_recover_api(repeat: int, before: Path | None = None) -> list[dict]:
    """Per fault: ours, by hand and, with ``before``, that checkout's
    `python -m ops run recover_api`, one of each a round (the same load)."""
    rows = []
    for name, fault in (("frozen process", freeze), ("killed container", kill_and_stop)):
        runs = {"ours": ([], ""), "hand": ([], ""), "before": ([], "")}
        for _ in range(repeat):
            for kind in ("before", "ours", "hand") if before else ("ours", "hand"):
                until_healthy(time.perf_counter())  # start from a healthy API
                seconds, detail = recover_once(
                    fault, kind == "hand", before if kind == "before" else REPO
                )
                runs[kind] = (runs[kind][0] + [seconds], detail)
        rows.append(row(f"ops run recover_api: {name}", *runs["ours"]))
        if before:
            rows.append(row(f"  the same from {before}", *runs["before"]))
        rows.append(row(f"docker compose restart api + curl: {name}", *runs["hand"]))
    return rows


def row(name: str, times: list[float], detail: str, **extra) -> dict:
    return {
        "run": name,
        "median_s": statistics.median(times),
        "runs": times,
        "detail": detail,
        **extra,
    }


BENCHES = {"deploy": bench_deploy, "status": bench_status, "recover-api": bench_recover_api}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("bench", choices=[*BENCHES, "all"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--before",
        type=Path,
        help="status, recover-api: also time this checkout's `python -m ops run ...` (the code before a change)",
    )
    args = parser.parse_args()
    names = list(BENCHES) if args.bench == "all" else [args.bench]
    pause = alertmanager_silence.pause("bench/ops_bench.py", hours=1)
    try:
        rows = [
            r
            for name in names
            for r in BENCHES[name](
                args.repeat,
                **({"before": args.before} if name in ("status", "recover-api") else {}),
            )
        ]
    finally:
        url = f"{alertmanager_silence.ALERTMANAGER}/api/v2/silence/{pause}"
        requests.delete(url, timeout=5).raise_for_status()
    print(f"{'run':58} {'median s':>9}  runs")
    for r in rows:
        runs = " ".join(f"{t:.1f}" for t in r["runs"])
        print(f"{r['run']:58} {r['median_s']:9.1f}  {runs}  {r['detail']}")
    print("RESULT_JSON " + json.dumps(rows))


if __name__ == "__main__":
    main()
