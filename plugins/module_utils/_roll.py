# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A rolling cycle of a host's replicas behind HAProxy load balancers, in one module run.

For each replica, in order: drained on every load balancer (its sessions end), replaced or
restarted, healthy, back in service and UP on every load balancer; the run that readies
replica i drains replica i+1 straight after (as the deploy role's per-step cycle does). If a
replica fails, the previous release goes back on it (when one is given) and the roll stops.

The engine side (replace, roll back) and the load-balancer clients are passed in, so the
sequence and its failure handling are unit-tested with fakes; the real ones are the service
module's container engine and RuntimeClient instances (a local socket, or one forwarded by the
service action plugin from the controller over the task's SSH connection).
"""
from __future__ import annotations

import os
import re
import socket
import stat
import time

from ansible_collections.dockyard.fleet.plugins.module_utils._haproxy import (
    HAProxyError, check_set_reply, fetch_views, late_message, recheck_commands, run_step, wait_all,
    wait_done)


class RollFailed(Exception):
    """The roll stopped. `result` holds failed_index, failed_step, rolled_back, done."""

    def __init__(self, msg, result):
        super().__init__(msg)
        self.result = result


class LoadBalancer:
    """One load balancer of the roll: a runtime-API client and the backend of the app."""

    def __init__(self, label, client, backend):
        self.label, self.client, self.backend = label, client, backend


def lb_set(lbs, names, state, timeout, interval, log, clock=time.monotonic, sleep=time.sleep,
           option=None):
    """Set servers to state on every load balancer, then wait on each (the waits overlap:
    one deadline for all). Returns [] or the messages of the load balancers that were late
    (naming option, roll.ready_timeout / roll.drain_timeout by default)."""
    deadline = clock() + timeout
    steps = []
    for lb in lbs:
        step = run_step(lb.client, lb.backend, names, state=state, clock=clock, sleep=sleep)
        log.extend("%s: %s" % (lb.label, c) for c in step["commands"])
        steps.append((lb, step))
    late = []
    targets = {n: state for n in names}
    for lb, step in steps:
        views, done, _polls = wait_all(lambda lb=lb: fetch_views(lb.client, lb.backend, names),
                                       targets, max(0.0, deadline - clock()), interval,
                                       clock=clock, sleep=sleep)
        if not done:
            step.update(late=[n for n in names if not wait_done(views[n], state)], targets=targets)
            for n in names:
                step["views"][n]["after"] = views[n]
            why = late_message(lb.backend, step, "%g" % timeout, option=option or (
                "roll.%s_timeout" % ("ready" if state == "ready" else "drain")))
            late.append("%s: %s" % (lb.label, why))
    return late


def lb_fresh_checks(lbs, names, log):
    """recheck_commands for the servers of every load balancer: HAProxy then judges them by
    checks of their new container (a ready step after a replacement). Raises HAProxyError."""
    for lb in lbs:
        for cmd in recheck_commands(lb.backend, fetch_views(lb.client, lb.backend, names)):
            check_set_reply(cmd, lb.client.command(cmd))
            log.append("%s: %s" % (lb.label, cmd))


def lb_try(lbs, names, state, timeout, interval, log, clock, sleep, fresh=False):
    """lb_set, with a runtime-API failure reported like a late server (the cycle then puts the
    replica back as it would for a timeout). fresh: first make HAProxy judge the servers by
    checks of their new container (lb_fresh_checks), for a ready step after a replacement."""
    try:
        if fresh:
            lb_fresh_checks(lbs, names, log)
        return lb_set(lbs, names, state, timeout, interval, log, clock, sleep)
    except HAProxyError as exc:
        return [str(exc)]


def lb_ready_quietly(lbs, names, log):
    """Put servers back in service without waiting (after a failure); errors are ignored."""
    for lb in lbs:
        try:
            step = run_step(lb.client, lb.backend, names, state="ready")
            log.extend("%s: %s" % (lb.label, c) for c in step["commands"])
        except HAProxyError:
            pass


def roll(indexes, server, replace, rollback, lbs, drain_timeout, ready_timeout, interval=0.25,
         image="", previous_image=None, clock=time.monotonic, sleep=time.sleep, fresh_checks=True,
         passed=None):
    """Roll the replicas `indexes` in order. server(i) is replica i's server name on the load
    balancers; replace(i) replaces or restarts replica i and waits until it is healthy
    (raising on failure); rollback(i) puts the previous release back on it and waits (raising
    on failure), or is None when there is no previous release to put back; it returns the
    image that runs again, or None for previous_image. fresh_checks: the
    ready steps make HAProxy judge a replaced replica by checks of its new container only
    (lb_fresh_checks); for a replace that does not wait until the engine's health check
    passes, where HAProxy's UP, left from checks of the old container, is the only gate.
    passed(i), when given, is called once replica i has passed its whole cycle (replaced,
    healthy, UP on every load balancer), before the next replica is drained: what the
    replace kept for a rollback can go. It must not raise (the replica is in service).

    Returns {"done": [...], "log": [...], "seconds": {i: s}}; raises RollFailed."""
    log, done, seconds = [], [], {}
    result = {"done": done, "log": log, "seconds": seconds, "failed_index": None,
              "failed_step": None, "rolled_back": False}

    def stop(index, step, msg):
        result.update(failed_index=index, failed_step=step)
        raise RollFailed(msg, result)

    for pos, i in enumerate(indexes):
        t0 = clock()
        name = server(i)
        if pos == 0:
            late = lb_try(lbs, [name], "drain", drain_timeout, interval, log, clock, sleep)
            if late:
                lb_ready_quietly(lbs, [name], log)
                stop(i, "drain", "replica %s could not be drained: %s. It is back in service, "
                                 "unchanged." % (name, "; ".join(late)))
        failure = None
        try:
            replace(i)
        except Exception as exc:  # engine or wait failure: the replica is not healthy
            failure = ("replace", str(exc))
        if failure is None:
            late = lb_try(lbs, [name], "ready", ready_timeout, interval, log, clock, sleep,
                          fresh=fresh_checks)
            if late:
                failure = ("ready", "; ".join(late))
        if failure is not None:
            step, why = failure
            why = " ".join(why.split())  # one line: the role quotes a message's first line
            if rollback is None:
                stop(i, step, "replica %s failed on %s: %s. No previous release to put back "
                              "(rollback off or first deploy); it stays out of service."
                     % (name, image, why))
            try:
                again = rollback(i) or previous_image
            except Exception as exc:
                stop(i, step, "replica %s failed on %s: %s. Putting %s back failed too: %s; it "
                              "stays out of service." % (name, image, why, previous_image,
                                                         " ".join(str(exc).split())))
            late = lb_try(lbs, [name], "ready", ready_timeout, interval, log, clock, sleep,
                          fresh=fresh_checks)
            result["rolled_back"] = True
            stop(i, step, "replica %s failed on %s: %s. It runs %s again%s." % (
                name, image, why, again,
                " and is back in service" if not late else
                " but is not UP on the load balancers: %s" % "; ".join(late)))
        done.append(i)
        if passed is not None:
            passed(i)
        if pos + 1 < len(indexes):
            nxt = server(indexes[pos + 1])
            late = lb_try(lbs, [nxt], "drain", drain_timeout, interval, log, clock, sleep)
            if late:
                lb_ready_quietly(lbs, [nxt], log)
                seconds[i] = round(clock() - t0, 2)
                stop(indexes[pos + 1], "then",
                     "replica %s could not be drained: %s. It is back in service; replica %s runs "
                     "%s and is in service." % (nxt, "; ".join(late), name, image))
        seconds[i] = round(clock() - t0, 2)
    return result


FORWARDED = re.compile(r"^/tmp/\.dockyard-fwd-[0-9a-f]+\.sock$")


def remove_forwarded_at_exit(module):
    """Sockets the action plugin forwarded for this run (roll.load_balancers[].forwarded,
    ready.load_balancers[].forwarded, roll.gate) are
    removed when the module ends, whatever the outcome; the result lists them
    (forwarded_removed) so the action plugin need not remove them over the connection."""
    roll_opts = module.params.get("roll") or {}
    lbs = (roll_opts.get("load_balancers") or []) + \
        ((module.params.get("ready") or {}).get("load_balancers") or [])
    paths = [lb["socket"] for lb in lbs
             if lb.get("forwarded") and FORWARDED.match(lb.get("socket") or "")]
    if FORWARDED.match(roll_opts.get("gate") or ""):
        paths.append(roll_opts["gate"])
    if not paths:
        return

    def remove():
        removed = []
        for path in paths:
            try:
                if stat.S_ISSOCK(os.lstat(path).st_mode):
                    os.unlink(path)
                removed.append(path)
            except FileNotFoundError:
                removed.append(path)
            except OSError:
                pass
        return removed

    exit_json, fail_json = module.exit_json, module.fail_json

    def exit_then(**kw):
        exit_json(forwarded_removed=remove(), **kw)

    def fail_then(msg, **kw):
        fail_json(msg=msg, forwarded_removed=remove(), **kw)

    module.exit_json, module.fail_json = exit_then, fail_then


class GateError(Exception):
    pass


def wait_for_turn(path):
    """roll.gate: block until the controller says this host's turn has come (the hosts before
    it in the batch have rolled). Returns None to go on, or the name of the host whose failed
    roll halted this one. Waiting costs no CPU (a blocking read)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            s.connect(path)
        except OSError as exc:
            raise GateError("cannot reach the controller's turn signal %s: %s (option roll.gate)"
                            % (path, exc))
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(256)
            if not chunk:
                raise GateError("the controller's turn signal %s closed without an answer "
                                "(the controller stopped?) (option roll.gate)" % path)
            data += chunk
    finally:
        s.close()
    line = data.decode("utf-8", "replace").strip()
    if line == "go":
        return None
    if line.startswith("halt "):
        return line[5:] or "?"
    raise GateError("unexpected turn signal %r from %s (option roll.gate)" % (line, path))
