# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Engine operations on containers, through DockerClient only: inspect, create, start,
stop, remove, update, and waiting for running/healthy with the evidence (health log,
last log lines) when a container does not get there.

Calls go through DockerClient by the names of the Docker SDK's low-level APIClient
methods (present in SDK 5.0.3 and 7.x); the container is created from a raw Engine API
body (create_config), which both of DockerClient's transports send as it is.

Private to dockyard.fleet: no compatibility promise for code outside the collection.
"""
from __future__ import annotations

import re
import threading
import time

from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import DockerError
from ansible_collections.dockyard.fleet.plugins.module_utils._container_spec import (
    THROTTLE_KEYS, image_repo_tag, looks_like_image_id, pull_would_change)
from ansible_collections.dockyard.fleet.plugins.module_utils._compare import (
    actual_from_inspect, compare, drop_discarded, engine_discards, plan)


class WaitError(Exception):
    """A container did not reach the awaited state; message carries health log and logs."""


def start_probes(spec, names):
    """{name: seconds} for ContainerEngine.wait(probes=...): the healthcheck's start_interval
    of spec (a canonical container spec), for each name; {} without one."""
    si = (spec.get("healthcheck") or {}).get("start_interval")
    return {n: si / 1e9 for n in names} if si else {}


# options that may name another container whose namespace is shared (container:<name>)
SHARED_NAMESPACES = ("network_mode", "pid_mode", "ipc_mode")

# replace() renames the container it replaces <name>-dyold-<its ID's first 12>
ASIDE_MARK = "-dyold-"
# how a run says that it cleans up what a killed run left so
SET_ASIDE = " (set aside by a run that ended in the middle of a recreate)"


def aside_name(name, cid):
    """The name replace() gives the container cid it replaces as name."""
    return "%s%s%s" % (name, ASIDE_MARK, cid[:12])


def set_aside(container_name, name_pattern):
    """Whether container_name is one replace() gave a container it replaced as a name that
    name_pattern (a regular expression) matches."""
    return re.fullmatch(r"%s%s[0-9a-f]{12}" % (name_pattern, ASIDE_MARK), container_name) is not None


class ContainerEngine:
    def __init__(self, client, warn=None, keep_volumes=True):
        self.client = client
        # whether a container removed (absent, replaced, scaled away) keeps its anonymous
        # volumes (option keep_volumes); named volumes always stay
        self.keep_volumes = keep_volumes
        self._images = {}
        self._discards = None
        self._warn = warn
        self._warned = set()

    def warn(self, text):
        """A warning for the task's result (module.warn), each text once."""
        if self._warn is not None and text not in self._warned:
            self._warned.add(text)
            self._warn(text)

    def engine_warnings(self, result, what):
        """The warnings the engine answered a create or an update with (such as an option
        it dropped for want of the kernel's support), passed on as the CLI prints them."""
        for text in (result or {}).get("Warnings") or []:
            if text:
                self.warn("Docker engine, %s: %s" % (what, text.strip()))

    def discards(self):
        """engine_discards() of this engine: one /info call, the first time it is asked."""
        if self._discards is None:
            self._discards = engine_discards(self.client.call("info") or {})
        return self._discards

    def decide(self, name, spec, state, current, image_info, comparisons=None, recreate=False,
               restart=False, current_image=None):
        """decide() with the differences in options this engine drops left out, each said in
        a warning (an engine without the kernel's support would otherwise change the
        container on every run to the same result)."""
        d = decide(name, spec, state, current, image_info, comparisons, recreate, restart,
                   current_image, discards=self.discards)
        for option, why in sorted(d["dropped"].items()):
            self.warn("option %s is not compared: this engine drops it (%s), so no container "
                      "it runs has it" % (option, why))
        return d

    # ------------------------------------------------------------ reading
    def inspect(self, name_or_id):
        return self.client.get("inspect_container", name_or_id)

    def list_by_label(self, label):
        """One listing call: containers (running or not) carrying the label."""
        return self.client.call("containers", all=True, filters={"label": label})

    def leftovers(self, name):
        """Containers replace() set aside for name that are still there (a run that ended
        between its rename and its removal of the old container): one listing call, as
        listing entries, the most recently created first."""
        # the engine reads the filter as a regular expression: a name's characters
        # ([A-Za-z0-9_.-]) match at least themselves; the exact match is ours
        found = self.client.call("containers", all=True,
                                 filters={"name": "/%s%s" % (name, ASIDE_MARK)}) or []
        found = [c for c in found if any(set_aside(n.lstrip("/"), re.escape(name))
                                         for n in c.get("Names") or [])]
        return sorted(found, key=lambda c: c.get("Created") or 0, reverse=True)

    def resolve_refs(self, spec):
        """spec with each namespace shared with another container (container:<name>) as the
        engine keeps it once the container is made: container:<that container's ID>. So it
        compares equal to what the engine reports, and a container sharing the namespace of
        one that was since made anew (another ID) differs. One inspect per such option; a
        name no container has is left as it is (the engine refuses it, naming it)."""
        out = dict(spec)
        for key in SHARED_NAMESPACES:
            value = spec.get(key) or ""
            if value.startswith("container:"):
                info = self.inspect(value[len("container:"):])
                if info is not None:
                    out[key] = "container:" + info["Id"]
        return out

    def image(self, ref):
        """Image inspect (cached per run) or None when the host does not have it."""
        if ref not in self._images:
            info = self.client.get("inspect_image", ref)
            self._images[ref] = info
            if info:
                self._images.setdefault(info["Id"], info)
        return self._images[ref]

    def pull(self, ref):
        repo, tag = image_repo_tag(ref)
        try:
            for event in self.client.call("pull", repo, tag=tag, stream=True, decode=True):
                if isinstance(event, dict) and event.get("error"):
                    raise DockerError("cannot pull image %s (option image): %s" % (ref, event["error"]))
        except DockerError as exc:
            if "option image" in str(exc):
                raise
            raise DockerError("cannot pull image %s (option image): %s" % (ref, exc)) from exc
        self._images.pop(ref, None)
        info = self.image(ref)
        if info is None:
            raise DockerError("image %s not found after pull (option image)" % ref)
        return info

    def registry_digest(self, ref):
        """The digest the registry has for ref now (no pull), for check mode."""
        try:
            return self.client.registry_digest(ref)
        except DockerError as exc:
            raise DockerError("cannot ask the registry about image %s (option image): %s"
                              % (ref, exc)) from exc

    # ------------------------------------------------------------ writing
    def create(self, name, spec, image_ref, extra_labels=None):
        """Create a container from a canonical spec; returns its ID. When a network cannot be
        connected, the container just made is removed again (with its anonymous volumes, new
        and empty) before the error is raised: a failed create leaves no half-made container."""
        try:
            result = self.client.call("create_container_from_config",
                                      create_config(spec, image_ref, extra_labels), name)
        except DockerError as exc:
            option = refused_option(str(exc))
            if option is None:
                raise
            raise DockerError("%s (option %s)" % (exc, option)) from exc
        self.engine_warnings(result, "creating " + name)
        cid = result["Id"]
        nets = spec.get("networks") or []
        mode = spec.get("network_mode") or (nets[0]["name"] if nets else None)
        try:
            for net in nets:
                if net["name"] == mode:
                    continue
                self.client.call("connect_container_to_network", cid, net["name"],
                                 aliases=net["aliases"] or None,
                                 ipv4_address=net["ipv4_address"] or None)
        except BaseException as exc:
            self.undo_create(cid, exc)
            if not isinstance(exc, DockerError):
                raise
            raise DockerError("%s (option networks); the container it made was removed" % exc) from exc
        return cid

    def undo_create(self, cid, cause):
        """Remove a container this run just made and could not finish (connect, start), with its
        anonymous volumes (new and empty). DockerError saying both when that fails too."""
        try:
            self.remove(cid, volumes=True)
        except DockerError as exc:
            raise DockerError("%s; removing the container it made (%s) failed too: %s"
                              % (cause, cid[:12], exc)) from exc

    def missing_networks(self, names):
        """Of the network names (or IDs) given, those the engine does not have: one listing."""
        listed = self.client.call("networks") or []
        known = {n.get("Name") for n in listed}
        ids = [n.get("Id") or "" for n in listed]
        return [n for n in names if n not in known and not any(i.startswith(n) for i in ids)]

    def start(self, cid):
        self.client.call("start", cid)

    def stop(self, cid, timeout=None):
        if timeout is None:
            self.client.call("stop", cid)
        else:
            self.client.call("stop", cid, timeout=timeout)

    def restart(self, cid, timeout=None):
        if timeout is None:
            self.client.call("restart", cid)
        else:
            self.client.call("restart", cid, timeout=timeout)

    def retire(self, current, wait=None, volumes=None):
        """Remove a container as `docker stop` then `docker rm` would: a running one gets its
        own stop signal and stop timeout first (a forced removal alone kills it at once,
        giving the application no chance to finish what it is doing). volumes: as remove()."""
        if running(current):
            try:
                self.stop(current["Id"], stop_timeout_of(current))
            except DockerError as exc:
                if not exc.not_found:
                    raise
        self.remove(current["Id"], wait, volumes)

    def replace(self, current, name, spec, image_ref, extra_labels=None, start=True, kept=None):
        """Recreate the container current as name from spec; returns the new ID.

        The old container steps aside under another name while the new one is made, so an
        engine refusal of the new one (a network, device or bind source it cannot have) leaves
        the old one as it was; it then gets its stop signal and stop timeout, the new one
        starts, and the old one is removed. When the new one does not start, it is removed
        and the old one gets its name back, and is started again if it was running.

        kept: a list; when given, the old container is not removed but kept, stopped, under
        its set-aside name (aside_name), and appended to it as {"Id", "Name" (the set-aside
        name), "info" (current)}, for the caller to remove (remove()) or put back (restore())
        later. Nothing is appended when there is nothing to keep (an engine that refuses the
        rename: the old container was removed first)."""
        old, was_running = current["Id"], running(current)
        aside = aside_name(name, old)
        try:
            self.client.call("rename", old, aside)
        except DockerError:
            # cannot step aside (an engine that refuses the rename): stop, remove, create
            self.retire(current)
            cid = self.create(name, spec, image_ref, extra_labels)
            if start:
                self.start(cid)
            return cid
        # whatever ends the run here (an engine refusal, a lost connection, an error of ours)
        # first puts the old container back
        try:
            cid = self.create(name, spec, image_ref, extra_labels)
        except BaseException as exc:
            self._put_back(current, aside, name, exc, restart=False)
            raise
        try:
            if was_running:
                self.stop(old, stop_timeout_of(current))
            if start:
                self.start(cid)
        except BaseException as exc:
            self._put_back(current, aside, name, exc, restart=was_running)
            if not isinstance(exc, DockerError):
                raise
            raise DockerError("%s; the container it was to replace has its name back%s"
                              % (exc, " and runs again" if was_running else "")) from exc
        if kept is None:
            self.remove(old)
        else:
            kept.append({"Id": old, "Name": aside, "info": current})
        return cid

    def restore(self, kept, name, made):
        """Undo a replace() that kept the old container (kept: what it appended): the
        container made in its place (made: its inspect, or None when there is none) is stopped
        with its own stop signal and timeout and removed with its anonymous volumes (new and
        empty), and the kept one gets its name back and is started. Returns its ID."""
        try:
            if made is not None and made["Id"] != kept["Id"]:
                self.retire(made, volumes=True)
            self.client.call("rename", kept["Id"], name)
        except DockerError as exc:
            raise DockerError("%s (the container it replaced is kept, stopped, as %s)"
                              % (exc, kept["Name"])) from exc
        self.start(kept["Id"])
        return kept["Id"]

    def _put_back(self, current, aside, name, cause, restart):
        """Undo replace() up to the new container's creation: remove what was made under name
        (a creation may fail after the container exists, connecting a second network), give
        the old container its name back, start it again when restart."""
        try:
            made = self.inspect(name)
            if made is not None and made["Id"] != current["Id"]:
                self.remove(made["Id"], volumes=True)   # its anonymous volumes are new and empty
            self.client.call("rename", current["Id"], name)
            if restart:
                self.start(current["Id"])
        except DockerError as exc:
            raise DockerError("%s; putting the container it was to replace back failed too: %s "
                              "(it is named %s)" % (cause, exc, aside)) from exc

    def remove(self, cid, wait=None, volumes=None):
        """Remove a container (force: a running one is killed first). One the engine is
        already removing (another client's rm, a removal slowed by a large writable layer)
        is refused with 409 "already in progress": that removal is awaited instead, up to
        `wait` seconds (the engine timeout, option timeout); rm is asked again when it ended
        without removing the container. One already gone counts as removed. Its anonymous
        volumes go with it when volumes is true, by default unless keep_volumes (the engine
        keeps those another container still uses, and never removes named ones)."""
        if volumes is None:
            volumes = not self.keep_volumes
        if wait is None:
            wait = getattr(self.client, "conn", {}).get("timeout", 60)
        deadline = time.monotonic() + wait
        while True:
            try:
                self.client.call("remove_container", cid, force=True, v=volumes)
                return
            except DockerError as exc:
                if exc.not_found:
                    return
                if not removal_in_progress(exc):
                    raise
                if time.monotonic() >= deadline:
                    raise DockerError("%s (the engine was still removing container %s after %s s, "
                                      "option timeout)" % (exc, cid[:12], wait)) from exc
            time.sleep(0.2)

    def update_networks(self, cid, before, after, done=None):
        """Connect, reconnect (other aliases or address) or disconnect networks in place.
        before/after: the networks diff, pairwise; {"connected": False} on one side means
        not connected there. done: a list that gets "updated networks" at the first change
        the engine made (so a failure after it reports the change)."""
        def mark():
            if done is not None and "updated networks" not in done:
                done.append("updated networks")

        for was, want in zip(before, after):
            if was.get("connected", True):
                self.client.call("disconnect_container_from_network", cid, was["name"], force=True)
                mark()
            if want.get("connected", True):
                self.client.call("connect_container_to_network", cid, want["name"],
                                 aliases=want.get("aliases") or None,
                                 ipv4_address=want.get("ipv4_address") or None)
                mark()

    def update(self, cid, spec, current_host_config):
        """Apply the in-place updatable options (restart policy, memory and memory swap, cpus,
        memory reservation, cpu shares, cpusets, pids limit)."""
        kwargs = {}
        if "restart_policy" in spec or "restart_retries" in spec:
            rp = current_host_config.get("RestartPolicy") or {}
            name = spec.get("restart_policy") or rp.get("Name") or "no"
            retries = spec.get("restart_retries", 0) if name == "on-failure" else 0
            kwargs["restart_policy"] = {"Name": name, "MaximumRetryCount": retries}
        if spec.get("memory") or spec.get("memory_swap"):
            # memory is never 0 here: lifting a limit recreates (_compare.updatable). The two
            # go together (apply() passes both when the task sets both and one differs).
            memory = spec.get("memory") or current_host_config.get("Memory")
            kwargs["mem_limit"] = memory
            # without memory_swap: the engine's default swap (twice the memory), else raising
            # memory above the old swap limit is refused; unlimited swap stays so
            swap = spec.get("memory_swap")
            if swap is None:
                swap = -1 if current_host_config.get("MemorySwap") == -1 else memory * 2
            kwargs["memswap_limit"] = swap
        if "cpus" in spec:
            kwargs["cpu_period"] = 100000
            kwargs["cpu_quota"] = int(round(spec["cpus"] * 100000)) if spec["cpus"] else -1
        # 0 and "" are never sent: the engine would leave the value as it is (a difference to
        # them recreates; _compare.updatable)
        for key, arg in (("memory_reservation", "mem_reservation"), ("cpu_shares", "cpu_shares"),
                         ("cpuset_cpus", "cpuset_cpus"), ("cpuset_mems", "cpuset_mems")):
            if spec.get(key):
                kwargs[arg] = spec[key]
        if "pids_limit" in spec:   # 0 (no limit) is sent as -1, which the engine applies
            kwargs["pids_limit"] = spec["pids_limit"] or -1
        if kwargs:
            self.engine_warnings(self.client.call("update_container", cid, **kwargs),
                                 "updating " + cid[:12])

    # ------------------------------------------------------------ waiting
    def probe(self, cid, test):
        """Run a healthcheck test (["CMD", ...] or ["CMD-SHELL", "..."]) in the container once,
        as the engine's own check does (docker exec, the container's user and env).
        -> (exit code or None when it could not run, output)"""
        if test[:1] == ["CMD"] and len(test) > 1:
            cmd = test[1:]
        elif test[:1] == ["CMD-SHELL"] and len(test) > 1:
            cmd = ["/bin/sh", "-c", test[1]]
        else:
            return None, "no healthcheck test to run"
        try:
            eid = self.client.call("exec_create", cid, cmd, stdout=True, stderr=True)["Id"]
            out = self.client.call("exec_start", eid)
            code = self.client.call("exec_inspect", eid).get("ExitCode")
        except DockerError as exc:
            return None, str(exc)
        text = out.decode("utf-8", "replace") if isinstance(out, bytes) else str(out or "")
        return code, text.strip()[:300]

    def wait(self, targets, mode, timeout, poll=0.25, probes=None):
        """Wait until every container in targets ({name: id}) is running (or healthy).

        All containers are polled in one loop. Raises WaitError with the evidence of
        the first one that fails or, at the deadline, of every one still not there.

        probes: {name: seconds}, the healthcheck's start_interval. Docker 25 (API 1.44) runs
        the check that often during the start period; an older engine keeps no
        start_interval and runs the first check only after a whole interval. For a
        container whose engine kept none, while its health is "starting", the wait runs the
        healthcheck's test itself every start_interval; its first pass counts as healthy (a
        first passing check is what makes the engine say healthy too). Failures of these
        probes count for nothing: the engine's own checks decide unhealthy.
        Returns the names that passed by a probe before the engine said healthy.
        """
        pending = dict(targets)
        deadline = time.monotonic() + timeout
        last = {}
        probes = dict(probes or {}) if mode == "healthy" else {}
        probe_at, probed, probe_last = {}, set(), {}
        if probes:  # the engine is read as often as a probe may run, but not in a busy loop
            poll = max(0.05, min([poll] + list(probes.values())))
        while pending:
            for name, cid in list(pending.items()):
                info = self.inspect(cid)
                if info is None:
                    raise WaitError("container %s disappeared while waiting" % name)
                last[name] = info
                st = info.get("State") or {}
                health = (st.get("Health") or {}).get("Status")
                hc_config = (info.get("Config") or {}).get("Healthcheck") or {}
                if st.get("Status") in ("exited", "dead"):
                    raise WaitError(self.evidence(name, info, "exited (code %s) while waiting for %s"
                                                  % (st.get("ExitCode"), mode)))
                if mode == "running":
                    if st.get("Running") and not st.get("Restarting"):
                        del pending[name]
                else:
                    if not st.get("Health"):
                        raise WaitError("container %s has no healthcheck: cannot wait until healthy "
                                        "(option wait; set option healthcheck or use wait: running)"
                                        % name)
                    if health == "healthy":
                        del pending[name]
                    elif health == "unhealthy":
                        raise WaitError(self.evidence(name, info, "is unhealthy"))
                    elif (name in probes and health == "starting" and st.get("Running")
                          and not hc_config.get("StartInterval")
                          and time.monotonic() >= probe_at.get(name, 0)):
                        probe_at[name] = time.monotonic() + probes[name]
                        code, out = self.probe(cid, list(hc_config.get("Test") or []))
                        probe_last[name] = (code, out)
                        if code == 0:
                            del pending[name]
                            probed.add(name)
            if not pending:
                return probed
            if time.monotonic() >= deadline:
                raise WaitError("\n".join(
                    self.evidence(n, last[n], "not %s after %ss (option wait_timeout)" % (mode, timeout),
                                  probe_last.get(n))
                    for n in pending))
            time.sleep(poll)
        return probed

    def evidence(self, name, info, what, probe=None):
        lines = ["container %s %s; state %s" % (name, what, (info.get("State") or {}).get("Status"))]
        health = (info.get("State") or {}).get("Health") or {}
        if health.get("Log"):
            lines.append("last health checks:")
            for entry in health["Log"][-3:]:
                lines.append("  exit %s: %s" % (entry.get("ExitCode"),
                                                (entry.get("Output") or "").strip()[:300]))
        if probe:
            lines.append("last start_interval probe: exit %s: %s" % probe)
        try:
            logs = self.client.call("logs", info["Id"], stdout=True, stderr=True, tail=20)
            text = logs.decode("utf-8", "replace") if isinstance(logs, bytes) else str(logs)
            if text.strip():
                lines.append("last log lines:")
                lines.extend("  " + ln for ln in text.rstrip().splitlines()[-20:])
        except DockerError:
            pass
        return "\n".join(lines)


# Engine refusals of a create that tell which option they are about: (text in the engine's
# message, option)
REFUSALS = (("invalid CapAdd", "cap_add"), ("invalid CapDrop", "cap_drop"),
            ("invalid mode:", "volumes"), ("invalid volume specification", "volumes"),
            ("logging plugin", "log_driver"), ("log driver", "log_driver"),
            ("invalid --security-opt", "security_opts"), ("security-opt", "security_opts"),
            ("working directory", "working_dir"), ("sysctl", "sysctls"),
            ("invalid tmpfs", "tmpfs"), ("invalid restart policy", "restart_policy"))


def refused_option(message):
    """The option an engine refusal of a create names in its own words, or None."""
    for text, option in REFUSALS:
        if text.lower() in message.lower():
            return option
    return None


def _port_key(cport):
    num, proto = cport.split("/")
    return "%s/%s" % (num, proto or "tcp")


def create_config(spec, image_ref, extra_labels=None):
    """The body of POST /containers/create for a canonical spec (Engine API names)."""
    host = {}
    ports = spec.get("published_ports") or []
    if ports:
        bindings = {}
        for cport, ip, hport in ports:
            bindings.setdefault(_port_key(cport), []).append(
                {"HostIp": ip or "", "HostPort": str(hport) if hport else ""})
        host["PortBindings"] = bindings
    vols = spec.get("volumes") or {}
    if vols.get("binds"):
        host["Binds"] = ["%s:%s:%s" % b for b in vols["binds"]]
    if spec.get("mounts"):
        host["Mounts"] = [{"Type": m["type"], "Source": m["source"] or None,
                           "Target": m["target"], "ReadOnly": m["read_only"]}
                          for m in spec["mounts"]]
    nets = spec.get("networks") or []
    mode = spec.get("network_mode") or (nets[0]["name"] if nets else None)
    host["NetworkMode"] = mode or "default"
    if spec.get("restart_policy"):
        host["RestartPolicy"] = {"Name": spec["restart_policy"],
                                 "MaximumRetryCount": spec.get("restart_retries", 0)}
    elif spec.get("restart_retries"):
        host["RestartPolicy"] = {"Name": "on-failure", "MaximumRetryCount": spec["restart_retries"]}
    if spec.get("memory"):
        host["Memory"] = spec["memory"]
    if spec.get("memory_swap"):
        host["MemorySwap"] = spec["memory_swap"]
    if spec.get("memory_swappiness") is not None:   # 0 is a value (swap only when it must)
        host["MemorySwappiness"] = spec["memory_swappiness"]
    if spec.get("oom_kill_disable"):
        host["OomKillDisable"] = True
    if spec.get("cpus"):
        host["CpuPeriod"] = 100000
        host["CpuQuota"] = int(round(spec["cpus"] * 100000))
    if spec.get("log_driver") or spec.get("log_options"):
        host["LogConfig"] = {"Type": spec.get("log_driver") or "json-file",
                             "Config": spec.get("log_options") or {}}
    for key, api_key in (("init", "Init"), ("read_only", "ReadonlyRootfs"), ("cap_add", "CapAdd"),
                         ("cap_drop", "CapDrop"), ("tmpfs", "Tmpfs"), ("privileged", "Privileged"),
                         ("security_opts", "SecurityOpt"), ("dns_servers", "Dns"),
                         ("sysctls", "Sysctls"), ("shm_size", "ShmSize"), ("pids_limit", "PidsLimit"),
                         ("memory_reservation", "MemoryReservation"), ("cpu_shares", "CpuShares"),
                         ("cpuset_cpus", "CpusetCpus"), ("groups", "GroupAdd"),
                         ("dns_search_domains", "DnsSearch"), ("dns_opts", "DnsOptions"),
                         ("pid_mode", "PidMode"), ("ipc_mode", "IpcMode"), ("uts", "UTSMode"),
                         ("userns_mode", "UsernsMode"), ("cgroupns_mode", "CgroupnsMode"),
                         ("cgroup_parent", "CgroupParent"), ("runtime", "Runtime"),
                         ("oom_score_adj", "OomScoreAdj"), ("cpuset_mems", "CpusetMems"),
                         ("volumes_from", "VolumesFrom"), ("auto_remove", "AutoRemove"),
                         ("publish_all_ports", "PublishAllPorts"),
                         ("device_cgroup_rules", "DeviceCgroupRules")):
        if spec.get(key):
            host[api_key] = spec[key]
    for key, api_key in THROTTLE_KEYS.items():
        if spec.get(key):
            host[api_key] = [{"Path": path, "Rate": int(rate)}
                             for path, rate in (entry.rsplit(":", 1) for entry in spec[key])]
    if spec.get("etc_hosts"):
        host["ExtraHosts"] = ["%s:%s" % kv for kv in sorted(spec["etc_hosts"].items())]
    if spec.get("devices"):
        host["Devices"] = [dict(zip(("PathOnHost", "PathInContainer", "CgroupPermissions"),
                                    d.split(":"))) for d in spec["devices"]]
    if spec.get("ulimits"):
        host["Ulimits"] = [dict(zip(("Name", "Soft", "Hard"), (n, int(soft), int(hard))))
                           for n, soft, hard in (u.split(":") for u in spec["ulimits"])]

    config = {"Image": image_ref, "HostConfig": host, "Tty": bool(spec.get("tty")),
              "OpenStdin": bool(spec.get("interactive")), "StdinOnce": False,
              "AttachStdin": False, "AttachStdout": False, "AttachStderr": False}
    if spec.get("domainname"):
        config["Domainname"] = spec["domainname"]
    if spec.get("mac_address"):
        config["MacAddress"] = spec["mac_address"]
    if spec.get("command"):
        config["Cmd"] = list(spec["command"])
    if spec.get("entrypoint"):
        config["Entrypoint"] = list(spec["entrypoint"])
    if spec.get("env"):
        config["Env"] = ["%s=%s" % kv for kv in sorted(spec["env"].items())]
    labels = dict(spec.get("labels") or {})
    labels.update(extra_labels or {})
    if labels:
        config["Labels"] = labels
    exposed = {_port_key(cport) for cport, _ip, _hp in ports} | set(spec.get("exposed_ports") or [])
    if exposed:
        config["ExposedPorts"] = {port: {} for port in sorted(exposed)}
    if vols.get("anonymous"):
        config["Volumes"] = {path: {} for path in vols["anonymous"]}
    hc = spec.get("healthcheck")
    if hc:
        config["Healthcheck"] = {api: hc[key] for key, api in (
            ("test", "Test"), ("interval", "Interval"), ("timeout", "Timeout"),
            ("retries", "Retries"), ("start_period", "StartPeriod"),
            ("start_interval", "StartInterval")) if key in hc}
    for key, api_key in (("user", "User"), ("working_dir", "WorkingDir"), ("hostname", "Hostname"),
                         ("stop_signal", "StopSignal"), ("stop_timeout", "StopTimeout")):
        if spec.get(key) not in (None, ""):
            config[api_key] = spec[key]
    if nets and mode == nets[0]["name"]:
        endpoint = {}
        if nets[0]["aliases"]:
            endpoint["Aliases"] = list(nets[0]["aliases"])
        if nets[0]["ipv4_address"]:
            endpoint["IPAMConfig"] = {"IPv4Address": nets[0]["ipv4_address"]}
        config["NetworkingConfig"] = {"EndpointsConfig": {nets[0]["name"]: endpoint}}
    return config


def summary(info, image_ref=None):
    """The `container` return value: a subset of inspect."""
    if not info:
        return {}
    st = info.get("State") or {}
    ports = {}
    for cport, bindings in ((info.get("NetworkSettings") or {}).get("Ports") or {}).items():
        ports[cport] = [{"host_ip": b.get("HostIp"), "host_port": b.get("HostPort")}
                        for b in bindings or []]
    return {
        "id": info.get("Id"),
        "name": (info.get("Name") or "").lstrip("/"),
        "image": image_ref or (info.get("Config") or {}).get("Image"),
        "image_id": info.get("Image"),
        "state": st.get("Status"),
        "status": st.get("Status"),
        "running": bool(st.get("Running")),
        "health": (st.get("Health") or {}).get("Status"),
        "ports": ports,
        "labels": (info.get("Config") or {}).get("Labels") or {},
    }


# ---------------------------------------------------------------- converging
def resolve_image(engine, image, pull, check_mode):
    """The desired image's inspect and ID, pulling per `pull`.

    Returns (info or None, pulled: bool, would_pull: bool). In check mode nothing is
    pulled: a missing image gives (None, False, True), or (None, False, False) with
    pull=never (the containers on it are predicted as changed). Raises DockerError naming option
    image when the image is missing and cannot be pulled.
    """
    info = engine.image(image)
    if info is None and check_mode and pull == "never" and not looks_like_image_id(image):
        # predicted as a change to an image not on the host yet: in a real run an earlier
        # task (dockyard.fleet.image loading an archive) may bring it, as the deploy role does
        return None, False, False
    if info is None and (pull == "never" or looks_like_image_id(image)):
        raise DockerError("image %s is not on the host and pull is %s (option image)"
                          % (image, "never" if pull == "never" else "impossible for an image ID"))
    if check_mode:
        if info is not None and pull == "always" and "@" not in image:
            # ask the registry (no pull) whether the tag now names another image
            return info, False, pull_would_change(info, image_repo_tag(image)[0],
                                                  engine.registry_digest(image))
        return info, False, info is None
    if info is None or pull == "always":
        old_id = info["Id"] if info else None
        info = engine.pull(image)
        return info, info["Id"] != old_id, False
    return info, False, False


def decide(name, spec, state, current, image_info, comparisons=None, recreate=False,
           restart=False, current_image=None, discards=None):
    """Pure: what to do with one container. Returns {name, current, diffs, steps, dropped}.

    image_info: the desired image's inspect (None if not on the host); current_image:
    the inspect of the image the container runs, whose defaults (ENV, labels...) are
    what the container got without being asked, so never drift.
    discards: a callable giving the options the engine drops (engine_discards()), asked only
    when one of them differs; their differences are left out and listed in dropped.
    """
    diffs, dropped = [], {}
    running = False
    if current is not None and state != "absent":
        running = bool((current.get("State") or {}).get("Running"))
        diffs = compare(spec, actual_from_inspect(current), current_image or image_info,
                        comparisons, image_info["Id"] if image_info else None)
        if discards is not None:
            diffs, dropped = drop_discarded(diffs, discards)
        # the engine starts, stops or updates nothing marked for removal: made anew
        recreate = recreate or unusable(current)
    steps = plan(state, current is not None, running, diffs, recreate, restart)
    return {"name": name, "current": current, "diffs": diffs, "steps": steps, "dropped": dropped}


def removal_in_progress(exc):
    """Whether an engine error is rm's 409 for a container another removal is already at."""
    return "is already in progress" in str(exc)


def running(current):
    """Whether a container (an inspect, or an entry of a listing) is running (and not marked
    for removal)."""
    state = current.get("State")
    if isinstance(state, str):  # a listing's entry
        return state == "running"
    return bool((state or {}).get("Running")) and not unusable(current)


def stop_timeout_of(current):
    """The container's own stop timeout, None where the engine is to use it (not set, or
    not known: a listing's entry)."""
    return (current.get("Config") or {}).get("StopTimeout")


def unusable(current):
    """Whether the engine refuses to start the container ("marked for removal"): dead (a
    removal, or a stop, the engine could not finish, as after a host lost power mid-change)
    or being removed. Only a new one of the same name can serve then."""
    st = current.get("State") or {}
    if isinstance(st, str):  # a listing's entry
        return st in ("dead", "removing")
    return bool(st.get("Dead")) or st.get("Status") in ("dead", "removing")


STEP_WORDS = {"remove": "removed", "create": "created", "start": "started", "stop": "stopped",
              "restart": "restarted", "pause": "paused", "unpause": "unpaused"}


def pause_step(state, steps, current, paused):
    """The step that makes a container paused or not as option paused asks ("pause",
    "unpause" or None), after the decision's steps: a container created, started or
    restarted by them runs unpaused; one they leave as it is keeps its pause. Only for a
    container that runs afterwards: state started, or present and running now (paused: true
    is refused with another state, _container.check_paused)."""
    if paused is None or state not in ("started", "present"):
        return None
    st = (current or {}).get("State") or {}
    if state == "present" and not (st.get("Running") or "start" in steps):
        return None
    fresh = any(s in steps for s in ("create", "start", "restart"))
    is_paused = bool(st.get("Paused")) and not fresh
    if paused and not is_paused:
        return "pause"
    if not paused and is_paused:
        return "unpause"
    return None


def describe(decision):
    """Human action list of a decision (the same words whether applied or predicted)."""
    steps = decision["steps"]
    out = []
    recreate = "remove" in steps and "create" in steps
    for step in steps:
        if step == "remove" and recreate:
            continue
        if step == "create" and recreate:
            out.append("recreated")
        elif step == "update":
            out.extend("updated " + d["option"] for d in decision["diffs"] if d["updatable"])
        else:
            out.append(STEP_WORDS[step])
    return out


def apply_each(engine, jobs):
    """Run jobs [(key, fn)], returning {key: fn()}: at once, each in a thread of its own, when
    the engine's client keeps a connection per thread (the collection's own client; each
    thread closes its own at the end), else one after the other (the SDK's). Every job runs
    to its end; the first failure in the jobs' order is then raised."""
    api = getattr(engine.client, "engine", None)
    if len(jobs) < 2 or api is None:
        return {key: fn() for key, fn in jobs}
    results, errors = {}, {}

    def work(key, fn):
        try:
            results[key] = fn()
        except BaseException as exc:  # pylint: disable=broad-except
            errors[key] = exc
        finally:
            api.close()

    threads = [threading.Thread(target=work, args=job, daemon=True) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for key, _fn in jobs:
        if key in errors:
            raise errors[key]
    return results


def apply(engine, decision, spec, image_ref, extra_labels=None, done=None, kept=None):
    """Carry out a decision's steps; returns the container ID (None when removed).

    done: a list that gets the words of each change as the engine makes it (describe()'s
    words), so a run that fails half way can say what it changed. A container this call
    created is removed again when its start fails (as replace() does with the new one).
    kept: a list; a recreate then keeps the container it replaces, stopped and set aside
    (ContainerEngine.replace's kept)."""
    done = [] if done is None else done
    current = decision["current"]
    cid = current["Id"] if current else None
    stop_timeout = spec.get("stop_timeout")
    steps = list(decision["steps"])
    if steps[:2] == ["remove", "create"] and not unusable(current):
        # a recreate: the old container stays until the new one is made (ContainerEngine.replace)
        cid = engine.replace(current, decision["name"], spec, image_ref, extra_labels,
                             start="start" in steps, kept=kept)
        done.extend(["recreated"] + (["started"] if "start" in steps else []))
        steps = [s for s in steps[2:] if s != "start"]
    made = None   # the container this call created, until it has started
    for step in steps:
        if step == "remove":
            engine.retire(current)
            cid = None
            done.append("removed")
        elif step == "create":
            cid = made = engine.create(decision["name"], spec, image_ref, extra_labels)
            done.append("created")
        elif step == "update":
            upd = {d["option"]: spec[d["option"]] for d in decision["diffs"]
                   if d["updatable"] and d["option"] != "networks"}
            if "memory" in upd or "memory_swap" in upd:   # one goes with the other
                upd.update({k: spec[k] for k in ("memory", "memory_swap") if k in spec})
            if "restart_policy" in upd or "restart_retries" in upd:   # so do these
                upd.update({k: spec[k] for k in ("restart_policy", "restart_retries") if k in spec})
            if upd:
                engine.update(cid, upd, current.get("HostConfig") or {})
                done.extend("updated " + d["option"] for d in decision["diffs"]
                            if d["updatable"] and d["option"] != "networks")
            for d in decision["diffs"]:
                if d["option"] == "networks":
                    engine.update_networks(cid, d["before"], d["after"], done)
        elif step == "start":
            try:
                engine.start(cid)
            except BaseException as exc:
                if made is None:
                    raise
                engine.undo_create(made, exc)
                done.remove("created")
                if not isinstance(exc, DockerError):
                    raise
                raise DockerError("%s; the container it created was removed" % exc) from exc
            made = None
            done.append("started")
        elif step == "stop":
            engine.stop(cid, stop_timeout)
            done.append("stopped")
        elif step == "restart":
            engine.restart(cid, stop_timeout)
            done.append("restarted")
        elif step in ("pause", "unpause"):
            engine.client.call(step, cid)
            done.append(STEP_WORDS[step])
    return cid
