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
    policy, memory, CPU and process limit changes are applied in place.
  - Scaling down removes the replicas above O(replicas) (found by label), each after its own stop
    signal and stop timeout. One listing call finds the existing replicas; the image is inspected
    once; O(wait) waits for all touched replicas together.
  - What could only fail halfway is refused before any change, in check mode too - O(wait=healthy)
    for replicas that would have no health check, a fixed host port in O(published_ports) for more
    than one replica, a container that holds a replica's name but is not that replica. A network
    of O(networks) that does not exist fails the run, naming it, before any change (check mode
    warns, an earlier task may make it).
  - A run that fails after it changed replicas (one not healthy after its recreate, an engine
    refusal of one replica while others were made) reports C(changed=true), with RV(replicas),
    RV(actions) and the diff of what it did.
  - Under O(state=started) a replica paused by hand (C(docker pause)) is unpaused (action
    C(unpaused)).
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
  execution:
    description:
      - Where the run happens. V(controller) runs it on the controller (the action plugin)
        against the host's engine socket, forwarded over the task's SSH ControlMaster
        (C(ssh -O forward)), with the same options, checks, check mode, diff and result, and
        no module run on the host (no Python started there, no module payload sent). V(host)
        runs the module on the host.
      - V(auto) (the default) is V(controller) where it can be, else V(host), and says why in
        RV(execution_reason). A run on the controller needs the ssh connection plugin with
        ControlPersist, O(docker_host) a unix socket (the default) without TLS, no C(DOCKER_*)
        variable in the task's C(environment), no C(async), no C(become) to a non-root user,
        neither O(roll) nor O(env_file) (they use files and sockets on the host), O(ready)
        only with every load balancer given as C(controller_socket) (reached directly on the
        controller), O(lock) and O(record) only without C(become) (each is then one short
        command on the host over the connection, its Python running the release code on the
        host's files), and no pull (a pull, or with O(pull=always) a registry question,
        uses the registry credentials of the host's user, so a run on the controller that gets
        there stops before any change and the module on the host does the run). V(controller) fails, naming this option, where V(auto) would go to the host.
    type: str
    default: auto
    choices: [auto, controller, host]
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
      - An empty list converges no replica and removes none (the run only reads). Without O(only),
        every replica is converged.
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
        with a passing check (with O(wait) other than V(healthy), a check of the new container;
        its health is set down first, as M(dockyard.fleet.haproxy_server)'s O(dockyard.fleet.haproxy_server#module:recheck)
        does, since HAProxy's UP may be left from checks of the replica it replaced). The run
        that puts replica i back in service drains the next one.
      - A roll scales nothing - replicas above O(replicas) are left as they are (a warning names
        them); a run without O(roll) removes them.
      - If a replica fails (not healthy, not UP in time), the previous release goes back on it
        (with O(roll.rollback_image) given), it is put back in service and the module fails
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
        description:
          - Turns the rollback on. Image of the previous release, put back on a replica that fails. Without it a failed replica
            stays out of service.
          - A replica the roll recreates keeps the container it replaced, stopped and set aside (V(<replica>-dyold-<id>)), until
            it is UP on every load balancer, then that container is removed. A replica that fails gets that very container back
            (its image and configuration as before the run, even when the release changed both); its new container is removed
            with its anonymous volumes.
          - Only a replica where nothing was kept (restarted or updated in place, or new) is converged to this image, with the
            run's other options and O(roll.rollback_labels).
          - With O(healthcheck) timings but no O(healthcheck.test), an image here that is on the host without a C(HEALTHCHECK)
            fails the task naming O(healthcheck.test) before any replica changes (a replica put back on it could not be
            awaited healthy).
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
      keep_images:
        description:
          - Just before recording, keep only this many images of the repository of
            O(record.image), counting that one, as O(dockyard.fleet.image#module:keep) does
            (newest first by creation time; images any container uses always stay and do not
            count). Tags of the others are removed and returned in RV(record.images_removed).
          - Done here rather than when the image is put on the host so that it happens under
            the deploy lock (O(lock), or a lock this run's O(record.token) holds), so a deploy
            that waits for the lock cannot remove an image another deploy's rollback needs.
          - A failure to remove is a warning; the release is recorded all the same.
        type: int
        version_added: 0.3.0
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
        description: Seconds to wait for a lock held by another run (0 fails at once). At most a year.
        type: int
        default: 0
      stale_after:
        description: A lock older than this many seconds is taken over. At least C(1), at most a year.
        type: int
        default: 3600
      force:
        description:
          - Break the lock whoever holds it (after a run that died holding it).
          - In check mode the lock then counts as taken (RV(lock) is C(would_acquire)), as the real run takes it.
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
      - C(started) also unpauses a replica paused by hand.
    type: str
    default: started
    choices: [started, present, stopped, absent]
  published_ports:
    description:
      - Extra ports to publish on every replica (the replica's own port comes from O(port_base)
        or O(ports)), like C(docker run -p). Forms C(8080:80), C(127.0.0.1:8080:80),
        C([::1]:8080:80), C(8080:80/udp), C(80) (random host port), C(8000-8001:80-81).
      - Quote the items in YAML (C("8080:80")) because unquoted C(8080:80) is a YAML 1.1 number.
      - A fixed host port can be bound by one replica only - with O(replicas) above 1 it is refused
        before any change, naming this option (leave the host port out for a random one per
        replica, or use O(port_base) or O(ports)); so is a host range with fewer ports than
        replicas (the engine picks a free port of the range for each replica), and a host port
        that is a replica's own (O(port_base), O(ports)).
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
  description:
    - Every converged (or removed) replica, by index.
    - When the run fails after it changed replicas, what it did - RV(replicas[].action) V(failed)
      for the replica whose change failed, V(unchanged) for those it did not reach.
  returned: always
  type: list
  elements: dict
  contains:
    index: {description: Replica index., type: int}
    name: {description: Container name., type: str}
    host_port: {description: Host port published to container_port (null without port_base/ports)., type: int}
    action:
      description: "created, recreated, updated, started, stopped, restarted, unpaused, unchanged or removed (failed in the result of a failed run)."
      type: str
    image: {description: Image reference., type: str}
    image_id: {description: Image ID., type: str}
    id: {description: "Container ID (null when removed, or not yet created in check mode).", type: str}
    health: {description: Health status or null., type: str}
    probed:
      description: True when O(wait=healthy) took the first passing probe of O(healthcheck.start_interval) for healthy (the engine may still say C(starting)).
      type: bool
    pending:
      description: True when O(converge=missing) left this replica as it is; RV(replicas[].action) is then what a full converge would do.
      type: bool
ports:
  description: Replica index (as a string) -> host port, for every replica 1..N; empty with O(state=absent).
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
execution:
  description: Where the run happened, V(controller) or V(host) (see O(execution)).
  returned: when the run started
  type: str
  sample: controller
execution_reason:
  description: With O(execution=auto), why the run went to the host.
  returned: when O(execution=auto) ran the module on the host
  type: str
  sample: "option roll needs the host (files or sockets there)"
invocations:
  description: Module runs on the host for this task, 0 (on the controller, or halted before its turn) or 1.
  returned: always
  type: int
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
    images_removed: {description: "With O(record.keep_images), the tags removed (or that would be, in check mode).", type: list, elements: str}
failed_index:
  description: With O(roll), the replica at which the roll stopped.
  returned: failure of a roll
  type: int
failed_step:
  description: "With O(roll), the step that failed: V(drain), V(replace), V(ready) or V(then) (the drain of the next replica)."
  returned: failure of a roll
  type: str
rolled_back:
  description: With O(roll), true when the failed replica runs the previous release again (the container it ran before the run, or O(roll.rollback_image)).
  returned: failure of a roll
  type: bool
not_started:
  description:
    - With O(roll.batch_id), true when this host was not rolled (nothing changed on it) because an earlier host's roll with the same id failed.
    - When the run waited for its turn on the host (O(roll.gate)), RV(replicas) says what the replicas run, as read before the
      turn; no RV(roll), as none was rolled.
  returned: failure of a roll halted by an earlier one
  type: bool
halted_by:
  description: With O(roll.batch_id), the inventory name of the host whose failed roll halted this one.
  returned: failure of a roll halted by an earlier one
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockyard.fleet.plugins.module_utils._service import (
    MUTUALLY_EXCLUSIVE, service_argument_spec, service_main)


def main():
    module = AnsibleModule(argument_spec=service_argument_spec(), supports_check_mode=True,
                           mutually_exclusive=MUTUALLY_EXCLUSIVE)
    service_main(module)


if __name__ == "__main__":
    main()
