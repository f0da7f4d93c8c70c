# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Role dockyard.fleet.haproxy and module haproxy_server against a real HAProxy on lb1,
with real demo containers on the app hosts."""
from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import pytest

# pytest runs with --import-mode=importlib: this directory is not on sys.path by itself.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conftest import killed_run, run_playbook  # noqa: E402
from loadclient import LoadClient  # noqa: E402

from ansible_collections.dockyard.fleet.plugins.module_utils._haproxy import RuntimeClient  # noqa: E402

PREFIX = "hx-"
PORTS = (8081, 8082)
# The fleet's servers are HAProxy's to check: the engine's own probe of the image (an exec in
# each container every 2 s, for the whole file) would only cost CPU.
NO_PROBE = {"test": ["NONE"]}
ROLE_PLAY = """
- hosts: lb
  roles:
    - dockyard.fleet.haproxy
"""
# A second stats socket at level user: the module must report "Permission denied".
BASE_VARS = {"haproxy_global_extra": ["stats socket /run/haproxy/user.sock mode 600 level user"]}
# The demo image, plus a CGI that answers after ?N seconds (default 3): an in-flight request to drain around.
SLOW_CMD = ["/bin/busybox", "sh", "-c",
            "mkdir -p /www/cgi-bin && "
            "printf '#!/bin/busybox sh\\n/bin/busybox sleep ${QUERY_STRING:-3}\\necho Content-Type: text/plain\\n"
            "echo\\necho slow done\\n' > /www/cgi-bin/slow && chmod 755 /www/cgi-bin/slow && "
            "exec /bin/busybox httpd -f -p 80 -h /www"]


def cli(lab, cmd, sock="/run/haproxy/admin.sock"):
    return lab.ssh("lb1", "echo '%s' | socat stdio unix:%s" % (cmd, sock or "/run/haproxy/admin.sock")).stdout


def stats(lab):
    """{server: row} of backend app from `show stat`."""
    lines = cli(lab, "show stat app 4 -1").splitlines()
    header = lines[0][2:].split(",")
    rows = [dict(zip(header, ln.split(","))) for ln in lines[1:] if ln.strip()]
    return {r["svname"]: r for r in rows if r["svname"] not in ("BACKEND", "FRONTEND")}


def wait_until(fn, timeout=30, interval=0.3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(interval)
    return fn()


def all_up(lab):
    return all(r["status"] == "UP" for r in stats(lab).values())


def master_reloads(lab):
    out = cli(lab, "show proc", "/run/haproxy/master.sock")
    line = next(ln for ln in out.splitlines() if " master " in ln)
    return int(line.split()[2])


def lb_url(lab, path="/"):
    return "http://%s%s" % (lab.lb["lb1"], path)


_SETUP: dict = {}


@pytest.fixture(scope="module")
def _containers(lab):
    """Demo containers (with the slow CGI) on every app host, removed after the module."""
    for h in lab.app_hosts:
        lab.load_image(h, "dockyard/demo:v1")
        lab.clean(h, PREFIX)
        for i, port in enumerate(PORTS, 1):
            lab.docker(h).containers.run("dockyard/demo:v1", name="%s%d" % (PREFIX, i),
                                         entrypoint=SLOW_CMD, ports={"80/tcp": port}, detach=True,
                                         healthcheck=NO_PROBE)
    yield
    for h in lab.app_hosts:
        lab.clean(h, PREFIX)
    _SETUP.clear()


@pytest.fixture
def fleet(lab, play, _containers):
    """The role applied once (and a second time: no change), every server UP."""
    if not _SETUP:
        first = play(ROLE_PLAY, extra_vars=BASE_VARS)
        assert first.rc == 0, first.stdout[-3000:]
        again = play(ROLE_PLAY, extra_vars=BASE_VARS)
        assert again.rc == 0 and again.changed == 0, again.stdout[-3000:]
        for server in stats(lab):          # states saved by an earlier run survive: reset them
            cli(lab, "set server app/%s state ready" % server)
            cli(lab, "set weight app/%s 1" % server)
        _SETUP["done"] = True
    assert wait_until(lambda: all_up(lab)), stats(lab)
    return lab


def module_play(**args):
    lines = "\n".join("        %s: %s" % (k, v) for k, v in args.items())
    return """
- hosts: lb
  tasks:
    - dockyard.fleet.haproxy_server:
%s
""" % lines


def test_config_and_socket(fleet):
    lab = fleet
    cfg = lab.ssh("lb1", "cat /etc/haproxy/haproxy.cfg").stdout
    assert "master-worker" in cfg and "expose-fd listeners" in cfg
    assert "http-check send meth GET uri /health" in cfg
    assert "load-server-state-from-file global" in cfg
    assert set(stats(lab)) == {"%s-%d" % (h, i) for h in lab.app_hosts for i in (1, 2)}
    mode = lab.ssh("lb1", "stat -c %a /run/haproxy/admin.sock").stdout.strip()
    assert mode == "600"


def test_requests_are_spread_over_every_server(fleet):
    lab = fleet
    before = {s: int(r["stot"]) for s, r in stats(lab).items()}
    res = LoadClient(lb_url(lab), max_requests=60, max_seconds=30, concurrency=3).run()
    assert res.failed == 0 and res.ok == 60, res.summary()
    assert res.versions == {"v1": 60}
    after = {s: int(r["stot"]) for s, r in stats(lab).items()}
    assert all(after[s] > before[s] for s in before), (before, after)


def test_reload_under_load_drops_nothing(fleet, play, request):
    lab = fleet
    reloads = master_reloads(lab)
    tmp = tempfile.mkdtemp(prefix="hx-tls-")
    request.addfinalizer(lambda: shutil.rmtree(tmp, ignore_errors=True))
    key, crt, pem = (os.path.join(tmp, n) for n in ("k.pem", "c.pem", "site.pem"))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=lb1.lab", "-keyout", key, "-out", crt],
                   check=True, capture_output=True)
    with open(pem, "w") as f:
        f.write(open(crt).read() + open(key).read())
    # a certificate without its key: HAProxy cannot load it
    bad_pem = os.path.join(tmp, "bad.pem")
    shutil.copy(crt, bad_pem)
    password = "s3#cr et'x"        # '#' and a space: HAProxy's comment and word separator
    # flat out (no pause between requests): the reloads' hand-over of the listening sockets
    # must not refuse a single connection, however densely they come
    load = LoadClient(lb_url(lab), max_seconds=60, concurrency=4, interval=0).start()
    try:
        tls_vars = dict(BASE_VARS, haproxy_tls_enabled=True, haproxy_tls_certificate_src=pem,
                        haproxy_stats_enabled=True, haproxy_stats_password=password)
        r1 = play(ROLE_PLAY, extra_vars=tls_vars, diff=True)
        assert r1.rc == 0 and r1.changed > 0, r1.stdout[-3000:]
        assert "s3#cr" not in r1.stdout and "stats auth" not in r1.stdout   # no diff of the password
        tls = LoadClient("https://%s/" % lab.lb["lb1"], max_requests=10, max_seconds=20).run()
        assert tls.ok == 10, tls.summary()
        req = urllib.request.Request("http://%s:8404/stats" % lab.lb["lb1"])
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=5)
        assert e.value.code == 401
        for secret, code in ((password, 200), ("s3", 401)):     # the whole password, not up to '#'
            auth = base64.b64encode(("admin:%s" % secret).encode()).decode()
            try:
                got = urllib.request.urlopen(urllib.request.Request(
                    req.full_url, headers={"Authorization": "Basic " + auth}), timeout=5).status
            except urllib.error.HTTPError as err:
                got = err.code
            assert got == code, (secret, got)
        # a bad certificate fails naming haproxy_tls_certificate_src; the live one stays
        live = lab.ssh("lb1", "sha1sum /etc/haproxy/certs/dockyard.pem").stdout
        bad = play(ROLE_PLAY, extra_vars=dict(tls_vars, haproxy_tls_certificate_src=bad_pem))
        assert bad.rc != 0 and "haproxy_tls_certificate_src" in bad.stdout, bad.stdout[-3000:]
        assert lab.ssh("lb1", "sha1sum /etc/haproxy/certs/dockyard.pem").stdout == live
        assert lab.ssh("lb1", "/usr/local/sbin/dockyard-haproxy check /etc/haproxy/haproxy.cfg",
                       check=False).returncode == 0
        r2 = play(ROLE_PLAY, extra_vars=BASE_VARS, diff=True)       # and back: a second reload
        assert r2.rc == 0 and r2.changed > 0, r2.stdout[-3000:]
        assert "s3#cr" not in r2.stdout                # the old config had it: no diff either
    finally:
        res = load.stop()
    assert master_reloads(lab) >= reloads + 2
    assert res.failed == 0 and res.ok > 50, res.summary()
    assert wait_until(lambda: all_up(lab))


def test_rejected_config_never_goes_live(fleet, play):
    lab = fleet
    before = hashlib.sha256(lab.ssh("lb1", "cat /etc/haproxy/haproxy.cfg").stdout.encode())
    bad = dict(BASE_VARS, haproxy_defaults_extra=["no-such-keyword 42"])
    r = play(ROLE_PLAY, extra_vars=bad)
    assert r.rc != 0
    assert "no-such-keyword" in r.stdout and "unknown keyword" in r.stdout, r.stdout[-3000:]
    after = hashlib.sha256(lab.ssh("lb1", "cat /etc/haproxy/haproxy.cfg").stdout.encode())
    assert before.hexdigest() == after.hexdigest()
    # check mode checks the config the real run would write, and fails as it does
    r = play(ROLE_PLAY, extra_vars=bad, check=True)
    assert r.rc != 0 and "unknown keyword" in r.stdout, r.stdout[-3000:]
    # haproxy -c does not bind: an address lb1 does not have is found by the check, not the reload
    reloads = master_reloads(lab)
    r = play(ROLE_PLAY, extra_vars=dict(BASE_VARS, haproxy_frontend_address="192.0.2.77"))
    assert r.rc != 0 and "192.0.2.77 is not an address of this host" in r.stdout, r.stdout[-3000:]
    assert master_reloads(lab) == reloads
    after = hashlib.sha256(lab.ssh("lb1", "cat /etc/haproxy/haproxy.cfg").stdout.encode())
    assert before.hexdigest() == after.hexdigest()
    res = LoadClient(lb_url(lab), max_requests=12, max_seconds=20).run()
    assert res.ok == 12, res.summary()
    # a warning is fatal too (-dW): a backend option that HAProxy only warns about
    warn = dict(BASE_VARS, haproxy_defaults_extra=["option httpclose", "option forceclose"])
    r = play(ROLE_PLAY, extra_vars=warn)
    assert r.rc != 0 and "forceclose" in r.stdout, r.stdout[-3000:]


def test_module_errors_name_the_option(fleet, play):
    r = play(module_play(backend="app", server="nope", state="drain"))
    assert r.rc != 0
    assert "option server" in r.one(action="haproxy_server")["msg"]
    r = play(module_play(backend="nope", server="app1-1", state="drain"))
    assert "option backend" in r.one(action="haproxy_server")["msg"]
    # ';' separates runtime-API commands: a name that smuggles in a second one is refused
    # before the socket is opened, and nothing changes
    states = {n: row["status"] for n, row in stats(fleet).items()}
    for opts in (dict(backend="app", server="app1-1;disable server app/app1-2"),
                 dict(backend="app;disable server app/app1-2", server="app1-1")):
        r = play(module_play(state="drain", **opts))
        msg = r.one(action="haproxy_server")["msg"]
        assert r.rc != 0 and "without spaces or ';'" in msg, msg
    assert {n: row["status"] for n, row in stats(fleet).items()} == states
    r = play(module_play(backend="app", server="app1-1", state="drain",
                         socket="/run/haproxy/user.sock"))
    msg = r.one(action="haproxy_server")["msg"]
    assert "Permission denied" in msg and "option socket" in msg
    r = play(module_play(backend="app", server="app1-1", weight=999))
    assert "option weight" in r.one(action="haproxy_server")["msg"]
    assert all_up(fleet) and {r["status"] for r in stats(fleet).values()} == {"UP"}


def test_drain_lets_inflight_finish_then_ready_waits_for_health(fleet, play):
    lab = fleet
    result = {}

    def slow():
        with urllib.request.urlopen(lb_url(lab, "/cgi-bin/slow?15"), timeout=60) as resp:
            result["status"], result["body"] = resp.status, resp.read().decode()

    t = threading.Thread(target=slow)
    t.start()
    busy = wait_until(lambda: [s for s, r in stats(lab).items() if int(r["scur"]) > 0],
                      timeout=5, interval=0.05)
    assert len(busy) == 1, stats(lab)
    server = busy[0]
    host, idx = server.rsplit("-", 1)

    # 15 s: longer than an ansible run on a busy CI machine, so the request is in flight
    r = play(module_play(backend="app", server=server, state="drain", wait="true",
                         wait_timeout=40, wait_interval=0.2), diff=True)
    assert r.rc == 0, r.stdout[-3000:]
    res = r.one(action="haproxy_server")
    assert res["changed"] and res["before"]["scur"] == 1 and res["after"]["scur"] == 0
    assert res["after"]["admin_state"] == "drain" and res["after"]["status"] == "DRAIN"
    assert res["diff"] == {"before": {"admin_state": "ready", "weight": 1},
                           "after": {"admin_state": "drain", "weight": 1}}
    t.join(30)
    assert result == {"status": 200, "body": "slow done\n"}

    # no new requests for a drained server
    stot = int(stats(lab)[server]["stot"])
    load = LoadClient(lb_url(lab), max_requests=40, max_seconds=30, concurrency=2).run()
    assert load.ok == 40, load.summary()
    assert int(stats(lab)[server]["stot"]) == stot

    # drain-and-wait on an already drained server: no change, returns at once
    again = play(module_play(backend="app", server=server, state="drain", wait="true"))
    assert again.rc == 0 and again.changed == 0

    # ready with wait fails while the app is down (it comes back only once its check passes)
    app = lab.docker(host).containers.get("%s%s" % (PREFIX, idx))
    app.stop(timeout=1)
    wait_until(lambda: stats(lab)[server]["status"] == "DOWN", timeout=10)
    down = play(module_play(backend="app", server=server, state="drain", wait="true",
                            wait_timeout=5))
    assert down.rc == 0 and down.changed == 0     # DOWN: nothing to drain, returns
    r = play(module_play(backend="app", server=server, state="ready", wait="true",
                         wait_timeout=4, wait_interval=0.5))
    assert r.rc != 0
    assert "option wait_timeout" in r.one(action="haproxy_server")["msg"]
    assert not stats(lab)[server]["status"].startswith("UP")

    app.start()
    r = play(module_play(backend="app", server=server, state="ready", wait="true",
                         wait_timeout=30, wait_interval=0.3))
    assert r.rc == 0, r.stdout[-3000:]
    res = r.one(action="haproxy_server")
    assert res["changed"] is False            # already ready since the failed run
    assert res["after"]["status"] == "UP" and res["after"]["check_status"] == "L7OK"
    load = LoadClient(lb_url(lab), max_requests=24, max_seconds=30).run()
    assert load.ok == 24 and int(stats(lab)[server]["stot"]) > stot

    # recheck: the server's health set down first, so the wait needs fresh passing checks
    # (check mode predicts the command and sends nothing); with another state it is refused
    args = dict(backend="app", server=server, state="ready", recheck="true", wait="true",
                wait_timeout=30, wait_interval=0.2)
    r = play(module_play(**args), check=True)
    res = r.one(action="haproxy_server")
    assert r.rc == 0 and res["changed"] and res["commands"] == [
        "set server app/%s health down" % server], r.stdout[-3000:]
    assert stats(lab)[server]["status"] == "UP"
    r = play(module_play(**args))
    res = r.one(action="haproxy_server")
    assert r.rc == 0 and res["changed"] and res["commands"] == [
        "set server app/%s health down" % server], r.stdout[-3000:]
    assert res["waited"] > 0 and res["after"]["status"] == "UP" and res["after"]["check_status"] == "L7OK"
    drain = dict(args)
    drain["state"] = "drain"
    r = play(module_play(**drain))
    assert r.rc != 0 and "option recheck needs state=ready" in r.one(action="haproxy_server")["msg"]
    assert stats(lab)[server]["status"] == "UP"


def test_drain_and_maint_survive_a_reload(fleet, play):
    lab = fleet
    # check mode: predicted change, nothing done
    r = play(module_play(backend="app", server="app2-2", state="maint"), check=True, diff=True)
    assert r.rc == 0 and r.changed == 1
    assert r.one(action="haproxy_server")["after"]["admin_state"] == "maint"
    assert stats(lab)["app2-2"]["status"] == "UP"
    r = play(module_play(backend="app", server="app2-2", state="maint"))
    assert r.rc == 0 and r.changed == 1
    r = play(module_play(backend="app", server="app2-1", state="drain", weight=7))
    assert r.rc == 0 and r.changed == 1
    reloads = master_reloads(lab)
    # check mode says what the real run changes (the config, the reload)
    check = play(ROLE_PLAY, extra_vars=dict(BASE_VARS, haproxy_maxconn=5001), check=True)
    assert check.rc == 0 and check.changed == 2 and master_reloads(lab) == reloads, check.stdout[-3000:]
    # app3's own haproxy_backend_ports, one port as an int: one server (not a failure)
    r = play(OWN_PORT_PLAY + ROLE_PLAY, extra_vars=dict(BASE_VARS, haproxy_maxconn=5001))
    assert r.rc == 0 and r.changed == check.changed, r.stdout[-3000:]
    assert master_reloads(lab) == reloads + 1
    st = stats(lab)
    assert "app3-1" in st and "app3-2" not in st, sorted(st)
    assert st["app2-2"]["status"] == "MAINT"
    assert st["app2-1"]["status"] == "DRAIN" and st["app2-1"]["uweight"] == "7"
    for server in ("app2-1", "app2-2"):
        r = play(module_play(backend="app", server=server, state="ready", weight=1,
                             wait="true", wait_timeout=30, wait_interval=0.3))
        assert r.rc == 0 and r.changed == 1, r.stdout[-3000:]
    r = play(ROLE_PLAY, extra_vars=BASE_VARS)
    assert r.rc == 0


OWN_PORT_PLAY = """
- hosts: app3
  gather_facts: false
  tasks:
    - ansible.builtin.set_fact:
        haproxy_backend_ports: 8081
"""


def test_several_servers_in_one_run(fleet, play):
    """`servers`: one module run sets and waits for several servers; a second run changes
    nothing; a late server fails the wait naming it and the option."""
    lab = fleet
    names = ["app1-1", "app1-2"]
    listed = "[%s]" % ", ".join(names)
    # check mode predicts both, diff keyed by server
    r = play(module_play(backend="app", servers=listed, state="maint"), check=True, diff=True)
    assert r.rc == 0 and r.changed == 1, r.stdout[-3000:]
    res = r.one(action="haproxy_server")
    assert sorted(res["servers"]) == names and "before" not in res
    assert res["diff"]["after"] == {n: {"admin_state": "maint", "weight": 1} for n in names}
    assert all(stats(lab)[n]["status"] == "UP" for n in names)

    r = play(module_play(backend="app", servers=listed, state="drain", wait="true", wait_timeout=30))
    assert r.rc == 0 and r.changed == 1, r.stdout[-3000:]
    res = r.one(action="haproxy_server")
    assert res["commands"] == ["set server app/%s state drain" % n for n in names]
    assert all(res["servers"][n]["after"]["admin_state"] == "drain" for n in names)
    assert all(stats(lab)[n]["status"] == "DRAIN" for n in names)

    r = play(module_play(backend="app", servers=listed, state="ready", wait="true",
                         wait_timeout=30, wait_interval=0.3))
    assert r.rc == 0 and r.changed == 1, r.stdout[-3000:]
    assert all(v["after"]["status"] == "UP" for v in r.one(action="haproxy_server")["servers"].values())
    again = play(module_play(backend="app", servers=listed, state="ready", wait="true"))
    assert again.rc == 0 and again.changed == 0

    # one of them down: the wait fails and names the late server and the option
    app = lab.docker("app1").containers.get("%s2" % PREFIX)
    app.stop(timeout=1)
    try:
        wait_until(lambda: stats(lab)["app1-2"]["status"] == "DOWN", timeout=10)
        r = play(module_play(backend="app", servers=listed, state="ready", wait="true",
                             wait_timeout=3, wait_interval=0.5))
        assert r.rc != 0
        msg = r.one(action="haproxy_server")["msg"]
        assert "app/app1-2" in msg and "app/app1-1" not in msg and "option wait_timeout" in msg
    finally:
        app.start()
    assert wait_until(lambda: all_up(lab)), stats(lab)

    # both server and servers, an empty list, a name twice: refused before the socket
    r = play(module_play(backend="app", server="app1-1", servers=listed))
    assert r.rc != 0 and "server" in r.one(action="haproxy_server")["msg"]
    r = play(module_play(backend="app", servers="[app1-1, app1-1]"))
    assert "option servers" in r.one(action="haproxy_server")["msg"]
    r = play(module_play(backend="app", servers="['app1-1;help']"))
    assert "option servers" in r.one(action="haproxy_server")["msg"]


def test_then_readies_one_server_then_drains_the_next_in_one_run(fleet, play):
    """`then`: the rolling-cycle step (replica i back in service, then replica i+1 drained)
    in one module run, in that order, waiting for the in-flight request of the second."""
    lab = fleet
    others = [s for s in stats(lab) if s != "app2-2"]
    for server in others:                                # only app2-2 takes new requests
        cli(lab, "set server app/%s state drain" % server)
    args = dict(backend="app", server="app2-1", state="ready", wait="true", wait_timeout=30,
                wait_interval=0.2, then="{servers: [app2-2], state: drain, wait_timeout: 40}")
    try:
        # check mode: both steps predicted, nothing sent
        r = play(module_play(**args), check=True, diff=True)
        assert r.rc == 0 and r.changed == 1, r.stdout[-3000:]
        res = r.one(action="haproxy_server")
        assert res["diff"]["after"] == {"app2-1": {"admin_state": "ready", "weight": 1},
                                        "app2-2": {"admin_state": "drain", "weight": 1}}
        assert stats(lab)["app2-1"]["status"] == "DRAIN" and stats(lab)["app2-2"]["status"] == "UP"

        result = {}

        def slow():
            with urllib.request.urlopen(lb_url(lab, "/cgi-bin/slow?12"), timeout=60) as resp:
                result["status"] = resp.status

        t = threading.Thread(target=slow)
        t.start()
        assert wait_until(lambda: int(stats(lab)["app2-2"]["scur"]) == 1, timeout=5, interval=0.05)
        r = play(module_play(**args))
        assert r.rc == 0 and r.changed == 1, r.stdout[-3000:]
        res = r.one(action="haproxy_server")
        assert res["commands"] == ["set server app/app2-1 state ready", "set server app/app2-2 state drain"]
        assert res["after"]["status"] == "UP" and res["after"]["admin_state"] == "ready"
        second = res["then"]["servers"]["app2-2"]
        assert second["before"]["scur"] == 1 and second["after"]["scur"] == 0
        assert second["after"]["admin_state"] == "drain" and res["then"]["waited"] > 0
        t.join(30)
        assert result == {"status": 200}
        st = stats(lab)
        assert st["app2-1"]["status"] == "UP" and st["app2-2"]["status"] == "DRAIN"

        again = play(module_play(**args))
        assert again.rc == 0 and again.changed == 0, again.stdout[-3000:]

        # the second step's wait runs out: it fails naming then, the first step stays made
        cli(lab, "set server app/app2-1 state drain")
        cli(lab, "set server app/app2-2 state ready")
        assert wait_until(lambda: stats(lab)["app2-2"]["status"] == "UP", timeout=10)
        t = threading.Thread(target=slow)
        t.start()
        assert wait_until(lambda: int(stats(lab)["app2-2"]["scur"]) == 1, timeout=5, interval=0.05)
        r = play(module_play(**{**args, "then": "{servers: [app2-2], state: drain, wait_timeout: 1}"}))
        assert r.rc != 0
        res = r.one(action="haproxy_server")
        assert res["failed_step"] == "then"
        assert res["msg"].startswith("then: server not drained within 1s (option then.wait_timeout): app/app2-2 ")
        assert stats(lab)["app2-1"]["status"] == "UP"
        t.join(30)
    finally:
        for server in stats(lab):
            cli(lab, "set server app/%s state ready" % server)
    assert wait_until(lambda: all_up(lab)), stats(lab)

    # refused before the socket, naming the option
    for then, needle in (("{servers: [app2-1], state: drain}", "option then.servers names a server of the first"),
                         ("{servers: [], state: drain}", "option then.servers must name"),
                         ("{servers: [app2-2]}", "then"),
                         ("{servers: [app2-2], state: ready, shutdown_sessions: true}", "option then.shutdown_sessions")):
        r = play(module_play(**{**args, "then": then}))
        assert r.rc != 0 and needle in r.one(action="haproxy_server")["msg"], (then, r.one(action="haproxy_server"))
    r = play(module_play(**{**args, "wait": "false"}))
    assert r.rc != 0 and "option then needs wait=true" in r.one(action="haproxy_server")["msg"]
    assert all_up(lab)


def test_socket_forward_brings_the_runtime_api_to_the_controller(fleet, play):
    """dockyard.fleet.socket_forward (controller only): lb1's runtime API answers on the
    controller socket it returns, twice the same socket (no change), gone after state=absent;
    no module run and no file on lb1."""
    lab = fleet
    pb = """
- hosts: lb
  tasks:
    - dockyard.fleet.socket_forward:
        path: /run/haproxy/admin.sock
        state: %s
"""
    first, again = play(pb % "present"), play(pb % "present")
    assert first.rc == 0 and first.changed == 0 and again.rc == 0 and again.changed == 0
    local = first.one(action="socket_forward")["controller_socket"]
    assert again.one(action="socket_forward")["controller_socket"] == local
    assert oct(os.stat(os.path.dirname(local)).st_mode & 0o777) == "0o700"
    reply = RuntimeClient(local).command("show servers state app")
    assert "app2-1" in reply, reply
    gone = play(pb % "absent")
    assert gone.rc == 0 and gone.changed == 0 and not os.path.exists(local)
    bad = play(pb % "bogus")
    assert bad.rc != 0 and "option state" in bad.one(action="socket_forward")["msg"]


ROLL_PLAY = """
- hosts: app3
  gather_facts: false
  tasks:
    - dockyard.fleet.socket_forward: {path: /run/haproxy/admin.sock}
      delegate_to: lb1
      register: api
    - dockyard.fleet.service:
        name: rl
        image: dockyard/demo:v1
        replicas: 2
        port_base: %d
        env: {V: "%s"}
        # a 60 s interval: only the start_interval probe (Docker 20.10 keeps none) gets the
        # replicas healthy within the run
        healthcheck:
          test: [CMD, /bin/busybox, wget, -q, -O, /dev/null, "http://127.0.0.1/health"]
          interval: 60s
          start_interval: 200ms
        wait: healthy
        roll:
          load_balancers: [{controller_socket: "{{ api.controller_socket }}", backend: app, name: lb1}]
          server_prefix: app3-
          drain_timeout: 10
          ready_timeout: 30
""" % (PORTS[0], "%s")


def test_service_roll_in_one_run_then_no_change(fleet, play):
    """service `roll` used directly: app3's two servers rolled one at a time in one run through
    the forwarded runtime API; the same run again changes nothing and sends no command; a change
    rolls both in order; check mode changes nothing."""
    lab = fleet
    lab.clean("app3", PREFIX)
    try:
        first = play(ROLL_PLAY % "1")
        assert first.rc == 0 and first.changed == 1, first.stdout[-3000:]
        res = first.one(action="service")
        assert res["roll"]["done"] == [1, 2] and res["forwarded"][0]["host"].startswith("/tmp/")
        assert [(r["probed"], r["health"]) for r in res["replicas"]] == [(True, "starting")] * 2
        assert wait_until(lambda: all_up(lab)), stats(lab)

        again = play(ROLL_PLAY % "1")
        assert again.rc == 0 and again.changed == 0, again.stdout[-3000:]
        assert again.one(action="service")["roll"]["commands"] == []

        ids = {n: lab.docker("app3").containers.get(n).id for n in ("rl-1", "rl-2")}
        changed = play(ROLL_PLAY % "2")
        assert changed.rc == 0 and changed.changed == 1, changed.stdout[-3000:]
        # wait healthy: the engine's check passed on each new replica, HAProxy's checks are
        # not started over (no health down; a roll with wait running sends one, test_rollout)
        assert changed.one(action="service")["roll"]["commands"] == [
            "lb1: set server app/app3-%d state %s" % (i, s) for i in (1, 2) for s in ("drain", "ready")]
        for n, old in ids.items():
            c = lab.docker("app3").containers.get(n)
            assert c.id != old and "V=2" in c.attrs["Config"]["Env"], n
        # each cycle ended with its server UP (done); the backend's other servers are not the
        # roll's: under a loaded CI machine one of their checks may time out (fall 2) and come
        # back a moment later (seen once: an immediate check of the whole backend failed)
        assert changed.one(action="service")["roll"]["done"] == [1, 2]
        assert [r["probed"] for r in changed.one(action="service")["replicas"]] == [True, True]
        assert wait_until(lambda: all_up(lab)), {n: r["status"] for n, r in stats(lab).items()}

        check = play(ROLL_PLAY % "3", check=True)
        assert check.rc == 0 and check.changed == 1, check.stdout[-3000:]
        assert all("V=2" in lab.docker("app3").containers.get(n).attrs["Config"]["Env"]
                   for n in ("rl-1", "rl-2"))
    finally:
        _serve_from_app3_again(lab)


def test_a_roll_first_removes_the_replicas_a_killed_run_left_set_aside(fleet, play):
    """A service run killed in the middle of recreating app3's replicas (after the new one was
    made, before the old one stopped) leaves the old one running under <replica>-dyold-<id>,
    on the port of the replica the next roll starts. The roll removes it first (gracefully,
    once it is the host's turn): the roll goes through, every server ends UP, a rerun is no
    change."""
    lab = fleet
    lab.clean("app3", PREFIX)
    try:
        first = play(ROLL_PLAY % "1")
        assert first.rc == 0, first.stdout[-3000:]
        killed_run(lab, "app3", "service", "stop", name="rl", image="dockyard/demo:v1", replicas=2,
                   port_base=PORTS[0], env={"V": "2"}, healthcheck={
                       "test": ["CMD", "/bin/busybox", "wget", "-q", "-O", "/dev/null",
                                "http://127.0.0.1/health"],
                       "interval": "60s", "start_interval": "200ms"})
        aside = [c for c in lab.docker("app3").api.containers(all=True, filters={"name": "rl-"})
                 if "-dyold-" in c["Names"][0]]
        assert any(c["State"] == "running" for c in aside), aside

        rolled = play(ROLL_PLAY % "2")
        assert rolled.rc == 0, rolled.stdout[-3000:]
        actions = rolled.one(action="service")["actions"]
        # (a rename the killed run had sent may reach the engine only after the listing above)
        removed = [a.split(":")[0] for a in actions if "-dyold-" in a]
        assert {c["Names"][0].lstrip("/") for c in aside} <= set(removed) and all(
            a.endswith(": removed (set aside by a run that ended in the middle of a recreate)")
            for a in actions if "-dyold-" in a), actions
        assert rolled.one(action="service")["roll"]["done"] == [1, 2]
        left = lab.docker("app3").api.containers(all=True, filters={"name": "rl-"})
        assert sorted(c["Names"][0] for c in left) == ["/rl-1", "/rl-2"], left
        assert all("V=2" in lab.docker("app3").containers.get(n).attrs["Config"]["Env"]
                   for n in ("rl-1", "rl-2"))
        assert wait_until(lambda: all_up(lab)), stats(lab)
        again = play(ROLL_PLAY % "2")
        assert again.rc == 0 and again.changed == 0, again.stdout[-3000:]
    finally:
        _serve_from_app3_again(lab)


def _serve_from_app3_again(lab, host="app3"):
    """The fleet's servers on host again, after a test that rolled its own replicas there."""
    lab.clean(host, "rl-")
    lab.clean(host, "rt-")
    for i, port in enumerate(PORTS, 1):
        lab.docker(host).containers.run("dockyard/demo:v1", name="%s%d" % (PREFIX, i),
                                        entrypoint=SLOW_CMD, ports={"80/tcp": port},
                                        detach=True, healthcheck=NO_PROBE)
    assert wait_until(lambda: all_up(lab)), stats(lab)


def test_a_roll_whose_rollback_image_has_no_healthcheck_changes_nothing(fleet, play):
    """healthcheck timings without a test, and a rollback image without a HEALTHCHECK: a
    replica put back on it could never be awaited healthy, so the roll fails naming
    healthcheck.test and roll.rollback_image before anything changes (twice the same)."""
    lab = fleet
    api = lab.docker("app3").api
    src = api.create_container("dockyard/demo:v1", name="rl-nohc-src")
    api.commit(src["Id"], repository="dockyard/demo", tag="nohc",
               conf={"Healthcheck": {"Test": ["NONE"]}})
    api.remove_container(src["Id"])
    test_line = '          test: [CMD, /bin/busybox, wget, -q, -O, /dev/null, "http://127.0.0.1/health"]\n'
    prefix_line = "          server_prefix: app3-\n"
    pb = ROLL_PLAY % "1"
    assert test_line in pb and prefix_line in pb
    pb = pb.replace(test_line, "").replace(
        prefix_line, prefix_line + "          rollback_image: dockyard/demo:nohc\n")
    lab.clean("app3", PREFIX)  # the roll's ports: a roll that would otherwise succeed
    try:
        before = lab.snapshot("app3")
        for run in (1, 2):
            r = play(pb)
            assert r.rc != 0, r.stdout[-3000:]
            res = r.one(action="service")
            assert res["msg"].startswith(
                "healthcheck.test: needed: the rollback image dockyard/demo:nohc "
                "(roll.rollback_image) has no HEALTHCHECK"), (run, res["msg"])
            assert res["changed"] is False and "roll" not in res, res
            assert lab.snapshot("app3") == before, run
    finally:
        api.remove_image("dockyard/demo:nohc", force=True)
        _serve_from_app3_again(lab)


TURNS_PLAY = """
- hosts: app2,app3
  gather_facts: false
  vars:
    # not the ssh plugin: no forward to the host, so no roll.gate; the action plugin
    # waits for each host's turn on the controller
    ansible_connection: paramiko_ssh
  tasks:
    - dockyard.fleet.service:
        name: rt
        image: dockyard/demo:%s
        replicas: 2
        port_base: %d
        env: {V: "%s"}
        healthcheck:
          test: [CMD, /bin/busybox, wget, -q, -O, /dev/null, "http://127.0.0.1/health"]
          interval: 1s
          retries: 2
        wait: healthy
        roll:
          load_balancers: [{socket: "%s:%d", backend: app, name: lb1}]
          server_prefix: "{{ inventory_hostname }}-"
          drain_timeout: 10
          ready_timeout: 30
          rollback_image: dockyard/demo:v1
          batch_id: "%s"
          batch_hosts: [app3, app2]
"""


def test_hosts_take_turns_without_the_ssh_plugin(fleet, play, tmp_path):
    """roll.batch_id over a connection that cannot forward a socket (paramiko_ssh): no
    roll.gate, the action plugin awaits each host's turn on the controller before the module
    starts. app3 then app2 (the list's order, whatever order the forks start in); a second run
    changes nothing; a broken release fails on app3 (rolled back) and halts app2 unchanged.
    The load balancer's runtime API is a TCP relay on lb1 (a unix socket there is not
    reachable from the app hosts, and a controller socket needs the ssh plugin)."""
    lab = fleet
    hosts = ("app3", "app2")
    port = 9999
    addr = lab.lb["lb1"]
    relay = lab.ssh("lb1", "nohup socat TCP-LISTEN:%d,bind=%s,reuseaddr,fork "
                           "UNIX-CONNECT:/run/haproxy/admin.sock >/dev/null 2>&1 & echo $!"
                    % (port, addr)).stdout.strip()
    # paramiko checks host keys against ~/.ssh/known_hosts only: a HOME of the test's own
    # with the lab's keys (checking stays on)
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    shutil.copy(os.path.join(lab.dir, "known_hosts"), home / ".ssh" / "known_hosts")
    env = {"HOME": str(home), "ANSIBLE_PARAMIKO_RECORD_HOST_KEYS": "false",
           "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
           "ANSIBLE_HOME": str(tmp_path / "ansible-home")}
    for h in hosts:
        lab.clean(h, PREFIX)
        lab.clean(h, "rt-")
        lab.load_image(h, "dockyard/demo:broken")

    def run(image, v, batch):
        return play(TURNS_PLAY % (image, PORTS[0], v, addr, port, batch), env=env)

    try:
        lab.ssh("lb1", "for i in $(seq 50); do socat -u /dev/null TCP:%s:%d 2>/dev/null "
                       "&& exit 0; sleep 0.1; done; exit 1" % (addr, port))
        first = run("v1", "1", "turns-1")
        assert first.rc == 0 and first.changed == 2, first.stdout[-3000:]
        for h in hosts:
            res = first.one(action="service", host=h)
            assert res["execution"] == "host", res
            assert res["roll"]["done"] == [1, 2] and "waited" not in res["roll"], res["roll"]
            assert "forwarded" not in res, res
        # app2's run started once app3's had ended: its replicas made after app3's last one
        # was started (without turns the two hosts roll at the same time)
        made = {h: {n: lab.docker(h).api.inspect_container(n) for n in ("rt-1", "rt-2")}
                for h in hosts}
        assert min(c["Created"] for c in made["app2"].values()) > \
            max(c["State"]["StartedAt"] for c in made["app3"].values()), made
        assert wait_until(lambda: all_up(lab)), stats(lab)

        again = run("v1", "1", "turns-2")
        assert again.rc == 0 and again.changed == 0, again.stdout[-3000:]
        assert [again.one(action="service", host=h)["roll"]["commands"] for h in hosts] == [[], []]

        before = lab.snapshot("app2")
        broken = run("broken", "2", "turns-3")
        assert broken.rc != 0
        assert [r["status"] for r in broken.results(action="service")] == ["failed"] * 2
        failed = broken.one(action="service", host="app3")
        assert failed["rolled_back"] and failed["failed_index"] == 1, failed
        halted = broken.one(action="service", host="app2")
        assert halted["not_started"] is True and halted["halted_by"] == "app3", halted
        assert halted["changed"] is False and "roll" not in halted, halted
        assert lab.snapshot("app2") == before
        for h in hosts:  # app3 back on v1 (its replica 2 never rolled), app2 untouched
            for n in ("rt-1", "rt-2"):
                c = lab.docker(h).api.inspect_container(n)
                assert c["Config"]["Image"] == "dockyard/demo:v1" and c["State"]["Running"], (h, n)
        assert wait_until(lambda: all_up(lab)), stats(lab)
    finally:
        lab.ssh("lb1", "kill %s" % relay, check=False)
        for h in hosts:
            _serve_from_app3_again(lab, h)


LOCAL = {"set_fact", "assert", "validate_argument_spec", "debug", "meta", "include_tasks",
         "import_tasks", "include_role"}


def _remote_runs(res, host="lb1"):
    return [(r["task"].split(" : ", 1)[-1], r["status"]) for r in res.records if r["host"] == host
            and r["status"] != "skipped" and r["action"].rsplit(".", 1)[-1] not in LOCAL]


def _changed(res, host="lb1"):
    return sorted(r["task"].split(" : ", 1)[-1] for r in res.records if r["host"] == host
                  and r["result"].get("changed"))


def test_a_run_with_nothing_to_do_is_one_module_run(fleet, play):
    """The role's probe answers every question of a no-op run in one command; each step it
    finds out of place (helper, runtime files, config, master) is run and repaired alone."""
    lab = fleet
    # the defaults as `-e name=value` gives them (strings): the same config, no change
    as_strings = dict(BASE_VARS, haproxy_tls_enabled="false", haproxy_stats_enabled="false",
                      haproxy_tls_redirect="false", haproxy_backend_ports="8081,8082")
    noop = play(ROLE_PLAY, extra_vars=as_strings)
    assert noop.rc == 0 and noop.changed == 0, noop.stdout[-3000:]
    runs = _remote_runs(noop)
    assert len(runs) == 1 and runs[0][0].startswith("Look at the host"), runs

    check = play(ROLE_PLAY, extra_vars=BASE_VARS, check=True)
    assert check.rc == 0 and check.changed == 0 and len(_remote_runs(check)) == 1

    # a master of this config under another pidfile, a master socket it does not have: refused
    # before anything changes (a second master would start; the reload would wait in vain)
    reloads = master_reloads(lab)
    for moved, var in (({"haproxy_pidfile": "/run/hx-other.pid"}, "haproxy_pidfile"),
                       ({"haproxy_master_socket": "/run/haproxy/hx-m2.sock", "haproxy_maxconn": 4001},
                        "haproxy_master_socket")):
        r = play(ROLE_PLAY, extra_vars=dict(BASE_VARS, **moved))
        msg = r.one(action="fail")["msg"]
        assert r.rc != 0 and r.changed == 0 and var in msg and ("already runs" in msg or "restart" in msg), msg
    # one master of this config (other labs' masters share the process list: same file only)
    masters = lab.ssh("lb1", "for p in $(pgrep -P 1 -x haproxy); do [ /proc/$p/root/etc/haproxy/haproxy.cfg"
                             " -ef /etc/haproxy/haproxy.cfg ] && echo $p; done; test ! -e /run/hx-other.pid")
    assert len(masters.stdout.split()) == 1, masters.stdout
    assert master_reloads(lab) == reloads

    reloads = master_reloads(lab)
    lab.ssh("lb1", "echo '# drift' >> /usr/local/sbin/dockyard-haproxy; "
                   "chmod 0644 /etc/haproxy/haproxy.cfg; mv /var/lib/haproxy/server-state /tmp/hx-state")
    try:
        drift_check = play(ROLE_PLAY, extra_vars=BASE_VARS, check=True)
        drift = play(ROLE_PLAY, extra_vars=BASE_VARS)
    finally:
        lab.ssh("lb1", "test -e /var/lib/haproxy/server-state || mv /tmp/hx-state /var/lib/haproxy/server-state;"
                       " rm -f /tmp/hx-state")
    assert drift.rc == 0, drift.stdout[-3000:]
    assert drift_check.rc == 0 and drift_check.changed == drift.changed == 4, drift_check.stdout[-3000:]
    assert _changed(drift) == ["HAProxy configuration (validated, warnings fatal)",
                               "Install the control helper (start/reload/save-state without systemd)",
                               "Reload HAProxy (master-worker daemon)",
                               "Runtime directories and the seeded server-state file"], _changed(drift)
    assert lab.ssh("lb1", "stat -c %a /etc/haproxy/haproxy.cfg").stdout.strip() == "640"
    assert "# drift" not in lab.ssh("lb1", "cat /usr/local/sbin/dockyard-haproxy").stdout
    assert master_reloads(lab) == reloads + 1
    assert wait_until(lambda: all_up(lab)), stats(lab)

    lab.ssh("lb1", "kill $(cat /run/haproxy.pid); while [ -e /proc/$(cat /run/haproxy.pid) ]; do sleep 0.1; done")
    stopped_check = play(ROLE_PLAY, extra_vars=BASE_VARS, check=True)
    assert stopped_check.rc == 0 and stopped_check.changed == 1, stopped_check.stdout[-3000:]
    started = play(ROLE_PLAY, extra_vars=BASE_VARS)
    assert started.rc == 0 and _changed(started) == ["Start HAProxy (master-worker daemon)"], \
        started.stdout[-3000:]
    assert wait_until(lambda: all_up(lab)), stats(lab)
    again = play(ROLE_PLAY, extra_vars=BASE_VARS)
    assert again.rc == 0 and again.changed == 0 and len(_remote_runs(again)) == 1, again.stdout[-3000:]


def test_a_reload_an_earlier_run_owed_is_made_by_the_next(fleet, play):
    """A run that wrote a new config and failed before its handlers leaves HAProxy serving the
    old one; the next run finds the file as it should be and reloads anyway (the probe sees
    HAProxy's newest worker older than the file); the run after that changes nothing."""
    lab = fleet
    owed = dict(BASE_VARS, haproxy_defaults_extra=["timeout http-keep-alive 3s"])
    reloads = master_reloads(lab)
    failed = play(ROLE_PLAY + "  tasks:\n    - name: Fail before the handlers\n"
                              "      ansible.builtin.fail: {msg: stopped before the handlers}\n",
                  extra_vars=owed)
    assert failed.rc != 0 and "stopped before the handlers" in failed.stdout, failed.stdout[-3000:]
    assert "timeout http-keep-alive 3s" in lab.ssh("lb1", "cat /etc/haproxy/haproxy.cfg").stdout
    assert master_reloads(lab) == reloads          # written, never reloaded
    try:
        owed_run = play(ROLE_PLAY, extra_vars=owed)
        assert owed_run.rc == 0, owed_run.stdout[-3000:]
        assert _changed(owed_run) == ["Reload HAProxy (master-worker daemon)",
                                      "Reload the configuration an earlier run wrote but did not reload"], \
            _changed(owed_run)
        assert master_reloads(lab) == reloads + 1
        again = play(ROLE_PLAY, extra_vars=owed)
        assert again.rc == 0 and again.changed == 0 and len(_remote_runs(again)) == 1, again.stdout[-3000:]
    finally:
        back = play(ROLE_PLAY, extra_vars=BASE_VARS)
        assert back.rc == 0, back.stdout[-3000:]
    assert wait_until(lambda: all_up(lab)), stats(lab)


HELD_PORT = 8092
MASTER_LOG = "/var/log/haproxy/master.log"


def _failures(res, host="lb1"):
    """The messages of the host's failed tasks (msg, stderr), one string: the play's own
    output wraps long lines."""
    return " | ".join("%s %s" % (r["result"].get("msg", ""), r["result"].get("stderr", ""))
                      for r in res.records if r["host"] == host and r["status"] == "failed")


def test_a_port_another_program_holds_is_refused_before_it_goes_live(fleet, play):
    """haproxy -c does not bind. The helper's check also binds each port as HAProxy does (as
    root, SO_REUSEADDR and SO_REUSEPORT: the running HAProxy's own listeners let it): a
    frontend on a port another program holds fails the config task naming the port and the
    program, in check mode too, and nothing changes (the live file, no reload). A reload that
    fails anyway (the config written past the check) quotes HAProxy's own [ALERT] from the
    master's log, haproxy_master_log. Once the port is free the run applies the frontend,
    then changes nothing."""
    lab = fleet
    lb = lab.lb["lb1"]
    master = lab.ssh("lb1", "cat /run/haproxy.pid").stdout.strip()
    assert lab.ssh("lb1", "readlink /proc/%s/fd/2" % master).stdout.strip() == MASTER_LOG
    held = dict(BASE_VARS, haproxy_frontends=[
        {"name": "held", "bind": "%s:%d" % (lb, HELD_PORT), "default_backend": "app"}])
    live = lab.ssh("lb1", "cat /etc/haproxy/haproxy.cfg").stdout
    reloads = master_reloads(lab)
    pid = lab.ssh("lb1", "setsid socat TCP-LISTEN:%d,bind=%s,reuseaddr,fork /dev/null "
                         ">/dev/null 2>&1 </dev/null & echo $!" % (HELD_PORT, lb)).stdout.strip()
    try:
        lab.ssh("lb1", "for i in $(seq 50); do socat -u /dev/null TCP:%s:%d 2>/dev/null "
                       "&& exit 0; sleep 0.1; done; exit 1" % (lb, HELD_PORT))
        words = "bind %s:%d: port %d of %s is in use by another program, socat (pid %s)" % (
            lb, HELD_PORT, HELD_PORT, lb, pid)
        for check in (True, False):
            r = play(ROLE_PLAY, extra_vars=held, check=check)
            assert r.rc != 0 and words in _failures(r), (check, _failures(r), r.stdout[-3000:])
        assert lab.ssh("lb1", "cat /etc/haproxy/haproxy.cfg").stdout == live
        assert master_reloads(lab) == reloads
        res = LoadClient(lb_url(lab), max_requests=12, max_seconds=20).run()
        assert res.ok == 12, res.summary()

        # past the check (written by hand): the reload fails in HAProxy's words, the old
        # worker serves on
        lab.ssh("lb1", "printf 'frontend held\\n    bind %s:%d\\n    default_backend app\\n' "
                       ">> /etc/haproxy/haproxy.cfg" % (lb, HELD_PORT))
        r = lab.ssh("lb1", "/usr/local/sbin/dockyard-haproxy reload", check=False)
        assert r.returncode == 1, (r.stdout, r.stderr)
        assert "the reload failed: HAProxy kept the old worker" in r.stderr and \
            "HAProxy says: Binding [/etc/haproxy/haproxy.cfg:" in r.stderr and \
            "cannot bind socket (Address already in use) for [%s:%d] (%s)" % (
                lb, HELD_PORT, MASTER_LOG) in r.stderr, r.stderr
        res = LoadClient(lb_url(lab), max_requests=12, max_seconds=20).run()
        assert res.ok == 12, res.summary()
        lab.ssh("lb1", "kill %s" % pid)

        first = play(ROLE_PLAY, extra_vars=held)
        assert first.rc == 0 and first.changed > 0, first.stdout[-3000:]
        res = LoadClient("http://%s:%d/" % (lb, HELD_PORT), max_requests=12, max_seconds=20).run()
        assert res.ok == 12, res.summary()
        again = play(ROLE_PLAY, extra_vars=held)
        assert again.rc == 0 and again.changed == 0, again.stdout[-3000:]
    finally:
        lab.ssh("lb1", "kill %s" % pid, check=False)
        back = play(ROLE_PLAY, extra_vars=BASE_VARS)
        assert back.rc == 0, back.stdout[-3000:]
    assert wait_until(lambda: all_up(lab)), stats(lab)


# On lb1: a "server" that reads each request, writes its method to a log and closes the
# connection without a byte of answer (what a replica does when its engine stops it mid-request).
DROPPER = r"""
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(64)
while True:
    c, _ = s.accept()
    req = c.recv(65536)
    with open(sys.argv[3], "a") as log:
        log.write(req.split(b" ", 1)[0].decode() + "\n")
    c.close()
"""
DROP_PORTS = (8090, 8091)     # frontend, dropper


def _requests(url, method, n):
    codes = []
    for _i in range(n):
        req = urllib.request.Request(url, method=method, data=b"x=1" if method == "POST" else None)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                codes.append(r.status)
        except urllib.error.HTTPError as e:
            codes.append(e.code)
    return codes


def test_a_request_dropped_by_its_server_is_retried_elsewhere_never_a_post(fleet, play):
    """haproxy_retry_on / haproxy_retry_methods: behind a frontend of its own, a backend of a
    server that closes every connection without answering and a healthy demo replica. A GET
    the dropper took is sent again to the replica (every GET answers 200); a POST it took is
    not replayed (502, and the dropper saw it once). With haproxy_retry_on: [] the same GETs
    fail half the time: the role's default is what makes them pass."""
    lab = fleet
    lb = lab.lb["lb1"]
    log = "/tmp/hx-dropper.log"
    lab.ssh("lb1", "cat > /tmp/hx-dropper.py <<'PY'\n%sPY\nrm -f %s; setsid python3 /tmp/hx-dropper.py %s %d %s"
            " >/dev/null 2>&1 < /dev/null &" % (DROPPER, log, lb, DROP_PORTS[1], log))
    role_vars = dict(BASE_VARS, haproxy_frontends=[
        {"name": "drop", "bind": "%s:%d" % (lb, DROP_PORTS[0]), "default_backend": "drop"}],
        haproxy_backends=[{"name": "drop", "balance": "roundrobin", "servers": [
            {"name": "dropper", "address": lb, "port": DROP_PORTS[1], "check": False},
            {"name": "replica", "address": lab.addr("app1"), "port": PORTS[0]}]}])
    url = "http://%s:%d/" % (lb, DROP_PORTS[0])
    try:
        first = play(ROLE_PLAY, extra_vars=role_vars)
        assert first.rc == 0 and first.changed > 0, first.stdout[-3000:]
        again = play(ROLE_PLAY, extra_vars=role_vars)
        assert again.rc == 0 and again.changed == 0, again.stdout[-3000:]
        cfg = lab.ssh("lb1", "cat /etc/haproxy/haproxy.cfg").stdout
        assert "option redispatch 1" in cfg and "retry-on conn-failure empty-response" in cfg, cfg
        assert "http-request disable-l7-retry unless { method GET HEAD OPTIONS }" in cfg, cfg

        def replica_up():      # show servers state: ... srv_name srv_addr srv_op_state (2: running)
            rows = [ln.split() for ln in cli(lab, "show servers state drop").splitlines()]
            return any(len(r) > 5 and r[3] == "replica" and r[5] == "2" for r in rows)
        assert wait_until(replica_up), cli(lab, "show servers state drop")

        gets = _requests(url, "GET", 20)
        assert gets == [200] * 20, gets
        seen = lab.ssh("lb1", "cat %s" % log).stdout.split()
        assert seen.count("GET") >= 5, seen        # the dropper did take GETs: they were retried

        lab.ssh("lb1", "truncate -s 0 %s" % log)
        posts = _requests(url, "POST", 10)
        seen = lab.ssh("lb1", "cat %s" % log).stdout.split()
        assert posts.count(502) >= 3, posts
        assert seen == ["POST"] * posts.count(502), (posts, seen)   # each sent once, none replayed

        off = play(ROLE_PLAY, extra_vars=dict(role_vars, haproxy_retry_on=[]))
        assert off.rc == 0 and off.changed > 0, off.stdout[-3000:]
        assert "retry-on" not in lab.ssh("lb1", "cat /etc/haproxy/haproxy.cfg").stdout
        gets = _requests(url, "GET", 20)
        assert gets.count(502) >= 5 and gets.count(200) >= 5, gets
    finally:
        lab.ssh("lb1", "pkill -f hx-dropper.py; rm -f /tmp/hx-dropper.py %s" % log, check=False)
        back = play(ROLE_PLAY, extra_vars=BASE_VARS)
        assert back.rc == 0, back.stdout[-3000:]
    assert wait_until(lambda: all_up(lab)), stats(lab)


# ---------------------------------------------------------------- review fixes (2.6.12)
# Backends beside app: `other` (a server of app's name, a no-check server, a server that
# tracks app/app2-1, a server of weight 10, a DNS name that never resolves), `static`
# (balance source), `srr` (balance static-rr), `commas` (a server whose check answers
# "503 Busy, try later": a comma in show stat's CSV).
COMMA_SERVER = r"""
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(16)
while True:
    c, _ = s.accept()
    try:
        c.recv(4096)
        c.sendall(b"HTTP/1.0 503 Busy, try later\r\nContent-Length: 0\r\n\r\n")
    finally:
        c.close()
"""
COMMA_PORT = 8093
HELPER_RELOAD = ("/usr/local/sbin/dockyard-haproxy save-state --admin-socket /run/haproxy/admin.sock "
                 "--state-file /var/lib/haproxy/server-state && /usr/local/sbin/dockyard-haproxy reload "
                 "--config /etc/haproxy/haproxy.cfg --pidfile /run/haproxy.pid --master-socket "
                 "/run/haproxy/master.sock --admin-socket /run/haproxy/admin.sock --state-file "
                 "/var/lib/haproxy/server-state --haproxy /usr/sbin/haproxy")


def _review_vars(lab):
    app = [{"name": "%s-%d" % (h, i), "address": lab.addr(h), "port": port}
           for h in lab.app_hosts for i, port in enumerate(PORTS, 1)]
    a1, a2, a3 = (lab.addr(h) for h in ("app1", "app2", "app3"))
    return dict(BASE_VARS, haproxy_global_extra=BASE_VARS["haproxy_global_extra"] + [
        "resolvers lab", "nameserver ns1 127.0.0.1:53", "accepted_payload_size 512",
        "resolve_retries 1", "timeout resolve 1s", "timeout retry 1s", "hold valid 10s"],
        haproxy_backends=[
            {"name": "app", "servers": app},
            {"name": "other", "servers": [
                {"name": "app1-1", "address": a1, "port": 8081},
                {"name": "nc-1", "address": a2, "port": 8082, "check": False},
                {"name": "tracked", "address": a2, "port": 8081, "check": False,
                 "params": "track app/app2-1"},
                {"name": "wtd", "address": a3, "port": 8082, "params": "weight 10"},
                {"name": "dns1", "address": "doesnotexist.invalid", "port": 80,
                 "params": "resolvers lab init-addr none"},
                # a server given by host name (as an inventory host without ansible_host is)
                {"name": "byname", "address": "localhost", "port": 8081, "check": False}]},
            {"name": "static", "balance": "source", "servers": [
                {"name": "s1", "address": a1, "port": 8081}, {"name": "s2", "address": a1, "port": 8082}]},
            {"name": "srr", "balance": "static-rr", "servers": [
                {"name": "r1", "address": a2, "port": 8081}]},
            {"name": "commas", "servers": [{"name": "c1", "address": lab.lb["lb1"], "port": COMMA_PORT}]}])


@pytest.fixture(scope="module")
def review(lab, _containers):
    """The role with the review's backends (once for these tests), the comma server on lb1;
    back to BASE_VARS after the module."""
    lb = lab.lb["lb1"]
    pid = lab.ssh("lb1", "cat > /tmp/hx-comma.py <<'PY'\n%sPY\nsetsid python3 /tmp/hx-comma.py %s %d "
                         ">/dev/null 2>&1 < /dev/null & echo $!" % (COMMA_SERVER, lb, COMMA_PORT)).stdout.strip()
    try:
        r = run_playbook(lab, ROLE_PLAY, extra_vars=_review_vars(lab))
        assert r.rc == 0, r.stdout[-3000:]
        for server in stats(lab):
            cli(lab, "set server app/%s state ready" % server)
        cli(lab, "set weight other/wtd 10")
        assert wait_until(lambda: all_up(lab) and "L7STS" in cli(lab, "show stat commas 4 -1")), stats(lab)
        yield lab
    finally:
        lab.ssh("lb1", "kill %s; rm -f /tmp/hx-comma.py" % pid, check=False)
        back = run_playbook(lab, ROLE_PLAY, extra_vars=BASE_VARS)
        assert back.rc == 0, back.stdout[-3000:]
        _SETUP.clear()      # the next fleet user resets the servers' states


def _only(lab, server):
    """Only `server` of backend app takes new requests (the others drained)."""
    for s in stats(lab):
        cli(lab, "set server app/%s state %s" % (s, "ready" if s == server else "drain"))


def _all_ready(lab):
    for s in stats(lab):
        cli(lab, "set server app/%s state ready" % s)
    assert wait_until(lambda: all_up(lab)), stats(lab)


def _slow(lab, seconds, result):
    def run():
        try:
            with urllib.request.urlopen(lb_url(lab, "/cgi-bin/slow?%d" % seconds), timeout=60) as resp:
                result["status"] = resp.status
        except urllib.error.HTTPError as e:
            result["status"] = e.code
        except OSError as e:
            result["status"] = str(e)
    t = threading.Thread(target=run)
    t.start()
    return t


def _in_background(play, pb):
    box = {}
    t = threading.Thread(target=lambda: box.update(r=play(pb)))
    t.start()
    return t, box


def test_review_shutdown_sessions_is_a_change_only_with_sessions_to_shut(review, play):
    """shutdown_sessions: sent (and changed) only to a server with sessions, check mode alike;
    a second run on the drained, idle server is no change in check mode and for real. The
    same for then.shutdown_sessions."""
    lab = review
    _only(lab, "app1-1")
    try:
        result = {}
        t = _slow(lab, 20, result)
        assert wait_until(lambda: int(stats(lab)["app1-1"]["scur"]) == 1, timeout=5, interval=0.05)
        args = dict(backend="app", server="app1-1", state="drain", shutdown_sessions="true")
        check = play(module_play(**args), check=True)
        assert check.rc == 0 and check.changed == 1, check.stdout[-3000:]
        assert check.one(action="haproxy_server")["commands"] == [
            "set server app/app1-1 state drain", "shutdown sessions server app/app1-1"]
        assert int(stats(lab)["app1-1"]["scur"]) == 1 and stats(lab)["app1-1"]["status"] == "UP"
        r = play(module_play(**args))
        assert r.rc == 0 and r.changed == 1, r.stdout[-3000:]
        assert r.one(action="haproxy_server")["commands"] == check.one(action="haproxy_server")["commands"]
        t.join(30)
        assert result["status"] != 200, result          # its session was shut
        for mode in (True, False):
            again = play(module_play(**args), check=mode)
            assert again.rc == 0 and again.changed == 0, (mode, again.stdout[-3000:])
            assert again.one(action="haproxy_server")["commands"] == []
        # then.shutdown_sessions on an idle drained server: nothing to shut, no change
        then = dict(backend="app", server="app1-1", wait="true", wait_timeout=20,
                    then="{servers: [app1-2], state: drain, shutdown_sessions: true}")
        for mode in (True, False):
            r = play(module_play(**then), check=mode)
            assert r.rc == 0 and r.changed == 0, (mode, r.stdout[-3000:])
    finally:
        _all_ready(lab)


def test_review_drained_means_no_session_after_maint_and_on_a_down_server(review, play):
    """wait after maint waits for the session HAProxy keeps; so does the wait after drain on
    a server its health check marked DOWN (HAProxy does not close sessions then)."""
    lab = review
    _only(lab, "app1-1")
    app = lab.docker("app1").containers.get("%s1" % PREFIX)
    try:
        result = {}
        # long enough to outlast the playbook's start on a busy machine (6 s did not: in a CI
        # run with three workers the module's wait began about 5 s in and lasted 0.84 s)
        t = _slow(lab, 12, result)
        assert wait_until(lambda: int(stats(lab)["app1-1"]["scur"]) == 1, timeout=5, interval=0.05)
        r = play(module_play(backend="app", server="app1-1", state="maint", wait="true",
                             wait_timeout=30, wait_interval=0.2))
        assert r.rc == 0, r.stdout[-3000:]
        res = r.one(action="haproxy_server")
        assert res["before"]["scur"] == 1 and res["after"]["scur"] == 0
        assert res["after"]["status"] == "MAINT" and res["waited"] >= 1, res
        t.join(30)
        assert result == {"status": 200}

        cli(lab, "set server app/app1-1 state ready")
        assert wait_until(lambda: stats(lab)["app1-1"]["status"] == "UP", timeout=10)
        t = _slow(lab, 20, result)      # the same, after the wait for the health check too
        assert wait_until(lambda: int(stats(lab)["app1-1"]["scur"]) == 1, timeout=5, interval=0.05)
        app.exec_run(["/bin/busybox", "mv", "/www/health", "/www/health.off"])
        assert wait_until(lambda: stats(lab)["app1-1"]["status"] == "DOWN", timeout=10, interval=0.1)
        assert int(stats(lab)["app1-1"]["scur"]) == 1
        r = play(module_play(backend="app", server="app1-1", state="drain", wait="true",
                             wait_timeout=30, wait_interval=0.2))
        assert r.rc == 0, r.stdout[-3000:]
        res = r.one(action="haproxy_server")
        assert res["before"]["status"] == "DOWN" and res["before"]["scur"] == 1
        assert res["after"]["scur"] == 0 and res["waited"] >= 1, res
        t.join(30)
        assert result == {"status": 200}
    finally:
        app.exec_run(["/bin/busybox", "sh", "-c", "test -e /www/health || mv /www/health.off /www/health"])
        _all_ready(lab)


def test_review_a_reload_during_the_wait_is_seen(review, play):
    """The new worker of a reload counts none of the old one's sessions: the wait sees the
    process change (show info) and warns; reloaded is true."""
    lab = review
    _only(lab, "app1-1")
    try:
        result = {}
        t = _slow(lab, 15, result)
        assert wait_until(lambda: int(stats(lab)["app1-1"]["scur"]) == 1, timeout=5, interval=0.05)
        bg, box = _in_background(play, module_play(backend="app", server="app1-1", state="drain",
                                                   wait="true", wait_timeout=40, wait_interval=0.2))
        assert wait_until(lambda: stats(lab)["app1-1"]["status"] == "DRAIN", timeout=30, interval=0.1)
        time.sleep(0.5)
        lab.ssh("lb1", HELPER_RELOAD)
        bg.join(60)
        r = box["r"]
        assert r.rc == 0, r.stdout[-3000:]
        res = r.one(action="haproxy_server")
        assert res["reloaded"] is True and res["changed"] is True, res
        assert any("process changed" in w for w in res.get("warnings", [])), res
        t.join(30)
        assert result == {"status": 200}      # the old worker served it to its end
    finally:
        _all_ready(lab)


def test_review_a_failure_partway_reports_the_commands_sent(review, play):
    """The socket gone during the wait: failed, changed, the drain it sent in commands."""
    lab = review
    _only(lab, "app1-1")
    try:
        result = {}
        t = _slow(lab, 10, result)
        assert wait_until(lambda: int(stats(lab)["app1-1"]["scur"]) == 1, timeout=5, interval=0.05)
        bg, box = _in_background(play, module_play(backend="app", server="app1-1", state="drain",
                                                   wait="true", wait_timeout=30, wait_interval=0.2))
        try:
            assert wait_until(lambda: stats(lab)["app1-1"]["status"] == "DRAIN", timeout=30, interval=0.1)
            lab.ssh("lb1", "mv /run/haproxy/admin.sock /run/haproxy/admin.sock.hx")
            bg.join(60)
        finally:
            lab.ssh("lb1", "test -e /run/haproxy/admin.sock || mv /run/haproxy/admin.sock.hx /run/haproxy/admin.sock")
        r = box["r"]
        assert r.rc != 0
        res = r.one(action="haproxy_server")
        assert res["changed"] is True and res["commands"] == ["set server app/app1-1 state drain"], res
        assert res["failed_step"] == "first" and "option socket" in res["msg"], res
        assert res["after"]["admin_state"] == "drain"
        t.join(30)
    finally:
        _all_ready(lab)


def test_review_weight_on_static_algorithms_and_percentages(review, play):
    """static-rr: a weight other than 0 or the initial one fails naming weight in check mode
    and for real, before anything changes; balance source: check mode warns, the real run
    fails naming weight with nothing changed (the weight goes first). A percentage is of the
    initial weight, a second run no change."""
    lab = review
    for mode in (True, False):
        r = play(module_play(backend="srr", server="r1", state="drain", weight=5), check=mode)
        res = r.one(action="haproxy_server")
        assert r.rc != 0 and "option weight" in res["msg"] and "static-rr" in res["msg"], res
        assert res["changed"] is False and res["commands"] == []
    check = play(module_play(backend="static", server="s1", state="drain", weight=5), check=True)
    res = check.one(action="haproxy_server")
    assert check.rc == 0 and any("option weight" in w for w in res.get("warnings", [])), res
    r = play(module_play(backend="static", server="s1", state="drain", weight=5))
    res = r.one(action="haproxy_server")
    assert r.rc != 0 and "option weight" in res["msg"], res
    assert res["changed"] is False and res["commands"] == [] and res["after"]["admin_state"] == "ready"
    assert "static,s1," in cli(lab, "show stat static 4 -1")
    assert [ln for ln in cli(lab, "show servers state static").splitlines() if " s1 " in ln][0].split()[6] == "0"

    r = play(module_play(backend="other", server="wtd", weight='"50%"'), check=True, diff=True)
    res = r.one(action="haproxy_server")
    assert r.rc == 0 and r.changed == 1 and res["diff"]["after"]["weight"] == 5, res
    try:
        r = play(module_play(backend="other", server="wtd", weight='"50%"'))
        assert r.rc == 0 and r.changed == 1 and r.one(action="haproxy_server")["commands"] == \
            ["set weight other/wtd 5"], r.stdout[-3000:]
        assert "5 (initial 10)" in cli(lab, "get weight other/wtd")
        again = play(module_play(backend="other", server="wtd", weight='"50%"'))
        assert again.rc == 0 and again.changed == 0
        back = play(module_play(backend="other", server="wtd", weight='"100%"'))
        assert back.rc == 0 and back.changed == 1
        r = play(module_play(backend="other", server="wtd", weight='"half"'))
        assert r.rc != 0 and "option weight" in r.one(action="haproxy_server")["msg"]
    finally:
        cli(lab, "set weight other/wtd 10")


def test_review_level_tracking_names_and_backend(review, play):
    """A socket at level user: refused in check mode too when there is something to change,
    naming socket; a no-op run reads (address from show servers state). A tracking server
    passes the ready wait. Unknown names name servers / then.servers (then: first, before
    anything changes). Without backend: found from the server's name; a name in two backends
    fails naming backend."""
    lab = review
    user = dict(backend="app", server="app1-1", socket="/run/haproxy/user.sock")
    for mode in (True, False):
        r = play(module_play(state="drain", **user), check=mode)
        res = r.one(action="haproxy_server")
        assert r.rc != 0 and "option socket" in res["msg"] and "level user" in res["msg"], res
        assert res["changed"] is False
    assert stats(lab)["app1-1"]["status"] == "UP"
    r = play(module_play(state="ready", **user))
    res = r.one(action="haproxy_server")
    assert r.rc == 0 and r.changed == 0 and res["after"]["address"] == "%s:8081" % lab.addr("app1"), res

    cli(lab, "set server other/tracked state maint")
    r = play(module_play(backend="other", server="tracked", state="ready", wait="true",
                         wait_timeout=15, wait_interval=0.2))
    res = r.one(action="haproxy_server")
    assert r.rc == 0 and r.changed == 1 and res["after"]["tracked"] == "app/app2-1", r.stdout[-3000:]
    assert res["after"]["status"] == "UP" and res["after"]["check_status"] == ""

    r = play(module_play(backend="app", servers="[app1-1, nope]", state="drain"))
    msg = r.one(action="haproxy_server")["msg"]
    assert r.rc != 0 and "(option servers)" in msg and "'nope'" in msg, msg
    cli(lab, "set server app/app1-2 state drain")
    try:
        r = play(module_play(backend="app", server="app1-2", state="ready", wait="true",
                             then="{servers: [nope], state: drain}"))
        res = r.one(action="haproxy_server")
        assert r.rc != 0 and res["msg"].startswith("then: ") and "(option then.servers)" in res["msg"], res
        assert res["failed_step"] == "then" and res["changed"] is False
        assert stats(lab)["app1-2"]["status"] == "DRAIN"       # the first step was not made
    finally:
        _all_ready(lab)

    r = play(module_play(server="app1-2", state="drain"), check=True)
    assert r.rc == 0 and r.changed == 1 and r.one(action="haproxy_server")["backend"] == "app"
    for mode in (True, False):
        r = play(module_play(server="app1-1", state="drain"), check=mode)
        msg = r.one(action="haproxy_server")["msg"]
        assert r.rc != 0 and "option backend" in msg and "app, other" in msg, msg
    r = play(module_play(servers="[app1-1, wtd]", state="ready"))
    res = r.one(action="haproxy_server")
    assert r.rc == 0 and r.changed == 0 and res["backend"] == "other", res
    assert stats(lab)["app1-1"]["status"] == "UP"


def test_review_haproxy_info_csv_dns_no_check_and_bad_input(review, play):
    """haproxy_info: a check reason with a comma keeps the columns; an unresolved DNS server
    has its port and name; replicas_not_ready counts a no-check server ready, as
    haproxy_server does; bad input fails at once on the controller naming the option, a
    missing socket is named."""
    lab = review
    r = play("""
- hosts: lb
  gather_facts: false
  tasks:
    - dockyard.fleet.haproxy_info: {}
      register: every
    - dockyard.fleet.haproxy_server: {backend: commas, server: c1}
    - ansible.builtin.set_fact:
        pending: "{{ [every] | dockyard.fleet.replicas_not_ready('nc', [1], 'other') }}"
""")
    assert r.rc == 0, r.stdout[-3000:]
    info = r.one(action="haproxy_info")
    by = {(s["backend"], s["server"]): s for s in info["servers"]}
    assert (by["commas", "c1"]["addr"], by["commas", "c1"]["port"]) == (lab.lb["lb1"], COMMA_PORT)
    assert by["commas", "c1"]["check_status"] == "L7STS"
    dns = by["other", "dns1"]
    assert (dns["addr"], dns["port"], dns["fqdn"]) == (None, 80, "doesnotexist.invalid"), dns
    assert by["other", "tracked"]["tracked"] == "app/app2-1"
    assert r.one(action="haproxy_server")["after"]["address"] == "%s:%d" % (lab.lb["lb1"], COMMA_PORT)
    assert r.one(action="set_fact")["ansible_facts"]["pending"] == []

    bad = play("""
- hosts: lb
  gather_facts: false
  tasks:
    - dockyard.fleet.haproxy_info: {backend: app, timeout: 0}
      ignore_errors: true
    - dockyard.fleet.haproxy_info: {backend: "a;b"}
      ignore_errors: true
    - dockyard.fleet.haproxy_info: {backend: nosuch}
      ignore_errors: true
    - dockyard.fleet.haproxy_info: {socket: /run/haproxy/nothing.sock, execution: controller}
      ignore_errors: true
    - dockyard.fleet.haproxy_info: {socket: /run/haproxy/nothing.sock}
      ignore_errors: true
""")
    records = bad.results(action="haproxy_info")
    assert [x["status"] for x in records] == ["failed"] * 5, records
    res = [x["result"] for x in records]
    for one, option in zip(res[:3], ("timeout", "backend", "backend")):
        assert "option %s" % option in one["msg"], one
        assert one["execution"] == "controller" and one["invocations"] == 0, one
        assert "execution_reason" not in one, one
    assert "nosuch" in res[2]["msg"]
    assert "/run/haproxy/nothing.sock" in res[3]["msg"] and "option socket" in res[3]["msg"], res[3]
    assert "reset by peer" not in res[3]["msg"] and res[3]["execution"] == "controller", res[3]
    assert res[4]["execution"] == "host" and "/run/haproxy/nothing.sock" in res[4]["msg"], res[4]


def test_review_states_survive_reloads_by_host_name_and_a_new_stats_socket(review, play):
    """Before a reload the states are saved and given back: also for a server configured by
    host name (its srv_addr is the resolved address; it counted as moved and lost its DRAIN),
    and when haproxy_stats_socket changes (the new socket does not exist before the reload:
    the states are read on the one the live config names). And back."""
    lab = review
    new_sock = "/run/haproxy/hx-admin2.sock"

    def admin(backend, server, sock):
        rows = [ln.split() for ln in cli(lab, "show servers state %s" % backend, sock).splitlines()]
        return next(r[6] for r in rows if len(r) > 6 and r[3] == server)

    cli(lab, "set server other/byname state drain")
    cli(lab, "set server app/app1-1 state maint")
    try:
        r = play(ROLE_PLAY, extra_vars=dict(_review_vars(lab), haproxy_stats_socket=new_sock,
                                            haproxy_maxconn=4001))
        assert r.rc == 0 and r.changed > 0, r.stdout[-3000:]
        assert (admin("other", "byname", new_sock), admin("app", "app1-1", new_sock)) == ("8", "1")
        back = play(ROLE_PLAY, extra_vars=_review_vars(lab))
        assert back.rc == 0 and back.changed > 0, back.stdout[-3000:]
        assert (admin("other", "byname", None), admin("app", "app1-1", None)) == ("8", "1")
    finally:
        cli(lab, "set server other/byname state ready")
        _all_ready(lab)
