# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure shaping of engine answers for dockyard.fleet.container_info and host_info.

Private to dockyard.fleet: no compatibility promise for code outside the collection.
"""
from __future__ import annotations

LIST_KINDS = ("containers", "images", "networks", "volumes")
_BOOL = ("true", "false", "1", "0")
# The filters of the engine's list calls, after the Docker Engine API reference
# (GET /containers/json, /images/json, /networks, /volumes): filter -> None (any value),
# int (an integer) or the tuple of the only values the engine takes.
LIST_FILTERS = {
    "containers": {
        "ancestor": None, "annotation": None, "before": None, "expose": None, "exited": int,
        "health": ("starting", "healthy", "unhealthy", "none"), "id": None,
        "isolation": ("default", "process", "hyperv"), "is-task": ("true", "false"),
        "label": None, "name": None, "network": None, "publish": None, "since": None,
        "status": ("created", "restarting", "running", "removing", "paused", "exited", "dead"),
        "volume": None,
    },
    "images": {"before": None, "dangling": ("true", "false"), "label": None, "reference": None,
               "since": None, "until": None},
    "networks": {"dangling": _BOOL, "driver": None, "id": None, "label": None, "name": None,
                 "scope": ("swarm", "global", "local"), "type": ("custom", "builtin")},
    "volumes": {"dangling": _BOOL, "driver": None, "label": None, "name": None},
}


class FilterError(ValueError):
    """A *_filters option the engine would refuse; the message names the option."""

    def __init__(self, option, msg):
        super().__init__("%s: %s" % (option, msg))
        self.option = option


def plain_type(value):
    """The plain name of value's type for a message (dict, str, ...): not the name of
    Ansible's tagged subclasses (_AnsibleTaggedStr), which means nothing to a user."""
    for kind in (bool, int, float, str, dict, list, tuple, bytes):
        if isinstance(value, kind):
            return kind.__name__
    return "null" if value is None else type(value).__name__


def _filter_value(option, key, value):
    """One filter value (str, number, bool) -> the engine's string; FilterError otherwise."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return value
    what = "no value" if value is None else "a %s" % plain_type(value)
    raise FilterError(option, "filter %r: expected a string, a number, a boolean or a list of "
                              "them, got %s" % (key, what))


def check_filters(kind, filters, known=None, option=None):
    """host_info's <kind>_filters -> {filter: [values]} for the engine (None: no filter).
    known: the filters the call takes (LIST_FILTERS[kind] by default), option the option's
    name (<kind>_filters by default).

    Unknown filters, and values outside the set the engine documents for a filter, raise
    FilterError naming the option, before anything reaches the engine."""
    option = option or kind + "_filters"
    known = LIST_FILTERS[kind] if known is None else known
    out = {}
    for key, value in (filters or {}).items():
        if not isinstance(key, str) or key not in known:
            raise FilterError(option, "unknown filter %r (the engine filters %s by %s)"
                              % (key, kind, ", ".join(sorted(known))))
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        values = [_filter_value(option, key, v) for v in values]
        allowed = known[key]
        for v in values:
            if allowed is int:
                try:
                    int(v)
                except ValueError:
                    raise FilterError(option, "filter %r: expected an integer, got %r"
                                      % (key, v)) from None
            elif allowed is not None and v not in allowed:
                raise FilterError(option, "filter %r: invalid value %r (one of: %s)"
                                  % (key, v, ", ".join(allowed)))
        if values:
            out[key] = values
    return out or None


def list_filters(params):
    """host_info params -> {kind: engine filters or None} for every kind; FilterError names
    the option when a *_filters option is wrong or set for a list that was not asked for."""
    out = {}
    for kind in LIST_KINDS:
        filters = params.get(kind + "_filters")
        if filters and not params.get(kind):
            raise FilterError(kind + "_filters", "set %s: true to get that list" % kind)
        out[kind] = check_filters(kind, filters)
    return out


def filter_refusal(kind, filters, msg):
    """The message for an engine that refused a filtered list call: it names the option (an
    engine older than the documented filters may not know one of them)."""
    if filters and msg.startswith("Docker engine refused"):
        return "%s_filters: %s" % (kind, msg)
    return msg


def label_filters(labels, option="labels"):
    """labels option (dict or list of 'key' / 'key=value') -> engine 'label' filter values.
    A dict's values as the labels hold them: YAML booleans as true / false (as host_info's
    filters), numbers as written, null for any value. FilterError naming option for what no
    label can match (a non-string list entry, an empty key, a dict or list value)."""
    if labels is None:
        return []
    if isinstance(labels, dict):
        out = []
        for key, value in sorted(labels.items(), key=lambda kv: str(kv[0])):
            if not isinstance(key, str) or not key or "=" in key:
                raise FilterError(option, "label name %r: expected a non-empty string without '='"
                                  % (key,))
            out.append(key if value is None else "%s=%s" % (key, _filter_value(option, key, value)))
        return out
    if not isinstance(labels, (list, tuple)):
        raise FilterError(option, "must be a dict or a list of key / key=value, got %s"
                          % plain_type(labels))
    for entry in labels:
        if not isinstance(entry, str) or not entry or entry.startswith("="):
            raise FilterError(option, "entry %r: expected key or key=value (a string), got %s"
                              % (entry, plain_type(entry) if not isinstance(entry, str) else
                                 "an empty label name"))
    return list(labels)


def ports_of(inspect):
    """NetworkSettings.Ports -> ['0.0.0.0:8080->80/tcp', '80/tcp'] (unpublished ports bare)."""
    out = []
    ports = ((inspect.get("NetworkSettings") or {}).get("Ports")) or {}
    for cport, binds in sorted(ports.items()):
        if not binds:
            out.append(cport)
            continue
        for b in binds:
            out.append("%s:%s->%s" % (b.get("HostIp") or "0.0.0.0", b.get("HostPort"), cport))
    return out


def container_view(inspect):
    """The subset of a container inspect that container_info returns."""
    state = inspect.get("State") or {}
    config = inspect.get("Config") or {}
    health = (state.get("Health") or {}).get("Status")
    return dict(
        exists=True,
        id=inspect.get("Id"),
        name=(inspect.get("Name") or "").lstrip("/"),
        image=config.get("Image"),
        image_id=inspect.get("Image"),
        state=state.get("Status"),
        running=bool(state.get("Running")),
        exit_code=state.get("ExitCode"),
        health=health,
        restart_count=inspect.get("RestartCount"),
        ports=ports_of(inspect),
        labels=config.get("Labels") or {},
        networks=sorted(((inspect.get("NetworkSettings") or {}).get("Networks") or {}).keys()),
        created=inspect.get("Created"),
        started_at=state.get("StartedAt"),
    )


def missing_view(name):
    return dict(exists=False, name=name)


def summarize(kind, item):
    """One line of a host_info list, from the engine's list answer (not inspect)."""
    if kind == "containers":
        return dict(id=item.get("Id"), name=((item.get("Names") or ["/"])[0]).lstrip("/"),
                    image=item.get("Image"), image_id=item.get("ImageID"),
                    state=item.get("State"), status=item.get("Status"),
                    labels=item.get("Labels") or {}, created=item.get("Created"))
    if kind == "images":
        return dict(id=item.get("Id"), tags=item.get("RepoTags") or [],
                    digests=item.get("RepoDigests") or [], created=item.get("Created"),
                    size=item.get("Size"), labels=item.get("Labels") or {})
    if kind == "networks":
        return dict(id=item.get("Id"), name=item.get("Name"), driver=item.get("Driver"),
                    scope=item.get("Scope"), internal=item.get("Internal"),
                    labels=item.get("Labels") or {})
    if kind == "volumes":
        return dict(name=item.get("Name"), driver=item.get("Driver"),
                    mountpoint=item.get("Mountpoint"), labels=item.get("Labels") or {})
    raise ValueError(kind)


def list_view(kind, answer):
    """The engine's answer to a list call of host_info -> its list of summaries."""
    items = (answer or {}).get("Volumes") if kind == "volumes" else answer
    return [summarize(kind, item) for item in items or []]


def host_summary(version, info):
    return dict(
        server_version=version.get("Version"),
        api_version=version.get("ApiVersion"),
        min_api_version=version.get("MinAPIVersion"),
        os=version.get("Os"), arch=version.get("Arch"),
        kernel_version=version.get("KernelVersion"),
        name=info.get("Name"), storage_driver=info.get("Driver"),
        cgroup_driver=info.get("CgroupDriver"), swarm=(info.get("Swarm") or {}).get(
            "LocalNodeState"),
        counts=dict(containers=info.get("Containers"), running=info.get("ContainersRunning"),
                    paused=info.get("ContainersPaused"), stopped=info.get("ContainersStopped"),
                    images=info.get("Images")),
    )


def disk_usage_summary(df):
    def total(items, key="Size"):
        return sum((i.get(key) or 0) for i in items or [])
    return dict(
        layers_size=df.get("LayersSize"),
        images=dict(count=len(df.get("Images") or []), size=total(df.get("Images"))),
        containers=dict(count=len(df.get("Containers") or []),
                        size=total(df.get("Containers"), "SizeRw")),
        volumes=dict(count=len(df.get("Volumes") or []),
                     size=sum(((v.get("UsageData") or {}).get("Size") or 0)
                              for v in df.get("Volumes") or [] if
                              ((v.get("UsageData") or {}).get("Size") or 0) > 0)),
        build_cache=dict(count=len(df.get("BuildCache") or []), size=total(df.get("BuildCache"))),
    )
