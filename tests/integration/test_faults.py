"""Faults under load through HAProxy: a truncated image archive, HAProxy killed on the load
balancer, an app host's link cut and healed in the middle of a deploy. The load client counts
failed requests; the figures go to tests/output/faults_summary.json (docs/reliability.md).
The tests build on one fleet (app `flt`, 2 replicas per host behind lb1), in file order.
"""
from __future__ import annotations

import json
import os
import time

import pytest

from conftest import LAB_ID, REPO, run_playbook, start_playbook
from loadclient import LoadClient

APP = "flt"
VARS = {"deploy_app": APP, "deploy_port_base": 8281, "deploy_replicas": 2,
        "deploy_haproxy_backend": APP, "haproxy_backend_name": APP, "deploy_wait_timeout": 60}
SUMMARY = os.path.join(REPO, "tests", "output", "faults_summary.json")
FIGURES: dict = {}


def _save(name, **figures):
    FIGURES[name] = figures
    os.makedirs(os.path.dirname(SUMMARY), exist_ok=True)
    with open(SUMMARY, "w") as f:
        json.dump(FIGURES, f, indent=1, sort_keys=True)


def url(lab):
    return "http://%s/" % list(lab.lb.values())[0]


def versions(lab):
    out = {}
    for host in lab.app_hosts:
        cs = lab.docker(host).containers.list(all=True, filters={"label": "dockyard.app=" + APP})
        out[host] = sorted((c.name, c.labels.get("dockyard.version"), c.status) for c in cs)
    return out


def all_on(lab, version):
    return all(reps and all(v == version and s == "running" for _n, v, s in reps)
               for reps in versions(lab).values())


@pytest.fixture(scope="module")
def fleet(lab):
    for host in lab.app_hosts:
        lab.clean(host, APP + "-")
    res = run_playbook(lab, "playbooks/site.yml", extra_vars=dict(VARS, deploy_version="v1"),
                       timeout=1800)
    assert res.rc == 0, res.stdout[-4000:]
    assert all_on(lab, "v1"), versions(lab)
    yield
    for host in lab.app_hosts:
        lab.clean(host, APP + "-")


def test_truncated_archive_fails_before_touching_the_hosts(lab, fleet, tmp_path):
    with open(lab.images["dockyard/demo:v2"]["archive"], "rb") as f:
        data = f.read()
    bad = tmp_path / "demo-v2.tar"
    bad.write_bytes(data[:len(data) // 2])
    before = {h: lab.snapshot(h) for h in lab.app_hosts}
    client = LoadClient(url(lab), max_seconds=600, concurrency=2).start()
    res = run_playbook(lab, "playbooks/deploy.yml", timeout=1800,
                       extra_vars=dict(VARS, deploy_version="v2", deploy_image_archive=str(bad)))
    stats = client.stop()
    _save("truncated_archive", requests=stats.total, failed=stats.failed, rc=res.rc)
    assert res.rc != 0
    failed = [r for r in res.records if r["status"] == "failed"]
    assert failed and failed[0]["action"].endswith("image"), res.stdout[-3000:]
    msg = failed[0]["result"].get("msg", "")
    assert "load_path" in msg or "archive" in msg, msg
    for host in lab.app_hosts:
        assert lab.snapshot(host) == before[host], host
    assert stats.failed == 0, stats.summary()
    assert all_on(lab, "v1"), versions(lab)


def test_haproxy_killed_then_role_rerun_starts_it(lab, fleet):
    lb = list(lab.lb)[0]
    master = lab.ssh(lb, "cat /run/haproxy.pid").stdout.strip().splitlines()[0]
    workers = lab.ssh(lb, "pgrep -P %s" % master, check=False).stdout.split()
    lab.ssh(lb, "kill -9 %s" % " ".join([master] + workers))
    down = LoadClient(url(lab), max_requests=20, max_seconds=20, timeout=2).run()
    assert down.failed == down.total > 0, down.summary()
    res = run_playbook(lab, "playbooks/site.yml", extra_vars=dict(VARS, deploy_version="v1"),
                       timeout=1800)
    assert res.rc == 0, res.stdout[-4000:]
    new_master = lab.ssh(lb, "cat /run/haproxy.pid").stdout.strip().splitlines()[0]
    assert new_master != master
    assert lab.ssh(lb, "kill -0 %s" % new_master, check=False).returncode == 0
    # it may take a couple of health checks before every server is UP again
    after = None
    for dummy in range(30):
        after = LoadClient(url(lab), max_requests=40, max_seconds=20).run()
        if after.failed == 0:
            break
        time.sleep(1)
    _save("haproxy_killed", requests_while_down=down.total, failed_while_down=down.failed,
          requests_after_rerun=after.total, failed_after_rerun=after.failed,
          site_changed=res.changed)
    assert after.failed == 0, after.summary()
    assert res.changed >= 1


def test_link_cut_and_healed_mid_deploy(lab, fleet):
    victim = lab.app_hosts[1]
    lock = "/var/lib/dockyard-lab/%d/%s/fs/run/dockyard/locks/%s.lock" % (LAB_ID, victim, APP)
    client = LoadClient(url(lab), max_seconds=900, concurrency=2).start()
    extra = dict(VARS, deploy_version="v2", rolling_restart_serial="100%",
                 rolling_restart_max_fail_percentage=50)
    play = start_playbook(lab, "playbooks/deploy.yml", extra_vars=extra)
    deadline = time.time() + 600
    while not os.path.isdir(lock) and time.time() < deadline and play.poll() is None:
        time.sleep(0.1)
    assert os.path.isdir(lock), "the deploy never reached %s" % victim
    lab.tool("cut", victim)
    time.sleep(5)
    lab.tool("heal", victim)
    out = play.communicate(timeout=1800)[0]
    during = client.stop()
    first_rc = play.returncode
    rerun = run_playbook(lab, "playbooks/deploy.yml", timeout=1800,
                         extra_vars=dict(extra, deploy_lock_break=True))
    _save("link_cut_mid_deploy", requests=during.total, failed=during.failed,
          first_run_rc=first_rc, rerun_rc=rerun.rc, errors=during.errors[:5])
    assert rerun.rc == 0, (out[-2000:], rerun.stdout[-3000:])
    assert all_on(lab, "v2"), versions(lab)
    after = LoadClient(url(lab), max_requests=60, max_seconds=30).run()
    assert after.failed == 0, after.summary()
    assert set(after.versions) == {"v2"}, after.summary()
