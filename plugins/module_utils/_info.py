# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure shaping of engine answers for dockyard.fleet.container_info and host_info.

Private to dockyard.fleet: no compatibility promise for code outside the collection.
"""
from __future__ import annotations


def label_filters(labels):
    """labels option (dict or list of 'key' / 'key=value') -> engine 'label' filter values."""
    if not labels:
        return []
    if isinstance(labels, dict):
        return ["%s=%s" % (k, v) if v is not None else k for k, v in sorted(labels.items())]
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
