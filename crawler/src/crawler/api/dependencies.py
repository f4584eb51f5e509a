"""What the routers take from the application: its settings, storage and
spool (set by create_app on app.state), and the API-key checks.

Two kinds of key, both sent as X-API-Key: admin keys (Settings.api_keys,
CRAWLER_API_KEYS) read and change, read-only keys (Settings.api_read_keys,
CRAWLER_API_READ_KEYS) only read. READ guards every route that returns data,
AUTH every route that changes it; the few open routes are listed in the
README (health, the OpenAPI schema and its docs page, /metrics)."""

from __future__ import annotations

import hmac
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Path, Request, Security
from fastapi.security import APIKeyHeader

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


KeyKind = Literal["admin", "read"]

# Declared as OpenAPI's "ApiKey" security scheme, so that clients and fuzzers
# see which operations want the header; the checks below raise their own
# 401/403 (auto_error would answer 403 to a missing key).
api_key_header = APIKeyHeader(
    name="X-API-Key",
    scheme_name="ApiKey",
    auto_error=False,
    description="An admin key (reads and changes) or a read-only key (reads only).",
)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "ApiKey"})


def _key_kind(settings: Settings, key: str) -> KeyKind | None:
    """Compare with every key of both kinds: no early exit whose time tells
    how far the key matched or which kind it is."""
    given = key.encode()
    admin = read = False
    for k in settings.api_keys:
        admin |= hmac.compare_digest(given, k.encode())
    for k in settings.api_read_keys:
        read |= hmac.compare_digest(given, k.encode())
    return "admin" if admin else "read" if read else None


def optional_key(
    settings: SettingsDep, x_api_key: Annotated[str | None, Security(api_key_header)] = None
) -> KeyKind | None:
    """None without a key; a wrong key is 401 even where none is needed, so a
    misconfigured client learns it at once."""
    if x_api_key is None:
        return None
    kind = _key_kind(settings, x_api_key)
    if kind is None:
        raise _unauthorized("invalid API key")
    return kind


def require_read_key(kind: Annotated[KeyKind | None, Depends(optional_key)]) -> KeyKind:
    if kind is None:
        raise _unauthorized(
            "missing X-API-Key header: send an admin key, or a read-only key to read"
        )
    return kind


def require_key(kind: Annotated[KeyKind, Depends(require_read_key)]) -> None:
    """An admin key: a valid read-only key is 403, not 401 (it is known, not allowed)."""
    if kind != "admin":
        raise HTTPException(403, "this key is read-only; use an admin key")


OptionalKeyDep = Annotated[KeyKind | None, Depends(optional_key)]
# Routes that return data: a key of either kind.
READ = [Depends(require_read_key)]
# Routes that change data: an admin key.
AUTH = [Depends(require_key)]
