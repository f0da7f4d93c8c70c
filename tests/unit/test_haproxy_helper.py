"""The haproxy role's helper (roles/haproxy/files/dockyard-haproxy), its `stale` answer: the
running HAProxy's newest worker against the last write of the config and the certificate.
Here the "master" is this test process and its "worker" a child it starts."""
from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import socket
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_PATH = os.path.join(REPO, "roles", "haproxy", "files", "dockyard-haproxy")
_LOADER = importlib.machinery.SourceFileLoader("dockyard_haproxy_helper", _PATH)
helper = importlib.util.module_from_spec(importlib.util.spec_from_loader(_LOADER.name, _LOADER))
_LOADER.exec_module(helper)


def test_stale_when_a_file_was_written_after_the_newest_worker_started(tmp_path):
    config, cert = tmp_path / "haproxy.cfg", tmp_path / "site.pem"
    config.write_text("global\n")
    cert.write_text("pem\n")
    a = SimpleNamespace(config=str(config), certificate=str(cert))
    before = time.time()
    worker = subprocess.Popen(["sleep", "30"])
    try:
        now = time.time()
        started = helper._started(worker.pid)   # pylint: disable=protected-access
        # to the clock tick (10 ms), not to the second: btime's whole seconds made it up to 1 s
        # early, and a worker started just after a write looked stale
        assert started is not None and before - 0.03 <= started <= now + 0.01, \
            (before, started, now)
        old = now - 100
        os.utime(config, (old, old))
        os.utime(cert, (old, old))
        assert helper.stale(a, os.getpid()) is False            # reloaded since both writes
        os.utime(cert, (now + 100, now + 100))
        assert helper.stale(a, os.getpid()) is True             # a certificate never reloaded
        no_tls = SimpleNamespace(config=str(config), certificate="")
        assert helper.stale(no_tls, os.getpid()) is False
        os.utime(config, (now + 100, now + 100))
        assert helper.stale(no_tls, os.getpid()) is True
        # no worker (none of the master's children): not stale, the start step handles it
        assert helper.stale(a, worker.pid) is False
        # no file: nothing to compare
        assert helper.stale(SimpleNamespace(config=str(tmp_path / "none"), certificate=""),
                            os.getpid()) is False
    finally:
        worker.kill()
        worker.wait()


def test_a_worker_started_right_after_the_write_is_not_stale(tmp_path):
    config = tmp_path / "haproxy.cfg"
    for attempt in range(5):
        config.write_text("global\n")                          # written, then reloaded at once
        worker = subprocess.Popen(["sleep", "30"])
        try:
            assert helper.stale(SimpleNamespace(config=str(config), certificate=""),
                                os.getpid()) is False, attempt
        finally:
            worker.kill()
            worker.wait()


# show servers state (version 1): be_id be_name srv_id srv_name srv_addr srv_op_state
# srv_admin_state ... srv_fqdn (17) srv_port (18) ...
def _state_line(backend, server, addr, admin, fqdn, port):
    return " ".join(["3", backend, "1", server, addr, "2", str(admin), "1", "1", "5", "6", "3", "4",
                     "6", "0", "0", "0", fqdn, str(port), "-", "0", "0", "-", "-", "0"])


def test_a_server_given_by_name_keeps_its_state_across_a_reload(tmp_path):
    """drop_moved_servers: a server configured by host name is not 'moved' when the name is
    the state's srv_fqdn or resolves to its srv_addr (its DRAIN survived nothing before); a
    server whose address or port the config changes still starts from the config."""
    config = tmp_path / "haproxy.cfg"
    config.write_text("backend app\n    server a1 10.0.0.1:8081 check\n"
                      "    server byname localhost:8081 check\n"
                      "    server resolved localhost:8082\n"
                      "    server moved 10.0.0.9:8081\n    server port 10.0.0.1:9999\n")
    data = "1\n# be_id ...\n" + "\n".join([
        _state_line("app", "a1", "10.0.0.1", 8, "-", 8081),
        _state_line("app", "byname", "127.0.0.1", 8, "localhost", 8081),
        _state_line("app", "resolved", "127.0.0.1", 8, "-", 8082),
        _state_line("app", "moved", "10.0.0.1", 8, "-", 8081),
        _state_line("app", "port", "10.0.0.1", 8, "-", 8081)]) + "\n"
    kept = [ln.split()[3] for ln in helper.drop_moved_servers(data, str(config)).splitlines()
            if len(ln.split()) > 18]
    assert kept == ["a1", "byname", "resolved"]


def test_bind_to_an_address_this_host_does_not_have_is_found(tmp_path):
    """haproxy -c does not bind: the helper's check tries each bind IP (port 0)."""
    text = ("frontend f\n    bind 192.0.2.77:80\n    bind 127.0.0.1:80\n    bind :80\n"
            "    bind *:443 ssl crt /x.pem\n    bind 192.0.2.78:80 transparent\n"
            "    bind ipv4@192.0.2.79:81,127.0.0.1:82\n    # bind 192.0.2.80:80\n")
    bad = helper.unbindable(text)
    assert len(bad) == 2 and "192.0.2.77" in bad[0] and "192.0.2.79" in bad[1], bad


def _listening(reuseport):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuseport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    return s, s.getsockname()[1]


@pytest.mark.skipif(os.geteuid() != 0, reason="HAProxy binds as root; the check tries ports only as root")
def test_a_port_another_program_holds_is_found_and_haproxys_own_is_not(tmp_path):
    """A listener without SO_REUSEPORT (socat, a web server) holds its port against HAProxy:
    found, naming the program; one with it (the running HAProxy's own listeners) is not."""
    other, held = _listening(reuseport=False)
    mine, shared = _listening(reuseport=True)
    try:
        text = ("frontend f\n    bind 127.0.0.1:%d\n    bind :%d\n    bind 127.0.0.1:%d\n"
                % (held, held, shared))
        bad = helper.unbindable(text)
        me = "%s (pid %d)" % (open("/proc/self/comm").read().strip(), os.getpid())
        assert bad == [
            "bind 127.0.0.1:%d: port %d of 127.0.0.1 is in use by another program, %s: HAProxy "
            "could not bind it (Address already in use)" % (held, held, me),
            "bind :%d: port %d of 0.0.0.0 is in use by another program, %s: HAProxy could not "
            "bind it (Address already in use)" % (held, held, me)], bad
        assert helper.listeners(helper.ipaddress.ip_address("127.0.0.1"), shared) == [me]
    finally:
        other.close()
        mine.close()


def test_the_admin_socket_of_the_live_config_is_read_and_asked_first(tmp_path):
    """A new haproxy_stats_socket does not exist before the reload: save-state asks the socket
    the live config names (the probe read it before the new config replaced the file)."""
    config = tmp_path / "haproxy.cfg"
    config.write_text("global\n    stats socket /run/x/user.sock mode 600 level user\n"
                      "    stats socket /run/x/old.sock mode 600 level admin expose-fd listeners\n")
    assert helper.live_admin_socket(str(config)) == "/run/x/old.sock"
    assert helper.live_admin_socket(str(tmp_path / "none")) == ""
    old = str(tmp_path / "old.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(old)
    srv.listen(1)
    reply = "1\n# be_id be_name\n" + _state_line("app", "a1", "10.0.0.1", 8, "-", 8081) + "\n"

    def answer():
        c, _addr = srv.accept()
        c.recv(4096)
        c.sendall(reply.encode())
        c.close()
    t = threading.Thread(target=answer)
    t.start()
    state = tmp_path / "state"
    state.write_text("1\n")
    a = SimpleNamespace(state_file=str(state), admin_socket=str(tmp_path / "new.sock"),
                        live_admin_socket=old, config=str(tmp_path / "none"))
    try:
        assert helper.save_state(a) == 0
    finally:
        t.join(5)
        srv.close()
    assert " a1 " in state.read_text()


def test_a_master_of_the_config_under_another_pidfile_or_master_socket_is_named(tmp_path):
    """masters() finds a running master of the config whatever its pidfile (a fake one here:
    a process whose command line is haproxy's); other_master names haproxy_pidfile, or
    haproxy_master_socket when the pidfile's master listens on another master socket."""
    cfg = str(tmp_path / "haproxy.cfg")
    (tmp_path / "haproxy.cfg").write_text("global\n")
    (tmp_path / "other.cfg").write_text("global\n")
    old_pid, sock = str(tmp_path / "old.pid"), str(tmp_path / "master.sock")
    fake = tmp_path / "haproxy"            # its argv[0] ends in haproxy, as the real one's does
    fake.symlink_to(os.path.realpath(sys.executable))
    proc = subprocess.Popen([str(fake), "-c", "import time; time.sleep(30)", "-W", "-D", "-f", cfg,
                             "-p", old_pid, "-S", sock + ",mode,600"])
    try:
        for _i in range(50):
            if helper.masters(cfg):
                break
            time.sleep(0.1)
        assert helper.masters(cfg) == [{"pid": proc.pid, "pidfile": old_pid, "master_socket": sock}]
        new = SimpleNamespace(config=cfg, pidfile=str(tmp_path / "new.pid"), master_socket=sock)
        msg = helper.other_master(new)
        assert "haproxy_pidfile" in msg and str(proc.pid) in msg and old_pid in msg, msg
        with open(old_pid, "w") as f:
            f.write("%d\n" % proc.pid)
        same = SimpleNamespace(config=cfg, pidfile=old_pid, master_socket=sock)
        assert helper.other_master(same) is None
        moved = SimpleNamespace(config=cfg, pidfile=old_pid, master_socket=str(tmp_path / "m2.sock"))
        assert "haproxy_master_socket" in helper.other_master(moved)
        assert helper.other_master(SimpleNamespace(config=str(tmp_path / "other.cfg"),
                                                   pidfile=old_pid, master_socket=sock)) is None
    finally:
        proc.kill()
        proc.wait()


def test_a_failed_reload_is_seen_at_once_not_after_the_timeout(monkeypatch):
    """wait_worker polls the master's failed-reload count: a reload HAProxy refused ends the
    wait at once (it took the whole 30 s)."""
    monkeypatch.setattr(helper, "show_proc", lambda a: ([(10, 1)], 1))
    monkeypatch.setattr(helper.time, "sleep", lambda s: None)
    start = time.time()
    assert helper.wait_worker(SimpleNamespace(), {10}, 5.0, failed=0) is False
    assert time.time() - start < 1.0
    monkeypatch.setattr(helper, "show_proc", lambda a: ([(10, 1), (11, 0)], 0))
    assert helper.wait_worker(SimpleNamespace(), {10}, 5.0, failed=0) is True


# HAProxy 2.6's own lines for a reload that could not bind (its master log, after the offset).
RELOAD_LOG = """[NOTICE]   (23164) : Reloading HAProxy
[WARNING]  (23167) : Paused frontend http.
[NOTICE]   (23164) : haproxy version is 2.6.12-1+deb12u4
[ALERT]    (23164) : Binding [/etc/haproxy/haproxy.cfg:29] for frontend http: cannot bind socket (Address already in use) for [10.77.6.5:8899]
[ALERT]    (23164) : [/usr/sbin/haproxy.main()] Some protocols failed to start their listeners! Exiting.
[ALERT]    (23167) : backend 'app' has no server available!
[WARNING]  (23164) : Loading failure!
[WARNING]  (23167) : Resumed frontend http.
"""


def test_a_failure_is_told_in_haproxys_own_alerts_after_the_offset(tmp_path):
    """alerts: the master's [ALERT] lines written after the offset, without their prefix and
    without the generic "Exiting" line; an earlier alert (before the reload) and a worker's
    (its backend lost its servers meanwhile) are not this reload's."""
    log = tmp_path / "master.log"
    before = "[ALERT]    (23164) : Current worker (23100) exited with code 143 (Terminated)\n"
    log.write_text(before + RELOAD_LOG)
    assert helper.alerts(str(log), len(before), 23164) == [
        "Binding [/etc/haproxy/haproxy.cfg:29] for frontend http: cannot bind socket (Address "
        "already in use) for [10.77.6.5:8899]"]
    assert helper.alerts(str(log), log.stat().st_size, 23164) == []
    assert helper.alerts(str(log), 0, 23100) == []
    assert helper.alerts(str(tmp_path / "missing.log"), 0, 23164) == []
    assert helper.alerts(None, 0, 23164) == []


def test_the_master_log_is_the_file_the_running_master_appends_to(tmp_path):
    """master_log reads where a process's stderr goes: a file it appends to (the role's start),
    a file it does not append to, or nothing to read (/dev/null: a daemon, -D)."""
    log = str(tmp_path / "master.log")
    fd = helper.open_master_log(log)
    assert oct(os.stat(log).st_mode & 0o777) == "0o600"
    procs = []
    try:
        appending = subprocess.Popen(["sleep", "30"], stderr=fd)
        procs.append(appending)
        with open(str(tmp_path / "plain.log"), "w") as plain:
            truncating = subprocess.Popen(["sleep", "30"], stderr=plain)
        procs.append(truncating)
        daemon = subprocess.Popen(["sleep", "30"], stderr=subprocess.DEVNULL)
        procs.append(daemon)
        assert helper.master_log(appending.pid) == (log, True)
        assert helper.master_log(truncating.pid) == (str(tmp_path / "plain.log"), False)
        assert helper.master_log(daemon.pid) == (None, False)
        assert helper.master_log(2 ** 22 + 7) == (None, False)      # no such process
    finally:
        os.close(fd)
        for p in procs:
            p.kill()
            p.wait()
