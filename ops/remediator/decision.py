"""May the automation act on this alert now, and why.

A pure function of the alert, the configuration and the state read from the
ledger (and Alertmanager's silences), so recorded payloads can be replayed
through it without running anything. The order is the order of precedence:
what people said (kill switch, silence) before what the alert asks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ops.remediator.config import Config

RUN, IGNORE, REFUSE, SKIP, PAUSED = "run", "ignore", "refuse", "skip", "paused"


@dataclass(frozen=True)
class State:
    breaker: dict | None = None  # the procedure's open breaker, if any
    running: bool = False  # another remediation of this procedure holds its lock
    actions_in_window: int = 0  # actions started within the budget's window
    last_finished_at: float | None = None  # end of the procedure's last action
    silence: str = ""  # an active pause silence ("id: comment"), if any
    replicas: int | None = None  # running containers of a scale procedure's service


@dataclass(frozen=True)
class Decision:
    action: str
    procedure: str
    reason: str
    escalate: bool = False  # a person must be called for this alert
    open_breaker: bool = False
    extra_vars: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "action": self.action,
            "procedure": self.procedure,
            "reason": self.reason,
            "escalate": self.escalate,
            "open_breaker": self.open_breaker,
            "extra_vars": self.extra_vars,
        }


def decide(alert: dict, config: Config, state: State, now: float) -> Decision:
    labels = alert.get("labels", {})
    name = alert.get("alertname") or labels.get("alertname", "?")
    proc_name = labels.get("procedure", "")
    if alert.get("status") != "firing":
        return Decision(IGNORE, proc_name, f"{name} resolved")
    if not proc_name:
        return Decision(IGNORE, "", f"{name} names no procedure: for people only")
    if labels.get("remediation") != "auto":
        return Decision(
            IGNORE, proc_name, f"{name} is remediation={labels.get('remediation', '')!r}: manual"
        )
    if proc_name in config.destructive:
        return Decision(
            REFUSE, proc_name, f"{proc_name} is destructive: never automatic", escalate=True
        )
    proc = config.procedures.get(proc_name)
    if proc is None:
        return Decision(REFUSE, proc_name, f"no policy for procedure {proc_name!r}", escalate=True)
    if not proc.automatic:
        return Decision(REFUSE, proc_name, f"{proc_name} is not automatic (policy)", escalate=True)
    if not config.enabled:
        return Decision(
            PAUSED, proc_name, "kill switch: remediator_enabled is false", escalate=True
        )
    if state.silence:
        return Decision(PAUSED, proc_name, f"paused by silence {state.silence}", escalate=True)
    if state.breaker:
        return Decision(SKIP, proc_name, f"breaker open: {state.breaker['reason']}")
    if state.running:
        return Decision(SKIP, proc_name, f"a remediation of {proc_name} is already running")
    if state.last_finished_at is not None and now - state.last_finished_at < proc.cooldown_seconds:
        left = proc.cooldown_seconds - (now - state.last_finished_at)
        return Decision(
            SKIP, proc_name, f"cool-down: {left:.0f} s left of {proc.cooldown_seconds} s"
        )
    window_min = proc.budget.window_seconds / 60
    if state.actions_in_window >= proc.budget.max_actions:
        return Decision(
            REFUSE,
            proc_name,
            f"budget exhausted: {state.actions_in_window} of {proc.budget.max_actions}"
            f" actions in {window_min:g} min",
            escalate=True,
            open_breaker=True,
        )
    extra = {key: _fill(value, labels) for key, value in proc.extra_vars.items()}
    budget = (
        f"action {state.actions_in_window + 1} of {proc.budget.max_actions} in {window_min:g} min"
    )
    if proc.scale_service:
        current = state.replicas or 0
        if current >= proc.max_replicas:
            return Decision(
                REFUSE,
                proc_name,
                f"{proc.scale_service} already at its maximum of {proc.max_replicas}",
                escalate=True,
            )
        extra[proc.scale_var or f"scale_{proc.scale_service}_nodes"] = str(current + 1)
        budget += f"; {proc.scale_service} {current} -> {current + 1} (max {proc.max_replicas})"
    return Decision(RUN, proc_name, f"{name} firing; {budget}", extra_vars=extra)


def _fill(template: str, labels: dict[str, str]) -> str:
    """``{labels.service}`` becomes the alert's label value (missing: empty)."""
    out = template
    for key, value in labels.items():
        out = out.replace("{labels." + key + "}", value)
    return out
