"""dockyard.fleet.network and dockyard.fleet.volume on a real lab host: create twice, check
mode, diff, drift of immutable settings (fail / recreate / force with attached containers),
absent twice, bad input leaves the engine unchanged."""
from __future__ import annotations

import pytest
import yaml

HOST = "app2"
P = "nvt-"


def pb(module, tasks, ignore_errors=False):
    out = []
    for name, args in tasks:
        t = {"name": name, "dockyard.fleet." + module: args}
        if ignore_errors:
            t["ignore_errors"] = True
        out.append(t)
    return yaml.safe_dump([{"hosts": HOST, "tasks": out}]) + "\n"


@pytest.fixture
def clean(lab):
    lab.clean(HOST, P)
    yield
    lab.clean(HOST, P)


def test_network_create_check_diff_idempotent(lab, play, clean):
    args = dict(name=P + "net", labels={"team": "web"}, internal=True,
                ipam_config=[{"subnet": "172.29.1.0/24", "gateway": "172.29.1.254"}])
    before = lab.snapshot(HOST)
    res = play(pb("network", [("net", args)]), check=True, diff=True)
    assert res.rc == 0, res.stdout
    r = res.one(task="net")
    assert r["changed"] and r["diff"]["before"] == {"present": False}
    assert lab.snapshot(HOST) == before

    res = play(pb("network", [("first", args), ("second", args)]), diff=True)
    assert res.rc == 0, res.stdout
    assert res.one(task="first")["changed"] and not res.one(task="second")["changed"]
    net = lab.docker(HOST).networks.get(P + "net").attrs
    assert net["Internal"] is True and net["Labels"] == {"team": "web"}
    assert net["IPAM"]["Config"][0]["Subnet"] == "172.29.1.0/24"
    assert net["IPAM"]["Config"][0]["Gateway"] == "172.29.1.254"

    # only what the user sets is compared: a bare name, or a subset, is no change
    res = play(pb("network", [("bare", dict(name=P + "net")),
                              ("subset", dict(name=P + "net", driver="bridge",
                                              ipam_config=[{"subnet": "172.29.1.0/24"}]))]))
    assert res.rc == 0 and res.changed == 0, res.stdout


def test_network_drift_fails_then_recreate_and_force(lab, play, clean):
    lab.load_image(HOST, "dockyard/demo:v1")
    c = lab.docker(HOST)
    c.networks.create(P + "drift", driver="bridge", labels={"v": "1"})
    ct = c.containers.run("dockyard/demo:v1", name=P + "web", detach=True, network=P + "drift")
    new = dict(name=P + "drift", labels={"v": "2"},
               ipam_config=[{"subnet": "172.29.2.0/24"}])

    before = lab.snapshot(HOST)
    res = play(pb("network", [
        ("drift", new),
        ("recreate attached", dict(new, recreate=True)),
        ("recreate attached force", dict(new, recreate=True, force=True)),
    ], ignore_errors=True))
    drift = res.one(task="drift")
    assert res.results(task="drift")[0]["status"] == "failed"
    assert "recreate" in drift["msg"] and "labels.v" in drift["msg"] and "172.29.2.0/24" in drift["msg"]
    attached = res.one(task="recreate attached")
    assert res.results(task="recreate attached")[0]["status"] == "failed"
    assert P + "web" in attached["msg"] and "force" in attached["msg"]
    third = res.one(task="recreate attached force")
    assert third["changed"], third
    assert before != lab.snapshot(HOST)  # network ID changed

    net = c.networks.get(P + "drift").attrs
    assert net["Labels"]["v"] == "2" and net["IPAM"]["Config"][0]["Subnet"] == "172.29.2.0/24"
    ct.reload()
    assert P + "drift" in ct.attrs["NetworkSettings"]["Networks"]  # reconnected
    res = play(pb("network", [("again", dict(new, recreate=True, force=True))]))
    assert res.rc == 0 and res.changed == 0, res.stdout


def test_network_recreate_check_mode_changes_nothing(lab, play, clean):
    c = lab.docker(HOST)
    c.networks.create(P + "cm", driver="bridge", labels={"v": "1"})
    before = lab.snapshot(HOST)
    res = play(pb("network", [("cm", dict(name=P + "cm", labels={"v": "2"}, recreate=True))]),
               check=True, diff=True)
    r = res.one(task="cm")
    assert r["changed"] and r["diff"]["before"]["labels"] == {"v": "1"}
    assert r["diff"]["after"]["labels"] == {"v": "2"}
    assert lab.snapshot(HOST) == before


def test_network_absent_twice_and_attached(lab, play, clean):
    lab.load_image(HOST, "dockyard/demo:v1")
    c = lab.docker(HOST)
    c.networks.create(P + "gone")
    c.networks.create(P + "busy")
    c.containers.run("dockyard/demo:v1", name=P + "busy-web", detach=True, network=P + "busy")
    before = lab.snapshot(HOST)
    res = play(pb("network", [("gone", dict(name=P + "gone", state="absent"))]), check=True)
    assert res.one(task="gone")["changed"] and lab.snapshot(HOST) == before
    res = play(pb("network", [
        ("gone", dict(name=P + "gone", state="absent")),
        ("gone again", dict(name=P + "gone", state="absent")),
        ("busy", dict(name=P + "busy", state="absent")),
    ], ignore_errors=True))
    assert res.one(task="gone")["changed"] and not res.one(task="gone again")["changed"]
    assert res.results(task="busy")[0]["status"] == "failed"
    assert P + "busy-web" in res.one(task="busy")["msg"]
    names = {n.name for n in c.networks.list()}
    assert P + "gone" not in names and P + "busy" in names
    res = play(pb("network", [("busy", dict(name=P + "busy", state="absent", force=True))]))
    assert res.rc == 0 and res.one(task="busy")["changed"]
    assert P + "busy" not in {n.name for n in c.networks.list()}


def test_network_bad_input_leaves_engine_unchanged(lab, play, clean):
    before = lab.snapshot(HOST)
    res = play(pb("network", [
        ("subnet", dict(name=P + "bad", ipam_config=[{"subnet": "300.1.0.0/16"}])),
        ("gateway", dict(name=P + "bad", ipam_config=[{"subnet": "10.50.0.0/16",
                                                       "gateway": "10.51.0.1"}])),
    ], ignore_errors=True))
    assert lab.snapshot(HOST) == before
    assert res.one(task="subnet")["msg"].startswith("ipam_config[0].subnet:")
    assert res.one(task="gateway")["msg"].startswith("ipam_config[0].gateway:")


def test_volume_lifecycle(lab, play, clean):
    lab.load_image(HOST, "dockyard/demo:v1")
    c = lab.docker(HOST)
    args = dict(name=P + "vol", labels={"backup": "daily"},
                driver_options={"type": "tmpfs", "device": "tmpfs", "o": "size=8m"})
    before = lab.snapshot(HOST)
    res = play(pb("volume", [("vol", args)]), check=True, diff=True)
    assert res.one(task="vol")["changed"] and lab.snapshot(HOST) == before

    res = play(pb("volume", [("first", args), ("second", args), ("bare", dict(name=P + "vol"))]),
               diff=True)
    assert res.rc == 0, res.stdout
    assert res.one(task="first")["changed"]
    assert not res.one(task="second")["changed"] and not res.one(task="bare")["changed"]
    vol = c.volumes.get(P + "vol").attrs
    assert vol["Labels"] == {"backup": "daily"} and vol["Options"]["o"] == "size=8m"

    c.containers.create("dockyard/demo:v1", name=P + "user",
                        volumes={P + "vol": {"bind": "/data", "mode": "rw"}})
    before = lab.snapshot(HOST)
    res = play(pb("volume", [
        ("drift", dict(args, labels={"backup": "weekly"})),
        ("recreate in use", dict(args, labels={"backup": "weekly"}, recreate=True)),
        ("absent in use", dict(name=P + "vol", state="absent")),
    ], ignore_errors=True))
    assert lab.snapshot(HOST) == before
    assert "recreate" in res.one(task="drift")["msg"] and "labels.backup" in res.one(task="drift")["msg"]
    assert P + "user" in res.one(task="recreate in use")["msg"]
    assert P + "user" in res.one(task="absent in use")["msg"]

    c.containers.get(P + "user").remove()
    res = play(pb("volume", [("recreate", dict(args, labels={"backup": "weekly"}, recreate=True)),
                             ("again", dict(args, labels={"backup": "weekly"}, recreate=True)),
                             ("absent", dict(name=P + "vol", state="absent")),
                             ("absent again", dict(name=P + "vol", state="absent"))]), diff=True)
    assert res.rc == 0, res.stdout
    r = res.one(task="recreate")
    assert r["changed"] and r["diff"]["before"]["labels"] == {"backup": "daily"}
    assert not res.one(task="again")["changed"]
    assert res.one(task="absent")["changed"] and not res.one(task="absent again")["changed"]
    assert P + "vol" not in {v.name for v in c.volumes.list()}


def test_defaults_asked_for_explicitly_are_no_change(lab, play, clean):
    """No false "changed": a network and a volume made with only a name are left alone when a
    run asks, one option at a time, for what they already have."""
    net, vol = P + "plain-net", P + "plain-vol"

    def both(net_tasks, vol_tasks):   # two plays
        return pb("network", net_tasks) + pb("volume", vol_tasks)

    res = play(both([("net", dict(name=net))], [("vol", dict(name=vol))]))
    assert res.rc == 0, res.stdout
    c = lab.docker(HOST)
    ids = (c.networks.get(net).id, c.volumes.get(vol).attrs["CreatedAt"])
    subnet = c.networks.get(net).attrs["IPAM"]["Config"][0]["Subnet"]
    net_defaults = [("driver", "bridge"), ("driver_options", {}), ("labels", {}),
                    ("ipam_driver", "default"), ("ipam_config", []),
                    ("ipam_config", [{"subnet": subnet}]), ("internal", False),
                    ("attachable", False), ("enable_ipv6", False)]
    vol_defaults = [("driver", "local"), ("driver_options", {}), ("labels", {})]
    playbook = both([("network %s" % k, {"name": net, k: v}) for k, v in net_defaults],
                    [("volume %s" % k, {"name": vol, k: v}) for k, v in vol_defaults])
    for check in (True, False):
        res = play(playbook, check=check, diff=True)
        assert res.rc == 0, res.stdout
        changed = [r["task"] for r in res.records if r["result"].get("changed")]
        assert changed == [], changed
    assert (c.networks.get(net).id, c.volumes.get(vol).attrs["CreatedAt"]) == ids
