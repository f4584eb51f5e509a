"""The incident report's one implementation: scrubbing, the automation section,
the Markdown renderer, atomic writes and the remediator's verification update.

Two programs write reports: the ``incident_report`` callback (inside
ansible-playbook) and the remediator (``record_verification``, after it has
checked that the alert cleared). Both use this module so a report looks the
same whoever wrote it last. It imports nothing from Ansible or from ``ops``
because the callback loads it by file path (``callback_plugins/`` cannot count
on the repository root being on ``sys.path``).

An automatic run is one started with ``ACS_REMEDIATION_CONTEXT`` naming a JSON
file (trigger, alert, received_at, decision, action_started_at); its report
gains ``detected_at``, ``alert_received_at``, ``action_started_at``,
``verified_resolved_at``, ``mttd_seconds``, ``mttr_seconds`` and
``automation``. A manual run's report has none of them.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from datetime import datetime
from pathlib import Path

CONTEXT_ENV = "ACS_REMEDIATION_CONTEXT"
# Top-level fields an automatic run adds, in the order they are written.
AUTOMATION_FIELDS = (
    "detected_at",
    "alert_received_at",
    "action_started_at",
    "verified_resolved_at",
    "mttd_seconds",
    "mttr_seconds",
    "automation",
)

_HIDDEN = "***"
_SENSITIVE_NAMES = r"(?:password|passwd|pwd|secret|token|api[_-]?keys?|x-api-key|fernet[_-]?key)"
# key=value, key: value, "key": "value" for secret-looking keys; user:password@ in
# URIs; bearer tokens.
_SECRET_PATTERNS = (
    re.compile(r"(?i)(" + _SENSITIVE_NAMES + r"[\"']?\s*[:=]\s*[\"']?)([^\s\"',;&|]+)"),
    re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)([^@\s/]+)(@)"),
    re.compile(r"(?i)(\bbearer\s+)([a-z0-9._~+/-]+=*)"),
)
# A mapping entry whose key looks secret (an alert label "api_key": "...") is
# hidden whole: the value alone carries no key for the text patterns to match.
_SENSITIVE_KEY = re.compile(r"(?i)" + _SENSITIVE_NAMES)
_CREDENTIALS = Path.home() / ".airflow-crawler-system" / "credentials.yml"


def known_secrets() -> list[str]:
    """Values of the generated credentials file, longest first (exact matches)."""
    try:
        import yaml

        values = yaml.safe_load(_CREDENTIALS.read_text()) or {}
    except (OSError, ValueError, ImportError):
        return []
    found = [str(v) for v in values.values() if isinstance(v, (str, int)) and len(str(v)) >= 8]
    return sorted(found, key=len, reverse=True)


def scrub(text: str, known: list[str] | None = None) -> str:
    """The text with secret values replaced by ***."""
    for value in known if known is not None else known_secrets():
        text = text.replace(value, _HIDDEN)
    text = _SECRET_PATTERNS[0].sub(lambda m: m.group(1) + _HIDDEN, text)
    text = _SECRET_PATTERNS[1].sub(lambda m: m.group(1) + _HIDDEN + m.group(3), text)
    return _SECRET_PATTERNS[2].sub(lambda m: m.group(1) + _HIDDEN, text)


def scrub_tree(value, known: list[str]):
    """A JSON value with every string scrubbed and secret-named entries hidden."""
    if isinstance(value, dict):
        return {
            scrub(str(k), known): _HIDDEN if _SENSITIVE_KEY.search(str(k)) else scrub_tree(v, known)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [scrub_tree(v, known) for v in value]
    return scrub(value, known) if isinstance(value, str) else value


def load_context(path: str | os.PathLike) -> dict:
    """The remediator's context file; an unreadable one still marks the run as
    automatic (with the reason) rather than stopping the report."""
    try:
        context = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return {"error": f"cannot read {CONTEXT_ENV} file {path}: {exc}"}
    return context if isinstance(context, dict) else {"error": f"{path} is not a JSON object"}


def _parse(stamp) -> datetime | None:
    if not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(stamp)
    except ValueError:
        return None


def seconds_between(start, end) -> float | None:
    """end - start in seconds (ISO 8601 texts), None when either is missing."""
    first, last = _parse(start), _parse(end)
    if first is None or last is None or (first.tzinfo is None) != (last.tzinfo is None):
        return None
    return round((last - first).total_seconds(), 1)


def automation_fields(automation: dict) -> dict:
    """The report's top-level automation fields from the context (plus its
    ``verification`` once the remediator has one)."""
    alert = automation.get("alert") if isinstance(automation.get("alert"), dict) else {}
    verification = automation.get("verification") or {}
    detected = alert.get("starts_at")
    received = automation.get("received_at")
    resolved = verification.get("verified_at") if verification.get("verified") else None
    return {
        "detected_at": detected,
        "alert_received_at": received,
        "action_started_at": automation.get("action_started_at"),
        "verified_resolved_at": resolved,
        "mttd_seconds": seconds_between(detected, received),
        "mttr_seconds": seconds_between(detected, resolved),
        "automation": automation,
    }


def with_automation(report: dict, automation: dict) -> dict:
    """The report with the automation fields placed after ``result``, where a
    reader of the JSON looks first."""
    head = {k: v for k, v in report.items() if k not in AUTOMATION_FIELDS}
    fields = automation_fields(automation)
    out: dict = {}
    for key, value in head.items():
        out[key] = value
        if key == "result":
            out.update(fields)
    out.update({k: v for k, v in fields.items() if k not in out})
    return out


def _one_line(value) -> str:
    return " ".join(str(value).split()) if value not in (None, "") else "-"


def _seconds(value) -> str:
    return f"{value:g} s" if isinstance(value, (int, float)) else "-"


def _verification_line(verification: dict | None) -> str:
    if not verification:
        return "확인 대기 (pending)"
    query = f"`{_one_line(verification.get('query'))}`"
    within = _seconds(verification.get("within_seconds"))
    waited = _seconds(verification.get("waited_seconds"))
    if verification.get("verified"):
        outcome = f"**verified** at {_one_line(verification.get('verified_at'))} after {waited}"
    else:
        outcome = f"**not verified** after {waited}"
        if verification.get("error"):
            outcome += f" ({_one_line(verification['error'])})"
    return f"{query} within {within}: {outcome}"


def _automation_lines(report: dict) -> list[str]:
    automation = report["automation"]
    lines = ["## 자동 조치 (Automation)", ""]
    if automation.get("error"):
        lines.append(f"- 문맥 오류 (Context error): {_one_line(automation['error'])}")
    alert = automation.get("alert") if isinstance(automation.get("alert"), dict) else {}
    labels = alert.get("labels") if isinstance(alert.get("labels"), dict) else {}
    notes = alert.get("annotations") if isinstance(alert.get("annotations"), dict) else {}
    decision = automation.get("decision") if isinstance(automation.get("decision"), dict) else {}
    lines += [
        f"- 경보 (Alert): **{_one_line(alert.get('alertname'))}** ({_one_line(alert.get('status'))}),"
        f" trigger {_one_line(automation.get('trigger'))}",
        "- 레이블 (Labels): "
        + (", ".join(f"{k}={_one_line(v)}" for k, v in sorted(labels.items())) or "-"),
        "- 주석 (Annotations): "
        + (", ".join(f"{k}={_one_line(v)}" for k, v in sorted(notes.items())) or "-"),
        f"- 조치 이유 (Why): {_one_line(decision.get('reason'))}",
        f"- 감지 (Detected): {_one_line(report.get('detected_at'))}",
        f"- 수신 (Received): {_one_line(report.get('alert_received_at'))}",
        f"- 조치 시작 (Action started): {_one_line(report.get('action_started_at'))}",
        f"- 복구 확인 (Verified resolved): {_one_line(report.get('verified_resolved_at'))}",
        f"- MTTD: {_seconds(report.get('mttd_seconds'))}, MTTR: {_seconds(report.get('mttr_seconds'))}",
        f"- 확인 (Verification): {_verification_line(automation.get('verification'))}",
        "",
    ]
    return lines


def render_markdown(report: dict) -> str:
    lines = [
        f"# 장애 대응 보고서 (Incident report): {report['playbook']}",
        "",
        f"- 결과 (Result): **{report['result']}**",
        f"- 시작 (Started): {report['started']}",
        f"- 종료 (Ended): {report['ended']}",
        f"- 점검 모드 (Check mode): {'예 (yes)' if report['check_mode'] else '아니오 (no)'}",
        f"- 호스트 (Hosts): {', '.join(sorted(report['hosts'])) or '-'}",
        "",
    ]
    if isinstance(report.get("automation"), dict):
        lines += _automation_lines(report)
    lines += ["## 발견 사항 (Findings)", ""]
    lines += [f"- {item}" for item in report["findings"]] or ["- (none)"]
    lines += ["", "## 조치 (Actions)", ""]
    lines += [f"- {item}" for item in report["actions"]] or ["- (none)"]
    lines += [
        "",
        "## 타임라인 (Timeline)",
        "",
        "| time (UTC) | host | task | status | detail |",
        "|---|---|---|---|---|",
    ]
    for event in report["timeline"]:
        detail = event["detail"].replace("|", "\\|")
        task = event["task"].replace("|", "\\|")
        lines.append(
            f"| {event['time']} | {event['host']} | {task} | {event['status']} | {detail} |"
        )
    return "\n".join(lines) + "\n"


def _write_atomic(path: Path, text: str) -> None:
    """Temp file in the same directory, then rename: a reader sees the old
    report or the new one, never half of one. The temp name does not end in
    .json, so record_verification never picks it up."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o640)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def write_report(json_path: Path, report: dict) -> Path:
    """Writes the report's JSON and its Markdown beside it; the Markdown path."""
    md_path = json_path.with_suffix(".md")
    _write_atomic(json_path, json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    _write_atomic(md_path, render_markdown(report))
    return md_path


def record_verification(reports_dir: Path, verification: dict) -> list[Path]:
    """Adds the remediator's verification to every automatic run's report in
    reports_dir and re-renders its Markdown; the JSON reports updated.

    verification: ``verified`` (bool), ``verified_at`` (ISO 8601 or None),
    ``query`` (PromQL), ``within_seconds``, ``waited_seconds``, optional ``error``.
    A run whose alert did not clear is ``not_recovered`` (``failed`` stays).
    """
    known = known_secrets()
    verification = scrub_tree(dict(verification), known)
    updated: list[Path] = []
    for json_path in sorted(Path(reports_dir).glob("*.json")):
        try:
            report = json.loads(json_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(report, dict) or not isinstance(report.get("automation"), dict):
            continue
        report = with_automation(report, {**report["automation"], "verification": verification})
        if not verification.get("verified") and report.get("result") != "failed":
            report["result"] = "not_recovered"
        write_report(json_path, report)
        updated.append(json_path)
    return updated
