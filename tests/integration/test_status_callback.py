# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet you can see: haproxy_info, playbooks/status.yml (fleet_table), the rollout
callback on a serial play, and playbooks/teardown.yml - against real engines and a real
HAProxy (role dockyard.fleet.haproxy on lb1)."""
from __future__ import annotations

import os
import re
import socket
import time

import pytest

from ansible_collections.dockyard.fleet.plugins.module_utils._ssh_forward import listening

APP = "stx"
PORTS = (8281, 8282)
SECRET = "s3cr3t-rollout-value"
ROLE_VARS = {"haproxy_backend_ports": list(PORTS)}
ROLE_PLAY = """
- hosts: lb
  gather_facts: false
  roles:
    - dockyard.fleet.haproxy
"""
SERVICE_PLAY = """
- hosts: app1,app2
  gather_facts: false
  tasks:
    - dockyard.fleet.service:
        name: %s
        image: dockyard/demo:v1
        pull: never
        replicas: 2
        port_base: %d
        wait: healthy
""" % (APP, PORTS[0])
ROLL_PLAY = """
- name: roll %(app)s
  hosts: app1,app2
  gather_facts: false
  serial: 1
  tasks:
    - name: replace one replica
      dockyard.fleet.service:
        name: %(app)s
        image: dockyard/demo:v2
        pull: never
        replicas: 2
        port_base: %(port)d
        only: ["{{ item }}"]
        env:
          API_TOKEN: %(secret)s
        wait: healthy
      loop: [1, 2]
""" % {"app": APP, "port": PORTS[0], "secret": SECRET}
CALLBACKS = {"ANSIBLE_CALLBACKS_ENABLED": "dockyard_record,dockyard.fleet.rollout"}


def cli(lab, cmd, sock="/run/haproxy/admin.sock"):
    return lab.ssh("lb1", "echo '%s' | socat stdio unix:%s" % (cmd, sock)).stdout


def stats(lab):
    lines = [ln for ln in cli(lab, "show stat app 4 -1").splitlines() if ln.strip()]
    header = lines[0][2:].split(",")
    rows = [dict(zip(header, ln.split(","))) for ln in lines[1:]]
    return {r["svname"]: r for r in rows}


def wait_until(fn, timeout=30, interval=0.3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(interval)
    return fn()


def table_rows(stdout):
    """Rows of the fleet table printed by status.yml, split on 2+ spaces."""
    rows = []
    for ln in stdout.splitlines():
        cells = re.split(r"\s{2,}", ln.strip())
        if len(cells) >= 5 and re.match(r"^app\d+$", cells[0]):
            rows.append(cells)
    return rows


@pytest.fixture(scope="module")
def _module_lab(lab):
    """Clean before and after this file; the setup itself runs once, in `fleet`."""
    for h in lab.app_hosts:
        lab.clean(h, APP + "-")
    state = {"ready": False}
    yield lab, state
    for h in lab.app_hosts:
        lab.clean(h, APP + "-")


@pytest.fixture
def fleet(_module_lab, play):
    lab, state = _module_lab
    if state["ready"]:
        return lab
    for h in ("app1", "app2"):
        lab.load_image(h, "dockyard/demo:v1")
        lab.load_image(h, "dockyard/demo:v2")
    res = play(SERVICE_PLAY)
    assert res.rc == 0, res.stdout[-3000:]
    # A fresh HAProxy: on a reload, HAProxy takes server addresses and ports from the saved
    # server-state file, so another test's ports would stick (reported to the role's owner).
    lab.ssh("lb1", "p=$(cat /run/haproxy.pid 2>/dev/null) && kill $p && "
                   "while kill -0 $p 2>/dev/null; do sleep 0.1; done; "
                   "rm -f /var/lib/haproxy/server-state /run/haproxy.pid", check=False)
    res = play(ROLE_PLAY, extra_vars=ROLE_VARS)
    assert res.rc == 0, res.stdout[-3000:]
    ours = {"%s-%d" % (h, i) for h in ("app1", "app2") for i in (1, 2)}
    assert wait_until(lambda: all(r["status"] == "UP" for s, r in stats(lab).items()
                                  if s in ours)), stats(lab)
    state["ready"] = True
    return lab


def test_haproxy_info_reads_every_server(fleet, play):
    lab = fleet
    cli(lab, "set server app/app1-2 state drain")
    cli(lab, "set weight app/app2-1 7")
    pb = """
- hosts: lb
  gather_facts: false
  tasks:
    - dockyard.fleet.haproxy_info:
        backend: app
    - dockyard.fleet.haproxy_info: {}
    - dockyard.fleet.haproxy_info:
        backend: app
        execution: host
"""
    for check in (False, True):           # read-only: same answer, never changed
        res = play(pb, check=check)
        assert res.rc == 0 and res.changed == 0, res.stdout[-3000:]
        one, every, on_host = [r["result"] for r in res.results(action="haproxy_info")]
        # read from the controller through the forwarded socket (no module run on lb1), the
        # same servers as the module on lb1 reads
        assert [(r["execution"], r["invocations"]) for r in (one, every, on_host)] == \
            [("controller", 0), ("controller", 0), ("host", 1)]
        assert [(s["server"], s["admin_state"], s["weight"]) for s in one["servers"]] == \
            [(s["server"], s["admin_state"], s["weight"]) for s in on_host["servers"]]
        real = stats(lab)
        by = {s["server"]: s for s in one["servers"]}
        assert set(by) == set(real) == {"%s-%d" % (h, i) for h in lab.app_hosts for i in (1, 2)}
        for name, row in real.items():
            assert by[name]["status"] == row["status"]
            assert by[name]["scur"] == int(row["scur"])
            assert "%s:%s" % (by[name]["addr"], by[name]["port"]) == row["addr"]
        assert by["app1-2"]["admin_state"] == "drain" and by["app1-2"]["status"] == "DRAIN"
        assert by["app2-1"]["weight"] == 7 and by["app1-1"]["admin_state"] == "ready"
        assert by["app1-1"]["check_status"] == "L7OK"
        assert one["backends"] == ["app"]
        assert {s["server"] for s in every["servers"]} >= set(by)


def test_haproxy_info_errors_name_the_option(fleet, play):
    res = play("""
- hosts: lb
  gather_facts: false
  tasks:
    - dockyard.fleet.haproxy_info:
        backend: nosuch
      ignore_errors: true
    - dockyard.fleet.haproxy_info:
        socket: /run/haproxy/nothing.sock
      ignore_errors: true
    - dockyard.fleet.haproxy_info:
        backend: "app;disable server app/app1-1"
      ignore_errors: true
""")
    results = [r["result"] for r in res.results(action="haproxy_info")]
    msgs = [r["msg"] for r in results]
    assert "option backend" in msgs[0] and "nosuch" in msgs[0]
    assert "option socket" in msgs[1] and "/run/haproxy/nothing.sock" in msgs[1]
    assert "option backend" in msgs[2]
    # an unknown backend fails at once on the controller (bad input is not retried on the
    # host); a socket missing behind the forward: auto tried the controller, then the module
    # on lb1 (its own message)
    assert results[0]["execution"] == "controller" and "execution_reason" not in results[0], results[0]
    assert results[1]["execution"] == "host", results[1]
    assert "the runtime API over the forward" in results[1]["execution_reason"], results[1]
    assert stats(fleet)["app1-1"]["status"] == "UP"      # nothing was injected
    # execution=controller: the failure on the controller, naming the host's socket
    res = play("""
- hosts: lb
  gather_facts: false
  tasks:
    - dockyard.fleet.haproxy_info:
        socket: /run/haproxy/nothing.sock
        execution: controller
      ignore_errors: true
""")
    r = res.results(action="haproxy_info")[0]["result"]
    assert r["execution"] == "controller" and "/run/haproxy/nothing.sock" in r["msg"], r
    assert "dyfwd" not in r["msg"], r


def test_haproxy_info_replaces_and_cancels_a_forward_a_gone_master_left(fleet, play):
    """A forward's socket file on the controller that nothing listens on (its SSH master was
    killed) is no forward: haproxy_info makes its own and cancels it at the end; a live one
    (socket_forward's) it leaves alone."""
    forward = """
- hosts: lb
  gather_facts: false
  tasks:
    - dockyard.fleet.socket_forward: {path: /run/haproxy/admin.sock, state: %s}
"""
    info = """
- hosts: lb
  gather_facts: false
  tasks:
    - dockyard.fleet.haproxy_info: {backend: app, execution: controller}
"""
    res = play(forward % "present")
    assert res.rc == 0, res.stdout[-3000:]
    local = res.results(action="socket_forward")[0]["result"]["controller_socket"]
    try:
        res = play(info)                   # a live forward: read through it, left alone
        assert res.rc == 0, res.stdout[-3000:]
        assert os.path.exists(local) and listening(local)
        assert play(forward % "absent").rc == 0
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(local)
        stale.close()                      # as a killed master leaves it
        assert os.path.exists(local) and not listening(local)
        res = play(info)
        assert res.rc == 0, res.stdout[-3000:]
        r = res.results(action="haproxy_info")[0]["result"]
        assert r["execution"] == "controller" and {s["server"] for s in r["servers"]} >= {"app1-1"}, r
        assert not os.path.exists(local)   # made by this run, so cancelled by it
    finally:
        play(forward % "absent")


def test_status_playbook_prints_one_table(fleet, play):
    lab = fleet
    res = play("playbooks/status.yml", extra_vars={"deploy_app": APP})
    assert res.rc == 0 and res.changed == 0, res.stdout[-3000:]
    assert res.stdout.count("HOST  REPLICA") == 1           # printed once
    rows = table_rows(res.stdout)
    got = {(r[0], r[1]): r for r in rows}
    assert got[("app1", "stx-1")][2:] == ["dockyard/demo:v1", "healthy", "UP", "0"]
    assert got[("app1", "stx-2")][2:5] == ["dockyard/demo:v1", "healthy", "DRAIN"]
    assert got[("app2", "stx-1")][4] == "UP"
    # app3 runs no replica but HAProxy has servers for it: named by the backend's server
    assert got[("app3", "app/app3-1 (no container)")][3] == "absent"
    assert got[("app3", "app/app3-1 (no container)")][4].startswith("DOWN")
    assert "3 hosts, 4 replicas, 3 of 6 rows in service" in res.stdout
    # read-only in check mode too
    res = play("playbooks/status.yml", extra_vars={"deploy_app": APP}, check=True)
    assert res.rc == 0 and len(table_rows(res.stdout)) == len(rows)
    cli(lab, "set server app/app1-2 state ready")


def test_status_with_a_host_down(fleet, play):
    lab = fleet
    lab.tool("stop", "app2")
    try:
        res = play("playbooks/status.yml", extra_vars={"deploy_app": APP})
    finally:
        lab.tool("start", "app2")
    assert res.rc == 0, res.stdout[-3000:]
    got = {(r[0], r[1]): r for r in table_rows(res.stdout)}
    # what HAProxy says of the silent host's replicas is still shown, with why it is silent
    for i in (1, 2):
        row = got[("app2", "stx-%d (no facts)" % i)]
        # DOWN, or still going down (HAProxy marks it DOWN after `fall` failed checks; the
        # run right after the stop may come first): `UP 1/2` with its failed check
        going_down = row[4].startswith("UP 1/") and " L4" in row[4]
        assert row[3] == "no answer (unreachable)" and (row[4].startswith("DOWN") or going_down), row
    assert got[("app1", "stx-1")][3] == "healthy"
    assert "3 hosts, 2 replicas, 2 of 6 rows in service" in res.stdout, res.stdout[-3000:]
    # --limit leaves the load balancer out: its view is unknown, nothing counts as in service
    res = play("playbooks/status.yml", extra_vars={"deploy_app": APP}, limit="app1")
    assert res.rc == 0, res.stdout[-3000:]
    got = {(r[0], r[1]): r for r in table_rows(res.stdout)}
    assert got[("app1", "stx-1")][3:] == ["healthy", "?", "?"]
    assert "1 host, 2 replicas, 0 of 2 rows in service; images: dockyard/demo:v1 x2; " \
        "lb1: no answer (not queried (outside --limit))" in res.stdout, res.stdout[-3000:]


def test_rollout_callback_shows_progress(fleet, play):
    lab = fleet
    res = play(ROLL_PLAY, env=CALLBACKS)
    assert res.rc == 0, res.stdout[-3000:]
    out = res.stdout
    assert "rollout: play roll %s, batch 1 of 2 (app1)" % APP in out
    assert "rollout: play roll %s, batch 2 of 2 (app2)" % APP in out
    for n, (host, i) in enumerate([("app1", 1), ("app1", 2), ("app2", 1), ("app2", 2)], 1):
        assert "rollout: replica %s-%d -> dockyard/demo:v2 (done %d/4) recreated" % (host, i, n) \
            in out, out[-3000:]
    # lines come as they happen: batch 2 starts after app1's replicas
    assert out.index("done 2/4") < out.index("batch 2 of 2") < out.index("done 3/4")
    summary = out[out.index("rollout: summary"):].splitlines()
    assert summary[1].split() == ["HOST", "RESULT", "REPLICAS", "CHANGED"]
    assert summary[2].split() == ["app1", "ok", "dockyard/demo:v2", "[1,2]", "1"]
    assert summary[3].split() == ["app2", "ok", "dockyard/demo:v2", "[1,2]", "1"]
    assert SECRET not in out and "API_TOKEN" not in out
    v2 = lab.images["dockyard/demo:v2"]["id"]
    for h in ("app1", "app2"):
        for i in (1, 2):
            assert lab.docker(h).containers.get("%s-%d" % (APP, i)).attrs["Image"] == v2
    again = play(ROLL_PLAY, env=CALLBACKS)
    assert again.rc == 0 and again.changed == 0, again.stdout[-3000:]
    assert "rollout: replica app2-2 -> dockyard/demo:v2 (done 4/4) unchanged" in again.stdout
    summary = again.stdout[again.stdout.index("rollout: summary"):].splitlines()
    assert [ln.split()[-1] for ln in summary[2:4]] == ["0", "0"]


def test_rollout_callback_reports_failures(fleet, play):
    res = play("""
- name: bad
  hosts: app1
  gather_facts: false
  tasks:
    - dockyard.fleet.service:
        name: %s
        image: dockyard/demo:nosuchtag
        pull: never
        replicas: 2
        port_base: %d
""" % (APP, PORTS[0]), env=CALLBACKS)
    assert res.rc != 0
    line = next(ln for ln in res.stdout.splitlines() if ln.startswith("rollout: FAILED app1: "))
    assert "image" in line
    summary = res.stdout[res.stdout.index("rollout: summary"):].splitlines()
    assert summary[2].split()[:2] == ["app1", "failed"]


def rollout_lines(out, prefix):
    return [ln for ln in out.splitlines() if ln.startswith(prefix)]


def summary_rows(out):
    return [ln.split() for ln in out[out.index("rollout: summary"):].splitlines()[2:]
            if ln.startswith("  app")]


def test_rollout_callback_through_the_deploy_role(fleet, play):
    """deploy.yml (the deploy role: a converge=missing service run that plans the existing
    replicas, then the roll) with the callback: --check says so and shows no progress; the
    real run shows each replica once (the plan is not progress); a broken release that rolls
    back says so, and the summary names what runs, not the broken image."""
    lab = fleet
    deploy = dict(deploy_app=APP, deploy_port_base=PORTS[0], deploy_replicas=2,
                  deploy_haproxy_backend="app", deploy_healthcheck={"start_interval": "250ms"})
    res = play("playbooks/deploy.yml", extra_vars=dict(deploy, deploy_version="v2"), check=True,
               env=CALLBACKS)
    assert res.rc == 0, res.stdout[-3000:]
    out = res.stdout
    assert "rollout: check mode, nothing changes: play Roll the app to deploy_version" in out
    assert not rollout_lines(out, "rollout: replica") or \
        all("(planned " in ln and "would be" in ln for ln in rollout_lines(out, "rollout: replica"))
    assert "rollout: summary (check mode: nothing changed" in out
    # the real run: every replica once, done 1/6 .. 6/6
    res = play("playbooks/deploy.yml", extra_vars=dict(deploy, deploy_version="v2"), env=CALLBACKS)
    assert res.rc == 0, res.stdout[-3000:]
    shown = rollout_lines(res.stdout, "rollout: replica")
    assert sorted(ln.split()[2] for ln in shown) == \
        ["%s-%d" % (h, i) for h in lab.app_hosts for i in (1, 2)], shown
    assert sorted(int(ln.split("(done ")[1].split("/")[0]) for ln in shown) == [1, 2, 3, 4, 5, 6]
    assert all(" -> dockyard/demo:v2 (done " in ln and "/6) " in ln for ln in shown), shown
    assert [r[:4] for r in summary_rows(res.stdout)] == [[h, "ok", "dockyard/demo:v2", "[1,2]"]
                                                         for h in lab.app_hosts], res.stdout[-3000:]
    # a broken release: the first host's replica gets v2 back, the others are not rolled (their
    # halted runs say what they run, read from the engine before the turn)
    res = play("playbooks/deploy.yml", env=CALLBACKS, extra_vars=dict(
        deploy, deploy_version="broken", deploy_wait="running", deploy_haproxy_ready_timeout=10))
    assert res.rc != 0
    out = res.stdout
    assert not [ln for ln in rollout_lines(out, "rollout: replica") if "broken" in ln], out[-3000:]
    failed = rollout_lines(out, "rollout: FAILED %s: replica" % lab.app_hosts[0])
    assert failed and failed[0].endswith("[rolled back to dockyard/demo:v2]"), failed
    first, later = lab.app_hosts[0], lab.app_hosts[1:]
    assert [r[:-1] for r in summary_rows(out)] == \
        [[first, "failed", "dockyard/demo:v2", "[1,2]"]] + \
        [[h, "failed", "dockyard/demo:v2", "[1,2]", "(not", "rolled)"] for h in later], out[-3000:]
    for h in lab.app_hosts:
        assert {v for _n, v, _s in lab.app_replicas(h, APP)} == {"v2"}


def test_teardown(fleet, play):
    lab = fleet
    # app3 has replicas only when the deploy role's test ran before
    had = {h: bool([c for c in lab.docker(h).containers.list(all=True) if c.name.startswith(APP + "-")])
           for h in lab.app_hosts}
    res = play("playbooks/teardown.yml", extra_vars={"deploy_app": APP})
    assert res.rc == 0, res.stdout[-3000:]
    assert res.recap["app1"]["changed"] == 1
    assert all(res.recap[h]["changed"] == int(had[h]) for h in lab.app_hosts), (had, res.recap)
    for h in lab.app_hosts:
        assert not [c for c in lab.docker(h).containers.list(all=True)
                    if c.name.startswith(APP + "-")]
    assert lab.ssh("lb1", "test -S /run/haproxy/admin.sock && kill -0 $(cat /run/haproxy.pid)",
                   check=False).returncode == 0           # HAProxy left alone by default
    pid = lab.ssh("lb1", "cat /run/haproxy.pid").stdout.strip()
    # again, now stopping HAProxy: the replicas are already gone (no change there)
    stop = play("playbooks/teardown.yml", extra_vars={"deploy_app": APP, "teardown_haproxy": True})
    assert stop.rc == 0, stop.stdout[-3000:]
    assert stop.recap["lb1"]["changed"] == 1, stop.stdout[-3000:]
    assert all(stop.recap[h]["changed"] == 0 for h in lab.app_hosts), stop.stdout[-3000:]
    assert lab.ssh("lb1", "kill -0 %s" % pid, check=False).returncode != 0
    again = play("playbooks/teardown.yml", extra_vars={"deploy_app": APP, "teardown_haproxy": True})
    assert again.rc == 0 and again.changed == 0, again.stdout[-3000:]
