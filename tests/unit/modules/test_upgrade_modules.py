"""http_watch (the upgrade's error-rate watch) against a local server, and
compose_release's per-service view (which services changed image)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from module_support import load_library

http_watch = load_library("http_watch")
compose_release = load_library("compose_release")


@pytest.fixture()
def server():
    """/ok answers 200; /down 503; /flaky 503 on every 4th request."""
    hits = {"n": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            hits["n"] += 1
            status = {"/ok": 200, "/down": 503}.get(self.path, 503 if hits["n"] % 4 == 0 else 200)
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def watch(url, **kw):
    args = {
        "window": 0.3,
        "interval": 0.01,
        "timeout": 2,
        "expected": [200],
        "max_rate": 0.05,
        "max_consecutive": 5,
    }
    args.update(kw)
    return http_watch.watch(
        url,
        args["window"],
        args["interval"],
        args["timeout"],
        args["expected"],
        args["max_rate"],
        args["max_consecutive"],
    )


def test_a_healthy_endpoint_passes_the_watch(server):
    result = watch(f"{server}/ok")
    assert result["requests"] > 5 and result["errors"] == 0 and result["failed_reason"] == ""


def test_a_down_endpoint_fails_after_the_failures_in_a_row_not_the_window(server):
    result = watch(f"{server}/down", window=60)
    assert result["requests"] == 5 and result["errors"] == 5
    assert "5 failed probes in a row (HTTP 503)" in result["failed_reason"]


def test_an_error_rate_above_the_bound_fails(server):
    result = watch(f"{server}/flaky", max_rate=0.1)
    assert 0.2 <= result["error_rate"] <= 0.3
    assert "error rate" in result["failed_reason"]


def test_nothing_listening_counts_as_errors():
    result = watch("http://127.0.0.1:9/", max_consecutive=3, window=60)
    assert (
        result["errors"] == 3
        and "Connection refused" in result["last_error"] + result["failed_reason"]
    )


def test_a_service_changed_when_a_running_container_runs_another_image():
    images = {
        "acs/crawler:1": {"Id": "sha256:new", "RepoDigests": []},
        "mongo:7": {"Id": "sha256:m"},
    }
    containers = [
        {"service": "api", "image_id": "sha256:old", "state": "running"},
        {"service": "api", "image_id": "sha256:new", "state": "running"},
        {"service": "mongodb", "image_id": "sha256:m", "state": "running"},
        {"service": "worker", "image_id": "sha256:old", "state": "exited"},
    ]
    services = compose_release.summarize(
        {
            "api": "acs/crawler:1",
            "mongodb": "mongo:7",
            "worker": "acs/crawler:1",
            "gone": "missing:1",
        },
        images,
        containers,
    )
    assert services["api"]["changed"] is True
    assert services["api"]["running_image_ids"] == ["sha256:new", "sha256:old"]
    assert services["mongodb"]["changed"] is False
    # A stopped container runs nothing; a reference missing in the engine is no change.
    assert services["worker"]["changed"] is False and services["worker"]["running_image_ids"] == []
    assert services["gone"] == {**services["gone"], "image_id": "", "changed": False}
