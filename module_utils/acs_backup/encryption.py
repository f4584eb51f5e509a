# Copyright: Airflow Crawler System contributors
# Apache License 2.0
"""Client-side encryption of the copies that leave the host, with age
(age-encryption.org/v1, X25519 recipients) through pyrage.

Why pyrage and not the ``age`` binary: it is a pinned wheel with the other
dependencies (requirements.txt, crawler/pyproject.toml,
crawler/requirements-airflow.txt), so the API image, the Airflow image and
the controller's virtualenv get it from pip with no package of the host's
distribution, and it streams (encrypt_io/decrypt_io) like a pipe to ``age``
would, in constant memory.

What is encrypted: the copy uploaded to S3, ``<name>.archive.gz.age``,
whenever recipients are configured. The local archive stays as mongodump
wrote it (docs/backup-format.md says why: the automatic put-back of a safety
backup and a local restore must not need a private key that is kept off the
host). The manifest's ``encryption`` block (signed with the rest) names the
recipients (public keys) and the size and sha256 of the encrypted object, so
anyone can check the stored bytes without the identity
(``verify_encrypted``); the manifest's own size and sha256 remain those of
the plain archive, which the restore checks after decrypting.

The identity (``AGE-SECRET-KEY-1...``) is read from a file the operator
names for a restore, only for that restore; it is never logged, put into a
message or a result.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid

from .archive import _CHUNK
from .common import ENCRYPTED_SUFFIX, _HashingWriter
from .errors import BackupError

SCHEME = "age"
FORMAT = "age-encryption.org/v1"
_SECRET_PREFIX = "AGE-SECRET-KEY-1"  # noqa: S105 - the format's prefix, not a key
IDENTITY_OPTION = "age_identity_file"


def _pyrage():
    try:
        import pyrage
        from pyrage import x25519
    except ImportError as exc:
        raise BackupError(
            "age encryption needs pyrage on the host that runs the backup or restore "
            "(pip install pyrage==1.4.0; it is pinned in requirements.txt)"
        ) from exc
    return pyrage, x25519


def parse_recipients(values):
    """The pyrage recipients of ``values`` (age1... public keys), in order, without
    duplicates; [] for none. A private key given by mistake is refused without
    repeating it."""
    if not values:
        return []
    if isinstance(values, str):
        values = [values]
    _, x25519 = _pyrage()
    recipients, seen = [], set()
    for index, value in enumerate(values):
        text = str(value).strip()
        if text.upper().startswith(_SECRET_PREFIX):
            raise BackupError(
                f"age_recipients[{index}] is an age IDENTITY (private key), not a recipient: "
                "put its public key (age-keygen -y IDENTITY_FILE prints it) in the inventory "
                "and keep the identity off this host"
            )
        try:
            recipient = x25519.Recipient.from_str(text)
        except Exception as exc:  # pyrage.RecipientError and kin
            shown = text if text.startswith("age1") else "(not shown)"
            raise BackupError(
                f"age_recipients[{index}]={shown} is not an age public key ({exc}): use the "
                "age1... line that age-keygen prints as 'public key'"
            ) from exc
        if str(recipient) not in seen:
            seen.add(str(recipient))
            recipients.append(recipient)
    return recipients


def load_identities(path):
    """The identities of an age identity file (age-keygen's format: comments start
    with #, one AGE-SECRET-KEY-1... a line)."""
    if not path:
        raise BackupError(f"{IDENTITY_OPTION} is empty: name the age identity file")
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not a text file"
        raise BackupError(
            f"{IDENTITY_OPTION}={path} cannot be read ({reason}): give the path of the age "
            "identity file (made by age-keygen) on the machine that runs the restore"
        ) from exc
    _, x25519 = _pyrage()
    identities = []
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            identities.append(x25519.Identity.from_str(line))
        except Exception as exc:
            # Never the line itself: it may be a (mistyped) secret.
            raise BackupError(
                f"{IDENTITY_OPTION}={path}: line {number} is not an age X25519 identity "
                f"(expected {_SECRET_PREFIX}..., as age-keygen writes it)"
            ) from exc
    if not identities:
        raise BackupError(f"{IDENTITY_OPTION}={path} holds no age identity ({_SECRET_PREFIX}...)")
    return identities


def encrypt_archive(source, dest, recipients):
    """Encrypt ``source`` to ``dest`` for ``recipients`` (pyrage objects), streaming;
    returns the manifest's ``encryption`` block for the encrypted file."""
    pyrage, _ = _pyrage()
    with open(source, "rb") as src, open(dest, "wb") as raw:
        hashing = _HashingWriter(raw)
        try:
            pyrage.encrypt_io(src, hashing, recipients)
        except Exception as exc:  # pyrage.EncryptError, OSError from the writer
            raise BackupError(
                f"age encryption of {os.path.basename(source)} failed: {exc}"
            ) from exc
        raw.flush()
        os.fsync(raw.fileno())
    return {
        "scheme": SCHEME,
        "format": FORMAT,
        # The copy that leaves the host; the local archive is the plain one.
        "applies_to": "remote",
        "recipients": [str(r) for r in recipients],
        "archive": os.path.basename(source) + ".age",
        "size": hashing.size,
        "sha256": hashing.sha256.hexdigest(),
    }


def encrypt_copy(manifest, recipients):
    """Encrypt the archive of a just-written ``manifest`` into a partial file beside
    it, record the ``encryption`` block in the manifest (the caller signs it) and
    return the file to upload ({path, size, sha256}); the caller removes it."""
    archive = manifest["path"]
    dest = f"{archive}.age.{os.getpid()}-{uuid.uuid4().hex[:8]}.partial"
    try:
        info = encrypt_archive(archive, dest, recipients)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(dest)
        raise
    manifest["encryption"] = info
    return {"path": dest, "size": info["size"], "sha256": info["sha256"]}


def encrypted_name(manifest):
    """File name of the stored (remote) archive of ``manifest``."""
    return manifest["name"] + ENCRYPTED_SUFFIX


def is_encrypted(manifest):
    return bool((manifest or {}).get("encryption"))


def verify_encrypted(path, manifest):
    """Check the encrypted file against the manifest's ``encryption`` size and sha256:
    needs no identity. Returns the sha256."""
    info = manifest.get("encryption") or {}
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
            size += len(chunk)
    if size != info.get("size") or digest.hexdigest() != info.get("sha256"):
        raise BackupError(
            f"encrypted archive {os.path.basename(path)} ({size} bytes, sha256 "
            f"{digest.hexdigest()}) does not match its manifest ({info.get('size')} bytes, "
            f"sha256 {info.get('sha256')}): the stored copy is corrupt or incomplete; use "
            "another backup"
        )
    return digest.hexdigest()


def missing_identity(manifest):
    """The error for an encrypted backup restored without an identity."""
    recipients = ", ".join((manifest.get("encryption") or {}).get("recipients") or []) or "?"
    return BackupError(
        f"backup {manifest.get('name')} is encrypted with age (recipients {recipients}) and "
        f"no identity was given: pass {IDENTITY_OPTION}=PATH, the age identity file whose "
        "public key is one of those recipients (playbooks/runbook/restore.yml: "
        "-e restore_age_identity_file=PATH on the controller); nothing was restored"
    )


def decrypt_archive(source, dest, identity_file, manifest):
    """Decrypt ``source`` into ``dest`` with the identities of ``identity_file``.
    Wrong identity: BackupError naming the recipients, ``dest`` not left behind."""
    identities = load_identities(identity_file)
    pyrage, _ = _pyrage()
    try:
        with open(source, "rb") as src, open(dest, "wb") as out:
            pyrage.decrypt_io(src, out, identities)
            out.flush()
            os.fsync(out.fileno())
    except Exception as exc:
        if os.path.exists(dest):
            os.unlink(dest)
        recipients = ", ".join((manifest.get("encryption") or {}).get("recipients") or [])
        if type(exc).__name__ == "DecryptError":
            public = ", ".join(str(i.to_public()) for i in identities)
            raise BackupError(
                f"{IDENTITY_OPTION}={identity_file} cannot decrypt backup {manifest['name']}: "
                f"its key (public key {public}) is not one of the recipients {recipients}; "
                "give the identity file of one of them; nothing was restored"
            ) from exc
        raise BackupError(
            f"age decryption of {os.path.basename(source)} failed ({exc}): the encrypted "
            "copy is damaged; nothing was restored, use another backup"
        ) from exc
