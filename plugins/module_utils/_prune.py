# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""dockyard.fleet.prune: unused containers, images, networks and volumes removed by the
engine's prune calls, in that order (a container pruned first frees its image and volumes).

A real run is one prune call per kind asked for, nothing else. Check mode cannot ask the
engine (it has no dry run), so it lists what the engine would look at and applies the
engine's own rules (predict_*, pure): stopped containers; images no container uses (only
untagged ones unless dangling is false); custom networks without an endpoint; local volumes
no container mounts (API 1.42 and later: only anonymous ones unless all is true), each
through the filters. `until` is resolved once, to a timestamp the engine is then given, so
the prediction and the real run cut at the same moment.

Private to dockyard.fleet: no compatibility promise for code outside the collection.
"""
from __future__ import annotations

import datetime
import re
import time
import traceback

from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import (
    EXECUTION_ARG, DockerClient, DockerError, docker_common_args)
from ansible_collections.dockyard.fleet.plugins.module_utils._info import FilterError, check_filters

KINDS = ("containers", "images", "networks", "volumes")
_BOOL = ("true", "false", "1", "0")
# The filters of the engine's prune calls (Docker Engine API: POST /<kind>/prune).
PRUNE_FILTERS = {
    "containers": {"until": None, "label": None, "label!": None},
    "images": {"dangling": _BOOL, "until": None, "label": None, "label!": None},
    "networks": {"until": None, "label": None, "label!": None},
    "volumes": {"label": None, "label!": None, "all": _BOOL},
}
PREDEFINED_NETWORKS = ("bridge", "host", "none", "default")
ANONYMOUS_VOLUME = "com.docker.volume.anonymous"
_DURATION_RE = re.compile(r"^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def prune_argument_spec():
    """The module's argument spec (also what the action plugin validates with)."""
    spec = {}
    for kind in KINDS:
        spec[kind] = dict(type="bool", default=False)
        spec[kind + "_filters"] = dict(type="dict")
    return docker_common_args(execution=dict(EXECUTION_ARG), **spec)


# ------------------------------------------------------------------ options
def parse_until(option, value, now):
    """A prune `until` (a duration back from now such as 24h or 1h30m, a Unix timestamp, or
    an RFC 3339 / ISO date or time) -> Unix seconds; FilterError naming the option."""
    text = str(value).strip()
    if _DURATION_RE.match(text):
        return now - sum(float(n) * _UNITS[u] for n, u in _DURATION_PART.findall(text))
    try:
        return float(text)
    except ValueError:
        pass
    try:
        stamp = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise FilterError(option, "filter 'until': %r is not a duration (24h, 90m), a Unix "
                                  "timestamp or an RFC 3339 date" % value) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.timezone.utc)
    return stamp.timestamp()


def parse(params, now=None):
    """-> {kind: filters for the engine} for the kinds asked for, `until` resolved to a
    timestamp (one value only); FilterError naming the option."""
    now = time.time() if now is None else now
    out = {}
    for kind in KINDS:
        option = kind + "_filters"
        given = params.get(option)
        if given and not params.get(kind):
            raise FilterError(option, "set %s: true to prune them" % kind)
        if not params.get(kind):
            continue
        filters = check_filters(kind, given, PRUNE_FILTERS[kind], option) or {}
        if "until" in filters:
            if len(filters["until"]) != 1:
                raise FilterError(option, "filter 'until': one value, got %d" % len(filters["until"]))
            filters["until"] = ["%d" % parse_until(option, filters["until"][0], now)]
        for key in ("dangling", "all"):
            if len(filters.get(key, ())) > 1:
                raise FilterError(option, "filter %r: one value, got %d" % (key, len(filters[key])))
        out[kind] = filters
    if not out:
        raise FilterError("containers", "nothing to prune: set containers, images, networks or volumes to true")
    return out


# ------------------------------------------------------------------ the engine's rules
def labels_match(filters, labels):
    """The engine's label / label! filters against an object's labels: every `label` entry
    must match; the object is left out only when every `label!` entry matches (the engine's
    matchLabels: MatchKVList over each)."""
    labels = labels or {}

    def has(entry):
        key, sep, value = entry.partition("=")
        return key in labels and (not sep or labels[key] == value)
    excluded = filters.get("label!")
    return all(has(e) for e in filters.get("label", ())) and not (excluded and all(has(e) for e in excluded))


def _created(value):
    """An object's creation time (Unix seconds, or RFC 3339 with nanoseconds) -> seconds."""
    if isinstance(value, (int, float)):
        return float(value)
    text = re.sub(r"(\.\d{6})\d+", r"\1", str(value)).replace("Z", "+00:00")
    try:
        stamp = datetime.datetime.fromisoformat(text)
    except ValueError:
        return 0.0
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.timezone.utc)
    return stamp.timestamp()


def _before(filters, created):
    until = filters.get("until")
    return not until or _created(created) < float(until[0])


def _true(filters, key, default):
    values = filters.get(key)
    return default if not values else values[0] in ("true", "1")


def predict_containers(filters, containers):
    """IDs of the containers the engine's prune removes: those not running (created, exited,
    dead) that pass the filters. containers: the listing with all=True."""
    return [c["Id"] for c in containers
            if c.get("State") in ("created", "exited", "dead")
            and _before(filters, c.get("Created")) and labels_match(filters, c.get("Labels"))]


def predict_images(filters, images, containers, pruned=()):
    """(IDs, references untagged) of the images the engine's prune removes: top-level images
    (the listing) no remaining container uses, untagged ones only unless dangling is false,
    through until and the labels. With dangling false the engine deletes by reference: an
    image with child images (ParentId) loses its tags but stays, and one a container uses
    loses every tag but one (the engine's order decides which stays; the last listed is kept
    here)."""
    used = {c.get("ImageID") for c in containers if c["Id"] not in set(pruned)}
    parents = {i.get("ParentId") for i in images if i.get("ParentId")}
    dangling_only = _true(filters, "dangling", True)
    ids, refs = [], []
    for image in images:
        if not _before(filters, image.get("Created")) or not labels_match(filters, image.get("Labels")):
            continue
        tags = [t for t in image.get("RepoTags") or [] if not t.startswith("<none>")]
        digests = [d for d in image.get("RepoDigests") or [] if not d.startswith("<none>")]
        if dangling_only:
            if tags or image["Id"] in used or image["Id"] in parents:
                continue
            ids.append(image["Id"])
            refs.extend(digests)
        elif image["Id"] in used:
            refs.extend(tags[:-1])
        else:
            refs.extend(tags + digests)
            if image["Id"] not in parents:
                ids.append(image["Id"])
    return ids, refs


def predict_networks(filters, networks):
    """Names of the networks the engine's prune removes: not predefined, not config-only, not
    swarm-scoped (a swarm manager's engine also prunes unused swarm networks: not predicted),
    without an endpoint (a running container), through the filters. networks: inspected
    (their Containers)."""
    return [n["Name"] for n in networks
            if n["Name"] not in PREDEFINED_NETWORKS and n.get("Scope") != "swarm" and not n.get("ConfigOnly")
            and not n.get("Containers") and _before(filters, n.get("Created"))
            and labels_match(filters, n.get("Labels"))]


def spoken_version(pinned, engine):
    """The API version the requests speak: the engine's, or the one pinned (option
    api_version) when it is older; the engine applies the rules of that version."""
    if pinned in (None, "", "auto"):
        return engine
    return pinned if not api_at_least(pinned, _version_tuple(engine)) else engine


def _version_tuple(version):
    try:
        return tuple(int(x) for x in str(version).split(".")[:2])
    except ValueError:
        return (0, 0)


def api_at_least(version, wanted):
    return _version_tuple(version) >= wanted


def predict_volumes(filters, volumes, containers, pruned=(), api_version="1.41"):
    """Names of the volumes the engine's prune removes: local ones without driver options (an
    NFS or bind volume stays) no remaining container mounts, through the labels; from API
    1.42 (the API the request speaks) only anonymous ones unless all is true."""
    mounted = {m.get("Name") for c in containers if c["Id"] not in set(pruned)
               for m in c.get("Mounts") or [] if m.get("Type") == "volume"}
    anonymous_only = api_at_least(api_version, (1, 42)) and not _true(filters, "all", False)
    return [v["Name"] for v in volumes
            if v.get("Driver") == "local" and not v.get("Options") and v["Name"] not in mounted
            and labels_match(filters, v.get("Labels"))
            and not (anonymous_only and ANONYMOUS_VOLUME not in (v.get("Labels") or {}))]


# ------------------------------------------------------------------ runs
def predict(client, plan, api_version):
    """What a real run would remove: the listings, then the rules above, kind after kind."""
    # the containers decide what images and volumes are in use
    containers = client.call("containers", all=True) if set(plan) - {"networks"} else []
    out = {}
    pruned = predict_containers(plan["containers"], containers) if "containers" in plan else []
    if "containers" in plan:
        out["containers"] = pruned
    if "images" in plan:
        out["images"], out["images_untagged"] = predict_images(
            plan["images"], client.call("images"), containers, pruned)
    if "networks" in plan:
        listed = [n for n in client.call("networks") or [] if n["Name"] not in PREDEFINED_NETWORKS]
        out["networks"] = predict_networks(plan["networks"], [client.call("inspect_network", n["Id"]) for n in listed])
    if "volumes" in plan:
        answer = client.call("volumes") or {}
        out["volumes"] = predict_volumes(plan["volumes"], answer.get("Volumes") or [], containers, pruned,
                                         api_version)
    return out


def prune(client, plan):
    """The real run: one prune call per kind, in order. -> (removed, bytes reclaimed)."""
    out, space = {}, 0
    for kind in KINDS:
        if kind not in plan:
            continue
        answer = client.call("prune_" + kind, filters=plan[kind] or None) or {}
        space += int(answer.get("SpaceReclaimed") or 0)
        if kind == "images":
            items = answer.get("ImagesDeleted") or []
            out["images"] = [i["Deleted"] for i in items if i.get("Deleted")]
            out["images_untagged"] = [i["Untagged"] for i in items if i.get("Untagged")]
        else:
            out[kind] = answer.get(kind.capitalize() + "Deleted") or []
    return out, space


def prune_main(module, client=None):
    """The module's run once its arguments are validated: on the host (the module) or on the
    controller against the host's engine socket forwarded over SSH (the action plugin, with
    client). Ends with module.exit_json or module.fail_json."""
    p = module.params
    try:
        plan = parse(p)
    except FilterError as exc:
        module.fail_json(msg=str(exc))
    try:
        client = client or DockerClient(p)
        api_version = "1.41"
        if "volumes" in plan:
            version = client.probed_version or client.call("version")
            api_version = spoken_version(p.get("api_version"), version.get("ApiVersion") or api_version)
            if "all" in plan["volumes"] and not api_at_least(api_version, (1, 42)):
                module.fail_json(msg="volumes_filters: filter 'all' needs an engine with API 1.42 or "
                                     "later; this one speaks %s and prunes every unused local volume "
                                     "without it" % api_version)
        if module.check_mode:
            removed, space = predict(client, plan, api_version), None
        else:
            removed, space = prune(client, plan)
    except DockerError as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc())
    changed = any(removed.values())
    result = dict(changed=changed, **removed)
    if space is not None:
        result["space_reclaimed"] = space
    if changed:
        result["diff"] = {"before": {k: v for k, v in removed.items() if v},
                          "after": {k: [] for k, v in removed.items() if v}}
    module.exit_json(**result)
