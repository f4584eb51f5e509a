# Copyright: Airflow Crawler System contributors
# Apache License 2.0
"""Controller side of the deploy_stamp module (library/deploy_stamp.py).

Computes the inputs of a deploy on the controller, then runs the module on
the host with their digests:

- the content and mode of the files that shape a deploy (roles, playbooks,
  modules, plugins, the crawler and image sources, ansible.cfg and the
  inventory sources in use);
- the effective value of every role variable (the options of each role's
  meta/argument_specs.yml), templated for this host: a changed default,
  inventory variable or extra variable changes a digest. Values are only
  ever hashed, never returned, so vaulted secrets stay secret.

The deploy_stamp role's settings that name other roles' variables (project
directory, image set, host paths) are templated here too: the play that
checks the stamp runs before any of those roles is loaded, so their
defaults are read from the role directories with Ansible's precedence
(role defaults < inventory, facts and extra vars; role vars/main.yml over
inventory).
"""

from __future__ import annotations

import importlib.util
import os

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase


def _stamp_utils():
    """module_utils/acs_deploy_stamp.py: the module gets it through AnsiballZ,
    the controller has no such path, so it is loaded from the checkout."""
    path = os.path.join(
        os.path.dirname(__file__), "..", "..", "module_utils", "acs_deploy_stamp.py"
    )
    spec = importlib.util.spec_from_file_location("acs_deploy_stamp", os.path.normpath(path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_utils = _stamp_utils()
digest = _utils.digest
tree = _utils.tree

# deploy_stamp role variables templated in the context of every role.
SETTINGS = {
    "deploy_stamp_project_dir": "project_dir",
    "deploy_stamp_project_name": "project_name",
    "deploy_stamp_file": "stamp_file",
    "deploy_stamp_project_excludes": "project_excludes",
    "deploy_stamp_host_paths": "paths",
    "deploy_stamp_images": "images",
    "deploy_stamp_health_urls": "health_urls",
}


def role_files(loader, roles_dir: str, role: str) -> tuple[dict, dict, list[str]]:
    """(defaults, vars, option names) of a role, as written in its files."""
    base = os.path.join(roles_dir, role)
    if not os.path.isdir(base):
        raise AnsibleError(f"deploy_stamp_roles: no role {role} in {roles_dir}")

    def load(*parts):
        path = os.path.join(base, *parts)
        if not os.path.exists(path):
            return {}
        return loader.load_from_file(path, trusted_as_template=True) or {}

    specs = (load("meta", "argument_specs.yml").get("argument_specs")) or {}
    names = set(load("defaults", "main.yml"))
    for entry in specs.values():
        names.update((entry or {}).get("options") or {})
    return load("defaults", "main.yml"), load("vars", "main.yml"), sorted(names)


def controller_files(repo: str, paths: list[str], inventory_sources: list[str]) -> dict:
    """{root: {relative path: entry}}; an inventory file counts with its directory
    (its group_vars and host_vars live next to it)."""
    roots = {p: os.path.join(repo, p) for p in paths}
    for source in inventory_sources or []:
        source = os.path.abspath(source)
        if os.path.exists(source):
            root = source if os.path.isdir(source) else os.path.dirname(source)
            roots["inventory:" + os.path.relpath(root, repo)] = root
    return {name: tree(path, with_owner=False) for name, path in sorted(roots.items())}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("state", "roles", "roles_dir", "repo", "controller_paths"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        args = self._task.args
        roles = list(args.get("roles") or [])
        # Run from the deploy_stamp role: its directory's parent holds the
        # roles, and that one's parent is the checkout.
        roles_dir = args.get("roles_dir") or os.path.dirname(task_vars["role_path"])
        repo = args.get("repo") or os.path.dirname(roles_dir)

        loaded = {r: role_files(self._loader, roles_dir, r) for r in [*roles, "deploy_stamp"]}
        context = {}
        for defaults, _vars, _names in loaded.values():
            context.update(defaults)
        context.update(task_vars)
        for _defaults, role_vars, _names in loaded.values():
            for name, value in role_vars.items():
                context.setdefault(name, value)

        sections, undetermined = {}, []
        for role in roles:
            templar = self._templar.copy_with_new_env(
                available_variables=dict(context, role_path=os.path.join(roles_dir, role))
            )
            values = {}
            for name in loaded[role][2]:
                # Inputs from other roles count with their owner; skipping
                # them here also keeps out what the deploy itself sets as a
                # fact (stack_credentials), which the first play never sees.
                if not name.startswith(role + "_") or name not in context:
                    continue
                try:
                    values[name] = templar.template(context[name])
                except AnsibleError as exc:
                    undetermined.append(f"{name}: {exc.message}")
            sections[f"inputs:vars:{role}"] = digest(values)

        files = controller_files(
            repo,
            list(args.get("controller_paths") or []),
            task_vars.get("ansible_inventory_sources"),
        )
        for name, entries in files.items():
            sections[f"inputs:files:{name}"] = digest(entries)

        templar = self._templar.copy_with_new_env(available_variables=context)
        module_args = {key: templar.template(context[var]) for var, key in SETTINGS.items()}
        state = args.get("state", "check")
        # A value that cannot be known cannot be compared: no fast path, and
        # no stamp that would claim it (the module only compares then).
        module_args.update(
            state="check" if undetermined else state,
            inputs=sections,
            inputs_files=sum(1 for t in files.values() for e in t.values() if e[0] == "file"),
        )
        result.update(
            self._execute_module(
                module_name="deploy_stamp", module_args=module_args, task_vars=task_vars
            )
        )
        if undetermined:
            result["unchanged"] = False
            result["differences"] = [*result.get("differences", []), *undetermined]
            if state == "write":
                self._display.warning(
                    "no deploy stamp written: cannot template " + "; ".join(undetermined)
                )
        return result
