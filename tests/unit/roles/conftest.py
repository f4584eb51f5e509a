"""Fixtures for the stack role tests: render the roles' templates with
ansible-playbook (no Docker engine, no servers) and run site.yml's up-front
validation with chosen variables."""

from __future__ import annotations

import json
import subprocess

import pytest
from stack_role_helpers import Rendered, render, run_playbook


@pytest.fixture(scope="session")
def rendered_local(tmp_path_factory) -> Rendered:
    """Templates as inventory/local renders them (local images, no Grafana)."""
    return render(
        tmp_path_factory.mktemp("local"),
        {
            "stack_image_source": "local",
            "stack_observability_ui_enabled": False,
            # As inventory/local computes it for one configured source.
            "airflow_managed_dags": ["backup_dag", "crawl_news"],
        },
    )


@pytest.fixture(scope="session")
def rendered_official(tmp_path_factory) -> Rendered:
    """Templates with the production defaults (official images, Grafana on)."""
    return render(
        tmp_path_factory.mktemp("official"),
        {
            "monitoring_node_exporter_targets": ["node1:9100"],
            "monitoring_remediator_target": "172.17.0.1:9180",
            "monitoring_alert_webhook_url": "https://alerts.example.invalid/hook",
            "airflow_connections": [{"conn_id": "mongo_default", "uri": "mongodb://mongodb:27017"}],
        },
    )


@pytest.fixture(scope="session")
def preflight():
    """Run site.yml's validation only (tag preflight) with extra variables."""

    def _run(extra: dict) -> subprocess.CompletedProcess:
        return run_playbook(
            [
                "playbooks/site.yml",
                "-i",
                "inventory/local",
                "--tags",
                "preflight",
                "--skip-tags",
                "docker_engine",
                "-e",
                json.dumps(extra),
            ]
        )

    return _run
