#!/usr/bin/python
# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: service
short_description: Run N replicas of one app on one host, converged in one module run
description:
  - Manages the containers C(<name>-1) .. C(<name>-N), labelled C(dockyard.service=<name>) and
    C(dockyard.replica=<i>). Replica i publishes host port O(port_base)+i-1 (or O(ports)[i-1])
    to O(container_port).
  - Every replica is compared with the same engine as M(dockyard.fleet.container) - only the
    options you set count, image defaults are never drift, the image is compared by ID, restart
    policy, memory and CPU changes are applied in place.
  - Scaling down removes the replicas above O(replicas) (found by label). One listing call finds
    the existing replicas; the image is inspected once; O(wait) waits for all touched replicas
    together.
extends_documentation_fragment:
  - dockyard.fleet.docker
  - dockyard.fleet.attributes
  - dockyard.fleet.attributes.ACTIONGROUP_DOCKER
  - dockyard.fleet.container_options
options:
  name:
    description: Service name, the prefix of the replica names.
    type: str
    required: true
  replicas:
    description: Number of replicas.
    type: int
    default: 1
  port_base:
    description: Replica i publishes host port O(port_base)+i-1. Mutually exclusive with O(ports).
    type: int
  ports:
    description: Explicit host port of each replica, one per replica, in order.
    type: list
    elements: int
  container_port:
    description: Port inside the container that the host ports publish.
    type: int
    default: 80
  only:
    description:
      - Converge (replace, start, stop, remove) only these replica indexes; the others are left
        untouched and nothing is scaled down. For rolling updates, one replica at a time.
    type: list
    elements: int
  converge:
    description:
      - V(all) converges every replica (or those in O(only)) and scales down.
      - V(missing) creates (and starts, and waits for) only the replicas that do not exist yet,
        and leaves every existing replica as it is, even if it differs, and does not scale down.
        What a full converge would do to the others is returned as their RV(replicas[].action)
        with RV(replicas[].pending=true). The deploy role uses it to plan and converge in one
        module run - new replicas carry no traffic yet, so they can start at once, while the
        existing ones are rolled one at a time behind the load balancer.
      - Only with O(state=started) or O(state=present).
    type: str
    default: all
    choices: [all, missing]
    version_added: 0.2.0
  roll:
    description:
      - Roll the replicas in O(only) (all of them, in index order, without O(only)) that would
        change one at a time behind HAProxy load balancers, in this one module run (a replica that
        would not change is not drained, so a second run changes nothing). For each one - drained on every
        load balancer until its sessions end, replaced or restarted as the other options say,
        awaited per O(wait), put back in service and awaited until every load balancer sees it UP
        with a passing check. The run that puts replica i back in service drains the next one.
      - If a replica fails (not healthy, not UP in time), the previous release
        (O(roll.rollback_image)) goes back on it, it is put back in service and the module fails
        with RV(failed_index), RV(failed_step) and RV(rolled_back); the replicas after it are not
        touched. A replica whose sessions do not end within O(roll.drain_timeout) is put back in
        service unchanged and the module fails with RV(failed_step=drain) (or V(then) when it was
        the next replica).
      - Needs O(state=started) and O(converge=all). In check mode the load balancers are not
        contacted; the result predicts the replicas' changes as without O(roll).
      - The deploy role uses it for its rolling cycle (one module run per host instead of two
        per replica), reaching the load balancers' runtime API through the controller's SSH
        connections (O(roll.load_balancers[].controller_socket)).
    type: dict
    version_added: 0.3.0
    suboptions:
      load_balancers:
        description: The load balancers that route to the replicas.
        type: list
        elements: dict
        required: true
        suboptions:
          socket:
            description:
              - HAProxy's runtime API on this host - an absolute unix socket path or C(host:port)
                (C(ipv4@) and C(unix@) prefixes accepted). It needs C(level admin).
              - One of O(roll.load_balancers[].socket) and
                O(roll.load_balancers[].controller_socket) is required.
            type: str
          controller_socket:
            description:
              - A unix socket on the Ansible controller that leads to the runtime API (as made by
                M(dockyard.fleet.socket_forward) delegated to the load balancer). The action
                plugin forwards it to this host over the task's own SSH connection for the time
                of the run (OpenSSH C(-O forward -R) on the connection's ControlMaster), so no
                TCP stats socket and no new credentials are needed. Needs the C(ssh) connection
                with ControlPersist.
            type: str
          backend:
            description: Backend whose servers are the replicas.
            type: str
            required: true
          name:
            description: Name of the load balancer in messages (default the socket).
            type: str
          forwarded:
            description:
              - Set by the action plugin on a socket it forwarded to the host for this run
                (O(roll.load_balancers[].controller_socket)) - the module removes the path when it
                ends (sshd leaves it behind), which saves a command over the connection. Only a
                path named C(/tmp/.dockyard-fwd-*.sock) is removed.
            type: bool
            default: false
      server_prefix:
        description: Replica i is the server O(roll.server_prefix) followed by i (C(app1-) gives C(app1-1), C(app1-2)...).
        type: str
        required: true
      drain_timeout:
        description: Seconds to wait for a replica's sessions to end.
        type: float
        default: 60
      ready_timeout:
        description: Seconds to wait until every load balancer sees a replica UP.
        type: float
        default: 60
      interval:
        description: Seconds between two reads of a load balancer while waiting.
        type: float
        default: 0.25
      rollback_image:
        description: Image of the previous release, put back on a replica that fails. Without it a failed replica stays out of service.
        type: str
      rollback_labels:
        description: Labels of the previous release (merged over O(labels)) for a replica put back on O(roll.rollback_image).
        type: dict
      batch_id:
        description:
          - Makes the runs of several hosts with the same id one rolling sequence (for example
            a task over every host of a play batch). With O(roll.batch_hosts), each run waits
            until the runs of the hosts before it in that list have ended, so the hosts roll
            one after another, in that order (without it, run the task with C(throttle) 1).
            Over ssh the run starts at once and waits on the host, after reading and before
            any change (O(roll.gate)); otherwise it waits on the controller. Once the run on
            one host fails (or its host is lost), each later run with this id fails when its
            turn comes, without changing anything on its host or a load balancer
            (RV(not_started), RV(halted_by)), as a play with C(serial) 1 would have stopped
            before them. Use a new id for every rollout.
          - Kept on the controller while the batch runs, in a directory named after the id
            under the temporary directory (C(dockyard-roll-<uid>/), mode 0700), removed by the
            last host's run. Not used in check mode (the runs do not wait for each other).
          - The deploy role sets it with C(deploy_roll_in_turn).
        type: str
        version_added: 0.3.0
      batch_hosts:
        description:
          - With O(roll.batch_id), the inventory names of the hosts whose runs take turns, in
            order (this host among them). A waiting run holds a worker (fork) and nothing
            else; it costs no CPU.
        type: list
        elements: str
        version_added: 0.3.0
      gate:
        description:
          - Set by the action plugin with O(roll.batch_id) and O(roll.batch_hosts), not by
            hand - a unix socket on the host, forwarded from the controller over the task's
            SSH connection, that answers once this host's turn has come. The run starts at
            once, reads what it needs (containers, image, the load balancers' servers), then
            waits there before it changes anything; so starting the run overlaps the previous
            host's roll instead of following it. Removed when the run ends.
          - Without the ssh connection plugin the action plugin waits for the turn itself and
            starts the run then.
        type: str
        version_added: 0.3.0
  ready:
    description:
      - Once the replicas of this run are converged (and healthy, per O(wait)), put them in
        service on HAProxy load balancers and wait until every load balancer sees them UP, in
        the same module run - what M(dockyard.fleet.haproxy_server) with C(servers), C(state=ready)
        and C(wait=true) does from the load balancer. On replicas already in service it only
        reads. The load balancers are checked (runtime API answers, every server exists) before
        anything changes.
      - With O(converge=missing), only when the run leaves no replica pending a change (a fresh
        host, or one whose replicas all match); otherwise nothing is done here (no RV(ready)),
        and the replicas that change go through a roll later.
      - The load balancers are given as for O(roll.load_balancers); a C(controller_socket) is
        forwarded to the host by the action plugin over the task's SSH connection. Not contacted
        in check mode. Mutually exclusive with O(roll) (a roll ends every replica UP).
      - The deploy role uses it for a fresh host and a no-op deploy (no M(dockyard.fleet.haproxy_server)
        run on the load balancer then).
    type: dict
    version_added: 0.3.0
    suboptions:
      load_balancers:
        description: As O(roll.load_balancers).
        type: list
        elements: dict
        required: true
        suboptions:
          socket:
            description: Path of the runtime API's unix socket on this host.
            type: str
          controller_socket:
            description: A unix socket on the controller leading to the runtime API (M(dockyard.fleet.socket_forward)).
            type: str
          backend:
            description: The app's backend on that load balancer.
            type: str
            required: true
          name:
            description: Name of the load balancer in messages.
            type: str
          forwarded:
            description: Set by the action plugin - the module removes O(ready.load_balancers[].socket) when it ends.
            type: bool
            default: false
      server_prefix:
        description: Replica i is the server O(ready.server_prefix) followed by i.
        type: str
        required: true
      timeout:
        description: Seconds to wait until every load balancer sees every replica UP.
        type: float
        default: 60
      interval:
        description: Seconds between two reads of a load balancer while waiting.
        type: float
        default: 0.25
  record:
    description:
      - Once every change of this run is done (with O(roll), every replica rolled and back in
        service), record the release as M(dockyard.fleet.release) with C(state=recorded)
        does, in the same module run - O(record.version) becomes the app's current release, an
        audit line is written when the version moved or the run changed something, and the
        deploy lock of O(record.token) is released. Nothing is recorded when the run fails.
      - Saves the separate M(dockyard.fleet.release) run after a deploy (one module run per
        host); the deploy role uses it when the roll is a host's last step.
      - Needs O(state=started) or O(state=present). With O(converge=missing), only when the
        run leaves no replica pending a change (otherwise no RV(record) - record after the roll).
        In check mode it reports what it would record (RV(record)) and writes nothing.
      - If the record fails after the replicas changed, the module fails with
        C(changed=true) and the replicas keep what they run.
    type: dict
    version_added: 0.3.0
    suboptions:
      app:
        description: The app whose release is recorded (as O(dockyard.fleet.release#module:app)).
        type: str
        required: true
      token:
        description: The deploy run's token; the lock it holds is released.
        type: str
        required: true
      owner:
        description: Who deploys, for the audit line.
        type: str
        default: unknown
      version:
        description: The version now deployed.
        type: str
        required: true
      image:
        description: The image reference of O(record.version). Defaults to O(image).
        type: str
      keep:
        description: How many releases (the current one included) the record remembers.
        type: int
        default: 5
      changes:
        description: Write the audit line even if the version did not move. Defaults to whether this run changed something.
        type: bool
      detail:
        description: Free text added to the audit line. Never put secrets here.
        type: str
      state_dir:
        description: As O(dockyard.fleet.release#module:state_dir).
        type: path
        default: /var/lib/dockyard/releases
      lock_dir:
        description: As O(dockyard.fleet.release#module:lock_dir).
        type: path
        default: /run/dockyard/locks
      audit_log:
        description: As O(dockyard.fleet.release#module:audit_log).
        type: path
        default: /var/log/dockyard/deploy.log
  lock:
    description:
      - Take the app's deploy lock as M(dockyard.fleet.release) with C(state=locked) does, first
        thing in the run, before the engine is touched; the run fails (C(changed=false),
        RV(lock)=V(held_by_other)) when another deploy holds it. Re-entrant for the same
        O(lock.token). Together with O(record) (same app and token), a deploy to a fresh or
        unchanged host is one module run (lock, converge, ready, record and unlock).
      - Once taken, every result (a failure too) has RV(lock) and RV(release), so a rescue can
        release it (M(dockyard.fleet.release) C(state=unlocked)).
      - In check mode it reports V(would_acquire) (or V(held)) and writes nothing.
    type: dict
    version_added: 0.3.0
    suboptions:
      app:
        description: The app whose deploy lock this is (as O(dockyard.fleet.release#module:app)).
        type: str
        required: true
      token:
        description: The deploy run's token (the lock is re-entrant for it).
        type: str
        required: true
      owner:
        description: Who deploys, written in the lock (shown to a run that finds it held).
        type: str
        default: unknown
      timeout:
        description: Seconds to wait for a lock held by another run (0 fails at once).
        type: int
        default: 0
      stale_after:
        description: A lock older than this many seconds is taken over.
        type: int
        default: 3600
      force:
        description: Break the lock whoever holds it (after a run that died holding it).
        type: bool
        default: false
      state_dir:
        description: As O(dockyard.fleet.release#module:state_dir).
        type: path
        default: /var/lib/dockyard/releases
      lock_dir:
        description: As O(dockyard.fleet.release#module:lock_dir).
        type: path
        default: /run/dockyard/locks
      audit_log:
        description: As O(dockyard.fleet.release#module:audit_log).
        type: path
        default: /var/log/dockyard/deploy.log
  state:
    description:
      - C(started), C(present), C(stopped) as for M(dockyard.fleet.container), for every replica.
      - C(absent) removes every replica of the service (or those in O(only)).
    type: str
    default: started
    choices: [started, present, stopped, absent]
  published_ports:
    description:
      - Extra ports to publish on every replica (the replica's own port comes from O(port_base)
        or O(ports)), like C(docker run -p). Forms C(8080:80), C(127.0.0.1:8080:80),
        C([::1]:8080:80), C(8080:80/udp), C(80) (random host port), C(8000-8001:80-81).
      - Quote the items in YAML (C("8080:80")) because unquoted C(8080:80) is a YAML 1.1 number.
    type: list
    elements: str
author:
  - dockyard.fleet contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Three replicas on host ports 8081-8083
  dockyard.fleet.service:
    name: web
    image: dockyard/demo:v1
    replicas: 3
    port_base: 8081
    wait: healthy
  register: web

- name: Start the replicas this host does not have yet, plan the others
  dockyard.fleet.service:
    name: web
    image: dockyard/demo:v2
    replicas: 3
    port_base: 8081
    converge: missing
  register: web_plan

- name: Replace replica 2 only (rolling update, one at a time)
  dockyard.fleet.service:
    name: web
    image: dockyard/demo:v2
    replicas: 3
    port_base: 8081
    only: [2]
    wait: healthy

- name: Roll replicas 1-3 to v2 behind HAProxy on lb1, one at a time, in one module run
  dockyard.fleet.service:
    name: web
    image: dockyard/demo:v2
    replicas: 3
    port_base: 8081
    wait: healthy
    only: [1, 2, 3]
    roll:
      load_balancers:
        - socket: /run/haproxy/admin.sock   # HAProxy on this same host
          backend: web
      server_prefix: "{{ inventory_hostname }}-"
      rollback_image: dockyard/demo:v1
      rollback_labels: {dockyard.version: v1}
    # once all three are rolled: v2 is the current release, the audit line, the lock released
    record:
      app: web
      token: "{{ deploy_run_token }}"
      version: v2
"""

RETURN = r"""
replicas:
  description: Every converged (or removed) replica, by index.
  returned: always
  type: list
  elements: dict
  contains:
    index: {description: Replica index., type: int}
    name: {description: Container name., type: str}
    host_port: {description: Host port published to container_port (null without port_base/ports)., type: int}
    action: {description: "created, recreated, updated, started, stopped, restarted, unchanged or removed.", type: str}
    image: {description: Image reference., type: str}
    image_id: {description: Image ID., type: str}
    id: {description: "Container ID (null when removed, or not yet created in check mode).", type: str}
    health: {description: Health status or null., type: str}
    pending:
      description: True when O(converge=missing) left this replica as it is; RV(replicas[].action) is then what a full converge would do.
      type: bool
ports:
  description: Replica index (as a string) -> host port, for every replica 1..N.
  returned: always
  type: dict
  sample: {"1": 8081, "2": 8082}
actions:
  description: What was done (or would be done in check mode), as C(<replica>) colon C(<action>), for example C(web-2 - recreated).
  returned: always
  type: list
  elements: str
roll:
  description: With O(roll) - the replicas rolled (RV(roll.done)), seconds per replica, the runtime-API commands sent.
  returned: when O(roll) is set and not in check mode
  type: dict
  contains:
    done: {description: "Replica indexes rolled and back in service, in order.", type: list, elements: int}
    seconds: {description: Replica index -> seconds its cycle took., type: dict}
    commands: {description: "Runtime-API commands sent, as C(<load balancer>: <command>).", type: list, elements: str}
    waited: {description: "With O(roll.gate), seconds the run waited for this host's turn after reading.", type: float}
forwarded:
  description:
    - The controller sockets (O(roll.load_balancers[].controller_socket)) the action plugin
      forwarded to the host for the run, and their paths there (removed when the run ends).
  returned: when a controller socket was forwarded
  type: list
  elements: dict
  contains:
    controller: {description: The socket on the controller., type: str}
    host: {description: Its path on the host during the run., type: str}
ready:
  description: With O(ready), the servers put in service and the runtime-API commands sent (none when they already were).
  returned: when O(ready) is set, not in check mode, and no replica is left pending a change
  type: dict
  contains:
    servers: {description: Server names on the load balancers., type: list, elements: str}
    commands: {description: "Runtime-API commands sent, as C(<load balancer>: <command>).", type: list, elements: str}
lock:
  description: With O(lock), the deploy lock - V(acquired), V(held) (already this token's), V(would_acquire) (check mode) or V(held_by_other) (the run failed).
  returned: when lock is given
  type: str
release:
  description: With O(lock), the app's release record as the lock found it (before this run records).
  returned: when the lock was taken
  type: dict
  contains:
    current: {description: "The current release (version, image, since) or null.", type: dict}
    previous: {description: "Earlier releases, newest first.", type: list, elements: dict}
record:
  description: With O(record), what M(dockyard.fleet.release) returns for C(state=recorded).
  returned: when O(record) is set, the run succeeded and left no replica pending a change
  type: dict
  contains:
    changed: {description: The version moved or an audit line was written (or would be in check mode)., type: bool}
    lock: {description: "C(released) or C(none).", type: str}
    current: {description: The current release after the run., type: dict}
    previous: {description: "Earlier releases, most recent first.", type: list, elements: dict}
    audit_line: {description: "The audit line written, if any.", type: str}
failed_index:
  description: With O(roll), the replica at which the roll stopped.
  returned: failure of a roll
  type: int
failed_step:
  description: "With O(roll), the step that failed: V(drain), V(replace), V(ready) or V(then) (the drain of the next replica)."
  returned: failure of a roll
  type: str
rolled_back:
  description: With O(roll), true when the failed replica runs O(roll.rollback_image) again.
  returned: failure of a roll
  type: bool
not_started:
  description: With O(roll.batch_id), true when this host was not rolled (nothing changed on it) because an earlier host's roll with the same id failed.
  returned: failure of a roll halted by an earlier one
  type: bool
halted_by:
  description: With O(roll.batch_id), the inventory name of the host whose failed roll halted this one.
  returned: failure of a roll halted by an earlier one
  type: str
"""

import copy
import time
import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import (
    DockerClient, DockerError, docker_common_args)
from ansible_collections.dockyard.fleet.plugins.module_utils._container_spec import (
    CONTAINER_ARGS, SpecError, parse_comparisons, parse_spec)
from ansible_collections.dockyard.fleet.plugins.module_utils._container_engine import (
    ContainerEngine, WaitError, apply, decide, describe, resolve_image)
from ansible_collections.dockyard.fleet.plugins.module_utils._compare import diff_view
from ansible_collections.dockyard.fleet.plugins.module_utils._service_plan import (
    SERVICE_LABEL, plan_replicas, replica_action, replica_spec)
from ansible_collections.dockyard.fleet.plugins.module_utils._haproxy import (
    HAProxyError, RuntimeClient, fetch_views)
from ansible_collections.dockyard.fleet.plugins.module_utils._roll import (
    GateError, LoadBalancer, RollFailed, lb_set, remove_forwarded_at_exit, roll, wait_for_turn)
from ansible_collections.dockyard.fleet.plugins.module_utils._release import (
    RELEASE_PATH_ARGS, LockHeld, ReleaseError, ReleaseStore, check_name, record_release,
    take_lock)


def run(module, spec, comparisons):
    p = module.params
    name, state = p["name"], p["state"]
    engine = ContainerEngine(DockerClient(p))
    existing = engine.list_by_label("%s=%s" % (SERVICE_LABEL, name))
    try:
        layout = plan_replicas(name, p["replicas"], existing, state, p["port_base"], p["ports"],
                               p["only"], p["container_port"])
    except SpecError as exc:
        module.fail_json(msg=str(exc))
    image_info, pulled, would_pull = None, False, False
    actions = []
    if state != "absent" and layout["slots"]:
        if "image" not in spec:
            module.fail_json(msg="option image is required for service %s" % name)
        image_info, pulled, would_pull = resolve_image(engine, spec["image"], p["pull"],
                                                       module.check_mode)
        if pulled or would_pull:
            actions.append("pulled image")

    # Decide everything before touching anything.
    decisions = []
    for slot in layout["slots"]:
        current = engine.inspect(slot["existing"]["Id"]) if slot["existing"] else None
        if current is None and state != "absent":
            stray = engine.inspect(slot["name"])
            if stray is not None:
                module.fail_json(msg="container %s exists but is not labelled %s=%s; remove or "
                                     "rename it (option name)" % (slot["name"], SERVICE_LABEL, name))
        rspec = replica_spec(spec, name, slot["index"], slot["host_port"], p["container_port"])
        # engine.image() caches by reference: replicas on one image cost one inspect
        current_image = engine.image(current["Image"]) if current and state != "absent" else None
        d = decide(slot["name"], rspec, state, current, image_info, comparisons,
                   p["recreate"], p["restart"], current_image)
        decisions.append((slot, rspec, d))
    removals = [{"index": None, "name": (e.get("Names") or ["?"])[0].lstrip("/"), "entry": e}
                for e in layout["remove"]]
    # converge=missing: existing replicas and removals are only planned
    only_missing = p["converge"] == "missing"
    pending = {slot["name"] for slot, _r, _d in decisions if only_missing and slot["existing"]}
    if only_missing:
        pending.update(r["name"] for r in removals)

    before, after = {}, {}
    replicas_out = []
    for slot, rspec, d in decisions:
        for word in describe(d):
            actions.append("%s: %s%s" % (slot["name"], word,
                                         " (pending, converge=missing)" if slot["name"] in pending else ""))
        if slot["name"] in pending:
            continue
        b, a = diff_view(d["diffs"], shown_env=p["env"] or {})
        if d["steps"]:
            cur = (d["current"].get("State") or {}).get("Status") if d["current"] else "absent"
            b.setdefault("state", cur)
            a.setdefault("state", "absent" if state == "absent" else
                         ("running" if state == "started" else ("exited" if state == "stopped"
                                                                else cur if cur != "absent" else "created")))
        if b or a:
            before[slot["name"]], after[slot["name"]] = b, a
    for r in removals:
        if r["name"] in pending:
            actions.append("%s: removed (pending, converge=missing)" % r["name"])
            continue
        actions.append("%s: removed" % r["name"])
        before[r["name"]], after[r["name"]] = {"state": r["entry"].get("State")}, {"state": "absent"}
    changed = pulled or would_pull or bool([r for r in removals if r["name"] not in pending]) or any(
        d["steps"] for s_, _r, d in decisions if s_["name"] not in pending)
    # converge=missing: what is left for later runs (O(ready) and O(record) wait for none)
    open_changes = [s_["name"] for s_, _r, d in decisions if s_["name"] in pending and d["steps"]] \
        + [r["name"] for r in removals if r["name"] in pending]
    ready_names, lbs = [], []
    if p["ready"] and not open_changes and not module.check_mode:
        # the load balancers answer and know every replica, before anything changes
        ready_names = [p["ready"]["server_prefix"] + str(slot["index"]) for slot, _r, _d in decisions]
        lbs = connect_lbs(module, "ready", ready_names)

    ids = {}
    if not module.check_mode:
        for r in removals:
            if r["name"] not in pending:
                engine.remove(r["entry"]["Id"])
        for slot, rspec, d in decisions:
            if slot["name"] in pending:
                ids[slot["name"]] = slot["existing"]["Id"]
                continue
            ids[slot["name"]] = apply(engine, d, rspec, spec.get("image"))
        if state == "started" and p["wait"] != "none":
            touched = {n: cid for n, cid in ids.items() if cid and n not in pending}
            engine.wait(touched, p["wait"], p["wait_timeout"])

    for slot, rspec, d in decisions:
        info = d["current"]
        if not module.check_mode and slot["name"] not in pending:
            cid = ids.get(slot["name"])
            info = engine.inspect(cid) if cid else None
        st = (info or {}).get("State") or {}
        predicted_image = None
        if module.check_mode and "create" in d["steps"]:
            predicted_image = (image_info or {}).get("Id") or "unknown (image not on host)"
        replicas_out.append({
            "index": slot["index"], "name": slot["name"], "host_port": slot["host_port"],
            "action": replica_action(d["steps"]),
            "image": spec.get("image") or ((info or {}).get("Config") or {}).get("Image"),
            "image_id": predicted_image if predicted_image else (info or {}).get("Image"),
            "id": None if predicted_image else (info or {}).get("Id"),
            "health": (st.get("Health") or {}).get("Status"),
            "pending": slot["name"] in pending,
        })
    for r in removals:
        labels = r["entry"].get("Labels") or {}
        try:
            index = int(labels.get("dockyard.replica", ""))
        except ValueError:
            index = None
        replicas_out.append({"index": index, "name": r["name"], "host_port": None,
                             "action": "removed", "image": r["entry"].get("Image"),
                             "image_id": r["entry"].get("ImageID"), "health": None,
                             "id": r["entry"].get("Id") if r["name"] in pending else None,
                             "pending": r["name"] in pending})
    result = dict(replicas=replicas_out, ports=layout["ports"], actions=actions,
                  diff={"before": before, "after": after})
    if lbs:
        log = []
        late = lb_set(lbs, ready_names, "ready", p["ready"]["timeout"], p["ready"]["interval"], log,
                      option="ready.timeout")
        result["ready"] = {"servers": ready_names, "commands": log}
        if late:
            module.fail_json(msg="the replicas run, but are not UP on every load balancer: %s"
                                 % "; ".join(late), changed=changed or bool(log), **result)
        changed = changed or bool(log)
    exit_recorded(module, changed, settled=not open_changes, **result)


def exit_recorded(module, changed, settled=True, **result):
    """Exit with the run's result; with O(record), the release recorded first (only here: every
    change of the run is done), unless replicas are left pending a change (settled false). A
    record that fails fails the run, naming what did change."""
    rec = module.params["record"]
    if rec and settled:
        try:
            store = ReleaseStore(rec["state_dir"], rec["app"], rec["audit_log"],
                                 lock_dir=rec["lock_dir"])
            out = record_release(
                store, rec["token"], rec["owner"], rec["version"],
                rec["image"] or module.params["image"], rec["keep"],
                changed if rec["changes"] is None else rec["changes"], None, rec["detail"],
                False, module.check_mode)
        except (ReleaseError, OSError) as exc:
            module.fail_json(msg="the replicas converged, but recording the release failed "
                                 "(option record): %s" % exc, changed=changed, **result)
        result["record"] = out
        changed = changed or out["changed"]
    module.exit_json(changed=changed, **result)


def replica_out(slot, info, action):
    st = (info or {}).get("State") or {}
    return {"index": slot["index"], "name": slot["name"], "host_port": slot["host_port"],
            "action": action, "image": ((info or {}).get("Config") or {}).get("Image"),
            "image_id": (info or {}).get("Image"), "id": (info or {}).get("Id"),
            "health": (st.get("Health") or {}).get("Status"), "pending": False}


def run_roll(module, spec, comparisons):
    """O(roll): the replicas in O(only), one at a time behind the load balancers (_roll.roll)."""
    p, r = module.params, module.params["roll"]
    name = p["name"]
    indexes = p["only"] or list(range(1, p["replicas"] + 1))
    engine = ContainerEngine(DockerClient(p))
    existing = engine.list_by_label("%s=%s" % (SERVICE_LABEL, name))
    layout = plan_replicas(name, p["replicas"], existing, "started", p["port_base"], p["ports"],
                           indexes, p["container_port"])
    slots = {s["index"]: s for s in layout["slots"]}
    for slot in slots.values():
        if not slot["existing"] and engine.inspect(slot["name"]) is not None:
            module.fail_json(msg="container %s exists but is not labelled %s=%s; remove or rename it "
                                 "(option name)" % (slot["name"], SERVICE_LABEL, name))
    lbs = connect_lbs(module, "roll", [r["server_prefix"] + str(i) for i in indexes])
    image_info, pulled, _would = resolve_image(engine, spec["image"], p["pull"], False)
    decisions, before, after = {}, {}, {}

    def converge(i, rspec, info, restart):
        slot = slots[i]
        current = engine.inspect(slot["name"])
        current_image = engine.image(current["Image"]) if current else None
        d = decide(slot["name"], rspec, "started", current, info, comparisons,
                   p["recreate"], restart, current_image)
        cid = apply(engine, d, rspec, rspec["image"])
        if p["wait"] != "none":  # polled as often as the load balancers (roll.interval)
            engine.wait({slot["name"]: cid}, p["wait"], p["wait_timeout"],
                        poll=min(0.25, r["interval"]))
        return d

    def replace(i):
        slot = slots[i]
        d = converge(i, replica_spec(spec, name, i, slot["host_port"], p["container_port"]),
                     image_info, p["restart"])
        decisions[i] = d
        b, a = diff_view(d["diffs"], shown_env=p["env"] or {})
        if d["steps"]:
            b.setdefault("state", ((d["current"] or {}).get("State") or {}).get("Status", "absent"))
            a.setdefault("state", "running")
        if b or a:
            before[slot["name"]], after[slot["name"]] = b, a

    rollback = None
    if r.get("rollback_image"):
        rb_spec = dict(spec, image=r["rollback_image"])
        rb_spec["labels"] = dict(spec.get("labels") or {}, **{
            str(k): str(v) for k, v in (r.get("rollback_labels") or {}).items()})

        def rollback(i):
            info, _p, _w = resolve_image(engine, rb_spec["image"],
                                         "missing" if p["pull"] == "always" else p["pull"], False)
            slot = slots[i]
            converge(i, replica_spec(rb_spec, name, i, slot["host_port"], p["container_port"]),
                     info, False)

    def outcome(extra=None):
        replicas = []
        for i in indexes:
            d = decisions.get(i)
            replicas.append(replica_out(slots[i], engine.inspect(slots[i]["name"]),
                                        replica_action(d["steps"]) if d else "unchanged"))
        res = dict(replicas=replicas, ports=layout["ports"], diff={"before": before, "after": after},
                   actions=["%s: %s" % (slots[i]["name"], w) for i in indexes if i in decisions
                            for w in describe(decisions[i])])
        res.update(extra or {})
        return res

    # Only the replicas that change go through the cycle: a second run with the same options
    # drains nothing and reports no change.
    todo = []
    for i in indexes:
        current = engine.inspect(slots[i]["name"])
        d = decide(slots[i]["name"], replica_spec(spec, name, i, slots[i]["host_port"],
                                                  p["container_port"]),
                   "started", current, image_info, comparisons, p["recreate"], p["restart"],
                   engine.image(current["Image"]) if current else None)
        if d["steps"]:
            todo.append(i)
    waited = None
    if r.get("gate"):  # everything above only read: now wait for this host's turn
        t0 = time.monotonic()
        try:
            halted_by = wait_for_turn(r["gate"])
            waited = round(time.monotonic() - t0, 3)
        except GateError as exc:
            module.fail_json(msg=str(exc), changed=pulled)
        if halted_by is not None:
            module.fail_json(
                msg="not rolled: the roll on %s failed before this host's turn (same "
                    "roll.batch_id); nothing was changed on this host%s"
                    % (halted_by, " but the image pulled" if pulled else ""),
                changed=pulled, not_started=True, halted_by=halted_by)
    try:
        result = roll(todo, lambda i: r["server_prefix"] + str(i), replace, rollback, lbs,
                      r["drain_timeout"], r["ready_timeout"], r["interval"], image=spec["image"],
                      previous_image=r.get("rollback_image"))
    except RollFailed as exc:
        res = exc.result
        module.fail_json(msg=str(exc), changed=True, **outcome({
            "failed_index": res["failed_index"], "failed_step": res["failed_step"],
            "rolled_back": res["rolled_back"],
            "roll": {"done": res["done"], "seconds": res["seconds"], "commands": res["log"]}}))
    changed = pulled or bool(result["log"]) or any(d["steps"] for d in decisions.values())
    done = {"done": result["done"], "seconds": result["seconds"], "commands": result["log"]}
    if waited is not None:
        done["waited"] = waited
    exit_recorded(module, changed, **outcome({"roll": done}))


def connect_lbs(module, opt, names):
    """The load balancers of option opt (roll or ready), each checked before anything changes:
    its runtime API answers and has every server in names. Fails the module naming the option."""
    lbs = []
    for n, lb in enumerate(module.params[opt]["load_balancers"], 1):
        label = lb.get("name") or lb["socket"]
        lbs.append(LoadBalancer(label, RuntimeClient(lb["socket"]), lb["backend"]))
        try:
            if not lbs[-1].client.command("show info").strip():
                # a forwarded socket connects, then closes when the far end cannot open it
                raise HAProxyError(
                    "the runtime API %s answered nothing: is HAProxy running there, and may the "
                    "SSH user of the load balancer open its socket (root, or the socket's group; "
                    "else set deploy_roll_mode per_step)? (option socket)" % lb["socket"])
            fetch_views(lbs[-1].client, lb["backend"], names)
        except HAProxyError as exc:
            module.fail_json(msg="%s.load_balancers[%d] (%s): %s" % (
                opt, n, label, str(exc).replace("(option server)", "(option %s.server_prefix)" % opt)
                .replace("(option socket)", "(option %s.load_balancers[%d].socket)" % (opt, n))
                .replace("(option backend)", "(option %s.load_balancers[%d].backend)" % (opt, n))))
    return lbs


def check_lbs(opt, lbs):
    """Why the load balancers of option opt (roll, ready) cannot be used, or None."""
    if not lbs:
        return "option %s.load_balancers lists no load balancer" % opt
    for n, lb in enumerate(lbs, 1):
        if lb.get("controller_socket"):
            return ("option %s.load_balancers[%d].controller_socket is forwarded by the action "
                    "plugin of dockyard.fleet.service, which did not run (use the module by its "
                    "full name)" % (opt, n))
    return None


def check_roll(p):
    """Why O(roll) cannot be used with the other options, or None."""
    r = p["roll"]
    if not r:
        return None
    if p["state"] != "started" or p["converge"] != "all":
        return "option roll needs state=started and converge=all"
    lb_error = check_lbs("roll", r["load_balancers"])
    if lb_error:
        return lb_error
    for opt in ("drain_timeout", "ready_timeout", "interval"):
        if r[opt] <= 0:
            return "option roll.%s must be > 0, not %s" % (opt, r[opt])
    if p["only"] and len(set(p["only"])) != len(p["only"]):
        return "option only lists a replica twice"
    return None


def check_ready(p):
    """Why O(ready) cannot be used with the other options, or None."""
    r = p["ready"]
    if not r:
        return None
    if p["roll"]:
        return "options ready and roll are mutually exclusive (a roll ends every replica UP)"
    if p["state"] != "started":
        return "option ready needs state=started"
    lb_error = check_lbs("ready", r["load_balancers"])
    if lb_error:
        return lb_error
    for opt in ("timeout", "interval"):
        if r[opt] <= 0:
            return "option ready.%s must be > 0, not %s" % (opt, r[opt])
    return None


def check_record(p):
    """Why O(record) cannot be used with the other options, or None."""
    rec = p["record"]
    if not rec:
        return None
    if p["state"] not in ("started", "present"):
        return "option record needs state started or present (a release is recorded once " \
               "every replica runs it)"
    for opt in ("app", "token", "version"):
        if not rec[opt]:
            return "option record.%s is required (and must not be empty)" % opt
    if not (rec["image"] or p["image"]):
        return "option record.image is required when option image is not given"
    if rec["keep"] < 1:
        return "option record.keep must be at least 1, got %d" % rec["keep"]
    try:
        check_name(rec["app"], "record.app")
    except ReleaseError as exc:
        return str(exc)
    return None


def check_lock(p):
    """Why O(lock) cannot be used with the other options, or None."""
    lk = p["lock"]
    if not lk:
        return None
    for opt in ("app", "token"):
        if not lk[opt]:
            return "option lock.%s is required (and must not be empty)" % opt
    if lk["timeout"] < 0:
        return "option lock.timeout must be >= 0, got %d" % lk["timeout"]
    if lk["stale_after"] < 1:
        return "option lock.stale_after must be at least 1, got %d" % lk["stale_after"]
    try:
        check_name(lk["app"], "lock.app")
    except ReleaseError as exc:
        return str(exc)
    rec = p["record"]
    if rec and (rec["app"], rec["token"], rec["lock_dir"]) != (lk["app"], lk["token"], lk["lock_dir"]):
        return "option record must name the lock's app, token and lock_dir (option lock): " \
               "the record releases the lock this run took"
    return None


def take_deploy_lock(module):
    """O(lock): take the deploy lock before anything else; from then on every result of the
    run (failures too) says so (RV(lock), RV(release)), so that a rescue can release it."""
    lk = module.params["lock"]
    if not lk:
        return
    try:
        store = ReleaseStore(lk["state_dir"], lk["app"], lk["audit_log"], lock_dir=lk["lock_dir"])
        record = store.read()
        status = take_lock(store, lk["token"], lk["owner"], lk["timeout"], lk["stale_after"],
                           lk["force"], module.check_mode, options=("lock.timeout", "lock.stale_after"))
    except LockHeld as exc:
        module.fail_json(msg="option lock: %s" % exc, changed=False, lock="held_by_other")
    except (ReleaseError, OSError) as exc:
        module.fail_json(msg="option lock: %s" % exc, changed=False)
    extra = dict(lock=status, release={"current": record["current"], "previous": record["previous"]})
    for name in ("exit_json", "fail_json"):
        done = getattr(module, name)
        setattr(module, name, lambda done=done, **kw: done(**dict(extra, **kw)))


def lb_list_spec():
    """Argument spec of roll.load_balancers and ready.load_balancers."""
    return dict(type="list", elements="dict", required=True, options=dict(
        socket=dict(type="str"),
        controller_socket=dict(type="str"),
        backend=dict(type="str", required=True),
        name=dict(type="str"),
        forwarded=dict(type="bool", default=False),
    ), required_one_of=[["socket", "controller_socket"]],
        mutually_exclusive=[["socket", "controller_socket"]])


def main():
    shared = copy.deepcopy(CONTAINER_ARGS)
    shared["published_ports"].pop("aliases", None)  # `ports` is the replicas' host ports here
    argument_spec = docker_common_args(
        name=dict(type="str", required=True),
        state=dict(type="str", default="started", choices=["started", "present", "stopped", "absent"]),
        replicas=dict(type="int", default=1),
        port_base=dict(type="int"),
        ports=dict(type="list", elements="int"),
        container_port=dict(type="int", default=80),
        only=dict(type="list", elements="int"),
        converge=dict(type="str", default="all", choices=["all", "missing"]),
        roll=dict(type="dict", options=dict(
            load_balancers=lb_list_spec(),
            server_prefix=dict(type="str", required=True),
            drain_timeout=dict(type="float", default=60),
            ready_timeout=dict(type="float", default=60),
            interval=dict(type="float", default=0.25),
            rollback_image=dict(type="str"),
            rollback_labels=dict(type="dict"),
            batch_id=dict(type="str"),  # used by the action plugin only
            batch_hosts=dict(type="list", elements="str"),  # used by the action plugin only
            gate=dict(type="str"),  # set by the action plugin
        )),
        ready=dict(type="dict", options=dict(
            load_balancers=lb_list_spec(),
            server_prefix=dict(type="str", required=True),
            timeout=dict(type="float", default=60),
            interval=dict(type="float", default=0.25),
        )),
        record=dict(type="dict", options=dict(
            app=dict(type="str", required=True),
            token=dict(type="str", required=True, no_log=False),
            owner=dict(type="str", default="unknown"),
            version=dict(type="str", required=True),
            image=dict(type="str"),
            keep=dict(type="int", default=5),
            changes=dict(type="bool"),
            detail=dict(type="str"),
            **RELEASE_PATH_ARGS,
        )),
        lock=dict(type="dict", options=dict(
            app=dict(type="str", required=True),
            token=dict(type="str", required=True, no_log=False),
            owner=dict(type="str", default="unknown"),
            timeout=dict(type="int", default=0),
            stale_after=dict(type="int", default=3600),
            force=dict(type="bool", default=False),
            **RELEASE_PATH_ARGS,
        )),
        **shared)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=[["port_base", "ports"]])
    if module.params["converge"] == "missing" and module.params["state"] not in ("started", "present"):
        module.fail_json(msg="option converge=missing needs state started or present, not %s"
                         % module.params["state"])
    try:
        spec = parse_spec(module.params)
        comparisons = parse_comparisons(module.params["comparisons"])
        # all input checks before the engine is touched
        plan_replicas(module.params["name"], module.params["replicas"], [], module.params["state"],
                      module.params["port_base"], module.params["ports"], module.params["only"],
                      module.params["container_port"])
    except SpecError as exc:
        module.fail_json(msg=str(exc))
    remove_forwarded_at_exit(module)
    roll_error = check_roll(module.params) or check_ready(module.params) or \
        check_record(module.params) or check_lock(module.params)
    if roll_error:
        module.fail_json(msg=roll_error)
    take_deploy_lock(module)
    try:
        if module.params["roll"] and not module.check_mode:
            run_roll(module, spec, comparisons)
        run(module, spec, comparisons)
    except (DockerError, WaitError) as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc())


if __name__ == "__main__":
    main()
