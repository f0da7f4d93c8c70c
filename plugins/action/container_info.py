# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of dockyard.fleet.container_info.

With execution=auto (the default) or controller, the module's run (module_utils/
_container_info.py) happens here, against the host's engine socket forwarded to the controller
over the task's SSH ControlMaster: no module run on the host. Where that is not possible, auto
runs the module on the host and says why (execution_reason); controller fails instead
(module_utils/_engine_forward.py)."""
from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.dockyard.fleet.plugins.module_utils._container_info import (
    REQUIRED_ONE_OF, container_info_argument_spec, container_info_main)
from ansible_collections.dockyard.fleet.plugins.module_utils._engine_forward import (
    by_execution, run_on_controller)

MODULE = "dockyard.fleet.container_info"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)

        def on_controller():
            return run_on_controller(self, args, container_info_argument_spec(),
                                     container_info_main, required_one_of=REQUIRED_ONE_OF)

        def on_host():  # as ansible.builtin.normal does
            wrap_async = bool(self._task.async_val and not self._connection.has_native_async)
            result.update(self._execute_module(module_name=MODULE, module_args=args,
                                               task_vars=task_vars, wrap_async=wrap_async))
            if not wrap_async:
                self._remove_tmp_path(self._connection._shell.tmpdir)
            return result
        return by_execution(result, args, on_controller, on_host)
