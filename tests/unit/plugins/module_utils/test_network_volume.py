"""Desired-vs-actual comparison of networks and volumes (only what the user set counts), and
the network run's container connections on a fake engine."""
import copy
import inspect
import ipaddress
import re

import pytest

from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import DockerError
from ansible_collections.dockyard.fleet.plugins.module_utils._engine_api import EngineAPI
from ansible_collections.dockyard.fleet.plugins.module_utils._network_volume import (
    InputError, NetworkManager, network_after, network_create_args, network_desired,
    network_differences, network_view, volume_desired, volume_differences, volume_recreated, volume_view,
    attached_to, container_name, engine_gateway, format_differences, reconnect_action,
    reconnect_plan, refused_options, trial_spec, engine_picks_ipv6, ipv6_refusal, known_drivers, network_main)

ENGINE_NET = {
    "Name": "app", "Id": "n1", "Driver": "bridge", "Internal": False, "Attachable": False,
    "EnableIPv6": False,
    "Options": {"com.docker.network.bridge.enable_icc": "true"},
    "Labels": {"team": "web", "added.by": "someone"},
    "IPAM": {"Driver": "default", "Options": None,
             "Config": [{"Subnet": "172.30.10.0/24", "Gateway": "172.30.10.1"}]},
    "Containers": {"c2": {"Name": "web2"}, "c1": {"Name": "web1"}},
}


def _net(**kw):
    p = dict(name="app", driver=None, driver_options=None, labels=None, ipam_driver=None,
             ipam_config=None, internal=None, attachable=None, enable_ipv6=None)
    p.update(kw)
    return network_desired(p)


def test_only_name_is_no_drift():
    assert network_differences(_net(), ENGINE_NET) == []


def test_engine_defaults_are_not_drift():
    d = _net(driver="bridge", labels={"team": "web"}, ipam_config=[{"subnet": "172.30.10.0/24"}],
             internal=False)
    assert network_differences(d, ENGINE_NET) == []
    # empty is as not set: the engine's pick (labels, options, pools)
    d = _net(labels={}, driver_options={}, ipam_config=[])
    assert d["ipam_config"] is None and network_differences(d, ENGINE_NET) == []


def test_differences_reported_per_option():
    d = _net(driver="macvlan", labels={"team": "db"}, internal=True,
             driver_options={"com.docker.network.bridge.enable_icc": False},
             ipam_config=[{"subnet": "172.30.10.0/24", "gateway": "172.30.10.254"}])
    opts = [o for o, _w, _a in network_differences(d, ENGINE_NET)]
    assert opts == ["driver", "driver_options.com.docker.network.bridge.enable_icc", "labels.team",
                    "internal", "ipam_config[172.30.10.0/24].gateway"]


def test_subnet_change_and_extra_subnet():
    d = _net(ipam_config=[{"subnet": "172.30.20.0/24"}])
    diffs = network_differences(d, ENGINE_NET)
    assert diffs[0][0] == "ipam_config.subnet" and diffs[0][1] == "172.30.20.0/24"
    assert ("ipam_config.subnet", None, "172.30.10.0/24") in diffs
    assert "not listed" in format_differences(diffs)


def test_subnet_is_normalised():
    d = _net(ipam_config=[{"subnet": "172.30.10.7/24"}])
    assert network_differences(d, ENGINE_NET) == []


@pytest.mark.parametrize("cfg,option", [
    ([{"subnet": "nope"}], "ipam_config[0].subnet"),
    ([{"subnet": "10.1.0.0/16", "gateway": "10.2.0.1"}], "ipam_config[0].gateway"),
    ([{"subnet": "10.1.0.0/16", "gateway": "x"}], "ipam_config[0].gateway"),
    ([{"subnet": "10.1.0.0/16", "iprange": "10.3.0.0/24"}], "ipam_config[0].iprange"),
    ([{"subnet": "10.1.0.0/16"}, {"subnet": "10.1.0.0/16"}], "ipam_config[1].subnet"),
    ([{"gateway": "10.1.0.1"}], "ipam_config[0].subnet"),
])
def test_bad_ipam_names_option(cfg, option):
    with pytest.raises(InputError) as err:
        _net(ipam_config=cfg)
    assert str(err.value).startswith(option)


def test_create_args_and_predicted_after():
    d = _net(ipam_config=[{"subnet": "10.9.0.0/24", "gateway": "10.9.0.1", "iprange": "10.9.0.128/25"}],
             internal=True, labels={"a": 1})
    args = network_create_args(d)
    assert args["driver"] == "bridge" and args["internal"] is True and args["labels"] == {"a": "1"}
    assert args["ipam"]["Config"] == [{"Subnet": "10.9.0.0/24", "Gateway": "10.9.0.1",
                                       "IPRange": "10.9.0.128/25"}]
    assert network_differences(d, network_after(d)) == []


def test_volume_compare_only_user_keys():
    actual = {"Name": "vol", "Driver": "local", "Options": None, "Labels": {"a": "1", "b": "2"}}
    assert volume_differences(volume_desired(dict(name="vol", labels={"a": 1})), actual) == []
    diffs = volume_differences(volume_desired(dict(name="vol", driver="other",
                                                   driver_options={"type": "tmpfs"})), actual)
    assert [d[0] for d in diffs] == ["driver", "driver_options.type"]


def test_volume_needs_name():
    with pytest.raises(InputError, match="^name:"):
        volume_desired(dict(name=""))


def test_diff_views_show_only_what_the_user_set():
    assert network_view(_net(), None) == volume_view(volume_desired(dict(name="vol")), None) \
        == {"present": False}
    view = network_view(_net(labels={"team": "api"}, internal=True), ENGINE_NET)
    # the label the user set as the engine has it, not the one another tool added
    assert view == {"present": True, "name": "app", "driver": "bridge",
                    "labels": {"team": "web"}, "internal": False}
    actual = {"Name": "vol", "Driver": "local", "Options": {"type": "tmpfs", "o": "size=1m"},
              "Labels": None}
    assert volume_view(volume_desired(dict(name="vol", driver_options={"type": "tmpfs", "device": "tmpfs"},
                                           labels={"a": "1"})), actual) == \
        {"present": True, "name": "vol", "driver": "local",
         "driver_options": {"type": "tmpfs", "device": None}, "labels": {"a": None}}


# ------------------------------------------------------------------ NetworkManager on a fake engine
class FakeEngine:
    """Networks and containers as the engine keeps them: a running container's endpoint has
    the network's ID, a stopped one's none until it starts; the network's inspect lists only
    running containers; the container list's network filter matches the endpoint's key (the
    network name) or a NetworkID prefix. Creating a network, it refuses what Engine 20.10
    does (a driver it does not have, a pool overlapping another network's, a bridge name
    taken, enable_ipv6 without an IPv6 subnet) and adds an IPv4 pool of its own pick when none
    is asked for; connecting, it refuses an address the network has reserved. `refuse`:
    (name, create kwargs) -> why the engine refuses it, or None."""

    def __init__(self):
        self.nets = {}
        self.cts = {}
        self.writes = []
        self.serial = 0
        self.refuse = None
        # what GET /info and GET /plugins say (Engine 20.10 without a plugin or an IPv6 pool)
        self.info = {"Swarm": {"LocalNodeState": "inactive", "ControlAvailable": False},
                     "ServerVersion": "20.10.24+dfsg1",
                     "Plugins": {"Network": ["bridge", "host", "ipvlan", "macvlan", "null", "overlay"]}}
        self.plugins = []
        self.reads = []

    # setup
    def add_net(self, name, subnet=None, **extra):
        self.serial += 1
        net = dict(Name=name, Id="%064x" % self.serial, Driver="bridge", Internal=False,
                   Attachable=False, EnableIPv6=False, Options={}, Labels={},
                   IPAM=dict(Driver="default", Config=[dict(Subnet=subnet)] if subnet else []))
        net.update(extra)
        self.nets[name] = net
        return net

    def add_ct(self, name, running=True, mode="default"):
        self.serial += 1
        cid = "c%063x" % self.serial
        self.cts[cid] = dict(Id=cid, Name="/" + name, State=dict(Running=running),
                             HostConfig=dict(NetworkMode=mode), NetworkSettings=dict(Networks={}))
        return cid

    def attach(self, cid, net_name, aliases=None, ipv4_address=None, ipv6_address=None):
        ct, net = self.cts[cid], self.nets[net_name]
        ipam = {k: v for k, v in (("IPv4Address", ipv4_address), ("IPv6Address", ipv6_address)) if v}
        ct["NetworkSettings"]["Networks"][net_name] = dict(
            NetworkID=net["Id"] if ct["State"]["Running"] else "",
            Aliases=list(aliases or []) + [cid[:12]], IPAMConfig=ipam or None)

    def _refusal(self, name, kwargs):
        if self.refuse and self.refuse(name, kwargs):
            return self.refuse(name, kwargs)

        def plugin(name, cap):
            return any(p["Enabled"] and p["Name"] in (name, name + ":latest") and cap in p["Caps"]
                       for p in self.plugins)
        if kwargs.get("driver") not in ("bridge", "macvlan", "ipvlan") \
                and not plugin(kwargs.get("driver"), "networkdriver"):
            return 'plugin "%s" not found' % kwargs.get("driver")
        if (kwargs.get("ipam") or {}).get("Driver", "default") not in ("default", "null") \
                and not plugin(kwargs["ipam"]["Driver"], "ipamdriver"):
            return 'plugin "%s" not found' % kwargs["ipam"]["Driver"]
        config = (kwargs.get("ipam") or {}).get("Config") or []
        taken = [ipaddress.ip_network(c["Subnet"]) for n in self.nets.values() for c in n["IPAM"]["Config"]]
        for c in config:
            if any(t.overlaps(ipaddress.ip_network(c["Subnet"])) for t in taken if t.version == ipaddress.ip_network(
                    c["Subnet"]).version):
                return "Pool overlaps with other one on this address space"
        bridge = (kwargs.get("options") or {}).get("com.docker.network.bridge.name")
        if bridge and any(n["Options"].get("com.docker.network.bridge.name") == bridge for n in self.nets.values()):
            return "conflicts with network: networks have same bridge name"
        v6_pools = [p for p in self.info.get("DefaultAddressPools") or [] if ":" in p["Base"]]
        v6_pick = v6_pools or int(self.info["ServerVersion"].split(".", maxsplit=1)[0]) >= 27
        if kwargs.get("enable_ipv6") and not any(":" in c["Subnet"] for c in config) and not v6_pick:
            return "could not find an available, non-overlapping IPv6 address pool among the defaults"
        return None

    def _create(self, name, kwargs):
        """The network the engine makes: its IPv4 pools first, one of its pick if none is asked for."""
        config = [dict(c) for c in (kwargs.get("ipam") or {}).get("Config") or []]
        if not any(":" not in c["Subnet"] for c in config):
            taken = [ipaddress.ip_network(c["Subnet"]) for n in self.nets.values() for c in n["IPAM"]["Config"]]
            pick = next(p for p in ipaddress.ip_network("172.16.0.0/12").subnets(new_prefix=16)
                        if p.network_address.packed[1] >= 18 and not any(p.overlaps(t) for t in taken))
            config.insert(0, dict(Subnet=str(pick), Gateway=str(pick.network_address + 1)))
        if kwargs.get("enable_ipv6") and not any(":" in c["Subnet"] for c in config):
            config.append(dict(Subnet="fd00:ab%02x::/64" % (self.serial + 1)))   # from its IPv6 pool
        config.sort(key=lambda c: ":" in c["Subnet"])
        net = self.add_net(name, Internal=kwargs.get("internal", False), Labels=kwargs.get("labels") or {},
                           Driver=kwargs["driver"], Options=kwargs.get("options") or {},
                           EnableIPv6=kwargs.get("enable_ipv6", False))
        net["IPAM"]["Config"] = config
        net["IPAM"]["Driver"] = (kwargs.get("ipam") or {}).get("Driver", "default")
        return net

    def endpoint(self, name, net_name):
        cid = self._ct(name)
        return self.cts[cid]["NetworkSettings"]["Networks"].get(net_name)

    # lookups
    def _net(self, ref):
        for net in self.nets.values():
            if ref in (net["Name"], net["Id"]):
                return net
        return None

    def _ct(self, ref):
        for cid, ct in self.cts.items():
            if ref in (cid, ct["Name"][1:]) or (len(ref) >= 3 and cid.startswith(ref)):
                return cid
        return None

    def get(self, method, ref):
        if method == "inspect_network":
            net = self._net(ref)
            if net is None:
                return None
            out = copy.deepcopy(net)
            out["Containers"] = {cid: dict(Name=ct["Name"][1:]) for cid, ct in self.cts.items()
                                 if (ct["NetworkSettings"]["Networks"].get(net["Name"]) or {})
                                 .get("NetworkID") == net["Id"]}
            return out
        assert method == "inspect_container", method
        cid = self._ct(ref)
        return copy.deepcopy(self.cts[cid]) if cid else None

    def call(self, method, *args, **kwargs):
        if method == "create_network":   # a refused create writes nothing
            why = self._refusal(args[0], kwargs)
            if why:
                raise DockerError("Docker engine refused create_network: %s" % why)
        if method == "networks":
            return [self.get("inspect_network", name) for name in self.nets]
        if method in ("info", "plugins"):
            self.reads.append(method)
            if method == "plugins":   # as the engine lists them
                return [{"Name": p["Name"], "Enabled": p["Enabled"], "Config": {"Interface": {"Types": [
                    {"Prefix": "docker", "Capability": cap, "Version": "1.0"} for cap in p["Caps"]]}}}
                    for p in self.plugins]
            return copy.deepcopy(self.info)
        if method == "containers":
            want = kwargs["filters"]["network"]
            return [dict(Id=cid, Names=[ct["Name"]], NetworkSettings=copy.deepcopy(ct["NetworkSettings"]))
                    for cid, ct in self.cts.items()
                    if want in ct["NetworkSettings"]["Networks"] or any(
                        e["NetworkID"] and e["NetworkID"].startswith(want)
                        for e in ct["NetworkSettings"]["Networks"].values())]
        self.writes.append((method, args, kwargs))
        if method == "create_network":
            return {"Id": self._create(args[0], kwargs)["Id"]}
        if method == "remove_network":
            del self.nets[self._net(args[0])["Name"]]
            return None
        cid, net = self._ct(args[0]), self._net(args[1])
        if method == "connect_container_to_network":
            # only what the collection's own engine client takes
            inspect.signature(EngineAPI.connect_container_to_network).bind(None, *args, **kwargs)
            reserved = {ipaddress.ip_address(a) for c in net["IPAM"]["Config"]
                        for a in [c.get("Gateway")] + list((c.get("AuxiliaryAddresses") or {}).values()) if a}
            for key in ("ipv4_address", "ipv6_address"):
                if kwargs.get(key) and ipaddress.ip_address(kwargs[key]) in reserved:
                    self.writes.pop()
                    raise DockerError("Docker engine refused connect_container_to_network: Address already in use")
            self.attach(cid, net["Name"], kwargs.get("aliases"), kwargs.get("ipv4_address"),
                        kwargs.get("ipv6_address"))
            return None
        assert method == "disconnect_container_from_network", method
        del self.cts[cid]["NetworkSettings"]["Networks"][net["Name"]]
        return None


def _params(**kw):
    p = dict(name="app", state="present", driver=None, driver_options=None, labels=None,
             ipam_driver=None, ipam_config=None, internal=None, attachable=None, enable_ipv6=None,
             recreate=False, force=False, connected=None, appends=False)
    p.update(kw)
    return p


def _converge(engine, **kw):
    """Check mode, the real run, then the real run again: check mode writes nothing and
    predicts the real run (changed, actions, containers, diff); the rerun changes nothing."""
    params = _params(**kw)
    writes = list(engine.writes)
    check = NetworkManager(engine, params, check_mode=True).run()
    assert engine.writes == writes
    real = NetworkManager(engine, params).run()
    for key in ("changed", "actions", "diff"):
        assert check[key] == real[key], key
    assert check["network"]["containers"] == real["network"]["containers"]
    again = NetworkManager(engine, params).run()
    assert not again["changed"] and again["actions"] == [], again["actions"]
    assert again["network"]["containers"] == real["network"]["containers"]
    return real


def _fails(engine, match, **kw):
    writes = list(engine.writes)
    with pytest.raises((DockerError, InputError)) as err:
        NetworkManager(engine, _params(**kw)).run()
    assert engine.writes == writes   # nothing changed
    assert re.search(match, str(err.value)), str(err.value)
    return str(err.value)


def test_connected_running_and_stopped_once_each():
    engine = FakeEngine()
    engine.add_net("app")
    web = engine.add_ct("web")
    engine.add_ct("job", running=False)
    res = _converge(engine, connected=["web", "job", web, web[:12]])
    assert res["actions"] == ["connected job", "connected web"]
    assert res["network"]["containers"] == ["job", "web"]
    assert res["diff"] == {"before": {"present": True, "name": "app", "driver": "bridge", "containers": []},
                           "after": {"present": True, "name": "app", "driver": "bridge",
                                     "containers": ["job", "web"]}}
    # connected without aliases (but the short ID the engine adds)
    assert engine.endpoint("web", "app")["Aliases"] == [web[:12]]
    assert engine.endpoint("job", "app")["NetworkID"] == ""


def test_connected_on_a_network_to_create():
    engine = FakeEngine()
    engine.add_ct("web")
    res = _converge(engine, connected=["web"])
    assert res["actions"] == ["created network app", "connected web"]
    assert res["network"]["containers"] == ["web"]


def test_appends_false_disconnects_unlisted_true_leaves_them():
    engine = FakeEngine()
    engine.add_net("app")
    for name, running in (("a", True), ("b", False), ("c", True)):
        engine.attach(engine.add_ct(name, running=running), "app")
    res = _converge(engine, connected=["a"], appends=True)
    assert res["actions"] == [] and res["network"]["containers"] == ["a", "b", "c"]
    res = _converge(engine, connected=["a"])
    assert res["actions"] == ["disconnected b", "disconnected c"]
    assert res["network"]["containers"] == ["a"]
    res = _converge(engine, connected=[])
    assert res["actions"] == ["disconnected a"] and res["network"]["containers"] == []


def test_left_out_attachments_are_not_managed():
    engine = FakeEngine()
    engine.add_net("app")
    engine.attach(engine.add_ct("a", running=False), "app")
    res = _converge(engine)
    assert res["actions"] == [] and res["network"]["containers"] == ["a"]
    assert "containers" not in res["diff"]["after"]


def test_stale_endpoint_of_a_removed_network_is_not_attached():
    engine = FakeEngine()
    engine.add_net("app")
    old = engine.add_net("old")
    cid = engine.add_ct("a", running=False)
    engine.cts[cid]["NetworkSettings"]["Networks"]["app"] = dict(NetworkID=old["Id"], Aliases=None,
                                                                 IPAMConfig=None)
    res = _converge(engine, connected=["a"])
    assert res["actions"] == ["connected a"]


def test_unknown_container_fails_before_any_write():
    engine = FakeEngine()
    engine.add_net("app")
    engine.attach(engine.add_ct("other"), "app")
    engine.add_ct("web")
    msg = _fails(engine, r"^connected: no such container on the host: nope, gone \(",
                 connected=["web", "nope", "gone"])
    assert "nothing was changed" in msg
    # a network to create is not created either
    _fails(engine, r"^connected: no such container", name="new", connected=["nope"])
    assert "new" not in engine.nets


@pytest.mark.parametrize("mode", ["host", "none", "container:c123"])
def test_shared_network_stack_cannot_be_connected(mode):
    engine = FakeEngine()
    engine.add_net("app")
    engine.add_ct("web")
    engine.add_ct("side", mode=mode)
    msg = _fails(engine, r"^connected: side \(network_mode %s\) cannot be connected" % re.escape(mode),
                 connected=["web", "side"])
    assert "app" in msg


def test_network_that_takes_no_containers():
    engine = FakeEngine()
    engine.add_net("host", Driver="host")
    engine.add_ct("web")
    _fails(engine, r"^connected: network host has driver host", name="host", connected=["web"])
    engine.add_net("ov", Driver="overlay")
    _fails(engine, r"^connected: network ov is an overlay network without attachable",
           name="ov", connected=["web"])


@pytest.mark.parametrize("params,match", [
    (dict(connected=["web"], state="absent"), r"^connected: cannot be used with state: absent"),
    (dict(connected=["web", ""]), r"^connected\[1\]: '' is not a container name or ID"),
    (dict(connected=["we b"]), r"^connected\[0\]: 'we b' is not"),
    (dict(connected=["/web"]), r"^connected\[0\]:"),
])
def test_connected_bad_input(params, match):
    with pytest.raises(InputError, match=match):
        network_desired(_params(**params))


def test_connected_names_listed_twice_count_once():
    d = network_desired(_params(connected=["a", "b", "a"], appends=True))
    assert d["connected"] == ["a", "b"] and d["appends"] is True
    assert network_desired(_params())["connected"] is None
    assert network_desired(_params(connected=[]))["connected"] == []


def test_recreate_force_keeps_aliases_and_fixed_address():
    engine = FakeEngine()
    engine.add_net("app", "172.29.9.0/24")
    dyn = engine.add_ct("a-dynamic")
    fixed = engine.add_ct("z-fixed")
    stopped = engine.add_ct("m-stopped", running=False)
    engine.attach(dyn, "app", aliases=["dyn"])
    engine.attach(fixed, "app", aliases=["api", "www"], ipv4_address="172.29.9.10")
    engine.attach(stopped, "app", ipv4_address="172.29.9.11")
    res = _converge(engine, ipam_config=[{"subnet": "172.29.9.0/24"}], internal=True,
                    recreate=True, force=True)
    assert res["actions"] == [
        "disconnected a-dynamic", "disconnected m-stopped", "disconnected z-fixed",
        "removed network app", "created network app",
        # fixed addresses first: the engine could give theirs to another one
        "reconnected m-stopped with IPv4 address 172.29.9.11",
        "reconnected z-fixed with aliases api, www and IPv4 address 172.29.9.10",
        "reconnected a-dynamic with aliases dyn"]
    ep = engine.endpoint("z-fixed", "app")
    assert ep["Aliases"] == ["api", "www", fixed[:12]] and ep["IPAMConfig"] == {"IPv4Address": "172.29.9.10"}
    assert engine.endpoint("m-stopped", "app")["IPAMConfig"] == {"IPv4Address": "172.29.9.11"}
    assert res["network"]["containers"] == ["a-dynamic", "m-stopped", "z-fixed"]
    assert engine.nets["app"]["Internal"] is True


def test_recreate_force_address_outside_the_new_subnet_is_said():
    engine = FakeEngine()
    engine.add_net("app", "172.29.9.0/24")
    cid = engine.add_ct("web")
    engine.attach(cid, "app", aliases=["api"], ipv4_address="172.29.9.10")
    res = _converge(engine, ipam_config=[{"subnet": "172.29.10.0/24"}], recreate=True, force=True)
    assert res["actions"][-1] == ("reconnected web with aliases api, without its IPv4 address "
                                  "172.29.9.10 (not in the new network's subnets 172.29.10.0/24)")
    assert engine.endpoint("web", "app")["IPAMConfig"] is None


def test_recreate_with_connected_drops_unlisted_without_force():
    engine = FakeEngine()
    engine.add_net("app", "172.29.9.0/24")
    engine.attach(engine.add_ct("old"), "app")
    keep = engine.add_ct("keep")
    engine.attach(keep, "app", aliases=["k"])
    engine.add_ct("new", running=False)
    # keep would be disconnected: force needed, and it says which one
    _fails(engine, r"^name: network app must be recreated .* containers are attached: keep;",
           labels={"v": "2"}, recreate=True, connected=["keep", "new"])
    res = _converge(engine, labels={"v": "2"}, recreate=True, force=True, connected=["keep", "new"])
    assert res["actions"] == ["disconnected keep", "disconnected old", "removed network app",
                              "created network app", "reconnected keep with aliases k", "connected new"]
    assert res["network"]["containers"] == ["keep", "new"]
    # nothing to keep: no force needed to drop the ones connected leaves out
    res = _converge(engine, labels={"v": "3"}, recreate=True, connected=[])
    assert res["actions"] == ["disconnected keep", "disconnected new", "removed network app",
                              "created network app"]


def test_absent_counts_stopped_containers_as_attached():
    engine = FakeEngine()
    engine.add_net("app")
    engine.attach(engine.add_ct("job", running=False), "app")
    _fails(engine, r"^name: network app is to be removed but containers are attached: job;",
           state="absent")
    res = NetworkManager(engine, _params(state="absent", force=True)).run()
    assert res["actions"] == ["disconnected job", "removed network app"]
    assert engine.endpoint("job", "app") is None


@pytest.mark.parametrize("address,ipam,lost", [
    ("172.29.9.10", [{"subnet": "172.29.9.0/24"}], None),
    ("172.29.9.10", None, "the new network has no ipam_config"),
    ("172.29.9.10", [{"subnet": "10.1.0.0/16"}], "not in the new network's subnets 10.1.0.0/16"),
    ("172.29.9.1", [{"subnet": "172.29.9.0/24"}], "the new network's gateway"),
    ("172.29.9.1", [{"subnet": "172.29.9.0/24", "gateway": "172.29.9.254"}], None),
    ("172.29.9.128", [{"subnet": "172.29.9.0/24", "iprange": "172.29.9.128/25"}],
     "the new network's gateway"),
    ("172.29.9.255", [{"subnet": "172.29.9.0/24"}], "not a host address"),
    ("172.29.9.7", [{"subnet": "172.29.9.0/24", "aux_addresses": {"r": "172.29.9.7"}}],
     "reserved by ipam_config aux_addresses"),
])
def test_reconnect_plan_fixed_address(address, ipam, lost):
    desired = _net(ipam_config=ipam)
    kwargs, notes = reconnect_plan("c" * 64, {"IPAMConfig": {"IPv4Address": address},
                                              "Aliases": ["x", "c" * 12]}, desired)
    assert kwargs["aliases"] == ["x"]
    if lost is None:
        assert kwargs["ipv4_address"] == address and notes == []
    else:
        assert "ipv4_address" not in kwargs and lost in notes[0] and address in notes[0]


def test_reconnect_plan_says_what_it_cannot_keep():
    kwargs, notes = reconnect_plan("c" * 64, {"IPAMConfig": {"IPv6Address": "fd00::5",
                                                             "LinkLocalIPs": ["169.254.1.1"]},
                                              "Links": ["db:db"], "Aliases": None}, _net())
    assert kwargs == {}
    assert [n.split(" (")[0] for n in notes] == ["its IPv6 address fd00::5", "its link-local addresses",
                                                 "its links"]
    assert reconnect_action("web", kwargs, notes).startswith("reconnected web, without its IPv6")
    # an IPv6 address inside a subnet of the new network is kept, as an IPv4 one is
    desired = network_desired({"name": "app", "ipam_config": [
        {"subnet": "172.29.9.0/24"}, {"subnet": "fd00:1::/64"}]})
    kwargs, notes = reconnect_plan("c" * 64, {"IPAMConfig": {"IPv4Address": "172.29.9.10",
                                                             "IPv6Address": "fd00:1::10"}}, desired)
    assert kwargs == {"ipv4_address": "172.29.9.10", "ipv6_address": "fd00:1::10"} and notes == []
    assert reconnect_action("web", kwargs, notes) == \
        "reconnected web with IPv4 address 172.29.9.10 and IPv6 address fd00:1::10"
    assert reconnect_plan("c" * 64, None, _net()) == ({}, [])


def test_attached_to_and_names():
    net = {"Name": "app", "Id": "n1"}
    summaries = [
        {"Id": "a" * 64, "Names": ["/web/db", "/web"], "NetworkSettings": {"Networks": {"app": {"NetworkID": "n1"}}}},
        {"Id": "b" * 64, "Names": ["/job"], "NetworkSettings": {"Networks": {"app": {"NetworkID": ""}}}},
        {"Id": "c" * 64, "Names": ["/stale"], "NetworkSettings": {"Networks": {"app": {"NetworkID": "n0"}}}},
        {"Id": "d" * 64, "Names": [], "NetworkSettings": {"Networks": {"other": {"NetworkID": "n1x"}}}},
    ]
    assert attached_to(net, summaries) == {"a" * 64: "web", "b" * 64: "job"}
    assert container_name({"Id": "e" * 64, "Names": None}) == "e" * 12


# ------------------------------------------------------------------ review fixes
def _web_on_app(engine, subnet="172.29.9.0/24", **kw):
    """Network app with container web on it (alias api, a fixed address), network other."""
    engine.add_net("app", subnet, **kw)
    web = engine.add_ct("web")
    engine.attach(web, "app", aliases=["api"], ipv4_address=subnet.replace("0/24", "10"))
    engine.add_net("other", "172.29.8.0/24")
    return web


def _intact(engine, app_id, web):
    assert engine.nets["app"]["Id"] == app_id
    assert engine.cts[web]["NetworkSettings"]["Networks"]["app"]["Aliases"][0] == "api"
    assert not [n for n in engine.nets if "dytrial" in n]


def test_recreate_the_engine_refuses_leaves_the_network_and_its_containers():
    """Finding 1: what the engine refuses fails before the network is removed: a subnet that
    overlaps another network's (checked by the module, in check mode too), options found by
    the trial network (the real run)."""
    engine = FakeEngine()
    web = _web_on_app(engine)
    app_id = engine.nets["app"]["Id"]
    for check in (True, False):
        with pytest.raises(DockerError, match=r"^ipam_config\[0\]\.subnet: 172\.29\.8\.0/24 overlaps subnet "
                                              r"172\.29\.8\.0/24 of network other"):
            NetworkManager(engine, _params(ipam_config=[{"subnet": "172.29.8.0/24"}], recreate=True,
                                           force=True), check_mode=check).run()
    msg = _fails(engine, r"^driver: the engine refused to create network app-dytrial-",
                 driver="nosuchdriver", recreate=True, force=True)
    assert "network app was left as it was" in msg
    engine.refuse = lambda name, kw: "invalid mtu" if (kw.get("options") or {}).get("mtu") == "x" else None
    _fails(engine, r"^driver_options: the engine refused", driver_options={"mtu": "x"}, recreate=True, force=True)
    _intact(engine, app_id, web)


def test_recreate_trial_takes_no_pool_or_bridge_name_of_the_old_network():
    """The trial of a recreate with the same subnet and bridge name has stand-ins for them
    (the old network still holds them); the new network has the real ones."""
    engine = FakeEngine()
    web = _web_on_app(engine, Options={"com.docker.network.bridge.name": "appbr0"})
    opts = {"com.docker.network.bridge.name": "appbr0"}
    res = _converge(engine, ipam_config=[{"subnet": "172.29.9.0/24", "gateway": "172.29.9.254"},
                                         {"subnet": "fd00:29:9::/64"}],
                    enable_ipv6=True, driver_options=opts, recreate=True, force=True)
    assert res["actions"][-1] == "reconnected web with aliases api and IPv4 address 172.29.9.10"
    trial = [w for w in engine.writes if w[0] == "create_network" and "dytrial" in w[1][0]]
    assert len(trial) == 1 and trial[0][1][0].startswith("app-dytrial-")
    config = trial[0][2]["ipam"]["Config"]
    assert [c["Subnet"] for c in config] == ["198.18.0.0/24", "fd00:29:9::/64"]
    assert trial[0][2]["options"]["com.docker.network.bridge.name"].startswith("dytr")
    assert ("remove_network", (trial[0][1][0],), {}) not in engine.writes   # removed by its ID
    assert engine.nets["app"]["Options"] == opts and engine.nets["app"]["IPAM"]["Config"][0]["Gateway"] == "172.29.9.254"
    assert engine.endpoint("web", "app")["IPAMConfig"] == {"IPv4Address": "172.29.9.10"}
    assert not [n for n in engine.nets if "dytrial" in n] and web


def test_trial_spec_stand_ins():
    actual = {"Options": {"parent": "eth0"}, "IPAM": {"Config": [{"Subnet": "10.1.0.0/16"}, {"Subnet": "fd00:1::/64"}]}}
    others = [{"Name": "x", "IPAM": {"Config": [{"Subnet": "198.18.0.0/24"}]}}]
    d = _net(driver="macvlan", driver_options={"parent": "eth0", "x": 1},
             ipam_config=[{"subnet": "10.1.2.0/24", "gateway": "10.1.2.9"}, {"subnet": "10.2.0.0/16"},
                          {"subnet": "fd00:1::/64"}])
    spec = trial_spec(d, actual, others, "0123abcd")
    assert [c["subnet"] for c in spec["ipam_config"]] == ["198.18.1.0/24", "10.2.0.0/16", "fdd7:7e1a:c0de::/64"]
    assert spec["ipam_config"][0]["gateway"] is None and spec["driver_options"] == {"x": "1"}
    assert d["ipam_config"][0]["subnet"] == "10.1.2.0/24"   # the desired spec is left as it was


class _Module:
    """AnsibleModule as network_main uses it."""

    def __init__(self, params, check_mode=False):
        self.params, self.check_mode = params, check_mode

    def fail_json(self, **kw):
        raise SystemExit(("fail", kw))

    def exit_json(self, **kw):
        raise SystemExit(("exit", kw))


def _main(monkeypatch, engine, check_mode=False, **kw):
    del monkeypatch
    with pytest.raises(SystemExit) as out:
        network_main(_Module(_params(**kw), check_mode), client=engine)
    return out.value.args[0]


def test_a_run_failing_after_a_change_says_changed_and_what_it_did(monkeypatch):
    """Finding 1: the engine refuses the new network after the trial passed (or a container
    cannot be connected again): changed, and the actions done."""
    engine = FakeEngine()
    _web_on_app(engine)
    engine.refuse = lambda name, kw: "no more bridges" if name == "app" else None
    how, res = _main(monkeypatch, engine, labels={"v": "2"}, recreate=True, force=True)
    assert how == "fail" and res["changed"] is True
    assert res["actions"] == ["disconnected web", "removed network app"]
    assert res["msg"].startswith("labels: the engine refused to create network app")
    assert res["msg"].endswith("; the network was removed first, and web disconnected from it")
    # refused before any change: not changed
    how, res = _main(monkeypatch, engine, labels={"v": "2"}, state="absent", force=True, connected=["web"])
    assert how == "fail" and res["changed"] is False and res["actions"] == []

    engine = FakeEngine()
    web = _web_on_app(engine)
    engine.add_ct("job", running=False)
    # the engine takes the old address away between the plan and the reconnect
    engine.refuse = None
    real_call = engine.call

    def call(method, *args, **kwargs):
        if method == "connect_container_to_network" and args[0] == web:
            raise DockerError("Docker engine refused connect_container_to_network: Address already in use")
        return real_call(method, *args, **kwargs)
    monkeypatch.setattr(engine, "call", call)
    how, res = _main(monkeypatch, engine, labels={"v": "2"}, recreate=True, force=True, connected=["web", "job"])
    assert how == "fail" and res["changed"] is True
    assert res["actions"][-2:] == ["created network app", "connected job"]
    assert "did not connect web (" in res["msg"] and "Address already in use" in res["msg"]


@pytest.mark.parametrize("name", ["bridge", "host", "none"])
def test_predefined_networks_are_never_removed_or_recreated(name):
    """Finding 2: refused before any write (a container on it stays), in check mode too."""
    engine = FakeEngine()
    engine.add_net(name, "172.17.0.0/16" if name == "bridge" else None,
                   Driver={"bridge": "bridge", "host": "host", "none": "null"}[name])
    cid = engine.add_ct("web")
    engine.attach(cid, name)
    for check in (True, False):
        for kw, match in ((dict(state="absent", force=True),
                           r"^name: %s is a network the engine pre-defines, which it does not remove" % name),
                          (dict(labels={"v": "1"}, recreate=True, force=True),
                           r"^name: %s is a network the engine pre-defines, which it neither removes nor "
                           r"recreates, and it differs \(labels.v" % name)):
            writes = list(engine.writes)
            with pytest.raises(DockerError, match=match):
                NetworkManager(engine, _params(name=name, **kw), check_mode=check).run()
            assert engine.writes == writes and engine.endpoint("web", name) is not None
    # the same settings: nothing to do, no failure
    assert not NetworkManager(engine, _params(name=name, recreate=True)).run()["changed"]
    engine = FakeEngine()
    _fails(engine, r"^name: %s is the name of a network the engine pre-defines" % name, name=name)


def test_ipv6_only_ipam_config_leaves_ipv4_to_the_engine():
    """Finding 3: the IPv4 subnet the engine adds to an IPv6-only list is no drift; check mode
    and diff say the engine picks it."""
    engine = FakeEngine()
    kw = dict(enable_ipv6=True, ipam_config=[{"subnet": "fd00:aa::/64"}], recreate=True)
    res = _converge(engine, **kw)
    assert res["actions"] == ["created network app"]
    assert res["diff"]["after"]["ipam_config"] == [{"subnet": "fd00:aa::/64"}, {"subnet": "the engine's pick (IPv4)"}]
    assert [c["subnet"] for c in res["network"]["ipam"]] == ["172.18.0.0/16", "fd00:aa::/64"]
    # an IPv4-only list on a dual-stack network: the IPv6 subnet is no drift either
    assert network_differences(_net(ipam_config=[{"subnet": "172.18.0.0/16"}]), engine.nets["app"]) == []
    # a listed version is exact
    diffs = network_differences(_net(ipam_config=[{"subnet": "fd00:bb::/64"}]), engine.nets["app"])
    assert diffs == [("ipam_config.subnet", "fd00:bb::/64", ["172.18.0.0/16", "fd00:aa::/64"]),
                     ("ipam_config.subnet", None, "fd00:aa::/64")]
    assert network_after(_net(driver="null", ipam_config=[{"subnet": "fd00:aa::/64"}]))["EnginePicks"] == []


def test_ipam_values_compare_as_addresses():
    """Finding 4: the engine keeps gateway, iprange and aux_addresses as they were given."""
    net = dict(ENGINE_NET, EnableIPv6=True, IPAM={"Driver": "default", "Config": [
        {"Subnet": "172.31.27.0/24"},
        {"Subnet": "fd00:dd:0::/64", "Gateway": "fd00:dd:0::1", "IPRange": "fd00:dd:0:0::/80",
         "AuxiliaryAddresses": {"h": "fd00:dd:0::5"}}]})
    for spelling in ("fd00:dd::", "fd00:dd:0::", "FD00:DD:0:0::"):
        d = _net(enable_ipv6=True, ipam_config=[
            {"subnet": "172.31.27.0/24"},
            {"subnet": spelling + "/64", "gateway": spelling + "1", "iprange": spelling + "/80",
             "aux_addresses": {"h": spelling + "5"}}])
        assert network_differences(d, net) == [], spelling
    view = network_view(d, net)["ipam_config"][1]
    assert view == {"subnet": "fd00:dd::/64", "gateway": "fd00:dd::1", "iprange": "fd00:dd::/80",
                    "aux_addresses": {"h": "fd00:dd::5"}}


@pytest.mark.parametrize("aux,message", [
    ({"h": "notanip"}, r"^ipam_config\[0\]\.aux_addresses\.h: 'notanip' is not a valid IP address"),
    ({"h": "10.1.1.1"}, r"^ipam_config\[0\]\.aux_addresses\.h: 10\.1\.1\.1 is not inside subnet 172\.31\.9\.0/24"),
    ({"h": 5}, r"^ipam_config\[0\]\.aux_addresses\.h: 5 is not a valid IP address"),
    ({"h": "172.31.9.1"}, r"^ipam_config\[0\]\.aux_addresses\.h: 172\.31\.9\.1 is the gateway of subnet "
                          r"172\.31\.9\.0/24 \(the engine's pick\)"),
    ({"h": "172.31.9.0"}, r"^ipam_config\[0\]\.aux_addresses\.h: .* not a host address"),
    ({"h": "172.31.9.255"}, r"^ipam_config\[0\]\.aux_addresses\.h: .* not a host address"),
    ({"h": "172.31.9.5", "i": "172.31.9.5"}, r"^ipam_config\[0\]\.aux_addresses\.i: 172\.31\.9\.5 is reserved "
                                             r"twice \(aux_addresses\.h"),
])
def test_aux_addresses_checked(aux, message):
    """Finding 5: as the engine reserves them, naming the option."""
    with pytest.raises(InputError, match=message):
        _net(ipam_config=[{"subnet": "172.31.9.0/24", "aux_addresses": aux}])


def test_aux_addresses_normalised_and_gateway_checks():
    d = _net(ipam_config=[{"subnet": "fd00:cc::/64", "gateway": "fd00:cc::1", "aux_addresses": {"r": "fd00:cc:0::10"}}])
    assert d["ipam_config"][0]["aux_addresses"] == {"r": "fd00:cc::10"}
    with pytest.raises(InputError, match=r"^ipam_config\[0\]\.aux_addresses\.g: fd00:cc::1 is the gateway"):
        _net(ipam_config=[{"subnet": "fd00:cc::/64", "gateway": "fd00:cc::1", "aux_addresses": {"g": "fd00:cc::1"}}])
    # the engine's pick with an iprange is its first address
    _net(ipam_config=[{"subnet": "10.9.0.0/24", "iprange": "10.9.0.128/25", "aux_addresses": {"a": "10.9.0.1"}}])
    with pytest.raises(InputError, match=r"^ipam_config\[0\]\.aux_addresses\.a: 10\.9\.0\.128 is the gateway"):
        _net(ipam_config=[{"subnet": "10.9.0.0/24", "iprange": "10.9.0.128/25", "aux_addresses": {"a": "10.9.0.128"}}])
    with pytest.raises(InputError, match=r"^ipam_config\[0\]\.gateway: 10\.9\.0\.0 is not a host address"):
        _net(ipam_config=[{"subnet": "10.9.0.0/24", "gateway": "10.9.0.0"}])


def test_recreate_keeps_no_address_an_aux_address_reserves():
    """Finding 5: aux fd00:cc:0::10 is the container's fd00:cc::10: reconnected without it (the
    engine would refuse it after the network was recreated)."""
    engine = FakeEngine()
    engine.add_net("app", EnableIPv6=True, IPAM=dict(Driver="default", Config=[
        {"Subnet": "172.31.25.0/24"}, {"Subnet": "fd00:cc::/64"}]))
    web = engine.add_ct("w6")
    engine.attach(web, "app", ipv4_address="172.31.25.10", ipv6_address="fd00:cc::10")
    res = _converge(engine, enable_ipv6=True, recreate=True, force=True, ipam_config=[
        {"subnet": "172.31.25.0/24"}, {"subnet": "fd00:cc::/64", "aux_addresses": {"r": "fd00:cc:0::10"}}])
    assert res["actions"][-1] == ("reconnected w6 with IPv4 address 172.31.25.10, without its IPv6 address "
                                  "fd00:cc::10 (reserved by ipam_config aux_addresses)")
    assert engine.endpoint("w6", "app")["IPAMConfig"] == {"IPv4Address": "172.31.25.10"}


def test_gateway_the_engine_picked_is_no_drift():
    """Finding 6: Engine 20.10 leaves the gateway it picked out of IPAM.Config."""
    net = dict(ENGINE_NET, IPAM={"Driver": "default", "Config": [
        {"Subnet": "172.31.21.0/24"}, {"Subnet": "172.31.22.0/24", "IPRange": "172.31.22.128/25"}]})
    d = _net(ipam_config=[{"subnet": "172.31.21.0/24", "gateway": "172.31.21.1"},
                          {"subnet": "172.31.22.0/24", "gateway": "172.31.22.128"}])
    assert network_differences(d, net) == []
    d = _net(ipam_config=[{"subnet": "172.31.21.0/24", "gateway": "172.31.21.254"},
                          {"subnet": "172.31.22.0/24", "gateway": "172.31.22.1"}])
    assert network_differences(d, net) == [("ipam_config[172.31.21.0/24].gateway", "172.31.21.254", "172.31.21.1"),
                                           ("ipam_config[172.31.22.0/24].gateway", "172.31.22.1", "172.31.22.128")]
    assert str(engine_gateway("fd00:1::/64")) == "fd00:1::1"


def test_engine_refusals_name_the_option():
    """Minor: a refusal the module cannot foresee names the option it is about."""
    engine = FakeEngine()
    _fails(engine, r"^enable_ipv6, ipam_config: the engine refused to create network app", enable_ipv6=True)
    _fails(engine, r'^ipam_driver: the engine refused .*plugin "nosuch" not found', ipam_driver="nosuch")
    _fails(engine, r'^driver: the engine refused .*plugin "nosuch" not found', driver="nosuch")
    for check in (True, False):   # no swarm: refused before any change, in check mode too
        with pytest.raises(DockerError, match=r"^driver: an overlay network is created on a swarm manager"):
            NetworkManager(engine, _params(driver="overlay", attachable=True), check_mode=check).run()
    assert not engine.nets
    d = _net(driver="bridge", driver_options={"com.docker.network.driver.mtu": "x"}, labels={"a": 1})
    assert refused_options(d, "failed to parse com.docker.network.driver.mtu value: x") == "driver_options"
    assert refused_options(d, "something else") == "driver, driver_options, labels"
    assert refused_options(d, 'plugin "bridge" not found') == "driver"


def test_check_mode_predicts_what_the_engine_refuses():
    """Check mode fails as the real run does, naming the option, for a driver or ipam_driver
    the engine does not have and enable_ipv6 with no IPv6 subnet to be had (Engine 20.10
    without an IPv6 default pool); a create and a recreate; only read calls (the old code
    predicted success). The real run's message and check mode's start alike."""
    engine = FakeEngine()
    engine.add_net("old", "172.30.40.0/24")
    cases = [(r"^driver: ", dict(driver="nosuch")),
             (r'^driver: the engine would refuse to create network app: it has no network driver "nosuch"',
              dict(driver="nosuch")),
             (r"^ipam_driver: ", dict(ipam_driver="nosuch")),
             (r'^ipam_driver: the engine would refuse .*no IPAM driver "nosuch"', dict(ipam_driver="nosuch")),
             (r"^enable_ipv6, ipam_config: ", dict(enable_ipv6=True)),
             (r"^enable_ipv6, ipam_config: the engine would refuse .*engine \(20\.10.* has no IPv6 address pool",
              dict(enable_ipv6=True, ipam_config=[{"subnet": "172.30.41.0/24"}])),
             (r"^driver: .*nothing was changed", dict(name="old", driver="nosuch", recreate=True, force=True))]
    for match, kw in cases:
        params = {"name": "app", **kw}
        real_msg = None
        for check in (False, True):
            writes = list(engine.writes)
            with pytest.raises(DockerError) as err:
                NetworkManager(engine, _params(**params), check_mode=check).run()
            assert engine.writes == writes and set(engine.nets) == {"old"}, kw
            if check:
                assert re.search(match, str(err.value)), (kw, str(err.value))
                assert str(err.value).split(":", maxsplit=1)[0] == real_msg.split(":", maxsplit=1)[0], (str(err.value), real_msg)
            real_msg = str(err.value)


def test_check_mode_knows_plugins_and_ipv6_pools():
    """What the engine has is no refusal: a managed plugin (enabled; its tag latest implied),
    a driver a network of the host uses, and an IPv6 subnet picked from an IPv6 default pool
    or by Engine 27 and later. Check mode predicts the real run (_converge). No extra read on
    the no-op path."""
    engine = FakeEngine()
    engine.plugins = [{"Name": "acme/weave:latest", "Enabled": True, "Caps": ["networkdriver"]},
                      {"Name": "acme/ipam:latest", "Enabled": True, "Caps": ["ipamdriver"]},
                      {"Name": "acme/off:latest", "Enabled": False, "Caps": ["ipamdriver"]}]
    _converge(engine, name="w", driver="acme/weave")
    _converge(engine, name="i", ipam_driver="acme/ipam:latest")
    with pytest.raises(DockerError, match=r'^ipam_driver: .*no IPAM driver "acme/off"'):
        NetworkManager(engine, _params(name="o", ipam_driver="acme/off"), check_mode=True).run()
    engine.add_net("legacy", "172.30.42.0/24", Driver="oldplug", IPAM=dict(Driver="oldipam", Config=[]))
    assert "oldplug" in known_drivers("driver", engine.info, engine.call("networks"))
    assert "oldipam" in known_drivers("ipam_driver", engine.info, engine.call("networks"))
    engine.info["DefaultAddressPools"] = [{"Base": "10.210.0.0/16", "Size": 24},
                                          {"Base": "fd00:dd00::/56", "Size": 64}]
    _converge(engine, name="v6", enable_ipv6=True)
    del engine.info["DefaultAddressPools"]
    engine.info["ServerVersion"] = "27.3.1"
    _converge(engine, name="v6b", enable_ipv6=True, ipam_config=[{"subnet": "172.30.43.0/24"}])
    engine.reads.clear()
    for name in ("w", "i", "v6"):   # no change: nothing more is read
        NetworkManager(engine, _params(name=name, driver=engine.nets[name]["Driver"],
                                       enable_ipv6=engine.nets[name]["EnableIPv6"]), check_mode=True).run()
    assert engine.reads == []
    # a built-in driver, IPv6 subnets of its own: nothing to ask the engine either
    NetworkManager(engine, _params(name="new", driver="bridge", ipam_driver="default", enable_ipv6=True,
                                   ipam_config=[{"subnet": "fd00:77::/64"}]), check_mode=True).run()
    assert engine.reads == []


@pytest.mark.parametrize("info,picks", [
    ({"ServerVersion": "20.10.24+dfsg1"}, False),
    ({"ServerVersion": "20.10.24", "DefaultAddressPools": [{"Base": "10.10.0.0/16", "Size": 24}]}, False),
    ({"ServerVersion": "20.10.24", "DefaultAddressPools": [{"Base": "fd00:1::/48", "Size": 64}]}, True),
    ({"ServerVersion": "27.0.1"}, True), ({"ServerVersion": "28.1.0"}, True), ({}, False),
])
def test_engine_picks_ipv6(info, picks):
    assert engine_picks_ipv6(info) is picks
    d = _net(enable_ipv6=True)
    assert (ipv6_refusal(d, info) is None) is picks
    # an IPv6 subnet given, another IPAM driver, or a driver without pools: not the engine's pick
    for kw in (dict(ipam_config=[{"subnet": "fd00:2::/64"}]), dict(ipam_driver="acme/ipam"),
               dict(driver="null"), dict(driver="overlay")):
        assert ipv6_refusal(_net(enable_ipv6=True, **kw), info) is None, kw


# ------------------------------------------------------------------ volumes: the engine's rules
@pytest.mark.parametrize("params,message", [
    (dict(name="v"), "^name: 'v' is too short"),
    (dict(name="vol", driver_options={"foo": "bar"}), "^driver_options: the local driver takes .* not foo"),
    (dict(name="vol", driver_options={"type": "tmpfs"}), "^driver_options: .*together.*got type"),
    (dict(name="vol", driver_options={"o": "size=1m"}), "^driver_options: .*got o"),
    (dict(name="vol", driver="local", driver_options={"device": "/dev/x", "o": "ro"}), "^driver_options:"),
])
def test_volume_options_the_engine_refuses_fail_first(params, message):
    with pytest.raises(InputError, match=message):
        volume_desired(params)


def test_volume_options_another_driver_takes_any_and_null_is_empty():
    d = volume_desired(dict(name="vol", driver="rexray", driver_options={"size": 5, "foo": None},
                            labels={"x": None, "y": True}))
    assert d["driver_options"] == {"size": "5", "foo": ""} and d["labels"] == {"x": "", "y": "true"}
    ok = volume_desired(dict(name="vol", driver_options={"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}))
    assert ok["driver_options"] == {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}


def test_a_recreated_volume_keeps_what_the_task_does_not_set():
    actual = {"Name": "vol", "Driver": "local", "Options": {"type": "tmpfs", "device": "tmpfs", "o": "size=8m"},
              "Labels": {"a": "1", "b": "2"}}
    made = volume_recreated(volume_desired(dict(name="vol", labels={"a": "3"})), actual)
    assert made["driver"] == "local" and made["labels"] == {"a": "3", "b": "2"}
    assert made["driver_options"] == {"type": "tmpfs", "device": "tmpfs", "o": "size=8m"}
    made = volume_recreated(volume_desired(dict(name="vol", driver_options={"o": "size=16m", "type": "tmpfs",
                                                                            "device": "tmpfs"})), actual)
    assert made["driver_options"]["o"] == "size=16m" and made["labels"] == {"a": "1", "b": "2"}
    # another driver: the old driver's options are not its own
    made = volume_recreated(volume_desired(dict(name="vol", driver="other", driver_options={"k": "v"})), actual)
    assert made["driver"] == "other" and made["driver_options"] == {"k": "v"} and made["labels"] == actual["Labels"]
