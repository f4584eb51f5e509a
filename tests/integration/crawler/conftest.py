"""Fixtures of tests/integration/crawler: they live in crawler_support.py and
api_support.py so that test modules can import their helpers by a name no
other folder uses."""

import pytest
from api_support import *  # noqa: F403
from crawler_support import *  # noqa: F403


@pytest.fixture(autouse=True)
def backup_signing_key(monkeypatch):
    """The key the compose files give the api and Airflow (ACS_BACKUP_SIGNING_KEY):
    the engine signs and trusts manifests only with it."""
    monkeypatch.setenv("ACS_BACKUP_SIGNING_KEY", "crawler-tests-backup-signing-key")
    monkeypatch.delenv("ACS_BACKUP_SIGNING_KEY_FILE", raising=False)
    return "crawler-tests-backup-signing-key"
