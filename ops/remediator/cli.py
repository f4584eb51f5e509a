"""``python -m ops remediator COMMAND``: the remediator's commands.

- ``serve``: ansible-rulebook with the remediator's rules and source (the
  service roles/remediator starts);
- ``replay DIR [--check]``: recorded Alertmanager requests through the same
  source, rules and ledger, then stop (``--check``: decide, run nothing);
- ``handle ID``: one recorded alert (what the rules run);
- ``status [--json]``: breakers, budgets and the last actions;
- ``reset PROCEDURE``: close a procedure's breaker (a person decides);
- ``summary [--days N] [--json]``: automatic actions per day.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from ops.remediator import CONFIG_ENV, DEFAULT_CONFIG, DRY_RUN_ENV
from ops.remediator.ledger import Ledger, iso

RULEBOOK = Path(__file__).resolve().parents[2] / "extensions/eda/rulebooks/remediator.yml"
SOURCES = RULEBOOK.parents[1] / "plugins/event_source"


def add_parser(sub) -> None:
    parser = sub.add_parser("remediator", help="the self-healing service and its ledger")
    parser.add_argument("--config", help=f"default ${CONFIG_ENV} or {DEFAULT_CONFIG}")
    cmds = parser.add_subparsers(dest="remediator_command", required=True)
    cmds.add_parser("serve", help="listen for Alertmanager and act (ansible-rulebook)")
    replay = cmds.add_parser("replay", help="recorded requests through the rules, then stop")
    replay.add_argument("directory", type=Path)
    replay.add_argument("--check", action="store_true", help="decide and record, run nothing")
    one = cmds.add_parser("handle", help="decide and act on one recorded alert")
    one.add_argument("alert_id", type=int)
    one.add_argument("--record-only", action="store_true")
    status = cmds.add_parser("status", help="breakers, budgets, last actions")
    # For the weekly check and the status playbook, which read it as data.
    status.add_argument("--json", action="store_true")
    reset = cmds.add_parser("reset", help="close a procedure's circuit breaker")
    reset.add_argument("procedure")
    reset.add_argument("--by", default=os.environ.get("SUDO_USER") or os.environ.get("USER", "?"))
    summary = cmds.add_parser("summary", help="automatic actions per day")
    summary.add_argument("--days", type=int, default=7)
    summary.add_argument("--json", action="store_true")


def main(args: argparse.Namespace) -> int:
    if args.config:
        os.environ[CONFIG_ENV] = str(Path(args.config).resolve())
    # The models (pydantic) load when a command needs them, not for `ops run`.
    from ops.remediator import config as config_mod

    try:
        config = config_mod.load()
    except config_mod.ConfigError as exc:
        print(f"remediator: {exc}", file=sys.stderr)
        return 2
    command = args.remediator_command
    if command == "serve":
        return rulebook(config)
    if command == "replay":
        if args.check:
            os.environ[DRY_RUN_ENV] = "1"
        return rulebook(config, replay_dir=args.directory.resolve())
    if command == "handle":
        # Imported here: the status readers (read, `python -m ops run`) do
        # without requests and the incident report.
        from ops.remediator.handler import handle

        handle(args.alert_id, config, record_only=args.record_only)
        return 0
    ledger = Ledger(config.ledger)
    if command == "reset":
        closed = ledger.reset_breaker(args.procedure, args.by)
        print(
            f"remediator: breaker of {args.procedure} " + ("closed" if closed else "was not open")
        )
        return 0
    if command == "summary":
        rows = ledger.daily_summary(args.days)
        print(json.dumps(rows, indent=2) if args.json else _table(rows))
        return 0
    if args.json:
        print(json.dumps(status_data(config, ledger), indent=2))
    else:
        print(status_text(config, ledger))
    return 0


def status_data(config, ledger: Ledger, now: float | None = None) -> dict:
    """The switch, the open breakers and each procedure's budget use."""
    now = time.time() if now is None else now
    return {
        "enabled": config.enabled,
        "dry_run": config.dry_run,
        "breakers": [{**b, "opened_at": iso(b["opened_at"])} for b in ledger.breakers()],
        "procedures": {
            name: {
                "automatic": policy.automatic,
                "actions_in_window": len(
                    ledger.actions(name, since=now - policy.budget.window_seconds)
                ),
                "max_actions": policy.budget.max_actions,
                "window_seconds": policy.budget.window_seconds,
            }
            for name, policy in sorted(config.procedures.items())
        },
    }


def read(config_path: Path | str, days: int = 0) -> dict:
    """The remediator seen from the controller, as the status playbook and the
    weekly check use it (the remediator_state lookup reads it in-process):
    ``deployed`` (the settings file exists), ``config``, ``status`` (what
    ``status --json`` prints), ``summary`` (``summary --days N --json``, when
    ``days`` > 0) and ``error``; ``status`` and ``summary`` are None when
    unreadable and ``error`` says why, as the command would on stderr."""
    out = {
        "deployed": Path(config_path).exists(),
        "config": str(config_path),
        "status": None,
        "summary": None,
        "error": "",
    }
    if not out["deployed"]:
        return out
    from ops.remediator import config as config_mod

    try:
        config = config_mod.load(config_path)
        ledger = Ledger(config.ledger)
        readers = {"status": lambda: status_data(config, ledger)}
        if days > 0:
            readers["summary"] = lambda: ledger.daily_summary(days)
        for key, reader in readers.items():
            # Through JSON, as the commands print it.
            out[key] = json.loads(json.dumps(reader()))
    except config_mod.ConfigError as exc:
        out["error"] = f"remediator: {exc}"
    except Exception as exc:  # an unreadable ledger is a finding, not a crash
        out["error"] = f"{type(exc).__name__}: {exc}"
    return out


def status_text(config, ledger: Ledger, now: float | None = None) -> str:
    now = time.time() if now is None else now
    lines = [
        f"remediator: {'enabled' if config.enabled else 'PAUSED (kill switch)'}"
        + (" (dry run)" if config.dry_run else "")
    ]
    breakers = {b["procedure"]: b for b in ledger.breakers()}
    for name, policy in sorted(config.procedures.items()):
        used = len(ledger.actions(name, since=now - policy.budget.window_seconds))
        state = (
            f"breaker OPEN since {iso(breakers[name]['opened_at'])}: {breakers[name]['reason']}"
            if name in breakers
            else "breaker closed"
        )
        lines.append(
            f"  {name:<24} {'auto' if policy.automatic else 'manual':<6} budget {used}/"
            f"{policy.budget.max_actions} per {policy.budget.window_seconds // 60} min; {state}"
        )
    for action in ledger.actions()[-10:]:
        lines.append(f"  {iso(action['started_at'])} {action['procedure']}: {action['outcome']}")
    return "\n".join(lines)


def _table(rows: list[dict]) -> str:
    if not rows:
        return "no automatic activity"
    out = []
    for row in rows:
        counts = ", ".join(f"{k}={v}" for k, v in row.items() if k not in ("day", "by_procedure"))
        out.append(f"{row['day']}: {counts}; by procedure {row['by_procedure']}")
    return "\n".join(out)


def rulebook(config, replay_dir: Path | None = None) -> int:
    """ansible-rulebook with the remediator's rules; its actions run this
    interpreter's ``python -m ops remediator handle`` on this machine."""
    with tempfile.TemporaryDirectory(prefix="acs-rulebook-") as tmp:
        inventory = Path(tmp) / "inventory.yml"
        inventory.write_text(
            yaml.safe_dump(
                {
                    "all": {
                        "hosts": {
                            "localhost": {
                                "ansible_connection": "local",
                                "ansible_python_interpreter": sys.executable,
                            }
                        }
                    }
                }
            )
        )
        variables = Path(tmp) / "vars.yml"
        variables.write_text(
            yaml.safe_dump(
                {
                    "remediator_config": os.environ.get(CONFIG_ENV, str(DEFAULT_CONFIG)),
                    "remediator_token_file": str(config.token_file),
                    "remediator_listen_address": config.listen_address,
                    "remediator_port": config.port,
                    "remediator_replay_dir": str(replay_dir or ""),
                    "remediator_python": sys.executable,
                    "remediator_repo": str(config.repo),
                }
            )
        )
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(config.repo), os.environ.get("PYTHONPATH", "")) if p
            ),
        }
        from ops.runner import tool_path

        env["PATH"] = tool_path(env.get("PATH"))
        argv = [
            str(Path(sys.executable).parent / "ansible-rulebook"),
            "--rulebook",
            str(RULEBOOK),
            "-S",
            str(SOURCES),
            "-i",
            str(inventory),
            "--vars",
            str(variables),
        ]
        return subprocess.call(argv, cwd=config.repo, env=env)
