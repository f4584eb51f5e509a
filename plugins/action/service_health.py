# Copyright: Airflow Crawler System contributors
# Apache License 2.0
"""Controller side of the service_health module (library/service_health.py).

When the target is the controller itself (a local connection, no become,
no async), the probes run here, in the playbook's process: the same options,
the same checks (module_utils/acs_health.py) and the same result, without a
module start. A module start costs 0.4 to 0.7 s (a Python process, the import
of ansible.module_utils.basic, the temporary directory), more than the probes
themselves, and status, every recovery and the deploy wait on it. Any other
target runs the module, which probes from that host's network.
"""

from __future__ import annotations

import os

import ansible.module_utils
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action import ActionBase

# The checkout's module_utils (plugins/action/ -> the repository root): the
# module gets them through AnsiballZ, the controller has no such path.
_MODULE_UTILS = os.path.normpath(
    os.path.join(os.path.dirname(__file__), "..", "..", "module_utils")
)


def _health_spec():
    """module_utils/acs_health_spec.py, or None when it cannot be imported here
    (the module then runs as usual and reports why)."""
    if _MODULE_UTILS not in ansible.module_utils.__path__:
        ansible.module_utils.__path__.append(_MODULE_UTILS)
    try:
        from ansible.module_utils import acs_health_spec
    except ImportError:
        return None
    return acs_health_spec


class ActionModule(ActionBase):
    _supports_check_mode = True
    _supports_async = True

    def _in_process(self):
        return (
            self._connection.transport == "local"
            and not self._play_context.become
            and not self._task.async_val
        )

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        spec = _health_spec() if self._in_process() else None
        if spec is None:
            result.update(
                self._execute_module(
                    module_name="service_health",
                    module_args=self._task.args,
                    task_vars=task_vars,
                    wrap_async=self._task.async_val,
                )
            )
            return result
        validation = ArgumentSpecValidator(spec.argument_spec()).validate(dict(self._task.args))
        if validation.error_messages:
            # As the module words it: every bad field, named.
            result.update(failed=True, msg=", ".join(validation.error_messages))
            return result
        checked, failure = spec.health_result(validation.validated_parameters)
        # As AnsibleModule's exit_json: the values of no_log options (the
        # MongoDB URI, the headers' keys) never appear in the result.
        checked = remove_values(checked, validation._no_log_values)
        result.update(checked)
        if failure:
            result.update(failed=True, msg=remove_values(failure, validation._no_log_values))
        return result
