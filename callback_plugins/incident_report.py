"""Writes an incident report (JSON and Markdown) for every playbook run.

Playbooks feed it with ``ansible.builtin.set_stats`` (``aggregate: true``):

- ``incident_findings``: list of strings, what was observed;
- ``incident_actions``: list of strings, what was changed;
- ``incident_result``: ``recovered`` | ``healthy`` | ``not_recovered`` | free text.

The timeline is every task result in order. A run with a failed or
unreachable host is reported as ``failed`` whatever the playbook said.

A run started by the remediator has ``ACS_REMEDIATION_CONTEXT`` naming a JSON
file (the alert, when it was received, why the automation acted, when the
action started), read when the playbook starts. Its report gains
``detected_at``, ``alert_received_at``, ``action_started_at``,
``verified_resolved_at`` and ``mttr_seconds`` (null until the remediator
records its verification with ``ops.incident_report.record_verification``),
``mttd_seconds`` and ``automation`` (the context, plus ``verification``), and
its Markdown an Automation section. A manual run's report has none of them.

Reports copy log lines, error output and alert labels, which may hold secrets
(a URI with a password, an API key in a header): every text is scrubbed before
it is written (``scrub``), by pattern and by the generated credentials' values.

The renderer and the scrubbing live in ``ops/incident_report.py``, shared with
the remediator; this file loads it by path (see ``_shared``).
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
  - When C(ACS_REMEDIATION_CONTEXT) names the remediator's JSON context file, the report also
    holds C(detected_at), C(alert_received_at), C(action_started_at), C(verified_resolved_at),
    C(mttd_seconds), C(mttr_seconds) and C(automation), and the Markdown an Automation section.
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

import importlib.util
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from ansible import context
from ansible.plugins.callback import CallbackBase

_MAX_MSG = 300


def _shared():
    """ops/incident_report.py, loaded by path: Ansible loads this plugin by path
    too, so the repository root is not on sys.path, and putting it there would
    let the repository's directories shadow installed packages for every plugin.
    The module imports nothing from ops, so loading it alone is safe."""
    name = "acs_ops_incident_report"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "ops" / "incident_report.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


_report = _shared()
# What this plugin offered before the move, for code that imports it.
scrub = _report.scrub
render_markdown = _report.render_markdown


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
        self._automation: dict | None = None

    def v2_playbook_on_start(self, playbook) -> None:
        self._playbook = Path(playbook._file_name).stem
        self._started = _now()
        # Read now: the remediator may delete the file once the run is over.
        context_file = os.environ.get(_report.CONTEXT_ENV)
        if context_file:
            self._automation = _report.load_context(context_file)

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
        known = _report.known_secrets()
        report["findings"] = [scrub(str(x), known) for x in report["findings"]]
        report["actions"] = [scrub(str(x), known) for x in report["actions"]]
        for event in report["timeline"]:
            event["detail"] = scrub(event["detail"], known)
            event["task"] = scrub(event["task"], known)
        if self._automation is not None:
            report = _report.with_automation(report, _report.scrub_tree(self._automation, known))
        reports_dir = Path(self.get_option("reports_dir"))
        reports_dir.mkdir(parents=True, exist_ok=True)
        stem = f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{self._playbook}"
        md_path = _report.write_report(reports_dir / f"{stem}.json", report)
        self._display.display(f"incident report: {md_path} ({report['result']})")
