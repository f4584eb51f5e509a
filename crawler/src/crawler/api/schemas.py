"""The API's request and response bodies.

The response models below are the one place that declares the field names the API's consumers read: the runbook playbooks
(recover_crawl_failures.yml, status.yml, weekly_check.yml), the molecule
checks and tests/integration/crawler/test_api.py. Rename a field here and in
those consumers together, never in a handler alone.

A response model checks that the fields it declares are there with their
types and lets every other field through (extra="allow"); the body is sent
exactly as the handler built it, encoded as FastAPI did before these models
existed (jsonable_encoder: datetimes as isoformat() "+00:00", key order kept),
so declaring a field never changes the JSON the API returns."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)


def as_item(doc: dict | None) -> dict | None:
    """A MongoDB document as the API shows it: `_id` becomes `id`."""
    if doc is None:
        return None
    out = dict(doc)
    if "_id" in out:
        out["id"] = str(out.pop("_id"))
    return out


# --- requests ------------------------------------------------------------------


DATABASE_NAME = r"^[A-Za-z0-9_-]{1,63}$"


class BackupTrigger(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field(default="api", pattern=r"^[A-Za-z0-9._-]{1,64}$")
    # MongoDB's (and FerretDB's stricter) database names: anything else made
    # the driver raise InvalidName, answered as "MongoDB unavailable" (503).
    databases: list[Annotated[str, Field(pattern=DATABASE_NAME)]] | None = None


# A backup's name as GET /api/backup/ lists it: never a path, so a caller can
# neither restore from nor probe for files outside the backup directory.
BACKUP_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"


class RestoreRequest(BaseModel):
    """The safety backup taken before a restore cannot be skipped over HTTP
    (only the mongodb_restore module offers that, to an operator)."""

    model_config = ConfigDict(extra="forbid")
    backup: str | None = Field(
        default=None,
        pattern=BACKUP_NAME,
        description="name of a backup as GET /api/backup/ lists it; null = newest good one",
    )
    check_mode: bool = Field(default=False, description="only report what would be replaced")
    confirm: bool = Field(
        default=False, description="must be true for a real restore: current data is replaced"
    )


# --- responses -----------------------------------------------------------------


class FieldError(BaseModel):
    field: str = Field(description="where the bad input is, e.g. query.limit or body.name")
    message: str = Field(description="what is wrong and how to fix it")
    type: str | None = None


class InvalidInput(BaseModel):
    """Every 422 of the API (app.py's validation handler and the routes' own
    checks): `detail` names the fields, `errors` says what is wrong in each."""

    detail: str
    errors: list[FieldError]


def invalid_input(field: str, message: str) -> JSONResponse:
    """A route's own 422, in the validation handler's shape."""
    body = InvalidInput(
        detail=f"invalid input in: {field}",
        errors=[FieldError(field=field, message=message, type="value_error")],
    )
    return JSONResponse(status_code=422, content=body.model_dump())


class Problem(BaseModel):
    """The body of the API's other errors (401, 403, 404, 409, 502, 503)."""

    detail: str
    code: str | None = Field(default=None, description="error code, see GET /api/errors/codes")


_PROBLEMS = {
    401: "missing or invalid X-API-Key",
    403: "the key is read-only: this route needs an admin key",
    404: "no such resource",
    409: "refused: the current state does not allow it (the detail says why)",
    502: "Airflow unreachable or refused the run",
    503: "a dependency is unavailable (MongoDB, Airflow not ready, backup engine); retry",
}


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` of a route: the error codes it can answer besides 422."""
    return {c: {"model": Problem, "description": _PROBLEMS[c]} for c in codes}


class ResponseModel(BaseModel):
    """Validates the declared fields; sends the body as the handler built it."""

    model_config = ConfigDict(extra="allow")
    _body: Any = PrivateAttr(default=None)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_body(cls, data: Any, handler):
        model = handler(data)
        if isinstance(data, dict):
            model._body = data
        return model

    @model_serializer(mode="wrap")
    def _as_built(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo):
        if self._body is not None and info.mode_is_json():
            return jsonable_encoder(self._body)
        return handler(self)


class BackupItem(ResponseModel):
    """One backup as the engine lists it: its manifest plus whether it verified."""

    name: str
    good: bool
    archive: str | None = None
    path: str | None = None
    manifest_path: str | None = None
    label: str | None = None
    size: int | None = None
    sha256: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    totals: dict | None = None


class RejectedBackup(ResponseModel):
    name: str
    reason: str = Field(description="why it is not trusted, e.g. unsigned, signature mismatch")


class RestoreDrillRun(ResponseModel):
    """One restore drill as recorded (the engine's drill.py)."""

    backup: str | None = None
    result: str = Field(description="passed or failed")
    failed_checks: list[str] = Field(default_factory=list)
    skipped_checks: list[str] = Field(
        default_factory=list, description="checks an old manifest could not support"
    )
    started_at: str | None = None
    finished_at: str | None = None
    duration_seconds: float | None = None
    rto_seconds: float | None = Field(
        default=None, description="recovery time: throwaway server start to restored copy"
    )
    restore_seconds: float | None = None
    check_seconds: float | None = None


class RestoreDrillRecord(ResponseModel):
    last: RestoreDrillRun | None = None
    last_passed: RestoreDrillRun | None = Field(
        default=None, description="the last verified restore"
    )


class BackupList(ResponseModel):
    backup_dir: str
    items: list[BackupItem]
    rejected: list[RejectedBackup] = Field(
        default_factory=list,
        description="backups ignored (never restored) and orphan files; adopt old unsigned "
        "backups with the backup playbook's backup_sign_existing=true",
    )
    drill: RestoreDrillRecord | None = Field(
        default=None,
        description="the last restore drill and the last that passed "
        "(playbooks/runbook/restore_drill.yml, restore_drill_dag); null before the first",
    )


class SourceItem(ResponseModel):
    id: str
    name: str
    enabled: bool
    mode: Literal["static", "browser", "auto"]
    start_urls: list[str]
    fields: dict[str, dict]
    links: dict
    schedule: str | None = None
    state: dict | None = None


class SourceList(ResponseModel):
    items: list[SourceItem]


class ErrorItem(ResponseModel):
    id: str
    ts: datetime
    source: str | None
    code: str
    url: str | None
    message: str


class ErrorList(ResponseModel):
    items: list[ErrorItem]
    limit: int


class ErrorCodeInfo(ResponseModel):
    meaning: str
    remedy: str


class ResultItem(ResponseModel):
    id: str
    source: str
    url: str
    fields: dict | None = None
    fetched_at: datetime | None = None


class ResultPage(ResponseModel):
    items: list[ResultItem]
    page: int
    page_size: int
    total: int


class RunItem(ResponseModel):
    id: str
    source: str
    status: str
    started_at: datetime
    pages_ok: int | None = None


class RunList(ResponseModel):
    items: list[RunItem]


class HealingSessionItem(ResponseModel):
    id: str
    source: str | None
    remedy: str
    status: Literal["active", "finished"]
    outcome: Literal["success", "failure"] | None


class HealingSessionList(ResponseModel):
    items: list[HealingSessionItem]


class LastRun(ResponseModel):
    run_id: str
    status: str | None
    started_at: datetime | None


class SourceHealth(ResponseModel):
    failure_rate: float | None
    runs: int
    pages: int
    failed: int
    errors_by_code: dict[str, int]
    last_run: LastRun | None


class ActiveHealingSession(ResponseModel):
    id: str
    source: str | None
    remedy: str | None
    started_at: datetime | None


class GridStatus(ResponseModel):
    """What the Grid's /status said; `ready` and the slots only when reachable."""

    reachable: bool
    ready: bool = False
    nodes: int = 0
    total_slots: int = 0
    free_slots: int = 0


class MonitoringSummary(ResponseModel):
    """GET /api/monitoring/health without a key: the verdict and counts, no
    source names, URLs or internal addresses."""

    status: Literal["healthy", "degraded", "failing"]
    reasons: list[str]
    window_minutes: int
    healing_outcomes: dict[str, dict[str, int]]
    grid: GridStatus
    spool_records: int
    spool_quarantined: int = 0
    note: str


class MonitoringHealth(ResponseModel):
    """GET /api/monitoring/health with a key of either kind: the full status."""

    status: Literal["healthy", "degraded", "failing"]
    reasons: list[str]
    window_minutes: int
    sources: dict[str, SourceHealth]
    active_healing_sessions: list[ActiveHealingSession]
    healing_outcomes: dict[str, dict[str, int]]
    grid: GridStatus
    spool_records: int
    spool_quarantined: int = 0


class ServiceHealth(ResponseModel):
    """GET /health: 200 healthy, 503 unhealthy (MongoDB down)."""

    status: Literal["healthy", "unhealthy"]
    version: str
    components: dict[str, dict]


class BackupJob(ResponseModel):
    """A backup or restore run by the API (POST /api/backup/trigger or
    /restore answer 202 with it; GET /api/backup/jobs/{id} follows it).
    `result` is the engine's result when it succeeded, `error` its message
    when it failed (a restore's error also says whether the safety backup
    was put back)."""

    id: str
    kind: Literal["backup", "restore"]
    state: Literal["queued", "running", "succeeded", "failed"]
    params: dict
    created: str
    started: str | None
    finished: str | None
    heartbeat: str | None
    host: str
    pid: int
    result: dict | None
    error: str | None
    abandoned: bool = False


class BackupJobList(ResponseModel):
    items: list[BackupJob]


class RestorePlan(ResponseModel):
    """A check-mode restore: what would be replaced; nothing changes."""

    check_mode: Literal[True]
    archive: str
    replaced: list[dict]
    plan: dict
