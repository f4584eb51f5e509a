# Copyright: Airflow Crawler System contributors
# Apache License 2.0
"""The backups of a directory as every reader sees them.

``scan_backups`` sorts each file into one of two lists:

``backups``   manifests that are trusted (signing.trust_problem), newest
              first, each with ``path``, ``manifest_path`` and ``good``:
              the archive is there with the signed size AND sha256 (a
              same-size replacement is not good);
``rejected``  ``{name, reason, path}`` for what no reader may rely on:
              untrusted manifests (unsigned, altered, future-dated, missing
              field, bad JSON), archives without a manifest and stale
              partial files (``orphan: true`` for these two).

A broken file never breaks the listing: it is reported instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import time

from .archive import _CHUNK
from .common import _NAME_RE, ARCHIVE_SUFFIX, MANIFEST_SUFFIX, _stem
from .locking import is_idle
from .signing import resolve_key, trust_problem

# A partial file is written only under the directory's lock; one older than
# this while nobody holds the lock is a crashed run's leftover.
STALE_PARTIAL_SECONDS = 3600
_PARTIAL_SUFFIXES = (".partial", ".tmp")

# sha256 of archives already hashed, by file identity: listing stays cheap
# for the API, and any rewrite (even one that restores the mtime) changes ctime.
_SHA_CACHE = {}
_SHA_CACHE_MAX = 1024


def _identity(st):
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def archive_sha256(path):
    """sha256 of the file at ``path`` (cached while the file is unchanged)."""
    st = os.stat(path)
    cached = _SHA_CACHE.get(path)
    if cached and cached[0] == _identity(st):
        return cached[1]
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
        identity = _identity(os.fstat(handle.fileno()))
    if len(_SHA_CACHE) >= _SHA_CACHE_MAX:
        _SHA_CACHE.clear()
    _SHA_CACHE[path] = (identity, digest.hexdigest())
    return digest.hexdigest()


def archive_problem(manifest, archive_path):
    """Why the archive is not the one the manifest signed; None when it is."""
    try:
        size = os.path.getsize(archive_path)
        if size != manifest["size"]:
            return f"archive has {size} bytes, the manifest says {manifest['size']}"
        if archive_sha256(archive_path) != manifest["sha256"]:
            return "archive sha256 does not match the manifest"
    except OSError as exc:
        return f"archive unreadable: {exc.strerror or exc}"
    return None


def read_manifest_file(path):
    """(manifest, None) or (None, reason): never raises for a bad file."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle), None
    except OSError as exc:
        return None, f"manifest unreadable: {exc.strerror or exc}"
    except ValueError as exc:
        return None, f"bad JSON: {exc}"


def _stale_partial(backup_dir, entry, path, stale_after, idle):
    try:
        age = time.time() - os.path.getmtime(path)
    except OSError:
        return None, idle
    if age < stale_after:
        return None, idle
    if idle is None:
        idle = is_idle(backup_dir)
    if not idle:
        return None, idle
    return {
        "name": entry,
        "reason": f"stale partial ({age / 60:.0f} min old, no backup or restore running)",
        "path": path,
        "orphan": True,
    }, idle


def _set_good(manifest):
    problem = archive_problem(manifest, manifest["path"])
    manifest["good"] = problem is None
    if problem:
        manifest["problem"] = problem
    return manifest["good"]


def first_good(backups, skip_labels=()):
    """The newest good one of ``backups`` (newest first), hashing only as far as
    needed: a backup run or a retention pass does not re-read every archive."""
    for manifest in backups:
        if manifest.get("label") in skip_labels:
            continue
        good = manifest["good"] if manifest["good"] is not None else _set_good(manifest)
        if good:
            return manifest
    return None


def scan_backups(backup_dir, key=None, now=None, stale_after=STALE_PARTIAL_SECONDS, verify=True):
    """``{"backups": [...], "rejected": [...]}`` of backup_dir (see the module).
    ``verify=False`` leaves ``good`` None (see ``first_good``)."""
    backups, rejected = [], []
    if not os.path.isdir(backup_dir):
        return {"backups": backups, "rejected": rejected}
    key = resolve_key(key)
    entries = sorted(os.listdir(backup_dir))
    present = set(entries)
    idle = None
    for entry in entries:
        path = os.path.join(backup_dir, entry)
        stem = _stem(entry)
        if entry.endswith(MANIFEST_SUFFIX) and _NAME_RE.match(stem):
            manifest, reason = read_manifest_file(path)
            reason = reason or trust_problem(manifest, key, stem, now)
            if reason:
                rejected.append({"name": stem, "reason": reason, "path": path})
                continue
            apath = os.path.join(backup_dir, stem + ARCHIVE_SUFFIX)
            manifest.update(path=apath, manifest_path=path, good=None)
            if verify:
                _set_good(manifest)
            backups.append(manifest)
        elif entry.endswith(ARCHIVE_SUFFIX) and _NAME_RE.match(stem):
            if stem + MANIFEST_SUFFIX not in present:
                rejected.append(
                    {
                        "name": stem,
                        "reason": "archive without manifest",
                        "path": path,
                        "orphan": True,
                    }
                )
        elif entry.endswith(_PARTIAL_SUFFIXES) and os.path.isfile(path):
            item, idle = _stale_partial(backup_dir, entry, path, stale_after, idle)
            if item:
                rejected.append(item)
    backups.sort(key=lambda m: (m["finished_at"], m["name"]), reverse=True)
    return {"backups": backups, "rejected": rejected}


def list_backups(backup_dir, key=None):
    """Trusted backups in backup_dir, newest first (``scan_backups``'s ``backups``)."""
    return scan_backups(backup_dir, key)["backups"]


def last_good_backup(backup_dir, skip_labels=(), key=None):
    """The newest trusted, verified backup, leaving out those labelled one of ``skip_labels``."""
    return first_good(scan_backups(backup_dir, key, verify=False)["backups"], skip_labels)
