"""The API's Grid, Airflow and backup gauges (crawler.source_metrics), read
from real local HTTP servers standing in for the Selenium hub and Airflow,
through the API's own /metrics route."""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from crawler.config import Settings
from crawler.source_metrics import SourceCollector

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from fake_airflow import FakeAirflow

SIGNING_KEY = "source-metrics-test-key"


def _node(max_sessions: int, slots: int, busy: int, availability: str = "UP") -> dict:
    return {
        "availability": availability,
        "maxSessions": max_sessions,
        "slots": [
            {
                "stereotype": {"browserName": "chrome"},
                "session": {"id": str(i)} if i < busy else None,
            }
            for i in range(slots)
        ],
    }


class FakeHub:
    """Selenium Grid 4's /status and /graphql (sessionQueueSize)."""

    def __init__(self, nodes: list[dict], queue: int | None = 0):
        self.nodes, self.queue = nodes, queue
        self.status_code = 200
        self.delay = 0.0
        self.hits = 0
        self.url = ""

    def _handler(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, body) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self):
                hub.hits += 1
                time.sleep(hub.delay)
                value = {"ready": True, "nodes": hub.nodes}
                self._send(hub.status_code, {"value": value})

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if hub.queue is None:
                    self._send(500, {"errors": ["no graphql"]})
                else:
                    self._send(200, {"data": {"grid": {"sessionQueueSize": hub.queue}}})

            def log_message(self, *args):
                pass

        return Handler

    @contextlib.contextmanager
    def serving(self):
        server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{server.server_port}"
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()


def samples(registry_or_text) -> dict[tuple, float]:
    """{(name, sorted label items): value} of an exposition."""
    text = (
        registry_or_text
        if isinstance(registry_or_text, str)
        else generate_latest(registry_or_text).decode()
    )
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def write_backup(backup_dir: Path, finished: datetime, key: str | None) -> None:
    from crawler._backup_engine import signing
    from crawler._backup_engine.common import _iso

    name = finished.strftime("%Y%m%dT%H%M%SZ") + "-scheduled"
    manifest = {
        "format": "acs-backup-manifest/1",
        "name": name,
        "archive": name + ".archive.gz",
        "size": 1,
        "sha256": "0" * 64,
        "started_at": _iso(finished - timedelta(seconds=5)),
        "finished_at": _iso(finished),
        "databases": ["crawler"],
    }
    signing.sign(manifest, signing.resolve_key(key) if key else None)
    (backup_dir / f"{name}.manifest.json").write_text(json.dumps(manifest))
    (backup_dir / f"{name}.archive.gz").write_bytes(b"x")


@pytest.fixture
def servers(tmp_path, monkeypatch):
    monkeypatch.setenv("ACS_BACKUP_SIGNING_KEY", SIGNING_KEY)
    # two nodes: 3 slots capped at 2 sessions with 1 busy, and one DOWN node
    hub = FakeHub([_node(2, 3, 1), _node(4, 4, 0, availability="DOWN")], queue=4)
    airflow = FakeAirflow(
        {"crawl_news": True, "crawl_shop": False, "crawl_gone": True, "backup_dag": True}
    )
    airflow.dags["tutorial"] = True  # not the crawler's: never exported
    airflow.stale.add("crawl_gone")
    with hub.serving(), airflow.serving():
        settings = Settings(
            selenium_hub_url=hub.url,
            airflow_api_url=airflow.url,
            airflow_username="acs_api",
            airflow_password="pw",
            backup_dir=tmp_path,
        )
        yield settings, hub, airflow


def test_metrics_route_exports_grid_dag_and_backup_gauges(servers):
    from crawler.api.app import create_app

    settings, _, airflow = servers
    finished = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    write_backup(settings.backup_dir, finished, SIGNING_KEY)
    # newer but unsigned: not a backup the stack trusts, so not "the newest"
    write_backup(settings.backup_dir, finished + timedelta(hours=1), None)
    settings.spool_dir = settings.backup_dir / "spool"

    got = samples(TestClient(create_app(settings)).get("/metrics").text)

    assert got[("crawler_grid_slots", (("state", "total"),))] == 2
    assert got[("crawler_grid_slots", (("state", "free"),))] == 1
    assert got[("crawler_grid_session_queue", ())] == 4
    paused = {k[1][0][1]: v for k, v in got.items() if k[0] == "crawler_airflow_dag_paused"}
    assert paused == {"backup_dag": 1, "crawl_news": 1, "crawl_shop": 0}
    assert got[("acs_backup_last_success_timestamp_seconds", ())] == finished.timestamp()
    assert got[("crawler_restore_in_progress", ())] == 0
    for source in ("grid", "airflow", "backup"):
        assert got[("crawler_metrics_source_up", (("source", source),))] == 1
    # the default registry is still there
    assert ("crawler_spool_records", ()) in got
    assert airflow.gets == ["Bearer t"]


def test_a_failing_source_exports_nothing_of_its_own_and_source_down(servers):
    settings, hub, _ = servers
    hub.status_code = 500
    settings.airflow_api_url = "http://127.0.0.1:9"  # nothing listens there
    reg = CollectorRegistry(auto_describe=False)
    reg.register(SourceCollector(settings, timeout=1))

    got = samples(reg)

    assert not [k for k in got if k[0].startswith(("crawler_grid", "crawler_airflow"))]
    assert got[("crawler_metrics_source_up", (("source", "grid"),))] == 0
    assert got[("crawler_metrics_source_up", (("source", "airflow"),))] == 0
    assert got[("crawler_metrics_source_up", (("source", "backup"),))] == 1
    # no backup yet: no timestamp (BackupMetricMissing), not a zero (a 55-year-old backup)
    assert ("acs_backup_last_success_timestamp_seconds", ()) not in got


def test_grid_without_queue_size_is_a_failed_source(servers):
    settings, hub, _ = servers
    hub.queue = None
    got = samples(_registry(SourceCollector(settings)))
    assert ("crawler_grid_slots", (("state", "free"),)) not in got
    assert got[("crawler_metrics_source_up", (("source", "grid"),))] == 0


def test_a_source_that_raises_anything_never_fails_the_scrape(servers):
    settings, _, _ = servers

    def broken(settings, timeout):
        raise AttributeError("'list' object has no attribute 'get'")

    got = samples(_registry(SourceCollector(settings, sources={"grid": broken})))
    assert got == {("crawler_metrics_source_up", (("source", "grid"),)): 0}


def test_slow_sources_are_read_in_parallel_within_their_timeout(servers):
    settings, hub, _ = servers
    hub.delay = 3  # longer than the timeout: the hub counts as down
    reg = _registry(SourceCollector(settings, timeout=1))
    t0 = time.monotonic()
    got = samples(reg)
    assert time.monotonic() - t0 < 2.5
    assert got[("crawler_metrics_source_up", (("source", "grid"),))] == 0
    assert got[("crawler_metrics_source_up", (("source", "airflow"),))] == 1


def test_values_are_cached_for_ttl_seconds(servers):
    settings, hub, airflow = servers
    now = [1000.0]
    reg = _registry(SourceCollector(settings, ttl=10, clock=lambda: now[0]))
    samples(reg)
    airflow.dags["crawl_shop"] = True
    now[0] += 9
    assert samples(reg)[("crawler_airflow_dag_paused", (("dag_id", "crawl_shop"),))] == 0
    assert hub.hits == 1
    now[0] += 1
    assert samples(reg)[("crawler_airflow_dag_paused", (("dag_id", "crawl_shop"),))] == 1
    assert hub.hits == 2


def test_restore_marker_under_its_lock_reports_a_restore(servers):
    from crawler._backup_engine.locking import backup_dir_lock
    from crawler._backup_engine.marker import restore_marker

    settings, _, _ = servers
    with (
        backup_dir_lock(str(settings.backup_dir), "restore"),
        restore_marker(settings.backup_dir, "x"),
    ):
        got = samples(_registry(SourceCollector(settings)))
    assert got[("crawler_restore_in_progress", ())] == 1


def _registry(collector: SourceCollector) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(collector)
    return reg


def test_restore_drill_gauges_come_from_the_drill_record(tmp_path):
    from crawler._backup_engine import drill
    from crawler.source_metrics import drill_families

    assert drill_families({}) == []
    (tmp_path / drill.RECORD_FILE).write_text(
        '{"last": {"result": "failed", "duration_seconds": 9.5, "finished_at": '
        '"2026-12-02T03:00:00.000000Z"}, "last_passed": {"result": "passed", '
        '"rto_seconds": 4.25, "finished_at": "2026-12-01T03:00:00.000000Z"}}'
    )
    got = {f.name: f.samples[0].value for f in drill_families(drill.last_drill(str(tmp_path)))}
    assert got == {
        "acs_restore_drill_success": 0,
        "acs_restore_drill_last_run_timestamp_seconds": datetime(
            2026, 12, 2, 3, tzinfo=UTC
        ).timestamp(),
        "acs_restore_drill_duration_seconds": 9.5,
        "acs_restore_drill_last_success_timestamp_seconds": datetime(
            2026, 12, 1, 3, tzinfo=UTC
        ).timestamp(),
        "acs_restore_drill_rto_seconds": 4.25,
    }
