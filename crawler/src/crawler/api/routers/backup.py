"""Backups and restores, through the one backup engine (crawler.backup), as
jobs (crawler.jobs) that every API replica sees.

POST /api/backup/trigger and a real POST /api/backup/restore answer 202 with
the job and its Location; GET /api/backup/jobs/{id} follows it to the
engine's result or error. A check-mode restore changes nothing and takes a
few seconds, so it stays synchronous: 200 with the plan."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Response
from fastapi.responses import JSONResponse

from crawler import backup as backup_engine
from crawler import jobs
from crawler._backup_engine.marker import describe, restore_in_progress
from crawler.api.airflow import crawl_dags_paused
from crawler.api.dependencies import AUTH, READ, SettingsDep
from crawler.api.schemas import (
    BackupJob,
    BackupJobList,
    BackupList,
    BackupTrigger,
    Problem,
    RestorePlan,
    RestoreRequest,
    invalid_input,
    problems,
)
from crawler.config import Settings

router = APIRouter(default_response_class=JSONResponse, tags=["backup"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        max_length=200,
        description="a retry with the same key answers the job the first request started",
    ),
]
JobId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="job id")]
_BUSY = {409: {"model": Problem, "description": "a restore (or, for a restore, a backup) runs"}}


def _backup_call(fn, *a, **kw):
    """The engine's failures as HTTP: 503 when it cannot run here, 409 when it refuses."""
    try:
        return fn(*a, **kw)
    except backup_engine.BackupUnavailable as exc:
        raise HTTPException(503, str(exc)) from exc
    except backup_engine.error_types() as exc:
        raise HTTPException(409, f"backup engine: {exc}") from exc


def restore_running(settings: Settings) -> str | None:
    """What restores now, from any replica, the DAG or Ansible; None when nothing."""
    info = restore_in_progress(settings.backup_dir)
    if info is not None:
        return describe(info)
    active = jobs.JobStore(settings.backup_dir).active("restore")
    return f"restore job {active[0]['id']}" if active else None


def writable(settings: SettingsDep) -> None:
    """Mutations that start crawls or change sources wait for a restore to end."""
    running = restore_running(settings)
    if running:
        raise HTTPException(
            409,
            f"restore in progress ({running}): the data is being replaced; try again when it "
            "has finished (GET /api/backup/jobs/{id})",
            headers={"Retry-After": "30"},
        )


# For the sources router: after the key check, so a caller without a key learns nothing.
NOT_RESTORING = [*AUTH, Depends(writable)]
RESTORING = {
    409: {"model": Problem, "description": "restore in progress (POST: or the source exists)"}
}


def _accepted(response: Response, job: dict) -> dict:
    response.headers["Location"] = f"/api/backup/jobs/{job['id']}"
    return job


def _known_job(store: jobs.JobStore, job_id: str, response: Response) -> dict | None:
    job = store.get(job_id)
    return _accepted(response, job) if job is not None else None


@router.post(
    "/api/backup/trigger",
    dependencies=AUTH,
    status_code=202,
    response_model=BackupJob,
    responses={**problems(401, 403, 503), **_BUSY},
)
def backup_trigger(
    settings: SettingsDep,
    response: Response,
    body: BackupTrigger | None = None,
    idempotency_key: IdempotencyKey = None,
):
    body = body or BackupTrigger()
    store = jobs.JobStore(settings.backup_dir)
    job_id = jobs.job_id_for("backup", idempotency_key)
    if (known := _known_job(store, job_id, response)) is not None:
        return known
    running = restore_running(settings)
    if running:
        # A backup now would queue behind the restore and save its result:
        # a backup of the restored data is taken by asking again afterwards.
        raise HTTPException(409, f"restore in progress ({running}): back up after it finished")
    opts = {"databases": body.databases} if body.databases else {}

    def work():
        return backup_engine.run_backup(
            settings.mongo_uri,
            str(settings.backup_dir),
            label=body.label,
            **settings.backup_retention(),
            **opts,
        )

    # Parallel triggers queue on the directory lock, each under its own name.
    job = jobs.start_job(
        store,
        "backup",
        body.model_dump(),
        work,
        lock_timeout=settings.backup_lock_timeout,
        job_id=job_id,
    )
    return _accepted(response, job)


@router.get(
    "/api/backup/",
    response_model=BackupList,
    dependencies=READ,
    responses=problems(401, 409, 503),
)
@router.get("/api/backup", include_in_schema=False, response_model=BackupList, dependencies=READ)
def backup_list(settings: SettingsDep):
    scan = _backup_call(backup_engine.scan_backups, str(settings.backup_dir))
    return {
        "backup_dir": str(settings.backup_dir),
        "items": scan["backups"],
        # Unsigned, altered or future-dated manifests and orphans: never
        # restored, so the operator sees why a backup is missing from items.
        "rejected": [{"name": r["name"], "reason": r["reason"]} for r in scan["rejected"]],
        "drill": backup_engine.last_drill(str(settings.backup_dir)),
    }


@router.get(
    "/api/backup/jobs", response_model=BackupJobList, dependencies=READ, responses=problems(401)
)
def backup_jobs(settings: SettingsDep):
    items = jobs.JobStore(settings.backup_dir).jobs()
    return {"items": sorted(items, key=lambda j: j["created"], reverse=True)}


@router.get(
    "/api/backup/jobs/{job_id}",
    response_model=BackupJob,
    dependencies=READ,
    responses={**problems(401), 404: {"model": Problem, "description": "no such job"}},
)
def backup_job(settings: SettingsDep, job_id: JobId):
    job = jobs.JobStore(settings.backup_dir).get(job_id)
    if job is None:
        raise HTTPException(404, "no such job: GET /api/backup/jobs lists them")
    return job


def _restore_work(settings: Settings, backup: str | None):
    def work():
        dags: dict = {}
        with crawl_dags_paused(settings, dags):
            try:
                result = backup_engine.restore(settings.mongo_uri, backup, str(settings.backup_dir))
            except backup_engine.error_types() as exc:
                raise type(exc)(f"{exc} (crawl DAGs: {_dags_said(dags)})") from exc
        result["crawl_dags"] = dags
        return result

    return work


def _dags_said(dags: dict) -> str:
    if dags.get("error"):
        return dags["error"]
    return f"paused and resumed {dags.get('resumed') or 'none'}"


@router.post(
    "/api/backup/restore",
    dependencies=AUTH,
    status_code=202,
    response_model=BackupJob,
    responses={
        **problems(401, 403, 503),
        200: {"model": RestorePlan, "description": "check_mode: what would change"},
        404: {"model": Problem, "description": "no such backup"},
        **_BUSY,
    },
)
def backup_restore(
    settings: SettingsDep,
    response: Response,
    body: RestoreRequest,
    idempotency_key: IdempotencyKey = None,
):
    if not body.check_mode and not body.confirm:
        return invalid_input(
            "body.confirm",
            "restore replaces current data: send confirm=true (a safety backup is taken first), "
            "or check_mode=true to see what would change",
        )
    store = jobs.JobStore(settings.backup_dir)
    job_id = jobs.job_id_for("restore", idempotency_key)
    if not body.check_mode and (known := _known_job(store, job_id, response)) is not None:
        return known
    if body.backup is not None:
        names = {
            b["name"] for b in _backup_call(backup_engine.list_backups, str(settings.backup_dir))
        }
        if body.backup not in names:
            # One answer for every unknown name: nothing is said about other files.
            raise HTTPException(404, "no such backup: GET /api/backup/ lists the names")
    if body.check_mode:
        plan = _backup_call(
            backup_engine.restore,
            settings.mongo_uri,
            body.backup,
            str(settings.backup_dir),
            check_mode=True,
        )
        return JSONResponse(RestorePlan.model_validate(plan).model_dump(mode="json"))
    try:
        # Returns once the worker holds the directory lock: from then on every
        # other restore or backup, on any replica, is refused or waits.
        job = jobs.start_job(
            store,
            "restore",
            {"backup": body.backup},
            _restore_work(settings, body.backup),
            wait_for_lock=True,
            job_id=job_id,
        )
    except jobs.JobRefused as exc:
        raise HTTPException(409, f"backup engine: {exc}") from exc
    return _accepted(response, job)
