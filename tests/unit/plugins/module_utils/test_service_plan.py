"""Replica planning for the service module."""
import pytest

from ansible_collections.dockyard.fleet.plugins.module_utils._container_spec import SpecError, parse_ports
from ansible_collections.dockyard.fleet.plugins.module_utils._service_plan import (
    check_published_ports, entry_name, host_ports, plan_replicas, replica_action, replica_spec)


def entry(name, index, cid=None):
    return {"Id": cid or "id-%s" % name, "Names": ["/" + name], "State": "running",
            "Labels": {"dockyard.service": name.rsplit("-", 1)[0], "dockyard.replica": str(index)}}


def idx(slots):
    return [s["index"] for s in slots]


def test_fresh_service():
    p = plan_replicas("web", 3, [], port_base=8081)
    assert idx(p["slots"]) == [1, 2, 3]
    assert [s["name"] for s in p["slots"]] == ["web-1", "web-2", "web-3"]
    assert [s["host_port"] for s in p["slots"]] == [8081, 8082, 8083]
    assert p["ports"] == {"1": 8081, "2": 8082, "3": 8083}
    assert p["remove"] == []
    assert all(s["existing"] is None for s in p["slots"])


def test_explicit_ports():
    p = plan_replicas("web", 2, [], ports=[9000, 9100])
    assert p["ports"] == {"1": 9000, "2": 9100}


def test_no_ports():
    p = plan_replicas("web", 2, [])
    assert p["ports"] == {"1": None, "2": None}


def test_scale_down_removes_above_n():
    existing = [entry("web-%d" % i, i) for i in (1, 2, 3, 4)]
    p = plan_replicas("web", 2, existing, port_base=8081)
    assert idx(p["slots"]) == [1, 2]
    assert p["slots"][0]["existing"]["Id"] == "id-web-1"
    assert sorted(e["Names"][0] for e in p["remove"]) == ["/web-3", "/web-4"]
    assert [entry_name(e) for e in p["above"]] == ["web-3", "web-4"]


def test_scale_up_keeps_existing():
    existing = [entry("web-1", 1)]
    p = plan_replicas("web", 3, existing, port_base=8081)
    assert [s["existing"] is not None for s in p["slots"]] == [True, False, False]


def test_strays_removed():
    stray = entry("web-1", 1)
    stray["Names"] = ["/web-old"]
    dup = entry("web-2", 2, cid="dup")
    dup["Names"] = ["/web-2x"]
    bad = entry("web-5", 5)
    bad["Labels"]["dockyard.replica"] = "five"
    p = plan_replicas("web", 2, [stray, dup, bad, entry("web-2", 2)], port_base=8081)
    assert len(p["remove"]) == 3 and p["above"] == []   # strays are not "above"
    assert p["slots"][1]["existing"]["Id"] == "id-web-2"


def test_only():
    existing = [entry("web-%d" % i, i) for i in (1, 2, 3, 4)]
    p = plan_replicas("web", 3, existing, port_base=8081, only=[2])
    assert idx(p["slots"]) == [2]
    assert p["slots"][0]["host_port"] == 8082
    assert p["remove"] == []          # others untouched, no scale-down
    assert [entry_name(e) for e in p["above"]] == ["web-4"]   # but said (a roll warns)
    assert p["ports"] == {"1": 8081, "2": 8082, "3": 8083}


def test_absent():
    existing = [entry("web-%d" % i, i) for i in (1, 2, 5)]
    p = plan_replicas("web", 2, existing, state="absent")
    assert idx(p["slots"]) == [1, 2, 5]
    p = plan_replicas("web", 2, existing, state="absent", only=[2])
    assert idx(p["slots"]) == [2]


@pytest.mark.parametrize("kw,option", [
    (dict(replicas=-1), "replicas"),
    (dict(replicas=2, ports=[1]), "ports"),
    (dict(replicas=2, ports=[8080, 8080]), "ports"),
    (dict(replicas=2, ports=[0, 1]), "ports"),
    (dict(replicas=3, port_base=65534), "port_base"),
    (dict(replicas=3, port_base=8080, only=[4]), "only"),
    (dict(replicas=3, port_base=8080, only=[0]), "only"),
    (dict(replicas=1, container_port=0), "container_port"),
    (dict(replicas=1, port_base=1, ports=[1]), "ports"),
])
def test_bad_input(kw, option):
    with pytest.raises(SpecError) as exc:
        plan_replicas("web", kw.pop("replicas"), [], **kw)
    assert exc.value.option == option


def test_bad_name():
    with pytest.raises(SpecError, match="^name"):
        plan_replicas("-web", 1, [])


def test_host_ports():
    assert host_ports(0, port_base=8080) == {}


def test_replica_spec():
    spec = {"image": "x", "labels": {"a": "b"}, "published_ports": [("9090/tcp", "", "9090")]}
    r = replica_spec(spec, "web", 2, 8082, 80)
    assert r["labels"] == {"a": "b", "dockyard.service": "web", "dockyard.replica": "2"}
    assert r["published_ports"] == [("80/tcp", "", "8082"), ("9090/tcp", "", "9090")]
    assert spec["labels"] == {"a": "b"}  # not mutated
    assert "published_ports" not in replica_spec({"image": "x"}, "web", 1, None)


@pytest.mark.parametrize("steps,action", [
    ([], "unchanged"), (["create", "start"], "created"), (["remove", "create", "start"], "recreated"),
    (["update"], "updated"), (["update", "start"], "updated"), (["start"], "started"),
    (["remove"], "removed"), (["stop"], "stopped"), (["restart"], "restarted"),
])
def test_replica_action(steps, action):
    assert replica_action(steps) == action


def test_only_empty_touches_nothing():
    """only: [] converges no replica and removes none (not "every replica", as no only)."""
    existing = [entry("web-%d" % i, i) for i in (1, 2, 3)]
    p = plan_replicas("web", 2, existing, port_base=8081, only=[])
    assert p["slots"] == [] and p["remove"] == []
    assert [entry_name(e) for e in p["above"]] == ["web-3"]
    assert p["ports"] == {"1": 8081, "2": 8082}
    p = plan_replicas("web", 3, existing, state="absent", only=[])
    assert p["slots"] == [] and p["remove"] == []


@pytest.mark.parametrize("label", ["0", "-1"])
def test_replica_label_below_one_is_a_stray(label):
    """No replica has index 0 or below: such a label is a stray's, removed (it was kept forever)."""
    odd = entry("web-%s" % label, 1)
    odd["Labels"]["dockyard.replica"] = label
    p = plan_replicas("web", 2, [odd, entry("web-1", 1)], port_base=8081)
    assert [entry_name(e) for e in p["remove"]] == ["web-%s" % label]
    assert idx(p["slots"]) == [1, 2]


def ports_of(*texts):
    return parse_ports(list(texts))


@pytest.mark.parametrize("published,replicas,ports,ok", [
    (["8080"], 3, {1: 8081, 2: 8082, 3: 8083}, True),             # random host port per replica
    (["127.0.0.1::8080"], 3, {1: None, 2: None, 3: None}, True),
    (["19190:8080"], 1, {1: 8081}, True),                          # one replica: one binding
    (["19190:8080"], 2, {1: 8081, 2: 8082}, False),                # the second start would fail
    (["127.0.0.1:19190:8080/udp"], 2, {1: None, 2: None}, False),
    (["8000-8001:80-81"], 2, {1: None, 2: None}, False),          # fixed ports, a range of them
    (["19700-19702:8080"], 3, {1: 8081, 2: 8082, 3: 8083}, True),  # the engine picks one each
    (["19700-19701:8080"], 3, {1: 8081, 2: 8082, 3: 8083}, False),
    (["8081:8080"], 1, {1: 8081}, False),                          # replica 1's own port
    (["8081:8080/udp"], 1, {1: 8081}, True),                       # another protocol
])
def test_published_ports_every_replica_can_have(published, replicas, ports, ok):
    spec = ports_of(*published)
    if ok:
        check_published_ports(spec, replicas, ports)
        return
    with pytest.raises(SpecError) as exc:
        check_published_ports(spec, replicas, ports)
    assert exc.value.option == "published_ports"


def test_published_ports_not_checked_for_absent():
    check_published_ports(ports_of("19190:8080"), 3, {1: 1, 2: 2, 3: 3}, state="absent")


def test_unpause_action():
    assert replica_action(["unpause"]) == "unpaused"
