"""Deploy, rolling restart and rollback across the lab's app hosts behind a real HAProxy,
under a bounded load through the load balancer, asserting on what the engines run and on
what the clients saw. The tests build on each other, in file order (one fleet).
"""
from __future__ import annotations

import json
import os
import secrets
import time

import pytest

from conftest import run_playbook, start_playbook
from loadclient import LoadClient

APP = "web"
SECRET = "s3cr3t-" + secrets.token_hex(8)
VARS = {
    "deploy_app": APP,
    "deploy_port_base": 8181,
    "deploy_replicas": 2,
    "deploy_haproxy_backend": APP,
    "haproxy_backend_name": APP,
    "deploy_env": {"GREETING": "hello"},
    "deploy_secret_env": {"DEMO_SECRET": SECRET},
    "deploy_wait_timeout": 40,
    # Health probed every 250 ms from the replica's start, by the module's wait (these
    # engines keep no start_interval): a replica is ready as soon as it answers, not at the
    # image's first check 5 s after its start. Each test rolls dozens of replicas: this
    # takes minutes off CI, and rolls through the start_interval path. The image's checks
    # still decide unhealthy (the broken release).
    "deploy_healthcheck": {"start_interval": "250ms"},
}
# The collection's rollout callback next to the default stdout callback (it is a
# notification callback: it cannot be the stdout callback itself).
ROLLOUT_CALLBACK = {"ANSIBLE_CALLBACKS_ENABLED": "dockyard_record,dockyard.fleet.rollout"}


def fleet(lab, **extra):
    return dict(VARS, **extra)


def versions(lab, hosts=None) -> dict:
    """{host: {replica name: (version label, status)}} straight from every host's engine."""
    out = {}
    for host in hosts or lab.app_hosts:
        out[host] = {name: (version, state) for name, version, state in lab.app_replicas(host, APP)}
    return out


def started_at(lab, host, name) -> float:
    """A container's State.StartedAt as seconds (the engine trims trailing zeros of the
    nanoseconds, so the strings do not sort)."""
    stamp = lab.docker(host).api.inspect_container(name)["State"]["StartedAt"].rstrip("Z")
    whole, _dot, frac = stamp.partition(".")
    return time.mktime(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) + float("0." + (frac or "0"))


def all_on(lab, version) -> bool:
    for host, reps in versions(lab).items():
        assert sorted(reps) == ["%s-1" % APP, "%s-2" % APP], (host, reps)
        if any(v != (version, "running") for v in reps.values()):
            return False
    return True


def load(lab, seconds=240):
    return LoadClient("http://%s/" % list(lab.lb.values())[0], max_seconds=seconds,
                      concurrency=2).start()


@pytest.fixture(scope="module")
def fleet_v1(lab):
    for host in lab.app_hosts:
        lab.clean(host, APP + "-")
    res = run_playbook(lab, "playbooks/site.yml", extra_vars=fleet(lab, deploy_version="v1"),
                       verbosity=3)
    assert res.rc == 0, res.stdout[-4000:]
    yield res
    # not left running for the next files: each replica probes its health every 5 s
    for host in lab.app_hosts:
        lab.clean(host, APP + "-")


def _runs(res):
    return [(r["host"], r["action"].rsplit(".", 1)[-1]) for r in res.records
            if r["status"] != "skipped"]


def test_fresh_deploy_serves_v1_and_second_run_changes_nothing(lab, fleet_v1):
    assert all_on(lab, "v1"), versions(lab)
    stats = LoadClient("http://%s/" % list(lab.lb.values())[0], max_requests=60,
                       max_seconds=30).run()
    assert stats.failed == 0, stats.summary()
    assert set(stats.versions) == {"v1"}
    # a fresh host: the service run started the replicas, put them in service on the load
    # balancer through the forwarded runtime API, waited until UP and recorded the release
    # (which released the lock); the image was streamed through the forwarded engine socket
    # (no module run): no haproxy_server run for the app, no record run. This fleet has
    # secrets: the lock is a release run of its own, before their file is written (without
    # secrets the service run takes it: test_deploy_without_secrets_is_one_module_run_per_host)
    ran = _runs(fleet_v1)
    lb = list(lab.lb)[0]
    for host in lab.app_hosts:
        assert ran.count((host, "release")) == 1, ran
        assert ran.count((host, "service")) == 1, ran
        img = [r["result"] for r in fleet_v1.records
               if r["host"] == host and r["action"].endswith("image") and r["status"] != "skipped"]
        assert img and img[0]["ship"] == "stream" and img[0]["invocations"] == 0, img
        svc = [r["result"] for r in fleet_v1.records
               if r["host"] == host and r["action"].endswith("service") and r["status"] == "ok"]
        assert "lock" not in svc[0], svc[0]
        # the secret env file is read on the host: the module's run
        assert svc[0]["execution"] == "host" and "env_file" in svc[0]["execution_reason"], svc[0]
        assert svc[0]["ready"]["servers"] == ["%s-1" % host, "%s-2" % host], svc[0]
        assert svc[0]["record"]["current"]["version"] == "v1", svc[0]["record"]
        assert svc[0]["record"]["lock"] == "released", svc[0]["record"]
        audit = lab.ssh(host, "tail -n 1 /var/log/dockyard/deploy.log").stdout
        assert "to=v1 result=ok" in audit, audit
    assert not [r for r in fleet_v1.records if r["action"].endswith("haproxy_server")
                and r["status"] != "skipped"], ran
    again = run_playbook(lab, "playbooks/site.yml", extra_vars=fleet(lab, deploy_version="v1"))
    assert again.rc == 0, again.stdout[-3000:]
    assert again.changed == 0, again.stdout[-3000:]
    # a no-op deploy: the same runs per app host (the lock, a service run that only reads
    # the load balancer, records nothing new and releases the lock), none on the load
    # balancer for the app
    ran = _runs(again)
    for host in lab.app_hosts:
        assert ran.count((host, "release")) == 1 and ran.count((host, "service")) == 1, ran
        svc = [r["result"] for r in again.records
               if r["host"] == host and r["action"].endswith("service") and r["status"] == "ok"]
        assert svc[0]["ready"]["commands"] == [] and svc[0]["record"]["changed"] is False
        assert lab.ssh(host, "test -e /run/dockyard/locks/%s.lock" % APP,
                       check=False).returncode != 0
    assert not [r for r in again.records if r["action"].endswith("haproxy_server")
                and r["status"] != "skipped"], ran
    assert not [h for h, a in ran if h == lb and a == "haproxy_server"]


def test_secrets_reach_the_app_but_no_output_or_log(lab, fleet_v1):
    # -vvv output of the whole site run (module args, results, diffs of every task)
    assert SECRET not in fleet_v1.stdout and SECRET not in fleet_v1.stderr
    for host in lab.app_hosts:
        env = lab.docker(host).api.inspect_container(APP + "-1")["Config"]["Env"]
        assert "DEMO_SECRET=" + SECRET in env
        audit = lab.ssh(host, "cat /var/log/dockyard/deploy.log").stdout
        assert "app=web" in audit and SECRET not in audit
        mode = lab.ssh(host, "stat -c %a /etc/dockyard/web.env").stdout.strip()
        assert mode == "600"


def test_rotated_secret_with_the_rollout_callback_at_vvv_shows_nowhere(lab, fleet_v1):
    """A new secret value rolled out replica by replica (the env changes: every replica is
    recreated, the service module compares the old and the new env) with the collection's
    rollout callback enabled, at -vvv: neither value in any line of the output. The rollout
    callback writes no file; the results every callback is handed (the test callback's
    record file) hold neither value either."""
    new = "s3cr3t-" + secrets.token_hex(8)
    res = run_playbook(lab, "playbooks/deploy.yml", verbosity=3, env=ROLLOUT_CALLBACK,
                       extra_vars=fleet(lab, deploy_version="v1",
                                        deploy_secret_env={"DEMO_SECRET": new}))
    assert res.rc == 0, res.stdout[-4000:]
    out = res.stdout + res.stderr
    # the callback was on and followed the rollout
    for host in lab.app_hosts:
        for i in (1, 2):
            assert "rollout: replica %s-%d -> dockyard/demo:v1 (done " % (host, i) in out, \
                out[-3000:]
    assert "rollout: summary" in out and "recreated" in out
    assert [ln for ln in out.splitlines() if new in ln or SECRET in ln] == []
    assert res.records and [r for r in res.records
                            if new in json.dumps(r) or SECRET in json.dumps(r)] == []
    for host in lab.app_hosts:
        for i in (1, 2):
            env = lab.docker(host).api.inspect_container("%s-%d" % (APP, i))["Config"]["Env"]
            assert "DEMO_SECRET=" + new in env
        st = lab.ssh(host, "stat -c '%n %a %U:%G' /etc/dockyard /etc/dockyard/web.env").stdout
        assert st.splitlines() == ["/etc/dockyard 700 root:root",
                                   "/etc/dockyard/web.env 600 root:root"], st
        assert lab.ssh(host, "cat /etc/dockyard/web.env").stdout == "DEMO_SECRET=%s\n" % new


def test_check_mode_deploy_of_v2_predicts_and_changes_nothing(lab, fleet_v1):
    """--check of a deploy to a version the hosts do not have yet: the image would be shipped
    and every replica rolled (the roll run predicts without the image, contacting no load
    balancer); nothing changes on any host, no lock is left."""
    before = versions(lab)
    res = run_playbook(lab, "playbooks/deploy.yml", extra_vars=fleet(lab, deploy_version="v2"),
                       check=True)
    assert res.rc == 0, res.stdout[-4000:]
    rolled = [r for r in res.records if r["action"].endswith("service") and r["status"] == "ok"
              and r["result"].get("changed")]
    assert sorted(r["host"] for r in rolled) == sorted(lab.app_hosts), res.stdout[-3000:]
    for r in rolled:
        assert {x["action"] for x in r["result"]["replicas"]} == {"recreated"}, r["result"]
    assert versions(lab) == before
    for host in lab.app_hosts:
        assert lab.ssh(host, "test -e /run/dockyard/locks/%s.lock" % APP, check=False).returncode != 0
    # the roll run would record v2 (it is every host's last step) and wrote nothing
    for r in rolled:
        assert r["result"]["record"]["current"]["version"] == "v2", r["result"]
        assert r["result"]["record"]["lock"] == "none" and "audit_line" not in r["result"]["record"]
    for host in lab.app_hosts:
        rec = json.loads(lab.ssh(host, "cat /var/lib/dockyard/releases/%s.json" % APP).stdout)
        assert rec["current"]["version"] == "v1", rec


def test_roll_v1_to_v2_under_load_drops_nothing(lab, fleet_v1):
    client = load(lab)
    res = run_playbook(lab, "playbooks/deploy.yml", extra_vars=fleet(lab, deploy_version="v2"))
    stats = client.stop()
    assert res.rc == 0, res.stdout[-4000:]
    assert stats.failed == 0, stats.summary()
    assert stats.ok > 50 and set(stats.versions) == {"v1", "v2"}, stats.summary()
    assert all_on(lab, "v2"), versions(lab)
    # every replica rolled: the roll run was each host's last step and recorded the release
    # (no separate release run after it)
    ran = [(r["host"], r["action"].rsplit(".", 1)[-1]) for r in res.records
           if r["status"] != "skipped"]
    for r in res.records:
        if r["action"].endswith("service") and r["result"].get("roll"):
            assert r["result"]["record"]["lock"] == "released", r["result"]
            assert r["result"]["record"]["current"]["version"] == "v2", r["result"]
    # the roll run recorded and released the lock (no release run after it; the one
    # release run is the lock: this fleet has secrets)
    for host in lab.app_hosts:
        assert ran.count((host, "release")) == 1, ran
    again = run_playbook(lab, "playbooks/deploy.yml", extra_vars=fleet(lab, deploy_version="v2"))
    assert again.rc == 0 and again.changed == 0, again.stdout[-3000:]
    for host in lab.app_hosts:
        audit = lab.ssh(host, "tail -n 2 /var/log/dockyard/deploy.log").stdout.splitlines()
        assert "from=v1 to=v2 result=ok" in audit[-1], audit   # one line: the no-op wrote none
        assert "to=v2" not in audit[0], audit
        rec = json.loads(lab.ssh(host, "cat /var/lib/dockyard/releases/%s.json" % APP).stdout)
        assert rec["current"]["version"] == "v2" and rec["previous"][0]["version"] == "v1", rec
        assert lab.ssh(host, "test -e /run/dockyard/locks/%s.lock" % APP,
                       check=False).returncode != 0


def test_rolling_restart_in_place_keeps_the_release_each_host_runs(lab, fleet_v1):
    """playbooks/rolling_restart.yml without a version: every replica is drained, restarted
    and put back, on the release its host recorded (v2 here; deploy_version's default is v1),
    no image step and no plan (one service run per replica), nothing dropped; then all at once."""
    started = {(h, c.name): c.attrs["State"]["StartedAt"] for h in lab.app_hosts
               for c in lab.docker(h).containers.list(filters={"label": "dockyard.app=" + APP})}
    assert len(started) == 2 * len(lab.app_hosts) and all_on(lab, "v2"), versions(lab)
    # a third replica of the service on the first host (left by hand: deploy_replicas is 2):
    # the roll leaves it as it is and says so
    host1 = lab.app_hosts[0]
    api1 = lab.docker(host1).api
    labels = {k: v for k, v in api1.inspect_container(APP + "-1")["Config"]["Labels"].items()
              if k != "dockyard.app"}
    extra = api1.create_container("dockyard/demo:v2", name=APP + "-3",
                                  labels=dict(labels, **{"dockyard.replica": "3"}))["Id"]
    client = load(lab)
    res = run_playbook(lab, "playbooks/rolling_restart.yml", extra_vars=fleet(lab))
    stats = client.stop()
    assert res.rc == 0, res.stdout[-4000:]
    warned = [w for r in res.records if r["host"] == host1 for w in r["result"].get("warnings") or []]
    assert any("replicas above replicas=2 left as they are" in w and APP + "-3" in w
               for w in warned), warned
    assert api1.inspect_container(APP + "-3")["Id"] == extra
    assert stats.failed == 0, stats.summary()
    assert set(stats.versions) == {"v2"}, stats.summary()
    assert all_on(lab, "v2"), versions(lab)
    for (host, name), before in started.items():
        after = lab.docker(host).api.inspect_container(name)["State"]["StartedAt"]
        assert after > before, (host, name, before, after)
        audit = lab.ssh(host, "tail -n 1 /var/log/dockyard/deploy.log").stdout
        assert "from=v2 to=v2 result=ok" in audit, audit
    ran = [(r["host"], r["action"].rsplit(".", 1)[-1]) for r in res.records
           if r["status"] != "skipped"]
    assert not [a for a in ran if a[1] == "image"], ran
    # one batch of every host (rolling_restart_serial unset, every host one-run): every host's
    # lock was taken before the first roll, and the rolls took turns in inventory order
    first_roll = ran.index((lab.app_hosts[0], "service"))
    assert ran[:first_roll].count(("%s" % lab.app_hosts[-1], "release")) == 1, ran
    assert [h for h, a in ran if a == "service"] == list(lab.app_hosts), ran
    # the roll run recorded the restart (audit line above) and released the lock: 2 module
    # runs per host in all (lock, roll)
    for host in lab.app_hosts:
        assert ran.count((host, "release")) == 1, ran
    # every roll run started at once and waited on its host for its turn (roll.gate), and
    # the turns did not overlap: every replica of a host was restarted after every replica
    # of the host before it. (Not the waits' lengths: with replicas ready in 0.5 s a roll
    # takes about as long as the skew between the runs' starts on a loaded machine.)
    waited = {r["host"]: r["result"]["roll"]["waited"] for r in res.records
              if r["action"].endswith("service") and r["result"].get("roll")}
    assert sorted(waited) == sorted(lab.app_hosts), waited
    restarted = {h: sorted(started_at(lab, h, n) for (hh, n) in started if hh == h)
                 for h in lab.app_hosts}
    for prev, nxt in zip(lab.app_hosts, lab.app_hosts[1:]):
        assert restarted[nxt][0] > restarted[prev][-1], (restarted, waited)
    # no plan run either, and deploy_roll_mode auto (ssh): one service run per host rolls both
    # replicas, reaching HAProxy through the forwarded runtime API: no haproxy_server run
    for host in lab.app_hosts:
        assert ran.count((host, "service")) == 1, ran
        assert ran.count((host, "haproxy_server")) == 0, ran
    # the load balancer's runtime API forwarded to the controller once for the batch
    # (run_once), not once per host
    assert [a for a in ran if a[1] == "socket_forward"] == [(lab.app_hosts[0], "socket_forward")], ran
    # the runtime API reached the app host as a forwarded socket, removed after the run (the
    # lab hosts share /tmp with other labs, so no glob)
    socks = [(r["host"], f["host"]) for r in res.records
             if r["action"].endswith("service") and r["status"] == "ok"
             for f in r["result"]["forwarded"]]
    assert len(socks) == len(lab.app_hosts) and len(set(socks)) == len(socks), socks
    for host, sock in socks:
        assert sock.startswith("/tmp/.dockyard-fwd-"), socks
        assert lab.ssh(host, "test ! -e %s" % sock, check=False).returncode == 0, socks

    # deploy_strategy all_at_once (what a host without load balancers gets): every replica
    # restarted together, still on v2
    started = {(h, n): lab.docker(h).api.inspect_container(n)["State"]["StartedAt"]
               for (h, n) in started}
    res = run_playbook(lab, "playbooks/rolling_restart.yml",
                       extra_vars=fleet(lab, deploy_strategy="all_at_once"))
    assert res.rc == 0, res.stdout[-4000:]
    assert all_on(lab, "v2"), versions(lab)
    # a run without roll converges the count: the third replica is gone
    assert not api1.containers(all=True, filters={"name": "^/%s-3$" % APP})
    for (host, name), before in started.items():
        after = lab.docker(host).api.inspect_container(name)["State"]["StartedAt"]
        assert after > before, (host, name, before, after)


def test_rolling_restart_per_step_mode_drops_nothing(lab, fleet_v1):
    """deploy_roll_mode per_step (what a connection other than ssh gets): the same cycle with
    one service run per replica and haproxy_server runs from the load balancer."""
    started = {(h, c.name): c.attrs["State"]["StartedAt"] for h in lab.app_hosts
               for c in lab.docker(h).containers.list(filters={"label": "dockyard.app=" + APP})}
    client = load(lab)
    # deploy_wait running: the ready steps use haproxy_server's recheck (HAProxy's checks of
    # the new container are the gate)
    res = run_playbook(lab, "playbooks/rolling_restart.yml",
                       extra_vars=fleet(lab, deploy_roll_mode="per_step", deploy_wait="running"))
    stats = client.stop()
    assert res.rc == 0, res.stdout[-4000:]
    assert stats.failed == 0, stats.summary()
    assert all_on(lab, "v2"), versions(lab)
    for (host, name), before in started.items():
        after = lab.docker(host).api.inspect_container(name)["State"]["StartedAt"]
        assert after > before, (host, name, before, after)
    ran = [(r["host"], r["action"].rsplit(".", 1)[-1]) for r in res.records
           if r["status"] != "skipped"]
    for host in lab.app_hosts:
        assert ran.count((host, "service")) == 2, ran
        assert ran.count((host, "socket_forward")) == 0, ran
        assert ran.count((host, "haproxy_server")) >= 2, ran
    # each restarted replica readied with recheck: HAProxy judged it by fresh checks (its
    # health set down first; not needed where HAProxy had marked it DOWN already, its
    # checks of the stopped container having failed `fall` times: a slow replacement)
    sent, down_before = [], set()
    for r in res.records:
        if r["action"].endswith("haproxy_server") and r["status"] == "ok":
            for item in r["result"].get("results") or [r["result"]]:
                sent += item.get("commands") or []
                for name, view in (item.get("servers") or {}).items():
                    if ((view or {}).get("before") or {}).get("status") == "DOWN":
                        down_before.add(name)
    for host in lab.app_hosts:
        for i in (1, 2):
            assert ("set server %s/%s-%d health down" % (APP, host, i) in sent
                    or "%s-%d" % (host, i) in down_before), (sent, down_before)


def test_roll_in_turn_off_from_the_command_line_rolls_one_host_per_batch(lab, fleet_v1, tmp_path):
    """-e deploy_roll_in_turn=false (the role's name for it, not rolling_restart_in_turn):
    the shipped playbook then makes batches of one host (serial 1), never one batch whose
    hosts would all roll at once. Nothing dropped. Then a ramp of batches, [1, "100%"], from
    the inventory."""
    before = versions(lab)
    client = load(lab)
    res = run_playbook(lab, "playbooks/rolling_restart.yml",
                       extra_vars=fleet(lab, deploy_roll_in_turn=False))
    stats = client.stop()
    assert res.rc == 0, res.stdout[-4000:]
    assert stats.failed == 0, stats.summary()
    assert versions(lab) == before
    ran = [(r["host"], r["action"].rsplit(".", 1)[-1]) for r in res.records
           if r["status"] != "skipped" and r["action"].rsplit(".", 1)[-1] in ("release", "service")]
    # a host's lock and roll, then the next host's: one host per batch
    assert ran == [(h, a) for h in lab.app_hosts for a in ("release", "service")], ran
    assert not [r for r in res.records if r["action"].endswith("service")
                and (r["result"].get("roll") or {}).get("waited")], "a roll waited for a turn"

    # a ramp from the inventory (group_vars of app, which the play keyword itself cannot
    # see) reaches the play keyword as a list: app1 alone, then the other two together
    extra = tmp_path / "batches.yml"
    extra.write_text(json.dumps({"app": {"vars": {"rolling_restart_serial": [1, "100%"]}}}))
    res = run_playbook(lab, "playbooks/rolling_restart.yml", extra_vars=fleet(lab),
                       env={"ANSIBLE_INVENTORY": "%s,%s" % (lab.inventory, extra)})
    assert res.rc == 0, res.stdout[-4000:]
    ran = [(r["host"], r["action"].rsplit(".", 1)[-1]) for r in res.records
           if r["status"] != "skipped" and r["action"].rsplit(".", 1)[-1] in ("release", "service")]
    first, rest = lab.app_hosts[0], lab.app_hosts[1:]
    assert ran[:2] == [(first, "release"), (first, "service")], ran
    assert sorted(ran[2:2 + len(rest)]) == [(h, "release") for h in rest], ran
    assert versions(lab) == before


def test_rollback_brings_back_v1_under_load(lab, fleet_v1):
    """Batches of 2 whose hosts take turns within each batch (deploy_roll_in_turn set by hand):
    every batch has its own turns (a host of batch 2 does not wait for batch 1's). The records
    kept in another deploy_state_dir (the rollback reads them there), and deploy_version given
    as an extra var (the fleet's current v2): the record's previous release decides."""
    moved = "/var/lib/dockyard/releases-rb"
    for host in lab.app_hosts:
        lab.ssh(host, "mkdir -p %s && mv /var/lib/dockyard/releases/%s.json %s/" % (moved, APP, moved))
    client = load(lab)
    try:
        res = run_playbook(lab, "playbooks/rollback.yml",
                           extra_vars=fleet(lab, rolling_restart_serial=2, deploy_roll_in_turn=True,
                                            deploy_version="v2", deploy_state_dir=moved))
    finally:
        stats = client.stop()
        for host in lab.app_hosts:
            lab.ssh(host, "mv %s/%s.json /var/lib/dockyard/releases/ && rmdir %s" % (moved, APP, moved),
                    check=False)
    assert res.rc == 0, res.stdout[-4000:]
    assert stats.failed == 0, stats.summary()
    assert all_on(lab, "v1"), versions(lab)
    rolled = [r["host"] for r in res.records
              if r["action"].endswith("service") and r["result"].get("roll")]
    assert rolled == list(lab.app_hosts), rolled


def test_rollback_as_it_comes_is_one_batch_whose_hosts_take_turns(lab, fleet_v1):
    """rollback.yml without batch settings, on the one-run cycle: one batch of every host
    (one batch id), the rolls one host after another, nothing dropped. v2 is deployed first,
    so that there is a release to go back from."""
    res = run_playbook(lab, "playbooks/deploy.yml", extra_vars=fleet(lab, deploy_version="v2"))
    assert res.rc == 0 and all_on(lab, "v2"), res.stdout[-4000:]
    client = load(lab)
    res = run_playbook(lab, "playbooks/rollback.yml", extra_vars=fleet(lab))
    stats = client.stop()
    assert res.rc == 0, res.stdout[-4000:]
    assert stats.failed == 0, stats.summary()
    assert all_on(lab, "v1"), versions(lab)
    batch_ids = {r["result"]["ansible_facts"]["deploy__batch_id"] for r in res.records
                 if "deploy__batch_id" in (r["result"].get("ansible_facts") or {})}
    assert len(batch_ids) == 1, batch_ids
    rolled = [r["host"] for r in res.records
              if r["action"].endswith("service") and r["result"].get("roll")]
    assert rolled == list(lab.app_hosts), rolled


def test_broken_release_stops_at_the_first_host_and_rolls_back(lab, fleet_v1):
    """One batch of every host whose rolls take turns (the playbook's default with the one-run
    cycle): the first host's broken replica gets v1 back, and the later hosts are halted
    at their turn - their roll run read and waited (roll.gate) but changed nothing, sent no
    command to a load balancer, their replicas untouched, audited not_started, their lock
    released.
    With deploy_wait running (no engine health gate): HAProxy's own checks of the new container
    stop it - right after the replacement HAProxy still says UP from its checks of the old one,
    which the roll must not take for the new container's."""
    started = {(h, c.name): c.attrs["State"]["StartedAt"] for h in lab.app_hosts
               for c in lab.docker(h).containers.list(filters={"label": "dockyard.app=" + APP})}
    client = load(lab)
    res = run_playbook(lab, "playbooks/deploy.yml", extra_vars=fleet(
        lab, deploy_version="broken", deploy_wait="running", deploy_haproxy_ready_timeout=10))
    stats = client.stop()
    assert res.rc != 0
    assert stats.failed == 0, stats.summary()
    assert set(stats.versions) == {"v1"}, stats.summary()
    first, later = lab.app_hosts[0], lab.app_hosts[1:]
    assert all(res.recap[h]["failed"] == 1 for h in lab.app_hosts), res.recap
    assert all_on(lab, "v1"), versions(lab)
    assert "failed on %s" % first in res.stdout and "Fleet now:" in res.stdout
    assert "runs dockyard/demo:v1 again" in res.stdout
    assert "option roll.ready_timeout" in res.stdout, res.stdout[-3000:]
    audit = lab.ssh(first, "tail -n 1 /var/log/dockyard/deploy.log").stdout
    assert "to=broken result=rolled_back" in audit
    rolls = [r for r in res.records if r["action"].endswith("service") and r["result"].get("roll")
             or r["result"].get("not_started")]
    halted = {r["host"]: r["result"] for r in res.records if r["result"].get("not_started")}
    assert sorted(halted) == sorted(later), rolls
    for host in later:
        assert halted[host]["halted_by"] == first and halted[host]["changed"] is False
        assert "roll" not in halted[host], halted[host]           # no runtime-API command
        # the gate socket and the load balancer's forwarded socket were removed on the host
        for f in halted[host].get("forwarded", []):
            assert lab.ssh(host, "test ! -e %s" % f["host"], check=False).returncode == 0
        assert "not rolled: the roll on %s failed" % first in res.stdout
        audit = lab.ssh(host, "tail -n 1 /var/log/dockyard/deploy.log").stdout
        assert "to=broken result=not_started" in audit, audit
        assert lab.ssh(host, "test -e /run/dockyard/locks/%s.lock" % APP, check=False).returncode != 0
    for (host, name), before in started.items():
        if host in later:
            assert lab.docker(host).api.inspect_container(name)["State"]["StartedAt"] == before


def test_a_broken_release_that_changes_the_configuration_gets_the_very_container_back(lab, fleet_v1):
    """A broken release that also changes the configuration (an env var the new image would
    need): its replica fails the engine's health check, and the rollback puts back the very
    container that ran before (same Id: v1 with v1's env), not v1 with the new env. Nothing is
    left set aside, the replica is in service on HAProxy, the other one untouched, and a
    deploy of v1 as it was changes nothing."""
    host = lab.app_hosts[0]
    api = lab.docker(host).api
    before = {n: api.inspect_container(n) for n in ("%s-1" % APP, "%s-2" % APP)}
    res = run_playbook(lab, "playbooks/deploy.yml", limit=host, extra_vars=fleet(
        lab, deploy_version="broken", deploy_env={"GREETING": "hello", "NEEDED_BY_BROKEN": "1"}))
    assert res.rc != 0
    assert "runs dockyard/demo:v1 again and is back in service" in res.stdout, res.stdout[-3000:]
    for name, info in before.items():
        now = api.inspect_container(name)
        assert now["Id"] == info["Id"], (name, now["Config"])
        assert now["Image"] == info["Image"] and now["Config"]["Env"] == info["Config"]["Env"]
        assert now["State"]["Running"] and not any("NEEDED_BY_BROKEN" in e for e in now["Config"]["Env"])
    names = [c["Names"][0] for c in api.containers(all=True, filters={"label": "dockyard.service=" + APP})]
    assert sorted(names) == ["/%s-1" % APP, "/%s-2" % APP], names
    lines = lab.ssh(list(lab.lb)[0], "echo 'show stat %s 4 -1' | socat stdio unix:/run/haproxy/admin.sock"
                    % APP).stdout.splitlines()
    rows = [dict(zip(lines[0][2:].split(","), ln.split(","))) for ln in lines[1:] if ln.strip()]
    status = {r["svname"]: r["status"] for r in rows}
    assert status["%s-1" % host] == "UP" and status["%s-2" % host] == "UP", status
    again = run_playbook(lab, "playbooks/deploy.yml", limit=host, extra_vars=fleet(lab, deploy_version="v1"))
    assert again.rc == 0 and again.changed == 0, again.stdout[-3000:]


def test_concurrent_deploys_of_one_app_cannot_interleave(lab, fleet_v1):
    host = lab.app_hosts[0]
    lock = "/var/lib/dockyard-lab/%s/%s/fs/run/dockyard/locks/%s.lock" % (
        os.environ.get("DOCKYARD_LAB_ID", "0"), host, APP)
    first = start_playbook(lab, "playbooks/deploy.yml", limit=host,
                           extra_vars=fleet(lab, deploy_version="v2"))
    deadline = time.time() + 60
    while not os.path.isdir(lock) and time.time() < deadline and first.poll() is None:
        time.sleep(0.1)
    assert os.path.isdir(lock), "first deploy never took the lock"
    second = run_playbook(lab, "playbooks/deploy.yml", limit=host,
                          extra_vars=fleet(lab, deploy_version="v2"))
    out = first.communicate(timeout=300)[0]
    assert first.returncode == 0, out[-3000:]
    assert second.rc != 0
    assert "holds the lock" in second.stdout and "lock_timeout" in second.stdout
    assert not os.path.isdir(lock), "lock left behind"
    assert {rep[0] for rep in versions(lab)[host].values()} == {"v2"}


LOCK_PLAY = """
- hosts: %s
  gather_facts: false
  tasks:
    - dockyard.fleet.release: {app: %s, state: %s, token: another-deploy, owner: someone-else}
"""


def test_older_images_go_under_the_lock_once_the_release_is_recorded(lab, fleet_v1):
    """deploy_keep_images 1: a deploy that finds the lock held by another deploy (its image
    step runs before the lock) removes no image (the other deploy may still roll back to one
    of them); once the lock is free the deploy rolls, removes the repository's other images
    that no container uses and records the release; a rerun changes nothing."""
    host = lab.app_hosts[0]
    api = lab.docker(host).api
    tags = ("dockyard/demo:v1", "dockyard/demo:v2", "dockyard/demo:broken")

    def demo_tags():
        return sorted(t for i in api.images(name="dockyard/demo") for t in i.get("RepoTags") or [])

    for tag in tags:
        lab.load_image(host, tag)
    running = {rep[0] for rep in versions(lab, [host])[host].values()}
    assert len(running) == 1, running
    target = "v1" if running == {"v2"} else "v2"
    # without secrets: the service run takes the lock, after the image step (with secrets a
    # release run takes it first, before the image step)
    extra = {k: v for k, v in fleet(lab, deploy_version=target, deploy_keep_images=1).items()
             if k != "deploy_secret_env"}
    try:
        held = run_playbook(lab, LOCK_PLAY % (host, APP, "locked"))
        assert held.rc == 0, held.stdout[-3000:]
        blocked = run_playbook(lab, "playbooks/deploy.yml", limit=host, extra_vars=extra)
        assert blocked.rc != 0 and "holds the lock" in blocked.stdout, blocked.stdout[-3000:]
        assert [r["status"] for r in blocked.records if r["action"].endswith("image")] == ["ok"]
        assert demo_tags() == sorted(tags)          # nothing removed without the lock
        assert {rep[0] for rep in versions(lab, [host])[host].values()} == running

        freed = run_playbook(lab, LOCK_PLAY % (host, APP, "unlocked"))
        assert freed.rc == 0, freed.stdout[-3000:]
        res = run_playbook(lab, "playbooks/deploy.yml", limit=host, extra_vars=extra)
        assert res.rc == 0, res.stdout[-4000:]
        assert {rep[0] for rep in versions(lab, [host])[host].values()} == {target}
        used = {c["Image"] for c in api.containers(all=True)}
        kept = sorted(t for t in tags if t.endswith(":" + target) or t in used)
        assert demo_tags() == kept, (demo_tags(), used)
        removed = [t for r in res.records if r["host"] == host and r["status"] == "ok"
                   for t in (r["result"].get("record") or {}).get("images_removed")
                   or (r["result"].get("removed") if r["action"].endswith("image") else None) or []]
        assert sorted(removed) == sorted(set(tags) - set(kept)), removed
        # and the release is recorded (the removal came just before it, under the lock)
        rec = json.loads(lab.ssh(host, "cat /var/lib/dockyard/releases/%s.json" % APP).stdout)
        assert rec["current"]["version"] == target, rec

        again = run_playbook(lab, "playbooks/deploy.yml", limit=host, extra_vars=extra)
        assert again.rc == 0 and again.changed == 0, again.stdout[-3000:]
    finally:
        run_playbook(lab, LOCK_PLAY % (host, APP, "unlocked"))
        for tag in tags:  # the later tests' images
            lab.load_image(host, tag)


def test_host_lost_mid_rollout_fails_alone_and_rerun_converges(lab, fleet_v1):
    victim = lab.app_hosts[1]
    client = load(lab, seconds=300)
    # Ansible ends a play when a whole batch fails, whatever max_fail_percentage says: the
    # others can only finish when they share the victim's batch.
    # The victim's replicas are checked every 8 s, without probes (the others keep the
    # fleet's): each of its new replicas takes at least 8 s to be healthy, so its roll is
    # still going when the stop below reaches it, however fast the machine. (With the
    # image's check the whole roll of the victim could end first, and the play succeeded.)
    slow = {"test": ["CMD", "/bin/busybox", "wget", "-q", "-O", "/dev/null",
                     "http://127.0.0.1/health"], "interval": "8s", "timeout": "5s", "retries": 3}
    extra = fleet(lab, deploy_version="v2", rolling_restart_serial="100%",
                  rolling_restart_max_fail_percentage=50,
                  deploy_healthcheck="{{ %r if inventory_hostname == %r else %r }}"
                  % (slow, victim, VARS["deploy_healthcheck"]))
    play = start_playbook(lab, "playbooks/deploy.yml", extra_vars=extra)
    # wait until the victim's first replica is being replaced (no longer v1 and running):
    # the middle of its batch
    before = versions(lab, [victim])[victim].get(APP + "-1")
    assert before == ("v1", "running"), before
    deadline = time.time() + 180
    while time.time() < deadline and play.poll() is None:
        if versions(lab, [victim])[victim].get(APP + "-1") != before:
            break
        time.sleep(0.1)
    lab.tool("stop", victim)
    out = play.communicate(timeout=600)[0]
    stats = client.stop()
    try:
        assert play.returncode != 0
        assert "%s" % victim in out
        others = [h for h in lab.app_hosts if h != victim]
        for h, reps in versions(lab, others).items():
            assert {rep[0] for rep in reps.values()} == {"v2"}, (h, reps)
        # HAProxy sends the dead host nothing: every later request is answered by the others
        after = LoadClient("http://%s/" % list(lab.lb.values())[0], max_requests=40,
                           max_seconds=20).run()
        assert after.failed == 0, after.summary()
        assert stats.ok > 0
    finally:
        lab.tool("start", victim)
    rerun = run_playbook(lab, "playbooks/deploy.yml", extra_vars=extra)
    assert rerun.rc == 0, rerun.stdout[-4000:]
    assert all_on(lab, "v2"), versions(lab)
    final = run_playbook(lab, "playbooks/deploy.yml", extra_vars=extra)
    assert final.rc == 0 and final.changed == 0, final.stdout[-3000:]


def test_deploy_without_secrets_is_one_module_run_per_host(lab, fleet_v1):
    """Last (it redeploys the fleet without secrets): a fresh deploy is one module run per app
    host - the service run takes the deploy lock, starts the replicas, readies them on the
    load balancer, records the release and releases the lock; the image is streamed (no
    module run). A no-op rerun is one run that changes nothing; a roll to v2 is two (the plan
    with the lock, the roll that records), and a failure after the lock releases it."""
    plain = {k: v for k, v in VARS.items() if k != "deploy_secret_env"}
    for host in lab.app_hosts:
        lab.clean(host, APP + "-")
        lab.ssh(host, "rm -f /var/lib/dockyard/releases/*")
    res = run_playbook(lab, "playbooks/site.yml", extra_vars=dict(plain, deploy_version="v1"))
    assert res.rc == 0, res.stdout[-4000:]
    assert all_on(lab, "v1"), versions(lab)
    for run, version, current in ((res, "v1", None), (None, "v1", "v1")):
        if run is None:
            run = run_playbook(lab, "playbooks/deploy.yml", extra_vars=dict(plain, deploy_version="v1"))
            assert run.rc == 0 and run.changed == 0, run.stdout[-3000:]
        ran = _runs(run)
        for host in lab.app_hosts:
            assert ran.count((host, "release")) == 0 and ran.count((host, "service")) == 1, ran
            assert not [a for h, a in ran if h == host and a in ("haproxy_server", "file", "copy")], ran
            svc = [r["result"] for r in run.records
                   if r["host"] == host and r["action"].endswith("service") and r["status"] == "ok"]
            assert svc[0]["lock"] == "acquired", svc[0]
            # lock, ready and record too: a run on the controller (no module run; the lock and
            # the record are a command each on the host)
            assert (svc[0]["execution"], svc[0]["invocations"]) == ("controller", 0), svc[0]
            assert (svc[0]["release"]["current"] or {}).get("version") == current, svc[0]
            assert svc[0]["record"]["lock"] == "released" and svc[0]["ready"]["servers"], svc[0]
            assert lab.ssh(host, "test -e /run/dockyard/locks/%s.lock" % APP,
                           check=False).returncode != 0
    # check mode: the service run would take the lock (would_acquire) and writes nothing
    res = run_playbook(lab, "playbooks/deploy.yml", check=True,
                       extra_vars=dict(plain, deploy_version="v2"))
    assert res.rc == 0, res.stdout[-3000:]
    for host in lab.app_hosts:
        svc = [r["result"] for r in res.records
               if r["host"] == host and r["action"].endswith("service") and r["status"] != "skipped"]
        assert svc[0]["lock"] == "would_acquire", svc[0]
        assert lab.ssh(host, "test -e /run/dockyard/locks/%s.lock" % APP,
                       check=False).returncode != 0
    assert all_on(lab, "v1"), versions(lab)
    client = load(lab)
    res = run_playbook(lab, "playbooks/deploy.yml", extra_vars=dict(plain, deploy_version="v2"))
    stats = client.stop()
    assert res.rc == 0, res.stdout[-4000:]
    assert stats.failed == 0, stats.summary()
    assert all_on(lab, "v2"), versions(lab)
    ran = _runs(res)
    for host in lab.app_hosts:
        assert ran.count((host, "release")) == 0 and ran.count((host, "service")) == 2, ran
        # the plan (with the lock) on the controller, the roll by the module on the host
        svc = [r["result"] for r in res.records
               if r["host"] == host and r["action"].endswith("service") and r["status"] == "ok"]
        assert [r["execution"] for r in svc] == ["controller", "host"], svc
        audit = lab.ssh(host, "tail -n 1 /var/log/dockyard/deploy.log").stdout
        assert "from=v1 to=v2 result=ok" in audit, audit
    # a failure after the service run took the lock (a replica missing on the host, started
    # anew with a health check that never passes): the rescue audits it and releases the
    # lock; the other replica is only planned in that run (its health check changes too).
    # (A third replica would now be refused before the lock: deploy.yml scales nothing up.)
    host = lab.app_hosts[0]
    lab.docker(host).containers.get(APP + "-2").remove(force=True)
    res = run_playbook(lab, "playbooks/deploy.yml", limit=host, extra_vars=dict(
        plain, deploy_version="v2", deploy_wait_timeout=20,
        deploy_healthcheck={"test": ["CMD", "/bin/busybox", "false"], "interval": "1s",
                            "retries": 1}))
    assert res.rc != 0
    failed = [r["result"] for r in res.records if r["host"] == host
              and r["action"].endswith("service") and r["status"] == "failed"]
    assert failed and failed[0]["lock"] == "acquired", res.stdout[-3000:]
    audit = lab.ssh(host, "tail -n 1 /var/log/dockyard/deploy.log").stdout
    assert "to=v2 result=failed" in audit, audit
    assert lab.ssh(host, "test -e /run/dockyard/locks/%s.lock" % APP, check=False).returncode != 0
    lab.docker(host).containers.get(APP + "-2").remove(force=True)
    res = run_playbook(lab, "playbooks/deploy.yml", limit=host, extra_vars=dict(plain, deploy_version="v2"))
    assert res.rc == 0, res.stdout[-3000:]
    assert all_on(lab, "v2"), versions(lab)


def test_deploy_keep_volumes_false_takes_the_replaced_replicas_volumes_along(lab, fleet_v1):
    """After the last (one host): a roll that gives the replicas an anonymous volume, then a
    roll with deploy_keep_volumes false. The replicas the second roll replaces take their
    anonymous volumes with them; the first roll's (the default, as `docker rm`) had none to
    leave. A rerun changes nothing."""
    host = lab.app_hosts[0]
    plain = {k: v for k, v in VARS.items() if k != "deploy_secret_env"}
    api = lab.docker(host).api

    def anonymous_volumes():
        return {name: [m["Name"] for m in api.inspect_container(name)["Mounts"]
                       if m["Type"] == "volume"] for name in ("%s-1" % APP, "%s-2" % APP)}

    # with options a later run drops (below: each must be cleared on the replicas)
    opts = {"deploy_memory": "64m", "deploy_cpus": 0.5, "deploy_container_options": {
        "tmpfs": ["/tmp"], "cap_drop": ["NET_RAW"], "etc_hosts": {"db": "10.0.0.5"}, "init": True}}
    res = run_playbook(lab, "playbooks/deploy.yml", limit=host,
                       extra_vars=dict(plain, deploy_version="v1", deploy_volumes=["/data"], **opts))
    assert res.rc == 0, res.stdout[-3000:]
    before = anonymous_volumes()
    assert all(len(v) == 1 for v in before.values()), before
    res = run_playbook(lab, "playbooks/deploy.yml", limit=host,
                       extra_vars=dict(plain, deploy_version="v2", deploy_volumes=["/data"],
                                       deploy_keep_volumes=False, **opts))
    assert res.rc == 0, res.stdout[-3000:]
    after = anonymous_volumes()
    assert all(len(v) == 1 for v in after.values()), after
    left = {v["Name"] for v in api.volumes()["Volumes"] or []}
    old = {v for vols in before.values() for v in vols}
    assert not old & left, (old, left)
    assert {v for vols in after.values() for v in vols} <= left
    again = run_playbook(lab, "playbooks/deploy.yml", limit=host,
                         extra_vars=dict(plain, deploy_version="v2", deploy_volumes=["/data"],
                                         deploy_keep_volumes=False, **opts))
    assert again.rc == 0 and again.changed == 0, again.stdout[-3000:]
    assert anonymous_volumes() == after
    # the same release without the volume and the options: every one of them is cleared on
    # the replicas (an option left out used to be left as it was), and a rerun changes nothing
    for run in (1, 2):
        res = run_playbook(lab, "playbooks/deploy.yml", limit=host,
                           extra_vars=dict(plain, deploy_version="v2", deploy_keep_volumes=False))
        assert res.rc == 0 and res.changed == (run == 1), (run, res.stdout[-3000:])
    cleared = anonymous_volumes()
    assert all(v == [] for v in cleared.values()), cleared
    for name in cleared:
        info = api.inspect_container(name)
        hc = info["HostConfig"]
        assert not [k for k in ("Memory", "NanoCpus", "Tmpfs", "CapDrop", "ExtraHosts", "Init")
                    if hc.get(k)], hc
        assert info["Config"]["Labels"]["dockyard.version"] == "v2"
    for name in after:
        lab.docker(host).containers.get(name).remove(force=True, v=True)
