"""The rule that picks the deploy role's rolling cycle (one module run per host or per step),
shared by the role (deploy__one_run) and the playbooks (one batch whose rolls take turns)."""
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.dockyard.fleet.plugins.filter.roll_in_one_run import roll_in_one_run

GROUPS = {"app": ["a1", "a2"], "lb": ["l1"], "edge": ["l2"]}


def hostvars(**overrides):
    hv = {
        "a1": {"ansible_host": "10.0.0.1"},
        "a2": {"ansible_host": "10.0.0.2"},
        "l1": {"ansible_user": "root"},
        "l2": {"ansible_user": "alice"},
    }
    for host, extra in overrides.items():
        hv[host] = dict(hv[host], **extra)
    for v in hv.values():
        v.setdefault("groups", GROUPS)
    return hv


def test_ssh_everywhere_and_root_on_the_lb_is_one_run():
    assert roll_in_one_run("a1", hostvars()) is True
    assert roll_in_one_run(["a1", "a2"], hostvars()) is True


def test_another_connection_on_the_host_or_the_lb_is_per_step():
    assert roll_in_one_run("a1", hostvars(a1={"ansible_connection": "local"})) is False
    assert roll_in_one_run("a1", hostvars(l1={"ansible_connection": "docker"})) is False
    assert roll_in_one_run("a1", hostvars(a1={"ansible_connection": "ansible.builtin.ssh"})) is True


def test_a_list_is_one_run_only_when_every_host_is():
    hv = hostvars(a2={"ansible_connection": "local"})
    assert roll_in_one_run(["a1", "a2"], hv) is False
    assert roll_in_one_run(["a1"], hv) is True


def test_lb_user_other_than_root_is_per_step_unless_asked_for():
    hv = hostvars(a1={"deploy_lb_group": "edge"})
    assert roll_in_one_run("a1", hv) is False                     # l2's user is alice
    assert roll_in_one_run("a1", hv, ["l1"]) is True              # the LBs given
    assert roll_in_one_run("a1", hv, mode="one_run") is True
    assert roll_in_one_run("a1", hostvars(), mode="per_step") is False
    assert roll_in_one_run("a1", hostvars(a1={"deploy_roll_mode": "per_step"})) is False


def test_lb_user_from_ansible_ssh_user_or_the_default_remote_user(monkeypatch):
    hv = hostvars(l1={"ansible_user": None, "ansible_ssh_user": "root"})
    assert roll_in_one_run("a1", hv) is True
    hv = hostvars(l1={"ansible_user": None})
    monkeypatch.setenv("ANSIBLE_REMOTE_USER", "root")
    assert roll_in_one_run("a1", hv) is True
    monkeypatch.setenv("ANSIBLE_REMOTE_USER", "bob")
    assert roll_in_one_run("a1", hv) is False


def test_a_bad_mode_is_named():
    with pytest.raises(AnsibleFilterError, match="deploy_roll_mode of a1"):
        roll_in_one_run("a1", hostvars(a1={"deploy_roll_mode": "fast"}))
