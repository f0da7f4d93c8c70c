"""Bad input for every module, generated with hypothesis (tests/integration/badinput.py).

Every case is one real module run over SSH on a lab app host. The cases of a module family
run as one loop task per module (`ignore_errors: true`) in one playbook per family; the
families run side by side, each on its own host. Per case: the run failed, and its message
names the option. Per family: the engine (containers, images, networks, volumes) and the
dockyard state directories on the host are exactly what they were before.

Figures of the run go to tests/output/bad_input_summary.json (docs/reliability.md quotes
them).
"""
from __future__ import annotations

import collections
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import badinput
from conftest import LAB_ID, REPO, run_playbook

CASES = badinput.all_cases(LAB_ID)
BY_ID = {c["id"]: c for c in CASES}
SUMMARY = os.path.join(REPO, "tests", "output", "bad_input_summary.json")
STATE_DIRS = "/var/lib/dockyard /run/dockyard /var/log/dockyard /etc/dockyard"

# Known bugs: case id -> reason. Each stays visible as a strict xfail until the module is
# fixed (then the xfail turns into a failure: remove the entry). None open.
KNOWN_BUGS: dict = {}
# Families whose host state changes because of a known bug (the cases above).
FAMILY_BUGS: dict = {}


def _files(lab, host):
    """The dockyard state files on a host (release records, locks, audit log)."""
    out = lab.ssh(host, "find %s -printf '%%p %%s %%T@\\n' 2>/dev/null | sort" % STATE_DIRS,
                  check=False).stdout
    return out.splitlines()


def _playbook(host, modules):
    tasks = []
    for m in modules:
        tasks.append("""
    - name: {m}
      dockyard.fleet.{m}: "{{{{ item.args }}}}"
      loop: "{{{{ badinput_cases['{m}'] }}}}"
      loop_control: {{label: "{{{{ item.id }}}}"}}
      ignore_errors: true
""".format(m=m))
    return "- hosts: %s\n  gather_facts: false\n  tasks:%s" % (host, "".join(tasks))


def _scrub(lab, host, modules):
    """Remove what a case that wrongly succeeded may have left (exact case names only), so
    every run starts from, and leaves, the same engine state."""
    names = set()
    for c in CASES:
        n = c["args"].get("name")
        if c["module"] in modules and isinstance(n, str) and n:
            names.update([n] + ["%s-%d" % (n, i) for i in range(1, 4)])
    api = lab.docker(host).api
    for ct in api.containers(all=True):
        if {x.lstrip("/") for x in ct.get("Names") or []} & names:
            api.remove_container(ct["Id"], force=True)
    for net in api.networks():
        if net["Name"] in names:
            api.remove_network(net["Id"])
    for vol in api.volumes().get("Volumes") or []:
        if vol["Name"] in names:
            api.remove_volume(vol["Name"], force=True)


def _run_family(lab, name, host, modules):
    cases = {m: [c for c in CASES if c["module"] == m] for m in modules}
    _scrub(lab, host, modules)
    before = (lab.snapshot(host), _files(lab, host))
    t0 = time.monotonic()
    attempts = []
    for _attempt in range(2):
        res = run_playbook(lab, _playbook(host, modules), extra_vars={"badinput_cases": cases},
                           timeout=2400)
        attempts.append(res.rc)
        if res.records:
            break
        # ansible-playbook gave up before the first task (seen once, in 0.4 s, with three
        # playbooks starting at the same moment on a loaded machine): run it again, once.
        attempts.append(res.stdout[-1500:] + res.stderr[-1500:])
    elapsed = time.monotonic() - t0
    after = (lab.snapshot(host), _files(lab, host))
    _scrub(lab, host, modules)
    items = {}
    for rec in res.records:
        for item in rec["result"].get("results") or []:
            case = item.get("item") or {}
            if isinstance(case, dict) and case.get("id"):
                items[case["id"]] = item
    return {"family": name, "host": host, "modules": modules, "rc": res.rc,
            "stdout_tail": res.stdout[-3000:], "items": items, "elapsed": round(elapsed, 1),
            "engine_before": before[0], "engine_after": after[0],
            "files_before": before[1], "files_after": after[1], "attempts": attempts,
            "runs": sum(len(v) for v in cases.values())}


def _diff(before, after):
    out = {}
    for key in before:
        b, a = set(map(str, before[key])), set(map(str, after[key]))
        if a != b:
            out[key] = {"gone": sorted(b - a), "new": sorted(a - b)}
    return out


def _verdict(case, item):
    msg = (item or {}).get("msg") or ""
    if item is None:
        return "no result", msg
    if not item.get("failed"):
        return "did not fail", msg
    if item.get("exception") and "Traceback" in str(item.get("module_stderr", "")):
        return "crashed", msg
    if "MODULE FAILURE" in msg or "Traceback" in msg:
        return "crashed", msg
    if case["kind"] != "host" and msg.startswith("Docker engine"):
        # refused by the engine, not by the module: the input reached the engine
        return "reached the engine", msg
    if not badinput.names_in(msg, case["names"]):
        return "option not named", msg
    return "ok", msg


@pytest.fixture(scope="module")
def outcome(lab):
    for host in ("app1", "app2"):
        lab.load_image(host, badinput.CONTAINER_IMAGE)
    for host in lab.app_hosts:
        lab.clean(host, "badin")
    t0 = time.monotonic()
    with ThreadPoolExecutor(len(badinput.FAMILIES)) as pool:
        futures = []
        for name, (host, modules) in badinput.FAMILIES.items():
            futures.append(pool.submit(_run_family, lab, name, host, modules))
            time.sleep(1)
        families = [f.result() for f in futures]
    wall = time.monotonic() - t0
    items = {}
    for fam in families:
        items.update(fam["items"])
    verdicts = {cid: _verdict(BY_ID[cid], items.get(cid)) for cid in BY_ID}
    summary = {"generated_by": "tests/integration/test_bad_input.py", "lab_id": LAB_ID,
               "seed": "hypothesis derandomize=True, database=None",
               "cases": len(CASES), "module_runs": sum(f["runs"] for f in families),
               "wall_seconds": round(wall, 1), "families": {}, "modules": {}, "not_clean": {}}
    for fam in families:
        summary["families"][fam["family"]] = {
            "host": fam["host"], "modules": fam["modules"], "runs": fam["runs"],
            "seconds": fam["elapsed"], "attempts": fam["attempts"],
            "engine_changes": _diff(dict(fam["engine_before"]), dict(fam["engine_after"])),
            "file_changes": sorted(set(fam["files_after"]) ^ set(fam["files_before"]))}
    per = collections.defaultdict(collections.Counter)
    kinds = collections.defaultdict(set)
    for c in CASES:
        v = verdicts[c["id"]][0]
        per[c["module"]]["cases"] += 1
        per[c["module"]]["state_changed"] += int(bool((items.get(c["id"]) or {}).get("changed")))
        per[c["module"]]["failed_cleanly" if v == "ok" else v.replace(" ", "_")] += 1
        kinds[c["module"]].add(c["kind"])
        if v != "ok":
            summary["not_clean"][c["id"]] = {"verdict": v, "args": c["args"],
                                             "msg": verdicts[c["id"]][1][:300]}
    summary["modules"] = {m: dict(per[m], kinds=sorted(kinds[m])) for m in sorted(per)}
    os.makedirs(os.path.dirname(SUMMARY), exist_ok=True)
    with open(SUMMARY, "w") as f:
        json.dump(summary, f, indent=1, sort_keys=True)
    yield {"families": families, "items": items, "verdicts": verdicts, "summary": summary}
    for host in lab.app_hosts:
        lab.clean(host, "badin")


def test_enough_cases_for_every_module():
    per = collections.Counter(c["module"] for c in CASES)
    assert set(per) == {"container", "service", "container_exec", "container_copy_into", "prune", "image", "network", "volume", "container_info",
                        "host_info", "haproxy_server", "haproxy_info", "release", "socket_forward"}
    assert len(CASES) >= 200
    assert len(BY_ID) == len(CASES), "case ids must be unique"
    # deterministic: the same cases on every generation
    assert badinput.all_cases(LAB_ID) == CASES


@pytest.mark.parametrize("family", [
    pytest.param(f, marks=[pytest.mark.xfail(strict=True, reason=FAMILY_BUGS[f])]
                 if f in FAMILY_BUGS else []) for f in sorted(badinput.FAMILIES)])
def test_host_state_unchanged(outcome, family):
    fam = outcome["summary"]["families"][family]
    suspects = {cid: outcome["verdicts"][cid] for cid in BY_ID
                if BY_ID[cid]["module"] in fam["modules"]
                and outcome["verdicts"][cid][0] == "did not fail"}
    assert not fam["engine_changes"], (fam["engine_changes"], suspects)
    assert not fam["file_changes"], (fam["file_changes"], suspects)


def _params():
    out = []
    for c in CASES:
        marks = []
        if c["id"] in KNOWN_BUGS:
            marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[c["id"]]))
        out.append(pytest.param(c["id"], id=c["id"], marks=marks))
    return out


@pytest.mark.parametrize("case_id", _params())
def test_bad_input_fails_naming_the_option(outcome, case_id):
    case = BY_ID[case_id]
    verdict, msg = outcome["verdicts"][case_id]
    assert verdict == "ok", "%s: %s\nargs: %r\nexpected one of %s in: %s" % (
        case_id, verdict, case["args"], case["names"], msg)
