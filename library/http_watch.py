#!/usr/bin/python
# Copyright: Airflow Crawler System contributors
# Apache License 2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: http_watch
short_description: Watch an HTTP endpoint for a time window and measure its error rate
version_added: "1.0.0"
description:
  - Sends a GET to I(url) every I(interval) seconds for I(window) seconds and
    counts the answers that are not in I(expected_status) (connection errors and
    timeouts count as errors too).
  - Fails when the error rate over the window exceeds I(max_error_rate), or when
    I(max_consecutive_errors) answers in a row failed (the endpoint is down, not
    flaky); stops watching at that moment, so a failed watch returns early.
  - The upgrade playbook's watch after a release is replaced; never changes anything.
author:
  - Airflow Crawler System contributors
extends_documentation_fragment:
  - acs_attributes.read_only
options:
  url:
    description: The URL to probe, for example the API's C(/health) through nginx.
    type: str
    required: true
  window:
    description: Seconds to watch.
    type: float
    required: true
  interval:
    description: Seconds between two probes.
    type: float
    default: 0.5
  timeout:
    description: Seconds one probe may take.
    type: float
    default: 5
  expected_status:
    description: HTTP status codes counted as success.
    type: list
    elements: int
    default: [200]
  max_error_rate:
    description: Highest acceptable share of failed probes (0 to 1).
    type: float
    default: 0.05
  max_consecutive_errors:
    description: Failed probes in a row that fail the watch at once (0 never).
    type: int
    default: 5
"""

EXAMPLES = r"""
- name: The API stays healthy for two minutes
  http_watch:
    url: http://127.0.0.1:8000/health
    window: 120
    max_error_rate: 0.01
"""

RETURN = r"""
requests:
  description: Probes sent.
  type: int
  returned: always
errors:
  description: Probes that failed.
  type: int
  returned: always
error_rate:
  description: errors / requests (0 when nothing was sent).
  type: float
  returned: always
seconds:
  description: How long the watch lasted.
  type: float
  returned: always
last_error:
  description: The last failure (status or exception text), empty when none.
  type: str
  returned: always
"""

import time
import urllib.error
import urllib.request

from ansible.module_utils.basic import AnsibleModule


def probe(url: str, timeout: float, expected: list[int]) -> str:
    """Empty when the answer is expected, else what went wrong."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 (operator's URL)
            status = answer.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (OSError, urllib.error.URLError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return "" if status in expected else f"HTTP {status}"


def watch(
    url, window, interval, timeout, expected, max_rate, max_consecutive, clock=time.monotonic
):
    start = clock()
    sent = errors = consecutive = 0
    last_error = ""
    while True:
        failure = probe(url, timeout, expected)
        sent += 1
        if failure:
            errors += 1
            consecutive += 1
            last_error = failure
        else:
            consecutive = 0
        if max_consecutive and consecutive >= max_consecutive:
            break
        if clock() - start >= window:
            break
        time.sleep(interval)
    rate = errors / sent if sent else 0.0
    down = bool(max_consecutive) and consecutive >= max_consecutive
    return {
        "requests": sent,
        "errors": errors,
        "error_rate": round(rate, 4),
        "seconds": round(clock() - start, 1),
        "last_error": last_error,
        "failed_reason": (
            f"{consecutive} failed probes in a row ({last_error})"
            if down
            else (
                f"error rate {rate:.1%} above {max_rate:.1%} ({last_error})"
                if rate > max_rate
                else ""
            )
        ),
    }


def main():
    module = AnsibleModule(
        argument_spec={
            "url": {"type": "str", "required": True},
            "window": {"type": "float", "required": True},
            "interval": {"type": "float", "default": 0.5},
            "timeout": {"type": "float", "default": 5},
            "expected_status": {"type": "list", "elements": "int", "default": [200]},
            "max_error_rate": {"type": "float", "default": 0.05},
            "max_consecutive_errors": {"type": "int", "default": 5},
        },
        supports_check_mode=True,
    )
    p = module.params
    result = watch(
        p["url"],
        p["window"],
        p["interval"],
        p["timeout"],
        p["expected_status"],
        p["max_error_rate"],
        p["max_consecutive_errors"],
    )
    reason = result.pop("failed_reason")
    if reason:
        module.fail_json(msg=f"{p['url']}: {reason}", **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
