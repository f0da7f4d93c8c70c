#!/usr/bin/python
# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: volume
short_description: Manage a Docker volume on a host
version_added: 0.1.0
description:
  - Creates or removes a named Docker volume. Only the options you set are compared with an
    existing volume.
  - The engine cannot change a volume in place. When an existing volume differs in an option you
    set, the module fails and says what differs, unless O(recreate=true) (the data is lost).
  - A volume used by containers (running or stopped) is never removed; the module fails and
    names them.
options:
  name:
    description: Volume name, 2 characters or more (the engine's rule).
    type: str
    required: true
  state:
    description: Whether the volume should exist.
    type: str
    choices: [present, absent]
    default: present
  driver:
    description: Volume driver (C(local) when creating and not set; only compared when set).
    type: str
  driver_options:
    description:
      - Driver options (C(--opt)). Only the keys you set are compared.
      - For the C(local) driver only C(type), C(device), C(o) and C(size), with C(type) and
        C(device) together (C(o) needs both), as the engine takes them; others fail naming this
        option before any change, in check mode too. A null value is an empty string.
    type: dict
  labels:
    description: Labels. Only the keys you set are compared. A null value is an empty string.
    type: dict
  recreate:
    description:
      - Remove and create the volume again when it differs from the options (its data is lost).
      - The new volume keeps the driver, driver options and labels of the old one that the task
        does not set (a new O(driver) takes only the options the task gives).
      - The new volume is first tried under a name of its own (created and removed at once), so
        an option the engine refuses fails before the volume is removed, naming
        O(driver) and O(driver_options).
    type: bool
    default: false
extends_documentation_fragment:
  - dockyard.fleet.docker
  - dockyard.fleet.execution
  - dockyard.fleet.attributes
  - dockyard.fleet.attributes.ACTIONGROUP_DOCKER
author: dockyard.fleet contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: A data volume
  dockyard.fleet.volume:
    name: appdata
    labels:
      backup: daily

- name: A tmpfs volume
  dockyard.fleet.volume:
    name: scratch
    driver_options:
      type: tmpfs
      device: tmpfs
      o: size=64m
"""

RETURN = r"""
volume:
  description: The volume after the run (null when absent).
  returned: always
  type: dict
  contains:
    name: {description: Name., type: str}
    driver: {description: Driver., type: str}
    mountpoint: {description: Mount point on the host (null in check mode for a new volume)., type: str}
    options: {description: Driver options., type: dict}
    labels: {description: Labels., type: dict}
differences:
  description: Options that differ from the existing volume (option, wanted, actual).
  returned: when the volume existed
  type: list
  elements: dict
actions:
  description: What was done (or would be done in check mode).
  returned: always
  type: list
  elements: str
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
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockyard.fleet.plugins.module_utils._network_volume import (
    volume_argument_spec, volume_main)


def main():
    module = AnsibleModule(argument_spec=volume_argument_spec(), supports_check_mode=True)
    volume_main(module)


if __name__ == "__main__":
    main()
