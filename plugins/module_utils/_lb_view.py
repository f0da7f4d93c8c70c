# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which of a host's replicas are not yet in service on every load balancer.

Private to dockyard.fleet.
"""
from __future__ import annotations

from ansible_collections.dockyard.fleet.plugins.module_utils._haproxy import is_up


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
