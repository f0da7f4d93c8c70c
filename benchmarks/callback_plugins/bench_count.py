# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark helper (not shipped): counts module runs per host and writes them as JSON.

A module run is one execution of a module on a host: every result of a task without a
loop, every item of a task with a loop (or the result's `invocations` when it gives one:
dockyard.fleet.image runs the module 0, 1 or 2 times). Skipped tasks/items and actions that run only on
the controller (set_fact, include_*, fail, debug, assert, meta) are not module runs.
A delegated task counts on the host it was delegated to (as "@<address>" when
ansible-core gives callbacks only its address). Output: $BENCH_COUNT_FILE.
"""
from __future__ import annotations

DOCUMENTATION = """
    name: bench_count
    type: aggregate
    short_description: count module runs per host (benchmarks only)
    description:
      - Writes module runs, changed and failed counts per host as JSON to the file named by BENCH_COUNT_FILE.
    requirements:
      - enable in ANSIBLE_CALLBACKS_ENABLED
"""

import json
import os
from collections import defaultdict

from ansible.plugins.callback import CallbackBase

CONTROLLER_ONLY = {
    "set_fact", "include_tasks", "import_tasks", "include_role", "import_role", "fail",
    "debug", "assert", "meta", "include_vars", "add_host", "group_by", "pause", "set_stats",
    "validate_argument_spec",
    # a request to the SSH ControlMaster of the host, from the controller: no module run
    "socket_forward", "deploy_facts",
}


def _short(action):
    return (action or "").split(".")[-1]


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_count"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.hosts = defaultdict(lambda: {"modules": 0, "changed": 0, "failed": 0,
                                          "unreachable": 0, "by_action": defaultdict(int)})

    def _target(self, result):
        res = result._result
        dv = res.get("_ansible_delegated_vars") or {}
        if dv.get("ansible_delegated_host"):
            return dv["ansible_delegated_host"]
        if dv.get("ansible_host"):
            # ansible-core 2.19 hands callbacks only the delegated host's address:
            # "@<address>", mapped back to a host name by benchmarks/run.
            return "@" + str(dv["ansible_host"])
        return result._host.get_name()

    def _count(self, result, failed=False, unreachable=False):
        action = _short(result._task.action)
        if action in CONTROLLER_ONLY:
            return
        h = self.hosts[self._target(result)]
        # dockyard.fleet.image says how many module runs it made (0 when it streamed the
        # archive over a forwarded engine socket, 2 when it copied and loaded it)
        runs = result._result.get("invocations")
        runs = runs if isinstance(runs, int) and not isinstance(runs, bool) and runs >= 0 else 1
        h["modules"] += runs
        h["by_action"][action] += runs
        if result._result.get("changed"):
            h["changed"] += 1
        if failed:
            h["failed"] += 1
        if unreachable:
            h["unreachable"] += 1

    # A task with a loop reports every item, then one summary result: count the items only.
    def _has_items(self, result):
        return "results" in result._result and result._task.loop is not None

    def v2_runner_on_ok(self, result):
        if not self._has_items(result):
            self._count(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if not self._has_items(result):
            self._count(result, failed=True)

    def v2_runner_on_unreachable(self, result):
        self._count(result, unreachable=True)

    def v2_runner_item_on_ok(self, result):
        self._count(result)

    def v2_runner_item_on_failed(self, result):
        self._count(result, failed=True)

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get("BENCH_COUNT_FILE")
        if not path:
            return
        out = {h: dict(v, by_action=dict(v["by_action"])) for h, v in self.hosts.items()}
        with open(path, "w") as f:
            json.dump(out, f, indent=1, sort_keys=True)
