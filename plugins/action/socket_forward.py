# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of dockyard.fleet.socket_forward: runs on the controller only (no module run
on the host). See plugins/modules/socket_forward.py for the documentation."""
from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.dockyard.fleet.plugins.module_utils._ssh_forward import (
    ForwardError, cancel_to_controller, forward_to_controller)

OPTIONS = {"path", "state"}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = self._task.args
        unknown = sorted(set(args) - OPTIONS)
        path, state = args.get("path"), args.get("state", "present")
        if unknown:
            msg = "unsupported option(s) %s; supported: path, state" % ", ".join(unknown)
        elif not isinstance(path, str) or not path.startswith("/"):
            msg = "option path must be the absolute path of a unix socket on the host, not %r" % (path,)
        elif state not in ("present", "absent"):
            msg = "option state must be present or absent, not %r" % (state,)
        else:
            msg = None
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
        return result
