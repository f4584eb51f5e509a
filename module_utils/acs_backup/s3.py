# Copyright: Airflow Crawler System contributors
# Apache License 2.0
"""S3-compatible remote copies: upload with verification, listing, download.

With age recipients the object uploaded is the encrypted archive
(``<name>.archive.gz.age``, encryption.py) and the manifest's ``encryption``
block gives its size and sha256; a download checks those, then decrypts with
the identity file the restore was given."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import uuid

from .archive import _CHUNK
from .common import ARCHIVE_SUFFIX, MANIFEST_SUFFIX, _iso, _stem, utcnow
from .encryption import (
    decrypt_archive,
    encrypted_name,
    is_encrypted,
    missing_identity,
    verify_encrypted,
)
from .errors import BackupError
from .manifest import _public_manifest
from .signing import resolve_key, trust_problem


class S3Settings:
    """S3-compatible target: AWS, GCS (interoperable endpoint) or any S3 server.

    Keys of the ``s3`` dict: bucket (required), prefix, endpoint_url, region,
    access_key, secret_key, session_token. Missing credentials come from the
    usual AWS environment variables / config, as boto3 finds them.
    """

    def __init__(self, settings):
        if not settings.get("bucket"):
            raise BackupError("s3.bucket is required when s3 is given")
        self.bucket = settings["bucket"]
        self.prefix = (settings.get("prefix") or "").strip("/")
        self.endpoint_url = settings.get("endpoint_url") or None
        self.region = settings.get("region") or None
        self._creds = {
            "aws_access_key_id": settings.get("access_key") or None,
            "aws_secret_access_key": settings.get("secret_key") or None,
            "aws_session_token": settings.get("session_token") or None,
        }

    def client(self):
        try:
            import boto3
            from botocore.config import Config
        except ImportError as exc:
            raise BackupError(
                "s3 needs boto3 on the host running the backup (pip install boto3)"
            ) from exc
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}),
            **{k: v for k, v in self._creds.items() if v},
        )

    def key(self, filename):
        return f"{self.prefix}/{filename}" if self.prefix else filename

    def url(self, filename):
        return f"s3://{self.bucket}/{self.key(filename)}"


_MULTIPART_CHUNK = 64 * 1024 * 1024


def _expected_etag(path, chunk=_MULTIPART_CHUNK):
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        if size <= chunk:
            return f'"{hashlib.md5(handle.read(), usedforsecurity=False).hexdigest()}"'
        digests = [
            hashlib.md5(part, usedforsecurity=False).digest()
            for part in iter(lambda: handle.read(chunk), b"")
        ]
    joined = hashlib.md5(b"".join(digests), usedforsecurity=False).hexdigest()
    return f'"{joined}-{len(digests)}"'


def _s3_error(action, exc):
    return BackupError(f"S3 {action} failed: {exc} (check s3.endpoint_url, bucket and credentials)")


def upload_backup(manifest, s3, stored=None):
    """Upload the archive; verify size and checksum; returns remote info. ``stored``
    ({path, size, sha256}) is the file to upload instead of the plain archive: the
    encrypted copy, named by the manifest's ``encryption``."""
    from boto3.s3.transfer import TransferConfig

    settings = S3Settings(s3)
    client = settings.client()
    if stored is None:
        stored = {"path": manifest["path"], "size": manifest["size"], "sha256": manifest["sha256"]}
        archive_name = os.path.basename(manifest["path"])
    else:
        archive_name = encrypted_name(manifest)
    archive = stored["path"]
    key = settings.key(archive_name)
    config = TransferConfig(
        multipart_threshold=_MULTIPART_CHUNK, multipart_chunksize=_MULTIPART_CHUNK
    )
    try:
        client.upload_file(
            archive,
            settings.bucket,
            key,
            Config=config,
            ExtraArgs={"Metadata": {"sha256": stored["sha256"]}},
        )
        head = client.head_object(Bucket=settings.bucket, Key=key)
    except Exception as exc:  # botocore errors of every kind
        raise _s3_error(f"upload of {archive_name}", exc) from exc
    if head["ContentLength"] != stored["size"]:
        raise BackupError(
            f"S3 object {settings.url(archive_name)} has {head['ContentLength']} bytes, "
            f"expected {stored['size']}: upload is incomplete"
        )
    checksum = "etag"
    if head.get("ETag") != _expected_etag(archive):
        # Some S3-compatible stores (GCS composite uploads) use other ETags:
        # read the object back and hash it instead.
        checksum = "download"
        digest = hashlib.sha256()
        body = client.get_object(Bucket=settings.bucket, Key=key)["Body"]
        for chunk in iter(lambda: body.read(_CHUNK), b""):
            digest.update(chunk)
        if digest.hexdigest() != stored["sha256"]:
            raise BackupError(
                f"S3 object {settings.url(archive_name)} does not match the local sha256"
            )
    remote = {
        "url": settings.url(archive_name),
        "bucket": settings.bucket,
        "key": key,
        "manifest_key": settings.key(manifest["name"] + MANIFEST_SUFFIX),
        "endpoint_url": settings.endpoint_url,
        "verified_by": checksum,
        "uploaded_at": _iso(utcnow()),
    }
    return settings, client, remote


def _put_manifest(settings, client, manifest):
    body = json.dumps(_public_manifest(manifest), indent=2, sort_keys=True).encode()
    try:
        client.put_object(
            Bucket=settings.bucket, Key=settings.key(manifest["name"] + MANIFEST_SUFFIX), Body=body
        )
    except Exception as exc:
        raise _s3_error("upload of the manifest", exc) from exc


def list_remote_backups(s3, signing_key=None, rejected=None, now=None):
    """Trusted manifests stored under the S3 prefix, newest first. An unsigned,
    altered, future-dated or unreadable manifest is left out, and appended to
    ``rejected`` (when given) as {name, key, reason}, as the local listing does."""
    settings = S3Settings(s3)
    key = resolve_key(signing_key)
    client = settings.client()
    found = []
    try:
        paginator = client.get_paginator("list_objects_v2")
        prefix = settings.key("") if settings.prefix else ""
        for page in paginator.paginate(Bucket=settings.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                if not obj["Key"].endswith(MANIFEST_SUFFIX):
                    continue
                body = client.get_object(Bucket=settings.bucket, Key=obj["Key"])["Body"].read()
                stem = _stem(obj["Key"])
                try:
                    manifest = json.loads(body)
                except ValueError as exc:
                    reason = f"bad JSON: {exc}"
                else:
                    reason = trust_problem(manifest, key, stem, now)
                if reason:
                    if rejected is not None:
                        rejected.append({"name": stem, "key": obj["Key"], "reason": reason})
                    continue
                manifest["manifest_key"] = obj["Key"]
                # The signed manifest says whether the stored archive is the encrypted one.
                stored = (
                    encrypted_name(manifest)
                    if is_encrypted(manifest)
                    else manifest["name"] + ARCHIVE_SUFFIX
                )
                manifest["key"] = settings.key(stored)
                found.append(manifest)
    except Exception as exc:
        raise _s3_error("listing", exc) from exc
    found.sort(key=lambda m: (m["finished_at"], m["name"]), reverse=True)
    return found


def _remove(*paths):
    for path in paths:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {}  # the trust check after the download names what is wrong


def download_backup(s3, key, dest_dir, identity_file=None, check=None):
    """Fetch archive and manifest for a remote key (archive, encrypted archive or
    manifest key); returns the local (plain) archive path. An encrypted backup is
    checked against its manifest's ``encryption`` sha256, then decrypted with
    ``identity_file``; without one, or with a wrong one, it fails before anything
    is written into ``dest_dir``. ``check(manifest, stem)`` may refuse the manifest
    (trust) before the archive is fetched. The manifest is put in place last, so
    a failed download leaves no backup that looks complete."""
    settings = S3Settings(s3)
    client = settings.client()
    stem = _stem(key)
    base = key[: len(key) - len(os.path.basename(key))]
    os.makedirs(dest_dir, exist_ok=True)
    archive = os.path.join(dest_dir, stem + ARCHIVE_SUFFIX)
    mpath = os.path.join(dest_dir, stem + MANIFEST_SUFFIX)
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}.partial"
    mtmp, atmp, etmp = (f"{p}.{tag}" for p in (mpath, archive, archive + ".age"))
    try:
        try:
            client.download_file(settings.bucket, base + stem + MANIFEST_SUFFIX, mtmp)
        except Exception as exc:
            raise BackupError(
                f"manifest for remote backup {key} is missing or unreadable ({exc}): refusing "
                "to restore an unverifiable archive"
            ) from exc
        manifest = _read_json(mtmp)
        if check is not None:
            # An untrusted manifest is refused before its archive is fetched or
            # the operator's identity is used on it.
            check(manifest, stem)
        if is_encrypted(manifest):
            if not identity_file:
                raise missing_identity(manifest)
            _download(client, settings, base + encrypted_name(manifest), etmp, key)
            # The stored bytes are checked before they are decrypted (no identity needed).
            verify_encrypted(etmp, manifest)
            decrypt_archive(etmp, atmp, identity_file, manifest)
        else:
            _download(client, settings, base + stem + ARCHIVE_SUFFIX, atmp, key)
        os.replace(atmp, archive)
        os.replace(mtmp, mpath)
    finally:
        _remove(mtmp, atmp, etmp)
    return archive


def _download(client, settings, object_key, dest, key):
    try:
        client.download_file(settings.bucket, object_key, dest)
    except Exception as exc:
        raise _s3_error(f"download of {key}", exc) from exc
