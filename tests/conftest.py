"""Session-wide: while the suite injects faults into the deployed stack for
a person's playbook runs, the remediator is paused with its Alertmanager
silence (the operators' kill switch), so it does not race those runs. The
self-healing tests lift it for themselves."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import alertmanager_silence


@pytest.fixture(scope="session", autouse=True)
def remediator_paused():
    if not alertmanager_silence.reachable():
        yield None  # no deployed stack (unit tier): nothing to pause
        return
    silence = alertmanager_silence.pause("pytest: faults injected for manual runbook runs")
    yield silence
    alertmanager_silence.resume(own_only=True)
