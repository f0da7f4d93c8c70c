"""dockyard.fleet.container against real lab engines over SSH.

Every converging playbook runs twice: the second run must change nothing. Engine
state is asserted through lab.docker(), the tests' independent view.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
import urllib.request

import docker
import pytest
import yaml
from conftest import LAB_ID, killed_run
from option_defaults import CONTAINER_DEFAULTS, DEFAULTS, block_device, transitions

from ansible_collections.dockyard.fleet.plugins.module_utils._container_engine import ContainerEngine
from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import DockerClient, DockerError

H = "app1"
P = "ct-"  # every container of this file starts with it
V1, V2, BROKEN = "dockyard/demo:v1", "dockyard/demo:v2", "dockyard/demo:broken"


def pb(tasks: str, hosts: str = H) -> str:
    body = "\n".join("    " + line for line in tasks.strip("\n").splitlines())
    return "- hosts: %s\n  tasks:\n%s\n" % (hosts, body)


@pytest.fixture(scope="module")
def ids(lab):
    out = {}
    for host in (H, "app2"):
        for tag in (V1, V2, BROKEN):
            out[tag] = lab.load_image(host, tag)
    lab.clean(H, P)
    lab.clean("app2", P)
    yield out
    lab.clean(H, P)
    lab.clean("app2", P)


def twice(play, playbook, **kw):
    first = play(playbook, **kw)
    assert first.rc == 0, first.stdout[-4000:]
    second = play(playbook, **kw)
    assert second.rc == 0, second.stdout[-4000:]
    assert second.changed == 0, second.stdout[-4000:]
    return first, second


def inspect(lab, name, host=H):
    return lab.docker(host).api.inspect_container(name)


def test_option_groups_and_traps_are_idempotent(lab, play, ids, tmp_path):
    env_file = tmp_path / "app.env"
    env_file.write_text("FROM_FILE=1\nA=overridden\n")
    tasks = """
- name: ports env labels
  dockyard.fleet.container:
    name: ct-ports
    image: %(v1)s
    published_ports: ["18080:80", "127.0.0.1:18081:80", "[::1]:18082:80", "18083:80/udp", "80",
                      "18090-18091:81-82"]
    env: {A: 1, B: true, C: text}
    env_file: %(env_file)s
    labels: {team: web}
    command: []
    network_mode: default
- name: same container given by image ID (tag vs ID is not a change)
  dockyard.fleet.container:
    name: ct-ports
    image: %(v1_id)s
    published_ports: ["18080:80", "127.0.0.1:18081:80", "[::1]:18082:80", "18083:80/udp", "80",
                      "18090-18091:81-82"]
    env: {A: 1, B: true, C: text}
    env_file: %(env_file)s
    labels: {team: web}
    network_mode: bridge
- name: resources, restart, healthcheck, misc
  dockyard.fleet.container:
    name: ct-res
    image: %(v1)s
    restart_policy: on-failure
    restart_retries: 3
    memory: 64m
    cpus: 0.5
    healthcheck: {test: ["CMD", "/bin/busybox", "true"], interval: 1s, timeout: 2s, retries: 1, start_period: 1s}
    user: "0"
    working_dir: /www
    hostname: web1
    log_driver: json-file
    log_options: {max-size: 1m, max-file: 2}
    stop_signal: SIGTERM
    stop_timeout: 3
    init: true
    read_only: false
    cap_add: [net_admin]
    cap_drop: [MKNOD]
    tmpfs: ["/scratch:size=1m"]
- name: disabled healthcheck, volumes, mounts, entrypoint + command
  dockyard.fleet.container:
    name: ct-vol
    image: %(v1)s
    healthcheck: {test: [NONE]}
    volumes: ["/tmp:/hosttmp:ro", "ct-named:/named", "/anon"]
    mounts: [{type: tmpfs, target: /mnt/t}, {type: volume, source: ct-named2, target: /mnt/v, read_only: true}]
    entrypoint: [/bin/busybox, sleep]
    command: "3600"
- name: disabled healthcheck via disable
  dockyard.fleet.container:
    name: ct-vol
    image: %(v1)s
    healthcheck: {disable: true}
""" % dict(v1=V1, v1_id=ids[V1], env_file=env_file)
    first, second = twice(play, pb(tasks))
    changed = [r["task"] for r in first.records if r["result"].get("changed")]
    assert changed == ["ports env labels", "resources, restart, healthcheck, misc",
                       "disabled healthcheck, volumes, mounts, entrypoint + command"]

    c = inspect(lab, "ct-ports")
    b = c["HostConfig"]["PortBindings"]
    assert {"HostIp": "::1", "HostPort": "18082"} in b["80/tcp"]
    assert b["80/udp"] == [{"HostIp": "", "HostPort": "18083"}]
    assert b["82/tcp"] == [{"HostIp": "", "HostPort": "18091"}]
    env = c["Config"]["Env"]
    assert "A=1" in env and "B=true" in env and "FROM_FILE=1" in env and "DEMO_VERSION=v1" in env
    assert c["Config"]["Labels"]["team"] == "web"
    assert c["Config"]["Labels"]["org.opencontainers.image.version"] == "v1"
    assert c["State"]["Running"]

    r = inspect(lab, "ct-res")
    hc = r["HostConfig"]
    assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert hc["Memory"] == 64 * 1024 ** 2
    assert hc["CpuQuota"] == 50000 and hc["Init"] is True
    assert r["Config"]["Hostname"] == "web1"
    assert r["Config"]["Healthcheck"]["Interval"] == 10 ** 9
    assert hc["Tmpfs"] == {"/scratch": "size=1m"}

    v = inspect(lab, "ct-vol")
    assert v["Config"]["Healthcheck"]["Test"] == ["NONE"]
    assert v["Config"]["Cmd"] == ["3600"]
    assert sorted(m["Destination"] for m in v["Mounts"]) == [
        "/anon", "/hosttmp", "/mnt/t", "/mnt/v", "/named"]


def test_defaults_asked_for_explicitly_are_no_change(lab, play, ids):
    """No false "changed": a container made with only a name and an image is left alone when
    a later run asks, one option at a time, for what it already has; and one made with all of
    them at once converges in one run."""
    plain = "- dockyard.fleet.container: {name: ct-plain, image: %s}\n" % V1
    twice(play, pb(plain))
    cid = inspect(lab, "ct-plain")["Id"]
    tasks = "".join("- name: %s %s\n  dockyard.fleet.container: {name: ct-plain, image: %s, %s: %s}\n"
                    % (option, value, V1, option, value) for option, value in DEFAULTS + CONTAINER_DEFAULTS)
    res = play(pb(tasks), check=True, diff=True)
    assert res.rc == 0, res.stdout[-4000:]
    assert len(res.records) == len(DEFAULTS + CONTAINER_DEFAULTS), res.stdout[-4000:]
    changed = [(r["task"], r["result"].get("actions")) for r in res.records if r["result"].get("changed")]
    assert changed == [], changed
    res = play(pb(tasks))
    assert res.rc == 0 and res.changed == 0, res.stdout[-4000:]
    assert inspect(lab, "ct-plain")["Id"] == cid
    every = "".join("    %s: %s\n" % (option, value) for option, value in dict(DEFAULTS + CONTAINER_DEFAULTS).items())
    twice(play, pb("- dockyard.fleet.container:\n    name: ct-all\n    image: %s\n%s" % (V1, every)))
    lab.clean(H, "ct-plain")
    lab.clean(H, "ct-all")


def test_every_option_from_a_to_b_to_none_check_mode_tells_the_truth(lab, play, ids):
    """For every option: a container made with A, then asked for B, then for the option's
    "none" (or the engine's default). At each step check mode predicts exactly the actions
    the real run then takes (and touches nothing), the real run converges (a rerun changes
    nothing: no update the engine ignores, no value read back differently), and A to B is a
    change. The options are shared out over the three app hosts, which run at once; the last
    rerun is the module's on the host, the others run on the controller."""
    hosts = lab.app_hosts[:3]
    for host in hosts:
        lab.load_image(host, V1)
    steps = transitions(lab.docker(H).info()["NCPU"], block_device())
    sweep = {host: [] for host in hosts}
    for i, (option, a, b, none) in enumerate(steps):
        base = {"name": "ct-sw-" + option.replace("_", "-"), "image": V1}
        if option != "healthcheck":
            # The image probes its health every 5 s (an exec in the container each time):
            # with one container per option running for the whole sweep, the probes took
            # more of the machine's CPU than the sweep itself.
            base["healthcheck"] = {"test": ["NONE"]}
        sweep[hosts[i % len(hosts)]].append(
            {"option": option, "a": dict(base, **a), "b": dict(base, **b), "none": dict(base, **none),
             # the module on the host reads it as the controller's run did
             "none again": dict(base, execution="host", **none)})

    def task(name, step, check=False):
        # The item's arguments as one value: a template per option would cost more CPU
        # than the module runs (every item compiles every template again).
        args = "{{ item[%r] }}" % ("none again" if name == "none again" else step)
        return dict({"name": name, "dockyard.fleet.container": args,
                     "loop": "{{ sweep[inventory_hostname] }}", "loop_control": {"label": "{{ item.option }}"}},
                    **({"check_mode": True} if check else {}))

    order = [("a", "a", False), ("a again", "a", False)]
    for step in ("b", "none"):
        order += [(step + " check", step, True), (step, step, False), (step + " again", step, False)]
    playbook = [{"hosts": ",".join(hosts), "vars": {"sweep": sweep},
                 "tasks": [task(name, step, check) for name, step, check in order]}]
    res = play(yaml.safe_dump(playbook), diff=True)
    assert res.rc == 0, res.stdout[-4000:]
    got = {}
    for r in res.records:
        for item in r["result"]["results"]:
            got[(item["item"]["option"], r["task"])] = item
    assert len(got) == len(steps) * len(order), len(got)
    wrong = []
    for option, *_values in steps:
        if got[(option, "a again")]["changed"]:
            wrong.append((option, "a again", got[(option, "a again")]["actions"]))
        if not got[(option, "b")]["changed"]:
            wrong.append((option, "b is no change"))
        for step in ("b", "none"):
            check, real = got[(option, step + " check")], got[(option, step)]
            if (check["changed"], check.get("actions")) != (real["changed"], real.get("actions")):
                wrong.append((option, step, "check mode said", check.get("actions"),
                              "the run did", real.get("actions")))
            if got[(option, step + " again")]["changed"]:
                wrong.append((option, step + " again", got[(option, step + " again")]["actions"]))
    assert wrong == [], wrong
    assert {item["execution"] for (_option, name), item in got.items() if name == "none again"} == {"host"}
    assert {item["execution"] for (_option, name), item in got.items() if name != "none again"} == {"controller"}
    for host in hosts:
        lab.clean(host, "ct-sw-")


def test_host_options_converge_once_and_a_change_recreates(lab, play, ids):
    """privileged, security_opts, etc_hosts, dns_servers, ulimits, sysctls, shm_size, devices,
    pids_limit: made as asked (the engine's inspect and the container's own files), a rerun
    changes nothing, a changed ulimit is predicted in check mode (nothing touched) and then
    recreates."""
    base = """
- name: host options
  dockyard.fleet.container:
    name: ct-host
    image: %s
    privileged: false
    security_opts: [no-new-privileges]
    etc_hosts: {db.internal: 10.9.8.7, v6.internal: "0:0:0:0:0:0:0:1"}
    dns_servers: [10.9.8.53, 10.9.8.54]
    ulimits: ["nofile:%s", "NPROC:512"]
    sysctls: {net.core.somaxconn: 1024}
    shm_size: 32m
    devices: ["/dev/null:/dev/xnull:rw"]
    pids_limit: 200
"""
    twice(play, pb(base % (V1, "1024:2048")))
    c = inspect(lab, "ct-host")
    hc = c["HostConfig"]
    assert hc["Privileged"] is False and hc["SecurityOpt"] == ["no-new-privileges"]
    assert sorted(hc["ExtraHosts"]) == ["db.internal:10.9.8.7", "v6.internal:::1"]
    assert hc["Dns"] == ["10.9.8.53", "10.9.8.54"]
    assert sorted((u["Name"], u["Soft"], u["Hard"]) for u in hc["Ulimits"]) == [
        ("nofile", 1024, 2048), ("nproc", 512, 512)]
    assert hc["Sysctls"] == {"net.core.somaxconn": "1024"} and hc["ShmSize"] == 32 * 1024 ** 2
    assert hc["Devices"] == [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/xnull",
                              "CgroupPermissions": "rw"}] and hc["PidsLimit"] == 200
    # what the container itself sees
    api = lab.docker(H).api
    for cmd, want in ((["cat", "/etc/hosts"], "10.9.8.7\tdb.internal"),
                      (["cat", "/etc/resolv.conf"], "nameserver 10.9.8.53"),
                      (["cat", "/proc/sys/net/core/somaxconn"], "1024"),
                      # the container's own process (a `docker exec` does not get the
                      # container's ulimits on this engine: its shell read the shim's)
                      (["sh", "-c", "grep 'open files' /proc/1/limits | tr -s ' '"],
                       "Max open files 1024 2048"),
                      (["sh", "-c", "test -c /dev/xnull && echo device"], "device"),
                      (["cat", "/sys/fs/cgroup/pids/pids.max"], "200")):
        ex = api.exec_create("ct-host", ["/bin/busybox"] + cmd)
        assert want in api.exec_start(ex).decode(), cmd

    before = lab.snapshot(H)
    res = play(pb(base % (V1, "4096:4096")), check=True, diff=True)
    assert res.rc == 0 and res.changed == 1, res.stdout[-3000:]
    r = res.one(action="container")
    assert r["actions"] == ["recreated", "started"]
    assert r["diff"]["after"] == {"ulimits": ["nofile:4096:4096", "nproc:512:512"]}
    assert lab.snapshot(H) == before and inspect(lab, "ct-host")["Id"] == c["Id"]
    twice(play, pb(base % (V1, "4096:4096")))
    assert inspect(lab, "ct-host")["Id"] != c["Id"]


def test_process_and_namespace_options_take_effect(lab, play, ids):
    """tty, interactive, domainname, groups, exposed_ports, dns search domains and options,
    the namespace modes (another container's), cgroup parent, runtime, OOM score,
    cpuset_mems and volumes_from: made as asked (the engine's inspect and what the container
    sees), a rerun changes nothing, a change to volumes_from recreates."""
    src = """
- name: a container to share with
  dockyard.fleet.container:
    name: ct-src
    image: %s
    ipc_mode: shareable
    volumes: [/shared]
""" % V1
    base = """
- name: process and namespace options
  dockyard.fleet.container:
    name: ct-ns
    image: %s
    tty: true
    interactive: true
    domainname: corp.example
    groups: ["4242", "4243"]
    exposed_ports: ["9000", "9100-9101/udp"]
    published_ports: ["18096:80"]
    dns_search_domains: [b.example, a.example]
    dns_opts: ["ndots:3", "timeout:2"]
    pid_mode: container:ct-src
    ipc_mode: container:ct-src
    cgroup_parent: /docker/dy-parent-ns
    runtime: io.containerd.runc.v2
    oom_score_adj: 321
    cpuset_mems: "0"
    volumes_from: ["ct-src:%s"]
- name: the network namespace of another container
  dockyard.fleet.container:
    name: ct-nsnet
    image: %s
    network_mode: container:ct-src
    entrypoint: [/bin/busybox, sleep]   # ct-src's server has the port
    command: "3600"
"""
    twice(play, pb(src + base % (V1, "rw", V1)))
    api = lab.docker(H).api
    src_id = inspect(lab, "ct-src")["Id"]
    assert inspect(lab, "ct-nsnet")["HostConfig"]["NetworkMode"] == "container:" + src_id
    c = inspect(lab, "ct-ns")
    cfg, hc = c["Config"], c["HostConfig"]
    assert cfg["Tty"] is True and cfg["OpenStdin"] is True and cfg["Domainname"] == "corp.example"
    assert sorted(cfg["ExposedPorts"]) == ["80/tcp", "9000/tcp", "9100/udp", "9101/udp"]
    assert sorted(hc["GroupAdd"]) == ["4242", "4243"]
    assert hc["DnsSearch"] == ["b.example", "a.example"] and sorted(hc["DnsOptions"]) == ["ndots:3", "timeout:2"]
    # the engine keeps the ID of the container named
    assert (hc["PidMode"], hc["IpcMode"]) == ("container:" + src_id, "container:" + src_id)
    assert hc["CgroupParent"] == "/docker/dy-parent-ns" and hc["Runtime"] == "io.containerd.runc.v2"
    assert hc["OomScoreAdj"] == 321 and hc["CpusetMems"] == "0" and hc["VolumesFrom"] == ["ct-src"]

    def sees(cmd):
        ex = api.exec_create("ct-ns", ["/bin/busybox", "sh", "-c", cmd])
        return api.exec_start(ex).decode()

    resolv = sees("cat /etc/resolv.conf")
    assert "search b.example a.example" in resolv and "options ndots:3 timeout:2" in resolv, resolv
    assert sees("cat /proc/self/oom_score_adj").strip() == "321"
    assert "4242 4243" in sees("grep Groups /proc/self/status")
    assert sees("test -d /shared && echo shared").strip() == "shared"
    # the PID namespace is ct-src's: its process 1 is ct-src's server, ours is another
    src_pid1 = api.exec_start(api.exec_create("ct-src", ["/bin/busybox", "cat", "/proc/1/cmdline"]))
    assert sees("cat /proc/1/cmdline").encode() == src_pid1
    assert sees("cat /proc/sys/kernel/domainname").strip() == "corp.example"

    # volumes_from rw written out is the default: no change; read-only recreates
    res = play(pb(base % (V1, "ro", V1)), check=True)
    assert res.rc == 0 and [r["result"]["actions"] for r in res.records] == [["recreated", "started"], []]
    twice(play, pb(base % (V1, "ro", V1)))
    assert inspect(lab, "ct-ns")["HostConfig"]["VolumesFrom"] == ["ct-src:ro"]
    # the container whose namespaces they share made anew: theirs are gone, so they differ
    first = twice(play, pb(src.replace("[/shared]", "[/shared, /more]") + base % (V1, "ro", V1)))[0]
    assert [r["result"]["actions"] for r in first.records] == [["recreated", "started"]] * 3
    lab.clean(H, "ct-ns")
    lab.clean(H, "ct-src")


def test_device_port_mac_and_removal_options_take_effect(lab, play, ids):
    """publish_all_ports, mac_address, device_cgroup_rules, the block I/O limits, memory
    swappiness, the OOM killer off and auto_remove: made as asked (the engine's inspect, the container's cgroup and interface,
    the host port answering), a rerun changes nothing, and an auto_remove container is gone
    once it exits."""
    device = block_device()
    limits = ("""
    device_read_bps: [{path: %s, rate: 2M}]
    device_write_iops: [{path: %s, rate: 150}]""" % (device, device)) if device else ""
    tasks = """
- name: device, port and MAC options
  dockyard.fleet.container:
    name: ct-dev
    image: %s
    publish_all_ports: true
    mac_address: 02-42-AC-11-00-99
    memory: 64m
    memory_swappiness: 7
    oom_kill_disable: true
    device_cgroup_rules: ["c 1:3 rw"]%s
- name: a one-shot the engine removes once it exits
  dockyard.fleet.container:
    name: ct-rm
    image: %s
    entrypoint: [/bin/busybox, sleep]
    command: "600"
    auto_remove: true
""" % (V1, limits, V1)
    twice(play, pb(tasks))
    api = lab.docker(H).api
    c = inspect(lab, "ct-dev")
    assert c["HostConfig"]["PublishAllPorts"] is True and c["Config"]["MacAddress"] == "02:42:ac:11:00:99"
    assert c["HostConfig"]["DeviceCgroupRules"] == ["c 1:3 rw"]
    assert c["HostConfig"]["MemorySwappiness"] == 7 and c["HostConfig"]["OomKillDisable"] is True
    # every exposed port on a random host port: the server answers there
    port = c["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"]
    with urllib.request.urlopen("http://%s:%s/" % (lab.addr(H), port), timeout=10) as answer:
        assert answer.status == 200

    def sees(cmd):
        return api.exec_start(api.exec_create("ct-dev", ["/bin/busybox", "sh", "-c", cmd])).decode()
    assert sees("cat /sys/class/net/eth0/address").strip() == "02:42:ac:11:00:99"
    assert "c 1:3 rw" in sees("cat /sys/fs/cgroup/devices/devices.list")
    assert sees("cat /sys/fs/cgroup/memory/memory.swappiness").strip() == "7"
    assert "oom_kill_disable 1" in sees("cat /sys/fs/cgroup/memory/memory.oom_control")
    if device:
        rdev = os.stat(device).st_rdev
        major_minor = "%d:%d" % (os.major(rdev), os.minor(rdev))
        assert "%s 2097152" % major_minor in sees("cat /sys/fs/cgroup/blkio/blkio.throttle.read_bps_device")
        assert "%s 150" % major_minor in sees("cat /sys/fs/cgroup/blkio/blkio.throttle.write_iops_device")
    # the one-shot: the engine removes it when it exits
    assert inspect(lab, "ct-rm")["HostConfig"]["AutoRemove"] is True
    api.stop("ct-rm", timeout=1)
    deadline = time.time() + 30
    while time.time() < deadline and [x for x in api.containers(all=True) if "/ct-rm" in x["Names"]]:
        time.sleep(0.5)
    assert not [x for x in api.containers(all=True) if "/ct-rm" in x["Names"]]
    lab.clean(H, "ct-dev")
    lab.clean(H, "ct-rm")


def test_paused_pauses_and_unpauses_in_place(lab, play, ids):
    """paused: a container made paused, kept paused by an update, paused again after a
    recreate and a restart, unpaused; each step predicted by check mode (nothing touched), each
    rerun no change; left out, a pause is left as it is."""
    api = lab.docker(H).api

    def step(extra, actions):
        tasks = "- dockyard.fleet.container:\n    name: ct-pause\n    image: %s\n%s" % (
            V1, "".join("    %s: %s\n" % kv for kv in extra.items()))
        before = api.inspect_container("ct-pause") if api.containers(all=True, filters={"name": "^/ct-pause$"}) else None
        check = play(pb(tasks), check=True, diff=True)
        assert check.rc == 0 and check.one(action="container")["actions"] == actions, check.stdout[-3000:]
        if before is not None:   # check mode touched nothing
            now = api.inspect_container("ct-pause")
            assert (now["Id"], now["State"]["Status"]) == (before["Id"], before["State"]["Status"])
        real, again = twice(play, pb(tasks))
        assert real.one(action="container")["actions"] == actions, real.stdout[-3000:]
        return api.inspect_container("ct-pause")

    made = step({"paused": "true"}, ["created", "started", "paused"])
    assert made["State"]["Paused"] and made["State"]["Status"] == "paused"
    kept = step({"paused": "true", "cpu_shares": 512}, ["updated cpu_shares"])
    assert kept["Id"] == made["Id"] and kept["State"]["Paused"]
    made_anew = step({"paused": "true", "cpu_shares": 512, "labels": "{v: '2'}"}, ["recreated", "started", "paused"])
    assert made_anew["Id"] != made["Id"] and made_anew["State"]["Paused"]
    # left out: the pause stays
    assert play(pb("- dockyard.fleet.container:\n    name: ct-pause\n    image: %s\n    cpu_shares: 512\n"
                   "    labels: {v: '2'}\n" % V1)).changed == 0
    res = play(pb("- dockyard.fleet.container:\n    name: ct-pause\n    image: %s\n    cpu_shares: 512\n"
                  "    labels: {v: '2'}\n    paused: true\n    restart: true\n" % V1))
    assert res.rc == 0 and res.one(action="container")["actions"] == ["restarted", "paused"], res.stdout[-3000:]
    assert api.inspect_container("ct-pause")["State"]["Paused"]
    running = step({"paused": "false", "cpu_shares": 512, "labels": "{v: '2'}"}, ["unpaused"])
    assert running["Id"] == made_anew["Id"] and running["State"]["Status"] == "running"
    api.pause("ct-pause")
    stopped = step({"state": "stopped"}, ["stopped"])
    assert stopped["State"]["Status"] == "exited"
    lab.clean(H, "ct-pause")


def test_networks(lab, play, ids):
    api = lab.docker(H).api
    if not api.networks(names=["ct-neta"]):
        api.create_network("ct-neta")
    tasks = """
- dockyard.fleet.container:
    name: ct-net
    image: %s
    networks: [{name: ct-neta, aliases: [web, www]}]
""" % V1
    twice(play, pb(tasks))
    nets = inspect(lab, "ct-net")["NetworkSettings"]["Networks"]
    assert list(nets) == ["ct-neta"]
    assert {"web", "www"} <= set(nets["ct-neta"]["Aliases"])

    # another network, then other aliases on it, then strict: connected, reconnected and
    # disconnected in place - the same container, still running, never recreated
    if not api.networks(names=["ct-netb"]):
        api.create_network("ct-netb")
    cid = inspect(lab, "ct-net")["Id"]
    steps = [("[{name: ct-neta, aliases: [web, www]}, {name: ct-netb, aliases: [b1]}]", "", "b1"),
             ("[{name: ct-neta, aliases: [web, www]}, {name: ct-netb, aliases: [b2]}]", "", "b2"),
             ("[{name: ct-neta, aliases: [web, www]}]", "comparisons: {networks: strict}", None)]
    for nets_yaml, extra, alias in steps:
        task = """
- dockyard.fleet.container:
    name: ct-net
    image: %s
    networks: %s
    %s
""" % (V1, nets_yaml, extra)
        r = play(pb(task), check=True, diff=True)
        assert r.rc == 0 and r.one(action="container")["actions"] == ["updated networks"], r.stdout[-3000:]
        first, _second = twice(play, pb(task))
        assert first.one(action="container")["actions"] == ["updated networks"], first.stdout[-3000:]
        got = inspect(lab, "ct-net")
        assert got["Id"] == cid and got["State"]["Running"]
        nets = got["NetworkSettings"]["Networks"]
        if alias:
            assert set(nets) == {"ct-neta", "ct-netb"}
            assert alias in nets["ct-netb"]["Aliases"] and {"b1", "b2"} - {alias} - set(nets["ct-netb"]["Aliases"])
        else:
            assert set(nets) == {"ct-neta"}


def test_review_traps_converge_in_one_run(lab, play, ids):
    """Each converges in one run and a rerun changes nothing: healthcheck 0 retries and 0
    interval (the engine fills in the image's), a healthcheck interval no longer set (back to
    the image's), working_dir with a trailing /, shm_size 0, restart_retries alone on an
    existing container (on-failure, as a create), a restart policy on an auto_remove container
    (recreated: the engine refuses the update), an alias removed under networks strict, and
    network_mode bridge with another network under strict (bridge stays connected)."""
    api = lab.docker(H).api
    if not api.networks(names=["ct-rvn"]):
        api.create_network("ct-rvn")
    hc = "[CMD, /bin/busybox, 'true']"
    # ct-rv-hci's interval goes back to the image's: a change only while they differ
    assert api.inspect_image(V1)["Config"]["Healthcheck"]["Interval"] != 7 * 10 ** 9
    setup = """
- dockyard.fleet.container: {name: ct-rv-rr, image: %(v1)s}
- dockyard.fleet.container: {name: ct-rv-hci, image: %(v1)s, healthcheck: {test: %(hc)s, interval: 7s}}
- dockyard.fleet.container: {name: ct-rv-ar, image: %(v1)s, auto_remove: true}
- dockyard.fleet.container:
    name: ct-rv-al
    image: %(v1)s
    networks: [{name: ct-rvn, aliases: [a1, a2]}]
    comparisons: {networks: strict}
""" % dict(v1=V1, hc=hc)
    res = play(pb(setup))
    assert res.rc == 0, res.stdout[-4000:]
    cids = {n: inspect(lab, n)["Id"] for n in ("ct-rv-rr", "ct-rv-al")}
    tasks = """
- dockyard.fleet.container:
    name: ct-rv-hc
    image: %(v1)s
    healthcheck: {test: %(hc)s, retries: 0, interval: 0s, timeout: "0", start_period: 0s}
- dockyard.fleet.container: {name: ct-rv-hci, image: %(v1)s, healthcheck: {test: %(hc)s}}
- dockyard.fleet.container: {name: ct-rv-wd, image: %(v1)s, working_dir: /tmp/, shm_size: "0"}
- dockyard.fleet.container: {name: ct-rv-rr, image: %(v1)s, restart_retries: 3}
- dockyard.fleet.container: {name: ct-rv-ar, image: %(v1)s, restart_policy: always}
- dockyard.fleet.container:
    name: ct-rv-al
    image: %(v1)s
    networks: [{name: ct-rvn, aliases: [a1]}]
    comparisons: {networks: strict}
- dockyard.fleet.container:
    name: ct-rv-bn
    image: %(v1)s
    network_mode: bridge
    networks: [{name: ct-rvn}]
    comparisons: {networks: strict}
""" % dict(v1=V1, hc=hc)
    first, _second = twice(play, pb(tasks))
    actions = {r["result"]["container"]["name"]: r["result"]["actions"] for r in first.records
               if r["result"].get("container")}
    assert actions["ct-rv-rr"] == ["updated restart_policy", "updated restart_retries"], actions
    assert actions["ct-rv-al"] == ["updated networks"] and actions["ct-rv-hci"] == ["recreated", "started"]
    assert actions["ct-rv-ar"] == ["recreated", "started"], actions
    image_hc = api.inspect_image(V1)["Config"]["Healthcheck"]
    got = inspect(lab, "ct-rv-hc")["Config"]["Healthcheck"]
    assert got["Retries"] == image_hc["Retries"] and got["Interval"] == image_hc["Interval"]
    assert inspect(lab, "ct-rv-hci")["Config"]["Healthcheck"]["Interval"] == image_hc["Interval"]
    assert inspect(lab, "ct-rv-wd")["Config"]["WorkingDir"] == "/tmp"
    rr = inspect(lab, "ct-rv-rr")
    assert rr["Id"] == cids["ct-rv-rr"]
    assert rr["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    ar = inspect(lab, "ct-rv-ar")["HostConfig"]
    assert ar["RestartPolicy"]["Name"] == "always" and not ar["AutoRemove"]
    al = inspect(lab, "ct-rv-al")
    assert al["Id"] == cids["ct-rv-al"]
    assert set(al["NetworkSettings"]["Networks"]["ct-rvn"]["Aliases"]) - {al["Id"][:12]} == {"a1"}
    bn = inspect(lab, "ct-rv-bn")
    assert bn["HostConfig"]["NetworkMode"] == "bridge"
    assert set(bn["NetworkSettings"]["Networks"]) == {"bridge", "ct-rvn"}
    lab.clean(H, "ct-rv")


def test_a_failure_after_a_change_says_so_and_leaves_no_half_made_container(lab, play, ids):
    """A new container the engine refuses at start (a user it does not have) is removed again
    and the run reports no change; a network that does not exist fails before any change,
    naming it; an update applied before a network connect the engine refuses reports
    changed with the actions done."""
    api = lab.docker(H).api
    if not api.networks(names=["ct-rvn"]):
        api.create_network("ct-rvn")
    twice(play, pb("- dockyard.fleet.container: {name: ct-rv-upd, image: %s, memory: 64m}\n" % V1))
    tasks = """
- name: badstart
  dockyard.fleet.container: {name: ct-rv-badstart, image: %(v1)s, user: nobody}
  ignore_errors: true
- name: nonet
  dockyard.fleet.container: {name: ct-rv-net2, image: %(v1)s, networks: [{name: ct-rvn}, {name: ct-rv-nope}]}
  ignore_errors: true
- name: nonet update
  dockyard.fleet.container: {name: ct-rv-upd, image: %(v1)s, memory: 96m, networks: [{name: ct-rv-nope}]}
  ignore_errors: true
- name: update then refused
  dockyard.fleet.container:
    name: ct-rv-upd
    image: %(v1)s
    memory: 80m
    networks: [{name: ct-rvn, ipv4_address: 10.213.0.5}]
  ignore_errors: true
""" % dict(v1=V1)
    res = play(pb(tasks))
    assert res.rc == 0, res.stdout[-4000:]
    names = ("badstart", "nonet", "nonet update", "update then refused")
    assert all(res.results(task=t)[0]["status"] == "failed" for t in names), res.stdout[-4000:]
    r = {t: res.one(task=t) for t in names}
    assert not r["badstart"]["changed"], r["badstart"]
    assert "the container it created was removed" in r["badstart"]["msg"], r["badstart"]["msg"]
    assert not api.containers(all=True, filters={"name": "ct-rv-badstart"})
    for t in ("nonet", "nonet update"):
        assert not r[t]["changed"], r[t]
        assert "networks[" in r[t]["msg"] and "ct-rv-nope not found" in r[t]["msg"], r[t]["msg"]
    assert not api.containers(all=True, filters={"name": "ct-rv-net2"})
    upd = r["update then refused"]
    assert upd["changed"] and upd["actions"] == ["updated memory"], upd
    assert inspect(lab, "ct-rv-upd")["HostConfig"]["Memory"] == 80 * 1024 ** 2
    lab.clean(H, "ct-rv")


def test_check_mode_predicts_and_mutates_nothing(lab, play, ids):
    base = """
- name: %s
  dockyard.fleet.container:
    name: ct-check
    image: %s
    memory: %s
    env: {X: "%s"}
"""
    before = lab.snapshot(H)
    res = play(pb(base % ("create", V1, "64m", "1")), check=True, diff=True)
    assert res.rc == 0 and res.changed == 1
    assert lab.snapshot(H) == before
    assert res.one(action="container")["actions"] == ["created", "started"]

    twice(play, pb(base % ("create", V1, "64m", "1")))
    cid = inspect(lab, "ct-check")["Id"]
    before = lab.snapshot(H)
    # check mode mutates nothing, so every prediction can run in one play
    cases = [("same", V1, "64m", "1"), ("image", V2, "64m", "1"), ("memory", V1, "128m", "1"),
             ("env", V1, "64m", "2"), ("missing image", "dockyard/demo:notthere", "64m", "1")]
    res = play(pb("".join(base % c for c in cases)), check=True, diff=True)
    assert res.rc == 0, res.stdout[-3000:]
    got = {case[0]: res.one(task=case[0]) for case in cases}
    assert not got["same"]["changed"] and got["same"]["actions"] == []  # image exists: no pull
    assert got["image"]["changed"] and got["image"]["actions"] == ["recreated", "started"]
    assert got["memory"]["changed"] and got["memory"]["actions"] == ["updated memory"]
    assert got["env"]["changed"] and got["env"]["actions"] == ["recreated", "started"]
    assert got["env"]["diff"]["after"] == {"env": {"X": "2"}}
    # an image the host lacks: check mode predicts a pull and a change, pulls nothing
    assert got["missing image"]["changed"]
    assert got["missing image"]["actions"][0] == "pulled image"
    assert lab.snapshot(H) == before
    assert inspect(lab, "ct-check")["Id"] == cid


def test_diff_and_in_place_update(lab, play, ids):
    base = """
- dockyard.fleet.container:
    name: ct-diff
    image: %s
    memory: %s
    restart_policy: %s
    env: {X: "1"}
"""
    twice(play, pb(base % (V1, "64m", "no")))
    cid = inspect(lab, "ct-diff")["Id"]
    res = play(pb(base % (V1, "96m", "always")), diff=True)
    assert res.rc == 0 and res.changed == 1
    r = res.one(action="container")
    assert r["diff"]["before"] == {"memory": 64 * 1024 ** 2, "restart_policy": "no"}
    assert r["diff"]["after"] == {"memory": 96 * 1024 ** 2, "restart_policy": "always"}
    assert sorted(r["actions"]) == ["updated memory", "updated restart_policy"]
    c = inspect(lab, "ct-diff")
    assert c["Id"] == cid  # updated in place, not recreated
    assert c["HostConfig"]["Memory"] == 96 * 1024 ** 2
    assert c["HostConfig"]["RestartPolicy"]["Name"] == "always"
    assert play(pb(base % (V1, "96m", "always"))).changed == 0

    res = play(pb(base % (V2, "96m", "always")), diff=True)
    r = res.one(action="container")
    assert set(r["diff"]["before"]) == {"image"}
    assert r["diff"]["before"]["image"] == ids[V1]
    assert ids[V2] in r["diff"]["after"]["image"]
    assert r["actions"] == ["recreated", "started"]
    assert r["container"]["image_id"] == ids[V2]
    assert inspect(lab, "ct-diff")["Id"] != cid


def test_resources_change_in_place_and_back_to_no_limit_recreates(lab, play, ids):
    """memory_reservation, cpu_shares, cpuset_cpus and pids_limit are changed in place (same
    container, running on; the cgroup the container sees says so); pids_limit goes back to no
    limit in place too (the update API applies -1); going back to the engine's default for
    memory (0: no limit) recreates: the update API would leave the limit and report a change
    on every run."""
    base = """
- dockyard.fleet.container:
    name: ct-res
    image: %s
    memory: %s
    memory_reservation: %s
    cpu_shares: %d
    cpuset_cpus: "%s"
    pids_limit: %d
"""
    twice(play, pb(base % (V1, "128m", "64m", 512, "0", 200)))
    c = inspect(lab, "ct-res")
    cid, started = c["Id"], c["State"]["StartedAt"]
    assert (c["HostConfig"]["MemoryReservation"], c["HostConfig"]["CpuShares"],
            c["HostConfig"]["CpusetCpus"], c["HostConfig"]["PidsLimit"]) == (64 * 1024 ** 2, 512, "0", 200)
    ncpu = lab.docker(H).info()["NCPU"]
    every = "0-%d" % (ncpu - 1) if ncpu > 1 else "0"
    # the same CPUs in another spelling: no change
    spelled = ",".join(str(i) for i in reversed(range(ncpu))) if ncpu > 1 else "0"
    assert play(pb(base % (V1, "128m", "64m", 512, "0", 200))).changed == 0

    def cgroup():
        """What the container's own cgroup says: its CPUs, soft memory limit and most
        processes (cgroup v2 or v1; the lab's engines run v1)."""
        return lab.docker(H).containers.get("ct-res").exec_run(["/bin/busybox", "sh", "-c", (
            "cd /sys/fs/cgroup; for f in cpuset.cpus cpuset/cpuset.cpus; do [ -e $f ] && cat $f; done; "
            "for f in memory.low memory/memory.soft_limit_in_bytes; do [ -e $f ] && cat $f; done; "
            "for f in pids.max pids/pids.max; do [ -e $f ] && cat $f; done")
        ]).output.decode().split()

    changed = base % (V1, "128m", "96m", 256, spelled, 100)
    check = play(pb(changed), check=True, diff=True)
    assert check.rc == 0 and check.changed == 1, check.stdout[-3000:]
    assert inspect(lab, "ct-res")["HostConfig"]["CpuShares"] == 512    # check mode: untouched
    res = play(pb(changed), diff=True)
    assert res.rc == 0 and res.changed == 1, res.stdout[-3000:]
    r = res.one(action="container")
    assert sorted(r["actions"]) == ["updated cpu_shares", "updated cpuset_cpus",
                                    "updated memory_reservation", "updated pids_limit"], r["actions"]
    assert r["diff"]["after"] == {"memory_reservation": 96 * 1024 ** 2, "cpu_shares": 256,
                                  "cpuset_cpus": every, "pids_limit": 100}, r["diff"]
    c = inspect(lab, "ct-res")
    assert c["Id"] == cid and c["State"]["StartedAt"] == started and c["State"]["Running"]
    assert (c["HostConfig"]["MemoryReservation"], c["HostConfig"]["CpuShares"],
            c["HostConfig"]["CpusetCpus"], c["HostConfig"]["PidsLimit"]) == (96 * 1024 ** 2, 256, every, 100)
    assert cgroup() == [every, str(96 * 1024 ** 2), "100"]
    assert play(pb(base % (V1, "128m", "96m", 256, every, 100))).changed == 0

    # memory plus swap: in place, unlimited and back (the container's memsw limit follows)
    def memsw():
        return lab.docker(H).containers.get("ct-res").exec_run(["/bin/busybox", "sh", "-c", (
            "cat /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes 2>/dev/null || "
            "cat /sys/fs/cgroup/memory.swap.max")]).output.decode().strip()
    swapped = base.replace("    memory: %s\n", "    memory: %s\n    memory_swap: \"%s\"\n")
    for swap, engine in (("-1", -1), ("192m", 192 * 1024 ** 2)):
        res = play(pb(swapped % (V1, "128m", swap, "96m", 256, every, 100)))
        assert res.rc == 0 and res.one(action="container")["actions"] == ["updated memory_swap"], \
            res.stdout[-3000:]
        c = inspect(lab, "ct-res")
        assert c["Id"] == cid and c["HostConfig"]["MemorySwap"] == engine
        assert play(pb(swapped % (V1, "128m", swap, "96m", 256, every, 100))).changed == 0
    assert memsw() in (str(192 * 1024 ** 2), str(64 * 1024 ** 2)), memsw()   # v1: memory+swap; v2: swap

    # no pids limit any more: in place as well (-1 is applied), then no change
    res = play(pb(base % (V1, "128m", "96m", 256, every, 0)))
    assert res.rc == 0 and res.one(action="container")["actions"] == ["updated pids_limit"], \
        res.stdout[-3000:]
    c = inspect(lab, "ct-res")
    assert c["Id"] == cid and c["State"]["StartedAt"] == started and c["HostConfig"]["PidsLimit"] in (None, 0, -1)
    assert cgroup()[-1] == "max"
    assert play(pb(base % (V1, "128m", "96m", 256, every, -1))).changed == 0

    # no memory limit any more: a new container (an update would change nothing), once
    lifted = base.replace("    memory: %s\n    memory_reservation: %s\n", "    memory: \"%s\"\n")
    res = play(pb(lifted % (V1, "0", 256, every, 0)))
    assert res.rc == 0 and res.one(action="container")["actions"] == ["recreated", "started"], \
        res.stdout[-3000:]
    assert inspect(lab, "ct-res")["HostConfig"]["Memory"] == 0
    assert inspect(lab, "ct-res")["Id"] != cid
    assert play(pb(lifted % (V1, "0", 256, every, 0))).changed == 0
    lab.clean(H, "ct-res")


def test_runs_on_the_controller_unless_it_cannot(lab, play, ids):
    """execution: auto runs the container module's code on the controller against the host's
    engine socket forwarded over the SSH master (no module run on the host), with the same
    answers as the module on the host; env_file keeps the run on the host, saying why, and
    execution=controller then fails naming the option."""
    task = "- dockyard.fleet.container: {name: ct-ex, image: %s%s}\n"
    first = play(pb(task % (V1, "")), diff=True)
    r = first.one(action="container")
    assert first.rc == 0 and r["changed"] and r["actions"] == ["created", "started"], r
    assert (r["execution"], r["invocations"]) == ("controller", 0) and "execution_reason" not in r
    on_host, again = play(pb(task % (V1, ", execution: host"))), play(pb(task % (V1, "")))
    rh, rc = on_host.one(action="container"), again.one(action="container")
    assert on_host.changed == 0 and again.changed == 0
    assert (rh["execution"], rh["invocations"], rc["execution"]) == ("host", 1, "controller")
    assert {k: v for k, v in rh["container"].items() if k != "health"} == \
        {k: v for k, v in rc["container"].items() if k != "health"}

    # check mode and diff on the controller: predicted, nothing changed
    before = lab.snapshot(H)
    chk = play(pb(task % (V2, "")), check=True, diff=True)
    r = chk.one(action="container")
    assert chk.changed == 1 and r["execution"] == "controller" and r["actions"] == ["recreated", "started"], r
    assert lab.snapshot(H) == before

    # an engine refusal: the same message on the controller and on the host, nothing changed
    msgs = {}
    for where in ("controller", "host"):
        res = play(pb(task % (V2, ", execution: %s, networks: [{name: ct-no-such-net}]" % where)))
        rec = res.results(action="container")[0]
        assert rec["status"] == "failed" and rec["result"]["execution"] == where, rec
        msgs[where] = rec["result"]["msg"]
    assert msgs["controller"] == msgs["host"] and "ct-no-such-net" in msgs["host"], msgs
    assert lab.snapshot(H) == before

    # env_file is a file on the host: read there, by the module
    lab.ssh(H, "printf 'EX=1\\n' > /etc/ct-ex.env")
    try:
        envf = play(pb(task % (V1, ", env_file: /etc/ct-ex.env")))
        r = envf.one(action="container")
        assert envf.rc == 0 and r["changed"] and r["execution"] == "host", envf.stdout[-3000:]
        assert "option env_file" in r["execution_reason"] and r["invocations"] == 1
        assert "EX=1" in inspect(lab, "ct-ex")["Config"]["Env"]
        before = lab.snapshot(H)
        res = play(pb(task % (V1, ", env_file: /etc/ct-ex.env, execution: controller")))
        rec = res.results(action="container")[0]
        assert rec["status"] == "failed" and rec["result"]["invocations"] == 0, rec
        assert rec["result"]["msg"].startswith("execution: cannot run on the controller: option env_file")
        assert lab.snapshot(H) == before
    finally:
        lab.ssh(H, "rm -f /etc/ct-ex.env", check=False)
        lab.clean(H, "ct-ex")


def test_a_recreate_stops_the_old_container_gracefully_and_a_refused_new_one_leaves_it(lab, play, ids):
    """A recreate gives the old container its stop signal (the demo image traps it and exits
    0) instead of a forced removal's kill, after the new one is made; so does state absent. A new container the
    engine refuses to start (a user the image does not have, found only at start) is removed
    and the old one has its name back, running again: the host as it was. A network that
    does not exist is found before anything changes."""
    task = "- dockyard.fleet.container: {name: ct-rc, image: %s, stop_signal: SIGINT%s}\n"
    twice(play, pb(task % (V1, "")))
    old = inspect(lab, "ct-rc")
    since = time.time()
    res = play(pb(task % (V2, "")))
    assert res.rc == 0 and res.one(action="container")["actions"] == ["recreated", "started"]
    new = inspect(lab, "ct-rc")
    assert new["Id"] != old["Id"] and new["State"]["Running"] and new["Config"]["Image"] == V2
    assert lab.stops(H, old["Id"], since) == (["2"], ["0"])   # SIGINT, its own stop signal; exit 0

    before = lab.snapshot(H)
    bad = play(pb(task % (V1, ", user: ct-no-such-user")))
    rec = bad.results(action="container")[0]
    assert rec["status"] == "failed", rec
    assert "ct-no-such-user" in rec["result"]["msg"] and "runs again" in rec["result"]["msg"], rec
    assert not rec["result"]["changed"], rec
    bad = play(pb(task % (V1, ", networks: [{name: ct-no-such-net}]")))
    rec = bad.results(action="container")[0]
    assert rec["status"] == "failed" and not rec["result"]["changed"], rec
    assert rec["result"]["msg"].startswith("networks[0].name: network ct-no-such-net not found"), rec
    after = inspect(lab, "ct-rc")
    assert after["Id"] == new["Id"] and after["State"]["Running"] and after["Name"] == "/ct-rc"
    assert lab.snapshot(H) == before
    assert play(pb(task % (V2, ""))).changed == 0

    # state absent: stopped the same way before it is removed
    since = time.time()
    res = play(pb("- dockyard.fleet.container: {name: ct-rc, state: absent}\n"))
    assert res.rc == 0 and res.one(action="container")["actions"] == ["removed"]
    assert lab.stops(H, after["Id"], since) == (["2"], ["0"])
    assert play(pb("- dockyard.fleet.container: {name: ct-rc, state: absent}\n")).changed == 0


# What only the engine finds wrong, on a recreate (the image changes with each): at creation
# or only at start. Each must leave the running container as it was.
ENGINE_REFUSALS = [
    ("mounts", [{"type": "bind", "source": "/nonexistent-dy", "target": "/x"}]),
    ("devices", ["/dev/nonexistent-dy:/dev/x:rwm"]),
    ("sysctls", {"net.ipv4.nonexistent_dy": "1"}),
    ("networks", [{"name": "ct-no-such-net"}]),   # now found before the engine is asked
    ("cap_add", ["NOT_A_CAPABILITY"]),
    ("user", "nosuchuser"),
    ("log_driver", "nosuchdriver"),
    ("network_mode", "container:ct-no-such-container"),
]


def test_what_only_the_engine_refuses_leaves_the_container_running(lab, play, ids):
    """A recreate the engine refuses, for each thing only the engine can find wrong (a bind
    source, a device, a sysctl, a network, a capability, a user, a log driver, a container
    to share a network with): the task fails with the engine's reason, and the container
    that ran before still runs, the same one, under its name."""
    twice(play, pb("- dockyard.fleet.container: {name: ct-ref, image: %s}\n" % V1))
    before, cid = lab.snapshot(H), inspect(lab, "ct-ref")["Id"]
    keys = sorted({k for k, _v in ENGINE_REFUSALS})
    args = {"name": "ct-ref", "image": V2}
    args.update({k: "{{ item.p[%r] | default(omit) }}" % k for k in keys})
    playbook = [{"hosts": H, "tasks": [{
        "name": "refused", "dockyard.fleet.container": args, "ignore_errors": True,
        "loop": [{"option": k, "p": {k: v}} for k, v in ENGINE_REFUSALS],
        "loop_control": {"label": "{{ item.option }}"}}]}]
    res = play(yaml.safe_dump(playbook))
    assert res.rc == 0, res.stdout[-4000:]
    items = {i["item"]["option"]: i for i in res.one(task="refused")["results"]}
    assert sorted(items) == keys
    msgs = {option: item.get("msg") for option, item in items.items()}
    assert all(item.get("failed") for item in items.values()), msgs
    # a network the host lacks is found before any change (one listing), naming it
    assert msgs.pop("networks").startswith("networks[0].name: network ct-no-such-net not found"), msgs
    assert all("Docker engine" in msg for msg in msgs.values()), msgs
    # refused at creation (the old one never stopped), or at start (it was, and runs again)
    assert all(("refused create_container" in msg) != ("has its name back and runs again" in msg)
               for msg in msgs.values()), msgs
    assert sum("has its name back" in msg for msg in msgs.values()) >= 3, msgs
    assert inspect(lab, "ct-ref")["Id"] == cid and inspect(lab, "ct-ref")["State"]["Running"]
    assert lab.snapshot(H) == before
    lab.clean(H, "ct-ref")


def test_a_host_rebooted_within_control_persist_is_reached_over_a_new_master(lab, play, ids, tmp_path):
    """A host that lost power and came back while the controller's SSH master for it still
    believes its connection alive (no keepalive here, so it cannot notice): the master takes
    the forward, then the first connection through it is reset (the host has no such TCP
    connection any more) and the master exits. The run tries once more over a new master and
    runs on the controller as before."""
    host = "app3"
    lab.load_image(host, V1)
    env = {"ANSIBLE_SSH_CONTROL_PATH_DIR": str(tmp_path / "cp"),   # a master of this test's own
           "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=300s -o ConnectTimeout=10"}
    task = pb("- dockyard.fleet.container: {name: ct-rb, image: %s, state: present}\n" % V1, hosts=host)
    first = play(task, env=env)
    assert first.rc == 0 and first.one(action="container")["execution"] == "controller", first.stdout[-3000:]
    masters = [p for p in (tmp_path / "cp").iterdir() if p.is_socket()]
    assert len(masters) == 1, masters

    # power loss with the host cut off (its sessions' ends never reach the controller), then
    # booted again, which brings its link back
    lab.tool("cut", host)
    lab.tool("stop", host)
    # a host that lost power keeps nothing: not the closed sessions' sockets, nor their last
    # packets waiting for the link (the lab's hosts share the controller's kernel)
    ns = ["ip", "netns", "exec", "dy%d-%s" % (LAB_ID, host)]
    subprocess.run(ns + ["ss", "-K", "-t"], capture_output=True, check=True)
    subprocess.run(ns + ["ip", "neigh", "flush", "all"], capture_output=True, check=True)
    lab.tool("start", host)
    lab.tool("heal", host)
    check = subprocess.run(["ssh", "-o", "ControlPath=" + str(masters[0]), "-O", "check", "x"],
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stderr      # the old master still believes in its connection

    again = play(task, env=env)
    r = again.one(action="container")
    assert again.rc == 0 and r["execution"] == "controller" and not r["changed"], again.stdout[-3000:]
    lab.clean(host, "ct-rb")


def test_a_recreate_a_killed_run_left_half_done_is_finished_by_the_next_run(lab, play, ids):
    """ContainerEngine.replace renames the old container aside while the new one is made;
    a run killed in between leaves it so. The next run that changes the container, or finds
    no container of the name, finishes the job (check mode predicts it and changes nothing)."""
    name = "ct-kill"
    task = ("- dockyard.fleet.container: {name: %s, image: %%s, stop_signal: SIGINT, "
            "published_ports: ['18095:80']}\n" % name)
    why = " (set aside by a run that ended in the middle of a recreate)"
    api = lab.docker(H).api
    params = dict(name=name, stop_signal="SIGINT", published_ports=["18095:80"])

    def converge(image, actions):
        before = lab.snapshot(H)
        check = play(pb(task % image), check=True)
        assert check.rc == 0 and check.one(action="container")["actions"] == actions, check.stdout[-3000:]
        assert lab.snapshot(H) == before
        first = twice(play, pb(task % image))[0]
        assert first.one(action="container")["actions"] == actions

    def ours():
        return sorted(c["Names"][0].lstrip("/") for c in api.containers(all=True)
                      if c["Names"][0].startswith("/" + name))

    # killed after the rename, before the new container was made: no container has the name
    twice(play, pb(task % V1))
    old = inspect(lab, name)
    killed_run(lab, H, "container", "create_container_from_config", image=V2, **params)
    aside = "%s-dyold-%s" % (name, old["Id"][:12])
    assert ours() == [aside]
    since = time.time()
    converge(V2, ["renamed %s back to %s%s" % (aside, name, why), "recreated", "started"])
    assert ours() == [name] and inspect(lab, name)["Config"]["Image"] == V2
    assert lab.stops(H, old["Id"], since) == (["2"], ["0"])   # stopped gracefully, then removed

    # killed after the new one was made, before the old one stopped: the old one still runs
    # on the published port the new one needs
    old = inspect(lab, name)
    killed_run(lab, H, "container", "stop", image=V1, **params)
    aside = "%s-dyold-%s" % (name, old["Id"][:12])
    assert ours() == [name, aside] and inspect(lab, aside)["State"]["Running"]
    assert not inspect(lab, name)["State"]["Running"]
    since = time.time()
    converge(V1, ["removed %s%s" % (aside, why), "started"])
    assert ours() == [name] and inspect(lab, name)["Config"]["Image"] == V1
    assert lab.stops(H, old["Id"], since) == (["2"], ["0"])

    # killed after the new one started, before the old one (stopped) was removed: a no-op
    # run lists nothing (it stays), the next change removes it, as does state absent
    killed_run(lab, H, "container", "remove_container", image=V2, **params)
    assert len(ours()) == 2
    assert play(pb(task % V2)).changed == 0 and len(ours()) == 2
    absent = "- dockyard.fleet.container: {name: %s, state: absent}\n" % name
    first = twice(play, pb(absent))[0]
    assert first.one(action="container")["actions"][-1] == "removed"
    assert ours() == []


def test_states(lab, play, ids):
    steps = [("present", "false", True, "created"), ("present", "false", False, "created"),
             ("started", "false", True, "running"), ("started", "false", False, "running"),
             ("started", "true", True, "running"), ("stopped", "false", True, "exited"),
             ("stopped", "false", False, "exited")]
    tasks = "".join("""
- name: step%d
  dockyard.fleet.container: {name: ct-state, image: %s, state: %s, restart: %s}
""" % (i, V1, st, rs) for i, (st, rs, _c, _s) in enumerate(steps))
    res = play(pb(tasks))
    assert res.rc == 0, res.stdout[-3000:]
    for i, (_st, _rs, changed, state) in enumerate(steps):
        r = res.one(task="step%d" % i)
        assert r["changed"] == changed, (i, r)
        assert r["container"]["state"] == state, (i, r)
    assert res.one(task="step4")["actions"] == ["restarted"]
    assert inspect(lab, "ct-state")["State"]["Status"] == "exited"
    # state without image on an existing container is fine
    twice(play, pb("- dockyard.fleet.container: {name: ct-state, state: started}"))
    assert inspect(lab, "ct-state")["State"]["Running"]
    twice(play, pb("- dockyard.fleet.container: {name: ct-state, state: absent}"))
    assert not [c for c in lab.docker(H).containers.list(all=True) if c.name == "ct-state"]


def _removing(lab, name, files=100000):
    """Start another client's `rm -f` of name, slowed by a writable layer of many files, and
    return once the engine reports it removing (the thread of that rm)."""
    api = lab.docker(H).api
    eid = api.exec_create(name, ["/bin/busybox", "sh", "-c", "mkdir /d && cd /d && /bin/busybox seq 1 %d "
                                 "| /bin/busybox xargs /bin/busybox touch" % files])["Id"]
    api.exec_start(eid)
    assert api.exec_inspect(eid)["ExitCode"] == 0
    # another client indeed: a connection of its own, not the poll's below
    remover = docker.APIClient(base_url="unix://" + lab.docker_sock(H), timeout=120)
    other = threading.Thread(target=remover.remove_container, args=(name,),
                             kwargs={"force": True}, daemon=True)
    other.start()
    for dummy in range(200):
        if api.inspect_container(name)["State"]["Status"] == "removing":
            return other
        time.sleep(0.05)
    raise AssertionError("the engine never reported %s removing" % name)


def test_a_container_the_engine_is_removing_is_awaited(lab, play, ids):
    """Another client's removal still running (status removing; its rm answers our rm 409
    "already in progress"): the collection's engine client, against the host's real engine,
    waits for that removal instead of failing. Driven from the test process: a playbook's
    read of the container could not be timed into the removal on a loaded machine. (That
    a removing container is planned for a recreate is decide()'s, unit-tested; state absent
    and a scale down go through this same remove.)"""
    twice(play, pb("- dockyard.fleet.container: {name: ct-rmwait, image: %s}" % V1))
    cid = inspect(lab, "ct-rmwait")["Id"]
    other = _removing(lab, "ct-rmwait")
    client = DockerClient({"docker_host": "unix://" + lab.docker_sock(H)}, environ={})
    refused = []
    call = client.call

    def spy(method, *args, **kwargs):
        try:
            return call(method, *args, **kwargs)
        except DockerError as exc:
            refused.append(str(exc))
            raise

    client.call = spy
    ContainerEngine(client).remove(cid)
    other.join(60)
    assert refused and "is already in progress" in refused[0], refused
    assert not [c for c in lab.docker(H).containers.list(all=True) if c.name == "ct-rmwait"]
    # and the next run makes it anew, then changes nothing
    first, _second = twice(play, pb("- dockyard.fleet.container: {name: ct-rmwait, image: %s}" % V1))
    assert first.one(action="container")["actions"] == ["created", "started"]


def test_bad_input_fails_naming_option_and_changes_nothing(lab, play, ids):
    cases = {
        "published_ports": "{name: ct-bad, image: %s, published_ports: ['80:80:80:80']}" % V1,
        "name": "{name: '-bad name', image: %s}" % V1,
        "image": "{name: ct-bad-noimage}",
        "memory": "{name: ct-bad, image: %s, memory: lots}" % V1,
        "healthcheck.interval": "{name: ct-bad, image: %s, healthcheck: {test: [CMD, x], interval: soon}}" % V1,
        "restart_retries": "{name: ct-bad, image: %s, restart_policy: always, restart_retries: 2}" % V1,
        "comparisons": "{name: ct-bad, image: %s, comparisons: {nope: strict}}" % V1,
        "volumes": "{name: ct-bad, image: %s, volumes: [relative/path]}" % V1,
        # a bare CMD: the engine took it and its first check crashed dockerd
        "healthcheck.test": "{name: ct-bad, image: %s, healthcheck: {test: [CMD]}}" % V1,
        "stop_timeout": "{name: ct-bad, image: %s, stop_timeout: -5}" % V1,
        "labels": "{name: ct-bad, image: %s, labels: {'': x}}" % V1,
        "command": "{name: ct-bad, image: %s, command: [[a]]}" % V1,
        "mounts[0].source": "{name: ct-bad, image: %s, mounts: [{type: volume, source: /abs, target: /x}]}" % V1,
        "working_dir": "{name: ct-bad, image: %s, working_dir: www}" % V1,
        # a network the host lacks: before the container is made (it was left half made)
        "networks[1].name": "{name: ct-bad, image: %s, networks: [{name: bridge}, {name: ct-bad-nope}]}" % V1,
    }
    tasks = "\n".join("- name: %s\n  dockyard.fleet.container: %s\n  ignore_errors: true" % (k, v)
                      for k, v in cases.items())
    tasks += ("\n- name: pull never\n  dockyard.fleet.container: {name: ct-bad, image: 'dockyard/demo:absent',"
              " pull: never}\n  ignore_errors: true")
    before = lab.snapshot(H)
    res = play(pb(tasks))
    assert lab.snapshot(H) == before
    for option in list(cases) + ["pull never"]:
        rec = res.results(task=option)
        assert len(rec) == 1 and rec[0]["status"] == "failed", (option, rec)
        r = rec[0]["result"]
        assert ("image" if option == "pull never" else option) in r["msg"], (option, r["msg"])


def test_wait_healthy_and_failure_evidence(lab, play, ids):
    ok = play(pb("""
- dockyard.fleet.container: {name: ct-wait, image: %s, wait: healthy, wait_timeout: 60}
""" % V1))
    assert ok.rc == 0
    assert ok.one(action="container")["container"]["health"] == "healthy"
    assert ok.one(action="container")["container"]["probed"] is False
    # healthcheck.start_interval on Docker 20.10 (which keeps none): the wait probes the
    # check's test, so a 60 s interval does not hold it; the engine itself still says starting
    first, _second = twice(play, pb("""
- dockyard.fleet.container:
    name: ct-si
    image: %s
    healthcheck:
      test: [CMD, /bin/busybox, wget, -q, -O, /dev/null, "http://127.0.0.1/health"]
      interval: 60s
      start_interval: 200ms
    wait: healthy
    wait_timeout: 30
""" % V1))
    c = first.one(action="container")["container"]
    assert (c["probed"], c["health"]) == (True, "starting")
    assert inspect(lab, "ct-si")["State"]["Health"]["Status"] == "starting"
    bad = play(pb("""
- dockyard.fleet.container: {name: ct-broken, image: %s, wait: healthy, wait_timeout: 60}
  ignore_errors: true
""" % BROKEN))
    rec = bad.results(action="container")
    assert rec[0]["status"] == "failed"
    r = rec[0]["result"]
    assert "unhealthy" in r["msg"] and "last health checks" in r["msg"]
    assert "last log lines" in r["msg"]


def test_ssh_engine_from_controller(lab, play, ids, tmp_path):
    """delegate_to: localhost + docker_host ssh:// : the controller's Docker SDK talks to a lab
    engine over SSH (paramiko), with host key checking on."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    shutil.copy(os.path.join(lab.dir, "known_hosts"), home / ".ssh" / "known_hosts")
    (home / ".ssh" / "config").write_text("Host %s\n  IdentityFile %s\n  User root\n"
                                          % (lab.addr("app2"), os.path.join(lab.dir, "id_ed25519")))
    tasks = """
- dockyard.fleet.container:
    docker_host: ssh://root@%s
    name: ct-ssh
    image: %s
    published_ports: ["18180:80"]
  delegate_to: localhost
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
""" % (lab.addr("app2"), V1)
    env = {"HOME": str(home), "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
           "ANSIBLE_HOME": str(tmp_path / "ansible-home")}
    twice(play, pb(tasks), env=env)
    c = inspect(lab, "ct-ssh", host="app2")
    assert c["State"]["Running"]
    # an in-place change through the SDK: pids_limit, which the SDK's update_container lacks
    limited = tasks.replace("    name: ct-ssh\n", "    name: ct-ssh\n    pids_limit: 64\n")
    res = play(pb(limited), env=env)
    assert res.rc == 0 and res.one(action="container")["actions"] == ["updated pids_limit"], \
        res.stdout[-3000:]
    after = inspect(lab, "ct-ssh", host="app2")
    assert after["Id"] == c["Id"] and after["HostConfig"]["PidsLimit"] == 64
    assert play(pb(limited), env=env).changed == 0
    assert not [x for x in lab.docker(H).containers.list(all=True) if x.name == "ct-ssh"]
    # an unknown host key is refused (host key checking is on)
    (home / ".ssh" / "known_hosts").write_text("")
    res = play(pb(tasks), env=env)
    assert res.rc != 0
    assert "ct-ssh" in [x.name for x in lab.docker("app2").containers.list(all=True)]


def _volume_of(lab, name, dest, host=H):
    """The name of the volume container name mounts at dest."""
    return next(m["Name"] for m in inspect(lab, name, host)["Mounts"] if m["Destination"] == dest)


def _volume_names(lab, host=H):
    return {v["Name"] for v in lab.docker(host).api.volumes()["Volumes"] or []}


def test_keep_volumes_false_takes_the_anonymous_volumes_along(lab, play, ids):
    """By default a container removed (a recreate, state absent) leaves its anonymous volumes
    dangling, as docker rm does; keep_volumes false removes them with it, as docker rm -v does.
    A named volume stays either way; the option alone is never a change; check mode removes
    nothing."""
    named = "ct-kv-named"
    made = []   # anonymous volumes to remove at the end, whatever happens
    task = ("- dockyard.fleet.container: {name: ct-kv, image: %s, volumes: [/data, '" + named
            + ":/named'], execution: %s%s}\n")
    try:
        twice(play, pb(task % (V1, "auto", "")))
        first = _volume_of(lab, "ct-kv", "/data")
        made.append(first)
        assert named in _volume_names(lab) and first != named

        # default: the recreate leaves the old anonymous volume behind, the new one has its own
        res = play(pb(task % (V2, "auto", "")))
        assert res.rc == 0 and res.one(action="container")["actions"] == ["recreated", "started"]
        second = _volume_of(lab, "ct-kv", "/data")
        made.append(second)
        assert second != first and {first, second, named} <= _volume_names(lab)

        # the option alone changes nothing, and check mode of a recreate removes nothing
        assert play(pb(task % (V2, "auto", ", keep_volumes: false"))).changed == 0
        before = lab.snapshot(H), _volume_names(lab)
        res = play(pb(task % (V1, "auto", ", keep_volumes: false")), check=True)
        assert res.rc == 0 and res.changed == 1
        assert (lab.snapshot(H), _volume_names(lab)) == before

        # a new container the engine refuses to start (a network found missing only at
        # start) is removed again with its new, empty anonymous volume, keep_volumes or not
        before = _volume_names(lab)
        bad = play(pb(task % (V1, "auto", ", networks: [{name: ct-no-such-net}]")))
        assert bad.rc != 0 and "ct-no-such-net" in bad.results(action="container")[0]["result"]["msg"]
        assert _volume_names(lab) == before and _volume_of(lab, "ct-kv", "/data") == second

        # keep_volumes false: the replaced container's anonymous volume goes with it, the
        # named one stays (so does the volume the first recreate left: not ours to remove)
        first_run, _again = twice(play, pb(task % (V1, "auto", ", keep_volumes: false")))
        assert first_run.one(action="container")["actions"] == ["recreated", "started"]
        third = _volume_of(lab, "ct-kv", "/data")
        made.append(third)
        names = _volume_names(lab)
        assert second not in names and {first, third, named} <= names
        assert lab.docker(H).api.inspect_volume(named)["Name"] == named

        # state absent, on the host this time (the module run): the same
        twice(play, pb("- dockyard.fleet.container: {name: ct-kv, state: absent, keep_volumes: false, "
                       "execution: host}\n"))
        names = _volume_names(lab)
        assert third not in names and {first, named} <= names
    finally:
        lab.clean(H, P)
        for vol in made:
            try:
                lab.docker(H).api.remove_volume(vol)
            except docker.errors.NotFound:
                pass
