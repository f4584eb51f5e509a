"""``python -m ops run PLAYBOOK -i INVENTORY``: run one runbook playbook.

Shows each task as it finishes, keeps ansible-runner's artifacts (events,
stdout) and the incident report in ``artifacts/<UTC time>-<playbook>/``,
and exits with the playbook's status.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

import ansible_runner

ROOT = Path(__file__).resolve().parents[1]
PLAYBOOKS = ROOT / "playbooks" / "runbook"

_STATUS_MARK = {
    "runner_on_ok": "ok",
    "runner_on_failed": "FAILED",
    "runner_on_unreachable": "UNREACHABLE",
    "runner_on_skipped": "skipped",
}


def available_playbooks() -> list[str]:
    return sorted(p.stem for p in PLAYBOOKS.glob("*.yml"))


def _resolve_playbook(name: str) -> Path:
    if name.endswith(".yml") and Path(name).is_file():
        return Path(name).resolve()
    path = PLAYBOOKS / (name if name.endswith(".yml") else f"{name}.yml")
    if not path.is_file():
        known = ", ".join(available_playbooks())
        raise SystemExit(f"ops: no playbook named {name!r}; choose one of: {known}")
    return path


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="run one playbook through ansible-runner")
    run_parser.add_argument("playbook", help="playbook name, e.g. recover_api")
    run_parser.add_argument("-i", "--inventory", default="inventory/local")
    run_parser.add_argument("-e", "--extra-vars", action="append", default=[], metavar="KEY=VALUE")
    run_parser.add_argument("--check", action="store_true", help="check mode: print the plan only")
    run_parser.add_argument("--artifacts", default="artifacts", help="where runs are kept")
    sub.add_parser("list", help="list the playbooks")
    args = parser.parse_args(argv)
    if args.command == "list":
        print("\n".join(available_playbooks()))
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
