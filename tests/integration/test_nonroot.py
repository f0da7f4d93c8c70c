"""A non-root SSH user with become (sudo), as many fleets log in: the engine runs that could
go to the controller read the host's engine socket over the forward, which sshd opens as
the SSH user. A user outside the socket's group (docker) cannot: the run goes to the module
on the host, with become, and says why; a user in the group is read from the controller
(no module run). Each converge twice: the second changes nothing.

The two users and their sudo rule are made on the machine for this file and removed after
it (the lab's hosts share the machine's /etc)."""
from __future__ import annotations

import os
import subprocess
import time

import pytest
import yaml

from conftest import run_playbook
from loadclient import LoadClient

H = "app1"
P = "nr-"
# user -> in the engine socket's group (docker)?
USERS = {"dyops": False, "dydock": True}
SUDOERS = "/etc/sudoers.d/dockyard-lab-nonroot"


def _drop_users():
    """Remove the users, once their processes (the SSH sessions of the controller's masters)
    are gone: userdel refuses a user a process still runs as."""
    if os.path.exists(SUDOERS):
        os.unlink(SUDOERS)
    for user in USERS:
        for dummy in range(50):
            if subprocess.run(["id", user], check=False, capture_output=True).returncode != 0:
                break
            subprocess.run(["pkill", "-KILL", "-u", user], check=False, capture_output=True)
            subprocess.run(["userdel", "-r", user], check=False, capture_output=True)
            time.sleep(0.1)
        else:
            raise AssertionError("user %s could not be removed" % user)


@pytest.fixture(scope="module")
def users(lab):
    lab.load_image(H, "dockyard/demo:v1")
    lab.clean(H, P)
    _drop_users()
    for user, docker in USERS.items():
        subprocess.run(["useradd", "-m", "-s", "/bin/sh"] + (["-G", "docker"] if docker else [])
                       + [user], check=True)
        # no password, not locked: sshd (UsePAM no) lets a locked account in by no key
        subprocess.run(["usermod", "-p", "*", user], check=True)
    with open(SUDOERS, "w") as f:
        f.write("".join("%s ALL=(ALL) NOPASSWD: ALL\n" % u for u in USERS))
    os.chmod(SUDOERS, 0o440)
    yield
    lab.clean(H, P)
    _drop_users()


def book(user, tasks):
    return yaml.safe_dump([{"hosts": H, "gather_facts": False, "become": True,
                            "vars": {"ansible_user": user}, "tasks": tasks}])


@pytest.mark.parametrize("user", list(USERS))
def test_engine_runs_as_a_non_root_ssh_user(lab, play, users, user):
    in_group = USERS[user]
    name = P + user
    svc = {"name": name, "image": "dockyard/demo:v1", "replicas": 2, "wait": "healthy",
           "port_base": 18701 if in_group else 18711}
    tasks = [{"name": "svc", "dockyard.fleet.service": svc},
             {"name": "info", "dockyard.fleet.container_info": {"name": name + "-1"}},
             {"name": "host", "dockyard.fleet.host_info": {}}]
    whoami = lab.ssh(H, "su -s /bin/sh -c 'id -un' %s" % user).stdout.strip()
    assert whoami == user
    first = play(book(user, tasks))
    assert first.rc == 0 and first.changed == 1, first.stdout[-4000:]
    engine = lab.docker(H)
    assert sorted(c.name for c in engine.containers.list(filters={"name": name})) == \
        [name + "-1", name + "-2"]
    again = play(book(user, tasks))
    assert again.rc == 0 and again.changed == 0, again.stdout[-4000:]
    for res in (first, again):
        for task in ("svc", "info", "host"):
            r = res.one(task=task)
            if in_group:
                assert (r["execution"], r["invocations"]) == ("controller", 0), (task, r)
            else:
                assert (r["execution"], r["invocations"]) == ("host", 1), (task, r)
                assert "does not answer over the forward" in r["execution_reason"], (task, r)
        assert res.one(task="info")["containers"][0]["id"] == engine.containers.get(name + "-1").id


APP = "nrweb"
VARS = {"deploy_app": APP, "deploy_port_base": 8481, "deploy_replicas": 2,
        "deploy_haproxy_backend": APP, "haproxy_backend_name": APP, "deploy_wait_timeout": 40,
        "ansible_user": "dyops", "ansible_become": True,
        # probed every 250 ms (as test_rollout's fleet): ready when it answers, not at the
        # image's first check 5 s after the start
        "deploy_healthcheck": {"start_interval": "250ms"}}


def test_site_and_a_roll_as_a_non_root_ssh_user(lab, users):
    """site.yml, then deploy.yml to v2 under load, as dyops with become on every host (the
    load balancer too): the runs the SSH user cannot make on the controller go to the
    hosts, the load balancers' runtime API included (the per-step cycle: its socket is
    root's); nothing dropped; the same deploy again changes nothing."""
    for host in lab.app_hosts:
        lab.clean(host, APP + "-")
    try:
        res = run_playbook(lab, "playbooks/site.yml", extra_vars=dict(VARS, deploy_version="v1"))
        assert res.rc == 0, res.stdout[-4000:]
        client = LoadClient("http://%s/" % list(lab.lb.values())[0], max_seconds=240,
                            concurrency=2).start()
        res = run_playbook(lab, "playbooks/deploy.yml", extra_vars=dict(VARS, deploy_version="v2"))
        stats = client.stop()
        assert res.rc == 0, res.stdout[-4000:]
        assert stats.failed == 0, stats.summary()
        ran = [(r["host"], r["action"].rsplit(".", 1)[-1]) for r in res.records
               if r["status"] != "skipped"]
        svc = [r["result"] for r in res.records if r["action"].endswith(".service")
               and r["status"] != "skipped"]
        assert svc and {r["execution"] for r in svc} == {"host"}, svc
        assert [a for a in ran if a[1] == "haproxy_server"], ran   # the per-step cycle
        for host in lab.app_hosts:
            reps = lab.app_replicas(host, APP)
            assert sorted((n, v, s) for n, v, s in reps) == \
                [(APP + "-1", "v2", "running"), (APP + "-2", "v2", "running")], (host, reps)
        again = run_playbook(lab, "playbooks/deploy.yml", extra_vars=dict(VARS, deploy_version="v2"))
        assert again.rc == 0 and again.changed == 0, again.stdout[-4000:]
    finally:
        for host in lab.app_hosts:
            lab.clean(host, APP + "-")
