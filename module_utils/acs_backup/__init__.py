# Copyright: Airflow Crawler System contributors
# Apache License 2.0
"""The one MongoDB backup engine of the Airflow Crawler System.

Used unchanged by the Ansible modules (``library/mongodb_backup.py``,
``library/mongodb_restore.py``), by the crawler API (``/api/backup/*``) and by
Airflow's ``backup_dag``. Format: docs/backup-format.md.

Public functions (everything else is internal):

``run_backup(uri, backup_dir, label="manual", **options) -> dict``
    Dump every user database (or ``databases``) to
    ``<backup_dir>/<YYYYmmddTHHMMSSZ>-<label>.archive.gz`` (mongodump archive
    format, gzip), hashing while it streams, then write the manifest
    ``<stem>.manifest.json`` beside it. Options: ``databases``, ``method``
    (auto|host|docker|native; mongodump is the old
    name of host), ``container`` (tools run in it) or
    ``network`` with optional ``image`` (tools run in a one-off container on
    the stack network, removed afterwards), ``container_uri``, ``tools_dir``,
    ``if_older_than`` (seconds or "12h"/"1d"), ``s3`` (dict, see
    ``S3Settings``), ``age_recipients`` (age1... public keys: the S3 copy is
    age-encrypted for them, ``encryption``), ``keep_last``/``max_age_days``/
    ``keep_daily``/``keep_weekly``/``keep_monthly`` (retention afterwards),
    ``check_mode``. Returns the manifest plus ``path``, ``manifest_path``,
    ``changed``, ``skipped_reason``, ``remote_url``, ``encrypted``, ``retention``.

Manifests are trusted only when signed (``signing``): an HMAC-SHA256 with
the key ``signing_key=`` / ``ACS_BACKUP_SIGNING_KEY`` /
``ACS_BACKUP_SIGNING_KEY_FILE``. Without a key backups are written unsigned
(the result's ``warnings`` say so) and no reader trusts them.

``scan_backups(backup_dir) -> {"backups": [...], "rejected": [...]}``
    Trusted manifests, newest first, each with ``path``, ``manifest_path``
    and ``good`` (archive present with the signed size and sha256); and
    ``{name, reason, path}`` of what is ignored: unsigned, altered,
    future-dated or broken manifests, archives without manifest, stale
    partial files. ``list_backups(backup_dir)`` is the first list,
    ``last_good_backup(backup_dir)`` its newest good one or None.

``sign_existing(backup_dir, names=None, check_mode=False) -> dict``
    Adopt backups made before signing: verify each archive fully against its
    unsigned manifest, then sign it.

``verify_backup(archive_path, manifest=None) -> dict``
    Check the manifest's sha256 and size, then read the archive to its end
    (gzip trailer, archive structure, per-collection CRC) and compare the
    document counts with the manifest. Raises ``BackupError`` on any mismatch.

``restore(uri, source, backup_dir, **options) -> dict``
    ``source`` is an archive path, a manifest path, a backup name, a remote
    key (with ``s3``) or None for the newest good backup. A named backup
    that is not trusted is refused unless ``allow_unsigned=True``. Verifies first,
    takes a safety backup unless ``skip_safety_backup=True``, restores with
    drop semantics, then checks the counts against the manifest; on a
    failure after data may have been dropped it puts the safety backup back.
    While it runs, ``<backup_dir>/.restore-in-progress`` pauses writers
    (``marker.restore_in_progress``). ``check_mode`` reports what would be replaced and, in ``plan``, the safety
    backup and the restore step it would run. Same method options as
    ``run_backup``. ``age_identity_file`` decrypts an encrypted remote copy
    (or a local ``.archive.gz.age``); without it such a backup is refused,
    naming the option, before anything is touched.

``restore_drill(backup_dir, source=None, image=None, **options) -> dict``
    Prove a backup restores: verify the newest signed backup (or ``source``),
    restore it into a throwaway server (a one-off container from the stack's
    mongodb ``image`` on an internal network of its own, removed afterwards),
    check counts, index specs and the sample hashes the manifest recorded at
    backup time; ``result`` passed/failed, each check, ``rto_seconds``.
    Recorded in ``<backup_dir>/.restore-drill.json``; ``last_drill(backup_dir)``
    reads it. ``age_identity_file`` and ``s3`` as for ``restore``.

``verify_encrypted(path, manifest)``
    Check an encrypted copy's size and sha256 against the manifest's
    ``encryption`` block: no identity needed.

``import_archive(source, backup_dir, label="imported") -> dict``
    Adopt an archive made by plain ``mongodump --archive --gzip``: read it to
    the end, copy it into backup_dir and write its manifest (the copy is read
    in full before it is signed).

``apply_retention(backup_dir, keep_last=None, max_age_days=None, s3=None,
check_mode=False, keep_daily=None, keep_weekly=None, keep_monthly=None) -> dict``
    Delete backups that no rule keeps (the newest ``keep_last``, those
    younger than ``max_age_days``, the newest of each of the last
    ``keep_daily`` days / ``keep_weekly`` ISO weeks / ``keep_monthly`` months
    that have a backup), locally and (with ``s3``) remotely by the same
    selection; the newest good backup is never deleted. Untrusted manifests and orphans are
    reported (``rejected``); orphans are deleted only with ``delete_orphans``.

All failures raise ``BackupError`` whose message names the problem and the fix.

The parts, one concern a module (relative imports inside the package):
``errors`` BackupError; ``common`` pymongo import, names, labels, durations;
``archive`` the mongodump archive format (CRC-64, writer, reader); ``manifest``
manifests, verification; ``signing`` the signature and the trust verdict;
``listing`` what a directory holds; ``adopt`` sign_existing; ``native`` pymongo dump and restore;
``containers`` the Docker engine (docker exec, one-off tools container);
``runners`` where the tools run (HostTools, ContainerExec, OneOffContainer,
Native) and the one mongodump/mongorestore command line; ``tool_config`` the
tools' --config file that keeps a password off that command line; ``s3`` remote copies;
``encryption`` age encryption of the remote copies; ``retention`` and
``generations`` (the daily/weekly/monthly rule); ``locking`` the backup directory's flock; ``marker`` the
restore-in-progress marker; ``backup`` run_backup and import_archive; ``restoring`` restore
(not named restore.py: the package attribute ``restore`` is the function);
``content`` index specs and document sample of the manifest; ``throwaway`` the
drill's one-off server; ``drill`` restore_drill.
"""

from __future__ import annotations

from .adopt import sign_existing
from .archive import ArchiveReader, ArchiveWriter, crc64, read_archive
from .backup import import_archive, run_backup
from .common import ENGINE_VERSION, HAS_PYMONGO, parse_duration, validate_label
from .drill import last_drill, restore_drill
from .encryption import verify_encrypted
from .errors import BackupError
from .listing import last_good_backup, list_backups, scan_backups
from .manifest import manifest_counts, verify_backup
from .restoring import restore
from .retention import apply_retention
from .runners import default_container_uri, find_tool
from .s3 import list_remote_backups

__all__ = [
    "ENGINE_VERSION",
    "HAS_PYMONGO",
    "ArchiveReader",
    "ArchiveWriter",
    "BackupError",
    "apply_retention",
    "crc64",
    "default_container_uri",
    "find_tool",
    "import_archive",
    "last_drill",
    "last_good_backup",
    "list_backups",
    "list_remote_backups",
    "manifest_counts",
    "parse_duration",
    "read_archive",
    "restore",
    "restore_drill",
    "run_backup",
    "scan_backups",
    "sign_existing",
    "validate_label",
    "verify_backup",
    "verify_encrypted",
]
