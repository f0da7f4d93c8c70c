# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic of dockyard.fleet.haproxy_info: the reply of one combined runtime-API exchange
(`show stat ...;show servers state ...`, _haproxy.combined_command) shaped into one row per
server.

Builds on the parsers of _haproxy. Private to dockyard.fleet.
"""
from __future__ import annotations

import errno

from ansible_collections.dockyard.fleet.plugins.module_utils._haproxy import (
    HAProxyError, RuntimeClient, SocketError, admin_state, combined_command, name_problem,
    parse_servers_state, parse_show_stat, split_combined)

PSEUDO_SERVERS = ("FRONTEND", "BACKEND")


def _int(value, default=0):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _known(value):
    return value not in (None, "", "-")


def _addr_port(stat_row, state_row):
    """(addr, port): `show servers state` first (it has them at every socket level; `show
    stat` hides addr below level operator), else `show stat`'s addr. A server whose DNS name
    is not resolved yet has no address but has its port."""
    st = state_row or {}
    addr = st.get("srv_addr") if _known(st.get("srv_addr")) else None
    port = _int(st.get("srv_port"), None) if _known(st.get("srv_port")) else None
    if addr is None:
        raw = stat_row.get("addr", "")
        host, sep, raw_port = raw.rpartition(":")
        if sep and host:
            addr = host
            port = port if port is not None else _int(raw_port, None)
    if port == 0 and addr is None:
        port = None
    return addr, port


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
            "tracked": row.get("tracked", ""),
            "addr": addr,
            "port": port,
            "fqdn": (st or {}).get("srv_fqdn") if _known((st or {}).get("srv_fqdn")) else None,
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


def haproxy_info_problem(params):
    """Why the options cannot be used (naming the option), or None: checked before the socket
    is opened, on the controller as on the host."""
    sock = (params.get("socket") or "").strip()
    if not sock or any(c.isspace() for c in sock):
        return ("option socket must be a unix socket path or host:port without spaces, got %r"
                % params.get("socket"))
    backend = params.get("backend")
    if backend is not None:
        problem = name_problem(backend, "backend", "backend name")
        if problem:
            return problem
    if params.get("timeout") is None or params["timeout"] <= 0:
        return "option timeout must be > 0, got %s" % params.get("timeout")
    return None


def haproxy_info_main(module, reach=None):
    """The module's run once its options are validated; ends with module.exit_json or
    fail_json. reach: where the runtime API answers instead of option socket (the host's
    socket forwarded to the controller: the action plugin); messages name option socket.

    Over a forward, a failure to reach the runtime API (the forward's connection fails, or
    closes without a byte: sshd could not open the socket on the host) fails with
    forward_failed=True, for the action plugin to try the host instead (execution=auto);
    HAProxy's own answers (an unknown backend) are final."""
    p = module.params
    problem = haproxy_info_problem(p)
    if problem:
        module.fail_json(msg=problem, changed=False)
    sock = p["socket"].strip()
    backend = p["backend"]
    client = RuntimeClient(reach or sock, timeout=p["timeout"])
    try:
        text = client.command(combined_command(backend))
    except SocketError as exc:
        if not reach:
            module.fail_json(msg=str(exc), changed=False)
        # sshd could not open the socket on the host: the forward resets the connection
        closed = exc.errno in (errno.ECONNRESET, errno.EPIPE)
        module.fail_json(msg=forward_message(sock, "the connection closed without an answer"
                                             if closed else exc.reason.replace(reach, sock)),
                         changed=False, forward_failed=True)
    except HAProxyError as exc:
        module.fail_json(msg=str(exc).replace(reach, sock) if reach else str(exc), changed=False)
    if reach and not text.strip():
        module.fail_json(msg=forward_message(sock, "the connection closed without an answer"),
                         changed=False, forward_failed=True)
    try:
        servers = parse_combined(text, backend)
    except HAProxyError as exc:
        module.fail_json(msg=str(exc).replace(reach, sock) if reach else str(exc), changed=False)
    module.exit_json(changed=False, servers=servers, backends=backends_of(servers))


def forward_message(sock, why):
    return ("cannot read the stats socket %s on the host through the SSH forward (%s): it does "
            "not exist there, HAProxy is not running, or the SSH user may not open it "
            "(option socket)" % (sock, why))
