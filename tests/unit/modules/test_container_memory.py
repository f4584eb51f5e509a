"""container_memory: the cgroup v1/v2 readers behind the engine's empty
`docker stats`, and how a container becomes an offender."""

from __future__ import annotations

from pathlib import Path

import pytest
from module_support import load_library

cm = load_library("container_memory")
CID = "0e0aec81c149e019bfe2bc038151e30bf048213d152781d2c80ab4c1d82fb26d"


def _write(directory: Path, files: dict[str, str]) -> None:
    directory.mkdir(parents=True)
    for name, text in files.items():
        (directory / name).write_text(text + "\n")


def test_cgroup_v1_figures_and_oom_kills(tmp_path):
    _write(
        tmp_path / "memory" / "docker" / CID,
        {
            "memory.usage_in_bytes": "524288000",
            "memory.limit_in_bytes": "536870912",
            "memory.max_usage_in_bytes": "536870912",
            "memory.failcnt": "17",
            "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2",
        },
    )
    got = cm.read_cgroup(str(tmp_path), CID)
    assert got == {
        "source": "cgroup_v1",
        "usage_bytes": 524288000,
        "limit_bytes": 536870912,
        "max_usage_bytes": 536870912,
        "failcnt": 17,
        "oom_kills": 2,
    }


def test_cgroup_v1_unlimited_is_no_limit(tmp_path):
    _write(
        tmp_path / "memory" / "docker" / CID,
        {"memory.usage_in_bytes": "1000", "memory.limit_in_bytes": "9223372036854771712"},
    )
    assert cm.read_cgroup(str(tmp_path), CID)["limit_bytes"] is None


def test_cgroup_v2_systemd_scope(tmp_path):
    _write(
        tmp_path / "system.slice" / f"docker-{CID}.scope",
        {
            "memory.current": "2048",
            "memory.max": "max",
            "memory.peak": "4096",
            "memory.events": "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1",
        },
    )
    got = cm.read_cgroup(str(tmp_path), CID)
    assert got["source"] == "cgroup_v2"
    assert (got["usage_bytes"], got["limit_bytes"], got["max_usage_bytes"]) == (2048, None, 4096)
    assert (got["failcnt"], got["oom_kills"]) == (5, 1)


def test_no_cgroup_files_means_no_figures(tmp_path):
    assert cm.read_cgroup(str(tmp_path), CID) is None


@pytest.mark.parametrize("stats", [{}, {"memory_stats": {}}, None])
def test_engine_stats_without_memory_figures_fall_back(stats):
    # What this machine's engine answers ("no metrics received").
    assert cm.read_engine_stats(stats) is None


def test_engine_stats_with_memory_figures():
    got = cm.read_engine_stats({"memory_stats": {"usage": 100, "limit": 400, "max_usage": 200}})
    assert (got["source"], got["usage_bytes"], got["limit_bytes"]) == ("engine", 100, 400)


def _entry(**kw):
    base = {
        "state": "running",
        "exit_code": 0,
        "oom_killed": False,
        "usage_bytes": 100,
        "limit_bytes": 1000,
        "oom_kills": 0,
        "events": [],
    }
    return {**base, **kw}


def test_healthy_container_is_no_offender():
    got = cm.assess(_entry(), 90)
    assert (got["percent"], got["offender"], got["reasons"]) == (10.0, False, [])


def test_near_limit_is_an_offender():
    got = cm.assess(_entry(usage_bytes=950), 90)
    assert got["offender"] and "95.0%" in got["reasons"][0]


def test_killed_with_137_is_an_offender_even_without_oomkilled():
    # The engine here reports OOMKilled=false for a container killed by its limit.
    got = cm.assess(_entry(state="exited", exit_code=137, usage_bytes=None), 90)
    assert got["offender"] and "137" in got["reasons"][0]
    assert got["percent"] is None


def test_engine_events_outlive_the_automatic_restart():
    got = cm.assess(_entry(events=["oom event at 09:50:01 UTC"]), 90)
    assert got["offender"] and got["reasons"] == ["oom event at 09:50:01 UTC"]


def test_cgroup_oom_kill_count_is_an_offender():
    assert cm.assess(_entry(oom_kills=3), 90)["offender"]


class _OldSdk:
    """The stats() of Docker SDK 5.0.3 (Debian bookworm): no one_shot."""

    def stats(self, container, decode=None, stream=True):
        return {"container": container, "stream": stream}


class _NewSdk:
    def stats(self, container, decode=None, stream=True, one_shot=None):
        return {"container": container, "stream": stream, "one_shot": one_shot}


def test_engine_stats_asks_one_shot_and_falls_back_for_an_older_sdk():
    assert cm.engine_stats(_NewSdk(), CID) == {"container": CID, "stream": False, "one_shot": True}
    assert cm.engine_stats(_OldSdk(), CID) == {"container": CID, "stream": False}
