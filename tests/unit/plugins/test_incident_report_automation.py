"""A run started by the remediator (ACS_REMEDIATION_CONTEXT) leaves the manual
run's report plus what the automation did; the remediator's verification is
added to it afterwards by ops.incident_report.record_verification."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_incident_report import PLAYBOOK, ROOT, _run, _run_playbook

sys.path.insert(0, str(ROOT))

from ops.incident_report import record_verification, render_markdown

# Secrets an alert may carry; none may reach a report.
LABEL_KEY = "k-9d8e7f6a5b4c3d2e"
PROBE_PASSWORD = "S3cr3tProbePw"
ANNOTATION_TOKEN = "tok-77aa88bb99cc"

CONTEXT = {
    "trigger": "remediator",
    "alert": {
        "alertname": "ApiDown",
        "status": "firing",
        "labels": {
            "alertname": "ApiDown",
            "procedure": "recover_api",
            "remediation": "auto",
            "severity": "critical",
            "instance": f"http://probe:{PROBE_PASSWORD}@api:8000/health",
            "api_key": LABEL_KEY,
        },
        "annotations": {
            "summary": "The API does not answer",
            "runbook": "[API 무응답]",
            "description": f"probe sent token={ANNOTATION_TOKEN}",
        },
        "starts_at": "2026-12-02T20:00:00Z",
        "fingerprint": "abc123",
    },
    "received_at": "2026-12-02T20:00:41Z",
    "decision": {
        "procedure": "recover_api",
        "action": "run",
        "reason": "firing ApiDown; budget 1 of 3 in 30 min",
    },
    "action_started_at": "2026-12-02T20:00:42Z",
}
VERIFIED = {
    "verified": True,
    "verified_at": "2026-12-02T20:01:42Z",
    "query": 'min(probe_success{job="api_health"}) == 1',
    "within_seconds": 90,
    "waited_seconds": 12.3,
}
NOT_VERIFIED = {
    "verified": False,
    "verified_at": None,
    "query": 'min(probe_success{job="api_health"}) == 1',
    "within_seconds": 90,
    "waited_seconds": 90.4,
    "error": f"GET http://admin:{PROBE_PASSWORD}@prometheus:9090 timed out",
}
SECRETS = (LABEL_KEY, PROBE_PASSWORD, ANNOTATION_TOKEN)


def _texts(reports):
    (json_file,) = reports.glob("*.json")
    return json.loads(json_file.read_text()), json_file.with_suffix(".md").read_text()


@pytest.fixture(scope="module")
def automatic_reports(tmp_path_factory):
    """The reports directory of one playbook run started with a remediation context."""
    tmp = tmp_path_factory.mktemp("automatic")
    context_file = tmp / "remediation.json"
    context_file.write_text(json.dumps(CONTEXT))
    env = dict(os.environ, ACS_REMEDIATION_CONTEXT=str(context_file))
    proc, reports = _run(tmp, PLAYBOOK.format(outcome="verify", command="true"), env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return reports


@pytest.fixture
def reports(automatic_reports, tmp_path):
    return shutil.copytree(automatic_reports, tmp_path / "reports")


def test_automatic_run_reports_the_alert_why_and_timeline(reports):
    report, markdown = _texts(reports)
    assert report["result"] == "recovered"
    assert report["findings"] == ["api answered 503"]
    assert report["detected_at"] == "2026-12-02T20:00:00Z"
    assert report["alert_received_at"] == "2026-12-02T20:00:41Z"
    assert report["action_started_at"] == "2026-12-02T20:00:42Z"
    assert report["verified_resolved_at"] is None
    assert report["mttd_seconds"] == 41.0
    assert report["mttr_seconds"] is None
    assert report["automation"]["decision"] == CONTEXT["decision"]
    assert report["automation"]["alert"]["fingerprint"] == "abc123"
    assert "verification" not in report["automation"]
    # Near the top: before what the playbook found.
    assert markdown.index("## 자동 조치 (Automation)") < markdown.index("## 발견 사항 (Findings)")
    assert "- 경보 (Alert): **ApiDown** (firing), trigger remediator" in markdown
    assert "severity=critical" in markdown and "runbook=[API 무응답]" in markdown
    assert "- 조치 이유 (Why): firing ApiDown; budget 1 of 3 in 30 min" in markdown
    assert "- 감지 (Detected): 2026-12-02T20:00:00Z" in markdown
    assert "- 복구 확인 (Verified resolved): -" in markdown
    assert "- MTTD: 41 s, MTTR: -" in markdown
    assert "- 확인 (Verification): 확인 대기 (pending)" in markdown


def test_secrets_in_alert_labels_and_annotations_are_hidden(reports):
    report, markdown = _texts(reports)
    for text in (json.dumps(report), markdown):
        for secret in SECRETS:
            assert secret not in text
    assert report["automation"]["alert"]["labels"]["api_key"] == "***"
    assert "http://probe:***@api:8000/health" in markdown


def test_verified_recovery_sets_mttr_and_rerenders_the_markdown(reports):
    (json_file,) = reports.glob("*.json")
    assert record_verification(reports, VERIFIED) == [json_file]
    report, markdown = _texts(reports)
    assert report["result"] == "recovered"
    assert report["verified_resolved_at"] == "2026-12-02T20:01:42Z"
    assert report["mttr_seconds"] == 102.0
    assert report["automation"]["verification"] == VERIFIED
    assert markdown == render_markdown(report)
    assert "- MTTD: 41 s, MTTR: 102 s" in markdown
    assert (
        '- 확인 (Verification): `min(probe_success{job="api_health"}) == 1` within 90 s:'
        " **verified** at 2026-12-02T20:01:42Z after 12.3 s"
    ) in markdown
    assert sorted(p.name for p in reports.iterdir()) == [json_file.name, f"{json_file.stem}.md"]


def test_unverified_recovery_is_not_recovered_and_its_error_scrubbed(reports):
    record_verification(reports, NOT_VERIFIED)
    report, markdown = _texts(reports)
    assert report["result"] == "not_recovered"
    assert report["verified_resolved_at"] is None and report["mttr_seconds"] is None
    assert "**not verified** after 90.4 s (GET http://admin:***@prometheus:9090 timed out)" in (
        markdown
    )
    assert "**not_recovered**" in markdown
    assert PROBE_PASSWORD not in json.dumps(report) + markdown


def test_manual_run_report_has_no_automation(tmp_path, monkeypatch):
    monkeypatch.delenv("ACS_REMEDIATION_CONTEXT", raising=False)
    _, reports = _run_playbook(tmp_path, "verify", "true")
    report, markdown = _texts(reports)
    assert list(report) == [
        *("playbook", "started", "ended", "check_mode", "hosts", "result"),
        *("findings", "actions", "timeline"),
    ]
    assert "Automation" not in markdown
    assert record_verification(reports, VERIFIED) == []


def test_ops_run_passes_the_context_to_the_report(tmp_path):
    """The remediator's path: python -m ops run with the variable set."""
    context_file = tmp_path / "remediation.json"
    context_file.write_text(json.dumps(CONTEXT))
    book = tmp_path / "procedure.yml"
    book.write_text(PLAYBOOK.format(outcome="verify", command="true"))
    env = dict(
        os.environ,
        ACS_REMEDIATION_CONTEXT=str(context_file),
        PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    )
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "ops", "run", str(book), "-i", "localhost,"),
            *("-e", f"ansible_python_interpreter={sys.executable}"),
            *("--artifacts", str(tmp_path / "runs")),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    report, markdown = _texts(run_dir / "reports")
    assert report["mttd_seconds"] == 41.0
    assert "## 자동 조치 (Automation)" in markdown
