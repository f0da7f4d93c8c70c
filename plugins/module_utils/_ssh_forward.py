# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unix-socket forwards over Ansible's own SSH connections (controller side, action plugins).

A rolling cycle run on an app host needs the load balancer's HAProxy runtime API, which
listens on a unix socket on the load balancer only. Instead of opening a TCP stats socket
(which has no authentication), the socket is carried over the SSH connections the controller
already has: `ssh -O forward -L <controller socket>:<runtime API>` on the load balancer's
ControlMaster makes it appear on the controller, `ssh -O forward -R <app socket>:<controller
socket>` on the app host's ControlMaster makes it appear there. Each is a request to a running
master (a few milliseconds, no new SSH handshake, no process on the hosts), authenticated by
the same keys and host keys as every task.

Needs the `ssh` connection plugin with ControlPersist (the collection's ansible.cfg has it).
Private to dockyard.fleet: no compatibility promise for code outside the collection.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import secrets
import select
import shlex
import socket
import subprocess
import tempfile
import time

SSH_PLUGINS = ("ssh", "ansible.builtin.ssh", "ansible.legacy.ssh")
NO_MASTER = (b"No such file or directory", b"Connection refused", b"Control socket connect")


class ForwardError(Exception):
    """A forward could not be made; the message says why and what to change."""


class SessionTimeout(Exception):
    """Session.answer: no answer within the time given."""


def _plugin_name(conn):
    return getattr(conn, "_load_name", None) or getattr(conn, "transport", None)


def _password(conn):
    """Whether the connection logs in with a password (which only the plugin's sshpass pipe
    gives to ssh)."""
    return bool(conn.get_option("password")
                or getattr(getattr(conn, "_play_context", None), "password", None))


def _connection(action):
    conn = action._connection
    name = _plugin_name(conn)
    if name not in SSH_PLUGINS:
        raise ForwardError("forwarding a socket needs the ssh connection plugin; this host uses "
                           "%r (set ansible_connection=ssh, or give the load balancer's runtime "
                           "API as roll.load_balancers[].socket)" % name)
    return conn


def _host(conn):
    return conn.get_option("host") or conn._play_context.remote_addr


def mux(action, *args, timeout=30):
    """Run `ssh <connection options> <args> <host>` against the connection's ControlMaster,
    starting the master first when there is none. Returns (rc, stdout, stderr)."""
    conn = _connection(action)
    cmd = conn._build_command(conn.get_option("ssh_executable"), "ssh", *args, _host(conn))
    if not any(b"ControlPath" in part for part in cmd):
        raise ForwardError("forwarding a socket needs ControlPersist in ssh_args (the forward "
                           "lives in the connection's ControlMaster); ssh_args are %r"
                           % conn.get_option("ssh_args"))
    # Several hosts' tasks delegated to one load balancer at once would each start a
    # connection when there is no master (one becomes the master, the others pay a handshake
    # for nothing): requests to a host's master are made under a lock, so the first one
    # starts it and the others then find it.
    with _master_lock(conn):
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
        if proc.returncode != 0 and any(m in proc.stderr for m in NO_MASTER):
            started = _start_master_forwarding(conn, args, timeout)
            if started is not None:
                return started
            # any command over the connection starts a master (ControlMaster=auto)
            action._low_level_execute_command("true")
            proc = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def _start_master_forwarding(conn, args, timeout):
    """A forward request (`-O forward -L|-R spec`) and no master: start the master with the
    forward on its command line (`ssh -f -N` with the connection's options: ControlMaster=auto
    makes it the master every later task of the host uses, ControlPersist ends it as it ends
    Ansible's own). One process and one handshake, where the connection plugin's way is a
    remote `true` (a session and a shell on the host) and then the request. A master that
    exists by the time ssh starts is handed the forward, and ssh exits, as a request would
    (a master started by another task in the moment between makes this one a plain
    connection that holds the forward until the host or the controller ends it).
    -> (rc, stdout, stderr), or None where this cannot be done so (not a forward; a password,
    which only the connection plugin's sshpass pipe gives)."""
    if len(args) != 4 or tuple(args[:2]) != ("-O", "forward") or args[2] not in ("-L", "-R"):
        return None
    if _password(conn):
        return None
    cmd = conn._build_command(conn.get_option("ssh_executable"), "ssh", "-f", "-N",
                              "-o", "ExitOnForwardFailure=yes", args[2], args[3], _host(conn))
    # -f: the master goes on in the background with the standard streams it was given, so
    # they must not be pipes this call would wait on to close
    with tempfile.TemporaryFile() as err:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=err, timeout=timeout, check=False)
        err.seek(0)
        return proc.returncode, b"", err.read()


class _master_lock:
    """An exclusive lock (flock) per host in the ControlPath directory, around the requests to
    the host's master and its start."""

    def __init__(self, conn):
        cpdir = os.path.expanduser(conn.get_option("control_path_dir"))
        os.makedirs(cpdir, mode=0o700, exist_ok=True)
        key = "%s@%s:%s" % (conn.get_option("remote_user"), _host(conn), conn.get_option("port"))
        self.path = os.path.join(cpdir, "dyfwd-%s.lock" % hashlib.sha1(key.encode()).hexdigest()[:12])
        self.fd = None

    def __enter__(self):
        self.fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        return False


def listening(path):
    """Whether something accepts connections on the unix socket path (a forward's file that
    nothing listens on was left by a master that has gone)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(2)
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def _unlink(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def controller_path(action, remote_path):
    """Where a host's socket appears on the controller: in the connection's ControlPath
    directory (private, 0700), one name per host, port, user and socket."""
    conn = _connection(action)
    cpdir = os.path.expanduser(conn.get_option("control_path_dir"))
    os.makedirs(cpdir, mode=0o700, exist_ok=True)
    key = "%s@%s:%s:%s" % (conn.get_option("remote_user"), _host(conn), conn.get_option("port"),
                           remote_path)
    return os.path.join(cpdir, "dyfwd-%s.sock" % hashlib.sha1(key.encode()).hexdigest()[:12])


def forward_to_controller(action, remote_path):
    """Make the host's unix socket remote_path reachable on the controller; returns its path
    there. Idempotent: a master that forwards it already answers yes."""
    return open_forward_to_controller(action, remote_path)[0]


def open_forward_to_controller(action, remote_path):
    """forward_to_controller, and whether this call made the forward: (path, made). made is
    False only when a live forward was there already (a socket file nothing listens on was
    left by a master that has gone: it is removed and the forward made anew)."""
    local = controller_path(action, remote_path)
    live = os.path.exists(local) and listening(local)
    if not live and os.path.exists(local):
        _unlink(local)  # left by a master that has gone
    spec = "%s:%s" % (local, remote_path)
    rc, _out, err = mux(action, "-O", "forward", "-L", spec)
    if rc != 0 and b"already in use" in err:  # made between the check above and the bind
        _unlink(local)
        rc, _out, err = mux(action, "-O", "forward", "-L", spec)
    if rc != 0:
        raise ForwardError("cannot forward %s from the host to the controller: %s"
                           % (remote_path, err.decode("utf-8", "replace").strip()))
    return local, not live


def cancel_to_controller(action, remote_path):
    local = controller_path(action, remote_path)
    mux(action, "-O", "cancel", "-L", "%s:%s" % (local, remote_path))
    _unlink(local)
    return local


def forward_to_host(action, local_path):
    """Make the controller's unix socket local_path reachable on the host, under a new name
    (random, in /tmp, mode 0600 as sshd makes it). Returns the path on the host."""
    if not os.path.exists(local_path):
        raise ForwardError("the controller socket %s does not exist (made by "
                           "dockyard.fleet.socket_forward delegated to the load balancer?)"
                           % local_path)
    remote = "/tmp/.dockyard-fwd-%s.sock" % secrets.token_hex(8)
    rc, _out, err = mux(action, "-O", "forward", "-R", "%s:%s" % (remote, local_path))
    if rc != 0:
        raise ForwardError("cannot forward %s from the controller to the host: %s (sshd there "
                           "must allow it: AllowStreamLocalForwarding)"
                           % (local_path, err.decode("utf-8", "replace").strip()))
    return remote


def cancel_to_host(action, forwards, removed=()):
    """Cancel [(remote, local)] forwards and remove their sockets on the host (sshd leaves the
    file), except those in `removed` (the module removed them when it ended). Best effort: one
    request per forward to the master, one command for the files left."""
    for remote, local in forwards:
        try:
            mux(action, "-O", "cancel", "-R", "%s:%s" % (remote, local))
        except (ForwardError, OSError, subprocess.SubprocessError):
            pass
    left = [r for r, _l in forwards if r not in set(removed)]
    if left:
        action._low_level_execute_command("rm -f %s" % " ".join(shlex.quote(r) for r in left))


# ------------------------------------------------------------------ a session kept open


class Session:
    """A command on the host over the task's SSH connection (its ControlMaster) with stdin
    and stdout kept open: lines sent, answer lines read, for as long as the caller needs. One
    session and one start of the program on the host, where a command per exchange starts a
    session, the user's login shell and the program each time."""

    def __init__(self, proc, err):
        self.proc = proc
        self.err = err
        self._buf = b""

    @classmethod
    def open(cls, action, command):
        """command (a shell command line, run by /bin/sh on the host as Ansible runs its
        own) started over the task's connection: a Session, or None where the task has no
        such connection (not the ssh plugin; a password, which only the plugin's sshpass
        pipe gives)."""
        conn = action._connection
        if _plugin_name(conn) not in SSH_PLUGINS or _password(conn):
            return None
        cmd = conn._build_command(conn.get_option("ssh_executable"), "ssh", _host(conn),
                                  "/bin/sh -c %s" % shlex.quote(command))
        err = tempfile.TemporaryFile()
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
        except OSError:
            err.close()
            raise
        return cls(proc, err)

    def ended(self):
        """Whether the command has ended."""
        return self.proc.poll() is not None

    def send(self, line):
        """One line to the command's stdin; False when the command has ended."""
        try:
            self.proc.stdin.write(line.encode("utf-8") + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            return False
        return True

    def answer(self, prefix, timeout=None):
        """The next line of the command's stdout that starts with prefix (without it), or None
        when the command ended first (other lines are skipped). With timeout (seconds), raises
        SessionTimeout when no such line came within it: the command is still running (a
        host that answers SSH but whose program hangs, on a stuck disk for one)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while True:
            end = self._buf.find(b"\n")
            if end < 0:
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0 or not select.select([fd], [], [], left)[0]:
                        raise SessionTimeout("no answer within %ss" % timeout)
                chunk = os.read(fd, 65536)
                if chunk:
                    self._buf += chunk
                    continue
                if not self._buf:
                    return None
                end = len(self._buf)  # the last line, without its newline
            line, self._buf = self._buf[:end + 1], self._buf[end + 1:]
            text = line.decode("utf-8", "replace")
            if text.startswith(prefix):
                return text[len(prefix):]

    def close(self, timeout=10):
        """stdin closed (the command ends), the command awaited (killed after timeout
        seconds): (exit code, stderr)."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc.stdout.close()
        self.err.seek(0)
        stderr = self.err.read().decode("utf-8", "replace")
        self.err.close()
        return rc, stderr
