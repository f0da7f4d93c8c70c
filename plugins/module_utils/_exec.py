# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""dockyard.fleet.container_exec: one command in a running container (docker exec), its
output and exit code. Shared by the module (on the host) and its action plugin (on the
controller, against the host's engine socket forwarded over SSH).

Private to dockyard.fleet: no compatibility promise for code outside the collection.
"""
from __future__ import annotations

import traceback

from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import (
    EXECUTION_ARG, DockerClient, DockerError, docker_common_args)
from ansible_collections.dockyard.fleet.plugins.module_utils._container_spec import (
    SpecError, parse_spec, split_command, validate_name)
from ansible_collections.dockyard.fleet.plugins.module_utils._container_engine import ContainerEngine

# exec_start's wait on the own client when no command_timeout is given: as long as it runs
# (the task's `timeout` keyword bounds it, as for any task)
NO_LIMIT = 10 ** 7


def exec_argument_spec():
    """The module's argument spec (also what the action plugin validates with)."""
    return docker_common_args(
        container=dict(type="str", required=True),
        command=dict(type="raw", required=True),
        env=dict(type="dict"),
        user=dict(type="str"),
        chdir=dict(type="str", aliases=["workdir", "working_dir"]),
        tty=dict(type="bool", default=False),
        command_timeout=dict(type="int"),
        execution=dict(EXECUTION_ARG),
    )


def parse(params):
    """-> (argv, env) from the task's options, or SpecError naming the option."""
    validate_name(params["container"], "container")   # a name or an ID: both match
    argv = split_command(params["command"], "command")
    if not argv:
        raise SpecError("command", "must not be empty")
    env = parse_spec({"env": params.get("env")}).get("env") or {}   # as container's env
    if params.get("chdir") is not None and not str(params["chdir"]).startswith("/"):
        raise SpecError("chdir", "must be an absolute path in the container, got %r" % params["chdir"])
    if params.get("command_timeout") is not None and params["command_timeout"] <= 0:
        raise SpecError("command_timeout", "must be positive")
    return argv, env


def _text(data):
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data or "")
    return text.rstrip("\r\n")


def run(module, argv, env, client=None):
    p = module.params
    name = p["container"]
    client = client or DockerClient(p)
    info = ContainerEngine(client).inspect(name)
    if info is None:
        module.fail_json(msg="container %s not found (option container)" % name)
    state = info.get("State") or {}
    if not state.get("Running") or state.get("Paused") or state.get("Restarting"):
        module.fail_json(msg="container %s is %s, not running: a command cannot run in it "
                             "(option container)" % (name, state.get("Status") or "not running"))
    target = {"id": info["Id"], "name": (info.get("Name") or "").lstrip("/")}
    if module.check_mode:
        module.exit_json(changed=False, skipped=True, container=target, argv=argv,
                         msg="skipped in check mode: the command would run in container %s" % name)
    created = client.call("exec_create", info["Id"], argv, stdout=True, stderr=True, tty=p["tty"],
                          user=p["user"] or "", environment=env or None, workdir=p["chdir"] or None)
    start = {"tty": p["tty"], "demux": True}
    if getattr(client, "engine", None) is not None:   # the SDK (ssh:// engines) has no per-call timeout
        start["timeout"] = p["command_timeout"] or NO_LIMIT
    try:
        out, err = client.call("exec_start", created["Id"], **start)
    except DockerError as exc:
        if p["command_timeout"] and isinstance(exc.__cause__, TimeoutError):
            # the command started: whatever it did so far is done (changed), its output is lost
            module.fail_json(msg="the command gave no output for %s s and was given up on (option "
                                 "command_timeout); it may still run in container %s (the engine "
                                 "cannot stop an exec)" % (p["command_timeout"], name),
                             changed=True, container=target, exec_id=created["Id"])
        raise
    rc = client.call("exec_inspect", created["Id"]).get("ExitCode")
    stdout, stderr = _text(out), _text(err)
    result = dict(changed=True, rc=rc, stdout=stdout, stderr=stderr, stdout_lines=stdout.splitlines(),
                  stderr_lines=stderr.splitlines(), container=target, exec_id=created["Id"], argv=argv)
    if rc != 0:
        last = (stderr or stdout).strip().splitlines()
        module.fail_json(msg="the command exited with %s in container %s%s" % (
            rc, name, (": " + last[-1][:300]) if last else ""), **result)
    module.exit_json(**result)


def exec_main(module, client=None):
    """The module's run once its arguments are validated: on the host (the module) or on the
    controller against the host's engine socket forwarded over SSH (the action plugin, with
    client). Ends with module.exit_json or module.fail_json."""
    try:
        argv, env = parse(module.params)
    except SpecError as exc:
        module.fail_json(msg=str(exc))
    try:
        run(module, argv, env, client)
    except DockerError as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc())
