"""_ssh_forward: the ssh commands it builds and its answers to a master's replies, with a
fake connection and a fake `ssh` (subprocess.run). The real forwards are exercised by the
integration tests (the deploy role's one-run rolling cycle over the lab's SSH)."""
from __future__ import annotations

import os
import socket
import subprocess

import pytest

from ansible_collections.dockyard.fleet.plugins.module_utils import _ssh_forward as fw


class FakeConn:
    _load_name = "ssh"

    def __init__(self, cpdir, persist=True):
        self.opts = {"host": "10.77.0.11", "port": None, "remote_user": "root",
                     "ssh_executable": "ssh", "control_path_dir": str(cpdir), "password": None,
                     "ssh_args": "-o ControlMaster=auto -o ControlPersist=60s" if persist else ""}
        self.persist = persist

    def get_option(self, name):
        return self.opts[name]

    def _build_command(self, binary, _subsystem, *args):
        cmd = [binary.encode()]
        if self.persist:
            cmd += [b"-o", b'ControlPath="/cp/x"']
        return cmd + [a.encode() for a in args]


class FakeAction:
    def __init__(self, conn):
        self._connection = conn
        self.commands = []

    def _low_level_execute_command(self, cmd):
        self.commands.append(cmd)
        return {"rc": 0}


@pytest.fixture
def ssh(monkeypatch):
    """Replies of the fake `ssh`, in order ((rc, stderr)); records every command line."""
    calls, replies = [], []

    def run(cmd, **_kw):
        calls.append([c.decode() for c in cmd])
        rc, err = replies.pop(0) if replies else (0, b"")
        if hasattr(_kw.get("stderr"), "write"):  # a file, not a pipe (ssh -f)
            _kw["stderr"].write(err)
            return subprocess.CompletedProcess(cmd, rc, None, None)
        return subprocess.CompletedProcess(cmd, rc, b"", err)

    monkeypatch.setattr(fw.subprocess, "run", run)
    return calls, replies


def test_other_connection_plugins_are_refused_naming_the_way_out(tmp_path):
    conn = FakeConn(tmp_path)
    conn._load_name = "paramiko_ssh"
    with pytest.raises(fw.ForwardError, match="ssh connection plugin.*roll.load_balancers"):
        fw.mux(FakeAction(conn), "-O", "check")


def test_without_controlpersist_there_is_no_master_to_ask(tmp_path, ssh):
    with pytest.raises(fw.ForwardError, match="ControlPersist"):
        fw.mux(FakeAction(FakeConn(tmp_path, persist=False)), "-O", "check")
    assert not ssh[0]


def test_no_master_yet_a_forward_starts_it_with_the_forward(tmp_path, ssh):
    """One `ssh -f -N` with the forward on its command line becomes the master (no remote
    command, no second request); the host comes last, the streams are not pipes."""
    calls, replies = ssh
    replies.append((255, b"Control socket connect(/cp/x): No such file or directory"))
    action = FakeAction(FakeConn(tmp_path))
    rc, _out, _err = fw.mux(action, "-O", "forward", "-L", "/a:/b")
    assert rc == 0 and action.commands == [] and len(calls) == 2
    assert calls[0][-5:] == ["-O", "forward", "-L", "/a:/b", "10.77.0.11"]
    assert calls[1][1:3] == ["-o", 'ControlPath="/cp/x"']
    assert calls[1][-7:] == ["-f", "-N", "-o", "ExitOnForwardFailure=yes", "-L", "/a:/b", "10.77.0.11"]
    # the master could not forward (ExitOnForwardFailure): its answer is the request's
    replies.append((255, b"Control socket connect(/cp/x): No such file or directory"))
    replies.append((255, b"Error: remote port forwarding failed"))
    rc, _out, err = fw.mux(action, "-O", "forward", "-R", "/r:/l")
    assert rc == 255 and b"forwarding failed" in err and calls[-1][-3:] == ["-R", "/r:/l", "10.77.0.11"]


def test_no_master_and_no_forward_or_a_password_the_connection_starts_it(tmp_path, ssh):
    calls, replies = ssh
    replies.append((255, b"Control socket connect(/cp/x): No such file or directory"))
    action = FakeAction(FakeConn(tmp_path))
    rc, _out, _err = fw.mux(action, "-O", "cancel", "-L", "/a:/b")
    assert rc == 0 and action.commands == ["true"] and len(calls) == 2
    assert calls[1][-5:] == ["-O", "cancel", "-L", "/a:/b", "10.77.0.11"]
    conn = FakeConn(tmp_path)
    conn.opts["password"] = "secret"  # only the connection plugin's sshpass pipe can give it
    action = FakeAction(conn)
    replies.append((255, b"Control socket connect(/cp/x): No such file or directory"))
    rc, _out, _err = fw.mux(action, "-O", "forward", "-L", "/a:/b")
    assert rc == 0 and action.commands == ["true"] and "-N" not in calls[-1]


def test_requests_to_a_master_are_made_under_a_lock_per_host(tmp_path, ssh):
    """Tasks of several hosts delegated to one load balancer at once: the one that gets the
    lock second finds the master the first one started, and starts no connection."""
    calls, _replies = ssh
    action = FakeAction(FakeConn(tmp_path))
    rc, _out, _err = fw.mux(action, "-O", "forward", "-L", "/a:/b")
    assert rc == 0 and action.commands == [] and len(calls) == 1
    names = [p.name for p in tmp_path.iterdir()]
    assert len(names) == 1 and names[0].startswith("dyfwd-") and names[0].endswith(".lock")


def test_forward_to_controller_is_one_name_per_socket_and_removes_a_dead_one(tmp_path, ssh):
    calls, replies = ssh
    action = FakeAction(FakeConn(tmp_path))
    local = fw.controller_path(action, "/run/haproxy/admin.sock")
    assert local.startswith(str(tmp_path)) and local.endswith(".sock")
    assert fw.controller_path(action, "/run/other.sock") != local
    open(local, "w").close()                 # left by a master that has gone: nothing listens
    assert fw.forward_to_controller(action, "/run/haproxy/admin.sock") == local
    assert "%s:/run/haproxy/admin.sock" % local in calls[-1]
    assert not (tmp_path / local).exists()   # removed before the master binds it again
    # the master refuses because the path is taken: removed, asked once more
    open(local, "w").close()
    replies.append((255, b"bind: Address already in use"))
    assert fw.forward_to_controller(action, "/run/haproxy/admin.sock") == local
    replies.append((255, b"mux_client_forward: forwarding request failed"))
    with pytest.raises(fw.ForwardError, match="cannot forward /run/haproxy/admin.sock"):
        fw.forward_to_controller(action, "/run/haproxy/admin.sock")


def test_open_forward_says_whether_it_made_the_forward(tmp_path, ssh):
    """made is False only for a live forward: one a socket file nothing listens on stood for
    (a master that has gone) is made anew, and is the caller's to cancel."""
    _calls, _replies = ssh
    action = FakeAction(FakeConn(tmp_path))
    local = fw.controller_path(action, "/run/haproxy/admin.sock")
    assert fw.open_forward_to_controller(action, "/run/haproxy/admin.sock") == (local, True)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(local)
    stale.close()                            # the file stays, nothing listens
    assert fw.open_forward_to_controller(action, "/run/haproxy/admin.sock") == (local, True)
    assert not os.path.exists(local)
    live = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    live.bind(local)
    live.listen(1)
    try:
        assert fw.open_forward_to_controller(action, "/run/haproxy/admin.sock") == (local, False)
    finally:
        live.close()


def test_forward_to_host_takes_a_fresh_path_and_cancel_removes_it(tmp_path, ssh):
    calls, replies = ssh
    action = FakeAction(FakeConn(tmp_path))
    with pytest.raises(fw.ForwardError, match="does not exist"):
        fw.forward_to_host(action, str(tmp_path / "missing.sock"))
    local = tmp_path / "lb.sock"
    local.touch()
    one, two = fw.forward_to_host(action, str(local)), fw.forward_to_host(action, str(local))
    assert one != two and one.startswith("/tmp/.dockyard-fwd-") and one.endswith(".sock")
    assert "-R" in calls[-1] and "%s:%s" % (two, local) in calls[-1]
    fw.cancel_to_host(action, [(one, str(local)), (two, str(local))])
    assert [c[c.index("-O") + 1] for c in calls[-2:]] == ["cancel", "cancel"]
    assert action.commands == ["rm -f %s %s" % (one, two)]
    # the module removed one when it ended (forwarded_removed): only the other needs a command
    fw.cancel_to_host(action, [(one, str(local)), (two, str(local))], removed=[one])
    assert action.commands[-1] == "rm -f %s" % two
    fw.cancel_to_host(action, [(one, str(local)), (two, str(local))], removed=[one, two])
    assert len(action.commands) == 2  # none at all
    replies.append((255, b"remote port forwarding failed for listen path"))
    with pytest.raises(fw.ForwardError, match="AllowStreamLocalForwarding"):
        fw.forward_to_host(action, str(local))
