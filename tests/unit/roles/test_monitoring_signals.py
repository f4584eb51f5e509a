"""What Prometheus sees of each runbook incident: the probe jobs through the
blackbox exporter (api_health per API replica, airflow_scheduler, mongodb_tcp),
the cadvisor job, the optional remediator job, and the exporters' services,
which reach the stack's services by their compose names."""

from __future__ import annotations

import re

import yaml
from stack_role_helpers import REPO

PROBE_JOBS = {
    "api_health": "http_2xx",
    "airflow_scheduler": "airflow_scheduler",
    "mongodb_tcp": "tcp_connect",
}
HEALTH = '{"metadatabase":{"status":"healthy"},"scheduler":{"status":"%s","latest_scheduler_heartbeat":"2024-05-01T10:00:00+00:00"},"triggerer":{"status":"healthy"}}'


def jobs(rendered) -> dict:
    config = rendered.yaml("monitoring/prometheus/prometheus.yml")
    return {job["job_name"]: job for job in config["scrape_configs"]}


def seconds(duration: str) -> int:
    return int(duration[:-1]) * {"s": 1, "m": 60, "h": 3600}[duration[-1]]


def test_detection_is_fast_enough_for_a_90_second_recovery(rendered_local):
    config = rendered_local.yaml("monitoring/prometheus/prometheus.yml")
    assert config["global"]["scrape_interval"] == "10s"
    assert config["global"]["evaluation_interval"] == "10s"
    found = jobs(rendered_local)
    for name in ["api", "cadvisor", *PROBE_JOBS]:
        assert seconds(found[name]["scrape_timeout"]) <= 5, name


def test_local_jobs_and_the_remediator(rendered_local, rendered_official):
    assert sorted(jobs(rendered_local)) == sorted(
        [
            "prometheus",
            "api",
            "pushgateway",
            "alertmanager",
            "blackbox",
            "cadvisor",
            "remediator",
            *PROBE_JOBS,
        ]
    )
    # By default through the Docker host's gateway; an inventory may name another.
    local = jobs(rendered_local)["remediator"]
    assert local["static_configs"] == [{"targets": ["host.docker.internal:9418"]}]
    remediator = jobs(rendered_official)["remediator"]
    assert remediator["static_configs"] == [{"targets": ["172.17.0.1:9180"]}]
    assert (remediator["metrics_path"], remediator["scheme"]) == ("/metrics", "http")
    assert "authorization" not in remediator


def test_probe_jobs_go_through_the_blackbox_exporter(rendered_local):
    found = jobs(rendered_local)
    services = rendered_local.compose["services"]
    for name, module in PROBE_JOBS.items():
        job = found[name]
        assert job["metrics_path"] == "/probe", name
        assert job["params"] == {"module": [module]}, name
        rules = job["relabel_configs"]
        assert rules[0]["source_labels"] == ["__address__"]
        assert rules[0]["target_label"] == "__param_target"
        assert rules[-1] == {"target_label": "__address__", "replacement": "blackbox-exporter:9115"}
    assert "blackbox-exporter" in services and "cadvisor" in services
    # One probe per API replica: Docker's DNS answers `api` with each address.
    api = found["api_health"]
    assert api["dns_sd_configs"][0]["names"] == ["api"]
    assert api["dns_sd_configs"][0]["port"] == 8000
    assert api["relabel_configs"][0]["replacement"] == "http://${1}/health"
    # Static targets name compose services (docs/design.md ports).
    scheduler = found["airflow_scheduler"]["static_configs"][0]["targets"]
    assert scheduler == ["http://airflow-webserver:8080/api/v2/monitor/health"]
    assert found["mongodb_tcp"]["static_configs"][0]["targets"] == ["mongodb:27017"]
    for service in ("api", "airflow-webserver", "mongodb"):
        assert "backend" in services[service]["networks"], service
    assert found["cadvisor"]["static_configs"][0]["targets"] == ["cadvisor:8080"]


def test_blackbox_modules(rendered_local):
    modules = rendered_local.yaml("monitoring/blackbox/config.yml")["modules"]
    assert set(modules) == set(PROBE_JOBS.values())
    assert modules["http_2xx"]["prober"] == "http"
    assert modules["tcp_connect"]["prober"] == "tcp"
    # No module timeout: the exporter derives it from the scrape timeout.
    assert not any("timeout" in m for m in modules.values())
    (pattern,) = modules["airflow_scheduler"]["http"]["fail_if_body_not_matches_regexp"]
    assert re.search(pattern, HEALTH % "healthy")
    assert not re.search(pattern, HEALTH % "unhealthy")
    assert not re.search(pattern, '{"metadatabase":{"status":"healthy"}}')


def test_exporter_services_publish_nothing_and_mount_read_only(rendered_local, rendered_official):
    for rendered in (rendered_local, rendered_official):
        services = rendered.compose["services"]
        for name in ("blackbox-exporter", "cadvisor"):
            svc = services[name]
            assert "ports" not in svc, name
            assert all(m["read_only"] for m in svc["volumes"]), name
            assert svc["networks"] == {"backend": None}, name
        assert services["blackbox-exporter"]["user"] == "65534:65534"
        mounts = {m["source"] for m in services["cadvisor"]["volumes"]}
        assert mounts == {"/var/run/docker.sock", "/sys", "/var/lib/docker"}
    local = rendered_local.compose["services"]
    assert local["cadvisor"]["image"] == "acs-local/cadvisor:0"
    assert local["blackbox-exporter"]["image"] == "acs-local/blackbox-exporter:0"
    official = rendered_official.compose["services"]
    assert official["cadvisor"]["image"] == "gcr.io/cadvisor/cadvisor:v0.49.1"
    assert official["blackbox-exporter"]["image"] == "prom/blackbox-exporter:v0.25.0"


def test_every_local_drop_in_is_in_the_catalog():
    stack = yaml.safe_load((REPO / "roles/stack/vars/main.yml").read_text())["_stack_images"]
    catalog = yaml.safe_load((REPO / "roles/local_images/defaults/main.yml").read_text())
    built = {f"{i['name']}:{i['tag']}" for i in catalog["local_images_catalog"]}
    assert set(stack["official"]) == set(stack["local"])
    assert set(stack["local"].values()) <= built
