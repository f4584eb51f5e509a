"""Real servers for the backup tests: FerretDB (MongoDB wire protocol, SQLite),
gofakes3 (an S3-compatible HTTP server built from its Go module by
scripts/build-s3-test-server.sh; it accepts any credentials) and moto's server
(scripts/install-s3-auth-test-server.sh), which checks them. The engine is imported from module_utils/
exactly as the crawler package and the Ansible modules load it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from backup_support import BIN_DIR, REPO

FERRETDB = Path(os.environ.get("ACS_FERRETDB_BIN", BIN_DIR / "ferretdb"))
GOFAKES3 = BIN_DIR / "gofakes3"
MOTO_SERVER = Path(os.environ.get("ACS_MOTO_SERVER", BIN_DIR.parent / "moto-venv/bin/moto_server"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"port {port} did not open within {timeout}s")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# The stack's generated backup_signing_key in production; every backup the
# tests make is signed with this one (tests of unsigned backups remove it).
TEST_SIGNING_KEY = "test-backup-signing-key-0123456789abcdef"


@pytest.fixture(autouse=True)
def signing_key(monkeypatch):
    """The key the engine (and the modules' subprocesses) sign and check with."""
    monkeypatch.setenv("ACS_BACKUP_SIGNING_KEY", TEST_SIGNING_KEY)
    monkeypatch.delenv("ACS_BACKUP_SIGNING_KEY_FILE", raising=False)
    return TEST_SIGNING_KEY


@pytest.fixture
def mongo_uri(tmp_path):
    """A fresh FerretDB per test: restores drop collections, tests stay independent."""
    if not FERRETDB.exists():
        pytest.fail(f"{FERRETDB} is missing: build FerretDB first (make test-host)")
    port = free_port()
    (tmp_path / "fdb-data").mkdir()
    (tmp_path / "fdb-state").mkdir()
    with open(tmp_path / "ferretdb.log", "wb") as log:
        proc = subprocess.Popen(
            [
                str(FERRETDB),
                "--handler=sqlite",
                f"--sqlite-url=file:{tmp_path}/fdb-data/",
                f"--listen-addr=127.0.0.1:{port}",
                "--telemetry=disable",
                f"--state-dir={tmp_path}/fdb-state",
                "--log-level=error",
                "--debug-addr=-",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_port(port, proc)
        yield f"mongodb://127.0.0.1:{port}/"
    finally:
        _stop(proc)


@pytest.fixture
def mongo(mongo_uri):
    import pymongo

    client = pymongo.MongoClient(mongo_uri, serverSelectionTimeoutMS=10000)
    yield client
    client.close()


@pytest.fixture
def seeded(mongo):
    """Crawler-shaped data: two databases, an index, an empty collection."""
    mongo.crawler.pages.insert_many(
        [{"url": f"https://example.test/{i}", "n": i, "tags": ["a", "b"]} for i in range(300)]
    )
    mongo.crawler.pages.create_index("url", unique=True)
    mongo.crawler.jobs.insert_many([{"job": i, "state": "done"} for i in range(25)])
    mongo.crawler.create_collection("empty")
    mongo.metrics.samples.insert_many([{"v": i / 3} for i in range(40)])
    return mongo


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """gofakes3 over real HTTP on loopback; yields the engine's s3 settings."""
    if not GOFAKES3.exists():
        subprocess.run(["bash", str(REPO / "scripts/build-s3-test-server.sh")], check=True)
    port = free_port()
    base = tmp_path_factory.mktemp("s3")
    with open(base / "gofakes3.log", "wb") as log:
        proc = subprocess.Popen(
            [str(GOFAKES3), "-backend", "memory", "-host", f"127.0.0.1:{port}"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_port(port, proc)
        yield {
            "endpoint_url": f"http://127.0.0.1:{port}",
            "region": "us-east-1",
            # gofakes3 accepts any credentials; these are not secrets.
            "access_key": "test-access",
            "secret_key": "test-secret",
        }
    finally:
        _stop(proc)


@pytest.fixture
def s3_client(s3_server):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=s3_server["endpoint_url"],
        region_name="us-east-1",
        aws_access_key_id=s3_server["access_key"],
        aws_secret_access_key=s3_server["secret_key"],
    )


@pytest.fixture
def s3(s3_server, s3_client):
    """A new bucket per test on the shared S3 server; the engine's s3 settings."""
    bucket = "acs-" + uuid.uuid4().hex[:12]
    s3_client.create_bucket(Bucket=bucket)
    return dict(s3_server, bucket=bucket, prefix="prod/mongodb")


# The IAM calls that make the test user before moto starts checking signatures.
_MOTO_BOOTSTRAP_ACTIONS = 3


@pytest.fixture(scope="session")
def s3_auth_server(tmp_path_factory):
    """moto's server enforcing IAM auth: only the access key it issued, signed
    with its secret, gets in (others: InvalidAccessKeyId, SignatureDoesNotMatch).
    Yields the engine's s3 settings with that key and a bucket of its own."""
    import boto3

    if not MOTO_SERVER.exists():
        subprocess.run(["bash", str(REPO / "scripts/install-s3-auth-test-server.sh")], check=True)
    port = free_port()
    base = tmp_path_factory.mktemp("s3auth")
    # The first N requests pass unsigned: exactly the bootstrap below.
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT=str(_MOTO_BOOTSTRAP_ACTIONS))
    with open(base / "moto.log", "wb") as log:
        proc = subprocess.Popen(
            [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        wait_port(port, proc)
        endpoint = f"http://127.0.0.1:{port}"
        iam = boto3.client(
            "iam",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="bootstrap",
            aws_secret_access_key="bootstrap",
        )
        iam.create_user(UserName="acs-backup")
        iam.put_user_policy(
            UserName="acs-backup",
            PolicyName="s3",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
                }
            ),
        )
        key = iam.create_access_key(UserName="acs-backup")["AccessKey"]
        settings = {
            "endpoint_url": endpoint,
            "region": "us-east-1",
            "access_key": key["AccessKeyId"],
            "secret_key": key["SecretAccessKey"],
            "bucket": "acs-auth-" + uuid.uuid4().hex[:12],
            "prefix": "prod/mongodb",
        }
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=settings["access_key"],
            aws_secret_access_key=settings["secret_key"],
        ).create_bucket(Bucket=settings["bucket"])
        yield settings
    finally:
        _stop(proc)
