# Copyright: Airflow Crawler System contributors
# Apache License 2.0
"""What a backup holds beyond its counts, recorded in the manifest when the
backup is made so that a restore drill (drill.py) can check a restored copy
against it: each collection's index specifications and the hashes of a
deterministic sample of its documents.

Sample rule: the first ``SAMPLE_SIZE`` documents of each collection in
``_id`` order (MongoDB's BSON order for the usual ``_id`` types: numbers,
strings, ObjectId, dates, booleans; other types by their canonical JSON),
each hashed as the sha256 of its canonical Extended JSON (v2, field order as
stored). The list of hashes is kept in ``_id`` order and compared as a
multiset. Index specification: ``listIndexes`` less ``v``, ``ns`` and
``background``, ``key`` as ``[[field, direction], ...]`` (the JSON of a
manifest sorts object keys, a compound key's order must survive), numbers
that are whole as integers.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import struct

from .common import bson, json_util

SAMPLE_SIZE = 10
SAMPLE_RULE = "first-by-_id"
HASH_RULE = "sha256-canonical-extended-json"
CONTENT_DESCRIPTION = {
    "sample": {"rule": SAMPLE_RULE, "size": SAMPLE_SIZE, "hash": HASH_RULE},
    "indexes": "listIndexes without v, ns, background",
}
_INDEX_SKIP = ("v", "ns", "background")
_INT32 = struct.Struct("<i")


def _plain(value):
    """JSON-able value: relaxed Extended JSON, whole numbers as integers."""
    value = json.loads(json_util.dumps(value, json_options=json_util.RELAXED_JSON_OPTIONS))
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def index_spec(index):
    spec = {}
    for field, value in index.items():
        if field in _INDEX_SKIP:
            continue
        if field == "key":
            spec["key"] = [[name, _plain(direction)] for name, direction in value.items()]
        else:
            spec[field] = _plain(value)
    return spec


def index_specs(indexes):
    """The normalized specifications of ``indexes``, sorted by name."""
    return sorted((index_spec(ix) for ix in indexes), key=lambda s: str(s.get("name")))


def id_sort_key(value):
    """Sort key of an ``_id`` in MongoDB's order of BSON types (null, numbers,
    strings, objects/arrays approximated by their JSON, ObjectId, booleans, dates)."""
    if isinstance(value, bool):
        return (8, value)
    if isinstance(value, (int, float, bson.int64.Int64)):
        return (2, float(value))
    if isinstance(value, bson.decimal128.Decimal128):
        return (2, float(value.to_decimal()))
    if isinstance(value, str):
        return (3, value.encode())
    if isinstance(value, bson.objectid.ObjectId):
        return (7, value.binary)
    if value is None:
        return (1, b"")
    if hasattr(value, "timestamp") and hasattr(value, "year"):
        return (9, value.timestamp())
    return (4, json_util.dumps(value, json_options=json_util.CANONICAL_JSON_OPTIONS).encode())


def doc_hash(raw):
    """sha256 of one document's canonical Extended JSON (raw BSON in)."""
    text = json_util.dumps(bson.decode(raw), json_options=json_util.CANONICAL_JSON_OPTIONS)
    return hashlib.sha256(text.encode()).hexdigest()


def split_raw(batch, limit=None):
    """The documents of a run of raw BSON documents (at most ``limit``)."""
    docs, pos = [], 0
    while pos + 4 <= len(batch) and (limit is None or len(docs) < limit):
        length = _INT32.unpack_from(batch, pos)[0]
        docs.append(bytes(batch[pos : pos + length]))
        pos += length
    return docs


class ContentRecorder:
    """Collects index specs (from the archive's prelude) and the sample (from
    the documents) while an archive is written or read; ``describe()``."""

    def __init__(self, sample_size=SAMPLE_SIZE):
        self.sample_size = sample_size
        self.indexes = {}
        self._samples = {}
        self._seq = 0

    def on_prelude(self, collections):
        for meta in collections:
            info = json_util.loads(meta.get("metadata") or "{}")
            ns = (meta["db"], meta["collection"])
            self.indexes[ns] = index_specs(info.get("indexes", []))

    def wants(self, db_name, coll_name):
        """True while the sample of a collection is not full (an _id-ordered stream)."""
        return len(self._samples.get((db_name, coll_name), ())) < self.sample_size

    def on_documents(self, db_name, coll_name, batch):
        kept = self._samples.setdefault((db_name, coll_name), [])
        for raw in batch:
            key = id_sort_key(bson.decode(raw).get("_id"))
            if len(kept) >= self.sample_size and key >= kept[-1][0]:
                continue
            self._seq += 1
            bisect.insort(kept, (key, self._seq, raw))
            del kept[self.sample_size :]

    def describe(self):
        """{db: {coll: {"indexes": [...], "sample_sha256": [...]}}}."""
        out = {}
        for ns in set(self.indexes) | set(self._samples):
            out.setdefault(ns[0], {})[ns[1]] = {
                "indexes": self.indexes.get(ns, []),
                "sample_sha256": [doc_hash(raw) for _k, _s, raw in self._samples.get(ns, [])],
            }
        return out


def restored_content(client, db_name, coll_name, sample_size):
    """(index specs, sample hashes) of a collection on a server, by the same rules."""
    coll = client[db_name][coll_name]
    indexes = index_specs(coll.list_indexes())
    raws = []
    for batch in coll.find_raw_batches({}, sort=[("_id", 1)], limit=sample_size):
        raws.extend(split_raw(batch))
    return indexes, [doc_hash(raw) for raw in raws[:sample_size]]
