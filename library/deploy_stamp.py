#!/usr/bin/python
# Copyright: Airflow Crawler System contributors
# Apache License 2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: deploy_stamp
short_description: Compare a host with the stamp of its last full deploy, or write that stamp
version_added: "1.1.0"
description:
  - Fingerprints the host side of a deploy of the stack, namely the managed files under
    the project directory (type, mode, owner, sha256), further host paths, the
    project's containers (service, image id, compose config-hash, running or
    exited and the exit code), the local image set ids and the Docker Engine and
    Compose versions. Only sha256 digests and counts are returned or written.
  - With I(state=check), compares this fingerprint and the controller's I(inputs)
    with the stamp; I(unchanged) is true only when every section is equal, every
    container is running and healthy (one-shot services exited 0) and every
    I(health_urls) answers.
  - With I(state=write), writes the stamp (mode 0600, atomically) unless it already
    holds the same fingerprint. Never writes in check mode.
  - The action plugin of the same name (plugins/action/deploy_stamp.py) computes
    I(inputs) on the controller and resolves the settings of the deploy_stamp role.
author:
  - Airflow Crawler System contributors
options:
  state:
    description: C(check) compares with the stamp, C(write) records the stamp.
    type: str
    default: check
    choices: [check, write]
  project_dir:
    description: The compose project directory; its files are the managed files.
    type: path
    required: true
  project_name:
    description: The compose project name (label C(com.docker.compose.project)).
    type: str
    required: true
  stamp_file:
    description: Where the stamp is kept; excluded from the managed files.
    type: path
    required: true
  project_excludes:
    description: Paths relative to I(project_dir) that hold data, not configuration (logs).
    type: list
    elements: str
    default: []
  paths:
    description: Further host files or directories the deploy manages (walked).
    type: list
    elements: path
    default: []
  images:
    description: References of the local image set (C(name:tag)); a missing one counts as absent.
    type: list
    elements: str
    default: []
  health_urls:
    description:
      - URLs of host services the deploy starts that must answer 2xx for I(unchanged).
      - C({docker_gateway}) stands for the default bridge network's gateway address.
    type: list
    elements: str
    default: []
  inputs:
    description: Section digests of the controller side (files and role variables).
    type: dict
    default: {}
  inputs_files:
    description: Number of controller files I(inputs) covers (for the message).
    type: int
    default: 0
  docker_socket:
    description: The Docker Engine API socket.
    type: path
    default: /var/run/docker.sock
attributes:
  check_mode:
    support: full
    details: I(state=check) only reads; I(state=write) writes nothing in check mode.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Compare with the last full deploy (through the action plugin)
  deploy_stamp:
    state: check
  register: _stamp

- name: Record the converged state
  deploy_stamp:
    state: write
  when: not ansible_check_mode
"""

RETURN = r"""
unchanged:
  description: Every section equals the stamp and every service is healthy.
  returned: always
  type: bool
differences:
  description: Names of the sections that differ from the stamp, or why there is no stamp.
  returned: always
  type: list
  elements: str
unhealthy:
  description: Containers or URLs that are not running and healthy.
  returned: always
  type: list
  elements: str
stamp_file:
  description: Path of the stamp.
  returned: always
  type: str
stamp_time:
  description: UTC time of the stamp compared with or written, empty without one.
  returned: always
  type: str
counts:
  description: Files (controller and host), containers and images fingerprinted.
  returned: always
  type: dict
sections:
  description: The fingerprint, section name to sha256.
  returned: always
  type: dict
"""

import functools
import os

from ansible.module_utils.acs_deploy_stamp import (
    compare,
    containers,
    digest,
    docker_gateway,
    docker_get,
    http_ok,
    images,
    read_stamp,
    tree,
    unhealthy,
    versions,
    write_stamp,
)
from ansible.module_utils.basic import AnsibleModule


def argument_spec():
    return dict(
        state=dict(type="str", default="check", choices=["check", "write"]),
        project_dir=dict(type="path", required=True),
        project_name=dict(type="str", required=True),
        stamp_file=dict(type="path", required=True),
        project_excludes=dict(type="list", elements="str", default=[]),
        paths=dict(type="list", elements="path", default=[]),
        images=dict(type="list", elements="str", default=[]),
        health_urls=dict(type="list", elements="str", default=[]),
        inputs=dict(type="dict", default={}),
        inputs_files=dict(type="int", default=0),
        docker_socket=dict(type="path", default="/var/run/docker.sock"),
    )


def fingerprint(params, get) -> tuple[dict, dict, list[str]]:
    """(sections, counts, unhealthy) of the host, with the controller's inputs."""
    project_dir = params["project_dir"]
    excludes = list(params["project_excludes"])
    if os.path.dirname(params["stamp_file"]) == project_dir.rstrip("/"):
        excludes.append(os.path.basename(params["stamp_file"]))
    files = tree(project_dir, excludes)
    paths = {p: tree(p) for p in sorted(set(params["paths"]))}
    found = containers(params["project_name"], get)
    image_ids = images(params["images"], get)
    sections = dict(params["inputs"])
    sections.update(
        {
            "host:files": digest(files),
            "host:paths": digest(paths),
            # Health is left out: a service may still be starting when the
            # stamp is written; it is checked on its own below.
            "host:containers": digest(
                [{k: v for k, v in c.items() if k != "health"} for c in found]
            ),
            "host:images": digest(image_ids),
            "host:versions": digest(versions(get)),
        }
    )
    bad = unhealthy(found)
    gateway = None
    for url in params["health_urls"]:
        if "{docker_gateway}" in url:
            if gateway is None:
                gateway = docker_gateway(get)
            url = url.replace("{docker_gateway}", gateway)
        if not http_ok(url):
            bad.append(f"{url} does not answer")
    counts = {
        "files": params["inputs_files"]
        + sum(1 for e in files.values() if e[0] == "file")
        + sum(1 for t in paths.values() for e in t.values() if e[0] == "file"),
        "containers": len(found),
        "images": sum(1 for i in image_ids.values() if i != "absent"),
    }
    return sections, counts, bad


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    get = functools.partial(docker_get, sock_path=params["docker_socket"])
    try:
        sections, counts, bad = fingerprint(params, get)
    except (OSError, RuntimeError, ValueError) as exc:
        if params["state"] == "write":
            module.fail_json(msg=f"cannot fingerprint the host: {exc}")
        # No fingerprint, no fast path: the full converge decides.
        module.exit_json(
            unchanged=False,
            differences=[f"cannot fingerprint the host: {exc}"],
            unhealthy=[],
            stamp_file=params["stamp_file"],
            stamp_time="",
            counts={},
            sections=dict(params["inputs"]),
        )
    stamp = read_stamp(params["stamp_file"])
    differences = compare(stamp, sections)
    result = dict(
        changed=False,
        unchanged=not differences and not bad,
        differences=differences,
        unhealthy=bad,
        stamp_file=params["stamp_file"],
        stamp_time=(stamp or {}).get("time", ""),
        counts=counts,
        sections=sections,
    )
    if params["state"] == "write" and differences:
        result["changed"] = True
        if not module.check_mode:
            result["stamp_time"] = write_stamp(params["stamp_file"], sections, counts)["time"]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
