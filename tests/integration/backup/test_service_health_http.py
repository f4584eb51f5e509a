"""service_health over real HTTP: a loopback server answering like the API,
Airflow 3, Airflow 2 and a Selenium Grid hub would."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from ansible.module_utils.acs_health import run_checks

pytestmark = pytest.mark.integration

HEALTHY = {"status": "healthy"}
ROUTES = {
    "/health": (200, {"status": "ok", "checks": [{"name": "mongo", "ok": True}]}),
    "/broken": (503, {"status": "degraded"}),
    # Airflow 3 api-server
    "/af3/api/v2/monitor/health": (
        200,
        {
            "metadatabase": HEALTHY,
            "scheduler": HEALTHY,
            "triggerer": HEALTHY,
            "dag_processor": {"status": None},
        },
    ),
    # Airflow 2 webserver: no v2 API, /health instead; its scheduler is down.
    "/af2/health": (200, {"metadatabase": HEALTHY, "scheduler": {"status": "unhealthy"}}),
    "/grid/status": (
        200,
        {
            "value": {
                "ready": True,
                "nodes": [
                    {
                        "availability": "UP",
                        "slots": [{"session": None}, {"session": {"sessionId": "a"}}],
                    }
                ],
            }
        },
    ),
}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        status, body = ROUTES.get(self.path, (404, {"error": "not found"}))
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def base_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_status_and_json_path(base_url):
    results = run_checks(
        [
            {
                "name": "api",
                "type": "http",
                "url": base_url + "/health",
                "json_path": "status",
                "json_value": "ok",
            },
            {
                "name": "deep",
                "type": "http",
                "url": base_url + "/health",
                "json_path": "checks.0.ok",
                "json_value": True,
            },
            {
                "name": "wrong",
                "type": "http",
                "url": base_url + "/health",
                "json_path": "status",
                "json_value": "up",
            },
            {"name": "down", "type": "http", "url": base_url + "/broken"},
            {
                "name": "503-ok",
                "type": "http",
                "url": base_url + "/broken",
                "expected_status": [503],
            },
        ]
    )
    assert {n: r["ok"] for n, r in results.items()} == {
        "api": True,
        "deep": True,
        "wrong": False,
        "down": False,
        "503-ok": True,
    }
    assert results["wrong"]["detail"] == "status='ok', expected 'up'"
    assert results["down"]["detail"] == "HTTP 503, expected [200]"


def test_airflow_3_then_2_fallback(base_url):
    results = run_checks(
        [
            {"name": "af3", "type": "airflow", "url": base_url + "/af3"},
            {"name": "af2", "type": "airflow", "url": base_url + "/af2"},
        ]
    )
    assert results["af3"] == {
        **results["af3"],
        "ok": True,
        "detail": "Airflow 3: all components healthy",
    }
    assert results["af2"]["ok"] is False
    assert results["af2"]["detail"] == "Airflow 2: unhealthy scheduler=unhealthy"


def test_selenium_free_slots(base_url):
    results = run_checks(
        [
            {"name": "grid", "type": "selenium", "url": base_url + "/grid", "min_free_slots": 1},
            {"name": "grid-2", "type": "selenium", "url": base_url + "/grid", "min_free_slots": 2},
            # several hosts: a worker host's node that is missing
            {"name": "grid-nodes", "type": "selenium", "url": base_url + "/grid", "min_nodes": 2},
        ]
    )
    assert results["grid"]["ok"] is True
    assert results["grid"]["detail"] == "ready=True, nodes=1, free slots=1"
    assert results["grid-2"]["ok"] is False
    assert results["grid-2"]["detail"] == "ready=True, nodes=1, free slots=1, need 2"
    assert results["grid-nodes"]["ok"] is False
    assert results["grid-nodes"]["detail"] == "ready=True, nodes=1, free slots=1, need 2 nodes"
