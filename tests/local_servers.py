"""Real servers started as local processes, shared by the integration tests
and the benchmarks: FerretDB (the MongoDB wire protocol on SQLite) and a
Selenium Grid 4 hub with one node driving Debian's chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

FERRETDB = os.environ.get("ACS_FERRETDB_BIN", "/var/cache/acs-build/bin/ferretdb")
SELENIUM_JAR = os.environ.get(
    "ACS_SELENIUM_JAR", "/var/cache/acs-build/selenium/package/jar/selenium-server-4.48.0.jar"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open within {timeout}s")


def stop_processes(procs) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


class FerretServer:
    """FerretDB on SQLite under `base`; stop()/start() keep port and data,
    which is what an outage test needs."""

    def __init__(self, base: Path, log_level: str = "warn"):
        self.base = base
        self.port = free_port()
        self.debug_port = free_port()
        self.log_level = log_level
        self.proc: subprocess.Popen | None = None
        (base / "data").mkdir(parents=True, exist_ok=True)
        (base / "state").mkdir(parents=True, exist_ok=True)

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def start(self) -> FerretServer:
        with open(self.base / "ferretdb.log", "ab") as log:
            self.proc = subprocess.Popen(
                [
                    FERRETDB,
                    "--handler=sqlite",
                    f"--sqlite-url=file:{self.base}/data/",
                    f"--listen-addr=127.0.0.1:{self.port}",
                    "--telemetry=disable",
                    f"--debug-addr=127.0.0.1:{self.debug_port}",
                    f"--state-dir={self.base}/state",
                    f"--log-level={self.log_level}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_port(self.port)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_processes([self.proc])
        self.proc = None


class SeleniumGrid:
    """A Grid 4 hub and one node (`max_sessions` slots) from the Selenium
    server jar, the node detecting Debian's chromium and chromedriver."""

    def __init__(self, base: Path, max_sessions: int = 3):
        self.base = base
        self.max_sessions = max_sessions
        self.hub_port = free_port()
        self.procs: list[subprocess.Popen] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.hub_port}"

    def _java(self, role: str, *args: str) -> subprocess.Popen:
        with open(self.base / f"{role}.log", "ab") as log:
            return subprocess.Popen(
                ["java", "-jar", SELENIUM_JAR, role, "--host", "127.0.0.1", *args],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def start(self, timeout: float = 90) -> SeleniumGrid:
        import requests

        pub, sub, node_port = free_port(), free_port(), free_port()
        self.procs.append(
            self._java(
                "hub",
                "--port",
                str(self.hub_port),
                "--publish-events",
                f"tcp://*:{pub}",
                "--subscribe-events",
                f"tcp://*:{sub}",
            )
        )
        self.procs.append(
            self._java(
                "node",
                "--port",
                str(node_port),
                "--publish-events",
                f"tcp://127.0.0.1:{pub}",
                "--subscribe-events",
                f"tcp://127.0.0.1:{sub}",
                "--max-sessions",
                str(self.max_sessions),
                "--override-max-sessions",
                "true",
                "--selenium-manager",
                "false",
                "--detect-drivers",
                "true",
            )
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/status", timeout=2).json()["value"]["ready"]:
                    return self
            except (requests.RequestException, ValueError, KeyError):
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"Selenium Grid not ready within {timeout}s; logs in {self.base}")

    def stop(self) -> None:
        stop_processes(list(reversed(self.procs)))
        self.procs = []
