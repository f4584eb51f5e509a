"""The kernel's OOM kills from /dev/kmsg, the source cAdvisor's oomparser
reads (hence the stack's `devices: /dev/kmsg` and `cap_add: SYSLOG`).

It is the one source that sees every kill: the engine may send no `oom`
event and report OOMKilled=false (docs ENVIRONMENT), and the cgroup's own
counter is gone with the cgroup when the killed process was PID 1.

A kill is logged as one record such as
`oom-kill:constraint=CONSTRAINT_MEMCG,...,task_memcg=/docker/<id>,task=python3,pid=1,uid=0`;
the container is the 64-hex id in task_memcg, which covers cgroupfs
(`/docker/<id>`) and systemd (`/system.slice/docker-<id>.scope`) drivers.
"""

from __future__ import annotations

import errno
import logging
import os
import re

LOG = logging.getLogger("acs_cadvisor.kmsg")
OOM_KILL = re.compile(r"oom-kill:.*\btask_memcg=[^,]*?\b([0-9a-f]{64})\b")


def killed_container(record: str) -> str | None:
    """The container id of a kmsg record that logs an OOM kill, else None."""
    message = record.split(";", 1)[-1]
    match = OOM_KILL.search(message)
    return match.group(1) if match else None


def follow(on_kill, path="/dev/kmsg"):
    """Calls on_kill(container_id) for every OOM kill logged from now on;
    returns (with a warning) where the device cannot be read."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        LOG.warning(
            "%s: %s; OOM kills of a container's PID 1 are missed (pass the device"
            " and cap_add SYSLOG, as for cAdvisor)",
            path,
            exc.strerror,
        )
        return
    try:
        try:
            # Kills before the start belong to the cgroup counters of that time.
            os.lseek(fd, 0, os.SEEK_END)
        except OSError as exc:
            if exc.errno != errno.ESPIPE:  # a pipe (tests) has no end to seek
                raise
        while True:
            try:
                record = os.read(fd, 8192)
            except OSError as exc:
                if exc.errno == errno.EPIPE:
                    continue  # the ring buffer overwrote records: read on
                raise
            if not record:
                return
            # One record per read from the device; a pipe may join several.
            for line in record.decode(errors="replace").splitlines():
                cid = killed_container(line)
                if cid:
                    LOG.info("kernel OOM kill in %s", cid[:12])
                    on_kill(cid)
    finally:
        os.close(fd)
