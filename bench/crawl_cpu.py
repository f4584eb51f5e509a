"""CPU seconds of processes from /proc (no psutil in the virtualenv): the
database server and the file server are long-lived processes of the bench,
read before and after each run; a crawler reads its own with os.times()."""

from __future__ import annotations

import os

_TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int, tid: int | None = None) -> float:
    """utime + stime of one process (all its threads), or of one of its
    threads, in seconds."""
    path = f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat"
    with open(path) as f:
        # the command name may hold spaces: the fields start after its ')'
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def self_cpu() -> float:
    """This process and its children that have been waited for (parse
    workers, once the pool shut down)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def split_cpu() -> tuple[float, float]:
    """(this process, its waited-for children) CPU seconds."""
    t = os.times()
    return t.user + t.system, t.children_user + t.children_system


class CpuMeter:
    """CPU used by named processes between start() and stop()."""

    def __init__(self, pids: dict[str, int]):
        self.pids = pids
        self._t0: dict[str, float] = {}

    def start(self) -> None:
        self._t0 = {name: proc_cpu(pid) for name, pid in self.pids.items()}

    def stop(self) -> dict[str, float]:
        return {name: proc_cpu(pid) - self._t0[name] for name, pid in self.pids.items()}
