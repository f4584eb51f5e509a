# Copyright: Airflow Crawler System contributors
# Apache License 2.0
"""The one MongoDB backup engine of the Airflow Crawler System.

Used unchanged by the Ansible modules (``library/mongodb_backup.py``,
``library/mongodb_restore.py``), by the crawler API (``/api/backup/*``) and by
Airflow's ``backup_dag``. Format: docs/backup-format.md.

Public functions (everything else is internal):

``run_backup(uri, backup_dir, label="manual", **options) -> dict``
    Dump every user database (or ``databases``) to
    ``<backup_dir>/<YYYYmmddTHHMMSSZ>-<label>.archive.gz`` (mongodump archive
    format, gzip), hashing while it streams, then write the manifest
    ``<stem>.manifest.json`` beside it. Options: ``databases``, ``method``
    (auto|host|docker|native; mongodump is the old
    name of host), ``container`` (tools run in it) or
    ``network`` with optional ``image`` (tools run in a one-off container on
    the stack network, removed afterwards), ``container_uri``, ``tools_dir``,
    ``if_older_than`` (seconds or "12h"/"1d"), ``s3`` (dict, see
    ``S3Settings``), ``keep_last``/``max_age_days`` (retention afterwards),
    ``check_mode``. Returns the manifest plus ``path``, ``manifest_path``,
    ``changed``, ``skipped_reason``, ``remote_url``, ``retention``.

``list_backups(backup_dir) -> list[dict]``
    Manifests of complete backups, newest first, each with ``path``,
    ``manifest_path`` and ``good`` (archive present with the manifest's size).
    ``last_good_backup(backup_dir)`` returns the newest good one or None.

``verify_backup(archive_path, manifest=None) -> dict``
    Check the manifest's sha256 and size, then read the archive to its end
    (gzip trailer, archive structure, per-collection CRC) and compare the
    document counts with the manifest. Raises ``BackupError`` on any mismatch.

``restore(uri, source, backup_dir, **options) -> dict``
    ``source`` is an archive path, a manifest path, a backup name, a remote
    key (with ``s3``) or None for the newest good backup. Verifies first,
    takes a safety backup unless ``skip_safety_backup=True``, restores with
    drop semantics, then checks the counts against the manifest.
    ``check_mode`` reports what would be replaced and, in ``plan``, the safety
    backup and the restore step it would run. Same method options as
    ``run_backup``.

``import_archive(source, backup_dir, label="imported") -> dict``
    Adopt an archive made by plain ``mongodump --archive --gzip``: read it to
    the end, copy it into backup_dir and write its manifest.

``apply_retention(backup_dir, keep_last=None, max_age_days=None, s3=None,
check_mode=False) -> dict``
    Delete backups that are neither among the newest ``keep_last`` nor
    younger than ``max_age_days``, locally and (with ``s3``) remotely; the
    newest good backup is never deleted.

All failures raise ``BackupError`` whose message names the problem and the fix.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import zlib
from urllib.parse import urlsplit, urlunsplit

try:
    import bson
    import pymongo
    from bson import json_util
    from bson.raw_bson import RawBSONDocument
    from bson.son import SON

    HAS_PYMONGO = True
    PYMONGO_IMPORT_ERROR = None
except ImportError as _exc:  # pragma: no cover - reported by the callers
    HAS_PYMONGO = False
    PYMONGO_IMPORT_ERROR = _exc

try:
    import anycrc

    _CRC64 = anycrc.Model("CRC64-XZ")
except ImportError:  # pragma: no cover - slow pure-Python fallback
    _CRC64 = None

ENGINE_VERSION = "1.0.0"
MANIFEST_FORMAT = "acs-backup-manifest/1"
ARCHIVE_SUFFIX = ".archive.gz"
MANIFEST_SUFFIX = ".manifest.json"
MAGIC = 0x8199E26D
_MAGIC_BYTES = struct.pack("<I", MAGIC)
_TERMINATOR = b"\xff\xff\xff\xff"
_SYSTEM_DATABASES = ("admin", "local", "config")
_NAME_RE = re.compile(r"^(?P<ts>\d{8}T\d{6}Z)-(?P<label>[A-Za-z0-9._-]+)$")
_LABEL_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_CHUNK = 1 << 20
_INT32 = struct.Struct("<i")
_MAX_BSON = 48 * 1024 * 1024  # a 16 MiB document plus mongodump's headroom


class BackupError(Exception):
    """A backup, verification or restore problem, phrased for an operator."""


class _PartialRestore(Exception):
    """The restore step failed after it may have changed data."""


# ---------------------------------------------------------------- helpers


def _require_pymongo():
    if not HAS_PYMONGO:
        raise BackupError(
            "pymongo is required by the backup engine (pip install pymongo): "
            f"{PYMONGO_IMPORT_ERROR}"
        )


def utcnow():
    return _dt.datetime.now(_dt.UTC)


def _iso(ts):
    return ts.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_iso(value):
    return _dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=_dt.UTC)


def parse_duration(value, field="if_older_than"):
    """Seconds from a number or a string like '90s', '30m', '12h', '7d', '2w'."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", str(value))
        if not match:
            raise BackupError(
                f"{field}={value!r} is not a duration: use seconds or a number with s, m, h, d "
                "or w (for example 20h or 7d)"
            )
        unit = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
        seconds = float(match.group(1)) * unit[match.group(2)]
    if seconds <= 0:
        raise BackupError(f"{field}={value!r} must be greater than zero")
    return seconds


def validate_label(label):
    if not isinstance(label, str) or not _LABEL_RE.match(label):
        raise BackupError(
            f"label={label!r} is invalid: use 1-64 characters from letters, digits, '.', "
            "'_' and '-' (it becomes part of the file name)"
        )
    return label


def crc64(data, crc=0):
    """CRC-64/XZ (Go's crc64 ECMA table), as mongorestore checks it."""
    if _CRC64 is not None:
        return _CRC64.calc(data, crc) if crc else _CRC64.calc(data)
    return _crc64_py(data, crc)


_CRC_TABLE = None


def _crc64_py(data, crc):
    global _CRC_TABLE
    if _CRC_TABLE is None:
        poly = 0xC96C5795D7870F42
        table = []
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ poly if c & 1 else c >> 1
            table.append(c)
        _CRC_TABLE = table
    crc ^= 0xFFFFFFFFFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFFFFFFFFFF


def _signed64(value):
    return value - (1 << 64) if value >= (1 << 63) else value


def backup_name(started, label):
    return "{}-{}".format(started.strftime("%Y%m%dT%H%M%SZ"), label)


def _stem(path):
    base = os.path.basename(path)
    for suffix in (ARCHIVE_SUFFIX, MANIFEST_SUFFIX):
        if base.endswith(suffix):
            return base[: -len(suffix)]
    return base


def manifest_path_for(archive_path):
    return os.path.join(os.path.dirname(archive_path), _stem(archive_path) + MANIFEST_SUFFIX)


def _count_raw_docs(buf):
    count = 0
    pos = 0
    end = len(buf)
    unpack = struct.unpack_from
    while pos < end:
        pos += unpack("<i", buf, pos)[0]
        count += 1
    if pos != end:
        raise BackupError("server returned a malformed BSON batch")
    return count


class _HashingWriter(io.RawIOBase):
    """File writer that hashes and counts what passes through."""

    def __init__(self, fileobj):
        super().__init__()
        self._f = fileobj
        self.sha256 = hashlib.sha256()
        self.size = 0

    def writable(self):
        return True

    def write(self, data):
        self._f.write(data)
        self.sha256.update(data)
        self.size += len(data)
        return len(data)


def file_sha256(path):
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


# ------------------------------------------------------- archive writing


class ArchiveWriter:
    """Writes the mongodump archive format (one segment per collection)."""

    def __init__(self, out, server_version, tool_version):
        self._out = out
        self._server_version = server_version
        self._tool_version = tool_version

    def write_prelude(self, collections):
        out = self._out
        out.write(_MAGIC_BYTES)
        out.write(
            bson.encode(
                SON(
                    [
                        ("concurrent_collections", 1),
                        ("version", "0.1"),
                        ("server_version", self._server_version),
                        ("tool_version", self._tool_version),
                    ]
                )
            )
        )
        for db_name, coll_name, metadata_json, coll_type in collections:
            out.write(
                bson.encode(
                    SON(
                        [
                            ("db", db_name),
                            ("collection", coll_name),
                            ("metadata", metadata_json),
                            ("size", 0),
                            ("type", coll_type),
                        ]
                    )
                )
            )
        out.write(_TERMINATOR)

    def _ns_header(self, db_name, coll_name, eof, crc):
        return bson.encode(
            SON(
                [
                    ("db", db_name),
                    ("collection", coll_name),
                    ("EOF", eof),
                    ("CRC", bson.int64.Int64(_signed64(crc))),
                ]
            )
        )

    def write_collection(self, db_name, coll_name, raw_batches):
        """Write all documents of one collection; returns (documents, bytes)."""
        out = self._out
        crc = 0
        docs = 0
        nbytes = 0
        opened = False
        for batch in raw_batches:
            if not batch:
                continue
            if not opened:
                out.write(self._ns_header(db_name, coll_name, False, 0))
                opened = True
            docs += _count_raw_docs(batch)
            crc = crc64(batch, crc)
            nbytes += len(batch)
            out.write(batch)
        if opened:
            out.write(_TERMINATOR)
        out.write(self._ns_header(db_name, coll_name, True, crc))
        out.write(_TERMINATOR)
        return docs, nbytes


def _metadata_json(coll_name, options, indexes, uuid_hex):
    meta = SON()
    if options:
        meta["options"] = options
    meta["indexes"] = indexes
    if uuid_hex:
        meta["uuid"] = uuid_hex
    meta["collectionName"] = coll_name
    meta["type"] = "collection"
    return json_util.dumps(
        meta, json_options=json_util.CANONICAL_JSON_OPTIONS, separators=(",", ":")
    )


def _user_databases(client, databases):
    if databases:
        return list(databases)
    return sorted(n for n in client.list_database_names() if n not in _SYSTEM_DATABASES)


def _collections_of(client, db_name):
    """[(name, options, uuid_hex)] of the plain collections in one database."""
    found = []
    for info in client[db_name].list_collections():
        name = info["name"]
        if name.startswith("system.") or info.get("type", "collection") != "collection":
            continue
        uuid_value = (info.get("info") or {}).get("uuid")
        uuid_hex = uuid_value.hex() if isinstance(uuid_value, (bytes, bytearray)) else ""
        found.append((name, info.get("options") or {}, uuid_hex))
    return sorted(found)


def _dump_native(client, out, databases, server_version, batch_size=5000):
    """Dump with pymongo into ``out`` (uncompressed stream); returns counts."""
    plan = []
    for db_name in _user_databases(client, databases):
        for name, options, uuid_hex in _collections_of(client, db_name):
            indexes = [SON(ix) for ix in client[db_name][name].list_indexes()]
            plan.append((db_name, name, _metadata_json(name, options, indexes, uuid_hex)))
    writer = ArchiveWriter(out, server_version, f"acs-backup native {ENGINE_VERSION}")
    writer.write_prelude([(d, c, meta, "collection") for d, c, meta in plan])
    counts = {}
    for db_name, name, _meta in plan:
        coll = client[db_name][name]
        batches = coll.find_raw_batches({}, batch_size=batch_size, sort=[("_id", 1)])
        docs, _ = writer.write_collection(db_name, name, batches)
        counts.setdefault(db_name, {})[name] = docs
    return counts


# ------------------------------------------------------- archive reading


class ArchiveReader:
    """Streams a mongodump archive (already decompressed) and checks it.

    Calls ``on_documents(db, coll, [raw bytes, ...])`` with batches of up to
    ``batch_docs`` documents when given; always checks the structure (every
    namespace of the prelude ends with an EOF block, nothing follows an end)
    and counts the documents. ``check_crc=True`` (the default) also checks
    each namespace's CRC-64; only a pass over an archive whose CRCs and sha256
    were already proved (the restore pass after ``verify_backup``) turns it off.

    The stream is read in large chunks and the BSON length prefixes are walked
    in memory; the CRC runs over each contiguous run of documents at once
    (CRC-64 is a running checksum, so that equals document by document).
    """

    def __init__(self, stream, on_documents=None, batch_docs=1000, on_prelude=None, check_crc=True):
        self._in = stream
        self._on_documents = on_documents
        self._on_prelude = on_prelude
        self._batch_docs = batch_docs
        self._check_crc = check_crc
        self._buf = b""
        self._pos = 0
        self._at_end = False
        self.header = None
        self.collections = []
        self.counts = {}

    def _fill(self, need):
        """Make ``need`` bytes available at the read position; False at the end."""
        while len(self._buf) - self._pos < need:
            if self._at_end:
                return False
            chunk = self._in.read(max(_CHUNK, need))
            if not chunk:
                self._at_end = True
                return False
            self._buf = self._buf[self._pos :] + chunk
            self._pos = 0
        return True

    def _read_doc_or_terminator(self, what):
        """(document bytes, False), (b"", False) for a terminator, (None, True) at the end."""
        if not self._fill(4):
            if len(self._buf) == self._pos:
                return None, True
            raise BackupError(f"archive is truncated inside {what}; use another backup")
        pos = self._pos
        length = _INT32.unpack_from(self._buf, pos)[0]
        if length == -1:
            self._pos = pos + 4
            return b"", False
        if length < 5 or length > _MAX_BSON:
            raise BackupError(f"archive is corrupt: impossible BSON length {length} in {what}")
        if not self._fill(length):
            raise BackupError(
                f"archive is truncated: it ends inside {what}; the file is incomplete, "
                "use another backup"
            )
        pos = self._pos
        self._pos = pos + length
        return self._buf[pos : pos + length], False

    def _read_documents(self, ns, db_name, coll_name, state):
        """One segment's documents up to its terminator; updates state [crc, count]."""
        unpack = _INT32.unpack_from
        check_crc = self._check_crc
        on_documents = self._on_documents
        batch_docs = self._batch_docs
        max_bson = _MAX_BSON
        batch = []
        crc, count = state
        while True:
            buf = self._buf
            pos = start = self._pos
            end = len(buf)
            length = 0
            while pos + 4 <= end:
                length = unpack(buf, pos)[0]
                # -1 is the terminator; anything < 5 or too big is corrupt (below).
                if length < 5 or length > max_bson or pos + length > end:
                    break
                if on_documents is not None:
                    batch.append(buf[pos : pos + length])
                    if len(batch) >= batch_docs:
                        on_documents(db_name, coll_name, batch)
                        batch = []
                pos += length
                count += 1
            if check_crc and pos > start:
                crc = crc64(memoryview(buf)[start:pos], crc)
            self._pos = pos
            if pos + 4 <= end and length == -1:
                self._pos = pos + 4
                break
            if pos + 4 <= end and (length < 5 or length > max_bson):
                raise BackupError(
                    f"archive is corrupt: impossible BSON length {length} in the documents of {ns}"
                )
            # A document (or its length) runs past the buffer: read on.
            if not self._fill(length if pos + 4 <= end else 4):
                raise BackupError(
                    f"archive is truncated inside the documents of {ns}; use another backup"
                )
        if batch and on_documents is not None:
            on_documents(db_name, coll_name, batch)
        state[0], state[1] = crc, count

    def read(self):
        if not self._fill(4) or self._buf[self._pos : self._pos + 4] != _MAGIC_BYTES:
            raise BackupError(
                "not a mongodump archive (bad magic number); expected a file made by "
                "mongodump --archive --gzip or by this engine"
            )
        self._pos += 4
        raw, _ = self._read_doc_or_terminator("the archive header")
        if not raw:
            raise BackupError("archive is corrupt: missing archive header")
        self.header = bson.decode(raw)
        expected = {}
        while True:
            raw, eof = self._read_doc_or_terminator("the archive prelude")
            if eof:
                raise BackupError("archive is truncated inside the prelude")
            if raw == b"":
                break
            meta = bson.decode(raw)
            self.collections.append(meta)
            if meta.get("type") != "timeseries":
                expected["{}.{}".format(meta["db"], meta["collection"])] = meta
        if self._on_prelude is not None:
            self._on_prelude(self.collections)
        open_ns = {}
        closed = set()
        while True:
            raw, eof = self._read_doc_or_terminator("a namespace header")
            if eof:
                break
            if raw == b"":
                raise BackupError("archive is corrupt: empty block without namespace header")
            hdr = bson.decode(raw)
            db_name, coll_name = hdr["db"], hdr["collection"]
            ns = f"{db_name}.{coll_name}"
            if ns in closed:
                raise BackupError(f"archive is corrupt: data for {ns} after its end")
            state = open_ns.setdefault(ns, [0, 0])
            if hdr.get("EOF"):
                raw, _ = self._read_doc_or_terminator(f"the end of {ns}")
                if raw != b"":
                    raise BackupError(f"archive is corrupt: data after the end of {ns}")
                if self._check_crc and _signed64(state[0]) != int(hdr.get("CRC", 0)):
                    raise BackupError(
                        f"archive is corrupt: checksum (CRC) mismatch in {ns}; use another backup"
                    )
                closed.add(ns)
                del open_ns[ns]
                self.counts.setdefault(db_name, {})[coll_name] = state[1]
                continue
            self._read_documents(ns, db_name, coll_name, state)
        if open_ns:
            raise BackupError(f"archive is truncated: collections {sorted(open_ns)} never finished")
        missing = sorted(set(expected) - closed)
        if missing:
            raise BackupError(f"archive is truncated: no data end for {missing}")
        return self


def _open_archive(path_or_file):
    """Buffered, decompressed stream of an archive (a path or a file open for
    reading at its start; gzip or plain). Closing it closes the file."""
    raw = open(path_or_file, "rb") if isinstance(path_or_file, str) else path_or_file  # noqa: SIM115
    head = raw.read(2)
    raw.seek(0)
    if head == b"\x1f\x8b":
        return io.BufferedReader(gzip.GzipFile(fileobj=raw, mode="rb"), _CHUNK)
    return io.BufferedReader(raw, _CHUNK)


def read_archive(path, on_documents=None, batch_docs=1000, check_crc=True, name=None):
    """Read an archive (path, or file open at its start) to its end; returns the
    ArchiveReader (header, collections, counts). Closes what it opened or was given."""
    _require_pymongo()
    stream = _open_archive(path)
    name = name or path
    try:
        return ArchiveReader(stream, on_documents, batch_docs, check_crc=check_crc).read()
    except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as exc:
        raise BackupError(
            f"archive {name} is truncated or corrupt ({exc}); use another backup"
        ) from exc
    except bson.errors.BSONError as exc:
        raise BackupError(f"archive {name} is corrupt: bad BSON ({exc})") from exc
    finally:
        stream.close()


# ----------------------------------------------------------------- tools


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


def _stream_docker_exec(container, cmd, out):
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


# One-off tools container: a new container from ``image`` on the stack network
# runs one mongodump/mongorestore against the mongodb service by name, and is
# removed afterwards whatever happened.

ONE_OFF_PREFIX = "acs-backup-tools-"
STACK_MONGODB_SERVICE = "mongodb"
ONE_OFF_URI = "mongodb://mongodb:27017"
CONTAINER_URI = "mongodb://localhost:27017"
_RESTORE_DIR = "/tmp"  # noqa: S108 - a path inside the tools container
_RESTORE_NAME = "acs-restore" + ARCHIVE_SUFFIX


def default_container_uri(network=None):
    """Where the tools find the server: the service by name from a one-off
    container on the stack network, localhost inside the mongodb container."""
    return ONE_OFF_URI if network else CONTAINER_URI


def redact_uri(uri):
    """The URI with its password replaced, for reports and messages."""
    parts = urlsplit(uri)
    if "@" not in parts.netloc or ":" not in parts.netloc.rsplit("@", 1)[0]:
        return uri
    user, host = parts.netloc.rsplit("@", 1)
    netloc = "{}:********@{}".format(user.split(":", 1)[0], host)
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


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


def resolve_one_off(image, network):
    """(image, network) of the one-off tools container, both checked to exist.

    Without ``image``: the image of the stack's ``mongodb`` service container
    on that network (its compose service label), which has the tools in the
    official mongo image.
    """
    docker, client = _docker_engine()
    try:
        try:
            client.networks.get(network)
        except docker.errors.NotFound as exc:
            raise BackupError(
                f"network={network!r} does not exist in the Docker engine: give the stack's "
                "network (docker network ls; for example airflow-crawler-system_backend)"
            ) from exc
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
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound as exc:
            raise BackupError(
                f"image={image!r} is not in the Docker engine: pull or build it first, or give "
                "another image with mongodump and mongorestore"
            ) from exc
    finally:
        client.close()
    return image, network


def one_off_plan(tool, image, network, container_uri, archive_path=None):
    """What a one-off run does, as check mode reports it (password redacted)."""
    return {
        "runs_in": "one-off container, removed afterwards",
        "image": image,
        "network": network,
        "name_prefix": ONE_OFF_PREFIX,
        "command": _tool_command(tool, redact_uri(container_uri)),
        "archive": archive_path,
    }


def _tool_command(tool, uri):
    if tool == "mongodump":
        return ["mongodump", "--uri=" + uri, "--archive", "--gzip", "--quiet"]
    inside = f"{_RESTORE_DIR}/{_RESTORE_NAME}"
    return ["mongorestore", "--uri=" + uri, "--archive=" + inside, "--gzip", "--drop", "--quiet"]


def _run_one_off(tool, image, network, container_uri, out=None, archive=None):
    """Run ``tool`` in a new container from image on network; returns (code, stderr).

    mongodump's stdout streams into ``out``; for mongorestore the ``archive``
    file is copied into the container before it starts. The container is
    removed in every case, also when the run or the copy fails.
    """
    import tarfile
    import uuid

    docker, client = _docker_engine()
    cmd = _tool_command(tool, container_uri)
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
            if archive is not None:
                with tempfile.TemporaryFile() as tar_buf:
                    with tarfile.open(fileobj=tar_buf, mode="w") as tar:
                        tar.add(archive, arcname=_RESTORE_NAME)
                    tar_buf.seek(0)
                    if not cont.put_archive(_RESTORE_DIR, tar_buf):
                        raise BackupError(f"could not copy {archive} into the {tool} container")
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


def _choose_method(method, tools_dir, container, tool, network=None, image=None):
    if method not in ("auto", "host", "mongodump", "docker", "native"):
        raise BackupError(
            f"method={method!r} is invalid: use auto, host (old name mongodump), docker or native"
        )
    # "host" (the tools on this host) is recorded as "mongodump", the value
    # manifests have always carried (docs/backup-format.md).
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
        if container and _docker_has_tool(container, tool)[0]:
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


def _plan(chosen, tool, uri, container, container_uri, network, image, tools_dir, archive):
    """What the dump or restore step will run, as check mode reports it."""
    if chosen == "docker" and network:
        return one_off_plan(tool, image, network, container_uri, archive)
    if chosen == "docker":
        command = _tool_command(tool, redact_uri(container_uri))
        if tool == "mongodump":
            runs_in = f"container {container} (docker exec), output streamed to the host"
        else:
            runs_in = f"container {container} (docker exec), archive copied in first"
        return {"runs_in": runs_in, "container": container, "command": command}
    if chosen == "mongodump":
        path = find_tool(tool, tools_dir)
        if tool == "mongodump":
            command = [path, "--uri=" + redact_uri(uri), "--archive", "--gzip", "--quiet"]
        else:
            command = [path, "--uri=" + redact_uri(uri), "--archive=" + archive, "--gzip"]
            command += ["--drop", "--quiet"]
        return {"runs_in": "this host", "command": command}
    what = "pymongo and the engine's archive writer"
    if tool == "mongorestore":
        what = "pymongo: drop, create, insert the archived documents, then the indexes"
    return {"runs_in": f"this host ({what})", "command": None}


# ------------------------------------------------------------- manifests


def _write_json_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def load_manifest(path):
    try:
        with open(path, encoding="utf-8") as handle:
            manifest = json.load(handle)
    except FileNotFoundError as exc:
        raise BackupError(
            f"manifest {path} is missing: without it the archive cannot be verified; restore "
            "another backup or re-create the manifest from a trusted copy"
        ) from exc
    except ValueError as exc:
        raise BackupError(f"manifest {path} is not valid JSON: {exc}") from exc
    if manifest.get("format") != MANIFEST_FORMAT:
        raise BackupError(
            "manifest {} has format {!r}, expected {!r}".format(
                path, manifest.get("format"), MANIFEST_FORMAT
            )
        )
    return manifest


def _totals(counts):
    return {
        "databases": len(counts),
        "collections": sum(len(c) for c in counts.values()),
        "documents": sum(sum(c.values()) for c in counts.values()),
    }


def _describe(counts):
    return {
        db: {"collections": {c: {"documents": n} for c, n in sorted(colls.items())}}
        for db, colls in sorted(counts.items())
    }


def manifest_counts(manifest):
    return {
        db: {c: info["documents"] for c, info in entry["collections"].items()}
        for db, entry in manifest.get("databases", {}).items()
    }


def list_backups(backup_dir):
    """Complete backups in backup_dir (those with a manifest), newest first."""
    found = []
    if not os.path.isdir(backup_dir):
        return found
    for entry in os.listdir(backup_dir):
        if not entry.endswith(MANIFEST_SUFFIX) or not _NAME_RE.match(_stem(entry)):
            continue
        mpath = os.path.join(backup_dir, entry)
        try:
            manifest = load_manifest(mpath)
        except BackupError:
            continue
        apath = os.path.join(backup_dir, _stem(entry) + ARCHIVE_SUFFIX)
        try:
            good = os.path.getsize(apath) == manifest.get("size")
        except OSError:
            good = False
        manifest.update(path=apath, manifest_path=mpath, good=good)
        found.append(manifest)
    found.sort(key=lambda m: (m.get("finished_at", ""), m["name"]), reverse=True)
    return found


def last_good_backup(backup_dir):
    for manifest in list_backups(backup_dir):
        if manifest["good"]:
            return manifest
    return None


def _fingerprint(handle):
    """Identity and version of an open file: a restore pass reads exactly what was verified."""
    st = os.fstat(handle.fileno())
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _verify(archive_path, manifest=None):
    """verify_backup, plus the fingerprint of the file that was proved good."""
    if manifest is None:
        manifest = load_manifest(manifest_path_for(archive_path))
    if not os.path.isfile(archive_path):
        raise BackupError(f"archive {archive_path} does not exist")
    # One open file for both checks: the bytes hashed are the bytes parsed.
    handle = open(archive_path, "rb")  # noqa: SIM115 - read_archive closes it
    try:
        before = _fingerprint(handle)
        digest = hashlib.sha256()
        size = 0
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
            size += len(chunk)
        if size != manifest.get("size"):
            raise BackupError(
                f"archive {archive_path} has {size} bytes but its manifest says "
                f"{manifest.get('size')}: the file is truncated or was replaced; use another "
                "backup"
            )
        if digest.hexdigest() != manifest.get("sha256"):
            raise BackupError(
                "archive {} sha256 {} does not match the manifest's {}: the file is corrupt; "
                "use another backup".format(
                    archive_path, digest.hexdigest(), manifest.get("sha256")
                )
            )
        handle.seek(0)
        # A duplicate descriptor to parse from: read_archive closes it, handle stays open.
        reader = read_archive(os.fdopen(os.dup(handle.fileno()), "rb"), name=archive_path)
        if _fingerprint(handle) != before:
            raise BackupError(
                f"archive {archive_path} changed while it was verified; is a backup still "
                "being written? Retry when it is complete"
            )
    finally:
        handle.close()
    if reader.counts != manifest_counts(manifest):
        raise BackupError(
            f"archive {archive_path} holds {reader.counts} documents but its manifest "
            f"lists {manifest_counts(manifest)}"
        )
    result = dict(manifest)
    result["verified"] = True
    return result, before


def verify_backup(archive_path, manifest=None):
    """Full check of one backup; returns the manifest with ``verified: True``.

    Size and sha256 of the file first, then the archive read to its end (gzip
    trailer, structure, every collection's CRC-64), then the document counts
    against the manifest; all from one open file.
    """
    return _verify(archive_path, manifest)[0]


# ----------------------------------------------------------------- S3


class S3Settings:
    """S3-compatible target: AWS, GCS (interoperable endpoint) or any S3 server.

    Keys of the ``s3`` dict: bucket (required), prefix, endpoint_url, region,
    access_key, secret_key, session_token. Missing credentials come from the
    usual AWS environment variables / config, as boto3 finds them.
    """

    def __init__(self, settings):
        if not settings.get("bucket"):
            raise BackupError("s3.bucket is required when s3 is given")
        self.bucket = settings["bucket"]
        self.prefix = (settings.get("prefix") or "").strip("/")
        self.endpoint_url = settings.get("endpoint_url") or None
        self.region = settings.get("region") or None
        self._creds = {
            "aws_access_key_id": settings.get("access_key") or None,
            "aws_secret_access_key": settings.get("secret_key") or None,
            "aws_session_token": settings.get("session_token") or None,
        }

    def client(self):
        try:
            import boto3
            from botocore.config import Config
        except ImportError as exc:
            raise BackupError(
                "s3 needs boto3 on the host running the backup (pip install boto3)"
            ) from exc
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}),
            **{k: v for k, v in self._creds.items() if v},
        )

    def key(self, filename):
        return f"{self.prefix}/{filename}" if self.prefix else filename

    def url(self, filename):
        return f"s3://{self.bucket}/{self.key(filename)}"


_MULTIPART_CHUNK = 64 * 1024 * 1024


def _expected_etag(path, chunk=_MULTIPART_CHUNK):
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        if size <= chunk:
            return f'"{hashlib.md5(handle.read(), usedforsecurity=False).hexdigest()}"'
        digests = [
            hashlib.md5(part, usedforsecurity=False).digest()
            for part in iter(lambda: handle.read(chunk), b"")
        ]
    joined = hashlib.md5(b"".join(digests), usedforsecurity=False).hexdigest()
    return f'"{joined}-{len(digests)}"'


def _s3_error(action, exc):
    return BackupError(f"S3 {action} failed: {exc} (check s3.endpoint_url, bucket and credentials)")


def upload_backup(manifest, s3):
    """Upload archive then manifest; verify size and checksum; returns remote info."""
    from boto3.s3.transfer import TransferConfig

    settings = S3Settings(s3)
    client = settings.client()
    archive = manifest["path"]
    archive_name = os.path.basename(archive)
    key = settings.key(archive_name)
    config = TransferConfig(
        multipart_threshold=_MULTIPART_CHUNK, multipart_chunksize=_MULTIPART_CHUNK
    )
    try:
        client.upload_file(
            archive,
            settings.bucket,
            key,
            Config=config,
            ExtraArgs={"Metadata": {"sha256": manifest["sha256"]}},
        )
        head = client.head_object(Bucket=settings.bucket, Key=key)
    except Exception as exc:  # botocore errors of every kind
        raise _s3_error(f"upload of {archive_name}", exc) from exc
    if head["ContentLength"] != manifest["size"]:
        raise BackupError(
            f"S3 object {settings.url(archive_name)} has {head['ContentLength']} bytes, "
            f"expected {manifest['size']}: upload is incomplete"
        )
    checksum = "etag"
    if head.get("ETag") != _expected_etag(archive):
        # Some S3-compatible stores (GCS composite uploads) use other ETags:
        # read the object back and hash it instead.
        checksum = "download"
        digest = hashlib.sha256()
        body = client.get_object(Bucket=settings.bucket, Key=key)["Body"]
        for chunk in iter(lambda: body.read(_CHUNK), b""):
            digest.update(chunk)
        if digest.hexdigest() != manifest["sha256"]:
            raise BackupError(
                f"S3 object {settings.url(archive_name)} does not match the local sha256"
            )
    remote = {
        "url": settings.url(archive_name),
        "bucket": settings.bucket,
        "key": key,
        "manifest_key": settings.key(manifest["name"] + MANIFEST_SUFFIX),
        "endpoint_url": settings.endpoint_url,
        "verified_by": checksum,
        "uploaded_at": _iso(utcnow()),
    }
    return settings, client, remote


def _put_manifest(settings, client, manifest):
    body = json.dumps(_public_manifest(manifest), indent=2, sort_keys=True).encode()
    try:
        client.put_object(
            Bucket=settings.bucket, Key=settings.key(manifest["name"] + MANIFEST_SUFFIX), Body=body
        )
    except Exception as exc:
        raise _s3_error("upload of the manifest", exc) from exc


def list_remote_backups(s3):
    """Manifests stored under the S3 prefix, newest first."""
    settings = S3Settings(s3)
    client = settings.client()
    found = []
    try:
        paginator = client.get_paginator("list_objects_v2")
        prefix = settings.key("") if settings.prefix else ""
        for page in paginator.paginate(Bucket=settings.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                if obj["Key"].endswith(MANIFEST_SUFFIX):
                    body = client.get_object(Bucket=settings.bucket, Key=obj["Key"])["Body"].read()
                    manifest = json.loads(body)
                    manifest["manifest_key"] = obj["Key"]
                    manifest["key"] = settings.key(manifest["name"] + ARCHIVE_SUFFIX)
                    found.append(manifest)
    except Exception as exc:
        raise _s3_error("listing", exc) from exc
    found.sort(key=lambda m: (m.get("finished_at", ""), m["name"]), reverse=True)
    return found


def download_backup(s3, key, dest_dir):
    """Fetch archive and manifest for a remote key (archive or manifest key)."""
    settings = S3Settings(s3)
    client = settings.client()
    stem = _stem(key)
    base = key[: len(key) - len(os.path.basename(key))]
    os.makedirs(dest_dir, exist_ok=True)
    archive = os.path.join(dest_dir, stem + ARCHIVE_SUFFIX)
    mpath = os.path.join(dest_dir, stem + MANIFEST_SUFFIX)
    try:
        client.download_file(settings.bucket, base + stem + MANIFEST_SUFFIX, mpath)
    except Exception as exc:
        raise BackupError(
            f"manifest for remote backup {key} is missing or unreadable ({exc}): refusing to "
            "restore an unverifiable archive"
        ) from exc
    try:
        client.download_file(settings.bucket, base + stem + ARCHIVE_SUFFIX, archive)
    except Exception as exc:
        raise _s3_error(f"download of {key}", exc) from exc
    return archive


# ---------------------------------------------------------------- backup


def _public_manifest(manifest):
    return {
        k: v for k, v in manifest.items() if k not in ("path", "manifest_path", "good", "verified")
    }


def _client(uri, timeout_ms=10000):
    _require_pymongo()
    return pymongo.MongoClient(
        uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms
    )


def _server_version(client):
    try:
        return client.server_info().get("version", "unknown")
    except pymongo.errors.PyMongoError as exc:
        raise BackupError(
            f"cannot reach MongoDB at the given uri: {exc} (check uri, network and that the "
            "mongodb service is up)"
        ) from exc


def run_backup(
    uri,
    backup_dir,
    label="manual",
    databases=None,
    method="auto",
    container=None,
    container_uri=None,
    tools_dir=None,
    if_older_than=None,
    s3=None,
    keep_last=None,
    max_age_days=None,
    compress_level=6,
    check_mode=False,
    now=None,
    network=None,
    image=None,
):
    """Make one backup (see the module docstring); returns a result dict."""
    validate_label(label)
    container_uri = container_uri or default_container_uri(network)
    min_age = parse_duration(if_older_than)
    if min_age is not None:
        newest = last_good_backup(backup_dir)
        if newest is not None:
            age = ((now or utcnow()) - _parse_iso(newest["finished_at"])).total_seconds()
            if age < min_age:
                result = dict(newest)
                result.update(
                    changed=False,
                    skipped_reason=(
                        f"good backup {newest['name']} is {age:.0f} s old, younger than "
                        f"if_older_than={if_older_than}"
                    ),
                    remote_url=(newest.get("remote") or {}).get("url"),
                )
                return result
    chosen = _choose_method(method, tools_dir, container, "mongodump", network, image)
    if chosen == "docker" and network:
        image, network = resolve_one_off(image, network)
    started = now or utcnow()
    name = backup_name(started, label)
    archive = os.path.join(backup_dir, name + ARCHIVE_SUFFIX)
    if check_mode:
        return {
            "changed": True,
            "check_mode": True,
            "name": name,
            "path": archive,
            "manifest_path": manifest_path_for(archive),
            "method": chosen,
            "plan": _plan(
                chosen, "mongodump", uri, container, container_uri, network, image, tools_dir, None
            ),
            "remote_url": S3Settings(s3).url(name + ARCHIVE_SUFFIX) if s3 else None,
            "skipped_reason": None,
        }
    if not os.path.isdir(backup_dir):
        os.makedirs(backup_dir, mode=0o750, exist_ok=True)
    if os.path.exists(archive):
        raise BackupError(f"backup {archive} already exists; wait a second or use another label")
    client = _client(uri)
    server_version = _server_version(client)
    partial = archive + ".partial"
    t0 = time.monotonic()
    stderr = ""
    try:
        with open(partial, "wb") as raw:
            hashing = _HashingWriter(raw)
            if chosen == "native":
                tool = {"name": "acs-backup-native", "version": ENGINE_VERSION}
                with gzip.GzipFile(
                    filename="", fileobj=hashing, mode="wb", compresslevel=compress_level, mtime=0
                ) as gz:
                    buffered = io.BufferedWriter(gz, _CHUNK)
                    counts = _dump_native(client, buffered, databases, server_version)
                    buffered.flush()
            elif chosen == "mongodump":
                path = find_tool("mongodump", tools_dir)
                tool = {"name": "mongodump", "version": _tool_version(path)}
                cmd = [path, "--uri=" + uri, "--archive", "--gzip", "--quiet"]
                if databases and len(databases) > 1:
                    raise BackupError(
                        "mongodump dumps one database or all: give one entry in databases, "
                        "none, or use method=native"
                    )
                cmd += ["--db=" + d for d in (databases or [])]
                with tempfile.TemporaryFile() as err:
                    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)
                    for chunk in iter(lambda: proc.stdout.read(_CHUNK), b""):
                        hashing.write(chunk)
                    code = proc.wait()
                    err.seek(0)
                    stderr = err.read().decode(errors="replace")
                if code != 0:
                    raise BackupError(f"mongodump exited with {code}: {stderr.strip()[-2000:]}")
                counts = None
            elif network:
                # The version is the one mongodump writes into the archive header.
                tool = None
                code, stderr = _run_one_off("mongodump", image, network, container_uri, out=hashing)
                if code != 0:
                    raise BackupError(
                        f"mongodump in a one-off container from {image} on network {network} "
                        f"exited with {code}: {stderr.strip()[-2000:]}"
                    )
                counts = None
            else:
                _ok, version = _docker_has_tool(container, "mongodump")
                tool = {
                    "name": "mongodump",
                    "version": version.splitlines()[0] if version else "unknown",
                }
                cmd = ["mongodump", "--uri=" + container_uri, "--archive", "--gzip", "--quiet"]
                code, stderr = _stream_docker_exec(container, cmd, hashing)
                if code != 0:
                    raise BackupError(
                        f"mongodump in container {container} exited with {code}: "
                        f"{stderr.strip()[-2000:]}"
                    )
                counts = None
            raw.flush()
            os.fsync(raw.fileno())
        if counts is None:
            # Counts come from the archive itself: proves it reads to the end.
            reader = read_archive(partial)
            counts = reader.counts
            if tool is None:
                version = (reader.header or {}).get("tool_version") or "unknown"
                tool = {"name": "mongodump", "version": version}
        # Measured from the start so a fixed "now" (tests, replays) stays consistent.
        finished = started + _dt.timedelta(seconds=time.monotonic() - t0)
        os.replace(partial, archive)
    except BaseException:
        if os.path.exists(partial):
            os.unlink(partial)
        raise
    finally:
        client.close()
    manifest = {
        "format": MANIFEST_FORMAT,
        "name": name,
        "label": label,
        "archive": os.path.basename(archive),
        "archive_format": "mongodump-archive/0.1+gzip",
        "size": hashing.size,
        "sha256": hashing.sha256.hexdigest(),
        "started_at": _iso(started),
        "finished_at": _iso(finished),
        "duration_seconds": round(time.monotonic() - t0, 3),
        "host": socket.gethostname(),
        "method": chosen,
        "tool": tool,
        "engine": {"name": "acs_backup", "version": ENGINE_VERSION},
        "server": {"version": server_version},
        "databases": _describe(counts),
        "totals": _totals(counts),
        "remote": None,
    }
    if chosen == "docker":
        manifest["docker"] = (
            {"container": None, "image": image, "network": network}
            if network
            else {"container": container, "image": None, "network": None}
        )
    mpath = manifest_path_for(archive)
    _write_json_atomic(mpath, manifest)
    manifest.update(path=archive, manifest_path=mpath, good=True)
    if s3:
        settings, s3client, remote = upload_backup(manifest, s3)
        manifest["remote"] = remote
        _put_manifest(settings, s3client, manifest)
        _write_json_atomic(mpath, _public_manifest(manifest))
    result = dict(manifest)
    result.update(
        changed=True, skipped_reason=None, remote_url=(manifest["remote"] or {}).get("url")
    )
    if keep_last or max_age_days:
        result["retention"] = apply_retention(backup_dir, keep_last, max_age_days, s3=s3)
    return result


def import_archive(source, backup_dir, label="imported", check_mode=False):
    """Adopt an archive made elsewhere (plain ``mongodump --archive --gzip``).

    Reads it to the end first (structure, CRCs), then copies it into
    backup_dir under the usual name with a manifest built from its contents,
    so it restores like any other backup. A foreign file never becomes
    restorable without this explicit step.
    """
    validate_label(label)
    if not os.path.isfile(source):
        raise BackupError(f"import_from={source!r} is not a file")
    reader = read_archive(source)
    started = _dt.datetime.fromtimestamp(os.path.getmtime(source), _dt.UTC)
    name = backup_name(started, label)
    archive = os.path.join(backup_dir, name + ARCHIVE_SUFFIX)
    if check_mode:
        return {"changed": True, "check_mode": True, "name": name, "path": archive}
    os.makedirs(backup_dir, mode=0o750, exist_ok=True)
    if os.path.exists(manifest_path_for(archive)):
        raise BackupError(f"backup {name} already exists in {backup_dir}")
    partial = archive + ".partial"
    with open(source, "rb") as src, open(partial, "wb") as dst:
        hashing = _HashingWriter(dst)
        shutil.copyfileobj(src, hashing, _CHUNK)
    os.replace(partial, archive)
    header = reader.header or {}
    manifest = {
        "format": MANIFEST_FORMAT,
        "name": name,
        "label": label,
        "archive": os.path.basename(archive),
        "archive_format": "mongodump-archive/0.1+gzip",
        "size": hashing.size,
        "sha256": hashing.sha256.hexdigest(),
        "started_at": _iso(started),
        "finished_at": _iso(started),
        "duration_seconds": 0.0,
        "host": socket.gethostname(),
        "method": "import",
        "imported_from": os.path.abspath(source),
        "tool": {"name": "mongodump", "version": header.get("tool_version", "unknown")},
        "engine": {"name": "acs_backup", "version": ENGINE_VERSION},
        "server": {"version": header.get("server_version", "unknown")},
        "databases": _describe(reader.counts),
        "totals": _totals(reader.counts),
        "remote": None,
    }
    mpath = manifest_path_for(archive)
    _write_json_atomic(mpath, manifest)
    manifest.update(path=archive, manifest_path=mpath, good=True, changed=True)
    return manifest


# --------------------------------------------------------------- retention


def _select_expired(items, keep_last, max_age_days, now):
    """Names to delete from items (newest first); the newest good one stays."""
    if not keep_last and not max_age_days:
        return []
    cutoff = now - _dt.timedelta(days=max_age_days) if max_age_days else None
    newest_good = next((m["name"] for m in items if m.get("good", True)), None)
    expired = []
    for index, manifest in enumerate(items):
        keep = manifest["name"] == newest_good
        if keep_last and index < keep_last:
            keep = True
        if cutoff is not None and _parse_iso(manifest["finished_at"]) >= cutoff:
            keep = True
        if not keep:
            expired.append(manifest)
    return expired


def apply_retention(
    backup_dir, keep_last=None, max_age_days=None, s3=None, check_mode=False, now=None
):
    """Delete expired backups locally and remotely; returns what was (or would be) deleted."""
    for field, value in (("keep_last", keep_last), ("max_age_days", max_age_days)):
        if value is not None and (not isinstance(value, (int, float)) or value < 0):
            raise BackupError(f"{field}={value!r} must be a number >= 0")
    now = now or utcnow()
    local = _select_expired(list_backups(backup_dir), keep_last, max_age_days, now)
    deleted_local = []
    for manifest in local:
        deleted_local.append(manifest["name"])
        if not check_mode:
            for path in (manifest["path"], manifest["manifest_path"]):
                if os.path.exists(path):
                    os.unlink(path)
    deleted_remote = []
    if s3:
        settings = S3Settings(s3)
        remote = _select_expired(list_remote_backups(s3), keep_last, max_age_days, now)
        client = settings.client() if remote and not check_mode else None
        for manifest in remote:
            deleted_remote.append(manifest["key"])
            if client is not None:
                # Manifest last: a listing never shows an archive-less manifest.
                client.delete_object(Bucket=settings.bucket, Key=manifest["key"])
                client.delete_object(Bucket=settings.bucket, Key=manifest["manifest_key"])
    return {
        "changed": bool(deleted_local or deleted_remote),
        "deleted": deleted_local,
        "deleted_remote": deleted_remote,
        "check_mode": check_mode,
    }


# ----------------------------------------------------------------- restore


def resolve_source(source, backup_dir, s3=None, download_dir=None):
    """Archive path for a path, manifest, name, remote key, or None (newest good)."""
    if not source:
        newest = last_good_backup(backup_dir)
        if newest is None:
            raise BackupError(
                f"no good backup in {backup_dir}: pass restore_from=PATH_OR_REMOTE_KEY"
            )
        return newest["path"]
    if os.path.isabs(source) or os.path.exists(source):
        if not os.path.exists(source):
            raise BackupError(f"restore source {source} does not exist")
        stem = _stem(source)
        return os.path.join(os.path.dirname(os.path.abspath(source)), stem + ARCHIVE_SUFFIX)
    local = os.path.join(backup_dir, _stem(source) + ARCHIVE_SUFFIX)
    if os.path.exists(local):
        return local
    if s3:
        return download_backup(s3, source, download_dir or backup_dir)
    raise BackupError(
        f"restore source {source!r} is neither a file nor a backup in {backup_dir} "
        "(give s3 settings for a remote key)"
    )


def _collection_count(coll):
    """Document count from the server's catalog ($collStats): cheap on MongoDB
    and on FerretDB alike, where count/countDocuments scan every document."""
    try:
        stats = list(coll.aggregate([{"$collStats": {"count": {}}}]))
        return sum(int(s.get("count", 0)) for s in stats)
    except pymongo.errors.OperationFailure:
        return coll.estimated_document_count()


def _current_counts(client, counts):
    current = {}
    for db_name, colls in counts.items():
        existing = set(client[db_name].list_collection_names())
        for coll in colls:
            current.setdefault(db_name, {})[coll] = (
                _collection_count(client[db_name][coll]) if coll in existing else None
            )
    return current


def _restore_native(client, archive, verified=None):
    """Drop, re-create and fill each collection of the archive, then its indexes.

    ``verified`` is the fingerprint ``_verify`` returned for this file: when
    the file opened here is still that one, its sha256 and every CRC-64 are
    already proved, so this pass only decodes (gzip still checks its CRC-32).
    """
    handle = open(archive, "rb")  # noqa: SIM115 - closed with the reader's stream
    if verified is not None and _fingerprint(handle) != verified:
        handle.close()
        raise BackupError(
            f"archive {archive} was replaced or changed after it was verified; nothing was "
            "restored; run the restore again"
        )
    state = {"ns": None}
    metas = {}

    def start(db_name, coll_name):
        ns = (db_name, coll_name)
        if state["ns"] == ns:
            return
        state["ns"] = ns
        if ns in state.setdefault("done", set()):
            return
        state["done"].add(ns)
        db = client[db_name]
        db.drop_collection(coll_name)
        options = metas.get(ns, {}).get("options") or {}
        options = {k: v for k, v in options.items() if k not in ("uuid",)}
        db.create_collection(coll_name, **options)

    def on_documents(db_name, coll_name, batch):
        start(db_name, coll_name)
        client[db_name][coll_name].insert_many(
            [RawBSONDocument(raw) for raw in batch], ordered=True, bypass_document_validation=True
        )

    def on_prelude(collections):
        for meta in collections:
            metas[(meta["db"], meta["collection"])] = json_util.loads(meta["metadata"] or "{}")

    stream = _open_archive(handle)
    reader = ArchiveReader(stream, on_documents, 1000, on_prelude, check_crc=verified is None)
    try:
        reader.read()
    except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as exc:
        raise BackupError(f"archive {archive} became unreadable during restore: {exc}") from exc
    finally:
        stream.close()
        handle.close()
    for meta in reader.collections:
        ns = (meta["db"], meta["collection"])
        info = metas.get(ns) or json_util.loads(meta["metadata"] or "{}")
        if ns not in state.get("done", set()):
            start(*ns)
        indexes = []
        for index in info.get("indexes", []):
            if index.get("name") == "_id_":
                continue
            spec = {k: v for k, v in index.items() if k not in ("v", "ns")}
            indexes.append(spec)
        if indexes:
            client[ns[0]].command("createIndexes", ns[1], indexes=indexes)
    return reader.counts


def restore(
    uri,
    source=None,
    backup_dir="/data/backups",
    method="auto",
    container=None,
    container_uri=None,
    tools_dir=None,
    s3=None,
    skip_safety_backup=False,
    safety_label="pre-restore",
    check_mode=False,
    network=None,
    image=None,
):
    """Verify, take a safety backup, restore with --drop semantics, check counts."""
    container_uri = container_uri or default_container_uri(network)
    chosen = _choose_method(method, tools_dir, container, "mongorestore", network, image)
    archive = resolve_source(source, backup_dir, s3=s3)
    manifest, verified = _verify(archive)
    counts = manifest_counts(manifest)
    if chosen == "docker" and network:
        image, network = resolve_one_off(image, network)
    tools = dict(
        method=method,
        container=container,
        container_uri=container_uri,
        tools_dir=tools_dir,
        network=network,
        image=image,
    )
    client = _client(uri)
    try:
        _server_version(client)

        def replaced_from(current):
            return [
                {
                    "namespace": f"{db}.{c}",
                    "current_documents": (current.get(db) or {}).get(c),
                    "backup_documents": n,
                }
                for db, colls in sorted(counts.items())
                for c, n in sorted(colls.items())
            ]

        result = {
            "changed": True,
            "archive": archive,
            "backup": manifest,
            "method": chosen,
            "replaced": None,
            "safety_backup": None,
            "check_mode": check_mode,
        }
        if check_mode:
            result["replaced"] = replaced_from(_current_counts(client, counts))
            safety = None
            if not skip_safety_backup:
                planned = run_backup(uri, backup_dir, label=safety_label, check_mode=True, **tools)
                safety = {"path": planned["path"], "method": planned["method"]}
                safety.update(planned["plan"])
            result["plan"] = {
                "verified": True,
                "safety_backup": safety,
                "restore": _plan(
                    chosen,
                    "mongorestore",
                    uri,
                    container,
                    container_uri,
                    network,
                    image,
                    tools_dir,
                    archive,
                ),
            }
            return result
        if chosen == "mongodump":
            # mongorestore's own dry run too, when the real tool is here.
            _run_mongorestore(find_tool("mongorestore", tools_dir), uri, archive, dry_run=True)
        if not skip_safety_backup:
            result["safety_backup"] = run_backup(uri, backup_dir, label=safety_label, **tools)
            # The safety backup counted the data being replaced: no second scan.
            result["replaced"] = replaced_from(manifest_counts(result["safety_backup"]))
        else:
            result["replaced"] = replaced_from(_current_counts(client, counts))
        t0 = time.monotonic()
        try:
            if chosen == "native":
                _restore_native(client, archive, verified)
            elif chosen == "mongodump":
                _run_mongorestore(find_tool("mongorestore", tools_dir), uri, archive)
            elif network:
                code, stderr = _run_one_off(
                    "mongorestore", image, network, container_uri, archive=archive
                )
                if code != 0:
                    raise _PartialRestore(
                        f"mongorestore in a one-off container from {image} on network "
                        f"{network} exited with {code}: {stderr.strip()[-2000:]}"
                    )
            else:
                _restore_docker(container, container_uri, archive)
        except (pymongo.errors.PyMongoError, _PartialRestore) as exc:
            safety = (result["safety_backup"] or {}).get("path")
            raise BackupError(
                f"restore failed part way ({exc}); the data may be incomplete: restore the "
                f"safety backup {safety} or another backup"
            ) from exc
        result["duration_seconds"] = round(time.monotonic() - t0, 3)
        after = _current_counts(client, counts)
        if after != counts:
            raise BackupError(
                "restore finished but document counts {} differ from the manifest's {}; "
                "the safety backup is {}".format(
                    after, counts, (result["safety_backup"] or {}).get("path")
                )
            )
        result["restored_counts"] = after
        return result
    finally:
        client.close()


def _run_mongorestore(path, uri, archive, dry_run=False):
    cmd = [path, "--uri=" + uri, "--archive=" + archive, "--gzip", "--drop", "--quiet"]
    if dry_run:
        cmd.append("--dryRun")
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BackupError(
            f"mongorestore{' --dryRun' if dry_run else ''} failed ({proc.returncode}): "
            f"{proc.stderr.strip()[-2000:]}"
        )


def _restore_docker(container, container_uri, archive):
    import tarfile

    _client_unused, cont = _docker_container(container)
    inside = "/tmp/acs-restore" + ARCHIVE_SUFFIX  # noqa: S108 - path inside the container
    with tempfile.TemporaryFile() as tar_buf:
        with tarfile.open(fileobj=tar_buf, mode="w") as tar:
            tar.add(archive, arcname=os.path.basename(inside))
        tar_buf.seek(0)
        if not cont.put_archive("/tmp", tar_buf):  # noqa: S108 - inside the container
            raise BackupError(f"could not copy the archive into container {container}")
    try:
        code, output = cont.exec_run(
            [
                "mongorestore",
                "--uri=" + container_uri,
                "--archive=" + inside,
                "--gzip",
                "--drop",
                "--quiet",
            ]
        )
        if code != 0:
            raise BackupError(
                f"mongorestore in {container} failed ({code}): {output.decode(errors='replace')}"
            )
    finally:
        cont.exec_run(["rm", "-f", inside])
