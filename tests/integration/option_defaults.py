"""Shared by test_container and test_service."""

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
]
