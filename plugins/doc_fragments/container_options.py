# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment:
    # Container options shared by dockyard.fleet.container and dockyard.fleet.service
    # (their argument spec is shared too: CONTAINER_ARGS in module_utils/_container_spec.py).
    DOCUMENTATION = r"""
options:
  image:
    description:
      - Image reference (C(repo:tag)) or image ID. Required to create a container.
      - Compared by image ID resolved on the host.
    type: str
  pull:
    description:
      - C(missing) pulls only when the image is not on the host; C(always) pulls every run
        (changed only if the image ID moved); C(never) fails (naming O(image)) when the image is
        not on the host.
      - In check mode nothing is pulled; a missing image predicts a change. With C(always) and
        an image that is present, the registry is asked for the tag's digest (no pull); a
        change is predicted when it is not the one the host pulled.
    type: str
    default: missing
    choices: [missing, always, never]
  command:
    description:
      - Command (list, or a string split like a shell would). C([]) or an empty string means the
        image's default and is not compared. The elements of a list are strings (numbers are
        turned into strings); a nested list or a dict is refused.
    type: raw
  entrypoint:
    description: Entrypoint (list or string), as O(command).
    type: raw
  env:
    description:
      - Environment variables; values are turned into strings (C(true) becomes C("true")).
      - Variables the image sets are not drift. Use C(no_log) on the task for secrets.
    type: dict
  env_file:
    description:
      - File of C(KEY=VALUE) lines on the host that runs the module; O(env) wins over it.
      - Its values are treated as secrets. In the diff, the values of variables that O(env) does
        not set (from this file, or on the container but no longer wanted) show as C(********).
    type: path
  labels:
    description: Labels. Labels inherited from the image are not drift. An empty name is refused.
    type: dict
  volumes:
    description:
      - Bind mounts C(/src:/dst[:ro]), named volumes C(name:/dst[:ro]) or anonymous C(/dst).
      - The modes are a comma list with at most one of each group the engine takes -
        C(ro)/C(rw), C(z)/C(Z), one propagation (C(shared), C(rshared), C(slave), C(rslave),
        C(private), C(rprivate)), one of C(consistent), C(cached), C(delegated) - and
        C(nocopy) (named volumes only).
    type: list
    elements: str
  mounts:
    description: Mounts.
    type: list
    elements: dict
    suboptions:
      type:
        description: Mount type.
        type: str
        default: volume
        choices: [bind, volume, tmpfs]
      source:
        description:
          - Host path (bind, absolute) or volume name (volume, C([a-zA-Z0-9][a-zA-Z0-9_.-]*));
            left out for a volume, an anonymous one.
        type: str
      target:
        description: Path in the container.
        type: str
        required: true
      read_only:
        description: Mount read-only.
        type: bool
        default: false
  networks:
    description:
      - Networks to connect. Without O(network_mode), the container is attached to these only
        (the first one becomes its network mode).
      - Compared with C(allow_more_present) by default.
      - A difference is applied to the running container (connect, reconnect with other aliases
        or address, disconnect under C(strict)), without recreating it.
      - C(strict) compares each network's aliases and fixed address exactly (the alias the
        engine gives the container itself, its short ID, does not count) and disconnects the
        networks not listed, except the network of O(network_mode) (the task's, else the
        container's), its primary network.
      - The networks to connect must exist - checked before any change (in check mode a
        missing one is only warned about, an earlier task may create it).
    type: list
    elements: dict
    suboptions:
      name:
        description: Network name.
        type: str
        required: true
      aliases:
        description: Aliases on this network.
        type: list
        elements: str
      ipv4_address:
        description: Fixed IPv4 address.
        type: str
  network_mode:
    description: Network mode (C(bridge), C(host), C(none), C(container:NAME), a network name). C(default) equals C(bridge).
    type: str
  restart_policy:
    description: Restart policy. Changed in place (a container made with C(auto_remove) is recreated instead).
    type: str
    choices: ["no", on-failure, always, unless-stopped]
  restart_retries:
    description:
      - Maximum retries for C(on-failure); with any other O(restart_policy) only C(0).
      - Given alone (more than C(0)), it implies O(restart_policy=on-failure), the only policy
        with retries - on a new container and in the comparison and the update in place of an
        existing one.
    type: int
  healthcheck:
    description:
      - Healthcheck. The image fills in the fields you leave out (the engine does so for a new
        container); compared C(strict) (the default), a field that the container has from an
        earlier task but this task leaves out differs from the image's value (or from none)
        and recreates the container.
      - C(0) for O(healthcheck.retries) or a duration is the same as leaving it out (the engine
        reads C(0) as not set).
      - O(healthcheck.disable=true) or O(healthcheck.test=[NONE]) disables the image's healthcheck.
      - Timings without O(healthcheck.test) keep the image's test (its C(HEALTHCHECK)) and change
        only how often and how long it runs (for example O(healthcheck.start_interval) alone).
        On an image without a C(HEALTHCHECK) (or with C(HEALTHCHECK NONE)) they would apply to
        no check, so the task fails naming O(healthcheck.test) before any container is
        changed (and reports C(changed) when it pulled the image first).
        Nothing set at all is the same as leaving the option out.
    type: dict
    suboptions:
      test:
        description:
          - A string (run by the shell) or a list (C(CMD) is implied unless it starts with C(CMD), C(CMD-SHELL) or C(NONE)).
          - C(CMD) or C(CMD-SHELL) without a command after it (or a blank one) is refused (the
            engine takes it and its first check crashes the engine).
          - Left out, the image's test.
        type: raw
      interval:
        description: Duration such as C(30s), C(1m30s), C(500ms) or a number of seconds.
        type: str
      timeout:
        description: Duration.
        type: str
      retries:
        description: Consecutive failures before unhealthy.
        type: int
      start_period:
        description: Duration.
        type: str
      start_interval:
        description:
          - Duration between checks during the start period (Docker 25, API 1.44).
          - An older engine keeps no start interval and runs its first check a whole
            O(healthcheck.interval) after the start. There, O(wait=healthy) runs the check's
            test itself (C(docker exec), as the engine does) every O(healthcheck.start_interval)
            while the engine says C(starting), and the first pass counts as healthy (the engine's
            rule for a first passing check); failed probes count for nothing, the engine's own
            checks still decide C(unhealthy). The result marks such replicas C(probed).
          - Compared only where the engine reports a start interval (API 1.44 and newer).
        type: str
      disable:
        description: Disable any healthcheck.
        type: bool
        default: false
  user:
    description: User (C(name), C(uid), C(uid:gid)).
    type: str
  working_dir:
    description: Working directory, an absolute path; compared as the engine keeps it (C(/tmp/) is C(/tmp)).
    type: str
  hostname:
    description: Container hostname.
    type: str
  memory:
    description:
      - Memory limit such as C(512m), C(1g) (binary units) or a number of bytes, C(0) for none.
      - Changed in place; going back to no limit (C(0)) recreates the container (the engine's
        update API cannot lift a memory limit).
    type: str
  memory_swap:
    description:
      - Memory plus swap (C(docker run --memory-swap)), in the units of O(memory), at least
        O(memory) (equal, no swap), or C(-1) for unlimited swap. Needs O(memory). Left out, the
        engine gives twice O(memory).
      - Changed in place, together with O(memory).
    type: str
  memory_reservation:
    description:
      - Soft memory limit (what the kernel reclaims down to under memory pressure), in the
        units of O(memory), C(0) for none. Must not exceed O(memory).
      - Changed in place; going back to C(0) recreates the container.
    type: str
  cpus:
    description: CPU limit as a number of CPUs, for example C(1.5), C(0) for none. Changed in place.
    type: float
  cpu_shares:
    description:
      - Relative CPU weight against the host's other containers (the engine's default is
        1024), C(2) to C(262144); C(0) for the default.
      - Changed in place; going back to C(0) recreates the container.
    type: int
  cpuset_cpus:
    description:
      - The CPUs the container may run on, such as C(0-2) or C(0,3); compared as a set of
        CPUs (C(1,0) equals C(0-1)). An empty string for every CPU.
      - Changed in place; going back to every CPU recreates the container. CPUs the host does
        not have are refused by the engine.
    type: str
  log_driver:
    description: Logging driver.
    type: str
  log_options:
    description: Logging driver options.
    type: dict
  stop_signal:
    description: Signal to stop the container.
    type: str
  stop_timeout:
    description: Seconds to wait for a stop before killing (not negative).
    type: int
  init:
    description: Run an init process in the container.
    type: bool
  read_only:
    description: Read-only root filesystem.
    type: bool
  cap_add:
    description: Capabilities to add, such as C(NET_ADMIN) or C(CAP_NET_ADMIN) (any case), or C(ALL).
    type: list
    elements: str
  cap_drop:
    description: Capabilities to drop.
    type: list
    elements: str
  tmpfs:
    description: tmpfs mounts C(/path[:options]).
    type: list
    elements: str
  privileged:
    description: Give the container extended privileges (all capabilities, the host's devices).
    type: bool
  security_opts:
    description: Security options, for example C(no-new-privileges) or C(apparmor=unconfined).
    type: list
    elements: str
  etc_hosts:
    description:
      - Extra C(/etc/hosts) entries, hostname to IP address (or Docker's C(host-gateway)).
    type: dict
  dns_servers:
    description: DNS servers, in the order the container's resolver tries them.
    type: list
    elements: str
  ulimits:
    description:
      - Resource limits as C(name:soft[:hard]), for example C(nofile:1024:2048); the hard limit is the
        soft one when left out, C(-1) is unlimited.
      - The names C(docker run --ulimit) takes - C(core), C(cpu), C(data), C(fsize), C(locks),
        C(memlock), C(msgqueue), C(nice), C(nofile), C(nproc), C(rss), C(rtprio), C(rttime),
        C(sigpending), C(stack) (any case).
    type: list
    elements: str
  sysctls:
    description: Namespaced kernel parameters, for example C(net.core.somaxconn) to C(1024).
    type: dict
  shm_size:
    description:
      - Size of C(/dev/shm), for example C(256m) (binary units). Unset or C(0), the engine's
        default (64 MiB), which is then not compared.
    type: str
  devices:
    description:
      - Host devices in the container, C(/dev/host[:/dev/container][:permissions]); the container path
        is the host's when left out, the permissions (any of C(r), C(w), C(m)) C(rwm).
    type: list
    elements: str
  device_cgroup_rules:
    description:
      - Rules of the container's device cgroup, such as C(c 1:3 rwm) (type C(a), C(b) or
        C(c), C(major:minor) with C(*) for any, access C(r), C(w), C(m)); compared as a set.
    type: list
    elements: str
  device_read_bps:
    description:
      - Read limit per device in bytes per second, C(path) (the device on the host, such as
        C(/dev/vda)) and C(rate) (a size, C(10M)); C(0) is no limit.
    type: list
    elements: dict
    suboptions:
      path: {description: The device on the host., type: str, required: true}
      rate:
        description: Bytes per second, a number or a size such as C(10M).
        type: str
        required: true
  device_write_bps:
    description: Write limit per device in bytes per second, as O(device_read_bps).
    type: list
    elements: dict
    suboptions:
      path: {description: The device on the host., type: str, required: true}
      rate:
        description: Bytes per second, a number or a size such as C(10M).
        type: str
        required: true
  device_read_iops:
    description: Read limit per device in operations per second, C(path) and C(rate) (a whole number).
    type: list
    elements: dict
    suboptions:
      path: {description: The device on the host., type: str, required: true}
      rate: {description: Operations per second., type: str, required: true}
  device_write_iops:
    description: Write limit per device in operations per second, as O(device_read_iops).
    type: list
    elements: dict
    suboptions:
      path: {description: The device on the host., type: str, required: true}
      rate: {description: Operations per second., type: str, required: true}
  publish_all_ports:
    description: Publish every port the image exposes on a random host port too (C(docker run -P)).
    type: bool
  pids_limit:
    description:
      - Most processes the container may run; C(0) or C(-1) for no limit.
      - Changed in place, back to no limit too (engines of API 1.40, Docker 19.03, or later).
    type: int
  tty:
    description: Allocate a pseudo-terminal (C(docker run -t)).
    type: bool
  interactive:
    description: Keep the container's standard input open (C(docker run -i)).
    type: bool
  domainname:
    description: Container domain name; an empty string for none (the default, compared as such).
    type: str
  groups:
    description: Additional groups (names or IDs) the container's process runs with.
    type: list
    elements: str
  exposed_ports:
    description:
      - Ports to expose without publishing them, C(port[/protocol]) or C(first-last[/protocol])
        (C(tcp) when left out).
      - The image's own C(EXPOSE) and the container ports of O(published_ports) are exposed by
        the engine anyway and never drift.
    type: list
    elements: str
    aliases: [exposed, expose]
  dns_search_domains:
    description: DNS search domains, in the order the container's resolver tries them.
    type: list
    elements: str
  dns_opts:
    description: Resolver options, for example C(ndots:2).
    type: list
    elements: str
  pid_mode:
    description:
      - PID namespace, C(host) or C(container:<name>); an empty string for the container's own
        (the default, compared as such).
    type: str
  ipc_mode:
    description:
      - IPC namespace, C(private), C(shareable), C(none), C(host) or C(container:<name>).
        Left out or empty, the engine's default-ipc-mode, not compared.
    type: str
  uts:
    description: UTS namespace, C(host); an empty string for the container's own (the default).
    type: str
  userns_mode:
    description:
      - User namespace, C(host) to opt out of an engine's user namespace remapping; an empty
        string for the engine's default.
    type: str
  cgroupns_mode:
    description:
      - Cgroup namespace (engines of API 1.41 or later). Left out, the engine's default
        (C(host) on cgroup v1 hosts, C(private) on cgroup v2), not compared.
    type: str
    choices: [private, host]
  cgroup_parent:
    description: Parent cgroup of the container's; an empty string for the engine's (the default).
    type: str
  runtime:
    description:
      - OCI runtime, one of the engine's (C(docker info) lists them). Left out or empty, the
        engine's default runtime, not compared.
    type: str
  oom_score_adj:
    description: Adjustment of the container's OOM score, C(-1000) to C(1000); C(0) is the default.
    type: int
  cpuset_mems:
    description:
      - The memory nodes (NUMA) the container may use, such as C(0) or C(0-1); compared as a
        set, an empty string for every node.
      - Changed in place; going back to every node recreates the container.
    type: str
  volumes_from:
    description:
      - Mount every volume of other containers, C(name) or C(name:ro) (C(:rw), the default,
        may be written out too).
    type: list
    elements: str
  memory_swappiness:
    description:
      - How readily the kernel swaps the container's memory out, C(0) (only when it must) to
        C(100) (C(docker run --memory-swappiness)). Left out, the kernel's own.
      - A cgroup v2 engine drops it (cgroup v2 has none per container); the module then warns
        and does not compare it, instead of changing the container on every run.
    type: int
  oom_kill_disable:
    description:
      - Keep the kernel's OOM killer away from the container's processes. Set it together
        with O(memory) (without a limit the host itself may run out of memory).
      - An engine without the kernel's support (cgroup v2) drops it; the module then warns and
        does not compare it.
    type: bool
  comparisons:
    description:
      - Per option comparison mode, C(strict), C(ignore) or C(allow_more_present).
      - Defaults are C(strict) for every option except O(networks) (C(allow_more_present)).
        C(strict) for O(dns_servers) compares their order too; C(allow_more_present) only
        that the container has them.
        C(strict) for O(env) and O(labels) means the container holds exactly the image's values
        overlaid with yours; C(allow_more_present) only checks yours.
    type: dict
  recreate:
    description: Recreate the container even when nothing differs.
    type: bool
    default: false
  restart:
    description: Restart the container (when it is not created or recreated anyway).
    type: bool
    default: false
  keep_volumes:
    description:
      - Whether a container this run removes keeps its anonymous volumes (those of the image's
        C(VOLUME) lines and of O(volumes) entries without a source), as C(docker rm) without
        C(-v) does. V(false) removes them with the container, as C(docker rm -v) does, whenever
        the run removes one - O(state=absent), a recreate, a replica scaled away or replaced,
        a container left set aside by a killed run - so they do not pile up as dangling
        volumes; the data in them is gone.
      - Named volumes and bind mounts are never removed, nor an anonymous volume another
        container still uses (O(volumes_from)).
      - Not compared and never a change by itself; a recreate does not carry the old
        container's anonymous volumes over to the new one either way.
    type: bool
    default: true
  wait:
    description:
      - With O(state=started), wait until the container is C(running) or C(healthy).
      - Fails early when the container exits or turns unhealthy, with its last health checks
        and log lines.
      - With O(healthcheck.start_interval) on an engine older than API 1.44, C(healthy) is
        reached by the first passing probe (see there).
    type: str
    default: none
    choices: [none, running, healthy]
  wait_timeout:
    description: Seconds for O(wait).
    type: int
    default: 60
"""
