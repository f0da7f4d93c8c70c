# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic of the HAProxy runtime-API helpers, on output captured from HAProxy 2.6.12."""
from __future__ import annotations

import os

import pytest

from ansible_collections.dockyard.fleet.plugins.module_utils import _haproxy as h

FIX = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "haproxy")


def fixture(name):
    with open(os.path.join(FIX, name)) as f:
        return f.read()


def view(stat_file, server, state_file="show_servers_state_mixed.txt"):
    return h.server_view(h.parse_show_stat(fixture(stat_file)),
                         h.parse_servers_state(fixture(state_file)), "app", server)


def test_parse_show_stat_columns():
    rows = h.parse_show_stat(fixture("show_stat_mixed.csv"))
    assert [r["svname"] for r in rows] == ["app1-1", "app1-2", "app2-1", "nochk"]
    r = rows[0]
    assert (r["pxname"], r["scur"], r["status"], r["weight"], r["check_status"]) == \
        ("app", "0", "DRAIN", "1", "L7OK")
    assert r["addr"] == "10.77.3.11:8081"


def test_parse_servers_state():
    rows = h.parse_servers_state(fixture("show_servers_state_mixed.txt"))
    by = {r["srv_name"]: r for r in rows}
    assert by["app1-1"]["srv_admin_state"] == "8"
    assert by["app1-2"]["srv_admin_state"] == "1"
    assert by["app2-1"]["srv_uweight"] == "7" and by["app2-1"]["srv_iweight"] == "50"


def test_views_of_mixed_states():
    assert view("show_stat_mixed.csv", "app1-1")["admin_state"] == "drain"
    m = view("show_stat_mixed.csv", "app1-2")
    assert (m["admin_state"], m["status"], m["check_status"]) == ("maint", "MAINT", "")
    w = view("show_stat_mixed.csv", "app2-1")
    assert (w["admin_state"], w["weight"], w["effective_weight"]) == ("ready", 7, 7)
    n = view("show_stat_mixed.csv", "nochk")
    assert n["status"] == "no check" and h.is_up(n)


def test_check_in_progress_marker_is_stripped():
    # HAProxy prefixes the last result with "* " while a check is running
    text = "\n".join(ln.replace(",L7OK,", ",* L7OK,") if ln.startswith("app,app1-1,") else ln
                     for ln in fixture("show_stat_mixed.csv").splitlines())
    v = h.server_view(h.parse_show_stat(text),
                      h.parse_servers_state(fixture("show_servers_state_mixed.txt")), "app",
                      "app1-1")
    assert v["check_status"] == "L7OK" and v["check_running"]


def test_up_going_down_is_not_up():
    v = view("show_stat_up_going_down.csv", "app1-1", "show_servers_state_down.txt")
    assert v["status"] == "UP 1/2"
    assert not h.is_up(v)
    assert not h.wait_done(v, "ready")


def test_down_going_up_is_not_up_but_is_drained():
    v = view("show_stat_down_going_up.csv", "app1-1", "show_servers_state_down.txt")
    assert v["status"] == "DOWN 1/2" and v["check_status"] == "L7OK"
    assert not h.is_up(v)
    assert h.drained(v)


def test_down_or_maint_server_with_sessions_is_not_drained():
    # HAProxy keeps a server's sessions when it goes DOWN or into MAINT: drained is scur 0
    v = view("show_stat_down.csv", "app1-1", "show_servers_state_down.txt")
    assert v["status"] == "DOWN" and h.wait_done(dict(v, scur=0), "drain")
    busy = dict(v, scur=3)
    assert not h.wait_done(busy, "drain") and not h.wait_done(busy, "maint")
    maint = dict(busy, status="MAINT", admin_state="maint", admin_flags=1)
    assert not h.drained(maint) and h.drained(dict(maint, scur=0))


def test_up_server_with_sessions_is_not_drained():
    v = view("show_stat_down.csv", "app1-2", "show_servers_state_down.txt")
    assert h.is_up(v) and h.wait_done(v, "ready")
    v["scur"] = 2
    assert not h.wait_done(v, "drain")


def test_plan_is_empty_when_nothing_differs():
    v = view("show_stat_mixed.csv", "app1-1")
    assert h.plan(v, "app", "app1-1", state="drain", weight=1) == ([], v)


def test_plan_state_and_weight():
    v = view("show_stat_mixed.csv", "app2-1")
    cmds, after = h.plan(v, "app", "app2-1", state="maint", weight=50)
    # the weight first: HAProxy may refuse it (a static algorithm) before anything changed
    assert cmds == ["set weight app/app2-1 50", "set server app/app2-1 state maint"]
    assert h.compared(after) == {"admin_state": "maint", "weight": 50}
    assert after["admin_flags"] == 1


def test_plan_predicts_the_admin_flags_haproxy_leaves():
    # checked on HAProxy 2.6.12: drain clears forced maint, maint clears forced drain, ready
    # clears both, the configuration's maintenance bit (disabled, 0x04) stays
    v = dict(view("show_stat_mixed.csv", "app2-1"), admin_flags=5, admin_state="maint")
    assert h.plan(v, "b", "s", state="drain")[1]["admin_flags"] == 12
    assert h.plan(dict(v, admin_flags=12, admin_state="drain"), "b", "s", state="ready")[1]["admin_flags"] == 4
    assert h.plan(dict(v, admin_flags=4, admin_state="ready"), "b", "s", state="maint")[1]["admin_flags"] == 5


def test_shutdown_sessions_only_for_a_server_with_sessions():
    v = view("show_stat_mixed.csv", "app1-1")          # drained, no session
    assert v["admin_state"] == "drain" and v["scur"] == 0
    assert h.plan(v, "app", "app1-1", state="drain", shutdown_sessions=True)[0] == []
    busy = dict(v, scur=2)
    assert h.plan(busy, "app", "app1-1", state="drain", shutdown_sessions=True)[0] == \
        ["shutdown sessions server app/app1-1"]
    ready = dict(busy, admin_state="ready", admin_flags=0)
    assert h.plan(ready, "app", "app1-1", state="drain", shutdown_sessions=True)[0] == \
        ["set server app/app1-1 state drain", "shutdown sessions server app/app1-1"]


def test_session_count_is_not_compared():
    v = view("show_stat_mixed.csv", "app2-1")
    moved = dict(v, scur=9)
    assert h.compared(v) == h.compared(moved)


@pytest.mark.parametrize("reply,needle", [
    ("Permission denied\n\n", "level admin"),
    ("No such server.\n\n", "option server"),
    ("No such backend.\n\n", "option backend"),
    ("'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n", "unexpected reply"),
    ("Unknown command, but maybe one of the following ones is a better match:\n", "unexpected"),
])
def test_refusals_are_errors(reply, needle):
    with pytest.raises(h.HAProxyError, match=needle):
        h.check_set_reply("set server app/x state drain", reply)


def test_empty_reply_is_success():
    h.check_set_reply("set weight app/x 3", "\n")


def test_unknown_backend_and_server():
    with pytest.raises(h.HAProxyError, match="option backend"):
        h.parse_show_stat("No such proxy.\n\n")
    with pytest.raises(h.HAProxyError, match="option backend"):
        h.parse_servers_state("Can't find backend.\n\n")
    with pytest.raises(h.HAProxyError, match="option server.*app1-1, app1-2"):
        view("show_stat_mixed.csv", "nope")
    stat = h.parse_show_stat(fixture("show_stat_mixed.csv"))
    state = h.parse_servers_state(fixture("show_servers_state_mixed.txt"))
    with pytest.raises(h.HAProxyError, match=r"'nope' in backend 'app' \(option then.servers\)"):
        h.server_view(stat, state, "app", "nope", "then.servers")
    with pytest.raises(h.HAProxyError, match=r"\(option servers\)"):
        h.fetch_views(FakeHAProxy({"a": {"admin": "ready", "status": "UP", "scur": 0}}), "app",
                      ["a", "nope"], "servers")
    with pytest.raises(h.HAProxyError, match="unexpected"):
        h.parse_show_stat("garbage\n")


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t

    def sleep(self, s):
        self.t += s


def test_wait_for_never_waits_forever():
    clock = FakeClock()
    going_down = view("show_stat_up_going_down.csv", "app1-1", "show_servers_state_down.txt")
    v, done, polls = h.wait_for(lambda: going_down, "ready", 5, 1, clock=clock, sleep=clock.sleep)
    assert not done and clock.t == 5 and polls == 6


def test_wait_for_drain_on_up_server_returns_when_sessions_end():
    clock = FakeClock()
    base = view("show_stat_down.csv", "app1-2", "show_servers_state_down.txt")
    seq = iter([dict(base, scur=2), dict(base, scur=1), dict(base, scur=0)])
    v, done, polls = h.wait_for(lambda: next(seq), "drain", 60, 1, clock=clock, sleep=clock.sleep)
    assert done and polls == 3 and v["scur"] == 0


def test_wait_for_ready_passes_through_up_1_2():
    clock = FakeClock()
    a = view("show_stat_down_going_up.csv", "app1-1", "show_servers_state_down.txt")
    b = view("show_stat_down.csv", "app1-2", "show_servers_state_down.txt")
    seq = iter([a, a, b])
    v, done, polls = h.wait_for(lambda: next(seq), "ready", 60, 0.5, clock=clock,
                                sleep=clock.sleep)
    assert done and polls == 3


def test_client_rejects_bad_address():
    with pytest.raises(h.HAProxyError, match="option socket"):
        h.RuntimeClient("not-a-socket").command("show info")
    with pytest.raises(h.HAProxyError, match="option socket"):
        h.RuntimeClient("/nonexistent/haproxy.sock").command("show info")


def test_wait_all_waits_for_the_last_server_with_one_read_per_poll():
    clock = FakeClock()
    up = view("show_stat_down.csv", "app1-2", "show_servers_state_down.txt")
    going_up = view("show_stat_down_going_up.csv", "app1-1", "show_servers_state_down.txt")
    reads = iter([{"a": up, "b": going_up}, {"a": up, "b": going_up}, {"a": up, "b": up}])
    views, done, polls = h.wait_all(lambda: next(reads), {"a": "ready", "b": "ready"}, 60, 1,
                                    clock=clock, sleep=clock.sleep)
    assert done and polls == 3 and views["b"] is up


def test_wait_all_mixed_targets_and_deadline():
    clock = FakeClock()
    up = view("show_stat_down.csv", "app1-2", "show_servers_state_down.txt")
    busy = dict(up, scur=3)
    views, done, polls = h.wait_all(lambda: {"a": up, "b": busy}, {"a": "ready", "b": "drain"},
                                    4, 1, clock=clock, sleep=clock.sleep)
    assert not done and clock.t == 4 and polls == 5
    assert h.all_done({"a": up, "b": dict(busy, scur=0)}, {"a": "ready", "b": "drain"})


class FakeHAProxy:
    """A runtime API that answers like HAProxy 2.6 (headers of the captured fixtures) and
    moves on by itself: a drained server loses one session per read (unless "stuck"), a
    readied one is UP from the next read on. `pid` is what `show info` says; `gone_after`
    makes the socket fail after that many commands; `refuse` maps a command to its reply."""

    def __init__(self, servers, level="admin", algo="roundrobin"):
        self.servers = servers   # name -> {"admin": "ready|drain|maint", "status", "scur"}
        self.sent = []
        self.exchanges = 0  # connections that carried several commands
        self.level, self.algo, self.pid = level, algo, 100
        self.gone_after, self.refuse = None, {}
        self.stat_header = fixture("show_stat_mixed.csv").splitlines()[0][2:].rstrip(",").split(",")
        self.state_header = fixture("show_servers_state_mixed.txt").splitlines()[1][2:].split()

    def command(self, cmd):
        if self.gone_after is not None and len(self.sent) >= self.gone_after:
            raise h.SocketError("cannot connect to the stats socket /x: [Errno 2] No such file "
                                "or directory (option socket)", "[Errno 2] No such file or directory")
        if ";" in cmd:  # commands on one connection: each reply ends with an empty line
            self.exchanges += 1
            return "".join(self.command(c) + "\n" for c in cmd.split(";"))
        self.sent.append(cmd)
        if cmd in self.refuse:
            return self.refuse[cmd]
        if cmd == "show cli level":
            return self.level + "\n"
        if cmd == "show info":
            return "Name: HAProxy\nPid: %d\nStart_time_sec: %d\n" % (self.pid, self.pid * 10)
        if cmd.startswith("show stat"):
            for s in self.servers.values():
                if s["admin"] != "ready" and s["scur"] and not s.get("stuck"):
                    s["scur"] -= 1
                if s["admin"] == "ready" and s["status"] != "UP":
                    s["status"] = "UP" if s.pop("coming", False) else s["status"]
                    s["coming"] = True
            rows = []
            for name, s in self.servers.items():
                status = {"drain": "DRAIN", "maint": "MAINT"}.get(s["admin"], s["status"])
                cells = {"pxname": "app", "svname": name, "scur": str(s["scur"]), "status": status,
                         "weight": str(s.get("weight", 1)), "check_status": "L7OK",
                         "addr": "10.0.0.1:8081"}
                rows.append(",".join(cells.get(k, "") for k in self.stat_header))
            if cmd.split()[3] == "6":
                cells = {"pxname": "app", "svname": "BACKEND", "algo": self.algo, "status": "UP"}
                rows.append(",".join(cells.get(k, "") for k in self.stat_header))
            return "# " + ",".join(self.stat_header) + "\n" + "\n".join(rows) + "\n"
        if cmd.startswith("show servers state"):
            rows = []
            for name, s in self.servers.items():
                cells = {"be_name": "app", "srv_name": name, "srv_uweight": str(s.get("weight", 1)),
                         "srv_iweight": str(s.get("iweight", 1)),
                         "srv_admin_state": str({"ready": 0, "drain": 8, "maint": 1}[s["admin"]])}
                rows.append(" ".join(cells.get(k, "0") for k in self.state_header))
            return "1\n# " + " ".join(self.state_header) + "\n" + "\n".join(rows) + "\n"
        if cmd.startswith("set server app/"):
            words = cmd[len("set server app/"):].split()
            self.servers[words[0]]["admin"] = words[2]
            return ""
        if cmd.startswith("set weight app/"):
            name, weight = cmd[len("set weight app/"):].split()
            self.servers[name]["weight"] = int(weight)
            return ""
        if cmd.startswith("shutdown sessions server app/"):
            self.servers[cmd.rsplit("/", 1)[1]]["scur"] = 0
            return ""
        return "Unknown command\n"


def _fleet():
    return FakeHAProxy({"a": {"admin": "drain", "status": "UP", "scur": 0},
                        "b": {"admin": "ready", "status": "UP", "scur": 2}})


def test_run_step_ready_then_drain_in_order():
    ha, clock = _fleet(), FakeClock()
    first = h.run_step(ha, "app", ["a"], state="ready", wait=True, wait_timeout=10,
                       wait_interval=0.25, clock=clock, sleep=clock.sleep)
    assert first["commands"] == ["set server app/a state ready"] and not first["late"]
    assert first["views"]["a"]["before"]["admin_state"] == "drain"
    assert first["views"]["a"]["after"]["admin_state"] == "ready"
    # the second step only starts once the first is done: a was set before b
    second = h.run_step(ha, "app", ["b"], state="drain", wait=True, wait_timeout=10,
                        wait_interval=0.25, clock=clock, sleep=clock.sleep)
    sets = [c for c in ha.sent if c.startswith("set ")]
    assert sets == ["set server app/a state ready", "set server app/b state drain"]
    assert not second["late"] and second["views"]["b"]["after"]["scur"] == 0
    assert second["views"]["b"]["before"]["scur"] == 2
    # every read (before, each poll) is one exchange: both show commands on one connection
    reads = [c for c in ha.sent if c.startswith("show stat")]
    assert len(reads) >= 4 and ha.exchanges == len(reads)
    assert len([c for c in ha.sent if c.startswith("show servers state")]) == len(reads)


def test_run_step_check_mode_sends_no_set_and_predicts():
    ha = _fleet()
    step = h.run_step(ha, "app", ["a", "b"], state="maint", wait=True, check_mode=True)
    assert not [c for c in ha.sent if c.startswith("set ")]
    assert [v["after"]["admin_state"] for v in step["views"].values()] == ["maint", "maint"]
    assert len(step["commands"]) == 2 and step["waited"] == 0.0


def test_run_step_late_names_the_server_and_option():
    ha, clock = _fleet(), FakeClock()
    ha.servers["b"]["scur"] = 1000
    step = h.run_step(ha, "app", ["b"], state="drain", wait=True, wait_timeout=2,
                      wait_interval=0.5, clock=clock, sleep=clock.sleep)
    assert step["late"] == ["b"]
    msg = h.late_message("app", step, 2, "then.wait_timeout")
    assert msg.startswith("server not drained within 2s (option then.wait_timeout): app/b ")


def test_run_step_no_change_is_no_command():
    ha = _fleet()
    step = h.run_step(ha, "app", ["b"], state="ready", wait=True)
    assert step["commands"] == [] and not step["late"]


def test_runtime_api_names_never_carry_a_second_command():
    from ansible_collections.dockyard.fleet.plugins.module_utils._haproxy import name_problem
    assert name_problem("app1-1", "server") is None
    assert name_problem("app1-1;disable server app/app1-2", "server") == (
        "option server must be a non-empty name without spaces or ';', "
        "got 'app1-1;disable server app/app1-2'")
    assert "option backend" in name_problem(" app", "backend")
    assert "non-empty" in name_problem("", "server")
    assert name_problem("", "roll.server_prefix", "server name prefix", empty_ok=True) is None
    assert name_problem("a b-", "roll.server_prefix", "server name prefix", empty_ok=True) == (
        "option roll.server_prefix must be a server name prefix without spaces or ';', got 'a b-'")


# ---------------------------------------------------------------- review fixes


def read_all():
    """The captured first read of haproxy_server: level admin, show info, every backend's
    servers and BACKEND rows (app, other with a no-check, a disabled, a tracking, a weight 10
    and an unresolved DNS server, static with balance source, commas whose check reason has a
    comma), show servers state."""
    return h.parse_read(fixture("read_all_admin.txt"), None, level=True, info=True,
                        backend_rows=True)


def test_parse_read_level_process_algos():
    r = read_all()
    assert r["level"] == "admin" and r["process"] == "28925@1796570077"
    assert r["algos"] == {"app": "roundrobin", "other": "roundrobin", "static": "source",
                          "commas": "roundrobin"}
    assert not [x for x in r["stat"] if x["svname"] in ("BACKEND", "FRONTEND")]
    assert h.read_command(None, level=True, info=True, backend_rows=True) == \
        "show cli level;show info;show stat -1 6 -1;show servers state"
    assert h.read_command("app", info=True) == "show info;show stat app 4 -1;show servers state app"
    user = h.parse_read(fixture("read_other_user.txt"), "other", level=True, info=True,
                        backend_rows=True)
    assert user["level"] == "user"
    # show stat hides addresses at level user; show servers state has them
    v = h.server_view(user["stat"], user["state"], "other", "wtd")
    assert v["address"] == "10.77.7.13:8082" and v["initial_weight"] == 10


def test_show_cli_level_unknown_to_an_older_haproxy_is_no_level():
    text = fixture("read_all_admin.txt").replace("admin\n", "Unknown command.\n", 1)
    assert h.parse_read(text, None, level=True, info=True, backend_rows=True)["level"] is None


def test_csv_field_with_a_comma_keeps_the_columns():
    r = read_all()
    v = h.server_view(r["stat"], r["state"], "commas", "c1")
    assert v["address"] == "10.77.7.5:8093" and v["status"] == "DOWN"
    assert v["check_status"] == "L7STS"
    row = next(x for x in r["stat"] if x["svname"] == "c1")
    assert row["last_chk"] == "Busy, try later" and row["check_desc"] == "Layer7 wrong status"


def test_tracking_and_no_check_servers_are_up_unresolved_dns_is_not():
    r = read_all()
    views = {n: h.server_view(r["stat"], r["state"], "other", n)
             for n in ("tracked", "nocheck", "dns1", "cfgoff", "app1-1")}
    assert views["tracked"]["tracked"] == "app/app2-1" and views["tracked"]["check_status"] == ""
    assert h.is_up(views["tracked"]) and h.wait_done(views["tracked"], "ready")
    assert h.is_up(views["nocheck"]) and h.is_up(views["app1-1"])
    assert views["dns1"]["status"] == "MAINT (resolution)" and not h.is_up(views["dns1"])
    assert views["dns1"]["address"] == ""
    assert not h.is_up(views["cfgoff"])
    assert not h.is_up(dict(views["tracked"], admin_state="drain", status="DRAIN"))
    # an UP server with a check of its own and no result yet is not up
    assert not h.is_up(dict(views["app1-1"], check_status=""))


def test_backends_holding():
    r = read_all()
    assert h.backends_holding(r["stat"], ["app1-1"]) == ["app", "other"]
    assert h.backends_holding(r["stat"], ["app1-1", "app1-2"]) == ["app"]
    assert h.backends_holding(r["stat"], ["s1", "app1-2"]) == []
    assert h.backends_holding(r["stat"], ["nope"]) == []


@pytest.mark.parametrize("value,spec", [
    (0, ("abs", 0)), (256, ("abs", 256)), ("7", ("abs", 7)), (" 50% ", ("pct", 50)),
    ("0%", ("pct", 0)), ("300%", ("pct", 300))])
def test_parse_weight(value, spec):
    assert h.parse_weight(value) == spec


@pytest.mark.parametrize("value", [-1, 257, True, 1.5, "1.5", "ten", "50 %", "%", "-3%", "",
                                   "0x10", [5], "257", None])
def test_parse_weight_refuses_naming_the_option(value):
    with pytest.raises(ValueError, match="option weight"):
        h.parse_weight(value)


def test_weight_percentages_as_haproxy_computes_them():
    # checked on HAProxy 2.6.12: 50% of 10 -> 5, 5% of 10 -> 0, 300% -> 30, 3000% -> 256,
    # 50% of 1 -> 0
    v = {"initial_weight": 10}
    assert [h.weight_value(("pct", p), v) for p in (50, 5, 300, 3000, 100)] == [5, 0, 30, 256, 10]
    assert h.weight_value(("pct", 50), {"initial_weight": 1}) == 0
    assert h.weight_value(("abs", 3), v) == 3


def test_weight_on_a_static_algorithm():
    v = {"weight": 1, "initial_weight": 1}
    kind, why = h.weight_refusal("static-rr", v, 5)
    assert kind == "fail" and "static-rr" in why and "initial weight 1" in why
    assert h.weight_refusal("source", v, 5)[0] == "warn"
    assert h.weight_refusal("hdr(host)", v, 5)[0] == "warn"
    assert h.weight_refusal("roundrobin", v, 5) is None
    assert h.weight_refusal("static-rr", v, 0) is None and h.weight_refusal("static-rr", v, 1) is None
    with pytest.raises(h.HAProxyError, match=r"option weight"):
        h.check_set_reply("set weight static/s1 5", h.STATIC_WEIGHT_REPLY + "\n\n")


def test_no_such_server_reply_names_the_option_given():
    with pytest.raises(h.HAProxyError, match=r"\(option then.servers\)"):
        h.check_set_reply("set server app/x state drain", "No such server.\n\n", "then.servers")


def test_run_step_nothing_to_do_is_one_read():
    ha = _fleet()
    step = h.run_step(ha, "app", ["b"], state="ready")
    assert step["commands"] == [] and ha.exchanges == 1
    # with wait and the condition already met: no poll either
    ha = _fleet()
    step = h.run_step(ha, "app", ["a"], state="drain", wait=True)
    assert step["commands"] == [] and ha.exchanges == 1 and step["waited"] == 0.0


def test_shutdown_sessions_check_mode_and_real_run_agree():
    for check_mode in (True, False):
        ha = _fleet()                      # b: ready with 2 sessions
        step = h.run_step(ha, "app", ["b"], state="drain", shutdown_sessions=True,
                          check_mode=check_mode)
        assert step["commands"] == ["set server app/b state drain",
                                    "shutdown sessions server app/b"]
    ha = _fleet()                          # a: drained, no session: nothing to shut
    for check_mode in (True, False):
        step = h.run_step(ha, "app", ["a"], state="drain", shutdown_sessions=True,
                          check_mode=check_mode)
        assert step["commands"] == []
    assert not [c for c in ha.sent if c.startswith("shutdown")]


def test_wait_after_maint_waits_for_the_sessions():
    ha, clock = _fleet(), FakeClock()
    ha.servers["b"]["scur"] = 3
    step = h.run_step(ha, "app", ["b"], state="maint", wait=True, wait_timeout=10,
                      wait_interval=1, clock=clock, sleep=clock.sleep)
    assert not step["late"] and step["views"]["b"]["after"]["scur"] == 0 and clock.t >= 1


def test_a_failure_partway_reports_what_was_sent():
    ha, clock = _fleet(), FakeClock()
    ha.servers["b"].update(scur=5, stuck=True)
    ha.gone_after = 4                      # read, set, first poll... then the socket is gone
    with pytest.raises(h.StepError) as info:
        h.run_step(ha, "app", ["b"], state="drain", wait=True, wait_timeout=10,
                   wait_interval=1, clock=clock, sleep=clock.sleep)
    assert info.value.sent == ["set server app/b state drain"]
    assert "option socket" in str(info.value)
    assert info.value.views["b"]["before"]["admin_state"] == "ready"
    assert info.value.views["b"]["after"]["admin_state"] == "drain"
    # a refused command: the commands before it are reported, not it
    ha = _fleet()
    ha.refuse["set server app/b state drain"] = "Permission denied\n\n"
    with pytest.raises(h.StepError) as info:
        h.run_step(ha, "app", ["b"], state="drain", weight=3)
    assert info.value.sent == ["set weight app/b 3"] and "option socket" in str(info.value)
    after = info.value.views["b"]["after"]
    assert (after["weight"], after["admin_state"]) == (3, "ready")


def test_a_reload_during_the_wait_is_reported():
    ha, clock = _fleet(), FakeClock()
    ha.servers["b"]["scur"] = 3
    first = h.parse_read(ha.command(h.read_command("app", info=True)), "app", info=True)
    sleeps = []

    def sleep(s):
        sleeps.append(s)
        clock.sleep(s)
        if len(sleeps) == 1:
            ha.pid = 200                   # the new worker after a reload
    step = h.run_step(ha, "app", ["b"], state="drain", wait=True, wait_timeout=10,
                      wait_interval=1, clock=clock, sleep=sleep, process=first["process"])
    assert first["process"] == "100@1000" and step["reloaded"] == ["200@2000"]
    assert "show info" in ha.sent
    quiet = _fleet()
    step = h.run_step(quiet, "app", ["b"], state="drain", wait=True, wait_timeout=10,
                      wait_interval=0.5, clock=FakeClock(), sleep=FakeClock().sleep)
    assert step["reloaded"] == [] and "show info" not in quiet.sent   # the roll's reads
