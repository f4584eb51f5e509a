"""What the routers take from the application: its settings, storage and
spool (set by create_app on app.state), and the API-key check of mutations."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Path, Request

from crawler.config import Settings
from crawler.models import NAME_RE
from crawler.storage import Spool, Storage

SourceId = Annotated[str, Path(pattern=NAME_RE, description="source name")]


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_storage(request: Request) -> Storage:
    return request.app.state.storage


def get_spool(request: Request) -> Spool:
    return request.app.state.spool


SettingsDep = Annotated[Settings, Depends(get_settings)]
StorageDep = Annotated[Storage, Depends(get_storage)]
SpoolDep = Annotated[Spool, Depends(get_spool)]


def require_key(settings: SettingsDep, x_api_key: Annotated[str | None, Header()] = None) -> None:
    if x_api_key is None:
        raise HTTPException(401, "missing X-API-Key header", headers={"WWW-Authenticate": "ApiKey"})
    ok = False
    for key in settings.api_keys:  # compare with every key: no early exit to time
        ok |= hmac.compare_digest(x_api_key.encode(), key.encode())
    if not ok:
        raise HTTPException(401, "invalid API key", headers={"WWW-Authenticate": "ApiKey"})


# Routes that change data: reads stay open, writes need a key.
AUTH = [Depends(require_key)]
