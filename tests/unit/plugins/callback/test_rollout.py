# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rollout callback fed with fake plays, task results and stats."""
from __future__ import annotations

import pytest

from ansible_collections.dockyard.fleet.plugins.callback import rollout as ro


# ---------------------------------------------------------------- fakes
class FakeHost:
    def __init__(self, name):
        self.name = name

    def get_name(self):
        return self.name


class FakeTask:
    def __init__(self, action="dockyard.fleet.service", check_mode=None, args=None):
        self.resolved_action = action
        self.action = action.split(".")[-1]
        self.check_mode = check_mode
        self.args = args or {}


class FakeResult:
    """Shaped like ansible-core 2.19's CallbackTaskResult (task/host/result)."""

    def __init__(self, host, data, task=None):
        self.host = FakeHost(host)
        self.task = task or FakeTask()
        self.result = data


class LegacyResult:
    """Shaped like older TaskResult (_task/_host/_result only)."""

    def __init__(self, host, data, task=None):
        self._host = FakeHost(host)
        self._task = task or FakeTask()
        self._result = data


class FakeInventory:
    def __init__(self, hosts, batch):
        self.hosts, self.batch = hosts, batch

    def get_hosts(self, pattern, ignore_restrictions=False, order=None):
        return [FakeHost(h) for h in (self.hosts if ignore_restrictions else self.batch)]


class FakeVM:
    def __init__(self, inventory):
        self._inventory = inventory


class FakePlay:
    def __init__(self, name, hosts, batch, serial):
        self.name, self.hosts, self.serial, self.order = name, "app", serial, None
        self._vm = FakeVM(FakeInventory(hosts, batch))

    def get_name(self):
        return self.name

    def get_variable_manager(self):
        return self._vm


class FakeStats:
    def __init__(self, per_host):
        self.per_host = per_host
        self.processed = {h: 1 for h in per_host}

    def summarize(self, host):
        return self.per_host[host]


class FakeDisplay:
    verbosity = 0

    def __init__(self):
        self.lines = []

    def display(self, msg, *a, **kw):
        self.lines.append(msg)

    def __getattr__(self, name):      # warning, vvv, deprecated, ...
        return lambda *a, **kw: None


@pytest.fixture
def cb():
    plugin = ro.CallbackModule(display=FakeDisplay())
    return plugin


def lines(cb):
    return cb._display.lines


def service_result(replicas, n=2, image="dockyard/demo:v2", action="recreated", env=None):
    return {
        "changed": True,
        "replicas": [{"index": i, "name": "app-%d" % i, "host_port": 8080 + i, "action": action,
                      "image": image, "image_id": "sha256:x", "id": "c%d" % i, "health": None}
                     for i in replicas],
        "ports": {str(i): 8080 + i for i in range(1, n + 1)},
        "actions": ["app-%d: %s" % (i, action) for i in replicas],
        "invocation": {"module_args": {"name": "app", "image": image, "replicas": n,
                                       "only": list(replicas), "env": env or {}}},
    }


# ---------------------------------------------------------------- pure pieces
@pytest.mark.parametrize("serial,expected", [
    ([], [["a", "b", "c", "d", "e"]]),
    ([1], [["a"], ["b"], ["c"], ["d"], ["e"]]),
    ([2], [["a", "b"], ["c", "d"], ["e"]]),
    (["40%"], [["a", "b"], ["c", "d"], ["e"]]),
    (["10%"], [["a"], ["b"], ["c"], ["d"], ["e"]]),
    ([1, "50%", "100%"], [["a"], ["b", "c"], ["d", "e"]]),
    ([0], [["a", "b", "c", "d", "e"]]),
])
def test_serial_batches_match_ansible(serial, expected):
    assert ro.serial_batches(list("abcde"), serial) == expected


def test_serial_batches_same_as_playbook_executor():
    """Cross-check with ansible-core's own batching on the same inputs."""
    from ansible.executor.playbook_executor import PlaybookExecutor

    class Inv:
        def __init__(self, hosts):
            self.hosts = hosts

        def get_hosts(self, pattern, order=None):
            return list(self.hosts)

    class Play:
        hosts, order = "all", None

    for serial in ([], [1], [2], ["40%"], [1, "50%", "100%"], [3, 1]):
        pe = PlaybookExecutor.__new__(PlaybookExecutor)
        pe._inventory = Inv(list("abcdefg"))
        play = Play()
        play.serial = serial
        assert ro.serial_batches(list("abcdefg"), serial) == pe._get_serialized_batches(play)


def test_batch_position():
    assert ro.batch_position(list("abc"), ["b"], [1]) == (2, 3)
    assert ro.batch_position(list("abc"), list("abc"), []) == (1, 1)
    assert ro.batch_position(list("abc"), ["z"], [1]) == (None, 3)


def test_first_line():
    assert ro.first_line("boom\nsecond") == "boom"
    assert ro.first_line(None) == "(no message)"
    assert ro.first_line("x" * 1000).endswith("...") and len(ro.first_line("x" * 1000)) == 300


# ---------------------------------------------------------------- the callback
def test_play_start_reports_batch_k_of_n(cb):
    hosts = ["app1", "app2", "app3"]
    for batch in (["app1"], ["app2"], ["app3"]):
        cb.v2_playbook_on_play_start(FakePlay("deploy", hosts, batch, [1]))
    assert lines(cb) == ["rollout: play deploy, batch 1 of 3 (app1)",
                         "rollout: play deploy, batch 2 of 3 (app2)",
                         "rollout: play deploy, batch 3 of 3 (app3)"]


def test_play_without_serial_and_many_hosts(cb):
    hosts = ["app%d" % i for i in range(1, 13)]
    cb.v2_playbook_on_play_start(FakePlay("site", hosts, hosts, []))
    assert lines(cb) == ["rollout: play site, batch 1 of 1 (app1, app2, app3, app4, app5, app6, "
                         "app7, app8, app9, app10, ... (+2))"]


def test_play_start_without_inventory_access(cb):
    class Bare:
        serial = []

        def get_name(self):
            return "bare"
    cb.v2_playbook_on_play_start(Bare())
    assert lines(cb) == ["rollout: play bare, batch 1 of 1 (no hosts)"]


def test_progress_over_a_rolling_play(cb):
    hosts = ["app1", "app2", "app3"]
    cb.v2_playbook_on_play_start(FakePlay("deploy", hosts, ["app1"], [1]))
    cb.v2_runner_on_ok(FakeResult("app1", service_result([1])))
    cb.v2_runner_on_ok(LegacyResult("app1", service_result([2])))
    cb.v2_playbook_on_play_start(FakePlay("deploy", hosts, ["app2"], [1]))
    cb.v2_runner_on_ok(FakeResult("app2", service_result([1], action="unchanged")))
    assert lines(cb)[1:3] == ["rollout: replica app1-1 -> dockyard/demo:v2 (done 1/6) recreated",
                              "rollout: replica app1-2 -> dockyard/demo:v2 (done 2/6) recreated"]
    assert lines(cb)[4] == "rollout: replica app2-1 -> dockyard/demo:v2 (done 3/6) unchanged"


def test_same_replica_twice_counts_once_and_new_play_resets(cb):
    cb.v2_playbook_on_play_start(FakePlay("p", ["app1"], ["app1"], []))
    cb.v2_runner_on_ok(FakeResult("app1", service_result([1], n=1)))
    cb.v2_runner_on_ok(FakeResult("app1", service_result([1], n=1, action="restarted")))
    cb.v2_playbook_on_play_start(FakePlay("q", ["app1"], ["app1"], []))
    cb.v2_runner_on_ok(FakeResult("app1", service_result([1], n=1, image="dockyard/demo:v1")))
    assert [ln for ln in lines(cb) if "replica" in ln] == [
        "rollout: replica app1-1 -> dockyard/demo:v2 (done 1/1) recreated",
        "rollout: replica app1-1 -> dockyard/demo:v2 (done 1/1) restarted",
        "rollout: replica app1-1 -> dockyard/demo:v1 (done 1/1) recreated"]


def test_removed_replicas_and_scale_down(cb):
    cb.v2_playbook_on_play_start(FakePlay("p", ["app1"], ["app1"], []))
    res = service_result([1], n=1)
    res["replicas"].append({"index": 2, "name": "app-2", "action": "removed",
                            "image": "sha256:old", "env": ["X=1"]})
    cb.v2_runner_on_ok(FakeResult("app1", res))
    assert lines(cb)[1:] == ["rollout: replica app1-1 -> dockyard/demo:v2 (done 1/1) recreated",
                             "rollout: replica app1-2 removed"]


def test_loop_items_shown_as_they_finish_not_twice(cb):
    cb.v2_playbook_on_play_start(FakePlay("p", ["app1"], ["app1"], []))
    for i in (1, 2):
        cb.v2_runner_item_on_ok(FakeResult("app1", service_result([i])))
    loop = {"changed": True, "results": [service_result([1]), service_result([2])]}
    cb.v2_runner_on_ok(FakeResult("app1", loop))
    assert len([ln for ln in lines(cb) if "replica" in ln]) == 2


def test_other_modules_and_plans_are_ignored(cb):
    cb.v2_playbook_on_play_start(FakePlay("p", ["app1"], ["app1"], []))
    cb.v2_runner_on_ok(FakeResult("app1", service_result([1]), FakeTask("ansible.builtin.service")))
    cb.v2_runner_on_ok(FakeResult("app1", service_result([1]), FakeTask("dockyard.fleet.container")))
    cb.v2_runner_on_ok(FakeResult("app1", service_result([1]), FakeTask(check_mode=True)))
    cb.v2_runner_on_ok(FakeResult("app1", {"censored": "hidden", "changed": True}))
    assert lines(cb) == ["rollout: play p, batch 1 of 1 (app1)"]


def test_env_values_never_printed(cb):
    cb.v2_playbook_on_play_start(FakePlay("p", ["app1"], ["app1"], []))
    res = service_result([1], env={"DB_PASSWORD": "s3cr3t-value"})
    res["replicas"][0]["env"] = ["DB_PASSWORD=s3cr3t-value"]
    res["diff"] = {"before": {"env": "DB_PASSWORD=old-s3cr3t"}, "after": {"env": "s3cr3t-value"}}
    cb.v2_runner_on_ok(FakeResult("app1", res))
    cb.v2_runner_on_failed(FakeResult("app1", dict(res, failed=True, msg="wait failed\n"
                                                   "DB_PASSWORD=s3cr3t-value")))
    cb.v2_playbook_on_stats(FakeStats({"app1": {"ok": 1, "changed": 1, "failures": 1,
                                                "unreachable": 0}}))
    text = "\n".join(lines(cb))
    assert "s3cr3t" not in text and "DB_PASSWORD" not in text
    assert "rollout: FAILED app1: wait failed" in text


def test_failures(cb):
    cb.v2_runner_on_failed(FakeResult("app1", {"failed": True, "msg": "boom\nmore"}))
    cb.v2_runner_on_failed(FakeResult("app2", {"failed": True, "msg": "meh"}), ignore_errors=True)
    cb.v2_runner_on_unreachable(FakeResult("app3", {"unreachable": True,
                                                    "msg": "ssh: connect timed out"}))
    loop = {"failed": True, "msg": "One or more items failed",
            "results": [{"changed": False}, {"failed": True, "msg": "replica 2 unhealthy\nlog"}]}
    cb.v2_runner_on_failed(FakeResult("app4", loop))
    assert lines(cb) == ["rollout: FAILED app1: boom",
                         "rollout: FAILED app2 (ignored): meh",
                         "rollout: UNREACHABLE app3: ssh: connect timed out",
                         "rollout: FAILED app4: replica 2 unhealthy"]


def test_summary_table(cb):
    cb.v2_playbook_on_play_start(FakePlay("p", ["app1", "app2", "app10"], ["app1"], []))
    cb.v2_runner_on_ok(FakeResult("app1", service_result([1, 2])))
    res = service_result([1], image="dockyard/demo:v1")
    cb.v2_runner_on_ok(FakeResult("app2", res))
    cb.v2_runner_on_ok(FakeResult("app2", service_result([2])))
    stats = FakeStats({
        "app10": {"ok": 0, "changed": 0, "failures": 0, "unreachable": 1},
        "app2": {"ok": 3, "changed": 2, "failures": 1, "unreachable": 0},
        "app1": {"ok": 2, "changed": 1, "failures": 0, "unreachable": 0},
    })
    del lines(cb)[:]
    cb.v2_playbook_on_stats(stats)
    assert lines(cb)[0] == "rollout: summary"
    rows = [ln.split() for ln in lines(cb)[1:]]
    assert rows[0] == ["HOST", "RESULT", "REPLICAS", "CHANGED"]
    assert rows[1] == ["app1", "ok", "dockyard/demo:v2", "[1,2]", "1"]
    assert rows[2] == ["app2", "failed", "dockyard/demo:v1", "[1];", "dockyard/demo:v2", "[2]",
                       "2"]
    assert rows[3] == ["app10", "unreachable", "-", "0"]
    header = lines(cb)[1]
    col = header.index("CHANGED")
    assert all(ln[col:].strip().isdigit() for ln in lines(cb)[2:])


def plan_result(pending, created=(), n=2, image="dockyard/demo:v2"):
    """The deploy role's first service task: converge=missing, the rest only planned."""
    res = service_result(list(created) + list(pending), n=n, image=image)
    for r in res["replicas"]:
        r["pending"] = r["index"] in pending
        if r["index"] in created:
            r["action"] = "created"
    return res


def test_planned_replicas_are_not_shown_counted_or_kept(cb):
    """converge=missing returns what a full converge would do with pending=true: no progress."""
    cb.v2_playbook_on_play_start(FakePlay("deploy", ["app1", "app2"], ["app1", "app2"], []))
    cb.v2_runner_on_ok(FakeResult("app1", plan_result([1, 2])))
    cb.v2_runner_on_ok(FakeResult("app2", plan_result([2], created=[1])))
    assert lines(cb)[1:] == ["rollout: replica app2-1 -> dockyard/demo:v2 (done 1/4) created"]
    assert cb.state.replicas == {"app1": {}, "app2": {1: "dockyard/demo:v2"}}
    # the roll that follows: each replica once, done counts up to 4
    cb.v2_runner_on_ok(FakeResult("app1", service_result([1, 2])))
    cb.v2_runner_on_ok(FakeResult("app2", service_result([2])))
    assert [ln.split("(")[1].split(")")[0] for ln in lines(cb)[2:]] == [
        "done 2/4", "done 3/4", "done 4/4"]
    # a planned removal (scale down pending) is not printed either
    res = plan_result([])
    res["replicas"].append({"index": 3, "name": "app-3", "action": "removed", "pending": True})
    cb.v2_runner_on_ok(FakeResult("app1", res))
    assert not [ln for ln in lines(cb) if "removed" in ln]


def roll_failure(host_image="dockyard/demo:v2", done=(), failed_index=1, rolled_back=True):
    """A failed roll's result: every replica read from the engine (action per decision)."""
    res = service_result([1, 2], image=host_image, action="unchanged")
    for r in res["replicas"]:
        if r["index"] in done:
            r["action"], r["image"] = "recreated", "dockyard/demo:v3"
        r["pending"] = False
    res.update(failed=True, changed=True, failed_index=failed_index, failed_step="replace",
               rolled_back=rolled_back, roll={"done": list(done), "seconds": {}, "commands": []},
               msg="replica app1-%d failed on dockyard/demo:broken: container app-1 is unhealthy; "
                   % failed_index + "x" * 400 + ". It runs %s again and is back in service." % host_image)
    return res


def test_a_failed_roll_keeps_what_runs_and_says_rolled_back(cb):
    cb.v2_playbook_on_play_start(FakePlay("deploy", ["app1", "app2"], ["app1", "app2"], []))
    cb.v2_runner_on_ok(FakeResult("app1", plan_result([1, 2], image="dockyard/demo:broken")))
    cb.v2_runner_on_ok(FakeResult("app2", plan_result([1, 2], image="dockyard/demo:broken")))
    cb.v2_runner_on_failed(FakeResult("app1", roll_failure()))
    cb.v2_runner_on_failed(FakeResult("app2", {"failed": True, "changed": False, "not_started": True,
                                               "msg": "not rolled: the roll on app1 failed"}))
    # app3: its second replica failed, the first was rolled (done) and stays
    cb.v2_runner_on_failed(FakeResult("app3", roll_failure("dockyard/demo:v2", done=[1],
                                                           failed_index=2)))
    out = lines(cb)[1:]
    assert out[0].startswith("rollout: FAILED app1: replica app1-1 failed on dockyard/demo:broken")
    assert out[0].endswith("... [rolled back to dockyard/demo:v2]")
    assert out[1] == "rollout: FAILED app2: not rolled: the roll on app1 failed"
    assert out[2] == "rollout: replica app3-1 -> dockyard/demo:v3 (done 1/6) recreated"
    assert out[3].endswith("[rolled back to dockyard/demo:v2]")
    cb.v2_playbook_on_stats(FakeStats({h: {"changed": 1, "failures": 1, "unreachable": 0}
                                       for h in ("app1", "app2", "app3")}))
    rows = [ln.split() for ln in lines(cb) if ln.startswith("  app")]
    assert rows == [["app1", "failed", "dockyard/demo:v2", "[1,2]", "1"],
                    ["app2", "failed", "unchanged", "(not", "rolled)", "1"],
                    ["app3", "failed", "dockyard/demo:v2", "[2];", "dockyard/demo:v3", "[1]", "1"]]
    # no previous release put back: no "rolled back"
    res = roll_failure(rolled_back=False)
    assert "rolled back" not in cb.state.failure("app1", res)


def test_a_host_halted_before_its_turn_shows_what_it_runs(cb):
    """A halted run that read its replicas (its turn awaited on the host) says what runs
    there: the summary shows it, marked not rolled; none is shown as done."""
    cb.v2_playbook_on_play_start(FakePlay("deploy", ["app1", "app2"], ["app1", "app2"], []))
    cb.v2_runner_on_failed(FakeResult("app1", roll_failure()))
    halted = {"failed": True, "changed": False, "not_started": True, "halted_by": "app1",
              "msg": "not rolled: the roll on app1 failed before this host's turn",
              "ports": {"1": 8081, "2": 8082},
              "replicas": [{"index": i, "name": "app-%d" % i, "action": "unchanged", "pending": False,
                            "image": "dockyard/demo:v2"} for i in (1, 2)]}
    cb.v2_runner_on_failed(FakeResult("app2", halted))
    out = lines(cb)[1:]
    assert not [ln for ln in out if ln.startswith("rollout: replica app2")], out
    cb.v2_playbook_on_stats(FakeStats({h: {"changed": 0, "failures": 1, "unreachable": 0}
                                       for h in ("app1", "app2")}))
    rows = [ln.split() for ln in lines(cb) if ln.startswith("  app")]
    assert rows[1] == ["app2", "failed", "dockyard/demo:v2", "[1,2]", "(not", "rolled)", "0"], rows


def test_a_failed_converge_shows_only_what_completed(cb):
    """Without roll, the image of a replica not reached is the requested one: not kept."""
    cb.v2_playbook_on_play_start(FakePlay("p", ["app1"], ["app1"], []))
    cb.v2_runner_on_ok(FakeResult("app1", service_result([1, 2], image="dockyard/demo:v1")))
    res = service_result([1, 2], image="dockyard/demo:v2")
    res["replicas"][1]["action"] = "failed"
    res.update(failed=True, msg="container app-2 did not become healthy")
    loop = {"failed": True, "msg": "One or more items failed", "results": [res]}
    del lines(cb)[:]
    cb.v2_runner_on_failed(FakeResult("app1", loop))
    assert lines(cb) == ["rollout: replica app1-1 -> dockyard/demo:v2 (done 2/2) recreated",
                         "rollout: FAILED app1: container app-2 did not become healthy"]
    assert cb.state.replicas["app1"] == {1: "dockyard/demo:v2", 2: "dockyard/demo:v1"}


def test_check_mode_says_so(cb, monkeypatch):
    monkeypatch.setattr(ro, "cli_check_mode", lambda: True)
    cb.v2_playbook_on_play_start(FakePlay("deploy", ["app1"], ["app1"], []))
    cb.v2_runner_on_ok(FakeResult("app1", plan_result([1, 2])))
    cb.v2_runner_on_ok(FakeResult("app1", service_result([1, 2])))
    res = service_result([2], action="unchanged")
    res["replicas"].append({"index": 3, "name": "app-3", "action": "removed", "pending": False})
    cb.v2_runner_on_ok(FakeResult("app1", res))
    cb.v2_playbook_on_stats(FakeStats({"app1": {"changed": 1, "failures": 0, "unreachable": 0}}))
    assert lines(cb)[:6] == [
        "rollout: check mode, nothing changes: play deploy, batch 1 of 1 (app1)",
        "rollout: replica app1-1 -> dockyard/demo:v2 (planned 1/2) would be recreated",
        "rollout: replica app1-2 -> dockyard/demo:v2 (planned 2/2) would be recreated",
        "rollout: replica app1-2 -> dockyard/demo:v2 (planned 2/2) would stay unchanged",
        "rollout: replica app1-3 would be removed",
        "rollout: summary (check mode: nothing changed; replicas and counts are what a real run "
        "would do)"]
    assert lines(cb)[6].split() == ["HOST", "RESULT", "WOULD-RUN", "WOULD-CHANGE"]


def test_callback_metadata():
    assert ro.CallbackModule.CALLBACK_TYPE == "notification"
    assert ro.CallbackModule.CALLBACK_NEEDS_ENABLED is True
    assert ro.CallbackModule.CALLBACK_NAME == "dockyard.fleet.rollout"
