"""acs-local/cadvisor:0 -- the part of cAdvisor (gcr.io/cadvisor/cadvisor) the
stack's alerts read, for hosts without a registry.

Same port (8080), paths (/metrics, /healthz), flags the stack passes and
metric names and labels as cAdvisor's, for every Docker container:

- container_memory_usage_bytes, container_memory_working_set_bytes,
  container_spec_memory_limit_bytes, container_memory_failcnt,
  container_last_seen, container_start_time_seconds: running containers,
  read from cgroupfs (v1 or v2), as cAdvisor reads them, never from the
  engine's stats API (empty on some engines, docs ENVIRONMENT).
- container_oom_events_total: every container the engine still lists, so a
  kill that stops a container for good is still scraped once.

Labels: id (the cgroup path), name, image and container_label_<label> for the
labels --whitelisted_container_labels names (all when
--store_container_labels is true, cAdvisor's default).

OOM kills are counted from three sources and the largest count is exported:
the kernel's log (/dev/kmsg, as cAdvisor; the only one that sees the kill of
a container's PID 1 on every engine), the engine's `oom` events (one per
kill where the engine sends them) and the cgroup's own counter
(memory.oom_control `oom_kill` in v1, memory.events `oom_kill` in v2), which
restarts at zero with every new cgroup, i.e. every container restart.

Files: acs_cgroups.py (cgroupfs), acs_docker_api.py (the engine API),
acs_kmsg.py (the kernel log).
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import re
import threading
import time
import urllib.parse
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from acs_cgroups import read_memory
from acs_docker_api import DockerAPI
from acs_kmsg import follow as follow_kmsg
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

LOG = logging.getLogger("acs_cadvisor")


def label_name(key):
    """cAdvisor's container_label_<key> with every other character as `_`."""
    return "container_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", key)


def parse_time(text):
    """Seconds since the epoch of an engine timestamp (nanosecond RFC 3339)."""
    if not text or text.startswith("0001-"):
        return None
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", text)
    if not match:
        return None
    base, fraction, zone = match.groups()
    zone = "+00:00" if zone == "Z" else zone
    seconds = datetime.fromisoformat(base + zone).timestamp()
    return seconds + (float(fraction) if fraction else 0.0)


class OomCounter:
    """Per container: kernel-logged kills, engine `oom` events and cgroup
    oom_kill counts, the last summed over the container's runs (a restart
    starts a new cgroup at zero)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._events = {}
        self._kernel = {}
        self._runs = {}  # id -> [started_at, kills of earlier runs, kills of this run]

    def event(self, cid):
        with self._lock:
            self._events[cid] = self._events.get(cid, 0) + 1

    def kernel(self, cid):
        with self._lock:
            self._kernel[cid] = self._kernel.get(cid, 0) + 1

    def cgroup(self, cid, started_at, kills):
        if kills is None:
            return
        with self._lock:
            run = self._runs.setdefault(cid, [started_at, 0, 0])
            if run[0] != started_at or kills < run[2]:
                run[:] = [started_at, run[1] + run[2], 0]
            run[2] = kills

    def forget(self, cid):
        with self._lock:
            for table in (self._events, self._kernel, self._runs):
                table.pop(cid, None)

    def total(self, cid):
        with self._lock:
            run = self._runs.get(cid, [None, 0, 0])
            return max(self._events.get(cid, 0), self._kernel.get(cid, 0), run[1] + run[2])


def watch_events(api, counter, stop, retry_seconds=2.0):
    """Follows the engine's container events until `stop` is set."""
    filters = json.dumps({"type": ["container"], "event": ["oom", "destroy"]})
    path = "/events?" + urllib.parse.urlencode({"filters": filters})
    while not stop.is_set():
        try:
            for event in api.stream(path):
                cid = event.get("id") or event.get("Actor", {}).get("ID", "")
                action = event.get("Action") or event.get("status")
                if action == "oom":
                    LOG.info("oom event for %s", cid[:12])
                    counter.event(cid)
                elif action == "destroy":
                    counter.forget(cid)
                if stop.is_set():
                    return
        except (OSError, http.client.HTTPException, ValueError) as exc:
            LOG.warning("docker events: %s; again in %.0fs", exc, retry_seconds)
        stop.wait(retry_seconds)


class ContainerCollector:
    """Builds the metric families at each scrape from the engine and cgroupfs."""

    def __init__(self, api, counter, cgroup_root, labels=None, all_labels=False):
        self.api, self.counter, self.cgroup_root = api, counter, cgroup_root
        self.labels, self.all_labels = list(labels or []), all_labels

    def _containers(self):
        found = []
        for summary in self.api.get("/containers/json?all=1"):
            cid = summary["Id"]
            entry = {
                "id": cid,
                "name": (summary.get("Names") or ["/" + cid[:12]])[0].lstrip("/"),
                "image": summary.get("Image", ""),
                "labels": summary.get("Labels") or {},
                "running": summary.get("State") == "running",
                "memory": None,
                "started": None,
            }
            if entry["running"]:
                try:
                    state = self.api.get(f"/containers/{cid}/json").get("State", {})
                except OSError:
                    continue  # removed between the list and the inspect
                entry["started"] = parse_time(state.get("StartedAt"))
                entry["memory"] = read_memory(self.cgroup_root, cid)
                if entry["memory"]:
                    self.counter.cgroup(cid, entry["started"], entry["memory"]["oom_kills"])
            found.append(entry)
        return found

    def describe(self):
        return []

    def collect(self):
        containers = self._containers()
        keys = sorted(
            {k for c in containers for k in c["labels"]} if self.all_labels else set(self.labels)
        )
        names = ["id", "image", "name", *map(label_name, keys)]

        def values(c):
            cgroup_id = c["memory"]["id"] if c["memory"] else f"/docker/{c['id']}"
            return [cgroup_id, c["image"], c["name"], *(c["labels"].get(k, "") for k in keys)]

        families = {
            "usage": GaugeMetricFamily(
                "container_memory_usage_bytes",
                "Current memory usage in bytes, including all memory regardless of when it was accessed",
                labels=names,
            ),
            "working_set": GaugeMetricFamily(
                "container_memory_working_set_bytes",
                "Current working set in bytes.",
                labels=names,
            ),
            "limit": GaugeMetricFamily(
                "container_spec_memory_limit_bytes", "Memory limit for the container.", labels=names
            ),
            # cAdvisor types it a counter; prometheus_client would then add
            # _total to the name, and the name is the contract.
            "failcnt": GaugeMetricFamily(
                "container_memory_failcnt", "Number of memory usage hits limits", labels=names
            ),
        }
        last_seen = GaugeMetricFamily(
            "container_last_seen", "Last time a container was seen by the exporter", labels=names
        )
        started = GaugeMetricFamily(
            "container_start_time_seconds",
            "Start time of the container since unix epoch in seconds.",
            labels=names,
        )
        oom = CounterMetricFamily(
            "container_oom_events",
            "Count of out of memory events observed for the container",
            labels=names,
        )
        now = time.time()
        for c in containers:
            labels = values(c)
            oom.add_metric(labels, self.counter.total(c["id"]))
            if not c["memory"]:
                continue
            for key, family in families.items():
                if c["memory"][key] is not None:
                    family.add_metric(labels, c["memory"][key])
            last_seen.add_metric(labels, now)
            if c["started"] is not None:
                started.add_metric(labels, c["started"])
        yield from families.values()
        yield from (last_seen, started, oom)


def make_handler(registry):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                body, ctype, status = b"ok", "text/plain", 200
            elif path == "/metrics":
                try:
                    body, status = generate_latest(registry), 200
                except (OSError, http.client.HTTPException, ValueError) as exc:
                    LOG.error("scrape failed: %s", exc)
                    body, status = f"scrape failed: {exc}\n".encode(), 500
                ctype = "text/plain; version=0.0.4; charset=utf-8"
            else:
                body, ctype, status = b"not found\n", "text/plain", 404
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args):
            pass  # one line per scrape would flood the json-file log

    return Handler


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--listen_ip", default="")
    parser.add_argument("--docker", default="unix:///var/run/docker.sock")
    parser.add_argument("--store_container_labels", default="true")
    parser.add_argument("--whitelisted_container_labels", default="")
    # Not cAdvisor flags: where cgroupfs and the kernel log are (tests point
    # them at fixtures).
    parser.add_argument("--cgroup_root", default="/sys/fs/cgroup")
    parser.add_argument("--kmsg", default="/dev/kmsg")
    args, ignored = parser.parse_known_args(argv)
    # cAdvisor's other flags (-logtostderr, --docker_only, ...) mean nothing here.
    for flag in ignored:
        LOG.info("ignoring cAdvisor flag %s", flag)
    return args


def build(args):
    api = DockerAPI(args.docker)
    counter = OomCounter()
    collector = ContainerCollector(
        api,
        counter,
        args.cgroup_root,
        labels=[k for k in args.whitelisted_container_labels.split(",") if k],
        all_labels=args.store_container_labels.lower() in ("true", "1", "t"),
    )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return api, counter, registry


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = parse_args(argv)
    api, counter, registry = build(args)
    stop = threading.Event()
    threading.Thread(target=watch_events, args=(api, counter, stop), daemon=True).start()
    threading.Thread(target=follow_kmsg, args=(counter.kernel, args.kmsg), daemon=True).start()
    server = ThreadingHTTPServer((args.listen_ip, args.port), make_handler(registry))
    LOG.info("serving /metrics on :%d, engine %s", args.port, args.docker)
    try:
        server.serve_forever()
    finally:
        stop.set()


if __name__ == "__main__":
    main()
