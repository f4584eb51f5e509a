# Copyright: Airflow Crawler System contributors
# Apache License 2.0
"""The native method: dump and restore with pymongo and the engine's own
archive writer and reader (no MongoDB database tools needed)."""

from __future__ import annotations

import gzip
import zlib

from .archive import ArchiveReader, ArchiveWriter, _open_archive
from .common import ENGINE_VERSION, SON, RawBSONDocument, _require_pymongo, json_util, pymongo
from .content import split_raw
from .errors import BackupError
from .manifest import _fingerprint

_SYSTEM_DATABASES = ("admin", "local", "config")


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


def _sampled(batches, recorder, db_name, coll_name):
    """The batches, unchanged; the first documents (sorted by _id) go to the recorder."""
    for batch in batches:
        if recorder is not None and recorder.wants(db_name, coll_name):
            first = split_raw(batch, recorder.sample_size)
            recorder.on_documents(db_name, coll_name, first)
        yield batch


def _dump_native(client, out, databases, server_version, batch_size=5000, recorder=None):
    """Dump with pymongo into ``out`` (uncompressed stream); returns counts.
    ``recorder`` (content.ContentRecorder) sees the indexes and the sample."""
    plan = []
    for db_name in _user_databases(client, databases):
        for name, options, uuid_hex in _collections_of(client, db_name):
            indexes = [SON(ix) for ix in client[db_name][name].list_indexes()]
            plan.append((db_name, name, _metadata_json(name, options, indexes, uuid_hex)))
    writer = ArchiveWriter(out, server_version, f"acs-backup native {ENGINE_VERSION}")
    prelude = [(d, c, meta, "collection") for d, c, meta in plan]
    writer.write_prelude(prelude)
    if recorder is not None:
        recorder.on_prelude([{"db": d, "collection": c, "metadata": m} for d, c, m, _ in prelude])
    counts = {}
    for db_name, name, _meta in plan:
        coll = client[db_name][name]
        batches = coll.find_raw_batches({}, batch_size=batch_size, sort=[("_id", 1)])
        docs, _ = writer.write_collection(db_name, name, _sampled(batches, recorder, db_name, name))
        counts.setdefault(db_name, {})[name] = docs
    return counts


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
