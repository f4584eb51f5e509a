"""ansible-rulebook event source: Alertmanager's webhook, authenticated.

The ``ansible.eda`` collection's alertmanager source cannot be installed
here (Galaxy is unreachable), so the project has this one. Each alert of a
notification is recorded in the remediator's ledger first, then put on the
queue as ``{"alert": {...}, "ledger_id": N}``: nothing the rules see is
missing from the ledger, even when the remediator restarts mid-way.

- ``POST /alerts``: ``Authorization: Bearer <secret>`` (file named by the
  configuration's ``token_file``); 401 without it, 400 naming the field for
  a body that is not a notification; both are recorded as ``rejected``.
- ``GET /metrics``: the remediator's metrics (ledger state);
- ``GET /health``: 200.

Arguments: ``config`` (the remediator's YAML), ``host``, ``port``,
``token_file``; ``replay_dir`` replays recorded requests (``*.json``:
``{"headers": {...}, "body": {...}}``, in name order) through the same path
instead of listening, then ends: how the rules are tested offline.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from aiohttp import web

from ops.remediator import alerts, metrics
from ops.remediator.config import load
from ops.remediator.ledger import Ledger


class Receiver:
    def __init__(self, queue, config_path: str, token_file: str) -> None:
        self.queue = queue
        self.config = load(config_path)
        self.ledger = Ledger(self.config.ledger)
        self.secret = Path(token_file).read_text(encoding="utf-8").strip() if token_file else ""

    async def receive(self, headers, body: bytes) -> tuple[int, dict]:
        if not alerts.authorized(headers.get("Authorization"), self.secret):
            self.ledger.log("rejected", reason="missing or wrong Authorization bearer secret")
            return 401, {"error": "Authorization: Bearer <remediator secret> required"}
        try:
            notification = alerts.parse(body)
        except alerts.PayloadError as exc:
            self.ledger.log("rejected", reason=f"not an Alertmanager notification: {exc}")
            return 400, {"error": f"not an Alertmanager notification: {exc}"}
        ids = []
        for alert in notification.alerts:
            event = alert.event()
            ledger_id = self.ledger.record_alert(event)
            ids.append(ledger_id)
            await self.queue.put(
                {"alert": event, "ledger_id": ledger_id, "group_key": notification.group_key}
            )
        return 200, {"accepted": len(ids), "ledger_ids": ids}

    async def post_alerts(self, request: web.Request) -> web.Response:
        status, answer = await self.receive(request.headers, await request.read())
        return web.json_response(answer, status=status)

    async def get_metrics(self, _request: web.Request) -> web.Response:
        body = metrics.render(self.config, self.ledger)
        return web.Response(body=body, content_type="text/plain", charset="utf-8")

    async def get_health(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})


async def replay(receiver: Receiver, directory: Path) -> None:
    for path in sorted(directory.glob("*.json")):
        recorded = json.loads(path.read_text(encoding="utf-8"))
        body = recorded["body"]
        raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        status, answer = await receiver.receive(recorded.get("headers", {}), raw)
        print(f"replay {path.name}: {status} {answer}", flush=True)


async def main(queue, args: dict) -> None:
    receiver = Receiver(queue, args["config"], args.get("token_file", ""))
    if args.get("replay_dir"):
        await replay(receiver, Path(args["replay_dir"]))
        # Give the rules' actions time to start before the source ends.
        await asyncio.sleep(float(args.get("linger", 5)))
        return
    app = web.Application(client_max_size=alerts.MAX_BODY_BYTES)
    app.router.add_post("/alerts", receiver.post_alerts)
    app.router.add_get("/metrics", receiver.get_metrics)
    app.router.add_get("/health", receiver.get_health)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, args.get("host", "127.0.0.1"), int(args.get("port", 9418)))
    await site.start()
    try:
        await asyncio.Future()  # serve until ansible-rulebook stops
    finally:
        await runner.cleanup()
