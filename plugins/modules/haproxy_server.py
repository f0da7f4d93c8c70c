#!/usr/bin/python
# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: haproxy_server
short_description: Put an HAProxy backend server in ready, drain or maint state, set its weight
description:
  - Talks to HAProxy's runtime API on the stats socket (which needs C(level admin) for a
    change).
  - Sets the administrative state (V(ready), V(drain), V(maint)) and/or the weight of one server
    (or of several, O(servers)), and can wait until a drained server has no sessions left or a
    readied server is C(UP) with a passing health check.
  - The first read (one runtime-API exchange) finds the backend (O(backend) unset), checks
    every server name of both steps, the socket's level (C(show cli level)) and the backend's
    balance algorithm, so bad input fails naming the option before anything changes, in check
    mode too.
  - A reply such as C(Permission denied), C(No such server.), C(No such backend.) or anything
    unexpected is a failure, with a message naming the option at fault.
  - O(wait) never waits longer than O(wait_timeout). Drained means no sessions left (C(scur)
    0), whatever the status; C(UP 1/2) (going down) is not up; C(no check) servers and servers
    that C(track) another one are up when ready and C(UP).
  - Changes made here live in the running process only. The role C(dockyard.fleet.haproxy)
    saves them to the server-state file before each reload, so they survive it.
version_added: 0.1.0
author: dockyard.fleet maintainers (!UNKNOWN)
extends_documentation_fragment:
  - dockyard.fleet.attributes
options:
  socket:
    description:
      - The stats socket with C(level admin) - an absolute unix socket path, or C(host:port)
        for a TCP stats socket.
      - A socket below C(level admin) fails, naming this option, as soon as the run has
        something to change (in check mode too); a run with nothing to change only reads.
    type: str
    default: /run/haproxy/admin.sock
  backend:
    description:
      - The backend (C(backend) or C(listen) section) the server belongs to.
      - If not set, the backend is the one that has every server named by O(server) or
        O(servers) and O(then.servers), found in the first read. A server in several backends
        (the same name in two of them) fails naming this option and the backends; the module
        never changes several backends at once. The result's RV(backend) says which one.
    type: str
  server:
    description:
      - The server's name in that backend, for example C(app1-1).
      - Exactly one of O(server) and O(servers) is required.
    type: str
  servers:
    description:
      - Several servers of the backend, all set to the same O(state) and O(weight) in one
        module run; O(wait) then polls them together (one runtime-API read per poll for all
        of them) until every one is done.
      - The result has RV(servers) instead of RV(before) and RV(after).
    type: list
    elements: str
    version_added: 0.2.0
  state:
    description:
      - Administrative state. V(drain) keeps current sessions but sends no new traffic
        (persistent sessions excepted), V(maint) takes the server out completely (checks stop),
        V(ready) puts it back in service.
      - If not set, the state is left as it is.
    type: str
    choices: [ready, drain, maint]
  weight:
    description:
      - The server's weight, an integer 0-256, or a percentage of the server's initial
        (configured) weight such as C(50%), as HAProxy's C(set weight) takes it - rounded down,
        at most 256. The command sent is the absolute weight, so a second run compares equal.
      - If not set, the weight is left as it is.
      - A backend with a static balance algorithm takes only 0 or the initial weight
        (C(0%), C(100%)). With C(balance static-rr) any other weight fails naming this option
        before anything changes, in check mode too. With a hashing algorithm (C(source),
        C(uri), C(url_param), C(hdr), C(rdp-cookie), C(hash)) the runtime API does not say
        whether C(hash-type consistent) lifts that restriction - check mode warns and predicts
        the change; the real run sends the weight before any other command, so when HAProxy
        refuses it the run fails naming this option with nothing changed.
    type: raw
  shutdown_sessions:
    description:
      - With O(state=drain) or O(state=maint), close the server's current sessions right after
        the state change (C(shutdown sessions server)).
      - Sent only to a server that has sessions in the first read (C(scur) > 0); then it
        counts as a change (the sessions were closed) - a server that has none is not sent
        the command, so a second run on a drained, idle server changes nothing. Check mode
        predicts the same from the same read.
    type: bool
    default: false
  wait:
    description:
      - After V(drain)/V(maint), wait until the server has no current sessions (C(scur) 0).
        HAProxy keeps a server's sessions when its health check marks it C(DOWN) (unless
        C(on-marked-down shutdown-sessions)) and in maintenance, so a C(DOWN) or C(MAINT)
        server is waited for too; O(shutdown_sessions) closes them.
      - After V(ready), wait until the server is C(UP) with a passing check (C(L4OK), C(L6OK),
        C(L7OK)), C(UP) while tracking another server (C(track)), or has no check at all.
      - Fails when O(wait_timeout) runs out. Without O(state), it waits for the current
        administrative state's condition. Nothing to change and the condition already met -
        no poll at all.
      - Each poll also reads HAProxy's process (C(show info)). When it changes during the run
        (a reload or a restart) the module warns and returns RV(reloaded) - the new process
        counts only its own sessions; the old one keeps serving its sessions (at most
        C(hard-stop-after)) and cannot be seen through the socket, so a drain that ends right
        after a reload may end early.
    type: bool
    default: false
  recheck:
    description:
      - With O(state=ready), first C(set server <backend>/<server> health down) for every
        named server that has checks of its own (not C(no check), not tracking another
        server) and is not C(DOWN) already, so that HAProxy needs C(rise) passing checks made
        from now before the server is C(UP) again, and O(wait) waits for them.
      - For a server whose container was just replaced. While it was drained HAProxy kept
        checking the old container, so it may still say C(UP) (C(fall) checks are needed to
        notice the old one is gone) for a new container that never answered.
      - Each such command is a change. Check mode lists them in RV(commands).
    type: bool
    default: false
    version_added: 0.2.0
  wait_timeout:
    description: Seconds to wait at most.
    type: int
    default: 60
  wait_interval:
    description: Seconds between two polls while waiting.
    type: float
    default: 1.0
  timeout:
    description: Socket timeout in seconds for each runtime-API command.
    type: float
    default: 10.0
  then:
    description:
      - A second step in the same module run, started once the first one is done (its O(wait)
        passed) - set O(then.servers) to O(then.state) and wait for them the same way. A rolling
        cycle puts replica I(i) back in service and drains replica I(i+1) in one run instead of
        two.
      - Needs O(wait=true). If the first step fails, the second is not made. Every failure of
        the second step (a name the first read does not find included) starts with C(then:),
        names the C(then.) option and returns C(failed_step=then); the first step's change
        stays made.
      - Check mode predicts both steps from the servers' current states.
    type: dict
    version_added: 0.2.0
    suboptions:
      servers:
        description: Servers of the same O(backend), none of them named by the first step.
        type: list
        elements: str
        required: true
      state:
        description: Their administrative state, as O(state).
        type: str
        choices: [ready, drain, maint]
        required: true
      shutdown_sessions:
        description: As O(shutdown_sessions), for these servers.
        type: bool
        default: false
      wait_timeout:
        description: Seconds to wait at most for the second step; O(wait_timeout) if not set.
        type: int
notes:
  - Runs on the HAProxy host (it opens the stats socket there). Requires root or a user allowed
    to open the socket.
  - Runtime-API exchanges - the first read (C(show cli level), C(show info) with O(wait),
    C(show stat), C(show servers state), on one connection), then one per command sent, then
    one read per poll (or one read of the result without O(wait)); O(then) reads afresh
    before its step. A run with nothing to change is the first read alone (and the second
    step's read with O(then)); check mode is the first read alone.
seealso:
  - name: HAProxy management guide, runtime API
    description: The commands this module uses (show stat, show servers state, show cli level, show info, set server, set weight, shutdown sessions).
    link: https://docs.haproxy.org/2.6/management.html#9.3
"""

EXAMPLES = r"""
- name: Put a replaced replica back, judged by checks of its new container only
  dockyard.fleet.haproxy_server:
    backend: app
    server: app1-1
    state: ready
    recheck: true
    wait: true

- name: Take app1-1 out of rotation and wait for its sessions to end
  dockyard.fleet.haproxy_server:
    backend: app
    server: app1-1
    state: drain
    wait: true
    wait_timeout: 30

- name: Put it back once its health check passes (backend found by the server's name)
  dockyard.fleet.haproxy_server:
    server: app1-1
    state: ready
    wait: true

- name: Put a host's three replicas in service and wait until all of them are UP
  dockyard.fleet.haproxy_server:
    backend: app
    servers: [app1-1, app1-2, app1-3]
    state: ready
    wait: true

- name: Rolling cycle, one run - app1-1 back in service once UP, then drain app1-2
  dockyard.fleet.haproxy_server:
    backend: app
    server: app1-1
    state: ready
    wait: true
    then:
      servers: [app1-2]
      state: drain
      wait_timeout: 30

- name: Halve a server's share (of its configured weight)
  dockyard.fleet.haproxy_server:
    socket: 127.0.0.1:9999
    backend: app
    server: app2-1
    weight: 50%
"""

RETURN = r"""
backend:
  description: The backend of the servers (O(backend), or the one found when it is not set).
  returned: when the first read found it
  type: str
  sample: app
before:
  description: The server before the task.
  returned: when O(server) is set
  type: dict
  contains:
    status: {description: "Operational status from C(show stat): C(UP), C(UP 1/2), C(DOWN), C(DOWN 1/2), C(DRAIN), C(MAINT), C(no check)...", type: str}
    admin_state: {description: "V(ready), V(drain) or V(maint) (forced states from C(show servers state))", type: str}
    admin_flags: {description: Raw C(srv_admin_state) bit field., type: int}
    weight: {description: User weight (what O(weight) sets)., type: int}
    initial_weight: {description: The weight in the configuration (a percentage in O(weight) is of this one)., type: int}
    effective_weight:
      description:
        - Weight in effect (C(show stat)'s weight column - the user weight, scaled during a C(slowstart)).
        - Not 0 while drained - a drained server gets no new traffic because of its state, not its weight.
      type: int
    scur: {description: Current sessions., type: int}
    check_status: {description: "Last health check result (C(L7OK), C(L4CON)...), empty without checks of its own (C(no check), C(track))", type: str}
    check_running: {description: A check was in progress at the time., type: bool}
    tracked: {description: "The server this one tracks (C(backend/server)), empty if none.", type: str}
    address:
      description:
        - Server address:port; from C(show servers state) when C(show stat) hides it (as at C(level user)).
        - Empty while a DNS name is not resolved.
      type: str
  sample:
    {status: UP, admin_state: ready, admin_flags: 0, weight: 1, initial_weight: 1, effective_weight: 1, scur: 0,
     check_status: L7OK, check_running: false, tracked: "", address: "10.77.0.11:8081"}
after:
  description:
    - The server after the task, same keys as RV(before).
    - In check mode a prediction - RV(before) with C(admin_state), C(admin_flags) and C(weight) as the run would set
      them; C(status), C(effective_weight), C(scur) and the check fields are those of the read (not predicted).
  returned: when O(server) is set
  type: dict
servers:
  description: With O(servers), per server name its C(before) and C(after) views (same keys as RV(before)).
  returned: when O(servers) is set
  type: dict
  sample:
    app1-1: {before: {status: MAINT, admin_state: maint}, after: {status: UP, admin_state: ready}}
then:
  description: With O(then), the second step - per server name its C(before) and C(after) views, its commands, its wait.
  returned: when O(then) is set and the second step started (always in check mode)
  type: dict
  contains:
    servers: {description: "Per server name, C(before) and C(after) (same keys as RV(before)).", type: dict}
    commands: {description: Runtime-API commands of the second step., type: list, elements: str}
    waited: {description: Seconds the second step waited., type: float}
  sample:
    servers: {app1-2: {before: {status: UP, admin_state: ready, scur: 3}, after: {status: DRAIN, admin_state: drain, scur: 0}}}
    commands: ["set server app/app1-2 state drain"]
    waited: 0.51
failed_step:
  description: On failure, which step failed, V(first) or V(then).
  returned: on failure
  type: str
waited:
  description: Seconds spent waiting (0 without O(wait)), both steps together.
  returned: always
  type: float
reloaded:
  description: HAProxy's process changed during a wait (a reload or a restart; see O(wait)).
  returned: always
  type: bool
commands:
  description:
    - Runtime-API commands sent (or that would be sent in check mode), both steps, in order - weights first, then
      states, then C(shutdown sessions).
    - On failure, the commands HAProxy accepted before it (C(changed) is true when there are any).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockyard.fleet.plugins.module_utils._haproxy_server import (
    SPEC_RULES, server_argument_spec, server_main)


def main():
    module = AnsibleModule(argument_spec=server_argument_spec(), supports_check_mode=True, **SPEC_RULES)
    server_main(module)


if __name__ == "__main__":
    main()
