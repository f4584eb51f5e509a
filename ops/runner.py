"""Finds the playbooks and runs one through ansible-runner.

Shows each task as it finishes, keeps ansible-runner's artifacts (events,
stdout) and the incident report in ``artifacts/<UTC time>-<playbook>/``,
and exits with the playbook's status.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import ansible_runner
import yaml

ROOT = Path(__file__).resolve().parents[1]
PLAYBOOKS = ROOT / "playbooks"
# Runbook procedures first (playbooks/runbook/ once they move there), then the
# deploy playbooks and anything not yet moved; the first of a name wins.
PLAYBOOK_DIRS = (PLAYBOOKS / "runbook", PLAYBOOKS)
# The venv ops runs from: ansible-playbook, ansible-galaxy, docker-compose...
TOOLS_DIR = Path(sys.executable).parent
_HEADING = re.compile(r"^\s*\[([^\]]+)\]\s*(.*)$")

_STATUS_MARK = {
    "runner_on_ok": "ok",
    "runner_on_failed": "FAILED",
    "runner_on_unreachable": "UNREACHABLE",
    "runner_on_skipped": "skipped",
}


@dataclass(frozen=True)
class Playbook:
    name: str
    path: Path
    heading: str  # the Korean runbook heading, "" for a deploy playbook
    purpose: str

    @property
    def is_runbook(self) -> bool:
        """A runbook procedure: it carries a runbook heading or lives in playbooks/runbook/."""
        return bool(self.heading) or self.path.parent.name == "runbook"


def _describe(path: Path) -> tuple[str, str]:
    """(runbook heading, one-line purpose) from the playbook itself: the first
    play's name is "[heading] purpose"; without a name, the header comment."""
    text = path.read_text(encoding="utf-8")
    try:
        plays = yaml.safe_load(text)
    except yaml.YAMLError:
        plays = None
    name = ""
    # A playbook that only imports others (site.yml) is described by its comment.
    first = plays[0] if isinstance(plays, list) and plays else None
    if (
        isinstance(first, dict)
        and "import_playbook" not in first
        and "ansible.builtin.import_playbook" not in first
    ):
        name = str(first.get("name") or "")
    heading, purpose = "", name.strip()
    match = _HEADING.match(name)
    if match:
        heading, purpose = match.group(1).strip(), match.group(2).strip()
    if not purpose:
        for line in text.splitlines():
            if line.startswith("#"):
                purpose = line.lstrip("#").strip().rstrip(":")
                break
    return heading, purpose


def discover_playbooks(dirs: tuple[Path, ...] = PLAYBOOK_DIRS) -> dict[str, Playbook]:
    found: dict[str, Playbook] = {}
    for directory in dirs:
        for path in sorted(directory.glob("*.yml")):
            if path.stem not in found:
                found[path.stem] = Playbook(path.stem, path, *_describe(path))
    return found


def available_playbooks() -> list[str]:
    return sorted(discover_playbooks())


def _resolve_playbook(name: str) -> Path:
    if name.endswith(".yml") and Path(name).is_file():
        return Path(name).resolve()
    books = discover_playbooks()
    book = books.get(name.removesuffix(".yml"))
    if book is None:
        known = ", ".join(sorted(books))
        raise SystemExit(f"ops: no playbook named {name!r}; choose one of: {known}")
    return book.path


def tool_path(path: str | None = None) -> str:
    """PATH with the directory of this interpreter (the venv's bin) first, so
    ansible-playbook and everything it spawns come from the venv ops runs in,
    whether or not the venv was activated."""
    parts = [
        p for p in (path if path is not None else os.environ.get("PATH", "")).split(os.pathsep) if p
    ]
    tools = str(TOOLS_DIR)
    return os.pathsep.join([tools, *(p for p in parts if p != tools)])


def _parse_extra_vars(pairs: list[str]) -> dict[str, str]:
    extra: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"ops: -e expects KEY=VALUE, got {pair!r}")
        extra[key] = value
    return extra


def _progress(event: dict) -> bool:
    kind = event.get("event", "")
    data = event.get("event_data", {})
    if kind == "playbook_on_task_start":
        print(f"  ... {data.get('task', '')}", flush=True)
    elif kind in _STATUS_MARK:
        changed = data.get("res", {}).get("changed") if kind == "runner_on_ok" else False
        mark = "changed" if changed else _STATUS_MARK[kind]
        print(f"  [{mark}] {data.get('host', '')}: {data.get('task', '')}", flush=True)
        if kind in ("runner_on_failed", "runner_on_unreachable"):
            msg = data.get("res", {}).get("msg")
            if msg:
                print(f"      {msg}", flush=True)
    return True


def run(args: argparse.Namespace) -> int:
    playbook = _resolve_playbook(args.playbook)
    # Whatever ops itself starts finds the venv's tools too.
    os.environ["PATH"] = tool_path()
    # "host," is Ansible's inline inventory; anything else must exist.
    inventory = (
        args.inventory if args.inventory.endswith(",") else (ROOT / args.inventory).resolve()
    )
    if not isinstance(inventory, str) and not inventory.exists():
        raise SystemExit(f"ops: inventory {args.inventory!r} does not exist")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir = (ROOT / args.artifacts / f"{stamp}-{playbook.stem}").resolve()
    reports_dir = run_dir / "reports"
    run_dir.mkdir(parents=True, exist_ok=True)
    cmdline = " ".join(part for part in ("--check --diff" if args.check else "",) if part)
    print(f"ops: running {playbook.name} on {args.inventory} -> {run_dir}")
    result = ansible_runner.run(
        private_data_dir=str(run_dir),
        project_dir=str(ROOT),
        playbook=str(playbook),
        inventory=str(inventory),
        extravars=_parse_extra_vars(args.extra_vars),
        cmdline=cmdline or None,
        envvars={
            "PATH": tool_path(),
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            "ACS_REPORTS_DIR": str(reports_dir),
            # ansible-runner sets this variable for its own callback, which
            # would hide ansible.cfg's callback_plugins (the incident report).
            "ANSIBLE_CALLBACK_PLUGINS": str(ROOT / "callback_plugins"),
        },
        event_handler=_progress,
        quiet=True,
    )
    reports = sorted(reports_dir.glob("*.md"))
    if reports:
        print(f"ops: incident report {reports[-1]}")
    print(f"ops: {playbook.stem} finished: {result.status} (rc={result.rc})")
    print(f"ops: artifacts in {run_dir}")
    return int(result.rc or 0) if result.status != "successful" else 0
