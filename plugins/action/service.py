# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of dockyard.fleet.service.

A run that needs nothing on the host but its engine and its release files runs on the
controller with execution=auto (the default) or controller: the host's engine socket is
forwarded to the controller over the task's SSH ControlMaster (as dockyard.fleet.image does to
stream an archive) and the module's own code (module_utils/_service.py) runs here against it,
with the same options, checks, check mode, diff and result. No module run on the host: no
module payload sent, no module_utils imported there. Options lock and record are calls in
one SSH session on the host over the same connection, open from the lock to the record (its
Python running module_utils/_release.py on the host's files); ready reaches the load
balancers given as controller_socket directly, on the controller. roll and env_file keep the
run on the host.
When that is not possible (another connection plugin, a tcp:// or TLS engine, DOCKER_* in the
task's environment, async, become to a non-root user, become with lock or record) auto runs
the module on the host and says why in execution_reason; execution=controller fails instead,
naming the option.

Every other task goes to the module unchanged (one run), except one detail of options roll and
ready: a load balancer given as `controller_socket` (a unix socket on the controller leading to its HAProxy
runtime API, made by dockyard.fleet.socket_forward) is forwarded to the host over the task's own
SSH connection for the time of the run, and the module gets the forwarded path as `socket`.
In check mode the load balancers are not contacted, so nothing is forwarded.

With roll.batch_id, the runs of several hosts are one rolling sequence: with roll.batch_hosts
each waits until the hosts before it in that list have ended (or the task runs with
throttle 1), and once one fails the later ones fail without changing their host
(module_utils/_roll_turns.py). Over ssh the module starts at once and waits on the host for
its turn, after reading and before any change: a socket on the controller that answers "go"
(or "halt") when the turn comes is forwarded to the host as roll.gate, so starting a host's
run overlaps the previous host's roll. Otherwise the plugin waits before starting the module.
"""
from __future__ import annotations

import copy
import subprocess

from ansible.plugins.action import ActionBase
from ansible.utils.vars import merge_hash

from ansible_collections.dockyard.fleet.plugins.module_utils._engine_forward import (
    HostRelease, answer_timeout, by_execution, host_calls_blocker, run_on_controller)
from ansible_collections.dockyard.fleet.plugins.module_utils._service import (
    MUTUALLY_EXCLUSIVE, needs_the_host, on_the_controller, service_argument_spec, service_main)

from ansible_collections.dockyard.fleet.plugins.module_utils._roll_turns import Gate, Turns
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

        took_lock = []

        def on_controller():
            why = needs_the_host(args, host_calls_blocker(self))
            if why is not None:
                return None, why
            files = HostRelease(self, task_vars, answer_timeout=answer_timeout(args))
            try:
                return run_on_controller(self, on_the_controller(args), service_argument_spec(),
                                         lambda module, client: service_main(module, client, files),
                                         mutually_exclusive=MUTUALLY_EXCLUSIVE)
            finally:
                files.close()
                took_lock.append(files.took_lock)

        def on_host():
            res = self._on_host(result, args, task_vars)
            # handed over after the lock was taken here (a pull needs the host): the module
            # finds it already this run's ("held"), but this run is the one that took it
            if any(took_lock) and res.get("lock") == "held":
                res["lock"] = "acquired"
            return res
        return by_execution(result, args, on_controller, on_host)

    def _on_host(self, result, args, task_vars):
        roll = args.get("roll")
        wanted = []  # (option, load balancer) given as a controller socket
        for opt in ("roll", "ready"):
            value = args.get(opt)
            lbs = value.get("load_balancers") if isinstance(value, dict) else None
            wanted += [(opt, lb) for lb in lbs if isinstance(lb, dict) and lb.get("controller_socket")] \
                if isinstance(lbs, list) else []
        forwards = []
        turns = gate = None
        batch = roll.get("batch_id") if isinstance(roll, dict) else None
        if batch and not self._task.check_mode:
            me = task_vars.get("inventory_hostname", "?")
            hosts = roll.get("batch_hosts")
            turns = Turns(str(batch), me, hosts if isinstance(hosts, list) else None)
            turns.start()
            try:
                if isinstance(hosts, list) and not self._task.async_val:
                    gate = self._open_gate(turns, roll, forwards)
                if gate is None:  # the turn is awaited here, before the module starts
                    turns.wait()
            except BaseException:
                turns.end(False)
                raise
            halted_by = turns.failed_host() if gate is None else None
            if halted_by is not None:
                turns.end(True)  # not a failure of its own: the next hosts stop for halted_by
                result.update(
                    failed=True, changed=False, not_started=True, halted_by=halted_by,
                    msg="not rolled: the roll on %s failed before this host's turn (same "
                        "roll.batch_id); nothing was changed on this host" % halted_by)
                return result
        try:
            return self._run(result, args, wanted, forwards, task_vars, turns, gate)
        finally:
            if turns is not None and turns.ending is None:
                turns.end(False)  # an exception (the host lost): the later hosts stop

    def _open_gate(self, turns, roll, forwards):
        """roll.gate: the module starts now and waits for the turn on the host, after reading
        and before any change; None when the socket cannot be forwarded (not ssh)."""
        try:
            gate = Gate(turns)
        except OSError:
            return None
        try:
            remote = forward_to_host(self, gate.path)
        except (ForwardError, OSError, subprocess.SubprocessError):
            gate.discard()  # the turn is then awaited on the controller, as without ssh
            return None
        forwards.append((remote, gate.path))
        roll["gate"] = remote
        return gate.start()

    def _run(self, result, args, wanted, forwards, task_vars, turns, gate):
        if wanted and self._task.async_val:
            result.update(failed=True, changed=False,
                          msg="option %s.load_balancers[].controller_socket cannot be used with "
                              "async (the forward lives as long as the task); use socket instead"
                              % wanted[0][0])
            return result
        opt = None
        try:
            for opt, lb in wanted:
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
            result.update(failed=True, changed=False, msg="option %s.load_balancers: %s" % (opt, exc))
            return result
        # as ansible.builtin.normal does
        wrap_async = bool(self._task.async_val and not self._connection.has_native_async)
        ok = False
        try:
            result = merge_hash(result, self._execute_module(
                module_name=MODULE, module_args=args, task_vars=task_vars, wrap_async=wrap_async))
            # halted at the gate: not a failure of its own, the next hosts stop for halted_by
            ok = (not result.get("failed") or result.get("not_started") is True) \
                and not result.get("unreachable")
        finally:
            if gate is not None:
                gate.close()  # the turns end in order: wait for this host's (the run may
                # have failed before it asked)
            if turns is not None and ok:
                turns.end(True)  # a failure (or an exception) ends it in run()
            # paths the module removed need no command over the connection
            cancel_to_host(self, forwards, removed=result.pop("forwarded_removed", None) or ())
        lb_forwards = [(remote, local) for remote, local in forwards
                       if gate is None or local != gate.path]  # the gate is internal
        if lb_forwards:
            result["forwarded"] = [{"controller": local, "host": remote}
                                   for remote, local in lb_forwards]
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result
