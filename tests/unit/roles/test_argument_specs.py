"""Role variables: the argument specs mirror the defaults, and wrong input
fails in site.yml's validation, before anything changes, naming the variable."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from stack_role_helpers import REPO, ROLES

# The runbook's roles: the shared steps, one role a recover procedure, the checks.
RECOVER_ROLES = sorted(p.name for p in (REPO / "roles").glob("recover_*"))
RUNBOOK_ROLES = ["runbook", "status", "weekly_check", "scale", "restore_drill", *RECOVER_ROLES]


def _defaults(role: str) -> dict:
    return yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text()) or {}


def _spec(role: str) -> dict:
    return yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())[
        "argument_specs"
    ]


def _vars(role: str) -> dict:
    path = REPO / "roles" / role / "vars" / "main.yml"
    return (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}


def _inputs(role: str) -> set[str]:
    """Options a role reads from other roles: in its spec, not in its defaults."""
    return set(_spec(role)["main"]["options"]) - set(_defaults(role))


@pytest.mark.parametrize(
    "role", [*ROLES, *RUNBOOK_ROLES, "remediator", "host_firewall", "remove_worker"]
)
def test_spec_mirrors_defaults(role):
    defaults = _defaults(role)
    options = _spec(role)["main"]["options"]
    assert set(defaults) <= set(options), "a variable of defaults/main.yml has no spec"
    for name, value in defaults.items():
        assert name.startswith(role + "_") or (role == "crawler" and name.startswith("crawler_")), (
            name
        )
        assert options[name].get("description"), f"{name} has no description"
        if "{{" in json.dumps(value):
            continue  # computed default: documented in the description
        assert options[name].get("default") == value, (
            f"{name}: spec default differs from defaults/main.yml"
        )


@pytest.mark.parametrize("role", [*ROLES, "remediator"])
def test_inputs_are_variables_of_their_owner(role):
    options = _spec(role)["main"]["options"]
    for name in _inputs(role):
        owner = next((r for r in ROLES if name.startswith(r + "_")), None)
        assert owner and owner != role, f"{name}: neither {role}'s own nor another role's"
        assert name in _defaults(owner) or name in _vars(owner), f"{name}: {owner} defines none"
        assert options[name]["description"].startswith(f"Input from the {owner} role"), name
        assert "default" not in options[name], f"{name}: the owner's default applies"
        owner_spec = _spec(owner)["main"]["options"]
        if name in owner_spec:
            assert options[name]["type"] == owner_spec[name]["type"], name


def test_every_recover_procedure_has_its_role():
    books = sorted(p.stem for p in (REPO / "playbooks" / "runbook").glob("recover_*.yml"))
    assert books and books == RECOVER_ROLES


@pytest.mark.parametrize("role", [*ROLES, "runbook", "remediator"])
def test_preflight_entry_point_validates_the_same_options(role):
    spec = _spec(role)
    assert spec["preflight"]["options"] == spec["main"]["options"]


def test_valid_configuration_passes(preflight):
    proc = preflight({})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"changed=0\s", proc.stdout)


BAD_INPUT = [
    ({"nginx_http_port": "eighty"}, "nginx_http_port", "int"),
    ({"stack_api_replicas": -1}, "stack_api_replicas", "1 or more"),
    ({"stack_image_source": "dockerhub"}, "stack_image_source", "official, local"),
    ({"crawler_image_delivery": "ftp"}, "crawler_image_delivery", "build, load, pull"),
    ({"selenium_grid_node_max_sessions": 0}, "selenium_grid_node_max_sessions", "1 or more"),
    ({"selenium_grid_chrome_replicas": -2}, "selenium_grid_chrome_replicas", "0 or more"),
    ({"stack_resources": {"chrome": {"mem_limit": "lots"}}}, "stack_resources.chrome", "512m"),
    ({"stack_resources": {"chromium": {"cpus": 1}}}, "stack_resources.chromium", "must be one of"),
    (
        {"stack_secrets": {"postgres_password": "short"}},
        "stack_secrets.postgres_password",
        "12 or more",
    ),
    ({"airflow_admin_username": "admin"}, "airflow_admin_username", "admin/admin"),
    ({"monitoring_grafana_admin_user": "admin"}, "monitoring_grafana_admin_user", "admin/admin"),
    ({"nginx_https_port": 80}, "nginx_https_port", "distinct"),
    ({"nginx_tls_certificate_src": "/tmp/cert.pem"}, "nginx_tls_private_key_src", "both"),
    ({"stack_project_dir": "opt/acs"}, "stack_project_dir", "absolute"),
    ({"crawler_image_delivery": "load"}, "crawler_image_archive", "tarball"),
    ({"monitoring_probe_timeout": "15s"}, "monitoring_probe_timeout", "at most the scrape"),
    ({"monitoring_remediator_target": "http://h:1"}, "monitoring_remediator_target", "host:port"),
]


@pytest.mark.parametrize(("extra", "variable", "allowed"), BAD_INPUT, ids=[b[1] for b in BAD_INPUT])
def test_bad_input_fails_before_any_change(preflight, extra, variable, allowed):
    proc = preflight(extra)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    failed = out[out.index("[ERROR]") :]
    assert variable in failed, failed[:2000]
    assert allowed in failed, failed[:2000]
    assert re.search(r"changed=0\s", proc.stdout), "something changed before validation failed"
    # Before the engine is touched or an image built: wrong input fails in
    # seconds, not after a build (and with no engine up at all).
    before = out[: out.index("[ERROR]")]
    assert "PLAY [Local image set]" not in before, "images.yml ran before the validation"
