# Copyright: Airflow Crawler System contributors
# Apache License 2.0
"""Restoring a backup: find it, verify it, take a safety backup, restore it
through the chosen runner and check the counts."""

from __future__ import annotations

import contextlib
import os
import time

from .backup import run_backup
from .common import ARCHIVE_SUFFIX, _stem, pymongo
from .errors import BackupError, _PartialRestore
from .locking import backup_dir_lock
from .manifest import _verify, last_good_backup, manifest_counts
from .marker import restore_marker
from .native import _client, _current_counts, _server_version
from .runners import choose_runner
from .s3 import download_backup


def resolve_source(source, backup_dir, s3=None, download_dir=None, safety_label="pre-restore"):
    """Archive path for a path, manifest, name, remote key, or None: the newest
    good backup that is not a safety backup (restoring twice in a row must not
    bring back the data the first restore replaced)."""
    if not source:
        newest = last_good_backup(backup_dir, skip_labels=(safety_label,))
        if newest is None:
            raise BackupError(
                f"no good backup in {backup_dir} other than {safety_label} safety backups: "
                "pass restore_from=PATH_OR_REMOTE_KEY (a safety backup is restored only when named)"
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


def restore(
    uri,
    source=None,
    backup_dir="/data/backups",
    s3=None,
    skip_safety_backup=False,
    safety_label="pre-restore",
    check_mode=False,
    lock_timeout=0.0,
    **tools,
):
    """Verify, take a safety backup, restore with --drop semantics, check counts.

    ``tools`` are the method options, as for run_backup; the safety backup
    gets them too. A real restore holds the backup directory's lock, so no
    backup runs while the data is being replaced."""
    # A real restore holds the lock; check mode only reads.
    if not check_mode:
        os.makedirs(backup_dir, mode=0o750, exist_ok=True)
    lock = (
        contextlib.nullcontext()
        if check_mode
        else backup_dir_lock(backup_dir, "restore", lock_timeout)
    )
    with lock:
        runner = choose_runner("mongorestore", uri, **tools)
        archive = resolve_source(source, backup_dir, s3=s3, safety_label=safety_label)
        manifest, verified = _verify(archive)
        counts = manifest_counts(manifest)
        # A one-off container's image and network, once resolved, serve the safety backup too.
        tools.update(runner.prepare())
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
                "method": runner.method,
                "replaced": None,
                "safety_backup": None,
                "check_mode": check_mode,
            }
            if check_mode:
                result["replaced"] = replaced_from(_current_counts(client, counts))
                safety = None
                if not skip_safety_backup:
                    planned = run_backup(
                        uri, backup_dir, label=safety_label, check_mode=True, **tools
                    )
                    safety = {"path": planned["path"], "method": planned["method"]}
                    safety.update(planned["plan"])
                result["plan"] = {
                    "verified": True,
                    "safety_backup": safety,
                    "restore": runner.plan(archive),
                }
                return result
            # mongorestore's own dry run too, when the real tool is here.
            runner.dry_run(archive)
            # From the safety backup to the count check, crawl writers spool
            # instead of writing (marker.py): nothing lands half-restored.
            with restore_marker(backup_dir, archive):
                if not skip_safety_backup:
                    result["safety_backup"] = run_backup(
                        uri, backup_dir, label=safety_label, **tools
                    )
                    # The safety backup counted the data being replaced: no second scan.
                    result["replaced"] = replaced_from(manifest_counts(result["safety_backup"]))
                else:
                    result["replaced"] = replaced_from(_current_counts(client, counts))
                return _restore_or_put_back(runner, client, archive, verified, counts, result)
        finally:
            client.close()


def _restore_or_put_back(runner, client, archive, verified, counts, result):
    """Restore and check the counts; on a failure after data may have been
    dropped, the safety backup is put back (_put_back)."""
    t0 = time.monotonic()
    try:
        runner.restore(archive, client, verified)
        failure = None
    except (pymongo.errors.PyMongoError, _PartialRestore, BackupError) as exc:
        failure = f"restore of {os.path.basename(archive)} failed part way ({exc})"
    if failure is None:
        result["duration_seconds"] = round(time.monotonic() - t0, 3)
        after = _current_counts(client, counts)
        if after == counts:
            result["restored_counts"] = after
            return result
        failure = (
            f"restore of {os.path.basename(archive)} finished but document counts {after} "
            f"differ from the manifest's {counts}"
        )
    raise BackupError(_put_back(runner, client, failure, result))


def _put_back(runner, client, failure, result):
    """Put the safety backup back after a failed restore; the message for
    the operator names the failure and the put-back's outcome."""
    safety = result["safety_backup"]
    if not safety:
        return (
            f"{failure}; no safety backup was taken (skip_safety_backup), so nothing was put "
            "back: the data may be incomplete; restore a good backup"
        )
    path = safety["path"]
    by_hand = (
        f"restore the safety backup {path} by hand "
        f"(ansible-playbook playbooks/runbook/restore.yml -e confirm=yes -e restore_from={path})"
    )
    try:
        _, verified = _verify(path)
        # Collections the failed archive created, which did not exist before, go.
        for row in result["replaced"] or []:
            if row["current_documents"] is None:
                db, _, coll = row["namespace"].partition(".")
                client[db].drop_collection(coll)
        runner.restore(path, client, verified)
        want = manifest_counts(safety)
        after = _current_counts(client, want)
    except (pymongo.errors.PyMongoError, _PartialRestore, BackupError) as exc:
        return f"{failure}; putting back the safety backup failed too ({exc}): {by_hand}"
    if after != want:
        return (
            f"{failure}; the safety backup was put back but its counts {after} differ from "
            f"its manifest's {want}: {by_hand}"
        )
    return (
        f"{failure}; the safety backup {path} was put back automatically: the data is as "
        f"it was before the restore (document counts {want})"
    )
