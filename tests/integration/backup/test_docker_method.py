"""The docker method: mongodump/mongorestore run inside a container through
the Docker API, output streamed to the host.

STAND-IN, said plainly: the MongoDB database tools cannot be built on this
machine, so the container gets two small shell scripts named mongodump and
mongorestore. The stand-in mongodump prints a real archive (made beforehand
by the engine from FerretDB); the stand-in mongorestore copies the archive it
is given. What is tested for real: the Docker exec streaming, hashing, the
manifest, the copy of the archive into the container and the command lines."""

from __future__ import annotations

import io
import tarfile
import uuid

import pytest
from backup_support import snapshot

from crawler import _backup_engine as engine

pytestmark = [pytest.mark.integration, pytest.mark.docker]

IMAGE = "acs-local/debian:bookworm"

MONGODUMP = """#!/bin/sh
if [ "$1" = "--version" ]; then echo "mongodump version: 100.10.0-standin"; exit 0; fi
echo "$@" > /fixtures/mongodump.args
exec cat /fixtures/dump.archive.gz
"""

MONGORESTORE = """#!/bin/sh
if [ "$1" = "--version" ]; then echo "mongorestore version: 100.10.0-standin"; exit 0; fi
echo "$@" > /fixtures/mongorestore.args
for arg in "$@"; do
  case "$arg" in --archive=*) cp "${arg#--archive=}" /fixtures/restored.archive.gz ;; esac
done
"""


def _tar(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, (data, mode) in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _read(container, path):
    stream, _ = container.get_archive(path)
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        return tar.extractfile(tar.getmembers()[0]).read()


@pytest.fixture
def tools_container(mongo_uri, seeded, tmp_path):
    import docker

    client = docker.from_env()
    try:
        client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"image {IMAGE} is missing: build the local images first (make images)")
    made = engine.run_backup(mongo_uri, str(tmp_path / "source"), label="src", method="native")
    archive = open(made["path"], "rb").read()  # noqa: SIM115
    name = "acs-test-tools-" + uuid.uuid4().hex[:8]
    # Its own network: the test does not depend on the default bridge.
    network = client.networks.create(name + "_default")
    container = client.containers.create(IMAGE, ["sleep", "600"], name=name, network=network.name)
    try:
        container.start()
        container.exec_run(["mkdir", "-p", "/fixtures"])
        container.put_archive(
            "/usr/local/bin",
            _tar(
                {
                    "mongodump": (MONGODUMP.encode(), 0o755),
                    "mongorestore": (MONGORESTORE.encode(), 0o755),
                }
            ),
        )
        container.put_archive("/fixtures", _tar({"dump.archive.gz": (archive, 0o644)}))
        yield container, archive
    finally:
        container.remove(force=True)
        network.remove()


def test_backup_streams_mongodump_output_from_the_container(mongo_uri, tools_container, tmp_path):
    container, archive = tools_container
    result = engine.run_backup(
        mongo_uri, str(tmp_path / "b"), label="dock", method="auto", container=container.name
    )
    assert result["method"] == "docker"
    assert open(result["path"], "rb").read() == archive  # noqa: SIM115
    assert result["tool"] == {"name": "mongodump", "version": "mongodump version: 100.10.0-standin"}
    assert result["totals"]["documents"] == 365
    args = _read(container, "/fixtures/mongodump.args").decode()
    assert args.split() == ["--uri=mongodb://localhost:27017", "--archive", "--gzip", "--quiet"]


def test_restore_copies_the_archive_into_the_container(
    mongo_uri, seeded, tools_container, tmp_path
):
    container, archive = tools_container
    backup = engine.run_backup(
        mongo_uri, str(tmp_path / "b"), label="dock", method="docker", container=container.name
    )
    before = snapshot(seeded)
    engine.restore(
        mongo_uri,
        backup["path"],
        str(tmp_path / "b"),
        method="docker",
        container=container.name,
        skip_safety_backup=True,
    )
    assert _read(container, "/fixtures/restored.archive.gz") == archive
    args = _read(container, "/fixtures/mongorestore.args").decode().split()
    assert "--drop" in args and "--gzip" in args
    assert snapshot(seeded) == before
