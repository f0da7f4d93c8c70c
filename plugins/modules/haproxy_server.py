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
  then:
    description:
      - A second step in the same module run, started once the first one is done (its O(wait)
        passed) - set O(then.servers) to O(then.state) and wait for them the same way. A rolling
        cycle puts replica I(i) back in service and drains replica I(i+1) in one run instead of
        two.
      - Needs O(wait=true). If the first step fails, the second is not made. A failure of the
        second step says C(then:) and returns C(failed_step=then); the first step's change stays made.
      - Check mode predicts both steps from the servers' current states.
    type: dict
    version_added: 0.3.0
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
then:
  description: With O(then), the second step - per server name its C(before) and C(after) views, its commands, its wait.
  returned: when O(then) is set
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
commands:
  description: Runtime-API commands sent (or that would be sent in check mode), both steps.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockyard.fleet.plugins.module_utils._haproxy import (
    HAProxyError, RuntimeClient, compared, late_message, name_problem, run_step)


def _check_names(module, opt, values):
    for value in values:
        problem = name_problem(value, opt)
        if problem:
            module.fail_json(msg=problem)
    if len(set(values)) != len(values):
        module.fail_json(msg="option %s names a server twice: %s" % (opt, ", ".join(values)))


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
            then=dict(type="dict", options=dict(
                servers=dict(type="list", elements="str", required=True),
                state=dict(type="str", choices=["ready", "drain", "maint"], required=True),
                shutdown_sessions=dict(type="bool", default=False),
                wait_timeout=dict(type="int"),
            )),
        ),
        mutually_exclusive=[("server", "servers")],
        required_one_of=[("server", "servers")],
        supports_check_mode=True,
    )
    p = module.params
    then = p["then"]
    names = [p["server"]] if p["server"] is not None else list(p["servers"])
    if not names:
        module.fail_json(msg="option servers must name at least one server")
    for opt, value in (("socket", p["socket"]), ("backend", p["backend"])):
        _check_names(module, opt, [value])
    _check_names(module, "server" if p["server"] is not None else "servers", names)
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
    if then is not None:
        if not then["servers"]:
            module.fail_json(msg="option then.servers must name at least one server")
        _check_names(module, "then.servers", then["servers"])
        both = sorted(set(names) & set(then["servers"]))
        if both:
            module.fail_json(msg="option then.servers names a server of the first step too: %s"
                             % ", ".join(both))
        if not p["wait"]:
            module.fail_json(msg="option then needs wait=true: the second step starts once the "
                                 "first one is done")
        if then["shutdown_sessions"] and then["state"] not in ("drain", "maint"):
            module.fail_json(msg="option then.shutdown_sessions needs then.state=drain or maint")
        if then["wait_timeout"] is not None and then["wait_timeout"] < 0:
            module.fail_json(msg="option then.wait_timeout must be >= 0, got %d" % then["wait_timeout"])

    backend = p["backend"]
    single = p["server"] is not None
    client = RuntimeClient(p["socket"].strip(), timeout=p["timeout"])
    result = dict(changed=False, waited=0.0, commands=[])
    views = {}
    try:
        step = run_step(client, backend, names, state=p["state"], weight=p["weight"],
                        shutdown_sessions=p["shutdown_sessions"], wait=p["wait"],
                        wait_timeout=p["wait_timeout"], wait_interval=p["wait_interval"],
                        check_mode=module.check_mode)
        views = step["views"]
        result.update(commands=step["commands"], waited=step["waited"],
                      changed=bool(step["commands"]))
        if step["late"]:
            _publish(result, views, single)
            module.fail_json(msg=late_message(backend, step, p["wait_timeout"]), failed_step="first",
                             **result)
        if then is not None:
            then_timeout = p["wait_timeout"] if then["wait_timeout"] is None else then["wait_timeout"]
            result["then"] = dict(servers={}, commands=[], waited=0.0)
            second = run_step(client, backend, then["servers"], state=then["state"],
                              shutdown_sessions=then["shutdown_sessions"], wait=True,
                              wait_timeout=then_timeout, wait_interval=p["wait_interval"],
                              check_mode=module.check_mode)
            result["then"] = dict(servers=second["views"], commands=second["commands"],
                                  waited=second["waited"])
            result["commands"] = result["commands"] + second["commands"]
            result["waited"] = round(result["waited"] + second["waited"], 2)
            result["changed"] = result["changed"] or bool(second["commands"])
            if second["late"]:
                _publish(result, views, single)
                option = "wait_timeout" if then["wait_timeout"] is None else "then.wait_timeout"
                module.fail_json(msg="then: " + late_message(backend, second, then_timeout, option),
                                 failed_step="then", **result)
    except HAProxyError as e:
        _publish(result, views, single)
        module.fail_json(msg=str(e), failed_step="then" if "then" in result else "first", **result)
    _publish(result, views, single)
    if module._diff:
        every = dict(views)
        every.update(result.get("then", {}).get("servers", {}))
        result["diff"] = {
            "before": {n: compared(v["before"]) for n, v in every.items()},
            "after": {n: compared(v["after"]) for n, v in every.items()}}
        if single and then is None:
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
