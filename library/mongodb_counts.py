#!/usr/bin/python
# Copyright: Airflow Crawler System contributors
# Apache License 2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: mongodb_counts
short_description: Collections, document counts and sizes of a MongoDB server
version_added: "1.0.0"
description:
  - Pings the server, then lists the collections of each database with their exact
    document counts (C(count_documents)), and with I(stats=true) the output of
    C(db.stats()) and each collection's C(collStats) sizes.
  - The runbook procedures take these counts before and after a recovery to show that
    no document was lost. Never changes anything.
author:
  - Airflow Crawler System contributors
requirements:
  - pymongo
extends_documentation_fragment:
  - acs_attributes.read_only
options:
  uri:
    description: MongoDB connection string; kept out of the output as it may hold a password.
    type: str
    required: true
  databases:
    description: Databases to read; every database except admin, config and local when empty.
    type: list
    elements: str
    default: []
  stats:
    description: Also return C(db.stats()) per database and C(collStats) sizes per collection.
    type: bool
    default: false
  error_trend_days:
    description: Also count the documents of I(error_collection) per UTC day and error code over this many days; C(0) skips it.
    type: int
    default: 0
  error_collection:
    description: The crawler's error log as C(database.collection); its documents carry C(ts) and C(code).
    type: str
    default: crawler.error_logs
  timeout:
    description: Seconds to wait for the server.
    type: float
    default: 5
"""

EXAMPLES = r"""
- name: Document counts before the restart
  mongodb_counts:
    uri: mongodb://172.24.0.3:27017
    databases: [crawler]
  register: _before
"""

RETURN = r"""
databases:
  description: Per database, C(collections) (name to C(count), and with I(stats) C(size) and
    C(storage_size) in bytes) and with I(stats) C(stats), the server's C(dbStats) answer.
  returned: success
  type: dict
  sample: {"crawler": {"collections": {"crawl_results": {"count": 120}}}}
error_trend:
  description: With I(error_trend_days), day (C(YYYY-MM-DD)) to error code to count, every day of the period listed.
  returned: when error_trend_days is above 0
  type: dict
  sample: {"2026-11-27": {"E008": 3}, "2026-11-26": {}}
totals:
  description: C(collections) and C(documents) over every database read.
  returned: success
  type: dict
  sample: {"collections": 6, "documents": 130}
"""

import traceback
from datetime import UTC, datetime, timedelta

from ansible.module_utils.basic import AnsibleModule

try:
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    IMPORT_ERROR = None
except ImportError:
    IMPORT_ERROR = traceback.format_exc()

_SYSTEM_DATABASES = {"admin", "config", "local"}


def argument_spec():
    return dict(
        uri=dict(type="str", required=True, no_log=True),
        databases=dict(type="list", elements="str", default=[]),
        stats=dict(type="bool", default=False),
        error_trend_days=dict(type="int", default=0),
        error_collection=dict(type="str", default="crawler.error_logs"),
        timeout=dict(type="float", default=5),
    )


def _plain(value):
    """BSON answers hold Int64 and friends; keep what JSON can carry."""
    if isinstance(value, dict):
        return {
            k: _plain(v) for k, v in value.items() if k not in ("$clusterTime", "operationTime")
        }
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return str(value)


def read_counts(client, databases, stats):
    client.admin.command("ping")
    names = databases or sorted(set(client.list_database_names()) - _SYSTEM_DATABASES)
    out = {}
    totals = {"collections": 0, "documents": 0}
    for name in names:
        db = client[name]
        collections = {}
        for coll in sorted(db.list_collection_names()):
            if coll.startswith("system."):
                continue
            entry = {"count": db[coll].count_documents({})}
            if stats:
                coll_stats = db.command("collStats", coll)
                entry["size"] = int(coll_stats.get("size", 0))
                entry["storage_size"] = int(coll_stats.get("storageSize", 0))
            collections[coll] = entry
            totals["collections"] += 1
            totals["documents"] += entry["count"]
        out[name] = {"collections": collections}
        if stats:
            out[name]["stats"] = _plain(dict(db.command("dbStats")))
    return out, totals


def error_trend(client, collection, days, today=None):
    """Errors per UTC day and code, oldest day first, days without errors included."""
    db_name, _, coll_name = collection.partition(".")
    today = today or datetime.now(UTC).date()
    first = today - timedelta(days=days - 1)
    trend = {(first + timedelta(days=i)).isoformat(): {} for i in range(days)}
    since = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    for doc in client[db_name][coll_name].find({"ts": {"$gte": since}}, {"ts": 1, "code": 1}):
        ts = doc.get("ts")
        if not isinstance(ts, datetime):
            continue
        day = trend.setdefault(ts.date().isoformat(), {})
        code = str(doc.get("code", "?"))
        day[code] = day.get(code, 0) + 1
    return trend


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if IMPORT_ERROR:
        module.fail_json(msg="pymongo is required (pip install pymongo)", exception=IMPORT_ERROR)
    p = module.params
    if p["timeout"] <= 0:
        module.fail_json(msg=f"timeout={p['timeout']} must be above 0 seconds")
    if p["error_trend_days"] < 0 or p["error_trend_days"] > 366:
        module.fail_json(msg=f"error_trend_days={p['error_trend_days']} must be between 0 and 366")
    if p["error_trend_days"] and "." not in p["error_collection"]:
        module.fail_json(
            msg=f"error_collection={p['error_collection']!r} must be database.collection, e.g. crawler.error_logs"
        )
    extra = {}
    ms = int(p["timeout"] * 1000)
    try:
        client = MongoClient(
            p["uri"], serverSelectionTimeoutMS=ms, connectTimeoutMS=ms, socketTimeoutMS=ms * 6
        )
        databases, totals = read_counts(client, p["databases"], p["stats"])
        if p["error_trend_days"]:
            extra["error_trend"] = error_trend(client, p["error_collection"], p["error_trend_days"])
    except PyMongoError as exc:
        module.fail_json(msg=f"MongoDB did not answer: {str(exc).split(',')[0][:300]}")
    module.exit_json(changed=False, databases=databases, totals=totals, **extra)


if __name__ == "__main__":
    main()
