# Copyright: Airflow Crawler System contributors
# Apache License 2.0
"""The throwaway server of a restore drill: a one-off container from the
stack's mongodb image on a network of its own (``internal``: no route out,
no other container on it, no published port), removed with its network and
anonymous volumes afterwards, whatever happened. Names start with
``DRILL_PREFIX``, read at each run (patch ``acs_backup.throwaway.DRILL_PREFIX``)."""

from __future__ import annotations

import contextlib
import time
import uuid

from .containers import STACK_MONGODB_SERVICE, _docker_engine
from .errors import BackupError
from .native import _client

DRILL_PREFIX = "acs-drill-"
LABEL = "org.airflow-crawler-system.restore-drill"


def stack_mongodb_image(image=None, project=None):
    """``image`` checked to exist, else the image of the running compose
    ``mongodb`` service (of compose ``project`` when given): the server the stack runs."""
    docker, client = _docker_engine()
    try:
        if not image:
            labels = [f"com.docker.compose.service={STACK_MONGODB_SERVICE}"]
            if project:
                labels.append(f"com.docker.compose.project={project}")
            found = client.containers.list(filters={"label": labels})
            if not found:
                raise BackupError(
                    f"no running {STACK_MONGODB_SERVICE} service container to take the image "
                    "from: give image (the stack's mongodb image, e.g. from docker compose images)"
                )
            image = found[0].attrs["Config"]["Image"]
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound as exc:
            raise BackupError(f"image={image!r} is not in the Docker engine: pull it") from exc
    finally:
        client.close()
    return image


def leftovers(tag=None):
    """Names of drill containers and networks still in the engine (all, or one run's)."""
    _docker, client = _docker_engine()
    flt = {"label": f"{LABEL}={tag}" if tag else LABEL}
    try:
        return [c.name for c in client.containers.list(all=True, filters=flt)] + [
            n.name for n in client.networks.list(filters=flt)
        ]
    finally:
        client.close()


def _wait_ready(uri, cont, timeout):
    deadline = time.monotonic() + timeout
    while True:
        client = _client(uri, timeout_ms=2000)
        try:
            client.admin.command("ping")
            return
        except Exception as exc:  # pymongo errors until the server listens
            cont.reload()
            if cont.status not in ("created", "running"):
                logs = cont.logs(tail=20).decode(errors="replace")
                raise BackupError(f"the throwaway server exited ({cont.status}): {logs}") from exc
            if time.monotonic() > deadline:
                raise BackupError(f"the throwaway server did not answer in {timeout} s") from exc
            time.sleep(0.5)
        finally:
            client.close()


@contextlib.contextmanager
def throwaway_server(image, ready_timeout=120.0, info=None):
    """Yields ``info`` {image, network, container, uri} of a fresh server; after
    the block ``info["removed"]`` says whether container and network are gone
    (filled in the caller's ``info`` too when the server failed to start)."""
    docker, client = _docker_engine()
    tag = uuid.uuid4().hex[:12]
    name = DRILL_PREFIX + tag
    labels = {LABEL: tag}
    info = info if info is not None else {}
    info.update(image=image, network=name, container=name, removed=False, tag=tag)
    net = cont = None
    try:
        try:
            net = client.networks.create(name, driver="bridge", internal=True, labels=labels)
            cont = client.containers.create(image, name=name, network=name, labels=labels)
            cont.start()
            cont.reload()
        except docker.errors.APIError as exc:
            raise BackupError(f"could not start the throwaway server from {image}: {exc}") from exc
        address = cont.attrs["NetworkSettings"]["Networks"][name]["IPAddress"]
        info["uri"] = f"mongodb://{address}:27017/"
        _wait_ready(info["uri"], cont, ready_timeout)
        yield info
    finally:
        if cont is not None:
            with contextlib.suppress(docker.errors.NotFound):
                cont.remove(force=True, v=True)
        if net is not None:
            with contextlib.suppress(docker.errors.NotFound):
                net.remove()
        client.close()
        info["removed"] = not leftovers(tag)
