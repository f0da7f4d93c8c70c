# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of dockyard.fleet.haproxy_info.

With execution=auto (the default) or controller, the module's run (module_utils/
_haproxy_info.py) happens here, against the load balancer's runtime-API socket forwarded to
the controller over the task's SSH ControlMaster (module_utils/_ssh_forward.py, as
socket_forward does): no module run on the host. A forward made here is cancelled at the end;
a live one that was there already (socket_forward's, for a deploy) is left alone (a socket
file left by a master that has gone is no forward: it is made anew, and cancelled). Where
that is not possible, and with auto when the runtime API cannot be reached over the forward
(the socket is missing on the host, or the SSH user may not open it), the module runs on the
host and says why (execution_reason); controller fails instead, naming the option. Bad input
(options that do not validate, a bad name, timeout <= 0) and HAProxy's own answers (an unknown
backend) fail at once, naming the option: the module on the host would say the same."""
from __future__ import annotations

import subprocess

from ansible_collections.dockyard.fleet.plugins.module_utils._engine_forward import (
    blocker, run_here, validated)
from ansible_collections.dockyard.fleet.plugins.module_utils._haproxy_info import (
    haproxy_info_argument_spec, haproxy_info_main, haproxy_info_problem)
from ansible_collections.dockyard.fleet.plugins.module_utils._ssh_forward import (
    ForwardError, cancel_to_controller, open_forward_to_controller)
from ansible_collections.dockyard.fleet.plugins.plugin_utils._controller_read import (
    ControllerReadAction)


class ActionModule(ControllerReadAction):
    MODULE = "dockyard.fleet.haproxy_info"
    argument_spec = staticmethod(haproxy_info_argument_spec)

    def on_controller(self, args):
        """(result, None), or (None, why not) with nothing done on the host."""
        params, failure = validated(self.MODULE, args, self.argument_spec())
        problem = failure["msg"] if failure else haproxy_info_problem(params)
        if problem:        # bad input: the same failure as the module's, at once
            return dict(failed=True, changed=False, msg=problem, invocations=0,
                        execution="controller"), None
        if why := blocker(self):
            return None, why
        sock = (params["socket"] or "").strip()
        if not sock.startswith("/"):
            return None, "option socket %s is not a unix socket path on the host" % sock
        try:
            local, made = open_forward_to_controller(self, sock)
        except (ForwardError, OSError, subprocess.SubprocessError) as exc:
            return None, "cannot forward %s: %s" % (sock, exc)
        try:
            res = run_here(self, params, lambda module: haproxy_info_main(module, reach=local))
        finally:
            if made:
                try:
                    cancel_to_controller(self, sock)
                except (ForwardError, OSError, subprocess.SubprocessError):
                    pass  # the master ends it with ControlPersist
        if res.pop("forward_failed", False) and args.get("execution", "auto") == "auto":
            return None, "the runtime API over the forward: %s" % res["msg"]
        return res, None
