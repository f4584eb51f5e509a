"""The remediator: Alertmanager alerts in, runbook playbooks out, within budgets.

Alertmanager posts to the ``alertmanager_webhook`` event source
(``extensions/eda/plugins/event_source/``), which checks the shared secret,
records each alert in the ledger and hands it to ansible-rulebook
(``rulebooks/remediator.yml``). A rule that matches runs
``python -m ops remediator handle LEDGER_ID``: that decides (kill switch,
silence, destructive, breaker, lock, cool-down, budget), runs the procedure
through ``python -m ops run`` like a person would, verifies the fix with the
procedure's PromQL condition and escalates when it may not or cannot fix it.

- ``config``: the remediator's settings and each procedure's policy;
- ``alerts``: Alertmanager's webhook payload and the shared secret;
- ``ledger``: the persistent record (SQLite on the host, not MongoDB);
- ``decision``: may the automation act on this alert now, and why;
- ``handler``: lock, decide, run, verify, escalate;
- ``cli``: ``python -m ops remediator ...``.
"""

from pathlib import Path

# Where the settings are; config.py loads them. Here, so the command line can
# name them without loading the models (pydantic): `python -m ops run` builds
# that parser too.
DEFAULT_CONFIG = Path("/etc/acs-remediator/remediator.yml")
CONFIG_ENV = "ACS_REMEDIATOR_CONFIG"
DRY_RUN_ENV = "ACS_REMEDIATOR_DRY_RUN"
