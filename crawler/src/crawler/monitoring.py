"""Self-healing status for GET /api/monitoring/health and the CLI."""

from __future__ import annotations

from datetime import timedelta

from crawler import repository
from crawler.fetch.grid import GridClient
from crawler.storage import Spool, Storage, now

DEGRADED_RATE = 0.1
FAILING_RATE = 0.5


def healing_status(
    storage: Storage,
    spool: Spool | None = None,
    hub_url: str | None = None,
    window_minutes: int = 60,
) -> dict:
    since = now() - timedelta(minutes=window_minutes)
    sources = repository.source_modes(storage)
    per: dict[str, dict] = {}
    for run in repository.finished_runs_since(storage, since):
        s = per.setdefault(
            run["source"], {"runs": 0, "pages": 0, "failed": 0, "errors_by_code": {}}
        )
        s["runs"] += 1
        s["pages"] += run.get("pages_total", 0)
        s["failed"] += run.get("pages_failed", 0) + run.get("pages_incomplete", 0)
        for code, n in (run.get("errors_by_code") or {}).items():
            s["errors_by_code"][code] = s["errors_by_code"].get(code, 0) + n
    out_sources = {}
    for name in sorted(set(sources) | set(per)):
        s = per.get(name, {"runs": 0, "pages": 0, "failed": 0, "errors_by_code": {}})
        rate = (s["failed"] / s["pages"]) if s["pages"] else None
        last = repository.last_run(storage, name)
        st = sources.get(name, {}).get("state") or {}
        out_sources[name] = {
            "failure_rate": None if rate is None else round(rate, 4),
            **s,
            "effective_mode": st.get("effective_mode") or sources.get(name, {}).get("mode"),
            "delay_factor": st.get("delay_factor", 1.0),
            "last_run": None
            if last is None
            else {
                "run_id": last["_id"],
                "status": last.get("status"),
                "started_at": last.get("started_at"),
                "finished_at": last.get("finished_at"),
                "pages_ok": last.get("pages_ok"),
                "pages_failed": last.get("pages_failed"),
            },
        }
    active = repository.active_healing_sessions(storage, limit=50)
    recent = repository.healing_outcomes_since(storage, since)
    outcomes: dict[str, dict[str, int]] = {}
    for h in recent:
        o = outcomes.setdefault(h.get("remedy", "?"), {"success": 0, "failure": 0, "active": 0})
        o[h.get("outcome") or "active"] += 1
    grid = (
        GridClient(hub_url, timeout=2.0).status()
        if hub_url
        else {"reachable": False, "error": "not configured"}
    )
    rates = [v["failure_rate"] for v in out_sources.values() if v["failure_rate"] is not None]
    uses_browser = any(
        (v.get("mode") in ("browser", "auto"))
        or (v.get("state") or {}).get("effective_mode") == "browser"
        for v in sources.values()
    )
    status = "healthy"
    reasons = []
    if rates and max(rates) >= FAILING_RATE:
        status = "failing"
        reasons.append(f"a source fails {max(rates):.0%} of its pages")
    elif rates and max(rates) >= DEGRADED_RATE:
        status = "degraded"
        reasons.append(f"a source fails {max(rates):.0%} of its pages")
    spooled = spool.size() if spool else 0
    if status == "healthy" and (active or spooled):
        status = "degraded"
        reasons.append("healing in progress" if active else "results waiting in the spool")
    quarantined = spool.quarantined() if spool else 0
    if quarantined:
        if status == "healthy":
            status = "degraded"
        reasons.append(f"{quarantined} unreadable spool line(s) set aside in quarantine")
    if status == "healthy" and uses_browser and not grid.get("ready"):
        status = "degraded"
        reasons.append("Selenium Grid not ready")
    return {
        "status": status,
        "reasons": reasons,
        "window_minutes": window_minutes,
        "sources": out_sources,
        "active_healing_sessions": [
            {
                "id": h["_id"],
                "source": h.get("source"),
                "code": h.get("code"),
                "remedy": h.get("remedy"),
                "started_at": h.get("started_at"),
                "url": h.get("url"),
            }
            for h in active
        ],
        "healing_outcomes": outcomes,
        "grid": grid,
        "spool_records": spooled,
        "spool_quarantined": quarantined,
    }
