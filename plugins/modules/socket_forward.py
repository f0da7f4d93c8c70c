#!/usr/bin/python
# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: socket_forward
short_description: Make a unix socket of a host reachable on the controller, over Ansible's SSH connection
version_added: 0.3.0
description:
  - Asks the ControlMaster of the task's SSH connection to forward a unix socket of the host
    (OpenSSH C(-O forward -L)) to a unix socket on the controller, in the connection's
    ControlPath directory. The forward lives as long as that master (ControlPersist).
  - Made for HAProxy's runtime API, which listens on a unix socket on the load balancer only. The
    deploy role delegates this task to each load balancer, then passes the controller socket to
    M(dockyard.fleet.service) (O(dockyard.fleet.service#module:roll.load_balancers[].controller_socket)),
    whose action plugin forwards it on to the app host for the time of its run. The runtime API
    is reached with the same keys and host keys as every other task; no TCP stats socket, no new
    credential.
  - Runs on the controller only; nothing changes on the host, so it never reports changed.
    Runs in check mode too (the forward changes nothing).
  - Needs the C(ssh) connection plugin with ControlPersist in C(ssh_args), and a unix socket on
    the host that the SSH user may open.
options:
  path:
    description: Absolute path of the unix socket on the host.
    type: path
    required: true
  state:
    description: V(present) makes (or keeps) the forward; V(absent) cancels it and removes the controller socket.
    type: str
    default: present
    choices: [present, absent]
  backend:
    description:
      - With O(state=present), also reads this HAProxy backend's servers through the forward just
        made (C(show stat) and C(show servers state) in one runtime-API exchange, on the
        controller; no module run and no SSH session on the host) and returns them in
        RV(servers). The deploy role checks with it, before any change, that the load balancers'
        backend has a server for every replica, at the replica's port.
      - A runtime API that does not answer, or has no such backend, does not fail the task; the
        reason is in RV(servers_error).
    type: str
    version_added: 0.3.0
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: The forward is made in check mode too; it changes nothing on the host.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
    details: Runs on the controller only.
notes:
  - The controller socket is per host, port, user and path, so the task is idempotent and cheap
    (a request to the running master, no SSH handshake, no module run on the host).
author:
  - dockyard.fleet contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: HAProxy's runtime API on lb1, reachable on the controller
  dockyard.fleet.socket_forward:
    path: /run/haproxy/admin.sock
  delegate_to: lb1
  register: lb1_api

- name: Roll the replicas of this host behind lb1 in one module run
  dockyard.fleet.service:
    name: web
    image: dockyard/demo:v2
    replicas: 3
    port_base: 8081
    wait: healthy
    roll:
      load_balancers:
        - controller_socket: "{{ lb1_api.controller_socket }}"
          backend: web
          name: lb1
      server_prefix: "{{ inventory_hostname }}-"
"""

RETURN = r"""
controller_socket:
  description: Path of the forwarded socket on the controller.
  returned: always
  type: str
  sample: /tmp/.dockyard-cp/dyfwd-0a1b2c3d4e5f.sock
path:
  description: The socket on the host.
  returned: always
  type: str
state:
  description: The state asked for.
  returned: always
  type: str
backend:
  description: The backend read (O(backend)).
  returned: when O(backend) is given
  type: str
servers:
  description:
    - The backend's servers, each name with the port it points to (null while HAProxy does not
      know it, such as a DNS name not resolved yet); null when the backend could not be read
      (RV(servers_error)).
  returned: when O(backend) is given
  type: dict
  sample: {app1-1: 8081, app1-2: 8082}
servers_error:
  description: Why the backend could not be read.
  returned: when O(backend) is given and the read failed
  type: str
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec=dict(
        path=dict(type="path", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        backend=dict(type="str")),
        supports_check_mode=True)
    module.fail_json(msg="dockyard.fleet.socket_forward runs on the controller (its action plugin); "
                         "it cannot run as a module on the host")


if __name__ == "__main__":
    main()
