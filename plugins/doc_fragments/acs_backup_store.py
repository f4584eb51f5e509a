# Copyright: Airflow Crawler System contributors
# Apache License 2.0
"""Documentation of module_utils/acs_common.backup_store_argspec(): where
backups are trusted and kept off the host (signing_key, s3), shared by
mongodb_backup, mongodb_restore and mongodb_restore_drill."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  signing_key:
    description:
      - Key of the HMAC-SHA256 that signs every manifest (the stack's generated
        C(backup_signing_key), the runbook playbooks read it from the stack
        credentials). Manifests are trusted only when signed with it; listing,
        retention and restore ignore, and report, unsigned, altered or
        future-dated ones.
      - Default is the environment variable C(ACS_BACKUP_SIGNING_KEY), else the file
        named by C(ACS_BACKUP_SIGNING_KEY_FILE). Without any key a backup is still
        written, unsigned, with a warning.
    type: str
  s3:
    description:
      - S3-compatible storage (AWS, GCS through its interoperable endpoint, any S3
        server); mongodb_backup uploads there, mongodb_restore and mongodb_restore_drill
        fetch remote keys.
    type: dict
    suboptions:
      bucket:
        description: Bucket name.
        type: str
        required: true
      prefix:
        description: Key prefix, for example C(prod/mongodb).
        type: str
        default: ""
      endpoint_url:
        description:
          - Endpoint of a non-AWS store, for example C(https://storage.googleapis.com)
            for GCS HMAC keys.
        type: str
      region:
        description: Region name.
        type: str
      access_key:
        description: Access key; default from the environment (AWS_ACCESS_KEY_ID).
        type: str
      secret_key:
        description: Secret key; default from the environment (AWS_SECRET_ACCESS_KEY).
        type: str
      session_token:
        description: Session token for temporary credentials.
        type: str
"""
