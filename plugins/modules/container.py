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
  state:
    description:
      - C(started) creates the container if needed and makes it run.
      - C(present) creates it if needed but does not change whether it runs.
      - C(stopped) creates it if needed and stops it.
      - C(absent) removes it.
    type: str
    default: started
    choices: [started, present, stopped, absent]
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
actions:
  description: What was done (or, in check mode, would be done), in order.
  returned: always
  type: list
  elements: str
  sample: ["pulled image", "recreated", "started"]
"""

import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import (
    DockerClient, DockerError, docker_common_args)
from ansible_collections.dockyard.fleet.plugins.module_utils._container_spec import (
    CONTAINER_ARGS, SpecError, check_image_healthcheck, parse_comparisons, parse_spec, validate_name)
from ansible_collections.dockyard.fleet.plugins.module_utils._container_engine import (
    ContainerEngine, WaitError, apply, decide, describe, resolve_image, start_probes, summary)
from ansible_collections.dockyard.fleet.plugins.module_utils._compare import diff_view, ports_view


def run(module, spec, comparisons):
    p = module.params
    name, state = p["name"], p["state"]
    engine = ContainerEngine(DockerClient(p))
    current = engine.inspect(name)
    actions = []
    image_info, pulled = None, False
    if state != "absent":
        if current is None and "image" not in spec:
            module.fail_json(msg="option image is required to create container %s" % name)
        if "image" in spec:
            image_info, pulled, would_pull = resolve_image(engine, spec["image"], p["pull"],
                                                           module.check_mode)
            if pulled or would_pull:
                actions.append("pulled image")
            check_image_healthcheck(spec, image_info, pulled=pulled)
    current_image = engine.image(current["Image"]) if current is not None and state != "absent" else None
    decision = decide(name, spec, state, current, image_info, comparisons, p["recreate"],
                      p["restart"], current_image)
    if "create" in decision["steps"] and "image" not in spec and current is not None:
        spec = dict(spec, image=current["Image"])
    actions += describe(decision)
    changed = bool(decision["steps"]) or pulled or (module.check_mode and "pulled image" in actions)

    before, after = diff_view(decision["diffs"], shown_env=p["env"] or {})
    cur_state = (current.get("State") or {}).get("Status") if current else "absent"
    if decision["steps"]:
        if state == "absent":
            new_state = "absent"
        elif "start" in decision["steps"] or "restart" in decision["steps"]:
            new_state = "running"
        elif "stop" in decision["steps"]:
            new_state = "exited"
        elif "create" in decision["steps"]:
            new_state = "created"
        else:
            new_state = cur_state
        if new_state != cur_state or not current:
            before["state"], after["state"] = cur_state, new_state
    if not current and state != "absent":
        after.update({k: v for k, v in spec.items() if k not in ("env",)})
        if "env" in spec:
            after["env"] = sorted(spec["env"])
        if "published_ports" in spec:
            after["published_ports"] = ports_view(spec["published_ports"])

    info, probed = current, set()
    if not module.check_mode:
        image_ref = spec.get("image")
        cid = apply(engine, decision, spec, image_ref)
        info = engine.inspect(cid) if cid else None
        if cid and state == "started" and p["wait"] != "none":
            probed = engine.wait({name: cid}, p["wait"], p["wait_timeout"],
                                 probes=start_probes(spec, [name]))
            info = engine.inspect(cid)
    container = summary(info, spec.get("image"))
    if container:
        container["probed"] = name in probed
    module.exit_json(changed=changed, actions=actions, container=container,
                     diff={"before": before, "after": after})


def main():
    argument_spec = docker_common_args(
        name=dict(type="str", required=True),
        state=dict(type="str", default="started", choices=["started", "present", "stopped", "absent"]),
        **CONTAINER_ARGS)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    try:
        validate_name(module.params["name"])
        spec = parse_spec(module.params)
        comparisons = parse_comparisons(module.params["comparisons"])
    except SpecError as exc:
        module.fail_json(msg=str(exc))
    try:
        run(module, spec, comparisons)
    except SpecError as exc:  # found once the image is known, before any container changes
        module.fail_json(msg=str(exc), changed=exc.changed)
    except (DockerError, WaitError) as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc())


if __name__ == "__main__":
    main()
