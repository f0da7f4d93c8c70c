#!/usr/bin/python
# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: service
short_description: Run N replicas of one app on one host, converged in one module run
description:
  - Manages the containers C(<name>-1) .. C(<name>-N), labelled C(dockyard.service=<name>) and
    C(dockyard.replica=<i>). Replica i publishes host port O(port_base)+i-1 (or O(ports)[i-1])
    to O(container_port).
  - Every replica is compared with the same engine as M(dockyard.fleet.container) - only the
    options you set count, image defaults are never drift, the image is compared by ID, restart
    policy, memory and CPU changes are applied in place.
  - Scaling down removes the replicas above O(replicas) (found by label). One listing call finds
    the existing replicas; the image is inspected once; O(wait) waits for all touched replicas
    together.
extends_documentation_fragment:
  - dockyard.fleet.docker
  - dockyard.fleet.attributes
  - dockyard.fleet.attributes.ACTIONGROUP_DOCKER
  - dockyard.fleet.container_options
options:
  name:
    description: Service name, the prefix of the replica names.
    type: str
    required: true
  replicas:
    description: Number of replicas.
    type: int
    default: 1
  port_base:
    description: Replica i publishes host port O(port_base)+i-1. Mutually exclusive with O(ports).
    type: int
  ports:
    description: Explicit host port of each replica, one per replica, in order.
    type: list
    elements: int
  container_port:
    description: Port inside the container that the host ports publish.
    type: int
    default: 80
  only:
    description:
      - Converge (replace, start, stop, remove) only these replica indexes; the others are left
        untouched and nothing is scaled down. For rolling updates, one replica at a time.
    type: list
    elements: int
  converge:
    description:
      - V(all) converges every replica (or those in O(only)) and scales down.
      - V(missing) creates (and starts, and waits for) only the replicas that do not exist yet,
        and leaves every existing replica as it is, even if it differs, and does not scale down.
        What a full converge would do to the others is returned as their RV(replicas[].action)
        with RV(replicas[].pending=true). The deploy role uses it to plan and converge in one
        module run - new replicas carry no traffic yet, so they can start at once, while the
        existing ones are rolled one at a time behind the load balancer.
      - Only with O(state=started) or O(state=present).
    type: str
    default: all
    choices: [all, missing]
    version_added: 0.2.0
  state:
    description:
      - C(started), C(present), C(stopped) as for M(dockyard.fleet.container), for every replica.
      - C(absent) removes every replica of the service (or those in O(only)).
    type: str
    default: started
    choices: [started, present, stopped, absent]
  published_ports:
    description:
      - Extra ports to publish on every replica (the replica's own port comes from O(port_base)
        or O(ports)), like C(docker run -p). Forms C(8080:80), C(127.0.0.1:8080:80),
        C([::1]:8080:80), C(8080:80/udp), C(80) (random host port), C(8000-8001:80-81).
      - Quote the items in YAML (C("8080:80")) because unquoted C(8080:80) is a YAML 1.1 number.
    type: list
    elements: str
author:
  - dockyard.fleet contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Three replicas on host ports 8081-8083
  dockyard.fleet.service:
    name: web
    image: dockyard/demo:v1
    replicas: 3
    port_base: 8081
    wait: healthy
  register: web

- name: Start the replicas this host does not have yet, plan the others
  dockyard.fleet.service:
    name: web
    image: dockyard/demo:v2
    replicas: 3
    port_base: 8081
    converge: missing
  register: web_plan

- name: Replace replica 2 only (rolling update, one at a time)
  dockyard.fleet.service:
    name: web
    image: dockyard/demo:v2
    replicas: 3
    port_base: 8081
    only: [2]
    wait: healthy
"""

RETURN = r"""
replicas:
  description: Every converged (or removed) replica, by index.
  returned: always
  type: list
  elements: dict
  contains:
    index: {description: Replica index., type: int}
    name: {description: Container name., type: str}
    host_port: {description: Host port published to container_port (null without port_base/ports)., type: int}
    action: {description: "created, recreated, updated, started, stopped, restarted, unchanged or removed.", type: str}
    image: {description: Image reference., type: str}
    image_id: {description: Image ID., type: str}
    id: {description: "Container ID (null when removed, or not yet created in check mode).", type: str}
    health: {description: Health status or null., type: str}
    pending:
      description: True when O(converge=missing) left this replica as it is; RV(replicas[].action) is then what a full converge would do.
      type: bool
ports:
  description: Replica index (as a string) -> host port, for every replica 1..N.
  returned: always
  type: dict
  sample: {"1": 8081, "2": 8082}
actions:
  description: What was done (or would be done in check mode), as C(<replica>) colon C(<action>), for example C(web-2 - recreated).
  returned: always
  type: list
  elements: str
"""

import copy
import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import (
    DockerClient, DockerError, docker_common_args)
from ansible_collections.dockyard.fleet.plugins.module_utils._container_spec import (
    CONTAINER_ARGS, SpecError, parse_comparisons, parse_spec)
from ansible_collections.dockyard.fleet.plugins.module_utils._container_engine import (
    ContainerEngine, WaitError, apply, decide, describe, resolve_image)
from ansible_collections.dockyard.fleet.plugins.module_utils._compare import diff_view
from ansible_collections.dockyard.fleet.plugins.module_utils._service_plan import (
    SERVICE_LABEL, plan_replicas, replica_action, replica_spec)


def run(module, spec, comparisons):
    p = module.params
    name, state = p["name"], p["state"]
    engine = ContainerEngine(DockerClient(p))
    existing = engine.list_by_label("%s=%s" % (SERVICE_LABEL, name))
    try:
        layout = plan_replicas(name, p["replicas"], existing, state, p["port_base"], p["ports"],
                               p["only"], p["container_port"])
    except SpecError as exc:
        module.fail_json(msg=str(exc))
    image_info, pulled, would_pull = None, False, False
    actions = []
    if state != "absent" and layout["slots"]:
        if "image" not in spec:
            module.fail_json(msg="option image is required for service %s" % name)
        image_info, pulled, would_pull = resolve_image(engine, spec["image"], p["pull"],
                                                       module.check_mode)
        if pulled or would_pull:
            actions.append("pulled image")

    # Decide everything before touching anything.
    decisions = []
    for slot in layout["slots"]:
        current = engine.inspect(slot["existing"]["Id"]) if slot["existing"] else None
        if current is None and state != "absent":
            stray = engine.inspect(slot["name"])
            if stray is not None:
                module.fail_json(msg="container %s exists but is not labelled %s=%s; remove or "
                                     "rename it (option name)" % (slot["name"], SERVICE_LABEL, name))
        rspec = replica_spec(spec, name, slot["index"], slot["host_port"], p["container_port"])
        # engine.image() caches by reference: replicas on one image cost one inspect
        current_image = engine.image(current["Image"]) if current and state != "absent" else None
        d = decide(slot["name"], rspec, state, current, image_info, comparisons,
                   p["recreate"], p["restart"], current_image)
        decisions.append((slot, rspec, d))
    removals = [{"index": None, "name": (e.get("Names") or ["?"])[0].lstrip("/"), "entry": e}
                for e in layout["remove"]]
    # converge=missing: existing replicas and removals are only planned
    only_missing = p["converge"] == "missing"
    pending = {slot["name"] for slot, _r, _d in decisions if only_missing and slot["existing"]}
    if only_missing:
        pending.update(r["name"] for r in removals)

    before, after = {}, {}
    replicas_out = []
    for slot, rspec, d in decisions:
        for word in describe(d):
            actions.append("%s: %s%s" % (slot["name"], word,
                                         " (pending, converge=missing)" if slot["name"] in pending else ""))
        if slot["name"] in pending:
            continue
        b, a = diff_view(d["diffs"], shown_env=p["env"] or {})
        if d["steps"]:
            cur = (d["current"].get("State") or {}).get("Status") if d["current"] else "absent"
            b.setdefault("state", cur)
            a.setdefault("state", "absent" if state == "absent" else
                         ("running" if state == "started" else ("exited" if state == "stopped"
                                                                else cur if cur != "absent" else "created")))
        if b or a:
            before[slot["name"]], after[slot["name"]] = b, a
    for r in removals:
        if r["name"] in pending:
            actions.append("%s: removed (pending, converge=missing)" % r["name"])
            continue
        actions.append("%s: removed" % r["name"])
        before[r["name"]], after[r["name"]] = {"state": r["entry"].get("State")}, {"state": "absent"}
    changed = pulled or would_pull or bool([r for r in removals if r["name"] not in pending]) or any(
        d["steps"] for s_, _r, d in decisions if s_["name"] not in pending)

    ids = {}
    if not module.check_mode:
        for r in removals:
            if r["name"] not in pending:
                engine.remove(r["entry"]["Id"])
        for slot, rspec, d in decisions:
            if slot["name"] in pending:
                ids[slot["name"]] = slot["existing"]["Id"]
                continue
            ids[slot["name"]] = apply(engine, d, rspec, spec.get("image"))
        if state == "started" and p["wait"] != "none":
            touched = {n: cid for n, cid in ids.items() if cid and n not in pending}
            engine.wait(touched, p["wait"], p["wait_timeout"])

    for slot, rspec, d in decisions:
        info = d["current"]
        if not module.check_mode and slot["name"] not in pending:
            cid = ids.get(slot["name"])
            info = engine.inspect(cid) if cid else None
        st = (info or {}).get("State") or {}
        predicted_image = None
        if module.check_mode and "create" in d["steps"]:
            predicted_image = (image_info or {}).get("Id") or "unknown (image not on host)"
        replicas_out.append({
            "index": slot["index"], "name": slot["name"], "host_port": slot["host_port"],
            "action": replica_action(d["steps"]),
            "image": spec.get("image") or ((info or {}).get("Config") or {}).get("Image"),
            "image_id": predicted_image if predicted_image else (info or {}).get("Image"),
            "id": None if predicted_image else (info or {}).get("Id"),
            "health": (st.get("Health") or {}).get("Status"),
            "pending": slot["name"] in pending,
        })
    for r in removals:
        labels = r["entry"].get("Labels") or {}
        try:
            index = int(labels.get("dockyard.replica", ""))
        except ValueError:
            index = None
        replicas_out.append({"index": index, "name": r["name"], "host_port": None,
                             "action": "removed", "image": r["entry"].get("Image"),
                             "image_id": r["entry"].get("ImageID"), "health": None,
                             "id": r["entry"].get("Id") if r["name"] in pending else None,
                             "pending": r["name"] in pending})
    module.exit_json(changed=changed, replicas=replicas_out, ports=layout["ports"], actions=actions,
                     diff={"before": before, "after": after})


def main():
    shared = copy.deepcopy(CONTAINER_ARGS)
    shared["published_ports"].pop("aliases", None)  # `ports` is the replicas' host ports here
    argument_spec = docker_common_args(
        name=dict(type="str", required=True),
        state=dict(type="str", default="started", choices=["started", "present", "stopped", "absent"]),
        replicas=dict(type="int", default=1),
        port_base=dict(type="int"),
        ports=dict(type="list", elements="int"),
        container_port=dict(type="int", default=80),
        only=dict(type="list", elements="int"),
        converge=dict(type="str", default="all", choices=["all", "missing"]),
        **shared)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=[["port_base", "ports"]])
    if module.params["converge"] == "missing" and module.params["state"] not in ("started", "present"):
        module.fail_json(msg="option converge=missing needs state started or present, not %s"
                         % module.params["state"])
    try:
        spec = parse_spec(module.params)
        comparisons = parse_comparisons(module.params["comparisons"])
        # all input checks before the engine is touched
        plan_replicas(module.params["name"], module.params["replicas"], [], module.params["state"],
                      module.params["port_base"], module.params["ports"], module.params["only"],
                      module.params["container_port"])
    except SpecError as exc:
        module.fail_json(msg=str(exc))
    try:
        run(module, spec, comparisons)
    except (DockerError, WaitError) as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc())


if __name__ == "__main__":
    main()
