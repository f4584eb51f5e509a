"""Health, metrics, errors and self-healing status: the runbooks' first reads."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pymongo.errors import PyMongoError

from crawler import __version__, repository
from crawler.api.dependencies import READ, OptionalKeyDep, SettingsDep, SpoolDep, StorageDep
from crawler.api.schemas import (
    ErrorCodeInfo,
    ErrorList,
    HealingSessionList,
    MonitoringHealth,
    MonitoringSummary,
    ServiceHealth,
    as_item,
    problems,
)
from crawler.errors import CODE_PATTERN, ERROR_CODES
from crawler.monitoring import healing_status

# An explicit response class: FastAPI then encodes bodies as it always did
# (JSONResponse), not with its pydantic fast path.
router = APIRouter(default_response_class=JSONResponse)


@router.get(
    "/health",
    tags=["health"],
    response_model=ServiceHealth,
    responses={503: {"model": ServiceHealth, "description": "MongoDB down"}},
)
def health(storage: StorageDep, spool: SpoolDep):
    comps: dict[str, dict] = {}
    try:
        comps["mongodb"] = {"status": "up", "latency_ms": round(storage.ping() * 1000, 2)}
    except PyMongoError as exc:
        comps["mongodb"] = {"status": "down", "error": str(exc).split(",")[0][:200]}
    comps["spool"] = {
        "status": "up",
        "records": spool.size(),
        "quarantined": spool.quarantined(),
    }
    ok = comps["mongodb"]["status"] == "up"
    body = {
        "status": "healthy" if ok else "unhealthy",
        "version": __version__,
        "components": comps,
    }
    return JSONResponse(status_code=200 if ok else 503, content=body)


# Documented as what it is, Prometheus' text format, not the router's JSON.
@router.get(
    "/metrics",
    tags=["health"],
    response_class=PlainTextResponse,
    responses={200: {"description": "Prometheus text exposition format"}},
)
def prom_metrics(request: Request, spool: SpoolDep):
    request.app.state.metrics.spool.set(spool.size())
    request.app.state.metrics.spool_quarantined.set(spool.quarantined())
    body = generate_latest() + generate_latest(request.app.state.source_metrics)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


@router.get(
    "/api/errors",
    tags=["monitoring"],
    response_model=ErrorList,
    dependencies=READ,
    responses=problems(401, 503),
)
def errors(
    storage: StorageDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    source: str | None = None,
    code: Annotated[str | None, Query(pattern=CODE_PATTERN)] = None,
    since: datetime | None = None,
):
    docs = repository.recent_errors(storage, source=source, code=code, since=since, limit=limit)
    return {"items": [as_item(d) for d in docs], "limit": limit}


# The codes' documentation, behind a key all the same: every /api/ route that
# returns a body needs one, except the health check below.
@router.get(
    "/api/errors/codes",
    tags=["monitoring"],
    response_model=dict[str, ErrorCodeInfo],
    dependencies=READ,
    responses=problems(401),
)
def error_codes():
    return {str(c): {"meaning": m, "remedy": r} for c, (m, r) in ERROR_CODES.items()}


# Grid fields a health check needs; its error text names internal hosts.
_GRID_SUMMARY = ("reachable", "ready", "nodes", "total_slots", "free_slots", "queue")


def _summary(status: dict) -> dict:
    """What anyone may see: the verdict and counts. Source names, their
    figures and the healing sessions' URLs need a key."""
    grid = status["grid"]
    return {
        "status": status["status"],
        "reasons": status["reasons"],
        "window_minutes": status["window_minutes"],
        "healing_outcomes": status["healing_outcomes"],
        "grid": {k: grid[k] for k in _GRID_SUMMARY if k in grid},
        "spool_records": status["spool_records"],
        "spool_quarantined": status["spool_quarantined"],
        "note": "sources and active_healing_sessions need an X-API-Key (read-only or admin)",
    }


# Open, like /health: monitors and the runbook's first look need no key. With
# a key (either kind) the answer adds the per-source figures and sessions.
@router.get(
    "/api/monitoring/health",
    tags=["monitoring"],
    response_model=MonitoringHealth | MonitoringSummary,
    # OpenAPI: the key is optional here ({} = no key is also accepted).
    openapi_extra={"security": [{}]},
    responses=problems(401, 503),
)
def monitoring_health(
    settings: SettingsDep,
    storage: StorageDep,
    spool: SpoolDep,
    key: OptionalKeyDep,
    window_minutes: Annotated[int | None, Query(ge=1, le=10080)] = None,
):
    status = healing_status(
        storage,
        spool,
        settings.selenium_hub_url,
        window_minutes or settings.health_window_minutes,
    )
    return status if key else _summary(status)


@router.get(
    "/api/healing",
    tags=["monitoring"],
    response_model=HealingSessionList,
    dependencies=READ,
    responses=problems(401, 503),
)
def healing_sessions(
    storage: StorageDep,
    status: Literal["active", "finished"] | None = None,
    source: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
):
    docs = repository.healing_sessions(storage, status=status, source=source, limit=limit)
    return {"items": [as_item(d) for d in docs]}
