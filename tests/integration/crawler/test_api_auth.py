"""Who may call what: every data route needs a key, changes need an admin key.

Admin keys (Settings.api_keys, CRAWLER_API_KEYS) read and change; read-only
keys (Settings.api_read_keys, CRAWLER_API_READ_KEYS) read. The routes come
from the app's OpenAPI schema, so a new route is covered the day it is added:
it needs a key unless it is in OPEN below."""

from __future__ import annotations

import pytest
from api_support import KEY, READ, source_body

from crawler.config import Settings
from crawler.healing import Diagnosis, HealingEngine

pytestmark = pytest.mark.integration
WRONG = {"X-API-Key": "test-read-key-"}  # a real key's prefix is no key
# What anyone may GET: the health checks (the runbook's, compose's and the
# monitors') and Prometheus' scrape. /openapi.json and /docs are not in the
# schema's paths; test_openapi_declares_the_key checks them.
OPEN = {"/health", "/metrics", "/api/monitoring/health"}
MUTATING = ("post", "put", "patch", "delete")


def _operations(client, methods):
    paths = client.get("/openapi.json").json()["paths"]
    return [
        (method, path.replace("{source_id}", "docs"))
        for path, item in paths.items()
        for method in item
        if method in methods
    ]


def test_mutations_need_an_admin_key(anon, site):
    assert anon.post("/api/sources", json=source_body(site)).status_code == 401
    r = anon.post("/api/sources", json=source_body(site), headers={"X-API-Key": "nope"})
    assert r.status_code == 401 and r.json()["detail"] == "invalid API key"
    r = anon.post("/api/sources", json=source_body(site), headers=READ)
    assert r.status_code == 403
    assert r.json()["detail"] == "this key is read-only; use an admin key"
    assert anon.delete("/api/sources/docs", headers=READ).status_code == 403
    assert anon.post("/api/backup/trigger", headers=READ).status_code == 403
    assert anon.post("/api/sources/docs/crawl").status_code == 401
    assert anon.post("/api/sources", json=source_body(site), headers=KEY).status_code == 201
    assert anon.get("/api/sources", headers=KEY).json()["items"][0]["name"] == "docs"


def test_every_mutating_operation_needs_an_admin_key(client, site, storage):
    """Every POST, PUT, PATCH and DELETE the API publishes (restore included),
    without a key, with a wrong one (401) and with a read-only one (403):
    nothing changed."""
    assert client.post("/api/sources", json=source_body(site), headers=KEY).status_code == 201
    before = {c: storage.db[c].count_documents({}) for c in ("sources", "crawl_results")}
    operations = _operations(client, MUTATING)
    assert {m for m, _ in operations} == set(MUTATING)  # the check below covers every kind
    assert ("post", "/api/backup/restore") in operations
    for method, path in operations:
        for headers, status in (({"X-API-Key": ""}, 401), (WRONG, 401), (READ, 403)):
            r = client.request(
                method.upper(), path, json={"check_mode": True, "confirm": True}, headers=headers
            )
            assert r.status_code == status, (method, path, headers, r.status_code, r.text)
    assert {c: storage.db[c].count_documents({}) for c in before} == before
    assert client.get("/api/sources/docs").json()["schedule"] == "*/30 * * * *"


def test_every_read_needs_a_key_of_either_kind(anon, site):
    """Every GET the API publishes, and the unpublished /api/backup: 401
    without a key or with a wrong one, 200 with a read-only or an admin key."""
    assert anon.post("/api/sources", json=source_body(site), headers=KEY).status_code == 201
    reads = [p for _, p in _operations(anon, ("get",))] + ["/api/backup"]
    guarded = [p for p in reads if p not in OPEN]
    assert {
        "/api/sources",
        "/api/sources/docs",
        "/api/results",
        "/api/runs",
        "/api/errors",
        "/api/errors/codes",
        "/api/healing",
        "/api/backup/",
        "/api/backup",
    } <= set(guarded), guarded
    for path in guarded:
        for headers in ({}, WRONG):
            r = anon.get(path, headers=headers)
            assert r.status_code == 401, (path, headers, r.status_code)
            assert r.headers["WWW-Authenticate"] == "ApiKey"
        for headers in (READ, KEY):
            r = anon.get(path, headers=headers)
            assert r.status_code == 200, (path, headers, r.status_code, r.text)
    for path in OPEN:
        assert anon.get(path).status_code == 200, path
        # a wrong key is refused even where none is needed: the client learns it is wrong
        assert anon.get(path, headers=WRONG).status_code in (200, 401), path
    assert anon.get("/api/monitoring/health", headers=WRONG).status_code == 401


def test_openapi_declares_the_key(anon):
    """Clients and fuzzers see which operations want X-API-Key; the schema and
    its docs page stay open (they describe the API, they hold no data)."""
    r = anon.get("/openapi.json")
    assert r.status_code == 200
    assert anon.get("/docs").status_code == 200
    spec = r.json()
    assert spec["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "An admin key (reads and changes) or a read-only key (reads only).",
    }
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if path == "/api/monitoring/health":
                assert op["security"] == [{"ApiKey": []}, {}]  # a key is optional
            elif path in OPEN:
                assert "security" not in op, (method, path)
            else:
                assert op.get("security") == [{"ApiKey": []}], (method, path)


def test_monitoring_health_without_a_key_shows_health_only(
    anon, storage, settings, site, source_factory
):
    import asyncio

    from crawler.engine import Crawler

    secret = source_factory(
        "intranet-payroll",
        [f"{site.base}/error500"],
        politeness={"max_retries": 0, "delay_seconds": 0, "timeout_seconds": 5},
    )
    asyncio.run(Crawler(secret, storage, settings).run())
    HealingEngine(storage).start(
        Diagnosis("E008", "intranet-payroll", "E008|intranet-payroll", url=f"{site.base}/payroll"),
        "wait_for_grid",
    )
    r = anon.get("/api/monitoring/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] in ("degraded", "failing") and body["reasons"]
    assert "sources" not in body and "active_healing_sessions" not in body
    assert "X-API-Key" in body["note"]
    assert "error" not in body["grid"] and body["grid"]["reachable"] is False
    assert "payroll" not in r.text and site.base not in r.text
    full = anon.get("/api/monitoring/health", headers=READ).json()
    assert "intranet-payroll" in full["sources"]
    assert [s["source"] for s in full["active_healing_sessions"]] == ["intranet-payroll"]


def test_keys_of_both_kinds_come_from_the_environment(monkeypatch, tmp_path):
    key_file = tmp_path / "read-keys"
    key_file.write_text("# one key a line\nfrom-file\n\n")
    monkeypatch.setenv("CRAWLER_API_KEYS", "admin-1")
    monkeypatch.setenv("CRAWLER_API_READ_KEYS", " read-1 , read-2,")
    monkeypatch.setenv("CRAWLER_API_READ_KEYS_FILE", str(key_file))
    s = Settings()
    assert s.api_keys == ["admin-1"]
    assert s.api_read_keys == ["read-1", "read-2", "from-file"]
