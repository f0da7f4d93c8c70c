# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""dockyard.fleet.service: the run (plan, converge, roll, ready, record, lock) and its
argument spec. Shared by the module (on the host) and its action plugin (on the controller,
for a run that needs nothing on the host but its engine)."""
from __future__ import annotations

import copy
import re
import time
import traceback

from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import (
    EXECUTION_ARG, DockerClient, DockerError, docker_common_args)
from ansible_collections.dockyard.fleet.plugins.module_utils._container_spec import (
    CONTAINER_ARGS, SpecError, check_image_healthcheck, parse_comparisons, parse_spec,
    timings_without_test)
from ansible_collections.dockyard.fleet.plugins.module_utils._container_engine import (
    SET_ASIDE, ContainerEngine, WaitError, apply, apply_each, describe, pause_step, resolve_image,
    set_aside, start_probes)
from ansible_collections.dockyard.fleet.plugins.module_utils._compare import diff_view, ports_view
from ansible_collections.dockyard.fleet.plugins.module_utils._service_plan import (
    REPLICA_LABEL, SERVICE_LABEL, check_published_ports, entry_name, host_ports, plan_replicas,
    replica_action, replica_name, replica_spec)
from ansible_collections.dockyard.fleet.plugins.module_utils._haproxy import (
    HAProxyError, RuntimeClient, fetch_views, name_problem)
from ansible_collections.dockyard.fleet.plugins.module_utils._roll import (
    GateError, LoadBalancer, RollFailed, lb_set, remove_forwarded_at_exit, roll, wait_for_turn)
from ansible_collections.dockyard.fleet.plugins.module_utils._release import (
    RELEASE_PATH_ARGS, LocalRelease, LockHeld, ReleaseError, check_lock_times, check_name)


def run(module, spec, comparisons, client=None, files=LocalRelease):
    p = module.params
    name, state = p["name"], p["state"]
    engine = ContainerEngine(client or DockerClient(p), warn=module.warn,
                             keep_volumes=p["keep_volumes"])
    spec = engine.resolve_refs(spec)
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
        check_networks(module, engine, spec)
        image_info, pulled, would_pull = resolve_image(engine, spec["image"], p["pull"],
                                                       module.check_mode)
        if pulled or would_pull:
            actions.append("pulled image")
        check_image_healthcheck(spec, image_info, pulled=pulled)

    # Decide everything before touching anything.
    decisions = []
    for slot in layout["slots"]:
        current = engine.inspect(slot["existing"]["Id"]) if slot["existing"] else None
        if current is None and state != "absent":
            stray = engine.inspect(slot["name"])
            if stray is not None:
                module.fail_json(msg=stray_message(name, slot["index"], stray), changed=pulled)
        rspec = replica_spec(spec, name, slot["index"], slot["host_port"], p["container_port"])
        # engine.image() caches by reference: replicas on one image cost one inspect
        current_image = engine.image(current["Image"]) if current and state != "absent" else None
        d = engine.decide(slot["name"], rspec, state, current, image_info, comparisons,
                          p["recreate"], p["restart"], current_image)
        if state == "started":
            unpause(d)
        decisions.append((slot, rspec, d))
    if state == "started" and p["wait"] == "healthy":
        check_wait_healthy(spec, image_info, decisions, pulled, p["converge"] == "missing")
    # the replicas a killed run left set aside in the middle of a recreate (also with only:
    # those of the replicas converged), removed with the strays
    aside = set_aside_replicas(existing, name, [slot["index"] for slot in layout["slots"]])
    removals = [{"index": None, "name": entry_name(e), "entry": e}
                for e in layout["remove"] + [e for e in aside if e not in layout["remove"]]]
    aside = {entry_name(e) for e in aside}
    # converge=missing: existing replicas and removals are only planned; but not the ones set
    # aside: one still running holds the port of the replica that is to start
    only_missing = p["converge"] == "missing"
    pending = {slot["name"] for slot, _r, _d in decisions if only_missing and slot["existing"]}
    if only_missing:
        pending.update(r["name"] for r in removals if r["name"] not in aside)

    changed = pulled or would_pull or bool([r for r in removals if r["name"] not in pending]) or any(
        d["steps"] for s_, _r, d in decisions if s_["name"] not in pending)
    # converge=missing: what is left for later runs (O(ready) and O(record) wait for none)
    open_changes = [s_["name"] for s_, _r, d in decisions if s_["name"] in pending and d["steps"]] \
        + [r["name"] for r in removals if r["name"] in pending]
    ready_names, lbs = [], []
    if p["ready"] and not open_changes and not module.check_mode:
        # the load balancers answer and know every replica, before anything changes
        ready_names = [p["ready"]["server_prefix"] + str(slot["index"]) for slot, _r, _d in decisions]
        lbs = connect_lbs(module, "ready", ready_names)

    # what a real run did: the names whose change completed, and the one that failed it
    done, failed, failure, failure_tb = set(), set(), None, None
    ids, probed = {}, set()
    if not module.check_mode:
        try:
            for r in removals:
                if r["name"] not in pending:
                    # its stop signal and timeout first: the inspect has the timeout (a listing
                    # entry has not, and the client would give up before the engine)
                    info = engine.inspect(r["entry"]["Id"])
                    if info is not None:
                        failed.add(r["name"])
                        engine.retire(info)
                        failed.discard(r["name"])
                    done.add(r["name"])
            # the replicas that change, at once (each in a thread with its own engine connection):
            # a fresh host's replicas start together, and their health checks' first runs with them
            jobs, errors = [], {}
            for slot, rspec, d in decisions:
                if slot["name"] in pending:
                    ids[slot["name"]] = slot["existing"]["Id"]
                elif not d["steps"]:
                    ids[slot["name"]] = apply(engine, d, rspec, spec.get("image"))  # no call
                else:
                    jobs.append((slot["name"], lambda n=slot["name"], d=d, rspec=rspec: kept_error(
                        errors, n, apply, engine, d, stop_spec(rspec, d), spec.get("image"))))
            for n, cid in apply_each(engine, jobs).items():
                if n in errors:
                    failed.add(n)
                else:
                    ids[n] = cid
                    done.add(n)
            for n, _job in jobs:   # the first failure in the replicas' order, as apply_each
                if n in errors:
                    raise errors[n]
            if state == "started" and p["wait"] != "none":
                touched = {n: cid for n, cid in ids.items() if cid and n not in pending}
                probed = engine.wait(touched, p["wait"], p["wait_timeout"],
                                     probes=start_probes(spec, touched))
        except (DockerError, WaitError) as exc:
            failure, failure_tb = exc, traceback.format_exc()

    before, after = {}, {}
    for slot, rspec, d in decisions:
        if slot["name"] in pending or (failure is not None and slot["name"] not in done):
            continue
        b, a = replica_diff(d, rspec, state, p["env"])
        if b or a:
            before[slot["name"]], after[slot["name"]] = b, a
    for r in removals:
        if r["name"] not in pending and (failure is None or r["name"] in done):
            before[r["name"]], after[r["name"]] = {"state": r["entry"].get("State")}, {"state": "absent"}

    replicas_out = []
    for slot, rspec, d in decisions:
        info = d["current"]
        action = replica_action(d["steps"])
        if not module.check_mode and slot["name"] not in pending:
            cid = ids.get(slot["name"])
            info = engine.inspect(cid) if cid else None
            if failure is not None and slot["name"] not in done:
                # not changed (not reached, or undone), or left half-changed: as the engine has it
                info = engine.inspect(slot["name"])
                action = "failed" if slot["name"] in failed else "unchanged"
        if action == "failed":
            actions.append("%s: failed (%s)" % (slot["name"], ", ".join(describe(d))))
        elif action != "unchanged" or not d["steps"]:
            for word in describe(d):
                actions.append("%s: %s%s" % (slot["name"], word, " (pending, converge=missing)"
                                             if slot["name"] in pending else ""))
        st = (info or {}).get("State") or {}
        predicted_image = None
        if module.check_mode and "create" in d["steps"]:
            predicted_image = (image_info or {}).get("Id") or "unknown (image not on host)"
        removed = action == "removed"
        replicas_out.append({
            "index": slot["index"], "name": slot["name"], "host_port": slot["host_port"],
            "action": action,
            "image": spec.get("image") or ((info or {}).get("Config") or {}).get("Image"),
            "image_id": predicted_image if predicted_image else (info or {}).get("Image"),
            "id": None if predicted_image or removed else (info or {}).get("Id"),
            "health": (st.get("Health") or {}).get("Status"),
            "probed": slot["name"] in probed,
            "pending": slot["name"] in pending,
        })
    for r in removals:
        index = replica_index(r["entry"])
        action = "removed"
        if r["name"] in pending:
            actions.append("%s: removed (pending, converge=missing)" % r["name"])
        elif failure is not None and r["name"] not in done:
            action = "failed" if r["name"] in failed else "unchanged"
            if action == "failed":
                actions.append("%s: removal failed" % r["name"])
        else:
            actions.append("%s: removed%s" % (r["name"], SET_ASIDE if r["name"] in aside else ""))
        replicas_out.append({"index": index, "name": r["name"], "host_port": None,
                             "action": action, "image": r["entry"].get("Image"),
                             "image_id": r["entry"].get("ImageID"), "health": None,
                             "id": None if action == "removed" and r["name"] not in pending
                             else r["entry"].get("Id"),
                             "probed": False, "pending": r["name"] in pending})
    result = dict(replicas=replicas_out, ports=layout["ports"], actions=actions,
                  diff={"before": before, "after": after})
    if failure is not None:
        # changed: what completed; a change that failed may have left its container changed
        # too (a removal that stopped it), compared with what the run found
        changed = pulled or bool(done) or any(
            moved(d["current"], engine.inspect(s_["name"])) for s_, _r, d in decisions
            if s_["name"] in failed) or any(
            moved(r["entry"], engine.inspect(r["entry"]["Id"])) for r in removals if r["name"] in failed)
        module.fail_json(msg=str(failure), changed=changed, exception=failure_tb, **result)
    if lbs:
        log = []
        late = lb_set(lbs, ready_names, "ready", p["ready"]["timeout"], p["ready"]["interval"], log,
                      option="ready.timeout")
        result["ready"] = {"servers": ready_names, "commands": log}
        if late:
            module.fail_json(msg="the replicas run, but are not UP on every load balancer: %s"
                                 % "; ".join(late), changed=changed or bool(log), **result)
        changed = changed or bool(log)
    exit_recorded(module, changed, settled=not open_changes, files=files, engine=engine, **result)


def unpause(d):
    """A replica paused by hand (docker pause) under state started: unpaused, as the container
    module does with paused false (a paused replica answers nothing)."""
    step = pause_step("started", d["steps"], d["current"], False)
    if step:
        d["steps"].append(step)


def kept_error(errors, key, fn, *args):
    """fn(*args), an engine error or a failed wait kept in errors[key] (returned None): every
    job's outcome is kept, the replicas that changed as well as the one that failed."""
    try:
        return fn(*args)
    except (DockerError, WaitError) as exc:
        errors[key] = exc
        return None


def status_of(info):
    """The state word of an inspect (its State.Status) or of a listing entry (its State)."""
    st = info.get("State")
    return st if isinstance(st, str) else (st or {}).get("Status")


def moved(before, now):
    """Whether a container is no longer what the run found (an inspect or a listing entry;
    None: none): another container, none, or another state. A failed change may leave it so."""
    if before is None or now is None:
        return (before is None) != (now is None)
    return before["Id"] != now["Id"] or status_of(before) != status_of(now)


def stop_spec(rspec, d):
    """The spec apply() stops or restarts a kept replica with: without stop_timeout given, the
    replica's own (its inspect), so that the client waits as long as the engine does (an
    engine timeout of its own plus the container's, not the default 10 s). Only where no
    container is created from it."""
    current = d["current"]
    if rspec.get("stop_timeout") is not None or current is None or "create" in d["steps"]:
        return rspec
    own = (current.get("Config") or {}).get("StopTimeout")
    return rspec if own is None else dict(rspec, stop_timeout=own)


def replica_diff(d, rspec, state, shown_env):
    """(before, after) of one replica for the diff: the options that differ, and its state
    when the steps change it (derived from the steps, as the container module does); a new
    replica shows its whole configuration."""
    b, a = diff_view(d["diffs"], shown_env=shown_env or {})
    steps, current = d["steps"], d["current"]
    cur = (current.get("State") or {}).get("Status") if current else "absent"
    if steps:
        if state == "absent":
            new = "absent"
        elif any(s in steps for s in ("start", "restart", "unpause")):
            new = "running"
        elif "stop" in steps:
            new = "exited"
        elif "create" in steps:
            new = "created"
        else:
            new = cur
        if new != cur or not current:
            b["state"], a["state"] = cur, new
    if current is None and state != "absent":
        a.update({k: v for k, v in rspec.items() if k not in ("env", "published_ports")})
        if "env" in rspec:
            a["env"] = sorted(rspec["env"])
        if "published_ports" in rspec:
            a["published_ports"] = ports_view(rspec["published_ports"])
    return b, a


def replica_index(entry):
    """The dockyard.replica label of a listing entry as an int, or None."""
    try:
        return int((entry.get("Labels") or {}).get(REPLICA_LABEL, ""))
    except ValueError:
        return None


def stray_message(name, index, info):
    """Why the container that has replica index's name (info, its inspect) is not that replica:
    not labelled for the service, or labelled for it without (or with another) replica label.
    The run cannot make the replica while it holds the name."""
    labels = (info.get("Config") or {}).get("Labels") or {}
    rname = replica_name(name, index)
    if labels.get(SERVICE_LABEL) != name:
        return "container %s exists but is not labelled %s=%s; remove or rename it (option name)" \
            % (rname, SERVICE_LABEL, name)
    got = labels.get(REPLICA_LABEL)
    return "container %s is labelled %s=%s but %s, so it is not replica %d (not made by this " \
           "module); remove or rename it (option name)" % (
               rname, SERVICE_LABEL, name, "has no %s label" % REPLICA_LABEL if got is None
               else "%s=%s, not %d" % (REPLICA_LABEL, got, index), index)


def check_networks(module, engine, spec):
    """The networks of option networks exist on the host (one listing): a real run fails
    naming the option before any change (else the engine refuses each replica halfway
    through, after the scale-down). In check mode a warning: an earlier task of the play may
    make the network."""
    names = [n["name"] for n in spec.get("networks") or []]
    if not names:
        return
    missing = engine.missing_networks(names)   # the container module's check too
    if not missing:
        return
    text = "network%s %s not found on the host" % ("s" if len(missing) > 1 else "", ", ".join(missing))
    if module.check_mode:
        module.warn("%s: a real run fails unless an earlier task makes %s (option networks)"
                    % (text, "them" if len(missing) > 1 else "it"))
    else:
        module.fail_json(msg="networks: %s; nothing was changed" % text)


def health_test(spec, image_info):
    """The health check test a container made from spec gets: the spec's, else the image's;
    None when it cannot be known (the image is not on the host yet)."""
    hc = spec.get("healthcheck") or {}
    if "test" in hc:
        return hc["test"]
    if image_info is None:
        return None
    return ((image_info.get("Config") or {}).get("Healthcheck") or {}).get("Test") or []


def check_wait_healthy(spec, image_info, decisions, pulled, only_missing):
    """wait: healthy with a replica that would have no health check (healthcheck test NONE,
    an image without HEALTHCHECK, a replica kept as it was made without one) could never
    end: refused before any change, check mode too, naming option wait. decisions:
    [(slot, rspec, d)]. A replica whose image is not on the host yet is not known."""
    without, why = [], []
    for slot, _rspec, d in decisions:
        if only_missing and slot["existing"]:
            continue   # left as it is, not awaited
        if d["current"] is None or "create" in d["steps"]:
            test = health_test(spec, image_info)
            reason = "option healthcheck disables the check" if "test" in (spec.get("healthcheck") or {}) \
                else "image %s has no HEALTHCHECK" % spec.get("image")
        else:
            test = ((d["current"].get("Config") or {}).get("Healthcheck") or {}).get("Test") or []
            reason = "a replica kept as it is was made without one"
        if test is not None and (not test or test[0] == "NONE"):
            without.append(slot["name"])
            if reason not in why:
                why.append(reason)
    if without:
        raise SpecError("wait", "healthy needs a health check, and %s would have none (%s); give "
                        "healthcheck.test or use wait: running%s" % (
                            ", ".join(without), "; ".join(why),
                            " (no container was changed, but the image to run was pulled)"
                            if pulled else ""), changed=pulled)


def exit_recorded(module, changed, settled=True, files=LocalRelease, engine=None, **result):
    """Exit with the run's result; with O(record), the release recorded first (only here: every
    change of the run is done), unless replicas are left pending a change (settled false). A
    record that fails fails the run, naming what did change. files: where the release files
    are (LocalRelease, or the host's from a run on the controller). With record.keep_images,
    the older images of the release's repository are untagged just before (the deploy lock,
    when the run holds it, is still held: no other deploy's rollback image goes)."""
    rec = module.params["record"]
    if rec and settled:
        image = rec["image"] or module.params["image"]
        pruned = prune_images(module, engine, image, rec.get("keep_images"))
        try:
            out = files.record(rec, image, changed if rec["changes"] is None else rec["changes"],
                               module.check_mode)
        except (ReleaseError, OSError) as exc:
            module.fail_json(msg="the replicas converged, but recording the release failed "
                                 "(option record): %s" % exc, changed=changed or bool(pruned),
                             **result)
        if pruned is not None:
            out["images_removed"] = pruned
        result["record"] = out
        changed = changed or out["changed"] or bool(pruned)
    module.exit_json(changed=changed, **result)


def prune_images(module, engine, image, keep):
    """record.keep_images: untag the images of image's repository beyond keep (the image
    module's rule); returns the tags removed (or that would be, in check mode), None without
    keep. A failure is a warning: the release is recorded all the same (it is the deploy's
    outcome; the images are housekeeping)."""
    if not keep or engine is None:
        return None
    from ansible_collections.dockyard.fleet.plugins.module_utils._image import (
        parse_reference, prune_repo)
    try:
        current = engine.image(image)
        if current is None:
            return []
        return prune_repo(engine.client, parse_reference(image)["repo"], current, keep,
                          module.check_mode)
    except (DockerError, ValueError) as exc:
        module.warn("older images of %s were not removed (option record.keep_images; the "
                    "release is recorded all the same): %s" % (image, exc))
        return []


def replica_out(slot, info, action, probed=False):
    st = (info or {}).get("State") or {}
    return {"index": slot["index"], "name": slot["name"], "host_port": slot["host_port"],
            "action": action, "image": ((info or {}).get("Config") or {}).get("Image"),
            "image_id": (info or {}).get("Image"), "id": (info or {}).get("Id"),
            "health": (st.get("Health") or {}).get("Status"), "probed": probed, "pending": False}


def set_aside_replicas(existing, name, indexes):
    """The entries of existing (the service's listing) that a recreate of replica i of
    service name (i in indexes) set aside."""
    patterns = [re.escape(replica_name(name, i)) for i in indexes]
    return [e for e in existing if any(set_aside(entry_name(e), pat) for pat in patterns)]


def run_roll(module, spec, comparisons, client=None):
    """O(roll): the replicas in O(only), one at a time behind the load balancers (_roll.roll)."""
    p, r = module.params, module.params["roll"]
    name = p["name"]
    indexes = p["only"] if p["only"] is not None else list(range(1, p["replicas"] + 1))
    engine = ContainerEngine(client or DockerClient(p), warn=module.warn,
                             keep_volumes=p["keep_volumes"])
    spec = engine.resolve_refs(spec)
    existing = engine.list_by_label("%s=%s" % (SERVICE_LABEL, name))
    layout = plan_replicas(name, p["replicas"], existing, "started", p["port_base"], p["ports"],
                           indexes, p["container_port"])
    slots = {s["index"]: s for s in layout["slots"]}
    if layout["above"]:  # a roll converges 1..replicas (or only) and removes nothing
        module.warn("replicas above replicas=%d left as they are (a roll neither restarts nor "
                    "removes them; a run without roll does): %s"
                    % (p["replicas"], ", ".join(entry_name(e) for e in layout["above"])))
    for slot in slots.values():
        stray = engine.inspect(slot["name"]) if not slot["existing"] else None
        if stray is not None:
            module.fail_json(msg=stray_message(name, slot["index"], stray))
    if slots:
        check_networks(module, engine, spec)
    lbs = connect_lbs(module, "roll", [r["server_prefix"] + str(i) for i in indexes])
    image_info, pulled, _would = resolve_image(engine, spec["image"], p["pull"], False)
    check_image_healthcheck(spec, image_info, pulled=pulled)
    decisions, before, after, probed = {}, {}, {}, set()
    # with a rollback: the container a recreate replaced, kept stopped and set aside by this
    # run ({index: ContainerEngine.replace's kept entry}) until its replica passed the cycle
    # (then removed) or failed (then put back). Only this run's replace() fills it: a set-aside
    # container a killed run left is never in it (removed before the roll starts, below).
    kept = {}

    def await_replica(i, cid, rspec, mode=p["wait"]):
        if mode != "none":  # polled as often as the load balancers (roll.interval)
            probed.update(engine.wait({slots[i]["name"]: cid}, mode, p["wait_timeout"],
                                      poll=min(0.25, r["interval"]),
                                      probes=start_probes(rspec, [slots[i]["name"]])))

    def converge(i, rspec, info, restart, keep=None):
        slot = slots[i]
        current = engine.inspect(slot["name"])
        current_image = engine.image(current["Image"]) if current else None
        d = engine.decide(slot["name"], rspec, "started", current, info, comparisons,
                          p["recreate"], restart, current_image)
        unpause(d)
        cid = apply(engine, d, stop_spec(rspec, d), rspec["image"], kept=keep)
        await_replica(i, cid, rspec)
        return d

    def replace(i):
        slot = slots[i]
        keep = [] if r.get("rollback_image") else None   # only what a rollback may put back
        try:
            d = converge(i, replica_spec(spec, name, i, slot["host_port"], p["container_port"]),
                         image_info, p["restart"], keep)
        finally:
            if keep:
                kept[i] = keep[0]
        decisions[i] = d
        b, a = diff_view(d["diffs"], shown_env=p["env"] or {})
        if d["steps"]:
            b.setdefault("state", ((d["current"] or {}).get("State") or {}).get("Status", "absent"))
            a.setdefault("state", "running")
        if b or a:
            before[slot["name"]], after[slot["name"]] = b, a

    rollback = None
    if r.get("rollback_image"):
        rb_spec = dict(spec, image=r["rollback_image"])
        rb_spec["labels"] = dict(spec.get("labels") or {}, **{
            str(k): str(v) for k, v in (r.get("rollback_labels") or {}).items()})

        def rollback(i):
            """The container the replace kept back in place of the new one, as it was (its
            image, its configuration); only when none was kept (a restart, an update in place,
            a replica that did not exist), the replica converged to roll.rollback_image.
            Returns the image that runs again."""
            slot = slots[i]
            if i in kept:
                old = kept.pop(i)
                made = engine.inspect(slot["name"])
                cid = engine.restore(old, slot["name"], made)
                # awaited as the roll awaits (a probe runs the container's own test; an
                # engine that kept its start_interval is not probed); healthy only with a check
                test = ((old["info"].get("Config") or {}).get("Healthcheck") or {}).get("Test") or []
                await_replica(i, cid, spec, "running" if p["wait"] == "healthy" and (
                    not test or test[0] == "NONE") else p["wait"])
                return (old["info"].get("Config") or {}).get("Image")
            info, _p, _w = resolve_image(engine, rb_spec["image"],
                                         "missing" if p["pull"] == "always" else p["pull"], False)
            converge(i, replica_spec(rb_spec, name, i, slot["host_port"], p["container_port"]),
                     info, False)
            return None

    def passed(i):
        """Replica i passed its cycle: the container its recreate kept goes (stopped already,
        with its own stop signal and timeout; its anonymous volumes unless keep_volumes)."""
        old = kept.pop(i, None)
        if old is not None:
            try:
                engine.remove(old["Id"])
            except DockerError as exc:
                module.warn("%s: the container it replaced could not be removed, it stays "
                            "(stopped) as %s; the next run removes it: %s" % (
                                slots[i]["name"], old["Name"], exc))

    def outcome(extra=None):
        replicas = []
        for i in indexes:
            d = decisions.get(i)
            replicas.append(replica_out(slots[i], engine.inspect(slots[i]["name"]),
                                        replica_action(d["steps"]) if d else "unchanged",
                                        slots[i]["name"] in probed))
        res = dict(replicas=replicas, ports=layout["ports"], diff={"before": before, "after": after},
                   actions=cleaned + ["%s: %s" % (slots[i]["name"], w) for i in indexes if i in decisions
                                      for w in describe(decisions[i])])
        res.update(extra or {})
        return res

    # Only the replicas that change go through the cycle: a second run with the same options
    # drains nothing and reports no change.
    todo, planned = [], []
    for i in indexes:
        current = engine.inspect(slots[i]["name"])
        rspec = replica_spec(spec, name, i, slots[i]["host_port"], p["container_port"])
        d = engine.decide(slots[i]["name"], rspec, "started", current, image_info, comparisons,
                          p["recreate"], p["restart"], engine.image(current["Image"]) if current else None)
        unpause(d)
        planned.append((slots[i], rspec, d))
        if d["steps"]:
            todo.append(i)
    if p["wait"] == "healthy":   # a roll awaits the replicas it changes
        check_wait_healthy(spec, image_info, [x for x in planned if x[2]["steps"]], pulled, False)
    if todo and rollback is not None and timings_without_test(spec):
        # a rollback replica without a check could never be awaited healthy: refused now
        # (the image is usually on the host: the release before), not halfway through a roll;
        # its image is read only when the check depends on it
        check_image_healthcheck(rb_spec, engine.image(rb_spec["image"]), pulled=pulled,
                                which="the rollback image %s (roll.rollback_image)")
    waited = None
    if r.get("gate"):  # everything above only read: now wait for this host's turn
        t0 = time.monotonic()
        try:
            halted_by = wait_for_turn(r["gate"])
            waited = round(time.monotonic() - t0, 3)
        except GateError as exc:
            module.fail_json(msg=str(exc), changed=pulled)
        if halted_by is not None:
            # the replicas as they run (read above): what this host still serves
            module.fail_json(
                msg="not rolled: the roll on %s failed before this host's turn (same "
                    "roll.batch_id); nothing was changed on this host%s"
                    % (halted_by, " but the image pulled" if pulled else ""),
                changed=pulled, not_started=True, halted_by=halted_by, ports=layout["ports"],
                replicas=[replica_out(slot, d["current"], "unchanged") for slot, _rs, d in planned])
    # replicas a killed run left set aside in the middle of a recreate: one still running
    # holds the port of the replica the roll starts
    cleaned = set_aside_replicas(existing, name, indexes)
    for entry in cleaned:
        info = engine.inspect(entry["Id"])   # its stop timeout (a listing entry has none)
        if info is not None:
            engine.retire(info)
    cleaned = ["%s: removed%s" % (entry_name(e), SET_ASIDE) for e in cleaned]
    try:
        result = roll(todo, lambda i: r["server_prefix"] + str(i), replace, rollback, lbs,
                      r["drain_timeout"], r["ready_timeout"], r["interval"], image=spec["image"],
                      previous_image=r.get("rollback_image"),
                      # a replica awaited healthy passed the engine's health check: HAProxy's
                      # own checks need not start over (each start over costs `rise` checks)
                      fresh_checks=p["wait"] != "healthy", passed=passed)
    except RollFailed as exc:
        res = exc.result
        module.fail_json(msg=str(exc), changed=True, **outcome({
            "failed_index": res["failed_index"], "failed_step": res["failed_step"],
            "rolled_back": res["rolled_back"],
            "roll": {"done": res["done"], "seconds": res["seconds"], "commands": res["log"]}}))
    changed = pulled or bool(cleaned) or bool(result["log"]) or any(d["steps"] for d in decisions.values())
    done = {"done": result["done"], "seconds": result["seconds"], "commands": result["log"]}
    if waited is not None:
        done["waited"] = waited
    exit_recorded(module, changed, engine=engine, **outcome({"roll": done}))


def connect_lbs(module, opt, names):
    """The load balancers of option opt (roll or ready), each checked before anything changes:
    its runtime API answers and has every server in names. Fails the module naming the option."""
    lbs = []
    for n, lb in enumerate(module.params[opt]["load_balancers"], 1):
        label = lb.get("name") or lb["socket"]
        lbs.append(LoadBalancer(label, RuntimeClient(lb["socket"]), lb["backend"]))
        try:
            if not lbs[-1].client.command("show info").strip():
                # a forwarded socket connects, then closes when the far end cannot open it
                raise HAProxyError(
                    "the runtime API %s answered nothing: is HAProxy running there, and may the "
                    "SSH user of the load balancer open its socket (root, or the socket's group; "
                    "else set deploy_roll_mode per_step)? (option socket)" % lb["socket"])
            fetch_views(lbs[-1].client, lb["backend"], names)
        except HAProxyError as exc:
            module.fail_json(msg="%s.load_balancers[%d] (%s): %s" % (
                opt, n, label, str(exc).replace("(option server)", "(option %s.server_prefix)" % opt)
                .replace("(option socket)", "(option %s.load_balancers[%d].socket)" % (opt, n))
                .replace("(option backend)", "(option %s.load_balancers[%d].backend)" % (opt, n))))
    return lbs


def check_lbs(opt, lbs, server_prefix):
    """Why the load balancers of option opt (roll, ready) cannot be used, or None. The
    backend and the server names go into runtime-API commands: no spaces, no ';'."""
    if not lbs:
        return "option %s.load_balancers lists no load balancer" % opt
    problem = name_problem(server_prefix, "%s.server_prefix" % opt, "server name prefix",
                           empty_ok=True)
    if problem:
        return problem
    for n, lb in enumerate(lbs, 1):
        problem = name_problem(lb.get("backend"), "%s.load_balancers[%d].backend" % (opt, n),
                               "backend name")
        if problem:
            return problem
        if lb.get("controller_socket"):
            return ("option %s.load_balancers[%d].controller_socket is forwarded by the action "
                    "plugin of dockyard.fleet.service, which did not run (use the module by its "
                    "full name)" % (opt, n))
    return None


def check_roll(p):
    """Why O(roll) cannot be used with the other options, or None."""
    r = p["roll"]
    if not r:
        return None
    if p["state"] != "started" or p["converge"] != "all":
        return "option roll needs state=started and converge=all"
    lb_error = check_lbs("roll", r["load_balancers"], r["server_prefix"])
    if lb_error:
        return lb_error
    for opt in ("drain_timeout", "ready_timeout", "interval"):
        if r[opt] <= 0:
            return "option roll.%s must be > 0, not %s" % (opt, r[opt])
    if p["only"] and len(set(p["only"])) != len(p["only"]):
        return "option only lists a replica twice"
    return None


def check_ready(p):
    """Why O(ready) cannot be used with the other options, or None."""
    r = p["ready"]
    if not r:
        return None
    if p["roll"]:
        return "options ready and roll are mutually exclusive (a roll ends every replica UP)"
    if p["state"] != "started":
        return "option ready needs state=started"
    lb_error = check_lbs("ready", r["load_balancers"], r["server_prefix"])
    if lb_error:
        return lb_error
    for opt in ("timeout", "interval"):
        if r[opt] <= 0:
            return "option ready.%s must be > 0, not %s" % (opt, r[opt])
    return None


def check_record(p):
    """Why O(record) cannot be used with the other options, or None."""
    rec = p["record"]
    if not rec:
        return None
    if p["state"] not in ("started", "present"):
        return "option record needs state started or present (a release is recorded once " \
               "every replica runs it)"
    for opt in ("app", "token", "version"):
        if not rec[opt]:
            return "option record.%s is required (and must not be empty)" % opt
    if not (rec["image"] or p["image"]):
        return "option record.image is required when option image is not given"
    if rec["keep"] < 1:
        return "option record.keep must be at least 1, got %d" % rec["keep"]
    if rec.get("keep_images") is not None and rec["keep_images"] < 1:
        return "option record.keep_images must be at least 1 (the release's image is always " \
               "kept), got %d" % rec["keep_images"]
    try:
        check_name(rec["app"], "record.app")
    except ReleaseError as exc:
        return str(exc)
    return None


def check_lock(p):
    """Why O(lock) cannot be used with the other options, or None."""
    lk = p["lock"]
    if not lk:
        return None
    for opt in ("app", "token"):
        if not lk[opt]:
            return "option lock.%s is required (and must not be empty)" % opt
    why = check_lock_times(lk["timeout"], lk["stale_after"], ("lock.timeout", "lock.stale_after"))
    if why:
        return why
    try:
        check_name(lk["app"], "lock.app")
    except ReleaseError as exc:
        return str(exc)
    rec = p["record"]
    if rec and (rec["app"], rec["token"], rec["lock_dir"]) != (lk["app"], lk["token"], lk["lock_dir"]):
        return "option record must name the lock's app, token and lock_dir (option lock): " \
               "the record releases the lock this run took"
    return None


def take_deploy_lock(module, files=LocalRelease):
    """O(lock): take the deploy lock before anything else; from then on every result of the
    run (failures too) says so (RV(lock), RV(release)), so that a rescue can release it."""
    lk = module.params["lock"]
    if not lk:
        return
    try:
        out = files.lock(lk, module.check_mode)
    except LockHeld as exc:
        module.fail_json(msg="option lock: %s" % exc, changed=False, lock="held_by_other")
    except (ReleaseError, OSError) as exc:
        module.fail_json(msg="option lock: %s" % exc, changed=False)
    extra = dict(lock=out["lock"], release={"current": out["current"], "previous": out["previous"]})
    for name in ("exit_json", "fail_json"):
        done = getattr(module, name)
        setattr(module, name, lambda done=done, **kw: done(**dict(extra, **kw)))


def lb_list_spec():
    """Argument spec of roll.load_balancers and ready.load_balancers."""
    return dict(type="list", elements="dict", required=True, options=dict(
        socket=dict(type="str"),
        controller_socket=dict(type="str"),
        backend=dict(type="str", required=True),
        name=dict(type="str"),
        forwarded=dict(type="bool", default=False),
    ), required_one_of=[["socket", "controller_socket"]],
        mutually_exclusive=[["socket", "controller_socket"]])


def service_argument_spec():
    """The module's argument spec (also what the action plugin validates with)."""
    shared = copy.deepcopy(CONTAINER_ARGS)
    shared["published_ports"].pop("aliases", None)  # `ports` is the replicas' host ports here
    # not for replicas: one MAC address cannot be every replica's on one network, and a
    # replica the engine removes once it exits would be gone from under the rolls
    for key in ("mac_address", "auto_remove"):
        shared.pop(key)
    return docker_common_args(
        name=dict(type="str", required=True),
        execution=dict(EXECUTION_ARG),
        state=dict(type="str", default="started", choices=["started", "present", "stopped", "absent"]),
        replicas=dict(type="int", default=1),
        port_base=dict(type="int"),
        ports=dict(type="list", elements="int"),
        container_port=dict(type="int", default=80),
        only=dict(type="list", elements="int"),
        converge=dict(type="str", default="all", choices=["all", "missing"]),
        roll=dict(type="dict", options=dict(
            load_balancers=lb_list_spec(),
            server_prefix=dict(type="str", required=True),
            drain_timeout=dict(type="float", default=60),
            ready_timeout=dict(type="float", default=60),
            interval=dict(type="float", default=0.25),
            rollback_image=dict(type="str"),
            rollback_labels=dict(type="dict"),
            batch_id=dict(type="str"),  # used by the action plugin only
            batch_hosts=dict(type="list", elements="str"),  # used by the action plugin only
            gate=dict(type="str"),  # set by the action plugin
        )),
        ready=dict(type="dict", options=dict(
            load_balancers=lb_list_spec(),
            server_prefix=dict(type="str", required=True),
            timeout=dict(type="float", default=60),
            interval=dict(type="float", default=0.25),
        )),
        record=dict(type="dict", options=dict(
            app=dict(type="str", required=True),
            token=dict(type="str", required=True, no_log=False),
            owner=dict(type="str", default="unknown"),
            version=dict(type="str", required=True),
            image=dict(type="str"),
            keep=dict(type="int", default=5),
            keep_images=dict(type="int"),
            changes=dict(type="bool"),
            detail=dict(type="str"),
            **RELEASE_PATH_ARGS,
        )),
        lock=dict(type="dict", options=dict(
            app=dict(type="str", required=True),
            token=dict(type="str", required=True, no_log=False),
            owner=dict(type="str", default="unknown"),
            timeout=dict(type="int", default=0),
            stale_after=dict(type="int", default=3600),
            force=dict(type="bool", default=False),
            **RELEASE_PATH_ARGS,
        )),
        **shared)


MUTUALLY_EXCLUSIVE = [["port_base", "ports"]]
# options whose work needs the host itself (files, forwarded sockets): the run goes there.
# env_file is read by the run: a path on the host; roll takes turns through sockets forwarded
# to the host and keeps its own state there.
HOST_OPTIONS = ("roll", "env_file")
# options a run on the controller does with a short call to the host over the task's
# connection (the release files; _engine_forward.HostRelease), where it can make one
HOST_CALL_OPTIONS = ("record", "lock")


def needs_the_host(args, no_host_calls=None):
    """Why these task options keep the run on the host (execution auto), or None.
    no_host_calls: why the controller cannot call the host for the release files (options
    lock and record), or None when it can. ready is done from the controller when every load
    balancer is given as a controller_socket (a socket on the host is the module's)."""
    for opt in HOST_OPTIONS:
        if args.get(opt):
            return "option %s needs the host (files or sockets there)" % opt
    ready = args.get("ready")
    if ready:
        lbs = ready.get("load_balancers") if isinstance(ready, dict) else None
        for n, lb in enumerate(lbs if isinstance(lbs, list) else [None], 1):
            if not isinstance(lb, dict) or not lb.get("controller_socket") or lb.get("socket"):
                return "option ready.load_balancers[%d] is not a controller_socket alone (a " \
                       "socket on the host is reached by the module there)" % n
    for opt in HOST_CALL_OPTIONS:
        if args.get(opt) and no_host_calls:
            return "option %s needs the host's files: %s" % (opt, no_host_calls)
    return None


def on_the_controller(args):
    """The task's options for a run on the controller: the load balancers of ready given as
    controller sockets are reached directly (as socket, named by their path unless named)."""
    args = copy.deepcopy(args)
    for lb in (args.get("ready") or {}).get("load_balancers") or []:
        lb["socket"] = lb.pop("controller_socket")
        lb.setdefault("name", lb["socket"])
    return args


def service_main(module, client=None, files=LocalRelease):
    """The module's run once its arguments are validated: on the host (module) or on the
    controller against the host's engine socket forwarded over SSH (action plugin, with
    client, and files: the host's release files for options lock and record). Ends with
    module.exit_json or module.fail_json."""
    if module.params["converge"] == "missing" and module.params["state"] not in ("started", "present"):
        module.fail_json(msg="option converge=missing needs state started or present, not %s"
                         % module.params["state"])
    try:
        spec = parse_spec(module.params)
        comparisons = parse_comparisons(module.params["comparisons"])
        # all input checks before the engine is touched
        p = module.params
        plan_replicas(p["name"], p["replicas"], [], p["state"], p["port_base"], p["ports"], p["only"],
                      p["container_port"])
        check_published_ports(spec.get("published_ports"), p["replicas"],
                              host_ports(p["replicas"], p["port_base"], p["ports"]), p["state"])
    except SpecError as exc:
        module.fail_json(msg=str(exc))
    remove_forwarded_at_exit(module)
    roll_error = check_roll(module.params) or check_ready(module.params) or \
        check_record(module.params) or check_lock(module.params)
    if roll_error:
        module.fail_json(msg=roll_error)
    take_deploy_lock(module, files)
    try:
        if module.params["roll"] and not module.check_mode:
            run_roll(module, spec, comparisons, client)
        run(module, spec, comparisons, client, files)
    except SpecError as exc:  # found once the image is known, before any container changes
        module.fail_json(msg=str(exc), changed=exc.changed)
    except (DockerError, WaitError) as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc())
