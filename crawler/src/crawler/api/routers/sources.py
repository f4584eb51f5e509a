"""Crawl sources: CRUD, and starting a crawl now."""

from __future__ import annotations

import logging
import threading

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse, Response
from pymongo.errors import DuplicateKeyError

from crawler import repository
from crawler.api.airflow import trigger_dag_run
from crawler.api.dependencies import AUTH, READ, SettingsDep, SourceId, StorageDep
from crawler.api.schemas import SourceItem, SourceList, as_item
from crawler.config import Settings
from crawler.models import Source, SourceIn, SourcePatch
from crawler.storage import Storage, new_id, now

log = logging.getLogger("crawler.api")

# An explicit response class: FastAPI then encodes bodies as it always did.
# Every route reads sources: a key of either kind; changes add AUTH (admin).
router = APIRouter(default_response_class=JSONResponse, tags=["sources"], dependencies=READ)


def _not_found(source_id: str) -> HTTPException:
    return HTTPException(404, f"source {source_id!r} not found")


@router.get("/api/sources", response_model=SourceList)
def list_sources(storage: StorageDep):
    return {"items": [as_item(d) for d in repository.all_sources(storage)]}


@router.post("/api/sources", status_code=201, dependencies=AUTH, response_model=SourceItem)
def create_source(storage: StorageDep, body: SourceIn):
    doc = Source(**body.model_dump()).to_doc()
    doc["created_at"] = doc["updated_at"] = now()
    try:
        repository.insert_source(storage, doc)
    except DuplicateKeyError as exc:
        raise HTTPException(
            409, f"source {body.name!r} exists; use PUT /api/sources/{body.name}"
        ) from exc
    return as_item(doc)


@router.get("/api/sources/{source_id}", response_model=SourceItem)
def get_source(storage: StorageDep, source_id: SourceId):
    doc = repository.get_source(storage, source_id)
    if doc is None:
        raise _not_found(source_id)
    return as_item(doc)


@router.put("/api/sources/{source_id}", dependencies=AUTH, response_model=SourceItem)
def replace_source(storage: StorageDep, source_id: SourceId, body: SourceIn):
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
    old = repository.get_source(storage, source_id) or {}
    doc = Source(**body.model_dump()).to_doc()
    # what self-healing learnt survives a replace of the definition
    doc["state"] = old.get("state", doc["state"])
    doc["created_at"] = old.get("created_at", now())
    doc["updated_at"] = now()
    repository.save_source(storage, source_id, doc)
    return as_item(doc)


@router.patch("/api/sources/{source_id}", dependencies=AUTH, response_model=SourceItem)
def patch_source(storage: StorageDep, source_id: SourceId, body: SourcePatch):
    old = repository.get_source(storage, source_id)
    if old is None:
        raise _not_found(source_id)
    merged = {
        **Source.from_doc(old).model_dump(mode="json"),
        **body.model_dump(mode="json", exclude_unset=True),
    }
    src = Source.model_validate(merged)
    doc = src.to_doc()
    doc["created_at"] = old.get("created_at", now())
    doc["updated_at"] = now()
    repository.save_source(storage, source_id, doc, upsert=False)
    return as_item(doc)


@router.delete("/api/sources/{source_id}", status_code=204, dependencies=AUTH)
def delete_source(storage: StorageDep, source_id: SourceId):
    if not repository.delete_source(storage, source_id):
        raise _not_found(source_id)
    return Response(status_code=204)


@router.post("/api/sources/{source_id}/crawl", status_code=202, dependencies=AUTH)
def trigger_crawl(settings: SettingsDep, storage: StorageDep, source_id: SourceId):
    doc = repository.get_source(storage, source_id)
    if doc is None:
        raise _not_found(source_id)
    if settings.airflow_api_url:
        return {"via": "airflow", **trigger_dag_run(settings, source_id)}
    run_id = new_id()
    threading.Thread(
        target=_crawl_here,
        args=(Source.from_doc(doc), settings, run_id),
        name=f"crawl-{source_id}",
        daemon=True,
    ).start()
    return {"via": "local", "run_id": run_id, "source": source_id}


def _crawl_here(source: Source, settings: Settings, run_id: str) -> None:
    """Without Airflow: the crawl runs in this process, with its own MongoDB
    client (the request's storage has a short timeout for the API)."""
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
        log.exception("crawl of %s failed", source.name)
