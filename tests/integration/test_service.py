"""dockyard.fleet.service against a real lab engine over SSH: replicas, ports map,
scale up/down, only:, check mode, wait healthy, bad input."""
from __future__ import annotations

import glob
import io
import json
import tarfile
import time

import pytest
from conftest import LAB_ID, killed_run
from option_defaults import DEFAULTS

H = "app3"
P = "sv-"
V1, V2, BROKEN = "dockyard/demo:v1", "dockyard/demo:v2", "dockyard/demo:broken"
# the demo image's own HEALTHCHECK test (tools/lab)
IMAGE_TEST = ["CMD", "/bin/busybox", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1/health"]


def pb(tasks: str, hosts: str = H) -> str:
    body = "\n".join("    " + line for line in tasks.strip("\n").splitlines())
    return "- hosts: %s\n  tasks:\n%s\n" % (hosts, body)


def svc(image=V1, replicas=3, extra=""):
    return pb("""
- name: svc
  dockyard.fleet.service:
    name: sv-web
    image: %s
    replicas: %d
    port_base: 18081
    %s
""" % (image, replicas, extra))


@pytest.fixture(scope="module")
def ids(lab):
    out = {tag: lab.load_image(H, tag) for tag in (V1, V2, BROKEN)}
    lab.clean(H, P)
    yield out
    lab.clean(H, P)


def replicas(lab):
    out = {}
    for c in lab.docker(H).api.containers(all=True, filters={"label": "dockyard.service=sv-web"}):
        out[c["Names"][0].lstrip("/")] = c
    return out


def test_service_lifecycle(lab, play, ids):
    # check mode first: predicts, creates nothing
    before = lab.snapshot(H)
    res = play(svc(), check=True)
    assert res.rc == 0 and res.changed == 1
    r = res.one(action="service")
    assert [x["action"] for x in r["replicas"]] == ["created"] * 3
    assert lab.snapshot(H) == before

    # create 3, healthy, waited together; second run unchanged
    res = play(svc(extra="wait: healthy"))
    assert res.rc == 0, res.stdout[-3000:]
    r = res.one(action="service")
    assert r["ports"] == {"1": 18081, "2": 18082, "3": 18083}
    assert [(x["index"], x["name"], x["host_port"], x["action"], x["health"]) for x in r["replicas"]] == [
        (1, "sv-web-1", 18081, "created", "healthy"), (2, "sv-web-2", 18082, "created", "healthy"),
        (3, "sv-web-3", 18083, "created", "healthy")]
    assert all(x["image_id"] == ids[V1] for x in r["replicas"])
    again = play(svc(extra="wait: healthy"))
    assert again.rc == 0 and again.changed == 0
    assert [x["action"] for x in again.one(action="service")["replicas"]] == ["unchanged"] * 3
    found = replicas(lab)
    assert sorted(found) == ["sv-web-1", "sv-web-2", "sv-web-3"]
    for i in (1, 2, 3):
        c = lab.docker(H).api.inspect_container("sv-web-%d" % i)
        assert c["Config"]["Labels"]["dockyard.replica"] == str(i)
        assert c["HostConfig"]["PortBindings"]["80/tcp"] == [{"HostIp": "", "HostPort": str(18080 + i)}]
        assert c["State"]["Health"]["Status"] == "healthy"
    ids_before = {n: c["Id"] for n, c in found.items()}

    # only: [2] replaces replica 2 alone
    res = play(svc(image=V2, extra="only: [2]\n    wait: healthy"), diff=True)
    assert res.rc == 0, res.stdout[-3000:]
    r = res.one(action="service")
    assert [(x["index"], x["action"]) for x in r["replicas"]] == [(2, "recreated")]
    assert list(r["diff"]["before"]) == ["sv-web-2"]
    assert r["diff"]["before"]["sv-web-2"]["image"] == ids[V1]
    assert play(svc(image=V2, extra="only: [2]")).changed == 0
    now = {n: c["Id"] for n, c in replicas(lab).items()}
    assert now["sv-web-1"] == ids_before["sv-web-1"] and now["sv-web-3"] == ids_before["sv-web-3"]
    assert now["sv-web-2"] != ids_before["sv-web-2"]
    assert lab.docker(H).api.inspect_container("sv-web-2")["Image"] == ids[V2]

    # scale up to 4 on v2: 1 and 3 recreated, 2 unchanged, 4 created
    res = play(svc(image=V2, replicas=4))
    r = res.one(action="service")
    assert [x["action"] for x in r["replicas"]] == ["recreated", "unchanged", "recreated", "created"]
    assert r["ports"]["4"] == 18084
    assert play(svc(image=V2, replicas=4)).changed == 0

    # scale down to 2: replicas above N removed (found by label), after their stop signal
    before = lab.snapshot(H)
    res = play(svc(image=V2, replicas=2), check=True)
    assert res.changed == 1 and lab.snapshot(H) == before
    gone = {n: c["Id"] for n, c in replicas(lab).items() if n in ("sv-web-3", "sv-web-4")}
    since = time.time()
    res = play(svc(image=V2, replicas=2))
    for cid in gone.values():   # SIGTERM (the engine's default stop signal), which the image traps: exit 0
        assert lab.stops(H, cid, since) == (["15"], ["0"])
    r = res.one(action="service")
    assert sorted((x["name"], x["action"]) for x in r["replicas"]) == [
        ("sv-web-1", "unchanged"), ("sv-web-2", "unchanged"), ("sv-web-3", "removed"),
        ("sv-web-4", "removed")]
    assert r["ports"] == {"1": 18081, "2": 18082}
    assert sorted(replicas(lab)) == ["sv-web-1", "sv-web-2"]
    assert play(svc(image=V2, replicas=2)).changed == 0

    # in-place update across replicas (no recreate)
    kept = {n: c["Id"] for n, c in replicas(lab).items()}
    res = play(svc(image=V2, replicas=2, extra="restart_policy: always"))
    assert [x["action"] for x in res.one(action="service")["replicas"]] == ["updated", "updated"]
    assert {n: c["Id"] for n, c in replicas(lab).items()} == kept
    assert lab.docker(H).api.inspect_container("sv-web-1")["HostConfig"]["RestartPolicy"]["Name"] == "always"
    assert play(svc(image=V2, replicas=2, extra="restart_policy: always")).changed == 0

    # absent removes all
    res = play(pb("- dockyard.fleet.service: {name: sv-web, state: absent}"))
    assert res.changed == 1 and replicas(lab) == {}
    assert play(pb("- dockyard.fleet.service: {name: sv-web, state: absent}")).changed == 0


def test_explicit_ports_and_wait_failure(lab, play, ids):
    task = """
- name: svc
  dockyard.fleet.service:
    name: sv-ports
    image: %s
    replicas: 2
    ports: [18191, 18195]
    container_port: 80
    wait: healthy
    wait_timeout: 60
  ignore_errors: true
"""
    res = play(pb(task % V1))
    assert res.rc == 0
    r = res.one(action="service")
    assert r["ports"] == {"1": 18191, "2": 18195}
    assert play(pb(task % V1)).changed == 0
    res = play(pb(task % BROKEN))
    rec = res.results(action="service")[0]
    assert rec["status"] == "failed"
    assert "unhealthy" in rec["result"]["msg"] and "last health checks" in rec["result"]["msg"]
    # both replicas were recreated before the wait failed: said so (changed, what was done)
    assert rec["result"]["changed"] is True, rec
    assert [(x["name"], x["action"]) for x in rec["result"]["replicas"]] == [
        ("sv-ports-1", "recreated"), ("sv-ports-2", "recreated")], rec
    assert rec["result"]["actions"] == ["sv-ports-1: recreated", "sv-ports-1: started",
                                        "sv-ports-2: recreated", "sv-ports-2: started"], rec
    assert {x["image_id"] for x in rec["result"]["replicas"]} == {ids[BROKEN]}
    lab.clean(H, "sv-ports")


def test_start_interval_probe_on_an_older_engine(lab, play, ids):
    """healthcheck.start_interval on the lab's Docker 20.10 (API 1.41, no start interval):
    wait=healthy probes the check's own test, so a 60 s interval does not hold the run; the
    engine itself still says starting; probes that fail count for nothing; no false change."""
    def task(image, start_interval, timeout=30, execution="auto", name="sv-si", test=True):
        return pb("""
- name: svc
  dockyard.fleet.service:
    name: %s
    image: %s
    replicas: 2
    port_base: 18281
    execution: %s
    healthcheck:
      %s
      interval: 60s
      retries: 1
      %s
    wait: healthy
    wait_timeout: %d
  ignore_errors: true
""" % (name, image, execution, ("test: " + json.dumps(IMAGE_TEST)) if test else "",
            "start_interval: 200ms" if start_interval else "", timeout))

    for execution in ("controller", "host"):
        lab.clean(H, "sv-si")
        res = play(task(V1, True, execution=execution))
        assert res.rc == 0, res.stdout[-3000:]
        r = res.one(action="service")
        assert r["execution"] == execution and r["changed"]
        assert [(x["action"], x["probed"], x["health"]) for x in r["replicas"]] == [
            ("created", True, "starting")] * 2
        for i in (1, 2):
            c = lab.docker(H).api.inspect_container("sv-si-%d" % i)
            assert c["State"]["Health"]["Status"] == "starting"
            assert c["State"]["Health"]["Log"] == []  # the engine has not checked yet
            assert c["Config"]["Healthcheck"]["Interval"] == 60 * 10 ** 9
            assert "StartInterval" not in c["Config"]["Healthcheck"]
        again = play(task(V1, True, execution=execution))
        assert again.rc == 0 and again.changed == 0, again.stdout[-3000:]
        assert [x["action"] for x in again.one(action="service")["replicas"]] == ["unchanged"] * 2

    # timings only: the image's test is kept (not restated), probed, and no false change
    lab.clean(H, "sv-si")
    res = play(task(V1, True, test=False))
    assert res.rc == 0, res.stdout[-3000:]
    assert [(x["action"], x["probed"]) for x in res.one(action="service")["replicas"]] == [
        ("created", True)] * 2
    hc = lab.docker(H).api.inspect_container("sv-si-1")["Config"]["Healthcheck"]
    assert hc["Test"] == IMAGE_TEST and hc["Interval"] == 60 * 10 ** 9 and hc["Retries"] == 1
    assert play(task(V1, True, test=False)).changed == 0

    # without start_interval the same wait waits for the engine's first check, 60 s away
    lab.clean(H, "sv-si")
    rec = play(task(V1, False, timeout=3)).results(action="service")[0]
    assert rec["status"] == "failed"
    assert "not healthy after 3s (option wait_timeout)" in rec["result"]["msg"]
    assert "start_interval probe" not in rec["result"]["msg"]

    # a test that fails is probed again and again, and only the engine can say unhealthy:
    # here nothing says healthy before the deadline; the message shows the last probe
    lab.clean(H, "sv-si")
    rec = play(task(BROKEN, True, timeout=3)).results(action="service")[0]
    assert rec["status"] == "failed"
    msg = rec["result"]["msg"]
    assert "not healthy after 3s (option wait_timeout)" in msg
    assert "last start_interval probe: exit 1" in msg, msg
    for i in (1, 2):
        assert lab.docker(H).api.inspect_container("sv-si-%d" % i)["State"]["Health"]["Status"] == "starting"
    lab.clean(H, "sv-si")


def test_bad_input_changes_nothing(lab, play, ids):
    cases = {
        "ports": "{name: sv-bad, image: %s, replicas: 3, ports: [1, 2]}" % V1,
        "only": "{name: sv-bad, image: %s, replicas: 2, port_base: 18300, only: [3]}" % V1,
        "port_base": "{name: sv-bad, image: %s, replicas: 3, port_base: 65534}" % V1,
        "memory": "{name: sv-bad, image: %s, replicas: 2, memory: lots}" % V1,
        "name": "{name: 'sv bad', image: %s}" % V1,
        "image": "{name: sv-bad, image: 'dockyard/demo:absent', pull: never}",
        # backend and server names go into HAProxy runtime-API commands, where ';' starts
        # another command: refused before any load balancer is asked
        "ready.server_prefix": "{name: sv-bad, image: %s, replicas: 2, port_base: 18300, "
                               "ready: {server_prefix: 'x;clear counters all;', load_balancers: "
                               "[{socket: /run/haproxy/admin.sock, backend: app}]}}" % V1,
        "roll.load_balancers[1].backend": "{name: sv-bad, image: %s, replicas: 2, port_base: "
                                          "18300, roll: {server_prefix: x-, load_balancers: "
                                          "[{socket: /run/haproxy/admin.sock, backend: "
                                          "'app;disable server app/x-1'}]}}" % V1,
    }
    tasks = "\n".join("- name: %s\n  dockyard.fleet.service: %s\n  ignore_errors: true" % (k, v)
                      for k, v in cases.items())
    before = lab.snapshot(H)
    res = play(pb(tasks))
    assert lab.snapshot(H) == before
    for option in cases:
        rec = res.results(task=option)
        assert rec and rec[0]["status"] == "failed", option
        assert option in rec[0]["result"]["msg"], (option, rec[0]["result"]["msg"])


def test_a_new_release_the_engine_refuses_leaves_the_replicas_running(lab, play, ids):
    """Replicas to recreate on something only the engine finds wrong at start (a sysctl the
    kernel does not have): the run fails with the engine's reason, and every replica that ran
    before runs again, the same container, under its name."""
    base = "{name: sv-ref, image: %s, replicas: 2, port_base: 18291%s}"
    res = play(pb("- dockyard.fleet.service: " + base % (V1, "")))
    assert res.rc == 0, res.stdout[-3000:]
    before = lab.snapshot(H)
    ids_before = {c["Names"][0]: c["Id"] for c in lab.docker(H).api.containers(
        filters={"label": "dockyard.service=sv-ref"})}
    assert len(ids_before) == 2
    bad = play(pb("- dockyard.fleet.service: " + base % (V2, ", sysctls: {net.ipv4.nonexistent_dy: '1'}")))
    rec = bad.results(action="service")[0]
    assert rec["status"] == "failed", rec
    assert "nonexistent_dy" in rec["result"]["msg"] and "runs again" in rec["result"]["msg"], rec
    assert {c["Names"][0]: c["Id"] for c in lab.docker(H).api.containers(
        filters={"label": "dockyard.service=sv-ref"})} == ids_before      # running, the same ones
    assert lab.snapshot(H) == before
    lab.clean(H, "sv-ref")


def test_a_replica_left_dead_by_a_crash_is_made_anew(lab, play, ids):
    """The engine crashed while it removed a replica (its config says RemovalInProgress): at
    its next start it marks the container dead and will not start it ("marked for removal"),
    as after a host that lost power mid-roll. The next run recreates that replica (same
    config), the other is left as it is; the run after it changes nothing."""
    task = ("- name: svc\n  dockyard.fleet.service: {name: sv-dead, image: %s, replicas: 2, "
            "port_base: 18321, restart_policy: unless-stopped, wait: healthy}\n" % V1)
    first = play(pb(task))
    assert first.rc == 0 and first.changed == 1, first.stdout[-3000:]
    api = lab.docker(H).api
    victim = api.inspect_container("sv-dead-1")["Id"]
    other = api.inspect_container("sv-dead-2")["Id"]
    lab.tool("docker-stop", H)
    try:
        path = "/var/lib/dockyard-lab/%d/%s/docker/containers/%s/config.v2.json" % (LAB_ID, H, victim)
        with open(path) as f:
            config = json.load(f)
        config["State"]["RemovalInProgress"] = True
        with open(path, "w") as f:
            json.dump(config, f)
    finally:
        lab.tool("docker-start", H)
    try:
        state = api.inspect_container(victim)["State"]
        assert state["Dead"] and state["Status"] == "dead", state
        fixed = play(pb(task))
        assert fixed.rc == 0 and fixed.changed == 1, fixed.stdout[-3000:]
        by_name = {r["name"]: r for r in fixed.one(action="service")["replicas"]}
        assert by_name["sv-dead-1"]["action"] == "recreated" and by_name["sv-dead-1"]["id"] != victim
        assert by_name["sv-dead-2"]["id"] == other
        assert api.inspect_container("sv-dead-1")["State"]["Health"]["Status"] == "healthy"
        again = play(pb(task))
        assert again.rc == 0 and again.changed == 0, again.stdout[-3000:]
    finally:
        lab.clean(H, "sv-dead")


def test_replicas_a_killed_run_left_set_aside_go_before_anything_starts(lab, play, ids):
    """A service run killed in the middle of recreating its replicas (after their rename,
    before the new ones were made) leaves them running under <replica>-dyold-<id>, on the
    ports the replicas need. The next run removes them first (gracefully), also with
    converge=missing, which otherwise only plans what exists: else the replica it starts
    could not have its port."""
    task = "- dockyard.fleet.service: {name: sv-kl, replicas: 2, port_base: 18391, image: %s%s}\n"

    def names():
        return sorted(c["Names"][0].lstrip("/") for c in lab.docker(H).api.containers(
            all=True, filters={"label": "dockyard.service=sv-kl"}))

    def converge(image, extra=""):
        first = play(pb(task % (image, extra)))
        assert first.rc == 0, first.stdout[-3000:]
        again = play(pb(task % (image, extra)))
        assert again.rc == 0 and again.changed == 0, again.stdout[-3000:]
        return first

    converge(V1)
    killed_run(lab, H, "service", "create_container_from_config", name="sv-kl", replicas=2,
               port_base=18391, image=V2)
    aside = [n for n in names() if "-dyold-" in n]
    assert aside and all(n.startswith(("sv-kl-1-dyold-", "sv-kl-2-dyold-")) for n in aside), names()

    actions = converge(V2, ", converge: missing").one(action="service")["actions"]
    # (a rename the killed run had sent may reach the engine only after the listing above)
    removed = [a.split(":")[0] for a in actions if "-dyold-" in a]
    assert set(aside) <= set(removed) and all(
        a.endswith(": removed (set aside by a run that ended in the middle of a recreate)")
        for a in actions if "-dyold-" in a), actions
    assert names() == ["sv-kl-1", "sv-kl-2"]
    converge(V2)
    assert {c["ImageID"] for c in lab.docker(H).api.containers(
        filters={"label": "dockyard.service=sv-kl"})} == {ids[V2]}
    lab.clean(H, "sv-kl")


def test_timings_on_an_image_without_healthcheck_change_nothing(lab, play, ids):
    """healthcheck timings without a test take the image's HEALTHCHECK; on an image with
    none (here HEALTHCHECK NONE) they would give no check: service (on the controller and on
    the host) and container fail naming healthcheck.test and the image, before creating
    anything."""
    api = lab.docker(H).api
    src = api.create_container(V1, name="sv-nohc-src")
    nohc = "dockyard/demo:nohc"
    api.commit(src["Id"], repository="dockyard/demo", tag="nohc",
               conf={"Healthcheck": {"Test": ["NONE"]}})
    api.remove_container(src["Id"])
    try:
        assert api.inspect_image(nohc)["Config"]["Healthcheck"]["Test"] == ["NONE"]
        hc = "healthcheck: {interval: 5s, retries: 1}"
        tasks = "\n".join([
            "- name: %s\n  dockyard.fleet.service: {name: sv-nohc, image: %s, replicas: 2, "
            "port_base: 18311, execution: %s, wait: healthy, %s}\n  ignore_errors: true"
            % (ex, nohc, ex, hc) for ex in ("controller", "host")] + [
            "- name: container\n  dockyard.fleet.container: {name: sv-nohc-c, image: %s, %s}\n"
            "  ignore_errors: true" % (nohc, hc)])
        before = lab.snapshot(H)
        res = play(pb(tasks))
        assert lab.snapshot(H) == before
        for task in ("controller", "host", "container"):
            rec = res.results(task=task)
            assert rec and rec[0]["status"] == "failed", (task, rec)
            msg = rec[0]["result"]["msg"]
            assert msg.startswith("healthcheck.test: needed: image %s has no HEALTHCHECK" % nohc), (task, msg)
            assert "Traceback" not in rec[0]["result"].get("module_stderr", "")
    finally:
        api.remove_image(nohc, force=True)


EX = """
- name: svc
  dockyard.fleet.service:
    name: sv-ex
    image: %s
    replicas: %d
    port_base: 18401
%s
  ignore_errors: true
"""


def ex_task(image=V1, replicas=2, **opts):
    extra = "".join("    %s: %s\n" % (k, v) for k, v in opts.items() if k != "environment")
    task = EX % (image, replicas, extra.rstrip("\n"))
    if "environment" in opts:
        task += "  environment: %s\n" % opts["environment"]
    return pb(task)


def forwards():
    """Engine sockets forwarded to the controller (the lab's ControlPath dir, conftest.py)."""
    return set(glob.glob("/tmp/.dockyard-cp-lab%d/dyfwd-*.sock" % LAB_ID))


def test_runs_on_the_controller_unless_it_cannot(lab, play, ids):
    """execution: auto runs the service on the controller against app3's engine socket,
    forwarded over the SSH master: no module run, the module's own result, check mode and
    diff; a run on the host gives the same answers; where the controller cannot, auto goes to
    the host and says why, and execution=controller fails naming the option."""
    lab.clean(H, "sv-ex")
    left = forwards()      # the forwards other plays keep (HAProxy's runtime API, ...)
    try:
        first = play(ex_task())
        assert first.rc == 0 and first.changed == 1, first.stdout[-3000:]
        r = first.one(action="service")
        assert r["execution"] == "controller" and r["invocations"] == 0, r
        assert "execution_reason" not in r
        assert [(x["name"], x["action"]) for x in r["replicas"]] == [
            ("sv-ex-1", "created"), ("sv-ex-2", "created")]
        assert sorted(c.name for c in lab.docker(H).containers.list(filters={"name": "sv-ex"})) == \
            ["sv-ex-1", "sv-ex-2"]
        assert forwards() == left

        # the same task, run by the module on the host and on the controller again: no change,
        # the same replicas
        on_host = play(ex_task(execution="host"))
        again = play(ex_task())
        rh, rc = on_host.one(action="service"), again.one(action="service")
        assert on_host.changed == 0 and again.changed == 0
        assert (rh["execution"], rh["invocations"], rc["execution"], rc["invocations"]) == \
            ("host", 1, "controller", 0)
        # the same replicas (health aside: a new replica's first check may land between)
        same = [[{k: v for k, v in x.items() if k != "health"} for x in r["replicas"]]
                for r in (rh, rc)]
        assert same[0] == same[1] and rh["ports"] == rc["ports"]

        # check mode and diff on the controller: predicted, nothing changed
        before = lab.snapshot(H)
        chk = play(ex_task(image=V2), check=True, diff=True)
        rchk = chk.one(action="service")
        assert chk.changed == 1 and rchk["execution"] == "controller", chk.stdout[-3000:]
        assert [x["action"] for x in rchk["replicas"]] == ["recreated", "recreated"]
        assert rchk["diff"]["before"]["sv-ex-1"]["image"] == ids[V1]
        assert lab.snapshot(H) == before

        # a failure found by the engine: the same message on the controller and on the host,
        # nothing changed (a stray container holds replica 3's name)
        lab.docker(H).containers.create(V1, name="sv-ex-3")
        before = lab.snapshot(H)
        msgs = {}
        for where in ("controller", "host"):
            res = play(ex_task(replicas=3, execution=where))
            rec = res.results(action="service")[0]
            assert rec["status"] == "failed", (where, rec)
            msgs[where] = rec["result"]["msg"]
            assert rec["result"]["execution"] == where
        assert msgs["controller"] == msgs["host"] and "not labelled" in msgs["host"], msgs
        assert lab.snapshot(H) == before
        lab.docker(H).containers.get("sv-ex-3").remove(force=True)

        # auto goes to the host where the controller cannot, and says why
        env = play(ex_task(environment="{DOCKER_TIMEOUT: '60'}"))
        renv = env.one(action="service")
        assert env.rc == 0 and env.changed == 0 and renv["execution"] == "host", renv
        assert "DOCKER_TIMEOUT" in renv["execution_reason"] and renv["invocations"] == 1
        # env_file is a file on the host (app3's own /etc): read there, by the module
        lab.ssh(H, "printf 'EX=1\\n' > /etc/sv-ex.env")
        envf = play(ex_task(env_file="/etc/sv-ex.env"))
        renvf = envf.one(action="service")
        assert envf.rc == 0 and envf.changed == 1 and renvf["execution"] == "host", envf.stdout[-3000:]
        assert "option env_file" in renvf["execution_reason"]
        assert "EX=1" in lab.docker(H).containers.get("sv-ex-1").attrs["Config"]["Env"]

        # execution=controller where it cannot: fails naming the option, no module run
        before = lab.snapshot(H)
        tcp = play(ex_task(execution="controller", docker_host="tcp://127.0.0.1:2375"))
        rec = tcp.results(action="service")[0]
        assert rec["status"] == "failed" and rec["result"]["invocations"] == 0, rec
        assert rec["result"]["msg"].startswith("execution: cannot run on the controller: docker_host "
                                               "tcp://127.0.0.1:2375"), rec["result"]["msg"]
        bogus = play(ex_task(execution="bogus"))
        rec = bogus.results(action="service")[0]
        assert rec["status"] == "failed" and "execution" in rec["result"]["msg"], rec
        assert lab.snapshot(H) == before and forwards() == left
    finally:
        lab.clean(H, "sv-ex")
        lab.ssh(H, "rm -f /etc/sv-ex.env", check=False)


LK_PATHS = ("state_dir: /var/lib/dockyard/test-lk, lock_dir: /run/dockyard/test-lk, "
            "audit_log: /var/log/dockyard/test-lk.log")
LK = "{app: sv-lk, token: %s, owner: tester, " + LK_PATHS + "}"
REC = "{app: sv-lk, token: %s, owner: tester, version: '%s', detail: 2 replicas, " + LK_PATHS + "}"


def lk_task(token="t1", version="v1", image=V1, **opts):
    return ex_task(image=image, lock=LK % token, record=REC % (token, version), **opts)


def test_lock_and_record_on_the_controller(lab, play, ids):
    """Options lock and record keep a run on the controller: each is one command on the host
    (its Python running the release code on the host's files), with the module's results and
    errors. Compared with the module on the host; a lock held by another deploy stops both the
    same way before any change; become sends the run to the module."""
    lab.clean(H, "sv-ex")
    lab.ssh(H, "rm -rf /var/lib/dockyard/test-lk /run/dockyard/test-lk /var/log/dockyard/test-lk.log")
    audit = "tail -n 1 /var/log/dockyard/test-lk.log"
    try:
        # check mode first: would take the lock, records nothing, writes nothing on the host
        chk = play(lk_task(), check=True)
        rchk = chk.one(action="service")
        assert chk.rc == 0 and rchk["execution"] == "controller", chk.stdout[-3000:]
        assert rchk["lock"] == "would_acquire" and rchk["record"]["changed"], rchk
        assert lab.ssh(H, "ls /var/lib/dockyard/test-lk /run/dockyard/test-lk /var/log/dockyard/test-lk.log",
                       check=False).returncode != 0

        first = play(lk_task())
        r = first.one(action="service")
        assert first.rc == 0 and first.changed == 1, first.stdout[-3000:]
        assert (r["execution"], r["invocations"], r["lock"]) == ("controller", 0, "acquired"), r
        assert r["release"] == {"current": None, "previous": []}
        assert r["record"]["lock"] == "released" and r["record"]["current"]["version"] == "v1", r
        assert "from=- to=v1 result=ok detail=2_replicas" in lab.ssh(H, audit).stdout
        assert lab.ssh(H, "test -e /run/dockyard/test-lk/sv-lk.lock", check=False).returncode != 0

        # the same run on the controller and by the module on the host: no change, no audit
        # line, the same lock and record answers
        lines = lab.ssh(H, "wc -l < /var/log/dockyard/test-lk.log").stdout
        results = {}
        for where in ("auto", "host"):
            res = play(lk_task(execution=where))
            results[where] = res.one(action="service")
            assert res.rc == 0 and res.changed == 0, res.stdout[-3000:]
        rc, rh = results["auto"], results["host"]
        assert (rc["execution"], rh["execution"]) == ("controller", "host")
        for key in ("lock", "release"):
            assert rc[key] == rh[key], key
        assert rc["record"] == rh["record"] and rc["record"]["lock"] == "released", (rc, rh)
        assert lab.ssh(H, "wc -l < /var/log/dockyard/test-lk.log").stdout == lines

        # v2 recorded from the controller: v1 becomes previous, one audit line
        v2 = play(lk_task(version="v2", image=V2))
        r2 = v2.one(action="service")
        assert v2.rc == 0 and r2["execution"] == "controller", v2.stdout[-3000:]
        assert r2["release"]["current"]["version"] == "v1"
        assert [p["version"] for p in r2["record"]["previous"]] == ["v1"]
        assert "from=v1 to=v2 result=ok" in lab.ssh(H, audit).stdout

        # another deploy holds the lock: the same failure both ways, nothing changed
        lab.ssh(H, "mkdir -p /run/dockyard/test-lk/sv-lk.lock && echo "
                   "'{\"token\": \"other\", \"owner\": \"ops@elsewhere\", \"since\": %d}' "
                   "> /run/dockyard/test-lk/sv-lk.lock/owner.json" % int(__import__("time").time()))
        before = lab.snapshot(H)
        msgs = {}
        for where in ("controller", "host"):
            res = play(lk_task(token="t3", version="v3", image=V1, execution=where))
            rec = res.results(action="service")[0]
            assert rec["status"] == "failed" and rec["result"]["lock"] == "held_by_other", rec
            assert rec["result"]["execution"] == where
            msgs[where] = rec["result"]["msg"]
        assert msgs["controller"] == msgs["host"], msgs
        assert "another deploy of 'sv-lk' holds the lock on this host: ops@elsewhere" in msgs["host"]
        assert "option lock.timeout" in msgs["host"]
        assert lab.snapshot(H) == before
        assert "to=v2" in lab.ssh(H, audit).stdout
        lab.ssh(H, "rm -rf /run/dockyard/test-lk/sv-lk.lock")

        # become: the module writes the files as the become user, so the run is the module's
        bec = play(pb("""
- name: svc
  dockyard.fleet.service:
    name: sv-ex
    image: %s
    replicas: 2
    port_base: 18401
    lock: %s
    record: %s
  become: true
  become_method: ansible.builtin.su
""" % (V2, LK % "t4", REC % ("t4", "v2"))))
        rb = bec.one(action="service")
        assert bec.rc == 0 and bec.changed == 0 and rb["execution"] == "host", bec.stdout[-3000:]
        assert "option record needs the host's files" in rb["execution_reason"] \
            or "option lock needs the host's files" in rb["execution_reason"], rb
        assert "become" in rb["execution_reason"]

        # the host answers SSH but the release code hangs on its files (the record a FIFO no
        # one writes: open() blocks, as on a stuck disk): the run fails after lock.timeout +
        # option timeout, from the controller, instead of holding the task; nothing changed
        rel = "/var/lib/dockyard/test-lk/sv-lk.json"
        lab.ssh(H, "mv %s %s.kept && mkfifo %s" % (rel, rel, rel))
        try:
            before = lab.snapshot(H)
            hung = play(lk_task(token="t5", version="v5", timeout=10), timeout=300)
            rec = hung.results(action="service")[0]
            assert rec["status"] == "failed" and rec["result"]["execution"] == "controller", rec
            assert "gave no answer to the lock call within 10s" in rec["result"]["msg"], rec
            assert "option lock:" in rec["result"]["msg"] and rec["result"]["changed"] is False
            assert lab.snapshot(H) == before
        finally:  # a writer ends the blocked open (the hung reader then exits)
            lab.ssh(H, "timeout 5 sh -c 'echo > %s'; rm -f %s; mv %s.kept %s" % (rel, rel, rel, rel),
                    check=False)
    finally:
        lab.clean(H, "sv-ex")
        lab.ssh(H, "rm -rf /var/lib/dockyard/test-lk /run/dockyard/test-lk /var/log/dockyard/test-lk.log",
                check=False)


def test_defaults_asked_for_explicitly_are_no_change(lab, play, ids):
    """No false "changed": replicas made with a name, an image and ports are left alone when a
    later run asks, one option at a time, for what they already have (the container options
    as in test_container, and the service's own), on the controller (the default) and on
    the host."""
    base = "name: sv-plain, image: %s, replicas: 2, port_base: 18191" % V1
    plain = "- dockyard.fleet.service: {%s}\n" % base
    res = play(pb(plain))
    assert res.rc == 0 and res.changed == 1, res.stdout[-3000:]
    found = {c["Names"][0]: c["Id"] for c in lab.docker(H).api.containers(
        all=True, filters={"label": "dockyard.service=sv-plain"})}
    assert len(found) == 2
    own = [("container_port", "80"), ("converge", "all"), ("state", "started"),
           ("replicas", "2"), ("ports", "[18191, 18192]")]
    tasks = "".join("- name: %s %s\n  dockyard.fleet.service: {%s, %s: %s}\n"
                    % (option, value, base if option != "ports" else base.replace(", port_base: 18191", ""),
                       option, value)
                    for option, value in DEFAULTS + own)
    for check, execution in ((True, "auto"), (False, "auto"), (False, "host")):
        body = tasks.replace("{name:", "{execution: %s, name:" % execution)
        res = play(pb(body), check=check)
        assert res.rc == 0, res.stdout[-4000:]
        assert len(res.records) == len(DEFAULTS + own), res.stdout[-4000:]
        changed = [(r["task"], r["result"].get("actions")) for r in res.records if r["result"].get("changed")]
        assert changed == [], changed
    assert {c["Names"][0]: c["Id"] for c in lab.docker(H).api.containers(
        all=True, filters={"label": "dockyard.service=sv-plain"})} == found
    lab.clean(H, "sv-plain")


def _anonymous_data_volume(info):
    return next(m["Name"] for m in info["Mounts"] if m["Destination"] == "/data")


def test_keep_volumes_false_takes_removed_replicas_anonymous_volumes_along(lab, play, ids):
    """A replica scaled away or replaced keeps its anonymous volumes by default; with
    keep_volumes false they go with it. The option alone is never a change."""
    api = lab.docker(H).api
    made = []   # anonymous volumes to remove at the end, whatever happens
    try:
        res = play(svc(replicas=2, extra="volumes: [/data]"))
        assert res.rc == 0, res.stdout[-3000:]
        vols = {n: _anonymous_data_volume(api.inspect_container(n)) for n in ("sv-web-1", "sv-web-2")}
        made.extend(vols.values())
        assert play(svc(replicas=2, extra="volumes: [/data]\n    keep_volumes: false")).changed == 0

        # replaced with the default: the old volume stays, dangling
        res = play(svc(image=V2, replicas=2, extra="volumes: [/data]\n    only: [1]"))
        assert res.rc == 0 and res.changed == 1, res.stdout[-3000:]
        names = {v["Name"] for v in api.volumes()["Volumes"] or []}
        assert vols["sv-web-1"] in names
        new1 = _anonymous_data_volume(api.inspect_container("sv-web-1"))
        made.append(new1)

        # keep_volumes false: replica 2 replaced and then scaled away, replica 1 replaced:
        # their volumes are gone
        res = play(svc(image=V2, replicas=2, extra="volumes: [/data]\n    only: [2]\n    keep_volumes: false"))
        assert res.rc == 0 and res.changed == 1, res.stdout[-3000:]
        new2 = _anonymous_data_volume(api.inspect_container("sv-web-2"))
        made.append(new2)
        names = {v["Name"] for v in api.volumes()["Volumes"] or []}
        assert vols["sv-web-2"] not in names and new2 in names
        res = play(svc(image=V1, replicas=1, extra="volumes: [/data]\n    keep_volumes: false"))
        assert res.rc == 0 and res.changed == 1, res.stdout[-3000:]
        assert set(replicas(lab)) == {"sv-web-1"}
        names = {v["Name"] for v in api.volumes()["Volumes"] or []}
        assert new1 not in names and new2 not in names and vols["sv-web-1"] in names
        assert play(svc(image=V1, replicas=1, extra="volumes: [/data]\n    keep_volumes: false")).changed == 0
    finally:
        made += [m["Name"] for n in replicas(lab) for m in api.inspect_container(n)["Mounts"]
                 if m["Type"] == "volume"]
        lab.clean(H, P)
        for vol in made:
            try:
                api.remove_volume(vol)
            except Exception:   # pylint: disable=broad-except
                pass


def test_only_empty_touches_nothing_and_a_paused_replica_runs_again(lab, play, ids):
    """only: [] converges no replica and removes none (check mode and real run, state started
    and absent). A replica made with state stopped is created (the diff says so); a replica
    paused by hand is unpaused under state started (action unpaused), the second run changes
    nothing."""
    lab.clean(H, "sv-oe")
    task = "- name: svc\n  dockyard.fleet.service: {name: sv-oe, replicas: %d, port_base: 18451, image: %s%s}\n"
    res = play(pb(task % (3, V1, "")))
    assert res.rc == 0 and res.changed == 1, res.stdout[-3000:]
    before = lab.snapshot(H)
    tasks = task % (2, V2, ", only: []") + task.replace("name: svc", "name: absent") % (3, V2, ", state: absent, only: []")
    for check in (True, False):
        res = play(pb(tasks), check=check)
        assert res.rc == 0 and res.changed == 0, res.stdout[-3000:]
        for name in ("svc", "absent"):
            r = res.one(task=name)
            assert r["replicas"] == [] and r["actions"] == [], r
        assert lab.snapshot(H) == before
    lab.clean(H, "sv-oe")

    # state stopped on a fresh host: the replica is created, not started, and the diff says so
    stopped = task % (1, V1, ", state: stopped")
    res = play(pb(stopped), diff=True)
    r = res.one(action="service")
    assert res.rc == 0 and res.changed == 1, res.stdout[-3000:]
    assert r["diff"]["before"]["sv-oe-1"] == {"state": "absent"}
    after = r["diff"]["after"]["sv-oe-1"]
    assert after["state"] == "created" and after["image"] == V1, after
    assert after["labels"]["dockyard.replica"] == "1" and after["published_ports"] == ["18451->80/tcp"]
    assert lab.docker(H).api.inspect_container("sv-oe-1")["State"]["Status"] == "created"
    assert play(pb(stopped)).changed == 0

    # paused by hand: state started unpauses it
    started = task % (1, V1, "")
    assert play(pb(started)).changed == 1
    lab.docker(H).api.pause("sv-oe-1")
    for check in (True, False):
        res = play(pb(started), check=check, diff=True)
        r = res.one(action="service")
        assert res.rc == 0 and res.changed == 1, res.stdout[-3000:]
        assert [x["action"] for x in r["replicas"]] == ["unpaused"] and r["actions"] == ["sv-oe-1: unpaused"]
    state = lab.docker(H).api.inspect_container("sv-oe-1")["State"]
    assert state["Running"] and not state["Paused"], state
    assert play(pb(started)).changed == 0
    lab.clean(H, "sv-oe")


def test_refused_before_any_change(lab, play, ids):
    """What could only fail halfway is refused before any change, in check mode too, naming
    the option: wait healthy for replicas without a health check (healthcheck test NONE, an
    image without HEALTHCHECK), a fixed host port in published_ports for 2 replicas (or a
    replica's own port), a container holding a replica's name that is labelled for the
    service without its replica label (a true message), a network that does not exist (after
    it a scale-down would have run: a warning in check mode, where an earlier task may make it)."""
    api = lab.docker(H).api
    for prefix in ("sv-rf", "sv-rh", "sv-rp", "sv-rs"):
        lab.clean(H, prefix)
    res = play(pb("- dockyard.fleet.service: {name: sv-rf, image: %s, replicas: 2, port_base: 18501}" % V1))
    assert res.rc == 0, res.stdout[-3000:]
    api.create_container(V1, name="sv-rs-2", labels={"dockyard.service": "sv-rs"})
    # an image without HEALTHCHECK at all (imported: no config)
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as t:
        data = b"no health check\n"
        info = tarfile.TarInfo("README")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    nohc = "dockyard/demo:nohealth"
    api.import_image_from_data(layer.getvalue(), repository="dockyard/demo", tag="nohealth")
    cases = {
        "wait-none": ("{name: sv-rh, image: %s, replicas: 2, port_base: 18511, wait: healthy, "
                      "healthcheck: {test: [NONE]}}" % V1,
                      "wait: healthy needs a health check, and sv-rh-1, sv-rh-2 would have none "
                      "(option healthcheck disables the check)"),
        "wait-image": ("{name: sv-rh, image: %s, replicas: 2, port_base: 18511, wait: healthy}" % nohc,
                       "wait: healthy needs a health check, and sv-rh-1, sv-rh-2 would have none "
                       "(image %s has no HEALTHCHECK)" % nohc),
        "fixed-port": ("{name: sv-rp, image: %s, replicas: 2, port_base: 18521, published_ports: "
                       "['18530:8080']}" % V1, "published_ports: host port 18530 (to 8080/tcp) is fixed"),
        "own-port": ("{name: sv-rp, image: %s, replicas: 1, port_base: 18521, published_ports: "
                     "['18521:8080']}" % V1, "published_ports: host port 18521 (to 8080/tcp) is replica 1's own"),
        "stray": ("{name: sv-rs, image: %s, replicas: 2, port_base: 18541}" % V1,
                  "container sv-rs-2 is labelled dockyard.service=sv-rs but has no dockyard.replica label"),
        "networks": ("{name: sv-rf, image: %s, replicas: 1, port_base: 18501, networks: "
                     "[{name: sv-no-such-net}]}" % V1,
                     "networks: network sv-no-such-net not found on the host; nothing was changed"),
    }
    tasks = "\n".join("- name: %s\n  dockyard.fleet.service: %s\n  ignore_errors: true" % (k, v)
                      for k, (v, _m) in cases.items())
    try:
        before = lab.snapshot(H)
        for check in (True, False):
            res = play(pb(tasks), check=check)
            assert lab.snapshot(H) == before, check
            for task, (_args, needle) in cases.items():
                rec = res.results(task=task)[0]
                if check and task == "networks":   # predicted, with a warning
                    assert rec["status"] != "failed" and rec["result"]["changed"], rec
                    assert any("sv-no-such-net not found on the host: a real run fails" in w
                               for w in rec["result"].get("warnings") or []), rec
                    continue
                assert rec["status"] == "failed", (check, task, rec)
                assert rec["result"]["msg"].startswith(needle), (check, task, rec["result"]["msg"])
                assert not rec["result"].get("changed"), (check, task, rec)
    finally:
        for prefix in ("sv-rf", "sv-rh", "sv-rp", "sv-rs"):
            lab.clean(H, prefix)
        api.remove_image(nohc, force=True)


def test_replicas_stopped_with_their_own_stop_timeout(lab, play, ids):
    """A replica scaled away, and one stopped by state stopped without stop_timeout restated,
    get their own stop timeout (15 s, the stop signal ignored): the client waits that long
    beyond its own timeout (3 s), instead of giving up after 3 + 10 s while the engine goes on."""
    lab.clean(H, "sv-st")
    task = ("- name: svc\n  dockyard.fleet.service: {name: sv-st, image: %s, replicas: %%d, "
            "port_base: 18561%%s}\n" % V1)
    made = task % (2, ", stop_signal: SIGWINCH, stop_timeout: 15")
    assert play(pb(made)).rc == 0
    assert play(pb(made)).changed == 0
    down = task % (1, ", state: stopped, timeout: 3")
    t0 = time.monotonic()
    res = play(pb(down))
    took = time.monotonic() - t0
    assert res.rc == 0 and res.changed == 1, res.stdout[-3000:]
    r = res.one(action="service")
    assert sorted((x["name"], x["action"]) for x in r["replicas"]) == [
        ("sv-st-1", "stopped"), ("sv-st-2", "removed")], r
    assert took >= 28, took   # two stops of 15 s, one after the other
    assert replicas_named(lab, "sv-st") == {"sv-st-1": "exited"}
    assert play(pb(down)).changed == 0
    lab.clean(H, "sv-st")


def replicas_named(lab, name):
    return {c["Names"][0].lstrip("/"): c["State"] for c in lab.docker(H).api.containers(
        all=True, filters={"label": "dockyard.service=" + name})}
