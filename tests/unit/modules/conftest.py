"""Run the repository's modules in-process, the way community.docker's unit
tests do: module_utils/ is added to ansible.module_utils' package path, args
are patched in, and exit_json/fail_json raise instead of exiting."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import ansible.module_utils
import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

REPO = Path(__file__).resolve().parents[3]
if str(REPO / "module_utils") not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(str(REPO / "module_utils"))


class ModuleExit(Exception):
    def __init__(self, result):
        super().__init__(result)
        self.result = result


class ModuleFail(ModuleExit):
    pass


def load_library(name):
    spec = importlib.util.spec_from_file_location(
        f"acs_library_{name}", REPO / "library" / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def run_module(monkeypatch):
    """run_module(name, args) -> result dict; raises ModuleFail on fail_json."""

    def exit_json(self, **kwargs):
        kwargs.setdefault("changed", False)
        raise ModuleExit(kwargs)

    def fail_json(self, msg, **kwargs):
        kwargs["msg"] = msg
        kwargs["failed"] = True
        raise ModuleFail(kwargs)

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)

    def run(name, args):
        module = load_library(name)
        with patch_module_args(args):
            try:
                module.main()
            except ModuleFail:
                raise
            except ModuleExit as done:
                return done.result
        raise AssertionError("module returned without exit_json")

    return run
