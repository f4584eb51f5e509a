#!/usr/bin/python
# Copyright: Airflow Crawler System contributors
# Apache License 2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: mongodb_backup
short_description: Back up MongoDB to a verified, manifest-described archive
version_added: "1.0.0"
description:
  - Dumps the user databases of a MongoDB server into
    C(<backup_dir>/<UTC timestamp>-<label>.archive.gz) in the mongodump archive
    format (gzip), hashing while it streams, and writes a JSON manifest beside it
    (databases, collections with document counts, size, sha256, tool and server
    versions, start and end times, host, label). See docs/backup-format.md.
  - Uses C(mongodump) when it is on the host (or in I(tools_dir)), C(mongodump)
    inside the mongodb container through the Docker API when I(container) is given
    and has the tools, C(mongodump) in a one-off container on the stack network when
    I(network) is given (from I(image), default the stack's mongodb image; the
    container is removed afterwards, also on error), and otherwise the engine's own
    pymongo writer, which writes the same archive format.
  - Optionally uploads archive and manifest to S3-compatible storage (AWS, GCS
    through its interoperable endpoint, any S3 server) and verifies size and
    checksum after upload.
  - Signs the manifest (HMAC-SHA256 with I(signing_key)); without a key the backup
    is written unsigned, with a warning. Listing, retention and restore trust only
    signed manifests; unsigned, altered or future-dated ones, archives without a
    manifest and stale partial files are ignored and reported (I(retention.rejected)).
  - With I(age_recipients), the S3 copy is encrypted client-side with age before it
    leaves the host.
  - Optionally applies retention afterwards, locally and remotely, by one selection
    (I(keep_last), I(max_age_days) and the generations I(keep_daily), I(keep_weekly),
    I(keep_monthly)); the newest good (signed, sha256 verified) backup is never deleted.
  - I(sign_existing=true) adopts backups made before signing existed; each archive is
    read to its end and checked against its manifest (size, sha256, CRC, document
    counts) before the manifest is signed.
  - The same engine (the package module_utils/acs_backup/) serves the crawler API and
    Airflow's backup_dag.
author:
  - Airflow Crawler System contributors
requirements:
  - anycrc (fast CRC-64; a slow pure-Python fallback is built in)
  - pyrage (only with I(age_recipients) and I(s3))
extends_documentation_fragment:
  - acs_mongodb_tools
  - acs_backup_store
  - acs_backup_retention
attributes:
  check_mode:
    support: full
    details:
      - Reports the archive path, the method and, in I(plan), where the dump would run
        and its command line (password redacted); for a one-off container also the
        resolved image and the network. Writes nothing, starts no container.
      - With I(sign_existing), verifies the archives and reports in I(signed) what it
        would sign; with I(delete_orphans), reports what it would delete.
  diff_mode:
    support: none
options:
  backup_dir:
    description: Local directory of archives and manifests (the runbook's C(/data/backups)).
    type: path
    default: /data/backups
  label:
    description: Label that ends the file name, for example C(nightly) or C(pre-upgrade).
    type: str
    default: manual
  databases:
    description: Databases to dump. Default is every database except admin, local, config.
    type: list
    elements: str
  if_older_than:
    description:
      - Make a backup only when the newest good backup in I(backup_dir) is older than
        this (seconds, or a number with s, m, h, d, w such as C(20h)). Otherwise the
        task reports no change.
    type: str
  import_from:
    description:
      - Instead of dumping, adopt an archive made by plain
        C(mongodump --archive --gzip) into I(backup_dir) with a manifest, after reading
        it to the end.
    type: path
  age_recipients:
    description:
      - age public keys (C(age1...), from C(age-keygen)); with I(s3), the copy uploaded is
        the archive encrypted for them (C(<name>.archive.gz.age)), and the signed manifest
        records the recipients and the size and sha256 of that encrypted object. The
        local archive stays unencrypted (docs/backup-format.md says why).
      - Restoring that copy needs the identity (private key) of one recipient, kept off
        the host, see M(mongodb_restore)'s I(age_identity_file). Without I(s3) nothing
        leaves the host and nothing is encrypted.
    type: list
    elements: str
  sign_existing:
    description:
      - Instead of dumping, adopt unsigned backups of I(backup_dir) (made before
        signing existed), verify each archive fully against its manifest, then sign
        the manifest with I(signing_key). Needs the key.
      - A manifest whose signature does not match (altered after signing) is never
        re-signed; one signed with another (rotated) key only when listed in
        I(sign_names).
    type: bool
    default: false
  sign_names:
    description: With I(sign_existing), only these backups (names as listed), default all unsigned ones.
    type: list
    elements: str
"""

EXAMPLES = r"""
- name: Nightly backup, at most one a day, keep 14 and anything younger than 7 days
  mongodb_backup:
    container: airflow-crawler-system-mongodb-1
    backup_dir: /data/backups
    label: nightly
    if_older_than: 20h
    keep_last: 14
    max_age_days: 7

- name: Backup and copy it off-site, encrypted; keep 7 dailies, 4 weeklies, 12 monthlies
  mongodb_backup:
    uri: mongodb://127.0.0.1:27017
    label: offsite
    s3:
      bucket: acs-backups
      prefix: prod/mongodb
      region: eu-west-1
    age_recipients: "{{ stack_backup_age_recipients }}"
    keep_daily: 7
    keep_weekly: 4
    keep_monthly: 12

- name: Backup with mongodump in a one-off container on the stack network
  mongodb_backup:
    method: docker
    network: airflow-crawler-system_backend
    image: mongo:7.0  # default: the image of the stack's mongodb service
    label: nightly

- name: Adopt the backups made before manifests were signed (check mode first)
  mongodb_backup:
    backup_dir: /data/backups
    sign_existing: true
    signing_key: "{{ stack_credentials.backup_signing_key }}"

- name: Adopt an archive made by plain mongodump
  mongodb_backup:
    import_from: /tmp/dump.archive.gz
    label: imported
"""

RETURN = r"""
path:
  description: Path of the archive.
  returned: success
  type: str
  sample: /data/backups/20261127T030000Z-nightly.archive.gz
manifest_path:
  description: Path of the manifest.
  returned: success
  type: str
sha256:
  description: SHA-256 of the archive file.
  returned: when a backup was made or found
  type: str
  sample: 9f2c6e0d4b1a7c3e5f8a2b4d6c8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b8c0d2e
size:
  description: Archive size in bytes.
  returned: when a backup was made or found
  type: int
  sample: 1048576
databases:
  description: Per database, per collection document counts.
  returned: when a backup was made or found
  type: dict
  sample: {"crawler": {"collections": {"pages": {"documents": 1200}}}}
totals:
  description: Numbers of databases, collections and documents.
  returned: when a backup was made or found
  type: dict
  sample: {"databases": 1, "collections": 6, "documents": 1200}
duration_seconds:
  description: Time the dump took.
  returned: when a backup was made or found
  type: float
method:
  description: How the dump was made (mongodump, docker, native, import).
  returned: success
  type: str
remote_url:
  description: s3:// URL of the uploaded archive (C(.archive.gz.age) when encrypted).
  returned: success
  type: str
encrypted:
  description: Whether the S3 copy is age-encrypted (the manifest's C(encryption) says for whom).
  returned: success
  type: bool
skipped_reason:
  description: Why no backup was made (if_older_than).
  returned: success
  type: str
retention:
  description:
    - Backups deleted (or that would be) by retention, C(deleted), C(deleted_remote),
      C(deleted_orphans); and C(rejected) (C(rejected_remote) for S3), the files it
      ignored, each C(name) and C(reason) (for example C(unsigned),
      C(signature mismatch), C(finished_at in the future), C(missing field sha256),
      C(archive without manifest), C(stale partial)).
  returned: when a retention rule is set
  type: dict
  sample:
    deleted: []
    deleted_remote: []
    deleted_orphans: []
    rejected: [{"name": "20261101T030000Z-nightly", "reason": "unsigned"}]
    rejected_remote: []
signed:
  description:
    - Whether the manifest was signed. With I(sign_existing), the list of backups
      signed (in check mode, that would be signed).
  returned: success
  type: raw
  sample: true
refused:
  description: With I(sign_existing), backups not signed, each C(name) and C(reason).
  returned: with sign_existing
  type: list
  elements: dict
plan:
  description:
    - In check mode, where the dump would run (C(runs_in)) and its command line
      (C(command), password redacted); for a one-off container also C(image) (resolved),
      C(network) and C(name_prefix) of the container.
  returned: check mode
  type: dict
  sample:
    runs_in: one-off container, removed afterwards
    image: mongo:7.0
    network: airflow-crawler-system_backend
    name_prefix: acs-backup-tools-
    command: [mongodump, "--uri=mongodb://mongodb:27017", --archive, --gzip, --quiet]
    archive: null
docker:
  description: How the docker method ran, C(container), or C(image) and C(network) of the one-off container.
  returned: when method is docker
  type: dict
manifest:
  description: The manifest as written.
  returned: when a backup was made or found
  type: dict
"""

from ansible.module_utils.acs_common import RETENTION_RULES, retention_argument_spec
from ansible.module_utils.acs_tools_module import (
    server_and_tools,
    tools_argument_spec,
    tools_module,
)

OPTIONS = dict(
    backup_dir=dict(type="path", default="/data/backups"),
    label=dict(type="str", default="manual"),
    databases=dict(type="list", elements="str"),
    if_older_than=dict(type="str"),
    import_from=dict(type="path"),
    age_recipients=dict(type="list", elements="str"),
    **retention_argument_spec(),
    sign_existing=dict(type="bool", default=False),
    sign_names=dict(type="list", elements="str"),
)
# An import dumps nothing, so it takes no dump options (and uploads nothing).
IMPORT_EXCLUSIVE = [
    ("import_from", other)
    for other in ("databases", "if_older_than", "container", "network", "image", "age_recipients")
]


def argument_spec():
    return tools_argument_spec(OPTIONS)


def run(module, engine):
    p = module.params
    rules = {field: p[field] for field in RETENTION_RULES}
    for field, value in rules.items():
        if value is not None and value < 0:
            module.fail_json(msg=f"{field}={p[field]} must be >= 0")
    if p["sign_existing"]:
        for other in ("import_from", "databases", "if_older_than"):
            if p[other]:
                module.fail_json(msg=f"sign_existing=true makes no backup: drop {other}")
        _sign_existing(module, engine)
    if p["sign_names"]:
        module.fail_json(msg="sign_names applies with sign_existing=true only")
    # Orphans go through the module's own retention call below.
    own_retention = p["delete_orphans"]
    try:
        if p["import_from"]:
            result = engine.import_archive(
                p["import_from"],
                p["backup_dir"],
                label=p["label"],
                check_mode=module.check_mode,
                signing_key=p["signing_key"],
            )
        else:
            uri, tools = server_and_tools(p, engine)
            result = engine.run_backup(
                uri,
                p["backup_dir"],
                label=p["label"],
                databases=p["databases"],
                **tools,
                if_older_than=p["if_older_than"],
                age_recipients=p["age_recipients"],
                check_mode=module.check_mode,
                **{field: None if own_retention else value for field, value in rules.items()},
            )
        if any(value is not None for value in rules.values()) and "retention" not in result:
            result["retention"] = engine.apply_retention(
                p["backup_dir"],
                s3=p["s3"],
                check_mode=module.check_mode,
                signing_key=p["signing_key"],
                delete_orphans=p["delete_orphans"],
                **rules,
            )
            result["changed"] = result.get("changed") or result["retention"]["changed"]
    except (engine.BackupError, ValueError) as exc:
        module.fail_json(msg=str(exc))
    for warning in result.pop("warnings", None) or ():
        module.warn(warning)
    _warn_rejected(module, result.get("retention"))
    manifest = {
        k: v
        for k, v in result.items()
        if k
        not in (
            "changed",
            "skipped_reason",
            "retention",
            "check_mode",
            "remote_url",
            "plan",
            "signed",
            "encrypted",
        )
    }
    result["manifest"] = manifest
    result.setdefault("remote_url", None)
    result.setdefault("skipped_reason", None)
    module.exit_json(**result)


def _warn_rejected(module, retention):
    """Files nobody may rely on are worth a line in the play's output."""
    rejected = (retention or {}).get("rejected", []) + (retention or {}).get("rejected_remote", [])
    if rejected:
        module.warn(
            "ignored as not trusted (see retention.rejected): "
            + "; ".join(f"{r['name']}: {r['reason']}" for r in rejected[:10])
            + (f" and {len(rejected) - 10} more" if len(rejected) > 10 else "")
        )


def _sign_existing(module, engine):
    p = module.params
    try:
        result = engine.sign_existing(
            p["backup_dir"],
            names=p["sign_names"],
            signing_key=p["signing_key"],
            check_mode=module.check_mode,
        )
    except engine.BackupError as exc:
        module.fail_json(msg=str(exc))
    for item in result["refused"]:
        module.warn(f"not signed: {item['name']}: {item['reason']}")
    module.exit_json(**result)


def main():
    run(*tools_module(OPTIONS, mutually_exclusive=IMPORT_EXCLUSIVE))


if __name__ == "__main__":
    main()
