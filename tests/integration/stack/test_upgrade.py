"""playbooks/upgrade.yml on the deployed stack, under constant load through
nginx: a forced upgrade (every container of the project's own images
replaced) drops no request; an upgrade to a broken API image rolls back by
itself while the old version keeps serving; document counts are equal
before and after. Numbers (requests sent/failed, latencies, time to the
automatic rollback) are printed, not asserted against a clock."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
import requests
from stack_support import BIN, PROJECT, PROJECT_DIR, REPO, Run, api_key, compose

API = "http://127.0.0.1:8000"  # nginx on the loopback
RELEASES = PROJECT_DIR / "releases"
BROKEN = "acs/crawler:upgrade-test-broken"
# A working API image of another id (the same one, relabelled): a real upgrade.
NEXT = "acs/crawler:upgrade-test-next"
# Load: 50 requests/s, bounded in time and count, on the loopback only.
RATE = 50
MAX_SECONDS = 420
MAX_REQUESTS = RATE * MAX_SECONDS


def stamp(monotonic: float) -> str:
    """UTC wall time of a monotonic instant (to set next to the playbook's timeline)."""
    return time.strftime("%H:%M:%S", time.gmtime(time.time() - (time.monotonic() - monotonic)))


@dataclass
class Load:
    """Open-loop constant load: request i is sent at t0 + i/RATE whatever the
    answers before it, alternating a read of /api/sources (MongoDB behind it)
    and /health."""

    headers: dict
    sent: int = 0
    failed: list = field(default_factory=list)
    latencies: list = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def one(self, i: int) -> None:
        url = f"{API}/api/sources" if i % 2 else f"{API}/health"
        t = time.monotonic()
        try:
            answer = requests.get(url, headers=self.headers, timeout=30)
            if answer.status_code != 200:
                self.failed.append(f"{stamp(t)} {url}: HTTP {answer.status_code}")
        except requests.RequestException as exc:
            self.failed.append(f"{stamp(t)} {url}: {type(exc).__name__}")
        self.latencies.append(time.monotonic() - t)

    def run(self) -> None:
        t0 = time.monotonic()
        with ThreadPoolExecutor(max_workers=64) as pool:
            while not self.stop.is_set() and self.sent < MAX_REQUESTS:
                if time.monotonic() - t0 > MAX_SECONDS:
                    break
                pool.submit(self.one, self.sent)
                self.sent += 1
                time.sleep(max(0.0, t0 + self.sent / RATE - time.monotonic()))

    def report(self) -> str:
        lat = sorted(self.latencies) or [0.0]
        return (
            f"{self.sent} requests sent at {RATE}/s, {len(self.failed)} failed; latency "
            f"p50 {lat[len(lat) // 2] * 1000:.0f} ms, p99 {lat[int(len(lat) * 0.99)] * 1000:.0f} ms, "
            f"max {lat[-1] * 1000:.0f} ms"
        )


def upgrade(*args: str, playbook: str = "playbooks/upgrade.yml") -> tuple[Run, Load]:
    """The upgrade (or another) playbook under load; the load stops when it ends."""
    load = Load(api_key())
    loader = threading.Thread(target=load.run)
    loader.start()
    time.sleep(2)  # the load is running before anything changes
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    t0 = time.monotonic()
    try:
        proc = subprocess.run(
            [
                str(BIN / "ansible-playbook"),
                playbook,
                "-i",
                "inventory/local",
                # The image set is the deployed one; tests hand images in.
                "-e",
                "upgrade_build_images=false",
                "-e",
                "upgrade_watch_seconds=10",
                *args,
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=MAX_SECONDS - 30,
        )
    finally:
        time.sleep(2)  # and keeps running until the playbook is done
        load.stop.set()
        loader.join()
    return Run(proc, time.monotonic() - t0), load


def api_containers() -> dict[str, str]:
    out = subprocess.run(
        [
            "docker",
            "ps",
            "-q",
            "--no-trunc",
            "--filter",
            f"label=com.docker.compose.project={PROJECT}",
            "--filter",
            "label=com.docker.compose.service=api",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    images = subprocess.run(
        ["docker", "inspect", "--format", "{{.Image}}", *out],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return dict(zip(out, images, strict=True))


def image_id(ref: str) -> str:
    return subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", ref],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def record(release_id: str) -> dict:
    return json.loads((RELEASES / f"{release_id}.json").read_text())


def release_of(run: Run) -> str:
    for line in run.proc.stdout.splitlines():
        if "release " in line and "(from " in line:
            return line.split("release ", 1)[1].split()[0]
    raise AssertionError(run.proc.stdout[-4000:])


def derived_image(tag: str, dockerfile: str) -> None:
    """Builds `tag` from a Dockerfile given as text (no build context)."""
    subprocess.run(
        ["docker", "build", "-q", "-t", tag, "-"],
        input=dockerfile,
        text=True,
        check=True,
        capture_output=True,
    )


def rolled_back(run: Run, load: Load, what: str) -> dict:
    """The attempt failed, said it rolled back, and is recorded so; its record."""
    print(f"\n{what}: {run.seconds:.1f} s; {load.report()}")
    assert run.proc.returncode != 0, run.proc.stdout[-4000:]
    assert "rolled back to" in run.proc.stdout, run.proc.stdout[-6000:]
    release = record(release_of(run))
    print(f"release {release['id']}: rollback {release['rollback']}")
    assert release["status"] == "rolled_back"
    return release


@pytest.fixture(scope="module")
def api_image(deployed):
    """The deployed API image; whatever a test does, its reference names it
    again afterwards and the stack runs it."""
    ref = json.loads(compose("config", "--format", "json").stdout)["services"]["api"]["image"]
    original = image_id(ref)
    yield ref, original
    subprocess.run(["docker", "tag", original, ref], check=True)
    if set(api_containers().values()) != {original}:
        compose("up", "-d", "--wait", "api", check=False)


@pytest.fixture(scope="module")
def forced_upgrade(api_image):
    """A forced upgrade to a new API image (every container of the project's
    own images replaced), under load."""
    ref, _ = api_image
    derived_image(NEXT, f"FROM {ref}\nLABEL org.acs.test=upgrade-next\n")
    before = api_containers()
    run, load = upgrade(
        "-e", "upgrade_force=true", "-e", json.dumps({"upgrade_images": {"api": NEXT}})
    )
    print(f"\nforced upgrade: {run.seconds:.1f} s; {load.report()}")
    yield run, load, before, image_id(NEXT)
    subprocess.run(["docker", "rmi", NEXT], check=False, capture_output=True)


def test_forced_upgrade_replaces_the_api_without_dropping_a_request(forced_upgrade):
    run, load, before, new = forced_upgrade
    assert run.proc.returncode == 0, run.proc.stdout[-6000:] + run.proc.stderr[-2000:]
    release = record(release_of(run))
    print(
        f"release {release['id']}: API replaced in {release['replace_seconds']} s, watch {release['watch']}"
    )
    assert load.failed == [], load.failed[:20]
    after = api_containers()
    assert after and not set(after) & set(before), "every API container is a new one"
    assert set(after.values()) == {new}
    assert release["status"] == "succeeded" and release["force"] is True
    assert release["images"]["api"]["image_id"] == new
    assert release["documents_before"] == release["documents_after"]
    assert json.loads((RELEASES / "current.json").read_text())["id"] == release["id"]


def test_rollback_returns_to_the_named_release_without_dropping_a_request(
    api_image, forced_upgrade
):
    _, original = api_image
    upgraded = record(release_of(forced_upgrade[0]))
    run, load = upgrade(
        "-e", f"rollback_release={upgraded['previous']}", playbook="playbooks/rollback.yml"
    )
    print(f"\nrollback to {upgraded['previous']}: {run.seconds:.1f} s; {load.report()}")
    assert run.proc.returncode == 0, run.proc.stdout[-6000:] + run.proc.stderr[-2000:]
    assert load.failed == [], load.failed[:20]
    assert set(api_containers().values()) == {original}
    current = json.loads((RELEASES / "current.json").read_text())
    assert current["kind"] == "rollback" and current["previous"] == upgraded["id"]
    assert current["images"]["api"]["image_id"] == original


@pytest.fixture()
def broken_image(api_image):
    """An API image that never answers: same image, a command that never
    listens (its health check fails for ever)."""
    ref, _ = api_image
    derived_image(BROKEN, f'FROM {ref}\nCMD ["sleep", "infinity"]\n')
    yield BROKEN
    subprocess.run(["docker", "rmi", "-f", BROKEN], check=False, capture_output=True)


def test_an_upgrade_to_a_broken_api_image_rolls_back_by_itself(api_image, broken_image):
    ref, original = api_image
    run, load = upgrade(
        "-e",
        json.dumps({"upgrade_images": {"api": broken_image}}),
        "-e",
        "upgrade_api_ready_timeout=20",
        # The gate is the forced upgrade's to prove; here it only costs time.
        "-e",
        "upgrade_backup=false",
    )
    release = rolled_back(run, load, "broken upgrade")
    # The old version kept serving: no request failed, and it still runs.
    assert load.failed == [], load.failed[:20]
    assert set(api_containers().values()) == {original}
    assert image_id(ref) == original, "the reference names the previous image again"
    assert json.loads((RELEASES / "current.json").read_text())["id"] == release["previous"]


UNREACHABLE = "acs/crawler:upgrade-test-unreachable"


@pytest.fixture()
def unreachable_image(api_image):
    """An API image that passes its own health check (it listens on the
    container's loopback) but that nginx cannot reach: it gets through the
    readiness check, takes the old replicas' place, and only the watch sees
    it fail."""
    ref, _ = api_image
    derived_image(
        UNREACHABLE,
        f'FROM {ref}\nCMD ["uvicorn", "crawler.api.app:app", "--host", "127.0.0.1", "--port", "8000"]\n',
    )
    yield UNREACHABLE
    subprocess.run(["docker", "rmi", "-f", UNREACHABLE], check=False, capture_output=True)


def test_an_upgrade_the_watch_finds_failing_is_rolled_back_past_the_broken_replicas(
    api_image, unreachable_image
):
    """The rollback after the replacement: the broken replicas hold the old
    names and are unhealthy to nginx; the release's replicas start next to
    them, and only their health is waited for."""
    ref, original = api_image
    run, load = upgrade(
        "-e",
        json.dumps({"upgrade_images": {"api": unreachable_image}}),
        "-e",
        "upgrade_backup=false",
    )
    release = rolled_back(run, load, "unreachable upgrade")
    assert "Watch" in release["rollback"]["reason"], release["rollback"]
    # Requests failed between the old replicas' stop and the rollback (the
    # price of an image only the watch can judge); the release serves again.
    assert set(api_containers().values()) == {original}
    assert image_id(ref) == original
    for _ in range(20):
        assert requests.get(f"{API}/health", timeout=10).status_code == 200
