# Copyright: Airflow Crawler System contributors
# Apache License 2.0
"""The entry point mongodb_backup and mongodb_restore share: their argument
spec (the tools options of acs_common plus the module's own), the
AnsibleModule with the shared constraints, the engine (or a clean failure
when it cannot load on the target), and the connection keywords. Like
community.docker's AnsibleDockerClient, it keeps that out of each module."""

from __future__ import annotations

import traceback

from ansible.module_utils.acs_common import (
    mongo_uri_with_login,
    mongodb_tools_argspec_ex,
    mongodb_tools_options,
)
from ansible.module_utils.basic import AnsibleModule


def tools_argument_spec(options):
    """The shared tools options plus the module's own ``options``."""
    spec = mongodb_tools_argspec_ex()["argspec"]
    spec.update(options)
    return spec


def tools_module(options, mutually_exclusive=()):
    """(module, engine): the AnsibleModule, check mode supported, and the
    backup engine package; fails the task when the engine or pymongo is missing."""
    kwargs = mongodb_tools_argspec_ex()
    del kwargs["argspec"]
    kwargs["mutually_exclusive"] = list(mutually_exclusive) + kwargs["mutually_exclusive"]
    module = AnsibleModule(
        argument_spec=tools_argument_spec(options), supports_check_mode=True, **kwargs
    )
    return module, load_engine(module)


def load_engine(module):
    """The backup engine package; fails the task when it or pymongo is missing."""
    try:
        from ansible.module_utils import acs_backup as engine
    except ImportError:
        # The engine may fail to load on a target: a task failure, not a crash.
        module.fail_json(
            msg="module_utils acs_backup could not be loaded", exception=traceback.format_exc()
        )
    if not engine.HAS_PYMONGO:
        module.fail_json(msg="pymongo is required on the target host: pip install pymongo")
    return engine


def server_and_tools(params, engine):
    """(server URI with the login merged in, the engine's tools keywords)."""
    uri = mongo_uri_with_login(params["uri"], params["login_user"], params["login_password"])
    return uri, mongodb_tools_options(params, engine.default_container_uri)
