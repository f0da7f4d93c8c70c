# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""fleet_table: container_info results + haproxy_info servers -> one aligned table."""
from __future__ import annotations

import pytest

from ansible_collections.dockyard.fleet.plugins.module_utils import _fleet_table as ft


def ct(name, idx, image="dockyard/demo:v1", health="healthy", running=True, service="app",
       version=None, **kw):
    labels = {"dockyard.service": service, "dockyard.replica": str(idx)}
    if version:
        labels["org.opencontainers.image.version"] = version
    c = dict(exists=True, name=name, image=image, health=health, running=running,
             state="running" if running else "exited", exit_code=0 if running else 137,
             labels=labels)
    c.update(kw)
    return c


def srv(name, status="UP", admin="ready", scur=0, check="L7OK", backend="app"):
    return dict(backend=backend, server=name, status=status, admin_state=admin, scur=scur,
                check_status=check, weight=1)


HOSTS = {
    "app2": {"changed": False, "containers": [ct("app-2", 2, "dockyard/demo:v2"),
                                              ct("app-1", 1, "dockyard/demo:v2")]},
    "app1": {"changed": False, "containers": [ct("app-1", 1), ct("app-2", 2, health="starting"),
                                              ct("other-1", 1, service="other")]},
    "app10": {"containers": [ct("app-1", 1, running=False, health=None)]},
}
SERVERS = [srv("app1-1", scur=3), srv("app1-2", "DRAIN", "drain"), srv("app2-1"),
           srv("app2-2", "DOWN", check="L4CON"), srv("app10-1", "MAINT", "maint", check=""),
           srv("app3-1"), srv("x-1", backend="other")]


def test_rows_join_replicas_and_servers():
    rows = ft.build_rows(HOSTS, SERVERS, app="app", backend="app")
    got = [tuple(r[c] for c in ft.COLUMNS) for r in rows]
    assert got == [
        ("app1", "app-1", "dockyard/demo:v1", "healthy", "UP", "3"),
        ("app1", "app-2", "dockyard/demo:v1", "starting", "DRAIN", "0"),
        ("app2", "app-1", "dockyard/demo:v2", "healthy", "UP", "0"),
        ("app2", "app-2", "dockyard/demo:v2", "healthy", "DOWN L4CON", "0"),
        ("app10", "app-1", "dockyard/demo:v1", "exited (137)", "MAINT", "0"),
        ("app3", "app-1 (no facts)", "?", "?", "UP", "0"),
    ]
    assert [r["ok"] for r in rows] == [True, False, True, False, False, False]


def test_render_is_aligned_with_summary():
    text = ft.fleet_table(HOSTS, {"servers": SERVERS}, app="app", backend="app")
    lines = text.splitlines()
    assert lines[0].split() == ["HOST", "REPLICA", "IMAGE/VERSION", "HEALTH", "LB", "STATE",
                                "SESSIONS"]
    assert set(lines[1]) <= {"-", " "}
    col = lines[0].index("IMAGE/VERSION")
    for ln in lines[2:-1]:
        assert ln[col - 2:col] == "  " and ln[col] != " "
    assert lines[-1].startswith("4 hosts, 5 replicas, 2 of 6 rows in service; images: ")
    assert "dockyard/demo:v1 x3" in lines[-1] and "dockyard/demo:v2 x2" in lines[-1]


def test_without_app_every_service_is_listed():
    rows = ft.build_rows({"app1": HOSTS["app1"]}, None)
    assert [r["REPLICA"] for r in rows] == ["app-1", "app-2", "other-1"]
    assert {r["LB STATE"] for r in rows} == {"?"}
    assert all(r["ok"] == (r["HEALTH"] == "healthy") for r in rows)


def test_container_not_in_lb_and_server_without_container():
    rows = ft.build_rows({"app1": [ct("app-1", 1), ct("app-3", 3)]},
                         [srv("app1-1"), srv("app1-2")], app="app")
    got = [(r["REPLICA"], r["LB STATE"], r["SESSIONS"]) for r in rows]
    assert got == [("app-1", "UP", "0"), ("app-3", "not in LB", "-"),
                   ("app-2 (no container)", "UP", "0")]


def test_unreachable_host_and_failed_lb():
    notes = []
    rows = ft.build_rows({"app1": {"unreachable": True}, "app2": None},
                         {"lb1": {"failed": True, "msg": "x"}}, app="app", notes=notes)
    assert [(r["HOST"], r["HEALTH"]) for r in rows] == [("app1", "no answer (unreachable)"),
                                                        ("app2", "no answer (no result)")]
    assert rows[0]["LB STATE"] == "?"
    assert notes == ["lb1: no answer (module failed)"]


def test_host_without_facts_keeps_its_servers_with_the_reason():
    """An unreachable host, or one whose engine is down: the LB's servers of it are rows."""
    hosts = {"app1": [ct("app-1", 1)],
             "app2": {"failed": True, "msg": "Cannot connect to the Docker engine at unix://x "
                                             "(option docker_host): refused"},
             "app3": {"unreachable": True, "msg": "ssh: connect to host app3 port 22: refused"},
             "app4": {"failed": True, "msg": "boom"}}
    servers = [srv("app1-1"), srv("app2-1", "DOWN", check="L4CON"), srv("app3-1", scur=4),
               srv("app3-2", scur=2)]
    rows = ft.build_rows(hosts, servers, app="app")
    got = [tuple(r[c] for c in ft.COLUMNS) for r in rows]
    assert got == [
        ("app1", "app-1", "dockyard/demo:v1", "healthy", "UP", "0"),
        ("app2", "app-1 (no facts)", "?", "no answer (engine down)", "DOWN L4CON", "0"),
        ("app3", "app-1 (no facts)", "?", "no answer (unreachable)", "UP", "4"),
        ("app3", "app-2 (no facts)", "?", "no answer (unreachable)", "UP", "2"),
        ("app4", "?", "?", "no answer (module failed)", "?", "?"),
    ]
    assert ft.summary_line(rows).startswith("4 hosts, 1 replica, 1 of 5 rows in service")


def test_lb_without_answer_puts_nothing_in_service():
    """No LB given: in service = healthy. An LB given but silent (HAProxy down, the LB out of
    --limit): nothing is in service, and the summary says which LB did not answer."""
    hosts = {"app1": [ct("app-1", 1), ct("app-2", 2)]}
    assert [r["ok"] for r in ft.build_rows(hosts, None, app="app")] == [True, True]
    assert [r["ok"] for r in ft.build_rows(hosts, {}, app="app")] == [True, True]
    for lb_result, why in (({"failed": True, "msg": "no socket"}, "module failed"),
                           (None, "no result"), ({"unreachable": True}, "unreachable"),
                           ({"msg": "not queried (outside --limit)"}, "not queried (outside --limit)")):
        text = ft.fleet_table(hosts, {"lb1": lb_result}, app="app")
        lines = text.splitlines()
        assert [ln.split()[4] for ln in lines[2:4]] == ["?", "?"]
        assert lines[-1] == "1 host, 2 replicas, 0 of 2 rows in service; images: " \
            "dockyard/demo:v1 x2; lb1: no answer (%s)" % why
    # two LBs, one silent: the other's view shown, still not in service
    rows = ft.build_rows(hosts, {"lb1": [srv("app1-1"), srv("app1-2")], "lb2": None}, app="app")
    assert rows[0]["LB STATE"] == "lb1=UP lb2=?" and rows[0]["ok"] is False
    # every LB must have the replica: a server missing on lb2 is not in service
    rows = ft.build_rows(hosts, {"lb1": [srv("app1-1"), srv("app1-2")], "lb2": [srv("app1-1")]},
                         app="app")
    assert [r["ok"] for r in rows] == [True, False]


def test_in_service_is_the_shared_rule():
    """UP with a failing check, weight 0, UP going down, no check, tracking: _haproxy.is_up."""
    hosts = {"app1": [ct("app-%d" % i, i) for i in range(1, 8)]}
    weight0 = srv("app1-2")
    weight0["weight"] = 0
    eff0 = srv("app1-7")
    eff0["effective_weight"] = 0
    servers = [srv("app1-1"), weight0, srv("app1-3", check="L7STS"), srv("app1-4", "UP 1/2"),
               srv("app1-5", "no check", check=""), dict(srv("app1-6", check=""), tracked="x/y"),
               eff0]
    rows = ft.build_rows(hosts, servers, app="app")
    assert [(r["LB STATE"], r["ok"]) for r in rows] == [
        ("UP", True), ("UP (weight 0)", False), ("UP", False), ("UP 1/2 L7OK", False),
        ("no check", True), ("UP", True), ("UP (weight 0)", False)]


def test_paused_replica_shows_its_state():
    rows = ft.build_rows({"app1": [ct("app-1", 1, state="paused", health="unhealthy"),
                                   ct("app-2", 2, state="restarting", health=None)]},
                         [srv("app1-1"), srv("app1-2")], app="app")
    assert [(r["HEALTH"], r["ok"]) for r in rows] == [("paused (unhealthy)", False),
                                                      ("restarting", False)]


def test_servers_of_another_app_or_backend():
    """-e deploy_app=nosuch: no container matches; the servers are named with their backend
    (not relabelled as nosuch-N) and the summary warns."""
    hosts = {"app1": {"containers": []}, "app2": {"containers": []}}
    servers = [srv("app1-1"), srv("app1-2"), srv("app2-1")]
    text = ft.fleet_table(hosts, servers, app="nosuch", backend="app")
    assert [ln.split()[1] for ln in text.splitlines()[2:-1]] == ["app/app1-1", "app/app1-2",
                                                                 "app/app2-1"]
    assert "nosuch-" not in text
    assert text.splitlines()[-1].endswith("none of the 3 servers of backend app has a container "
                                          "of nosuch (another app or backend?)")
    # one host with the app: no warning, its missing replica keeps the <app>-<i> name
    text = ft.fleet_table({"app1": [ct("app-1", 1)]}, [srv("app1-1"), srv("app1-2")], app="app")
    assert "app-2 (no container)" in text and "none of" not in text


def test_two_load_balancers():
    rows = ft.build_rows({"app1": [ct("app-1", 1)]},
                         {"lb1": {"servers": [srv("app1-1", scur=2)]},
                          "lb2": [srv("app1-1", "DRAIN", "drain", scur=1)]}, app="app")
    assert rows[0]["LB STATE"] == "lb1=UP lb2=DRAIN"
    assert rows[0]["SESSIONS"] == "3"
    assert rows[0]["ok"] is False


def test_list_of_hosts_shape_and_natural_order():
    rows = ft.build_rows([{"host": "app10", "containers": [ct("app-1", 1)]},
                          {"host": "app9", "containers": [ct("app-1", 1)]}], [], app="app")
    assert [r["HOST"] for r in rows] == ["app9", "app10"]
    assert rows[0]["LB STATE"] == "not in LB"


def test_cells():
    assert ft.image_cell({"image": "sha256:" + "ab" * 32}) == "abababababab"
    assert ft.image_cell({"image": "demo:latest", "labels": {
        "org.opencontainers.image.version": "v3"}}) == "demo:latest (v3)"
    assert ft.image_cell({"image": "demo:v3", "labels": {
        "org.opencontainers.image.version": "v3"}}) == "demo:v3"
    assert ft.health_cell({"exists": True, "running": True, "health": None}) == "running"
    assert ft.health_cell({"exists": False}) == "absent"
    assert ft.lb_cell({"status": "DOWN", "admin_state": "drain", "check_status": "L4CON"}) == \
        "DOWN (drain) L4CON"
    assert ft.lb_cell({"status": "UP 1/2", "admin_state": "ready", "check_status": "L7STS"}) == \
        "UP 1/2 L7STS"
    assert ft.server_split("app-web1-12") == ("app-web1", 12)
    assert ft.server_split("nochk") is None
    # replica index falls back to the name when the label is missing
    assert ft.replica_index({"name": "app-4", "labels": {"dockyard.service": "app"}}) == 4
    assert ft.replica_index({"name": "app-4", "labels": {}}) is None


def test_bad_input_is_an_error():
    with pytest.raises(ft.FleetTableError):
        ft.build_rows("nope", [])
    with pytest.raises(ft.FleetTableError):
        ft.build_rows([{"containers": []}], [])
    with pytest.raises(ft.FleetTableError):
        ft.build_rows({}, 42)


def test_host_without_replicas():
    rows = ft.build_rows({"app1": [ct("app-1", 1)], "app3": {"containers": []}},
                         [srv("app1-1")], app="app")
    assert [(r["HOST"], r["REPLICA"], r["HEALTH"]) for r in rows] == [
        ("app1", "app-1", "healthy"), ("app3", "-", "no replicas")]
    assert ft.summary_line(rows).startswith("2 hosts, 1 replica, 1 of 1 rows in service")
