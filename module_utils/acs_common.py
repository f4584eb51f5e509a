# Copyright: Airflow Crawler System contributors
# Apache License 2.0
"""Argument pieces shared by the mongodb_backup and mongodb_restore modules."""

from __future__ import annotations

from urllib.parse import quote_plus, urlsplit, urlunsplit


def s3_argument_spec():
    return dict(
        bucket=dict(type="str", required=True),
        prefix=dict(type="str", default=""),
        endpoint_url=dict(type="str"),
        region=dict(type="str"),
        access_key=dict(type="str", no_log=True),
        secret_key=dict(type="str", no_log=True),
        session_token=dict(type="str", no_log=True),
    )


def mongo_uri_with_login(uri, user=None, password=None):
    """Put user and password into a mongodb:// URI (quoted), leaving the rest."""
    if not user:
        return uri
    parts = urlsplit(uri)
    if parts.scheme not in ("mongodb", "mongodb+srv"):
        raise ValueError(f"uri={uri!r} must start with mongodb:// or mongodb+srv://")
    host = parts.netloc.rsplit("@", 1)[-1]
    netloc = f"{quote_plus(user)}:{quote_plus(password or '')}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
