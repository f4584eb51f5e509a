#!/usr/bin/python
# Copyright: Airflow Crawler System contributors
# Apache License 2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: compose_state
short_description: The containers and the configuration of a compose project, read together
version_added: "1.0.0"
description:
  - Lists the containers of a compose project, running or not, through the Docker engine API
    (as C(docker compose ps --all)), and at the same time reads the project's configuration
    with C(docker compose config --format json), so compose itself merges the files that
    C(COMPOSE_FILE) in C(.env) lists and interpolates.
  - Returns each container's service, state, health and address on the project's network,
    the address of each running service, the configuration, the one-off jobs
    (restart policy C(no)) and the other services that have no container. Never changes anything.
  - The configuration holds the services' environment, passwords and API keys included,
    so register the result under C(no_log).
author:
  - Airflow Crawler System contributors
requirements:
  - The Docker CLI with its compose plugin (C(docker compose config)).
extends_documentation_fragment:
  - acs_attributes.read_only
  - community.docker.docker.api_documentation
options:
  project_name:
    description: Compose project name (the C(com.docker.compose.project) label, C(docker compose -p)).
    type: str
    required: true
  project_dir:
    description: Project directory holding C(docker-compose.yml) and C(.env) (C(docker compose --project-directory)).
    type: path
    required: true
"""

EXAMPLES = r"""
- name: The stack's containers and configuration
  compose_state:
    project_name: airflow-crawler-system
    project_dir: /opt/airflow-crawler-system
  register: _compose
  no_log: true  # the configuration holds the services' environment

- name: Services defined without a container
  ansible.builtin.debug:
    msg: "{{ _compose.missing_services }}"
"""

RETURN = r"""
containers:
  description:
    - One entry per container of the project, sorted by name, with C(service), C(name), C(id),
      C(state), C(status) (as C(docker ps) shows it), C(oneoff) (a C(docker compose run)
      container), C(health) (C(healthy), C(unhealthy), C(starting) or C(-)) and C(ip) (its
      first address on a network, C('') when none).
  returned: success
  type: list
  elements: dict
  sample: [{"service": "api", "name": "airflow-crawler-system-api-1", "id": "0e0a...",
            "state": "running", "status": "Up 2 hours (healthy)", "oneoff": false,
            "health": "healthy", "ip": "172.18.0.7"}]
service_ip:
  description: Service name to the address of its first running container (by name) that has one.
  returned: success
  type: dict
  sample: {"mongodb": "172.18.0.3"}
config:
  description: C(docker compose config --format json), parsed.
  returned: success
  type: dict
jobs:
  description: Services whose restart policy is C(no), one-off jobs such as airflow-init, in the configuration's order.
  returned: success
  type: list
  elements: str
missing_services:
  description: The other services of the configuration without a container (one-off C(run) containers do not count), sorted.
  returned: success
  type: list
  elements: str
"""

import json
import os
import shutil
import subprocess
import traceback

from ansible.module_utils.basic import AnsibleModule, _load_params

LABEL = "com.docker.compose."


def _docker_api():
    """community.docker's client and connection options, imported on use:
    main() starts `docker compose config` first, so the import (~0.3 s) runs
    while compose reads the files. (error, names) with error a traceback."""
    try:
        from ansible_collections.community.docker.plugins.module_utils._api.errors import (
            DockerException,
        )
        from ansible_collections.community.docker.plugins.module_utils.common_api import (
            DOCKER_COMMON_ARGS,
            AnsibleDockerClient,
            RequestException,
        )
    except ImportError:
        return traceback.format_exc(), {"DOCKER_COMMON_ARGS": {}}
    return None, {
        "DockerException": DockerException,
        "DOCKER_COMMON_ARGS": DOCKER_COMMON_ARGS,
        "AnsibleDockerClient": AnsibleDockerClient,
        "RequestException": RequestException,
    }


def argument_spec():
    """The module's options and community.docker's connection options."""
    return dict(
        project_name=dict(type="str", required=True),
        project_dir=dict(type="path", required=True),
        **_docker_api()[1]["DOCKER_COMMON_ARGS"],
    )


def config_argv(docker, project_dir, project_name):
    """`docker compose config --format json` of the project."""
    return [
        docker,
        "compose",
        "--project-directory",
        project_dir,
        "-p",
        project_name,
        "config",
        "--format",
        "json",
    ]


def _start_config():
    """(argv, process) of `docker compose config` from the raw parameters,
    started before anything else; None when they do not give one (main() then
    runs it once the parameters are validated)."""
    try:
        params = _load_params()
        docker = shutil.which("docker")
        if not docker or not isinstance(params.get("project_name"), str):
            return None
        # As the options' types: project_dir is a path (~ and $VARS expanded).
        project_dir = os.path.expanduser(os.path.expandvars(str(params["project_dir"])))
        argv = config_argv(docker, project_dir, params["project_name"])
        process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
    except Exception:  # any trouble: main() runs it the usual way
        return None
    return argv, process


def _health(status):
    if "(healthy)" in status:
        return "healthy"
    if "(unhealthy)" in status:
        return "unhealthy"
    return "starting" if "health: starting" in status else "-"


def container_entry(item):
    """One container of GET /containers/json as the runbook names it."""
    labels = item.get("Labels") or {}
    networks = (item.get("NetworkSettings") or {}).get("Networks") or {}
    status = item.get("Status") or ""
    return {
        "service": labels.get(LABEL + "service", "?"),
        "name": ((item.get("Names") or ["?"])[0])[1:],
        "id": item.get("Id"),
        "state": item.get("State"),
        "status": status,
        "oneoff": labels.get(LABEL + "oneoff", "False") == "True",
        "health": _health(status),
        "ip": next((n.get("IPAddress") for n in networks.values() if n.get("IPAddress")), ""),
    }


def project_state(items, config):
    """containers, service_ip, config, jobs and missing_services from the
    engine's container list and the parsed ``docker compose config``."""
    containers = sorted((container_entry(i) for i in items), key=lambda c: c["name"].lower())
    service_ip = {}
    for c in containers:
        if not c["oneoff"] and c["state"] == "running" and c["ip"]:
            service_ip.setdefault(c["service"], c["ip"])
    services = config.get("services") or {}
    # restart "no" marks one-off jobs (airflow-init), which may be absent.
    jobs = [n for n, s in services.items() if "restart" in s and s["restart"] in ("no", None)]
    running = {c["service"] for c in containers if not c["oneoff"]}
    missing = sorted(n for n in services if n not in jobs and n not in running)
    return dict(
        containers=containers,
        service_ip=service_ip,
        config=config,
        jobs=jobs,
        missing_services=missing,
    )


def main():
    # compose reads the files while community.docker is imported and the
    # engine lists the containers.
    started = _start_config()
    import_error, docker_api = _docker_api()
    if import_error:
        module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
        module.fail_json(
            msg="community.docker's module_utils could not be loaded", exception=import_error
        )
    # As docker_host_info: DOCKER_HOST and the other connection options.
    client = docker_api["AnsibleDockerClient"](
        argument_spec=argument_spec(), supports_check_mode=True
    )
    module, p = client.module, client.module.params
    argv = config_argv(
        module.get_bin_path("docker", required=True), p["project_dir"], p["project_name"]
    )
    if started is not None and started[0] != argv:
        # The raw parameters named another project than the validated ones.
        started[1].kill()
        started[1].wait()
        started = None
    filters = json.dumps({"label": [f"{LABEL}project={p['project_name']}"]})
    params = {"all": 1, "limit": -1, "size": 0, "trunc_cmd": 0, "filters": filters}
    try:
        items = client.get_json("/containers/json", params=params)
    except (docker_api["DockerException"], docker_api["RequestException"]) as exc:
        if started is not None:
            started[1].kill()
            started[1].wait()
        client.fail(f"cannot list the containers of {p['project_name']}: {exc}")
    if started is not None:
        out, err = started[1].communicate()
        rc = started[1].returncode
    else:
        rc, out, err = module.run_command(argv)
    if rc != 0:
        module.fail_json(msg=f"docker compose config failed: {err.strip()}", rc=rc, cmd=argv)
    try:
        config = json.loads(out)
    except ValueError as exc:
        module.fail_json(msg=f"docker compose config printed no JSON: {exc}")
    module.exit_json(changed=False, **project_state(items, config))


if __name__ == "__main__":
    main()
