"""inventory/example: the README's vault recipe yields a vault whose
secrets pass site.yml's validation and reach stack_secrets."""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess

from stack_role_helpers import BIN, REPO, ansible_env, run_playbook

VAULT_KEYS = [
    "redis_password",
    "mongodb_root_password",
    "mongodb_app_password",
    "mongodb_backup_password",
    "postgres_password",
    "airflow_admin_password",
    "airflow_api_user_password",
    "airflow_jwt_secret",
    "airflow_api_secret_key",
    "grafana_admin_password",
    "api_key",
    "api_read_key",
    "backup_signing_key",
]


def _inventory_with_vault(tmp_path, values: dict[str, str]):
    inv = tmp_path / "example"
    shutil.copytree(REPO / "inventory/example", inv)
    vault = inv / "group_vars/all/vault.yml"
    vault.write_text("---\n" + "".join(f"vault_{k}: {v}\n" for k, v in values.items()))
    pw = tmp_path / "vault-pass"
    pw.write_text(secrets.token_urlsafe(24))
    subprocess.run(
        [str(BIN / "ansible-vault"), "encrypt", "--vault-password-file", str(pw), str(vault)],
        check=True,
        env=ansible_env(),
        capture_output=True,
    )
    assert vault.read_text().startswith("$ANSIBLE_VAULT;1.1;AES256")
    return inv, pw


def _values() -> dict[str, str]:
    values = {k: secrets.token_hex(24) for k in VAULT_KEYS}
    values["airflow_fernet_key"] = secrets.token_urlsafe(32)[:43] + "="
    return values


def _preflight(inv, pw, *extra):
    return run_playbook(
        [
            "playbooks/site.yml",
            "-i",
            str(inv),
            "--vault-password-file",
            str(pw),
            "--tags",
            "preflight",
            "--skip-tags",
            "docker_engine",
            "-e",
            "ansible_connection=local",
            "-e",
            "ansible_python_interpreter={{ ansible_playbook_python }}",
            *extra,
        ]
    )


def test_groups_of_the_layout():
    proc = subprocess.run(
        [str(BIN / "ansible-inventory"), "-i", str(REPO / "inventory/example"), "--graph"],
        capture_output=True,
        text=True,
        env=ansible_env(),
        check=True,
    )
    for group in ("@crawler_stack", "@crawler_workers"):
        assert group in proc.stdout


def test_vaulted_secrets_pass_validation(tmp_path):
    inv, pw = _inventory_with_vault(tmp_path, _values())
    proc = _preflight(inv, pw)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"changed=0\s", proc.stdout)


def test_a_weak_vaulted_secret_is_refused_by_name(tmp_path):
    values = _values()
    values["postgres_password"] = "admin"
    inv, pw = _inventory_with_vault(tmp_path, values)
    proc = _preflight(inv, pw)
    assert proc.returncode != 0
    assert "stack_secrets.postgres_password" in proc.stdout + proc.stderr
    assert values["postgres_password"] not in [line.strip() for line in proc.stdout.splitlines()]
