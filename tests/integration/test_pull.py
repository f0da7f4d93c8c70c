"""Pulls from a real registry: Debian's docker-registry (the Distribution registry) in the
lab hosts' network namespaces on 127.0.0.1:5000 (a loopback registry needs no TLS and no
insecure-registries setting), every host's registry serving one storage directory. Images
are pushed through one host's engine; the image, container and service modules pull them
on the others. Each action runs twice: the second must report no change."""
from __future__ import annotations

import os
import shutil
import time

import pytest
import yaml

from conftest import LAB_ID

REG = "127.0.0.1:5000"
REPO_V = REG + "/dockyard/demo"
PREFIX = "pl-"
PUSHER = "app1"


def _ssh_ok(lab, host, cmd):
    return lab.ssh(host, cmd, check=False).returncode == 0


@pytest.fixture(scope="module")
def registry(lab):
    """A registry on every app host (one shared storage), v1 and v2 pushed from app1."""
    if not shutil.which("docker-registry"):
        pytest.fail("docker-registry is not installed: run tools/setup")
    top = "/var/lib/dockyard-lab/%d/registry" % LAB_ID
    shutil.rmtree(top, ignore_errors=True)
    os.makedirs(os.path.join(top, "data"))
    conf = os.path.join(top, "config.yml")
    with open(conf, "w") as f:
        yaml.safe_dump({"version": 0.1, "log": {"level": "warn"},
                        "storage": {"filesystem": {"rootdirectory": os.path.join(top, "data")},
                                    "delete": {"enabled": True}},
                        "http": {"addr": REG}}, f)
    probe = "python3 -c 'import urllib.request; urllib.request.urlopen(\"http://%s/v2/\", timeout=2)'" % REG
    for host in lab.app_hosts:
        lab.ssh(host, "setsid docker-registry serve %s > %s/%s.log 2>&1 < /dev/null & echo $! > %s/%s.pid"
                % (conf, top, host, top, host))
    for host in lab.app_hosts:
        deadline = time.time() + 30
        while not _ssh_ok(lab, host, probe) and time.time() < deadline:
            time.sleep(0.2)
        assert _ssh_ok(lab, host, probe), open(os.path.join(top, host + ".log")).read()
    engine = lab.docker(PUSHER)
    for version in ("v1", "v2"):
        lab.load_image(PUSHER, "dockyard/demo:" + version)
        _push(lab, "dockyard/demo:" + version, version)
    yield {"ids": {v: engine.images.get(REPO_V + ":" + v).id for v in ("v1", "v2")}}
    for host in lab.app_hosts:
        lab.clean(host, PREFIX)
        lab.ssh(host, "kill $(cat %s/%s.pid) 2>/dev/null; true" % (top, host), check=False)
    shutil.rmtree(top, ignore_errors=True)


def _push(lab, source, ref_tag):
    """Point REPO_V:ref_tag at the image `source` (a ref on the pusher) and push it."""
    engine = lab.docker(PUSHER)
    engine.images.get(source).tag(REPO_V, ref_tag)
    for line in engine.api.push(REPO_V, tag=ref_tag, stream=True, decode=True):
        assert "error" not in line, line


def _play(host, task):
    return yaml.safe_dump([{"hosts": host, "tasks": [task]}])


def _image_ids(lab, host):
    return {t: i.id for i in lab.docker(host).images.list() for t in i.tags}


def test_image_pull_missing_then_no_change(lab, play, registry):
    host = "app2"
    ref = REPO_V + ":v1"
    lab.remove_image(host, ref)
    task = {"dockyard.fleet.image": {"name": ref, "source": "pull"}}

    # check mode: predicts the pull, pulls nothing
    before = lab.snapshot(host)
    r = play(_play(host, task), check=True, diff=True)
    assert r.rc == 0 and r.changed == 1, r.stdout[-3000:]
    assert lab.snapshot(host) == before

    r = play(_play(host, task))
    assert r.rc == 0 and r.changed == 1, r.stdout[-3000:]
    assert _image_ids(lab, host)[ref] == registry["ids"]["v1"]

    again = play(_play(host, task))
    assert again.rc == 0 and again.changed == 0, again.stdout[-3000:]


def test_image_pull_always_changes_only_when_the_tag_moved(lab, play, registry):
    host = "app3"
    moving = REPO_V + ":moving"
    lab.remove_image(host, moving)
    _push(lab, REPO_V + ":v1", "moving")
    task = {"dockyard.fleet.image": {"name": moving, "source": "pull", "pull": "always"}}
    r = play(_play(host, task))
    assert r.rc == 0 and r.changed == 1, r.stdout[-3000:]
    assert _image_ids(lab, host)[moving] == registry["ids"]["v1"]

    # the registry has the same image: check mode (asks the registry, no pull) and a real
    # run both report no change
    r = play(_play(host, task), check=True)
    assert r.rc == 0 and r.changed == 0, r.stdout[-3000:]
    again = play(_play(host, task))
    assert again.rc == 0 and again.changed == 0, again.stdout[-3000:]

    # the tag moved to v2's image: check mode predicts the change and pulls nothing ...
    _push(lab, REPO_V + ":v2", "moving")
    ctask = {"dockyard.fleet.container": {"name": PREFIX + "moving", "image": moving,
                                          "pull": "always", "state": "present"}}
    before = lab.snapshot(host)
    r = play(_play(host, task), check=True)
    assert r.rc == 0 and r.changed == 1, r.stdout[-3000:]
    r = play(_play(host, ctask), check=True)
    assert r.rc == 0 and r.changed == 1, r.stdout[-3000:]
    rc = r.one(action="container")
    assert "pulled image" in rc["actions"], rc
    # the registry question needs the host's credentials: the module on the host asked it
    assert rc["execution"] == "host" and "registry credentials of the host" in rc["execution_reason"], rc
    assert lab.snapshot(host) == before
    # ... and the real run pulls: changed, the host has v2's ID under that tag
    r = play(_play(host, task), diff=True)
    assert r.rc == 0 and r.changed == 1, r.stdout[-3000:]
    assert _image_ids(lab, host)[moving] == registry["ids"]["v2"]
    again = play(_play(host, task))
    assert again.rc == 0 and again.changed == 0, again.stdout[-3000:]
    r = play(_play(host, ctask), check=True)
    assert r.rc == 0, r.stdout[-3000:]
    assert "pulled image" not in r.one(action="container")["actions"], r.one(action="container")

    # a registry that cannot be asked fails check mode too, naming the option
    r = play(_play(host, {"dockyard.fleet.image": {"name": "127.0.0.1:5999/none/x:1", "source": "pull",
                                                   "pull": "always"}}), check=True)
    assert r.rc == 0, r.stdout[-3000:]          # not on the host: a pull is predicted, no question
    lab.load_image(host, "dockyard/demo:v1")
    lab.docker(host).images.get("dockyard/demo:v1").tag("127.0.0.1:5999/none/x", "1")
    r = play(_play(host, {"dockyard.fleet.image": {"name": "127.0.0.1:5999/none/x:1", "source": "pull",
                                                   "pull": "always"}}), check=True)
    assert r.rc != 0 and "name: cannot ask registry 127.0.0.1:5999" in r.one(action="image")["msg"]
    lab.docker(host).images.remove("127.0.0.1:5999/none/x:1")


def test_container_and_service_pull_missing(lab, play, registry):
    host = "app2"
    ref = REPO_V + ":v2"
    lab.clean(host, PREFIX)
    lab.remove_image(host, ref)
    tasks = [
        {"name": "two replicas", "dockyard.fleet.service": {
            "name": PREFIX + "svc", "image": ref, "pull": "missing", "replicas": 2,
            "port_base": 8481, "container_port": 80}},
        {"name": "one container", "dockyard.fleet.container": {
            "name": PREFIX + "one", "image": ref, "pull": "missing"}},
    ]
    pb = yaml.safe_dump([{"hosts": host, "tasks": tasks}])
    r = play(pb)
    assert r.rc == 0, r.stdout[-3000:]
    assert r.one(action="container")["changed"] and r.one(action="service")["changed"]
    # the service run started on the controller, found it must pull (the host's registry
    # credentials) before changing anything, and the module on the host did the run
    svc = r.one(action="service")
    assert svc["execution"] == "host" and svc["invocations"] == 1, svc
    assert "registry credentials of the host" in svc["execution_reason"], svc
    # the container found the image the service had pulled: its run stayed on the controller
    assert r.one(action="container")["execution"] == "controller", r.one(action="container")
    running = {c.name: c.image.id for c in lab.docker(host).containers.list(
        filters={"name": PREFIX})}
    assert running == {PREFIX + "one": registry["ids"]["v2"], PREFIX + "svc-1": registry["ids"]["v2"],
                       PREFIX + "svc-2": registry["ids"]["v2"]}, running
    again = play(pb)
    assert again.rc == 0 and again.changed == 0, again.stdout[-3000:]
    assert again.one(action="service")["execution"] == "controller"   # nothing to pull now
    lab.clean(host, PREFIX)


def test_service_with_lock_that_must_pull_reports_the_lock_it_took(lab, play, registry):
    """A run on the controller takes the lock, then finds it must pull (the host's registry
    credentials) and hands over to the module on the host before changing anything: the
    result says the lock was acquired by this run (the module alone would find it `held`,
    already this token's). The next run with the same token runs on the controller: held."""
    host = "app2"
    paths = {"state_dir": "/var/lib/dockyard/test-pl", "lock_dir": "/run/dockyard/test-pl",
             "audit_log": "/var/log/dockyard/test-pl.log"}
    lab.clean(host, PREFIX)
    lab.remove_image(host, REPO_V + ":v1")
    lab.ssh(host, "rm -rf %s %s %s" % tuple(paths.values()))
    task = {"name": "locked", "dockyard.fleet.service": {
        "name": PREFIX + "lk", "image": REPO_V + ":v1", "pull": "missing", "replicas": 1,
        "port_base": 8491, "container_port": 80,
        "lock": dict(paths, app=PREFIX + "lk", token="t-pl", owner="tester")}}
    try:
        r = play(_play(host, task))
        svc = r.one(action="service")
        assert r.rc == 0 and svc["changed"], r.stdout[-3000:]
        assert (svc["execution"], svc["invocations"], svc["lock"]) == ("host", 1, "acquired"), svc
        assert "registry credentials of the host" in svc["execution_reason"], svc
        assert lab.ssh(host, "test -d /run/dockyard/test-pl/%slk.lock" % PREFIX, check=False).returncode == 0
        again = play(_play(host, task))
        svc = again.one(action="service")
        assert again.rc == 0 and again.changed == 0, again.stdout[-3000:]
        assert (svc["execution"], svc["lock"]) == ("controller", "held"), svc
    finally:
        lab.ssh(host, "rm -rf %s %s %s" % tuple(paths.values()))
        lab.clean(host, PREFIX)


def test_timings_on_a_pulled_image_without_healthcheck_report_the_pull(lab, play, registry):
    """healthcheck timings without a test, on an image pulled by the run that has no
    HEALTHCHECK: the run fails naming healthcheck.test before creating anything, and reports
    changed (the pull changed the host). Again: nothing to pull, failed, changed false."""
    engine = lab.docker(PUSHER)
    src = engine.api.create_container("dockyard/demo:v1", name=PREFIX + "nohc-src")
    engine.api.commit(src["Id"], repository=REPO_V, tag="nohc",
                      conf={"Healthcheck": {"Test": ["NONE"]}})
    engine.api.remove_container(src["Id"])
    _push(lab, REPO_V + ":nohc", "nohc")
    host, ref = "app3", REPO_V + ":nohc"
    lab.clean(host, PREFIX)
    lab.remove_image(host, ref)
    hc = {"interval": "5s", "retries": 1}
    tasks = [
        {"name": "service", "ignore_errors": True, "dockyard.fleet.service": {
            "name": PREFIX + "nohc", "image": ref, "pull": "missing", "replicas": 2,
            "port_base": 8501, "container_port": 80, "healthcheck": hc}},
        {"name": "container", "ignore_errors": True, "dockyard.fleet.container": {
            "name": PREFIX + "nohc-c", "image": ref, "pull": "missing", "healthcheck": hc}},
    ]
    pb = yaml.safe_dump([{"hosts": host, "tasks": tasks}])
    try:
        for run, pulled_by in ((1, "service"), (2, None)):
            r = play(pb)
            for task in ("service", "container"):
                rec = r.results(task=task)
                assert rec and rec[0]["status"] == "failed", (run, task, rec)
                res = rec[0]["result"]
                assert res["msg"].startswith("healthcheck.test: needed: image %s has no HEALTHCHECK"
                                             % ref), (run, task, res["msg"])
                # only the first task of the first run pulled (the container found it there)
                assert res["changed"] is (task == pulled_by), (run, task, res)
                assert ("but the image to run was pulled" in res["msg"]) is (task == pulled_by), res
            assert ref in _image_ids(lab, host)
            assert not lab.docker(host).containers.list(all=True, filters={"name": PREFIX}), run
    finally:
        lab.clean(host, PREFIX)
        lab.remove_image(host, ref)
        lab.remove_image(PUSHER, ref)


def test_pull_of_a_missing_tag_fails_naming_the_option(lab, play, registry):
    host = "app3"
    lab.clean(host, PREFIX)
    before = lab.snapshot(host)
    r = play(_play(host, {"dockyard.fleet.image": {"name": REPO_V + ":nosuchtag", "source": "pull"}}))
    assert r.rc != 0
    msg = r.one(action="image")["msg"]
    assert "name:" in msg and "nosuchtag" in msg, msg
    r = play(_play(host, {"dockyard.fleet.container": {
        "name": PREFIX + "x", "image": REPO_V + ":nosuchtag", "pull": "missing"}}))
    assert r.rc != 0
    msg = r.one(action="container")["msg"]
    assert "option image" in msg and "nosuchtag" in msg, msg
    assert lab.snapshot(host) == before
