"""playbooks/images.yml on this machine: a run with unchanged inputs changes
nothing, and the archive it writes holds the whole set under its names."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.integration, pytest.mark.docker]

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
DEFAULTS = yaml.safe_load((REPO / "roles" / "local_images" / "defaults" / "main.yml").read_text())


def images_playbook(*extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    env["ANSIBLE_NOCOLOR"] = "1"
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "playbooks/images.yml", *extra],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )


def recap(proc: subprocess.CompletedProcess) -> dict[str, int]:
    match = re.search(r"ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", proc.stdout)
    assert match, proc.stdout[-3000:] + proc.stderr[-3000:]
    return dict(
        zip(("ok", "changed", "unreachable", "failed"), map(int, match.groups()), strict=True)
    )


def test_second_run_with_unchanged_inputs_changes_nothing():
    only = [
        "-e",
        json.dumps({"local_images_only": ["nginx", "mongodb"], "local_images_save": False}),
    ]
    first = images_playbook(*only)
    assert recap(first)["failed"] == 0, first.stdout[-3000:]
    second = images_playbook(*only)
    result = recap(second)
    # every image build reports "changed", so 0 means nothing was rebuilt
    assert result["changed"] == 0, second.stdout[-3000:]
    assert result["failed"] == 0


def test_archive_holds_every_image_of_the_set():
    saved = images_playbook("-e", json.dumps({"local_images_save": True}))
    assert recap(saved)["failed"] == 0, saved.stdout[-3000:]
    archive = Path(DEFAULTS["local_images_archive"])
    assert archive.is_file(), saved.stdout[-3000:]
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    tags = {tag for entry in manifest for tag in entry.get("RepoTags") or []}
    wanted = {f"{i['name']}:{i['tag']}" for i in DEFAULTS["local_images_catalog"]}
    wanted.add(DEFAULTS["local_images_base_image"])
    assert wanted <= tags, sorted(wanted - tags)
