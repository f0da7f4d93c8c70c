# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side: a module's logic run by its action plugin against the host's engine
socket, forwarded to the controller over the task's SSH ControlMaster (`ssh -O forward`).
No module run on the host, no Python started there. Used by dockyard.fleet.image (ship=stream)
and dockyard.fleet.service (execution=controller).

Only the plain local engine qualifies (engine_socket); a task that cannot use a forward says
why (blocker), and the callers then run the module on the host instead (or fail, when the
task asked for the controller explicitly)."""
from __future__ import annotations

import importlib.util
import subprocess

from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import (
    DockerClient, DockerError)
from ansible_collections.dockyard.fleet.plugins.module_utils._ssh_forward import (
    ForwardError, cancel_to_controller, forward_to_controller)


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


def sdk_missing(params):
    """Why a run that may pull cannot run on the controller (pulls go through the Docker SDK,
    which the controller may not have), or None."""
    if params.get("pull", "never") != "never" and importlib.util.find_spec("docker") is None:
        return "the Docker SDK for Python (docker) is not installed on the controller, and " \
            "option pull may need it"
    return None


def blocker(action):
    """Why this task cannot use a forward made over its connection, or None."""
    if action._task.async_val:
        return "the task is async (the forward lives as long as the task)"
    pc = action._play_context
    if pc.become and (pc.become_user or "root") != "root":
        return "the task becomes %s (the forward opens the engine socket as the SSH user)" \
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
            client.call("version")
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
