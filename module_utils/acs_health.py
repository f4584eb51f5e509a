# Copyright: Airflow Crawler System contributors
# Apache License 2.0
"""Health checks of the stack's services; read-only, used by service_health.

``check_target(target) -> (ok, detail, latency_ms)`` runs one check;
``run_checks(targets, retries, interval, deadline)`` probes the targets of a
round concurrently (one thread each: a round takes as long as its slowest
probe, not their sum), re-checks the unhealthy ones until all are healthy, the
retries are spent or the deadline passes, and returns per-target results.

An http target may send ``headers`` and, with ``return_json``, hands back the
HTTP ``status`` and the parsed JSON body (``json``), so one call also does the
reads a report needs.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

TARGET_TYPES = ("http", "tcp", "mongodb", "selenium", "airflow")
_MISSING = object()


class TargetError(ValueError):
    """A target definition that cannot be checked as written."""


def json_path(data, path):
    """Value at a dotted path (``a.b.0.c``); list items by index; _MISSING if absent."""
    current = data
    for part in path.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.lstrip("-").isdigit():
            index = int(part)
            if -len(current) <= index < len(current):
                current = current[index]
            else:
                return _MISSING
        else:
            return _MISSING
    return current


def validate_target(target):
    """Raise TargetError naming the field and the fix; returns the target."""
    name = target.get("name")
    if not name:
        raise TargetError("every target needs a name")
    kind = target.get("type")
    if kind not in TARGET_TYPES:
        raise TargetError(
            f"target {name!r}: type={kind!r} is invalid; use one of {', '.join(TARGET_TYPES)}"
        )
    needs = {
        "http": ("url",),
        "selenium": ("url",),
        "airflow": ("url",),
        "tcp": ("host", "port"),
        "mongodb": ("uri",),
    }[kind]
    for field in needs:
        if not target.get(field):
            raise TargetError(f"target {name!r}: type={kind} needs {field}")
    if target.get("json_value") is not None and not target.get("json_path"):
        raise TargetError(f"target {name!r}: json_value needs json_path")
    url = target.get("url") or ""
    if url and not url.startswith(("http://", "https://")):
        raise TargetError(f"target {name!r}: url={url!r} must start with http:// or https://")
    return target


def _get(url, timeout, validate_certs=True, headers=None):
    request = urllib.request.Request(  # noqa: S310
        url, headers={"Accept": "application/json", **(headers or {})}
    )
    context = None
    if url.startswith("https://") and not validate_certs:
        import ssl

        context = ssl._create_unverified_context()  # noqa: S323 - operator asked for it
    try:
        # Scheme checked in validate_target: only http:// and https:// get here.
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _check_http(t):
    status, body = _get(
        t["url"], t.get("timeout") or 5, t.get("validate_certs", True), t.get("headers")
    )
    data = _MISSING
    if t.get("return_json") or t.get("json_path"):
        with contextlib.suppress(ValueError):
            data = json.loads(body)
    extra = {"status": status}
    if t.get("return_json") and data is not _MISSING:
        extra["json"] = data
    ok, detail = _http_verdict(t, status, data)
    return ok, detail, extra


def _http_verdict(t, status, data):
    expected = t.get("expected_status") or [200]
    if status not in expected:
        return False, f"HTTP {status}, expected {expected}"
    if t.get("json_path"):
        if data is _MISSING:
            return False, f"HTTP {status} but the body is not JSON"
        value = json_path(data, t["json_path"])
        if value is _MISSING:
            return False, f"HTTP {status} but JSON has no {t['json_path']}"
        want = t.get("json_value")
        if want is not None and value != want and str(value) != str(want):
            return False, f"{t['json_path']}={value!r}, expected {want!r}"
        return True, f"HTTP {status}, {t['json_path']}={value!r}"
    return True, f"HTTP {status}"


def _check_tcp(t):
    with socket.create_connection((t["host"], int(t["port"])), timeout=t.get("timeout") or 5):
        return True, f"TCP {t['host']}:{t['port']} open"


# URI options the direct ping honours; any other (credentials, several hosts,
# TLS, a replica set, mongodb+srv) goes through pymongo.
_DIRECT_MONGODB_OPTIONS = {"serverselectiontimeoutms", "connecttimeoutms", "directconnection"}
_OP_MSG = 2013


def direct_mongodb_address(uri):
    """(host, port) when the ping can go straight over one socket, else None."""
    parsed = urllib.parse.urlsplit(uri)
    if parsed.scheme != "mongodb" or "@" in parsed.netloc or "," in parsed.netloc:
        return None
    options = {k.lower() for k in urllib.parse.parse_qs(parsed.query, keep_blank_values=True)}
    if not options <= _DIRECT_MONGODB_OPTIONS or not parsed.hostname:
        return None
    try:
        return parsed.hostname, parsed.port or 27017
    except ValueError:
        return None


def _recv_exactly(sock, size):
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("MongoDB closed the connection")
        data += chunk
    return data


def mongodb_command(sock, command, request_id, bson):
    """One OP_MSG command on sock; the reply document, raising on ok != 1."""
    body = struct.pack("<IB", 0, 0) + bson.encode({**command, "$db": "admin"})
    sock.sendall(struct.pack("<iiii", 16 + len(body), request_id, 0, _OP_MSG) + body)
    length, _, _, opcode = struct.unpack("<iiii", _recv_exactly(sock, 16))
    payload = _recv_exactly(sock, length - 16)
    if opcode != _OP_MSG or payload[4] != 0:
        raise ConnectionError(f"unexpected MongoDB reply (opcode {opcode})")
    reply = bson.decode(payload[5:])
    if reply.get("ok") != 1:
        raise RuntimeError(f"{next(iter(command))} failed: {reply.get('errmsg', reply)}")
    return reply


def _check_mongodb(t):
    timeout = t.get("timeout") or 5
    address = direct_mongodb_address(t["uri"])
    if address is not None:
        # The same ping and buildInfo over one socket: MongoClient costs ~0.3 s
        # to import and ~0.6 s more at interpreter exit (its monitor threads),
        # most of a status run's probe module.
        import bson

        with socket.create_connection(address, timeout=timeout) as sock:
            mongodb_command(sock, {"ping": 1}, 1, bson)
            version = mongodb_command(sock, {"buildInfo": 1}, 2, bson).get("version", "unknown")
        return True, f"ping ok, server {version}"
    import pymongo

    timeout_ms = int(timeout * 1000)
    client = pymongo.MongoClient(
        t["uri"], serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms
    )
    try:
        client.admin.command("ping")
        version = client.server_info().get("version", "unknown")
        return True, f"ping ok, server {version}"
    finally:
        client.close()


def selenium_free_slots(status):
    """(ready, free slots) from a Selenium Grid 4 /status document."""
    value = status.get("value") or {}
    free = 0
    for node in value.get("nodes") or []:
        if node.get("availability", "UP") != "UP":
            continue
        free += sum(1 for slot in node.get("slots") or [] if not slot.get("session"))
    return bool(value.get("ready")), free


def selenium_verdict(status, min_free_slots=1, min_nodes=0):
    """(ok, detail) of a Grid /status document: ready, at least
    ``min_free_slots`` idle slots and, on several hosts, at least
    ``min_nodes`` nodes up (a worker host's node that did not come back
    leaves the Grid ready, with fewer slots)."""
    ready, free = selenium_free_slots(status)
    nodes = sum(
        1
        for node in (status.get("value") or {}).get("nodes") or []
        if node.get("availability", "UP") == "UP"
    )
    detail = f"ready={ready}, nodes={nodes}, free slots={free}"
    short = [f"need {min_free_slots}"] if free < min_free_slots else []
    short += [f"need {min_nodes} nodes"] if nodes < min_nodes else []
    return ready and not short, ", ".join([detail, *short])


def _check_selenium(t):
    url = t["url"].rstrip("/")
    if not url.endswith("/status"):
        url += "/status"
    status, body = _get(url, t.get("timeout") or 5, t.get("validate_certs", True))
    if status != 200:
        return False, f"HTTP {status} from {url}"
    need = t.get("min_free_slots")
    return selenium_verdict(json.loads(body), 1 if need is None else need, t.get("min_nodes") or 0)


def airflow_unhealthy(health):
    """Components whose status is not healthy in an Airflow 2/3 health document."""
    bad = []
    for component, info in sorted(health.items()):
        if not isinstance(info, dict) or "status" not in info:
            continue
        # Components that are not deployed report status null.
        if info["status"] not in (None, "healthy"):
            bad.append(f"{component}={info['status']}")
    return bad


def _check_airflow(t):
    base = t["url"].rstrip("/")
    timeout = t.get("timeout") or 5
    certs = t.get("validate_certs", True)
    detail_api = "Airflow 3"
    status, body = _get(base + "/api/v2/monitor/health", timeout, certs)
    if status == 404:
        detail_api = "Airflow 2"
        status, body = _get(base + "/health", timeout, certs)
    if status != 200:
        return False, f"{detail_api} health answered HTTP {status}"
    bad = airflow_unhealthy(json.loads(body))
    if bad:
        return False, f"{detail_api}: unhealthy {', '.join(bad)}"
    return True, f"{detail_api}: all components healthy"


_CHECKS = {
    "http": _check_http,
    "tcp": _check_tcp,
    "mongodb": _check_mongodb,
    "selenium": _check_selenium,
    "airflow": _check_airflow,
}


def check_target(target):
    """(ok, detail, latency_ms, extra) for one target; never raises for a down
    service. ``extra`` holds what an http target answered (``status``, ``json``)."""
    started = time.monotonic()
    try:
        ok, detail, *rest = _CHECKS[target["type"]](target)
    except Exception as exc:  # every failure of a probe is an unhealthy result
        ok, detail, rest = False, f"{type(exc).__name__}: {exc}", ()
    extra = rest[0] if rest else {}
    return ok, detail, round((time.monotonic() - started) * 1000, 1), extra


def run_checks(
    targets, retries=0, interval=2.0, deadline=60.0, sleep=time.sleep, clock=time.monotonic
):
    """Check all targets, re-checking the unhealthy ones; returns {name: result}."""
    for target in targets:
        validate_target(target)
    names = [t["name"] for t in targets]
    if len(set(names)) != len(names):
        raise TargetError("target names must be unique")
    # In the targets' order, whichever probe answers first.
    results = dict.fromkeys(names)
    pending = list(targets)
    end = clock() + deadline
    attempt = 0
    with ThreadPoolExecutor(max_workers=max(len(targets), 1)) as pool:
        while pending:
            attempt += 1
            still = []
            # One thread a target: the round ends with its slowest probe.
            for target, (ok, detail, latency, extra) in zip(
                pending, pool.map(check_target, pending), strict=True
            ):
                results[target["name"]] = {
                    "ok": ok,
                    "type": target["type"],
                    "latency_ms": latency,
                    "detail": detail,
                    "attempts": attempt,
                    **extra,
                }
                if not ok:
                    still.append(target)
            pending = still
            if not pending or attempt > retries or clock() + interval > end:
                break
            sleep(interval)
    return results
