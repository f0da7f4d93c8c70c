"""module_utils/_service.py's run against a scripted engine, and its pure helpers: a replica
scaled away is stopped with its own stop timeout (read from its inspect: a listing entry has
none), a run that fails after it changed replicas says so (changed, and what it did), and the
checks made before any change (wait: healthy without a check, a container holding a replica's
name)."""
from __future__ import annotations

import copy

import pytest

from ansible_collections.dockyard.fleet.plugins.module_utils._container_spec import SpecError
from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import DockerError
from ansible_collections.dockyard.fleet.plugins.module_utils._service import (
    check_wait_healthy, moved, replica_diff, service_argument_spec, service_main, stop_spec,
    stray_message, unpause)
from ansible_collections.dockyard.fleet.tests.unit.plugins.module_utils.controller_run import run_main
from ansible_collections.dockyard.fleet.tests.unit.plugins.module_utils.test_compare import (
    CONTAINER, IMAGE, IMAGE_ID)


def replica(i, stop_timeout=None, running=True):
    c = copy.deepcopy(CONTAINER)
    c["Id"] = str(i) * 64
    c["Name"] = "/web-%d" % i
    c["Config"]["Labels"] = {"org.opencontainers.image.title": "dockyard-demo",
                             "dockyard.service": "web", "dockyard.replica": str(i)}
    c["Config"]["Env"] = ["PATH=/bin", "DEMO_VERSION=v1"]
    c["HostConfig"]["PortBindings"] = {}
    if stop_timeout is not None:
        c["Config"]["StopTimeout"] = stop_timeout
    if not running:
        c["State"] = {"Status": "exited", "Running": False}
    return c


def listed(c):
    """The listing entry of a container: no Config (so no StopTimeout)."""
    return {"Id": c["Id"], "Names": [c["Name"]], "State": c["State"]["Status"],
            "Labels": c["Config"]["Labels"], "Image": "dockyard/demo:v1", "ImageID": IMAGE_ID}


class Engine:
    """The service's containers (inspects by name and ID), the demo image; logs every call.
    fail: {method: message} calls refused by the engine."""

    def __init__(self, containers, fail=None):
        self.containers = {c["Id"]: c for c in containers}
        self.fail = fail or {}
        self.log = []

    def find(self, ref):
        for c in self.containers.values():
            if ref in (c["Id"], c["Name"].lstrip("/")):
                return c
        return None

    def get(self, method, ref, *args, **kwargs):
        self.log.append((method, ref))
        if method == "inspect_container":
            return copy.deepcopy(self.find(ref))
        if method == "inspect_image":
            return IMAGE if ref in ("dockyard/demo:v1", IMAGE_ID) else None
        raise AssertionError(method)

    def call(self, method, *args, **kwargs):
        self.log.append((method, args, kwargs))
        if method in self.fail:
            raise DockerError(self.fail[method])
        if method == "containers":
            return [listed(c) for c in self.containers.values()]
        if method == "stop":
            self.find(args[0])["State"] = {"Status": "exited", "Running": False}
            return None
        if method == "remove_container":
            self.containers.pop(self.find(args[0])["Id"])
            return None
        if method == "info":
            return {}
        raise AssertionError(method)


def run(engine, check_mode=False, **params):
    params = dict({"name": "web", "image": "dockyard/demo:v1", "execution": "controller"}, **params)
    return run_main(service_argument_spec(), service_main, engine, params, check_mode)


def test_a_replica_scaled_away_is_stopped_with_its_own_stop_timeout():
    engine = Engine([replica(1, 80), replica(2, 80)])
    result = run(engine, replicas=1)
    assert result["changed"] and result["actions"] == ["web-2: removed"], result
    assert ("stop", ("2" * 64,), {"timeout": 80}) in engine.log


def test_a_removal_that_fails_after_the_stop_reports_changed_and_what_it_did():
    engine = Engine([replica(1), replica(2), replica(3)], fail={"remove_container": "refused"})
    result = run(engine, replicas=1)
    assert result["failed"] and result["changed"], result
    assert "refused" in result["msg"]
    assert result["actions"] == ["web-2: removal failed"], result
    assert [(r["name"], r["action"]) for r in result["replicas"]] == [
        ("web-1", "unchanged"), ("web-2", "failed"), ("web-3", "unchanged")]
    assert result["diff"] == {"before": {}, "after": {}}


def test_stop_spec_takes_the_replicas_own_stop_timeout_unless_given_or_created():
    cur = replica(1, 80)
    assert stop_spec({"image": "x"}, {"current": cur, "steps": ["stop"]})["stop_timeout"] == 80
    assert stop_spec({"image": "x", "stop_timeout": 3}, {"current": cur, "steps": ["stop"]})["stop_timeout"] == 3
    assert "stop_timeout" not in stop_spec({"image": "x"}, {"current": cur, "steps": ["remove", "create"]})
    assert "stop_timeout" not in stop_spec({"image": "x"}, {"current": replica(1), "steps": ["stop"]})
    assert "stop_timeout" not in stop_spec({"image": "x"}, {"current": None, "steps": ["create"]})


@pytest.mark.parametrize("state,steps,running,after", [
    ("stopped", ["create"], None, "created"),     # the plan only creates: not "exited"
    ("present", ["create"], None, "created"),
    ("started", ["create", "start"], None, "running"),
    ("stopped", ["stop"], True, "exited"),
    ("started", ["unpause"], True, None),          # running before and after: no state in the diff
    ("absent", ["remove"], True, "absent"),
])
def test_replica_diff_state_follows_the_steps(state, steps, running, after):
    current = None if running is None else replica(1)
    b, a = replica_diff({"diffs": [], "steps": steps, "current": current},
                        {"image": "dockyard/demo:v1", "env": {"A": "1"}}, state, None)
    assert a.get("state") == after
    if current is None:   # a new replica shows its configuration, as the container module does
        assert b == {"state": "absent"} and a["image"] == "dockyard/demo:v1" and a["env"] == ["A"]   # names only, as the container module shows them


def test_a_paused_replica_is_unpaused():
    cur = replica(1)
    cur["State"] = {"Status": "paused", "Running": True, "Paused": True}
    d = {"steps": [], "current": cur}
    unpause(d)
    assert d["steps"] == ["unpause"]
    d = {"steps": [], "current": replica(1)}
    unpause(d)
    assert d["steps"] == []


def slot(i, existing=True):
    return {"index": i, "name": "web-%d" % i, "existing": {"Id": "x"} if existing else None}


NO_HC = dict(IMAGE, Config=dict(IMAGE["Config"], Healthcheck=None))


@pytest.mark.parametrize("spec,image,current,steps,needle", [
    ({"healthcheck": {"test": ["NONE"]}}, IMAGE, None, ["create", "start"], "option healthcheck disables"),
    ({}, NO_HC, None, ["create", "start"], "has no HEALTHCHECK"),
    ({}, IMAGE, dict(replica(1), Config=dict(replica(1)["Config"], Healthcheck={"Test": ["NONE"]})), [],
     "made without one"),
])
def test_wait_healthy_without_a_check_is_refused(spec, image, current, steps, needle):
    spec = dict(spec, image="dockyard/demo:v1")
    with pytest.raises(SpecError) as exc:
        check_wait_healthy(spec, image, [(slot(1), spec, {"current": current, "steps": steps})], False, False)
    assert exc.value.option == "wait" and needle in str(exc.value), str(exc.value)


def test_wait_healthy_with_a_check_or_unknown_image_passes():
    spec = {"image": "dockyard/demo:v1"}
    check_wait_healthy(spec, IMAGE, [(slot(1), spec, {"current": None, "steps": ["create"]})], False, False)
    check_wait_healthy(spec, None, [(slot(1), spec, {"current": None, "steps": ["create"]})], False, False)
    # converge=missing: an existing replica is not awaited
    kept = dict(replica(1), Config=dict(replica(1)["Config"], Healthcheck={"Test": ["NONE"]}))
    check_wait_healthy(spec, IMAGE, [(slot(1), spec, {"current": kept, "steps": []})], False, True)


def test_stray_message_says_what_the_labels_are():
    c = replica(2)
    c["Config"]["Labels"] = {"dockyard.service": "web"}
    assert "has no dockyard.replica label" in stray_message("web", 2, c)
    c["Config"]["Labels"]["dockyard.replica"] = "3"
    assert "dockyard.replica=3, not 2" in stray_message("web", 2, c)
    c["Config"]["Labels"] = {}
    assert "is not labelled dockyard.service=web" in stray_message("web", 2, c)


def test_moved():
    cur = replica(1)
    assert not moved(cur, copy.deepcopy(cur))
    assert moved(cur, None) and moved(None, cur) and not moved(None, None)
    assert moved(cur, dict(cur, State={"Status": "exited"}))
    assert moved(listed(cur), dict(cur, State={"Status": "exited"}))
    assert not moved(listed(cur), cur)


@pytest.mark.parametrize("check_mode", [True, False])
def test_replicas_removed_by_state_absent_have_no_id(check_mode):
    """replicas[].id is null when removed (RETURN), in check mode as in the real run."""
    engine = Engine([replica(1), replica(2)])
    result = run(engine, check_mode=check_mode, state="absent", replicas=2)
    assert result["changed"] and result["ports"] == {}, result
    assert [(r["name"], r["action"], r["id"]) for r in result["replicas"]] == [
        ("web-1", "removed", None), ("web-2", "removed", None)]


def test_a_stopped_replica_a_killed_roll_kept_set_aside_is_removed_by_the_next_run():
    """A roll with a rollback keeps the container it replaced, stopped, under its set-aside
    name until the replica passed; a run killed before that leaves it. The next run removes it
    (no stop: it is stopped) and leaves the replica as it is."""
    old = replica(9, running=False)
    old["Config"]["Labels"]["dockyard.replica"] = "1"
    old["Name"] = "/web-1-dyold-" + old["Id"][:12]
    engine = Engine([replica(1), old])
    result = run(engine, replicas=1)
    assert result["changed"], result
    assert result["actions"] == [
        "web-1-dyold-999999999999: removed (set aside by a run that ended in the middle of a recreate)"]
    assert [e[0] for e in engine.log if e[0] in ("stop", "remove_container")] == ["remove_container"]
    assert sorted(engine.containers) == ["1" * 64]
