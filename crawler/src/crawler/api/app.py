"""FastAPI application: `uvicorn crawler.api.app:app --port 8000`."""

from __future__ import annotations

import hmac
import logging
import threading
import time
import uuid
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Literal

import requests
from fastapi import BackgroundTasks, Depends, FastAPI, Header, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field
from pymongo import DESCENDING
from pymongo.errors import DuplicateKeyError, PyMongoError

from crawler import __version__
from crawler import backup as backup_engine
from crawler.config import Settings
from crawler.errors import CODE_PATTERN, ERROR_CODES, ErrorCode
from crawler.logs import request_id, setup_logging
from crawler.metrics import default_metrics
from crawler.models import NAME_RE, Source, SourceIn, SourcePatch
from crawler.monitoring import healing_status
from crawler.storage import Spool, Storage, new_id, now

log = logging.getLogger("crawler.api")

SourceId = Annotated[str, Path(pattern=NAME_RE, description="source name")]


class BackupTrigger(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field(default="api", pattern=r"^[A-Za-z0-9._-]{1,64}$")
    databases: list[str] | None = None


class RestoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    backup: str | None = Field(
        default=None, description="backup name or archive path; null = newest good one"
    )
    check_mode: bool = Field(default=False, description="only report what would be replaced")
    confirm: bool = Field(
        default=False, description="must be true for a real restore: current data is replaced"
    )
    skip_safety_backup: bool = False


def _clean(doc: dict | None) -> dict | None:
    if doc is None:
        return None
    out = dict(doc)
    if "_id" in out:
        out["id"] = str(out.pop("_id"))
    return out


def create_app(settings: Settings | None = None, storage: Storage | None = None) -> FastAPI:
    settings = settings or Settings()
    setup_logging()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        try:
            app.state.storage.ensure_indexes()
        except PyMongoError as exc:  # /health reports it; indexes are retried by the crawler
            log.warning("cannot create indexes at start-up: %s", exc)
        yield

    app = FastAPI(
        title="Airflow Crawler System API",
        version=__version__,
        lifespan=lifespan,
        description="Crawler sources, results, errors, self-healing status, backups.",
    )
    app.state.settings = settings
    app.state.storage = storage or Storage(settings.mongo_uri, settings.mongo_db, timeout_ms=2000)
    app.state.spool = Spool(settings.spool_dir)
    metrics = default_metrics()

    def st() -> Storage:
        return app.state.storage

    # --- cross-cutting ----------------------------------------------------------
    @app.middleware("http")
    async def request_context(request: Request, call_next):
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

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"], "type": e["type"]}
            for e in exc.errors()
        ]
        fields = ", ".join(e["field"] for e in errors)
        return JSONResponse(
            status_code=422, content={"detail": f"invalid input in: {fields}", "errors": errors}
        )

    @app.exception_handler(PyMongoError)
    async def storage_error(request: Request, exc: PyMongoError):
        log.warning("MongoDB error: %s", exc)
        return JSONResponse(
            status_code=503,
            content={"detail": "MongoDB unavailable", "code": str(ErrorCode.STORAGE)},
        )

    def require_key(x_api_key: Annotated[str | None, Header()] = None) -> None:
        if x_api_key is None:
            raise HTTPException(
                401, "missing X-API-Key header", headers={"WWW-Authenticate": "ApiKey"}
            )
        ok = False
        for key in settings.api_keys:  # compare with every key: no early exit to time
            ok |= hmac.compare_digest(x_api_key.encode(), key.encode())
        if not ok:
            raise HTTPException(401, "invalid API key", headers={"WWW-Authenticate": "ApiKey"})

    auth = [Depends(require_key)]

    # --- health & metrics -------------------------------------------------------
    @app.get("/health", tags=["health"])
    def health():
        comps: dict[str, dict] = {}
        try:
            comps["mongodb"] = {"status": "up", "latency_ms": round(st().ping() * 1000, 2)}
        except PyMongoError as exc:
            comps["mongodb"] = {"status": "down", "error": str(exc).split(",")[0][:200]}
        comps["spool"] = {"status": "up", "records": app.state.spool.size()}
        ok = comps["mongodb"]["status"] == "up"
        body = {
            "status": "healthy" if ok else "unhealthy",
            "version": __version__,
            "components": comps,
        }
        return JSONResponse(status_code=200 if ok else 503, content=body)

    @app.get("/metrics", tags=["health"])
    def prom_metrics():
        metrics.spool.set(app.state.spool.size())
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    # --- errors & monitoring ----------------------------------------------------
    @app.get("/api/errors", tags=["monitoring"])
    def errors(
        limit: Annotated[int, Query(ge=1, le=1000)] = 20,
        source: str | None = None,
        code: Annotated[str | None, Query(pattern=CODE_PATTERN)] = None,
        since: datetime | None = None,
    ):
        q: dict = {}
        if source:
            q["source"] = source
        if code:
            q["code"] = code
        if since:
            q["ts"] = {"$gte": since}
        docs = st().db.error_logs.find(q).sort("ts", DESCENDING).limit(limit)
        return {"items": [_clean(d) for d in docs], "limit": limit}

    @app.get("/api/errors/codes", tags=["monitoring"])
    def error_codes():
        return {str(c): {"meaning": m, "remedy": r} for c, (m, r) in ERROR_CODES.items()}

    @app.get("/api/monitoring/health", tags=["monitoring"])
    def monitoring_health(window_minutes: Annotated[int | None, Query(ge=1, le=10080)] = None):
        return healing_status(
            st(),
            app.state.spool,
            settings.selenium_hub_url,
            window_minutes or settings.health_window_minutes,
        )

    @app.get("/api/healing", tags=["monitoring"])
    def healing_sessions(
        status: Literal["active", "finished"] | None = None,
        source: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    ):
        q = {k: v for k, v in {"status": status, "source": source}.items() if v}
        docs = st().db.healing_sessions.find(q).sort("started_at", DESCENDING).limit(limit)
        return {"items": [_clean(d) for d in docs]}

    # --- sources ----------------------------------------------------------------
    @app.get("/api/sources", tags=["sources"])
    def list_sources():
        return {"items": [_clean(d) for d in st().db.sources.find().sort("_id")]}

    @app.post("/api/sources", status_code=201, dependencies=auth, tags=["sources"])
    def create_source(body: SourceIn):
        doc = Source(**body.model_dump()).to_doc()
        doc["created_at"] = doc["updated_at"] = now()
        try:
            st().db.sources.insert_one(doc)
        except DuplicateKeyError as exc:
            raise HTTPException(
                409, f"source {body.name!r} exists; use PUT /api/sources/{body.name}"
            ) from exc
        return _clean(doc)

    @app.get("/api/sources/{source_id}", tags=["sources"])
    def get_source(source_id: SourceId):
        doc = st().db.sources.find_one({"_id": source_id})
        if doc is None:
            raise HTTPException(404, f"source {source_id!r} not found")
        return _clean(doc)

    @app.put("/api/sources/{source_id}", dependencies=auth, tags=["sources"])
    def replace_source(source_id: SourceId, body: SourceIn):
        if body.name != source_id:
            raise HTTPException(
                422,
                {
                    "detail": "invalid input in: body.name",
                    "errors": [
                        {"field": "body.name", "message": f"must equal the path id {source_id!r}"}
                    ],
                },
            )
        old = st().db.sources.find_one({"_id": source_id}) or {}
        doc = Source(**body.model_dump()).to_doc()
        doc["state"] = old.get("state", doc["state"])
        doc["created_at"] = old.get("created_at", now())
        doc["updated_at"] = now()
        st().db.sources.replace_one({"_id": source_id}, doc, upsert=True)
        return _clean(doc)

    @app.patch("/api/sources/{source_id}", dependencies=auth, tags=["sources"])
    def patch_source(source_id: SourceId, body: SourcePatch):
        old = st().db.sources.find_one({"_id": source_id})
        if old is None:
            raise HTTPException(404, f"source {source_id!r} not found")
        merged = {
            **Source.from_doc(old).model_dump(mode="json"),
            **body.model_dump(mode="json", exclude_unset=True),
        }
        src = Source.model_validate(merged)
        doc = src.to_doc()
        doc["created_at"] = old.get("created_at", now())
        doc["updated_at"] = now()
        st().db.sources.replace_one({"_id": source_id}, doc)
        return _clean(doc)

    @app.delete("/api/sources/{source_id}", status_code=204, dependencies=auth, tags=["sources"])
    def delete_source(source_id: SourceId):
        if st().db.sources.delete_one({"_id": source_id}).deleted_count == 0:
            raise HTTPException(404, f"source {source_id!r} not found")
        return Response(status_code=204)

    @app.post(
        "/api/sources/{source_id}/crawl", status_code=202, dependencies=auth, tags=["sources"]
    )
    def trigger_crawl(source_id: SourceId, background: BackgroundTasks):
        doc = st().db.sources.find_one({"_id": source_id})
        if doc is None:
            raise HTTPException(404, f"source {source_id!r} not found")
        if settings.airflow_api_url:
            return {"via": "airflow", **_trigger_airflow(settings, source_id)}
        run_id = new_id()
        source = Source.from_doc(doc)

        def _run():
            from crawler.engine import crawl_source

            try:
                crawl_source(
                    source,
                    Storage(settings.mongo_uri, settings.mongo_db),
                    settings,
                    run_id=run_id,
                    trigger="api",
                )
            except Exception:
                log.exception("crawl of %s failed", source_id)

        threading.Thread(target=_run, name=f"crawl-{source_id}", daemon=True).start()
        return {"via": "local", "run_id": run_id, "source": source_id}

    # --- results & runs ---------------------------------------------------------
    @app.get("/api/results", tags=["results"])
    def results(
        source: str | None = None,
        status: Literal["ok", "incomplete"] | None = None,
        since: datetime | None = None,
        url_contains: str | None = None,
        page: Annotated[int, Query(ge=1)] = 1,
        page_size: Annotated[int, Query(ge=1, le=500)] = 50,
    ):
        q: dict = {}
        if source:
            q["source"] = source
        if status:
            q["status"] = status
        if since:
            q["fetched_at"] = {"$gte": since}
        if url_contains:
            import re

            q["url"] = {"$regex": re.escape(url_contains)}
        total = st().db.crawl_results.count_documents(q)
        docs = (
            st()
            .db.crawl_results.find(q)
            .sort([("fetched_at", DESCENDING), ("_id", DESCENDING)])
            .skip((page - 1) * page_size)
            .limit(page_size)
        )
        return {
            "items": [_clean(d) for d in docs],
            "page": page,
            "page_size": page_size,
            "total": total,
        }

    @app.get("/api/runs", tags=["results"])
    def runs(source: str | None = None, limit: Annotated[int, Query(ge=1, le=500)] = 20):
        q = {"source": source} if source else {}
        return {
            "items": [
                _clean(d)
                for d in st().db.crawl_runs.find(q).sort("started_at", DESCENDING).limit(limit)
            ]
        }

    # --- backups (the one engine: module_utils/acs_backup.py) ---------------------
    def _backup_call(fn, *a, **kw):
        try:
            return fn(*a, **kw)
        except backup_engine.BackupUnavailable as exc:
            raise HTTPException(503, str(exc)) from exc
        except backup_engine.error_types() as exc:
            raise HTTPException(409, f"backup engine: {exc}") from exc

    @app.post("/api/backup/trigger", dependencies=auth, tags=["backup"])
    def backup_trigger(body: BackupTrigger | None = None):
        body = body or BackupTrigger()
        opts = {"databases": body.databases} if body.databases else {}
        result = _backup_call(
            backup_engine.run_backup,
            settings.mongo_uri,
            str(settings.backup_dir),
            label=body.label,
            **opts,
        )
        return result

    @app.get("/api/backup/", tags=["backup"])
    @app.get("/api/backup", include_in_schema=False)
    def backup_list():
        return {
            "backup_dir": str(settings.backup_dir),
            "items": _backup_call(backup_engine.list_backups, str(settings.backup_dir)),
        }

    @app.post("/api/backup/restore", dependencies=auth, tags=["backup"])
    def backup_restore(body: RestoreRequest):
        if not body.check_mode and not body.confirm:
            return JSONResponse(
                status_code=422,
                content={
                    "detail": "invalid input in: body.confirm",
                    "errors": [
                        {
                            "field": "body.confirm",
                            "message": "restore replaces current data: send confirm=true (a safety backup is taken "
                            "first), or check_mode=true to see what would change",
                        }
                    ],
                },
            )
        return _backup_call(
            backup_engine.restore,
            settings.mongo_uri,
            body.backup,
            str(settings.backup_dir),
            check_mode=body.check_mode,
            skip_safety_backup=body.skip_safety_backup,
        )

    return app


def _trigger_airflow(settings: Settings, source_id: str) -> dict:
    """Airflow 3 REST API: get a JWT from /auth/token, then create a DAG run."""
    base = settings.airflow_api_url.rstrip("/")
    headers = {}
    try:
        if settings.airflow_username:
            tok = requests.post(
                f"{base}/auth/token",
                json={"username": settings.airflow_username, "password": settings.airflow_password},
                timeout=10,
            )
            tok.raise_for_status()
            headers["Authorization"] = f"Bearer {tok.json()['access_token']}"
        r = requests.post(
            f"{base}/api/v2/dags/crawl_{source_id}/dagRuns",
            headers=headers,
            json={"logical_date": None, "conf": {"trigger": "api"}},
            timeout=10,
        )
    except requests.RequestException as exc:
        raise HTTPException(502, f"Airflow not reachable at {base}: {exc}") from exc
    if r.status_code == 404:
        # A source created a moment ago has no DAG until the DAG processor's
        # next parse: that is "not yet", not an Airflow failure.
        raise HTTPException(
            503,
            f"Airflow does not know DAG crawl_{source_id} yet: the DAG processor creates it on its next "
            "parse of crawl_dags.py (every AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL seconds); retry shortly",
            headers={"Retry-After": "30"},
        )
    if r.status_code >= 400:
        raise HTTPException(502, f"Airflow refused the run ({r.status_code}): {r.text[:300]}")
    data = r.json()
    return {
        "run_id": data.get("dag_run_id"),
        "dag_id": f"crawl_{source_id}",
        "state": data.get("state"),
    }


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
