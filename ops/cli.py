"""``python -m ops run PLAYBOOK -i INVENTORY``: run one runbook playbook.
``python -m ops list``: the procedures, each with its runbook heading.

A run shows each task as it finishes, keeps ansible-runner's artifacts
(events, stdout) and the incident report in ``artifacts/<UTC time>-<playbook>/``,
and exits with the playbook's status.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ops.remediator import cli as remediator_cli
from ops.runner import PLAYBOOK_DIRS, ROOT, discover_playbooks, run


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def list_playbooks(dirs: tuple[Path, ...] = PLAYBOOK_DIRS) -> str:
    """Runbook procedures first (heading and purpose), then the deploy playbooks."""
    books = discover_playbooks(dirs)
    runbook = [b for b in books.values() if b.is_runbook]
    other = [b for b in books.values() if not b.is_runbook]
    width = max((len(b.name) for b in books.values()), default=0)
    lines = ["Runbook procedures (python -m ops run NAME):"]
    lines += [
        f"  {b.name:<{width}}  " + (f"[{b.heading}] " if b.heading else "") + b.purpose
        for b in runbook
    ]
    lines += ["", "Deploy and other playbooks:"]
    lines += [f"  {b.name:<{width}}  {b.purpose}" for b in other]
    lines += ["", f"(from {', '.join(_shown(d) for d in dirs if d.is_dir())})"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="run one playbook through ansible-runner")
    run_parser.add_argument("playbook", help="playbook name, e.g. recover_api")
    run_parser.add_argument("-i", "--inventory", default="inventory/local")
    run_parser.add_argument("-e", "--extra-vars", action="append", default=[], metavar="KEY=VALUE")
    run_parser.add_argument("--check", action="store_true", help="check mode: print the plan only")
    run_parser.add_argument("--artifacts", default="artifacts", help="where runs are kept")
    sub.add_parser("list", help="list the playbooks with their runbook headings")
    remediator_cli.add_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "remediator":
        return remediator_cli.main(args)
    if args.command == "list":
        print(list_playbooks())
        return 0
    return run(args)
