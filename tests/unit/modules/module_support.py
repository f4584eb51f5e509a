"""Helpers to run the repository's modules in-process, the way community.docker's unit
tests do: module_utils/ is added to ansible.module_utils' package path, args
are patched in, and exit_json/fail_json raise instead of exiting."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import ansible.module_utils
from ansible.plugins.loader import init_plugin_loader

# The collection loader, as ansible-playbook has it, before any module is
# loaded: community.docker's module_utils (compose_state) and doc fragments.
init_plugin_loader()

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


def load_documentation(module):
    """DOCUMENTATION with its extends_documentation_fragment merged in, as
    ansible-doc shows it (fragments from plugins/doc_fragments, like ansible.cfg)."""
    import yaml
    from ansible.plugins.loader import fragment_loader
    from ansible.utils.plugin_docs import add_fragments

    fragment_loader.add_directory(str(REPO / "plugins" / "doc_fragments"))
    doc = yaml.safe_load(module.DOCUMENTATION)
    add_fragments(doc, module.__file__, fragment_loader, is_module=True)
    return doc


# The key the module tests sign with (conftest puts it in the environment,
# where the modules find it as they find the stack's key in production).
TEST_SIGNING_KEY = "unit-test-backup-signing-key"


def write_manifest(path, manifest, key=TEST_SIGNING_KEY):
    """Write ``manifest`` to ``path``, signed with ``key`` (None: unsigned)."""
    import json

    from ansible.module_utils.acs_backup import signing

    signing.sign(manifest, signing.resolve_key(key) if key else None)
    Path(path).write_text(json.dumps(manifest))
    return manifest
