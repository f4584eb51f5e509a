# Copyright: Airflow Crawler System contributors
# Apache License 2.0
"""The service_health task: its options and its result, shared by the module
(library/service_health.py) and its action plugin (plugins/action/
service_health.py), which runs the same checks in the playbook's process when
the target is the controller itself.

``argument_spec()`` is the options; ``health_result(params)`` runs the checks
of acs_health and returns ``(result, failure)``: the task's result and, when a
target is unhealthy or the options are wrong, the message to fail with.
"""

from __future__ import annotations

import math

from ansible.module_utils.acs_health import TARGET_TYPES, TargetError, run_checks

DEFAULT_DEADLINE = 60.0


def argument_spec():
    return dict(
        targets=dict(
            type="list",
            elements="dict",
            required=True,
            options=dict(
                name=dict(type="str", required=True),
                type=dict(type="str", required=True, choices=list(TARGET_TYPES)),
                url=dict(type="str"),
                host=dict(type="str"),
                port=dict(type="int"),
                uri=dict(type="str", no_log=True),
                headers=dict(type="dict", no_log=True),
                return_json=dict(type="bool", default=False),
                expected_status=dict(type="list", elements="int", default=[200]),
                json_path=dict(type="str"),
                json_value=dict(type="raw"),
                min_free_slots=dict(type="int", default=1),
                min_nodes=dict(type="int", default=0),
                timeout=dict(type="float", default=5),
                validate_certs=dict(type="bool", default=True),
            ),
            required_if=[
                ("type", "http", ("url",)),
                ("type", "selenium", ("url",)),
                ("type", "airflow", ("url",)),
                ("type", "tcp", ("host", "port")),
                ("type", "mongodb", ("uri",)),
            ],
            required_by={"json_value": "json_path"},
            mutually_exclusive=[("url", "uri"), ("url", "host")],
        ),
        retries=dict(type="int"),
        interval=dict(type="float", default=2),
        deadline=dict(type="float"),
    )


def poll_bounds(retries, interval, deadline):
    """(retries, deadline): retries derived from an explicit deadline when not given."""
    if retries is None:
        retries = math.ceil(deadline / interval) if deadline is not None and interval > 0 else 0
    return retries, DEFAULT_DEADLINE if deadline is None else deadline


def health_result(params):
    """(result, failure) of validated options: failure is None when every
    target is healthy, else the message naming each unhealthy target (or the
    option to fix)."""
    p = dict(params)
    for field in ("retries", "interval", "deadline"):
        if p[field] is not None and p[field] < 0:
            return {"changed": False}, f"{field}={p[field]} must be >= 0"
    p["retries"], p["deadline"] = poll_bounds(p["retries"], p["interval"], p["deadline"])
    try:
        results = run_checks(p["targets"], p["retries"], p["interval"], p["deadline"])
    except TargetError as exc:
        return {"changed": False}, str(exc)
    healthy = [n for n, r in results.items() if r["ok"]]
    unhealthy = [n for n, r in results.items() if not r["ok"]]
    out = dict(changed=False, targets=results, healthy=healthy, unhealthy=unhealthy)
    if unhealthy:
        reasons = "; ".join(f"{n} ({results[n]['detail']})" for n in unhealthy)
        return out, f"unhealthy: {reasons}"
    return out, None
