"""The remediator's settings, rendered by roles/remediator into one YAML file.

Each procedure the automation may run declares its budget, its cool-down and
the PromQL condition that means "fixed" with how long the fix may take.
Procedures that destroy or discard data are listed as destructive: the
remediator never runs them, whatever an alert says.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ops.remediator import CONFIG_ENV, DEFAULT_CONFIG, DRY_RUN_ENV


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Budget(_Strict):
    max_actions: int = Field(3, ge=1, description="actions allowed within the window")
    window_seconds: int = Field(1800, ge=1)


class Verify(_Strict):
    # True when the query returns at least one sample (a comparison filters).
    promql: str = Field(min_length=1)
    within_seconds: int = Field(90, ge=1)


class Procedure(_Strict):
    automatic: bool = True
    budget: Budget = Budget()
    cooldown_seconds: int = Field(60, ge=0)
    verify: Verify | None = None
    # -e KEY=VALUE handed to the playbook; values may name alert labels as
    # {labels.NAME}.
    extra_vars: dict[str, str] = {}
    # scale: grow this compose service by one, never past max_replicas, by
    # handing the new count to the playbook as scale_var.
    scale_service: str = ""
    scale_var: str = ""
    max_replicas: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _automatic_needs_verify(self) -> Procedure:
        if self.automatic and self.verify is None:
            raise ValueError("an automatic procedure needs verify.promql (what 'fixed' means)")
        return self


class Breaker(_Strict):
    # Consecutive failed (or unverified) actions of a procedure that open it.
    failures: int = Field(2, ge=1)


class Config(_Strict):
    # Alertmanager's shared secret (a file, never the value itself).
    token_file: Path = Path("/etc/acs-remediator/token")
    listen_address: str = "127.0.0.1"
    port: int = Field(9418, ge=1, le=65535)
    # The kill switch: false records every alert and decision, acts on none.
    enabled: bool = True
    # Check mode: decide and record what would run, run nothing.
    dry_run: bool = False
    ledger: Path = Path("/var/lib/acs-remediator/ledger.sqlite3")
    repo: Path = Path(__file__).resolve().parents[2]
    inventory: str = "inventory/local"
    artifacts: Path = Path("/var/lib/acs-remediator/artifacts")
    prometheus_url: str = "http://127.0.0.1:9090"
    alertmanager_url: str = ""
    # An active Alertmanager silence with this matcher pauses every action.
    silence_matcher: dict[str, str] = {"remediator": "paused"}
    escalation_webhook_url: str = ""
    breaker: Breaker = Breaker()
    # Never automatic, even when an alert names them.
    destructive: list[str] = ["restore", "prune", "scale_down"]
    procedures: dict[str, Procedure] = {}
    compose_project: str = "acs"
    # Seconds a playbook run may take before it is stopped and counted failed.
    run_timeout_seconds: int = Field(900, ge=10)


class ConfigError(Exception):
    """The configuration file is missing or wrong; the message names the field."""


def load(path: Path | str | None = None) -> Config:
    path = Path(path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the remediator configuration ({exc})") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not YAML ({exc})") from exc
    if os.environ.get(DRY_RUN_ENV) == "1":
        # `python -m ops remediator ... --check`: decide and record, run nothing.
        raw = {**raw, "dry_run": True}
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        fields = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{path}: {fields}") from exc
