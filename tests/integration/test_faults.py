"""Faults under load through HAProxy: a truncated image archive, HAProxy killed on the load
balancer, an app host's link cut and healed in the middle of a deploy, a replica whose
sessions never end when the rollout drains it. The load client counts
failed requests; the figures go to tests/output/faults_summary.json (docs/reliability.md).
The tests build on one fleet (app `flt`, 2 replicas per host behind lb1), in file order.
"""
from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from conftest import LAB_ID, Figures, app_vars, run_playbook, site_fleet, start_playbook
from loadclient import LoadClient

APP = "flt"
VARS = app_vars(APP, 8281, deploy_wait_timeout=60)
FIGURES = Figures("faults_summary.json")


def url(lab):
    return "http://%s/" % list(lab.lb.values())[0]


def versions(lab):
    out = {}
    for host in lab.app_hosts:
        out[host] = lab.app_replicas(host, APP)
    return out


def all_on(lab, version):
    return all(reps and all(v == version and s == "running" for _n, v, s in reps)
               for reps in versions(lab).values())


@pytest.fixture(scope="module")
def fleet(lab):
    yield from site_fleet(lab, VARS, all_on)


def test_truncated_archive_fails_before_touching_the_hosts(lab, fleet, tmp_path):
    with open(lab.images["dockyard/demo:v2"]["archive"], "rb") as f:
        data = f.read()
    bad = tmp_path / "demo-v2.tar"
    bad.write_bytes(data[:len(data) // 2])
    before = {h: lab.snapshot(h) for h in lab.app_hosts}
    client = LoadClient(url(lab), max_seconds=600, concurrency=2).start()
    res = run_playbook(lab, "playbooks/deploy.yml", timeout=1800,
                       extra_vars=dict(VARS, deploy_version="v2", deploy_image_archive=str(bad)))
    stats = client.stop()
    FIGURES.save("truncated_archive", requests=stats.total, failed=stats.failed, rc=res.rc)
    assert res.rc != 0
    failed = [r for r in res.records if r["status"] == "failed"]
    assert failed and failed[0]["action"].endswith("image"), res.stdout[-3000:]
    msg = failed[0]["result"].get("msg", "")
    assert "load_path" in msg or "archive" in msg, msg
    for host in lab.app_hosts:
        assert lab.snapshot(host) == before[host], host
    assert stats.failed == 0, stats.summary()
    assert all_on(lab, "v1"), versions(lab)


def test_haproxy_killed_then_role_rerun_starts_it(lab, fleet):
    lb = list(lab.lb)[0]
    master = lab.ssh(lb, "cat /run/haproxy.pid").stdout.strip().splitlines()[0]
    workers = lab.ssh(lb, "pgrep -P %s" % master, check=False).stdout.split()
    lab.ssh(lb, "kill -9 %s" % " ".join([master] + workers))
    down = LoadClient(url(lab), max_requests=20, max_seconds=20, timeout=2).run()
    assert down.failed == down.total > 0, down.summary()
    res = run_playbook(lab, "playbooks/site.yml", extra_vars=dict(VARS, deploy_version="v1"),
                       timeout=1800)
    assert res.rc == 0, res.stdout[-4000:]
    new_master = lab.ssh(lb, "cat /run/haproxy.pid").stdout.strip().splitlines()[0]
    assert new_master != master
    assert lab.ssh(lb, "kill -0 %s" % new_master, check=False).returncode == 0
    # it may take a couple of health checks before every server is UP again
    after = None
    for dummy in range(30):
        after = LoadClient(url(lab), max_requests=40, max_seconds=20).run()
        if after.failed == 0:
            break
        time.sleep(1)
    FIGURES.save("haproxy_killed", requests_while_down=down.total, failed_while_down=down.failed,
                 requests_after_rerun=after.total, failed_after_rerun=after.failed,
                 site_changed=res.changed)
    assert after.failed == 0, after.summary()
    assert res.changed >= 1


def test_link_cut_and_healed_mid_deploy(lab, fleet):
    victim = lab.app_hosts[1]
    lock = "/var/lib/dockyard-lab/%d/%s/fs/run/dockyard/locks/%s.lock" % (LAB_ID, victim, APP)
    client = LoadClient(url(lab), max_seconds=900, concurrency=2).start()
    extra = dict(VARS, deploy_version="v2", rolling_restart_serial="100%",
                 rolling_restart_max_fail_percentage=50)
    play = start_playbook(lab, "playbooks/deploy.yml", extra_vars=extra)
    deadline = time.time() + 600
    while not os.path.isdir(lock) and time.time() < deadline and play.poll() is None:
        time.sleep(0.1)
    assert os.path.isdir(lock), "the deploy never reached %s" % victim
    lab.tool("cut", victim)
    time.sleep(5)
    lab.tool("heal", victim)
    out = play.communicate(timeout=1800)[0]
    during = client.stop()
    first_rc = play.returncode
    rerun = run_playbook(lab, "playbooks/deploy.yml", timeout=1800,
                         extra_vars=dict(extra, deploy_lock_break=True))
    FIGURES.save("link_cut_mid_deploy", requests=during.total, failed=during.failed,
                 first_run_rc=first_rc, rerun_rc=rerun.rc, errors=during.errors[:5])
    assert rerun.rc == 0, (out[-2000:], rerun.stdout[-3000:])
    assert all_on(lab, "v2"), versions(lab)
    after = LoadClient(url(lab), max_requests=60, max_seconds=30).run()
    assert after.failed == 0, after.summary()
    assert set(after.versions) == {"v2"}, after.summary()


def _lb_cli(lab, cmd):
    return lab.ssh("lb1", "echo '%s' | socat stdio unix:/run/haproxy/admin.sock" % cmd).stdout


def _lb_servers(lab):
    lines = _lb_cli(lab, "show stat %s 4 -1" % APP).splitlines()
    header = lines[0][2:].split(",")
    rows = [dict(zip(header, ln.split(","))) for ln in lines[1:] if ln.strip()]
    return {r["svname"]: r for r in rows}


class _SlowReader:
    """One HTTP download through the load balancer, read a few bytes at a time: a session
    on its server that does not end until stop()."""

    def __init__(self, addr, path):
        # A small receive buffer: every read below reopens the TCP window, so HAProxy keeps
        # writing to this client (a 6 MiB buffer read 4 KiB/s would look idle to HAProxy
        # for longer than its 30 s client timeout, which would end the session).
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(10)
        self.sock.connect((addr, 80))
        self.sock.sendall(b"GET %s HTTP/1.0\r\nHost: lb\r\n\r\n" % path.encode())
        self.first = self.sock.recv(64)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._trickle, daemon=True)
        self.thread.start()

    def _trickle(self):
        while not self.done.wait(0.5):
            try:
                self.sock.recv(2048)
            except OSError:
                return

    def stop(self):
        self.done.set()
        self.thread.join(5)
        self.sock.close()


def test_next_replica_that_does_not_drain_stops_the_rollout(lab, fleet):
    """The run that puts replica 1 back in service also drains replica 2 (the service roll
    run, or haproxy_server `then` with deploy_roll_mode per_step). When replica 2's sessions do not end within deploy_drain_timeout, the rollout
    stops: replica 1 keeps the new release and stays in service (nothing to roll back),
    replica 2 is put back in service untouched, the lock is released and the failure
    audited; nothing is dropped. A rerun without the stuck session converges."""
    host = lab.app_hosts[0]
    current = "v2" if all_on(lab, "v2") else "v1"
    target = "v1" if current == "v2" else "v2"
    assert all_on(lab, current), versions(lab)
    c2 = lab.docker(host).containers.get("%s-2" % APP)
    assert c2.exec_run(["/bin/busybox", "dd", "if=/dev/zero", "of=/www/big", "bs=1M", "count=64"]).exit_code == 0
    # only <host>-2 takes new connections while the stuck download starts
    others = [s for s in _lb_servers(lab) if s not in ("%s-2" % host, "FRONTEND", "BACKEND")]
    for server in others:
        _lb_cli(lab, "set server %s/%s state drain" % (APP, server))
    try:
        reader = _SlowReader(list(lab.lb.values())[0], "/big")
        assert b" 200 " in reader.first, reader.first
    finally:
        for server in others:
            _lb_cli(lab, "set server %s/%s state ready" % (APP, server))
    try:
        assert int(_lb_servers(lab)["%s-2" % host]["scur"]) == 1
        client = LoadClient(url(lab), max_seconds=600, concurrency=2).start()
        res = run_playbook(lab, "playbooks/deploy.yml", timeout=1800,
                           extra_vars=dict(VARS, deploy_version=target, deploy_drain_timeout=3))
        stats = client.stop()
        still_stuck = int(_lb_servers(lab)["%s-2" % host]["scur"])
    finally:
        reader.stop()
    assert res.rc != 0, res.stdout[-3000:]
    # the session never ended: the rollout did not wait it out
    assert still_stuck == 1, res.stdout[-3000:]
    assert stats.failed == 0, stats.summary()
    # the later hosts were halted before their turn (one batch whose rolls take turns)
    assert res.recap[host]["failed"] == 1, res.recap
    assert sorted(r["host"] for r in res.records if r["result"].get("not_started")) == \
        sorted(lab.app_hosts[1:]), res.stdout[-3000:]
    assert all(vs == {"%s-1" % APP: current, "%s-2" % APP: current}
               for h, vs in ((h, {n: v for n, v, _s in versions(lab)[h]}) for h in lab.app_hosts[1:])), \
        versions(lab)
    assert "replica %s-2 could not be drained" % host in res.stdout, res.stdout[-3000:]
    # haproxy_server's `then` step (per_step) or the roll's drain of the next replica (one_run)
    assert "server not drained within 3s" in res.stdout, res.stdout[-3000:]
    assert "1 sessions" in res.stdout, res.stdout[-3000:]
    vers = {n: v for n, v, _s in versions(lab)[host]}
    assert vers == {"%s-1" % APP: target, "%s-2" % APP: current}, versions(lab)
    servers = _lb_servers(lab)
    assert all(servers["%s-%d" % (host, i)]["status"] == "UP" for i in (1, 2)), servers
    audit = lab.ssh(host, "tail -n 1 /var/log/dockyard/deploy.log").stdout
    assert "to=%s result=failed" % target in audit, audit
    assert lab.ssh(host, "test -e /run/dockyard/locks/%s.lock" % APP, check=False).returncode != 0

    rerun = run_playbook(lab, "playbooks/deploy.yml", timeout=1800,
                         extra_vars=dict(VARS, deploy_version=target))
    assert rerun.rc == 0, rerun.stdout[-3000:]
    assert all_on(lab, target), versions(lab)
    FIGURES.save("next_replica_not_drained", requests=stats.total, failed=stats.failed,
                 first_run_rc=res.rc, rerun_rc=rerun.rc)
