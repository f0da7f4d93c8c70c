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
    aux = {"not an address": {"h": "notanip"}, "outside": {"h": "10.1.1.1"}, "a number": {"h": 5},
           "the gateway": {"h": "10.50.0.1"}}
    playbook = pb("network", [
        ("subnet", dict(name=P + "bad", ipam_config=[{"subnet": "300.1.0.0/16"}])),
        ("gateway", dict(name=P + "bad", ipam_config=[{"subnet": "10.50.0.0/16",
                                                       "gateway": "10.51.0.1"}])),
    ] + [(task, dict(name=P + "bad", ipam_config=[{"subnet": "10.50.0.0/16", "aux_addresses": a}]))
         for task, a in aux.items()], ignore_errors=True)
    for check in (True, False):
        res = play(playbook, check=check)
        assert lab.snapshot(HOST) == before
        assert res.one(task="subnet")["msg"].startswith("ipam_config[0].subnet:")
        assert res.one(task="gateway")["msg"].startswith("ipam_config[0].gateway:")
        for task in aux:   # named, before the engine is asked
            assert res.results(task=task)[0]["status"] == "failed", task
            assert res.one(task=task)["msg"].startswith("ipam_config[0].aux_addresses.h:"), res.one(task=task)


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


def test_run_from_the_controller_or_on_the_host_alike(lab, play, clean):
    """execution auto runs network and volume on the controller (no module run on the host);
    execution host runs the module there: the same changes, results and diffs, and each side
    finds the other's work done. Options that do not validate fail on the controller even
    with execution host, with the module's own message."""
    net = dict(name=P + "where", labels={"a": "1"}, ipam_config=[{"subnet": "172.29.9.0/24"}])
    vol = dict(name=P + "wherevol", labels={"a": "1"})
    tasks = []
    for where in ("auto", "host"):
        tasks += [("net " + where, "network", dict(net, execution=where)),
                  ("vol " + where, "volume", dict(vol, execution=where))]
    playbook = yaml.safe_dump([{"hosts": HOST, "tasks": [
        {"name": n, "dockyard.fleet." + m: a} for n, m, a in tasks[:2]]}]) + "\n"
    res = play(playbook, diff=True)
    assert res.rc == 0, res.stdout
    made = {t: res.one(task=t) for t in ("net auto", "vol auto")}
    for t, r in made.items():
        assert r["changed"] and r["invocations"] == 0 and r["execution"] == "controller", (t, r)
    assert made["net auto"]["diff"]["before"] == {"present": False}
    for module, args in (("network", net), ("volume", vol)):
        lab.ssh(HOST, "docker %s rm %s" % (module, args["name"]))
    playbook = yaml.safe_dump([{"hosts": HOST, "tasks": [
        {"name": n, "dockyard.fleet." + m: a} for n, m, a in tasks[2:] + tasks[:2]]}]) + "\n"
    res = play(playbook, diff=True)
    assert res.rc == 0, res.stdout
    for t in ("net host", "vol host"):
        r = res.one(task=t)
        assert r["changed"] and r["invocations"] == 1 and r["execution"] == "host", (t, r)
    for t in ("net auto", "vol auto"):   # the host's module's work, found from the controller
        assert not res.one(task=t)["changed"] and res.one(task=t)["invocations"] == 0, t
    host, ctl = res.one(task="net host"), made["net auto"]
    assert host["diff"] == ctl["diff"] and host["actions"] == ctl["actions"]
    for key in ("name", "driver", "labels"):
        assert host["network"][key] == ctl["network"][key], key
    assert res.one(task="vol host")["volume"]["labels"] == made["vol auto"]["volume"]["labels"]

    before = lab.snapshot(HOST)
    res = play(pb("volume", [("bad", dict(vol, labels=["a"], execution="host"))], ignore_errors=True))
    r = res.one(task="bad")
    assert r["invocations"] == 0 and r["execution"] == "controller", r
    assert r["msg"].startswith("argument 'labels' is of type"), r["msg"]
    assert lab.snapshot(HOST) == before


def test_volume_recreate_keeps_what_the_task_leaves_out_and_loses_nothing_to_a_refusal(lab, play, clean):
    """A recreate changes what the task sets and keeps the volume's other labels and options
    (a tmpfs volume stays one); options the engine refuses fail before the volume (and its
    data) goes, in check mode too, naming the option; a container using the volume is named
    by its own name, not a link's."""
    lab.load_image(HOST, "dockyard/demo:v1")
    c = lab.docker(HOST)
    name = P + "keep"
    c.volumes.create(name, driver_opts={"type": "tmpfs", "device": "tmpfs", "o": "size=8m"},
                     labels={"a": "1", "b": "2"})
    r = play(pb("volume", [("recreate", dict(name=name, labels={"a": "3"}, recreate=True)),
                           ("again", dict(name=name, labels={"a": "3"}, recreate=True))]))
    assert r.rc == 0 and r.one(task="recreate")["changed"] and not r.one(task="again")["changed"], r.stdout
    vol = c.volumes.get(name).attrs
    assert vol["Labels"] == {"a": "3", "b": "2"}
    assert vol["Options"] == {"type": "tmpfs", "device": "tmpfs", "o": "size=8m"}
    # the trial volume of the recreate is gone
    assert [v.name for v in c.volumes.list() if v.name.startswith(name)] == [name]

    # options the engine refuses: nothing changes, check mode says the same
    before = lab.snapshot(HOST)
    bad = [("unknown option", dict(name=name, labels={"a": "4"}, driver_options={"foo": "bar"}, recreate=True)),
           ("type without device", dict(name=P + "new", driver_options={"type": "tmpfs"})),
           ("short name", dict(name="v")),
           ("no such driver", dict(name=name, labels={"a": "4"}, driver="dy-no-such-driver", recreate=True))]
    for check in (True, False):
        res = play(pb("volume", bad, ignore_errors=True), check=check)
        assert lab.snapshot(HOST) == before
        assert res.one(task="unknown option")["msg"].startswith("driver_options:")
        assert res.one(task="type without device")["msg"].startswith("driver_options:")
        assert res.one(task="short name")["msg"].startswith("name:")
        if not check:   # the engine's own refusal: found by the trial volume, the volume stays
            assert res.one(task="no such driver")["msg"].startswith("driver, driver_options:")
    assert c.volumes.get(name).attrs["Labels"] == {"a": "3", "b": "2"}

    # a container that uses the volume, and others linked to it: the user is named
    db = c.containers.run("dockyard/demo:v1", name=P + "db", detach=True, volumes={name: {"bind": "/data"}})
    for i in range(2):
        c.containers.run("dockyard/demo:v1", name=P + "app%d" % i, detach=True, links={db.name: "zz%d" % i})
    res = play(pb("volume", [("absent", dict(name=name, state="absent"))], ignore_errors=True))
    msg = res.one(task="absent")["msg"]
    assert "use it: %sdb;" % P in msg and "app" not in msg, msg


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


# ------------------------------------------------------------------ connected / appends
def converge(play, task, args):
    """Check mode (with diff), then the real run twice: check mode predicts the real run (same
    changed, actions, containers, diff) and the second run changes nothing. The real run's
    result."""
    res = play(pb("network", [(task, args)]), check=True, diff=True)
    assert res.rc == 0, res.stdout
    check = res.one(task=task)
    res = play(pb("network", [(task, args), (task + " again", args)]), diff=True)
    assert res.rc == 0, res.stdout
    real, again = res.one(task=task), res.one(task=task + " again")
    for key in ("changed", "actions", "diff"):
        assert check[key] == real[key], (key, check[key], real[key])
    assert check["network"]["containers"] == real["network"]["containers"]
    assert not again["changed"] and again["actions"] == [], again
    assert again["network"]["containers"] == real["network"]["containers"]
    return real


def networks_of(lab, name):
    """{network name: endpoint} of a container, as the engine has it (running or stopped)."""
    return lab.docker(HOST).api.inspect_container(name)["NetworkSettings"]["Networks"]


def test_network_connected_and_appends(lab, play, clean):
    lab.load_image(HOST, "dockyard/demo:v1")
    c = lab.docker(HOST)
    net = P + "conn"
    c.networks.create(net, driver="bridge")
    c.containers.run("dockyard/demo:v1", name=P + "run", detach=True)
    stopped = c.containers.create("dockyard/demo:v1", name=P + "stopped")
    other = c.containers.run("dockyard/demo:v1", name=P + "other", detach=True)

    # one running, one stopped (by ID, and by name too: counted once)
    args = dict(name=net, connected=[P + "run", stopped.id, P + "stopped"])
    before = {n: set(networks_of(lab, n)) for n in (P + "run", P + "stopped")}
    res = play(pb("network", [("check", args)]), check=True)
    assert res.rc == 0 and res.one(task="check")["changed"], res.stdout
    assert {n: set(networks_of(lab, n)) for n in before} == before   # check mode wrote nothing
    r = converge(play, "connect", args)
    assert r["changed"] and r["actions"] == ["connected %srun" % P, "connected %sstopped" % P]
    assert r["network"]["containers"] == [P + "run", P + "stopped"]
    assert r["diff"]["before"]["containers"] == [] and \
        r["diff"]["after"]["containers"] == [P + "run", P + "stopped"]
    assert net in networks_of(lab, P + "run") and net in networks_of(lab, P + "stopped")
    # connected without aliases of its own (only the short ID the engine adds)
    assert networks_of(lab, P + "run")[net]["Aliases"] in (None, [], [c.containers.get(P + "run").id[:12]])

    # appends: true leaves an unlisted container attached; appends: false disconnects it
    c.networks.get(net).connect(other)
    r = converge(play, "appends", dict(name=net, connected=[P + "run"], appends=True))
    assert not r["changed"]
    assert r["network"]["containers"] == [P + "other", P + "run", P + "stopped"]
    r = converge(play, "exactly", dict(name=net, connected=[P + "run"]))
    assert r["changed"] and r["actions"] == ["disconnected %sother" % P, "disconnected %sstopped" % P]
    assert r["network"]["containers"] == [P + "run"]
    assert net not in networks_of(lab, P + "other") and net not in networks_of(lab, P + "stopped")
    assert net in networks_of(lab, P + "run")
    # the stopped container still starts (no endpoint left of the network)
    stopped.start()
    stopped.stop(timeout=1)


def test_network_connected_bad_names_change_nothing(lab, play, clean):
    lab.load_image(HOST, "dockyard/demo:v1")
    c = lab.docker(HOST)
    net = P + "conn-bad"
    c.networks.create(net, driver="bridge")
    c.containers.create("dockyard/demo:v1", name=P + "ok")
    c.containers.create("dockyard/demo:v1", name=P + "hostmode", network_mode="host")
    attached = c.containers.run("dockyard/demo:v1", name=P + "attached", detach=True, network=net)
    before = lab.snapshot(HOST)
    res = play(pb("network", [
        ("unknown", dict(name=net, connected=[P + "ok", P + "nope"])),
        ("unknown new net", dict(name=P + "conn-new", connected=[P + "nope"])),
        ("host mode", dict(name=net, connected=[P + "ok", P + "hostmode"])),
        ("absent", dict(name=net, state="absent", connected=[P + "ok"])),
    ], ignore_errors=True))
    for task in ("unknown", "unknown new net", "host mode", "absent"):
        assert res.results(task=task)[0]["status"] == "failed", task
        assert res.one(task=task)["msg"].startswith("connected"), res.one(task=task)["msg"]
    assert P + "nope" in res.one(task="unknown")["msg"]
    assert P + "hostmode" in res.one(task="host mode")["msg"]
    assert lab.snapshot(HOST) == before
    assert net not in networks_of(lab, P + "ok")
    assert list(networks_of(lab, P + "attached")) == [net]
    assert attached.id in c.networks.get(net).attrs["Containers"]


def test_network_recreate_force_keeps_aliases_and_address(lab, play, clean):
    lab.load_image(HOST, "dockyard/demo:v1")
    c = lab.docker(HOST)
    api = c.api
    net = P + "keep"
    ipam = [{"subnet": "172.29.11.0/24", "gateway": "172.29.11.1"}]
    api.create_network(net, driver="bridge", check_duplicate=True, ipam={
        "Driver": "default", "Config": [{"Subnet": "172.29.11.0/24", "Gateway": "172.29.11.1"}]})
    web = c.containers.run("dockyard/demo:v1", name=P + "web", detach=True)
    job = c.containers.create("dockyard/demo:v1", name=P + "job")
    plain = c.containers.run("dockyard/demo:v1", name=P + "plain", detach=True)
    api.connect_container_to_network(web.id, net, aliases=["api", "www"], ipv4_address="172.29.11.10")
    api.connect_container_to_network(job.id, net, aliases=["batch"], ipv4_address="172.29.11.11")
    api.connect_container_to_network(plain.id, net)
    old_id = c.networks.get(net).id

    r = converge(play, "recreate", dict(name=net, ipam_config=ipam, internal=True,
                                        recreate=True, force=True))
    assert r["changed"] and r["actions"] == [
        "disconnected %sjob" % P, "disconnected %splain" % P, "disconnected %sweb" % P,
        "removed network %s" % net, "created network %s" % net,
        "reconnected %sjob with aliases batch and IPv4 address 172.29.11.11" % P,
        "reconnected %sweb with aliases api, www and IPv4 address 172.29.11.10" % P,
        "reconnected %splain" % P], r["actions"]
    assert r["network"]["containers"] == [P + "job", P + "plain", P + "web"]
    new = c.networks.get(net).attrs
    assert new["Id"] != old_id and new["Internal"] is True

    ep = networks_of(lab, P + "web")[net]
    assert {"api", "www"} <= set(ep["Aliases"]) and ep["IPAMConfig"]["IPv4Address"] == "172.29.11.10"
    assert ep["IPAddress"] == "172.29.11.10" and ep["NetworkID"] == new["Id"]
    # the stopped one starts on the new network, with its alias and address
    job.start()
    ep = networks_of(lab, P + "job")[net]
    assert "batch" in ep["Aliases"] and ep["IPAddress"] == "172.29.11.11"
    assert ep["NetworkID"] == new["Id"]

    # a subnet that no longer has the address: reconnected without it, and said so
    other = [{"subnet": "172.29.12.0/24"}]
    r = converge(play, "resubnet", dict(name=net, ipam_config=other, internal=True,
                                        recreate=True, force=True))
    assert ("reconnected %sweb with aliases api, www, without its IPv4 address 172.29.11.10 "
            "(not in the new network's subnets 172.29.12.0/24)" % P) in r["actions"], r["actions"]
    ep = networks_of(lab, P + "web")[net]
    assert {"api", "www"} <= set(ep["Aliases"]) and not (ep.get("IPAMConfig") or {}).get("IPv4Address")
    assert ep["IPAddress"].startswith("172.29.12.")


def test_network_recreate_force_keeps_an_ipv6_address(lab, play, clean):
    """A dual-stack network recreated: the container's fixed IPv6 address comes back with its
    IPv4 one (both subnets are in ipam_config)."""
    lab.load_image(HOST, "dockyard/demo:v1")
    c = lab.docker(HOST)
    net = P + "six"
    ipam = [{"subnet": "172.29.21.0/24"}, {"subnet": "fd00:29:21::/64"}]
    c.api.create_network(net, driver="bridge", enable_ipv6=True, ipam={"Driver": "default", "Config": [
        {"Subnet": "172.29.21.0/24"}, {"Subnet": "fd00:29:21::/64"}]})
    web = c.containers.run("dockyard/demo:v1", name=P + "web6", detach=True, network=net)
    c.api.disconnect_container_from_network(web.id, net)
    c.api.connect_container_to_network(web.id, net, ipv4_address="172.29.21.10", ipv6_address="fd00:29:21::10")
    r = converge(play, "recreate", dict(name=net, ipam_config=ipam, enable_ipv6=True, internal=True,
                                        recreate=True, force=True))
    assert ("reconnected %sweb6 with IPv4 address 172.29.21.10 and IPv6 address fd00:29:21::10" % P) \
        in r["actions"], r["actions"]
    ep = networks_of(lab, P + "web6")[net]
    assert ep["IPAddress"] == "172.29.21.10" and ep["GlobalIPv6Address"] == "fd00:29:21::10"
    assert ep["IPAMConfig"] == {"IPv4Address": "172.29.21.10", "IPv6Address": "fd00:29:21::10"}
    assert c.networks.get(net).attrs["Internal"] is True

    # an aux address that is the container's IPv6 address, spelt otherwise: reconnected without
    # it (the engine refuses it after the recreate), and the run twice is no change
    aux = [{"subnet": "172.29.21.0/24"}, {"subnet": "fd00:29:21::/64", "aux_addresses": {"r": "fd00:29:21:0::10"}}]
    r = converge(play, "aux", dict(name=net, ipam_config=aux, enable_ipv6=True, recreate=True, force=True))
    assert r["actions"][-1] == ("reconnected %sweb6 with IPv4 address 172.29.21.10, without its IPv6 address "
                                "fd00:29:21::10 (reserved by ipam_config aux_addresses)" % P), r["actions"]
    new = c.networks.get(net).attrs
    ep = networks_of(lab, P + "web6")[net]
    assert ep["NetworkID"] == new["Id"] and ep["IPAddress"] == "172.29.21.10"
    assert ep["GlobalIPv6Address"] not in ("", "fd00:29:21::10")
    assert new["IPAM"]["Config"][1]["AuxiliaryAddresses"] == {"r": "fd00:29:21::10"}


def test_network_refusals_change_nothing(lab, play, clean):
    """What the engine refuses fails naming the option and leaves the host as it was: a
    recreate the engine would refuse fails before the network and its containers are touched
    (an overlapping subnet in check mode too; a driver it does not have found by a trial
    network); the engine's own networks are neither removed nor recreated; a driver, IPAM
    driver or enable_ipv6 it refuses on create is named, and check mode predicts those
    refusals (it said "changed" before)."""
    lab.load_image(HOST, "dockyard/demo:v1")
    c = lab.docker(HOST)
    net = P + "stay"
    c.api.create_network(net, driver="bridge", ipam=ipam("172.29.31.0/24"))
    c.api.create_network(P + "other", driver="bridge", ipam=ipam("172.29.32.0/24"))
    web = c.containers.run("dockyard/demo:v1", name=P + "web", detach=True)
    c.api.connect_container_to_network(web.id, net, aliases=["api"], ipv4_address="172.29.31.10")
    on_bridge = c.containers.run("dockyard/demo:v1", name=P + "onbridge", detach=True)
    tasks = [
        ("overlap", dict(name=net, ipam_config=[{"subnet": "172.29.32.0/24"}], recreate=True, force=True)),
        ("no such driver", dict(name=net, driver="dy-no-such-driver", recreate=True, force=True)),
        ("bridge absent", dict(name="bridge", state="absent", force=True)),
        ("bridge recreate", dict(name="bridge", labels={"v": "1"}, recreate=True, force=True)),
        ("ipam driver", dict(name=P + "ipd", ipam_driver="dy-no-such-ipam")),
        ("ipv6 without subnet", dict(name=P + "v6", enable_ipv6=True)),
        ("overlay", dict(name=P + "ov", driver="overlay", attachable=True)),
    ]
    before = lab.snapshot(HOST)
    for check in (True, False):
        res = play(pb("network", tasks, ignore_errors=True), check=check)
        assert lab.snapshot(HOST) == before
        msg = {task: res.one(task=task)["msg"] for task, _args in tasks if res.results(task=task)[0]["status"] == "failed"}
        assert msg["overlap"].startswith("ipam_config[0].subnet: 172.29.32.0/24 overlaps"), msg
        assert msg["bridge absent"].startswith("name: bridge is a network the engine pre-defines"), msg
        assert msg["bridge recreate"].startswith("name: bridge is a network the engine pre-defines"), msg
        assert msg["overlay"].startswith("driver:"), msg
        # the engine's own refusals; check mode predicts them from what the engine lists (its
        # /info and plugins: Engine 20.10 has no IPv6 default pool here), reading only
        assert msg["no such driver"].startswith("driver: "), msg
        assert msg["ipam driver"].startswith("ipam_driver: "), msg
        assert msg["ipv6 without subnet"].startswith("enable_ipv6, ipam_config: "), msg
        if check:
            assert 'no network driver "dy-no-such-driver"' in msg["no such driver"], msg
            assert 'no IPAM driver "dy-no-such-ipam"' in msg["ipam driver"], msg
            assert "no IPv6 address pool" in msg["ipv6 without subnet"], msg
        assert not any(res.one(task=task).get("changed") for task in msg), res.stdout
    ep = networks_of(lab, P + "web")[net]
    assert "api" in ep["Aliases"] and ep["IPAddress"] == "172.29.31.10"
    assert list(networks_of(lab, P + "onbridge")) == ["bridge"] and on_bridge.id
    assert not [n for n in c.api.networks() if "dytrial" in n["Name"]]


def ipam(*subnets):
    """create_network's ipam of these subnets, the engine's gateway pick for each."""
    return {"Driver": "default", "Config": [{"Subnet": s} for s in subnets]}


def test_network_ipam_as_the_engine_keeps_it_is_no_change(lab, play, clean):
    """An IPv6-only ipam_config (the engine adds an IPv4 subnet of its pick), IPv6 values as the
    engine keeps them (not canonical), and a gateway the engine picked (Engine 20.10 leaves it
    out of IPAM.Config) are no drift: no change, in check mode too, and never a recreate."""
    lab.load_image(HOST, "dockyard/demo:v1")
    c = lab.docker(HOST)
    v6 = dict(name=P + "v6only", enable_ipv6=True, ipam_config=[{"subnet": "fd00:29:41::/64"}], recreate=True)
    r = converge(play, "v6 only", v6)
    assert r["actions"] == ["created network %sv6only" % P]
    assert r["diff"]["after"]["ipam_config"] == [{"subnet": "fd00:29:41::/64"},
                                                 {"subnet": "the engine's pick (IPv4)"}]
    assert len(c.networks.get(P + "v6only").attrs["IPAM"]["Config"]) == 2

    c.api.create_network(P + "nc", driver="bridge", enable_ipv6=True, ipam={"Driver": "default", "Config": [
        {"Subnet": "172.29.42.0/24"},
        {"Subnet": "fd00:29:42:0::/64", "Gateway": "fd00:29:42:0::1", "IPRange": "fd00:29:42:0:0::/80",
         "AuxiliaryAddresses": {"h": "fd00:29:42:0::5"}}]})
    c.api.create_network(P + "gw", driver="bridge", ipam=ipam("172.29.43.0/24"))
    c.api.create_network(P + "gwr", driver="bridge", ipam={"Driver": "default", "Config": [
        {"Subnet": "172.29.44.0/24", "IPRange": "172.29.44.128/25"}]})
    # the gateway the engine picked, as a container on the network sees it
    probe = c.containers.run("dockyard/demo:v1", name=P + "probe", detach=True, network=P + "gwr")
    assert networks_of(lab, probe.name)[P + "gwr"]["Gateway"] == "172.29.44.128"
    ids = {n: c.networks.get(P + n).id for n in ("v6only", "nc", "gw", "gwr")}
    tasks = [("v6 only", v6)]
    for spelling in ("fd00:29:42:0::", "fd00:29:42::"):
        tasks.append(("nc " + spelling, dict(name=P + "nc", enable_ipv6=True, recreate=True, ipam_config=[
            {"subnet": "172.29.42.0/24"},
            {"subnet": spelling + "/64", "gateway": spelling + "1", "iprange": spelling + "/80",
             "aux_addresses": {"h": spelling + "5"}}])))
    tasks += [("gw", dict(name=P + "gw", recreate=True,
                          ipam_config=[{"subnet": "172.29.43.0/24", "gateway": "172.29.43.1"}])),
              ("gwr", dict(name=P + "gwr", recreate=True, ipam_config=[
                  {"subnet": "172.29.44.0/24", "iprange": "172.29.44.128/25", "gateway": "172.29.44.128"}]))]
    for check in (True, False):
        res = play(pb("network", tasks), check=check, diff=True)
        assert res.rc == 0, res.stdout
        changed = [r["task"] for r in res.records if r["result"].get("changed")]
        assert changed == [], changed
    assert {n: c.networks.get(P + n).id for n in ids} == ids
