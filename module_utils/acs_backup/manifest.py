# Copyright: Airflow Crawler System contributors
# Apache License 2.0
"""Manifests beside the archives: writing, loading, verification (listing: listing.py)."""

from __future__ import annotations

import hashlib
import json
import os

from .archive import _CHUNK, read_archive
from .common import MANIFEST_FORMAT, manifest_path_for
from .errors import BackupError


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


def _describe(counts, content=None):
    """The manifest's ``databases``: counts, plus with ``content``
    (content.ContentRecorder.describe()) each collection's indexes and sample."""
    content = content or {}
    return {
        db: {
            "collections": {
                c: {"documents": n, **(content.get(db) or {}).get(c, {})}
                for c, n in sorted(colls.items())
            }
        }
        for db, colls in sorted(counts.items())
    }


def manifest_counts(manifest):
    return {
        db: {c: info["documents"] for c, info in entry["collections"].items()}
        for db, entry in manifest.get("databases", {}).items()
    }


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


def _public_manifest(manifest):
    return {
        k: v for k, v in manifest.items() if k not in ("path", "manifest_path", "good", "verified")
    }
