"""ops.incident_report: the timings of an automatic run, the manual report's
rendering (unchanged), and record_verification's updates."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from ops.incident_report import (  # noqa: E402
    automation_fields,
    load_context,
    record_verification,
    render_markdown,
    with_automation,
)

MANUAL = {
    "playbook": "recover_api",
    "started": "2026-12-02T20:00:42Z",
    "ended": "2026-12-02T20:01:10Z",
    "check_mode": False,
    "hosts": ["stack-1", "localhost"],
    "result": "recovered",
    "findings": ["api answered 503"],
    "actions": ["restarted api"],
    "timeline": [
        {
            "time": "2026-12-02T20:00:43Z",
            "host": "stack-1",
            "task": "Probe | health",
            "status": "failed",
            "detail": "HTTP 503 | down",
        },
        {
            "time": "2026-12-02T20:00:50Z",
            "host": "stack-1",
            "task": "Restart",
            "status": "changed",
            "detail": "",
        },
    ],
}
# What the callback rendered for MANUAL before automation existed (c519acc).
MANUAL_MARKDOWN = """\
# 장애 대응 보고서 (Incident report): recover_api

- 결과 (Result): **recovered**
- 시작 (Started): 2026-12-02T20:00:42Z
- 종료 (Ended): 2026-12-02T20:01:10Z
- 점검 모드 (Check mode): 아니오 (no)
- 호스트 (Hosts): localhost, stack-1

## 발견 사항 (Findings)

- api answered 503

## 조치 (Actions)

- restarted api

## 타임라인 (Timeline)

| time (UTC) | host | task | status | detail |
|---|---|---|---|---|
| 2026-12-02T20:00:43Z | stack-1 | Probe \\| health | failed | HTTP 503 \\| down |
| 2026-12-02T20:00:50Z | stack-1 | Restart | changed |  |
"""


def _context(starts_at="2026-12-02T20:00:00Z", received_at="2026-12-02T20:00:41Z"):
    return {
        "trigger": "remediator",
        "alert": {"alertname": "ApiDown", "status": "firing", "starts_at": starts_at},
        "received_at": received_at,
        "decision": {"procedure": "recover_api", "action": "run", "reason": "firing ApiDown"},
        "action_started_at": "2026-12-02T20:00:42Z",
    }


def _verification(verified=True, verified_at="2026-12-02T20:01:42Z"):
    return {
        "verified": verified,
        "verified_at": verified_at if verified else None,
        "query": "min(probe_success) == 1",
        "within_seconds": 90,
        "waited_seconds": 12.3,
    }


def test_manual_report_renders_as_before():
    assert render_markdown(MANUAL) == MANUAL_MARKDOWN


def test_mttd_is_received_minus_detected_and_mttr_waits_for_verification():
    fields = automation_fields(_context())
    assert fields["mttd_seconds"] == 41.0
    assert fields["mttr_seconds"] is None and fields["verified_resolved_at"] is None
    fields = automation_fields({**_context(), "verification": _verification()})
    assert fields["mttr_seconds"] == 102.0
    assert fields["verified_resolved_at"] == "2026-12-02T20:01:42Z"
    fields = automation_fields({**_context(), "verification": _verification(verified=False)})
    assert fields["mttr_seconds"] is None


def test_timings_across_zones_fractions_and_missing_times():
    # Alertmanager sends nanoseconds; a zone offset is the same instant.
    fields = automation_fields(
        _context("2026-12-03T05:00:00.250000000+09:00", "2026-12-02T20:00:41.75Z")
    )
    assert fields["mttd_seconds"] == 41.5
    fields = automation_fields({**_context(starts_at=None), "verification": _verification()})
    assert fields["mttd_seconds"] is None and fields["mttr_seconds"] is None
    assert automation_fields(_context(received_at="not a time"))["mttd_seconds"] is None


def _write(reports: Path, name: str, report: dict) -> Path:
    path = reports / f"{name}.json"
    path.write_text(json.dumps(report))
    return path


def test_record_verification_updates_only_automatic_reports(tmp_path):
    automatic = _write(tmp_path, "a-recover_api", with_automation(dict(MANUAL), _context()))
    failed = _write(
        tmp_path, "b-recover_api", with_automation({**MANUAL, "result": "failed"}, _context())
    )
    manual = _write(tmp_path, "c-status", MANUAL)
    (tmp_path / "d-notes.json").write_text("not json")

    assert record_verification(tmp_path, _verification(verified=False)) == [automatic, failed]
    assert json.loads(automatic.read_text())["result"] == "not_recovered"
    assert json.loads(failed.read_text())["result"] == "failed"
    assert json.loads(manual.read_text()) == MANUAL
    assert not manual.with_suffix(".md").exists()
    assert "**failed**" in failed.with_suffix(".md").read_text()


def test_a_reader_of_the_old_report_keeps_a_whole_report(tmp_path):
    """The new report replaces the file (rename), so an open reader is not cut off."""
    path = _write(tmp_path, "a-recover_api", with_automation(dict(MANUAL), _context()))
    with path.open() as reader:
        record_verification(tmp_path, _verification())
        assert "verification" not in json.loads(reader.read())["automation"]
    assert json.loads(path.read_text())["mttr_seconds"] == 102.0
    assert oct(path.stat().st_mode & 0o777) == "0o640"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-recover_api.json", "a-recover_api.md"]


def test_unreadable_context_still_marks_the_run_automatic(tmp_path):
    context = load_context(tmp_path / "gone.json")
    report = with_automation(dict(MANUAL), context)
    assert report["mttd_seconds"] is None
    assert "- 문맥 오류 (Context error): cannot read ACS_REMEDIATION_CONTEXT" in (
        render_markdown(report)
    )
