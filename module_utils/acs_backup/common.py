# Copyright: Airflow Crawler System contributors
# Apache License 2.0
"""What every part of the engine shares: the optional pymongo/bson import,
the names and suffixes of backup files, time stamps, labels and durations."""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import os
import re

from .errors import BackupError

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
    # The engine's parts import these names; _require_pymongo() stops every
    # path that would use them.
    bson = pymongo = json_util = RawBSONDocument = SON = None

ENGINE_VERSION = "1.1.0"
MANIFEST_FORMAT = "acs-backup-manifest/1"
ARCHIVE_SUFFIX = ".archive.gz"
MANIFEST_SUFFIX = ".manifest.json"
# The age-encrypted copy of an archive (encryption.py): what S3 holds when
# recipients are configured.
ENCRYPTED_SUFFIX = ARCHIVE_SUFFIX + ".age"
_NAME_RE = re.compile(r"^(?P<ts>\d{8}T\d{6}Z)-(?P<label>[A-Za-z0-9._-]+)$")
_LABEL_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


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


def backup_name(started, label):
    return "{}-{}".format(started.strftime("%Y%m%dT%H%M%SZ"), label)


def _stem(path):
    base = os.path.basename(path)
    for suffix in (ENCRYPTED_SUFFIX, ARCHIVE_SUFFIX, MANIFEST_SUFFIX):
        if base.endswith(suffix):
            return base[: -len(suffix)]
    return base


def manifest_path_for(archive_path):
    return os.path.join(os.path.dirname(archive_path), _stem(archive_path) + MANIFEST_SUFFIX)


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
