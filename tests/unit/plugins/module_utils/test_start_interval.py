"""healthcheck.start_interval: parsed, sent, compared only where the engine keeps it, and the
wait's probe on engines that keep none (ContainerEngine.wait(probes=...))."""
import copy

import pytest

from ansible_collections.dockyard.fleet.plugins.module_utils._compare import (
    actual_from_inspect, compare)
from ansible_collections.dockyard.fleet.plugins.module_utils._container_engine import (
    ContainerEngine, WaitError, create_config, start_probes)
from ansible_collections.dockyard.fleet.plugins.module_utils._container_spec import (
    SpecError, parse_healthcheck, parse_spec)
from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import DockerError

TEST = ["CMD", "/bin/busybox", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1/health"]


def test_parsed_and_sent():
    hc = parse_healthcheck({"test": TEST, "interval": "60s", "start_interval": "250ms"})
    assert hc["start_interval"] == 250 * 10 ** 6
    with pytest.raises(SpecError, match="healthcheck.start_interval"):
        parse_healthcheck({"test": TEST, "start_interval": "soon"})
    spec = parse_spec({"image": "a:v1", "healthcheck": {"test": TEST, "start_interval": "1s"}})
    assert create_config(spec, "a:v1")["Healthcheck"] == {"Test": TEST, "StartInterval": 10 ** 9}
    assert start_probes(spec, ["a-1", "a-2"]) == {"a-1": 1.0, "a-2": 1.0}
    assert start_probes(parse_spec({"image": "a:v1"}), ["a-1"]) == {}


def test_timings_without_a_test_keep_the_images():
    """healthcheck without test: the timings are sent without Test (the engine fills in the
    image's), compared alone (the image's test is no change), and the wait probes the test
    the engine reports (the image's)."""
    spec = parse_spec({"image": "a:v1", "healthcheck": {"interval": "60s", "start_interval": "1s"}})
    assert create_config(spec, "a:v1")["Healthcheck"] == {"Interval": 60 * 10 ** 9,
                                                          "StartInterval": 10 ** 9}
    assert start_probes(spec, ["a-1"]) == {"a-1": 1.0}
    merged = actual_from_inspect(_container({"Test": TEST, "Interval": 60 * 10 ** 9}))
    assert compare(spec, merged, None, None, "sha256:1") == []
    other = actual_from_inspect(_container({"Test": TEST, "Interval": 30 * 10 ** 9}))
    assert [(d["option"], d["before"], d["after"]) for d in compare(spec, other, None, None, "sha256:1")] \
        == [("healthcheck", {"interval": 30 * 10 ** 9}, {"interval": 60 * 10 ** 9})]


def _container(hc):
    return {"Id": "c1", "Image": "sha256:1", "State": {"Status": "running", "Running": True},
            "Config": {"Healthcheck": hc, "Image": "a:v1"}, "HostConfig": {},
            "NetworkSettings": {}}


def test_compared_only_where_the_engine_keeps_it():
    spec = parse_spec({"image": "a:v1", "healthcheck": {"test": TEST, "start_interval": "1s"}})
    old_engine = actual_from_inspect(_container({"Test": TEST}))
    assert compare(spec, old_engine, None, None, "sha256:1") == []
    new_engine = actual_from_inspect(_container({"Test": TEST, "StartInterval": 2 * 10 ** 9}))
    diffs = compare(spec, new_engine, None, None, "sha256:1")
    assert [(d["option"], d["before"], d["after"]) for d in diffs] == [
        ("healthcheck", {"start_interval": 2 * 10 ** 9}, {"start_interval": 10 ** 9})]


class FakeEngine:
    """inspect answers from a script of health states; exec answers from a script of exits."""

    def __init__(self, health, exits, start_interval=None, test=None):
        self.health = list(health)      # engine's status per inspect (last one repeats)
        self.exits = list(exits)        # probe exit codes (or DockerError) in order
        self.calls = []
        self.hc = {"Test": list(test or TEST)}
        if start_interval:
            self.hc["StartInterval"] = start_interval

    def get(self, method, *args, **kwargs):
        return self.call(method, *args, **kwargs)

    def call(self, method, *args, **kwargs):
        self.calls.append((method,) + args)
        if method == "inspect_container":
            status = self.health.pop(0) if len(self.health) > 1 else self.health[0]
            return {"Id": args[0], "State": {"Status": "running", "Running": True,
                                             "Health": {"Status": status, "Log": []}},
                    "Config": {"Healthcheck": self.hc}}
        if method == "exec_create":
            return {"Id": "e%d" % len(self.calls)}
        if method == "exec_start":
            code = self.exits[0]
            if isinstance(code, Exception):
                self.exits.pop(0)
                raise code
            return b"out\n"
        if method == "exec_inspect":
            return {"ExitCode": self.exits.pop(0)}
        if method == "logs":
            return b""
        raise AssertionError(method)

    def execs(self):
        return [c for c in self.calls if c[0] == "exec_create"]


def test_first_passing_probe_is_healthy_before_the_engine_says_so():
    fake = FakeEngine(["starting"], [1, 0])
    probed = ContainerEngine(fake).wait({"w-1": "c1"}, "healthy", 10, probes={"w-1": 0.01})
    assert probed == {"w-1"}
    assert fake.execs() == [("exec_create", "c1", TEST[1:])] * 2


def test_shell_test_runs_in_a_shell_and_no_probe_without_a_start_interval():
    fake = FakeEngine(["starting"], [0], test=["CMD-SHELL", "wget -q localhost"])
    assert ContainerEngine(fake).wait({"w-1": "c1"}, "healthy", 10, probes={"w-1": 0.01}) == {"w-1"}
    assert fake.execs() == [("exec_create", "c1", ["/bin/sh", "-c", "wget -q localhost"])]
    fake = FakeEngine(["starting", "starting", "healthy"], [])
    assert ContainerEngine(fake).wait({"w-1": "c1"}, "healthy", 10, poll=0.01) == set()
    assert fake.execs() == []


def test_no_probe_where_the_engine_keeps_the_start_interval():
    fake = FakeEngine(["starting", "healthy"], [], start_interval=10 ** 8)
    assert ContainerEngine(fake).wait({"w-1": "c1"}, "healthy", 10, poll=0.01,
                                      probes={"w-1": 0.01}) == set()
    assert fake.execs() == []


def test_failed_probes_count_for_nothing_and_the_engine_decides():
    # probes fail (and one cannot run): the engine's own checks say healthy at last
    fake = FakeEngine(["starting", "starting", "starting", "healthy"],
                      [1, DockerError("exec refused"), 1, 1, 1, 1])
    assert ContainerEngine(fake).wait({"w-1": "c1"}, "healthy", 10,
                                      probes={"w-1": 0.001}) == set()
    assert len(fake.execs()) == 3
    # or unhealthy
    fake = FakeEngine(["starting", "unhealthy"], [1, 1])
    with pytest.raises(WaitError, match="is unhealthy"):
        ContainerEngine(fake).wait({"w-1": "c1"}, "healthy", 10, probes={"w-1": 0.001})


def test_deadline_names_the_last_probe():
    fake = FakeEngine(["starting"], [1] * 1000)
    with pytest.raises(WaitError) as err:
        ContainerEngine(fake).wait({"w-1": "c1"}, "healthy", 0.05, probes={"w-1": 0.01})
    assert "not healthy after 0.05s (option wait_timeout)" in str(err.value)
    assert "last start_interval probe: exit 1: out" in str(err.value)


def test_running_wait_never_probes():
    fake = FakeEngine(["starting"], [])
    assert ContainerEngine(fake).wait({"w-1": "c1"}, "running", 10, probes={"w-1": 0.01}) == set()
    assert fake.execs() == []


def test_each_container_probes_on_its_own():
    fake = FakeEngine(["starting"], [0, 1, 0])
    engine = ContainerEngine(fake)
    assert engine.wait({"w-1": "c1", "w-2": "c2"}, "healthy", 10,
                       probes={"w-1": 0.001, "w-2": 0.001}) == {"w-1", "w-2"}
    assert [c[1] for c in fake.execs()] == ["c1", "c2", "c2"]
    assert copy.deepcopy(fake.exits) == []
