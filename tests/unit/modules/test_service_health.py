"""service_health: argument validation and the probe logic (no servers)."""

from __future__ import annotations

import socket
import threading

import pytest
from ansible.module_utils import acs_health, acs_health_spec
from module_support import ModuleFail


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (
            {"name": "x", "type": "tcp", "host": "127.0.0.1"},
            "type is tcp but all of the following are missing: port",
        ),
        ({"name": "x", "type": "ftp", "url": "ftp://x"}, "value of type must be one of"),
        ({"name": "x", "type": "http"}, "type is http but all of the following are missing: url"),
        (
            {"name": "x", "type": "http", "url": "http://x", "json_value": 1},
            "missing parameter(s) required by 'json_value': json_path",
        ),
        (
            {"name": "x", "type": "http", "url": "file:///etc/passwd"},
            "must start with http:// or https://",
        ),
    ],
)
def test_bad_targets_fail_naming_the_field(run_module, target, message):
    with pytest.raises(ModuleFail) as failed:
        run_module("service_health", {"targets": [target]})
    assert message in failed.value.result["msg"]


def test_unhealthy_target_is_named_and_nothing_changes(run_module):
    port = _closed_port()
    with pytest.raises(ModuleFail) as failed:
        run_module(
            "service_health",
            {
                "targets": [{"name": "db-port", "type": "tcp", "host": "127.0.0.1", "port": port}],
                "retries": 2,
                "interval": 0,
                "_ansible_check_mode": True,
            },
        )
    result = failed.value.result
    assert result["msg"].startswith("unhealthy: db-port (")
    assert result["changed"] is False
    assert result["unhealthy"] == ["db-port"]
    assert result["targets"]["db-port"]["attempts"] == 3


def test_healthy_tcp_target(run_module):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        result = run_module(
            "service_health",
            {"targets": [{"name": "listener", "type": "tcp", "host": "127.0.0.1", "port": port}]},
        )
    assert result["healthy"] == ["listener"]
    assert result["targets"]["listener"]["ok"] is True
    assert result["targets"]["listener"]["latency_ms"] >= 0


def test_deadline_stops_retrying():
    now = [0.0]
    port = _closed_port()
    results = acs_health.run_checks(
        [{"name": "t", "type": "tcp", "host": "127.0.0.1", "port": port}],
        retries=100,
        interval=10,
        deadline=25,
        sleep=lambda seconds: now.__setitem__(0, now[0] + seconds),
        clock=lambda: now[0],
    )
    # Rounds at t=0, 10, 20; the next would start at 30, past the deadline.
    assert results["t"]["ok"] is False
    assert results["t"]["attempts"] == 3


def test_json_path():
    doc = {"a": {"b": [{"c": 1}, {"c": "x"}]}, "status": "ok"}
    assert acs_health.json_path(doc, "status") == "ok"
    assert acs_health.json_path(doc, "a.b.1.c") == "x"
    assert acs_health.json_path(doc, "a.b.-1.c") == "x"
    assert acs_health.json_path(doc, "a.b.5.c") is acs_health._MISSING
    assert acs_health.json_path(doc, "a.z") is acs_health._MISSING


def test_selenium_free_slots_counts_idle_slots_on_up_nodes():
    status = {
        "value": {
            "ready": True,
            "nodes": [
                {"availability": "UP", "slots": [{"session": None}, {"session": {"id": 1}}]},
                {"availability": "DOWN", "slots": [{"session": None}]},
                {"availability": "UP", "slots": [{"session": None}]},
            ],
        }
    }
    assert acs_health.selenium_free_slots(status) == (True, 2)
    assert acs_health.selenium_free_slots({"value": {"ready": False}}) == (False, 0)


def test_selenium_verdict_wants_free_slots_and_every_expected_node():
    two_nodes = {
        "value": {
            "ready": True,
            "nodes": [
                {"availability": "UP", "slots": [{"session": None}, {"session": None}]},
                {"availability": "UP", "slots": [{"session": {"id": 1}}]},
                {"availability": "DOWN", "slots": [{"session": None}]},
            ],
        }
    }
    assert acs_health.selenium_verdict(two_nodes) == (True, "ready=True, nodes=2, free slots=2")
    # a worker host's node missing: ready, slots free, one node short
    assert acs_health.selenium_verdict(two_nodes, min_nodes=3) == (
        False,
        "ready=True, nodes=2, free slots=2, need 3 nodes",
    )
    assert acs_health.selenium_verdict(two_nodes, min_free_slots=3) == (
        False,
        "ready=True, nodes=2, free slots=2, need 3",
    )
    not_ready = {"value": {"ready": False, "nodes": []}}
    assert acs_health.selenium_verdict(not_ready, min_free_slots=0)[0] is False


def test_airflow_unhealthy_components():
    airflow3 = {
        "metadatabase": {"status": "healthy"},
        "scheduler": {"status": "unhealthy", "latest_scheduler_heartbeat": None},
        "triggerer": {"status": "healthy"},
        "dag_processor": {"status": None},
    }
    assert acs_health.airflow_unhealthy(airflow3) == ["scheduler=unhealthy"]
    assert acs_health.airflow_unhealthy({"metadatabase": {"status": "healthy"}}) == []


@pytest.mark.parametrize(
    ("retries", "interval", "deadline", "expected"),
    [
        (None, 2, None, (0, 60.0)),  # one probe, as before
        (None, 2, 30, (15, 30)),  # derived: ceil(deadline / interval)
        (None, 4, 30, (8, 30)),
        (3, 2, 30, (3, 30)),  # an explicit retries is kept
        (None, 0, 30, (0, 30)),
    ],
)
def test_retries_derive_from_the_deadline(retries, interval, deadline, expected):
    assert acs_health_spec.poll_bounds(retries, interval, deadline) == expected


def _tcp_targets(count):
    return [{"name": f"t{i}", "type": "tcp", "host": "127.0.0.1", "port": 1} for i in range(count)]


def test_a_round_probes_its_targets_concurrently(monkeypatch):
    """Each probe waits for all the others: only probes running at the same
    time get past the barrier (one after the other, the first would wait for
    ever; the barrier's timeout only keeps a regression from hanging)."""
    barrier = threading.Barrier(4, timeout=30)

    def probe(target):
        barrier.wait()
        return True, f"{target['name']} met the others"

    monkeypatch.setitem(acs_health._CHECKS, "tcp", probe)
    results = acs_health.run_checks(_tcp_targets(4))
    assert list(results) == ["t0", "t1", "t2", "t3"]
    assert all(r["ok"] and r["attempts"] == 1 for r in results.values()), results


def test_retries_re_check_only_the_unhealthy_targets_together(monkeypatch):
    """Round 2 probes t1 and t2 again, concurrently (a two-party barrier);
    t0, healthy in round 1, is not probed again."""
    calls = []
    lock = threading.Lock()
    second_round = threading.Barrier(2, timeout=30)

    def probe(target):
        with lock:
            calls.append(target["name"])
            attempt = calls.count(target["name"])
        if target["name"] == "t0":
            return True, "up"
        if attempt == 1:
            return False, "starting"
        second_round.wait()
        return target["name"] == "t1", f"attempt {attempt}"

    monkeypatch.setitem(acs_health._CHECKS, "tcp", probe)
    results = acs_health.run_checks(_tcp_targets(3), retries=1, interval=0, sleep=lambda s: None)
    assert sorted(calls) == ["t0", "t1", "t1", "t2", "t2"]
    assert {n: (r["ok"], r["attempts"]) for n, r in results.items()} == {
        "t0": (True, 1),
        "t1": (True, 2),
        "t2": (False, 2),
    }


def test_http_read_sends_headers_and_returns_status_and_json(run_module, monkeypatch):
    sent = {}

    def fake_get(url, timeout, validate_certs=True, headers=None):
        sent[url] = headers
        if url.endswith("/errors"):
            return 401, b'{"detail": "missing key"}'
        return 200, b'{"items": [{"name": "b1"}]}'

    monkeypatch.setattr(acs_health, "_get", fake_get)
    key = {"X-API-Key": "secret-key-0123456789"}
    result = run_module(
        "service_health",
        {
            "targets": [
                {
                    "name": "backups",
                    "type": "http",
                    "url": "http://api/backup/",
                    "headers": key,
                    "return_json": True,
                },
                {"name": "health", "type": "http", "url": "http://api/health"},
            ]
        },
    )
    assert sent == {"http://api/backup/": key, "http://api/health": None}
    backups = result["targets"]["backups"]
    assert (backups["ok"], backups["status"]) == (True, 200)
    assert backups["json"]["items"][0]["name"] == "b1"
    assert result["targets"]["health"]["status"] == 200
    assert "json" not in result["targets"]["health"]  # not asked for

    with pytest.raises(ModuleFail) as failed:
        run_module(
            "service_health",
            {
                "targets": [
                    {"name": "errors", "type": "http", "url": "http://api/errors"},
                    {"name": "r", "type": "http", "url": "http://api/errors", "return_json": True},
                ]
            },
        )
    errors = failed.value.result["targets"]
    assert (errors["errors"]["status"], errors["errors"]["detail"]) == (
        401,
        "HTTP 401, expected [200]",
    )
    assert errors["r"]["json"] == {"detail": "missing key"}


@pytest.mark.parametrize(
    ("uri", "address"),
    [
        ("mongodb://10.0.0.5:27017/?serverSelectionTimeoutMS=3000", ("10.0.0.5", 27017)),
        ("mongodb://mongodb", ("mongodb", 27017)),
        ("mongodb://127.0.0.1:27018/?directConnection=true", ("127.0.0.1", 27018)),
        # Credentials, several hosts, TLS, a replica set, SRV: pymongo's job.
        ("mongodb://user:pw@mongodb:27017", None),
        ("mongodb://a:27017,b:27017", None),
        ("mongodb://mongodb:27017/?tls=true", None),
        ("mongodb://mongodb:27017/?replicaSet=rs0", None),
        ("mongodb+srv://cluster.example.com", None),
    ],
)
def test_direct_mongodb_ping_only_for_plain_single_host_uris(uri, address):
    assert acs_health.direct_mongodb_address(uri) == address


def _fake_mongodb(replies):
    """A listening socket answering each OP_MSG with the next reply document."""
    bson = pytest.importorskip("bson")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    commands = []

    def serve():
        conn, _ = server.accept()
        with conn:
            for reply in replies:
                header = acs_health._recv_exactly(conn, 16)
                length, request_id = int.from_bytes(header[:4], "little"), header[4:8]
                body = acs_health._recv_exactly(conn, length - 16)
                commands.append(bson.decode(body[5:]))
                out = b"\0\0\0\0\0" + bson.encode(reply)
                conn.sendall(
                    (16 + len(out)).to_bytes(4, "little")
                    + b"\x2a\0\0\0"
                    + request_id
                    + (2013).to_bytes(4, "little")
                    + out
                )
        server.close()

    threading.Thread(target=serve, daemon=True).start()
    return server.getsockname()[1], commands


def test_mongodb_ping_over_the_wire_reports_the_server_version():
    port, commands = _fake_mongodb([{"ok": 1.0}, {"ok": 1.0, "version": "7.0.42"}])
    ok, detail, _, _ = acs_health.check_target(
        {"name": "m", "type": "mongodb", "uri": f"mongodb://127.0.0.1:{port}/", "timeout": 5}
    )
    assert (ok, detail) == (True, "ping ok, server 7.0.42")
    assert commands == [{"ping": 1, "$db": "admin"}, {"buildInfo": 1, "$db": "admin"}]


def test_mongodb_ping_refused_by_the_server_is_unhealthy():
    port, _ = _fake_mongodb([{"ok": 0.0, "errmsg": "not ready"}])
    ok, detail, _, _ = acs_health.check_target(
        {"name": "m", "type": "mongodb", "uri": f"mongodb://127.0.0.1:{port}/", "timeout": 5}
    )
    assert not ok
    assert detail == "RuntimeError: ping failed: not ready"


def test_mongodb_down_is_unhealthy():
    ok, detail, _, _ = acs_health.check_target(
        {"name": "m", "type": "mongodb", "uri": f"mongodb://127.0.0.1:{_closed_port()}/"}
    )
    assert not ok
    assert "refused" in detail.lower()
