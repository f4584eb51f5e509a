#!/usr/bin/python
# Copyright: Airflow Crawler System contributors
# Apache License 2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: mongodb_restore
short_description: Restore MongoDB from a verified backup, after a safety backup
version_added: "1.0.0"
description:
  - Restores an archive made by M(mongodb_backup) (or adopted with its
    I(import_from)) from a local path, a backup name, or a remote S3 key.
  - Before touching data it reads the manifest, checks the archive's size and
    sha256, and reads the archive to its end (gzip trailer, structure, per-collection
    CRC, document counts; plus C(mongorestore --dryRun) when the tools are used). A
    missing manifest, a checksum mismatch or a truncated archive fails and changes
    nothing.
  - The manifest must be signed with I(signing_key) (see M(mongodb_backup)); an
    unsigned, altered or future-dated one is refused, naming the reason, unless
    I(allow_unsigned=true). The default source is the newest signed and verified
    backup; untrusted ones are never picked.
  - Then it takes a safety backup of the current state (label C(pre-restore)), as
    the operators' runbook demands. Only I(skip_safety_backup=true) skips it, with a
    warning.
  - Restores with drop semantics (each collection in the archive is dropped and
    re-created, like C(mongorestore --drop)) and checks the document counts against
    the manifest.
  - From the safety backup to the count check it holds the backup directory's lock
    and stands the marker C(<backup_dir>/.restore-in-progress); while it stands the
    crawler spools its writes and the API refuses source changes and crawl starts.
  - When the restore fails, or its counts differ, after data may have been dropped,
    the safety backup is put back automatically; the failure message names both
    steps, and the backup to restore by hand when the put-back fails too.
requirements:
  - pyrage (only with I(age_identity_file))
extends_documentation_fragment:
  - acs_mongodb_tools
  - acs_backup_store
author:
  - Airflow Crawler System contributors
attributes:
  check_mode:
    support: full
    details:
      - Verifies the archive and reports each collection that would be replaced, and in
        I(plan) the safety backup it would take (path, where and how) and where the
        restore would run with its command line (password redacted); for a one-off
        container also the resolved image and the network. Starts no container.
  diff_mode:
    support: full
    details: Document counts per collection before and after.
options:
  source:
    description:
      - Archive or manifest path, backup name in I(backup_dir), or a remote key (with
        I(s3)). Default is the newest good backup in I(backup_dir).
    type: str
    aliases: [restore_from]
  backup_dir:
    description: Where backups live; the safety backup is written here too.
    type: path
    default: /data/backups
  skip_safety_backup:
    description:
      - Do not back up the current data first. The current data is then lost for
        good. Use only when the current data is known to be worthless.
    type: bool
    default: false
  safety_label:
    description: Label of the safety backup.
    type: str
    default: pre-restore
  allow_unsigned:
    description:
      - Restore the named I(source) even though its manifest is not trusted
        (unsigned, altered after signing, signed with another key, future-dated).
        The archive is still verified against that manifest. Only for an operator
        sure of the file; the way to keep a backup made before signing existed is
        M(mongodb_backup) with I(sign_existing=true).
      - Never applies when I(source) is not given, and the HTTP API has no such switch.
    type: bool
    default: false
  age_identity_file:
    description:
      - Path, on the host the module runs on, of the age identity file (private key,
        C(AGE-SECRET-KEY-1...), made by C(age-keygen)) that decrypts a backup whose S3
        copy was encrypted (M(mongodb_backup) I(age_recipients)), or a local
        C(<name>.archive.gz.age) named in I(source).
      - The encrypted copy's size and sha256 are checked against the signed manifest
        first (no identity needed for that), then it is decrypted and the plain archive
        verified as any other.
      - Without it, or with an identity that is none of the recipients, such a backup
        is refused, naming this option, before any data is touched. The identity lives
        off the host; playbooks/runbook/restore.yml copies it in for the restore only
        and removes it afterwards. It is never logged.
    type: path
"""

EXAMPLES = r"""
- name: Restore the newest good backup (takes a safety backup first)
  mongodb_restore:
    container: airflow-crawler-system-mongodb-1

- name: Restore a given archive
  mongodb_restore:
    source: /data/backups/20261127T030000Z-nightly.archive.gz

- name: Restore with mongorestore in a one-off container on the stack network
  mongodb_restore:
    source: /data/backups/20261127T030000Z-nightly.archive.gz
    method: docker
    network: airflow-crawler-system_backend

- name: Restore from the bucket on a fresh host
  mongodb_restore:
    source: prod/mongodb/20261127T030000Z-nightly.archive.gz
    s3:
      bucket: acs-backups
      region: eu-west-1

- name: Restore an encrypted S3 copy with the offline identity
  mongodb_restore:
    source: prod/mongodb/20261127T030000Z-nightly.archive.gz.age
    age_identity_file: /root/.acs-restore/backup-identity.txt
    s3:
      bucket: acs-backups
      region: eu-west-1
"""

RETURN = r"""
archive:
  description: Local path of the archive restored.
  returned: success
  type: str
backup:
  description: Manifest of the backup restored (verified).
  returned: success
  type: dict
safety_backup:
  description: Details of the safety backup taken first (path, sha256, counts).
  returned: success, unless skip_safety_backup or check mode
  type: dict
safety_backup_path:
  description: Path of the safety backup archive.
  returned: success
  type: str
replaced:
  description: Each collection replaced, with current and backup document counts.
  returned: success
  type: list
  elements: dict
restored_counts:
  description: Document counts after the restore (equal to the manifest's).
  returned: success, not in check mode
  type: dict
plan:
  description:
    - In check mode, what a real run would do after the verification; C(safety_backup)
      (C(path), C(method), C(runs_in), C(command); null with I(skip_safety_backup)) and
      C(restore) (C(runs_in), C(command), and for a one-off container C(image),
      C(network), C(name_prefix) and the C(archive) copied in). Passwords are redacted.
  returned: check mode
  type: dict
method:
  description: How the restore was done.
  returned: success
  type: str
"""

from ansible.module_utils.acs_tools_module import (
    server_and_tools,
    tools_argument_spec,
    tools_module,
)

OPTIONS = dict(
    source=dict(type="str", aliases=["restore_from"]),
    backup_dir=dict(type="path", default="/data/backups"),
    skip_safety_backup=dict(type="bool", default=False),
    safety_label=dict(type="str", default="pre-restore"),
    allow_unsigned=dict(type="bool", default=False),
    age_identity_file=dict(type="path"),
)


def argument_spec():
    return tools_argument_spec(OPTIONS)


def _diff(replaced):
    before = {r["namespace"]: r["current_documents"] for r in replaced}
    after = {r["namespace"]: r["backup_documents"] for r in replaced}
    return {
        "before": "\n".join(f"{ns}: {n} documents" for ns, n in sorted(before.items())) + "\n",
        "after": "\n".join(f"{ns}: {n} documents" for ns, n in sorted(after.items())) + "\n",
    }


def run(module, engine):
    p = module.params
    if p["skip_safety_backup"] and not module.check_mode:
        module.warn(
            "skip_safety_backup=true: NO safety backup is taken; the current data of every "
            "collection in the archive will be lost for good"
        )
    if p["allow_unsigned"]:
        if not p["source"]:
            module.fail_json(msg="allow_unsigned=true needs source: name the backup to restore")
        module.warn(
            "allow_unsigned=true: the manifest's signature is not required; restore only a "
            "file you know (adopt old backups with mongodb_backup sign_existing=true instead)"
        )
    try:
        engine.validate_label(p["safety_label"])
        uri, tools = server_and_tools(p, engine)
        result = engine.restore(
            uri,
            p["source"],
            p["backup_dir"],
            **tools,
            skip_safety_backup=p["skip_safety_backup"],
            safety_label=p["safety_label"],
            check_mode=module.check_mode,
            allow_unsigned=p["allow_unsigned"],
            age_identity_file=p["age_identity_file"],
        )
    except (engine.BackupError, ValueError) as exc:
        module.fail_json(msg=str(exc))
    result["safety_backup_path"] = (result.get("safety_backup") or {}).get("path")
    if module._diff:
        result["diff"] = _diff(result["replaced"])
    module.exit_json(**result)


def main():
    run(*tools_module(OPTIONS))


if __name__ == "__main__":
    main()
