# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""dockyard.fleet.prune: unused containers, images, networks, volumes and build cache removed
by the engine's prune calls, in that order (a container pruned first frees its image and volumes).

A real run is one prune call per kind asked for, and one version read before them when
volumes or build-cache options are asked for (what they mean depends on the engine's API
version; an engine that answered the connection's probe is not asked again). Check mode
cannot ask the engine (it has no dry run), so it lists what the engine would look at and applies the
engine's own rules (predict_*, pure): stopped containers; images no container uses (only
untagged ones unless dangling is false); custom networks without an endpoint; local volumes
no container mounts (API 1.42 and later: only anonymous ones unless all is true), each
through the filters; build-cache records as BuildKit's prune picks them, from the engine's
disk usage (GET /system/df). `until` is resolved once, to a timestamp the engine is then given
(for build cache: the duration back to it, at the call), so the prediction and the real run
cut at the same moment.

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

BUILDER = "builder_cache"
KINDS = ("containers", "images", "networks", "volumes", BUILDER)
_BOOL = ("true", "false", "1", "0")
# BuildKit's record types (the Type of a /system/df BuildCache record)
BUILD_CACHE_TYPES = ("regular", "internal", "frontend", "source.local", "source.git.checkout",
                     "exec.cachemount")
# The filters of the engine's prune calls (Docker Engine API: POST /<kind>/prune).
PRUNE_FILTERS = {
    "containers": {"until": None, "label": None, "label!": None},
    "images": {"dangling": _BOOL, "until": None, "label": None, "label!": None},
    "networks": {"until": None, "label": None, "label!": None},
    "volumes": {"label": None, "label!": None, "all": _BOOL},
    # POST /build/prune: of the filters the engine takes (API 1.39 and later), the ones its
    # prune matches records on (Docker 20.10: parent, description and inuse never match one;
    # label and label! are taken and ignored); one value each
    BUILDER: {"until": None, "id": None, "type": BUILD_CACHE_TYPES, "shared": _BOOL, "private": _BOOL},
}
PREDEFINED_NETWORKS = ("bridge", "host", "none", "default")
ANONYMOUS_VOLUME = "com.docker.volume.anonymous"
_DURATION_RE = re.compile(r"^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
# keep-storage as the docker CLI's --keep-storage reads it (units 1024-based, case ignored)
_SIZE_RE = re.compile(r"^(\d+(?:\.\d+)?) ?([kmgtp])?(?:i?b)?$", re.IGNORECASE)
_SIZE_UNITS = {None: 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_BUILD_ID_RE = re.compile(r"^[A-Za-z0-9]+$")


def prune_argument_spec():
    """The module's argument spec (also what the action plugin validates with)."""
    spec = {}
    for kind in KINDS:
        spec[kind] = dict(type="bool", default=False)
        spec[kind + "_filters"] = dict(type="dict")
    spec[BUILDER + "_all"] = dict(type="bool", default=False)
    spec[BUILDER + "_keep_storage"] = dict(type="raw")
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


def parse_size(option, value):
    """keep-storage: bytes (an integer), or a size with a unit as the docker CLI's
    --keep-storage takes it (512MB, 1.5g, 2GiB: units 1024-based) -> bytes; FilterError."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    found = _SIZE_RE.match(value.strip()) if isinstance(value, str) else None
    if not found:
        raise FilterError(option, "expected bytes (an integer of 0 or more) or a size such as 512MB or "
                                  "1.5GB (units of 1024, as docker builder prune --keep-storage), got %r"
                                  % (value,))
    unit = found.group(2).lower() if found.group(2) else None
    return int(float(found.group(1)) * _SIZE_UNITS[unit])


def parse_builder(params, given, now):
    """The build-cache part of the plan: {"filters", "all", "keep_storage"} (filters: until
    resolved to a timestamp; shared / private as bare keys, false turned into the other one)."""
    option = BUILDER + "_filters"
    for key in ("label", "label!"):
        if key in (given or {}):
            raise FilterError(option, "filter %r: build cache has no labels (the engine takes the filter, "
                                      "ignores it and prunes the rest of the build cache)" % key)
    filters = check_filters("build cache", given, PRUNE_FILTERS[BUILDER], option) or {}
    for key, values in filters.items():
        if len(values) != 1:
            raise FilterError(option, "filter %r: one value, got %d" % (key, len(values)))
    out = {}
    for key, (value,) in sorted(filters.items()):
        if key == "until":
            out[key] = ["%.3f" % parse_until(option, value, now)]
        elif key in ("shared", "private"):
            # the engine takes these as bare keys (a value never matches)
            flip = {"shared": "private", "private": "shared"}
            out[key if value in ("true", "1") else flip[key]] = []
        elif key == "id" and not _BUILD_ID_RE.match(value):
            raise FilterError(option, "filter 'id': letters and digits (a record's ID or part of one), got %r"
                              % value)
        else:
            out[key] = [value]
    keep = params.get(BUILDER + "_keep_storage")
    return {"filters": out, "all": bool(params.get(BUILDER + "_all")),
            "keep_storage": parse_size(BUILDER + "_keep_storage", keep) if keep is not None else None}


def parse(params, now=None):
    """-> {kind: filters for the engine} for the kinds asked for, `until` resolved to a
    timestamp (one value only), builder_cache's as parse_builder makes it; FilterError naming
    the option. Every option is checked before anything is pruned."""
    now = time.time() if now is None else now
    out = {}
    for option in (BUILDER + "_all", BUILDER + "_keep_storage"):
        if params.get(option) not in (None, False) and not params.get(BUILDER):
            raise FilterError(option, "set builder_cache: true to prune build cache")
    for kind in KINDS:
        option = kind + "_filters"
        given = params.get(option)
        if given and not params.get(kind):
            what = "build cache" if kind == BUILDER else "them"
            raise FilterError(option, "set %s: true to prune %s" % (kind, what))
        if not params.get(kind):
            continue
        if kind == BUILDER:
            out[kind] = parse_builder(params, given, now)
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
        raise FilterError("containers", "nothing to prune: set containers, images, networks, volumes or "
                                        "builder_cache to true")
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


def _nanos(value):
    """An RFC 3339 time with nanoseconds (the engine's) -> integer nanoseconds; None for none."""
    if not value:
        return None
    found = re.match(r"^(.*?)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$", str(value))
    seconds = _created(found.group(1) + (found.group(3) or ""))
    return int(seconds) * 10 ** 9 + int((found.group(2) or "0")[:9].ljust(9, "0"))


def gc_order(records):
    """The order the engine removes build-cache records in under keep-storage, the one it picks
    first first (BuildKit's sortDeleteRecords): each record ranked by last use (never used
    first) and by usage count, the two ranks each divided by its highest and added, least
    first. Equal sums: the engine's sorts (Go's) keep the order before them for up to 12
    records, so by usage count, then by last use; past that, in an order it does not fix."""
    last = {r["ID"]: _nanos(r.get("LastUsedAt")) for r in records}
    by_last = sorted(records, key=lambda r: (last[r["ID"]] is not None, last[r["ID"]] or 0))
    last_rank, top_last, seen = {}, 0, None
    for r in by_last:
        t = last[r["ID"]]
        if t is not None and (seen is None or t > seen):
            seen, top_last = t, top_last + 1
        last_rank[r["ID"]] = top_last
    by_count = sorted(by_last, key=lambda r: r.get("UsageCount") or 0)
    count_rank, top_count, count = {}, 0, 0
    for r in by_count:
        if (r.get("UsageCount") or 0) != count:
            count, top_count = r.get("UsageCount") or 0, top_count + 1
        count_rank[r["ID"]] = top_count

    def score(r):
        return ((last_rank[r["ID"]] / top_last if top_last else 0.0)
                + (count_rank[r["ID"]] / top_count if top_count else 0.0))
    return sorted(by_count, key=score)


def builder_filters_match(filters, record):
    """The engine's build-cache filters (but until) against a /system/df record: id is a part
    of the ID (the engine matches it as a regular expression), type the record's, shared and
    private bare keys."""
    return (all(v in record["ID"] for v in filters.get("id", ()))
            and all(v == (record.get("Type") or "regular") for v in filters.get("type", ()))
            and ("shared" not in filters or bool(record.get("Shared")))
            and ("private" not in filters or not record.get("Shared")))


def predict_builder_cache(options, records):
    """IDs of the build-cache records the engine's build prune removes, from /system/df's
    BuildCache records, as BuildKit prunes: a record not in use whose child records are all
    gone (its parent may go after it, in the same prune), not last used since until (never
    used counts as before), through the filters; without all, not an internal or frontend
    record nor one an image's layers share (Shared). With keep_storage, one record at a time
    in gc_order while the records no image shares take that much or more (nothing when they
    take less)."""
    filters, keep = options.get("filters") or {}, options.get("keep_storage") or 0
    cut = int(float(filters["until"][0]) * 10 ** 9) if "until" in filters else None
    left = {r["ID"]: r for r in records}

    def prunable(r):
        if r.get("InUse") or any(c.get("Parent") == r["ID"] for c in left.values()):
            return False
        if not options.get("all") and (r.get("Shared") or r.get("Type") in ("internal", "frontend")):
            return False
        used = _nanos(r.get("LastUsedAt"))
        if cut is not None and used is not None and used > cut:
            return False
        return builder_filters_match(filters, r)
    total = sum(int(r.get("Size") or 0) for r in records if not r.get("Shared"))
    removed = []
    while not (keep and total < keep):
        found = [r for r in left.values() if prunable(r)]
        if not found:
            break
        for r in gc_order(found)[:1] if keep else found:
            removed.append(r["ID"])
            total -= int(r.get("Size") or 0)
            del left[r["ID"]]
    return removed


def builder_call(options, now=None):
    """The keyword arguments of the engine's build prune call (the SDK's prune_builds): only
    those set, until as the duration back to its timestamp now (the engine takes a duration
    only)."""
    now = time.time() if now is None else now
    filters = dict(options.get("filters") or {})
    if "until" in filters:
        filters["until"] = ["%dms" % max(0, round((now - float(filters["until"][0])) * 1000))]
    kwargs = {}
    if filters:
        kwargs["filters"] = filters
    if options.get("keep_storage"):
        kwargs["keep_storage"] = options["keep_storage"]
    if options.get("all"):
        kwargs["all"] = True
    return kwargs


# ------------------------------------------------------------------ runs
def predict(client, plan, api_version):
    """What a real run would remove: the listings, then the rules above, kind after kind."""
    # the containers decide what images and volumes are in use
    containers = client.call("containers", all=True) if set(plan) - {"networks", BUILDER} else []
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
    if BUILDER in plan:
        out[BUILDER] = predict_builder_cache(plan[BUILDER], (client.call("df") or {}).get("BuildCache") or [])
    return out


def prune(client, plan):
    """The real run: one prune call per kind asked for, in KINDS order. -> (removed, bytes
    reclaimed)."""
    out, space = {}, 0
    for kind in KINDS:
        if kind not in plan:
            continue
        if kind == BUILDER:
            answer = _prune_builds(client, plan[kind])
        else:
            answer = client.call("prune_" + kind, filters=plan[kind] or None) or {}
        space += int(answer.get("SpaceReclaimed") or 0)
        if kind == BUILDER:
            out[kind] = answer.get("CachesDeleted") or []
        elif kind == "images":
            items = answer.get("ImagesDeleted") or []
            out["images"] = [i["Deleted"] for i in items if i.get("Deleted")]
            out["images_untagged"] = [i["Untagged"] for i in items if i.get("Untagged")]
        else:
            out[kind] = answer.get(kind.capitalize() + "Deleted") or []
    return out, space


def _prune_builds(client, options):
    kwargs = builder_call(options)
    try:
        return client.call("prune_builds", **kwargs) or {}
    except TypeError as exc:   # ssh:// engines: an SDK older than 6.1 takes no arguments here
        if not kwargs or "argument" not in str(exc):
            raise
        raise DockerError("builder_cache_filters, builder_cache_all and builder_cache_keep_storage need "
                          "the Docker SDK for Python 6.1 or later on the host for an ssh:// engine: "
                          "%s" % exc) from exc


def builder_options_set(plan):
    """The builder_cache options a run sets beyond builder_cache itself (they need API 1.39)."""
    options = plan.get(BUILDER) or {}
    return [name for name, key in (("builder_cache_filters", "filters"), ("builder_cache_all", "all"),
                                   ("builder_cache_keep_storage", "keep_storage")) if options.get(key)]


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
        builder_options = builder_options_set(plan)
        if "volumes" in plan or builder_options:
            version = client.probed_version or client.call("version")
            api_version = spoken_version(p.get("api_version"), version.get("ApiVersion") or api_version)
            if "all" in plan.get("volumes", {}) and not api_at_least(api_version, (1, 42)):
                module.fail_json(msg="volumes_filters: filter 'all' needs an engine with API 1.42 or "
                                     "later; this one speaks %s and prunes every unused local volume "
                                     "without it" % api_version)
            if builder_options and not api_at_least(api_version, (1, 39)):
                module.fail_json(msg="%s: needs an engine with API 1.39 (Docker 18.09) or later; this one "
                                     "speaks %s and would prune all of the build cache"
                                     % (builder_options[0], api_version))
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
