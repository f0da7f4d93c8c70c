from ansible_collections.dockyard.fleet.plugins.module_utils._haproxy import is_up
from ansible_collections.dockyard.fleet.plugins.module_utils._lb_view import replicas_not_ready


def srv(name, status="UP", admin="ready", backend="web", check="L7OK", tracked=""):
    return {"backend": backend, "server": name, "status": status, "admin_state": admin,
            "check_status": check, "tracked": tracked}


def test_all_ready_on_every_lb_means_nothing_to_do():
    lbs = [{"servers": [srv("app1-1"), srv("app1-2"), srv("app2-1")]},
           {"servers": [srv("app1-1"), srv("app1-2")]}]
    assert replicas_not_ready(lbs, "app1", [1, 2], "web") == []


def test_drained_down_or_missing_on_any_lb_is_pending():
    lbs = [{"servers": [srv("app1-1", admin="drain"), srv("app1-2"), srv("app1-3", "UP 1/2")]},
           {"servers": [srv("app1-1"), srv("app1-3")]}]
    assert replicas_not_ready(lbs, "app1", [1, 2, 3], "web") == [1, 2, 3]


def test_other_backends_and_hosts_do_not_count():
    lbs = [{"servers": [srv("app1-1", backend="other", admin="maint"), srv("app1-1"),
                        srv("app11-1", admin="maint")]}]
    assert replicas_not_ready(lbs, "app1", [1], "web") == []
    assert replicas_not_ready([], "app1", [1]) == []


def test_same_rule_as_haproxy_server():
    """A `no check` server and one that tracks another (UP, no check result of its own) are
    in service, as haproxy_server's wait counts them; UP with a check that has not passed is
    not."""
    rows = [srv("app1-1", "no check", check=""), srv("app1-2", check="", tracked="web/app2-1"),
            srv("app1-3", check=""), srv("app1-4", "no check", admin="drain", check="")]
    assert replicas_not_ready([{"servers": rows}], "app1", [1, 2, 3, 4], "web") == [3, 4]
    assert [is_up(r) for r in rows] == [True, True, False, False]
