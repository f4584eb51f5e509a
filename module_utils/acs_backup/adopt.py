# Copyright: Airflow Crawler System contributors
# Apache License 2.0
"""Adopting backups made before manifests were signed: ``sign_existing``.

An unsigned manifest is not trusted (signing.py). The operator's way to
keep such a backup is explicit and verified: each archive is read to its
end and checked against its manifest (size, sha256, CRCs, document counts)
before the manifest is signed; a manifest whose signature is merely wrong
(altered after signing) is never re-signed.
"""

from __future__ import annotations

import contextlib
import os

from .common import ARCHIVE_SUFFIX
from .errors import BackupError
from .listing import read_manifest_file, scan_backups
from .locking import backup_dir_lock
from .manifest import _verify, _write_json_atomic
from .signing import KEY_ENV, content_problem, resolve_key, sign, signature_problem


def _eligible(reason, named):
    """Unsigned manifests always; one signed with a rotated key only when named."""
    return reason == "unsigned" or (named and reason.startswith("signed with another key"))


def _adopt_one(backup_dir, item, key, named, check_mode, now):
    """None when signed (or it would be), else the reason it is not."""
    manifest, reason = read_manifest_file(item["path"])
    if reason:
        return reason
    reason = content_problem(manifest, item["name"], now) or signature_problem(manifest, key)
    if reason is None:
        return None
    if not _eligible(reason, named):
        return (
            f"{reason}: not signed (only an unsigned manifest, or one signed with another key "
            "and named explicitly, is adopted)"
        )
    archive = os.path.join(backup_dir, item["name"] + ARCHIVE_SUFFIX)
    try:
        _verify(archive, manifest)
    except BackupError as exc:
        return f"archive does not verify against its manifest: {exc}"
    if not check_mode:
        sign(manifest, key)
        _write_json_atomic(item["path"], manifest)
    return None


def sign_existing(backup_dir, names=None, signing_key=None, check_mode=False, now=None):
    """Verify, then sign, the untrusted manifests of backup_dir (all unsigned
    ones, or those in ``names``). Returns ``signed`` (or, in check mode, what
    would be), ``refused`` ({name, reason}) and ``already_signed``."""
    key = resolve_key(signing_key)
    if key is None:
        raise BackupError(
            f"sign_existing needs the signing key: set {KEY_ENV} (the stack's "
            "backup_signing_key) or pass signing_key"
        )
    wanted = set(names or ())
    lock = (
        contextlib.nullcontext()
        if check_mode
        else backup_dir_lock(backup_dir, "sign existing backups")
    )
    with lock:
        scan = scan_backups(backup_dir, key, now)
        trusted = {m["name"] for m in scan["backups"]}
        candidates = {r["name"]: r for r in scan["rejected"] if not r.get("orphan")}
        unknown = sorted(wanted - trusted - set(candidates))
        if unknown:
            raise BackupError(
                f"sign_existing: no manifest for {unknown} in {backup_dir}; an archive without "
                "a manifest is adopted with import_from instead"
            )
        signed, refused = [], []
        for name, item in sorted(candidates.items()):
            if wanted and name not in wanted:
                continue
            reason = _adopt_one(backup_dir, item, key, name in wanted, check_mode, now)
            if reason is None:
                signed.append(name)
            else:
                refused.append({"name": name, "reason": reason})
    return {
        "changed": bool(signed),
        "check_mode": check_mode,
        "signed": signed,
        "refused": refused,
        "already_signed": sorted(wanted & trusted),
    }
