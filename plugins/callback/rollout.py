# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: rollout
type: notification
short_description: Rollout progress of dockyard.fleet.service tasks, batch by batch
version_added: 0.1.0
author: dockyard.fleet maintainers (!UNKNOWN)
description:
  - Prints, as it happens, which batch of a play runs (C(serial) batches), every replica a
    M(dockyard.fleet.service) task converged with its image and the progress over the whole
    play, every failure, and at the end one line per host (result, replicas and their images,
    changed count).
  - Runs next to the stdout callback; it needs enabling, for example
    C(ANSIBLE_CALLBACKS_ENABLED=dockyard.fleet.rollout) or C(callbacks_enabled) in C(ansible.cfg).
  - Replicas a task only plans (returned with C(pending=true), as the deploy role's first
    service task does with C(converge=missing)) are not shown, counted or kept. A failed
    result's replicas are kept for the summary as the engine has them, and a failed roll that
    put the previous release back says C(rolled back to <image>).
  - In check mode (C(--check)) the play, replica and summary lines say so, and replicas read
    C(would be <action>) - nothing of it runs.
  - Only the host name, replica index and name, action, image and the first line of a failure
    message are printed; never module arguments such as C(env), whatever the task's C(no_log).
requirements:
  - enable in configuration (C(callbacks_enabled))
"""

import re

from ansible.plugins.callback import CallbackBase

try:
    from ansible import context
except ImportError:  # pragma: no cover
    context = None

SERVICE_ACTIONS = ("dockyard.fleet.service",)
MAX_HOSTS_SHOWN = 10
MSG_MAX = 300


# ---------------------------------------------------------------- pure helpers
def pct_to_int(value, num_items, min_value=1):
    """Same as Ansible's serial arithmetic: 'x%' of the hosts (at least 1), else an int."""
    if isinstance(value, str) and value.strip().endswith("%"):
        pct = int(value.strip()[:-1])
        return int((pct / 100.0) * num_items) or min_value
    return int(value)


def serial_batches(hosts, serial):
    """Split hosts into batches like PlaybookExecutor._get_serialized_batches."""
    hosts = list(hosts)
    total = len(hosts)
    serial = list(serial or []) or [-1]
    batches, cur = [], 0
    while hosts:
        size = pct_to_int(serial[cur], total)
        if size <= 0:
            batches.append(hosts)
            break
        batches.append(hosts[:size])
        hosts = hosts[size:]
        cur = min(cur + 1, len(serial) - 1)
    return batches


def batch_position(all_hosts, batch_hosts, serial):
    """(k, n): which batch (1-based) of how many holds batch_hosts. k is None if unknown."""
    batches = serial_batches(all_hosts, serial)
    n = max(len(batches), 1)
    wanted = set(batch_hosts)
    for k, b in enumerate(batches, 1):
        if set(b) == wanted:
            return k, n
    return None, n


def first_line(msg):
    text = "" if msg is None else str(msg)
    text = text.strip().splitlines()[0].strip() if text.strip() else "(no message)"
    return text if len(text) <= MSG_MAX else text[:MSG_MAX - 3] + "..."


def natural_key(text):
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", str(text))]


def cli_check_mode():
    """True when the run is ansible-playbook --check (every result is a prediction)."""
    if context is None:
        return False
    try:
        return bool(context.CLIARGS.get("check"))
    except Exception:
        return False


def short_hosts(hosts):
    hosts = list(hosts)
    if len(hosts) <= MAX_HOSTS_SHOWN:
        return ", ".join(hosts)
    return "%s, ... (+%d)" % (", ".join(hosts[:MAX_HOSTS_SHOWN]), len(hosts) - MAX_HOSTS_SHOWN)


class RolloutState:
    """Everything the callback remembers and prints, fed with plain values (unit-tested)."""

    def __init__(self, check=False):
        self.check = check            # --check: predictions, nothing runs
        self.play_hosts = []          # every host of the current play (all batches)
        self.done = set()             # (host, index) converged in the current play
        self.expected = {}            # host -> number of replicas of the service
        self.replicas = {}            # host -> {index: image}, over the whole playbook
        self.failed_msgs = {}         # host -> first failure line
        self.not_started = set()      # hosts a failed roll elsewhere halted before any change
        self.last_play, self.seq = None, 0

    # -- play / batch
    def play_start(self, name, all_hosts, batch_hosts, serial):
        k, n = batch_position(all_hosts, batch_hosts, serial)
        self.seq = self.seq + 1 if name == self.last_play else 1
        self.last_play = name
        if k is None:       # hosts unknown: count the starts of the same play instead
            k, n = self.seq, max(n, self.seq)
        if k == 1:
            self.done = set()
            self.expected = {}
        self.play_hosts = list(all_hosts)
        where = "batch %d of %d" % (k, n)
        return "rollout: %splay %s, %s (%s)" % ("check mode, nothing changes: " if self.check else "",
                                                name or "(unnamed)", where,
                                                short_hosts(batch_hosts) or "no hosts")

    def total(self):
        """Replicas expected in the play: known per host, else the largest seen count."""
        if not self.expected:
            return 0
        guess = max(self.expected.values())
        hosts = set(self.play_hosts) | set(self.expected)
        return sum(self.expected.get(h, guess) for h in hosts)

    # -- results
    def service_result(self, host, result, failed=False):
        """Lines for one result of dockyard.fleet.service (a dict).

        Replicas with pending=true were only planned (converge=missing): not shown, counted
        or kept. A failed result (failed=True) shows and counts only the replicas whose change
        completed; the others are kept for the summary as the engine has them when the result
        read them (a roll's replicas; after a rollback the previous image)."""
        lines = []
        if not isinstance(result, dict):
            return lines
        ports = result.get("ports")
        if isinstance(ports, dict) and ports:
            self.expected[host] = len(ports)
        known = self.replicas.setdefault(host, {})
        roll = result.get("roll") if isinstance(result.get("roll"), dict) else None
        # a roll's result, or a roll halted before its turn: its replicas as the engine has them
        is_roll = roll is not None or "failed_index" in result or bool(result.get("not_started"))
        rolled = set((roll or {}).get("done") or [])
        for r in result.get("replicas") or []:
            if not isinstance(r, dict) or r.get("pending"):
                continue
            index, action, image = r.get("index"), r.get("action"), r.get("image")
            label = "%s-%s" % (host, index if index is not None else "?")
            if failed:
                if index is None:
                    continue
                if is_roll:
                    # a roll's result reads every replica from the engine: what runs now
                    known[index] = image
                    if index not in rolled:
                        continue
                elif action in ("failed", "unchanged"):
                    continue  # not reached or undone: its image field is the requested one
                elif action == "removed":
                    known.pop(index, None)
                    self.done.discard((host, index))
                    lines.append("replica %s %s" % (label, self.verb("removed")))
                    continue
            if action == "removed":
                if index is not None:
                    known.pop(index, None)
                    self.done.discard((host, index))
                lines.append("replica %s %s" % (label, self.verb("removed")))
                continue
            if index is None:
                continue
            known[index] = image
            self.done.add((host, index))
            total = max(self.total(), len(self.done))
            lines.append("replica %s -> %s (%s %d/%d) %s"
                         % (label, image or "?", "planned" if self.check else "done",
                            len(self.done), total, self.verb(action or "?")))
        return lines

    def verb(self, action):
        """The replica's action, as a prediction in check mode."""
        if not self.check:
            return action
        return "would stay unchanged" if action == "unchanged" else "would be %s" % action

    def failure(self, host, result, ignored=False, unreachable=False):
        rolled_back = None
        if isinstance(result, dict):
            raw, source = result.get("msg"), result
            items = result.get("results")
            if isinstance(items, list):   # a loop: the first failed item says more
                bad = [r for r in items if isinstance(r, dict) and r.get("failed")]
                if bad and bad[0].get("msg"):
                    raw, source = bad[0]["msg"], bad[0]
            rolled_back = rollback_text(source)
            if source.get("not_started") and not ignored:
                self.not_started.add(host)
        else:
            raw = result
        msg = first_line(raw)
        if rolled_back:   # said apart: the message's end (which says so) may be cut
            msg += " [%s]" % rolled_back
        if unreachable:
            return "UNREACHABLE %s: %s" % (host, msg)
        if ignored:
            return "FAILED %s (ignored): %s" % (host, msg)
        self.failed_msgs.setdefault(host, msg)
        return "FAILED %s: %s" % (host, msg)

    # -- end
    def summary(self, stats):
        """stats: {host: {ok, changed, failures, unreachable, ...}} -> table lines."""
        rows = [("HOST", "RESULT", "WOULD-RUN", "WOULD-CHANGE") if self.check
                else ("HOST", "RESULT", "REPLICAS", "CHANGED")]
        for host in sorted(stats, key=natural_key):
            s = stats[host]
            if s.get("unreachable"):
                res = "unreachable"
            elif s.get("failures"):
                res = "failed"
            else:
                res = "ok"
            rows.append((host, res, self.replicas_text(host), str(s.get("changed", 0))))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = ["rollout: summary (check mode: nothing changed; replicas and counts are what a "
                 "real run would do)" if self.check else "rollout: summary"]
        for r in rows:
            lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        return lines

    def replicas_text(self, host):
        known = self.replicas.get(host)
        if not known:
            # halted before its turn, by a run that did not read its replicas (its turn
            # awaited on the controller): unchanged
            return "unchanged (not rolled)" if host in self.not_started else "-"
        by_image = {}
        for index in sorted(known):
            by_image.setdefault(known[index] or "?", []).append(str(index))
        text = "; ".join("%s [%s]" % (img, ",".join(ix)) for img, ix in sorted(by_image.items()))
        return text + " (not rolled)" if host in self.not_started else text


def rollback_text(result):
    """'rolled back to <image>' for a failed roll that put the previous release back (the
    failed replica's image as the result read it from the engine), else None."""
    if not isinstance(result, dict) or not result.get("rolled_back"):
        return None
    failed_index = result.get("failed_index")
    for r in result.get("replicas") or []:
        if isinstance(r, dict) and r.get("index") == failed_index and r.get("image"):
            return "rolled back to %s" % r["image"]
    return "rolled back"


# ---------------------------------------------------------------- ansible adapter
def task_action(task):
    for attr in ("resolved_action", "action"):
        try:
            value = getattr(task, attr, None)
        except Exception:  # resolved_action may warn/raise when not resolved
            value = None
        if value:
            return value
    return None


def is_service_task(task):
    action = task_action(task)
    return action in SERVICE_ACTIONS


def is_plan(task):
    """A task forced into check mode in a real run predicts; it converges nothing."""
    task_check = getattr(task, "check_mode", None)
    if task_check is not True:
        return False
    return not cli_check_mode()


def play_hosts(play):
    """(all hosts of the play, hosts of the current batch) as names."""
    try:
        inventory = play.get_variable_manager()._inventory
        pattern = play.hosts
        order = getattr(play, "order", None)
        all_hosts = [h.name for h in inventory.get_hosts(pattern, ignore_restrictions=True,
                                                         order=order)]
        batch = [h.name for h in inventory.get_hosts(pattern, order=order)]
        return all_hosts, batch
    except Exception:
        return [], []


def result_parts(result):
    """(task, host name, result dict) of a task result, on ansible-core 2.19+ and older."""
    task = getattr(result, "task", None) or getattr(result, "_task", None)
    host = getattr(result, "host", None) or getattr(result, "_host", None)
    data = getattr(result, "result", None)
    if not isinstance(data, dict):
        data = getattr(result, "_result", None)
    return task, (host.get_name() if host is not None else "?"), data if isinstance(data, dict) else {}


def result_items(data):
    """A loop's successful item results, or the result itself."""
    if isinstance(data.get("results"), list):
        return [r for r in data["results"] if isinstance(r, dict) and not r.get("failed")
                and not r.get("skipped")]
    return [data]


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "dockyard.fleet.rollout"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None, options=None):
        super().__init__(display=display, options=options)
        self.state = RolloutState(check=cli_check_mode())

    def _out(self, line):
        self._display.display(line)

    def v2_playbook_on_play_start(self, play):
        self.state.check = cli_check_mode()
        all_hosts, batch = play_hosts(play)
        serial = getattr(play, "serial", None) or []
        if not isinstance(serial, list):
            serial = [serial]
        self._out(self.state.play_start(play.get_name().strip(), all_hosts, batch, serial))

    def _service_lines(self, result, loop_done):
        task, host, data = result_parts(result)
        if task is None or not is_service_task(task) or is_plan(task):
            return
        if loop_done and isinstance(data.get("results"), list):
            return  # every item was shown as it finished (v2_runner_item_on_ok)
        for res in result_items(data):
            for line in self.state.service_result(host, res):
                self._out("rollout: " + line)

    def v2_runner_on_ok(self, result):
        self._service_lines(result, loop_done=True)

    def v2_runner_item_on_ok(self, result):
        self._service_lines(result, loop_done=False)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        task, host, data = result_parts(result)
        if task is not None and is_service_task(task) and not is_plan(task):
            # what the failed run completed, and what runs now (a rollback's image)
            # (a loop's ok items were shown as they finished; the result itself may lack
            # the "failed" key the callback was called for)
            items = [r for r in data["results"] if isinstance(r, dict) and r.get("failed")] \
                if isinstance(data.get("results"), list) else [data]
            for res in items:
                for line in self.state.service_result(host, res, failed=True):
                    self._out("rollout: " + line)
        self._out("rollout: " + self.state.failure(host, data, ignored=ignore_errors))

    def v2_runner_on_unreachable(self, result):
        _task, host, data = result_parts(result)
        self._out("rollout: " + self.state.failure(host, data, unreachable=True))

    def v2_playbook_on_stats(self, stats):
        per_host = {h: stats.summarize(h) for h in sorted(stats.processed)}
        for line in self.state.summary(per_host):
            self._out(line)
