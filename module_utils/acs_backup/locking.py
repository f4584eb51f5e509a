# Copyright: Airflow Crawler System contributors
# Apache License 2.0
"""One backup or restore at a time per backup directory.

The API, the backup DAG, the Ansible modules and the one-off tools container
all write into the same directory (a volume they share). Two backups started
in the same second would fight over one archive name; a restore running
while a backup reads the same collections would back up half-restored data.
So every writer takes an exclusive ``flock`` on the directory itself (the
kernel releases it when the process dies: no stale lock to clean up). Who
holds it, since when and for what is written in ``.acs-backup.lock`` while
it is held, so the second caller is told exactly what it waits for. Within one thread the lock is
re-entrant: a restore takes its safety backup under its own lock."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import threading
import time

from .common import _iso, utcnow
from .errors import BackupError

# Who holds the lock: written while it is held, removed when it is let go.
HOLDER_NAME = ".acs-backup.lock"
_held = threading.local()


def _holder(backup_dir, attempts=10) -> str:
    # The holder writes its info just after it got the lock: a caller refused
    # in between waits a moment for it, so the refusal can name the holder.
    for attempt in range(attempts):
        try:
            with open(os.path.join(backup_dir, HOLDER_NAME), encoding="utf-8") as fh:
                info = json.load(fh)
            break
        except (OSError, ValueError):
            if attempt == attempts - 1:
                return "another process"
            time.sleep(0.05)
    return "{} (pid {} on {}, since {})".format(
        info.get("operation", "a backup or restore"),
        info.get("pid", "?"),
        info.get("host", "?"),
        info.get("since", "?"),
    )


@contextlib.contextmanager
def backup_dir_lock(backup_dir, operation, timeout=0.0):
    """Hold the directory's lock for ``operation``; wait up to ``timeout``
    seconds for it, then raise BackupError naming the holder and the fix."""
    held = getattr(_held, "dirs", None)
    if held is None:
        held = _held.dirs = set()
    key = os.path.realpath(backup_dir)
    if key in held:
        yield
        return
    try:
        # The lock is on the directory itself: no lock file to leave behind.
        fd = os.open(backup_dir, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise BackupError(
            f"cannot open {backup_dir}: {exc.strerror}; check that it exists and is a directory"
        ) from exc
    info = os.path.join(backup_dir, HOLDER_NAME)
    try:
        deadline = time.monotonic() + max(0.0, float(timeout or 0))
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise BackupError(
                        f"{backup_dir} is busy: {_holder(backup_dir)} is running; a backup and "
                        "a restore never run at once: try again when it has finished"
                    ) from None
                time.sleep(0.2)
        holder = {
            "operation": operation,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": _iso(utcnow()),
        }
        # Only a courtesy for the next caller: the lock holds without it.
        with contextlib.suppress(OSError), open(info, "w", encoding="utf-8") as fh:
            json.dump(holder, fh)
        held.add(key)
        try:
            yield
        finally:
            held.discard(key)
            with contextlib.suppress(OSError):
                os.unlink(info)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def is_idle(backup_dir):
    """True when no other backup, restore or import holds ``backup_dir`` (this
    thread holding it counts as idle: its own files are finished). A file that
    only a lock holder writes (a partial archive) is then a crash's leftover."""
    if os.path.realpath(backup_dir) in (getattr(_held, "dirs", None) or ()):
        return True
    try:
        fd = os.open(backup_dir, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    finally:
        os.close(fd)
