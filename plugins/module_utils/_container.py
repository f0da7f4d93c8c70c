# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""dockyard.fleet.container: the run (compare, plan, apply, wait) and its argument spec.
Shared by the module (on the host) and its action plugin (on the controller, against the
host's engine socket forwarded over SSH, for a run that needs nothing else of the host).

Private to dockyard.fleet: no compatibility promise for code outside the collection.
"""
from __future__ import annotations

import traceback

from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import (
    EXECUTION_ARG, DockerClient, DockerError, docker_common_args)
from ansible_collections.dockyard.fleet.plugins.module_utils._container_spec import (
    CONTAINER_ARGS, SpecError, check_image_healthcheck, parse_comparisons, parse_spec, validate_name)
from ansible_collections.dockyard.fleet.plugins.module_utils._container_engine import (
    SET_ASIDE, ContainerEngine, WaitError, apply, describe, pause_step, resolve_image, start_probes,
    summary)
from ansible_collections.dockyard.fleet.plugins.module_utils._service_plan import entry_name
from ansible_collections.dockyard.fleet.plugins.module_utils._compare import diff_view, ports_view

# options that keep a run on the host: env_file is a file there
HOST_OPTIONS = ("env_file",)


def container_argument_spec():
    """The module's argument spec (also what the action plugin validates with)."""
    return docker_common_args(
        name=dict(type="str", required=True),
        execution=dict(EXECUTION_ARG),
        state=dict(type="str", default="started", choices=["started", "present", "stopped", "absent"]),
        paused=dict(type="bool"),
        **CONTAINER_ARGS)


def check_paused(p):
    """Option paused against state and wait: SpecError naming it."""
    if p.get("paused") and p["state"] != "started":
        raise SpecError("paused", "true needs state started (a container that runs), not %s"
                        % p["state"])
    if p.get("paused") and p.get("wait") == "healthy":
        raise SpecError("paused", "a paused container runs no health checks, so wait: healthy "
                                  "could never be met; use wait: running")


def needs_the_host(args):
    """Why these task options keep the run on the host (execution auto), or None."""
    for opt in HOST_OPTIONS:
        if args.get(opt):
            return "option %s needs the host (a file there)" % opt
    return None


def recovery_actions(name, back, left):
    """What recover() does, in the run's words (the same in check mode)."""
    out = ["renamed %s back to %s%s" % (entry_name(back), name, SET_ASIDE)] if back else []
    return out + ["removed %s%s" % (entry_name(e), SET_ASIDE) for e in left]


def recover(engine, name, back, left):
    """Finish what a run that ended in the middle of ContainerEngine.replace() left: the
    containers set aside are stopped gracefully and removed first (a running one holds the
    published ports the container needs), and, when no container had the name, the newest
    of them gets it back instead (the container as it was before that run)."""
    for entry in left:
        engine.retire(entry)
    if back is not None:
        engine.client.call("rename", back["Id"], name)


class RunError(Exception):
    """A failure after the run may have changed the host: the message, and what it did."""

    def __init__(self, cause, changed, actions):
        super().__init__(str(cause))
        self.changed = changed
        self.actions = actions


def check_networks(engine, spec, current, check_mode, warn):
    """The networks the task connects (those the container is not on yet) exist: one listing,
    before any change. A missing one is refused naming networks[i].name; in check mode only
    warned about (an earlier task, dockyard.fleet.network, may create it in the real run)."""
    nets = spec.get("networks") or []
    on = set(((current or {}).get("NetworkSettings") or {}).get("Networks") or {})
    wanted = [n["name"] for n in nets if n["name"] not in on]
    if not wanted:
        return
    for name in engine.missing_networks(wanted):
        i = [n["name"] for n in nets].index(name)
        if check_mode:
            warn("network %s (option networks[%d].name) is not on the host: the real run fails "
                 "unless an earlier task creates it" % (name, i))
        else:
            raise SpecError("networks[%d].name" % i, "network %s not found on the host (create it "
                            "first, with dockyard.fleet.network)" % name)


def run(module, spec, comparisons, client=None):
    p = module.params
    name, state = p["name"], p["state"]
    engine = ContainerEngine(client or DockerClient(p), warn=module.warn,
                             keep_volumes=p["keep_volumes"])
    spec = engine.resolve_refs(spec)
    current = engine.inspect(name)
    # a recreate that a killed run left half done: its old container, renamed aside. Looked
    # for when no container has the name, else (below) only when the run changes something
    listed = current is None
    left = engine.leftovers(name) if listed else []
    back = left.pop(0) if left and state != "absent" else None
    if back is not None:   # the newest set aside gets the name back
        current = engine.inspect(back["Id"])
    actions = []
    image_info, pulled = None, False
    if state != "absent":
        if current is None and "image" not in spec:
            module.fail_json(msg="option image is required to create container %s" % name)
        check_networks(engine, spec, current, module.check_mode, module.warn)
        if "image" in spec:
            image_info, pulled, would_pull = resolve_image(engine, spec["image"], p["pull"],
                                                           module.check_mode)
            if pulled or would_pull:
                actions.append("pulled image")
            check_image_healthcheck(spec, image_info, pulled=pulled)
    current_image = engine.image(current["Image"]) if current is not None and state != "absent" else None
    decision = engine.decide(name, spec, state, current, image_info, comparisons, p["recreate"],
                             p["restart"], current_image)
    step = pause_step(state, decision["steps"], current, p["paused"])
    if step:
        decision["steps"].append(step)
    if "create" in decision["steps"] and "image" not in spec and current is not None:
        spec = dict(spec, image=current["Image"])
    if decision["steps"] and not listed:
        left = engine.leftovers(name)   # a no-op lists nothing
    recovery = recovery_actions(name, back, left)
    actions = recovery + actions + describe(decision)
    changed = (bool(decision["steps"]) or bool(recovery) or pulled
               or (module.check_mode and "pulled image" in actions))

    before, after = diff_view(decision["diffs"], shown_env=p["env"] or {})
    cur_state = (current.get("State") or {}).get("Status") if current else "absent"
    if decision["steps"]:
        if state == "absent":
            new_state = "absent"
        elif "pause" in decision["steps"]:
            new_state = "paused"
        elif any(s in decision["steps"] for s in ("start", "restart", "unpause")):
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
        # what the run did so far (a pull, the recovery, each step): a failure reports it
        done = ["pulled image"] if pulled else []
        try:
            recover(engine, name, back, left)
            done.extend(recovery)
            cid = apply(engine, decision, spec, image_ref, done=done)
            if decision["steps"] or recovery:   # a no-op shows the container as it read it
                info = engine.inspect(cid) if cid else None
            if cid and state == "started" and p["wait"] != "none":
                probed = engine.wait({name: cid}, p["wait"], p["wait_timeout"],
                                     probes=start_probes(spec, [name]))
                info = engine.inspect(cid)
        except (DockerError, WaitError) as exc:
            raise RunError(exc, bool(done), done) from exc
    container = summary(info, spec.get("image"))
    if container:
        container["probed"] = name in probed
    module.exit_json(changed=changed, actions=actions, container=container,
                     diff={"before": before, "after": after})


def container_main(module, client=None):
    """The module's run once its arguments are validated: on the host (the module) or on the
    controller against the host's engine socket forwarded over SSH (the action plugin, with
    client). Ends with module.exit_json or module.fail_json."""
    try:
        validate_name(module.params["name"])
        check_paused(module.params)
        spec = parse_spec(module.params)
        comparisons = parse_comparisons(module.params["comparisons"])
    except SpecError as exc:
        module.fail_json(msg=str(exc))
    try:
        run(module, spec, comparisons, client)
    except SpecError as exc:  # found once the image is known, before any container changes
        module.fail_json(msg=str(exc), changed=exc.changed)
    except RunError as exc:   # after the run may have changed something: what it did
        module.fail_json(msg=str(exc), changed=exc.changed, actions=exc.actions,
                         exception=traceback.format_exc())
    except (DockerError, WaitError) as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc())
