"""Runs every molecule scenario (create, converge, idempotence, verify,
destroy) on a fresh systemd Debian host, so molecule's verdict is part of
the same pytest summary as everything else."""

import os
import subprocess
import sys
from pathlib import Path

import docker
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml"))
LOG_DIR = ROOT / "artifacts" / "molecule"


def _remove_test_host_volumes():
    # The test hosts keep /var/lib/docker on named volumes; a leftover one
    # would make the next "fresh" server start with an engine already full.
    client = docker.from_env()
    for volume in client.volumes.list():
        if volume.name.startswith("acs-molecule-"):
            volume.remove(force=True)


@pytest.mark.molecule
@pytest.mark.docker
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario_passes(scenario):
    _remove_test_host_volumes()
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / f"{scenario}.log"
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    with log_path.open("w") as log:
        result = subprocess.run(
            ["molecule", "test", "--scenario-name", scenario],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    _remove_test_host_volumes()
    tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-60:])
    assert result.returncode == 0, f"molecule {scenario} failed; log {log_path}:\n{tail}"
