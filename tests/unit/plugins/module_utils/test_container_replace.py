"""ContainerEngine.replace / retire and apply(): a recreate keeps the old container until the
new one is made, stops it gracefully (its own stop signal and timeout, not a forced removal's
kill), and puts it back when the new one cannot be made or started."""
from __future__ import annotations

import pytest

from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import DockerError
from ansible_collections.dockyard.fleet.plugins.module_utils._container_engine import (
    ContainerEngine, apply)

OLD = "a" * 64
NEW = "b" * 64
ASIDE = "web-dyold-" + OLD[:12]


class ScriptedClient:
    """Logs every call as (method, args...); fail: {method: error} raised on that call (once)."""

    def __init__(self, fail=None, made=None):
        self.log = []
        self.fail = dict(fail or {})
        self.made = made   # what inspecting "web" finds after a failed creation
        self.conn = {"timeout": 60}

    def call(self, method, *args, **kwargs):
        self.log.append((method,) + args + tuple(sorted(kwargs.items())))
        if method in self.fail:
            raise self.fail.pop(method)
        if method == "create_container_from_config":
            return {"Id": NEW}
        return None

    def get(self, method, *args):
        self.log.append((method,) + args)
        return self.made


def current(running=True, stop_timeout=None):
    config = {"Image": "sha256:old"}
    if stop_timeout is not None:
        config["StopTimeout"] = stop_timeout
    return {"Id": OLD, "Name": "/web", "Config": config,
            "State": {"Running": running, "Status": "running" if running else "exited"}}


def recreate(cur, steps=("remove", "create", "start"), **client_kw):
    client = ScriptedClient(**client_kw)
    decision = {"name": "web", "current": cur, "diffs": [], "steps": list(steps)}
    return client, lambda: apply(ContainerEngine(client), decision, {"image": "demo:v2"}, "demo:v2")


def methods(client):
    return [entry[0] for entry in client.log]


def test_a_recreate_makes_the_new_one_first_then_stops_the_old_one_gracefully():
    client, run = recreate(current(stop_timeout=30))
    assert run() == NEW
    assert methods(client) == ["rename", "create_container_from_config", "stop", "start",
                               "remove_container"]
    assert client.log[0] == ("rename", OLD, ASIDE)
    assert client.log[2] == ("stop", OLD, ("timeout", 30))     # its own stop timeout
    assert client.log[3] == ("start", NEW)
    assert client.log[4] == ("remove_container", OLD, ("force", True), ("v", False))


def test_a_stopped_container_is_not_stopped_and_a_stopped_state_not_started():
    client, run = recreate(current(running=False), steps=("remove", "create"))
    assert run() == NEW
    assert methods(client) == ["rename", "create_container_from_config", "remove_container"]


def test_a_refused_creation_leaves_the_old_container_as_it_was():
    refused = DockerError("Docker engine refused create_container: bad device")
    client, run = recreate(current(), fail={"create_container_from_config": refused})
    with pytest.raises(DockerError) as exc:
        run()
    assert exc.value is refused
    assert methods(client) == ["rename", "create_container_from_config", "inspect_container", "rename"]
    assert client.log[-1] == ("rename", OLD, "web")            # its name back, never stopped


def test_a_creation_that_fails_after_the_container_exists_removes_it():
    refused = DockerError("Docker engine refused connect_container_to_network: no such network")
    client, run = recreate(current(), fail={"create_container_from_config": refused},
                           made={"Id": NEW, "Name": "/web"})
    with pytest.raises(DockerError):
        run()
    assert methods(client)[2:] == ["inspect_container", "remove_container", "rename"]
    assert client.log[3][:2] == ("remove_container", NEW)


def test_a_new_container_that_does_not_start_gives_way_to_the_old_one_again():
    refused = DockerError("Docker engine refused start: network ct-x not found")
    client, run = recreate(current(), fail={"start": refused}, made={"Id": NEW, "Name": "/web"})
    with pytest.raises(DockerError) as exc:
        run()
    assert "network ct-x not found" in str(exc.value)
    assert "has its name back and runs again" in str(exc.value)
    assert methods(client) == ["rename", "create_container_from_config", "stop", "start",
                               "inspect_container", "remove_container", "rename", "start"]
    assert client.log[-2:] == [("rename", OLD, "web"), ("start", OLD)]


def test_an_old_container_that_will_not_stop_is_kept_and_the_new_one_removed():
    refused = DockerError("Docker engine refused stop: cannot kill")
    client, run = recreate(current(), fail={"stop": refused}, made={"Id": NEW, "Name": "/web"})
    with pytest.raises(DockerError) as exc:
        run()
    assert "cannot kill" in str(exc.value) and "has its name back" in str(exc.value)
    assert methods(client) == ["rename", "create_container_from_config", "stop",
                               "inspect_container", "remove_container", "rename", "start"]
    assert client.log[4][:2] == ("remove_container", NEW) and client.log[-1] == ("start", OLD)


def test_an_unexpected_error_puts_the_old_container_back_too():
    client, run = recreate(current(), fail={"create_container_from_config": KeyError("Id")})
    with pytest.raises(KeyError):
        run()
    assert methods(client) == ["rename", "create_container_from_config", "inspect_container", "rename"]
    assert client.log[-1] == ("rename", OLD, "web")


def test_a_failed_put_back_says_where_the_old_container_is():
    refused = DockerError("Docker engine refused start: no")
    client, run = recreate(current(), fail={"start": refused}, made={"Id": NEW, "Name": "/web"})
    client.fail["remove_container"] = DockerError("Docker engine refused remove: busy")
    with pytest.raises(DockerError) as exc:
        run()
    assert "putting the container it was to replace back failed too" in str(exc.value)
    assert ASIDE in str(exc.value)


def test_an_engine_that_refuses_the_rename_gets_stop_remove_create():
    client, run = recreate(current(), fail={"rename": DockerError("Docker engine refused rename: no")})
    assert run() == NEW
    assert methods(client) == ["rename", "stop", "remove_container", "create_container_from_config", "start"]


def test_a_dead_container_is_removed_first():
    dead = dict(current(), State={"Running": False, "Dead": True, "Status": "dead"})
    client, run = recreate(dead)
    assert run() == NEW
    assert methods(client) == ["remove_container", "create_container_from_config", "start"]


def test_absent_and_scale_down_stop_gracefully_before_removal():
    client, run = recreate(current(), steps=("remove",))
    assert run() is None
    assert methods(client) == ["stop", "remove_container"]
    client = ScriptedClient()
    ContainerEngine(client).retire({"Id": OLD, "State": "running"})   # a listing's entry
    assert client.log == [("stop", OLD), ("remove_container", OLD, ("force", True), ("v", False))]
    client = ScriptedClient()
    ContainerEngine(client).retire({"Id": OLD, "State": "exited"})
    assert methods(client) == ["remove_container"]


NETS = [{"name": "n1", "aliases": [], "ipv4_address": ""}, {"name": "n2", "aliases": [], "ipv4_address": ""}]


def fresh(steps=("create", "start"), spec=None, **client_kw):
    """apply() of a decision for a container that does not exist yet; -> client, run(done)."""
    client = ScriptedClient(**client_kw)
    decision = {"name": "web", "current": None, "diffs": [], "steps": list(steps)}
    spec = spec or {"image": "demo:v2"}
    return client, lambda done: apply(ContainerEngine(client), decision, spec, "demo:v2", done=done)


def test_a_new_container_that_does_not_start_is_removed_with_its_volumes():
    refused = DockerError("Docker engine refused start: unable to find user nobody")
    client, run = fresh(fail={"start": refused})
    done = []
    with pytest.raises(DockerError, match="unable to find user nobody; the container it created was removed"):
        run(done)
    assert methods(client) == ["create_container_from_config", "start", "remove_container"]
    assert client.log[-1] == ("remove_container", NEW, ("force", True), ("v", True))
    assert done == []   # the host is as it was


def test_a_new_container_whose_network_cannot_be_connected_is_removed():
    refused = DockerError("Docker engine: network n2 not found")
    client, run = fresh(spec={"image": "demo:v2", "networks": NETS},
                        fail={"connect_container_to_network": refused})
    done = []
    with pytest.raises(DockerError, match=r"n2 not found \(option networks\); the container it made was removed"):
        run(done)
    assert methods(client) == ["create_container_from_config", "connect_container_to_network",
                               "remove_container"]
    assert client.log[-1] == ("remove_container", NEW, ("force", True), ("v", True))
    assert done == []


def test_a_new_container_that_cannot_be_removed_again_is_reported_made():
    client, run = fresh(fail={"start": DockerError("Docker engine refused start: no"),
                              "remove_container": DockerError("Docker engine refused remove: busy")})
    done = []
    with pytest.raises(DockerError, match="removing the container it made .* failed too"):
        run(done)
    assert done == ["created"]


def test_what_an_update_applied_before_a_failure_is_reported():
    cur = dict(current(), HostConfig={"Memory": 64 * 1024 ** 2})
    diffs = [{"option": "memory", "before": 1, "after": 2, "updatable": True},
             {"option": "networks", "before": [{"name": "n9", "connected": False}],
              "after": [{"name": "n9", "aliases": [], "ipv4_address": ""}], "updatable": True}]
    client = ScriptedClient(fail={"connect_container_to_network": DockerError("network n9 not found")})
    decision = {"name": "web", "current": cur, "diffs": diffs, "steps": ["update"]}
    done = []
    with pytest.raises(DockerError):
        apply(ContainerEngine(client), decision, {"memory": 96 * 1024 ** 2, "networks": []}, None, done=done)
    assert done == ["updated memory"]


def test_an_update_of_the_restart_policy_sends_the_retries_along():
    cur = dict(current(), HostConfig={"RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}})
    diffs = [{"option": "restart_retries", "before": 0, "after": 3, "updatable": True}]
    client = ScriptedClient()
    decision = {"name": "web", "current": cur, "diffs": diffs, "steps": ["update"]}
    apply(ContainerEngine(client), decision, {"restart_policy": "on-failure", "restart_retries": 3}, None)
    assert client.log == [("update_container", OLD,
                           ("restart_policy", {"Name": "on-failure", "MaximumRetryCount": 3}))]


@pytest.mark.parametrize("message,option", [
    ('invalid CapAdd: unknown capability: "CAP_BOGUS"', "cap_add"),
    ('invalid CapDrop: unknown capability: "CAP_BOGUS"', "cap_drop"),
    ("invalid mode: ro,rw", "volumes"),
    ('error looking up logging plugin bogus: plugin "bogus" not found', "log_driver"),
    ('invalid --security-opt 2: "bogus=1"', "security_opts"),
])
def test_an_engine_refusal_of_a_create_names_the_option_it_is_about(message, option):
    client, run = fresh(fail={"create_container_from_config": DockerError(
        "Docker engine refused create_container: " + message)})
    with pytest.raises(DockerError) as exc:
        run([])
    assert str(exc.value).endswith("%s (option %s)" % (message, option))


def test_a_recreate_asked_to_keep_the_old_one_leaves_it_stopped_and_set_aside():
    """kept (a roll with a rollback): the same calls as a recreate, less the removal; the old
    container is what was kept, under its set-aside name, stopped with its own stop timeout."""
    cur = current(stop_timeout=30)
    client = ScriptedClient()
    kept = []
    decision = {"name": "web", "current": cur, "diffs": [], "steps": ["remove", "create", "start"]}
    assert apply(ContainerEngine(client), decision, {"image": "demo:v2"}, "demo:v2", kept=kept) == NEW
    assert methods(client) == ["rename", "create_container_from_config", "stop", "start"]
    assert client.log[2] == ("stop", OLD, ("timeout", 30))
    assert kept == [{"Id": OLD, "Name": ASIDE, "info": cur}]


@pytest.mark.parametrize("fail,calls", [
    ("rename", ["rename", "stop", "remove_container", "create_container_from_config", "start"]),
    ("start", ["rename", "create_container_from_config", "stop", "start", "inspect_container",
               "remove_container", "rename", "start"]),
    ("create_container_from_config", ["rename", "create_container_from_config", "inspect_container",
                                      "remove_container", "rename"]),
])
def test_nothing_is_kept_when_the_old_container_is_gone_or_back(fail, calls):
    """An engine that refuses the rename (the old one removed first), or a new container that
    cannot be made or started (the old one has its name back): nothing kept."""
    client = ScriptedClient(fail={fail: DockerError("Docker engine refused %s: no" % fail)},
                            made={"Id": NEW, "Name": "/web"})
    kept = []
    decision = {"name": "web", "current": current(), "diffs": [], "steps": ["remove", "create", "start"]}
    try:
        apply(ContainerEngine(client), decision, {"image": "demo:v2"}, "demo:v2", kept=kept)
    except DockerError:
        assert fail != "rename"
    assert methods(client) == calls and kept == []


def test_restore_retires_the_new_container_and_puts_the_kept_one_back():
    """The new container stops with its own stop timeout and goes with its anonymous volumes
    (new and empty, whatever keep_volumes says); the kept one gets its name back and starts."""
    client = ScriptedClient()
    kept = {"Id": OLD, "Name": ASIDE, "info": current()}
    made = {"Id": NEW, "Config": {"StopTimeout": 7}, "State": {"Running": True, "Status": "running"}}
    assert ContainerEngine(client, keep_volumes=True).restore(kept, "web", made) == OLD
    assert client.log == [("stop", NEW, ("timeout", 7)),
                          ("remove_container", NEW, ("force", True), ("v", True)),
                          ("rename", OLD, "web"), ("start", OLD)]
    client = ScriptedClient()   # no container under the name (or the kept one itself)
    ContainerEngine(client).restore(kept, "web", None)
    assert methods(client) == ["rename", "start"]


def test_a_failed_restore_says_where_the_kept_container_is():
    client = ScriptedClient(fail={"rename": DockerError("Docker engine refused rename: conflict")})
    with pytest.raises(DockerError) as exc:
        ContainerEngine(client).restore({"Id": OLD, "Name": ASIDE, "info": current()}, "web",
                                        {"Id": NEW, "State": {"Running": False, "Status": "exited"}})
    assert str(exc.value).endswith("conflict (the container it replaced is kept, stopped, as %s)" % ASIDE)
    assert methods(client) == ["remove_container", "rename"]
