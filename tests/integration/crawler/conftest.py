"""Fixtures of tests/integration/crawler: they live in crawler_support.py so that
test modules can import its helpers by a name no other folder uses."""

from crawler_support import *  # noqa: F403
