"""The crawler's one reading of a Selenium Grid hub: its slots, free slots
and queue (/status, /graphql), and a wait until it has room for a session."""

from __future__ import annotations

import time

import requests

from crawler.errors import CrawlError, ErrorCode


class GridClient:
    """A hub's capacity as the crawler counts it."""

    def __init__(self, hub_url: str, timeout: float = 5.0):
        self.hub_url = hub_url.rstrip("/")
        self.timeout = timeout

    def status(self) -> dict:
        """ready, total/free slots and queue length, from the hub's /status
        (and /graphql for the queue, when it answers)."""
        try:
            r = requests.get(f"{self.hub_url}/status", timeout=self.timeout)
            r.raise_for_status()
            value = r.json().get("value", {})
        except (requests.RequestException, ValueError) as exc:
            return {
                "reachable": False,
                "ready": False,
                "total_slots": 0,
                "free_slots": 0,
                "queue": None,
                "error": str(exc),
            }
        total = free = 0
        nodes = value.get("nodes", [])
        for node in nodes:
            if node.get("availability", "UP") != "UP":
                continue
            # a node offers a slot per detected browser and session, but runs
            # at most maxSessions sessions at once: count that, not the slots
            slots = [
                s
                for s in node.get("slots", [])
                if (s.get("stereotype") or {}).get("browserName", "chrome")
                in ("chrome", "chromium")
            ]
            used = sum(1 for s in node.get("slots", []) if s.get("session"))
            cap = node.get("maxSessions") or len(slots)
            total += min(len(slots), cap)
            free += max(0, min(len(slots) - used, cap - used))
        queue = None
        try:
            g = requests.post(
                f"{self.hub_url}/graphql",
                json={"query": "{ grid { sessionQueueSize } }"},
                timeout=self.timeout,
            )
            queue = g.json()["data"]["grid"]["sessionQueueSize"]
        except (requests.RequestException, ValueError, KeyError, TypeError):
            pass
        return {
            "reachable": True,
            "ready": bool(value.get("ready")),
            "total_slots": total,
            "free_slots": free,
            "queue": queue,
            "nodes": len(nodes),
        }

    def wait_for_capacity(
        self, need: int = 1, timeout: float = 60.0, interval: float = 1.0
    ) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            st = self.status()
            if st["ready"] and st["free_slots"] >= need and not st.get("queue"):
                return st
            if time.monotonic() >= deadline:
                raise CrawlError(ErrorCode.BROWSER, f"no Grid capacity within {timeout:.0f}s: {st}")
            time.sleep(interval)
