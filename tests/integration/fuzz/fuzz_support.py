"""A scratch copy of the deployed API for the fuzz tier: the api image the
compose project runs, started once more as a one-off container with the
deployed service's environment except everything that could reach the
operator's data or services.

Why not the operator's MongoDB with another database name: a backup dumps
every database of the server and a restore replaces them, so a fuzzed
POST /api/backup/restore would rewrite the operator's `crawler` database.
The scratch API therefore gets its own MongoDB (the deployed mongodb image)
on a network of its own that is `internal` (no route out of it: no crawl,
Airflow or Grid call can leave), a scratch backup directory and a key made
for this run. Both containers and the network are removed at the end."""

from __future__ import annotations

import os
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

PROJECT = "airflow-crawler-system"
# What is the operator's and must not reach the scratch container.
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|KEYS?(_FILE)?$")
# Connection refused at once inside the container: "pointing at nothing".
NOWHERE = "http://127.0.0.1:9"
# Developers: ACS_FUZZ_CODE=<repository> runs that checkout's crawler code in
# the deployed image (to check a fix before the image is rebuilt).
CODE_FROM = os.environ.get("ACS_FUZZ_CODE")


# Lines for the end of the pytest run (the closing note quotes the counts).
SUMMARY: list[str] = []


def pytest_terminal_summary(terminalreporter):
    if SUMMARY:
        terminalreporter.section("fuzz tier")
        for line in SUMMARY:
            terminalreporter.write_line(line)


@dataclass
class ScratchApi:
    base_url: str
    key: str
    database: str
    backup_dir: Path
    image: str


def _deployed_image(client, service: str, fallback_env: str, fallback: str) -> str:
    """The image id the compose project's service runs (the stack is deployed
    before the full tier), else the tag the images playbook builds."""
    running = client.containers.list(
        filters={
            "label": [
                f"com.docker.compose.project={PROJECT}",
                f"com.docker.compose.service={service}",
            ]
        }
    )
    if running:
        return running[0].image.id
    name = os.environ.get(fallback_env, fallback)
    try:
        return client.images.get(name).id
    except Exception:  # docker.errors.ImageNotFound; the message says what to do
        pytest.fail(f"no running {PROJECT} {service} and no image {name}: make deploy first")


def _deployed_env(client) -> dict[str, str]:
    running = client.containers.list(
        filters={
            "label": [f"com.docker.compose.project={PROJECT}", "com.docker.compose.service=api"]
        }
    )
    if not running:
        return {}
    env = dict(e.split("=", 1) for e in running[0].attrs["Config"]["Env"])
    return {k: v for k, v in env.items() if not SECRET_NAME.search(k)}


def _wait_healthy(base_url: str, container, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base_url}/health", timeout=3).status_code == 200:
                return
        except requests.RequestException:
            pass
        container.reload()
        if container.status == "exited":
            break
        time.sleep(1)
    pytest.fail(f"scratch API not healthy: {container.logs()[-3000:].decode(errors='replace')}")


@pytest.fixture(scope="session")
def scratch_api(tmp_path_factory):
    docker = pytest.importorskip("docker")
    client = docker.from_env()
    api_image = _deployed_image(client, "api", "ACS_CRAWLER_IMAGE", "acs/crawler:0.1.0")
    mongo_image = _deployed_image(
        client, "mongodb", "ACS_MONGODB_IMAGE", "acs-local/mongodb:7.0-ferretdb1.24.2"
    )
    tag = uuid.uuid4().hex[:10]
    backup_dir = tmp_path_factory.mktemp("fuzz-backups")
    os.chown(backup_dir, 10001, 10001)  # the image's crawler user
    database = f"acs_fuzz_{tag}"
    key = secrets.token_urlsafe(24)
    net = client.networks.create(f"acs-fuzz-{tag}", internal=True)
    started = []
    try:
        mongo = client.containers.run(
            mongo_image,
            name=f"acs-fuzz-mongodb-{tag}",
            detach=True,
            network=net.name,
            # not `mongodb`: a mistake elsewhere must not resolve to the operator's
            networking_config={
                net.name: client.api.create_endpoint_config(aliases=["fuzz-mongodb"])
            },
        )
        started.append(mongo)
        env = _deployed_env(client)
        env.pop("CRAWLER_SOURCES_FILE", None)  # the operator's config is not mounted
        env.update(
            MONGO_URI="mongodb://fuzz-mongodb:27017",
            MONGO_DB=database,
            BACKUP_DIR="/data/backups",
            CRAWLER_API_KEYS=key,
            AIRFLOW_API_URL=NOWHERE,
            AIRFLOW_API_USERNAME="fuzz",
            AIRFLOW_API_PASSWORD="fuzz",
            SELENIUM_HUB_URL=NOWHERE,
            PUSHGATEWAY_URL="",
            # a backup may wait for another, not for a minute
            BACKUP_LOCK_TIMEOUT="5",
        )
        volumes = {str(backup_dir): {"bind": "/data/backups", "mode": "rw"}}
        if CODE_FROM:
            volumes[str(Path(CODE_FROM).resolve())] = {"bind": "/acs-code", "mode": "ro"}
            env["PYTHONPATH"] = "/acs-code/crawler/src"
        api = client.containers.run(
            api_image,
            name=f"acs-fuzz-api-{tag}",
            detach=True,
            network=net.name,
            environment=env,
            volumes=volumes,
            mem_limit="512m",
        )
        started.append(api)
        api.reload()
        ip = api.attrs["NetworkSettings"]["Networks"][net.name]["IPAddress"]
        base_url = f"http://{ip}:8000"
        _wait_healthy(base_url, api)
        yield ScratchApi(base_url, key, database, backup_dir, api_image)
    finally:
        for c in reversed(started):
            c.remove(force=True, v=True)
        net.remove()
