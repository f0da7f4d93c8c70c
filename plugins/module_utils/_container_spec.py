# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Container options: the argument_spec shared by the container and service modules,
and their parsing into one canonical form (pure functions, no engine access).

The canonical spec holds ONLY the options the user set; the comparison engine
(_compare.py) compares exactly those. Every parse error is a SpecError that
names the option, raised before anything talks to the engine.

Private to dockyard.fleet: no compatibility promise for code outside the collection.
"""
from __future__ import annotations

import ipaddress
import posixpath
import re
import shlex

NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
RESTART_POLICIES = ("no", "on-failure", "always", "unless-stopped")
COMPARISON_MODES = ("strict", "ignore", "allow_more_present")
# Block I/O limits per device (the engine's BlkioDevice{Read,Write}{Bps,IOps}): the options'
# suboptions, and option -> the engine's key
THROTTLE_OPTIONS = dict(path=dict(type="str", required=True), rate=dict(type="str", required=True))
THROTTLE_KEYS = {"device_read_bps": "BlkioDeviceReadBps", "device_write_bps": "BlkioDeviceWriteBps",
                 "device_read_iops": "BlkioDeviceReadIOps", "device_write_iops": "BlkioDeviceWriteIOps"}
THROTTLES = tuple(THROTTLE_KEYS)
MAC_RE = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")
CGROUP_RULE_RE = re.compile(r"^[acb] (\d+|\*):(\d+|\*) [rwm]{1,3}$")

# The options both modules share (argument_spec pieces). Module-specific options
# (name, state, replicas, ...) are added by each module.
CONTAINER_ARGS = dict(
    image=dict(type="str"),
    pull=dict(type="str", default="missing", choices=["missing", "always", "never"]),
    command=dict(type="raw"),
    entrypoint=dict(type="raw"),
    env=dict(type="dict"),
    env_file=dict(type="path"),
    labels=dict(type="dict"),
    published_ports=dict(type="list", elements="str", aliases=["ports"]),
    volumes=dict(type="list", elements="str"),
    mounts=dict(type="list", elements="dict", options=dict(
        type=dict(type="str", default="volume", choices=["bind", "volume", "tmpfs"]),
        source=dict(type="str"),
        target=dict(type="str", required=True),
        read_only=dict(type="bool", default=False),
    )),
    networks=dict(type="list", elements="dict", options=dict(
        name=dict(type="str", required=True),
        aliases=dict(type="list", elements="str"),
        ipv4_address=dict(type="str"),
    )),
    network_mode=dict(type="str"),
    restart_policy=dict(type="str", choices=list(RESTART_POLICIES)),
    restart_retries=dict(type="int"),
    healthcheck=dict(type="dict", options=dict(
        test=dict(type="raw"),
        interval=dict(type="str"),
        timeout=dict(type="str"),
        retries=dict(type="int"),
        start_period=dict(type="str"),
        start_interval=dict(type="str"),
        disable=dict(type="bool", default=False),
    )),
    user=dict(type="str"),
    working_dir=dict(type="str"),
    hostname=dict(type="str"),
    memory=dict(type="str"),
    memory_reservation=dict(type="str"),
    memory_swap=dict(type="str"),
    cpus=dict(type="float"),
    cpu_shares=dict(type="int"),
    cpuset_cpus=dict(type="str"),
    log_driver=dict(type="str"),
    log_options=dict(type="dict"),
    stop_signal=dict(type="str"),
    stop_timeout=dict(type="int"),
    init=dict(type="bool"),
    read_only=dict(type="bool"),
    cap_add=dict(type="list", elements="str"),
    cap_drop=dict(type="list", elements="str"),
    tmpfs=dict(type="list", elements="str"),
    privileged=dict(type="bool"),
    security_opts=dict(type="list", elements="str"),
    etc_hosts=dict(type="dict"),
    dns_servers=dict(type="list", elements="str"),
    ulimits=dict(type="list", elements="str"),
    sysctls=dict(type="dict"),
    shm_size=dict(type="str"),
    devices=dict(type="list", elements="str"),
    pids_limit=dict(type="int"),
    tty=dict(type="bool"),
    interactive=dict(type="bool"),
    domainname=dict(type="str"),
    groups=dict(type="list", elements="str"),
    exposed_ports=dict(type="list", elements="str", aliases=["exposed", "expose"]),
    dns_search_domains=dict(type="list", elements="str"),
    dns_opts=dict(type="list", elements="str"),
    pid_mode=dict(type="str"),
    ipc_mode=dict(type="str"),
    uts=dict(type="str"),
    userns_mode=dict(type="str"),
    cgroupns_mode=dict(type="str", choices=["private", "host"]),
    cgroup_parent=dict(type="str"),
    runtime=dict(type="str"),
    oom_score_adj=dict(type="int"),
    cpuset_mems=dict(type="str"),
    volumes_from=dict(type="list", elements="str"),
    auto_remove=dict(type="bool"),
    publish_all_ports=dict(type="bool"),
    mac_address=dict(type="str"),
    device_cgroup_rules=dict(type="list", elements="str"),
    device_read_bps=dict(type="list", elements="dict", options=THROTTLE_OPTIONS),
    device_write_bps=dict(type="list", elements="dict", options=THROTTLE_OPTIONS),
    device_read_iops=dict(type="list", elements="dict", options=THROTTLE_OPTIONS),
    device_write_iops=dict(type="list", elements="dict", options=THROTTLE_OPTIONS),
    memory_swappiness=dict(type="int"),
    oom_kill_disable=dict(type="bool"),
    comparisons=dict(type="dict"),
    recreate=dict(type="bool", default=False),
    restart=dict(type="bool", default=False),
    keep_volumes=dict(type="bool", default=True),
    wait=dict(type="str", default="none", choices=["none", "running", "healthy"]),
    wait_timeout=dict(type="int", default=60),
)

# Options that become part of the canonical spec (compared against the container).
COMPARED = ("image", "command", "entrypoint", "env", "labels", "published_ports", "volumes",
            "mounts", "networks", "network_mode", "restart_policy", "restart_retries",
            "healthcheck", "user", "working_dir", "hostname", "memory", "cpus", "log_driver",
            "log_options", "stop_signal", "stop_timeout", "init", "read_only", "cap_add",
            "cap_drop", "tmpfs", "privileged", "security_opts", "etc_hosts", "dns_servers",
            "ulimits", "sysctls", "shm_size", "devices", "pids_limit", "memory_reservation", "memory_swap",
            "cpu_shares", "cpuset_cpus", "tty", "interactive", "domainname", "groups",
            "exposed_ports", "dns_search_domains", "dns_opts", "pid_mode", "ipc_mode", "uts",
            "userns_mode", "cgroupns_mode", "cgroup_parent", "runtime", "oom_score_adj",
            "cpuset_mems", "volumes_from", "auto_remove", "publish_all_ports", "mac_address",
            "device_cgroup_rules", "memory_swappiness", "oom_kill_disable") + THROTTLES

# Namespace modes: the values each takes ("" is the container's own, the engine's default;
# ipc_mode's default is the engine's default-ipc-mode, private or shareable)
NAMESPACE_MODES = {
    "pid_mode": r"(host|container:[a-zA-Z0-9][a-zA-Z0-9_.-]*)?",
    "ipc_mode": r"(none|private|shareable|host|container:[a-zA-Z0-9][a-zA-Z0-9_.-]*)",
    "uts": r"(host)?",
    "userns_mode": r"(host)?",
}


class SpecError(ValueError):
    """Bad user input; the message names the option. changed: whether the run changed the
    host before it found the error (an image pulled first)."""

    def __init__(self, option, msg, changed=False):
        super().__init__("%s: %s" % (option, msg))
        self.option = option
        self.changed = changed


# ------------------------------------------------------------------ scalars
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([bkmgt]?)i?b?\s*$", re.I)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3, "t": 1024 ** 4}


def parse_memory(value, option="memory"):
    """'512m' -> bytes (binary units, like `docker run --memory`)."""
    if isinstance(value, bool):
        raise SpecError(option, "invalid size %r" % (value,))
    if isinstance(value, int):
        size = value
    else:
        m = _SIZE_RE.match(str(value))
        if not m:
            raise SpecError(option, "invalid size %r (use a number of bytes or a suffix b, k, m, g, "
                                    "t, for example 512m)" % (value,))
        size = int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])
    if size < 0:
        raise SpecError(option, "size must not be negative")
    return size


def cpuset_key(value, option="cpuset_cpus"):
    """'3,0-1,2' -> '0-3': the CPUs of a cpuset list, in order, ranges merged, the one form
    of both the spec and the engine's report. '' (every CPU, the engine's default) stays ''."""
    text = str(value).strip()
    if not text:
        return ""
    cpus = set()
    for part in text.split(","):
        m = re.match(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$", part)
        if not m or (m.group(2) is not None and int(m.group(2)) < int(m.group(1))):
            raise SpecError(option, "%r is not a CPU list (numbers and ranges such as 0-3,6, "
                                    "comma separated)" % (value,))
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi - lo > 4096:
            raise SpecError(option, "range %s is too wide" % part.strip())
        cpus.update(range(lo, hi + 1))
    runs = []   # [first, last] of each run of consecutive CPUs
    for cpu in sorted(cpus):
        if runs and cpu == runs[-1][1] + 1:
            runs[-1][1] = cpu
        else:
            runs.append([cpu, cpu])
    return ",".join(str(a) if a == b else "%d-%d" % (a, b) for a, b in runs)


_DUR_RE = re.compile(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)")
_DUR_NS = {"ns": 1, "us": 1000, "ms": 1000 ** 2, "s": 1000 ** 3, "m": 60 * 1000 ** 3,
           "h": 3600 * 1000 ** 3}


def parse_duration(value, option):
    """'1m30s', '500ms', '10' (seconds) -> nanoseconds."""
    text = str(value).strip()
    if re.match(r"^\d+(\.\d+)?$", text):
        return int(float(text) * 1000 ** 3)
    if not text or _DUR_RE.sub("", text) != "":
        raise SpecError(option, "invalid duration %r (use for example 30s, 1m30s, 500ms or a number "
                                "of seconds)" % (value,))
    return int(sum(float(n) * _DUR_NS[u] for n, u in _DUR_RE.findall(text)))


def split_command(value, option):
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError as exc:
            raise SpecError(option, "cannot split %r: %s" % (value, exc)) from exc
    if isinstance(value, (list, tuple)):
        for v in value:
            # str() of a nested list or a dict would pass "['a']" to the engine as one word
            if isinstance(v, (list, tuple, dict)) or v is None:
                raise SpecError(option, "each element must be a string, got %r in %r" % (v, value))
        return [str(v) for v in value]
    raise SpecError(option, "must be a list or a string")


def stringify(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


# ------------------------------------------------------------------ ports
def _port_range(text, option, spec):
    text = text.strip()
    m = re.match(r"^(\d+)(?:-(\d+))?$", text)
    if not m:
        raise SpecError(option, "invalid port %r in %r" % (text, spec))
    lo = int(m.group(1))
    hi = int(m.group(2)) if m.group(2) else lo
    if not (0 < lo <= 65535 and 0 < hi <= 65535 and lo <= hi):
        raise SpecError(option, "port out of range in %r" % (spec,))
    return lo, hi


def normalize_ip(text):
    """'' and '0.0.0.0' mean all interfaces; IPv6 without brackets, compressed."""
    text = (text or "").strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if text in ("", "0.0.0.0"):
        return ""
    try:
        return ipaddress.ip_address(text).compressed
    except ValueError:
        return text


def parse_port(spec, option="published_ports"):
    """One published port spec -> list of (container_port 'N/proto', host_ip, host_port str)."""
    text = str(spec).strip()
    proto = "tcp"
    if "/" in text:
        text, proto = text.rsplit("/", 1)
        proto = proto.lower()
        if proto not in ("tcp", "udp", "sctp"):
            raise SpecError(option, "invalid protocol in %r" % (spec,))
    host_ip = ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or text[end + 1:end + 2] != ":":
            raise SpecError(option, "invalid IPv6 address in %r (use [addr]:host:container)" % (spec,))
        host_ip = text[1:end]
        rest = text[end + 2:].split(":")
        if len(rest) != 2:
            raise SpecError(option, "invalid port spec %r" % (spec,))
        host_part, cont_part = rest
    else:
        parts = text.split(":")
        if len(parts) == 1:
            host_part, cont_part = "", parts[0]
        elif len(parts) == 2:
            host_part, cont_part = parts
        elif len(parts) == 3:
            host_ip, host_part, cont_part = parts
        else:
            raise SpecError(option, "invalid port spec %r (IPv6 addresses need brackets: "
                                    "[::1]:8080:80)" % (spec,))
    if host_ip:
        try:
            ipaddress.ip_address(host_ip)
        except ValueError as exc:
            raise SpecError(option, "invalid host IP %r in %r" % (host_ip, spec)) from exc
    host_ip = normalize_ip(host_ip)
    c_lo, c_hi = _port_range(cont_part, option, spec)
    if host_part.strip() == "":
        return [("%d/%s" % (p, proto), host_ip, "") for p in range(c_lo, c_hi + 1)]
    h_lo, h_hi = _port_range(host_part, option, spec)
    if c_lo == c_hi and h_lo != h_hi:
        # a host range for one container port: the engine picks a free port in it
        return [("%d/%s" % (c_lo, proto), host_ip, "%d-%d" % (h_lo, h_hi))]
    if (h_hi - h_lo) != (c_hi - c_lo):
        raise SpecError(option, "host and container port ranges differ in size in %r" % (spec,))
    return [("%d/%s" % (c, proto), host_ip, str(h_lo + i))
            for i, c in enumerate(range(c_lo, c_hi + 1))]


def parse_ports(specs, option="published_ports"):
    out = set()
    for spec in specs or []:
        out.update(parse_port(spec, option))
    return sorted(out)


# ------------------------------------------------------------------ volumes and mounts
_VOLUME_MODES = {"ro", "rw", "z", "Z", "shared", "rshared", "slave", "rslave", "private",
                 "rprivate", "nocopy", "consistent", "cached", "delegated"}
# at most one mode of each group (access, SELinux label, propagation, consistency)
_EXCLUSIVE_MODES = ({"ro", "rw"}, {"z", "Z"},
                    {"shared", "rshared", "slave", "rslave", "private", "rprivate"},
                    {"consistent", "cached", "delegated"})
VOLUME_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


def normalize_bind(text, option="volumes"):
    """'src:dst[:mode]' -> (src, dst, mode) with mode a sorted comma list, 'rw' implied."""
    parts = str(text).split(":")
    if len(parts) < 2 or len(parts) > 3 or not parts[0] or not parts[1]:
        raise SpecError(option, "invalid volume %r (use /host:/container[:ro] or name:/container)"
                        % (text,))
    src, dst = parts[0], parts[1]
    modes = set(m for m in (parts[2].split(",") if len(parts) == 3 else []) if m)
    bad = modes - _VOLUME_MODES
    if bad:
        raise SpecError(option, "invalid mode %s in %r" % (",".join(sorted(bad)), text))
    for group in _EXCLUSIVE_MODES:   # the engine refuses them together ("invalid mode")
        if len(modes & group) > 1:
            raise SpecError(option, "modes %s exclude each other in %r"
                            % (" and ".join(sorted(modes & group)), text))
    if "nocopy" in modes and src.startswith("/"):
        raise SpecError(option, "mode nocopy is for a named volume, not the host path %s in %r"
                        % (src, text))
    if not dst.startswith("/"):
        raise SpecError(option, "container path must be absolute in %r" % (text,))
    if not src.startswith("/") and not re.match(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$", src):
        raise SpecError(option, "invalid volume name or host path %r in %r" % (src, text))
    if "ro" not in modes:
        modes.add("rw")
    return (src, dst.rstrip("/") or "/", ",".join(sorted(modes)))


def parse_volumes(specs, option="volumes"):
    """-> {'binds': sorted [(src, dst, mode)], 'anonymous': sorted [dst]}"""
    binds, anon = set(), set()
    for spec in specs or []:
        text = str(spec).strip()
        if ":" not in text:
            if not text.startswith("/"):
                raise SpecError(option, "invalid volume %r" % (spec,))
            anon.add(text.rstrip("/") or "/")
        else:
            binds.add(normalize_bind(text, option))
    return {"binds": sorted(binds), "anonymous": sorted(anon)}


def parse_mounts(mounts, option="mounts"):
    out = []
    for i, m in enumerate(mounts or []):
        mtype = m.get("type") or "volume"
        target = m.get("target")
        if not target or not str(target).startswith("/"):
            raise SpecError("%s[%d].target" % (option, i), "must be an absolute path")
        source = m.get("source") or ""
        if mtype == "bind" and not str(source).startswith("/"):
            raise SpecError("%s[%d].source" % (option, i), "a bind mount needs an absolute host path")
        if mtype == "tmpfs" and source:
            raise SpecError("%s[%d].source" % (option, i), "a tmpfs mount has no source")
        if mtype == "volume" and source and not VOLUME_NAME_RE.match(str(source)):
            raise SpecError("%s[%d].source" % (option, i), "a volume mount's source is a volume name "
                            "([a-zA-Z0-9][a-zA-Z0-9_.-]*), got %r; for a host path use type bind"
                            % (source,))
        out.append({"type": mtype, "source": source, "target": str(target).rstrip("/") or "/",
                    "read_only": bool(m.get("read_only"))})
    return sorted(out, key=lambda d: (d["target"], d["type"], d["source"]))


# ------------------------------------------------------------------ healthcheck
DURATIONS = ("interval", "timeout", "start_period", "start_interval")


def parse_healthcheck(hc, option="healthcheck"):
    """-> {optional 'test': [...], optional 'interval'/'timeout'/'start_period'/'start_interval'
    ns, 'retries'}; None when nothing is set (the image's). Without a test the engine keeps
    the image's (HEALTHCHECK) with the timings given here."""
    if hc is None:
        return None
    if hc.get("disable"):
        return {"test": ["NONE"]}
    test = hc.get("test")
    if test is None:
        # nothing set, or only zeros (the image's values): the image's healthcheck as it is
        return _timings(hc, option, {}) or None
    if isinstance(test, str):
        test = ["NONE"] if test.strip().upper() == "NONE" else ["CMD-SHELL", test]
    elif isinstance(test, (list, tuple)):
        test = [str(t) for t in test]
        if not test:
            raise SpecError(option + ".test", "must not be empty")
        if test[0].upper() == "NONE":
            test = ["NONE"]
        elif test[0] not in ("CMD", "CMD-SHELL"):
            test = ["CMD"] + test
    else:
        raise SpecError(option + ".test", "must be a string or a list")
    if test == ["NONE"]:
        return {"test": test}
    # the engine takes a bare CMD or CMD-SHELL, and its first check then crashes it (dockerd
    # panics, every container of the host goes down): refused here
    if len(test) < 2 or not test[1].strip():
        raise SpecError(option + ".test", "%s needs a command after it, got %r"
                        % (test[0], hc.get("test")))
    return _timings(hc, option, {"test": test})


def timings_without_test(spec):
    """Whether the spec's healthcheck gives timings and takes its test from the image."""
    hc = spec.get("healthcheck")
    return bool(hc) and "test" not in hc


def check_image_healthcheck(spec, image_info, option="healthcheck", pulled=False,
                            which="image %s"):
    """Timings without a test take the image's HEALTHCHECK test: on an image without one the
    container would get no check at all and the timings would be lost without a word. Raises
    SpecError naming option healthcheck.test, before any container is changed (changed: the
    image was pulled just before, which the message says). Nothing to check while the image
    is not known (check mode before a pull). which: how the message names the image (%s)."""
    if not timings_without_test(spec) or not image_info:
        return
    hc = spec["healthcheck"]
    test = ((image_info.get("Config") or {}).get("Healthcheck") or {}).get("Test") or []
    if not test or test[0] == "NONE":
        raise SpecError(option + ".test", "needed: %s has no HEALTHCHECK, so the timings given "
                        "(%s) would apply to no check; give the test, or set %s.disable%s"
                        % (which % (spec.get("image") or image_info.get("Id")),
                           ", ".join(sorted(hc)), option,
                           " (no container was changed, but the image to run was pulled)"
                           if pulled else ""), changed=pulled)


def _timings(hc, option, out):
    """out with the durations (ns) and retries of hc, checked. 0 is left out: the engine reads
    it as not set and gives the container the image's value (or its own default), as
    `docker run --health-retries 0` does; kept, it would differ from that on every run."""
    for key in DURATIONS:
        if hc.get(key) not in (None, ""):
            ns = parse_duration(hc[key], "%s.%s" % (option, key))
            if ns and ns < 1000 ** 2:
                raise SpecError("%s.%s" % (option, key), "must be at least 1ms")
            if ns:
                out[key] = ns
    if hc.get("retries") is not None:
        if hc["retries"] < 0:
            raise SpecError(option + ".retries", "must not be negative")
        if hc["retries"]:
            out["retries"] = hc["retries"]
    return out


# ------------------------------------------------------------------ misc
def normalize_cap(cap):
    cap = str(cap).strip().upper()
    return cap[4:] if cap.startswith("CAP_") else cap


def parse_caps(caps, option):
    """cap_add / cap_drop -> sorted names without CAP_; a name that cannot be a capability
    (the kernel's names are letters, digits and _) is refused naming the option. Names of
    that form the kernel lacks are the engine's to refuse (create() names the option)."""
    out = set()
    for i, cap in enumerate(caps or []):
        name = normalize_cap(cap)
        if not re.match(r"^[A-Z][A-Z0-9_]*$", name):
            raise SpecError("%s[%d]" % (option, i), "%r is not a capability name (such as NET_ADMIN "
                            "or CAP_NET_ADMIN, or ALL)" % (cap,))
        out.add(name)
    return sorted(out)


def working_dir_key(path, option="working_dir"):
    """The working directory as the engine keeps it: an absolute path, cleaned (no trailing
    or doubled /, no . or ..), as Go's filepath.Clean does; the engine refuses a relative one."""
    if not path.startswith("/"):
        raise SpecError(option, "must be an absolute path, got %r" % (path,))
    return "/" + posixpath.normpath(path).lstrip("/")


def parse_tmpfs(specs, option="tmpfs"):
    out = {}
    for spec in specs or []:
        path, dummy, opts = str(spec).partition(":")
        if not path.startswith("/"):
            raise SpecError(option, "invalid tmpfs %r (use /path[:options])" % (spec,))
        out[path] = opts
    return out


def parse_etc_hosts(hosts, option="etc_hosts"):
    """{hostname: address} -> the same with addresses normalised. Docker's special
    C(host-gateway) is kept as it is."""
    out = {}
    for name, addr in (hosts or {}).items():
        name, addr = str(name).strip(), str(addr).strip()
        if not name or ":" in name or "=" in name or any(c.isspace() for c in name):
            raise SpecError(option, "invalid hostname %r" % (name,))
        if addr != "host-gateway":
            try:
                addr = ipaddress.ip_address(addr).compressed
            except ValueError as exc:
                raise SpecError("%s.%s" % (option, name), "invalid IP address %r (or "
                                "host-gateway)" % (addr,)) from exc
        out[name] = addr
    return out


def parse_dns_servers(servers, option="dns_servers"):
    """Resolver addresses, in order (the order is the resolvers' order)."""
    out = []
    for i, addr in enumerate(servers or []):
        try:
            out.append(ipaddress.ip_address(str(addr).strip()).compressed)
        except ValueError as exc:
            raise SpecError("%s[%d]" % (option, i), "invalid IP address %r" % (addr,)) from exc
    return out


def ulimit_key(name, soft, hard):
    """The canonical form of one ulimit, as parse_spec and the comparison write it."""
    return "%s:%d:%d" % (name, soft, hard)


def device_key(host, container, perms):
    """The canonical form of one device: permissions in r, w, m order."""
    return "%s:%s:%s" % (host, container, "".join(c for c in "rwm" if c in (perms or "")))


# The names the engine takes (setrlimit's, as `docker run --ulimit` spells them).
ULIMIT_NAMES = ("core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile",
                "nproc", "rss", "rtprio", "rttime", "sigpending", "stack")


def parse_ulimits(specs, option="ulimits"):
    """['nofile:1024:2048', 'nproc:512'] -> sorted 'name:soft:hard' (hard = soft when left
    out; -1 is unlimited), one per name."""
    out = {}
    for i, spec in enumerate(specs or []):
        parts = str(spec).strip().split(":")
        name = parts[0].strip().lower()
        where = "%s[%d]" % (option, i)
        try:
            if len(parts) not in (2, 3):
                raise ValueError
            soft = int(parts[1])
            hard = int(parts[2]) if len(parts) == 3 else soft
        except ValueError as exc:
            raise SpecError(where, "invalid ulimit %r (use name:soft[:hard], for example "
                                   "nofile:1024:2048)" % (spec,)) from exc
        if name not in ULIMIT_NAMES:
            raise SpecError(where, "unknown ulimit %r (known: %s)" % (name, ", ".join(ULIMIT_NAMES)))
        if soft < -1 or hard < -1:
            raise SpecError(where, "a limit below -1 in %r (-1 is unlimited)" % (spec,))
        if hard != -1 and (soft == -1 or soft > hard):
            raise SpecError(where, "soft limit above the hard one in %r" % (spec,))
        if name in out:
            raise SpecError(where, "ulimit %s given twice" % name)
        out[name] = ulimit_key(name, soft, hard)
    return sorted(out.values())


def parse_devices(specs, option="devices"):
    """['/dev/fuse', '/dev/sda:/dev/xvda:r'] -> sorted 'host:container:permissions' (the
    container path is the host's when left out, permissions rwm)."""
    out = {}
    for i, spec in enumerate(specs or []):
        parts = str(spec).strip().split(":")
        where = "%s[%d]" % (option, i)
        if len(parts) == 2 and parts[1] and not parts[1].startswith("/"):
            parts = [parts[0], parts[0], parts[1]]      # /dev/x:rw
        if not 1 <= len(parts) <= 3 or not all(p.startswith("/") for p in parts[:2]):
            raise SpecError(where, "invalid device %r (use /dev/host[:/dev/container][:rwm])"
                            % (spec,))
        host, cont = parts[0], parts[1] if len(parts) > 1 else parts[0]
        perms = parts[2] if len(parts) > 2 else "rwm"
        if not perms or set(perms) - set("rwm"):
            raise SpecError(where, "invalid permissions %r in %r (any of r, w, m)" % (perms, spec))
        if cont in out:
            raise SpecError(where, "%s is given twice in the container" % cont)
        out[cont] = device_key(host, cont, perms)
    return sorted(out.values())


def read_env_file(path, option="env_file"):
    env = {}
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise SpecError(option, "cannot read %s: %s" % (path, exc)) from exc
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[7:].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key or re.search(r"\s", key):
            raise SpecError(option, "%s line %d: expected KEY=VALUE" % (path, n))
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        env[key] = value
    return env


def validate_name(name, option="name"):
    if not name or not NAME_RE.match(name):
        raise SpecError(option, "invalid container name %r (allowed: [a-zA-Z0-9][a-zA-Z0-9_.-]*)"
                        % (name,))
    return name


def parse_comparisons(value, option="comparisons"):
    out = {}
    for key, mode in (value or {}).items():
        if key not in COMPARED:
            raise SpecError(option, "unknown option %r (known: %s)" % (key, ", ".join(COMPARED)))
        if mode not in COMPARISON_MODES:
            raise SpecError(option, "%s: mode must be one of %s, got %r"
                            % (key, ", ".join(COMPARISON_MODES), mode))
        out[key] = mode
    return out


def parse_spec(params):
    """Module params -> canonical spec of the options the user set.

    Keys are those of COMPARED; absent keys were not set and are not compared.
    """
    p = params
    spec = {}
    if p.get("image"):
        spec["image"] = p["image"].strip()
    command = split_command(p.get("command"), "command")
    if command:  # `command: []` means the image's default: nothing to compare
        spec["command"] = command
    entrypoint = split_command(p.get("entrypoint"), "entrypoint")
    if entrypoint is not None and entrypoint != []:
        spec["entrypoint"] = entrypoint
    env = None
    if p.get("env_file"):
        env = read_env_file(p["env_file"])
    if p.get("env") is not None:
        env = dict(env or {})
        for k, v in p["env"].items():
            if not k or "=" in str(k):
                raise SpecError("env", "invalid variable name %r" % (k,))
            env[str(k)] = stringify(v)
    if env is not None:
        spec["env"] = env
    if p.get("labels") is not None:
        if any(not str(k).strip() for k in p["labels"]):
            raise SpecError("labels", "a label needs a name (an empty key was given)")
        spec["labels"] = {str(k): stringify(v) for k, v in p["labels"].items()}
    if p.get("published_ports") is not None:
        spec["published_ports"] = parse_ports(p["published_ports"])
    if p.get("volumes") is not None:
        spec["volumes"] = parse_volumes(p["volumes"])
    if p.get("mounts") is not None:
        spec["mounts"] = parse_mounts(p["mounts"])
    if p.get("networks") is not None:
        nets = []
        for i, n in enumerate(p["networks"]):
            if n.get("ipv4_address"):
                try:
                    ipaddress.IPv4Address(n["ipv4_address"])
                except ValueError as exc:
                    raise SpecError("networks[%d].ipv4_address" % i, "invalid IPv4 address %r"
                                    % (n["ipv4_address"],)) from exc
            nets.append({"name": n["name"], "aliases": sorted(set(n.get("aliases") or [])),
                         "ipv4_address": n.get("ipv4_address") or ""})
        spec["networks"] = nets
    if p.get("network_mode"):
        mode = p["network_mode"].strip()
        spec["network_mode"] = "bridge" if mode == "default" else mode
    if p.get("restart_policy"):
        spec["restart_policy"] = p["restart_policy"]
    if p.get("restart_retries") is not None:
        if p["restart_retries"] < 0:
            raise SpecError("restart_retries", "must not be negative")
        # 0 is what every policy has (the engine refuses more but for on-failure)
        if p["restart_retries"] and p.get("restart_policy") not in (None, "on-failure"):
            raise SpecError("restart_retries", "only applies to restart_policy on-failure")
        spec["restart_retries"] = p["restart_retries"]
        if p["restart_retries"]:
            # retries alone mean on-failure (the only policy that has them), as the engine is
            # asked for on a create: the same in the comparison and in an update in place
            spec["restart_policy"] = "on-failure"
    if (hc := parse_healthcheck(p.get("healthcheck"))) is not None:
        spec["healthcheck"] = hc
    for key in ("user", "working_dir", "hostname", "log_driver", "stop_signal"):
        if p.get(key) not in (None, ""):
            spec[key] = str(p[key])
    if "working_dir" in spec:
        spec["working_dir"] = working_dir_key(spec["working_dir"])
    if p.get("memory") not in (None, ""):
        spec["memory"] = parse_memory(p["memory"])
    if p.get("cpus") is not None:
        if p["cpus"] < 0:
            raise SpecError("cpus", "must not be negative")
        spec["cpus"] = round(float(p["cpus"]), 3)
    if p.get("memory_reservation") not in (None, ""):
        spec["memory_reservation"] = parse_memory(p["memory_reservation"], "memory_reservation")
        if spec.get("memory") and spec["memory_reservation"] > spec["memory"]:
            raise SpecError("memory_reservation", "%s is above memory (%s): the soft limit must "
                            "not exceed the hard one" % (p["memory_reservation"], p["memory"]))
    if p.get("memory_swap") not in (None, ""):
        swap = -1 if str(p["memory_swap"]).strip() == "-1" else parse_memory(p["memory_swap"], "memory_swap")
        if not spec.get("memory"):
            raise SpecError("memory_swap", "needs memory: the engine limits swap only together with "
                                           "a memory limit")
        if swap != -1 and swap < spec["memory"]:
            raise SpecError("memory_swap", "%s is below memory (%s): memory_swap is memory plus swap, "
                                           "at least memory (equal: no swap), or -1 for unlimited swap"
                            % (p["memory_swap"], p["memory"]))
        spec["memory_swap"] = swap
    if p.get("cpu_shares") is not None:
        if p["cpu_shares"] < 0 or p["cpu_shares"] == 1 or p["cpu_shares"] > 262144:
            raise SpecError("cpu_shares", "must be 2 to 262144, or 0 for the engine's default "
                                          "(1024), got %s" % p["cpu_shares"])
        spec["cpu_shares"] = p["cpu_shares"]
    if p.get("cpuset_cpus") is not None:
        spec["cpuset_cpus"] = cpuset_key(p["cpuset_cpus"], "cpuset_cpus")
    if p.get("log_options") is not None:
        spec["log_options"] = {str(k): stringify(v) for k, v in p["log_options"].items()}
    if p.get("stop_timeout") is not None:
        if p["stop_timeout"] < 0:
            raise SpecError("stop_timeout", "must not be negative, got %s" % p["stop_timeout"])
        spec["stop_timeout"] = p["stop_timeout"]
    for key in ("init", "read_only"):
        if p.get(key) is not None:
            spec[key] = bool(p[key])
    for key in ("cap_add", "cap_drop"):
        if p.get(key) is not None:
            spec[key] = parse_caps(p[key], key)
    if p.get("tmpfs") is not None:
        spec["tmpfs"] = parse_tmpfs(p["tmpfs"])
    if p.get("privileged") is not None:
        spec["privileged"] = bool(p["privileged"])
    if p.get("security_opts") is not None:
        spec["security_opts"] = sorted(set(str(o).strip() for o in p["security_opts"]))
    if p.get("etc_hosts") is not None:
        spec["etc_hosts"] = parse_etc_hosts(p["etc_hosts"])
    if p.get("dns_servers") is not None:
        spec["dns_servers"] = parse_dns_servers(p["dns_servers"])
    if p.get("ulimits") is not None:
        spec["ulimits"] = parse_ulimits(p["ulimits"])
    if p.get("sysctls") is not None:
        spec["sysctls"] = {str(k).strip(): stringify(v) for k, v in p["sysctls"].items()}
    if p.get("shm_size") not in (None, ""):
        shm = parse_memory(p["shm_size"], "shm_size")
        if shm:   # 0 is the engine's default (64 MiB), as unset: not compared
            spec["shm_size"] = shm
    if p.get("devices") is not None:
        spec["devices"] = parse_devices(p["devices"])
    if p.get("pids_limit") is not None:
        if p["pids_limit"] < -1:
            raise SpecError("pids_limit", "must be -1 or 0 (no limit) or positive")
        spec["pids_limit"] = max(p["pids_limit"], 0)   # -1 and 0 both: no limit
    _parse_more(p, spec)
    if p.get("wait_timeout") is not None and p["wait_timeout"] <= 0:
        raise SpecError("wait_timeout", "must be positive")
    return spec


def _parse_more(p, spec):
    """parse_spec, continued: the process, namespace and kernel options."""
    for key in ("tty", "interactive"):
        if p.get(key) is not None:
            spec[key] = bool(p[key])
    # "" is the engine's default here, compared as such (no domain, the container's own
    # namespace, the engine's cgroup parent)
    for key in ("domainname", "pid_mode", "uts", "userns_mode", "cgroup_parent"):
        if p.get(key) is not None:
            spec[key] = str(p[key]).strip()
    # "" leaves them to the engine (its default-ipc-mode, its default runtime): not compared
    for key in ("ipc_mode", "runtime", "cgroupns_mode"):
        if p.get(key) not in (None, ""):
            spec[key] = str(p[key]).strip()
    for key, pattern in NAMESPACE_MODES.items():
        if key in spec and not re.match(r"^%s$" % pattern, spec[key]):
            raise SpecError(key, "%r is not a mode the engine takes (%s)" % (
                spec[key], pattern.replace("[a-zA-Z0-9][a-zA-Z0-9_.-]*", "<name>").strip("()?")))
    if spec.get("uts") == "host":
        named = [k for k in ("hostname", "domainname") if p.get(k)]
        if named:
            raise SpecError("uts", "host shares the host's names: %s cannot be set with it"
                            % " and ".join(named))
    if p.get("groups") is not None:
        spec["groups"] = sorted(set(str(g).strip() for g in p["groups"] if str(g).strip()))
    if p.get("exposed_ports") is not None:
        spec["exposed_ports"] = parse_exposed(p["exposed_ports"])
    if p.get("dns_search_domains") is not None:   # in order: the resolver tries them so
        spec["dns_search_domains"] = [str(d).strip() for d in p["dns_search_domains"]]
    if p.get("dns_opts") is not None:
        spec["dns_opts"] = sorted(set(str(o).strip() for o in p["dns_opts"]))
    if p.get("oom_score_adj") is not None:
        if not -1000 <= p["oom_score_adj"] <= 1000:
            raise SpecError("oom_score_adj", "must be -1000 to 1000, got %s" % p["oom_score_adj"])
        spec["oom_score_adj"] = p["oom_score_adj"]
    if p.get("cpuset_mems") is not None:
        spec["cpuset_mems"] = cpuset_key(p["cpuset_mems"], "cpuset_mems")
    if p.get("volumes_from") is not None:
        spec["volumes_from"] = sorted(set(volumes_from_key(v) for v in p["volumes_from"]))
    _parse_devices_and_more(p, spec)


def _parse_devices_and_more(p, spec):
    """parse_spec, continued: removal, ports, MAC address and the device limits."""
    for key in ("auto_remove", "publish_all_ports"):
        if p.get(key) is not None:
            spec[key] = bool(p[key])
    if spec.get("auto_remove") and spec.get("restart_policy") not in (None, "no"):
        raise SpecError("auto_remove", "a container the engine removes when it exits cannot have "
                                       "restart_policy %s%s" % (spec["restart_policy"], "" if p.get(
                                           "restart_policy") else " (what restart_retries implies)"))
    if p.get("mac_address") is not None:
        mac = str(p["mac_address"]).strip().lower().replace("-", ":")
        if mac and not MAC_RE.match(mac):
            raise SpecError("mac_address", "%r is not a MAC address (such as 02:42:ac:11:00:02)"
                            % p["mac_address"])
        if mac and str(p.get("network_mode") or "").split(":", maxsplit=1)[0] in ("host", "none", "container"):
            raise SpecError("mac_address", "cannot be set with network_mode %s" % p["network_mode"])
        spec["mac_address"] = mac
    if p.get("device_cgroup_rules") is not None:
        rules = [" ".join(str(r).split()) for r in p["device_cgroup_rules"]]
        for i, rule in enumerate(rules):
            if not CGROUP_RULE_RE.match(rule):
                raise SpecError("device_cgroup_rules[%d]" % i, "%r is not a rule such as 'c 1:3 rwm' "
                                "(type a, b or c; major:minor, * for any; access r, w, m)"
                                % p["device_cgroup_rules"][i])
        spec["device_cgroup_rules"] = sorted(set(rules))
    for key in THROTTLES:
        if p.get(key) is not None:
            spec[key] = parse_throttles(p[key], key)
    if p.get("memory_swappiness") is not None:
        if not 0 <= p["memory_swappiness"] <= 100:
            raise SpecError("memory_swappiness", "must be 0 to 100, got %s" % p["memory_swappiness"])
        spec["memory_swappiness"] = p["memory_swappiness"]
    if p.get("oom_kill_disable") is not None:
        spec["oom_kill_disable"] = bool(p["oom_kill_disable"])


def parse_throttles(entries, option):
    """[{path: /dev/vda, rate: 10M}] -> sorted ['/dev/vda:10485760']: bytes per second for
    the *_bps options (sizes such as 10M), operations per second for the *_iops ones."""
    out = {}
    for i, entry in enumerate(entries or []):
        where = "%s[%d]" % (option, i)
        path = str(entry.get("path") or "").strip()
        if not path.startswith("/"):
            raise SpecError(where, "path must be a device's absolute path, got %r" % entry.get("path"))
        if path in out:
            raise SpecError(where, "%s is given twice" % path)
        rate = str(entry.get("rate") if entry.get("rate") is not None else "").strip()
        if option.endswith("_bps"):
            value = parse_memory(rate, where)
        else:
            try:
                value = int(rate)
            except ValueError:
                raise SpecError(where, "rate must be a whole number of operations per second, got %r"
                                % entry.get("rate")) from None
        if value < 0:
            raise SpecError(where, "rate must not be negative")
        out[path] = "%s:%d" % (path, value)
    return sorted(out.values())


def parse_exposed(specs, option="exposed_ports"):
    """['80', '9000-9001/udp'] -> sorted ['80/tcp', '9000/udp', '9001/udp']."""
    out = set()
    for spec in specs or []:
        text, proto = str(spec).strip(), "tcp"
        if "/" in text:
            text, proto = text.rsplit("/", 1)
            proto = proto.lower()
            if proto not in ("tcp", "udp", "sctp"):
                raise SpecError(option, "invalid protocol in %r" % (spec,))
        lo, hi = _port_range(text, option, spec)
        out.update("%d/%s" % (port, proto) for port in range(lo, hi + 1))
    return sorted(out)


def volumes_from_key(text, option="volumes_from"):
    """'name[:ro|:rw]' -> 'name' or 'name:ro' (rw, the default, left out)."""
    name, _sep, mode = str(text).strip().partition(":")
    if not re.match(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$", name) or mode not in ("", "ro", "rw"):
        raise SpecError(option, "%r is not a container name with an optional :ro or :rw" % (text,))
    return name + (":ro" if mode == "ro" else "")


def image_repo_tag(image):
    """'repo:tag' -> ('repo', 'tag'); digests kept whole; no tag -> 'latest'."""
    if "@" in image:
        return image, None
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon + 1:]
    return image, "latest"


def looks_like_image_id(image):
    return bool(re.match(r"^(sha256:)?[0-9a-f]{12,64}$", image))


def familiar_repo(repo):
    """The short form the engine uses in RepoTags/RepoDigests: no docker.io/, no library/."""
    for prefix in ("docker.io/", "index.docker.io/"):
        if repo.startswith(prefix):
            repo = repo[len(prefix):]
            break
    if repo.startswith("library/") and repo.count("/") == 1:
        repo = repo[len("library/"):]
    return repo


def pull_would_change(info, repo, remote_digest):
    """Check mode, pull=always, the image is on the host: would a pull bring another image?

    False when the host's copy came from that repository with the digest the registry has
    now; True when the digests differ, or when the host's copy has no digest from that
    repository (loaded or built here: a pull may or may not change it, so it is predicted)."""
    if not remote_digest:
        return True
    want = familiar_repo(repo)
    local = [d.split("@", 1)[1] for d in (info or {}).get("RepoDigests") or []
             if "@" in d and familiar_repo(d.split("@", 1)[0]) == want]
    return remote_digest not in local


def distribution_digest(reply):
    """The manifest digest from GET /distribution/{name}/json, or None."""
    return ((reply or {}).get("Descriptor") or {}).get("digest")
