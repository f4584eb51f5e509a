"""A stand-in for Airflow 3's REST API as the restore paths use it: sign-in,
the DAG list and the pause switch, over real HTTP; it records every pause
change it was asked for. The metrics collector reads the same DAG list."""

from __future__ import annotations

import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class FakeAirflow:
    def __init__(self, dags: dict[str, bool]):
        self.dags = dict(dags)  # dag_id -> is_paused
        self.calls: list[tuple[str, bool]] = []
        self.stale: set[str] = set()  # DAGs Airflow marks is_stale (file gone)
        self.gets: list[str | None] = []  # the Authorization header of each GET
        self.url = ""

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status, body):
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._send(201, {"access_token": "t"})

            def do_GET(self):
                # Airflow's filters: dag_id_pattern (a substring) and paused
                fake.gets.append(self.headers.get("Authorization"))
                query = parse_qs(urlsplit(self.path).query)
                pattern = query.get("dag_id_pattern", [""])[0]
                dags = [
                    {"dag_id": d, "is_paused": p, "is_stale": d in fake.stale}
                    for d, p in sorted(fake.dags.items())
                    if pattern in d
                ]
                if "paused" in query:
                    want = query["paused"][0] == "true"
                    dags = [d for d in dags if d["is_paused"] == want]
                self._send(200, {"dags": dags, "total_entries": len(dags)})

            def do_PATCH(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                path, _, query = self.path.partition("?")
                if query != "update_mask=is_paused":
                    self._send(400, {"detail": "update_mask=is_paused expected"})
                    return
                dag = path.rsplit("/", 1)[-1]
                fake.calls.append((dag, body["is_paused"]))
                fake.dags[dag] = body["is_paused"]
                self._send(200, {"dag_id": dag, "is_paused": body["is_paused"]})

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
