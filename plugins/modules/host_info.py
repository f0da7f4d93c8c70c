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
  - Runs on the controller where it can (O(execution)), with no module run on the host.
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
  - dockyard.fleet.execution
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
execution:
  description: Where the run happened, V(controller) or V(host) (see O(execution)).
  returned: when the run started
  type: str
  sample: controller
execution_reason:
  description: With O(execution=auto), why the run went to the host.
  returned: when O(execution=auto) ran the module on the host
  type: str
invocations:
  description: Module runs on the host for this task, 0 (on the controller) or 1.
  returned: always
  type: int
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

from ansible_collections.dockyard.fleet.plugins.module_utils._host_info import (
    host_info_argument_spec, host_info_main)


def main():
    module = AnsibleModule(argument_spec=host_info_argument_spec(), supports_check_mode=True)
    host_info_main(module)


if __name__ == "__main__":
    main()
