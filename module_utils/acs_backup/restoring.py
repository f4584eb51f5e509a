# Copyright: Airflow Crawler System contributors
# Apache License 2.0
"""Restoring a backup: find it, verify it, take a safety backup, restore it
through the chosen runner and check the counts."""

from __future__ import annotations

import contextlib
import os
import time

from .backup import run_backup
from .common import ARCHIVE_SUFFIX, ENCRYPTED_SUFFIX, _stem, manifest_path_for, pymongo
from .encryption import decrypt_archive, missing_identity, verify_encrypted
from .errors import BackupError, _PartialRestore
from .listing import first_good, read_manifest_file, scan_backups
from .locking import backup_dir_lock
from .manifest import _verify, manifest_counts
from .marker import restore_marker
from .native import _client, _current_counts, _server_version
from .runners import choose_runner
from .s3 import download_backup
from .signing import refusal, resolve_key, trust_problem


def _ignored(rejected, limit=5):
    """The untrusted backups left out, for the message that none is left."""
    if not rejected:
        return ""
    shown = "; ".join(f"{r['name']}: {r['reason']}" for r in rejected[:limit])
    more = f" and {len(rejected) - limit} more" if len(rejected) > limit else ""
    return (
        f"; ignored as not trusted: {shown}{more} (adopt backups made before signing with "
        "mongodb_backup sign_existing=true)"
    )


def _check_trust(archive, key, allow_unsigned):
    """Refuse an archive whose manifest is not trusted, unless the operator overrides."""
    manifest, reason = read_manifest_file(manifest_path_for(archive))
    if manifest is None:
        return  # _verify names the missing or unreadable manifest
    reason = trust_problem(manifest, key, _stem(archive))
    if reason and not allow_unsigned:
        raise refusal(_stem(archive), reason)


def _decrypt_local(archive, key, allow_unsigned, identity_file):
    """An encrypted copy fetched by hand (``<name>.archive.gz.age`` beside its
    manifest): trusted manifest, stored sha256, then decrypted beside it."""
    _check_trust(archive, key, allow_unsigned)
    manifest, reason = read_manifest_file(manifest_path_for(archive))
    if manifest is None:
        raise BackupError(
            f"{archive}.age: its manifest is needed to check and decrypt it ({reason})"
        )
    if not identity_file:
        raise missing_identity(manifest)
    verify_encrypted(archive + ".age", manifest)
    partial = f"{archive}.{os.getpid()}-decrypting.partial"
    try:
        decrypt_archive(archive + ".age", partial, identity_file, manifest)
        os.replace(partial, archive)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)


def resolve_source(
    source,
    backup_dir,
    s3=None,
    download_dir=None,
    safety_label="pre-restore",
    allow_unsigned=False,
    signing_key=None,
    identity_file=None,
):
    """Archive path for a path, manifest, name, remote key, or None: the newest
    good (signed and verified) backup that is not a safety backup (restoring
    twice in a row must not bring back the data the first restore replaced).
    A named backup whose manifest is not trusted is refused unless
    ``allow_unsigned`` (never for None: the newest is always a trusted one).
    An encrypted copy (remote, or a local ``.archive.gz.age``) is decrypted with
    ``identity_file``; without it the error names the option."""
    key = resolve_key(signing_key)
    if not source:
        scan = scan_backups(backup_dir, key, verify=False)
        newest = first_good(scan["backups"], skip_labels=(safety_label,))
        if newest is None:
            raise BackupError(
                f"no good signed backup in {backup_dir} other than {safety_label} safety "
                "backups: pass restore_from=PATH_OR_REMOTE_KEY (a safety backup is restored only "
                "when named)" + _ignored([r for r in scan["rejected"] if not r.get("orphan")])
            )
        return newest["path"]
    if os.path.isabs(source) or os.path.exists(source):
        if not os.path.exists(source):
            raise BackupError(f"restore source {source} does not exist")
        stem = _stem(source)
        archive = os.path.join(os.path.dirname(os.path.abspath(source)), stem + ARCHIVE_SUFFIX)
        if source.endswith(ENCRYPTED_SUFFIX) and not os.path.exists(archive):
            _decrypt_local(archive, key, allow_unsigned, identity_file)
    elif os.path.exists(os.path.join(backup_dir, _stem(source) + ARCHIVE_SUFFIX)):
        archive = os.path.join(backup_dir, _stem(source) + ARCHIVE_SUFFIX)
    elif s3:

        def check(manifest, stem):
            reason = trust_problem(manifest, key, stem)
            if reason and not allow_unsigned:
                raise refusal(stem, reason)

        archive = download_backup(s3, source, download_dir or backup_dir, identity_file, check)
    else:
        raise BackupError(
            f"restore source {source!r} is neither a file nor a backup in {backup_dir} "
            "(give s3 settings for a remote key)"
        )
    _check_trust(archive, key, allow_unsigned)
    return archive


def restore(
    uri,
    source=None,
    backup_dir="/data/backups",
    s3=None,
    skip_safety_backup=False,
    safety_label="pre-restore",
    check_mode=False,
    lock_timeout=0.0,
    allow_unsigned=False,
    signing_key=None,
    age_identity_file=None,
    **tools,
):
    """Verify, take a safety backup, restore with --drop semantics, check counts.

    ``tools`` are the method options, as for run_backup; the safety backup
    gets them too (it stays on this host, plain: no identity is needed to put
    it back). ``age_identity_file`` decrypts an encrypted remote backup. A real
    restore holds the backup directory's lock, so no backup runs while the data
    is being replaced."""
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
        archive = resolve_source(
            source,
            backup_dir,
            s3=s3,
            safety_label=safety_label,
            allow_unsigned=allow_unsigned,
            signing_key=signing_key,
            identity_file=age_identity_file,
        )
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
                        uri,
                        backup_dir,
                        label=safety_label,
                        check_mode=True,
                        signing_key=signing_key,
                        **tools,
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
                        uri, backup_dir, label=safety_label, signing_key=signing_key, **tools
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
