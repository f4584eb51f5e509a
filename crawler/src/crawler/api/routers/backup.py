"""Backups and restores, through the one backup engine (crawler.backup)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse

from crawler import backup as backup_engine
from crawler.api.dependencies import AUTH, READ, SettingsDep
from crawler.api.schemas import BackupList, BackupTrigger, RestoreRequest

router = APIRouter(default_response_class=JSONResponse, tags=["backup"])


def _backup_call(fn, *a, **kw):
    """The engine's failures as HTTP: 503 when it cannot run here, 409 when it refuses."""
    try:
        return fn(*a, **kw)
    except backup_engine.BackupUnavailable as exc:
        raise HTTPException(503, str(exc)) from exc
    except backup_engine.error_types() as exc:
        raise HTTPException(409, f"backup engine: {exc}") from exc


@router.post("/api/backup/trigger", dependencies=AUTH)
def backup_trigger(settings: SettingsDep, body: BackupTrigger | None = None):
    body = body or BackupTrigger()
    opts = {"databases": body.databases} if body.databases else {}
    return _backup_call(
        backup_engine.run_backup,
        settings.mongo_uri,
        str(settings.backup_dir),
        label=body.label,
        # parallel triggers run one after the other, each under its own name
        lock_timeout=settings.backup_lock_timeout,
        keep_last=settings.backup_keep_last,
        max_age_days=settings.backup_max_age_days,
        **opts,
    )


@router.get("/api/backup/", response_model=BackupList, dependencies=READ)
@router.get("/api/backup", include_in_schema=False, response_model=BackupList, dependencies=READ)
def backup_list(settings: SettingsDep):
    return {
        "backup_dir": str(settings.backup_dir),
        "items": _backup_call(backup_engine.list_backups, str(settings.backup_dir)),
    }


@router.post("/api/backup/restore", dependencies=AUTH)
def backup_restore(settings: SettingsDep, body: RestoreRequest):
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
    if body.backup is not None:
        names = {
            b["name"] for b in _backup_call(backup_engine.list_backups, str(settings.backup_dir))
        }
        if body.backup not in names:
            # One answer for every unknown name: nothing is said about other files.
            raise HTTPException(404, "no such backup: GET /api/backup/ lists the names")
    return _backup_call(
        backup_engine.restore,
        settings.mongo_uri,
        body.backup,
        str(settings.backup_dir),
        check_mode=body.check_mode,
    )
