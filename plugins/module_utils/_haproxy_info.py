# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic of dockyard.fleet.haproxy_info: the reply of one combined runtime-API exchange
(`show stat ...;show servers state ...`, _haproxy.combined_command) shaped into one row per
server.

Builds on the parsers of _haproxy (not changed here). Private to dockyard.fleet.
"""
from __future__ import annotations

from ansible_collections.dockyard.fleet.plugins.module_utils._haproxy import (
    HAProxyError, RuntimeClient, admin_state, combined_command, name_problem,
    parse_servers_state, parse_show_stat, split_combined)

PSEUDO_SERVERS = ("FRONTEND", "BACKEND")


def _int(value, default=0):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _addr_port(stat_row, state_row):
    addr = (state_row or {}).get("srv_addr")
    port = (state_row or {}).get("srv_port")
    if not addr or addr == "-":
        raw = stat_row.get("addr", "")
        addr, sep, port = raw.rpartition(":")
        if not sep:
            addr, port = raw or None, None
    port = _int(port, None) if port not in (None, "", "-") else None
    return (addr or None), port


def servers_from_stat(stat_rows: list, state_rows: list, backend=None) -> list:
    """One dict per real server (in HAProxy's order), optionally of one backend only."""
    states = {(r.get("be_name"), r.get("srv_name")): r for r in state_rows}
    out = []
    for row in stat_rows:
        px, sv = row.get("pxname"), row.get("svname")
        if sv in PSEUDO_SERVERS or (backend and px != backend):
            continue
        st = states.get((px, sv))
        check = row.get("check_status", "")
        flags = _int((st or {}).get("srv_admin_state"))
        addr, port = _addr_port(row, st)
        out.append({
            "backend": px,
            "server": sv,
            "status": row.get("status", ""),
            "admin_state": admin_state(flags) if st is not None else None,
            "admin_flags": flags if st is not None else None,
            "weight": _int(st.get("srv_uweight")) if st is not None else _int(row.get("weight")),
            "effective_weight": _int(row.get("weight")),
            "scur": _int(row.get("scur")),
            "stot": _int(row.get("stot")),
            "check_status": check[2:] if check.startswith("* ") else check,
            "addr": addr,
            "port": port,
        })
    return out


def parse_combined(text: str, backend=None) -> list:
    """Reply of combined_command(backend) -> servers_from_stat rows.

    A refusal in either part raises HAProxyError naming the option at fault.
    """
    stat_text, state_text = split_combined(text, backend)
    try:
        stat_rows = parse_show_stat(stat_text)
        state_rows = parse_servers_state(state_text)
    except HAProxyError as exc:
        msg = str(exc)
        if backend and "option backend" in msg:
            msg = "no backend %r in HAProxy (option backend)" % backend
        raise HAProxyError(msg)
    return servers_from_stat(stat_rows, state_rows, backend)


def backends_of(servers: list) -> list:
    seen = []
    for s in servers:
        if s["backend"] not in seen:
            seen.append(s["backend"])
    return seen


def haproxy_info_argument_spec():
    return dict(
        socket=dict(type="str", default="/run/haproxy/admin.sock"),
        backend=dict(type="str"),
        timeout=dict(type="float", default=10.0),
        # as the engine modules' (_docker_client.EXECUTION_ARG), without importing their client
        execution=dict(type="str", default="auto", choices=["auto", "controller", "host"]),
    )


def haproxy_info_main(module, reach=None):
    """The module's run once its options are validated; ends with module.exit_json or
    fail_json. reach: where the runtime API answers instead of option socket (the host's
    socket forwarded to the controller: the action plugin); messages name option socket."""
    p = module.params
    sock = (p["socket"] or "").strip()
    if not sock or any(c.isspace() for c in sock):
        module.fail_json(msg="option socket must be a unix socket path or host:port without "
                             "spaces, got %r" % p["socket"])
    backend = p["backend"]
    if backend is not None:
        problem = name_problem(backend, "backend", "backend name")
        if problem:
            module.fail_json(msg=problem)
    if p["timeout"] <= 0:
        module.fail_json(msg="option timeout must be > 0, got %s" % p["timeout"])

    client = RuntimeClient(reach or sock, timeout=p["timeout"])
    try:
        servers = parse_combined(client.command(combined_command(backend)), backend)
    except HAProxyError as exc:
        module.fail_json(msg=str(exc).replace(reach, sock) if reach else str(exc), changed=False)
    module.exit_json(changed=False, servers=servers, backends=backends_of(servers))
