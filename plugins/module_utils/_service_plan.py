# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Replica planning for the service module (pure functions on dicts).

A service `name` with N replicas is the containers <name>-1..<name>-N labelled
dockyard.service=<name> and dockyard.replica=<i>; replica i publishes host port
port_base+i-1 (or ports[i-1]) to container_port.

Private to dockyard.fleet: no compatibility promise for code outside the collection.
"""
from __future__ import annotations

from ansible_collections.dockyard.fleet.plugins.module_utils._container_spec import (
    SpecError, validate_name)

SERVICE_LABEL = "dockyard.service"
REPLICA_LABEL = "dockyard.replica"


def replica_name(name, index):
    return "%s-%d" % (name, index)


def host_ports(replicas, port_base=None, ports=None):
    """-> {index: host_port or None}; raises SpecError naming the option."""
    if port_base is not None and ports is not None:
        raise SpecError("ports", "set either port_base or ports, not both")
    if ports is not None:
        if len(ports) != replicas:
            raise SpecError("ports", "lists %d host ports for %d replicas" % (len(ports), replicas))
        for p in ports:
            if not 0 < p <= 65535:
                raise SpecError("ports", "host port %r out of range" % (p,))
        if len(set(ports)) != len(ports):
            raise SpecError("ports", "host ports must be distinct")
        return {i + 1: p for i, p in enumerate(ports)}
    if port_base is not None:
        if not 0 < port_base or port_base + max(replicas, 1) - 1 > 65535:
            raise SpecError("port_base", "port_base %d with %d replicas leaves the port range"
                            % (port_base, replicas))
        return {i: port_base + i - 1 for i in range(1, replicas + 1)}
    return {i: None for i in range(1, replicas + 1)}


def check_published_ports(published, replicas, ports, state="started"):
    """Refuse the extra published ports (published_ports, parsed: [(container 'N/proto',
    host_ip, host_port)]) that cannot be every replica's: a fixed host port (or a host range
    with fewer ports than replicas) binds on one replica only, the next one's start fails
    halfway through the run ("port is already allocated"); and a host port that is a
    replica's own (ports: {index: host_port}, from host_ports()). Raises SpecError naming
    published_ports; nothing to check for state absent (nothing starts)."""
    if state == "absent":
        return
    own = {p: i for i, p in ports.items() if p is not None}
    for cport, _ip, hport in published or []:
        if not hport:
            continue   # the engine picks a free host port for each replica
        if "-" in hport:
            lo, hi = (int(x) for x in hport.split("-"))
            if hi - lo + 1 < replicas:
                raise SpecError("published_ports", "host port range %s (to %s) has %d ports for %d "
                                "replicas: each replica needs one of its own"
                                % (hport, cport, hi - lo + 1, replicas))
            continue
        if replicas > 1:
            raise SpecError("published_ports", "host port %s (to %s) is fixed, and only one of the "
                            "%d replicas can publish it; leave the host port out (the engine picks "
                            "one per replica) or use port_base or ports for the replicas' own port"
                            % (hport, cport, replicas))
        if cport.endswith("/tcp") and int(hport) in own:
            raise SpecError("published_ports", "host port %s (to %s) is replica %d's own port "
                            "(option port_base or ports)" % (hport, cport, own[int(hport)]))


def entry_name(entry):
    """The container name of an engine listing entry (without the leading slash)."""
    return (entry.get("Names") or ["?"])[0].lstrip("/")


def _index_of(entry, name):
    labels = entry.get("Labels") or {}
    try:
        index = int(labels.get(REPLICA_LABEL, ""))
    except ValueError:
        return None
    if index < 1:   # no replica has it: a stray (else never converged nor scaled away)
        return None
    names = [n.lstrip("/") for n in entry.get("Names") or []]
    if replica_name(name, index) not in names:
        return None
    return index


def plan_replicas(name, replicas, existing, state="started", port_base=None, ports=None,
                  only=None, container_port=80):
    """Decide which replicas to converge and which containers to remove.

    existing: the one listing of containers labelled dockyard.service=<name>.
    Returns {"slots": [{index, name, host_port, existing}], "remove": [entry...],
             "above": [entry...], "ports": {"1": port...}}. Slots are the replicas to
    converge (all, or those in `only`); removals are replicas above N and strays (labelled
    for the service but not named like a replica), skipped when `only` is set; "above" lists
    the replicas above N whether or not they are removed. `only` set, even empty, touches
    nothing else: `only: []` converges and removes nothing (None is "every replica").
    """
    validate_name(name)
    if replicas < 0:
        raise SpecError("replicas", "must not be negative")
    if not 0 < container_port <= 65535:
        raise SpecError("container_port", "out of range")
    hp = host_ports(replicas, port_base, ports)
    if only is not None:
        bad = [i for i in only if not 1 <= i <= replicas]
        if bad:
            raise SpecError("only", "replicas %s are not in 1..%d" % (bad, replicas))
    by_index = {}
    remove = []
    for entry in existing:
        index = _index_of(entry, name)
        if index is None or index in by_index:
            remove.append(entry)
            continue
        by_index[index] = entry
    if state == "absent":
        targets = set(only) if only is not None else set(by_index) | set(range(1, replicas + 1))
        slots = [{"index": i, "name": replica_name(name, i), "host_port": hp.get(i),
                  "existing": by_index.get(i)} for i in sorted(targets) if by_index.get(i)]
        if only is not None:
            remove = []
        return {"slots": slots, "remove": remove, "above": [], "ports": {}}
    above = [entry for index, entry in sorted(by_index.items()) if index > replicas]
    remove.extend(above)
    wanted = sorted(set(only)) if only is not None else list(range(1, replicas + 1))
    slots = [{"index": i, "name": replica_name(name, i), "host_port": hp[i],
              "existing": by_index.get(i)} for i in wanted]
    if only is not None:
        remove = []
    return {"slots": slots, "remove": remove, "above": above,
            "ports": {str(i): p for i, p in sorted(hp.items())}}


def replica_spec(spec, name, index, host_port, container_port=80):
    """The canonical container spec of one replica: the service's spec plus its port
    and its labels (labels are compared like any the user set)."""
    out = dict(spec)
    labels = dict(spec.get("labels") or {})
    labels[SERVICE_LABEL] = name
    labels[REPLICA_LABEL] = str(index)
    out["labels"] = labels
    if host_port is not None:
        ports = set(tuple(p) for p in spec.get("published_ports") or [])
        ports.add(("%d/tcp" % container_port, "", str(host_port)))
        out["published_ports"] = sorted(ports)
    return out


def replica_action(steps):
    """Steps of one replica's decision -> its one-word action."""
    if "remove" in steps and "create" in steps:
        return "recreated"
    for step, word in (("create", "created"), ("remove", "removed"), ("update", "updated"),
                       ("restart", "restarted"), ("start", "started"), ("stop", "stopped"),
                       ("unpause", "unpaused")):
        if step in steps:
            return word
    return "unchanged"
