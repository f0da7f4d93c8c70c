#!/usr/bin/python
# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: release
short_description: Deploy lock, release record and audit log of an app on a host
description:
  - Bookkeeping for M(dockyard.fleet.service) based deploys, kept in plain files on the host.
  - C(state=locked) takes the app's deploy lock on this host (an atomic directory), so two
    deploys of the same app cannot interleave; the second one waits up to O(lock_timeout) and
    then fails naming the holder. It returns the release record (current and previous versions).
  - C(state=recorded) makes O(version) the current release (the former one moves to the front of
    C(previous), at most O(keep) releases are remembered, also when the version stays), writes
    one audit line when the version moved or O(changes) is true, and releases the lock. It fails
    without writing anything when another run (another O(token)) holds the lock, unless
    O(force); with no lock held at all it records. In check mode that holder is not checked
    (the run's own C(locked) step took no lock in check mode).
  - A release record that cannot be read (not JSON, truncated, unreadable) fails the task
    naming the file (O(state_dir)) instead of being taken as empty, which would drop the
    history; only C(state=unlocked) warns and releases the lock all the same.
  - C(state=unlocked) releases the lock (for C(always) blocks); with O(result) it also writes an
    audit line, e.g. for a failed or rolled back rollout.
  - C(state=query) only reads the record.
  - Taking and releasing a lock is not reported as a change (nothing is different afterwards);
    recording a new version or writing an audit line is.
extends_documentation_fragment:
  - dockyard.fleet.attributes
options:
  app:
    description: Name of the app (letters, digits, C(_), C(.), C(-)).
    type: str
    required: true
  state:
    description: What to do, see the description.
    type: str
    default: query
    choices: [locked, recorded, unlocked, query]
  token:
    description:
      - Identifies one deploy run. The lock is re-entrant for the same token, and only the
        token that holds it releases it (unless O(force)).
      - Required for C(locked), C(recorded) and C(unlocked).
    type: str
  owner:
    description: Who deploys (for the lock and the audit line), for example C(alice@laptop).
    type: str
    default: unknown
  lock_timeout:
    description: Seconds to wait for a lock held by another deploy. C(0) fails at once. At most a year.
    type: int
    default: 0
  stale_after:
    description:
      - A lock older than this many seconds is taken over (its holder died). At least C(1), at
        most a year.
      - A lock without a readable owner (a run that died while taking it) dates from its
        directory's modification time.
      - Two runs taking over one stale lock at once cannot both get it.
    type: int
    default: 3600
  force:
    description:
      - Release (C(unlocked), C(recorded)) or take over (C(locked)) the lock whoever holds it.
      - With C(recorded), also records when another run holds the lock.
      - In check mode C(locked) then returns C(would_acquire), as the real run acquires.
    type: bool
    default: false
  version:
    description: The version now deployed. Required for C(recorded).
    type: str
  image:
    description: The image reference of O(version). Required for C(recorded).
    type: str
  keep:
    description: How many releases (the current one included) the record remembers.
    type: int
    default: 5
  changes:
    description: The deploy changed something on the host (for the audit line).
    type: bool
    default: false
  result:
    description: Result written to the audit line, for example C(ok), C(failed), C(rolled_back).
    type: str
  detail:
    description: Free text added to the audit line (whitespace becomes C(_)). Never put secrets here.
    type: str
  state_dir:
    description: Directory of the release records (an absolute path).
    type: path
    default: /var/lib/dockyard/releases
  lock_dir:
    description:
      - Directory of the deploy locks (an absolute path). Under C(/run) (a tmpfs) by default, so a host that
        crashed in the middle of a deploy and rebooted holds no stale lock.
      - A lock left by a controller that died is taken over after O(stale_after), or at once
        with O(force).
    type: path
    default: /run/dockyard/locks
  audit_log:
    description: Audit log file (one line per deploy, mode 0640; an absolute path, not a directory).
    type: path
    default: /var/log/dockyard/deploy.log
author:
  - dockyard.fleet maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Take the deploy lock (wait up to 2 minutes for another deploy)
  dockyard.fleet.release:
    app: web
    state: locked
    token: "{{ deploy_run_token }}"
    owner: "{{ lookup('env', 'USER') }}"
    lock_timeout: 120
  register: web_release

- name: Record v2 and release the lock
  dockyard.fleet.release:
    app: web
    state: recorded
    token: "{{ deploy_run_token }}"
    version: v2
    image: registry.example.com/web:v2
    changes: "{{ web_service is changed }}"
"""

RETURN = r"""
current:
  description: The current release after the task, or null.
  returned: always
  type: dict
  sample: {"version": "v2", "image": "dockyard/demo:v2", "since": 1764351000.5}
previous:
  description: Earlier releases, most recent first.
  returned: always
  type: list
  elements: dict
lock:
  description: C(acquired), C(held) (already ours), C(would_acquire) (check mode), C(released) or C(none).
  returned: always
  type: str
audit_line:
  description: The audit line written, if any.
  returned: when written
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockyard.fleet.plugins.module_utils._release import (
    RELEASE_PATH_ARGS, LockHeld, ReleaseError, ReleaseStore, check_lock_times, check_paths,
    record_release, take_lock)


def run(module):
    p = module.params
    state = p["state"]
    if state != "query" and not p["token"]:
        module.fail_json(msg="option token is required with state=%s" % state)
    if state == "recorded":
        for opt in ("version", "image"):
            if not p[opt]:
                module.fail_json(msg="option %s is required with state=recorded" % opt)
    if p["keep"] < 1:
        module.fail_json(msg="option keep must be at least 1, got %d" % p["keep"])
    why = check_lock_times(p["lock_timeout"], p["stale_after"]) or check_paths(p)
    if why:
        module.fail_json(msg=why)
    store = ReleaseStore(p["state_dir"], p["app"], p["audit_log"], lock_dir=p["lock_dir"])
    if state == "recorded":
        return record_release(store, p["token"], p["owner"], p["version"], p["image"], p["keep"],
                              p["changes"], p["result"], p["detail"], p["force"],
                              module.check_mode, module._diff)
    if state == "unlocked":
        return unlock(module, store)
    record = store.read()
    result = dict(changed=False, lock="none")
    if state == "locked":
        result["lock"] = take_lock(store, p["token"], p["owner"], p["lock_timeout"],
                                   p["stale_after"], p["force"], module.check_mode)
    result["current"] = record["current"]
    result["previous"] = record["previous"]
    return result


def unlock(module, store):
    """state=unlocked: the audit line (with result), then the lock released. A record that
    cannot be read is only a warning here: an always block must still release the lock."""
    p = module.params
    try:
        record = store.read()
    except ReleaseError as exc:
        module.warn("%s (the lock is released all the same)" % exc)
        record = {"current": None, "previous": []}
    result = dict(changed=False, lock="none")
    if p["result"]:
        store.check_audit_log()
        result["changed"] = True
        cur = (record["current"] or {}).get("version")
        line = store.audit_line(p["owner"], cur, p["version"] or cur, p["result"], p["detail"] or "")
        if not module.check_mode:
            line = store.audit(p["owner"], cur, p["version"] or cur, p["result"], p["detail"] or "")
            result["audit_line"] = line
        if module._diff:
            result["diff"] = dict(before="", after=line + "\n", before_header=store.audit_log,
                                  after_header=store.audit_log)
    if module.check_mode:
        if store.would_release(p["token"], p["force"]):
            result["lock"] = "released"
    else:
        try:
            if store.release(p["token"], p["force"]):
                result["lock"] = "released"
        except OSError as exc:
            raise ReleaseError("the lock %s could not be released: %s" % (store.lock_dir, exc),
                               changed=result["changed"]) from None
    result["current"] = record["current"]
    result["previous"] = record["previous"]
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            app=dict(type="str", required=True),
            state=dict(type="str", default="query", choices=["locked", "recorded", "unlocked", "query"]),
            token=dict(type="str", no_log=False),
            owner=dict(type="str", default="unknown"),
            lock_timeout=dict(type="int", default=0),
            stale_after=dict(type="int", default=3600),
            force=dict(type="bool", default=False),
            version=dict(type="str"),
            image=dict(type="str"),
            keep=dict(type="int", default=5),
            changes=dict(type="bool", default=False),
            result=dict(type="str"),
            detail=dict(type="str"),
            **RELEASE_PATH_ARGS,
        ),
        supports_check_mode=True,
    )
    try:
        module.exit_json(**run(module))
    except LockHeld as exc:
        module.fail_json(msg=str(exc), lock="held_by_other")
    except (ReleaseError, OSError) as exc:
        module.fail_json(msg=str(exc), changed=getattr(exc, "changed", False))


if __name__ == "__main__":
    main()
