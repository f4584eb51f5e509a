"""Fixtures of tests/integration/runbook: they live in runbook_support.py so that
test modules can import its helpers by a name no other folder uses."""

from runbook_support import *  # noqa: F403
