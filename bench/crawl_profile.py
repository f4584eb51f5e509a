"""cProfile for a crawl: the event-loop process, and each parse worker
process (a profiler started by the pool's initializer, written out when the
worker exits), so that the report can say where the time goes on both sides."""

from __future__ import annotations

import cProfile
import io
import os
import pstats
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import util
from pathlib import Path


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
