"""Fixtures of the runbooks scenario's verify step: they live in
runbook_support.py so that test modules can import its helpers by a name no
other test folder uses."""

from runbook_support import *  # noqa: F403
from stack_content_support import stack_content  # noqa: F401


def pytest_collection_modifyitems(items):
    # The self-healing tests run first: the manual fault tests leave alerts
    # firing for minutes (an OOM kill counts for five), and the remediator
    # fixture must wait them out before it lifts the pause. Stable sort: each
    # module keeps its own order.
    items.sort(key=lambda item: item.module.__name__ != "test_self_healing")
