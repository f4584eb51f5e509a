"""Creates or corrects the API's Airflow user and its role (FAB auth manager).

Run inside an Airflow container (post_up.yml, `docker exec`); everything comes
from the environment so that the password never appears on a command line:

ACS_API_USERNAME, ACS_API_PASSWORD  the user and its password
ACS_API_ROLE                        the role's name; the user has only this role
ACS_API_PERMISSIONS                 JSON list of [action, resource]: the role's
                                    permissions, exactly (extra ones are removed)
ACS_API_EMAIL                       the user's e-mail (FAB requires one)
ACS_CHECK_MODE                      "1": report what would change, change nothing

Prints one JSON line: {"changed": bool, "changes": [what changed or would]}.
"""

from __future__ import annotations

import json
import os
import sys

from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder
from werkzeug.security import check_password_hash


def _role(sm, name, wanted, check, changes):
    role = sm.find_role(name)
    if role is None:
        changes.append(f"create role {name}")
        if check:
            return None
        role = sm.add_role(name)
    have = {(p.action.name, p.resource.name): p for p in role.permissions}
    for action, resource in sorted(wanted - set(have)):
        changes.append(f"grant {action} on {resource}")
        if not check:
            sm.add_permission_to_role(role, sm.create_permission(action, resource))
    for key in sorted(set(have) - wanted):
        changes.append(f"revoke {key[0]} on {key[1]}")
        if not check:
            sm.remove_permission_from_role(role, have[key])
    return role


def _user(sm, env, role, check, changes):
    username, password = env["ACS_API_USERNAME"], env["ACS_API_PASSWORD"]
    user = sm.find_user(username=username)
    if user is None:
        changes.append(f"create user {username}")
        if not check:
            sm.add_user(username, "Crawler", "API", env["ACS_API_EMAIL"], role, password=password)
        return
    if [r.name for r in user.roles] != [env["ACS_API_ROLE"]] or not user.active:
        changes.append(f"set the roles of {username} to {env['ACS_API_ROLE']} only")
        if not check:
            user.roles = [role]
            user.active = True
            sm.update_user(user)
    if not check_password_hash(user.password, password):
        changes.append(f"set the password of {username}")
        if not check:
            sm.reset_password(user.id, password)


def main() -> int:
    env = os.environ
    check = env.get("ACS_CHECK_MODE") == "1"
    wanted = {tuple(p) for p in json.loads(env["ACS_API_PERMISSIONS"])}
    changes: list[str] = []
    with get_application_builder() as appbuilder:
        sm = appbuilder.sm
        role = _role(sm, env["ACS_API_ROLE"], wanted, check, changes)
        _user(sm, env, role, check, changes)
    print(json.dumps({"changed": bool(changes), "changes": changes}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
