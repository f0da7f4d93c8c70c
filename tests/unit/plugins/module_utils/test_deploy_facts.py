"""The deploy role's value checks and derived facts (module_utils/_deploy_facts.py): the
messages the role's Jinja assert gave, word for word, and the facts its set_fact derived."""
from __future__ import annotations

import re

import pytest

from ansible_collections.dockyard.fleet.plugins.module_utils import _deploy_facts as df

DEFAULTS = {
    "deploy_replicas": 2, "deploy_port_base": 8081, "deploy_container_port": 80,
    "deploy_keep_images": 3, "deploy_keep_releases": 5, "deploy_lock_timeout": 0,
    "deploy_stop_timeout": 10, "deploy_wait_timeout": 60, "deploy_drain_timeout": 30,
    "deploy_haproxy_ready_timeout": 30, "deploy_cpus": 0, "deploy_memory": "",
    "deploy_version": "v1", "deploy_app": "app", "deploy_image": "dockyard/demo",
    "deploy_env_dir": "/etc/dockyard", "deploy_labels": {}, "deploy_lb_group": "lb",
    "deploy_secret_env": {}, "deploy_roll_mode": "auto",
}


def values(**kw):
    return dict(DEFAULTS, **kw)


def test_the_role_defaults_have_no_problem():
    assert df.problems(values()) == []


@pytest.mark.parametrize("kw", [
    {"deploy_replicas": "3"}, {"deploy_replicas": " +3 "}, {"deploy_port_base": "65534"},
    {"deploy_cpus": "0.5"}, {"deploy_cpus": 1.5}, {"deploy_cpus": "2."}, {"deploy_memory": "256m"},
    {"deploy_memory": "1.5 GiB"}, {"deploy_memory": " 512MB "}, {"deploy_version": "1.2.3_rc-1"},
    {"deploy_app": "web.api_2"}, {"deploy_lock_timeout": 0}, {"deploy_drain_timeout": "0"},
])
def test_good_values(kw):
    assert df.problems(values(**kw)) == []


@pytest.mark.parametrize("kw, message", [
    ({"deploy_replicas": "abc"}, 'deploy_replicas must be an integer, got "abc"'),
    ({"deploy_replicas": True}, 'deploy_replicas must be an integer, got "True"'),
    ({"deploy_replicas": 1.5}, 'deploy_replicas must be an integer, got "1.5"'),
    ({"deploy_replicas": None}, 'deploy_replicas must be an integer, got "None"'),
    ({"deploy_replicas": 0}, "deploy_replicas must be from 1 to 65535, got 0 "
                             "(to remove every replica, use playbooks/teardown.yml)"),
    ({"deploy_replicas": -1}, "deploy_replicas must be from 1 to 65535, got -1"),
    ({"deploy_keep_images": 0}, "deploy_keep_images must be at least 1, got 0"),
    ({"deploy_lock_timeout": "-5"}, "deploy_lock_timeout must be at least 0, got -5"),
    ({"deploy_port_base": 65535}, "deploy_port_base + deploy_replicas - 1 must be at most 65535, got 65536"),
    ({"deploy_container_port": 70000}, "deploy_container_port must be from 1 to 65535, got 70000"),
    ({"deploy_cpus": -1}, 'deploy_cpus must be a number, 0 or more, got "-1"'),
    ({"deploy_memory": "lots"}, 'deploy_memory must be empty or a size such as 256m, got "lots"'),
    ({"deploy_version": ""}, "deploy_version must be an image tag (letters, digits, _.-, 128 at most, "
                             'not starting with . or -), got ""'),
    ({"deploy_version": "-x"}, "deploy_version must be an image tag (letters, digits, _.-, 128 at most, "
                               'not starting with . or -), got "-x"'),
    ({"deploy_version": "a" * 129}, None),
    ({"deploy_app": "a b"}, 'deploy_app must be letters, digits and _.- (starting with a letter or digit), got "a b"'),
    ({"deploy_labels": ["x"]}, "deploy_labels must be a mapping, got \"['x']\""),
    ({"deploy_secret_env": "x"}, 'deploy_secret_env must be a mapping, got "x"'),
])
def test_each_bad_value_is_named(kw, message):
    got = df.problems(values(**kw))
    assert len(got) == 1, got
    name = next(iter(kw))
    assert got[0].startswith(name), got
    if message is not None:
        assert got[0] == message


def test_every_problem_in_one_list_and_the_port_sum_only_when_the_integers_are_good():
    got = df.problems(values(deploy_replicas="x", deploy_port_base=65535, deploy_memory="lots", deploy_app=""))
    assert [p.split(" ", 1)[0] for p in got] == ["deploy_replicas", "deploy_memory", "deploy_app"]


def test_a_missing_variable_is_named():
    v = values()
    del v["deploy_wait_timeout"], v["deploy_app"]
    assert df.problems(v) == ["deploy_wait_timeout is not set", "deploy_app is not set"]


def test_derived_facts():
    f = df.derive(values(deploy_replicas="3", deploy_labels={"team": "x"}),
                  {"lb": ["lb1", "lb2"], "app": ["app1"]})
    token = f.pop("deploy__token")
    assert re.match(r"^[a-z0-9]{20}$", token)
    assert f == {
        "deploy__version": "v1", "deploy__image_ref": "dockyard/demo:v1",
        "deploy__replica_indexes": [1, 2, 3], "deploy__env_file": "/etc/dockyard/app.env",
        "deploy__labels": {"team": "x", "dockyard.app": "app", "dockyard.version": "v1"},
        "deploy__lbs": ["lb1", "lb2"], "deploy__lock_first": False,
        "haproxy_backend_ports": [8081, 8082, 8083],
    }


def test_roll_to_in_place_token_and_no_lb_group():
    f = df.derive(values(deploy__roll_to="v2", deploy__in_place="yes", deploy__token="t" * 20,
                         deploy_labels={"dockyard.version": "old"}), {})
    assert f["deploy__version"] == "v2" and f["deploy__image_ref"] == "dockyard/demo:v2"
    assert f["deploy__labels"] == {"dockyard.app": "app", "dockyard.version": "v2"}
    assert f["deploy__lock_first"] is True and f["deploy__token"] == "t" * 20 and f["deploy__lbs"] == []
    # '' (a restart in place before the host's record is read) rolls to deploy_version
    f = df.derive(values(deploy__roll_to="", deploy__token="", deploy_secret_env={"K": "v"}), None)
    assert f["deploy__version"] == "v1" and f["deploy__lock_first"] is True
    assert f["deploy__token"] != ""


def test_tokens_differ():
    assert len({df.new_token() for _i in range(50)}) == 50
