# Copyright: Airflow Crawler System contributors
# Apache License 2.0
"""The mongodump archive format: CRC-64, the writer and the streaming reader.

``_CHUNK`` (the read size of every stream) is defined here, where the reader
uses it: patch ``acs_backup.archive._CHUNK`` to change it.
"""

from __future__ import annotations

import gzip
import io
import struct
import zlib

from .common import SON, _require_pymongo, bson
from .errors import BackupError

try:
    import anycrc

    _CRC64 = anycrc.Model("CRC64-XZ")
except ImportError:  # pragma: no cover - slow pure-Python fallback
    _CRC64 = None

MAGIC = 0x8199E26D
_MAGIC_BYTES = struct.pack("<I", MAGIC)
_TERMINATOR = b"\xff\xff\xff\xff"


_CHUNK = 1 << 20
_INT32 = struct.Struct("<i")
_MAX_BSON = 48 * 1024 * 1024  # a 16 MiB document plus mongodump's headroom


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


def read_archive(
    path, on_documents=None, batch_docs=1000, check_crc=True, name=None, on_prelude=None
):
    """Read an archive (path, or file open at its start) to its end; returns the
    ArchiveReader (header, collections, counts). Closes what it opened or was given."""
    _require_pymongo()
    stream = _open_archive(path)
    name = name or path
    try:
        return ArchiveReader(
            stream, on_documents, batch_docs, on_prelude, check_crc=check_crc
        ).read()
    except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as exc:
        raise BackupError(
            f"archive {name} is truncated or corrupt ({exc}); use another backup"
        ) from exc
    except bson.errors.BSONError as exc:
        raise BackupError(f"archive {name} is corrupt: bad BSON ({exc})") from exc
    finally:
        stream.close()
