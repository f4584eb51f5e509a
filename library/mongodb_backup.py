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
  - Optionally applies retention afterwards, locally and remotely; the newest good
    backup is never deleted.
  - The same engine (the package module_utils/acs_backup/) serves the crawler API and
    Airflow's backup_dag.
author:
  - Airflow Crawler System contributors
requirements:
  - anycrc (fast CRC-64; a slow pure-Python fallback is built in)
extends_documentation_fragment:
  - acs_mongodb_tools
attributes:
  check_mode:
    support: full
    details:
      - Reports the archive path, the method and, in I(plan), where the dump would run
        and its command line (password redacted); for a one-off container also the
        resolved image and the network. Writes nothing, starts no container.
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
  keep_last:
    description:
      - Retention after the backup, keep the newest N backups (0, no count rule).
      - With I(max_age_days) too, a backup is kept when either rule keeps it; the newest
        good backup is always kept. Both C(0) keep every backup.
    type: int
    default: 14
  max_age_days:
    description: Retention after the backup, keep backups younger than this many days (0, no age rule).
    type: float
    default: 7
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

- name: Backup and copy it off-site
  mongodb_backup:
    uri: mongodb://127.0.0.1:27017
    label: offsite
    s3:
      bucket: acs-backups
      prefix: prod/mongodb
      region: eu-west-1

- name: Backup with mongodump in a one-off container on the stack network
  mongodb_backup:
    method: docker
    network: airflow-crawler-system_backend
    image: mongo:7.0  # default: the image of the stack's mongodb service
    label: nightly

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
  description: s3:// URL of the uploaded archive.
  returned: success
  type: str
skipped_reason:
  description: Why no backup was made (if_older_than).
  returned: success
  type: str
retention:
  description: Backups deleted (or that would be) by retention.
  returned: when keep_last or max_age_days is set
  type: dict
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
    # the engine's retention.DEFAULT_KEEP_LAST / DEFAULT_MAX_AGE_DAYS (a test keeps them equal)
    keep_last=dict(type="int", default=14),
    max_age_days=dict(type="float", default=7),
)
# An import dumps nothing, so it takes no dump options.
IMPORT_EXCLUSIVE = [
    ("import_from", other)
    for other in ("databases", "if_older_than", "container", "network", "image")
]


def argument_spec():
    return tools_argument_spec(OPTIONS)


def run(module, engine):
    p = module.params
    for field in ("keep_last", "max_age_days"):
        if p[field] is not None and p[field] < 0:
            module.fail_json(msg=f"{field}={p[field]} must be >= 0")
    try:
        if p["import_from"]:
            result = engine.import_archive(
                p["import_from"], p["backup_dir"], label=p["label"], check_mode=module.check_mode
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
                keep_last=p["keep_last"],
                max_age_days=p["max_age_days"],
                check_mode=module.check_mode,
            )
        if (p["keep_last"] is not None or p["max_age_days"] is not None) and (
            "retention" not in result
        ):
            result["retention"] = engine.apply_retention(
                p["backup_dir"],
                p["keep_last"],
                p["max_age_days"],
                s3=p["s3"],
                check_mode=module.check_mode,
            )
            result["changed"] = result.get("changed") or result["retention"]["changed"]
    except (engine.BackupError, ValueError) as exc:
        module.fail_json(msg=str(exc))
    manifest = {
        k: v
        for k, v in result.items()
        if k not in ("changed", "skipped_reason", "retention", "check_mode", "remote_url", "plan")
    }
    result["manifest"] = manifest
    result.setdefault("remote_url", None)
    result.setdefault("skipped_reason", None)
    module.exit_json(**result)


def main():
    run(*tools_module(OPTIONS, mutually_exclusive=IMPORT_EXCLUSIVE))


if __name__ == "__main__":
    main()
