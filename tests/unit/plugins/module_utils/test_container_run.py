"""module_utils/_container.py's run against a scripted engine: what a no-op costs in engine
calls (the fewest: the container's inspect and the image's), that a change reads the
container again, and what a run does with the containers a recreate set aside and a killed
run left (ContainerEngine.replace renames the old one <name>-dyold-<id>)."""
from __future__ import annotations

import copy

import pytest

from ansible_collections.dockyard.fleet.plugins.module_utils._container import (
    container_argument_spec, container_main)
from ansible_collections.dockyard.fleet.plugins.module_utils._container_engine import ContainerEngine
from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import DockerError
from ansible_collections.dockyard.fleet.tests.unit.plugins.module_utils.controller_run import run_main
from ansible_collections.dockyard.fleet.tests.unit.plugins.module_utils.test_compare import (
    CONTAINER, IMAGE, IMAGE_ID)

OLD = "d" * 64
ASIDE = "web-dyold-" + OLD[:12]


def entry(cid, name, state="running", created=1):
    return {"Id": cid, "Names": ["/" + name], "State": state, "Created": created}


class Engine:
    """Answers inspect and listing calls from the fixtures; logs every call. web: whether
    a container is named web (running or not); aside: the listing entries the engine's
    name filter returns (its filter is a regular expression: a superset)."""

    def __init__(self, web=True, web_running=True, aside=()):
        self.log = []
        self.container = copy.deepcopy(CONTAINER) if web else None
        if web and not web_running:
            self.container["State"] = {"Status": "exited", "Running": False}
        self.aside = list(aside)

    def get(self, method, ref, *args, **kwargs):
        self.log.append((method, ref))
        if method == "inspect_container":
            if self.container and ref in ("web", self.container["Id"]):
                return self.container
            for e in self.aside:
                if ref == e["Id"]:
                    return dict(copy.deepcopy(CONTAINER), Id=e["Id"], Name=e["Names"][0])
            return None
        if method == "inspect_image":
            return IMAGE if ref in ("dockyard/demo:v1", IMAGE_ID) else None
        raise AssertionError(method)

    def call(self, method, *args, **kwargs):
        self.log.append((method,) + args)
        if method == "containers":
            assert kwargs == {"all": True, "filters": {"name": "/web-dyold-"}}, kwargs
            return self.aside
        return None


def run(params, check_mode=False, **engine_kw):
    engine = Engine(**engine_kw)
    return run_main(container_argument_spec(), container_main, engine, params, check_mode), engine.log


def test_a_no_op_is_two_engine_calls():
    result, log = run({"name": "web", "image": "dockyard/demo:v1", "published_ports": ["8080:80"],
                       "env": {"A": "1"}, "labels": {"x": "y"}})
    assert not result["changed"] and result["actions"] == [], result
    assert log == [("inspect_container", "web"), ("inspect_image", "dockyard/demo:v1")]
    assert result["container"]["id"] == CONTAINER["Id"]


def test_a_change_reads_the_container_again():
    result, log = run({"name": "web", "image": "dockyard/demo:v1", "restart_policy": "always"})
    assert result["changed"] and result["actions"] == ["updated restart_policy"], result
    # a change looks for containers a killed recreate set aside (one listing), a no-op does not
    assert [entry[0] for entry in log] == ["inspect_container", "inspect_image", "containers",
                                           "update_container", "inspect_container"]


WEB = {"name": "web", "image": "dockyard/demo:v1", "published_ports": ["8080:80"],
       "env": {"A": "1"}, "labels": {"x": "y"}}
WHY = " (set aside by a run that ended in the middle of a recreate)"


@pytest.mark.parametrize("check_mode", [True, False])
def test_the_newest_container_set_aside_gets_the_name_back_when_none_has_it(check_mode):
    # the run that set it aside ended before the new container was made: the old one, as it
    # was, is what the name stands for; an older one set aside (another killed run) goes
    older = "e" * 64
    result, log = run(WEB, check_mode, web=False,
                      aside=[entry(older, "web-dyold-" + older[:12], "exited", created=1),
                             entry(OLD, ASIDE, created=2),
                             entry("f" * 64, "web-dyold-other"),           # not ours: the
                             entry("0" * 64, "web-dyold-" + "0" * 12 + "x")])  # filter's superset
    assert result["changed"], result
    assert result["actions"] == ["renamed %s back to web%s" % (ASIDE, WHY),
                                 "removed web-dyold-%s%s" % (older[:12], WHY)]
    writes = [e for e in log if e[0] not in ("inspect_container", "inspect_image", "containers")]
    if check_mode:
        assert writes == []
    else:   # the older one (not running: nothing to stop) removed, then the rename
        assert writes == [("remove_container", older), ("rename", OLD, "web")]
    assert ("containers",) in log


def test_one_set_aside_is_stopped_and_removed_before_the_container_starts():
    # the run ended after the new container was made, before the old one stopped: the old
    # one still runs (and holds the published port the new one needs)
    result, log = run(WEB, web_running=False, aside=[entry(OLD, ASIDE)])
    assert result["actions"] == ["removed %s%s" % (ASIDE, WHY), "started"], result
    writes = [e for e in log if e[0] not in ("inspect_container", "inspect_image", "containers")]
    assert writes == [("stop", OLD), ("remove_container", OLD), ("start", CONTAINER["Id"])]


def test_a_no_op_does_not_look_for_containers_set_aside():
    result, log = run(WEB, aside=[entry(OLD, ASIDE, "exited")])
    assert not result["changed"] and result["actions"] == []
    assert [e[0] for e in log] == ["inspect_container", "inspect_image"]


@pytest.mark.parametrize("web", [True, False])
def test_absent_removes_the_containers_set_aside_too(web):
    result, log = run({"name": "web", "state": "absent"}, web=web, aside=[entry(OLD, ASIDE)])
    assert result["changed"]
    assert result["actions"] == ["removed %s%s" % (ASIDE, WHY)] + (["removed"] if web else [])
    assert [e for e in log if e[0] == "rename"] == []


def test_a_namespace_shared_with_a_named_container_is_compared_by_that_containers_id():
    # the engine keeps container:<ID> for container:<name>; a name no container has stays
    class Named:
        def __init__(self):
            self.log = []

        def get(self, method, ref):
            self.log.append((method, ref))
            return {"Id": "9" * 64} if ref == "db" else None

    client = Named()
    spec = {"network_mode": "container:db", "pid_mode": "container:gone", "ipc_mode": "host"}
    assert ContainerEngine(client).resolve_refs(spec) == {
        "network_mode": "container:" + "9" * 64, "pid_mode": "container:gone", "ipc_mode": "host"}
    assert client.log == [("inspect_container", "db"), ("inspect_container", "gone")]
    assert ContainerEngine(client).resolve_refs({"network_mode": "bridge"}) == {"network_mode": "bridge"}
    assert len(client.log) == 2


class Failing(Engine):
    """Engine whose networks listing has only bridge and n1, and whose calls of the methods
    in fail raise DockerError."""

    def __init__(self, fail=(), **kw):
        super().__init__(**kw)
        self.fail = set(fail)

    def call(self, method, *args, **kwargs):
        if method == "networks":
            self.log.append((method,))
            return [{"Name": "bridge", "Id": "b" * 64}, {"Name": "n1", "Id": "1" * 64}]
        if method in self.fail:
            self.log.append((method,) + args)
            raise DockerError("Docker engine: %s failed" % method)
        return super().call(method, *args, **kwargs)


def test_a_failure_after_a_change_reports_the_change():
    engine = Failing(fail=["connect_container_to_network"])
    result = run_main(container_argument_spec(), container_main, engine,
                      dict(WEB, memory="96m", networks=[{"name": "n1"}]))
    assert result["failed"] and result["changed"], result
    assert result["actions"] == ["updated memory"], result
    assert "connect_container_to_network failed" in result["msg"]


@pytest.mark.parametrize("check_mode", [True, False])
def test_a_network_the_host_lacks_fails_before_any_change(check_mode):
    engine = Failing(web=False)
    result = run_main(container_argument_spec(), container_main, engine,
                      dict(WEB, memory="96m", networks=[{"name": "n1"}, {"name": "nope"}]), check_mode)
    writes = [e for e in engine.log if e[0] not in ("inspect_container", "inspect_image", "containers", "networks")]
    assert writes == []
    if check_mode:   # an earlier task may create it: a warning
        assert result["changed"] and "networks[1].name" in result["warnings"][0], result
    else:
        assert result["failed"] and not result["changed"], result
        assert result["msg"].startswith("networks[1].name: network nope not found"), result
