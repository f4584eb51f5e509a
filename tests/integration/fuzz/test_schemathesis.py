"""Fuzzing tier: schemathesis generates requests for every operation of the
OpenAPI document the scratch API (fuzz_support.py) serves, so a new route is
covered without a change here. A case fails on a 5xx, a status code the
operation does not document, a content type it does not declare, or a body
that does not match the documented schema.

schemathesis runs as its CLI (`schemathesis run`): its pytest loader for a
schema known only at run time does not work with this pytest. The seed is
fixed so that a failure reproduces; ACS_FUZZ_MAX_EXAMPLES (default 100)
bounds the cases per operation and phase."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import requests
from fuzz_support import SUMMARY

pytestmark = [pytest.mark.integration, pytest.mark.docker]

MAX_EXAMPLES = int(os.environ.get("ACS_FUZZ_MAX_EXAMPLES", "100"))
MIN_TOTAL = int(os.environ.get("ACS_FUZZ_MIN_TOTAL", "2000"))
SEED = 20261202
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


def test_api_answers_as_documented(scratch_api, tmp_path):
    t0 = time.monotonic()
    proc = subprocess.run(
        [
            str(SCHEMATHESIS),
            "--config-file",
            str(Path(__file__).with_name("schemathesis.toml")),
            "run",
            f"{scratch_api.base_url}/openapi.json",
            # the key on every request: reads will need one too
            "--header",
            f"X-API-Key: {scratch_api.key}",
            "--checks",
            CHECKS,
            "--phases",
            os.environ.get("ACS_FUZZ_PHASES", "examples,coverage,fuzzing"),
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            str(SEED),
            "--workers",
            "1",
            "--request-timeout",
            "30",
            "--report",
            "ndjson",
            "--report-dir",
            str(tmp_path),
        ],
        cwd=tmp_path,  # nothing written into the checkout
        capture_output=True,
        text=True,
        timeout=1200,
        env={**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": ""},
    )
    seconds = time.monotonic() - t0
    counts, statuses = _requests_per_operation(tmp_path)
    total = sum(counts.values())
    lines = [f"schemathesis counts (seed {SEED}, max {MAX_EXAMPLES} per operation and phase):"]
    width = max((len(op) for op in counts), default=10)
    for op, n in sorted(counts.items()):
        answered = " ".join(f"{k}:{v}" for k, v in sorted(statuses.get(op, {}).items()))
        lines.append(f"  {op:<{width}}  {n:>5}  ({answered})")
    lines.append(f"  {'total':<{width}}  {total:>5}  in {seconds:.0f} s")
    SUMMARY.extend(lines)
    assert proc.returncode == 0, proc.stdout[-20000:] + proc.stderr[-3000:]
    missing = [op for op in _operations(scratch_api.base_url) if not counts[op]]
    assert not missing, f"operations without a single case: {missing}"
    assert total >= MIN_TOTAL, "\n".join(lines)


def _requests_per_operation(report_dir: Path) -> tuple[Counter[str], dict[str, Counter]]:
    """Requests sent and statuses answered per operation, from the run's event
    log (one ScenarioFinished per operation and phase, with its interactions)."""
    counts: Counter[str] = Counter()
    statuses: dict[str, Counter] = {}
    for path in report_dir.glob("ndjson-*.ndjson"):
        for line in path.read_text().splitlines():
            event = json.loads(line).get("ScenarioFinished")
            if event:
                recorder = event["recorder"]
                label = recorder["label"]
                for interaction in recorder.get("interactions", {}).values():
                    counts[label] += 1
                    status = (interaction.get("response") or {}).get("status_code", "none")
                    statuses.setdefault(label, Counter())[status] += 1
    return counts, statuses


def _operations(base_url: str) -> list[str]:
    doc = requests.get(f"{base_url}/openapi.json", timeout=10).json()
    return [f"{m.upper()} {p}" for p, ops in doc["paths"].items() for m in ops]
