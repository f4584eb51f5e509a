#!/usr/bin/python
# Copyright: Airflow Crawler System contributors
# Apache License 2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: service_health
short_description: Check that named services of the stack are healthy
version_added: "1.0.0"
description:
  - Checks a list of named targets, HTTP URLs (expected status, optional JSON path
    and value), TCP ports, MongoDB ping, Selenium Grid readiness with a free-slot
    count, and Airflow health (Airflow 3's C(/api/v2/monitor/health), falling back
    to Airflow 2's C(/health)).
  - Probes the targets of a round concurrently, so a round takes as long as its
    slowest probe. Re-checks unhealthy targets every I(interval) seconds up to
    I(retries) times within an overall I(deadline).
  - An http target can also be a read, for example of an API that needs a key
    (I(headers)), whose status and JSON body the result carries (I(return_json)).
  - Fails with a message naming each unhealthy target. Never changes anything.
  - On a local connection without become, its action plugin
    (C(plugins/action/service_health.py)) runs the same checks in the
    playbook's process instead of starting the module (0.4 to 0.7 s saved a
    task); the options, the result and the masking of I(uri) and I(headers)
    are the module's.
author:
  - Airflow Crawler System contributors
requirements:
  - pymongo (only for targets of type mongodb; a plain single-host URI without
    credentials or TLS is pinged over one socket with its C(bson) package, any
    other URI through C(MongoClient))
extends_documentation_fragment:
  - acs_attributes.read_only
options:
  targets:
    description: The checks to run.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Unique name used in results and messages.
        type: str
        required: true
      type:
        description: Kind of check.
        type: str
        required: true
        choices: [http, tcp, mongodb, selenium, airflow]
      url:
        description: URL (http), Grid base or status URL (selenium), Airflow base URL (airflow).
        type: str
      host:
        description: Host name or address (tcp).
        type: str
      port:
        description: Port (tcp).
        type: int
      uri:
        description:
          - MongoDB connection string (mongodb); kept out of the output as it may hold a password.
          - C(mongodb://host[:port]/) with at most C(serverSelectionTimeoutMS), C(connectTimeoutMS)
            and C(directConnection) is pinged directly (C(ping), then C(buildInfo) for the version,
            I(timeout) for the connection); a refused connection fails at once instead of after
            the server selection time.
        type: str
      headers:
        description:
          - Request headers (http), for example an API key; their values are kept out of
            the output (no_log), the task should have C(no_log) too.
        type: dict
      return_json:
        description:
          - Return the response's JSON body as C(json) in the target's result (http);
            the HTTP status is always returned as C(status).
        type: bool
        default: false
      expected_status:
        description: Acceptable HTTP status codes (http).
        type: list
        elements: int
        default: [200]
      json_path:
        description: Dotted path into the JSON body, for example C(status) or C(checks.0.ok).
        type: str
      json_value:
        description: Value expected at I(json_path); compared as-is, then as text.
        type: raw
      min_free_slots:
        description: Free browser slots the Grid must have (selenium).
        type: int
        default: 1
      min_nodes:
        description:
          - Nodes the Grid must list as up (selenium); 0 checks none.
          - On several hosts, the core host's nodes and one a worker host.
        type: int
        default: 0
      timeout:
        description: Seconds for one probe.
        type: float
        default: 5
      validate_certs:
        description: Verify TLS certificates for https URLs.
        type: bool
        default: true
  retries:
    description:
      - How many times to re-check unhealthy targets.
      - Without it, derived from I(deadline) when that is given
        (C(ceil(deadline / interval))), so callers do not compute it; else 0
        (a single probe).
    type: int
  interval:
    description: Seconds between rounds.
    type: float
    default: 2
  deadline:
    description:
      - Overall seconds after which no new round starts.
      - Defaults to 60 when not given.
    type: float
"""

EXAMPLES = r"""
- name: Stack is healthy
  service_health:
    retries: 30
    interval: 5
    deadline: 180
    targets:
      - name: api
        type: http
        url: http://127.0.0.1:8000/health
        json_path: status
        json_value: ok
      - name: mongodb
        type: mongodb
        uri: mongodb://127.0.0.1:27017
      - name: selenium
        type: selenium
        url: http://127.0.0.1:4444
        min_free_slots: 1
      - name: airflow
        type: airflow
        url: http://127.0.0.1:8080
      - name: nginx
        type: tcp
        host: 127.0.0.1
        port: 80

- name: The API's backups, read with its read-only key, in the same round
  service_health:
    targets:
      - name: backups
        type: http
        url: http://127.0.0.1:8000/api/backup/
        headers:
          X-API-Key: "{{ api_read_key }}"
        return_json: true
        timeout: 10
  register: _health
  failed_when: false
  no_log: true

- name: The last backup's name
  ansible.builtin.debug:
    msg: "{{ (_health.targets.backups.json | default({}))['items'] | default([]) | map(attribute='name') | first }}"
"""

RETURN = r"""
targets:
  description:
    - Per target, in the order given, C(ok), C(latency_ms), C(detail), C(attempts) and C(type).
    - http targets also have C(status), the HTTP status of the last probe, and, with
      I(return_json) and a JSON body, C(json), the parsed body.
  returned: always
  type: dict
  sample: {"api": {"ok": true, "latency_ms": 3.1, "detail": "HTTP 200, status='ok'",
           "attempts": 1, "type": "http", "status": 200}}
healthy:
  description: Names of the healthy targets.
  returned: always
  type: list
  elements: str
unhealthy:
  description: Names of the unhealthy targets.
  returned: always
  type: list
  elements: str
"""

import traceback

from ansible.module_utils.basic import AnsibleModule

try:
    from ansible.module_utils.acs_health_spec import argument_spec, health_result

    IMPORT_ERROR = None
except ImportError:
    IMPORT_ERROR = traceback.format_exc()


def main():
    if IMPORT_ERROR:
        # Without the options' definition: only the failure can be reported.
        loose = dict(type="raw")
        module = AnsibleModule(
            argument_spec=dict(targets=loose, retries=loose, interval=loose, deadline=loose),
            supports_check_mode=True,
        )
        module.fail_json(msg="module_utils acs_health could not be loaded", exception=IMPORT_ERROR)
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    result, failure = health_result(module.params)
    if failure:
        module.fail_json(msg=failure, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
