# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: roll_in_one_run
short_description: Whether app hosts get the one-run rolling cycle of the deploy role
version_added: 0.1.0
author: dockyard.fleet maintainers (!UNKNOWN)
description:
  - The rule of the deploy role's C(deploy_roll_mode), for one host or for every host of a list.
    C(one_run) is yes, C(per_step) is no. C(auto) is yes when the host and every load balancer
    use the ssh connection plugin and the load balancers' SSH user is root (the forwarded
    HAProxy runtime API is opened as that user; the haproxy role makes it mode 600, root's).
  - The deploy role uses it for C(deploy__one_run); the playbooks use it to put every host in
    one batch whose rolls take turns (see C(deploy_roll_in_turn)).
options:
  _input:
    description: An inventory host name, or a list of them (then yes only when every one is).
    type: raw
    required: true
  hostvars:
    description: C(hostvars).
    type: raw
    required: true
  lb_hosts:
    description:
      - The load balancers' inventory names. Default, per host, the group named by the host's
        C(deploy_lb_group) (C(lb) when unset).
    type: list
    elements: str
  mode:
    description:
      - C(auto), C(one_run) or C(per_step). Default, per host, the host's C(deploy_roll_mode)
        (C(auto) when unset).
    type: str
"""

EXAMPLES = r"""
- name: Can every app host roll in one module run?
  ansible.builtin.debug:
    msg: "{{ groups['app'] | dockyard.fleet.roll_in_one_run(hostvars) }}"
"""

RETURN = r"""
_value:
  description: Yes when the host (every host of the list) gets the one-run cycle.
  type: bool
"""

import getpass
import os

from ansible.errors import AnsibleFilterError

SSH = ("ssh", "ansible.builtin.ssh", "smart")
MODES = ("auto", "one_run", "per_step")


def _get(hv, *names, default=None):
    for name in names:
        if name in hv:
            value = hv[name]
            if value not in (None, ""):
                return value
    return default


def _default_user():
    try:
        from ansible import constants as C
        user = C.config.get_config_value("DEFAULT_REMOTE_USER")
    except Exception:  # pylint: disable=broad-except
        user = None
    return user or os.environ.get("USER") or getpass.getuser()


def _one(host, hostvars, lb_hosts, mode):
    hv = hostvars[host]
    mode = mode or _get(hv, "deploy_roll_mode", default="auto")
    if mode not in MODES:
        raise AnsibleFilterError("roll_in_one_run: deploy_roll_mode of %s must be one of %s, not %r"
                                 % (host, ", ".join(MODES), mode))
    if mode != "auto":
        return mode == "one_run"
    if lb_hosts is None:
        group = _get(hv, "deploy_lb_group", default="lb")
        lb_hosts = (_get(hv, "groups", default={}) or {}).get(group, [])
    for name in [host] + [h for h in lb_hosts if h != host]:
        other = hostvars[name]
        if _get(other, "ansible_connection", default="ssh") not in SSH:
            return False
        if name != host and _get(other, "ansible_user", "ansible_ssh_user",
                                 default=_default_user()) != "root":
            return False
    return True


def roll_in_one_run(hosts, hostvars, lb_hosts=None, mode=None):
    if isinstance(hosts, str):
        return _one(hosts, hostvars, lb_hosts, mode)
    return all(_one(h, hostvars, lb_hosts, mode) for h in hosts)


class FilterModule:
    def filters(self):
        return {"roll_in_one_run": roll_in_one_run}
