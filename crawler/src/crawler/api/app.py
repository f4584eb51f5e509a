"""FastAPI application: `uvicorn crawler.api.app:app --port 8000`.

create_app wires what every route shares (settings, storage, spool, request
logging, the error bodies); the routes are in crawler.api.routers by area and
their bodies in crawler.api.schemas."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry
from pymongo.errors import PyMongoError
from starlette.exceptions import HTTPException as StarletteHTTPException

from crawler import __version__
from crawler.api.routers import backup, monitoring, results, sources
from crawler.api.schemas import InvalidInput
from crawler.config import Settings
from crawler.errors import ErrorCode
from crawler.logs import request_id, setup_logging
from crawler.metrics import default_metrics
from crawler.source_metrics import SourceCollector
from crawler.storage import Spool, Storage

log = logging.getLogger("crawler.api")


@asynccontextmanager
async def _lifespan(app: FastAPI):
    try:
        app.state.storage.ensure_indexes()
    except PyMongoError as exc:  # /health reports it; indexes are retried by the crawler
        log.warning("cannot create indexes at start-up: %s", exc)
    yield


async def _request_context(request: Request, call_next):
    """X-Request-ID in and out, and one log line per request."""
    rid = request.headers.get("X-Request-ID") or uuid.uuid4().hex
    token = request_id.set(rid)
    t0 = time.perf_counter()
    try:
        response = await call_next(request)
    finally:
        request_id.reset(token)
    response.headers["X-Request-ID"] = rid
    token = request_id.set(rid)
    log.info(
        "request",
        extra={
            "method": request.method,
            "path": request.url.path,
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - t0) * 1000, 2),
            "client": request.client.host if request.client else None,
        },
    )
    request_id.reset(token)
    return response


async def _validation_error(request: Request, exc: RequestValidationError):
    """422 that names the fields: {"detail": "invalid input in: …", "errors": […]}."""
    errors = [
        {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"], "type": e["type"]}
        for e in exc.errors()
    ]
    fields = ", ".join(e["field"] for e in errors)
    return JSONResponse(
        status_code=422, content={"detail": f"invalid input in: {fields}", "errors": errors}
    )


async def _http_error(request: Request, exc: StarletteHTTPException):
    """FastAPI's own 400, a body it cannot read (not UTF-8, not JSON), is bad
    input like any other: 422 naming the body. The routes never raise 400."""
    if exc.status_code == 400:
        return JSONResponse(
            status_code=422,
            content={
                "detail": "invalid input in: body",
                "errors": [
                    {
                        "field": "body",
                        "message": f"{exc.detail}: send a JSON document encoded in UTF-8",
                        "type": "body_unreadable",
                    }
                ],
            },
        )
    return await http_exception_handler(request, exc)


async def _storage_error(request: Request, exc: PyMongoError):
    """MongoDB away: 503 with the error code, not a 500."""
    log.warning("MongoDB error: %s", exc)
    return JSONResponse(
        status_code=503,
        content={"detail": "MongoDB unavailable", "code": str(ErrorCode.STORAGE)},
    )


def _openapi(app: FastAPI):
    """/openapi.json with the 422 body the validation handler really sends:
    FastAPI documents its own default (`detail` a list) for every route."""

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = FastAPI.openapi(app)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            if "HTTPValidationError" in components:
                body = InvalidInput.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(body.pop("$defs", {}))
                components["HTTPValidationError"] = body
                components.pop("ValidationError", None)
            app.openapi_schema = schema
        return app.openapi_schema

    return openapi


def create_app(settings: Settings | None = None, storage: Storage | None = None) -> FastAPI:
    settings = settings or Settings()
    setup_logging()
    app = FastAPI(
        title="Airflow Crawler System API",
        version=__version__,
        lifespan=_lifespan,
        description="Crawler sources, results, errors, self-healing status, backups.",
    )
    app.state.settings = settings
    app.state.storage = storage or Storage(
        settings.mongo_uri, settings.mongo_db, timeout_ms=2000, backup_dir=settings.backup_dir
    )
    app.state.spool = Spool(settings.spool_dir)
    app.state.metrics = default_metrics()
    # Grid, Airflow and backup gauges, read at scrape time: a registry of the
    # app's own, so that a second app in one process does not register twice.
    app.state.source_metrics = CollectorRegistry(auto_describe=False)
    app.state.source_metrics.register(SourceCollector(settings))
    app.middleware("http")(_request_context)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(PyMongoError, _storage_error)
    # in this order: it is the order of /openapi.json's paths
    for area in (monitoring, sources, results, backup):
        app.include_router(area.router)
    app.openapi = _openapi(app)
    return app


class _LazyApp:
    """`crawler.api.app:app` for uvicorn, built on first use so that importing
    this module (tests, OpenAPI export) does not read the environment."""

    _app: FastAPI | None = None
    _lock = threading.Lock()

    def _get(self) -> FastAPI:
        with self._lock:
            if self._app is None:
                self._app = create_app()
        return self._app

    async def __call__(self, scope, receive, send):
        await self._get()(scope, receive, send)

    def __getattr__(self, name):
        return getattr(self._get(), name)


app = _LazyApp()
