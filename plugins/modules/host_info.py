#!/usr/bin/python
# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: host_info
short_description: Facts about a host's Docker engine
version_added: 0.1.0
description:
  - Returns the engine's version, API version and object counts, and on request lists of
    containers, images, networks and volumes (optionally filtered) and disk usage.
  - One engine call per requested list. Never changes anything; works in check mode.
  - The C(*_filters) options take the filters the Docker Engine API documents for that list;
    an unknown filter, or a value outside the set the engine takes (for example C(status) of
    a container), fails naming the option before the engine is called.
options:
  containers:
    description: Return RV(containers).
    type: bool
    default: false
  containers_all:
    description: Include stopped containers in RV(containers).
    type: bool
    default: true
  containers_filters:
    description: Engine filters for the container list, for example C(label) and C(status).
    type: dict
  images:
    description: Return RV(images).
    type: bool
    default: false
  images_filters:
    description: Engine filters for the image list, for example C(reference) and C(dangling).
    type: dict
  networks:
    description: Return RV(networks).
    type: bool
    default: false
  networks_filters:
    description: Engine filters for the network list, for example C(driver).
    type: dict
  volumes:
    description: Return RV(volumes).
    type: bool
    default: false
  volumes_filters:
    description: Engine filters for the volume list, for example C(dangling).
    type: dict
  disk_usage:
    description: Return RV(disk_usage) (C(docker system df); slower on big hosts).
    type: bool
    default: false
extends_documentation_fragment:
  - dockyard.fleet.docker
  - dockyard.fleet.attributes.INFO_MODULE
  - dockyard.fleet.attributes.ACTIONGROUP_DOCKER
author: dockyard.fleet contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Engine version and counts
  dockyard.fleet.host_info:
  register: engine

- name: Running containers of the shop, and all dockyard images
  dockyard.fleet.host_info:
    containers: true
    containers_filters:
      label: [app=shop]
      status: running
    images: true
    images_filters:
      reference: "dockyard/*"
"""

RETURN = r"""
host_info:
  description: Engine facts.
  returned: always
  type: dict
  contains:
    server_version: {description: Engine version., type: str}
    api_version: {description: Engine API version., type: str}
    min_api_version: {description: Oldest API version it accepts., type: str}
    name: {description: Engine host name., type: str}
    storage_driver: {description: Storage driver., type: str}
    counts: {description: "containers, running, paused, stopped, images.", type: dict}
containers:
  description: Containers (id, name, image, image_id, state, status, labels, created).
  returned: when O(containers=true)
  type: list
  elements: dict
images:
  description: Images (id, tags, digests, created, size, labels).
  returned: when O(images=true)
  type: list
  elements: dict
networks:
  description: Networks (id, name, driver, scope, internal, labels).
  returned: when O(networks=true)
  type: list
  elements: dict
volumes:
  description: Volumes (name, driver, mountpoint, labels).
  returned: when O(volumes=true)
  type: list
  elements: dict
disk_usage:
  description: Counts and bytes of images, containers, volumes and build cache.
  returned: when O(disk_usage=true)
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import (
    DockerClient, DockerError, docker_common_args)
from ansible_collections.dockyard.fleet.plugins.module_utils._info import (
    LIST_KINDS, FilterError, disk_usage_summary, filter_refusal, host_summary, list_filters,
    list_view)


def main():
    spec = docker_common_args(
        containers=dict(type="bool", default=False),
        containers_all=dict(type="bool", default=True),
        containers_filters=dict(type="dict"),
        images=dict(type="bool", default=False),
        images_filters=dict(type="dict"),
        networks=dict(type="bool", default=False),
        networks_filters=dict(type="dict"),
        volumes=dict(type="bool", default=False),
        volumes_filters=dict(type="dict"),
        disk_usage=dict(type="bool", default=False),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    try:
        filters = list_filters(p)
    except FilterError as exc:
        module.fail_json(msg=str(exc))
    result = dict(changed=False)
    try:
        client = DockerClient(p)
        result["host_info"] = host_summary(client.call("version"), client.call("info"))
        for kind in LIST_KINDS:
            if not p[kind]:
                continue
            kwargs = dict(all=p["containers_all"]) if kind == "containers" else {}
            try:
                answer = client.call(kind, filters=filters[kind], **kwargs)
            except DockerError as exc:
                module.fail_json(msg=filter_refusal(kind, filters[kind], str(exc)))
            result[kind] = list_view(kind, answer)
        if p["disk_usage"]:
            result["disk_usage"] = disk_usage_summary(client.call("df"))
    except DockerError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
