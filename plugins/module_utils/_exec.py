# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""dockyard.fleet.container_exec: one command in a running container (docker exec), its
output and exit code. Shared by the module (on the host) and its action plugin (on the
controller, against the host's engine socket forwarded over SSH).

An attached run goes over the connection the engine hands over when it starts the exec
(HTTP Upgrade, with either client: the collection's own or the Docker SDK's for ssh://
engines): stdin is written on it and then half-closed, so the command sees its end; the
output is read as it comes, so command_timeout is a limit on silence and what came before a
give-up is kept.

Private to dockyard.fleet: no compatibility promise for code outside the collection.
"""
from __future__ import annotations

import queue
import re
import socket
import subprocess
import threading
import time
import traceback

from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import (
    EXECUTION_ARG, DockerClient, DockerError, docker_common_args)
from ansible_collections.dockyard.fleet.plugins.module_utils._container_spec import (
    SpecError, parse_spec, split_command, validate_name)
from ansible_collections.dockyard.fleet.plugins.module_utils._container_engine import ContainerEngine
from ansible_collections.dockyard.fleet.plugins.module_utils._engine_api import split_streams

# what the module and its action plugin validate with, besides the argument spec
SPEC_RULES = dict(mutually_exclusive=[("command", "argv")], required_one_of=[("command", "argv")])

# seconds the exec's inspect may take to show the end of a command whose output stream ended
END_WAIT = 5
READ_SIZE = 65536


def exec_argument_spec():
    """The module's argument spec (also what the action plugin validates with)."""
    return docker_common_args(
        container=dict(type="str", required=True),
        command=dict(type="raw"),
        argv=dict(type="list", elements="str"),
        env=dict(type="dict"),
        user=dict(type="str"),
        chdir=dict(type="str", aliases=["workdir", "working_dir"]),
        tty=dict(type="bool", default=False),
        privileged=dict(type="bool", default=False),
        stdin=dict(type="str"),
        stdin_add_newline=dict(type="bool", default=True),
        strip_empty_ends=dict(type="bool", default=True),
        detach=dict(type="bool", default=False),
        command_timeout=dict(type="int"),
        execution=dict(EXECUTION_ARG),
    )


def parse(params):
    """-> (argv, env, stdin bytes or None) from the task's options, or SpecError naming the
    option."""
    validate_name(params["container"], "container")   # a name or an ID: both match
    given = [name for name in ("command", "argv") if params.get(name) is not None]
    if len(given) != 1:
        raise SpecError("command", "give command or argv, not both" if given else
                        "give the command to run, as command (a list, or a string split into "
                        "words) or argv (a list)")
    option = given[0]
    argv = split_command(params[option], option)
    if not argv:
        raise SpecError(option, "must not be empty")
    env = parse_spec({"env": params.get("env")}).get("env") or {}   # as container's env
    if params.get("chdir") is not None and not str(params["chdir"]).startswith("/"):
        raise SpecError("chdir", "must be an absolute path in the container, got %r" % params["chdir"])
    if params.get("command_timeout") is not None and params["command_timeout"] <= 0:
        raise SpecError("command_timeout", "must be positive")
    data = stdin_bytes(params.get("stdin"), params.get("stdin_add_newline", True))
    if params.get("detach"):
        if data is not None:
            raise SpecError("stdin", "cannot be given with detach=true: a detached command is "
                                     "started without its input (it reads its end at once)")
        if params.get("command_timeout") is not None:
            raise SpecError("command_timeout", "has no use with detach=true: nothing is awaited")
    if data is not None and params.get("tty"):
        raise SpecError("stdin", "cannot be given with tty=true: a terminal has no end of input "
                                 "to pass on (the engine ends the output of a TTY exec when its "
                                 "input ends, and leaves the command waiting)")
    return argv, env, data


def stdin_bytes(text, add_newline=True):
    """What is written to the command's input: None for none (stdin not given)."""
    if text is None:
        return None
    return (text + "\n" if add_newline else text).encode("utf-8")


def output_text(data, strip_empty_ends=True):
    """The text of a stream's bytes (None: nothing came); trailing newlines removed unless
    strip_empty_ends is false (then exactly as received)."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data or "")
    return text.rstrip("\r\n") if strip_empty_ends else text


# ------------------------------------------------------------------ a command that never started
# What the engine says when it could not start the command at all. Docker 20.10 (runc) writes
# it on the exec's stdout (with a TTY: its output) and records exit code 126 and no process
# (Pid 0); a detached start gets it as the start call's error. For example:
#   OCI runtime exec failed: exec failed: unable to start container process: exec: "x":
#     executable file not found in $PATH: unknown          (command; stat ...: no such file
#     or directory, or permission denied, likewise)
#   unable to find user nobody: no matching entries in passwd file               (user)
#   unable to find group x: no matching entries in group file                    (user)
#   OCI runtime exec failed: exec failed: unable to start container process: chdir to cwd
#     ("/x") set in config.json failed: no such file or directory: unknown       (chdir)
#   OCI runtime exec failed: ...: unable to apply caps: operation not permitted  (privileged)
NOT_STARTED_RE = re.compile(r"OCI runtime exec failed|exec failed|unable to start container process|"
                            r"unable to find (?:user|group) |no matching entries in (?:passwd|group) file",
                            re.I)
NOT_STARTED_CODES = (126, 127)


def not_started(rc, pid, text, params):
    """(the option at fault or None, the engine's reason) when an exec's end says that its
    command never started; None when it ran (whatever its exit code).

    rc, pid: the exec inspect's ExitCode and Pid (None when the engine gives none); text:
    what came on its output (or the detached start's error). It takes all three: an exit
    code of 126 or 127, no process, and the engine's own words as the last line, so that a
    command that ran and exited 126 or 127 (`sh -c 'exit 127'`, a shell that found no such
    program) is never taken for one that did not start."""
    if rc not in NOT_STARTED_CODES or pid not in (0, None):
        return None
    lines = [line.strip() for line in str(text or "").splitlines() if line.strip()]
    if not lines or not NOT_STARTED_RE.search(lines[-1]):
        return None
    reason = lines[-1]
    low = reason.lower()
    if re.search(r"unable to find (user|group) |no matching entries in (passwd|group) file", low):
        option = "user"
    elif "chdir to cwd" in low:
        option = "chdir"
    elif "apply caps" in low and params.get("privileged"):
        option = "privileged"
    elif re.search(r'exec: "|executable file not found|no such file or directory|permission denied', low):
        option = "argv" if params.get("argv") is not None else "command"
    else:
        option = None
    return option, reason


def not_started_msg(container, option, reason):
    where = " (option %s)" % option if option else ""
    return "the command did not start in container %s%s: %s" % (container, where, reason)


# ------------------------------------------------------------------ the attached run
class Silent(Exception):
    """No output for command_timeout seconds: the run gave up. data: the stream's bytes so far."""

    def __init__(self, data):
        super().__init__("no output")
        self.data = data


class Broken(Exception):
    """The stream failed before its end. data: its bytes so far; cause: the error."""

    def __init__(self, cause, data):
        super().__init__(str(cause) or type(cause).__name__)
        self.cause = cause
        self.data = data


class Stream:
    """The connection an exec's start handed over, as either client returns it: a socket
    (the collection's own client: unix, tcp, TLS), or the Docker SDK's socket for ssh://
    engines (paramiko's Channel, or its ssh-command socket). Bytes the SDK's HTTP parser
    read past the answer's headers are taken first."""

    def __init__(self, sock):
        self.sock = sock
        self.ahead = b""
        self.read1 = None
        response = getattr(sock, "_response", None)   # the SDK keeps it on all but unix sockets
        fp = getattr(getattr(getattr(response, "raw", None), "_fp", None), "fp", None)
        if fp is not None:
            if hasattr(fp, "read1") and getattr(sock, "proc", None) is not None:
                self.read1 = fp.read1    # the ssh command's stdout (a buffered pipe)
            else:
                self.ahead = bytes(getattr(fp, "_rbuffer", b"") or b"")   # paramiko's ChannelFile
        if hasattr(sock, "settimeout"):
            sock.settimeout(None)    # the run's own wait bounds the silence (command_timeout)

    def read(self):
        if self.ahead:
            data, self.ahead = self.ahead, b""
            return data
        if self.read1 is not None:
            return self.read1(READ_SIZE)
        return self.sock.recv(READ_SIZE)

    def write(self, data):
        self.sock.sendall(data)

    def close_write(self):
        """End the command's input (its stdin sees EOF), the output still to come."""
        if hasattr(self.sock, "shutdown_write"):   # paramiko's Channel
            self.sock.shutdown_write()
        elif getattr(self.sock, "proc", None) is not None:   # the SDK's ssh command socket
            self.sock.proc.stdin.close()
        else:
            self.sock.shutdown(socket.SHUT_WR)

    def close(self):
        """Close it; a read or write blocked on it in another thread ends."""
        proc = getattr(self.sock, "proc", None)
        try:
            if proc is not None:
                if proc.poll() is None:
                    proc.terminate()
                    proc.wait(5)
            elif not hasattr(self.sock, "shutdown_write"):
                self.sock.shutdown(socket.SHUT_RDWR)
        except (OSError, subprocess.TimeoutExpired):
            pass
        try:
            self.sock.close()
        except (OSError, ValueError):
            pass


def attached_run(stream, data=None, timeout=None):
    """The whole output stream of an attached exec (its raw bytes: frames, or a TTY's bytes).

    data: bytes for the command's input, written and then ended (half-close) while the
    output is read (a command that writes much before it reads all of its input does not
    block the run); None: the exec has no input. timeout: seconds the stream may stay silent
    (None: as long as it runs): Silent past it, with what came before. Broken when the
    stream fails. The stream is closed at the end."""
    chunks = queue.Queue()

    def read():
        try:
            while True:
                chunk = stream.read()
                if not chunk:
                    break
                chunks.put(chunk)
            chunks.put(None)
        except Exception as exc:  # pylint: disable=broad-except
            chunks.put(exc)

    def write():
        try:
            if data:
                stream.write(data)
            stream.close_write()
        except Exception:  # pylint: disable=broad-except
            pass   # the command ended without reading all of it: its exit code tells

    threading.Thread(target=read, daemon=True).start()
    if data is not None:
        threading.Thread(target=write, daemon=True).start()
    received = []
    try:
        while True:
            try:
                item = chunks.get(timeout=timeout)
            except queue.Empty:
                raise Silent(b"".join(received)) from None
            if item is None:
                return b"".join(received)
            if isinstance(item, Exception):
                raise Broken(item, b"".join(received))
            received.append(item)
    finally:
        stream.close()


def exec_end(client, exec_id):
    """The exec's inspect once the engine has recorded its command's end (its stream can end
    a moment before), or the last one after END_WAIT seconds."""
    deadline = time.monotonic() + END_WAIT
    while True:
        info = client.call("exec_inspect", exec_id) or {}
        if not info.get("Running") or time.monotonic() >= deadline:
            return info
        time.sleep(0.05)


def outputs(data, tty, strip_empty_ends):
    """The result's stdout, stderr and their lines from a stream's bytes."""
    out, err = split_streams(data, tty)
    stdout, stderr = output_text(out, strip_empty_ends), output_text(err, strip_empty_ends)
    return dict(stdout=stdout, stderr=stderr, stdout_lines=stdout.splitlines(),
                stderr_lines=stderr.splitlines())


def engine_reason(exc):
    """The engine's own words in a DockerError of a call it refused."""
    text = str(exc)
    marker = "refused exec_start: "
    return text.split(marker, 1)[1] if marker in text else text


def can_half_close(client):
    """Whether stdin can be ended on this client's connections with the output still to come."""
    conn = getattr(client, "conn", None) or {}
    host = conn.get("host") or ""
    return not (getattr(client, "engine", None) is not None and conn.get("tls")
                and host.startswith(("tcp://", "https://")))


def run(module, argv, env, data, client=None):
    p = module.params
    name = p["container"]
    client = client or DockerClient(p)
    if data is not None and not can_half_close(client):
        module.fail_json(msg="stdin: cannot be sent to the engine at %s over TLS (Python cannot end "
                             "a TLS connection's input and go on reading it); use the engine's "
                             "unix socket (option docker_host) or leave stdin out" % client.shown_host)
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
    created = client.call("exec_create", info["Id"], argv, stdout=True, stderr=True,
                          stdin=data is not None, tty=p["tty"], privileged=p["privileged"],
                          user=p["user"] or "", environment=env or None, workdir=p["chdir"] or None)
    exec_id = created["Id"]
    base = dict(container=target, exec_id=exec_id, argv=argv)
    if p["detach"]:
        try:
            client.call("exec_start", exec_id, detach=True, tty=p["tty"])
        except DockerError as exc:
            fail_not_started(module, client, exec_id, engine_reason(exc), base)
            raise
        module.exit_json(changed=True, **base)
    stream = Stream(client.call("exec_start", exec_id, tty=p["tty"], socket=True))
    try:
        raw = attached_run(stream, data, p["command_timeout"])
    except Silent as exc:
        # the command started: whatever it did so far is done (changed); its output so far
        module.fail_json(msg="the command gave no output for %s s and was given up on (option "
                             "command_timeout); it may still run in container %s (the engine "
                             "cannot stop an exec)" % (p["command_timeout"], name),
                         changed=True, **dict(base, **outputs(exc.data, p["tty"], p["strip_empty_ends"])))
    except Broken as exc:
        module.fail_json(msg="the command's output from the Docker engine at %s broke off: %s; it "
                             "may still run in container %s" % (client.shown_host, exc, name),
                         changed=True, **dict(base, **outputs(exc.data, p["tty"], p["strip_empty_ends"])))
    result = outputs(raw, p["tty"], p["strip_empty_ends"])
    end = exec_end(client, exec_id)
    rc = end.get("ExitCode")
    fail_not_started(module, client, exec_id, "\n".join((result["stderr"], result["stdout"])), base,
                     end=end)
    result.update(base, changed=True, rc=rc)
    if rc != 0:
        last = (result["stderr"] or result["stdout"]).strip().splitlines()
        module.fail_json(msg="the command exited with %s in container %s%s" % (
            rc, name, (": " + last[-1][:300]) if last else ""), **result)
    module.exit_json(**result)


def fail_not_started(module, client, exec_id, text, base, end=None):
    """Fail (nothing changed) when the exec's command never started (not_started); return
    otherwise. end: the exec's inspect, asked for when not given."""
    if end is None:
        try:
            end = client.call("exec_inspect", exec_id) or {}
        except DockerError:
            return
    found = not_started(end.get("ExitCode"), end.get("Pid"), text, module.params)
    if found:
        module.fail_json(msg=not_started_msg(module.params["container"], *found), changed=False, **base)


def exec_main(module, client=None):
    """The module's run once its arguments are validated: on the host (the module) or on the
    controller against the host's engine socket forwarded over SSH (the action plugin, with
    client). Ends with module.exit_json or module.fail_json."""
    try:
        argv, env, data = parse(module.params)
    except SpecError as exc:
        module.fail_json(msg=str(exc))
    try:
        run(module, argv, env, data, client)
    except DockerError as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc())
