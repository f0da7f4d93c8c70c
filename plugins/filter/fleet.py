# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter dockyard.fleet.fleet_table: one aligned text table of a fleet.

  {{ containers_by_host | dockyard.fleet.fleet_table(lb_servers, app='app', backend='app') }}

containers_by_host: {inventory_hostname: dockyard.fleet.container_info result (or its
`containers` list)}; a failed/unreachable result or None shows as "no answer".
lb_servers: dockyard.fleet.haproxy_info `servers`, its whole result, or {lb host: result}.
Columns: HOST | REPLICA | IMAGE/VERSION | HEALTH | LB STATE | SESSIONS, then a summary line.
The logic lives in plugins/module_utils/_fleet_table.py (unit-tested).
"""
from __future__ import annotations

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
