"""Fixtures of tests/integration/fuzz: they live in fuzz_support.py so that
test modules can import its helpers by a name no other folder uses."""

from fuzz_support import *  # noqa: F403
