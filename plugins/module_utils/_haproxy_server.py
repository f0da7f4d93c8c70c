# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""dockyard.fleet.haproxy_server: one server, or several, to ready / drain / maint and a
weight over HAProxy's runtime API, planned from one read, with waits that end; `then`, a
second step after the first. The socket I/O and the pure planning are in _haproxy.py; this
is the module's run once AnsibleModule has its arguments.

Private to dockyard.fleet: no compatibility promise for code outside the collection.
"""
from __future__ import annotations

from ansible_collections.dockyard.fleet.plugins.module_utils._haproxy import (
    HAProxyError, RuntimeClient, StepError, backends_holding, check_set_reply, compared,
    late_message, name_problem, parse_read, parse_weight, read_command, recheck_commands, run_step,
    server_view, weight_refusal, weight_value)

# what AnsibleModule validates besides the argument spec
SPEC_RULES = dict(mutually_exclusive=[("server", "servers")], required_one_of=[("server", "servers")])


def server_argument_spec():
    """The module's argument spec."""
    return dict(
        socket=dict(type="str", default="/run/haproxy/admin.sock"),
        backend=dict(type="str"),
        server=dict(type="str"),
        servers=dict(type="list", elements="str"),
        state=dict(type="str", choices=["ready", "drain", "maint"]),
        weight=dict(type="raw"),
        shutdown_sessions=dict(type="bool", default=False),
        recheck=dict(type="bool", default=False),
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
    )


def _check_names(module, opt, values):
    for value in values:
        problem = name_problem(value, opt)
        if problem:
            module.fail_json(msg=problem)
    if len(set(values)) != len(values):
        module.fail_json(msg="option %s names a server twice: %s" % (opt, ", ".join(values)))


def _validate(module):
    """Every check on the options alone; fails naming the option. Returns the weight spec."""
    p = module.params
    then = p["then"]
    names = [p["server"]] if p["server"] is not None else list(p["servers"])
    if not names:
        module.fail_json(msg="option servers must name at least one server")
    _check_names(module, "socket", [p["socket"]])
    if p["backend"] is not None:
        _check_names(module, "backend", [p["backend"]])
    _check_names(module, "server" if p["server"] is not None else "servers", names)
    weight = None
    if p["weight"] is not None:
        try:
            weight = parse_weight(p["weight"])
        except ValueError as exc:
            module.fail_json(msg=str(exc))
    if p["wait_timeout"] < 0:
        module.fail_json(msg="option wait_timeout must be >= 0, got %d" % p["wait_timeout"])
    if p["wait_interval"] <= 0:
        module.fail_json(msg="option wait_interval must be > 0, got %s" % p["wait_interval"])
    if p["timeout"] <= 0:
        module.fail_json(msg="option timeout must be > 0, got %s" % p["timeout"])
    if p["shutdown_sessions"] and p["state"] not in ("drain", "maint"):
        module.fail_json(msg="option shutdown_sessions needs state=drain or state=maint")
    if p["recheck"] and p["state"] != "ready":
        module.fail_json(msg="option recheck needs state=ready (it makes HAProxy check the servers "
                             "afresh before they are put back in service)")
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
    return names, weight


def _find_backend(first, names, opt, then_names):
    """The one backend that has every named server, or (None, message naming the option)."""
    every = names + then_names
    holders = backends_holding(first["stat"], every)
    if len(holders) == 1:
        return holders[0], None
    for name in every:
        if not backends_holding(first["stat"], [name]):
            msg = "no server %r in any backend of HAProxy (option %s)" % (
                name, opt if name in names else "then.servers")
            return None, ("then: " + msg) if name not in names else msg
    if holders:
        return None, ("option backend is needed: %s %s in several backends (%s); set option "
                      "backend to the one to change" % (
                          "server" if len(every) == 1 else "servers", ", ".join(every),
                          ", ".join(holders)))
    return None, ("option backend is needed: no one backend has every server named (%s)" % "; ".join(
        "%s in %s" % (n, ", ".join(backends_holding(first["stat"], [n]))) for n in every))


def server_main(module):
    """The module's run: ends with module.exit_json or module.fail_json."""
    p = module.params
    then = p["then"]
    names, weight_spec = _validate(module)
    single = p["server"] is not None
    opt = "server" if single else "servers"
    then_names = list(then["servers"]) if then is not None else []

    client = RuntimeClient(p["socket"].strip(), timeout=p["timeout"])
    result = dict(changed=False, waited=0.0, commands=[], reloaded=False)

    def fail(msg, step="first", views=None, **extra):
        if views:
            _publish(result, views, single)
        result.update(extra)
        module.fail_json(msg=msg, failed_step=step, **result)

    # The first read: the socket's level, the process (to see a reload while waiting), every
    # server of the backend (of all of them without option backend) and its balance algorithm.
    backend = p["backend"]
    try:
        first = parse_read(client.command(read_command(backend, level=True, info=p["wait"],
                                                       backend_rows=True)),
                           backend, level=True, info=p["wait"], backend_rows=True)
    except HAProxyError as exc:
        fail(str(exc))
    if backend is None:
        backend, why = _find_backend(first, names, opt, then_names)
        if why:
            fail(why, "then" if why.startswith("then: ") else "first")
    result["backend"] = backend
    try:
        before = {n: server_view(first["stat"], first["state"], backend, n, opt) for n in names}
    except HAProxyError as exc:
        fail(str(exc))
    try:
        then_before = {n: server_view(first["stat"], first["state"], backend, n, "then.servers")
                       for n in then_names}
    except HAProxyError as exc:
        fail("then: %s" % exc, "then")

    weights = None
    warnings = []
    if weight_spec is not None:
        weights = {n: weight_value(weight_spec, before[n]) for n in names}
        for n in names:
            refusal = weight_refusal(first["algos"].get(backend, ""), before[n], weights[n])
            if refusal and refusal[0] == "fail":
                fail("option weight %s cannot be set on %s/%s: %s; nothing was changed"
                     % (p["weight"], backend, n, refusal[1]))
            if refusal and n == names[0]:
                warnings.append("option weight %s on %s/%s: %s" % (p["weight"], backend, n, refusal[1]))

    # Both steps planned from the first read (no I/O): the prediction of check mode, and what
    # the socket's level must allow.
    step = run_step(client, backend, names, state=p["state"], weight=weights,
                    shutdown_sessions=p["shutdown_sessions"], check_mode=True, before=before,
                    option=opt)
    second = None
    if then is not None:
        second = run_step(client, backend, then_names, state=then["state"],
                          shutdown_sessions=then["shutdown_sessions"], check_mode=True,
                          before=then_before, option="then.servers")
    # recheck: the servers' health set down first, so the ready step needs fresh checks
    rechecks = recheck_commands(backend, before) if p["recheck"] else []
    planned = rechecks + step["commands"] + (second["commands"] if second else [])
    if planned and first["level"] not in (None, "admin"):
        fail("the stats socket %s is at level %s: HAProxy would answer Permission denied to %s "
             "(a change needs 'level admin' on its 'stats socket' line) (option socket); nothing "
             "was changed" % (p["socket"].strip(), first["level"], "; ".join(planned)))

    if module.check_mode:
        for warning in warnings:
            module.warn(warning)
        result.update(commands=planned, changed=bool(planned))
        if second is not None:
            result["then"] = dict(servers=second["views"], commands=second["commands"], waited=0.0)
        _finish(module, result, step["views"], single, p, then)

    process = first["process"] if p["wait"] else None
    sent = []
    for cmd in rechecks:
        try:
            check_set_reply(cmd, client.command(cmd), opt)
        except HAProxyError as exc:
            result.update(commands=sent, changed=bool(sent))
            fail(str(exc))
        sent.append(cmd)
    # a server whose health was set down is not up, whatever the first read said: the wait
    # polls for its fresh checks (the result keeps the first read as before)
    down = {n: dict(v, status="DOWN") if "set server %s/%s health down" % (backend, n) in sent else v
            for n, v in before.items()}
    try:
        step = run_step(client, backend, names, state=p["state"], weight=weights,
                        shutdown_sessions=p["shutdown_sessions"], wait=p["wait"],
                        wait_timeout=p["wait_timeout"], wait_interval=p["wait_interval"],
                        before=down, option=opt, process=process)
    except StepError as exc:
        result.update(commands=sent + exc.sent, changed=bool(sent + exc.sent))
        fail(str(exc), views=exc.views)
    except HAProxyError as exc:
        result.update(commands=sent, changed=bool(sent))
        fail(str(exc))
    views = step["views"]
    for n, view in views.items():
        view["before"] = before[n]
    result.update(commands=sent + step["commands"], waited=step["waited"],
                  changed=bool(sent + step["commands"]))
    _reloads(module, result, step, process)
    if step["late"]:
        fail(late_message(backend, step, p["wait_timeout"]), views=views)
    if then is not None:
        then_timeout = p["wait_timeout"] if then["wait_timeout"] is None else then["wait_timeout"]
        result["then"] = dict(servers={}, commands=[], waited=0.0)
        try:
            second = run_step(client, backend, then_names, state=then["state"],
                              shutdown_sessions=then["shutdown_sessions"], wait=True,
                              wait_timeout=then_timeout, wait_interval=p["wait_interval"],
                              option="then.servers", process=process)
        except StepError as exc:
            result["then"] = dict(servers=exc.views, commands=exc.sent, waited=0.0)
            result["commands"] = result["commands"] + exc.sent
            result["changed"] = bool(result["commands"])
            fail("then: %s" % exc, "then", views=views)
        except HAProxyError as exc:
            fail("then: %s" % exc, "then", views=views)
        result["then"] = dict(servers=second["views"], commands=second["commands"],
                              waited=second["waited"])
        result["commands"] = result["commands"] + second["commands"]
        result["waited"] = round(result["waited"] + second["waited"], 2)
        result["changed"] = result["changed"] or bool(second["commands"])
        _reloads(module, result, second, process)
        if second["late"]:
            option = "wait_timeout" if then["wait_timeout"] is None else "then.wait_timeout"
            fail("then: " + late_message(backend, second, then_timeout, option), "then", views=views)
    _finish(module, result, views, single, p, then)


def _reloads(module, result, step, process):
    """Warn once about a process change seen by a step's polls."""
    if step["reloaded"] and not result["reloaded"]:
        result["reloaded"] = True
        module.warn("HAProxy's process changed during the wait (%s, then %s: a reload or a "
                    "restart). The new process counts only its own sessions; sessions the old "
                    "one still serves are not visible through the stats socket, so servers may "
                    "have been reported drained while the old process still served them (it ends "
                    "them by hard-stop-after at most)." % (process, ", ".join(step["reloaded"])))


def _finish(module, result, views, single, p, then):
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
