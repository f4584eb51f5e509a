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


def machine_cpu() -> float:
    """Busy CPU seconds of the whole machine (every core, every process):
    what the others on it (a CI run, a Docker stack) took shows against it."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal: all but idle and iowait
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / _TICK


class CpuMeter:
    """CPU used by named processes, and by the machine ("machine"), between
    start() and stop()."""

    def __init__(self, pids: dict[str, int]):
        self.pids = pids
        self._t0: dict[str, float] = {}

    def _read(self) -> dict[str, float]:
        out = {name: proc_cpu(pid) for name, pid in self.pids.items()}
        out["machine"] = machine_cpu()
        return out

    def start(self) -> None:
        self._t0 = self._read()

    def stop(self) -> dict[str, float]:
        return {name: v - self._t0[name] for name, v in self._read().items()}
