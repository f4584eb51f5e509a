"""The API against FerretDB and the fixture website, over FastAPI's test client."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from api_support import KEY, finished_job, source_body
from fastapi.testclient import TestClient

from crawler.api.app import create_app
from crawler.config import Settings
from crawler.healing import Diagnosis, HealingEngine
from crawler.storage import Storage

pytestmark = pytest.mark.integration


def test_health_reports_mongodb_and_request_id(client):
    r = client.get("/health", headers={"X-Request-ID": "abc123"})
    assert r.status_code == 200
    assert r.json()["components"]["mongodb"]["status"] == "up"
    assert r.headers["X-Request-ID"] == "abc123"
    assert client.get("/health").headers["X-Request-ID"]


def test_health_is_503_when_mongodb_is_down(tmp_path):
    from crawler_support import free_port

    s = Settings(
        mongo_uri=f"mongodb://127.0.0.1:{free_port()}/",
        api_keys=["k"],
        api_read_keys=["r"],
        spool_dir=tmp_path,
    )
    app = create_app(s, Storage(s.mongo_uri, timeout_ms=500))
    with TestClient(app, headers={"X-API-Key": "r"}) as c:
        r = c.get("/health")
        assert r.status_code == 503
        assert r.json()["components"]["mongodb"]["status"] == "down"
        # data endpoints say "storage unavailable" with the error code instead of a 500
        r = c.get("/api/errors")
        assert r.status_code == 503 and r.json()["code"] == "E009"


@pytest.mark.parametrize(
    "patch, field",
    [
        ({"name": "Bad Name"}, "body.name"),
        ({"schedule": "every day"}, "body.schedule"),
        ({"mode": "telepathy"}, "body.mode"),
        ({"start_urls": ["not a url"]}, "body.start_urls.0"),
        ({"fields": {"t": {"selector": "h1[["}}}, "body.fields.t"),
        ({"links": {"max_depth": -1}}, "body.links.max_depth"),
        # a backreference: RE2 (linear-time matching) has none
        ({"links": {"allow": [r"/(docs)/\1"]}}, "body.links.allow"),
        ({"politeness": {"delay_seconds": "slow"}}, "body.politeness.delay_seconds"),
        ({"unknown": 1}, "body.unknown"),
    ],
)
def test_invalid_source_is_422_naming_the_field(client, site, patch, field):
    r = client.post("/api/sources", json=source_body(site, **patch), headers=KEY)
    assert r.status_code == 422
    assert field in [e["field"] for e in r.json()["errors"]]
    assert field in r.json()["detail"]
    assert client.get("/api/sources").json()["items"] == []  # nothing stored


def test_invalid_query_is_422_not_500(client):
    for url, field in [
        ("/api/errors?limit=0", "query.limit"),
        ("/api/errors?code=X1", "query.code"),
        ("/api/errors?since=yesterday", "query.since"),
        ("/api/results?page=0", "query.page"),
        ("/api/results?page=99999999999999999999", "query.page"),
        ("/api/results?since=99999-01-01", "query.since"),
        ("/api/sources/NOT%20VALID", "path.source_id"),
    ]:
        r = client.get(url)
        assert r.status_code == 422, url
        assert field in r.json()["detail"]


def test_unreadable_body_is_422_naming_the_body(client):
    # bytes that are not UTF-8: FastAPI itself answered 400 (found by the fuzz tier)
    for path in ("/api/sources", "/api/backup/restore"):
        r = client.post(
            path, content=b"\xff\xfe{", headers={**KEY, "Content-Type": "application/json"}
        )
        assert r.status_code == 422, path
        assert r.json()["detail"] == "invalid input in: body"
        assert "JSON" in r.json()["errors"][0]["message"]


def test_sources_crud(client, site):
    assert client.post("/api/sources", json=source_body(site), headers=KEY).status_code == 201
    assert client.post("/api/sources", json=source_body(site), headers=KEY).status_code == 409
    assert client.get("/api/sources/docs").json()["schedule"] == "*/30 * * * *"
    r = client.patch("/api/sources/docs", json={"schedule": "@hourly", "mode": "auto"}, headers=KEY)
    assert r.status_code == 200 and r.json()["mode"] == "auto"
    assert client.get("/api/sources/docs").json()["schedule"] == "@hourly"
    assert (
        client.patch("/api/sources/docs", json={"schedule": "nope"}, headers=KEY).status_code == 422
    )
    assert client.get("/api/sources/docs").json()["schedule"] == "@hourly"  # data untouched
    # an explicit null for a field that cannot be empty was a 500 (found by the fuzz tier)
    for field in ("start_urls", "mode", "fields", "enabled"):
        r = client.patch("/api/sources/docs", json={field: None}, headers=KEY)
        assert r.status_code == 422 and r.json()["detail"] == f"invalid input in: body.{field}"
    body = source_body(site, links={"max_depth": 0, "max_pages": 1})
    assert client.put("/api/sources/docs", json=body, headers=KEY).json()["links"]["max_pages"] == 1
    r = client.put("/api/sources/docs", json=source_body(site, name="other"), headers=KEY)
    # the validation handler's shape, not nested in "detail" (found by the fuzz tier)
    assert r.status_code == 422 and r.json()["detail"] == "invalid input in: body.name"
    assert r.json()["errors"][0]["field"] == "body.name"
    assert [s["id"] for s in client.get("/api/sources").json()["items"]] == ["docs"]
    assert client.delete("/api/sources/docs", headers=KEY).status_code == 204
    assert client.get("/api/sources/docs").status_code == 404
    assert client.delete("/api/sources/docs", headers=KEY).status_code == 404


def wait_run(client, source, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = client.get(f"/api/runs?source={source}").json()["items"]
        if runs and runs[0]["status"] != "running":
            return runs[0]
        time.sleep(0.2)
    raise AssertionError("crawl did not finish")


def test_trigger_crawl_then_results_paging_and_metrics(client, site):
    client.post("/api/sources", json=source_body(site), headers=KEY)
    r = client.post("/api/sources/docs/crawl", headers=KEY)
    assert r.status_code == 202 and r.json()["via"] == "local"
    run = wait_run(client, "docs")
    assert run["id"] == r.json()["run_id"] and run["pages_ok"] == 7
    p1 = client.get("/api/results?source=docs&page=1&page_size=5").json()
    p2 = client.get("/api/results?source=docs&page=2&page_size=5").json()
    assert p1["total"] == 7 and len(p1["items"]) == 5 and len(p2["items"]) == 2
    assert {i["url"] for i in p1["items"]}.isdisjoint({i["url"] for i in p2["items"]})
    # Which 7 pages are crawled depends on fetch order: filter by one that was.
    crawled = [i["url"] for i in p1["items"] + p2["items"]]
    needle = crawled[0].split("127.0.0.1")[1].split("/", 1)[1]
    expected = sum(needle in url for url in crawled)
    assert client.get(f"/api/results?source=docs&url_contains={needle}").json()["total"] == expected
    assert client.get("/api/results?source=docs&url_contains=/not-crawled").json()["total"] == 0
    assert client.post("/api/sources/nothere/crawl", headers=KEY).status_code == 404
    m = client.get("/metrics").text
    assert 'crawler_pages_fetched_total{mode="static",status="ok"}' in m
    assert "crawler_spool_records" in m and "crawler_crawl_duration_seconds" in m


def test_errors_newest_first_with_filters(client, site, storage, settings, source_factory):
    import asyncio

    from crawler.engine import Crawler

    src = source_factory(
        "bad",
        [f"{site.base}/error500", f"{site.base}/forbidden"],
        politeness={"max_retries": 0, "delay_seconds": 0, "timeout_seconds": 5},
    )
    asyncio.run(Crawler(src, storage, settings).run())
    items = client.get("/api/errors?limit=20").json()["items"]
    assert len(items) >= 2
    ts = [i["ts"] for i in items]
    assert ts == sorted(ts, reverse=True)
    assert {i["code"] for i in client.get("/api/errors?code=E005").json()["items"]} == {"E005"}
    assert client.get("/api/errors?source=none").json()["items"] == []
    assert len(client.get("/api/errors?limit=1").json()["items"]) == 1
    assert client.get("/api/errors?since=2999-01-01T00:00:00Z").json()["items"] == []
    assert "E006" in client.get("/api/errors/codes").json()


def test_monitoring_health_shows_failure_rates_sessions_and_grid(
    client, site, storage, settings, source_factory
):
    import asyncio

    from crawler.engine import Crawler

    assert client.get("/api/monitoring/health").json()["status"] == "healthy"
    good = source_factory("good", [f"{site.base}/docs/1"])
    bad = source_factory(
        "bad",
        [f"{site.base}/error500"],
        politeness={"max_retries": 0, "delay_seconds": 0, "timeout_seconds": 5},
    )
    asyncio.run(Crawler(good, storage, settings).run())
    asyncio.run(Crawler(bad, storage, settings).run())
    h = client.get("/api/monitoring/health").json()
    assert h["status"] == "failing"
    assert (
        h["sources"]["bad"]["failure_rate"] == 1.0 and h["sources"]["good"]["failure_rate"] == 0.0
    )
    assert h["sources"]["good"]["last_run"]["status"] == "ok"
    assert h["healing_outcomes"]["retry_with_backoff"]["failure"] >= 1
    assert h["grid"]["reachable"] is False
    session = HealingEngine(storage).start(Diagnosis("E008", "good", "E008|good"), "wait_for_grid")
    h = client.get("/api/monitoring/health?window_minutes=5").json()
    assert [s["id"] for s in h["active_healing_sessions"]] == [session["_id"]]


def test_openapi_lists_runbook_paths(client):
    paths = client.get("/openapi.json").json()["paths"]
    for p in [
        "/health",
        "/api/errors",
        "/api/monitoring/health",
        "/api/sources",
        "/api/sources/{source_id}",
        "/api/sources/{source_id}/crawl",
        "/api/results",
        "/metrics",
        "/api/backup/trigger",
        "/api/backup/",
        "/api/backup/restore",
    ]:
        assert p in paths, p


def test_backup_endpoints_use_the_backup_engine(client, site, storage):
    storage.db.crawl_results.insert_one({"source": "s", "url": "u", "fields": {"a": 1}})
    r = client.post("/api/backup/trigger", json={"label": "api-test"}, headers=KEY)
    job = finished_job(client, r)
    assert (job["kind"], job["state"], job["error"]) == ("backup", "succeeded", None), job
    made = job["result"]
    listed = client.get("/api/backup/").json()["items"]
    assert any(b["path"] == made["path"] and b["good"] for b in listed)
    r = client.post("/api/backup/restore", json={"backup": made["name"]}, headers=KEY)
    assert r.status_code == 422 and "body.confirm" in r.json()["detail"]
    r = client.post(
        "/api/backup/restore", json={"backup": made["name"], "check_mode": True}, headers=KEY
    )
    assert r.status_code == 200, r.text
    assert (
        client.post("/api/backup/trigger", json={"label": "bad label!"}, headers=KEY).status_code
        == 422
    )
    # a name MongoDB refuses was answered "MongoDB unavailable" (503; found by the fuzz tier)
    for bad in ("", "a.b", "a b", "$x", "x" * 64):
        r = client.post("/api/backup/trigger", json={"databases": [bad]}, headers=KEY)
        assert r.status_code == 422 and r.json()["detail"] == "invalid input in: body.databases.0"


def test_an_unsigned_backup_is_neither_listed_nor_restorable_over_http(
    client, storage, settings, monkeypatch
):
    """Made without the key (or forged beside the archives): the API lists
    only signed backups, says why the others are left out, and has no switch
    to restore another one."""
    from crawler import _backup_engine as engine

    storage.db.crawl_results.insert_one({"source": "s", "url": "u", "fields": {"a": 1}})
    monkeypatch.delenv("ACS_BACKUP_SIGNING_KEY")
    unsigned = engine.run_backup(settings.mongo_uri, str(settings.backup_dir), label="nokey")
    assert unsigned["signed"] is False and unsigned["warnings"]
    monkeypatch.setenv("ACS_BACKUP_SIGNING_KEY", "crawler-tests-backup-signing-key")
    listing = client.get("/api/backup/").json()
    assert listing["items"] == []
    assert listing["rejected"] == [{"name": unsigned["name"], "reason": "unsigned"}]
    r = client.post(
        "/api/backup/restore", json={"backup": unsigned["name"], "check_mode": True}, headers=KEY
    )
    assert r.status_code == 404, r.text
    r = client.post("/api/backup/restore", json={"check_mode": True}, headers=KEY)
    assert r.status_code == 409 and "no good signed backup" in r.json()["detail"], r.text


def test_the_backup_listing_carries_the_last_restore_drill(client, settings):
    from crawler import _backup_engine as engine

    assert client.get("/api/backup/").json()["drill"] is None
    settings.backup_dir.mkdir(parents=True, exist_ok=True)
    passed = {
        "backup": "b1",
        "result": "passed",
        "failed_checks": [],
        "rto_seconds": 2.5,
        "finished_at": "2026-12-01T04:30:00.000000Z",
    }
    failed = dict(passed, result="failed", failed_checks=["indexes"], rto_seconds=None)
    engine.manifest._write_json_atomic(
        str(settings.backup_dir / engine.drill.RECORD_FILE),
        {"last": failed, "last_passed": passed},
    )
    drill = client.get("/api/backup/").json()["drill"]
    assert drill["last"]["failed_checks"] == ["indexes"]
    assert drill["last_passed"]["rto_seconds"] == 2.5


def test_an_api_backup_applies_the_default_retention(client, storage, settings):
    import datetime as dt

    from crawler import _backup_engine as engine

    storage.db.crawl_results.insert_one({"source": "s", "url": "u", "fields": {"a": 1}})
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    for i in range(engine.retention.DEFAULT_KEEP_LAST + 2):
        engine.run_backup(
            settings.mongo_uri,
            str(settings.backup_dir),
            label="old",
            now=old + dt.timedelta(minutes=i),
            keep_last=0,
            max_age_days=0,
        )
    job = finished_job(
        client, client.post("/api/backup/trigger", json={"label": "api"}, headers=KEY)
    )
    assert job["state"] == "succeeded", job
    # 16 month-old backups and a new one: the 14 newest stay, 3 old ones go
    assert len(job["result"]["retention"]["deleted"]) == 3
    names = [b["name"] for b in client.get("/api/backup/").json()["items"]]
    assert len(names) == engine.retention.DEFAULT_KEEP_LAST and names[0] == job["result"]["name"]


def test_parallel_backup_triggers_all_succeed_under_their_own_names(client, storage):
    from concurrent.futures import ThreadPoolExecutor

    storage.db.crawl_results.insert_one({"source": "s", "url": "u", "fields": {"a": 1}})
    with ThreadPoolExecutor(3) as pool:
        answers = list(
            pool.map(
                lambda _: client.post(
                    "/api/backup/trigger", json={"label": "parallel"}, headers=KEY
                ),
                range(3),
            )
        )
    assert [r.status_code for r in answers] == [202, 202, 202], [r.text for r in answers]
    done = [finished_job(client, r) for r in answers]
    assert [j["state"] for j in done] == ["succeeded"] * 3, done
    assert len({j["result"]["name"] for j in done}) == 3


@pytest.mark.parametrize(
    "body, status, field",
    [
        # a path is refused before anything looks at the disk: no file-existence oracle
        ({"backup": "/etc/passwd", "check_mode": True}, 422, "body.backup"),
        ({"backup": "../../etc/passwd", "check_mode": True}, 422, "body.backup"),
        # the safety backup before a restore cannot be skipped over HTTP
        ({"check_mode": True, "skip_safety_backup": True}, 422, "body.skip_safety_backup"),
        # an unknown name: one generic answer
        ({"backup": "passwd", "check_mode": True}, 404, None),
    ],
)
def test_restore_takes_backup_names_only(client, body, status, field):
    r = client.post("/api/backup/restore", json=body, headers=KEY)
    assert r.status_code == status, r.text
    if field:
        assert field in r.json()["detail"]
    else:
        assert r.json()["detail"] == "no such backup: GET /api/backup/ lists the names"


class _AirflowWithoutTheDag(BaseHTTPRequestHandler):
    """Airflow 3's answers before the DAG processor has parsed a new source."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/auth/token":
            status, body = 201, {"access_token": "t"}
        else:
            status, body = 404, {"detail": "Dag with dag_id: 'crawl_docs' not found"}
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


def test_trigger_before_airflow_parsed_the_dag_is_503_with_retry_after(settings, storage, site):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AirflowWithoutTheDag)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        airflow_settings = dataclasses.replace(
            settings,
            airflow_api_url=f"http://127.0.0.1:{server.server_port}",
            airflow_username="acs_admin",
            airflow_password="x",
        )
        with TestClient(create_app(airflow_settings, storage)) as c:
            c.post("/api/sources", json=source_body(site), headers=KEY)
            r = c.post("/api/sources/docs/crawl", headers=KEY)
    finally:
        server.shutdown()
    assert r.status_code == 503, r.text
    assert r.headers["Retry-After"] == "30"
    assert "crawl_docs" in r.json()["detail"] and "retry" in r.json()["detail"]
