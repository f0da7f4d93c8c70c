"""Bad role input is rejected by the roles' argument_specs before any host is touched.

One playbook runs every case as a block (include_role with the bad variable) whose rescue
records which task failed and its message: it must be the role's argument validation and
name the variable. Engines (lab.snapshot) and the lb's HAProxy files are unchanged.
A site.yml run with a bad deploy_* value fails in the deploy play's validation on every app
host and leaves the engines as they were.
"""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from conftest import run_playbook

VALIDATE = ("validate_argument_spec", "ansible.builtin.validate_argument_spec")
LB_FILES = "find /etc/haproxy /run/haproxy /var/lib/haproxy -printf '%p %s %T@\\n' 2>/dev/null | sort"
WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=6)


def _not_int():
    return st.one_of(WORD, st.sampled_from(["1.5", "ten", "12abc"]),
                     st.lists(st.integers(0, 9), min_size=1, max_size=2))


def _not_bool():
    return st.one_of(st.sampled_from(["maybe", "2", "nope"]),
                     st.lists(st.booleans(), min_size=1, max_size=2))


def _not_dict():
    return st.one_of(st.integers(), st.lists(WORD, min_size=1, max_size=2),
                     st.sampled_from(["no-equals-sign"]))


def _not_list():
    return st.dictionaries(WORD, st.integers(0, 9), min_size=1, max_size=2)


def _not_choice(ok):
    return WORD.filter(lambda w: w not in ok)


ROLE_VARS = {
    "deploy": {
        "deploy_replicas": _not_int(), "deploy_port_base": _not_int(),
        "deploy_wait_timeout": _not_int(), "deploy_keep_images": _not_int(),
        "deploy_cpus": WORD, "deploy_env": _not_dict(), "deploy_secret_env": _not_dict(),
        "deploy_labels": _not_dict(), "deploy_networks": _not_list(),
        "deploy_volumes": _not_list(), "deploy_rollback_on_failure": _not_bool(),
        "deploy_lock_break": _not_bool(), "deploy_keep_volumes": _not_bool(),
        "deploy_image_source": _not_choice(["archive", "pull"]),
        "deploy_image_ship": _not_choice(["auto", "stream", "copy"]),
        "deploy_strategy": _not_choice(["rolling", "all_at_once"]),
        "deploy_wait": _not_choice(["healthy", "running"]),
        "deploy_roll_mode": _not_choice(["auto", "one_run", "per_step"]),
        # a key another variable sets (image), a value of the wrong type
        "deploy_container_options": st.sampled_from([{"image": "dockyard/other:v9"},
                                                     {"read_only": "maybe"}]),
    },
    "haproxy": {
        "haproxy_frontend_port": _not_int(), "haproxy_maxconn": _not_int(),
        "haproxy_retries": _not_int(), "haproxy_backend_ports": _not_list(),
        "haproxy_redispatch_interval": _not_int(), "haproxy_retry_on": _not_list(),
        "haproxy_timeouts": _not_dict(), "haproxy_frontends": _not_list(),
        "haproxy_stats_enabled": _not_bool(), "haproxy_tls_enabled": _not_bool(),
        "haproxy_mode": _not_choice(["http", "tcp"]),
        "haproxy_service_manager": _not_choice(["auto", "systemd", "none"]),
    },
    "rolling_restart": {
        "rolling_restart_max_fail_percentage": _not_int(),
    },
    "docker_engine": {
        "docker_engine_ping_retries": _not_int(), "docker_engine_install": _not_bool(),
        "docker_engine_extra_packages": _not_list(),
    },
}
HOSTS = {"deploy": "app1", "rolling_restart": "app1", "docker_engine": "app1", "haproxy": "lb1"}


def _draw(strategy, n):
    drawn = []

    @settings(max_examples=n, derandomize=True, database=None, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(value):
        if value not in drawn:
            drawn.append(value)

    collect()
    return drawn


def _cases() -> list:
    """Two wrong values (deterministic hypothesis draws) for every variable listed."""
    out = []
    for role, variables in ROLE_VARS.items():
        i = 0
        for var, strategy in variables.items():
            for value in _draw(strategy, 2):
                out.append({"id": "%s-%02d" % (role, i), "role": role, "var": var,
                            "value": value})
                i += 1
    return out


CASES = _cases()

# Fixed bad values the types alone do not catch: the items of haproxy_frontends /
# haproxy_backends (their options), and the role's own early checks (assert), each naming the
# variable before anything on the host changes.
FIXED_CASES = [
    {"id": "haproxy-fixed-%02d" % i, "role": "haproxy", "var": var, "vars": vars_, "actions": actions}
    for i, (var, vars_, actions) in enumerate([
        ("haproxy_frontends", {"haproxy_frontends": [{"name": "x"}]}, VALIDATE),
        ("haproxy_backends", {"haproxy_backends": [{"name": "x", "servers": [
            {"name": "a", "address": "192.0.2.1"}]}]}, VALIDATE),
        ("haproxy_backends", {"haproxy_backends": [{"name": "x", "sever": []}]}, VALIDATE),
        ("haproxy_backend_group", {"haproxy_backend_group": "nosuch"}, ("assert", "ansible.builtin.assert")),
        ("haproxy_backend_ports", {"haproxy_backend_ports": [8081, 70000]}, ("assert", "ansible.builtin.assert")),
        ("haproxy_stats_password", {"haproxy_stats_enabled": "true", "haproxy_stats_password": "a\nb"},
         ("assert", "ansible.builtin.assert")),
    ])]
# The deploy role's early check of bounds and formats (tasks/facts.yml, run by every entry
# point before any change: no lock, no audit line; dockyard.fleet.deploy_facts, on the controller).
DEPLOY_FACTS = ("deploy_facts", "dockyard.fleet.deploy_facts")
FIXED_CASES += [
    {"id": "deploy-fixed-%02d" % i, "role": "deploy", "var": var, "vars": vars_,
     "actions": DEPLOY_FACTS}
    for i, (var, vars_) in enumerate([
        ("deploy_replicas", {"deploy_replicas": 0}),
        ("deploy_replicas", {"deploy_replicas": -1}),
        ("deploy_keep_images", {"deploy_keep_images": 0}),
        ("deploy_keep_releases", {"deploy_keep_releases": 0}),
        ("deploy_lock_timeout", {"deploy_lock_timeout": -5}),
        ("deploy_stop_timeout", {"deploy_stop_timeout": -1}),
        ("deploy_memory", {"deploy_memory": "lots"}),
        ("deploy_version", {"deploy_version": ""}),
        ("deploy_port_base", {"deploy_port_base": 65535}),
        ("deploy_cpus", {"deploy_cpus": -1}),
    ])]


def _playbook(cases):
    plays = []
    for host in sorted(set(HOSTS.values())):
        blocks = []
        for c in cases:
            if HOSTS[c["role"]] != host:
                continue
            blocks.append("""
    - name: "case {id}"
      block:
        - ansible.builtin.include_role:
            name: dockyard.fleet.{role}
          vars: {vars}
        - ansible.builtin.debug:
            msg: {{action: none, msg: "role ran through"}}
      rescue:
        - name: "outcome {id}"
          ansible.builtin.debug:
            msg:
              action: "{{{{ ansible_failed_task.action }}}}"
              msg: "{{{{ ansible_failed_result.msg | default('') }}}}"
""".format(id=c["id"], role=c["role"], vars=json.dumps(c.get("vars") or {c["var"]: c["value"]})))
        plays.append("- hosts: %s\n  gather_facts: false\n  tasks:%s" % (host, "".join(blocks)))
    return "\n".join(plays)


@pytest.fixture(scope="module")
def outcome(lab):
    app = sorted(set(h for h in HOSTS.values() if h.startswith("app")))
    before = {h: lab.snapshot(h) for h in app}
    lb_before = lab.ssh("lb1", LB_FILES, check=False).stdout
    res = run_playbook(lab, _playbook(CASES + FIXED_CASES), timeout=1800)
    after = {h: lab.snapshot(h) for h in app}
    lb_after = lab.ssh("lb1", LB_FILES, check=False).stdout
    got = {}
    for rec in res.records:
        if rec["task"].startswith("outcome "):
            got[rec["task"][len("outcome "):]] = rec["result"].get("msg") or {}
    return {"res": res, "got": got, "before": before, "after": after,
            "lb_before": lb_before, "lb_after": lb_after}


def test_cases_cover_every_role_and_variable():
    assert {c["role"] for c in CASES} == set(ROLE_VARS)
    for role, variables in ROLE_VARS.items():
        assert {c["var"] for c in CASES if c["role"] == role} == set(variables)


def test_hosts_untouched(outcome):
    for host, snap in outcome["before"].items():
        assert outcome["after"][host] == snap, host
    assert outcome["lb_after"] == outcome["lb_before"]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_bad_role_variable_rejected_by_argument_spec(outcome, case):
    got = outcome["got"].get(case["id"])
    assert got is not None, "case %s passed argument validation: %s=%r\n%s" % (
        case["id"], case["var"], case["value"], outcome["res"].stdout[-2000:])
    assert got.get("action") in VALIDATE, (case, got)
    assert case["var"] in got.get("msg", ""), (case, got)


@pytest.mark.parametrize("case", FIXED_CASES, ids=[c["id"] for c in FIXED_CASES])
def test_bad_role_value_rejected_naming_the_variable(outcome, case):
    got = outcome["got"].get(case["id"])
    assert got is not None, "case %s passed: %r\n%s" % (
        case["id"], case["vars"], outcome["res"].stdout[-2000:])
    assert got.get("action") in case["actions"], (case, got)
    assert case["var"] in got.get("msg", ""), (case, got)


def test_site_with_bad_deploy_variable_fails_in_validation(lab):
    before = {h: lab.snapshot(h) for h in lab.app_hosts}
    res = run_playbook(lab, "playbooks/site.yml",
                       extra_vars={"deploy_image_source": "ftp", "deploy_app": "badin-site"},
                       timeout=1800)
    assert res.rc != 0
    failed = [r for r in res.records if r["status"] == "failed"]
    assert failed and {r["host"] for r in failed} == set(lab.app_hosts), res.stdout[-3000:]
    for r in failed:
        assert r["action"] in VALIDATE, r
        assert "deploy_image_source" in r["result"].get("msg", ""), r
    for host in lab.app_hosts:
        assert lab.snapshot(host) == before[host], host
    # a value the first play uses (the backend ports; tasks_from facts.yml has no argument
    # spec): its early check names it on every app host and ends the run there, before the
    # load balancers' play (whose HAProxy files stay as they were)
    lb_before = lab.ssh("lb1", LB_FILES, check=False).stdout
    res = run_playbook(lab, "playbooks/site.yml",
                       extra_vars={"deploy_replicas": "abc", "deploy_app": "badin-site"}, timeout=600)
    assert res.rc != 0
    failed = [r for r in res.records if r["status"] == "failed"]
    assert {r["host"] for r in failed} == set(lab.app_hosts), res.stdout[-3000:]
    for r in failed:
        assert r["action"] in DEPLOY_FACTS, r
        assert "deploy_replicas must be an integer" in r["result"].get("msg", ""), r
    assert not [r for r in res.records if r["host"] not in lab.app_hosts], res.stdout[-3000:]
    assert lab.ssh("lb1", LB_FILES, check=False).stdout == lb_before
