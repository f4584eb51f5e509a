#!/usr/bin/python
# Copyright: Airflow Crawler System contributors
# Apache License 2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: compose_release
short_description: The images of a compose project, per service, as configured and as running
version_added: "1.0.0"
description:
  - For every service of a compose project, the image reference its configuration names
    (C(docker compose config), which reads the files C(COMPOSE_FILE) in C(.env) lists), the id
    and repository digests that reference resolves to in the engine now, and the image id each
    of its containers runs.
  - The upgrade and rollback playbooks compare the two to know which services changed, and
    record the result as a release. Only image names and ids are returned (the configuration's
    environment, which holds secrets, is not). Never changes anything.
author:
  - Airflow Crawler System contributors
requirements:
  - The Docker CLI with its compose plugin.
extends_documentation_fragment:
  - acs_attributes.read_only
options:
  project_name:
    description: Compose project name (C(docker compose -p)).
    type: str
    required: true
  project_dir:
    description: Project directory holding C(docker-compose.yml) and C(.env).
    type: path
    required: true
"""

EXAMPLES = r"""
- name: The images of the stack
  compose_release:
    project_name: airflow-crawler-system
    project_dir: /opt/airflow-crawler-system
  register: release
"""

RETURN = r"""
services:
  description:
    - Service name to C(image) (the configured reference), C(image_id) (what the reference is
      in the engine now, C('') when missing), C(repo_digests), C(running_image_ids) (sorted,
      distinct, of its running containers), C(containers) (C(id), C(name), C(image_id),
      C(state), C(health)) and C(changed) (a running container does not run C(image_id)).
  returned: success
  type: dict
  sample: {"api": {"image": "acs/crawler:0.1.0", "image_id": "sha256:9484...",
                   "repo_digests": [], "running_image_ids": ["sha256:9484..."],
                   "containers": [{"id": "0e0a...", "name": "airflow-crawler-system-api-1",
                                   "image_id": "sha256:9484...", "state": "running",
                                   "health": "healthy"}], "changed": false}}
"""

import json

from ansible.module_utils.basic import AnsibleModule


def docker_json(module, *args):
    rc, out, err = module.run_command(["docker", *args])
    if rc != 0:
        module.fail_json(msg=f"docker {' '.join(args[:3])}: {err.strip() or out.strip()}")
    return json.loads(out) if out.strip() else []


def summarize(config_images, images, containers):
    """Pure: the per-service view from the three engine answers."""
    services = {}
    for service, ref in sorted(config_images.items()):
        image = images.get(ref, {})
        own = [c for c in containers if c["service"] == service]
        running = sorted({c["image_id"] for c in own if c["state"] == "running"})
        services[service] = {
            "image": ref,
            "image_id": image.get("Id", ""),
            "repo_digests": image.get("RepoDigests") or [],
            "running_image_ids": running,
            "containers": own,
            "changed": bool(image.get("Id")) and any(i != image["Id"] for i in running),
        }
    return services


def main():
    module = AnsibleModule(
        argument_spec={
            "project_name": {"type": "str", "required": True},
            "project_dir": {"type": "path", "required": True},
        },
        supports_check_mode=True,
    )
    p = module.params
    config = docker_json(
        module,
        "compose",
        "--project-directory",
        p["project_dir"],
        "-p",
        p["project_name"],
        "config",
        "--format",
        "json",
    )
    config_images = {name: svc.get("image", "") for name, svc in config.get("services", {}).items()}
    images = {}
    for ref in sorted(set(config_images.values()) - {""}):
        rc, out, _ = module.run_command(["docker", "image", "inspect", ref])
        if rc == 0:
            images[ref] = json.loads(out)[0]
    rc, out, err = module.run_command(
        [
            "docker",
            "ps",
            "-aq",
            "--no-trunc",
            "--filter",
            f"label=com.docker.compose.project={p['project_name']}",
        ]
    )
    if rc != 0:
        module.fail_json(msg=f"docker ps: {err.strip()}")
    ids = out.split()
    containers = []
    for c in docker_json(module, "inspect", *ids) if ids else []:
        labels = c["Config"].get("Labels") or {}
        if labels.get("com.docker.compose.oneoff") == "True":
            continue
        containers.append(
            {
                "id": c["Id"],
                "name": c["Name"].lstrip("/"),
                "service": labels.get("com.docker.compose.service", ""),
                "image_id": c["Image"],
                "state": c["State"]["Status"],
                "health": (c["State"].get("Health") or {}).get("Status", "-"),
            }
        )
    module.exit_json(changed=False, services=summarize(config_images, images, containers))


if __name__ == "__main__":
    main()
