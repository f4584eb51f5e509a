"""The api image (crawler/Dockerfile) against the local MongoDB stand-in image."""

from __future__ import annotations

import os
import time
import uuid

import pytest
import requests

pytestmark = [pytest.mark.integration, pytest.mark.docker]

API_IMAGE = os.environ.get("ACS_CRAWLER_IMAGE", "acs/crawler:0.1.0")
MONGO_IMAGE = os.environ.get("ACS_MONGODB_IMAGE", "acs-local/mongodb:7.0-ferretdb1.24.2")


def test_api_image_health_turns_healthy_and_follows_mongodb():
    docker = pytest.importorskip("docker")
    client = docker.from_env()
    for img in (API_IMAGE, MONGO_IMAGE):
        try:
            client.images.get(img)
        except docker.errors.ImageNotFound:
            pytest.fail(
                f"image {img} missing: docker build -f crawler/Dockerfile "
                "--build-arg BASE_IMAGE=acs-local/python:3.11 -t acs/crawler:0.1.0 ."
            )
    tag = uuid.uuid4().hex[:8]
    net = client.networks.create(f"acs-test-{tag}")
    containers = []
    try:
        # on the test network only (with the alias the api expects), not on docker0
        mongo = client.containers.create(
            MONGO_IMAGE,
            name=f"acs-test-mongodb-{tag}",
            network=net.name,
            networking_config={net.name: client.api.create_endpoint_config(aliases=["mongodb"])},
        )
        containers.append(mongo)
        mongo.start()
        api = client.containers.run(
            API_IMAGE,
            name=f"acs-test-api-{tag}",
            detach=True,
            network=net.name,
            environment={
                "MONGO_URI": "mongodb://mongodb:27017",
                "CRAWLER_API_KEYS": "k1",
                "CRAWLER_API_READ_KEYS": "r1",
            },
            ports={"8000/tcp": ("127.0.0.1", None)},
        )
        containers.append(api)
        deadline = time.monotonic() + 120
        health = None
        while time.monotonic() < deadline:
            api.reload()
            health = api.attrs["State"].get("Health", {}).get("Status")
            if health == "healthy":
                break
            time.sleep(1)
        assert health == "healthy", api.logs()[-2000:]
        port = api.attrs["NetworkSettings"]["Ports"]["8000/tcp"][0]["HostPort"]
        base = f"http://127.0.0.1:{port}"
        r = requests.get(f"{base}/health", timeout=5)
        assert r.status_code == 200 and r.json()["components"]["mongodb"]["status"] == "up"
        assert api.attrs["Config"]["User"] not in ("", "0", "root")
        assert requests.post(f"{base}/api/sources", json={}, timeout=5).status_code == 401
        # the image reads both kinds of key from its environment
        assert requests.get(f"{base}/api/sources", timeout=5).status_code == 401
        read = {"X-API-Key": "r1"}
        assert requests.get(f"{base}/api/sources", headers=read, timeout=5).status_code == 200
        r = requests.post(f"{base}/api/sources", json={}, headers=read, timeout=5)
        assert r.status_code == 403
        # JSON log lines with the request id
        assert b'"request_id"' in api.logs()
        mongo.stop(timeout=5)
        r = requests.get(f"{base}/health", timeout=10)
        assert r.status_code == 503
        mongo.start()
        deadline = time.monotonic() + 60
        while (
            time.monotonic() < deadline
            and requests.get(f"{base}/health", timeout=10).status_code != 200
        ):
            time.sleep(1)
        assert requests.get(f"{base}/health", timeout=10).status_code == 200
    finally:
        for c in containers:
            c.remove(force=True)
        net.remove()
