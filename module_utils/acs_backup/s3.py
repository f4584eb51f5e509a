# Copyright: Airflow Crawler System contributors
# Apache License 2.0
"""S3-compatible remote copies: upload with verification, listing, download."""

from __future__ import annotations

import hashlib
import json
import os

from .archive import _CHUNK
from .common import ARCHIVE_SUFFIX, MANIFEST_SUFFIX, _iso, _stem, utcnow
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


def upload_backup(manifest, s3):
    """Upload archive then manifest; verify size and checksum; returns remote info."""
    from boto3.s3.transfer import TransferConfig

    settings = S3Settings(s3)
    client = settings.client()
    archive = manifest["path"]
    archive_name = os.path.basename(archive)
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
            ExtraArgs={"Metadata": {"sha256": manifest["sha256"]}},
        )
        head = client.head_object(Bucket=settings.bucket, Key=key)
    except Exception as exc:  # botocore errors of every kind
        raise _s3_error(f"upload of {archive_name}", exc) from exc
    if head["ContentLength"] != manifest["size"]:
        raise BackupError(
            f"S3 object {settings.url(archive_name)} has {head['ContentLength']} bytes, "
            f"expected {manifest['size']}: upload is incomplete"
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
        if digest.hexdigest() != manifest["sha256"]:
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
                manifest["key"] = settings.key(manifest["name"] + ARCHIVE_SUFFIX)
                found.append(manifest)
    except Exception as exc:
        raise _s3_error("listing", exc) from exc
    found.sort(key=lambda m: (m["finished_at"], m["name"]), reverse=True)
    return found


def download_backup(s3, key, dest_dir):
    """Fetch archive and manifest for a remote key (archive or manifest key)."""
    settings = S3Settings(s3)
    client = settings.client()
    stem = _stem(key)
    base = key[: len(key) - len(os.path.basename(key))]
    os.makedirs(dest_dir, exist_ok=True)
    archive = os.path.join(dest_dir, stem + ARCHIVE_SUFFIX)
    mpath = os.path.join(dest_dir, stem + MANIFEST_SUFFIX)
    try:
        client.download_file(settings.bucket, base + stem + MANIFEST_SUFFIX, mpath)
    except Exception as exc:
        raise BackupError(
            f"manifest for remote backup {key} is missing or unreadable ({exc}): refusing to "
            "restore an unverifiable archive"
        ) from exc
    try:
        client.download_file(settings.bucket, base + stem + ARCHIVE_SUFFIX, archive)
    except Exception as exc:
        raise _s3_error(f"download of {key}", exc) from exc
    return archive
