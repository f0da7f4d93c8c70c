"""The lab itself: a second, one-host lab (id 8 unless a worker's lab has it) made
and removed by these tests, beside the session's lab. Asserts on the machine: namespaces, processes, links,
mounts, firewall rules."""
from __future__ import annotations

import os
import socket
import subprocess
import time

import pytest

from conftest import spare_lab_ids

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAB = os.path.join(REPO, "tools", "lab")
# never a worker's lab, which these tests would take down, nor the benchmark smoke test's
ID = str(spare_lab_ids()[1])
APP1 = "10.77.%s.11" % ID


def lab(*args, check=True, env=None):
    e = dict(os.environ, DOCKYARD_LAB_ID=ID)
    e.pop("DOCKYARD_LAB_SHELL", None)   # the lab's default shell (machine) unless a test asks
    e.update(env or {})
    return subprocess.run(["/usr/bin/python3", LAB, *args], capture_output=True, text=True,
                          env=e, check=check, timeout=300)


def reachable(addr, port=22):
    try:
        with socket.create_connection((addr, port), timeout=1):
            return True
    except OSError:
        return False


def leftovers():
    found = []
    if os.path.isdir("/run/netns"):
        found += [n for n in os.listdir("/run/netns") if n.startswith("dy%s-" % ID)]
    found += [n for n in os.listdir("/sys/class/net") if n.startswith("dy%s" % ID)
              or n == "dylab" + ID]
    with open("/proc/self/mountinfo") as f:
        found += [line.split()[4] for line in f if "/dockyard-lab/%s/" % ID in line]
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open("/proc/%s/stat" % pid) as f:
                zombie = f.read().split(")")[-1].split()[0] == "Z"
        except OSError:
            continue
        if "/dockyard-lab/%s/" % ID in cmd and not zombie:
            found.append(cmd)
    rules = subprocess.run(["iptables", "-S", "FORWARD"], capture_output=True, text=True, check=False).stdout
    found += [r for r in rules.splitlines() if "dylab" + ID in r]
    if os.path.exists("/var/lib/dockyard-lab/" + ID):
        found.append("/var/lib/dockyard-lab/" + ID)
    return found


@pytest.fixture(scope="module")
def small_lab():
    lab("up", "--hosts", "1")
    try:
        yield
    finally:
        lab("down", check=False)


def test_up_is_idempotent_and_status_shows_hosts(small_lab):
    pid_file = "/var/lib/dockyard-lab/%s/app1/fs/run/docker.pid" % ID
    before = open(pid_file).read()
    out = lab("up", "--hosts", "1").stdout
    assert "1 app hosts + 1 lb" in out
    assert open(pid_file).read() == before, "a second `up` must not restart dockerd"
    status = lab("status").stdout
    assert "app1" in status and "lb1" in status and APP1 in status
    inv = open(os.path.join(REPO, ".lab", "lab" + ID, "inventory.yml")).read()
    assert "ansible_host: %s" % APP1 in inv and "StrictHostKeyChecking=yes" in inv
    kh = open(os.path.join(REPO, ".lab", "lab" + ID, "known_hosts")).read()
    assert kh.startswith(APP1 + " ssh-ed25519 ") or (APP1 + " ssh-ed25519 ") in kh


def test_ssh_session_sees_its_own_engine_and_name(small_lab):
    d = os.path.join(REPO, ".lab", "lab" + ID)
    res = subprocess.run(["ssh", "-i", d + "/id_ed25519", "-o",
                          "UserKnownHostsFile=%s/known_hosts" % d, "-o",
                          "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "root@" + APP1,
                          "hostname; /usr/bin/python3 -c 'import docker; "
                          "print(docker.APIClient().info()[\"Name\"])'"],
                         capture_output=True, text=True, timeout=60, check=True)
    assert res.stdout.split() == ["app1", "app1"]


def _root_rc(*names):
    d = os.path.join(REPO, ".lab", "lab" + ID)
    return subprocess.run(["ssh", "-i", d + "/id_ed25519", "-o", "UserKnownHostsFile=%s/known_hosts" % d,
                           "-o", "BatchMode=yes", "-o", "ControlPath=none", "root@" + APP1,
                           "".join("cat %s; " % n for n in names) + "echo PYENV=$PYENV_ROOT"],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=True).stdout


def test_shell_light_empties_roots_startup_files_and_machine_brings_them_back(small_lab):
    """The hosts share the machine's /root: `--shell light` gives each host empty startup
    files (the tests' lab), `--shell machine` the machine's own again (the benchmarks' lab)."""
    rcs = [rc for rc in ("/root/.bashrc", "/root/.profile") if os.path.exists(rc)]
    out = lab("up", "--hosts", "1", "--shell", "light").stdout
    assert "(light login shell)" in out and "restarting sshd" in out
    marker = "# dockyard lab: a light login shell (tools/lab up --shell light)\n"
    assert _root_rc(*rcs) == marker * len(rcs) + "PYENV=\n"
    assert all(open(rc).read() != marker for rc in rcs), "the machine's own files stay as they were"
    out = lab("up", "--hosts", "1", "--shell", "machine").stdout
    assert "(machine login shell)" in out and "restarting sshd" in out
    assert _root_rc(*rcs).startswith("".join(open(rc).read() for rc in rcs))
    res = lab("up", "--shell", "heavy", check=False)
    assert res.returncode != 0 and "--shell" in res.stderr


def test_stop_start_and_cut_heal(small_lab):
    assert reachable(APP1)
    lab("stop", "app1")
    assert not reachable(APP1)
    assert "down" in [line.split()[3] for line in lab("status").stdout.splitlines()
                      if line.startswith("app1")]
    lab("start", "app1")
    assert reachable(APP1)
    lab("cut", "app1")
    assert not reachable(APP1)
    lab("heal", "app1")
    assert reachable(APP1)


def test_stop_leaves_no_container_process_behind(small_lab):
    """A power loss ends the host's containers too. A container whose engine and shim died
    first (one the engine had not killed yet) lives in namespaces of its own: it used to
    outlive `stop`, keep its address on the host's bridge and answer for a later container
    given the same one (a CI run saw a replica answer with another test's version)."""
    sock = "unix:///var/lib/dockyard-lab/%s/app1/fs/run/docker.sock" % ID
    docker = ["docker", "-H", sock]
    subprocess.run(docker + ["load", "-i", os.path.join(REPO, ".lab", "lab" + ID, "images",
                                                        "demo-v1.tar")],
                   check=True, capture_output=True, timeout=120)
    cid = subprocess.run(docker + ["run", "-d", "dockyard/demo:v1"], check=True,
                         capture_output=True, text=True, timeout=120).stdout.strip()
    pid = int(subprocess.run(docker + ["inspect", "-f", "{{.State.Pid}}", cid], check=True,
                             capture_output=True, text=True, timeout=60).stdout)
    # the host's own processes (sshd, dockerd, containerd, the shim) killed first
    pids = subprocess.run(["ip", "netns", "pids", "dy%s-app1" % ID], check=True,
                          capture_output=True, text=True).stdout.split()
    subprocess.run(["kill", "-9"] + pids, check=False)
    try:
        assert os.path.exists("/proc/%d" % pid), "the container died with its shim"
        lab("stop", "app1")
        deadline = time.monotonic() + 10
        while os.path.exists("/proc/%d" % pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not os.path.exists("/proc/%d" % pid), "a container process outlived stop"
    finally:
        subprocess.run(["kill", "-9", str(pid)], check=False, capture_output=True)
        lab("start", "app1")
    assert reachable(APP1)


def test_unknown_host_and_bad_count_are_refused(small_lab):
    res = lab("stop", "app9", check=False)
    assert res.returncode != 0 and "no host 'app9'" in res.stderr
    res = lab("up", "--hosts", "0", check=False)
    assert res.returncode != 0 and "--hosts" in res.stderr


def test_missing_packages_are_named():
    res = lab("up", check=False, env={"PATH": "/nonexistent"})
    assert res.returncode != 0
    assert "missing packages" in res.stderr and "iproute2" in res.stderr


def test_not_root_is_refused():
    res = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                          "/usr/bin/python3", LAB, "up"], capture_output=True, text=True,
                         env=dict(os.environ, DOCKYARD_LAB_ID=ID), check=False)
    assert res.returncode != 0 and "must run as root" in res.stderr


def test_down_leaves_nothing_behind():
    lab("up", "--hosts", "1")
    lab("down")
    assert leftovers() == []
    lab("down")  # twice is harmless
