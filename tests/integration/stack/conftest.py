"""Fixtures of tests/integration/stack: they live in stack_support.py so that
test modules can import its helpers by a name no other folder uses."""

from stack_support import *  # noqa: F403
