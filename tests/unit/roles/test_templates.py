"""The rendered configuration files, checked by the tools that consume them:
Docker Compose resolves the compose model, promtool and amtool check the
Prometheus and Alertmanager files, and Grafana/Loki/Promtail files are
checked against JSON schemas written from their documentation (their
binaries cannot be installed here)."""

from __future__ import annotations

import json
import re
import subprocess

import jsonschema
import pytest
from stack_role_helpers import REPO

SECRETS = [
    "root-password-for-tests",
    "app-password-for-tests",
    "backup-password-for-tests",
    "postgres-password-for-tests",
    "airflow-password-for-tests",
    "jwt-secret-for-tests",
    "api-secret-for-tests",
    "grafana-password-for-tests",
    "api-key-for-tests",
    "api-read-key-for-tests",
    "backup-signing-key-for-tests",
]


def test_compose_has_health_limits_and_restart_on_every_service(rendered_local):
    services = rendered_local.compose["services"]
    assert "grafana" not in services and "loki" not in services
    for name, svc in services.items():
        assert "healthcheck" in svc or name == "mongodb", f"{name} has no health check"
        assert svc.get("mem_limit"), f"{name} has no mem_limit"
        assert svc.get("cpus"), f"{name} has no cpus"
        assert svc.get("restart") == ("no" if name == "airflow-init" else "unless-stopped"), name
    # mongodb keeps the probe its local image declares (a wire-protocol ping).
    image = services["mongodb"]["image"]
    assert image == "acs-local/mongodb:7.0-ferretdb1.24.2"


def test_compose_dependencies_wait_for_health_and_init(rendered_local):
    services = rendered_local.compose["services"]
    for name in (
        "airflow-webserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
    ):
        deps = services[name]["depends_on"]
        assert deps["airflow-init"]["condition"] == "service_completed_successfully", name
        assert deps["postgres"]["condition"] == "service_healthy", name
    assert services["api"]["depends_on"]["mongodb"]["condition"] == "service_healthy"
    assert services["chrome"]["depends_on"]["selenium-hub"]["condition"] == "service_healthy"
    assert services["nginx"]["depends_on"]["api"]["condition"] == "service_healthy"


def test_only_nginx_publishes_on_all_interfaces(rendered_local, rendered_official):
    for rendered in (rendered_local, rendered_official):
        published = {}
        for name, svc in rendered.compose["services"].items():
            for port in svc.get("ports", []):
                published[(port["host_ip"], port["published"])] = name
        public = {k: v for k, v in published.items() if k[0] != "127.0.0.1"}
        assert public == {("0.0.0.0", "80"): "nginx", ("0.0.0.0", "443"): "nginx"}
        assert published[("127.0.0.1", "8000")] == "nginx"
        assert published[("127.0.0.1", "8080")] == "nginx"
        assert published[("127.0.0.1", "9090")] == "prometheus"
        assert not any(port == "27017" for _, port in published)
    assert published[("127.0.0.1", "3001")] == "grafana"


def test_api_scales_behind_nginx(rendered_local):
    api = rendered_local.compose["services"]["api"]
    assert "ports" not in api and "container_name" not in api
    conf = rendered_local.text("nginx/conf.d/default.conf")
    assert "resolver 127.0.0.11" in conf
    assert "set $acs_api http://api:8000;" in conf and "proxy_pass $acs_api;" in conf
    # Airflow 3 has no /health; the runbook's curl localhost:8080/health maps to it.
    assert "rewrite ^ /api/v2/monitor/health break;" in conf


def test_chrome_node_settings(rendered_local):
    chrome = rendered_local.compose["services"]["chrome"]
    assert chrome["environment"]["SE_NODE_MAX_SESSIONS"] == "3"
    assert chrome["shm_size"] == str(2 * 1024**3)
    assert chrome["environment"]["SE_EVENT_BUS_HOST"] == "selenium-hub"


def test_chrome_nodes_are_off_the_backend_network(rendered_local):
    """A page in Chrome runs the site's code: the nodes sit on the internal grid
    network (the hub) and the egress network only; the hub also on backend."""
    model = rendered_local.compose
    services = model["services"]
    assert sorted(services["chrome"]["networks"]) == ["egress", "grid"]
    assert sorted(services["selenium-hub"]["networks"]) == ["backend", "grid"]
    on_egress = sorted(n for n, s in services.items() if "egress" in s.get("networks", {}))
    on_grid = sorted(n for n, s in services.items() if "grid" in s.get("networks", {}))
    assert on_egress == ["chrome"] and on_grid == ["chrome", "selenium-hub"]
    assert model["networks"]["grid"]["internal"] is True
    assert not model["networks"]["egress"].get("internal")
    # the host firewall rules name these interfaces
    assert model["networks"]["egress"]["driver_opts"] == {
        "com.docker.network.bridge.name": "acs-egress"
    }
    assert model["networks"]["grid"]["driver_opts"] == {
        "com.docker.network.bridge.name": "acs-grid"
    }


def test_volumes_network_and_logs(rendered_local):
    model = rendered_local.compose
    assert {"mongodb-data", "postgres-data"} <= set(model["volumes"])
    assert sorted(model["networks"]) == ["backend", "egress", "grid"]
    assert model["networks"]["backend"]["driver"] == "bridge"
    mounts = {(m["source"], m["target"]) for m in model["services"]["airflow-scheduler"]["volumes"]}
    assert (str(rendered_local.root / "airflow" / "logs"), "/opt/airflow/logs") in mounts
    assert ("/data/backups", "/data/backups") in mounts
    # Only the cadvisor exporter reads the engine (read-only mounts, as cAdvisor).
    for name, svc in model["services"].items():
        for m in svc.get("volumes", []):
            if name == "cadvisor":
                assert m["read_only"], m
                continue
            assert "docker.sock" not in m.get("source", ""), f"{name} mounts the Docker socket"


def test_secrets_only_in_env_file(rendered_local, rendered_official):
    for rendered in (rendered_local, rendered_official):
        compose_text = rendered.text("docker-compose.yml") + "".join(
            p.read_text() for p in sorted((rendered.root / "compose.d").glob("*.yml"))
        )
        env_text = rendered.text(".env")
        for secret in SECRETS:
            assert secret not in compose_text
            assert secret in env_text
        assert "admin/admin" not in compose_text
    official = rendered_official.compose["services"]
    # Interpolated by compose from .env: the resolved model carries the value.
    assert (
        official["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"]
        == "grafana-password-for-tests"
    )
    assert official["grafana"]["environment"]["GF_SECURITY_ADMIN_USER"] == "acs_grafana"
    assert (
        official["mongodb"]["environment"]["MONGO_INITDB_ROOT_PASSWORD"]
        == "root-password-for-tests"
    )
    assert "crawler_app:app-password-for-tests@" in official["api"]["environment"]["MONGO_URI"]
    assert rendered_local_uri(rendered_local) == "mongodb://mongodb:27017"


def rendered_local_uri(rendered_local) -> str:
    return rendered_local.compose["services"]["api"]["environment"]["MONGO_URI"]


def test_airflow_environment(rendered_official):
    env = rendered_official.compose["services"]["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert (
        env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-webserver:8080/execution/"
    )
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://airflow:")
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"
    assert env["AIRFLOW_CONN_MONGO_DEFAULT"] == "mongodb://mongodb:27017"
    init = rendered_official.compose["services"]["airflow-init"]
    script = " ".join(init["command"])
    assert "airflow db migrate" in script and "airflow users create" in script
    assert '--username "acs_admin"' in script


def test_prometheus_config_passes_promtool(rendered_official):
    proc = subprocess.run(
        [
            "promtool",
            "check",
            "config",
            str(rendered_official.root / "monitoring/prometheus/prometheus.yml"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "19 rules found" in proc.stdout
    jobs = [
        j["job_name"]
        for j in rendered_official.yaml("monitoring/prometheus/prometheus.yml")["scrape_configs"]
    ]
    assert {"api", "pushgateway", "node", "alertmanager"} <= set(jobs)
    # The runbook incidents' signals (tests/unit/roles/test_monitoring_signals.py).
    assert {"api_health", "airflow_scheduler", "mongodb_tcp", "cadvisor", "remediator"} <= set(jobs)


@pytest.mark.parametrize("variant", ["rendered_local", "rendered_official"])
def test_alertmanager_config_passes_amtool(variant, request):
    rendered = request.getfixturevalue(variant)
    proc = subprocess.run(
        ["amtool", "check-config", str(rendered.root / "monitoring/alertmanager/alertmanager.yml")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


DATASOURCES_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "datasources"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": 1},
        "datasources": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "type", "access", "url", "uid"],
                "properties": {
                    "name": {"type": "string"},
                    "uid": {"type": "string", "maxLength": 40},
                    "type": {"enum": ["prometheus", "loki", "alertmanager"]},
                    "access": {"enum": ["proxy", "direct"]},
                    "url": {"type": "string", "pattern": "^https?://"},
                    "isDefault": {"type": "boolean"},
                    "editable": {"type": "boolean"},
                },
                "additionalProperties": False,
            },
        },
    },
}

DASHBOARD_PROVIDERS_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "providers"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": 1},
        "providers": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "type", "options"],
                "properties": {
                    "name": {"type": "string"},
                    "folder": {"type": "string"},
                    "type": {"const": "file"},
                    "disableDeletion": {"type": "boolean"},
                    "allowUiUpdates": {"type": "boolean"},
                    "options": {
                        "type": "object",
                        "required": ["path"],
                        "properties": {"path": {"type": "string", "pattern": "^/"}},
                        "additionalProperties": False,
                    },
                },
                "additionalProperties": False,
            },
        },
    },
}

LOKI_SCHEMA = {
    "type": "object",
    "required": ["server", "common", "schema_config"],
    "additionalProperties": False,
    "properties": {
        "auth_enabled": {"type": "boolean"},
        "server": {"type": "object", "required": ["http_listen_port"]},
        "common": {"type": "object", "required": ["path_prefix", "storage", "ring"]},
        "schema_config": {
            "type": "object",
            "required": ["configs"],
            "properties": {
                "configs": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["from", "store", "object_store", "schema", "index"],
                        "properties": {
                            "store": {"enum": ["tsdb", "boltdb-shipper"]},
                            "schema": {"pattern": "^v1[0-9]$"},
                            "index": {"type": "object", "required": ["prefix", "period"]},
                        },
                    },
                }
            },
        },
        "limits_config": {"type": "object"},
        "compactor": {"type": "object"},
        "analytics": {"type": "object"},
    },
}

PROMTAIL_SCHEMA = {
    "type": "object",
    "required": ["server", "positions", "clients", "scrape_configs"],
    "additionalProperties": False,
    "properties": {
        "server": {"type": "object", "required": ["http_listen_port"]},
        "positions": {"type": "object", "required": ["filename"]},
        "clients": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["url"],
                "properties": {"url": {"pattern": "/loki/api/v1/push$"}},
            },
        },
        "scrape_configs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["job_name"],
                "properties": {
                    "pipeline_stages": {"type": "array"},
                    "static_configs": {"type": "array"},
                },
            },
        },
    },
}


@pytest.mark.parametrize(
    ("path", "schema"),
    [
        ("monitoring/grafana/provisioning/datasources/acs.yml", DATASOURCES_SCHEMA),
        ("monitoring/grafana/provisioning/dashboards/acs.yml", DASHBOARD_PROVIDERS_SCHEMA),
        ("monitoring/loki/loki.yml", LOKI_SCHEMA),
        ("monitoring/promtail/promtail.yml", PROMTAIL_SCHEMA),
    ],
)
def test_observability_configs_match_schema(rendered_official, path, schema):
    jsonschema.validate(rendered_official.yaml(path), schema)


def test_dashboard_panels_use_provisioned_datasources_and_real_metrics(rendered_official):
    uids = {
        d["uid"]
        for d in rendered_official.yaml("monitoring/grafana/provisioning/datasources/acs.yml")[
            "datasources"
        ]
    }
    dashboard = json.loads(
        (REPO / "roles/monitoring/files/dashboards/acs-overview.json").read_text()
    )
    titles = " | ".join(p["title"] for p in dashboard["panels"]).lower()
    for wanted in ("crawl rate", "errors by code", "healing", "backup age", "container memory"):
        assert wanted in titles
    metrics_source = (REPO / "crawler/src/crawler/metrics.py").read_text()
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] in uids
        for target in panel["targets"]:
            for metric in re.findall(r"\b(crawler_[a-z_]+?)(?:_total|_bucket)?\b", target["expr"]):
                assert metric in metrics_source, f"{metric} is not defined by the crawler"
