# Copyright: Airflow Crawler System contributors
# Apache License 2.0
"""Where the dump and the restore run, one class a place:

``HostTools``        mongodump/mongorestore on this host (method host, recorded
                     as "mongodump", the value manifests have always carried)
``ContainerExec``    the tools inside the mongodb container (docker exec)
``OneOffContainer``  the tools in a one-off container on the stack network
``Native``           pymongo and the engine's archive writer and reader

``choose_runner`` checks the method options and picks one; every runner has
``plan`` (what check mode reports), ``version`` (the tool for the manifest),
``dump`` and ``restore``. The mongodump/mongorestore command line of all of
them comes from ``tool_argv``.

A URI with a password never goes on a command line (see ``tool_config``):
the tools read it from a ``--config`` file.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import shutil
import subprocess
import tempfile

from . import containers
from .archive import _CHUNK
from .common import ARCHIVE_SUFFIX, ENGINE_VERSION
from .errors import BackupError, _PartialRestore
from .native import _dump_native, _restore_native
from .tool_config import has_password, host_tool_config, planned_config, tool_config

ONE_OFF_URI = "mongodb://mongodb:27017"
CONTAINER_URI = "mongodb://localhost:27017"
# Where mongorestore finds the archive inside a tools container.
_RESTORE_INSIDE = "/tmp/acs-restore" + ARCHIVE_SUFFIX  # noqa: S108 - a path inside the container
# Where the one-off container's tools find their --config file.
_CONFIG_INSIDE = "/tmp/acs-mongo-tools.yaml"  # noqa: S108 - a path inside the container
METHODS = ("auto", "host", "mongodump", "docker", "native")


def find_tool(name, tools_dir=None):
    """Path of mongodump/mongorestore in tools_dir, /var/cache/acs-build/bin or PATH."""
    for folder in filter(None, [tools_dir, os.environ.get("ACS_MONGO_TOOLS_DIR")]):
        candidate = os.path.join(folder, name)
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which(name)


def _tool_version(path):
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except OSError:
        return "unknown"
    first = out.strip().splitlines()[0] if out.strip() else "unknown"
    return first.split(":", 1)[-1].strip() if ":" in first else first


def default_container_uri(network=None):
    """Where the tools find the server: the service by name from a one-off
    container on the stack network, localhost inside the mongodb container."""
    return ONE_OFF_URI if network else CONTAINER_URI


def tool_argv(tool, uri, archive=None, program=None, databases=(), dry_run=False, config=None):
    """The one mongodump/mongorestore command line: mongodump writes the gzip
    archive to stdout; mongorestore reads ``archive`` and drops what it replaces.
    With ``config`` (the file from ``tool_config``) the URI is read from there."""
    cmd = [program or tool, "--config=" + config if config else "--uri=" + uri]
    if tool == "mongodump":
        cmd += ["--archive", "--gzip", "--quiet"]
        cmd += ["--db=" + d for d in databases or ()]
    else:
        cmd += ["--archive=" + archive, "--gzip", "--drop", "--quiet"]
        if dry_run:
            cmd.append("--dryRun")
    return cmd


class Runner:
    """Common state; ``tool`` is the one this runner was chosen for."""

    method = None

    def __init__(
        self,
        tool,
        uri,
        container=None,
        container_uri=None,
        tools_dir=None,
        network=None,
        image=None,
    ):
        self.tool = tool
        self.uri = uri
        self.container = container
        self.container_uri = container_uri or default_container_uri(network)
        self.tools_dir = tools_dir
        self.network = network
        self.image = image

    def prepare(self):
        """Check what the run needs beyond the options; returns resolved options."""
        return {}

    def manifest_extra(self):
        return {}

    def dry_run(self, archive):
        """A restore rehearsal where the tool has one (only on this host)."""

    def _argv(self, uri, archive=None, program=None):
        """Command line for check mode: the run's, the password redacted."""
        config = planned_config(uri) if has_password(uri) else None
        return tool_argv(self.tool, uri, archive, program=program, config=config)


class HostTools(Runner):
    method = "mongodump"

    def plan(self, archive=None):
        path = find_tool(self.tool, self.tools_dir)
        return {"runs_in": "this host", "command": self._argv(self.uri, archive, path)}

    def version(self):
        return {"name": self.tool, "version": _tool_version(find_tool(self.tool, self.tools_dir))}

    def dump(self, out, client, server_version, databases=None, compress_level=6, recorder=None):
        if databases and len(databases) > 1:
            raise BackupError(
                "mongodump dumps one database or all: give one entry in databases, "
                "none, or use method=native"
            )
        path = find_tool("mongodump", self.tools_dir)
        with host_tool_config(self.uri) as config, tempfile.TemporaryFile() as err:
            cmd = tool_argv("mongodump", self.uri, program=path, databases=databases, config=config)
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)
            for chunk in iter(lambda: proc.stdout.read(_CHUNK), b""):
                out.write(chunk)
            code = proc.wait()
            err.seek(0)
            stderr = err.read().decode(errors="replace")
        if code != 0:
            raise BackupError(f"mongodump exited with {code}: {stderr.strip()[-2000:]}")
        return None

    def _mongorestore(self, archive, dry_run=False):
        path = find_tool("mongorestore", self.tools_dir)
        with host_tool_config(self.uri) as config:
            cmd = tool_argv(
                "mongorestore", self.uri, archive, program=path, dry_run=dry_run, config=config
            )
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise BackupError(
                f"mongorestore{' --dryRun' if dry_run else ''} failed ({proc.returncode}): "
                f"{proc.stderr.strip()[-2000:]}"
            )

    def dry_run(self, archive):
        self._mongorestore(archive, dry_run=True)

    def restore(self, archive, client, verified):
        self._mongorestore(archive)


class ContainerExec(Runner):
    method = "docker"

    def plan(self, archive=None):
        if self.tool == "mongodump":
            runs_in = f"container {self.container} (docker exec), output streamed to the host"
        else:
            runs_in = f"container {self.container} (docker exec), archive copied in first"
        command = self._argv(self.container_uri, _RESTORE_INSIDE)
        return {"runs_in": runs_in, "container": self.container, "command": command}

    def manifest_extra(self):
        return {"docker": {"container": self.container, "image": None, "network": None}}

    def version(self):
        _ok, version = containers._docker_has_tool(self.container, self.tool)
        return {"name": self.tool, "version": version.splitlines()[0] if version else "unknown"}

    def _config(self):
        """The --config file inside the container (None without a password)."""
        if not has_password(self.container_uri):
            return contextlib.nullcontext()
        return containers.file_in_container(self.container, tool_config(self.container_uri))

    def dump(self, out, client, server_version, databases=None, compress_level=6, recorder=None):
        with self._config() as config:
            cmd = tool_argv("mongodump", self.container_uri, config=config)
            code, stderr = containers.stream_exec(self.container, cmd, out)
        if code != 0:
            raise BackupError(
                f"mongodump in container {self.container} exited with {code}: "
                f"{stderr.strip()[-2000:]}"
            )
        return None

    def restore(self, archive, client, verified):
        with self._config() as config:
            cmd = tool_argv("mongorestore", self.container_uri, _RESTORE_INSIDE, config=config)
            code, output = containers.exec_with_file(self.container, cmd, archive, _RESTORE_INSIDE)
        if code != 0:
            raise BackupError(f"mongorestore in {self.container} failed ({code}): {output}")


class OneOffContainer(Runner):
    method = "docker"

    def prepare(self):
        self.image, self.network = containers.resolve_one_off(self.image, self.network)
        return {"image": self.image, "network": self.network}

    def plan(self, archive=None):
        """What a one-off run does, as check mode reports it (password redacted)."""
        return {
            "runs_in": "one-off container, removed afterwards",
            "image": self.image,
            "network": self.network,
            "name_prefix": containers.ONE_OFF_PREFIX,
            "command": self._argv(self.container_uri, _RESTORE_INSIDE),
            "archive": archive,
        }

    def manifest_extra(self):
        return {"docker": {"container": None, "image": self.image, "network": self.network}}

    def version(self):
        # The version is the one mongodump writes into the archive header.
        return None

    def _run(self, tool, **io_args):
        config = None
        if has_password(self.container_uri):
            # Copied into the container before it starts, gone with the container.
            config = (_CONFIG_INSIDE, tool_config(self.container_uri))
        cmd = tool_argv(tool, self.container_uri, _RESTORE_INSIDE, config=config and config[0])
        code, stderr = containers.run_one_off(
            tool, self.image, self.network, cmd, config=config, **io_args
        )
        where = f"{tool} in a one-off container from {self.image} on network {self.network}"
        return code, where, stderr.strip()[-2000:]

    def dump(self, out, client, server_version, databases=None, compress_level=6, recorder=None):
        code, where, stderr = self._run("mongodump", out=out)
        if code != 0:
            raise BackupError(f"{where} exited with {code}: {stderr}")
        return None

    def restore(self, archive, client, verified):
        code, where, stderr = self._run("mongorestore", archive=archive, inside=_RESTORE_INSIDE)
        if code != 0:
            raise _PartialRestore(f"{where} exited with {code}: {stderr}")


class Native(Runner):
    method = "native"

    def plan(self, archive=None):
        what = "pymongo and the engine's archive writer"
        if self.tool == "mongorestore":
            what = "pymongo: drop, create, insert the archived documents, then the indexes"
        return {"runs_in": f"this host ({what})", "command": None}

    def version(self):
        return {"name": "acs-backup-native", "version": ENGINE_VERSION}

    def dump(self, out, client, server_version, databases=None, compress_level=6, recorder=None):
        with gzip.GzipFile(
            filename="", fileobj=out, mode="wb", compresslevel=compress_level, mtime=0
        ) as gz:
            buffered = io.BufferedWriter(gz, _CHUNK)
            counts = _dump_native(client, buffered, databases, server_version, recorder=recorder)
            buffered.flush()
        return counts

    def restore(self, archive, client, verified):
        _restore_native(client, archive, verified)


def _check_options(method, tool, tools_dir, container, network, image):
    """The method word the options allow ("auto" resolved below); raises on conflicts."""
    if method not in METHODS:
        raise BackupError(
            f"method={method!r} is invalid: use auto, host (old name mongodump), docker or native"
        )
    # "host" (the tools on this host) is recorded as "mongodump" (docs/backup-format.md).
    given, method = method, "mongodump" if method == "host" else method
    if container and (network or image):
        raise BackupError(
            "container and network/image are mutually exclusive: container runs the tools in "
            "the mongodb container, network (with image) in a one-off container"
        )
    if image and not network:
        raise BackupError(
            f"image={image!r} needs network (the stack network the one-off container joins)"
        )
    if network and method in ("mongodump", "native"):
        raise BackupError(
            f"network={network!r} applies to method=docker (or auto) only, not method={given}"
        )
    if method == "auto":
        if find_tool(tool, tools_dir):
            return "mongodump"
        if container and containers._docker_has_tool(container, tool)[0]:
            return "docker"
        return "docker" if network else "native"
    if method == "mongodump" and not find_tool(tool, tools_dir):
        raise BackupError(
            f"method={given} but {tool} is not in tools_dir or on PATH; install the MongoDB "
            "database tools or use method=auto"
        )
    if method == "docker" and not (container or network):
        raise BackupError(
            "method=docker needs container (the mongodb container name) or network (the stack "
            "network, for a one-off tools container)"
        )
    return method


def choose_runner(tool, uri, method="auto", **options):
    """The runner for ``tool`` (mongodump or mongorestore) under the method
    options of run_backup and restore: container, container_uri, tools_dir,
    network, image (see the package docstring)."""
    given = Runner(tool, uri, **options)
    chosen = _check_options(
        method, tool, given.tools_dir, given.container, given.network, given.image
    )
    if chosen == "docker":
        cls = OneOffContainer if given.network else ContainerExec
    else:
        cls = HostTools if chosen == "mongodump" else Native
    return cls(tool, uri, **options)
