"""Fixture that runs a module of library/ in-process (see module_support)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

sys.path.insert(0, str(Path(__file__).resolve().parent))

from module_support import TEST_SIGNING_KEY, ModuleExit, ModuleFail, load_library


@pytest.fixture(autouse=True)
def signing_key(monkeypatch):
    """Backups are signed and checked with the test key (as with the stack's)."""
    monkeypatch.setenv("ACS_BACKUP_SIGNING_KEY", TEST_SIGNING_KEY)
    monkeypatch.delenv("ACS_BACKUP_SIGNING_KEY_FILE", raising=False)
    return TEST_SIGNING_KEY


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
