# Copyright: Airflow Crawler System contributors
# Apache License 2.0
"""The Docker engine side of method=docker: the mongodb container (docker
exec) and the one-off tools container on the stack network.

One-off tools container: a new container from ``image`` on the stack network
runs one mongodump/mongorestore against the mongodb service by name, and is
removed afterwards whatever happened. Its name starts with
``ONE_OFF_PREFIX``, read at each run (patch ``acs_backup.containers.ONE_OFF_PREFIX``).
"""

from __future__ import annotations

import contextlib
import io
import os
import tarfile
import tempfile
import uuid

from .errors import BackupError

ONE_OFF_PREFIX = "acs-backup-tools-"
STACK_MONGODB_SERVICE = "mongodb"


def _docker_engine():
    try:
        import docker
    except ImportError as exc:
        raise BackupError(
            "method=docker needs the docker Python SDK on the host (pip install docker)"
        ) from exc
    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # docker.errors.* and connection errors alike
        raise BackupError(
            f"the Docker engine is not reachable ({exc}); method=docker runs the tools "
            "through it: check DOCKER_HOST and that dockerd runs"
        ) from exc
    return docker, client


def _docker_container(container):
    _docker, client = _docker_engine()
    try:
        return client, client.containers.get(container)
    except Exception as exc:  # docker.errors.* and connection errors alike
        raise BackupError(
            f"container={container!r} is not reachable through the Docker engine: {exc}"
        ) from exc


def _docker_has_tool(container, name):
    _client, cont = _docker_container(container)
    result = cont.exec_run([name, "--version"])
    return result.exit_code == 0, result.output.decode(errors="replace").strip()


def _put_file(cont, path, directory, name):
    """Copy the file ``path`` into the container as ``directory/name``; False if refused."""
    with tempfile.TemporaryFile() as tar_buf:
        with tarfile.open(fileobj=tar_buf, mode="w") as tar:
            tar.add(path, arcname=name)
        tar_buf.seek(0)
        return cont.put_archive(directory, tar_buf)


def _put_secret(cont, data, inside, owner=(0, 0)):
    """Write ``data`` into the container as ``inside``, mode 0600 for ``owner``
    (uid, gid), without a copy on the host's disk; False if refused."""
    info = tarfile.TarInfo(os.path.basename(inside))
    info.size, info.mode = len(data), 0o600
    info.uid, info.gid = owner
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.addfile(info, io.BytesIO(data))
    return cont.put_archive(os.path.dirname(inside), buf.getvalue())


def _exec_owner(cont):
    """(uid, gid) a docker exec runs as: the container's user, root when unset."""
    if not (cont.attrs.get("Config") or {}).get("User"):
        return 0, 0
    ids = [cont.exec_run(["id", flag]).output.decode().strip() for flag in ("-u", "-g")]
    if not all(i.isdigit() for i in ids):
        raise BackupError(f"could not learn the user id of container {cont.name}: {ids}")
    return int(ids[0]), int(ids[1])


@contextlib.contextmanager
def file_in_container(container, data):
    """A private file holding ``data`` in the container for a docker exec
    (readable by the exec's user only), removed afterwards; yields its path."""
    _client_unused, cont = _docker_container(container)
    inside = f"/tmp/acs-mongo-tools-{uuid.uuid4().hex}.yaml"  # noqa: S108 - inside the container
    if not _put_secret(cont, data, inside, _exec_owner(cont)):
        raise BackupError(f"could not copy the tools' config file into container {container}")
    try:
        yield inside
    finally:
        cont.exec_run(["rm", "-f", inside])


def stream_exec(container, cmd, out):
    """Run cmd in the container, its stdout into ``out``; returns (code, stderr)."""
    client, cont = _docker_container(container)
    api = client.api
    exec_id = api.exec_create(cont.id, cmd, stdout=True, stderr=True)["Id"]
    stderr = []
    for chunk_out, chunk_err in api.exec_start(exec_id, stream=True, demux=True):
        if chunk_out:
            out.write(chunk_out)
        if chunk_err:
            stderr.append(chunk_err)
    code = api.exec_inspect(exec_id)["ExitCode"]
    return code, b"".join(stderr).decode(errors="replace")


def exec_with_file(container, cmd, archive, inside):
    """Copy ``archive`` into the container as ``inside``, run cmd, remove the copy;
    returns (code, output)."""
    _client_unused, cont = _docker_container(container)
    if not _put_file(cont, archive, os.path.dirname(inside), os.path.basename(inside)):
        raise BackupError(f"could not copy the archive into container {container}")
    try:
        code, output = cont.exec_run(cmd)
        return code, output.decode(errors="replace")
    finally:
        cont.exec_run(["rm", "-f", inside])


def _must_exist(lookup, name, not_found, message):
    try:
        lookup(name)
    except not_found as exc:
        raise BackupError(message) from exc


def resolve_one_off(image, network):
    """(image, network) of the one-off tools container, both checked to exist.

    Without ``image``: the image of the stack's ``mongodb`` service container
    on that network (its compose service label), which has the tools in the
    official mongo image.
    """
    docker, client = _docker_engine()
    try:
        _must_exist(
            client.networks.get,
            network,
            docker.errors.NotFound,
            f"network={network!r} does not exist in the Docker engine: give the stack's "
            "network (docker network ls; for example airflow-crawler-system_backend)",
        )
        if not image:
            found = client.containers.list(
                filters={
                    "network": network,
                    "label": f"com.docker.compose.service={STACK_MONGODB_SERVICE}",
                }
            )
            if not found:
                raise BackupError(
                    f"no running {STACK_MONGODB_SERVICE} service container on network "
                    f"{network!r} to take the image from: give image (one with mongodump "
                    "and mongorestore, for example mongo:7.0)"
                )
            image = found[0].attrs["Config"]["Image"]
        _must_exist(
            client.images.get,
            image,
            docker.errors.ImageNotFound,
            f"image={image!r} is not in the Docker engine: pull or build it first, or give "
            "another image with mongodump and mongorestore",
        )
    finally:
        client.close()
    return image, network


def _image_owner(cont):
    """(uid, gid) a new container runs as, when its image names them by number."""
    user = (cont.attrs.get("Config") or {}).get("User") or "0"
    uid, _sep, gid = user.partition(":")
    if uid.isdigit() and (gid or "0").isdigit():
        return int(uid), int(gid or 0)
    raise BackupError(
        f"the tools image runs as user {user!r}: give an image whose user is a number "
        "(or root), so the tools' private config file can be owned by it"
    )


def run_one_off(tool, image, network, cmd, out=None, archive=None, inside=None, config=None):
    """Run ``cmd`` in a new container from image on network; returns (code, stderr).

    mongodump's stdout streams into ``out``; for mongorestore the ``archive``
    file is copied into the container as ``inside`` before it starts, and so
    is ``config`` ((path, data): the tools' private config file). The
    container is removed in every case, also when the run or the copy fails.
    """
    docker, client = _docker_engine()
    name = ONE_OFF_PREFIX + uuid.uuid4().hex[:12]
    try:
        try:
            cont = client.containers.create(
                image,
                cmd[1:],
                entrypoint=[cmd[0]],
                name=name,
                network=network,
                labels={"org.airflow-crawler-system.backup-tools": tool},
            )
        except docker.errors.ImageNotFound as exc:
            raise BackupError(f"image={image!r} is not in the Docker engine: pull it") from exc
        except docker.errors.APIError as exc:
            raise BackupError(
                f"could not create the one-off {tool} container from {image} on network "
                f"{network}: {exc}"
            ) from exc
        try:
            if archive is not None and not _put_file(
                cont, archive, os.path.dirname(inside), os.path.basename(inside)
            ):
                raise BackupError(f"could not copy {archive} into the {tool} container")
            if config is not None and not _put_secret(
                cont, config[1], config[0], _image_owner(cont)
            ):
                raise BackupError(f"could not copy the config file into the {tool} container")
            # Attached before the start: no output is lost.
            stream = client.api.attach(cont.id, stdout=True, stderr=True, stream=True, demux=True)
            cont.start()
            stderr = []
            for chunk_out, chunk_err in stream:
                if chunk_out and out is not None:
                    out.write(chunk_out)
                if chunk_err:
                    stderr.append(chunk_err)
            code = cont.wait().get("StatusCode", -1)
            return code, b"".join(stderr).decode(errors="replace")
        except docker.errors.APIError as exc:
            raise BackupError(f"the one-off {tool} container {name} failed: {exc}") from exc
        finally:
            with contextlib.suppress(docker.errors.NotFound):
                cont.remove(force=True)
    finally:
        client.close()
