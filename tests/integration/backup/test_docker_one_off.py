"""The docker method with a one-off tools container: mongodump/mongorestore run
in a new container from an image, attached to the stack network, against the
mongodb service by name; the container is removed afterwards, also on error.

STAND-IN, said plainly: the MongoDB database tools cannot be built on this
machine, so the tools image is acs-local/debian:bookworm plus two small shell
scripts named mongodump and mongorestore, committed into a test image. The
stand-in mongodump accepts only the command line the engine must use, checks
that the name "mongodb" resolves on the network, and prints a real archive
(made beforehand by the engine from FerretDB). The stand-in mongorestore
accepts only its command line, checks the name too, and checks the sha256 of
the archive it was given against the backup's. The "mongodb service" on the
test network is a sleeping container with the compose service label and the
network alias mongodb, so the default image is looked up as on the stack. What
is tested for real: creating, attaching and removing the container through the
Docker API, the network and service name, streaming the archive out and in,
hashing, the manifest, the errors and the check-mode plan."""

from __future__ import annotations

import contextlib
import hashlib
import io
import tarfile
import uuid

import pytest
from backup_support import play, snapshot

from crawler import _backup_engine as engine

pytestmark = [pytest.mark.integration, pytest.mark.docker]

BASE_IMAGE = "acs-local/debian:bookworm"
PREFIX = "acs-helper-test-"

MONGODUMP = """#!/bin/sh
# STAND-IN for mongodump: the real MongoDB tools cannot be built on this machine.
expected="--uri=mongodb://mongodb:27017 --archive --gzip --quiet"
if [ "$*" != "$expected" ]; then
  echo "stand-in mongodump: unexpected arguments: $*" >&2; exit 2
fi
getent hosts mongodb >/dev/null || {
  echo "stand-in mongodump: the service name mongodb does not resolve" >&2; exit 3; }
exec cat /fixtures/dump.archive.gz
"""

MONGORESTORE = """#!/bin/sh
# STAND-IN for mongorestore: the real MongoDB tools cannot be built on this machine.
expected="--uri=mongodb://mongodb:27017 --archive=/tmp/acs-restore.archive.gz --gzip --drop --quiet"
if [ "$*" != "$expected" ]; then
  echo "stand-in mongorestore: unexpected arguments: $*" >&2; exit 2
fi
getent hosts mongodb >/dev/null || {
  echo "stand-in mongorestore: the service name mongodb does not resolve" >&2; exit 3; }
echo "$(cat /fixtures/expected.sha256)  /tmp/acs-restore.archive.gz" | sha256sum -c --status || {
  echo "stand-in mongorestore: the archive differs from the backup" >&2; exit 4; }
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


def _leftovers(client, prefix):
    return [c.name for c in client.containers.list(all=True, filters={"name": prefix})]


@pytest.fixture
def stack(mongo_uri, seeded, tmp_path, monkeypatch):
    """A network with a 'mongodb' service container and a tools image; all removed after."""
    import docker

    client = docker.from_env()
    try:
        client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"image {BASE_IMAGE} is missing: build the local images first (make images)")
    made = engine.run_backup(mongo_uri, str(tmp_path / "source"), label="src", method="native")
    archive = open(made["path"], "rb").read()  # noqa: SIM115
    tag = uuid.uuid4().hex[:8]
    # One-off containers of this run carry the test prefix, so they are findable.
    monkeypatch.setattr(engine.containers, "ONE_OFF_PREFIX", f"{PREFIX}tools-{tag}-")
    image = f"{PREFIX}tools:{tag}"
    builder = client.containers.create(BASE_IMAGE, ["true"], name=f"{PREFIX}build-{tag}")
    network = service = None
    try:
        builder.put_archive(
            "/usr/local/bin",
            _tar(
                {
                    "mongodump": (MONGODUMP.encode(), 0o755),
                    "mongorestore": (MONGORESTORE.encode(), 0o755),
                }
            ),
        )
        sha = hashlib.sha256(archive).hexdigest().encode()
        builder.put_archive(
            "/",
            _tar(
                {
                    "fixtures/dump.archive.gz": (archive, 0o644),
                    "fixtures/expected.sha256": (sha, 0o644),
                }
            ),
        )
        builder.commit(repository=f"{PREFIX}tools", tag=tag)
        builder.remove(force=True)
        builder = None
        network = client.networks.create(f"{PREFIX}net-{tag}")
        api = client.api
        created = api.create_container(
            image,
            ["sleep", "600"],
            name=f"{PREFIX}mongodb-{tag}",
            labels={"com.docker.compose.service": "mongodb"},
            host_config=api.create_host_config(network_mode=network.name),
            networking_config=api.create_networking_config(
                {network.name: api.create_endpoint_config(aliases=["mongodb"])}
            ),
        )
        service = client.containers.get(created["Id"])
        service.start()
        yield {
            "client": client,
            "network": network.name,
            "image": image,
            "archive": archive,
            "prefix": engine.containers.ONE_OFF_PREFIX,
        }
    finally:
        for container in (builder, service):
            if container is not None:
                container.remove(force=True)
        for name in _leftovers(client, engine.containers.ONE_OFF_PREFIX):
            client.containers.get(name).remove(force=True)
        if network is not None:
            network.remove()
        with contextlib.suppress(docker.errors.ImageNotFound):
            client.images.remove(image, force=True)


def test_backup_streams_the_archive_out_of_a_one_off_container(mongo_uri, stack, tmp_path):
    """No image given: the image of the network's mongodb service container is used."""
    result = engine.run_backup(
        mongo_uri, str(tmp_path / "b"), label="oneoff", method="docker", network=stack["network"]
    )
    assert result["method"] == "docker"
    assert result["docker"] == {
        "container": None,
        "image": stack["image"],
        "network": stack["network"],
    }
    assert open(result["path"], "rb").read() == stack["archive"]  # noqa: SIM115
    assert result["sha256"] == hashlib.sha256(stack["archive"]).hexdigest()
    # The version mongodump wrote into the archive header.
    assert result["tool"] == {
        "name": "mongodump",
        "version": f"acs-backup native {engine.ENGINE_VERSION}",
    }
    assert result["totals"]["documents"] == 365
    assert _leftovers(stack["client"], stack["prefix"]) == []


def test_restore_streams_the_archive_into_a_one_off_container(mongo_uri, seeded, stack, tmp_path):
    backups = tmp_path / "b"
    backup = engine.run_backup(
        mongo_uri,
        str(backups),
        label="oneoff",
        method="docker",
        network=stack["network"],
        image=stack["image"],
    )
    before = snapshot(seeded)
    result = engine.restore(
        mongo_uri, backup["path"], str(backups), method="docker", network=stack["network"]
    )
    # The stand-in mongorestore exits 0 only for the same archive, by name
    # mongodb on the network, with the expected command line.
    assert result["method"] == "docker"
    assert result["safety_backup"]["docker"]["network"] == stack["network"]
    assert result["safety_backup"]["path"].endswith("-pre-restore.archive.gz")
    assert result["restored_counts"] == engine.manifest_counts(backup)
    assert snapshot(seeded) == before
    assert _leftovers(stack["client"], stack["prefix"]) == []


def test_a_failing_tool_leaves_no_container_and_no_partial_archive(mongo_uri, stack, tmp_path):
    with pytest.raises(engine.BackupError) as failed:
        engine.run_backup(
            mongo_uri,
            str(tmp_path / "b"),
            method="docker",
            network=stack["network"],
            container_uri="mongodb://elsewhere:27017",
        )
    message = str(failed.value)
    assert f"mongodump in a one-off container from {stack['image']}" in message
    assert "exited with 2" in message and "unexpected arguments" in message
    assert _leftovers(stack["client"], stack["prefix"]) == []
    assert list((tmp_path / "b").iterdir()) == []


def test_a_missing_network_or_image_is_named(mongo_uri, stack, tmp_path):
    with pytest.raises(engine.BackupError, match="network='acs-helper-test-absent' does not"):
        engine.run_backup(
            mongo_uri, str(tmp_path / "b"), method="docker", network="acs-helper-test-absent"
        )
    with pytest.raises(engine.BackupError, match="image='acs-helper-test-absent:1' is not in"):
        engine.run_backup(
            mongo_uri,
            str(tmp_path / "b"),
            method="docker",
            network=stack["network"],
            image="acs-helper-test-absent:1",
        )
    assert not (tmp_path / "b").exists()


def test_modules_check_mode_say_what_they_would_run(mongo_uri, stack, tmp_path):
    backups = tmp_path / "b"
    backup = engine.run_backup(mongo_uri, str(backups), method="docker", network=stack["network"])
    results = play(
        tmp_path,
        [
            {
                "name": "backup",
                "mongodb_backup": {
                    "uri": mongo_uri,
                    "backup_dir": str(backups),
                    "label": "planned",
                    "method": "docker",
                    "network": stack["network"],
                    "login_user": "backup",
                    "login_password": "s3cret-pw",
                },
            },
            {
                "name": "restore",
                "mongodb_restore": {
                    "uri": mongo_uri,
                    "backup_dir": str(backups),
                    "source": backup["path"],
                    "method": "docker",
                    "network": stack["network"],
                },
            },
        ],
        check=True,
    )
    dump_cmd = ["mongodump", "--uri=mongodb://mongodb:27017", "--archive", "--gzip", "--quiet"]
    planned = results["backup"]
    assert planned["changed"] is True
    assert planned["path"].endswith("-planned.archive.gz")
    assert planned["plan"] == {
        "runs_in": "one-off container, removed afterwards",
        "image": stack["image"],
        "network": stack["network"],
        "name_prefix": "acs-backup-tools-",  # the module runs in its own process
        "command": [
            "mongodump",
            # The password goes to the tool in a file, never on its command line.
            "--config=<0600 file, removed afterwards, with uri: "
            "mongodb://backup:********@mongodb:27017>",
            "--archive",
            "--gzip",
            "--quiet",
        ],
        "archive": None,
    }
    assert "s3cret-pw" not in str(planned)
    plan = results["restore"]["plan"]
    assert plan["verified"] is True
    assert plan["safety_backup"]["path"].endswith("-pre-restore.archive.gz")
    assert plan["safety_backup"]["image"] == stack["image"]
    assert plan["safety_backup"]["command"] == dump_cmd
    assert plan["restore"] == {
        "runs_in": "one-off container, removed afterwards",
        "image": stack["image"],
        "network": stack["network"],
        "name_prefix": "acs-backup-tools-",
        "command": [
            "mongorestore",
            "--uri=mongodb://mongodb:27017",
            "--archive=/tmp/acs-restore.archive.gz",
            "--gzip",
            "--drop",
            "--quiet",
        ],
        "archive": backup["path"],
    }
    assert sorted(p.name for p in backups.iterdir()) == sorted(
        [backup["name"] + ".archive.gz", backup["name"] + ".manifest.json"]
    )
    # Check mode starts no container.
    assert _leftovers(stack["client"], "acs-backup-tools-") == []
