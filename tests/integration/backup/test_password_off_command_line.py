"""While a dump runs, the MongoDB password is nowhere in the process table.

A password on a command line is readable by every local user (/proc/<pid>/cmdline,
ps) and, for docker exec and one-off containers, by everyone who can inspect
the container. Each test starts a dump with a URI holding a password and, while
the tool runs, reads every place a command line shows: /proc/*/cmdline on this
host, ``docker top`` of the container, the exec's and the container's inspect
output. The stand-in tool (the real MongoDB tools cannot be built here, see
test_host_tools.py) records the --config file it was given and then waits for
the test to let it print the archive, so the scan sees it running.
"""

from __future__ import annotations

import contextlib
import io
import os
import pathlib
import tarfile
import tempfile
import threading
import time
import uuid

import pytest

from crawler import _backup_engine as engine

pytestmark = pytest.mark.integration

PASSWORD = "pw-" + uuid.uuid4().hex  # unique: a hit can only come from this run
IMAGE = "acs-local/debian:bookworm"

# Records how the URI came in (the --config file's text, mode and owner),
# then waits up to 60 s for the file ``go`` before printing the archive.
STANDIN = """#!/bin/sh
if [ "$1" = "--version" ]; then echo "mongodump version: 100.10.0-standin"; exit 0; fi
echo "$@" > {d}/args
case "$1" in --config=*)
  f="${{1#--config=}}"; echo "$f" > {d}/config.path
  stat -c '%a %u' "$f" > {d}/config.mode; cat "$f" > {d}/config.yaml ;;
esac
touch {d}/running
i=0; while [ ! -e {d}/go ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
exec cat {d}/dump.archive.gz
"""


def _with_password(uri):
    return uri.replace("mongodb://", f"mongodb://backup:{PASSWORD}@", 1)


def _host_cmdlines():
    """Every process's command line on this host (containers' processes included)."""
    found = []
    for cmdline in pathlib.Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            found.append(cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"))
    return found


def _wait(predicate, what, timeout=60):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _in_background(call):
    """Run ``call`` in a thread; returns (thread, outcome dict: result or error)."""
    outcome = {}

    def run():
        try:
            outcome["result"] = call()
        except Exception as exc:  # reported by the test
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def _finish(thread, outcome):
    thread.join(120)
    assert "error" not in outcome, outcome.get("error")
    return outcome["result"]


def _leaks(places):
    return {where: text for where, text in places.items() if PASSWORD in text}


def test_host_mongodump_reads_the_password_from_a_private_file(mongo_uri, seeded, tmp_path):
    made = engine.run_backup(mongo_uri, str(tmp_path / "source"), label="src", method="native")
    d = tmp_path / "tool"
    (d / "bin").mkdir(parents=True)
    (d / "dump.archive.gz").write_bytes(pathlib.Path(made["path"]).read_bytes())
    script = d / "bin" / "mongodump"
    script.write_text(STANDIN.format(d=d))
    script.chmod(0o755)
    # FerretDB on SQLite takes any PLAIN credentials, so the engine's own
    # client connects with the same URI the tool gets.
    uri = _with_password(mongo_uri + "?authMechanism=PLAIN&authSource=%24external")
    thread, outcome = _in_background(
        lambda: engine.run_backup(uri, str(tmp_path / "b"), method="host", tools_dir=str(d / "bin"))
    )
    try:
        _wait(lambda: (d / "running").exists() or not thread.is_alive(), "mongodump to start")
        leaks = _leaks({f"cmdline {i}": c for i, c in enumerate(_host_cmdlines())})
    finally:
        (d / "go").touch()
    result = _finish(thread, outcome)
    assert leaks == {}
    assert (d / "args").read_text().split()[0].startswith("--config=")
    # The tool got the whole URI, from a file only root could read, gone afterwards.
    assert (d / "config.yaml").read_text() == f'uri: "{uri}"\n'
    assert (d / "config.mode").read_text().split() == ["600", str(os.getuid())]
    assert not pathlib.Path((d / "config.path").read_text().strip()).exists()
    assert engine.verify_backup(result["path"])["verified"] is True


RESTORE_STANDIN = """#!/bin/sh
if [ "$1" = "--version" ]; then echo "mongorestore version: 100.10.0-standin"; exit 0; fi
echo "$@" >> {d}/restore.args
case "$1" in --config=*) cat "${{1#--config=}}" >> {d}/restore.config ;; esac
"""


def test_host_mongorestore_reads_the_password_from_a_private_file(mongo_uri, seeded, tmp_path):
    """The rehearsal, the safety backup and the restore: none has it on its command line."""
    uri = _with_password(mongo_uri + "?authMechanism=PLAIN&authSource=%24external")
    backup = engine.run_backup(uri, str(tmp_path / "b"), label="x", method="native")
    d = tmp_path / "tool"
    (d / "bin").mkdir(parents=True)
    (d / "dump.archive.gz").write_bytes(pathlib.Path(backup["path"]).read_bytes())
    (d / "go").touch()  # the safety backup's mongodump need not wait
    for tool, text in (("mongodump", STANDIN), ("mongorestore", RESTORE_STANDIN)):
        (d / "bin" / tool).write_text(text.format(d=d))
        (d / "bin" / tool).chmod(0o755)
    leftovers = set(pathlib.Path(tempfile.gettempdir()).glob("acs-mongo-tools-*"))
    engine.restore(
        uri, backup["path"], str(tmp_path / "b"), method="host", tools_dir=str(d / "bin")
    )
    runs = (d / "args").read_text() + (d / "restore.args").read_text()
    assert PASSWORD not in runs
    assert len((d / "restore.args").read_text().splitlines()) == 2  # --dryRun, then the restore
    assert (d / "restore.config").read_text() == f'uri: "{uri}"\n' * 2
    # Its --config files are gone (a set: other runs may hold theirs meanwhile).
    assert set(pathlib.Path(tempfile.gettempdir()).glob("acs-mongo-tools-*")) <= leftovers


def _tar(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, (data, mode) in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _read(container, path):
    stream, _ = container.get_archive(path)
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        return tar.extractfile(tar.getmembers()[0]).read().decode()


def _container_places(client, container):
    """What docker shows of a running container's commands: top, exec and container inspect."""
    container.reload()
    places = {"docker top": str(container.top(ps_args="-eo pid,args"))}
    places["container inspect"] = str([container.attrs["Path"], container.attrs["Args"]])
    for exec_id in container.attrs.get("ExecIDs") or []:
        with contextlib.suppress(Exception):  # an exec that just ended
            places[f"exec {exec_id}"] = str(client.api.exec_inspect(exec_id)["ProcessConfig"])
    return places


@pytest.fixture
def docker_tools(mongo_uri, seeded, tmp_path):
    """A tools image (debian plus the stand-in mongodump) and a network; removed after."""
    docker = pytest.importorskip("docker")
    client = docker.from_env()
    try:
        client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"image {IMAGE} is missing: build the local images first (make images)")
    made = engine.run_backup(mongo_uri, str(tmp_path / "source"), label="src", method="native")
    tag = uuid.uuid4().hex[:8]
    builder = client.containers.create(IMAGE, ["true"], name=f"acs-pwtest-build-{tag}")
    try:
        builder.put_archive(
            "/", _tar({"usr/local/bin/mongodump": (STANDIN.format(d="/fx").encode(), 0o755)})
        )
        archive = pathlib.Path(made["path"]).read_bytes()
        builder.put_archive("/", _tar({"fx/dump.archive.gz": (archive, 0o644)}))
        image = builder.commit(repository="acs-pwtest-tools", tag=tag)
    finally:
        builder.remove(force=True)
    network = client.networks.create(f"acs-pwtest-net-{tag}")
    try:
        yield {"client": client, "image": image.id, "network": network.name, "tag": tag}
    finally:
        for cont in client.containers.list(all=True, filters={"name": f"acs-pwtest-{tag}"}):
            cont.remove(force=True)
        network.remove()
        with contextlib.suppress(docker.errors.ImageNotFound):
            client.images.remove(image.id, force=True)


def _exists(container, path):
    return container.exec_run(["test", "-e", path]).exit_code == 0


@pytest.mark.docker
def test_docker_exec_mongodump_reads_the_password_from_a_private_file(
    mongo_uri, docker_tools, tmp_path
):
    client = docker_tools["client"]
    container = client.containers.run(
        docker_tools["image"],
        ["sleep", "600"],
        name=f"acs-pwtest-{docker_tools['tag']}-mongodb",
        network=docker_tools["network"],
        detach=True,
    )
    uri = _with_password("mongodb://localhost:27017/?authSource=admin")
    thread, outcome = _in_background(
        lambda: engine.run_backup(
            mongo_uri,
            str(tmp_path / "b"),
            method="docker",
            container=container.name,
            container_uri=uri,
        )
    )
    try:
        _wait(lambda: _exists(container, "/fx/running") or not thread.is_alive(), "mongodump")
        places = _container_places(client, container)
        places.update({f"cmdline {i}": c for i, c in enumerate(_host_cmdlines())})
    finally:
        container.exec_run(["touch", "/fx/go"])
    _finish(thread, outcome)
    assert any(where.startswith("exec ") for where in places), "the exec was not seen"
    assert _leaks(places) == {}
    assert _read(container, "/fx/config.yaml") == f'uri: "{uri}"\n'
    assert _read(container, "/fx/config.mode").split() == ["600", "0"]
    assert not _exists(container, _read(container, "/fx/config.path").strip())


@pytest.mark.docker
def test_one_off_mongodump_reads_the_password_from_a_private_file(
    mongo_uri, docker_tools, tmp_path, monkeypatch
):
    client = docker_tools["client"]
    prefix = f"acs-pwtest-{docker_tools['tag']}-oneoff-"
    monkeypatch.setattr(engine.containers, "ONE_OFF_PREFIX", prefix)
    uri = _with_password("mongodb://mongodb:27017/?authSource=admin")
    thread, outcome = _in_background(
        lambda: engine.run_backup(
            mongo_uri,
            str(tmp_path / "b"),
            method="docker",
            network=docker_tools["network"],
            image=docker_tools["image"],
            container_uri=uri,
        )
    )

    def one_off():
        found = client.containers.list(filters={"name": prefix})
        return found[0] if found else None

    try:
        _wait(
            lambda: (one_off() and _exists(one_off(), "/fx/running")) or not thread.is_alive(),
            "the one-off mongodump",
        )
        container = one_off()
        places = _container_places(client, container) if container else {}
        places.update({f"cmdline {i}": c for i, c in enumerate(_host_cmdlines())})
        seen = {}
        for name in ("config.yaml", "config.mode"):
            with contextlib.suppress(Exception):  # no --config file: the leak check says why
                seen[name] = _read(container, f"/fx/{name}")
    finally:
        if one_off():
            one_off().exec_run(["touch", "/fx/go"])
    _finish(thread, outcome)
    assert _leaks(places) == {}
    assert seen.get("config.yaml") == f'uri: "{uri}"\n'
    assert seen.get("config.mode", "").split() == ["600", "0"]
    assert client.containers.list(all=True, filters={"name": prefix}) == []
