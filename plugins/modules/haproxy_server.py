#!/usr/bin/python
# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: haproxy_server
short_description: Put an HAProxy backend server in ready, drain or maint state, set its weight
description:
  - Talks to HAProxy's runtime API on the stats socket (which needs C(level admin)).
  - Sets the administrative state (V(ready), V(drain), V(maint)) and/or the weight of one server
    (or of several, O(servers)), and can wait until a drained server has no sessions left or a readied server is C(UP) with a
    passing health check.
  - A reply such as C(Permission denied), C(No such server.), C(No such backend.) or anything
    unexpected is a failure, with a message naming the option at fault.
  - O(wait) never waits longer than O(wait_timeout). A server that is C(DOWN) counts as drained
    at once; C(UP 1/2) (going down) is not up; C(no check) servers are up when ready.
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
    type: str
    default: /run/haproxy/admin.sock
  backend:
    description: The backend (C(backend) or C(listen) section) the server belongs to.
    type: str
    required: true
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
    description: The server's weight (0-256). If not set, the weight is left as it is.
    type: int
  shutdown_sessions:
    description:
      - With O(state=drain) or O(state=maint), close the server's current sessions right after
        the state change (C(shutdown sessions server)). Does not count as a change by itself.
    type: bool
    default: false
  wait:
    description:
      - After V(drain)/V(maint), wait until the server has no current sessions (or is down).
      - After V(ready), wait until the server is C(UP) with a passing check (C(L4OK), C(L6OK),
        C(L7OK)) or has no check at all.
      - Fails when O(wait_timeout) runs out. Without O(state), it waits for the current
        administrative state's condition.
    type: bool
    default: false
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
notes:
  - Runs on the HAProxy host (it opens the stats socket there). Requires root or a user allowed
    to open the socket.
seealso:
  - name: HAProxy management guide, runtime API
    description: The commands this module uses (show stat, show servers state, set server, set weight).
    link: https://docs.haproxy.org/2.6/management.html#9.3
"""

EXAMPLES = r"""
- name: Take app1-1 out of rotation and wait for its sessions to end
  dockyard.fleet.haproxy_server:
    backend: app
    server: app1-1
    state: drain
    wait: true
    wait_timeout: 30

- name: Put it back once its health check passes
  dockyard.fleet.haproxy_server:
    backend: app
    server: app1-1
    state: ready
    wait: true

- name: Put a host's three replicas in service and wait until all of them are UP
  dockyard.fleet.haproxy_server:
    backend: app
    servers: [app1-1, app1-2, app1-3]
    state: ready
    wait: true

- name: Halve a server's share
  dockyard.fleet.haproxy_server:
    socket: 127.0.0.1:9999
    backend: app
    server: app2-1
    weight: 50
"""

RETURN = r"""
before:
  description: The server before the task.
  returned: when O(server) is set
  type: dict
  contains:
    status: {description: "Operational status from C(show stat): C(UP), C(UP 1/2), C(DOWN), C(DOWN 1/2), C(DRAIN), C(MAINT), C(no check)...", type: str}
    admin_state: {description: "V(ready), V(drain) or V(maint) (forced states from C(show servers state))", type: str}
    admin_flags: {description: Raw C(srv_admin_state) bit field., type: int}
    weight: {description: User weight., type: int}
    effective_weight: {description: Weight in effect (0 while drained)., type: int}
    scur: {description: Current sessions., type: int}
    check_status: {description: "Last health check result (C(L7OK), C(L4CON)...), empty without checks", type: str}
    check_running: {description: A check was in progress at the time., type: bool}
    address: {description: Server address:port., type: str}
  sample:
    {status: UP, admin_state: ready, admin_flags: 0, weight: 1, effective_weight: 1, scur: 0, check_status: L7OK,
     check_running: false, address: "10.77.0.11:8081"}
after:
  description: The server after the task (predicted in check mode), same keys as RV(before).
  returned: when O(server) is set
  type: dict
servers:
  description: With O(servers), per server name its C(before) and C(after) views (same keys as RV(before)).
  returned: when O(servers) is set
  type: dict
  sample:
    app1-1: {before: {status: MAINT, admin_state: maint}, after: {status: UP, admin_state: ready}}
waited:
  description: Seconds spent waiting (0 without O(wait)).
  returned: always
  type: float
commands:
  description: Runtime-API commands sent (or that would be sent in check mode).
  returned: always
  type: list
  elements: str
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockyard.fleet.plugins.module_utils._haproxy import (
    HAProxyError, RuntimeClient, check_set_reply, compared, parse_servers_state,
    parse_show_stat, plan, server_view, wait_all, wait_done)


def fetch_views(client, backend, names):
    """One read of the backend for every named server: {name: view}."""
    stat = parse_show_stat(client.command("show stat %s 4 -1" % backend))
    state = parse_servers_state(client.command("show servers state %s" % backend))
    return {name: server_view(stat, state, backend, name) for name in names}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            socket=dict(type="str", default="/run/haproxy/admin.sock"),
            backend=dict(type="str", required=True),
            server=dict(type="str"),
            servers=dict(type="list", elements="str"),
            state=dict(type="str", choices=["ready", "drain", "maint"]),
            weight=dict(type="int"),
            shutdown_sessions=dict(type="bool", default=False),
            wait=dict(type="bool", default=False),
            wait_timeout=dict(type="int", default=60),
            wait_interval=dict(type="float", default=1.0),
            timeout=dict(type="float", default=10.0),
        ),
        mutually_exclusive=[("server", "servers")],
        required_one_of=[("server", "servers")],
        supports_check_mode=True,
    )
    p = module.params
    names = [p["server"]] if p["server"] is not None else list(p["servers"])
    if not names:
        module.fail_json(msg="option servers must name at least one server")
    for opt, values in (("socket", [p["socket"]]), ("backend", [p["backend"]]),
                        ("server" if p["server"] is not None else "servers", names)):
        for value in values:
            text = (value or "").strip()
            # ';' separates runtime-API commands: a name must never smuggle in a second one.
            if not text or any(c.isspace() or c == ";" for c in text):
                module.fail_json(msg="option %s must be a non-empty name without spaces or ';', got %r"
                                 % (opt, value))
    if len(set(names)) != len(names):
        module.fail_json(msg="option servers names a server twice: %s" % ", ".join(names))
    if p["weight"] is not None and not 0 <= p["weight"] <= 256:
        module.fail_json(msg="option weight must be between 0 and 256, got %d" % p["weight"])
    if p["wait_timeout"] < 0:
        module.fail_json(msg="option wait_timeout must be >= 0, got %d" % p["wait_timeout"])
    if p["wait_interval"] <= 0:
        module.fail_json(msg="option wait_interval must be > 0, got %s" % p["wait_interval"])
    if p["timeout"] <= 0:
        module.fail_json(msg="option timeout must be > 0, got %s" % p["timeout"])
    if p["shutdown_sessions"] and p["state"] not in ("drain", "maint"):
        module.fail_json(msg="option shutdown_sessions needs state=drain or state=maint")

    backend = p["backend"]
    client = RuntimeClient(p["socket"].strip(), timeout=p["timeout"])
    result = dict(changed=False, waited=0.0, commands=[])
    views = {}
    try:
        before = fetch_views(client, backend, names)
        predicted = {}
        for name in names:
            cmds, predicted[name] = plan(before[name], backend, name, state=p["state"], weight=p["weight"])
            result["commands"].extend(cmds)
        result["changed"] = bool(result["commands"])
        views = {name: {"before": before[name], "after": predicted[name]} for name in names}
        if not module.check_mode:
            for cmd in list(result["commands"]):
                check_set_reply(cmd, client.command(cmd))
            if p["shutdown_sessions"]:
                for name in names:
                    cmd = "shutdown sessions server %s/%s" % (backend, name)
                    result["commands"].append(cmd)
                    check_set_reply(cmd, client.command(cmd))
            after = fetch_views(client, backend, names)
            if p["wait"]:
                targets = {name: p["state"] or after[name]["admin_state"] for name in names}
                t0 = time.monotonic()
                # servers without a state change wait for their current state's condition
                after, done, _polls = wait_all(
                    lambda: fetch_views(client, backend, names), targets, p["wait_timeout"],
                    p["wait_interval"])
                result["waited"] = round(time.monotonic() - t0, 2)
                for name in names:
                    views[name]["after"] = after[name]
                if not done:
                    late = [n for n in names if not wait_done(after[n], targets[n])]
                    _publish(result, views, p["server"] is not None)
                    module.fail_json(
                        msg="%s not %s within %ds (option wait_timeout): %s" % (
                            "server" if len(late) == 1 else "servers",
                            "UP with a passing health check" if all(targets[n] == "ready" for n in late)
                            else "drained" if all(targets[n] != "ready" for n in late) else "done",
                            p["wait_timeout"],
                            "; ".join("%s/%s status %r, check %r, %d sessions" % (
                                backend, n, after[n]["status"], after[n]["check_status"], after[n]["scur"])
                                for n in late)), **result)
            for name in names:
                views[name]["after"] = after[name]
    except HAProxyError as e:
        _publish(result, views, p["server"] is not None)
        module.fail_json(msg=str(e), **result)
    _publish(result, views, p["server"] is not None)
    if module._diff:
        result["diff"] = {
            "before": {n: compared(v["before"]) for n, v in views.items()},
            "after": {n: compared(v["after"]) for n, v in views.items()}}
        if p["server"] is not None:
            result["diff"] = {k: v[p["server"]] for k, v in result["diff"].items()}
    module.exit_json(**result)


def _publish(result, views, single):
    """Single-server results keep their flat before/after; several go under `servers`."""
    if single:
        for view in views.values():
            result["before"], result["after"] = view["before"], view["after"]
    else:
        result["servers"] = views


if __name__ == "__main__":
    main()
