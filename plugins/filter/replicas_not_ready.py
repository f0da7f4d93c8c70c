# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: replicas_not_ready
short_description: Replicas of a host that are not in service on every load balancer
version_added: 0.1.0
author: dockyard.fleet maintainers (!UNKNOWN)
description:
  - Given the results of M(dockyard.fleet.haproxy_info) on each load balancer, returns the
    replica indexes whose HAProxy server C(<host>-<i>) is not in service on every one of them,
    in the C(ready) admin state and C(UP) with a passing check of its own, C(UP) while it tracks
    another server, or without checks (C(no check)), the rule M(dockyard.fleet.haproxy_server)
    waits for. A server missing from a load balancer counts as not ready.
  - The deploy role reads every load balancer once and then touches only these replicas, so a
    deploy that changes nothing costs one runtime-API read per load balancer.
options:
  _input:
    description: The C(haproxy_info) results, one per load balancer (for example C(registered.results)).
    type: list
    elements: raw
    required: true
  host:
    description: Inventory name of the app host.
    type: str
    required: true
  indexes:
    description: The host's replica indexes.
    type: list
    elements: int
    required: true
  backend:
    description: Only servers of this backend.
    type: str
"""

EXAMPLES = r"""
- name: Replicas to put back in service
  ansible.builtin.debug:
    msg: "{{ lb_view.results | dockyard.fleet.replicas_not_ready(inventory_hostname, [1, 2], 'app') }}"
"""

RETURN = r"""
_value:
  description: Replica indexes, in the order given.
  type: list
  elements: int
"""

from ansible_collections.dockyard.fleet.plugins.module_utils._lb_view import replicas_not_ready


class FilterModule:
    def filters(self):
        return {"replicas_not_ready": replicas_not_ready}
