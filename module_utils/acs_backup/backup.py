# Copyright: Airflow Crawler System contributors
# Apache License 2.0
"""Making a backup: run_backup (through the chosen runner) and import_archive."""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import shutil
import socket
import time
import uuid

from .archive import _CHUNK, read_archive
from .common import (
    ARCHIVE_SUFFIX,
    ENCRYPTED_SUFFIX,
    ENGINE_VERSION,
    MANIFEST_FORMAT,
    _HashingWriter,
    _iso,
    _parse_iso,
    _stem,
    backup_name,
    manifest_path_for,
    parse_duration,
    utcnow,
    validate_label,
)
from .content import CONTENT_DESCRIPTION, ContentRecorder
from .encryption import encrypt_copy, parse_recipients
from .errors import BackupError
from .listing import last_good_backup
from .locking import backup_dir_lock
from .manifest import _describe, _public_manifest, _totals, _write_json_atomic
from .native import _client, _server_version
from .retention import any_rule, apply_retention, check_rules
from .runners import choose_runner
from .s3 import S3Settings, _put_manifest, upload_backup
from .signing import NO_KEY_WARNING, resolve_key, sign


def _new_manifest(
    name, label, hashing, times, method, tool, server_version, counts, recorder=None, **extra
):
    """The manifest of an archive just written through ``hashing``;
    ``times`` is (started, finished, duration in seconds); ``recorder`` the
    ContentRecorder that saw the archive (indexes and sample, content.py)."""
    started, finished, duration = times
    if recorder is not None:
        extra["content"] = dict(
            CONTENT_DESCRIPTION,
            sample=dict(CONTENT_DESCRIPTION["sample"], size=recorder.sample_size),
        )
    return {
        "format": MANIFEST_FORMAT,
        "name": name,
        "label": label,
        "archive": name + ARCHIVE_SUFFIX,
        "archive_format": "mongodump-archive/0.1+gzip",
        "size": hashing.size,
        "sha256": hashing.sha256.hexdigest(),
        "started_at": _iso(started),
        "finished_at": _iso(finished),
        "duration_seconds": duration,
        "host": socket.gethostname(),
        "method": method,
        **extra,
        "tool": tool,
        "engine": {"name": "acs_backup", "version": ENGINE_VERSION},
        "server": {"version": server_version},
        "databases": _describe(counts, recorder.describe() if recorder else None),
        "totals": _totals(counts),
        "remote": None,
    }


# Space a dump needs at least, beyond twice the newest backup's size.
MIN_FREE_BYTES = 64 * 1024 * 1024


def _check_free_space(backup_dir, min_free_bytes, key):
    """Refuse before the dump starts, not half way through it."""
    newest = last_good_backup(backup_dir, key=key)
    needed = max(int(min_free_bytes), 2 * int((newest or {}).get("size") or 0))
    free = shutil.disk_usage(backup_dir).free
    if free < needed:
        raise BackupError(
            f"only {free // 2**20} MiB free in {backup_dir}, a backup needs at least "
            f"{needed // 2**20} MiB: free space (retention: keep_last / max_age_days) or "
            "use another backup_dir"
        )


def _unused_name(backup_dir, started, label):
    """The backup's name; a second backup in the same second gets -2, -3, ..."""
    name = backup_name(started, label)
    for n in range(2, 100):
        if not os.path.exists(os.path.join(backup_dir, name + ARCHIVE_SUFFIX)):
            return name
        name = f"{backup_name(started, label)}-{n}"
    raise BackupError(f"too many backups labelled {label} in one second in {backup_dir}")


def _os_error(exc, path, backup_dir):
    return BackupError(
        f"cannot write {path}: {exc.strerror or exc}; check free space and permissions "
        f"of {backup_dir}"
    )


def run_backup(
    uri,
    backup_dir,
    label="manual",
    databases=None,
    if_older_than=None,
    s3=None,
    keep_last=None,
    max_age_days=None,
    compress_level=6,
    check_mode=False,
    now=None,
    lock_timeout=0.0,
    min_free_bytes=MIN_FREE_BYTES,
    signing_key=None,
    age_recipients=None,
    keep_daily=None,
    keep_weekly=None,
    keep_monthly=None,
    **tools,
):
    """Make one backup (see the package docstring); returns a result dict.

    With ``age_recipients`` (age1... public keys) and ``s3`` the copy uploaded
    is encrypted for them (encryption.py); the local archive stays plain.

    ``tools`` are the method options: method, container, container_uri,
    tools_dir, network, image (``runners.choose_runner``). The backup holds
    the directory's lock (``locking``), waiting ``lock_timeout`` seconds for
    a backup or restore already running. The manifest is signed with
    ``signing_key`` (else the key of the environment, ``signing``); without
    a key it is written unsigned and the result's ``warnings`` say so."""
    validate_label(label)
    key = resolve_key(signing_key)
    rules = dict(
        keep_last=keep_last,
        max_age_days=max_age_days,
        keep_daily=keep_daily,
        keep_weekly=keep_weekly,
        keep_monthly=keep_monthly,
    )
    check_rules(**rules)
    # Checked before the dump: a wrong key fails at once, not after an hour's dump.
    recipients = parse_recipients(age_recipients) if s3 else []
    min_age = parse_duration(if_older_than)
    if min_age is not None:
        newest = last_good_backup(backup_dir, key=key)
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
                    signed=True,
                    encrypted=bool(newest.get("encryption")),
                    warnings=[],
                )
                return result
    runner = choose_runner("mongodump", uri, **tools)
    runner.prepare()
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
            "method": runner.method,
            "plan": runner.plan(),
            "remote_url": (
                S3Settings(s3).url(name + (ENCRYPTED_SUFFIX if recipients else ARCHIVE_SUFFIX))
                if s3
                else None
            ),
            "encrypted": bool(recipients),
            "skipped_reason": None,
            "signed": key is not None,
            "warnings": [] if key else [NO_KEY_WARNING],
        }
    try:
        os.makedirs(backup_dir, mode=0o750, exist_ok=True)
    except OSError as exc:
        raise _os_error(exc, backup_dir, backup_dir) from exc
    with backup_dir_lock(backup_dir, f"backup {label}", lock_timeout):
        _check_free_space(backup_dir, min_free_bytes, key)
        # Named once the lock is held: a backup that waited is named when it runs.
        started = now or utcnow()
        name = _unused_name(backup_dir, started, label)
        manifest = _dump(
            uri,
            runner,
            os.path.join(backup_dir, name + ARCHIVE_SUFFIX),
            label=label,
            started=started,
            databases=databases,
            compress_level=compress_level,
            key=key,
        )
        if s3:
            mpath = manifest["manifest_path"]
            stored = encrypt_copy(manifest, recipients) if recipients else None
            try:
                settings, s3client, remote = upload_backup(manifest, s3, stored)
            finally:
                if stored:
                    os.unlink(stored["path"])
            manifest["remote"] = remote
            # Signed again: "remote" is part of what the signature covers.
            sign(manifest, key)
            _put_manifest(settings, s3client, manifest)
            _write_json_atomic(mpath, _public_manifest(manifest))
        result = dict(manifest)
        result.update(
            changed=True,
            skipped_reason=None,
            remote_url=(manifest["remote"] or {}).get("url"),
            signed=key is not None,
            encrypted=bool(manifest.get("encryption")),
            warnings=[] if key else [NO_KEY_WARNING],
        )
        if any_rule(**rules):
            result["retention"] = apply_retention(backup_dir, s3=s3, signing_key=key, **rules)
        return result


def _dump(uri, runner, archive, *, label, started, databases, compress_level, key=None):
    """Write ``archive`` (through a partial file) and its manifest; the manifest."""
    backup_dir, name = os.path.dirname(archive), _stem(archive)
    client = _client(uri)
    server_version = _server_version(client)
    recorder = ContentRecorder()
    # Unique: a crashed run's leftover never collides with a new one.
    partial = f"{archive}.{os.getpid()}-{uuid.uuid4().hex[:8]}.partial"
    t0 = time.monotonic()
    try:
        with open(partial, "wb") as raw:
            hashing = _HashingWriter(raw)
            tool = runner.version()
            counts = runner.dump(
                hashing, client, server_version, databases, compress_level, recorder
            )
            raw.flush()
            os.fsync(raw.fileno())
        if counts is None:
            # Counts, indexes and sample come from the archive itself: proves it reads to the end.
            reader = read_archive(
                partial, on_documents=recorder.on_documents, on_prelude=recorder.on_prelude
            )
            counts = reader.counts
            if tool is None:
                version = (reader.header or {}).get("tool_version") or "unknown"
                tool = {"name": "mongodump", "version": version}
        # Measured from the start so a fixed "now" (tests, replays) stays consistent.
        finished = started + _dt.timedelta(seconds=time.monotonic() - t0)
        os.replace(partial, archive)
    except OSError as exc:
        if os.path.exists(partial):
            os.unlink(partial)
        raise _os_error(exc, partial, backup_dir) from exc
    except BaseException:
        if os.path.exists(partial):
            os.unlink(partial)
        raise
    finally:
        client.close()
    times = (started, finished, round(time.monotonic() - t0, 3))
    manifest = _new_manifest(
        name, label, hashing, times, runner.method, tool, server_version, counts, recorder
    )
    manifest.update(runner.manifest_extra())
    sign(manifest, key)
    mpath = manifest_path_for(archive)
    try:
        _write_json_atomic(mpath, manifest)
    except OSError as exc:
        raise _os_error(exc, mpath, backup_dir) from exc
    manifest.update(path=archive, manifest_path=mpath, good=True)
    return manifest


def import_archive(source, backup_dir, label="imported", check_mode=False, signing_key=None):
    """Adopt an archive made elsewhere (plain ``mongodump --archive --gzip``).

    Copies it into backup_dir (through a partial file, hashing while it
    copies), then reads THAT COPY to its end (structure, CRCs, counts): the
    manifest, and its signature, describe only bytes that were read in full,
    even when the source changes or is still being written meanwhile. A
    foreign file never becomes restorable without this explicit step.
    """
    validate_label(label)
    if not os.path.isfile(source):
        raise BackupError(f"import_from={source!r} is not a file")
    key = resolve_key(signing_key)
    # Never later than now: a future-dated manifest is not trusted (signing.CLOCK_SKEW).
    started = min(_dt.datetime.fromtimestamp(os.path.getmtime(source), _dt.UTC), utcnow())
    name = backup_name(started, label)
    archive = os.path.join(backup_dir, name + ARCHIVE_SUFFIX)
    if check_mode:
        # Read it through, so check mode fails where the import would.
        read_archive(source)
        return {
            "changed": True,
            "check_mode": True,
            "name": name,
            "path": archive,
            "signed": key is not None,
            "warnings": [] if key else [NO_KEY_WARNING],
        }
    created = not os.path.isdir(backup_dir)
    os.makedirs(backup_dir, mode=0o750, exist_ok=True)
    try:
        return _import_locked(source, backup_dir, archive, name, label, started, key)
    except BaseException:
        if created:
            # A failed import leaves no trace, not even the directory.
            with contextlib.suppress(OSError):
                os.rmdir(backup_dir)
        raise


def _import_locked(source, backup_dir, archive, name, label, started, key):
    with backup_dir_lock(backup_dir, f"import {label}"):
        if os.path.exists(manifest_path_for(archive)):
            raise BackupError(f"backup {name} already exists in {backup_dir}")
        partial = f"{archive}.{os.getpid()}-{uuid.uuid4().hex[:8]}.partial"
        try:
            with open(source, "rb") as src, open(partial, "wb") as dst:
                hashing = _HashingWriter(dst)
                shutil.copyfileobj(src, hashing, _CHUNK)
                dst.flush()
                os.fsync(dst.fileno())
            recorder = ContentRecorder()
            reader = read_archive(
                partial,
                name=source,
                on_documents=recorder.on_documents,
                on_prelude=recorder.on_prelude,
            )
            os.replace(partial, archive)
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
        header = reader.header or {}
        manifest = _new_manifest(
            name,
            label,
            hashing,
            (started, started, 0.0),
            "import",
            {"name": "mongodump", "version": header.get("tool_version", "unknown")},
            header.get("server_version", "unknown"),
            reader.counts,
            recorder,
            imported_from=os.path.abspath(source),
        )
        sign(manifest, key)
        mpath = manifest_path_for(archive)
        _write_json_atomic(mpath, manifest)
    manifest.update(
        path=archive,
        manifest_path=mpath,
        good=True,
        changed=True,
        signed=key is not None,
        warnings=[] if key else [NO_KEY_WARNING],
    )
    return manifest
