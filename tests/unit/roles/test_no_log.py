"""Secrets stay out of task results: every task whose result or arguments hold
a secret has ``no_log: true``.

A task's result goes to the console with -v, to ansible-runner's artifacts
(job_events), and to the incident report's timeline; its arguments go along
with it. The scan reads every task in roles/ and playbooks/ and asks for
``no_log: true`` where the result holds a container's environment
(docker_container_info, docker_container, ``docker inspect``, compose_state), where a
credentials file is read (slurp, include_vars), or where an argument, the
task environment or a loop item is templated from a secret variable. A
module's own no_log parameters (uri's password) are masked by Ansible and
need nothing. docker_compose_v2 returns ``docker compose ps`` (names, images,
labels, state), no environment: it is not on the list.

A second check: no task puts a secret on a command line (argv, cmd), where
``ps`` shows it to every local user whatever no_log says.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]

# Modules whose result is a container's inspect output, Config.Env included,
# or the compose configuration with every service's environment.
ENV_MODULES = {"docker_container_info", "docker_container", "compose_state"}
# Reads of a file; a credentials file's content lands in the result.
READ_MODULES = {"slurp", "include_vars"}
COMMAND_MODULES = {
    "command",
    "shell",
    "raw",
    "docker_container_exec",
    "docker_compose_v2_exec",
    "docker_compose_v2_run",
}
# Commands that print a container's environment.
ENV_COMMANDS = re.compile(r"docker\s+(container\s+)?inspect|\bprintenv\b|docker\s+compose\s+config")
SECRET_WORD = re.compile(r"password|passwd|secret|api_?key|token|credentials", re.I)
# Names of where a secret is, not the secret: paths and key names.
NOT_SECRET = re.compile(r"(_file|_dir|_path|_password_key)$")
SECRET_PATH = re.compile(r"credential|secret|password", re.I)
# Parameters a module marks no_log itself: Ansible masks their values.
# (test_our_modules_mask_their_login_password_and_signing_key checks ours.)
MODULE_NO_LOG = {
    "uri": {"password", "url_password"},
    "mongodb_backup": {"login_password", "signing_key"},
    "mongodb_restore": {"login_password", "signing_key"},
    "mongodb_restore_drill": {"signing_key"},
}
KEYWORDS = {
    "name", "when", "register", "no_log", "tags", "become", "become_user", "vars", "loop",
    "loop_control", "changed_when", "failed_when", "until", "retries", "delay", "notify",
    "environment", "args", "ignore_errors", "delegate_to", "run_once", "check_mode", "listen",
    "block", "rescue", "always", "module_defaults", "any_errors_fatal", "diff", "throttle",
    "timeout", "collections", "async", "poll", "ignore_unreachable", "connection",
    "delegate_facts", "debugger",
}  # fmt: skip


def _task_files():
    files = sorted(REPO.glob("roles/*/tasks/**/*.yml")) + sorted(
        REPO.glob("roles/*/handlers/*.yml")
    )
    return files + sorted(REPO.glob("playbooks/**/*.yml"))


def _tasks(node):
    """Every task in a task list or a playbook, blocks opened."""
    for item in node or []:
        if not isinstance(item, dict):
            continue
        if "hosts" in item or "import_playbook" in item:
            for key in ("pre_tasks", "tasks", "post_tasks", "handlers"):
                yield from _tasks(item.get(key))
            continue
        if "block" in item:
            for key in ("block", "rescue", "always"):
                yield from _tasks(item.get(key))
            continue
        yield item


def _module(task):
    for key in task:
        if key not in KEYWORDS and not key.startswith("with_"):
            return key, task[key]
    return None, None


def _strings(node):
    """Every string in a nested argument structure (argv lists joined by the caller)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def _secret_names(text):
    """Variables named like a secret inside the Jinja expressions of ``text``."""
    names = set()
    for expr in re.findall(r"\{\{(.*?)\}\}", text, re.S):
        expr = re.sub(r"'[^']*'|\"[^\"]*\"", "''", expr)  # words in string literals are text
        for name in re.findall(r"[A-Za-z_][\w.]*", expr):
            if any(SECRET_WORD.search(p) and not NOT_SECRET.search(p) for p in name.split(".")):
                names.add(name)
    return names


def why_no_log(task):
    """The reason this task needs no_log: true, or None."""
    module, args = _module(task)
    if module is None:
        return None
    short = module.rsplit(".", 1)[-1]
    if short in ENV_MODULES:
        return f"{short} returns the container's environment"
    shown = dict(args) if isinstance(args, dict) else {"_raw": args}
    if short in COMMAND_MODULES and ENV_COMMANDS.search(
        " ".join(_strings([shown, task.get("args")]))
    ):
        return "the command prints a container's environment"
    if short in READ_MODULES and SECRET_PATH.search(json.dumps(shown)):
        return f"{short} reads a credentials file into the result"
    for key in MODULE_NO_LOG.get(short, ()):
        shown.pop(key, None)
    for extra in ("environment", "args", "loop", *(k for k in task if k.startswith("with_"))):
        shown[extra] = task.get(extra)
    secrets = _secret_names(" ".join(_strings(shown)))
    if secrets:
        return f"the arguments are templated from {sorted(secrets)}"
    return None


def _task_id(path, task):
    return f"{path.relative_to(REPO)}: {task.get('name', '?')}"


def _all_tasks():
    for path in _task_files():
        for task in _tasks(yaml.safe_load(path.read_text())):
            yield path, task


def test_the_scan_sees_the_tasks_it_is_about():
    """The scan is not vacuous: it reads the tasks that must carry no_log."""
    reasons = [why_no_log(t) for _p, t in _all_tasks()]
    assert sum(r is not None for r in reasons) >= 5
    assert any(r and "environment" in r for r in reasons)
    assert any(r and "credentials file" in r for r in reasons)


def test_tasks_holding_secrets_have_no_log():
    missing = [
        f"{_task_id(path, task)} ({reason})"
        for path, task in _all_tasks()
        if (reason := why_no_log(task)) and task.get("no_log") is not True
    ]
    assert missing == [], "add no_log: true to:\n" + "\n".join(missing)


def test_our_modules_mask_their_login_password_and_signing_key():
    import ansible.module_utils

    if str(REPO / "module_utils") not in ansible.module_utils.__path__:
        ansible.module_utils.__path__.append(str(REPO / "module_utils"))
    from ansible.module_utils.acs_common import mongodb_tools_argspec_ex

    argspec = mongodb_tools_argspec_ex()["argspec"]
    assert argspec["login_password"]["no_log"] is True
    assert argspec["signing_key"]["no_log"] is True
    sys.path.insert(0, str(REPO / "tests" / "unit" / "modules"))
    from module_support import load_library

    drill = load_library("mongodb_restore_drill").argument_spec()
    assert drill["signing_key"]["no_log"] is True


def test_no_secret_on_a_command_line():
    """argv and cmd are what ps shows; no_log does not hide them there."""
    found = []
    for path, task in _all_tasks():
        module, args = _module(task)
        if module is None or module.rsplit(".", 1)[-1] not in COMMAND_MODULES:
            continue
        line = args if isinstance(args, str) else {
            k: v for k, v in (args or {}).items() if k in ("argv", "cmd", "command", "_raw_params")
        }  # fmt: skip
        secrets = _secret_names(" ".join(_strings(line)))
        if secrets:
            found.append(f"{_task_id(path, task)}: {sorted(secrets)}")
    assert found == [], "secrets on a command line:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        ({"community.docker.docker_container_info": {"name": "x"}}, "environment"),
        ({"ansible.builtin.command": {"argv": ["docker", "inspect", "x"]}}, "environment"),
        ({"ansible.builtin.slurp": {"src": "{{ stack_credentials_file }}"}}, "credentials file"),
        (
            {"ansible.builtin.uri": {"url": "u", "headers": {"X-API-Key": "{{ api_key }}"}}},
            "templated",
        ),
        ({"ansible.builtin.set_fact": {"pw": "{{ creds.content | b64decode }}"}}, None),
        ({"ansible.builtin.uri": {"url": "u", "password": "{{ admin_password }}"}}, None),
        ({"ansible.builtin.file": {"path": "{{ stack_credentials_file | dirname }}"}}, None),
        ({"community.docker.docker_compose_v2": {"project_src": "/x"}, "register": "r"}, None),
    ],
)
def test_the_rules(task, expected):
    reason = why_no_log(task)
    assert (reason is None) if expected is None else (expected in reason), reason


# A password given as a flag: mongosh/mongodump/airflow --password or -p,
# redis-cli -a, curl -u user:password, a URI with user:password in argv.
PASSWORD_FLAG = re.compile(
    r"--password\b"
    r"|\b(mongosh|mongo|mongodump|mongorestore|mysql|mysqldump)\b[^\n]*\s-p\s*[\"']?\$"
    r"|redis-cli\b[^\n]*\s-a\s|curl\b[^\n]*\s-u\s|://[^/\s:@]+:\$[^@\s]*@"
)


def test_no_password_flag_in_compose_templates_or_image_scripts():
    """Compose commands, healthchecks and entrypoints run where ps shows them."""
    files = [
        p
        for p in sorted(REPO.glob("roles/*/templates/**/*")) + sorted(REPO.glob("images/**/*"))
        if p.is_file()
        and p.suffix in (".j2", ".sh", ".yml", ".yaml", "")
        and p.stat().st_size < 200_000
    ]
    found = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in files
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if PASSWORD_FLAG.search(line) and not line.lstrip().startswith("#")
    ]
    assert found == [], "passwords on a command line:\n" + "\n".join(found)
