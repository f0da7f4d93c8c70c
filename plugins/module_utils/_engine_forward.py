# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side: a module's logic run by its action plugin against the host's engine
socket, forwarded to the controller over the task's SSH ControlMaster (`ssh -O forward`).
No module run on the host, no Python started there. Used by dockyard.fleet.image (ship=stream)
and dockyard.fleet.service (execution=controller).

Only the plain local engine qualifies (engine_socket); a task that cannot use a forward says
why (blocker), and the callers then run the module on the host instead (or fail, when the
task asked for the controller explicitly). run_on_controller() does all of it for a module
whose run is a function of (module, client): dockyard.fleet.service and container_info."""
from __future__ import annotations

import json
import shlex
import subprocess
import traceback

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.errors import UnsupportedError

from ansible_collections.dockyard.fleet.plugins.module_utils import _release
from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import (
    DockerClient, DockerError, NeedsHost)
from ansible_collections.dockyard.fleet.plugins.module_utils._ssh_forward import (
    ForwardError, Session, SessionTimeout, cancel_to_controller, forward_to_controller)


# seconds the engine has to answer /version through a new forward
PROBE_TIMEOUT = 10


def engine_socket(params, environment):
    """The unix socket path of the host's engine that can be forwarded to the controller, or
    (None, why not).

    params are the task's validated options, environment the task's `environment:` (the
    module's DOCKER_* variables: a task that sets any of them gets the module, which reads
    them). Only the plain local engine qualifies: a unix:// docker_host (or none), no TLS."""
    set_env = sorted(k for k in environment or {} if k.startswith("DOCKER_"))
    if set_env:
        return None, "the task's environment sets %s (read by the module on the host)" \
            % ", ".join(set_env)
    host = params.get("docker_host") or "unix:///var/run/docker.sock"
    if not host.startswith("unix://"):
        return None, "docker_host %s is not a unix socket on the host" % host
    path = host[len("unix://"):]
    if not path.startswith("/"):
        return None, "docker_host %s is not an absolute unix socket path" % host
    if params.get("tls") or params.get("validate_certs"):
        return None, "tls is set (only a tcp:// engine uses it)"
    return path, None


def blocker(action):
    """Why this task cannot use a forward made over its connection, or None."""
    if action._task.async_val:
        return "the task is async (the forward lives as long as the task)"
    pc = action._play_context
    if pc.become and (pc.become_user or "root") != "root":
        return "the task becomes %s (the forward opens the socket as the SSH user)" \
            % pc.become_user
    return None


def environment_of(action):
    """The task's `environment:` as a dict (what the module would get on the host)."""
    environment = {}
    action._compute_environment_string(environment)
    return environment


def engine_over_forward(action, params, sock):
    """A client for the host's engine socket forwarded to the controller, asked for its
    version: (client, None) or (None, why not). A second try after a failed one: a master
    whose connection died (the host rebooted within ControlPersist) accepts the forward,
    then resets the first connection through it and exits; the next request starts a new
    master."""
    why = None
    for _attempt in range(2):
        try:
            forwarded = forward_to_controller(action, sock)
        except (ForwardError, OSError, subprocess.SubprocessError) as exc:
            return None, "cannot forward %s: %s" % (sock, exc)
        client = DockerClient(dict(params, docker_host="unix://" + forwarded), environ={},
                              shown_host="unix://" + sock)
        try:
            # a short question first: a master whose host is cut off answers nothing, and the
            # run's own timeout (60 s by default) would be paid twice before the module runs
            client.probed_version = client.call("version", timeout=PROBE_TIMEOUT)
            return client, None
        except DockerError as exc:
            why = "the engine socket %s does not answer over the forward: %s" % (sock, exc)
        cancel(action, sock)
    return None, why


def cancel(action, sock):
    """End the forward (best effort: the master ends with ControlPersist, and its socket
    lives in the connection's private ControlPath directory)."""
    try:
        cancel_to_controller(action, sock)
    except (ForwardError, OSError, subprocess.SubprocessError):
        pass


# ------------------------------------------------------------------ the host's release files


def host_calls_blocker(action):
    """Why this task cannot call the host's Python for the release files (HostRelease), or
    None."""
    if action._connection.transport not in ("ssh", "ansible.builtin.ssh"):
        return "the connection is %s, not ssh" % action._connection.transport
    if action._play_context.become:
        return "the task uses become (the module writes them as the become user)"
    return None


def host_python(task_vars):
    """The host's Python for a call: the inventory's ansible_python_interpreter, else the one
    a module run discovered, else python3 from the PATH."""
    explicit = task_vars.get("ansible_python_interpreter")
    if isinstance(explicit, str) and explicit and "{" not in explicit:
        return explicit
    found = (task_vars.get("ansible_facts") or {}).get("discovered_interpreter_python")
    return found if isinstance(found, str) and found else "python3"


def answer_timeout(args, default=60):
    """HostRelease's answer_timeout for a task's options: its option timeout (the engine's
    timeout, default 60), or the default where it is not a number (validation says so)."""
    try:
        return max(1, int(args.get("timeout", default)))
    except (TypeError, ValueError):
        return default


class HostRelease:
    """Options lock and record of a service run on the controller, on the host's files: the
    host's Python runs module_utils/_release.py (sent over stdin) in one SSH session over the
    task's connection (its SSH master), kept open from the run's first call (the lock) to its
    last (the record) and ended by close(). No module run: no payload built, no module_utils
    imported there but this file. The same calls and errors as the module's (LocalRelease).
    Where the task has no such session (a password), each call is one command instead."""

    # the session's program: the first line of stdin is the code to run (JSON), then calls
    BOOT = "import json,sys;exec(json.loads(sys.stdin.readline()))"

    def __init__(self, action, task_vars, answer_timeout=60):
        self.action = action
        self.python = host_python(task_vars)
        self.session = None  # None: not started yet; False: none to be had (one command per call)
        self.took_lock = False  # whether this run's lock call acquired the lock
        # seconds a call over the session may take beyond its own wait (the lock's timeout):
        # the run's engine timeout (option timeout)
        self.answer_timeout = answer_timeout

    @staticmethod
    def _source():
        with open(_release.__file__, encoding="utf-8") as f:
            return f.read()

    def _over_session(self, call, timeout):
        """(stdout, rc, stderr) of call over the run's session, started at the first call;
        None where the task has none. Raises SessionTimeout when the host's program gives no
        answer within timeout seconds (the session is then ended)."""
        if self.session is None:
            # as a module's shebang takes it: a path, or a command with its arguments
            # ("/usr/bin/env python3"); -I -S: no user site, no site-packages (stdlib only)
            command = "%s -I -S -c %s" % (self.python, shlex.quote(self.BOOT))
            self.session = Session.open(self.action, command) or False
            if self.session:
                self.session.send(json.dumps(self._source() + "\nserve()\n"))
        elif self.session and self.session.ended():
            # ended since the last call (which it answered): this call never reached it, so
            # it goes as one command (a new session)
            self.session.close()
            self.session = False
        if not self.session:
            return None
        try:
            answer = self.session.answer(_release.ANSWER, timeout) if self.session.send(call) else None
        except SessionTimeout:
            self.session.close(timeout=1)
            self.session = False
            raise
        if answer is not None:
            return answer, 0, ""
        rc, stderr = self.session.close()  # ended without an answer: says why
        self.session = False
        return "", rc if rc else 1, stderr or "the session ended without an answer"

    def _one_command(self, call):
        program = "%s\nanswer_call(%r)\n" % (self._source(), call)
        res = self.action._low_level_execute_command(
            "%s -I -S -" % self.python, in_data=program, sudoable=False)
        return res.get("stdout") or "", res.get("rc"), res.get("stderr") or ""

    def _call(self, name, *args, wait=0):
        """The host's answer to one call, (result, None), or (None, why it could not be made).
        wait: seconds the call itself may wait on the host (the lock's timeout); beyond it and
        answer_timeout, a call left unanswered fails the run (ReleaseError): it may have been
        made, so it is not made again elsewhere."""
        call = json.dumps({"call": name, "args": args})
        try:
            out = self._over_session(call, wait + self.answer_timeout)
            stdout, rc, stderr = out if out is not None else self._one_command(call)
        except SessionTimeout:
            raise _release.ReleaseError(
                "%s on the host gave no answer to the %s call within %ss (the call's own wait "
                "plus option timeout): the host answers SSH, but the program hangs (its disk?)"
                % (self.python, name, wait + self.answer_timeout)) from None
        except Exception as exc:  # pylint: disable=broad-except
            return None, "the command over the connection failed: %s" % exc
        try:
            answer = json.loads(stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            answer = None
        if not isinstance(answer, dict) or rc != 0:
            return None, "%s on the host exited %s: %s" % (
                self.python, rc, (stderr or stdout).strip()[-300:])
        if "held" in answer:
            raise _release.LockHeld(answer["held"])
        if "error" in answer:
            raise _release.ReleaseError(answer["error"], changed=bool(answer.get("changed")))
        return answer["result"], None

    def lock(self, lk, check_mode):
        out, why = self._call("lock", lk, check_mode, wait=lk["timeout"])
        if why:  # nothing done yet: the module on the host does the run
            raise NeedsHost("the deploy lock (option lock): %s" % why)
        self.took_lock = self.took_lock or out.get("lock") == "acquired"
        return out

    def record(self, rec, image, changes, check_mode):
        out, why = self._call("record", rec, image, changes, check_mode)
        if why:
            raise _release.ReleaseError(why)
        return out

    def close(self):
        """The session ended (the host's Python exits), if there is one."""
        if self.session:
            self.session.close()
        self.session = False


# ------------------------------------------------------------------ a module run, here


class ModuleExit(BaseException):
    """module.exit_json / fail_json on the controller: the run ends here (as SystemExit ends
    the module on the host), carrying its result. Not an Exception: the run's own `except
    Exception` handlers cannot swallow the end."""

    def __init__(self, result):
        super().__init__()
        self.result = result


class ControllerModule:
    """What a module's run uses of AnsibleModule, for a run on the controller."""

    def __init__(self, params, check_mode):
        self.params = params
        self.check_mode = check_mode
        self.warnings = []

    def warn(self, warning):
        """As AnsibleModule.warn: shown with the task's result."""
        self.warnings.append(warning)

    def exit_json(self, **result):
        result.setdefault("changed", False)
        if self.warnings:
            result["warnings"] = list(self.warnings)
        raise ModuleExit(result)

    def fail_json(self, msg, **result):
        result.pop("exception", None)  # a traceback of the controller's code: not the host's
        result.update(failed=True, msg=msg)
        result.setdefault("changed", False)
        if self.warnings:
            result["warnings"] = list(self.warnings)
        raise ModuleExit(result)


def validated(module_name, args, argument_spec, **spec_rules):
    """(the task's options validated as the module would, None), or (None, the failure the
    module ends with when they do not validate: AnsibleModule's own message, no_log values
    masked). Options that do not validate fail here at once, wherever the run would happen:
    the module on the host would say the same, one SSH session and a Python start later."""
    result = ArgumentSpecValidator(argument_spec, **spec_rules).validate(args)
    if not result.error_messages:
        return result.validated_parameters, None
    msg = result.errors.msg
    if isinstance(result.errors[0], UnsupportedError):
        msg = "Unsupported parameters for (%s) module: %s" % (module_name, msg)
    return None, remove_values(dict(failed=True, changed=False, msg=msg), result._no_log_values)


def module_name_of(action):
    """The module's name as the module on the host is given it (its FQCN)."""
    return getattr(action, "MODULE", None) or getattr(action._task, "resolved_action", None) \
        or action._task.action


def run_on_controller(action, args, argument_spec, run, **spec_rules):
    """The module's run(module, client) here, against the host's engine socket forwarded to
    the controller: (result, None), or (None, why not) with nothing done on the host.

    args are the task's options; argument_spec and spec_rules (mutually_exclusive,
    required_one_of, ...) what the module validates them with. Options that do not validate
    fail here, with the module's own message (validated)."""
    params, failure = validated(module_name_of(action), args, argument_spec, **spec_rules)
    if failure is not None:
        return dict(failure, invocations=0, execution="controller"), None
    if why := blocker(action):
        return None, why
    sock, why = engine_socket(params, environment_of(action))
    if sock is None:
        return None, why
    try:
        client, why = engine_over_forward(action, params, sock)
        if client is None:
            return None, why
        try:
            res = run_here(action, params, lambda module: run(module, client))
        except NeedsHost as exc:  # before any change: the module on the host does the run
            return None, str(exc)
    finally:
        cancel(action, sock)
    return res, None


def run_here(action, params, run):
    """The result of a module's run(module) on the controller, with validated params (as the
    module would end: exit_json, fail_json, or a crash with its traceback)."""
    try:
        run(ControllerModule(params, bool(action._task.check_mode)))
        res = dict(failed=True, changed=False, msg="the run ended without a result")
    except ModuleExit as done:
        res = done.result
    except Exception as exc:  # pylint: disable=broad-except
        # as a module that crashes on the host: failed, with the error and its traceback
        res = dict(failed=True, changed=False, exception=traceback.format_exc(),
                   msg="the run on the controller failed: %s: %s" % (type(exc).__name__, exc))
    res.update(invocations=0, execution="controller")
    return res


def by_execution(result, args, on_controller, on_host):
    """The task's result for option execution (auto / controller / host): on_controller()
    (run_on_controller's (result, why not)) for auto and controller; where it cannot,
    execution=controller fails naming the option and auto runs on_host() (the module), with
    execution, execution_reason and invocations set."""
    execution = args.get("execution", "auto")
    why = None
    if execution in ("auto", "controller"):
        res, why = on_controller()
        if res is not None:
            result.update(res)
            return result
        if execution == "controller":
            result.update(failed=True, changed=False, invocations=0,
                          msg="execution: cannot run on the controller: %s (execution=auto "
                              "runs the module on the host instead)" % why)
            return result
    result = on_host()
    if result.get("not_started"):
        result["invocations"] = 0  # halted before its turn: the module never started
    else:
        result.update(invocations=1, execution="host")
        if why:
            result["execution_reason"] = why
    return result
