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
def normalize_hosts(data) -> dict:
    """{host: [container dict, ...]} from the accepted shapes:

    - {host: container_info result} (a dict with `containers`) or {host: [containers]}
    - [{host: ..., containers: [...]}, ...]
    - hostvars-style {host: {<anything>: ..., containers: [...]}}
    """
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
            continue
        if isinstance(value, dict):
            if value.get("failed") or value.get("unreachable") or value.get("skipped"):
                out[str(host)] = None
                continue
            containers = value.get("containers")
        else:
            containers = value
        if containers is None:
            out[str(host)] = None
            continue
        if not isinstance(containers, (list, tuple)):
            raise FleetTableError("fleet_table: containers of host %s must be a list" % host)
        out[str(host)] = [c for c in containers if isinstance(c, dict)]
    return out


def normalize_servers(data) -> dict:
    """{lb_host: [server dict, ...]} from a servers list, a haproxy_info result, or a dict
    lb host -> either of those. A bare list is attributed to the lb host ''."""
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
                    continue
                value = value.get("servers")
            out[str(lb)] = [s for s in value if isinstance(s, dict)] if value is not None else None
        return out
    raise FleetTableError("fleet_table: servers must be a list of haproxy_info servers, a "
                          "haproxy_info result or a dict lb host -> result, got %s"
                          % type(data).__name__)


# ---------------------------------------------------------------- cell values
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
    return container.get("health") or "running"


def lb_cell(server):
    status = server.get("status") or "?"
    admin = server.get("admin_state")
    check = server.get("check_status") or ""
    text = status
    if admin and admin != "ready" and admin.upper() not in status.upper():
        text += " (%s)" % admin
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
def build_rows(hosts, servers, app=None, backend=None) -> list:
    """Rows (dicts keyed by COLUMNS plus 'ok') for every replica and every orphan server."""
    hosts = normalize_hosts(hosts)
    lbs = normalize_servers(servers)
    multi_lb = len(lbs) > 1
    # (host, index) -> [(lb, server)]
    by_slot = {}
    for lb, lst in sorted(lbs.items(), key=lambda kv: natural_key(kv[0])):
        for s in lst or []:
            if backend and s.get("backend") != backend:
                continue
            split = server_split(s.get("server"))
            if split:
                by_slot.setdefault(split, []).append((lb, s))
    lb_known = bool(lbs) and any(v is not None for v in lbs.values())

    rows = []
    seen = set()
    for host in sorted(hosts, key=natural_key):
        containers = hosts[host]
        if containers is None:
            rows.append(dict(zip(COLUMNS, (host, "?", "?", "no answer", "?", "?")), ok=False))
            seen.update(k for k in by_slot if k[0] == host)
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
            entries = by_slot.get((host, idx), [])
            rows.append(_row(host, c.get("name") or "%s-%d" % (app or "?", idx), image_cell(c),
                             health_cell(c), entries, lb_known, multi_lb))
        if not replicas and not any(k[0] == host for k in by_slot):
            rows.append(dict(zip(COLUMNS, (host, "-", "-", "no replicas", "-", "-")), ok=None))
        # servers of this host without a container
        for key in sorted(k for k in by_slot if k[0] == host and k not in seen):
            seen.add(key)
            rows.append(_row(host, "%s-%d (no container)" % (app or "?", key[1]), "-", "absent",
                             by_slot[key], lb_known, multi_lb))
    # servers of hosts we have no container facts for
    for key in sorted((k for k in by_slot if k not in seen),
                      key=lambda k: (natural_key(k[0]), k[1])):
        rows.append(_row(key[0], "%s-%d (no facts)" % (app or "?", key[1]), "?", "?",
                         by_slot[key], lb_known, multi_lb))
    return rows


def _row(host, replica, image, health, entries, lb_known, multi_lb):
    if not lb_known:
        lb, sessions = "?", "?"
    elif not entries:
        lb, sessions = "not in LB", "-"
    elif multi_lb:
        lb = " ".join("%s=%s" % (name, lb_cell(s)) for name, s in entries)
        sessions = str(sum(int(s.get("scur") or 0) for _n, s in entries))
    else:
        lb = lb_cell(entries[0][1])
        sessions = str(int(entries[0][1].get("scur") or 0))
    healthy = health in ("healthy", "running")
    in_service = bool(entries) and all(s.get("status") in ("UP", "no check")
                                       and s.get("admin_state") in (None, "ready")
                                       for _n, s in entries)
    ok = healthy and (in_service or not lb_known)
    return dict(zip(COLUMNS, (host, replica, image, health, lb, sessions)), ok=ok)


def render(rows, summary=True) -> str:
    """Aligned text: header, a rule, one line per row, and a summary line."""
    table = [list(COLUMNS)] + [[str(r[c]) for c in COLUMNS] for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]

    def fmt(cells):
        return "  ".join(cell.ljust(w) for cell, w in zip(cells, widths)).rstrip()

    lines = [fmt(table[0]), fmt(["-" * w for w in widths])]
    lines += [fmt(cells) for cells in table[1:]]
    if summary:
        lines.append(summary_line(rows))
    return "\n".join(lines)


def summary_line(rows) -> str:
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
    return text


def fleet_table(hosts, servers=None, app=None, backend=None, summary=True) -> str:
    return render(build_rows(hosts, servers, app=app, backend=backend), summary=summary)
