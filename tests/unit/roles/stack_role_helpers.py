"""Helpers of the stack role tests (imported by conftest and the tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
ROLES = ["stack", "crawler", "nginx", "selenium_grid", "monitoring", "mongodb", "airflow"]


def ansible_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    env["ANSIBLE_NOCOLOR"] = "1"
    env["ANSIBLE_FORCE_COLOR"] = "0"
    return env


def run_playbook(args: list[str], timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "ansible-playbook"), *args],
        cwd=REPO,
        env=ansible_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class Rendered:
    def __init__(self, root: Path):
        self.root = root

    def text(self, rel: str) -> str:
        return (self.root / rel).read_text()

    def yaml(self, rel: str):
        return yaml.safe_load(self.text(rel))

    @property
    def compose(self) -> dict:
        """The compose model as Docker Compose itself resolves it."""
        out = subprocess.run(
            [
                "docker",
                "compose",
                "--project-directory",
                str(self.root),
                "config",
                "--format",
                "json",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(out.stdout)


def render(tmp: Path, extra: dict, inventory: Path | None = None) -> Rendered:
    proc = run_playbook(
        [
            *(["-i", str(inventory)] if inventory else []),
            "tests/unit/roles/render.yml",
            "-e",
            f"out_dir={tmp}",
            "-e",
            json.dumps(extra),
        ]
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return Rendered(tmp)
