"""Fixtures of tests/integration/crawler: they live in crawler_support.py and
api_support.py so that test modules can import their helpers by a name no
other folder uses."""

from api_support import *  # noqa: F403
from crawler_support import *  # noqa: F403
