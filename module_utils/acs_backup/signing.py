# Copyright: Airflow Crawler System contributors
# Apache License 2.0
"""Manifests are trusted only when signed.

A manifest says which bytes a backup is and what it holds; whoever can write
one beside an archive could otherwise make any file "the newest good
backup", or hide a backup from retention. So every manifest carries an
HMAC-SHA256, over its canonical JSON without the signature, with the stack's
generated ``backup_signing_key``:

    "signature": {"alg": "hmac-sha256", "key_id": "...", "value": "..."}

``key_id`` names the key (a hash of it, never the key) so a manifest signed
with a rotated key says so instead of "mismatch". The key comes from an
explicit argument, else ``ACS_BACKUP_SIGNING_KEY``, else the file named by
``ACS_BACKUP_SIGNING_KEY_FILE``. ``trust_problem`` is the one verdict every
reader (listing, retention, restore, remote listing) applies.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import json
import os

from .common import MANIFEST_FORMAT, _parse_iso, utcnow
from .errors import BackupError

ALG = "hmac-sha256"
KEY_ENV = "ACS_BACKUP_SIGNING_KEY"
KEY_FILE_ENV = "ACS_BACKUP_SIGNING_KEY_FILE"
# Hosts' clocks differ a little; a manifest further ahead than this is suspect
# (it would stay "the newest backup" and outlive retention).
CLOCK_SKEW = _dt.timedelta(minutes=5)
# What a reader relies on; a manifest without one of them is never trusted.
REQUIRED_FIELDS = ("name", "archive", "size", "sha256", "started_at", "finished_at", "databases")
# Keys a reader adds to a loaded manifest; never part of what was signed.
LOCAL_FIELDS = ("path", "manifest_path", "good", "verified", "signature")
NO_KEY_WARNING = (
    "no backup signing key is configured (ACS_BACKUP_SIGNING_KEY, "
    "ACS_BACKUP_SIGNING_KEY_FILE or the signing_key option): the manifest was written "
    "UNSIGNED, and listing, retention and restore will not trust it until it is adopted "
    "with sign_existing"
)


class SigningKey:
    """The key and its public id."""

    def __init__(self, secret):
        self._secret = secret.encode() if isinstance(secret, str) else bytes(secret)
        self.key_id = hashlib.sha256(b"acs-backup-key-id\0" + self._secret).hexdigest()[:16]

    def mac(self, manifest):
        return hmac.new(self._secret, canonical(manifest), hashlib.sha256).hexdigest()


def resolve_key(key=None):
    """The SigningKey from ``key``, the environment or the key file; None when
    none is configured. An unreadable key file is an error, not "no key"."""
    if isinstance(key, SigningKey):
        return key
    secret = key or os.environ.get(KEY_ENV) or ""
    if not secret and os.environ.get(KEY_FILE_ENV):
        path = os.environ[KEY_FILE_ENV]
        try:
            with open(path, encoding="utf-8") as handle:
                secret = handle.read().strip()
        except OSError as exc:
            raise BackupError(
                f"{KEY_FILE_ENV}={path} cannot be read ({exc.strerror}): fix the path or its "
                "permissions, or set ACS_BACKUP_SIGNING_KEY"
            ) from exc
    secret = secret.strip()
    return SigningKey(secret) if secret else None


def canonical(manifest):
    """The bytes that are signed: sorted keys, no spaces, without the local fields."""
    body = {k: v for k, v in manifest.items() if k not in LOCAL_FIELDS}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def sign(manifest, key):
    """``manifest`` with its signature set (in place); unchanged without a key."""
    if key is None:
        manifest.pop("signature", None)
        return manifest
    manifest["signature"] = {"alg": ALG, "key_id": key.key_id, "value": key.mac(manifest)}
    return manifest


def _future(manifest, field, now):
    try:
        when = _parse_iso(manifest[field])
    except (TypeError, ValueError):
        return f"{field} {manifest[field]!r} is not a UTC time stamp"
    if when > now + CLOCK_SKEW:
        return f"{field} in the future ({manifest[field]})"
    return None


def content_problem(manifest, stem=None, now=None):
    """Why the manifest cannot describe a backup, signature aside; None when it can."""
    if not isinstance(manifest, dict):
        return "not a JSON object"
    if manifest.get("format") != MANIFEST_FORMAT:
        return f"format {manifest.get('format')!r}, expected {MANIFEST_FORMAT!r}"
    for field in REQUIRED_FIELDS:
        if manifest.get(field) is None:
            return f"missing field {field}"
    if stem is not None and manifest["name"] != stem:
        return f"name {manifest['name']!r} does not match the file name {stem!r}"
    now = now or utcnow()
    for field in ("started_at", "finished_at"):
        problem = _future(manifest, field, now)
        if problem:
            return problem
    return None


def signature_problem(manifest, key):
    """Why the signature does not prove the manifest; None when it does."""
    sig = manifest.get("signature")
    if not sig:
        return "unsigned"
    if key is None:
        return "signed, but no signing key is configured here to check it"
    if not isinstance(sig, dict) or sig.get("alg") != ALG:
        return "signature of an unknown kind"
    if sig.get("key_id") != key.key_id:
        return f"signed with another key (key_id {sig.get('key_id')}, this host has {key.key_id})"
    if not hmac.compare_digest(str(sig.get("value", "")), key.mac(manifest)):
        return "signature mismatch"
    return None


def trust_problem(manifest, key, stem=None, now=None):
    """The one verdict: None for a manifest to rely on, else the reason."""
    return content_problem(manifest, stem, now) or signature_problem(manifest, key)


def refusal(name, reason):
    """The BackupError for restoring an untrusted backup: the reason and the fixes."""
    return BackupError(
        f"backup {name} is not trusted: {reason}. Restore a signed backup; a backup made "
        "before signing existed is adopted with mongodb_backup sign_existing=true (it "
        "re-verifies the archive against the manifest, then signs it); only an operator "
        "sure of the file may pass allow_unsigned=true to mongodb_restore"
    )
