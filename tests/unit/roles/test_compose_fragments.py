"""Each service role renders its own compose fragment (compose.d/<role>.yml);
together with the stack's docker-compose.yml they make the same project the
single stack template made (fixtures/compose-*.json, captured from it), and
COMPOSE_FILE in .env makes every `docker compose` call see all of them."""

from __future__ import annotations

import json
import subprocess

import jinja2
import jinja2.meta
import pytest
import yaml
from stack_role_helpers import REPO, render

FIXTURES = REPO / "tests" / "unit" / "roles" / "fixtures"
STACK_VARS = yaml.safe_load((REPO / "roles" / "stack" / "vars" / "main.yml").read_text())
FRAGMENTS = STACK_VARS["_stack_core_fragments"]


def normalized(rendered) -> dict:
    """docker compose config without the rendering's directory and without the
    top-level x- fields (YAML anchors' sources: authoring, not behaviour)."""
    text = json.dumps(rendered.compose).replace(str(rendered.root), "@PROJECT_DIR@")
    return {k: v for k, v in json.loads(text).items() if not k.startswith("x-")}


@pytest.fixture(scope="module")
def rendered_defaults(tmp_path_factory):
    """The production defaults exactly as the fixture was rendered."""
    return render(tmp_path_factory.mktemp("defaults"), {})


@pytest.mark.parametrize("case", ["local", "official"])
def test_fragments_make_the_project_the_single_template_made(
    case, rendered_local, rendered_defaults
):
    rendered = rendered_local if case == "local" else rendered_defaults
    expected = json.loads((FIXTURES / f"compose-{case}.json").read_text())
    actual = normalized(rendered)
    assert sorted(actual["services"]) == sorted(expected["services"])
    for name in expected["services"]:
        assert actual["services"][name] == expected["services"][name], name
    assert actual == expected


def test_every_service_role_renders_its_fragment(rendered_local):
    assert sorted(p.name for p in (rendered_local.root / "compose.d").iterdir()) == sorted(
        f"{role}.yml" for role in FRAGMENTS
    )
    for role in FRAGMENTS:
        tasks = (REPO / "roles" / role / "tasks" / "main.yml").read_text()
        assert f"/compose.d/{role}.yml" in tasks, role
    base = rendered_local.yaml("docker-compose.yml")
    assert set(base) == {"name", "networks", "volumes"}, "services belong in the fragments"


def test_compose_file_in_env_names_the_whole_project(rendered_local):
    env = dict(
        line.split("=", 1)
        for line in rendered_local.text(".env").splitlines()
        if line and not line.startswith("#")
    )
    root = rendered_local.root
    files = [str(root / "docker-compose.yml")] + [
        str(root / "compose.d" / f"{r}.yml") for r in FRAGMENTS
    ]
    assert env["COMPOSE_PATH_SEPARATOR"] == ":"
    assert env["COMPOSE_FILE"].split(":") == files
    services = set(rendered_local.compose["services"])

    def listed(args, cwd):
        out = subprocess.run(
            ["docker", "compose", *args, "config", "--services"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        )
        return set(out.stdout.split())

    # The runbook's `cd <project> && docker compose ...`.
    assert listed([], root) == services
    # docker_compose_v2 (project_src: --project-directory, no -f) and the
    # runbook role's `docker compose --project-directory X -p P config`,
    # from any working directory: COMPOSE_FILE holds absolute paths.
    assert listed(["--project-directory", str(root), "-p", "acs-test"], "/") == services


ALLOWED = {"ansible_managed", "inventory_hostname"}
# Filters the fragments use; only their names matter to the parser.
FILTERS = ["acs_compose_common", "acs_compose_http_probe", "acs_compose_cluster_ports", "to_json"]
# A role's fragment for the core host, for a worker host (worker.yml.j2,
# node.yml.j2) and what they include (_*.j2).
FRAGMENT_TEMPLATES = [
    (role, path.name)
    for role in FRAGMENTS
    for path in sorted((REPO / "roles" / role / "templates").glob("*.j2"))
    if path.name in {"compose.yml.j2", "worker.yml.j2", "node.yml.j2"} or path.name.startswith("_")
]


@pytest.mark.parametrize(("role", "template"), FRAGMENT_TEMPLATES)
def test_fragment_reads_only_its_role_and_declared_inputs(role, template):
    source = (REPO / "roles" / role / "templates" / template).read_text()
    env = jinja2.Environment()  # noqa: S701 (YAML, not HTML)
    env.filters.update(dict.fromkeys(FILTERS, str))
    names = jinja2.meta.find_undeclared_variables(env.parse(source))
    spec = yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())
    declared = set(spec["argument_specs"]["main"]["options"])
    foreign = {
        n
        for n in names - ALLOWED - declared
        if not (n.startswith(role + "_") or n.startswith(f"_{role}_"))
    }
    assert not foreign, f"{role} reads undeclared variables: {sorted(foreign)}"
