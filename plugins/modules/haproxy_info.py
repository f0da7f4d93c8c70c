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
  execution:
    description:
      - Where the run happens. V(auto) (the default) reads the runtime API from the controller,
        through the load balancer's unix O(socket) forwarded over the task's SSH ControlMaster
        (as M(dockyard.fleet.socket_forward) does), with no module run on the host, where it can
        (ssh connection with ControlPersist, a unix O(socket), no async, no become to a
        non-root user, an SSH user the socket lets in); elsewhere, and when the runtime API
        cannot be reached over the forward (the socket is missing on the host, or the SSH user
        may not open it), it runs the module on the HAProxy host, saying why in
        RV(execution_reason).
      - Bad input (options that do not validate, a bad name, O(timeout) <= 0) and HAProxy's
        own answers (an unknown O(backend)) fail at once on the controller, naming the option -
        the module on the host would answer the same.
      - V(controller) fails, naming this option, where V(auto) would go to the host, and names
        O(socket) when the runtime API cannot be reached over the forward; V(host) always runs
        the module.
    type: str
    default: auto
    choices: [auto, controller, host]
notes:
  - Opens the stats socket on the HAProxy host, from the module there or through the forward
    (O(execution)); a forward made here is cancelled at the end, one that was there already
    (M(dockyard.fleet.socket_forward)) is left as it was.
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
execution:
  description: Where the run happened, V(controller) or V(host) (see O(execution)).
  returned: when the run started
  type: str
  sample: controller
execution_reason:
  description: With O(execution=auto), why the run went to the host.
  returned: when O(execution=auto) ran the module on the host
  type: str
invocations:
  description: Module runs on the host for this task, 0 (on the controller) or 1.
  returned: always
  type: int
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
    check_status: {description: "Last health check result (C(L7OK), C(L4CON)...), empty without checks of its own.", type: str}
    tracked: {description: "The server this one tracks (C(backend/server), its C(track) keyword), empty if none.", type: str}
    addr:
      description:
        - Server address, from C(show servers state) (C(show stat) hides it at C(level user)).
        - Null while unknown, as for a DNS name not resolved yet (see RV(servers[].fqdn)).
      type: str
    port: {description: "Server port (null if unknown); known even while the address is not.", type: int}
    fqdn: {description: The DNS name of a server configured by name (null for an address)., type: str}
  sample:
    - {backend: app, server: app1-1, status: UP, admin_state: ready, admin_flags: 0, weight: 1,
       effective_weight: 1, scur: 0, stot: 12, check_status: L7OK, tracked: "", addr: 10.77.0.11,
       port: 8081, fqdn: null}
    - {backend: app, server: dns1, status: MAINT (resolution), admin_state: ready, admin_flags: 32,
       weight: 1, effective_weight: 1, scur: 0, stot: 0, check_status: "", tracked: "", addr: null,
       port: 80, fqdn: app.example.com}
backends:
  description: Backend names seen, in order.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockyard.fleet.plugins.module_utils._haproxy_info import (
    haproxy_info_argument_spec, haproxy_info_main)


def main():
    module = AnsibleModule(argument_spec=haproxy_info_argument_spec(), supports_check_mode=True)
    haproxy_info_main(module)


if __name__ == "__main__":
    main()
