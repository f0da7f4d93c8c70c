#!/usr/bin/python
# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: container_info
short_description: Facts about Docker containers on a host
version_added: 0.1.0
description:
  - Returns whether containers exist and a useful subset of their inspect data, by name, by a
    list of names, or by labels. Never changes anything; works in check mode.
options:
  name:
    description:
      - Container name or list of names. Missing containers are returned with C(exists=false).
      - An empty list is refused (it would select nothing).
      - As C(docker inspect), a name that is a prefix of a container's ID (hex) finds that
        container when no container has that name.
    type: list
    elements: str
    aliases: [names]
  labels:
    description:
      - Select containers by label, as a dict (label name to value; a null value matches any value)
        or a list of C(key) / C(key=value). All must match.
      - Dict values that YAML reads as booleans or numbers match the label text C(true),
        C(false) or the number as written (a YAML C(true) value of C(enabled) matches V(enabled=true)).
      - An empty dict or list, a list entry that is not a non-empty string, or a value that
        is a dict or a list is refused.
    type: raw
  all:
    description: Include stopped containers when selecting by O(labels).
    type: bool
    default: true
extends_documentation_fragment:
  - dockyard.fleet.docker
  - dockyard.fleet.execution
  - dockyard.fleet.attributes.INFO_MODULE
  - dockyard.fleet.attributes.ACTIONGROUP_DOCKER
notes:
  - One engine call per named container, or one list call plus one inspect per match for
    O(labels).
author: dockyard.fleet contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Is web running?
  dockyard.fleet.container_info:
    name: web
  register: web

- name: Everything of the app
  dockyard.fleet.container_info:
    labels:
      app: shop
"""

RETURN = r"""
exists:
  description: True when every named container exists (with O(labels) only, when any matched).
  returned: always
  type: bool
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
containers:
  description: One entry per named container (in order), then the label matches.
  returned: always
  type: list
  elements: dict
  contains:
    exists: {description: Whether the container exists., type: bool}
    id: {description: Container ID., type: str}
    name: {description: Name., type: str}
    image: {description: Image as given when created., type: str}
    image_id: {description: Image ID., type: str}
    state: {description: "created, running, paused, restarting, exited or dead.", type: str}
    running: {description: Whether it runs., type: bool}
    exit_code: {description: Last exit code., type: int}
    health: {description: Health status (null without a health check)., type: str}
    restart_count: {description: Restarts by the engine., type: int}
    ports: {description: Published ports as C(hostip:hostport->port/proto)., type: list, elements: str}
    labels: {description: Labels (including those from the image)., type: dict}
    networks: {description: Names of attached networks., type: list, elements: str}
    created: {description: Creation time., type: str}
    started_at: {description: Last start time., type: str}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockyard.fleet.plugins.module_utils._container_info import (
    REQUIRED_ONE_OF, container_info_argument_spec, container_info_main)


def main():
    module = AnsibleModule(argument_spec=container_info_argument_spec(), supports_check_mode=True,
                           required_one_of=REQUIRED_ONE_OF)
    container_info_main(module)


if __name__ == "__main__":
    main()
