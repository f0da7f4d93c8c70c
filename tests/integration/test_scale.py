"""Changing deploy_replicas with every playbook, behind a real HAProxy, under load.

One fleet (app `scl`, 3 replicas per host on ports 8681-8683, behind lb1), tests in file
order: a scale up (4) with deploy.yml is refused before any change (the load balancers'
backend, which site.yml writes, has no server for the new replica), and so is another
deploy_port_base; a scale down (2) with site.yml under load; a scale up (3) with site.yml
serves every replica through HAProxy; a scale down (2) with deploy.yml under load. The scale
downs drop no request and send none to a replica on its way out: HAProxy's connection-error,
response-error, retry and redispatch counters of the backend stay as they were (a GET that
reaches a replica being removed is retried on another one, which the client would not see;
these counters do). Every action twice: the second run changes nothing (a refusal refuses
again).
"""
from __future__ import annotations

import pytest

from ansible_collections.dockyard.fleet.plugins.module_utils._haproxy import (
    RuntimeClient, parse_show_stat)
from conftest import LAB_ID, app_vars, run_playbook, site_fleet
from loadclient import LoadClient

APP = "scl"
BASE = 8681
VARS = app_vars(APP, BASE, deploy_wait_timeout=40, deploy_healthcheck={"start_interval": "250ms"})
# counters of the backend that grow when HAProxy sends a request to a replica that is gone
# (connection errors, response errors, retries, redispatches)
ERRORS = ("econ", "eresp", "wretr", "wredis")


def replicas(lab, hosts=None) -> dict:
    return {h: lab.app_replicas(h, APP) for h in hosts or lab.app_hosts}


def on_version(lab, version, count=2) -> bool:
    want = [("%s-%d" % (APP, i), version, "running") for i in range(1, count + 1)]
    return all(reps == want for reps in replicas(lab).values())


def lb_cli(lab, cmd) -> str:
    path = "/var/lib/dockyard-lab/%d/%s/fs/run/haproxy/admin.sock" % (LAB_ID, list(lab.lb)[0])
    return RuntimeClient(path).command(cmd)


def lb_rows(lab) -> dict:
    """{server name or BACKEND: show stat row} of the app's backend on lb1, straight from its
    runtime API socket."""
    return {r["svname"]: r for r in parse_show_stat(lb_cli(lab, "show stat %s 6 -1" % APP))}


def lb_errors(lab) -> tuple:
    """(HAProxy worker pid, {counter: value}) of the backend's error counters."""
    pid = [ln.split(":", 1)[1].strip() for ln in lb_cli(lab, "show info").splitlines()
           if ln.startswith("Pid:")][0]
    row = lb_rows(lab)["BACKEND"]
    return pid, {k: int(row.get(k) or 0) for k in ERRORS}


def servers(lab) -> dict:
    return {k: (v["status"], v["addr"]) for k, v in lb_rows(lab).items() if k != "BACKEND"}


def lock_left(lab, host) -> bool:
    return lab.ssh(host, "test -e /run/dockyard/locks/%s.lock" % APP, check=False).returncode == 0


def audit(lab, host) -> str:
    return lab.ssh(host, "cat /var/log/dockyard/deploy.log 2>/dev/null || true").stdout


def load(lab, seconds=120):
    """Steady load through lb1 (about 150 requests a second at most: enough to meet a replica
    on its way out, light enough to leave the 2-core machine to the run)."""
    return LoadClient("http://%s/" % list(lab.lb.values())[0], max_seconds=seconds,
                      concurrency=2, interval=0.01).start()


@pytest.fixture(scope="module")
def fleet(lab):
    yield from site_fleet(lab, dict(VARS, deploy_replicas=3), lambda lab_, v: on_version(lab_, v, 3))


def scaled(lab, playbook, count, *, under_load=False, version="v1"):
    """playbook with deploy_replicas=count, twice (the second run changes nothing); under
    load through lb1 for the first run when asked: (first run, load stats or None, HAProxy's
    error counters of the backend grown during the first run)."""
    before = lb_errors(lab)
    client = load(lab) if under_load else None
    res = run_playbook(lab, playbook, extra_vars=dict(VARS, deploy_version=version, deploy_replicas=count))
    stats = client.stop() if client else None
    assert res.rc == 0, res.stdout[-4000:]
    after = lb_errors(lab)
    base = before[1] if before[0] == after[0] else dict.fromkeys(ERRORS, 0)   # reloaded: new counters
    grown = {k: after[1][k] - base[k] for k in ERRORS if after[1][k] != base[k]}
    assert on_version(lab, version, count), replicas(lab)
    again = run_playbook(lab, playbook, extra_vars=dict(VARS, deploy_version=version, deploy_replicas=count))
    assert again.rc == 0 and again.changed == 0, again.stdout[-3000:]
    return res, stats, grown


def test_scale_up_with_deploy_yml_is_refused_before_any_change(lab, fleet):
    """deploy.yml -e deploy_replicas=4 with a roll to v2 (twice), or another deploy_port_base:
    refused on every host before the image, the lock or any container, naming the variable,
    the missing servers (or where they point), the load balancer, the backend and site.yml.
    A backend the load balancer does not have is refused there too. No lock left, no audit
    line, the engines as they were."""
    snaps = {h: lab.snapshot(h) for h in lab.app_hosts}
    audits = {h: audit(lab, h) for h in lab.app_hosts}
    for extra in ({"deploy_replicas": 4, "deploy_version": "v2"}, {"deploy_replicas": 4, "deploy_version": "v2"},
                  {"deploy_replicas": 3, "deploy_port_base": BASE + 10},
                  {"deploy_replicas": 3, "deploy_haproxy_backend": "nosuch"}):
        res = run_playbook(lab, "playbooks/deploy.yml", extra_vars=dict(VARS, **dict({"deploy_version": "v1"}, **extra)))
        assert res.rc != 0, res.stdout[-3000:]
        out = res.stdout
        for host in lab.app_hosts:
            assert "fatal: [%s]" % host in out, out[-3000:]
            if extra["deploy_replicas"] == 4:
                assert "deploy_replicas is 4, but backend %s on the load balancer lb1 has no server %s-4;" % (APP, host) in out, \
                    out[-3000:]
            elif "deploy_haproxy_backend" in extra:
                assert "backend nosuch (deploy_haproxy_backend) on the load balancer lb1 could not be read" in out, out[-3000:]
            else:
                assert "deploy_port_base is %d, but backend %s on the load balancer lb1 has %s-1 at port %d (not %d), " \
                       "%s-2 at port %d" % (BASE + 10, APP, host, BASE, BASE + 10, host, BASE + 1) in out, out[-3000:]
        assert "Nothing was changed" in out, out[-3000:]
        if "deploy_haproxy_backend" not in extra:
            assert "scale up or move the ports with playbooks/site.yml" in out, out[-3000:]
        # nothing ran after the check: no image step, no lock, no service run, no rescue
        ran = [r for r in res.records if r["status"] != "skipped"
               and r["action"].rsplit(".", 1)[-1] in ("image", "service", "release", "haproxy_server", "fail")]
        assert [r["action"].rsplit(".", 1)[-1] for r in ran] == ["fail"] * len(lab.app_hosts), ran
        assert res.changed == 0, out[-3000:]
        for host in lab.app_hosts:
            assert not lock_left(lab, host)
            assert audit(lab, host) == audits[host]
            assert lab.snapshot(host) == snaps[host]
    assert on_version(lab, "v1", 3)


def test_scale_down_with_site_yml_under_load_drops_nothing(lab, fleet):
    """3 -> 2: the HAProxy play's reload drops the third servers before the deploy play
    removes their replicas (nothing to take out of service there)."""
    res, stats, grown = scaled(lab, "playbooks/site.yml", 2, under_load=True)
    assert stats.failed == 0 and stats.ok > 20, stats.summary()
    assert grown == {}, (grown, stats.summary())
    assert sorted(servers(lab)) == sorted("%s-%d" % (h, i) for h in lab.app_hosts for i in (1, 2))
    for host in lab.app_hosts:
        assert "to=v1 result=ok detail=2_replicas" in audit(lab, host).splitlines()[-1]
    assert not [r for r in res.records if "replicas to remove out of service" in r["task"] and r["status"] != "skipped"]


def test_scale_up_with_site_yml_serves_every_replica_through_haproxy(lab, fleet):
    scaled(lab, "playbooks/site.yml", 3)
    st = servers(lab)
    for host, addr in lab.app.items():
        for i in (1, 2, 3):
            assert st["%s-%d" % (host, i)] == ("UP", "%s:%d" % (addr, BASE + i - 1)), st
    stats = LoadClient("http://%s/" % list(lab.lb.values())[0], max_requests=60, max_seconds=30).run()
    assert stats.failed == 0 and set(stats.versions) == {"v1"}, stats.summary()


def test_scale_down_with_deploy_yml_under_load_drops_nothing(lab, fleet):
    """3 -> 2 with deploy.yml (the backend keeps the third servers: deploy.yml does not write
    HAProxy's configuration): they are put in maintenance on the load balancer and their
    sessions awaited before their replicas go, and stay there in maintenance."""
    res, stats, grown = scaled(lab, "playbooks/deploy.yml", 2, under_load=True)
    assert stats.failed == 0 and stats.ok > 20, stats.summary()
    assert grown == {}, (grown, stats.summary())
    st = servers(lab)
    for host in lab.app_hosts:
        assert st["%s-3" % host][0] == "MAINT", st
        assert st["%s-1" % host][0] == st["%s-2" % host][0] == "UP", st
        assert "to=v1 result=ok detail=2_replicas" in audit(lab, host).splitlines()[-1]
    maint = [r["host"] for r in res.records if r["action"].endswith("haproxy_server") and r["status"] == "ok"
             and "replicas to remove out of service" in r["task"]]
    assert sorted(maint) == sorted(lab.app_hosts), res.stdout[-3000:]
