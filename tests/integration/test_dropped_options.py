"""Options an engine takes and drops for want of the kernel's support (memory limits without
the memory cgroup, swappiness on cgroup v2...): no change on every run, and warnings that say
what the container does not have.

The lab's engines have every controller, so this file starts an engine of its own whose mount
namespace has no memory cgroup (the engine then reports MemoryLimit, SwapLimit and
OomKillDisable false, as an engine on a kernel without them does) in a network namespace of its
own with no networks (containers run with network_mode none); the module reaches it from the
controller through its socket (docker_host).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

import docker
import pytest
import yaml
from conftest import LAB_ID

NAME = "dy-dropped"
ENGINE_DIR = "/var/lib/dockyard-lab/%d/engine-without-memory-cgroup" % LAB_ID
SOCK = os.path.join(ENGINE_DIR, "docker.sock")
V1 = "dockyard/demo:v1"
# docker run -m 64m --memory-swap 128m --memory-reservation 32m --memory-swappiness 10
# --oom-kill-disable, and a label
ASKED = {"memory": "64m", "memory_swap": "128m", "memory_reservation": "32m",
         "memory_swappiness": 10, "oom_kill_disable": True, "labels": {"v": "1"}}

START = """
if [ -d /sys/fs/cgroup/memory ] && mountpoint -q /sys/fs/cgroup/memory; then
    umount /sys/fs/cgroup/memory || exit 3
fi
exec dockerd --data-root {d}/data --exec-root {d}/exec --pidfile {d}/dockerd.pid \\
    -H unix://{d}/docker.sock --bridge none --iptables=false --ip-masq=false \\
    --containerd-namespace dy-dropped --containerd-plugins-namespace dy-dropped-plugins
"""


@pytest.fixture(scope="module")
def engine(lab):
    """The engine without the memory cgroup (a Docker SDK client of it), with the demo image."""
    shutil.rmtree(ENGINE_DIR, ignore_errors=True)
    os.makedirs(ENGINE_DIR)
    with open(os.path.join(ENGINE_DIR, "dockerd.log"), "ab") as log:
        proc = subprocess.Popen(["unshare", "--mount", "--net", "--propagation", "private", "sh", "-c",
                                 START.format(d=ENGINE_DIR)], stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    client = None
    try:
        deadline = time.monotonic() + 90
        while client is None:
            try:
                client = docker.DockerClient(base_url="unix://" + SOCK, timeout=60)
            except docker.errors.DockerException:   # not up yet
                if proc.poll() is not None or time.monotonic() > deadline:
                    with open(os.path.join(ENGINE_DIR, "dockerd.log")) as f:
                        raise AssertionError("the engine did not start: " + f.read()[-3000:]) from None
                time.sleep(0.5)
        with open(lab.images[V1]["archive"], "rb") as f:
            client.images.load(f.read())
        yield client
    finally:
        if client is not None:
            for c in client.containers.list(all=True):
                c.remove(force=True)
            client.close()
        # its containerd and shims are in its process group: all of them end, and the
        # mount namespace (the containers' overlay mounts) with them
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        shutil.rmtree(ENGINE_DIR, ignore_errors=True)


def playbook(options, check=False):
    task = {"dockyard.fleet.container": dict({"docker_host": "unix://" + SOCK, "name": NAME, "image": V1,
                                              "network_mode": "none"}, **options),
            "delegate_to": "localhost",
            "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"}}
    if check:
        task["check_mode"] = True
    return yaml.safe_dump([{"hosts": "app1", "gather_facts": False, "tasks": [task]}])


def warnings(res):
    return [w for r in res.records for w in r["result"].get("warnings") or []]


def test_the_engine_reports_what_it_lacks(engine):
    """The premise of this file (a cgroup v1 machine, as the lab's): the engine says it has no
    memory cgroup. Elsewhere this fails, loudly, rather than the file passing on nothing."""
    info = engine.info()
    assert not info["MemoryLimit"] and not info["SwapLimit"] and not info["OomKillDisable"], info


def test_dropped_options_are_no_change_on_every_run(lab, play, engine):
    """Made with memory limits the engine drops: the engine's warnings are passed on, the
    container has none of them, and the next runs (check mode too) change nothing and say
    which options are not compared. A change of another option still recreates."""
    first = play(playbook(ASKED))
    assert first.rc == 0 and first.changed == 1, first.stdout[-3000:]
    said = warnings(first)
    assert any(w.startswith("Docker engine, creating %s: Your kernel does not support memory limit" % NAME)
               for w in said), said
    host = engine.api.inspect_container(NAME)["HostConfig"]
    assert host["Memory"] == 0 and host["MemorySwap"] == -1 and host["MemoryReservation"] == 0
    assert host["MemorySwappiness"] is None and not host["OomKillDisable"]
    cid = engine.api.inspect_container(NAME)["Id"]

    for check in (True, False):
        again = play(playbook(ASKED, check=check), diff=True)
        assert again.rc == 0 and again.changed == 0, again.stdout[-3000:]
        said = warnings(again)
        for option in ("memory", "memory_swap", "memory_reservation", "memory_swappiness", "oom_kill_disable"):
            assert any(w.startswith("option %s is not compared: this engine drops it" % option)
                       for w in said), (option, said)
        assert any("MemoryLimit false" in w for w in said), said
    assert engine.api.inspect_container(NAME)["Id"] == cid

    # another option still counts: a new label recreates the container, the rerun is quiet
    changed = dict(ASKED, labels={"v": "2"})
    check = play(playbook(changed, check=True))
    real = play(playbook(changed))
    assert real.rc == 0 and real.changed == 1, real.stdout[-3000:]
    assert check.one(action="container")["actions"] == real.one(action="container")["actions"] == \
        ["recreated", "started"]
    assert engine.api.inspect_container(NAME)["Id"] != cid
    assert play(playbook(changed)).changed == 0
