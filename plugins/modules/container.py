#!/usr/bin/python
# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: container
short_description: Manage one Docker container, idempotently
description:
  - Creates, updates, recreates, starts, stops and removes a Docker container.
  - Only the options you set are compared with the existing container. Values the image
    supplies by itself (its ENV, labels, exposed ports, volumes, healthcheck, command) are
    never drift. The image is compared by image ID, so a tag and the ID of the same image
    are equal.
  - Restart policy, memory, CPU and process limit changes are applied in place (engine update
    API); any other difference recreates the container.
  - A recreate renames the old container C(<name>-dyold-<id>) until the new one is made and
    started, then stops it with its own stop signal and timeout and removes it; when the
    engine refuses the new one, the old one gets its name back. A run that changes the
    container, or finds none of the name, first finishes a recreate that a killed run left half
    done (action C(renamed ... back) or C(removed <name>-dyold-<id> ...)).
extends_documentation_fragment:
  - dockyard.fleet.docker
  - dockyard.fleet.attributes
  - dockyard.fleet.attributes.ACTIONGROUP_DOCKER
  - dockyard.fleet.container_options
options:
  name:
    description: Container name, C([a-zA-Z0-9][a-zA-Z0-9_.-]*).
    type: str
    required: true
  auto_remove:
    description:
      - The engine removes the container once it exits (C(docker run --rm)); not with a
        O(restart_policy) other than C(no) (nor O(restart_retries), which implies C(on-failure)).
        The next run then makes it anew.
      - The engine does not update the restart policy of such a container in place - a task that
        changes O(restart_policy) or O(restart_retries) on it recreates it.
    type: bool
  mac_address:
    description:
      - MAC address of the container on its first network, such as C(02:42:ac:11:00:42)
        (lower case, C(-) taken for C(:)); an empty string for the engine's own. Not with
        O(network_mode) C(host), C(none) or C(container:).
    type: str
  paused:
    description:
      - V(true) keeps the running container's processes frozen (C(docker pause)), V(false)
        lets a paused one run again (C(docker unpause)); left out, a pause is left as it is.
        A container the run creates, starts or restarts (a recreate too) is paused afterwards
        when V(true). Not compared as an option (never a recreate), only paused or unpaused (actions
        C(paused), C(unpaused); the diff's C(state) is C(paused)).
      - V(true) needs O(state=started), and not O(wait=healthy) (a paused container runs no
        health checks).
    type: bool
  state:
    description:
      - C(started) creates the container if needed and makes it run.
      - C(present) creates it if needed but does not change whether it runs.
      - C(stopped) creates it if needed and stops it.
      - C(absent) removes it.
    type: str
    default: started
    choices: [started, present, stopped, absent]
  execution:
    description:
      - Where the run happens, as for O(dockyard.fleet.service#module:execution). V(auto) (the
        default) runs it on the controller where it can, against the host's engine socket
        forwarded over the task's SSH ControlMaster (C(ssh -O forward)), with the same options,
        checks, check mode, diff and result and no module run on the host; that needs the ssh
        connection plugin with ControlPersist, O(docker_host) a unix socket (the default)
        without TLS, no C(DOCKER_*) variable in the task's C(environment), no C(async), no
        C(become) to a non-root user, no O(env_file) (a file on the host), and no pull (a pull,
        or with O(pull=always) a registry question, uses the registry credentials of the host's
        user, so a run on the controller that gets there stops before any change and the module
        on the host does the run). Otherwise V(auto) runs the module on the host and says why in
        RV(execution_reason).
      - V(controller) fails, naming this option, where V(auto) would go to the host;
        V(host) always runs the module.
    type: str
    default: auto
    choices: [auto, controller, host]
    version_added: 0.3.0
  published_ports:
    description:
      - Ports to publish, like C(docker run -p). Forms C(8080:80), C(127.0.0.1:8080:80),
        C([::1]:8080:80), C(8080:80/udp), C(80) (random host port), C(8000-8001:80-81).
      - Quote the items in YAML (C("8080:80")) because unquoted C(8080:80) is a YAML 1.1 number.
    type: list
    elements: str
    aliases: [ports]
author:
  - dockyard.fleet contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Run the app
  dockyard.fleet.container:
    name: web
    image: dockyard/demo:v1
    published_ports: ["8080:80"]
    env: {LOG_LEVEL: info}
    restart_policy: unless-stopped
    memory: 256m
    wait: healthy

- name: Manage a remote engine from the controller over SSH
  dockyard.fleet.container:
    docker_host: ssh://root@10.0.0.5
    name: web
    image: dockyard/demo:v1
  delegate_to: localhost

- name: Remove it
  dockyard.fleet.container:
    name: web
    state: absent
"""

RETURN = r"""
container:
  description: The container after the run (in check mode, before it). Empty when absent.
  returned: always
  type: dict
  contains:
    id: {description: Container ID., type: str}
    name: {description: Name., type: str}
    image: {description: Image reference., type: str}
    image_id: {description: Image ID., type: str}
    state: {description: "Engine state (running, exited...).", type: str}
    status: {description: Same as state., type: str}
    health: {description: Health status or null., type: str}
    probed:
      description: True when O(wait=healthy) took the first passing probe of O(healthcheck.start_interval) for healthy (the engine may still say C(starting)).
      type: bool
    ports: {description: Published ports as the engine reports them., type: dict}
    running: {description: Whether the container runs (the engine's C(State.Running); a paused one runs)., type: bool}
    labels: {description: "The container's labels as the engine reports them, the image's included.", type: dict}
execution:
  description: Where the run happened, V(controller) or V(host) (see O(execution)).
  returned: when the run started
  type: str
  sample: controller
execution_reason:
  description: With O(execution=auto), why the run went to the host.
  returned: when O(execution=auto) ran the module on the host
  type: str
  sample: "option env_file needs the host (a file there)"
invocations:
  description: Module runs on the host for this task, 0 (on the controller) or 1.
  returned: always
  type: int
actions:
  description:
    - What was done (or, in check mode, would be done), in order.
    - When the run fails after it changed the host, what it did up to the failure (then
      C(changed) is true). A container the run created and could not connect or start is
      removed again and not listed.
  returned: always
  type: list
  elements: str
  sample: ["pulled image", "recreated", "started"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockyard.fleet.plugins.module_utils._container import (
    container_argument_spec, container_main)


def main():
    module = AnsibleModule(argument_spec=container_argument_spec(), supports_check_mode=True)
    container_main(module)


if __name__ == "__main__":
    main()
