"""Fixtures of the runbooks scenario's verify step: they live in
runbook_support.py so that test modules can import its helpers by a name no
other test folder uses."""

from runbook_support import *  # noqa: F403
from stack_content_support import stack_content  # noqa: F401
