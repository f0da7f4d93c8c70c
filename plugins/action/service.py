# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of dockyard.fleet.service.

Every task goes to the module unchanged (one run), except one detail of option roll: a load
balancer given as `controller_socket` (a unix socket on the controller leading to its HAProxy
runtime API, made by dockyard.fleet.socket_forward) is forwarded to the host over the task's own
SSH connection for the time of the run, and the module gets the forwarded path as `socket`.
In check mode the load balancers are not contacted, so nothing is forwarded.

With roll.batch_id, the runs of several hosts (a task with throttle 1) are one rolling
sequence: once one fails, the later ones fail at once without touching their host. The
failure is kept on the controller in <tmp>/dockyard-roll-<uid>/<sha1 of the id>.
"""
from __future__ import annotations

import copy
import hashlib
import os
import tempfile

from ansible.plugins.action import ActionBase
from ansible.utils.vars import merge_hash

from ansible_collections.dockyard.fleet.plugins.module_utils._ssh_forward import (
    ForwardError, cancel_to_host, forward_to_host)

MODULE = "dockyard.fleet.service"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = copy.deepcopy(self._task.args)
        roll = args.get("roll")
        lbs = roll.get("load_balancers") if isinstance(roll, dict) else None
        wanted = [lb for lb in lbs if isinstance(lb, dict) and lb.get("controller_socket")] \
            if isinstance(lbs, list) else []
        forwards = []
        batch = roll.get("batch_id") if isinstance(roll, dict) else None
        if batch:
            halted_by = batch_failed(batch)
            if halted_by is not None:
                result.update(
                    failed=True, changed=False, not_started=True, halted_by=halted_by,
                    msg="not rolled: the roll on %s failed before this host's turn (same "
                        "roll.batch_id); nothing was changed on this host" % halted_by)
                return result
        if wanted and self._task.async_val:
            result.update(failed=True, changed=False,
                          msg="option roll.load_balancers[].controller_socket cannot be used with "
                              "async (the forward lives as long as the task); use socket instead")
            return result
        try:
            for lb in wanted:
                if lb.get("socket"):
                    continue  # both given: the module names the conflict
                local = lb.pop("controller_socket")
                lb.setdefault("name", local)
                if self._task.check_mode:
                    lb["socket"] = local  # not contacted in check mode
                    continue
                remote = forward_to_host(self, local)
                forwards.append((remote, local))
                lb["socket"] = remote
                lb["forwarded"] = True  # the module removes the path when it ends
        except ForwardError as exc:
            cancel_to_host(self, forwards)
            result.update(failed=True, changed=False, msg="option roll.load_balancers: %s" % exc)
            return result
        # as ansible.builtin.normal does
        wrap_async = bool(self._task.async_val and not self._connection.has_native_async)
        ok = False
        try:
            result = merge_hash(result, self._execute_module(
                module_name=MODULE, module_args=args, task_vars=task_vars, wrap_async=wrap_async))
            ok = not result.get("failed") and not result.get("unreachable")
        finally:
            if batch and not ok:  # also when the host is lost (an exception)
                record_batch_failure(batch, task_vars.get("inventory_hostname", "?"))
            # paths the module removed need no command over the connection
            cancel_to_host(self, forwards, removed=result.pop("forwarded_removed", None) or ())
        if forwards:
            result["forwarded"] = [{"controller": local, "host": remote} for remote, local in forwards]
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result


def _batch_file(batch):
    base = os.path.join(tempfile.gettempdir(), "dockyard-roll-%d" % os.getuid())
    return base, os.path.join(base, hashlib.sha1(batch.encode()).hexdigest())


def batch_failed(batch):
    """The host whose run with this roll.batch_id failed, or None."""
    _base, path = _batch_file(batch)
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip() or "?"
    except FileNotFoundError:
        return None


def record_batch_failure(batch, host):
    base, path = _batch_file(batch)
    os.makedirs(base, mode=0o700, exist_ok=True)
    if not os.path.exists(path):  # the first failure halts the rest; keep its name
        with open(path, "w", encoding="utf-8") as f:
            f.write(host)
