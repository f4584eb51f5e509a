"""images/cadvisor (acs-local/cadvisor:0): cAdvisor's metric names and labels
from cgroup v1/v2 files written in tmp dirs and a stand-in Docker engine, a
real HTTP server on a unix socket answering the engine API paths it reads."""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[3]


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sys.path.insert(0, str(REPO / "images" / "cadvisor"))
import acs_cadvisor as cad  # noqa: E402
import acs_cgroups  # noqa: E402
import acs_kmsg as kmsg  # noqa: E402

CID = "0e0aec81c149e019bfe2bc038151e30bf048213d152781d2c80ab4c1d82fb26d"
GONE = "1f1bfd92d25a" + "0" * 52
V1_FILES = {
    "memory.usage_in_bytes": "524288000",
    "memory.limit_in_bytes": "536870912",
    "memory.failcnt": "17",
    "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2",
    "memory.stat": "cache 100\ntotal_inactive_file 24288000\ntotal_active_file 5",
}
V2_FILES = {
    "memory.current": "2048",
    "memory.max": "max",
    "memory.stat": "anon 1000\ninactive_file 48",
    "memory.events": "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1",
}


def write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text + "\n")
    return directory


def test_cgroup_v1(tmp_path):
    write(tmp_path / "memory" / "docker" / CID, V1_FILES)
    assert acs_cgroups.read_memory(str(tmp_path), CID) == {
        "id": f"/docker/{CID}",
        "usage": 524288000,
        "working_set": 500000000,
        "limit": 536870912,
        "failcnt": 17,
        "oom_kills": 2,
    }


def test_cgroup_v2_systemd_scope_unlimited(tmp_path):
    write(tmp_path / "system.slice" / f"docker-{CID}.scope", V2_FILES)
    assert acs_cgroups.read_memory(str(tmp_path), CID) == {
        "id": f"/system.slice/docker-{CID}.scope",
        "usage": 2048,
        "working_set": 2000,
        "limit": 2**64 - 1,
        "failcnt": 5,
        "oom_kills": 1,
    }


def test_no_cgroup_no_figures(tmp_path):
    assert acs_cgroups.read_memory(str(tmp_path), CID) is None


@pytest.mark.parametrize("files", [V1_FILES, V2_FILES], ids=["v1", "v2"])
def test_same_figures_as_the_container_memory_module(tmp_path, files):
    """The drop-in mirrors library/container_memory.py's cgroup reading."""
    library = _load("container_memory_for_cadvisor", REPO / "library" / "container_memory.py")
    where = ("memory/docker/" if files is V1_FILES else "docker/") + CID
    write(tmp_path / where, files)
    ours = acs_cgroups.read_memory(str(tmp_path), CID)
    theirs = library.read_cgroup(str(tmp_path), CID)
    assert (ours["usage"], ours["failcnt"], ours["oom_kills"]) == (
        theirs["usage_bytes"],
        theirs["failcnt"],
        theirs["oom_kills"],
    )


def test_engine_times():
    assert cad.parse_time("2024-05-01T10:00:00.5Z") == pytest.approx(1714557600.5)
    assert cad.parse_time("2024-05-01T12:00:00+02:00") == 1714557600
    assert cad.parse_time("2024-05-01T10:00:00.123456789Z") == pytest.approx(1714557600.123456789)
    assert cad.parse_time("0001-01-01T00:00:00Z") is None


def test_oom_counter_sums_runs_and_prefers_the_larger_source():
    counter = cad.OomCounter()
    counter.cgroup(CID, 100.0, 1)
    assert counter.total(CID) == 1
    counter.cgroup(CID, 200.0, 0)  # restarted: a new cgroup counts from zero
    counter.cgroup(CID, 200.0, 2)
    assert counter.total(CID) == 3
    for _ in range(5):
        counter.event(CID)
    assert counter.total(CID) == 5
    counter.forget(CID)
    assert counter.total(CID) == 0


class FakeEngine:
    """Engine API answers for /containers/json, /containers/<id>/json, /events."""

    def __init__(self, path: Path):
        self.containers = [
            {
                "Id": CID,
                "Names": ["/acs-api-1"],
                "Image": "acs/crawler:0.1.0",
                "State": "running",
                "Labels": {
                    "com.docker.compose.service": "api",
                    "com.docker.compose.project": "acs",
                    "other.label": "x",
                },
            },
            {"Id": GONE, "Names": ["/acs-dead-1"], "Image": "img", "State": "exited"},
        ]
        self.started = {CID: "2024-05-01T10:00:00.25Z"}
        self.events = [{"Type": "container", "Action": "oom", "Actor": {"ID": GONE}}] * 2
        self.requests: list[str] = []
        engine = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                engine.requests.append(self.path)
                if self.path.startswith("/events"):
                    self.send_response(200)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for event in engine.events:
                        data = json.dumps(event).encode() + b"\n"
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    self.wfile.write(b"0\r\n\r\n")
                    return
                if self.path == "/containers/json?all=1":
                    body = engine.containers
                else:
                    cid = self.path.split("/")[2]
                    if cid not in engine.started:
                        self.send_error(404)
                        return
                    body = {"State": {"StartedAt": engine.started[cid]}}
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args):
                pass

        self.server = socketserver.ThreadingUnixStreamServer(str(path), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def engine(tmp_path):
    fake = FakeEngine(tmp_path / "docker.sock")
    yield fake
    fake.close()


def scrape(registry) -> dict:
    """metric name -> {frozenset(labels): value}."""
    out: dict = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            out.setdefault(sample.name, {})[frozenset(sample.labels.items())] = sample.value
    return out


def test_metrics_names_labels_and_values(tmp_path, engine):
    write(tmp_path / "cg" / "memory" / "docker" / CID, V1_FILES)
    args = cad.parse_args(
        [
            f"--docker=unix://{tmp_path}/docker.sock",
            f"--cgroup_root={tmp_path}/cg",
            "--store_container_labels=false",
            "--whitelisted_container_labels=com.docker.compose.service,com.docker.compose.project",
            "-logtostderr",
            "--docker_only=true",
        ]
    )
    api, counter, registry = cad.build(args)
    cad.watch_events(api, counter, stop_after_one_pass())
    got = scrape(registry)
    api_labels = frozenset(
        {
            "id": f"/docker/{CID}",
            "name": "acs-api-1",
            "image": "acs/crawler:0.1.0",
            "container_label_com_docker_compose_service": "api",
            "container_label_com_docker_compose_project": "acs",
        }.items()
    )
    assert got["container_memory_usage_bytes"] == {api_labels: 524288000}
    assert got["container_memory_working_set_bytes"] == {api_labels: 500000000}
    assert got["container_spec_memory_limit_bytes"] == {api_labels: 536870912}
    assert got["container_memory_failcnt"] == {api_labels: 17}
    assert got["container_start_time_seconds"] == {api_labels: 1714557600.25}
    assert set(got["container_last_seen"]) == {api_labels}
    # The exited container keeps only its OOM count (the engine's two events).
    dead = dict(next(k for k in got["container_oom_events_total"] if ("name", "acs-dead-1") in k))
    assert dead["id"] == f"/docker/{GONE}"
    assert got["container_oom_events_total"][api_labels] == 2  # the cgroup's count
    assert sorted(got["container_oom_events_total"].values()) == [2, 2]


def stop_after_one_pass():
    """An event whose wait() ends watch_events after the stream closes."""

    class Once(threading.Event):
        def wait(self, timeout=None):
            self.set()
            return True

    return Once()


def test_every_container_label_by_default(tmp_path, engine):
    write(tmp_path / "memory" / "docker" / CID, V1_FILES)
    args = cad.parse_args([f"--docker=unix://{tmp_path}/docker.sock", f"--cgroup_root={tmp_path}"])
    _, _, registry = cad.build(args)
    (labels,) = scrape(registry)["container_memory_usage_bytes"]
    assert ("container_label_other_label", "x") in labels


def test_container_gone_between_list_and_inspect(tmp_path, engine):
    engine.started.clear()
    args = cad.parse_args([f"--docker=unix://{tmp_path}/docker.sock", f"--cgroup_root={tmp_path}"])
    _, _, registry = cad.build(args)
    assert "container_memory_usage_bytes" not in scrape(registry)


def test_http_paths(tmp_path, engine):
    args = cad.parse_args([f"--docker=unix://{tmp_path}/docker.sock", f"--cgroup_root={tmp_path}"])
    _, _, registry = cad.build(args)
    server = ThreadingHTTPServer(("127.0.0.1", 0), cad.make_handler(registry))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]

    def get(path):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()

    try:
        assert get("/healthz") == (200, b"ok")
        status, body = get("/metrics")
        assert status == 200 and b"container_oom_events_total{" in body
        assert get("/other")[0] == 404
        engine.close()  # the engine stops answering: the scrape says so
        status, body = get("/metrics")
        assert status == 500 and b"scrape failed" in body
    finally:
        server.shutdown()
        server.server_close()


def test_docker_address_forms():
    assert cad.DockerAPI("tcp://127.0.0.1:2375")
    with pytest.raises(ValueError, match="unix:///path"):
        cad.DockerAPI("npipe:////./pipe/docker_engine")


# Records as this machine's kernel logged a memory-limit kill (cgroup v1,
# cgroupfs driver), and a systemd-driver host's form of the same line.
KMSG_KILL_V1 = (
    "6,6711,11385439001,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),"
    f"cpuset={CID},mems_allowed=0,oom_memcg=/docker/{CID},task_memcg=/docker/{CID},"
    "task=python3,pid=14535,uid=0"
)
KMSG_KILL_SYSTEMD = (
    "6,812,5000,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,"
    f"mems_allowed=0,oom_memcg=/system.slice/docker-{GONE}.scope,"
    f"task_memcg=/system.slice/docker-{GONE}.scope,task=java,pid=1,uid=1000"
)
KMSG_OTHER = [
    "6,6678,11385433981,-;docker0: port 1(vethe091cf8) entered blocking state",
    "4,6700,11385439000,-;python3 invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0",
    "3,6712,11385439002,-;Memory cgroup out of memory: Killed process 14535 (python3)",
    # A host process killed by the global OOM killer: no container.
    "6,6713,11385439003,-;oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,"
    "mems_allowed=0,global_oom,task_memcg=/user.slice,task=stress,pid=99,uid=0",
]


def test_kmsg_records_name_the_killed_container():
    assert kmsg.killed_container(KMSG_KILL_V1) == CID
    assert kmsg.killed_container(KMSG_KILL_SYSTEMD) == GONE
    assert [kmsg.killed_container(r) for r in KMSG_OTHER] == [None] * len(KMSG_OTHER)


def test_kmsg_kills_count_where_the_engine_and_the_cgroup_miss_them(tmp_path):
    """PID 1's kill: no engine event and the cgroup is gone, only the kernel
    log has it."""
    fifo = tmp_path / "kmsg"
    os.mkfifo(fifo)
    counter = cad.OomCounter()
    counter.cgroup(CID, 100.0, 1)  # the child's kill, read from the cgroup
    reader = threading.Thread(target=kmsg.follow, args=(counter.kernel, str(fifo)))
    reader.start()
    with open(fifo, "w") as device:
        device.write("\n".join([*KMSG_OTHER, KMSG_KILL_V1, KMSG_KILL_V1, KMSG_KILL_SYSTEMD]))
    reader.join(timeout=10)
    assert not reader.is_alive()
    assert counter.total(CID) == 2
    assert counter.total(GONE) == 1


def test_without_the_device_the_other_sources_still_count(tmp_path, caplog):
    counter = cad.OomCounter()
    kmsg.follow(counter.kernel, str(tmp_path / "missing"))
    assert "cap_add SYSLOG" in caplog.text
    assert counter.total(CID) == 0
