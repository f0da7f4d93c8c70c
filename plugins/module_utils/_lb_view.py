# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which of a host's replicas are not yet in service on every load balancer.

Private to dockyard.fleet.
"""
from __future__ import annotations


def _servers(result):
    if isinstance(result, dict):
        return result.get("servers") or []
    return result or []


def replicas_not_ready(lb_results, host, indexes, backend=None):
    """Replica indexes whose server <host>-<i> is not both admin-ready and UP on every load
    balancer (a missing server counts as not ready: setting it ready then fails loudly)."""
    pending = []
    for idx in indexes:
        name = "%s-%s" % (host, idx)
        for result in lb_results:
            found = [s for s in _servers(result)
                     if s.get("server") == name and (backend is None or s.get("backend") == backend)]
            if not found or any(s.get("admin_state") != "ready" or s.get("status") != "UP"
                                for s in found):
                pending.append(idx)
                break
    return pending
