# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rolling cycle of _roll.roll, against fake HAProxy runtime APIs and a fake clock."""
from __future__ import annotations

import pytest

from ansible_collections.dockyard.fleet.plugins.module_utils._haproxy import HAProxyError
from ansible_collections.dockyard.fleet.plugins.module_utils._roll import (
    LoadBalancer, RollFailed, roll)

# Only the columns that server_view reads (HAProxy prints many more).
STAT_HEADER = ["pxname", "svname", "scur", "weight", "status", "check_status", "addr"]
STATE_HEADER = ["be_id", "be_name", "srv_id", "srv_name", "srv_addr", "srv_op_state",
                "srv_admin_state", "srv_uweight"]
ADMIN_FLAGS = {"ready": 0, "drain": 8, "maint": 1}


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t

    def sleep(self, s):
        assert s >= 0
        self.t += s


class FakeHAProxy:
    """Runtime API of one load balancer with backend "app". On every `show stat` read a
    server that is not ready loses one session (unless "stuck"), and a DOWN server that is
    ready comes UP (unless "broken": its container never passes the health check).
    Commands in `fail` raise HAProxyError, as a broken socket exchange does."""

    def __init__(self, names, scur=2):
        self.servers = {n: {"admin": "ready", "status": "UP", "scur": scur, "stuck": False,
                            "broken": False} for n in names}
        self.sent, self.fail = [], set()
        self.exchanges = 0  # connections that carried several commands

    def command(self, cmd):
        if ";" in cmd:  # commands on one connection: each reply ends with an empty line
            self.exchanges += 1
            return "".join(self.command(c) + "\n" for c in cmd.split(";"))
        self.sent.append(cmd)
        if cmd in self.fail:
            raise HAProxyError("stats socket /run/haproxy.sock failed during %r: "
                               "Connection reset by peer (option socket)" % cmd)
        if cmd == "show stat app 4 -1":
            rows = []
            for name, s in self.servers.items():
                if s["admin"] != "ready" and s["scur"] and not s["stuck"]:
                    s["scur"] -= 1
                if s["admin"] == "ready" and s["status"] == "DOWN" and not s["broken"]:
                    s["status"] = "UP"
                status = "MAINT" if s["admin"] == "maint" else \
                    "DRAIN" if s["admin"] == "drain" and s["status"] == "UP" else s["status"]
                cells = {"pxname": "app", "svname": name, "scur": str(s["scur"]), "weight": "1",
                         "status": status, "addr": "10.0.0.1:8080",
                         "check_status": "L7OK" if s["status"] == "UP" else "L7STS"}
                rows.append(",".join(cells[k] for k in STAT_HEADER))
            return "# %s,\n%s\n" % (",".join(STAT_HEADER), "\n".join(rows))
        if cmd == "show servers state app":
            rows = ["1 app 1 %s 10.0.0.1 2 %d 1" % (n, ADMIN_FLAGS[s["admin"]])
                    for n, s in self.servers.items()]
            return "1\n# %s\n%s\n" % (" ".join(STATE_HEADER), "\n".join(rows))
        if cmd.startswith("set server app/") and cmd.endswith(" health down"):
            self.servers[cmd.split()[2][len("app/"):]]["status"] = "DOWN"
            return ""
        if cmd.startswith("set server app/"):
            name, _kw, state = cmd[len("set server app/"):].split()
            self.servers[name]["admin"] = state
            return ""
        return "Unknown command\n"


class Rig:
    """Replicas app-1..app-n behind two load balancers, and the engine side of the roll."""

    def __init__(self, n=3, lbs=2):
        self.clock = FakeClock()
        names = [self.server(i) for i in range(1, n + 1)]
        self.fakes = [FakeHAProxy(names) for _k in range(lbs)]
        self.lbs = [LoadBalancer("lb%d" % k, f, "app") for k, f in enumerate(self.fakes, 1)]
        self.replaced, self.rolled_back, self.passed = [], [], []
        self.put_back = None            # the image rollback() says it put back (None: previous)
        self.at_replace = {}            # index -> [(admin, scur) on each LB] when replace ran
        self.replace_error, self.rollback_error = {}, None
        self.broken = set()             # replicas whose new release never gets UP
        self.rollback_fixes = True
        # HAProxy as it is: a replaced replica stays UP (the old container's checks) until
        # HAProxy's own checks of the new one say otherwise
        self.stale = False

    @staticmethod
    def server(i):
        return "app-%d" % i

    def each(self, i):
        return [f.servers[self.server(i)] for f in self.fakes]

    def admin(self, i):
        return [s["admin"] for s in self.each(i)]

    def replace(self, i):
        self.replaced.append(i)
        self.at_replace[i] = [(s["admin"], s["scur"]) for s in self.each(i)]
        for s in self.each(i):      # the container restarts: its health check fails for now
            s.update(status=s["status"] if self.stale else "DOWN", broken=i in self.broken)
        if i in self.replace_error:
            raise self.replace_error[i]

    def rollback(self, i):
        self.rolled_back.append(i)
        if self.rollback_error is not None:
            raise self.rollback_error
        for s in self.each(i):
            s.update(status="DOWN", broken=not self.rollback_fixes)
        return self.put_back

    def on_passed(self, i):
        """The passed hook: what the load balancers say of replica i and the next one then."""
        nxt = self.server(i + 1)
        self.passed.append((i, [(s["admin"], s["status"]) for s in self.each(i)],
                            [f.servers[nxt]["admin"] for f in self.fakes if nxt in f.servers]))

    def run(self, indexes=(1, 2, 3), rollback=True, passed=False):
        return roll(list(indexes), self.server, self.replace,
                    self.rollback if rollback else None, self.lbs, drain_timeout=10,
                    ready_timeout=20, interval=0.5, image="app:2", previous_image="app:1",
                    clock=self.clock, sleep=self.clock.sleep,
                    passed=self.on_passed if passed else None)

    def fail(self, **kw):
        with pytest.raises(RollFailed) as info:
            self.run(**kw)
        return str(info.value), info.value.result


def cmds(steps, lbs=("lb1", "lb2")):
    """The expected log: each (index, state) set on every load balancer, in order."""
    return ["%s: set server app/app-%d state %s" % (lb, i, st) for i, st in steps for lb in lbs]


def test_happy_path_rolls_one_replica_at_a_time():
    rig = Rig()
    result = rig.run()
    assert result["log"] == cmds([(1, "drain"), (1, "ready"), (2, "drain"), (2, "ready"),
                                  (3, "drain"), (3, "ready")])
    assert result["done"] == [1, 2, 3] and rig.replaced == [1, 2, 3]
    assert result["failed_index"] is None and result["failed_step"] is None
    assert not result["rolled_back"] and not rig.rolled_back
    assert sorted(result["seconds"]) == [1, 2, 3]
    # each replica was replaced only once drained (no sessions) on every load balancer
    assert rig.at_replace == {i: [("drain", 0), ("drain", 0)] for i in (1, 2, 3)}
    for i in (1, 2, 3):
        assert all(s["admin"] == "ready" and s["status"] == "UP" for s in rig.each(i))
    # the fakes saw the same sets, each once
    for k, fake in enumerate(rig.fakes, 1):
        sets = [c for c in fake.sent if c.startswith("set ")]
        assert ["lb%d: %s" % (k, c) for c in sets] == result["log"][k - 1::2]


def test_single_replica_and_no_replicas():
    rig = Rig(n=1, lbs=1)
    assert rig.run(indexes=[1])["log"] == cmds([(1, "drain"), (1, "ready")], lbs=("lb1",))
    assert Rig().run(indexes=[])["done"] == []


def test_first_replica_that_cannot_be_drained_is_left_unchanged():
    rig = Rig()
    for s in rig.each(1):
        s.update(scur=5, stuck=True)
    msg, result = rig.fail()
    assert (result["failed_step"], result["failed_index"]) == ("drain", 1)
    assert "replica app-1 could not be drained" in msg and "roll.drain_timeout" in msg
    assert "lb1: " in msg and "lb2: " in msg and "5 sessions" in msg
    assert "back in service, unchanged" in msg
    assert rig.replaced == [] and result["done"] == [] and not result["rolled_back"]
    assert rig.admin(1) == ["ready", "ready"]
    assert result["log"] == cmds([(1, "drain"), (1, "ready")])
    assert rig.clock.t == 10   # one deadline for both load balancers
    assert rig.admin(2) == ["ready", "ready"] and rig.admin(3) == ["ready", "ready"]


def test_next_replica_that_cannot_be_drained_stops_after_the_previous_one():
    rig = Rig()
    for s in rig.each(2):
        s.update(scur=5, stuck=True)
    msg, result = rig.fail()
    assert (result["failed_step"], result["failed_index"]) == ("then", 2)
    assert result["done"] == [1] and rig.replaced == [1] and 1 in result["seconds"]
    assert "replica app-2 could not be drained" in msg and "roll.drain_timeout" in msg
    assert "replica app-1 runs app:2 and is in service" in msg
    assert rig.admin(2) == ["ready", "ready"] and rig.admin(1) == ["ready", "ready"]
    assert result["log"] == cmds([(1, "drain"), (1, "ready"), (2, "drain"), (2, "ready")])
    assert not result["rolled_back"] and not rig.rolled_back


def test_runtime_api_error_on_next_drain_is_like_a_late_drain():
    rig = Rig()
    rig.fakes[1].fail.add("set server app/app-2 state drain")
    msg, result = rig.fail()
    assert (result["failed_step"], result["failed_index"]) == ("then", 2)
    assert result["done"] == [1] and rig.replaced == [1]
    assert "replica app-2 could not be drained" in msg and "Connection reset by peer" in msg
    assert "replica app-1 runs app:2 and is in service" in msg
    # lb1 had drained it already: it is put back; lb2 never changed
    assert rig.admin(2) == ["ready", "ready"]
    assert result["log"][-2:] == ["lb1: set server app/app-2 state drain",
                                  "lb1: set server app/app-2 state ready"]


def test_runtime_api_error_on_first_drain_stops_before_replace():
    rig = Rig()
    rig.fakes[0].fail.add("show stat app 4 -1")
    msg, result = rig.fail()
    assert (result["failed_step"], result["failed_index"]) == ("drain", 1)
    assert "option socket" in msg and rig.replaced == []


UNHEALTHY = Exception("container app-2 is unhealthy\nlast health checks: exit 1: "
                      "curl: (7) Failed to connect\n  exit 1: timeout")


def test_failed_replace_is_rolled_back_and_the_roll_stops():
    rig = Rig()
    rig.replace_error[2] = UNHEALTHY
    msg, result = rig.fail()
    assert (result["failed_step"], result["failed_index"]) == ("replace", 2)
    assert result["rolled_back"] and rig.rolled_back == [2]
    assert result["done"] == [1] and rig.replaced == [1, 2]
    assert "\n" not in msg
    assert msg.startswith("replica app-2 failed on app:2: container app-2 is unhealthy "
                          "last health checks: exit 1:")
    assert "runs app:1 again and is back in service" in msg
    assert rig.admin(2) == ["ready", "ready"]
    assert all(s["status"] == "UP" for s in rig.each(2))
    # app-3 is untouched
    assert not [c for c in result["log"] if "app-3" in c]
    assert rig.admin(3) == ["ready", "ready"] and rig.each(3)[0]["scur"] == 2


def test_failed_replace_without_rollback_stays_out_of_service():
    rig = Rig()
    rig.replace_error[2] = UNHEALTHY
    msg, result = rig.fail(rollback=False)
    assert (result["failed_step"], result["failed_index"]) == ("replace", 2)
    assert "No previous release to put back" in msg and "\n" not in msg
    assert not result["rolled_back"] and not rig.rolled_back
    assert rig.admin(2) == ["drain", "drain"]
    assert result["log"][-2:] == cmds([(2, "drain")])
    assert not [c for c in result["log"] if "app-3" in c]


def test_failed_rollback_is_reported_too():
    rig = Rig()
    rig.replace_error[2] = UNHEALTHY
    rig.rollback_error = Exception("pull app:1 failed:\nmanifest unknown")
    msg, result = rig.fail()
    assert (result["failed_step"], result["failed_index"]) == ("replace", 2)
    assert "Putting app:1 back failed too: pull app:1 failed: manifest unknown" in msg
    assert "stays out of service" in msg and "\n" not in msg
    assert not result["rolled_back"] and rig.rolled_back == [2]
    assert rig.admin(2) == ["drain", "drain"]


def test_ready_timeout_rolls_back():
    rig = Rig()
    rig.broken.add(2)
    msg, result = rig.fail()
    assert (result["failed_step"], result["failed_index"]) == ("ready", 2)
    assert "roll.ready_timeout" in msg and "UP with a passing health check" in msg
    assert "within 20s" in msg and "'L7STS'" in msg
    assert rig.rolled_back == [2] and result["rolled_back"]
    assert "runs app:1 again and is back in service" in msg and "\n" not in msg
    assert all(s["admin"] == "ready" and s["status"] == "UP" for s in rig.each(2))
    assert result["done"] == [1] and rig.replaced == [1, 2]
    assert not [c for c in result["log"] if "app-3" in c]


def test_rollback_that_does_not_come_up_says_so():
    rig = Rig()
    rig.broken.add(2)
    rig.rollback_fixes = False
    msg, result = rig.fail()
    assert (result["failed_step"], result["failed_index"]) == ("ready", 2)
    assert result["rolled_back"] and rig.rolled_back == [2]
    assert "runs app:1 again but is not UP on the load balancers: lb1: " in msg
    assert "back in service" not in msg


def test_a_replaced_replica_needs_fresh_checks_before_it_is_ready():
    """HAProxy kept checking the old container while the replica was drained: right after the
    replacement it still says UP. The ready step first forces its health down (one read and
    one command per load balancer), so a new container that never answers is not ready."""
    rig = Rig()
    rig.stale = True
    result = rig.run(indexes=[1])
    assert result["log"] == cmds([(1, "drain")]) + [
        "lb1: set server app/app-1 health down", "lb2: set server app/app-1 health down"] + \
        cmds([(1, "ready")])
    rig = Rig()
    rig.stale = True
    rig.broken.add(2)
    msg, result = rig.fail()
    assert (result["failed_step"], result["failed_index"]) == ("ready", 2)
    assert "roll.ready_timeout" in msg and "runs app:1 again" in msg
    assert rig.rolled_back == [2] and result["done"] == [1]


def test_the_passed_hook_runs_once_a_replica_is_up_and_before_the_next_is_drained():
    """passed(i): replica i is ready and UP on every load balancer, the next one still in
    service; the hook adds no command to a load balancer."""
    rig = Rig()
    result = rig.run(passed=True)
    up = [("ready", "UP"), ("ready", "UP")]
    assert rig.passed == [(1, up, ["ready", "ready"]), (2, up, ["ready", "ready"]), (3, up, [])]
    assert result["log"] == Rig().run()["log"]


@pytest.mark.parametrize("broken", ["replace", "ready"])
def test_the_passed_hook_skips_a_replica_that_failed(broken):
    """A replica that fails (its replace, or its ready step) is rolled back, not passed; the
    ones before it passed, the ones after it are never reached."""
    rig = Rig()
    if broken == "replace":
        rig.replace_error[2] = UNHEALTHY
    else:
        rig.broken.add(2)
    _msg, result = rig.fail(passed=True)
    assert [p[0] for p in rig.passed] == [1] and result["done"] == [1]
    assert rig.rolled_back == [2] and result["rolled_back"]
    rig = Rig()
    rig.replace_error[1] = UNHEALTHY
    rig.fail(rollback=False, passed=True)
    assert rig.passed == []


def test_the_next_drain_failing_comes_after_the_passed_hook():
    rig = Rig()
    for s in rig.each(2):
        s.update(scur=5, stuck=True)
    _msg, result = rig.fail(passed=True)
    assert [p[0] for p in rig.passed] == [1] and result["failed_step"] == "then"


def test_the_message_names_the_image_the_rollback_put_back():
    """rollback(i) returns the image that runs again (the container the replace kept, put
    back as it was): the message names it, not previous_image; None names previous_image."""
    rig = Rig()
    rig.replace_error[2] = UNHEALTHY
    rig.put_back = "registry.example/app:1-kept"
    msg, result = rig.fail()
    assert "It runs registry.example/app:1-kept again and is back in service" in msg, msg
    assert "app:1 again" not in msg and result["rolled_back"]
    rig = Rig()
    rig.replace_error[2] = UNHEALTHY
    assert "It runs app:1 again" in rig.fail()[0]


def test_fresh_checks_leave_servers_without_checks_alone():
    from ansible_collections.dockyard.fleet.plugins.module_utils._haproxy import (
        recheck_commands, stale_health)
    assert stale_health({"status": "UP"}) and stale_health({"status": "DRAIN"})
    assert stale_health({"status": "DOWN 1/2"}) and stale_health({"status": "MAINT"})
    assert not stale_health({"status": "no check"}) and not stale_health({"status": "DOWN"})
    assert not stale_health({"status": "UP", "tracked": "app/other"})
    views = {"a-1": {"status": "UP"}, "a-2": {"status": "no check"}, "a-3": {"status": "DOWN"}}
    assert recheck_commands("web", views) == ["set server web/a-1 health down"]


class ExitModule:
    """The two exits of AnsibleModule, recording the result instead of printing it."""

    def __init__(self, lbs):
        self.params = {"roll": {"load_balancers": lbs}}
        self.results = []

    def exit_json(self, **kw):
        self.results.append(("exit", kw))

    def fail_json(self, msg, **kw):
        self.results.append(("fail", dict(kw, msg=msg)))


def test_forwarded_sockets_are_removed_when_the_module_ends_and_only_those(tmp_path, monkeypatch):
    import socket as socketmod

    from ansible_collections.dockyard.fleet.plugins.module_utils import _roll
    fwd = tmp_path / ".dockyard-fwd-0123abcd.sock"
    mine = tmp_path / "admin.sock"
    for path in (fwd, mine):
        s = socketmod.socket(socketmod.AF_UNIX)
        s.bind(str(path))
        s.close()
    monkeypatch.setattr(_roll, "FORWARDED", __import__("re").compile(
        r"^%s/\.dockyard-fwd-[0-9a-f]+\.sock$" % __import__("re").escape(str(tmp_path))))
    module = ExitModule([{"socket": str(fwd), "forwarded": True},
                         {"socket": str(mine), "forwarded": True},   # not a forward's name
                         {"socket": "/tmp/.dockyard-fwd-ff.sock", "forwarded": False}])
    _roll.remove_forwarded_at_exit(module)
    module.fail_json(msg="boom", failed_index=1)
    assert module.results == [("fail", {"msg": "boom", "failed_index": 1,
                                        "forwarded_removed": [str(fwd)]})]
    assert not fwd.exists() and mine.exists()
    module.exit_json(changed=True)  # already gone: still reported removed
    assert module.results[-1] == ("exit", {"changed": True, "forwarded_removed": [str(fwd)]})


def test_nothing_forwarded_leaves_the_exits_alone():
    from ansible_collections.dockyard.fleet.plugins.module_utils import _roll
    module = ExitModule([{"socket": "/run/haproxy/admin.sock", "forwarded": False}])
    exit_json = module.exit_json
    _roll.remove_forwarded_at_exit(module)
    assert module.exit_json == exit_json
