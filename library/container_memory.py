#!/usr/bin/python
# Copyright: Airflow Crawler System contributors
# Apache License 2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: container_memory
short_description: Memory use, limit and OOM evidence of the containers of a compose project
version_added: "1.0.0"
description:
  - Lists the containers of a compose project (running or not) and reports, for each,
    memory usage, limit, peak, limit hits and whether it was killed by its limit.
  - Reads the Docker engine's stats API first. Where the engine reports no memory
    figures (engines that log "no metrics received", as the runbook's C(docker stats)
    then shows nothing), it reads the container's cgroup files instead, v1
    (C(memory.usage_in_bytes), C(memory.limit_in_bytes), C(memory.failcnt),
    C(memory.max_usage_in_bytes), C(memory.oom_control)) or v2 (C(memory.current),
    C(memory.max), C(memory.peak), C(memory.events)).
  - Names the offenders, containers near their limit or killed by it (exit code 137, or
    C(State.OOMKilled), or an C(oom_kill) count in the cgroup). Never changes anything.
author:
  - Airflow Crawler System contributors
requirements:
  - docker (the Python SDK)
extends_documentation_fragment:
  - acs_attributes.read_only
options:
  project:
    description: Compose project name (the C(com.docker.compose.project) label).
    type: str
    required: true
  services:
    description: Only these compose services; all of the project when empty.
    type: list
    elements: str
    default: []
  near_limit_percent:
    description: Usage at or above this share of the limit makes a container an offender.
    type: float
    default: 90
  cgroup_root:
    description: Where the cgroup file systems are mounted.
    type: path
    default: /sys/fs/cgroup
  events_minutes:
    description:
      - Also read the engine's C(oom) events and C(die) events with exit code 137 of the last so many
        minutes; they remain after the engine restarted the killed container (restart policies reset its
        exit code and cgroup counters). C(0) skips the events.
    type: int
    default: 60
  docker_host:
    description: Docker engine address; the environment's C(DOCKER_HOST) or the local socket when unset.
    type: str
"""

EXAMPLES = r"""
- name: Memory per container of the stack
  container_memory:
    project: airflow-crawler-system
  register: _memory

- name: Show the offenders
  ansible.builtin.debug:
    msg: "{{ _memory.offenders }}"
"""

RETURN = r"""
containers:
  description: One entry per container, sorted by service then name.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "airflow-crawler-system-api-1", "service": "api", "id": "0e0a...",
            "state": "running", "exit_code": 0, "oom_killed": false,
            "usage_bytes": 91553792, "limit_bytes": 536870912, "percent": 17.1,
            "max_usage_bytes": 120000000, "failcnt": 0, "oom_kills": 0,
            "source": "cgroup_v1", "events": [], "offender": false, "reasons": []}]
offenders:
  description: Names of the containers near their limit or killed by it.
  returned: always
  type: list
  elements: str
sources:
  description: How many containers were read from each source (engine, cgroup_v1, cgroup_v2, none).
  returned: always
  type: dict
"""

import os
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule

try:
    import docker

    IMPORT_ERROR = None
except ImportError:
    IMPORT_ERROR = traceback.format_exc()

# cgroup v1 reports "no limit" as a page-rounded LONG_MAX.
_UNLIMITED = 1 << 60


def argument_spec():
    return dict(
        project=dict(type="str", required=True),
        services=dict(type="list", elements="str", default=[]),
        near_limit_percent=dict(type="float", default=90),
        events_minutes=dict(type="int", default=60),
        cgroup_root=dict(type="path", default="/sys/fs/cgroup"),
        docker_host=dict(type="str"),
    )


def _read(path):
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read().strip()
    except OSError:
        return None


def _int(text):
    if text is None or text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _keyed(text, key):
    for line in (text or "").splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return _int(value)
    return None


def cgroup_v1_dirs(root, cid):
    return [
        os.path.join(root, "memory", "docker", cid),
        os.path.join(root, "memory", "system.slice", f"docker-{cid}.scope"),
    ]


def cgroup_v2_dirs(root, cid):
    return [
        os.path.join(root, "system.slice", f"docker-{cid}.scope"),
        os.path.join(root, "docker", cid),
    ]


def read_cgroup(root, cid):
    """Memory figures of one container from its cgroup files, or None."""
    for path in cgroup_v1_dirs(root, cid):
        usage = _int(_read(os.path.join(path, "memory.usage_in_bytes")))
        if usage is None:
            continue
        limit = _int(_read(os.path.join(path, "memory.limit_in_bytes")))
        return {
            "source": "cgroup_v1",
            "usage_bytes": usage,
            "limit_bytes": limit if limit is not None and limit < _UNLIMITED else None,
            "max_usage_bytes": _int(_read(os.path.join(path, "memory.max_usage_in_bytes"))),
            "failcnt": _int(_read(os.path.join(path, "memory.failcnt"))),
            "oom_kills": _keyed(_read(os.path.join(path, "memory.oom_control")), "oom_kill"),
        }
    for path in cgroup_v2_dirs(root, cid):
        usage = _int(_read(os.path.join(path, "memory.current")))
        if usage is None:
            continue
        events = _read(os.path.join(path, "memory.events"))
        return {
            "source": "cgroup_v2",
            "usage_bytes": usage,
            "limit_bytes": _int(_read(os.path.join(path, "memory.max"))),
            "max_usage_bytes": _int(_read(os.path.join(path, "memory.peak"))),
            "failcnt": _keyed(events, "max"),
            "oom_kills": _keyed(events, "oom_kill"),
        }
    return None


def engine_stats(api, container_id):
    """One `docker stats` sample. one_shot (Docker SDK 6.1+) skips the
    engine's second sample; Debian bookworm's python3-docker (5.0.3), which a
    remote host's Python has, does not know the argument."""
    try:
        return api.stats(container_id, stream=False, one_shot=True)
    except TypeError:
        return api.stats(container_id, stream=False)


def read_engine_stats(stats):
    """Memory figures from one engine stats answer, or None when it holds none."""
    mem = (stats or {}).get("memory_stats") or {}
    usage = mem.get("usage")
    if not usage:
        return None
    limit = mem.get("limit")
    return {
        "source": "engine",
        "usage_bytes": int(usage),
        "limit_bytes": int(limit) if limit and int(limit) < _UNLIMITED else None,
        "max_usage_bytes": mem.get("max_usage"),
        "failcnt": mem.get("failcnt"),
        "oom_kills": None,
    }


def recent_kills(client, project, minutes):
    """Container name -> list of OOM evidence from the engine's event log."""
    if minutes <= 0:
        return {}
    until = int(time.time())
    found = {}
    events = client.events(
        since=until - minutes * 60,
        until=until,
        decode=True,
        filters={"type": "container", "label": f"com.docker.compose.project={project}"},
    )
    for event in events:
        attrs = event.get("Actor", {}).get("Attributes", {})
        name = attrs.get("name", "?")
        when = time.strftime("%H:%M:%S", time.gmtime(event.get("time", 0)))
        if event.get("Action") == "oom":
            found.setdefault(name, []).append(f"oom event at {when} UTC")
        elif event.get("Action") == "die" and attrs.get("exitCode") == "137":
            found.setdefault(name, []).append(f"died with exit code 137 at {when} UTC")
    return found


def assess(entry, near_limit_percent):
    """Adds percent, offender and reasons to one container entry."""
    limit, usage = entry.get("limit_bytes"), entry.get("usage_bytes")
    entry["percent"] = round(usage * 100.0 / limit, 1) if limit and usage is not None else None
    reasons = []
    if entry["percent"] is not None and entry["percent"] >= near_limit_percent:
        reasons.append(f"using {entry['percent']}% of its {limit} byte limit")
    if entry.get("oom_killed"):
        reasons.append("the engine reports OOMKilled")
    if entry.get("state") != "running" and entry.get("exit_code") == 137:
        reasons.append("exited with code 137 (SIGKILL, what the kernel's OOM killer sends)")
    if entry.get("oom_kills"):
        reasons.append(f"the cgroup counted {entry['oom_kills']} OOM kill(s)")
    reasons.extend(entry.get("events", []))
    entry["reasons"] = reasons
    entry["offender"] = bool(reasons)
    return entry


def describe(container, client, cgroup_root):
    attrs = container.attrs
    state = attrs.get("State", {})
    entry = {
        "name": container.name,
        "service": container.labels.get("com.docker.compose.service", ""),
        "id": container.id,
        "state": state.get("Status", "unknown"),
        "exit_code": state.get("ExitCode"),
        "oom_killed": bool(state.get("OOMKilled")),
        "restart_count": attrs.get("RestartCount", 0),
    }
    configured = attrs.get("HostConfig", {}).get("Memory") or None
    figures = None
    if entry["state"] == "running":
        try:
            figures = read_engine_stats(engine_stats(client.api, container.id))
        except docker.errors.APIError:
            figures = None
        cgroup = read_cgroup(cgroup_root, container.id)
        if figures and cgroup:
            # The engine has no limit-hit or OOM-kill counters; the cgroup does.
            for key in ("failcnt", "oom_kills", "max_usage_bytes"):
                if figures.get(key) is None:
                    figures[key] = cgroup[key]
        figures = figures or cgroup
    figures = figures or {
        "source": "none",
        "usage_bytes": None,
        "limit_bytes": None,
        "max_usage_bytes": None,
        "failcnt": None,
        "oom_kills": None,
    }
    entry.update(figures)
    entry["limit_bytes"] = configured or entry["limit_bytes"]
    return entry


def run(module, client):
    p = module.params
    if not 0 < p["near_limit_percent"] <= 100:
        module.fail_json(
            msg=f"near_limit_percent={p['near_limit_percent']} must be above 0 and at most 100"
        )
    containers = client.containers.list(
        all=True, filters={"label": f"com.docker.compose.project={p['project']}"}
    )
    wanted = set(p["services"])
    chosen = [
        c for c in containers if not wanted or c.labels.get("com.docker.compose.service") in wanted
    ]
    # One stats call takes the engine about a second: ask for all at once.
    with ThreadPoolExecutor(max_workers=8) as pool:
        described = list(pool.map(lambda c: describe(c, client, p["cgroup_root"]), chosen))
    kills = recent_kills(client, p["project"], p["events_minutes"])
    for entry in described:
        entry["events"] = kills.get(entry["name"], [])
    entries = [assess(entry, p["near_limit_percent"]) for entry in described]
    entries.sort(key=lambda e: (e["service"], e["name"]))
    sources = {}
    for entry in entries:
        sources[entry["source"]] = sources.get(entry["source"], 0) + 1
    if not entries:
        module.fail_json(
            msg=f"no containers of compose project {p['project']!r}"
            + (f" for services {sorted(wanted)}" if wanted else "")
            + ": deploy the stack (playbooks/site.yml) or set project to the right name",
            containers=[],
            offenders=[],
            sources={},
        )
    module.exit_json(
        changed=False,
        containers=entries,
        offenders=[e["name"] for e in entries if e["offender"]],
        sources=sources,
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if IMPORT_ERROR:
        module.fail_json(
            msg="the docker Python SDK is required (pip install docker)", exception=IMPORT_ERROR
        )
    kwargs = {"base_url": module.params["docker_host"]} if module.params["docker_host"] else {}
    try:
        client = docker.DockerClient(**kwargs) if kwargs else docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        module.fail_json(
            msg=f"cannot reach the Docker engine: {exc}; set docker_host or start dockerd"
        )
    run(module, client)


if __name__ == "__main__":
    main()
