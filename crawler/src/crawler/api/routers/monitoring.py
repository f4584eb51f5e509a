"""Health, metrics, errors and self-healing status: the runbooks' first reads."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pymongo.errors import PyMongoError

from crawler import __version__, repository
from crawler.api.dependencies import SettingsDep, SpoolDep, StorageDep
from crawler.api.schemas import (
    ErrorCodeInfo,
    ErrorList,
    HealingSessionList,
    MonitoringHealth,
    ServiceHealth,
    as_item,
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


@router.get("/metrics", tags=["health"])
def prom_metrics(request: Request, spool: SpoolDep):
    request.app.state.metrics.spool.set(spool.size())
    request.app.state.metrics.spool_quarantined.set(spool.quarantined())
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@router.get("/api/errors", tags=["monitoring"], response_model=ErrorList)
def errors(
    storage: StorageDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    source: str | None = None,
    code: Annotated[str | None, Query(pattern=CODE_PATTERN)] = None,
    since: datetime | None = None,
):
    docs = repository.recent_errors(storage, source=source, code=code, since=since, limit=limit)
    return {"items": [as_item(d) for d in docs], "limit": limit}


@router.get("/api/errors/codes", tags=["monitoring"], response_model=dict[str, ErrorCodeInfo])
def error_codes():
    return {str(c): {"meaning": m, "remedy": r} for c, (m, r) in ERROR_CODES.items()}


@router.get("/api/monitoring/health", tags=["monitoring"], response_model=MonitoringHealth)
def monitoring_health(
    settings: SettingsDep,
    storage: StorageDep,
    spool: SpoolDep,
    window_minutes: Annotated[int | None, Query(ge=1, le=10080)] = None,
):
    return healing_status(
        storage,
        spool,
        settings.selenium_hub_url,
        window_minutes or settings.health_window_minutes,
    )


@router.get("/api/healing", tags=["monitoring"], response_model=HealingSessionList)
def healing_sessions(
    storage: StorageDep,
    status: Literal["active", "finished"] | None = None,
    source: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
):
    docs = repository.healing_sessions(storage, status=status, source=source, limit=limit)
    return {"items": [as_item(d) for d in docs]}
