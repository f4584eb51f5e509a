"""The compose fragment filters (plugins/filter/acs_compose.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import yaml

_PATH = Path(__file__).resolve().parents[3] / "plugins" / "filter" / "acs_compose.py"
_SPEC = importlib.util.spec_from_file_location("acs_compose", _PATH)
acs_compose = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(acs_compose)

COMPOSE = {
    "healthcheck": {"interval": "10s", "timeout": "10s", "retries": "12", "start_period": "30s"},
    "healthchecks": {"redis": ["CMD-SHELL", "redis-cli ping | grep -q PONG"]},
    "resources": {
        "redis": {"mem_limit": "256m", "cpus": 0.25},
        "mongodb": {"mem_limit": "1g", "cpus": 1},
    },
    "restart": "unless-stopped",
    "logging": {"driver": "json-file", "options": {"max-size": "10m", "max-file": "3"}},
}


def _block(service, **kw):
    text = acs_compose.acs_compose_common(COMPOSE, service, **kw)
    assert all(line.startswith("    ") for line in text.splitlines()), text
    return yaml.safe_load(text)


def test_common_settings_of_a_service():
    assert _block("redis") == {
        "healthcheck": {
            "test": ["CMD-SHELL", "redis-cli ping | grep -q PONG"],
            "interval": "10s",
            "timeout": "10s",
            "retries": 12,
            "start_period": "30s",
        },
        "mem_limit": "256m",
        "cpus": 0.25,
        "restart": "unless-stopped",
        "logging": {"driver": "json-file", "options": {"max-size": "10m", "max-file": "3"}},
        "networks": ["backend"],
    }


def test_no_test_keeps_the_image_healthcheck_and_cpus_is_a_float():
    block = _block("mongodb")
    assert "test" not in block["healthcheck"]
    assert block["cpus"] == 1.0 and isinstance(block["cpus"], float)


def test_overrides():
    block = _block("redis", test=["CMD", "true"], start_period="120s", timeout="5s", restart="")
    assert block["healthcheck"]["test"] == ["CMD", "true"]
    assert block["healthcheck"]["start_period"] == "120s"
    assert block["healthcheck"]["timeout"] == "5s"
    assert "restart" not in block
    assert _block("redis", restart="no")["restart"] == "no"
    assert _block("redis", networks=["grid", "egress"])["networks"] == ["grid", "egress"]


def test_http_probe():
    probe = acs_compose.acs_compose_http_probe("http://127.0.0.1:8000/health")
    assert probe[:3] == ["CMD", "python3", "-c"]
    assert probe[-1] == "http://127.0.0.1:8000/health"
    compile(probe[3], "probe", "exec")


def test_filters_are_registered():
    assert set(acs_compose.FilterModule().filters()) == {
        "acs_compose_common",
        "acs_compose_http_probe",
        "acs_compose_cluster_ports",
    }
