"""One alert from the ledger: lock, decide, run the procedure, verify, escalate.

The procedure runs through ``python -m ops run`` exactly as an operator
would run it, so an automatic run leaves the same artifacts and incident
report; ``ACS_REMEDIATION_CONTEXT`` adds what the automation saw and why
it acted. The fix counts only when Prometheus confirms it.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from ops.remediator import outside
from ops.remediator.config import Config
from ops.remediator.decision import RUN, Decision, State, decide
from ops.remediator.ledger import SUCCEEDED, Ledger, iso

_ARTIFACTS_LINE = re.compile(r"^ops: artifacts in (.+)$", re.M)


@contextmanager
def procedure_lock(ledger: Ledger, procedure: str):
    """Yields True when this process holds the procedure's lock (flock, so a
    crashed holder releases it), False when another remediation runs."""
    locks = ledger.path.parent / "locks"
    locks.mkdir(mode=0o700, exist_ok=True)
    with open(locks / f"{procedure or '_none'}.lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def current_state(
    config: Config, ledger: Ledger, procedure: str, running: bool, now: float
) -> State:
    policy = config.procedures.get(procedure)
    window = policy.budget.window_seconds if policy else 0
    actions = ledger.actions(procedure)
    finished = [a["finished_at"] for a in actions if a["finished_at"]]
    replicas = None
    if policy and policy.scale_service:
        replicas = outside.running_replicas(config.compose_project, policy.scale_service)
    return State(
        breaker=ledger.breaker(procedure),
        running=running,
        actions_in_window=sum(1 for a in actions if a["started_at"] >= now - window),
        last_finished_at=max(finished) if finished else None,
        silence=outside.pause_silence(config) if config.enabled else "",
        replicas=replicas,
    )


def handle(alert_id: int, config: Config, record_only: bool = False) -> Decision:
    ledger = Ledger(config.ledger)
    alert = ledger.alert(alert_id)
    if alert is None:
        raise SystemExit(f"remediator: no alert {alert_id} in {config.ledger}")
    procedure = alert.get("labels", {}).get("procedure", "")
    with procedure_lock(ledger, procedure) as held:
        now = time.time()
        if record_only:
            decision = decide(alert, config, State(), now)
        else:
            decision = decide(
                alert, config, current_state(config, ledger, procedure, not held, now), now
            )
        if record_only and decision.action == RUN:
            # The rules routed it as not for automation; trust the rules.
            decision = Decision("ignore", procedure, "routed by the rules as not for automation")
        ledger.log("decision", procedure, alert_id, decision.reason, detail=decision.as_dict())
        print(
            f"remediator: alert {alert_id} {alert.get('alertname')}: {decision.action}: {decision.reason}"
        )
        if decision.open_breaker:
            if ledger.open_breaker(procedure, decision.reason):
                _escalate(config, ledger, alert, f"breaker opened: {decision.reason}")
        elif decision.escalate:
            _escalate_once(config, ledger, alert, decision.reason)
        if decision.action != RUN:
            return decision
        if config.dry_run:
            ledger.log("would_run", procedure, alert_id, "dry run", detail=decision.extra_vars)
            print(f"remediator: dry run: would run {procedure} {decision.extra_vars}")
            return decision
        _act(config, ledger, alert, decision)
    return decision


def _act(config: Config, ledger: Ledger, alert: dict, decision: Decision) -> None:
    procedure = decision.procedure
    policy = config.procedures[procedure]
    started = time.time()
    action_id = ledger.start_action(procedure, alert["id"], now=started)
    summary = {
        k: alert.get(k)
        for k in ("alertname", "status", "labels", "annotations", "starts_at", "fingerprint")
    }
    # Detection is when Prometheus first saw the condition (activeAt); the
    # notification's startsAt is when the alert began to fire, after `for`.
    summary["fired_at"] = alert.get("starts_at")
    summary["starts_at"] = outside.active_since(
        config.prometheus_url, alert["labels"]
    ) or alert.get("starts_at")
    context = {
        "trigger": "remediator",
        "alert": summary,
        "received_at": iso(alert["received_at"]),
        "decision": {"procedure": procedure, "action": decision.action, "reason": decision.reason},
        "action_started_at": iso(started),
    }
    rc, run_dir = run_procedure(config, procedure, decision.extra_vars, context)
    verification = {
        "verified": False,
        "verified_at": None,
        "query": policy.verify.promql,
        "within_seconds": policy.verify.within_seconds,
        "waited_seconds": 0.0,
    }
    if rc == 0:
        verification.update(outside.verify(config.prometheus_url, policy.verify))
    outcome = ledger.finish_action(action_id, rc, verification["verified"], run_dir)
    ledger.log(
        "verified" if verification["verified"] else "not_verified",
        procedure,
        alert["id"],
        outcome,
        detail=verification,
    )
    if run_dir:
        outside.update_report(Path(run_dir) / "reports", verification)
    print(f"remediator: {procedure} rc={rc} verified={verification['verified']} -> {outcome}")
    if outcome == SUCCEEDED:
        return
    failures = ledger.consecutive_failures(procedure)
    reason = (
        f"{procedure} did not fix {alert.get('alertname')} ({outcome}, rc={rc});"
        f" {failures} failure(s) in a row"
    )
    if failures >= config.breaker.failures and ledger.open_breaker(procedure, reason):
        _escalate(config, ledger, alert, f"breaker opened: {reason}")
    else:
        _escalate(config, ledger, alert, reason)


def run_procedure(
    config: Config, procedure: str, extra_vars: dict[str, str], context: dict
) -> tuple[int | None, str]:
    """``python -m ops run PROCEDURE``; returns (exit status, run directory)."""
    config.artifacts.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tempfile.NamedTemporaryFile(
        "w", suffix=".json", prefix="remediation-", dir=config.artifacts, delete=False
    ) as handle:
        json.dump(context, handle)
    argv = [
        sys.executable,
        "-m",
        "ops",
        "run",
        procedure,
        "-i",
        config.inventory,
        "--artifacts",
        str(config.artifacts),
    ]
    for key, value in sorted(extra_vars.items()):
        argv += ["-e", f"{key}={value}"]
    env = {**clean_environment(os.environ), "ACS_REMEDIATION_CONTEXT": handle.name}
    try:
        proc = subprocess.run(
            argv,
            cwd=config.repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=config.run_timeout_seconds,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        match = _ARTIFACTS_LINE.search(out)
        return None, match.group(1).strip() if match else ""
    finally:
        os.unlink(handle.name)
    sys.stdout.write(proc.stdout[-4000:])
    match = _ARTIFACTS_LINE.search(proc.stdout)
    return proc.returncode, match.group(1).strip() if match else ""


# Set by the ansible-runner of the rule's action for its own wrapper play
# (its stdout callback, its artifacts); inherited, they would break the run
# of the procedure, which ops starts with ansible-runner and ansible.cfg.
_RUNNER_ENV_PREFIXES = ("ANSIBLE_", "AWX_", "RUNNER_", "JOB_ID", "INVENTORY_ID", "PROJECT_REVISION")


def clean_environment(environ) -> dict[str, str]:
    return {
        k: v
        for k, v in environ.items()
        if not k.startswith(_RUNNER_ENV_PREFIXES)
        and not (k == "PYTHONPATH" and "ansible_runner" in v)
    }


def _escalate_once(config: Config, ledger: Ledger, alert: dict, reason: str) -> None:
    """One call per alert instance (fingerprint and start), not per repeat."""
    for entry in ledger.entries(kinds=("escalated",)):
        if entry["detail"].get("fingerprint") == alert.get("fingerprint") and entry["detail"].get(
            "starts_at"
        ) == alert.get("starts_at"):
            return
    _escalate(config, ledger, alert, reason)


def _escalate(config: Config, ledger: Ledger, alert: dict, reason: str) -> None:
    procedure = alert.get("labels", {}).get("procedure", "")
    sent, error = outside.escalate(
        config.escalation_webhook_url,
        {
            "source": "acs-remediator",
            "procedure": procedure,
            "reason": reason,
            "alert": {k: alert.get(k) for k in ("alertname", "labels", "annotations", "starts_at")},
            "at": iso(time.time()),
        },
    )
    ledger.log(
        "escalated",
        procedure,
        alert["id"],
        reason,
        detail={
            "sent": sent,
            "error": error,
            "fingerprint": alert.get("fingerprint"),
            "starts_at": alert.get("starts_at"),
        },
    )
    print(f"remediator: escalated ({'sent' if sent else error}): {reason}")
