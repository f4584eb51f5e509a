"""DOCUMENTATION of each module says what its argument spec does (the check
ansible-test validate-modules makes): same options, types, defaults, choices."""

from __future__ import annotations

import pytest
import yaml
from module_support import load_documentation, load_library


def _compare(doc_options, spec, where):
    assert set(doc_options) == set(spec), where
    for name, arg in spec.items():
        doc = doc_options[name]
        assert doc.get("type", "str") == arg.get("type", "str"), f"{where}.{name} type"
        assert doc.get("default") == arg.get("default"), f"{where}.{name} default"
        assert doc.get("choices") == arg.get("choices"), f"{where}.{name} choices"
        assert bool(doc.get("required")) == bool(arg.get("required")), f"{where}.{name} required"
        assert doc.get("elements") == arg.get("elements"), f"{where}.{name} elements"
        assert doc.get("description"), f"{where}.{name} has no description"
        if "options" in arg:
            _compare(doc["suboptions"], arg["options"], f"{where}.{name}")


@pytest.mark.parametrize(
    "name",
    [
        "mongodb_backup",
        "mongodb_restore",
        "service_health",
        "container_memory",
        "mongodb_counts",
        "compose_state",
        "mongodb_restore_drill",
        "deploy_stamp",
    ],
)
def test_documentation_matches_argument_spec(name):
    module = load_library(name)
    doc = load_documentation(module)
    assert doc["module"] == name
    assert doc["attributes"]["check_mode"]["support"] == "full"
    yaml.safe_load(module.EXAMPLES)
    yaml.safe_load(module.RETURN)
    _compare(doc["options"], module.argument_spec(), name)


def test_mongodb_backup_retention_defaults_are_the_engines():
    """The module's documented defaults and the API/DAG defaults are one rule."""
    from crawler._backup_engine import retention

    spec = load_library("mongodb_backup").argument_spec()
    assert spec["keep_last"]["default"] == retention.DEFAULT_KEEP_LAST
    assert spec["max_age_days"]["default"] == retention.DEFAULT_MAX_AGE_DAYS
    assert spec["keep_daily"]["default"] == retention.DEFAULT_KEEP_DAILY
    assert spec["keep_weekly"]["default"] == retention.DEFAULT_KEEP_WEEKLY
    assert spec["keep_monthly"]["default"] == retention.DEFAULT_KEEP_MONTHLY
