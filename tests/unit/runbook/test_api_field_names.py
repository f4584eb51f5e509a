"""Playbooks and roles read the crawler API's documents by the field names the
API declares. The API's response models (its OpenAPI schema) are the one
place those names are declared; this test finds every read of
`{{ runbook_api_url }}/api/...` (a `uri` task, or an http target of a
`service_health` task with `return_json`), every field the YAML then reads
from its `.json` (the uri task's register, the target's name:
`<register>.targets.<name>.json`) (`map(attribute=...)`,
`selectattr`/`rejectattr`, `.json.a.b`, `json['a']`), and fails on a name the
response does not have.

It caught `map(attribute='_id')` over `GET /api/sources` items, which carry
`id`/`name` (the [크롤링 실패율 급등] defect)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
API_URL = re.compile(r"\{\{\s*runbook_api_url\s*\}\}(/api/[^?\"'\s{]*)")
# Names read after the register: `.json.a.b`, `.json['a']`, filters over items.
CHAIN = re.compile(r"\.json((?:\.[A-Za-z_]\w*|\[['\"][^'\"]+['\"]\])+)")
FILTER_ATTR = re.compile(
    r"(?:map\(attribute=|selectattr\(|rejectattr\(|sort\(attribute=)['\"]([A-Za-z_][\w.]*)['\"]"
)
# Jinja/Ansible helpers that may follow `.json` in a chain without being fields.
NOT_FIELDS = {"get", "items", "keys", "values"}
LINK = re.compile(r"\.([A-Za-z_]\w*)|\['([^']+)'\]|\[\"([^\"]+)\"\]")


def _yaml_files() -> list[Path]:
    return sorted(
        p for d in ("playbooks", "roles") for p in (REPO / d).rglob("*.yml") if ".j2" not in p.name
    )


def _tasks(node):
    """Every task mapping in a playbook or task file, blocks included."""
    if isinstance(node, list):
        for item in node:
            yield from _tasks(item)
    elif isinstance(node, dict):
        if any(k in node for k in ("ansible.builtin.uri", "uri", "service_health")):
            yield node
        for key in ("tasks", "pre_tasks", "post_tasks", "handlers", "block", "rescue", "always"):
            if key in node:
                yield from _tasks(node[key])


def api_reads() -> list[tuple[str, dict, dict, str]]:
    """(file, task, request, name) of every read of the crawler API's /api/: a
    uri task (request: its arguments; name: its register) or a service_health
    http target (request: the target; name: the target's name)."""
    found = []
    for path in _yaml_files():
        try:
            doc = yaml.safe_load(path.read_text())
        except yaml.YAMLError:
            continue
        for task in _tasks(doc):
            if "service_health" in task:
                targets = task["service_health"].get("targets")
                # A templated list (runbook's poll.yml) names no URL here.
                requests = (
                    [(t, t.get("name")) for t in targets if isinstance(t, dict)]
                    if isinstance(targets, list)
                    else []
                )
            else:
                requests = [(task.get("ansible.builtin.uri") or task.get("uri") or {}, None)]
            for args, name in requests:
                if isinstance(args, dict) and API_URL.search(str(args.get("url", ""))):
                    found.append(
                        (str(path.relative_to(REPO)), task, args, name or task.get("register"))
                    )
    return found


def api_calls() -> dict[str, str]:
    """register (or target) name -> API path, over every YAML file."""
    calls: dict[str, str] = {}
    for _, _, args, name in api_reads():
        if name:
            path = API_URL.search(str(args["url"])).group(1)
            calls[name] = path.rstrip("/") or "/"
    return calls


def _segments(text: str, register: str):
    """The parts of each Jinja expression ({{ ... }}, folded across lines) that
    read `register`: from `register.json` up to where another `.json` begins."""
    for expr in re.findall(r"\{\{.*?\}\}", text, flags=re.S):
        starts = [(m.start(), m.group(1)) for m in re.finditer(r"\b(\w+)\.json\b", expr)]
        for i, (start, name) in enumerate(starts):
            if name == register:
                end = starts[i + 1][0] if i + 1 < len(starts) else len(expr)
                yield expr[start:end]


def fields_read(register: str) -> set[str]:
    names: set[str] = set()
    for path in _yaml_files():
        for segment in _segments(path.read_text(), register):
            chain = CHAIN.match(segment[len(register) :])
            if chain:
                names.update(a or b or c for a, b, c in LINK.findall(chain.group(1)))
            for attr in FILTER_ATTR.findall(segment):
                # dict2items turns a mapping into {key, value} pairs: read the value's field.
                parts = attr.split(".")
                if "dict2items" in segment and parts[0] in ("key", "value"):
                    parts = parts[1:]
                names.update(parts)
    return names - NOT_FIELDS


def _schema_names(schema: dict, components: dict, seen: set[str]) -> set[str]:
    """Every property name reachable from a JSON schema (models, lists, maps)."""
    names: set[str] = set()
    if "$ref" in schema:
        ref = schema["$ref"].rsplit("/", 1)[-1]
        if ref in seen:
            return names
        return _schema_names(components[ref], components, seen | {ref})
    for key in ("anyOf", "allOf", "oneOf"):
        for sub in schema.get(key, []):
            names |= _schema_names(sub, components, seen)
    for name, sub in schema.get("properties", {}).items():
        names.add(name)
        names |= _schema_names(sub, components, seen)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            names |= _schema_names(schema[key], components, seen)
    return names


@pytest.fixture(scope="module")
def openapi():
    from crawler.api.app import create_app
    from crawler.config import Settings

    return create_app(Settings(mongo_uri="mongodb://127.0.0.1:1", api_keys=["k"])).openapi()


def response_fields(openapi: dict, path: str) -> set[str]:
    components = openapi.get("components", {}).get("schemas", {})
    op = openapi["paths"].get(path) or openapi["paths"].get(path + "/")
    assert op and "get" in op, f"the API has no GET {path}"
    ok = op["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    return _schema_names(ok, components, set())


def test_playbooks_call_the_api():
    calls = api_calls()
    # The procedures that read the crawler API today; more may come, none may vanish unseen.
    assert {"/api/sources", "/api/errors", "/api/monitoring/health"} <= set(calls.values()), calls


@pytest.mark.parametrize("register,path", sorted(api_calls().items()))
def test_fields_read_are_declared_by_the_response_model(openapi, register, path):
    declared = response_fields(openapi, path)
    assert declared, f"GET {path} declares no response model: nothing says what its fields are"
    unknown = sorted(fields_read(register) - declared)
    assert not unknown, (
        f"{register} (GET {path}) reads {unknown}, which the API's response model does not "
        f"declare; it declares {sorted(declared)}"
    )


def test_the_check_catches_a_mongodb_field_name(openapi, tmp_path, monkeypatch):
    """The defect this guards against, reproduced: `_id` over /api/sources items."""
    bad = tmp_path / "playbooks" / "bad.yml"
    bad.parent.mkdir()
    bad.write_text(
        "- hosts: all\n  tasks:\n"
        '    - ansible.builtin.uri:\n        url: "{{ runbook_api_url }}/api/sources"\n'
        "      register: _bad_sources\n"
        "    - ansible.builtin.debug:\n"
        "        msg: \"{{ _bad_sources.json['items'] | map(attribute='_id') | list }}\"\n"
    )
    monkeypatch.setitem(globals(), "REPO", tmp_path)
    assert api_calls() == {"_bad_sources": "/api/sources"}
    assert "_id" in fields_read("_bad_sources")
    assert "_id" not in response_fields(openapi, "/api/sources")
