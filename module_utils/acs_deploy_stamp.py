# Copyright: Airflow Crawler System contributors
# Apache License 2.0
"""The deploy stamp: a fingerprint of what a full converge of site.yml
produced, so that a deploy with nothing to do can say so without running the
roles (library/deploy_stamp.py, plugins/action/deploy_stamp.py).

A fingerprint is a dict of sections, each a sha256 of canonical JSON. Only the
digests and counts are ever written or printed: secrets in role variables or
rendered files (.env, tokens, keys) go into a digest and nowhere else.

Controller side (inputs): the files that shape a deploy and the effective
value of every role variable. Host side (state): the managed files, the
project's containers, the local image set, the engine and compose versions
and the health of the services the deploy starts.
"""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import json
import os
import socket
import stat
import subprocess
import tempfile
import time
from urllib.parse import quote
from urllib.request import urlopen

STAMP_VERSION = 1
# Files bigger than this (binaries, image archives) count by size and mtime:
# hashing hundreds of MB on every deploy would cost what the stamp saves.
HASH_LIMIT = 4 * 1024 * 1024
# Build outputs and caches that the deploy itself or the tests write.
SKIP_NAMES = {"__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache", ".molecule", "build"}
SKIP_SUFFIXES = (".pyc", ".pyo", ".retry")


def digest(value) -> str:
    """sha256 of canonical JSON; anything JSON cannot say is taken as str()."""
    blob = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def file_sha256(path: str) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            sha.update(chunk)
    return sha.hexdigest()


def path_entry(path: str, with_owner: bool = True) -> list:
    """What a file task manages of one path: type, mode, owner and content."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return ["absent"]
    mode = stat.S_IMODE(st.st_mode)
    owner = [st.st_uid, st.st_gid] if with_owner else []
    if stat.S_ISLNK(st.st_mode):
        return ["link", os.readlink(path)]
    if stat.S_ISDIR(st.st_mode):
        return ["dir", oct(mode), *owner]
    if st.st_size > HASH_LIMIT:
        return ["file", oct(mode), *owner, st.st_size, int(st.st_mtime)]
    return ["file", oct(mode), *owner, file_sha256(path)]


def tree(root: str, excludes=(), with_owner: bool = True) -> dict:
    """{relative path: path_entry} of root and everything below it, except
    the relative paths in excludes (data, logs, the stamp) and build caches."""
    entries = {".": path_entry(root, with_owner)}
    if entries["."][0] != "dir":
        return entries
    excluded = {e.strip("/") for e in excludes}
    for top, dirs, files in os.walk(root):
        rel_top = os.path.relpath(top, root)
        keep = []
        for name in sorted(dirs):
            rel = os.path.normpath(os.path.join(rel_top, name))
            if name in SKIP_NAMES or rel in excluded:
                continue
            keep.append(name)
            entries[rel] = path_entry(os.path.join(top, name), with_owner)
        dirs[:] = keep
        for name in sorted(files):
            rel = os.path.normpath(os.path.join(rel_top, name))
            if rel in excluded or name.endswith(SKIP_SUFFIXES):
                continue
            entries[rel] = path_entry(os.path.join(top, name), with_owner)
    return entries


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, sock_path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self._sock_path = sock_path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._sock_path)


def docker_get(path: str, sock_path: str = "/var/run/docker.sock", timeout: float = 10):
    """GET on the Engine API: one request costs milliseconds, a CLI call ~0.1 s."""
    conn = _UnixHTTPConnection(sock_path, timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"docker API {path}: HTTP {resp.status} {body[:200]!r}")
        return json.loads(body)
    finally:
        conn.close()


def containers(project: str, get=docker_get) -> list[dict]:
    """The project's containers as the stamp sees them. Health is kept apart
    from the fingerprint (a service may still be starting when the stamp is
    written) and checked on its own before the fast path is taken."""
    query = json.dumps({"label": [f"com.docker.compose.project={project}"]})
    found = get("/containers/json?all=1&filters=" + quote(query, safe=""))
    result = []
    for item in found:
        labels = item.get("Labels") or {}
        status = item.get("Status") or ""
        health = "none"
        for word in ("unhealthy", "healthy", "health: starting"):
            if f"({word}" in status:
                health = word.replace("health: ", "")
                break
        exit_code = None
        if item.get("State") == "exited" and "Exited (" in status:
            exit_code = int(status.split("Exited (", 1)[1].split(")", 1)[0])
        result.append(
            {
                "service": labels.get("com.docker.compose.service", ""),
                "number": labels.get("com.docker.compose.container-number", ""),
                "image": item.get("ImageID", ""),
                "config_hash": labels.get("com.docker.compose.config-hash", ""),
                "state": item.get("State", ""),
                "exit_code": exit_code,
                "health": health,
            }
        )
    return sorted(result, key=lambda c: (c["service"], c["number"]))


def unhealthy(found: list[dict]) -> list[str]:
    """Containers the deploy would not leave as they are: running but not
    healthy, or a one-shot that did not exit 0."""
    bad = []
    for c in found:
        name = f"{c['service']}-{c['number']}"
        if c["state"] == "running":
            if c["health"] not in ("healthy", "none"):
                bad.append(f"{name} ({c['health']})")
        elif c["state"] != "exited" or c["exit_code"] != 0:
            bad.append(f"{name} ({c['state']}, exit {c['exit_code']})")
    return bad


def docker_gateway(get=docker_get) -> str:
    """The default bridge's address on the host (docker0), where host services
    for the containers listen. The engine names it in the bridge network's
    IPAM configuration, unless it chose it itself: a fresh Debian docker.io
    lists the subnet alone, and then the gateway is the subnet's first
    address, as the engine assigns it."""
    for config in get("/networks/bridge").get("IPAM", {}).get("Config") or []:
        if config.get("Gateway"):
            return config["Gateway"]
        try:
            return str(next(ipaddress.ip_network(config.get("Subnet", "")).hosts()))
        except (ValueError, StopIteration):
            continue
    return "127.0.0.1"


def images(refs, get=docker_get) -> dict:
    """{reference: image id or 'absent'} of the local image set."""
    ids = {}
    for image in get("/images/json"):
        for tag in image.get("RepoTags") or []:
            ids[tag] = image.get("Id", "")
    return {ref: ids.get(ref if ":" in ref else ref + ":latest", "absent") for ref in sorted(refs)}


def compose_version() -> str:
    proc = subprocess.run(
        ["docker", "compose", "version", "--short"], capture_output=True, text=True, check=False
    )
    return proc.stdout.strip() if proc.returncode == 0 else "absent"


def versions(get=docker_get) -> dict:
    engine = get("/version")
    return {
        "engine": engine.get("Version", ""),
        "api": engine.get("ApiVersion", ""),
        "compose": compose_version(),
    }


def http_ok(url: str, timeout: float = 3) -> bool:
    try:
        with urlopen(url, timeout=timeout) as resp:  # noqa: S310 (URLs of the role)
            return 200 <= resp.status < 300
    except OSError:
        return False


def compare(stamp: dict | None, sections: dict) -> list[str]:
    """Names of the sections that differ from the stamp (all: no stamp)."""
    if not stamp or stamp.get("version") != STAMP_VERSION:
        return ["no stamp of a full deploy"]
    old = stamp.get("sections") or {}
    return sorted(name for name in set(old) | set(sections) if old.get(name) != sections.get(name))


def read_stamp(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def write_stamp(path: str, sections: dict, counts: dict) -> dict:
    """Write atomically (a temporary file in the same directory, renamed),
    mode 0600 from the start: a reader sees the old stamp or the new one."""
    stamp = {
        "version": STAMP_VERSION,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "sections": sections,
        "counts": counts,
    }
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".deploy-stamp.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), 0o600)
            json.dump(stamp, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return stamp
