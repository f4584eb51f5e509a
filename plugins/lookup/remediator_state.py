# Copyright: Airflow Crawler System contributors
# Apache License 2.0
"""The remediator's state on the controller, read in-process by the same
function as ``python -m ops remediator`` (ops/remediator/cli.py ``read``)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: remediator_state
short_description: The remediator's kill switch, breakers, budgets and daily summary, read on the controller
description:
  - Reads the remediator's settings and ledger where the playbook runs (the controller, where
    roles/remediator deploys it), with the functions behind C(python -m ops remediator status --json)
    and C(summary --days N --json) (C(ops/remediator/cli.py)), in the playbook's own process.
  - Read-only, also in check mode. An unreadable file is a result (C(error)), not a failure.
options:
  _terms:
    description: The remediator's settings file (one path).
    required: true
  days:
    description: Days of automatic actions to summarise; C(0) reads the status only.
    type: int
    default: 0
"""

EXAMPLES = r"""
- name: The remediator, as status reports it
  ansible.builtin.set_fact:
    runbook_remediator: "{{ lookup('remediator_state', '/etc/acs-remediator/remediator.yml', days=7) }}"
"""

RETURN = r"""
_raw:
  description:
    - One dict. C(deployed) (the settings file exists), C(config) (its path), C(status) (the switch,
      C(dry_run), open C(breakers), C(procedures) with their budget use), C(summary) (one dict a day,
      with I(days) > 0) and C(error); C(status) and C(summary) are null when unreadable and C(error)
      says why.
  type: list
  elements: dict
"""

import sys
from pathlib import Path

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase

# This checkout's ops package (plugins/lookup/ -> the repository root).
ROOT = str(Path(__file__).resolve().parents[2])


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        if len(terms) != 1:
            raise AnsibleError("remediator_state takes one settings file path")
        if ROOT not in sys.path:
            sys.path.insert(0, ROOT)
        # Imported once the checkout is on the path.
        from ops.remediator import cli

        return [cli.read(str(terms[0]), int(self.get_option("days")))]
