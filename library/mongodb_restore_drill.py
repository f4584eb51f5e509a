#!/usr/bin/python
# Copyright: Airflow Crawler System contributors
# Apache License 2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: mongodb_restore_drill
short_description: Prove that a backup restores, in a throwaway server
version_added: "1.1.0"
description:
  - Takes the newest backup in I(backup_dir) that is not a safety backup (or
    I(source)), checks its manifest's signature, and verifies the archive (size,
    sha256, read to its end with every CRC and document count), as
    M(mongodb_restore) does.
  - A newer backup whose manifest is not trusted fails the drill; it is not passed
    over for an older one.
  - Restores it into a throwaway server, a one-off container from I(image) (default
    the image of the running compose C(mongodb) service) on an internal Docker
    network of its own (no route out, no other container on it, no published port).
    The operator's server is never connected to.
  - Checks the restored copy against the manifest - document counts per collection,
    index specifications, and the sha256 of the first documents of each collection
    by C(_id) recorded at backup time. A manifest made before those were recorded is
    still drilled; the checks it cannot support are C(skipped), with the reason.
  - Removes the container, its anonymous volumes and the network afterwards,
    whatever happened, and checks that they are gone (the C(cleanup) check).
  - Measures the RTO (server start to restored copy, indexes built) and records the
    outcome in C(<backup_dir>/.restore-drill.json), which the API's metrics
    (C(acs_restore_drill_*)) and the status reports read.
  - Fails when any check fails; the result still holds every check.
requirements:
  - pymongo >= 4.0
  - docker (Python SDK) and a reachable Docker engine
  - pyrage (only with I(age_identity_file))
extends_documentation_fragment:
  - acs_backup_store
author:
  - Airflow Crawler System contributors
attributes:
  check_mode:
    support: full
    details:
      - Checks the manifest's signature and reports in I(plan) what it would verify,
        the resolved image, the network and container it would create and which
        checks the manifest supports. Starts no container and records nothing.
  diff_mode:
    support: none
options:
  source:
    description:
      - Archive or manifest path, backup name in I(backup_dir), a local
        C(.archive.gz.age), or a remote key (with I(s3)). Default is the newest
        signed backup in I(backup_dir) that is not a C(pre-restore) safety backup.
    type: str
  backup_dir:
    description: Where backups live; the outcome is recorded here too.
    type: path
    default: /data/backups
  image:
    description:
      - Image of the throwaway server, a MongoDB-compatible server listening on 27017.
      - Default is the image of the running C(mongodb) compose service.
    type: str
  project:
    description:
      - Compose project whose running C(mongodb) service gives the default I(image)
        (for example C(airflow-crawler-system)); any project's when not given.
    type: str
  method:
    description:
      - How the archive is restored into the throwaway server, as
        M(mongodb_restore) I(method); C(docker) runs mongorestore inside the
        throwaway container (the official mongo image has it). C(auto) picks the
        tools on this host, then those in the throwaway container, then native.
    type: str
    choices: [auto, host, mongodump, docker, native]
    default: auto
  tools_dir:
    description: Directory holding mongorestore on this host.
    type: path
  age_identity_file:
    description:
      - Path, on the host the module runs on, of the age identity file that
        decrypts an encrypted backup (see M(mongodb_restore)). It is never logged.
    type: path
  ready_timeout:
    description: Seconds the throwaway server may take to answer.
    type: float
    default: 120
  record:
    description: Record the outcome in C(<backup_dir>/.restore-drill.json).
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Drill the newest backup
  mongodb_restore_drill:
    backup_dir: /data/backups

- name: Drill the encrypted S3 copy of a backup with the offline identity
  mongodb_restore_drill:
    source: prod/mongodb/20261127T030000Z-nightly.archive.gz.age
    age_identity_file: /root/.acs-drill/backup-identity.txt
    s3:
      bucket: acs-backups
"""

RETURN = r"""
result:
  description: C(passed), C(failed), or in check mode C(planned).
  returned: always
  type: str
backup:
  description: Name of the backup drilled.
  returned: when one was found
  type: str
checks:
  description:
    - One entry a check, in order - C(trust), C(archive), C(restore), C(counts),
      C(indexes), C(sample), C(cleanup) - each with C(name), C(status) (C(passed),
      C(failed), C(skipped)) and C(detail).
  returned: always
  type: list
  elements: dict
failed_checks:
  description: Names of the checks that failed.
  returned: not in check mode
  type: list
  elements: str
skipped_checks:
  description: Names of the checks the manifest could not support.
  returned: not in check mode
  type: list
  elements: str
rto_seconds:
  description: Recovery time, throwaway server start to restored copy (indexes built), in seconds.
  returned: when the restore ran
  type: float
check_seconds:
  description: The checks of the restored copy (counts, indexes, sample), in seconds.
  returned: when the checks ran
  type: float
restore_seconds:
  description: The restore step alone, in seconds.
  returned: when the restore ran
  type: float
duration_seconds:
  description: The whole drill, in seconds.
  returned: not in check mode
  type: float
throwaway:
  description: C(image), C(network) and C(container) of the throwaway server.
  returned: when it was started
  type: dict
plan:
  description: In check mode, what the drill would do.
  returned: check mode
  type: dict
"""

from ansible.module_utils.acs_common import METHODS, backup_store_argspec
from ansible.module_utils.acs_tools_module import load_engine
from ansible.module_utils.basic import AnsibleModule


def argument_spec():
    return dict(
        source=dict(type="str"),
        backup_dir=dict(type="path", default="/data/backups"),
        image=dict(type="str"),
        project=dict(type="str"),
        method=dict(type="str", default="auto", choices=METHODS),
        tools_dir=dict(type="path"),
        age_identity_file=dict(type="path"),
        ready_timeout=dict(type="float", default=120),
        record=dict(type="bool", default=True),
        **backup_store_argspec(),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    engine = load_engine(module)
    p = module.params
    try:
        result = engine.restore_drill(
            p["backup_dir"],
            source=p["source"],
            image=p["image"],
            project=p["project"],
            s3=p["s3"],
            signing_key=p["signing_key"],
            age_identity_file=p["age_identity_file"],
            check_mode=module.check_mode,
            method=p["method"],
            tools_dir=p["tools_dir"],
            ready_timeout=p["ready_timeout"],
            record=p["record"],
        )
    except engine.BackupError as exc:
        module.fail_json(msg=str(exc))
    if result["result"] == "failed":
        module.fail_json(
            msg="restore drill of {} failed: {}".format(
                result["backup"] or "(no backup)",
                "; ".join(
                    f"{c['name']}: {c['detail']}"
                    for c in result["checks"]
                    if c["status"] == "failed"
                ),
            ),
            **result,
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
