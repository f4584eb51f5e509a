"""The acs/airflow image (crawler/Dockerfile.airflow): the DAG files import
cleanly in Airflow's DagBag inside the image."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.docker]

IMAGE = os.environ.get("ACS_AIRFLOW_IMAGE", "acs/airflow:0.1.0")


def test_dagbag_inside_the_airflow_image():
    docker = pytest.importorskip("docker")
    client = docker.from_env()
    try:
        client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(
            f"{IMAGE} missing: docker build -f crawler/Dockerfile.airflow "
            "--build-arg AIRFLOW_BASE_IMAGE=acs-local/airflow:3.3.2 -t acs/airflow:0.1.0 ."
        )
    probe = Path(__file__).with_name("dagbag_probe.py").read_text()
    out = client.containers.run(
        IMAGE,
        entrypoint=["python", "-c", probe, "/opt/airflow/dags"],
        remove=True,
        environment={
            "MONGO_URI": "mongodb://127.0.0.1:1/",
            "CRAWLER_DAG_SOURCES_CACHE": "/tmp/none.json",
        },
        user="50000",
        network_mode="none",
    )
    line = next(ln for ln in out.decode().splitlines() if ln.startswith("DAGBAG_JSON "))
    bag = json.loads(line.split(" ", 1)[1])
    assert bag["import_errors"] == {}
    assert "backup_dag" in bag["dags"]
