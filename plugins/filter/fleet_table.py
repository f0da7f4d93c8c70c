# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
DOCUMENTATION = r"""
name: fleet_table
short_description: One aligned text table of a fleet - replicas, images, health, load balancer state
version_added: 0.1.0
author: dockyard.fleet maintainers
description:
  - Joins the replicas found by M(dockyard.fleet.container_info) on every app host with the
    servers of M(dockyard.fleet.haproxy_info) and renders one table with the columns
    HOST, REPLICA, IMAGE/VERSION, HEALTH, LB STATE, SESSIONS, then a summary line.
  - Replicas are the containers labelled C(dockyard.service=<app>) and C(dockyard.replica=<i>)
    (named C(<app>-<i>)); their HAProxy server is C(<inventory_hostname>-<i>).
  - A host whose result is missing, failed or unreachable shows as C(no answer (<why>)), with a
    C(<app>-<i> (no facts)) row for each of its servers on the load balancers; an HAProxy server
    without a container shows as C(<app>-<i> (no container)) (C(<backend>/<server> (no container))
    on a host without any replica of the app); a replica without a server shows C(not in LB).
  - A row is in service when its container is healthy (or running without a check) and every
    load balancer has its server ready, C(UP) with a passing check (or C(no check)) and a weight
    above 0. A load balancer whose result failed, is unreachable or missing is named in the
    summary line, and then no row is in service.
options:
  _input:
    description:
      - Dict of inventory host name to a M(dockyard.fleet.container_info) result (or its
        C(containers) list), or a list of dicts with C(host) and C(containers).
    type: raw
    required: true
  servers:
    description:
      - M(dockyard.fleet.haproxy_info) C(servers), its whole result, or a dict of load balancer
        host to result (several load balancers are shown side by side). Omit for no LB columns
        (in service then means healthy).
    type: raw
  app:
    description: Only replicas of this service (label C(dockyard.service)). All services when unset.
    type: str
  backend:
    description: Only servers of this HAProxy backend.
    type: str
  summary:
    description: Add the summary line.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Print the fleet
  ansible.builtin.debug:
    msg: >-
      {{ dict(groups.app | zip(groups.app | map('extract', hostvars, 'replicas')))
         | dockyard.fleet.fleet_table(hostvars['lb1'].lb, app='app', backend='app') }}
"""

RETURN = r"""
_value:
  description: The table, lines separated by newlines.
  type: str
"""

# Logic: plugins/module_utils/_fleet_table.py (unit-tested).

from ansible.errors import AnsibleFilterError

from ansible_collections.dockyard.fleet.plugins.module_utils._fleet_table import (
    FleetTableError, fleet_table)


def _fleet_table(hosts, servers=None, app=None, backend=None, summary=True):
    try:
        return fleet_table(hosts, servers, app=app, backend=backend, summary=summary)
    except FleetTableError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule:
    def filters(self):
        return {"fleet_table": _fleet_table}
