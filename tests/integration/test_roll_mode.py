"""deploy_roll_mode auto: which hosts get the one-run rolling cycle. Runs the deploy role's
facts (controller only: set_fact, no connection to any host) against a made-up inventory."""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from conftest import REPO

PLAYBOOK = os.path.join(REPO, ".venv", "bin", "ansible-playbook")
INVENTORY = """
all:
  children:
    app:
      hosts:
        a_ssh: {ansible_host: 127.0.0.9}
        a_local: {ansible_connection: local}
    lb:
      hosts:
        l1: {ansible_host: 127.0.0.9, ansible_user: "{{ lb_user }}"}
"""
PLAY = """
- hosts: app
  gather_facts: false
  tasks:
    - ansible.builtin.include_role: {name: dockyard.fleet.deploy, tasks_from: facts.yml}
    - ansible.builtin.debug: {msg: "ONE_RUN {{ inventory_hostname }} {{ deploy__one_run | to_json }}"}
"""


def one_run(tmp_path, **extra):
    (tmp_path / "inv.yml").write_text(INVENTORY)
    (tmp_path / "pb.yml").write_text(PLAY)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, "collections"),
               ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_REMOTE_USER="root")
    res = subprocess.run([PLAYBOOK, "-i", str(tmp_path / "inv.yml"), str(tmp_path / "pb.yml"),
                          "-e", json.dumps(extra)], capture_output=True, text=True, env=env,
                         timeout=120, check=False)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    out = {}
    for line in res.stdout.splitlines():
        if "ONE_RUN " in line:
            host, value = line.split("ONE_RUN ", 1)[1].rstrip('"').split(" ", 1)
            out[host] = json.loads(value)
    return out


@pytest.mark.parametrize("lb_user, mode, expected", [
    ("root", "auto", {"a_ssh": True, "a_local": False}),     # another connection: per step
    ("alice", "auto", {"a_ssh": False, "a_local": False}),   # runtime API socket is root's
    ("alice", "one_run", {"a_ssh": True, "a_local": True}),  # asked for: the user's call
    ("root", "per_step", {"a_ssh": False, "a_local": False}),
])
def test_auto_takes_one_run_only_where_the_forward_can_work(tmp_path, lb_user, mode, expected):
    assert one_run(tmp_path, lb_user=lb_user, deploy_roll_mode=mode) == expected


GUARD_PLAY = """
- hosts: app
  gather_facts: false
  tasks:
    - ansible.builtin.include_role: {name: dockyard.fleet.deploy}
"""


def test_taking_turns_needs_the_one_run_cycle_on_a_batch_of_several_hosts(tmp_path):
    """deploy_roll_in_turn with a host on the per-step cycle (it cannot take turns) in a batch of
    two: both refused before the lock, naming the host and the options, no host contacted (the
    other one's address is unreachable)."""
    (tmp_path / "inv.yml").write_text(INVENTORY)
    (tmp_path / "pb.yml").write_text(GUARD_PLAY)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, "collections"),
               ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_REMOTE_USER="root")
    res = subprocess.run([PLAYBOOK, "-i", str(tmp_path / "inv.yml"), str(tmp_path / "pb.yml"),
                          "-e", json.dumps({"lb_user": "root", "deploy_roll_in_turn": True})],
                         capture_output=True, text=True, env=env, timeout=120, check=False)
    assert res.returncode != 0
    assert "deploy_roll_in_turn needs the one-run cycle" in res.stdout, res.stdout[-3000:]
    assert "a_local gets the per-step cycle" in res.stdout, res.stdout[-3000:]
    assert "fatal: [a_ssh]" in res.stdout  # the whole batch stops, not only a_local
    assert "rolling_restart_serial" in res.stdout
    assert "take the deploy lock" not in res.stdout, res.stdout[-3000:]
