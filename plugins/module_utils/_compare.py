# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The comparison engine shared by the container and service modules.

Pure functions on dicts: a canonical desired spec (_container_spec.parse_spec), the
engine's inspect of a container and of the desired image -> the differences, which of
them the engine can apply in place (update API) and which need a new container, and
the ordered list of steps to converge.

Rules:
- only options the user set are compared;
- values the image supplies (ENV, labels, exposed ports, volumes, healthcheck, cmd)
  are never drift;
- equivalent spellings are equal: network_mode default == bridge, a disabled
  healthcheck, IPv6 host addresses with or without brackets, image tag vs image ID.

Private to dockyard.fleet: no compatibility promise for code outside the collection.
"""
from __future__ import annotations

from ansible_collections.dockyard.fleet.plugins.module_utils._container_spec import (
    THROTTLE_KEYS, cpuset_key, device_key, normalize_bind, normalize_cap, normalize_ip, ulimit_key,
    volumes_from_key)

# Option -> default comparison mode. allow_more_present: the container may have more
# (extra env keys, labels, ports, networks...) than the task lists.
DEFAULT_COMPARISONS = {
    "image": "strict", "command": "strict", "entrypoint": "strict",
    "env": "strict", "labels": "strict", "published_ports": "strict", "volumes": "strict",
    "mounts": "strict", "networks": "allow_more_present", "network_mode": "strict",
    "restart_policy": "strict", "restart_retries": "strict", "healthcheck": "strict",
    "user": "strict", "working_dir": "strict", "hostname": "strict", "memory": "strict",
    "cpus": "strict", "log_driver": "strict", "log_options": "strict", "stop_signal": "strict",
    "stop_timeout": "strict", "init": "strict", "read_only": "strict", "cap_add": "strict",
    "cap_drop": "strict", "tmpfs": "strict", "privileged": "strict", "security_opts": "strict",
    "etc_hosts": "strict", "dns_servers": "strict", "ulimits": "strict", "sysctls": "strict",
    "shm_size": "strict", "devices": "strict", "pids_limit": "strict",
    "memory_reservation": "strict", "cpu_shares": "strict", "cpuset_cpus": "strict",
    "memory_swap": "strict", "tty": "strict", "interactive": "strict", "domainname": "strict",
    "groups": "strict", "exposed_ports": "strict", "dns_search_domains": "strict",
    "dns_opts": "strict", "pid_mode": "strict", "ipc_mode": "strict", "uts": "strict",
    "userns_mode": "strict", "cgroupns_mode": "strict", "cgroup_parent": "strict",
    "runtime": "strict", "oom_score_adj": "strict",
    "cpuset_mems": "strict", "volumes_from": "strict", "auto_remove": "strict",
    "publish_all_ports": "strict", "mac_address": "strict", "device_cgroup_rules": "strict",
    "device_read_bps": "strict", "device_write_bps": "strict", "device_read_iops": "strict",
    "device_write_iops": "strict", "memory_swappiness": "strict", "oom_kill_disable": "strict",
}
# What the engine's update API changes on a live container.
# Applied to the existing container, no recreate: `docker update` for the restart policy and
# the resources, network connect/disconnect for networks (the primary network is
# network_mode, which recreates).
UPDATABLE = ("restart_policy", "restart_retries", "memory", "cpus", "networks",
             "memory_reservation", "cpu_shares", "cpuset_cpus", "pids_limit", "memory_swap",
             "cpuset_mems")
# The update API reads 0 (or "") in these as "leave it as it is": going back to the engine's
# default (no limit, no reservation, the default weight, every CPU) needs a new container.
# (cpus 0 is sent as quota -1 and pids_limit 0 as -1, which the engine does apply.)
NOT_UNSET_IN_PLACE = ("memory", "memory_reservation", "cpu_shares", "cpuset_cpus", "cpuset_mems")


# Options an engine without the kernel's support for them takes and drops (moby's
# verifyContainerResources: a warning, and the value reset, so that the container never has
# what the task asks): option -> the /info field that says the engine has the support.
# memory_swappiness has none: a cgroup v2 engine, or one without the memory cgroup, drops it.
DISCARDABLE = {"memory": "MemoryLimit", "memory_swap": "SwapLimit",
               "memory_reservation": "MemoryLimit", "oom_kill_disable": "OomKillDisable",
               "pids_limit": "PidsLimit", "cpu_shares": "CPUShares", "cpuset_cpus": "CPUSet",
               "cpuset_mems": "CPUSet", "memory_swappiness": None}


def engine_discards(info):
    """The engine's /info -> {option: why} for the options of DISCARDABLE it drops. A field
    an engine does not report counts as support."""
    out = {}
    for option, field in DISCARDABLE.items():
        if field is None:
            if str(info.get("CgroupVersion") or "1") == "2":
                out[option] = "cgroup v2 has no per-container swappiness"
            elif info.get("MemoryLimit") is False:
                out[option] = "the engine reports no memory cgroup (MemoryLimit false)"
        elif info.get(field) is False:
            out[option] = "the engine reports no kernel support (%s false)" % field
    return out


def drop_discarded(diffs, discards):
    """Differences -> (kept, dropped): a difference in an option the engine drops is no
    difference (a new container would not have it either: it would only change on every run).
    discards: a callable returning engine_discards(), asked only when such a difference is
    there (an /info call)."""
    if not any(d["option"] in DISCARDABLE for d in diffs):
        return diffs, {}
    gone = discards()
    dropped = {d["option"]: gone[d["option"]] for d in diffs if d["option"] in gone}
    return [d for d in diffs if d["option"] not in dropped], dropped


def updatable(option, after):
    """Whether a difference of option, to the value after, is applied in place."""
    if option in NOT_UNSET_IN_PLACE and not after:
        return False
    return option in UPDATABLE


def _env_dict(env_list):
    out = {}
    for item in env_list or []:
        k, dummy, v = item.partition("=")
        out[k] = v
    return out


def image_defaults(image_inspect):
    """What an image supplies by itself (never drift)."""
    cfg = (image_inspect or {}).get("Config") or {}
    return {
        "env": _env_dict(cfg.get("Env")),
        "labels": dict(cfg.get("Labels") or {}),
        "volumes": sorted((cfg.get("Volumes") or {}).keys()),
        "healthcheck": cfg.get("Healthcheck") or None,
        "exposed_ports": sorted((cfg.get("ExposedPorts") or {}).keys()),
    }


def _cpus(host):
    if host.get("NanoCpus"):
        return round(host["NanoCpus"] / 1e9, 3)
    if host.get("CpuQuota") and host.get("CpuPeriod"):
        return round(host["CpuQuota"] / float(host["CpuPeriod"]), 3)
    return 0.0


def _swappiness(value):
    """MemorySwappiness: null (or -1, from older clients) is the kernel's own, None here."""
    return value if value is not None and value >= 0 else None


def _etc_hosts(entries):
    """ExtraHosts ('name:address', or 'name=address' on newer engines) -> {name: address}."""
    out = {}
    for entry in entries or []:
        sep = min((i for i in (entry.find(":"), entry.find("=")) if i > 0), default=-1)
        if sep < 0:
            continue
        addr = entry[sep + 1:].strip()
        out[entry[:sep].strip()] = normalize_ip(addr) or addr  # 0.0.0.0 stays itself
    return out


def actual_from_inspect(inspect):
    """Container inspect -> canonical values of every compared option."""
    cfg = inspect.get("Config") or {}
    host = inspect.get("HostConfig") or {}
    ports = set()
    for cport, bindings in (host.get("PortBindings") or {}).items():
        for b in bindings or [{}]:
            ports.add((cport, normalize_ip(b.get("HostIp")), str(b.get("HostPort") or "")))
    binds = set()
    for b in host.get("Binds") or []:
        try:
            binds.add(normalize_bind(b))
        except ValueError:
            binds.add((b, "", ""))
    rp = host.get("RestartPolicy") or {}
    log = host.get("LogConfig") or {}
    hc = cfg.get("Healthcheck") or None
    health = None
    if hc:
        health = {"test": list(hc.get("Test") or [])}
        for src, dst in (("Interval", "interval"), ("Timeout", "timeout"),
                         ("StartPeriod", "start_period"), ("StartInterval", "start_interval"),
                         ("Retries", "retries")):
            if hc.get(src):
                health[dst] = hc[src]
    nets = {}
    # the engine gives a container its short ID as an alias on every user-defined network
    # (API < 1.45): its own doing, never asked for, so not compared
    own = {(inspect.get("Id") or "")[:12], inspect.get("Id") or ""} - {""}
    for name, ep in ((inspect.get("NetworkSettings") or {}).get("Networks") or {}).items():
        ipam = ep.get("IPAMConfig") or {}
        nets[name] = {"name": name, "aliases": sorted(set(ep.get("Aliases") or []) - own),
                      "ipv4_address": ipam.get("IPv4Address") or ""}
    mounts = sorted(({"type": m.get("Type") or "volume", "source": m.get("Source") or "",
                      "target": (m.get("Target") or "").rstrip("/") or "/",
                      "read_only": bool(m.get("ReadOnly"))} for m in host.get("Mounts") or []),
                    key=lambda d: (d["target"], d["type"], d["source"]))
    mode = host.get("NetworkMode") or "bridge"
    return {
        "image": inspect.get("Image"),
        "command": list(cfg.get("Cmd") or []),
        "entrypoint": list(cfg.get("Entrypoint") or []),
        "env": _env_dict(cfg.get("Env")),
        "labels": dict(cfg.get("Labels") or {}),
        "published_ports": sorted(ports),
        "volumes": {"binds": sorted(binds), "anonymous": sorted((cfg.get("Volumes") or {}).keys())},
        "mounts": mounts,
        "networks": nets,
        "network_mode": "bridge" if mode == "default" else mode,
        "restart_policy": rp.get("Name") or "no",
        "restart_retries": rp.get("MaximumRetryCount") or 0,
        "healthcheck": health,
        "user": cfg.get("User") or "",
        "working_dir": cfg.get("WorkingDir") or "",
        "hostname": cfg.get("Hostname") or "",
        "memory": host.get("Memory") or 0,
        "cpus": _cpus(host),
        "log_driver": log.get("Type") or "",
        "log_options": dict(log.get("Config") or {}),
        "stop_signal": cfg.get("StopSignal") or "SIGTERM",
        "stop_timeout": cfg.get("StopTimeout") if cfg.get("StopTimeout") is not None else 10,
        "init": bool(host.get("Init")),
        "read_only": bool(host.get("ReadonlyRootfs")),
        "cap_add": sorted(set(normalize_cap(c) for c in host.get("CapAdd") or [])),
        "cap_drop": sorted(set(normalize_cap(c) for c in host.get("CapDrop") or [])),
        "tmpfs": dict(host.get("Tmpfs") or {}),
        "privileged": bool(host.get("Privileged")),
        "security_opts": sorted(set(host.get("SecurityOpt") or [])),
        "etc_hosts": _etc_hosts(host.get("ExtraHosts")),
        "dns_servers": [normalize_ip(d) or d for d in host.get("Dns") or []],
        "ulimits": sorted(ulimit_key(u.get("Name"), u.get("Soft"), u.get("Hard"))
                          for u in host.get("Ulimits") or []),
        "sysctls": dict(host.get("Sysctls") or {}),
        "shm_size": host.get("ShmSize") or 0,
        "devices": sorted(device_key(d.get("PathOnHost"), d.get("PathInContainer"),
                                     d.get("CgroupPermissions")) for d in host.get("Devices") or []),
        "pids_limit": max(host.get("PidsLimit") or 0, 0),
        "memory_reservation": host.get("MemoryReservation") or 0,
        "memory_swap": host.get("MemorySwap") or 0,
        "cpu_shares": host.get("CpuShares") or 0,
        "cpuset_cpus": cpuset_key(host.get("CpusetCpus") or ""),
        "tty": bool(cfg.get("Tty")),
        "interactive": bool(cfg.get("OpenStdin")),
        "domainname": cfg.get("Domainname") or "",
        "groups": sorted(set(host.get("GroupAdd") or [])),
        "exposed_ports": sorted((cfg.get("ExposedPorts") or {}).keys()),
        "dns_search_domains": list(host.get("DnsSearch") or []),
        "dns_opts": sorted(set(host.get("DnsOptions") or [])),
        "pid_mode": host.get("PidMode") or "",
        "ipc_mode": host.get("IpcMode") or "",
        "uts": host.get("UTSMode") or "",
        "userns_mode": host.get("UsernsMode") or "",
        "cgroupns_mode": host.get("CgroupnsMode") or "",
        "cgroup_parent": host.get("CgroupParent") or "",
        "runtime": host.get("Runtime") or "",
        "oom_score_adj": host.get("OomScoreAdj") or 0,
        "cpuset_mems": cpuset_key(host.get("CpusetMems") or ""),
        "volumes_from": sorted(set(_volumes_from(host.get("VolumesFrom")))),
        "auto_remove": bool(host.get("AutoRemove")),
        "publish_all_ports": bool(host.get("PublishAllPorts")),
        "mac_address": (cfg.get("MacAddress") or "").lower(),
        "device_cgroup_rules": sorted(set(host.get("DeviceCgroupRules") or [])),
        "memory_swappiness": _swappiness(host.get("MemorySwappiness")),
        "oom_kill_disable": bool(host.get("OomKillDisable")),
        **{key: sorted("%s:%d" % (d.get("Path"), d.get("Rate") or 0) for d in host.get(api_key) or [])
           for key, api_key in THROTTLE_KEYS.items()},
    }


def _image_healthcheck(hc):
    """An image's HEALTHCHECK (inspect form) in the form actual_from_inspect gives a
    container's: what a container gets for the fields a task leaves out. start_interval is
    not among them (an engine older than API 1.44 keeps none)."""
    out = {}
    if hc and hc.get("Test"):
        out["test"] = list(hc["Test"])
    for src, dst in (("Interval", "interval"), ("Timeout", "timeout"),
                     ("StartPeriod", "start_period"), ("Retries", "retries")):
        if (hc or {}).get(src):
            out[dst] = hc[src]
    return out


def _volumes_from(entries):
    for entry in entries or []:
        try:
            yield volumes_from_key(entry)
        except ValueError:
            yield entry


def _signal(sig):
    sig = str(sig).upper()
    return sig if sig.startswith("SIG") or sig.isdigit() else "SIG" + sig


def _dict_diff(want, have, mode, implied=None):
    """-> (before, after) of differing keys, or None. implied: values the image supplies."""
    implied = implied or {}
    expected = dict(implied)
    expected.update(want)
    before, after = {}, {}
    for k, v in want.items():
        if have.get(k) != v:
            before[k] = have.get(k)
            after[k] = v
    if mode == "strict":
        for k, v in have.items():
            if k not in expected:
                before[k] = v
                after[k] = None
            elif k not in want and expected[k] != v:
                before[k] = v
                after[k] = expected[k]
    return (before, after) if after or before else None


def _mount_key(mount):
    return (mount["type"], mount["source"], mount["target"], mount["read_only"])


def _list_diff(want, have, mode):
    want_s, have_s = set(want), set(have)
    if mode == "allow_more_present":
        return None if want_s <= have_s else (sorted(have_s), sorted(want_s | have_s))
    return None if want_s == have_s else (sorted(have_s), sorted(want_s))


def ports_view(ports):
    return ["%s%s->%s" % ("[%s]:" % ip if ":" in ip else (ip + ":" if ip else ""), hp or "*", cp)
            for cp, ip, hp in ports]


def compare(desired, actual, image=None, comparisons=None, desired_image_id=None):
    """Desired canonical spec vs actual (actual_from_inspect) -> list of differences.

    Each difference: {option, before, after, updatable}. `image` is the desired image's
    inspect (its defaults are never drift); desired_image_id the resolved image ID
    (None when the image is not on the host: then the image differs).
    """
    modes = dict(DEFAULT_COMPARISONS)
    modes.update(comparisons or {})
    defaults = image_defaults(image)
    diffs = []

    def add(option, before, after):
        diffs.append({"option": option, "before": before, "after": after,
                      "updatable": updatable(option, after)})

    for option in DEFAULT_COMPARISONS:
        if option not in desired or modes[option] == "ignore":
            continue
        want = desired[option]
        have = actual.get(option)
        mode = modes[option]
        if option == "image":
            if desired_image_id is None or desired_image_id != have:
                add("image", have, "%s (%s)" % (want, desired_image_id or "not on host"))
        elif option in ("env", "labels", "log_options"):
            implied = defaults.get(option) if option in ("env", "labels") else None
            d = _dict_diff(want, have or {}, mode, implied)
            if d:
                add(option, d[0], d[1])
        elif option in ("tmpfs", "etc_hosts", "sysctls"):
            d = _dict_diff(want, have or {}, mode)
            if d:
                add(option, d[0], d[1])
        elif option == "published_ports":
            want_t = [tuple(p) for p in want]
            d = _list_diff(want_t, have, mode)
            if d:
                add(option, ports_view(d[0]), ports_view(d[1]))
        elif option in ("cap_add", "cap_drop", "security_opts", "ulimits", "devices", "groups",
                        "dns_opts", "volumes_from"):
            d = _list_diff(want, have, mode)
            if d:
                add(option, d[0], d[1])
        elif option == "exposed_ports":
            # the image's EXPOSE and the published ports' container ports are the engine's
            # doing, never drift
            implied = set(defaults["exposed_ports"]) | set(p[0] for p in actual.get("published_ports") or [])
            have_s, want_s = set(have or []), set(want)
            extra = have_s - want_s - implied
            if not want_s <= have_s or (mode != "allow_more_present" and extra):
                add(option, sorted(want_s & have_s | extra), sorted(want_s))
        elif option in ("dns_servers", "dns_search_domains"):
            # in order (the resolvers' order); allow_more_present: these, in any order
            if (mode == "allow_more_present" and not set(want) <= set(have or [])) or \
                    (mode != "allow_more_present" and want != (have or [])):
                add(option, have, want)
        elif option == "volumes":
            want_b = set(tuple(b) for b in want["binds"])
            have_b = set(have["binds"])
            ok_b = want_b <= have_b if mode == "allow_more_present" else want_b == have_b
            # anonymous volumes: the image's own VOLUMEs are never drift
            have_a = set(have["anonymous"]) - set(defaults["volumes"]) - set(b[1] for b in have_b)
            want_a = set(want["anonymous"])
            ok_a = want_a <= set(have["anonymous"]) and (
                mode == "allow_more_present" or have_a <= want_a)
            if not (ok_b and ok_a):
                add(option, [":".join(b) for b in sorted(have_b)] + sorted(have_a),
                    [":".join(b) for b in sorted(want_b)] + sorted(want_a))
        elif option == "mounts":
            want_s = set(_mount_key(m) for m in want)
            have_s = set(_mount_key(m) for m in have)
            ok = want_s <= have_s if mode == "allow_more_present" else want_s == have_s
            if not ok:
                add(option, have, want)
        elif option == "networks":
            before, after = [], []
            for net in want:
                cur = have.get(net["name"])
                if cur is None:
                    before.append({"name": net["name"], "connected": False})
                    after.append(net)
                    continue
                if mode == "strict":   # exactly these aliases, and a fixed address only if asked
                    bad_alias = set(net["aliases"]) != set(cur["aliases"])
                    bad_ip = net["ipv4_address"] != cur["ipv4_address"]
                else:
                    bad_alias = not set(net["aliases"]) <= set(cur["aliases"])
                    bad_ip = net["ipv4_address"] and net["ipv4_address"] != cur["ipv4_address"]
                if bad_alias or bad_ip:
                    before.append(cur)
                    after.append(net)
            if mode == "strict":
                # the network of network_mode (the task's, else the container's) stays: it is
                # the container's primary network, which a disconnect would leave it without
                names = set(n["name"] for n in want)
                names.add(desired.get("network_mode") or actual.get("network_mode"))
                for name, cur in sorted(have.items()):
                    if name not in names:
                        before.append(cur)
                        after.append({"name": name, "connected": False})
            if after:
                add(option, before, after)
        elif option == "healthcheck":
            if want.get("test") == ["NONE"]:
                if have and have.get("test") != ["NONE"]:
                    add(option, have, want)
                continue
            have = have or {}
            before, after = {}, {}
            if mode == "strict" and image is not None:
                # what the task leaves out is the image's (the engine fills in the image's
                # test and timings, or leaves a timing at its default): a value an earlier
                # task set and this one no longer does differs. Not while the image is not
                # known (check mode before a pull)
                implied = _image_healthcheck(defaults["healthcheck"])
                for k in sorted((set(have) | set(implied)) - set(want) - {"start_interval"}):
                    if have.get(k) != implied.get(k):
                        before[k], after[k] = have.get(k), implied.get(k)
            for k, v in want.items():
                # an engine older than API 1.44 keeps no start_interval (the module's wait
                # probes instead, _container_engine.ContainerEngine.wait): compared only
                # where the engine reports one
                if k == "start_interval" and not have.get(k):
                    continue
                if have.get(k) != v:
                    before[k] = have.get(k)
                    after[k] = v
            if after:
                add(option, before, after)
        elif option == "stop_signal":
            if _signal(want) != _signal(have):
                add(option, have, want)
        elif option == "network_mode":
            if want != have:
                add(option, have, want)
        else:
            if want != have:
                add(option, have, want)
    if actual.get("auto_remove"):
        # the engine refuses to update the restart policy of a container it removes when it
        # exits: only a new one (made from the task, without auto_remove) can have it
        for d in diffs:
            if d["option"] in ("restart_policy", "restart_retries"):
                d["updatable"] = False
    return diffs


HIDDEN = "********"


def _hide_env(values, shown):
    if not isinstance(values, dict):
        return values
    return {k: v if k in shown or v is None else HIDDEN for k, v in values.items()}


def diff_view(diffs, shown_env=None):
    """Differences -> Ansible diff before/after dicts holding only differing fields.

    shown_env: the keys of the env option. Every other env value in the diff is HIDDEN: values
    from env_file are secrets, and a variable the container has but the task no longer sets
    may come from an earlier env_file. The names stay, so the diff still says what changes.
    None: every value is shown."""
    before, after = {}, {}
    for d in diffs:
        b, a = d["before"], d["after"]
        if d["option"] == "env" and shown_env is not None:
            shown = {str(k) for k in shown_env}
            b, a = _hide_env(b, shown), _hide_env(a, shown)
        before[d["option"]], after[d["option"]] = b, a
    return before, after


def plan(state, exists, running, diffs, recreate=False, restart=False):
    """Steps to converge one container.

    state: started|present|stopped|absent. Returns a list of step names, in order, from:
    remove, create, update, start, stop, restart. 'create' after 'remove' is a recreate;
    'update' applies the updatable differences in place.
    """
    if state == "absent":
        return ["remove"] if exists else []
    if not exists:
        return ["create", "start"] if state == "started" else ["create"]
    steps = []
    needs_new = recreate or any(not d["updatable"] for d in diffs)
    if needs_new:
        steps += ["remove", "create"]
        if state == "started" or (state == "present" and running):
            steps.append("start")
        return steps
    if diffs:
        steps.append("update")
    if state == "started":
        if not running:
            steps.append("start")
        elif restart:
            steps.append("restart")
    elif state == "stopped" and running:
        steps.append("stop")
    elif state == "present" and restart and running:
        steps.append("restart")
    return steps
