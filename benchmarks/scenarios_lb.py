# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""P2 (fresh deploy behind HAProxy) and P3 (rolling restart under load) for benchmarks/run.

`b` is the benchmarks/run module (helpers, lab paths, Runner)."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time

HOSTS = 10
REPLICAS = 3
APP = "web"
# The demo image's own health check as it was until 2026-12-07 (every 2 s; the published
# figures were measured with it), with a 15 s timeout instead of 2 s, on both sides: on a
# loaded machine a `docker exec` of wget can take longer than 2 s and the replicas would be
# unhealthy for reasons that have nothing to do with either side.
HEALTHCHECK = {"test": ["CMD", "/bin/busybox", "wget", "-q", "-O", "/dev/null",
                        "http://127.0.0.1/health"],
               "interval": "2s", "timeout": "15s", "retries": 3}


def _lab10(b):
    """Exactly 10 app hosts: the HAProxy backend is built from every host of the app group."""
    st = b.lab_state()
    if st.get("app") != HOSTS:
        b.log("lab %d up with %d app hosts (P2/P3)" % (b.LAB_ID, HOSTS))
        subprocess.run([b.LAB_TOOL, "up", "--hosts", str(HOSTS)], check=True,
                       env=dict(os.environ, DOCKYARD_LAB_ID=str(b.LAB_ID)), stdout=sys.stderr)
    return b.app_hosts(HOSTS)


def _reset(b, hosts):
    """Nothing of the app on the hosts: no replicas, no image, no release record."""
    b.remove_containers(hosts, [APP + "-"])

    def one(h):
        b.docker(h, "rmi", "-f", "dockyard/demo:v1", check=False)
        for d in ("var/lib/dockyard", "run/dockyard"):
            path = os.path.join(b.LAB_DATA, h, "fs", d)
            if os.path.isdir(path):
                for entry in os.listdir(path):
                    shutil.rmtree(os.path.join(path, entry), ignore_errors=True)
    b.parallel(one, hosts)


def _vars(start_interval=None):
    hc = dict(HEALTHCHECK, start_interval=start_interval) if start_interval else HEALTHCHECK
    return {"deploy_app": APP, "deploy_replicas": REPLICAS, "deploy_version": "v1",
            "deploy_healthcheck": hc}


# P2's third side: ours with healthcheck.start_interval, which Docker 20.10 does not know and
# the service's wait emulates (it runs the check's test itself until it passes once). The
# peer cannot have it here: community.docker refuses healthcheck.start_interval below API
# 1.44 (Docker 25), and the lab's engines speak 1.41.
START_INTERVAL = "250ms"


def p2(runner, reps, with_peer, b):
    hosts = _lab10(b)
    sides = {"ours": os.path.join(b.PB, "ours_fresh_deploy.yml")}
    sides["ours_start_interval"] = sides["ours"]
    if with_peer:
        sides["peer"] = os.path.join(b.PB, "peer_fresh_deploy.yml")
    _reset(b, hosts)
    # HAProxy is configured once before the timed runs (same role, same config for both sides).
    runner.play(sides["ours"], hosts, _vars(), extra_hosts=["lb1"], label="P2 warm-up (LB config)")
    runs = {s: [] for s in sides}
    for i, s in b.alternate(reps, list(sides)):
        _reset(b, hosts)
        extra = _vars(START_INTERVAL if s == "ours_start_interval" else None)
        runs[s].append(runner.play(sides[s], hosts, extra, extra_hosts=["lb1"],
                                   label="P2 %s fresh deploy #%d" % (s, i + 1), expect_changed=True))
    out = {"title": "P2 fresh deploy, %d hosts x %d + LB" % (HOSTS, REPLICAS), "reps": reps,
           "sides": {s: b.summarise(r, hosts, ["lb1"]) for s, r in runs.items()},
           "notes": "each run starts from hosts without the image, the replicas or a release "
                    "record; HAProxy already configured (the same dockyard.fleet.haproxy role "
                    "runs as a no-op on both sides); the (+LB m/s) column part is module runs "
                    "and SSH connections on lb1; ours_start_interval: ours with the same health "
                    "check plus start_interval %s (emulated on this engine; community.docker "
                    "refuses it below API 1.44)." % START_INTERVAL}
    b.paired(out["sides"], runs)
    return out


# ---------------------------------------------------------------- P3
def _admin(b, cmd):
    path = os.path.join(b.LAB_DATA, "lb1", "fs", "run", "haproxy", "admin.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    s.sendall((cmd + "\n").encode())
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return data.decode(errors="replace")


def _stat(b, server):
    for line in _admin(b, "show stat app 4 -1").splitlines():
        cols = line.split(",")
        if len(cols) > 36 and cols[1] == server:
            return int(cols[4] or 0), cols[17], cols[36]
    raise RuntimeError("no server %s in backend app" % server)


def _wait(pred, timeout=60, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(step)
    raise RuntimeError("timeout")


def floor_rolling(b, hosts):
    """The floor of a rolling restart, without Ansible: for every replica in turn, straight
    on the sockets: drain (sessions to 0) + restart + time to healthy (+ back UP on the LB,
    reported apart)."""
    parts = {"drain": 0.0, "start": 0.0, "healthy": 0.0, "lb_up": 0.0}
    t_all = time.monotonic()
    for h in hosts:
        for i in range(1, REPLICAS + 1):
            srv, name = "%s-%d" % (h, i), "%s-%d" % (APP, i)
            t = time.monotonic()
            _admin(b, "set server app/%s state drain" % srv)
            _wait(lambda: _stat(b, srv)[0] == 0)
            t1 = time.monotonic()
            b.docker(h, "restart", "-t", "10", name)
            t2 = time.monotonic()
            _wait(lambda: b.docker(h, "inspect", "-f", "{{.State.Health.Status}}", name)
                  .stdout.strip() == "healthy", step=0.2)
            t3 = time.monotonic()
            _admin(b, "set server app/%s state ready" % srv)
            _wait(lambda: _stat(b, srv)[1] == "UP" and _stat(b, srv)[2] == "L7OK")
            t4 = time.monotonic()
            parts["drain"] += t1 - t
            parts["start"] += t2 - t1
            parts["healthy"] += t3 - t2
            parts["lb_up"] += t4 - t3
    parts["total"] = time.monotonic() - t_all
    return parts


def p3(runner, reps, with_peer, b):
    sys.path.insert(0, os.path.join(b.REPO, "tests", "integration"))
    from loadclient import LoadClient  # noqa: E402

    hosts = _lab10(b)
    # A fleet left by an earlier run (the peer's replicas carry none of our labels) would
    # make the setup fail: start from nothing.
    _reset(b, hosts)
    # A deployed fleet behind HAProxy (ours, not timed).
    setups = {"ours": os.path.join(b.PB, "ours_fresh_deploy.yml"),
              "peer": os.path.join(b.PB, "peer_fresh_deploy.yml")}
    runner.play(setups["ours"], hosts, _vars(), extra_hosts=["lb1"], label="P3 setup (deploy)")
    # Whose replicas run now. Each side restarts replicas its own deploy made: the peer's
    # docker_container recreates ours (they carry labels and options its task does not
    # give), and ours refuses to adopt containers without its labels. A side that finds the
    # other's fleet gets its own first, not timed (the floor restarts either).
    owner = "ours"
    rolling = os.path.join(b.REPO, "playbooks", "rolling_restart.yml")
    # ours: the default deploy_roll_mode (auto: one service run per host over the ssh
    # connection); ours_per_step: two module runs per replica, as any other connection gets.
    sides = {"ours": rolling, "ours_per_step": rolling, "floor": None}
    if with_peer:
        sides["peer"] = os.path.join(b.PB, "peer_rolling_restart.yml")
    lb_url = "http://%s.5/" % ("10.77.%d" % b.LAB_ID)
    runs = {s: [] for s in sides}
    loads = {s: [] for s in sides}
    floors = []
    for i, s in b.alternate(reps, list(sides)):
        want = {"ours": "ours", "ours_per_step": "ours", "peer": "peer"}.get(s)
        if want and want != owner:
            _reset(b, hosts)
            runner.play(setups[want], hosts, _vars(), extra_hosts=["lb1"],
                        label="P3 setup (deploy, %s) before %s #%d" % (want, s, i + 1))
            owner = want
        # flat out, as every P3 figure in docs/performance.md was measured
        load = LoadClient(lb_url, max_seconds=1800, concurrency=2, timeout=5, interval=0)
        load.start()
        try:
            if s == "floor":
                t0 = time.monotonic()
                parts = floor_rolling(b, hosts)
                floors.append(parts)
                b.log("P3 floor (sockets) #%d         %6.2fs  %s" % (
                    i + 1, time.monotonic() - t0,
                    " ".join("%s %.1f" % kv for kv in parts.items())))
                res = {"elapsed": parts["drain"] + parts["start"] + parts["healthy"],
                       "cpu": float("nan"), "modules": {}, "ssh": {}, "by_action": {}}
            else:
                extra = dict(_vars(), **({"deploy_roll_mode": "per_step"}
                                         if s == "ours_per_step" else {}))
                res = runner.play(sides[s], hosts, extra, extra_hosts=["lb1"],
                                  label="P3 %s rolling restart #%d" % (s, i + 1))
        finally:
            stats = load.stop()
        res["load_ok"], res["load_failed"] = stats.ok, stats.failed
        b.log("P3 %s load: %s" % (s, stats.summary()))
        runs[s].append(res)
        loads[s].append((stats.ok, stats.failed))
    out = {"title": "P3 rolling restart, %d hosts x %d, one host at a time, under load" % (HOSTS, REPLICAS),
           "reps": reps, "sides": {}, "floor_parts": floors, "requests": loads}
    for s, r in runs.items():
        out["sides"][s] = b.summarise(r, hosts, ["lb1"])
        out["sides"][s]["failed_requests"] = sum(x["load_failed"] for x in r)
        out["sides"][s]["ok_requests"] = sum(x["load_ok"] for x in r)
    b.paired(out["sides"], runs)
    out["notes"] = ("floor = sum over the %d replica cycles of drain + restart + time to healthy, "
                    "done straight on the sockets (no Ansible); requests ok/failed during the "
                    "runs: %s" % (HOSTS * REPLICAS, ", ".join(
                        "%s %d/%d" % (s, out["sides"][s]["ok_requests"],
                                      out["sides"][s]["failed_requests"]) for s in sides)))
    return out
