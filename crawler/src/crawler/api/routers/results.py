"""Crawl results and runs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from crawler import repository
from crawler.api.dependencies import READ, StorageDep
from crawler.api.schemas import ResultPage, RunList, as_item

# An explicit response class: FastAPI then encodes bodies as it always did.
# Crawled data: a key of either kind.
router = APIRouter(default_response_class=JSONResponse, tags=["results"], dependencies=READ)


@router.get("/api/results", response_model=ResultPage)
def results(
    storage: StorageDep,
    source: str | None = None,
    status: Literal["ok", "incomplete"] | None = None,
    since: datetime | None = None,
    url_contains: str | None = None,
    # Bounded so that (page - 1) * page_size stays a valid skip for MongoDB.
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
):
    total, docs = repository.results_page(
        storage,
        source=source,
        status=status,
        since=since,
        url_contains=url_contains,
        page=page,
        page_size=page_size,
    )
    return {
        "items": [as_item(d) for d in docs],
        "page": page,
        "page_size": page_size,
        "total": total,
    }


@router.get("/api/runs", response_model=RunList)
def runs(
    storage: StorageDep,
    source: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
):
    return {"items": [as_item(d) for d in repository.recent_runs(storage, source, limit)]}
