# Copyright: Airflow Crawler System contributors
# Apache License 2.0
"""Argument pieces shared by the mongodb_backup and mongodb_restore modules.

``mongodb_tools_argspec_ex()`` is the one definition of where the tools run
and how they reach the server; its documentation is the doc fragment
plugins/doc_fragments/acs_mongodb_tools.py. Both follow community.docker's
``common_compose_argspec_ex`` and its compose_v2 fragment.
"""

from __future__ import annotations

from urllib.parse import quote_plus, urlsplit, urlunsplit

# ``mongodump`` is the old word for ``host`` (the tools on this host): kept so
# existing playbooks and inventories go on working.
METHODS = ["auto", "host", "mongodump", "docker", "native"]


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


def retention_argument_spec():
    """Retention options (doc fragment acs_backup_retention); the defaults are the
    engine's retention.DEFAULT_* (tests/unit/modules/test_documentation.py)."""
    return dict(
        keep_last=dict(type="int", default=14),
        max_age_days=dict(type="float", default=7),
        keep_daily=dict(type="int", default=0),
        keep_weekly=dict(type="int", default=0),
        keep_monthly=dict(type="int", default=0),
        delete_orphans=dict(type="bool", default=False),
    )


# Retention rules as the engine's keywords (delete_orphans is not a rule).
RETENTION_RULES = ("keep_last", "max_age_days", "keep_daily", "keep_weekly", "keep_monthly")


def mongodb_tools_argspec():
    return dict(
        uri=dict(type="str", default="mongodb://127.0.0.1:27017"),
        login_user=dict(type="str"),
        login_password=dict(type="str", no_log=True),
        method=dict(type="str", default="auto", choices=METHODS),
        container=dict(type="str"),
        network=dict(type="str"),
        image=dict(type="str"),
        container_uri=dict(type="str"),
        tools_dir=dict(type="path"),
        lock_timeout=dict(type="float", default=0),
        **backup_store_argspec(),
    )


def backup_store_argspec():
    """signing_key and s3 (doc fragment acs_backup_store)."""
    return dict(
        s3=dict(type="dict", options=s3_argument_spec()),
        signing_key=dict(type="str", no_log=True),
    )


def mongodb_tools_argspec_ex():
    """The spec plus its constraints, for ``AnsibleModule(**...)``."""
    return dict(
        argspec=mongodb_tools_argspec(),
        mutually_exclusive=[("container", "network"), ("container", "image")],
        required_if=[("method", "docker", ("container", "network"), True)],
        required_by={"image": ("network",)},
        required_together=[("login_user", "login_password")],
    )


def mongodb_tools_options(params, default_container_uri):
    """Engine keywords of the tools options of a module's params, the login
    merged into the container URI too (``default_container_uri(network)``)."""
    container_uri = params["container_uri"] or default_container_uri(params["network"])
    return dict(
        method=params["method"],
        container=params["container"],
        container_uri=mongo_uri_with_login(
            container_uri, params["login_user"], params["login_password"]
        ),
        network=params["network"],
        image=params["image"],
        tools_dir=params["tools_dir"],
        s3=params["s3"],
        lock_timeout=params["lock_timeout"],
        signing_key=params["signing_key"],
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
