"""Alertmanager's webhook payload (version 4) and the shared secret.

Alertmanager sends ``Authorization: Bearer <secret>`` (its webhook
``http_config.authorization.credentials_file``); anything else is refused
before the body is read. One notification carries a group of alerts, firing
and resolved side by side: each becomes one event.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError

MAX_BODY_BYTES = 1_000_000


class Alert(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    status: str = Field(pattern="^(firing|resolved)$")
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime | None = Field(None, alias="endsAt")
    fingerprint: str = Field("", max_length=64)
    generator_url: str = Field("", alias="generatorURL")

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname", "")

    def event(self) -> dict:
        """The JSON-safe form kept in the ledger and handed to the rules."""
        return {
            "alertname": self.alertname,
            "status": self.status,
            "labels": self.labels,
            "annotations": self.annotations,
            "starts_at": _iso(self.starts_at),
            "fingerprint": self.fingerprint,
        }


class Notification(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    version: str = "4"
    status: str = ""
    receiver: str = ""
    group_key: str = Field("", alias="groupKey")
    alerts: list[Alert] = Field(max_length=1000)


class PayloadError(ValueError):
    """The body is not an Alertmanager notification; the message names the field."""


def parse(body: bytes) -> Notification:
    if len(body) > MAX_BODY_BYTES:
        raise PayloadError(f"body: larger than {MAX_BODY_BYTES} bytes")
    try:
        return Notification.model_validate_json(body)
    except ValidationError as exc:
        fields = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
            for err in exc.errors()
        )
        raise PayloadError(fields) from exc


def authorized(header: str | None, secret: str) -> bool:
    """Constant-time check of ``Authorization: Bearer <secret>``; an empty
    secret authorizes nobody."""
    if not secret or not header:
        return False
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(token.strip().encode(), secret.encode())


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
