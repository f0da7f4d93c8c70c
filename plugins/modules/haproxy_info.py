#!/usr/bin/python
# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: haproxy_info
short_description: State of HAProxy backend servers, read from the runtime API
description:
  - Reads C(show stat) and C(show servers state) from HAProxy's stats socket in one exchange
    (both commands on one connection) and returns one entry per server, for every backend or
    for one O(backend).
  - Never changes anything; works in check mode. The socket may be at C(level user), since
    only reads are sent.
  - A refusal (C(Permission denied), C(No such proxy.), C(Can't find backend.)) or an unexpected
    reply is a failure whose message names the option at fault.
version_added: 0.1.0
author: dockyard.fleet maintainers (!UNKNOWN)
extends_documentation_fragment:
  - dockyard.fleet.attributes.INFO_MODULE
options:
  socket:
    description:
      - The stats socket - an absolute unix socket path, or C(host:port) for a TCP stats socket.
    type: str
    default: /run/haproxy/admin.sock
  backend:
    description: Only the servers of this backend (C(backend) or C(listen) section). All when unset.
    type: str
  timeout:
    description: Socket timeout in seconds.
    type: float
    default: 10.0
notes:
  - Runs on the HAProxy host (it opens the stats socket there).
seealso:
  - module: dockyard.fleet.haproxy_server
  - name: HAProxy management guide, runtime API
    description: show stat and show servers state.
    link: https://docs.haproxy.org/2.6/management.html#9.3
"""

EXAMPLES = r"""
- name: Every server of backend app
  dockyard.fleet.haproxy_info:
    backend: app
  register: lb

- name: Servers not ready
  ansible.builtin.debug:
    msg: "{{ lb.servers | rejectattr('admin_state', 'eq', 'ready') | map(attribute='server') }}"
"""

RETURN = r"""
servers:
  description: One entry per server, in HAProxy's order.
  returned: always
  type: list
  elements: dict
  contains:
    backend: {description: Backend name., type: str}
    server: {description: Server name., type: str}
    status: {description: "Operational status: C(UP), C(UP 1/2), C(DOWN), C(DOWN 1/2), C(DRAIN), C(MAINT), C(no check)...", type: str}
    admin_state: {description: "V(ready), V(drain) or V(maint) (forced administrative state).", type: str}
    admin_flags: {description: Raw C(srv_admin_state) bit field., type: int}
    weight: {description: User weight., type: int}
    effective_weight: {description: Weight in effect., type: int}
    scur: {description: Current sessions., type: int}
    stot: {description: Sessions since start., type: int}
    check_status: {description: "Last health check result (C(L7OK), C(L4CON)...), empty without checks.", type: str}
    addr: {description: Server address (null if unknown)., type: str}
    port: {description: Server port (null if unknown)., type: int}
  sample:
    - {backend: app, server: app1-1, status: UP, admin_state: ready, admin_flags: 0, weight: 1,
       effective_weight: 1, scur: 0, stot: 12, check_status: L7OK, addr: 10.77.0.11, port: 8081}
backends:
  description: Backend names seen, in order.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockyard.fleet.plugins.module_utils._haproxy import (
    HAProxyError, RuntimeClient, combined_command)
from ansible_collections.dockyard.fleet.plugins.module_utils._haproxy_info import (
    backends_of, parse_combined)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            socket=dict(type="str", default="/run/haproxy/admin.sock"),
            backend=dict(type="str"),
            timeout=dict(type="float", default=10.0),
        ),
        supports_check_mode=True,
    )
    p = module.params
    sock = (p["socket"] or "").strip()
    if not sock or any(c.isspace() for c in sock):
        module.fail_json(msg="option socket must be a unix socket path or host:port without "
                             "spaces, got %r" % p["socket"])
    backend = p["backend"]
    if backend is not None:
        backend = backend.strip()
        if not backend or any(c.isspace() or c == ";" for c in backend):
            module.fail_json(msg="option backend must be a backend name without spaces or ';', "
                                 "got %r" % p["backend"])
    if p["timeout"] <= 0:
        module.fail_json(msg="option timeout must be > 0, got %s" % p["timeout"])

    client = RuntimeClient(sock, timeout=p["timeout"])
    try:
        servers = parse_combined(client.command(combined_command(backend)), backend)
    except HAProxyError as exc:
        module.fail_json(msg=str(exc), changed=False)
    module.exit_json(changed=False, servers=servers, backends=backends_of(servers))


if __name__ == "__main__":
    main()
