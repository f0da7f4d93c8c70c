"""Shared by test_container and test_service."""

import os

# Each option set to what a container made without it already has (the engine's default,
# or "none" in the option's own words): asking for it explicitly is no change.
DEFAULTS = [
    ("command", "[]"), ("env", "{}"), ("labels", "{}"), ("published_ports", "[]"),
    ("volumes", "[]"), ("mounts", "[]"), ("networks", "[]"), ("network_mode", "default"),
    ("restart_policy", '"no"'), ("restart_retries", "0"), ("user", '""'),
    ("working_dir", '""'), ("hostname", '""'), ("healthcheck", "{}"),
    ("memory", '"0"'), ("memory_reservation", '"0"'), ("cpus", "0"), ("cpu_shares", "0"),
    ("cpuset_cpus", '""'), ("log_driver", "json-file"), ("log_options", "{}"),
    ("stop_signal", "SIGTERM"), ("stop_timeout", "10"), ("init", "false"),
    ("read_only", "false"), ("cap_add", "[]"), ("cap_drop", "[]"), ("tmpfs", "[]"),
    ("privileged", "false"), ("security_opts", "[]"), ("etc_hosts", "{}"),
    ("dns_servers", "[]"), ("ulimits", "[]"), ("sysctls", "{}"), ("shm_size", "64m"),
    ("devices", "[]"), ("pids_limit", "0"), ("pids_limit", "-1"),
    ("tty", "false"), ("interactive", "false"), ("domainname", '""'), ("groups", "[]"),
    ("exposed_ports", "[]"), ("dns_search_domains", "[]"), ("dns_opts", "[]"),
    ("pid_mode", '""'), ("uts", '""'), ("userns_mode", '""'), ("cgroup_parent", '""'),
    ("oom_score_adj", "0"), ("cpuset_mems", '""'), ("volumes_from", "[]"),
    ("publish_all_ports", "false"), ("device_cgroup_rules", "[]"), ("device_read_bps", "[]"),
    ("device_write_bps", "[]"), ("device_read_iops", "[]"), ("device_write_iops", "[]"),
    ("oom_kill_disable", "false"),
    # the lab's engines' defaults (Docker 20.10 on cgroup v1): another engine may differ
    ("ipc_mode", "private"), ("cgroupns_mode", "host"), ("runtime", "runc"),
]
# The container module's own (the service has none of them).
CONTAINER_DEFAULTS = [("auto_remove", "false"), ("mac_address", '""')]


def block_device():
    """A block device of the machine the lab's engines run on, for the I/O limits (the
    engine reads its major:minor), or None: a disk before a loop or zram device."""
    names = sorted(os.listdir("/sys/block"), key=lambda n: (n.startswith(("loop", "zram", "ram")), n))
    return next(("/dev/" + n for n in names if os.path.exists("/dev/" + n)), None)


def transitions(ncpu, device=None):
    """Per option: a value A, another B, and D, the option's "none" (or the engine's default):
    params for each (dicts, so that one option may need another beside it). Not privileged:
    the lab's engines cannot start a privileged container (all capabilities are more than the
    sandbox they run in has)."""
    every = "0-%d" % (ncpu - 1) if ncpu > 1 else "0"

    def one(option, a, b, d):
        return option, {option: a}, {option: b}, {option: d}

    on_failure = {"restart_policy": "on-failure"}
    return [
        one("command", ["x"], ["y"], []),
        one("env", {"X": "1"}, {"X": "2"}, {}),
        one("labels", {"a": "1"}, {"a": "2"}, {}),
        one("published_ports", ["18301:80"], ["18302:80"], []),
        one("volumes", ["/anon1"], ["/anon2"], []),
        one("mounts", [{"type": "tmpfs", "target": "/mnt/a"}], [{"type": "tmpfs", "target": "/mnt/b"}], []),
        one("network_mode", "default", "none", "default"),
        one("restart_policy", "always", "unless-stopped", "no"),
        ("restart_retries", dict(on_failure, restart_retries=1), dict(on_failure, restart_retries=2),
         dict(on_failure, restart_retries=0)),
        one("healthcheck", {"interval": "5s"}, {"interval": "6s"}, {"test": ["NONE"]}),
        one("user", "0", "0:0", ""),
        one("working_dir", "/www", "/tmp", ""),
        one("hostname", "a", "b", ""),
        one("memory", "64m", "96m", "0"),
        one("memory_reservation", "32m", "48m", "0"),
        ("memory_swap", {"memory": "64m", "memory_swap": "128m"}, {"memory": "64m", "memory_swap": "-1"},
         {"memory": "64m", "memory_swap": "64m"}),
        one("cpus", 0.5, 1.0, 0),
        one("cpu_shares", 512, 1024, 0),
        one("cpuset_cpus", "0", every, ""),
        one("log_driver", "json-file", "none", "json-file"),
        one("log_options", {"max-size": "1m"}, {"max-size": "2m"}, {}),
        one("stop_signal", "SIGTERM", "SIGINT", "SIGTERM"),
        one("stop_timeout", 3, 4, 10),
        one("init", False, True, False),
        one("read_only", False, True, False),
        one("cap_add", ["NET_ADMIN"], ["SYS_TIME"], []),
        one("cap_drop", ["MKNOD"], ["MKNOD", "AUDIT_WRITE"], []),
        one("tmpfs", ["/scratch:size=1m"], ["/scratch:size=2m"], []),
        one("security_opts", [], ["no-new-privileges"], []),
        one("etc_hosts", {"db": "10.0.0.5"}, {"db": "10.0.0.6"}, {}),
        one("dns_servers", ["10.0.0.2"], ["10.0.0.3"], []),
        one("ulimits", ["nofile:1024:2048"], ["nofile:1024:4096"], []),
        one("sysctls", {"net.core.somaxconn": 1024}, {"net.core.somaxconn": 2048}, {}),
        one("shm_size", "64m", "128m", "64m"),
        one("devices", ["/dev/null:/dev/xnull:rw"], ["/dev/null:/dev/xnull:r"], []),
        one("pids_limit", 100, 200, 0),
        one("tty", False, True, False),
        one("interactive", False, True, False),
        one("domainname", "a.example", "b.example", ""),
        one("groups", ["100"], ["100", "101"], []),
        one("exposed_ports", ["9000"], ["9000", "9001/udp"], []),
        one("dns_search_domains", ["a.example"], ["b.example", "a.example"], []),
        one("dns_opts", ["ndots:2"], ["ndots:3"], []),
        one("pid_mode", "", "host", ""),
        one("ipc_mode", "private", "shareable", "private"),
        one("uts", "", "host", ""),
        one("userns_mode", "", "host", ""),
        one("cgroupns_mode", "host", "private", "host"),
        one("cgroup_parent", "/docker/dy-parent-a", "/docker/dy-parent-b", ""),
        one("runtime", "runc", "io.containerd.runc.v2", "runc"),
        one("oom_score_adj", 100, 200, 0),
        one("cpuset_mems", "", "0", ""),
        one("publish_all_ports", False, True, False),
        one("device_cgroup_rules", ["c 1:3 rwm"], ["c 1:3 rwm", "b 7:* r"], []),
        one("auto_remove", False, True, False),
        # swappiness has no "none" to ask for (left out, it is not compared): 0 is a value
        one("memory_swappiness", 10, 60, 0),
        ("oom_kill_disable", {"memory": "64m", "oom_kill_disable": False}, {"memory": "64m", "oom_kill_disable": True},
         {"memory": "64m", "oom_kill_disable": False}),
        one("mac_address", "02:42:ac:11:00:42", "02:42:AC:11:00:43", ""),
    ] + ([
        one("device_read_bps", [{"path": device, "rate": "1M"}], [{"path": device, "rate": "2m"}], []),
        one("device_write_bps", [{"path": device, "rate": 1048576}], [{"path": device, "rate": "3M"}], []),
        one("device_read_iops", [{"path": device, "rate": 100}], [{"path": device, "rate": "200"}], []),
        one("device_write_iops", [{"path": device, "rate": "100"}], [{"path": device, "rate": 300}], []),
    ] if device else [])
