"""The API's test clients and request bodies (tests/integration/crawler/test_api*.py).

`client` reads with a read-only key, as the runbook's playbooks do; a change
sends `headers=KEY` (an admin key), which replaces that header for the one
request. `anon` sends no key at all."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

# Keys of the `settings` fixture (crawler_support.py).
KEY = {"X-API-Key": "test-key-2"}
READ = {"X-API-Key": "test-read-key"}


@pytest.fixture
def client(settings, storage):
    from crawler.api.app import create_app

    with TestClient(create_app(settings, storage), headers=READ) as c:
        yield c


@pytest.fixture
def anon(settings, storage):
    from crawler.api.app import create_app

    with TestClient(create_app(settings, storage)) as c:
        yield c


def source_body(site, name="docs", **kw):
    body = {
        "name": name,
        "start_urls": [f"{site.base}/docs/0"],
        "mode": "static",
        "fields": {
            "title": {"selector": "h1.title"},
            "body": {"selector": ".content", "required": False},
        },
        "links": {"max_depth": 3, "max_pages": 7},
        "schedule": "*/30 * * * *",
        "politeness": {
            "concurrency_per_domain": 2,
            "delay_seconds": 0,
            "timeout_seconds": 5,
            "max_retries": 0,
        },
    }
    body.update(kw)
    return body
