#!/usr/bin/python
# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: network
short_description: Manage a Docker network on a host
version_added: 0.1.0
description:
  - Creates or removes a Docker network. Only the options you set are compared with an
    existing network; driver options, labels and IPAM values the engine adds are not drift.
  - The engine cannot change a network in place. When an existing network differs in an option
    you set, the module fails and says what differs, unless O(recreate=true).
  - Removing or recreating a network that has containers attached (running or stopped) fails and
    names them, unless O(force=true), which disconnects them. On recreate they are connected to
    the new network again with their aliases on it, and with their fixed IPv4 and IPv6 addresses
    when a subnet of the new network's O(ipam_config) still has them (otherwise without them,
    which RV(actions) says).
  - Before a recreate removes anything, the engine is asked to create the new network under a
    name of its own (removed at once), so that settings it refuses fail with the network and its
    containers as they were. A subnet that overlaps one of another network fails before any
    change, in check mode too. Should a recreate still fail once the old network is removed, the
    task fails with C(changed) true and RV(actions) says what was done.
  - The engine's pre-defined networks (C(bridge), C(host), C(none)) are never removed or
    recreated; the task fails naming O(name) before any change.
  - Check mode predicts what the engine refuses on create (or recreate), failing with the option
    the real run names, from read-only calls (C(GET /info), C(GET /plugins)), only when a network
    is to be created or recreated. A O(driver) or O(ipam_driver) the engine does not list (built
    in, an enabled managed plugin, or in use by a network), and O(enable_ipv6=true) with no IPv6
    subnet in O(ipam_config) when the engine has no IPv6 pool to pick one from (an IPv6 base in
    its default-address-pools, or Engine 27 and later). A legacy (v1) plugin that no network
    uses yet is not listed by the engine, so check mode fails for it.
  - O(connected) manages which containers are attached. Left out, attachments are not touched.
  - In diff mode, before and after show the options you set; with O(connected) set, also
    C(containers), the names of the attached containers. In O(ipam_config), an IP version the
    task lists no subnet of shows as one entry saying that the engine picks it.
options:
  name:
    description: Network name.
    type: str
    required: true
  state:
    description: Whether the network should exist.
    type: str
    choices: [present, absent]
    default: present
  driver:
    description:
      - Network driver (C(bridge) when creating and not set; only compared when set).
      - V(overlay) needs an engine that is a swarm manager; on another one the task fails before any
        change.
    type: str
  driver_options:
    description: Driver options (C(--opt)). Only the keys you set are compared.
    type: dict
  labels:
    description: Labels. Only the keys you set are compared; more labels on the network are fine.
    type: dict
  ipam_driver:
    description: IPAM driver (C(default) when creating and not set).
    type: str
  ipam_config:
    description:
      - Address pools. When set, the network must have exactly these subnets of each IP version
        the list has a subnet of; gateway, iprange and aux_addresses are compared only where you
        set them, as addresses (V(fd00:dd:0::1) is V(fd00:dd::1)).
      - An IP version the list has no subnet of is the engine's pick, not compared. The engine
        gives every network an IPv4 subnet (so an IPv6-only list gets one of its own), and an
        IPv6 one with O(enable_ipv6=true).
      - An empty list is the same as leaving it out; the engine picks the subnet.
      - A subnet that overlaps one of another network (of the default IPAM driver) fails before
        any change.
    type: list
    elements: dict
    suboptions:
      subnet:
        description: Subnet in CIDR notation.
        type: str
        required: true
      gateway:
        description:
          - Gateway address inside O(ipam_config[].subnet) (not its network address).
          - Not set, the engine picks the first address of O(ipam_config[].iprange) or of the
            subnet; a network with that gateway is no drift for a task that sets it.
        type: str
      iprange:
        description: Range (CIDR) inside the subnet to allocate container addresses from.
        type: str
      aux_addresses:
        description:
          - Auxiliary addresses (name to address) the engine reserves, so that no container gets
            them. Each must be a host address inside O(ipam_config[].subnet), listed once, and not
            the gateway (set, or the engine's pick).
          - A container's fixed address that one of them reserves is not kept on recreate.
        type: dict
  internal:
    description: Restrict external access to the network.
    type: bool
  attachable:
    description: Allow manual container attachment (swarm networks).
    type: bool
  enable_ipv6:
    description:
      - Enable IPv6.
      - Without an IPv6 subnet in O(ipam_config), the engine picks one from an IPv6 base of its
        default-address-pools (Engine 27 and later have one of their own); Engine 20.10 without
        one refuses, which check mode predicts.
    type: bool
  recreate:
    description: Remove and create the network again when it differs from the options.
    type: bool
    default: false
  force:
    description:
      - Disconnect attached containers when removing or recreating.
      - On recreate, the containers that stay attached are connected to the new network with
        their own aliases and their fixed IPv4 and IPv6 addresses when a subnet of
        O(ipam_config) still has them. Link-local addresses, links and driver options of the
        endpoint are not kept; RV(actions) says so.
    type: bool
    default: false
  connected:
    description:
      - Names or IDs of existing containers (running or stopped) that must be attached to the
        network. A container listed twice (by name and by ID) counts once.
      - Only compared when set. Left out, the module neither connects nor disconnects containers.
        An empty list with O(appends=false) disconnects every attached container.
      - Containers are connected without aliases or a fixed address. To give a container aliases
        or an address on the network, use the C(networks) option of M(dockyard.fleet.container).
      - All the containers are looked up before anything changes. A name that is not an existing
        container fails the task, and so does a container with C(network_mode) C(host), C(none) or
        C(container:...), which cannot join a network.
      - Not with O(state=absent).
    type: list
    elements: str
  appends:
    description:
      - With O(connected), whether containers attached to the network but not listed stay
        attached (V(true)) or are disconnected (V(false)). Ignored without O(connected).
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
- name: An internal backend network
  dockyard.fleet.network:
    name: backend
    internal: true
    ipam_config:
      - subnet: 172.30.10.0/24
        gateway: 172.30.10.1
    labels:
      team: web

- name: Exactly these containers attached (others are disconnected)
  dockyard.fleet.network:
    name: backend
    connected:
      - api
      - worker

- name: These attached too, leaving the others attached
  dockyard.fleet.network:
    name: backend
    connected:
      - backup
    appends: true

- name: Change its subnet (containers are reconnected, with their aliases)
  dockyard.fleet.network:
    name: backend
    ipam_config:
      - subnet: 172.30.20.0/24
    recreate: true
    force: true
"""

RETURN = r"""
network:
  description: The network after the run (null when absent).
  returned: always
  type: dict
  contains:
    id: {description: Network ID (null in check mode for a network to be created)., type: str}
    name: {description: Name., type: str}
    driver: {description: Driver., type: str}
    ipam:
      description:
        - Address pools (subnet, gateway, iprange, aux_addresses), values as ipaddress writes them.
        - In check mode, for a network to be created, only those of O(ipam_config) (the engine's
          picks are not known).
      type: list
      elements: dict
    labels: {description: Labels., type: dict}
    containers:
      description:
        - Names of the attached containers, running or stopped, after the run (in check mode, the
          ones there would be).
      type: list
      elements: str
differences:
  description: Options that differ from the existing network (option, wanted, actual).
  returned: when the network existed
  type: list
  elements: dict
actions:
  description:
    - What was done (or would be done in check mode), such as C(connected web),
      C(disconnected web), C(reconnected web with aliases api and IPv4 address 172.30.10.5).
    - On a failure, what was done before it (empty when nothing changed).
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
    network_argument_spec, network_main)


def main():
    module = AnsibleModule(argument_spec=network_argument_spec(), supports_check_mode=True)
    network_main(module)


if __name__ == "__main__":
    main()
