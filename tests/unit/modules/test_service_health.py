"""service_health: argument validation and the probe logic (no servers)."""

from __future__ import annotations

import socket

import pytest
from ansible.module_utils import acs_health
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
    from module_support import load_library

    module = load_library("service_health")
    assert module.poll_bounds(retries, interval, deadline) == expected
