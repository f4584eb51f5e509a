"""Stable error codes. The table in docs/error-codes.md mirrors ERROR_CODES."""

from __future__ import annotations

import asyncio
import re
import socket
from dataclasses import dataclass
from enum import StrEnum


class ErrorCode(StrEnum):
    CONNECTION = "E001"
    TIMEOUT = "E002"
    BLOCKED = "E003"
    RATE_LIMITED = "E004"
    SERVER_ERROR = "E005"
    SELECTOR_ROT = "E006"
    PARSE = "E007"
    BROWSER = "E008"
    STORAGE = "E009"
    UNKNOWN = "E010"
    NOT_FOUND = "E011"
    TOO_LARGE = "E012"
    NOT_HTML = "E013"
    FORBIDDEN_TARGET = "E014"


# The query-parameter pattern of a code (E001..E014), kept next to the enum it
# mirrors; the API's 422 message quotes it, so its spelling is part of the API.
CODE_PATTERN = r"^E0(0[1-9]|1[0-4])$"

ERROR_CODES: dict[ErrorCode, tuple[str, str]] = {
    ErrorCode.CONNECTION: ("DNS or connection failure", "retry with backoff"),
    ErrorCode.TIMEOUT: ("request or page load timed out", "retry with backoff"),
    ErrorCode.BLOCKED: ("HTTP 401/403 or a bot-check page", "slow down and back off"),
    ErrorCode.RATE_LIMITED: ("HTTP 429", "honour Retry-After, slow down"),
    ErrorCode.SERVER_ERROR: ("HTTP 5xx", "retry with backoff"),
    ErrorCode.SELECTOR_ROT: (
        "page loaded but a required field is empty / selector matched nothing",
        "fallback selectors, static->browser switch, remember what worked",
    ),
    ErrorCode.PARSE: ("body could not be decoded or parsed", "none (recorded)"),
    ErrorCode.BROWSER: (
        "browser or Selenium Grid session failure",
        "wait for Grid capacity, retry",
    ),
    ErrorCode.STORAGE: ("MongoDB failure", "spool to a local file, replay later"),
    ErrorCode.UNKNOWN: ("anything else", "none (recorded)"),
    ErrorCode.NOT_FOUND: ("HTTP 404/410: the page is gone", "none (recorded)"),
    ErrorCode.TOO_LARGE: ("body larger than the size cap", "none (recorded)"),
    ErrorCode.NOT_HTML: ("not an HTML or XHTML page", "none (recorded)"),
    ErrorCode.FORBIDDEN_TARGET: ("a private address or a stack service", "CRAWLER_ALLOWED_TARGETS"),
}

# Phrases of common bot-check / challenge pages. A 200 page carrying one of
# these is "blocked", not "selector rot": the selectors are fine, we are not.
_BOT_CHECK = re.compile(
    r"(captcha|are you a robot|are you human|verify you are human|access denied"
    r"|cf-challenge|challenge-platform|unusual traffic|bot detection)",
    re.IGNORECASE,
)


@dataclass
class CrawlError(Exception):
    """A failed fetch, with its stable code; the page's URL and HTTP status
    when known, and the server's Retry-After in seconds (429/503)."""

    code: ErrorCode
    message: str
    url: str | None = None
    status: int | None = None
    retry_after: float | None = None

    def __str__(self) -> str:  # pragma: no cover - trivial
        return f"{self.code} {self.message}"


class ForbiddenAddress(OSError):
    """Raised where a connection is refused by the target policy (fetch/guard.py).
    An OSError, so that aiohttp passes it up from its resolver."""


def classify_status(status: int) -> ErrorCode | None:
    if status in (401, 403):
        return ErrorCode.BLOCKED
    if status == 429:
        return ErrorCode.RATE_LIMITED
    if status in (404, 410):
        return ErrorCode.NOT_FOUND
    if 500 <= status <= 599:
        return ErrorCode.SERVER_ERROR
    if status >= 400:
        return ErrorCode.UNKNOWN
    return None


def looks_blocked(html: str) -> bool:
    # Only the start of the page: challenge pages are short and say so early.
    return bool(_BOT_CHECK.search(html[:20000]))


def classify_exception(exc: BaseException) -> ErrorCode:
    if isinstance(exc, CrawlError):
        return exc.code
    # aiohttp wraps what its resolver raised (ClientConnectorDNSError.os_error)
    if isinstance(exc, ForbiddenAddress) or isinstance(
        getattr(exc, "os_error", None), ForbiddenAddress
    ):
        return ErrorCode.FORBIDDEN_TARGET
    name = type(exc).__module__ + "." + type(exc).__name__
    # library families first: a pymongo or selenium timeout is a storage or browser failure
    if name.startswith(("pymongo.", "bson.")):
        return ErrorCode.STORAGE
    if name.startswith(("selenium.", "playwright.")):
        return ErrorCode.BROWSER
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)) or "Timeout" in type(exc).__name__:
        return ErrorCode.TIMEOUT
    if (isinstance(exc, (UnicodeError, ValueError)) and "lxml" in name) or isinstance(
        exc, UnicodeError
    ):
        return ErrorCode.PARSE
    if name.startswith("lxml."):
        return ErrorCode.PARSE
    if isinstance(exc, (ConnectionError, socket.gaierror, OSError)) or name.startswith(
        "aiohttp.client_exceptions.Client"
    ):
        return ErrorCode.CONNECTION
    return ErrorCode.UNKNOWN
