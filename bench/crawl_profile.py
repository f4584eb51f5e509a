"""cProfile for a crawl: the event-loop process, and each parse worker
process (a profiler started by the pool's initializer, written out when the
worker exits), so that the report can say where the time goes on both sides."""

from __future__ import annotations

import contextlib
import cProfile
import io
import os
import pstats
import threading
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import util
from pathlib import Path

from crawl_cpu import proc_cpu


def _start_worker_profile(out_dir: str) -> None:
    prof = cProfile.Profile()
    prof.enable()

    def dump() -> None:
        prof.disable()
        prof.dump_stats(os.path.join(out_dir, f"worker-{os.getpid()}.prof"))

    # run by multiprocessing when the worker process ends (after the pool's shutdown)
    util.Finalize(None, dump, exitpriority=100)


def profiling_pool(out_dir: Path):
    """A ProcessPoolExecutor class whose workers profile themselves."""

    class ProfilingPool(ProcessPoolExecutor):
        def __init__(self, max_workers=None, *args, **kw):
            kw.setdefault("initializer", _start_worker_profile)
            kw.setdefault("initargs", (str(out_dir),))
            super().__init__(max_workers, *args, **kw)

    return ProfilingPool


def top(stats_files: list[Path], limit: int = 30, sort: str = "cumulative") -> str:
    """The top entries of one or more profiles merged, as pstats prints them."""
    files = [str(f) for f in stats_files if f.exists()]
    if not files:
        return "(no profile written)\n"
    buf = io.StringIO()
    st = pstats.Stats(files[0], stream=buf)
    for f in files[1:]:
        st.add(f)
    st.strip_dirs().sort_stats(sort).print_stats(limit)
    lines = buf.getvalue().splitlines()
    # pstats starts with the names of the files: keep from the call count on
    start = next((i for i, ln in enumerate(lines) if "function calls" in ln), 0)
    return "\n".join(lines[start:]) + "\n"


class ThreadCpu:
    """CPU seconds of each thread of this process while in the block, by
    thread name, sampled from /proc (cProfile sees the main thread only; the
    storage flushes and the process pool's feeder and manager threads run
    beside it)."""

    def __init__(self, interval: float = 0.1):
        self.interval = interval
        self.seen: dict[int, tuple[str, float]] = {}
        self.base: dict[int, float] = {}  # the threads' CPU when sampling began
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="thread-cpu-sampler", daemon=True)

    def _sample(self) -> None:
        for t in threading.enumerate():
            if t is self._thread:
                continue  # the sampler itself is not the crawler's
            # a thread may end between enumerate() and the read
            with contextlib.suppress(OSError, IndexError):
                self.seen[t.native_id] = (t.name, proc_cpu(os.getpid(), t.native_id))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> ThreadCpu:
        self._sample()
        self.base = {tid: cpu for tid, (_, cpu) in self.seen.items()}
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._sample()
        self._stop.set()
        self._thread.join()

    def by_name(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for tid, (name, cpu) in self.seen.items():
            cpu -= self.base.get(tid, 0.0)
            # pool threads are numbered (asyncio_0, asyncio_1): one line for them all
            key = name.rstrip("0123456789").rstrip("_-") or name
            out[key] = round(out.get(key, 0.0) + cpu, 3)
        return out
