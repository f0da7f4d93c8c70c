# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic of the dockyard.fleet.fleet_table filter: container facts of every app host
(dockyard.fleet.container_info results) and HAProxy server states
(dockyard.fleet.haproxy_info) joined into one aligned text table.

Replica containers are named <app>-<i> and labelled dockyard.service=<app>,
dockyard.replica=<i>; their HAProxy server is <inventory_hostname>-<i>.
Private to dockyard.fleet.
"""
from __future__ import annotations

import re

from ansible_collections.dockyard.fleet.plugins.module_utils._haproxy import is_up

SERVICE_LABEL = "dockyard.service"
REPLICA_LABEL = "dockyard.replica"
VERSION_LABEL = "org.opencontainers.image.version"
COLUMNS = ("HOST", "REPLICA", "IMAGE/VERSION", "HEALTH", "LB STATE", "SESSIONS")


class FleetTableError(ValueError):
    pass


def natural_key(text):
    """app2 before app10."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", str(text))]


# ---------------------------------------------------------------- input shapes
def normalize_hosts(data, reasons=None) -> dict:
    """{host: [container dict, ...]} from the accepted shapes:

    - {host: container_info result} (a dict with `containers`) or {host: [containers]}
    - [{host: ..., containers: [...]}, ...]
    - hostvars-style {host: {<anything>: ..., containers: [...]}}

    A host without an answer maps to None; `reasons` (a dict) gets why (no_answer_reason).
    """
    reasons = {} if reasons is None else reasons
    if data is None:
        return {}
    out = {}
    if isinstance(data, dict):
        items = data.items()
    elif isinstance(data, (list, tuple)):
        items = []
        for entry in data:
            if not isinstance(entry, dict) or "host" not in entry:
                raise FleetTableError("fleet_table: a list of hosts needs entries with 'host' and "
                                      "'containers', got %r" % (entry,))
            items.append((entry["host"], entry))
    else:
        raise FleetTableError("fleet_table: expects a dict host -> container_info result, got %s"
                              % type(data).__name__)
    for host, value in items:
        if value is None:
            out[str(host)] = None          # host gave no answer (unreachable, failed)
            reasons[str(host)] = no_answer_reason(value)
            continue
        if isinstance(value, dict):
            if value.get("failed") or value.get("unreachable") or value.get("skipped"):
                out[str(host)] = None
                reasons[str(host)] = no_answer_reason(value)
                continue
            containers = value.get("containers")
        else:
            containers = value
        if containers is None:
            out[str(host)] = None
            reasons[str(host)] = no_answer_reason(value)
            continue
        if not isinstance(containers, (list, tuple)):
            raise FleetTableError("fleet_table: containers of host %s must be a list" % host)
        out[str(host)] = [c for c in containers if isinstance(c, dict)]
    return out


def normalize_servers(data, reasons=None) -> dict:
    """{lb_host: [server dict, ...]} from a servers list, a haproxy_info result, or a dict
    lb host -> either of those. A bare list is attributed to the lb host ''. A load balancer
    without an answer maps to None; `reasons` (a dict) gets why (no_answer_reason)."""
    reasons = {} if reasons is None else reasons
    if data is None:
        return {}
    if isinstance(data, (list, tuple)):
        return {"": [s for s in data if isinstance(s, dict)]}
    if isinstance(data, dict):
        if "servers" in data and isinstance(data["servers"], list):
            return {"": [s for s in data["servers"] if isinstance(s, dict)]}
        out = {}
        for lb, value in data.items():
            if isinstance(value, dict):
                if value.get("failed") or value.get("unreachable") or value.get("skipped"):
                    out[str(lb)] = None
                    reasons[str(lb)] = no_answer_reason(value)
                    continue
                raw, value = value, value.get("servers")
            else:
                raw = value
            if not isinstance(value, (list, tuple)):
                out[str(lb)] = None
                reasons[str(lb)] = no_answer_reason(raw)
                continue
            out[str(lb)] = [s for s in value if isinstance(s, dict)]
        return out
    raise FleetTableError("fleet_table: servers must be a list of haproxy_info servers, a "
                          "haproxy_info result or a dict lb host -> result, got %s"
                          % type(data).__name__)


# ---------------------------------------------------------------- cell values
def no_answer_reason(value) -> str:
    """Why a host's (or a load balancer's) result holds no data, in a few words: the table
    says it instead of dropping what else is known about that host."""
    if not isinstance(value, dict):
        return "no result"
    if value.get("unreachable"):
        return "unreachable"
    msg = " ".join(str(value.get("msg") or "").split())
    if value.get("failed"):
        low = msg.lower()
        if "cannot connect to the docker engine" in low or "engine socket" in low:
            return "engine down"
        return "module failed"
    if value.get("skipped"):
        return "skipped"
    return msg[:60] if msg else "no result"


def replica_index(container, app=None):
    """Replica index of a container of the app, or None when it is not one."""
    labels = container.get("labels") or {}
    name = container.get("name") or ""
    service = labels.get(SERVICE_LABEL)
    if app is not None and service != app:
        return None
    if service is None:
        return None
    try:
        return int(labels.get(REPLICA_LABEL))
    except (TypeError, ValueError):
        head, sep, tail = name.rpartition("-")
        return int(tail) if sep and tail.isdigit() else None


def image_cell(container):
    image = container.get("image") or ""
    if image.startswith("sha256:"):
        image = image[7:19]
    version = (container.get("labels") or {}).get(VERSION_LABEL)
    if version and not image.endswith(":" + version):
        return "%s (%s)" % (image or "?", version)
    return image or "?"


def health_cell(container):
    if not container.get("exists", True):
        return "absent"
    if not container.get("running"):
        state = container.get("state") or "stopped"
        code = container.get("exit_code")
        return "%s (%s)" % (state, code) if state == "exited" and code is not None else state
    # the engine says running for a paused (or restarting) container too: its state first,
    # or a paused replica would read as just "unhealthy" (its checks do not run)
    state, health = container.get("state"), container.get("health")
    if state and state != "running":
        return "%s (%s)" % (state, health) if health else state
    return health or "running"


def weight_zero(server):
    """Weight 0 (set by `set weight`, or the effective weight): HAProxy sends it no new
    traffic although its status stays UP."""
    return any(server.get(k) == 0 for k in ("weight", "effective_weight"))


def serves(server):
    """In service on this load balancer: the shared rule (_haproxy.is_up - ready, UP with a
    passing check, tracking, or no check) and a weight above 0. A missing admin state
    (haproxy_info without a state row) is taken from the status, which shows DRAIN/MAINT."""
    if weight_zero(server):
        return False
    return is_up(dict(server, admin_state=server.get("admin_state") or "ready"))


def lb_cell(server):
    status = server.get("status") or "?"
    admin = server.get("admin_state")
    check = server.get("check_status") or ""
    text = status
    if admin and admin != "ready" and admin.upper() not in status.upper():
        text += " (%s)" % admin
    if weight_zero(server) and (status in ("UP", "no check") or status.startswith("UP ")):
        text += " (weight 0)"
    if (status.startswith("DOWN") or status.startswith("UP ")) and check:
        text += " %s" % check
    return text


def server_split(name):
    """'app1-2' -> ('app1', 2); None when the name has no -<index> suffix."""
    head, sep, tail = (name or "").rpartition("-")
    if not sep or not tail.isdigit() or not head:
        return None
    return head, int(tail)


# ---------------------------------------------------------------- table
def build_rows(hosts, servers, app=None, backend=None, notes=None) -> list:
    """Rows (dicts keyed by COLUMNS plus 'ok') for every replica and every orphan server.

    `notes` (a list) gets what the summary line must add: load balancers that gave no answer
    (then no row is in service: their view of the replicas is unknown) and servers none of
    which has a container of the app (a wrong app or backend)."""
    notes = [] if notes is None else notes
    host_reasons, lb_reasons = {}, {}
    hosts = normalize_hosts(hosts, host_reasons)
    lbs = normalize_servers(servers, lb_reasons)
    # (host, index) -> [(lb, server)]
    by_slot = {}
    for lb, lst in sorted(lbs.items(), key=lambda kv: natural_key(kv[0])):
        for s in lst or []:
            if backend and s.get("backend") != backend:
                continue
            split = server_split(s.get("server"))
            if split:
                by_slot.setdefault(split, []).append((lb, s))
    # No LB given (no servers argument, no lb hosts): LB STATE "?" and in service means
    # healthy. An LB given that gave no answer: nothing can be said to be in service.
    silent = sorted((lb for lb, v in lbs.items() if v is None), key=natural_key)
    lbv = {"given": bool(lbs), "names": sorted(lbs, key=natural_key), "silent": silent,
           "multi": len(lbs) > 1}
    for lb in silent:
        notes.append("%s: no answer (%s)" % (lb or "load balancer", lb_reasons.get(lb, "no result")))

    rows = []
    seen, matched = set(), set()
    for host in sorted(hosts, key=natural_key):
        containers = hosts[host]
        if containers is None:
            why = "no answer (%s)" % host_reasons.get(host, "no result")
            mine = sorted(k for k in by_slot if k[0] == host)
            if not mine:
                rows.append(dict(zip(COLUMNS, (host, "?", "?", why, "?", "?")), ok=False))
            for key in mine:   # what the load balancers say of its replicas is still known
                seen.add(key)
                rows.append(_row(host, "%s-%d (no facts)" % (app or "?", key[1]), "?", why,
                                 by_slot[key], lbv))
            continue
        replicas = []
        for c in containers:
            idx = replica_index(c, app)
            if idx is not None:
                replicas.append((idx, c))
        replicas.sort(key=lambda ic: ((ic[1].get("labels") or {}).get(SERVICE_LABEL) or "",
                                      ic[0], ic[1].get("name") or ""))
        for idx, c in replicas:
            seen.add((host, idx))
            if (host, idx) in by_slot:
                matched.add((host, idx))
            entries = by_slot.get((host, idx), [])
            rows.append(_row(host, c.get("name") or "%s-%d" % (app or "?", idx), image_cell(c),
                             health_cell(c), entries, lbv))
        if not replicas and not any(k[0] == host for k in by_slot):
            rows.append(dict(zip(COLUMNS, (host, "-", "-", "no replicas", "-", "-")), ok=None))
        # servers of this host without a container: named <app>-<i> next to the host's other
        # replicas; on a host with none, by the server (whose backend it is)
        for key in sorted(k for k in by_slot if k[0] == host and k not in seen):
            seen.add(key)
            if replicas:
                label = "%s-%d (no container)" % (app or "?", key[1])
            else:
                s0 = by_slot[key][0][1]
                label = "%s/%s (no container)" % (s0.get("backend") or "?", s0.get("server"))
            rows.append(_row(host, label, "-", "absent", by_slot[key], lbv))
    # servers of hosts we have no container facts for
    for key in sorted((k for k in by_slot if k not in seen),
                      key=lambda k: (natural_key(k[0]), k[1])):
        rows.append(_row(key[0], "%s-%d (no facts)" % (app or "?", key[1]), "?", "?",
                         by_slot[key], lbv))
    answered = [h for h, c in hosts.items() if c is not None]
    if by_slot and answered and not matched and any(k[0] in answered for k in by_slot):
        backends = sorted({s.get("backend") or "?" for entries in by_slot.values() for _n, s in entries})
        notes.append("none of the %d servers of backend %s has a container of %s (another app "
                     "or backend?)" % (len(by_slot), "/".join(backends), app or "any service"))
    return rows


def _row(host, replica, image, health, entries, lbv):
    silent = lbv["silent"]
    if not lbv["given"] or len(silent) == len(lbv["names"]):
        lb, sessions = "?", "?"
    elif not entries and not silent:
        lb, sessions = "not in LB", "-"
    elif lbv["multi"]:
        lb = " ".join(["%s=%s" % (name, lb_cell(s)) for name, s in entries]
                      + ["%s=?" % name for name in silent])
        sessions = str(sum(int(s.get("scur") or 0) for _n, s in entries))
    else:
        lb = lb_cell(entries[0][1])
        sessions = str(int(entries[0][1].get("scur") or 0))
    healthy = health in ("healthy", "running")
    # in service: UP and ready (shared rule), weight above 0, on every load balancer
    in_service = bool(entries) and not silent \
        and {name for name, _s in entries} == set(lbv["names"]) \
        and all(serves(s) for _n, s in entries)
    ok = healthy and (in_service or not lbv["given"])
    return dict(zip(COLUMNS, (host, replica, image, health, lb, sessions)), ok=ok)


def render(rows, summary=True, notes=None) -> str:
    """Aligned text: header, a rule, one line per row, and a summary line (with the notes)."""
    table = [list(COLUMNS)] + [[str(r[c]) for c in COLUMNS] for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]

    def fmt(cells):
        return "  ".join(cell.ljust(w) for cell, w in zip(cells, widths)).rstrip()

    lines = [fmt(table[0]), fmt(["-" * w for w in widths])]
    lines += [fmt(cells) for cells in table[1:]]
    if summary:
        lines.append(summary_line(rows, notes))
    return "\n".join(lines)


def summary_line(rows, notes=None) -> str:
    replicas = [r for r in rows if not r["REPLICA"].endswith(")") and r["REPLICA"] not in "?-"]
    hosts = sorted({r["HOST"] for r in rows}, key=natural_key)
    images = {}
    for r in replicas:
        images[r["IMAGE/VERSION"]] = images.get(r["IMAGE/VERSION"], 0) + 1
    counted = [r for r in rows if r["ok"] is not None]
    ok = sum(1 for r in counted if r["ok"])
    text = "%d host%s, %d replica%s, %d of %d rows in service" % (
        len(hosts), "" if len(hosts) == 1 else "s", len(replicas),
        "" if len(replicas) == 1 else "s", ok, len(counted))
    if images:
        text += "; images: " + ", ".join("%s x%d" % (k, v) for k, v in sorted(images.items()))
    for note in notes or []:
        text += "; " + note
    return text


def fleet_table(hosts, servers=None, app=None, backend=None, summary=True) -> str:
    notes = []
    rows = build_rows(hosts, servers, app=app, backend=backend, notes=notes)
    return render(rows, summary=summary, notes=notes)
