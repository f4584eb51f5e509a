"""Writes an incident report (JSON and Markdown) for every playbook run.

Playbooks feed it with ``ansible.builtin.set_stats`` (``aggregate: true``):

- ``incident_findings``: list of strings, what was observed;
- ``incident_actions``: list of strings, what was changed;
- ``incident_result``: ``recovered`` | ``healthy`` | ``not_recovered`` | free text.

The timeline is every task result in order. A run with a failed or
unreachable host is reported as ``failed`` whatever the playbook said.

Reports copy log lines and error output, which may hold secrets (a URI
with a password, an API key in a header): every text is scrubbed before it
is written (``scrub``), by pattern and by the generated credentials' values.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: incident_report
type: aggregate
short_description: Writes a JSON and Markdown incident report for each playbook run
description:
  - Records the timeline of task results and the findings, actions and result that the
    playbook publishes with set_stats, then writes C(<reports_dir>/<UTC time>-<playbook>.json)
    and C(.md) when the playbook ends.
requirements:
  - enable in ansible.cfg (callbacks_enabled = incident_report)
options:
  reports_dir:
    description: Directory that receives the reports.
    default: reports
    env:
      - name: ACS_REPORTS_DIR
    ini:
      - section: callback_incident_report
        key: reports_dir
    type: path
"""

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path

from ansible import context
from ansible.plugins.callback import CallbackBase

_MAX_MSG = 300
_HIDDEN = "***"
# key=value, key: value, "key": "value" for secret-looking keys; user:password@ in
# URIs; bearer tokens.
_SECRET_PATTERNS = (
    re.compile(
        r"(?i)((?:password|passwd|pwd|secret|token|api[_-]?keys?|x-api-key|fernet[_-]?key)"
        r"[\"']?\s*[:=]\s*[\"']?)([^\s\"',;&|]+)"
    ),
    re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)([^@\s/]+)(@)"),
    re.compile(r"(?i)(\bbearer\s+)([a-z0-9._~+/-]+=*)"),
)
_CREDENTIALS = Path.home() / ".airflow-crawler-system" / "credentials.yml"


def _known_secrets() -> list[str]:
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
    for value in known if known is not None else _known_secrets():
        text = text.replace(value, _HIDDEN)
    text = _SECRET_PATTERNS[0].sub(lambda m: m.group(1) + _HIDDEN, text)
    text = _SECRET_PATTERNS[1].sub(lambda m: m.group(1) + _HIDDEN + m.group(3), text)
    return _SECRET_PATTERNS[2].sub(lambda m: m.group(1) + _HIDDEN, text)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _short(result: dict) -> str:
    for key in ("msg", "stderr", "stdout"):
        value = result.get(key)
        if value:
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            text = " ".join(text.split())
            return text[:_MAX_MSG]
    return ""


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
        "## 발견 사항 (Findings)",
        "",
    ]
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


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "incident_report"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._playbook = "unknown"
        self._started = _now()
        self._timeline: list[dict] = []
        self._check_mode = False

    def v2_playbook_on_start(self, playbook) -> None:
        self._playbook = Path(playbook._file_name).stem
        self._started = _now()

    def v2_playbook_on_play_start(self, play) -> None:
        self._check_mode = self._check_mode or bool(
            context.CLIARGS.get("check") or getattr(play, "check_mode", False)
        )

    def _record(self, result, status: str) -> None:
        self._timeline.append(
            {
                "time": _now(),
                "host": result._host.get_name(),
                "task": result._task.get_name(),
                "status": status,
                "detail": _short(result._result) if status in ("failed", "unreachable") else "",
            }
        )

    def v2_runner_on_ok(self, result) -> None:
        self._record(result, "changed" if result._result.get("changed") else "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False) -> None:
        self._record(result, "ignored" if ignore_errors else "failed")

    def v2_runner_on_unreachable(self, result) -> None:
        self._record(result, "unreachable")

    def v2_runner_on_skipped(self, result) -> None:
        self._record(result, "skipped")

    def v2_playbook_on_stats(self, stats) -> None:
        custom = dict(stats.custom.get("_run", {}))
        for host_data in stats.custom.values():
            for key, value in host_data.items():
                custom.setdefault(key, value)
        hosts = set(stats.processed.keys())
        broken = any(stats.failures.get(h) or stats.dark.get(h) for h in hosts)
        result = "failed" if broken else custom.get("incident_result", "ok")
        report = {
            "playbook": self._playbook,
            "started": self._started,
            "ended": _now(),
            "check_mode": self._check_mode,
            "hosts": sorted(hosts),
            "result": result,
            "findings": list(custom.get("incident_findings", [])),
            "actions": list(custom.get("incident_actions", [])),
            "timeline": self._timeline,
        }
        known = _known_secrets()
        report["findings"] = [scrub(str(x), known) for x in report["findings"]]
        report["actions"] = [scrub(str(x), known) for x in report["actions"]]
        for event in report["timeline"]:
            event["detail"] = scrub(event["detail"], known)
            event["task"] = scrub(event["task"], known)
        reports_dir = Path(self.get_option("reports_dir"))
        reports_dir.mkdir(parents=True, exist_ok=True)
        stem = f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{self._playbook}"
        json_path = reports_dir / f"{stem}.json"
        md_path = reports_dir / f"{stem}.md"
        json_path.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
        md_path.write_text(render_markdown(report))
        os.chmod(json_path, 0o640)
        os.chmod(md_path, 0o640)
        self._display.display(f"incident report: {md_path} ({report['result']})")
