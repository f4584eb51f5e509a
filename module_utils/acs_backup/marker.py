# Copyright: Airflow Crawler System contributors
# Apache License 2.0
"""The restore-in-progress marker: writers pause while it stands.

A restore drops and re-fills collections; a crawl result written in between
would land in a half-restored database (and be dropped by the next
collection's restore, or survive beside data it does not belong to). So for
the whole of a real restore ``<backup_dir>/.restore-in-progress`` names who
restores what; the crawler's storage spools instead of writing and the API
refuses mutations while it stands, and both carry on by themselves after.

The marker is trusted only while the directory's lock is held (a restore
always holds it): a restore killed with SIGKILL leaves the file behind, but
the kernel let go of its flock, so writers do not stay paused for ever."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket

from .common import _iso, utcnow

MARKER_NAME = ".restore-in-progress"


def marker_path(backup_dir):
    return os.path.join(str(backup_dir), MARKER_NAME)


def lock_is_held(backup_dir) -> bool:
    """True when some process holds the directory's exclusive lock. The probe
    is a shared, non-blocking flock let go at once: it never waits, and it
    is only made when a marker is there."""
    try:
        fd = os.open(str(backup_dir), os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def restore_in_progress(backup_dir):
    """The marker's holder info while a live restore stands behind it, else None."""
    path = marker_path(backup_dir)
    try:
        with open(path, encoding="utf-8") as fh:
            info = json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        info = {}  # being written this instant: still a restore
    if not lock_is_held(backup_dir):
        return None  # left behind by a restore that died: nobody restores now
    return info if isinstance(info, dict) else {}


def describe(info) -> str:
    return "restore of {} (pid {} on {}, since {})".format(
        os.path.basename(str(info.get("archive") or "a backup")),
        info.get("pid", "?"),
        info.get("host", "?"),
        info.get("since", "?"),
    )


@contextlib.contextmanager
def restore_marker(backup_dir, archive):
    """Stand the marker for the duration of the block (written atomically)."""
    path = marker_path(backup_dir)
    info = {
        "operation": "restore",
        "archive": str(archive),
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": _iso(utcnow()),
    }
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(info, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    try:
        yield info
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
