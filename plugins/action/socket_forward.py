# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of dockyard.fleet.socket_forward: runs on the controller only (no module run
on the host). See plugins/modules/socket_forward.py for the documentation."""
from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.dockyard.fleet.plugins.module_utils._haproxy import (
    RuntimeClient, name_problem)
from ansible_collections.dockyard.fleet.plugins.module_utils._lb_view import read_backend_ports
from ansible_collections.dockyard.fleet.plugins.module_utils._ssh_forward import (
    ForwardError, cancel_to_controller, forward_to_controller)

OPTIONS = {"path", "state", "backend"}


def args_problem(args):
    """Why the task's options cannot be used (naming the option), or None."""
    unknown = sorted(set(args) - OPTIONS)
    path, state, backend = args.get("path"), args.get("state", "present"), args.get("backend")
    if unknown:
        return "unsupported option(s) %s; supported: backend, path, state" % ", ".join(unknown)
    if not isinstance(path, str) or not path.startswith("/"):
        return "option path must be the absolute path of a unix socket on the host, not %r" % (path,)
    if state not in ("present", "absent"):
        return "option state must be present or absent, not %r" % (state,)
    if backend is None:
        return None
    if not isinstance(backend, str):
        return "option backend must be a backend name, not %r" % (backend,)
    if state != "present":
        return "option backend needs state=present (it reads the backend through the forward)"
    return name_problem(backend, "backend", "backend name")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = self._task.args
        path, state = args.get("path"), args.get("state", "present")
        backend = args.get("backend")
        msg = args_problem(args)
        if msg:
            result.update(failed=True, changed=False, msg=msg)
            return result
        try:
            if state == "absent":
                local = cancel_to_controller(self, path)
            else:
                local = forward_to_controller(self, path)
        except ForwardError as exc:
            result.update(failed=True, changed=False, msg=str(exc))
            return result
        # Nothing on any host changes: the forward lives in the controller's SSH master.
        result.update(changed=False, controller_socket=local, path=path, state=state)
        if backend is not None:
            # one runtime-API exchange on the controller, through the forward just made: no
            # module run, no SSH session (a channel of the running master)
            servers, error = read_backend_ports(RuntimeClient(local), backend)
            result.update(backend=backend, servers=servers)
            if error:
                result["servers_error"] = error
        return result
