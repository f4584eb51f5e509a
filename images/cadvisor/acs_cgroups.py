"""cgroupfs readers of acs-local/cadvisor: one container's memory figures
from cgroup v1 or v2 files, as cAdvisor reads them.

Mirrors read_cgroup of library/container_memory.py (the runbook's memory
check), which cannot be imported here: it needs Ansible.
"""

from __future__ import annotations

import os

# cAdvisor reports an unlimited v2 memory.max as the largest uint64.
UNLIMITED_V2 = 2**64 - 1


def read_text(path):
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read().strip()
    except OSError:
        return None


def to_int(text):
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def keyed(text, key):
    """The value of `key` in a flat-keyed cgroup file (`name value` lines)."""
    for line in (text or "").splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return to_int(value)
    return None


def cgroup_candidates(root, cid):
    """(version, directory, cAdvisor id) for the cgroupfs and systemd drivers."""
    return [
        ("v1", os.path.join(root, "memory", "docker", cid), f"/docker/{cid}"),
        (
            "v1",
            os.path.join(root, "memory", "system.slice", f"docker-{cid}.scope"),
            f"/system.slice/docker-{cid}.scope",
        ),
        (
            "v2",
            os.path.join(root, "system.slice", f"docker-{cid}.scope"),
            f"/system.slice/docker-{cid}.scope",
        ),
        ("v2", os.path.join(root, "docker", cid), f"/docker/{cid}"),
    ]


def read_memory(root, cid):
    """Memory figures of one container from its cgroup, or None without one."""
    for version, path, cgroup_id in cgroup_candidates(root, cid):
        if version == "v1":
            usage = to_int(read_text(os.path.join(path, "memory.usage_in_bytes")))
            if usage is None:
                continue
            stat = read_text(os.path.join(path, "memory.stat"))
            return {
                "id": cgroup_id,
                "usage": usage,
                "working_set": max(usage - (keyed(stat, "total_inactive_file") or 0), 0),
                "limit": to_int(read_text(os.path.join(path, "memory.limit_in_bytes"))),
                "failcnt": to_int(read_text(os.path.join(path, "memory.failcnt"))) or 0,
                "oom_kills": keyed(read_text(os.path.join(path, "memory.oom_control")), "oom_kill"),
            }
        usage = to_int(read_text(os.path.join(path, "memory.current")))
        if usage is None:
            continue
        stat = read_text(os.path.join(path, "memory.stat"))
        events = read_text(os.path.join(path, "memory.events"))
        limit = read_text(os.path.join(path, "memory.max"))
        return {
            "id": cgroup_id,
            "usage": usage,
            "working_set": max(usage - (keyed(stat, "inactive_file") or 0), 0),
            "limit": UNLIMITED_V2 if limit == "max" else to_int(limit),
            # v2 has no failcnt; `max` counts the times usage hit memory.max.
            "failcnt": keyed(events, "max") or 0,
            "oom_kills": keyed(events, "oom_kill"),
        }
    return None
