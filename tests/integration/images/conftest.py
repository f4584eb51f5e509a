"""Containers from the local image set (roles/local_images), started with the
Docker SDK on a private bridge network and removed afterwards. Images are
not built here: a missing image fails the test with the command that builds
it (`ansible-playbook playbooks/images.yml`)."""

from __future__ import annotations

import time
import uuid

import docker
import pytest
from docker.errors import ImageNotFound

BUILD_HINT = "build the local image set first: ansible-playbook playbooks/images.yml"


class Lab:
    """Starts containers on one network; knows their addresses and health."""

    def __init__(self, client: docker.DockerClient):
        self.client = client
        self.tag = uuid.uuid4().hex[:8]
        self.network = client.networks.create(f"acs-images-test-{self.tag}", driver="bridge")
        self.containers: list = []

    def run(self, image: str, alias: str | None = None, **kwargs):
        try:
            self.client.images.get(image)
        except ImageNotFound:
            pytest.fail(f"image {image} is missing; {BUILD_HINT}")
        container = self.client.containers.create(
            image, name=f"acs-images-test-{self.tag}-{alias or len(self.containers)}", **kwargs
        )
        self.containers.append(container)
        self.network.connect(container, aliases=[alias] if alias else None)
        container.start()
        return container

    def ip(self, container) -> str:
        container.reload()
        return container.attrs["NetworkSettings"]["Networks"][self.network.name]["IPAddress"]

    def health(self, container) -> str:
        container.reload()
        state = container.attrs["State"]
        if not state.get("Running"):
            return "exited"
        return state.get("Health", {}).get("Status", "none")

    def wait_healthy(self, container, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        status = "unknown"
        while time.monotonic() < deadline:
            status = self.health(container)
            if status == "healthy":
                return
            if status == "exited":
                break
            time.sleep(1)
        container.reload()
        probes = container.attrs["State"].get("Health", {}).get("Log", [])[-3:]
        logs = container.logs(tail=30).decode(errors="replace")
        pytest.fail(
            f"{container.name} is {status} after {timeout:.0f}s; last probes: {probes}\nlogs:\n{logs}"
        )

    def close(self) -> None:
        for container in reversed(self.containers):
            container.remove(force=True, v=True)
        self.network.remove()


@pytest.fixture(scope="session")
def docker_client():
    client = docker.from_env(timeout=300)
    client.ping()
    yield client
    client.close()


@pytest.fixture()
def lab(docker_client):
    lab = Lab(docker_client)
    yield lab
    lab.close()
