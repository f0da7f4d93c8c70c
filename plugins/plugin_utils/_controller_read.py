# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action plugin of a module whose run can happen on the controller (container_info,
host_info, haproxy_info, and container, the one of them that changes the engine).

With execution=auto (the default) or controller, the module's run (its module_utils/_*.py
main) happens on the controller, against the host's engine socket forwarded over the task's
SSH ControlMaster (haproxy_info: the runtime-API socket, on_controller): no module run on the
host. Where that is not possible, auto runs the module on the host and says why
(execution_reason); controller fails instead, naming the option
(module_utils/_engine_forward.py). Options that do not validate fail before either run, with
the module's own message (nothing is asked of the host). Private to dockyard.fleet.
"""
from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.dockyard.fleet.plugins.module_utils._engine_forward import (
    by_execution, run_on_controller, validated)


class ControllerReadAction(ActionBase):
    """Set MODULE (the module's name), and argument_spec() and main(module, client) (its
    module_utils' spec and run); SPEC_RULES: the module's required_one_of and the like. A
    module that reads something else than the engine overrides on_controller()."""
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = True

    MODULE = None
    SPEC_RULES = {}

    @staticmethod
    def argument_spec():
        raise NotImplementedError

    @staticmethod
    def main(module, client):
        raise NotImplementedError

    def on_controller(self, args):
        """(result, None), or (None, why not) with nothing done on the host: the run against
        the host's engine socket forwarded to the controller."""
        return run_on_controller(self, args, self.argument_spec(), self.main, **self.SPEC_RULES)

    def prepare(self, args, task_vars):
        """Fix up the task's options (args, in place) before either run, as a module's action
        plugin must (files on the controller); a message to fail the task with, or None."""
        del args, task_vars

    def validation_args(self, args):
        """The options as the module on the host would get them, before prepare() (its no_log
        values are what a message masks)."""
        return args

    def host_args(self, args):
        """The options the module on the host is given (prepare()'s)."""
        return args

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = dict(self._task.args)
        # options that do not validate fail here, wherever the run would happen, with the
        # module's own message: the module on the host would say the same a round trip later
        _params, failure = validated(self.MODULE, self.validation_args(args), self.argument_spec(),
                                     **self.SPEC_RULES)
        if failure is not None:
            result.update(failure, invocations=0, execution="controller")
            return result
        message = self.prepare(args, task_vars)
        if message:
            result.update(failed=True, changed=False, invocations=0, msg=message)
            return result

        def on_host():  # as ansible.builtin.normal does
            wrap_async = bool(self._task.async_val and not self._connection.has_native_async)
            result.update(self._execute_module(module_name=self.MODULE, module_args=self.host_args(args),
                                               task_vars=task_vars, wrap_async=wrap_async))
            if not wrap_async:
                self._remove_tmp_path(self._connection._shell.tmpdir)
            return result
        return by_execution(result, args, lambda: self.on_controller(args), on_host)
