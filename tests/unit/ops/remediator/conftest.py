"""Recorded Alertmanager notifications and a remediator configured against
real local HTTP servers (a Prometheus query endpoint, an escalation
webhook), for replaying alerts through the rules, decisions and ledger
without running a playbook."""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[4]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PAYLOADS = Path(__file__).parent / "payloads"
SECRET = "replay-secret-0123456789"


def payload(name: str) -> dict:
    return json.loads((PAYLOADS / f"{name}.json").read_text(encoding="utf-8"))


class Recorder(ThreadingHTTPServer):
    """Answers Prometheus queries with ``self.fixed`` (a sample or none) and
    records every POST (the escalation webhook's calls)."""

    def __init__(self) -> None:
        self.fixed = True
        self.posts: list[dict] = []
        self.queries: list[str] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def _json(self, status: int, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.startswith("/api/v1/query"):
            self.server.queries.append(self.path)
            result = [{"metric": {}, "value": [0, "1"]}] if self.server.fixed else []
            self._json(
                200, {"status": "success", "data": {"resultType": "vector", "result": result}}
            )
        elif self.path.startswith("/api/v1/alerts"):
            alerts = getattr(self.server, "prometheus_alerts", [])
            self._json(200, {"status": "success", "data": {"alerts": alerts}})
        elif self.path.startswith("/api/v2/silences"):
            self._json(200, getattr(self.server, "silences", []))
        else:
            self._json(404, {})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        self.server.posts.append(json.loads(self.rfile.read(length) or b"{}"))
        self._json(200, {})


@pytest.fixture
def servers():
    server = Recorder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def remediator_config(tmp_path, servers, monkeypatch):
    """Writes a configuration like roles/remediator's; returns its path."""
    (tmp_path / "token").write_text(SECRET)
    config = {
        "ledger": str(tmp_path / "ledger.sqlite3"),
        "token_file": str(tmp_path / "token"),
        "artifacts": str(tmp_path / "artifacts"),
        "prometheus_url": servers.url,
        "alertmanager_url": servers.url,
        "escalation_webhook_url": servers.url + "/escalate",
        "breaker": {"failures": 2},
        "procedures": {
            "recover_api": {
                "budget": {"max_actions": 3, "window_seconds": 1800},
                "cooldown_seconds": 0,
                "verify": {
                    "promql": 'min(probe_success{job="api_health"}) == 1',
                    "within_seconds": 1,
                },
            },
            "recover_mongodb": {
                "budget": {"max_actions": 2, "window_seconds": 1800},
                "cooldown_seconds": 60,
                "verify": {
                    "promql": 'min(probe_success{job="mongodb_tcp"}) == 1',
                    "within_seconds": 1,
                },
            },
        },
    }
    path = tmp_path / "remediator.yml"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("ACS_REMEDIATOR_CONFIG", str(path))
    return path
