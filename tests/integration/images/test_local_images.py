"""The local drop-in images behave like the official ones they replace:
their servers answer real clients, their health checks report what the
service really does, and they read the official images' variables."""

from __future__ import annotations

import time

import pymongo
import pytest
import requests
from pymongo.errors import OperationFailure
from selenium import webdriver

pytestmark = [pytest.mark.integration, pytest.mark.docker]

MONGODB = "acs-local/mongodb:7.0-ferretdb1.24.2"
POSTGRES = "acs-local/postgres:15"
HUB = "acs-local/selenium-hub:4.48.0"
NODE = "acs-local/node-chromium:4.48.0"
NGINX = "acs-local/nginx:1.22"
AIRFLOW = "acs-local/airflow:3.3.2"
REDIS = "acs-local/redis:7"


def test_mongodb_stores_documents_under_data_db(lab):
    mongo = lab.run(MONGODB, alias="mongodb")
    lab.wait_healthy(mongo, timeout=60)

    client = pymongo.MongoClient(f"mongodb://{lab.ip(mongo)}:27017/", serverSelectionTimeoutMS=5000)
    assert client.admin.command("ping")["ok"] == 1.0
    client.crawler.items.insert_one({"url": "https://example.org/", "title": "Example"})
    assert client.crawler.items.find_one({}, {"_id": 0}) == {
        "url": "https://example.org/",
        "title": "Example",
    }
    client.close()

    listing = mongo.exec_run(["ls", "/data/db"]).output.decode()
    assert "crawler.sqlite" in listing


def test_mongodb_root_user_turns_authentication_on(lab):
    mongo = lab.run(
        MONGODB,
        alias="mongodb",
        environment={
            "MONGO_INITDB_ROOT_USERNAME": "root",
            "MONGO_INITDB_ROOT_PASSWORD": "t3st-pass-word",
        },
    )
    lab.wait_healthy(mongo, timeout=60)
    host = lab.ip(mongo)

    anonymous = pymongo.MongoClient(f"mongodb://{host}:27017/", serverSelectionTimeoutMS=5000)
    with pytest.raises(OperationFailure):
        anonymous.crawler.items.insert_one({"a": 1})
    anonymous.close()

    root = pymongo.MongoClient(
        f"mongodb://root:t3st-pass-word@{host}:27017/?authSource=admin&authMechanism=SCRAM-SHA-256",
        serverSelectionTimeoutMS=5000,
    )
    root.crawler.items.insert_one({"a": 1})
    assert root.crawler.items.count_documents({}) == 1
    root.close()


def test_postgres_initialises_the_official_variables(lab):
    pg = lab.run(
        POSTGRES,
        alias="postgres",
        environment={
            "POSTGRES_USER": "airflow",
            "POSTGRES_PASSWORD": "pg-t3st-pass",
            "POSTGRES_DB": "airflow",
        },
    )
    lab.wait_healthy(pg, timeout=90)
    result = pg.exec_run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            "airflow",
            "-d",
            "airflow",
            "-tAc",
            "select current_database()",
        ],
        environment={"PGPASSWORD": "pg-t3st-pass"},
    )
    assert result.exit_code == 0, result.output
    assert result.output.decode().strip() == "airflow"
    wrong = pg.exec_run(
        ["psql", "-h", "127.0.0.1", "-U", "airflow", "-d", "airflow", "-tAc", "select 1"],
        environment={"PGPASSWORD": "wrong"},
    )
    assert wrong.exit_code != 0


def test_postgres_without_password_refuses_to_start_and_says_why(lab):
    pg = lab.run(POSTGRES)
    assert pg.wait(timeout=60)["StatusCode"] == 1
    assert "POSTGRES_PASSWORD" in pg.logs().decode()


def test_selenium_grid_renders_a_page_served_by_nginx(lab, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text(
        "<html><head><title>grid test</title></head><body><p id='out'>static</p>"
        "<script>document.getElementById('out').textContent = 'rendered ' + (6 * 7);</script>"
        "</body></html>"
    )
    site.chmod(0o755)
    (site / "index.html").chmod(0o644)
    web = lab.run(
        NGINX, alias="web", volumes={str(site): {"bind": "/usr/share/nginx/html", "mode": "ro"}}
    )
    hub = lab.run(HUB, alias="selenium-hub")
    lab.wait_healthy(hub, timeout=90)
    node = lab.run(
        NODE,
        alias="chrome",
        shm_size="512m",
        environment={
            "SE_EVENT_BUS_HOST": "selenium-hub",
            "SE_NODE_MAX_SESSIONS": "2",
            "SE_NODE_OVERRIDE_MAX_SESSIONS": "true",
        },
    )
    lab.wait_healthy(node, timeout=120)
    lab.wait_healthy(web, timeout=30)

    hub_url = f"http://{lab.ip(hub)}:4444"
    nodes = requests.get(f"{hub_url}/status", timeout=10).json()["value"]["nodes"]
    assert [n["maxSessions"] for n in nodes] == [2]

    driver = webdriver.Remote(command_executor=hub_url, options=webdriver.ChromeOptions())
    try:
        driver.get("http://web/")
        assert driver.title == "grid test"
        assert driver.find_element("id", "out").text == "rendered 42"
    finally:
        driver.quit()


def test_node_is_unhealthy_until_a_hub_accepts_it(lab):
    # The event-bus name resolves and the host answers, but it is no hub:
    # the node runs and takes no sessions, yet must not report healthy.
    lab.run(NGINX, alias="not-a-hub")
    node = lab.run(NODE, alias="chrome", environment={"SE_EVENT_BUS_HOST": "not-a-hub"})
    outputs: list[str] = []
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        node.reload()
        state = node.attrs["State"]
        assert state["Running"], node.logs(tail=20).decode()
        probes = state.get("Health", {}).get("Log", [])
        assert all(p["ExitCode"] != 0 for p in probes), probes
        outputs = [p["Output"] for p in probes]
        if any("not registered" in o for o in outputs):
            break
        time.sleep(2)
    assert any("not registered" in o for o in outputs), outputs
    assert lab.health(node) != "healthy"


def test_node_refuses_to_start_without_an_event_bus(lab):
    node = lab.run(NODE)
    assert node.wait(timeout=30)["StatusCode"] == 1
    assert "SE_EVENT_BUS_HOST" in node.logs().decode()


def test_airflow_api_server_answers_health_with_postgres(lab):
    secret = "af-t3st-pass"
    pg = lab.run(
        POSTGRES,
        alias="postgres",
        environment={
            "POSTGRES_USER": "airflow",
            "POSTGRES_PASSWORD": secret,
            "POSTGRES_DB": "airflow",
        },
    )
    lab.wait_healthy(pg, timeout=90)
    env = {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://airflow:{secret}@postgres:5432/airflow",
        "AIRFLOW__API__WORKERS": "1",
    }
    migrate = lab.run(AIRFLOW, command=["db", "migrate"], environment=env)
    assert migrate.wait(timeout=600)["StatusCode"] == 0, migrate.logs(tail=40).decode()

    api = lab.run(AIRFLOW, alias="airflow-webserver", command=["api-server"], environment=env)
    lab.wait_healthy(api, timeout=300)
    health = requests.get(f"http://{lab.ip(api)}:8080/api/v2/monitor/health", timeout=10).json()
    assert health["metadatabase"]["status"] == "healthy"
    assert api.attrs["Config"]["User"] == "50000"
    assert (
        api.exec_run(["sh", "-c", "echo $AIRFLOW_HOME"]).output.decode().strip() == "/opt/airflow"
    )


def test_redis_answers_and_keeps_data_in_data_dir(lab):
    redis = lab.run(REDIS, alias="redis")
    lab.wait_healthy(redis, timeout=60)
    assert redis.exec_run(["redis-cli", "set", "k", "v"]).output.strip() == b"OK"
    assert redis.exec_run(["redis-cli", "get", "k"]).output.strip() == b"v"
    assert redis.exec_run(["redis-cli", "config", "get", "dir"]).output.split() == [
        b"dir",
        b"/data",
    ]


@pytest.mark.parametrize(
    ("image", "port", "path"),
    [
        ("acs-local/prometheus:2", 9090, "/-/ready"),
        ("acs-local/pushgateway:1", 9091, "/-/ready"),
        ("acs-local/alertmanager:0", 9093, "/-/ready"),
    ],
)
def test_prometheus_family_is_healthy_and_ready(lab, image, port, path):
    container = lab.run(image)
    lab.wait_healthy(container, timeout=60)
    assert requests.get(f"http://{lab.ip(container)}:{port}{path}", timeout=10).status_code == 200
