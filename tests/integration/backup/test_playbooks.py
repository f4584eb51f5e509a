"""playbooks/runbook/backup.yml and playbooks/runbook/restore.yml against a mongodb container
(the local drop-in image, FerretDB) on a network the test creates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from backup_support import REPO, snapshot

from crawler import _backup_engine as engine

sys.path.insert(0, str(REPO / "tests"))
from fake_airflow import FakeAirflow

pytestmark = [pytest.mark.integration, pytest.mark.docker]

PLAYBOOK_SIGNING_KEY = "playbook-test-signing-key"
IMAGE = os.environ.get("ACS_MONGODB_TEST_IMAGE", "acs-local/mongodb:7.0-ferretdb1.24.2")


@pytest.fixture
def stack_mongodb():
    """A container named like the stack's mongodb service, on its own network."""
    import docker
    import pymongo

    client = docker.from_env()
    try:
        client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"image {IMAGE} is missing: build the local images first (make images)")
    project = "acs-test-" + uuid.uuid4().hex[:8]
    network = client.networks.create(project + "_default")
    container = client.containers.run(
        IMAGE,
        name=f"{project}-mongodb-1",
        network=network.name,
        detach=True,
        labels={"com.docker.compose.project": project, "com.docker.compose.service": "mongodb"},
    )
    try:
        container.reload()
        ip = container.attrs["NetworkSettings"]["Networks"][network.name]["IPAddress"]
        mongo = pymongo.MongoClient(f"mongodb://{ip}:27017/", serverSelectionTimeoutMS=30000)
        mongo.admin.command("ping")
        yield project, mongo
        mongo.close()
    finally:
        container.remove(force=True)
        network.remove()


def run_playbook(tmp_path, playbook, *extra):
    (tmp_path / "ansible.cfg").write_text(
        "[defaults]\n"
        f"library = {REPO / 'library'}\n"
        f"module_utils = {REPO / 'module_utils'}\n"
        f"roles_path = {REPO / 'roles'}\n"
        "stdout_callback = ansible.posix.json\n"
        "retry_files_enabled = false\n"
    )
    (tmp_path / "hosts.yml").write_text(
        json.dumps(
            {
                "crawler_stack": {
                    "hosts": {
                        "localhost": {
                            "ansible_connection": "local",
                            "ansible_python_interpreter": sys.executable,
                        }
                    }
                }
            }
        )
    )
    # The stack's generated credentials, as the playbooks read them: the
    # signing key comes from there, not from the environment.
    # A test may have added other credentials to the file: they are kept.
    creds = tmp_path / "credentials.yml"
    known = creds.read_text() if creds.exists() else ""
    if "backup_signing_key:" not in known:
        creds.write_text(f"{known}backup_signing_key: {PLAYBOOK_SIGNING_KEY}\n")
    cmd = [
        str(Path(sys.executable).with_name("ansible-playbook")),
        "-i",
        str(tmp_path / "hosts.yml"),
        str(REPO / "playbooks" / "runbook" / playbook),
        "-e",
        f"stack_credentials_file={tmp_path / 'credentials.yml'}",
        *extra,
    ]
    env = dict(os.environ, ANSIBLE_CONFIG=str(tmp_path / "ansible.cfg"))
    env.pop("ACS_BACKUP_SIGNING_KEY", None)
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    report = json.loads(proc.stdout)
    tasks = {
        t["task"]["name"]: t["hosts"].get("localhost", {}) for t in report["plays"][0]["tasks"]
    }
    return proc.returncode, tasks


def test_backup_then_restore_playbooks(stack_mongodb, tmp_path):
    project, mongo = stack_mongodb
    mongo.crawler.pages.insert_many([{"url": f"u{i}", "n": i} for i in range(150)])
    mongo.crawler.pages.create_index("url", unique=True)
    original = snapshot(mongo, ("crawler",))
    backups = tmp_path / "backups"
    common = ["-e", f"stack_project_name={project}", "-e", f"stack_backup_dir={backups}"]

    rc, tasks = run_playbook(tmp_path, "backup.yml", *common, "-e", "backup_label=nightly")
    assert rc == 0, tasks
    made = tasks["Back up MongoDB to " + str(backups)]
    assert made["changed"] is True
    assert made["totals"]["documents"] == 150
    assert made["method"] == "native"  # the FerretDB image has no mongodump
    assert made["signed"] is True
    key_id = engine.signing.resolve_key(PLAYBOOK_SIGNING_KEY).key_id
    assert json.loads(Path(made["manifest_path"]).read_text())["signature"]["key_id"] == key_id

    mongo.crawler.pages.delete_many({"n": {"$gte": 50}})
    damaged = snapshot(mongo, ("crawler",))

    rc, tasks = run_playbook(tmp_path, "restore.yml", *common, "-e", "confirm=no")
    assert rc != 0
    assert "restore not confirmed" in tasks["Refuse without confirmation"]["msg"]
    assert snapshot(mongo, ("crawler",)) == damaged

    # The crawl DAGs on schedule are paused for the restore, and only they resumed.
    airflow = FakeAirflow(
        {"crawl_a": False, "crawl_b": False, "crawl_off": True, "backup_dag": False}
    )
    # The Airflow login the pause/resume tasks read, beside the signing key.
    with (tmp_path / "credentials.yml").open("a") as creds:
        creds.write("airflow_admin_password: not-a-secret\n")
    with airflow.serving():
        rc, tasks = run_playbook(
            tmp_path,
            "restore.yml",
            *common,
            "-e",
            "confirm=yes",
            "-e",
            '{"restore_health_targets": []}',
            "-e",
            f"runbook_airflow_url={airflow.url}",
            "-e",
            f"runbook_credentials_file={tmp_path / 'credentials.yml'}",
        )
    assert rc == 0, tasks
    assert snapshot(mongo, ("crawler",)) == original
    assert airflow.calls == [
        ("crawl_a", True),
        ("crawl_b", True),
        ("crawl_a", False),
        ("crawl_b", False),
    ]
    assert airflow.dags == {
        "crawl_a": False,
        "crawl_b": False,
        "crawl_off": True,
        "backup_dag": False,
    }
    report = tasks["Safety backup of the replaced data"]["msg"]
    assert "-pre-restore.archive.gz" in report
    health = tasks["The stack is healthy after the restore"]
    assert health["healthy"] == ["mongodb"]

    # A restore that fails resumes them too (the resume is in an always: block).
    airflow.calls.clear()
    with airflow.serving():
        rc, tasks = run_playbook(
            tmp_path,
            "restore.yml",
            *common,
            "-e",
            "confirm=yes",
            "-e",
            "restore_from=no-such-backup",
            "-e",
            f"runbook_airflow_url={airflow.url}",
            "-e",
            f"runbook_credentials_file={tmp_path / 'credentials.yml'}",
        )
    assert rc != 0
    assert airflow.calls == [
        ("crawl_a", True),
        ("crawl_b", True),
        ("crawl_a", False),
        ("crawl_b", False),
    ]
    assert snapshot(mongo, ("crawler",)) == original


def test_backup_playbook_plans_a_one_off_tools_container_in_check_mode(stack_mongodb, tmp_path):
    project, _ = stack_mongodb
    backups = tmp_path / "backups"
    rc, tasks = run_playbook(
        tmp_path,
        "backup.yml",
        "--check",
        "-e",
        f"stack_project_name={project}",
        "-e",
        f"stack_backup_dir={backups}",
        "-e",
        f"backup_tools_network={project}_default",
    )
    assert rc == 0, [t.get("msg") for t in tasks.values() if t.get("failed")]
    planned = tasks["Back up MongoDB to " + str(backups)]
    assert planned["method"] == "docker"
    assert planned["plan"]["runs_in"].startswith("one-off container")
    assert planned["plan"]["network"] == f"{project}_default"
    assert planned["plan"]["image"] == IMAGE
    assert not backups.exists() or not any(backups.iterdir())
