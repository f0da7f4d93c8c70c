# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which of a host's replicas are not yet in service on every load balancer, and which
servers (and ports) a load balancer's backend has.

Private to dockyard.fleet.
"""
from __future__ import annotations

from ansible_collections.dockyard.fleet.plugins.module_utils._haproxy import (
    HAProxyError, address_of, is_up, parse_read, read_command)


def _servers(result):
    if isinstance(result, dict):
        return result.get("servers") or []
    return result or []


def replicas_not_ready(lb_results, host, indexes, backend=None):
    """Replica indexes whose server <host>-<i> is not in service on every load balancer (a
    missing server counts as not ready: setting it ready then fails loudly). In service is
    haproxy_server's rule (_haproxy.is_up): admin state ready, and UP with a passing check,
    UP while tracking another server, or `no check`."""
    pending = []
    for idx in indexes:
        name = "%s-%s" % (host, idx)
        for result in lb_results:
            found = [s for s in _servers(result)
                     if s.get("server") == name and (backend is None or s.get("backend") == backend)]
            if not found or not all(is_up(s) for s in found):
                pending.append(idx)
                break
    return pending


def backend_ports(read, backend):
    """{server name: port (int), or None while HAProxy does not know it} of one backend, from
    _haproxy.parse_read()'s reply: which servers the load balancer's configuration has for
    the backend, and where they point (`show stat`'s addr, else `show servers state`'s)."""
    state = {r.get("srv_name"): r for r in read.get("state") or [] if r.get("be_name") == backend}
    out = {}
    for row in read.get("stat") or []:
        if row.get("pxname") != backend or row.get("svname") in ("BACKEND", "FRONTEND"):
            continue
        port = address_of(row, state.get(row.get("svname"))).rpartition(":")[2]
        out[row["svname"]] = int(port) if port.isdigit() else None
    return out


def read_backend_ports(client, backend):
    """(backend_ports(), None) of one backend read through client (a _haproxy.RuntimeClient:
    one exchange), or (None, why) when the runtime API does not answer it (unreachable, no
    such backend, an unexpected reply)."""
    try:
        read = parse_read(client.command(read_command(backend)), backend)
    except HAProxyError as exc:
        return None, str(exc)
    return backend_ports(read, backend), None
