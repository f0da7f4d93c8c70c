# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deploy bookkeeping on a host: the deploy lock, the release record (current and
previous versions of an app) and the audit log. Plain files, no engine.

Private to dockyard.fleet.
"""
from __future__ import annotations

import json
import os
import re
import sys
import time

NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$")


# Where an app's release files live: options of dockyard.fleet.release, and suboptions of
# dockyard.fleet.service's lock and record (the same defaults everywhere).
RELEASE_PATH_ARGS = dict(
    state_dir=dict(type="path", default="/var/lib/dockyard/releases"),
    lock_dir=dict(type="path", default="/run/dockyard/locks"),
    audit_log=dict(type="path", default="/var/log/dockyard/deploy.log"),
)


class ReleaseError(Exception):
    pass


class LockHeld(ReleaseError):
    pass


def check_name(name, option="app"):
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ReleaseError("option %s: %r is not a valid app name (letters, digits, '_', '.', '-'; "
                           "starting with a letter or digit)" % (option, name))
    return name


class ReleaseStore:
    """Files of one app:
    <lock_dir>/<app>.lock/owner.json  the deploy lock (mkdir is atomic). /run by default:
                                      a host that crashed and rebooted holds no lock.
    <state_dir>/<app>.json            {"current": {...}, "previous": [{...}, ...]}
    and one audit file shared by all apps: a line per deploy."""

    def __init__(self, state_dir, app, audit_log, clock=time.time, lock_dir=None):
        self.dir = state_dir
        self.locks = lock_dir or state_dir
        self.app = check_name(app)
        self.audit_log = audit_log
        self.clock = clock

    # ------------------------------------------------------------ lock
    @property
    def lock_dir(self):
        return os.path.join(self.locks, self.app + ".lock")

    def lock_owner(self):
        try:
            with open(os.path.join(self.lock_dir, "owner.json")) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None if not os.path.isdir(self.lock_dir) else {}

    def acquire(self, token, owner, timeout=0, stale_after=3600, poll=0.5, check_mode=False,
                options=("lock_timeout", "stale_after")):
        """Take the lock, waiting up to timeout seconds. Re-entrant for the same token.
        Returns "acquired", "held" (already ours) or "would_acquire" (check mode). options:
        the names of the timeout and stale_after options in the message when it is held."""
        deadline = self.clock() + timeout
        while True:
            held = self.lock_owner()
            if held is not None and held.get("token") == token:
                return "held"
            if held is not None and held.get("since") and \
                    self.clock() - held["since"] > stale_after:
                self._break()
                held = None
            if held is None:
                if check_mode:
                    return "would_acquire"
                os.makedirs(self.locks, mode=0o750, exist_ok=True)
                try:
                    os.mkdir(self.lock_dir, 0o700)
                except FileExistsError:
                    continue
                self._write_json(os.path.join(self.lock_dir, "owner.json"),
                                 {"token": token, "owner": owner, "since": self.clock(),
                                  "pid": os.getpid()})
                return "acquired"
            if self.clock() >= deadline:
                since = held.get("since")
                when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since)) if since else "?"
                raise LockHeld("another deploy of %r holds the lock on this host: %s since %s "
                               "(waited %ss, option %s; a lock older than %ss is taken "
                               "over, option %s)"
                               % (self.app, held.get("owner", "?"), when, timeout, options[0],
                                  stale_after, options[1]))
            time.sleep(poll)

    def release(self, token, force=False):
        held = self.lock_owner()
        if held is None:
            return False
        if not force and held.get("token") not in (None, token):
            return False
        self._break()
        return True

    def _break(self):
        try:
            os.unlink(os.path.join(self.lock_dir, "owner.json"))
        except OSError:
            pass
        try:
            os.rmdir(self.lock_dir)
        except OSError:
            pass

    # ------------------------------------------------------------ record
    @property
    def record_path(self):
        return os.path.join(self.dir, self.app + ".json")

    def read(self):
        try:
            with open(self.record_path) as f:
                data = json.load(f)
        except (OSError, ValueError):
            data = {}
        data.setdefault("current", None)
        data.setdefault("previous", [])
        return data

    def plan_record(self, version, image, keep):
        """The record after deploying version: returns (new_record, version_changed)."""
        old = self.read()
        cur = old["current"]
        if cur and cur.get("version") == version and cur.get("image") == image:
            return old, False
        previous = list(old["previous"])
        if cur:
            previous.insert(0, cur)
        previous = [p for p in previous if p.get("version") != version][:max(keep - 1, 0)]
        return {"current": {"version": version, "image": image, "since": self.clock()},
                "previous": previous}, True

    def write(self, record):
        os.makedirs(self.dir, mode=0o750, exist_ok=True)
        self._write_json(self.record_path, record)

    def audit(self, who, from_version, to_version, result, detail=""):
        os.makedirs(os.path.dirname(self.audit_log), mode=0o750, exist_ok=True)
        line = format_audit(self.clock(), self.app, who, from_version, to_version, result, detail)
        fd = os.open(self.audit_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)
        return line

    @staticmethod
    def _write_json(path, data):
        tmp = path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, sort_keys=True)
        os.replace(tmp, path)


def _field(value):
    text = str(value if value not in (None, "") else "-")
    return re.sub(r"\s+", "_", text)


def format_audit(ts, app, who, from_version, to_version, result, detail=""):
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
    line = "%s app=%s by=%s from=%s to=%s result=%s" % (
        stamp, _field(app), _field(who), _field(from_version), _field(to_version), _field(result))
    if detail:
        line += " detail=%s" % _field(detail)
    return line


def take_lock(store, token, owner, timeout=0, stale_after=3600, force=False, check_mode=False,
              options=("lock_timeout", "stale_after")):
    """The deploy lock as dockyard.fleet.release (state=locked) and dockyard.fleet.service
    (option lock) take it: with force, any holder's lock is broken first (not in check mode).
    Returns acquire()'s status; raises LockHeld when another run holds it past timeout."""
    if force and not check_mode:
        store.release(token, force=True)
    return store.acquire(token, owner, timeout, stale_after, check_mode=check_mode, options=options)


def record_release(store, token, owner, version, image, keep=5, changes=False, result=None,
                   detail=None, force=False, check_mode=False, diff=False):
    """What dockyard.fleet.release state=recorded does, for it and for the service module's
    option record: make version current, write an audit line when it moved or changes is
    true, release the lock of token. Returns the module result (changed, lock, current,
    previous, audit_line when written, diff when asked)."""
    record = store.read()
    out = dict(changed=False, lock="none")
    new, moved = store.plan_record(version, image, keep)
    before = (record["current"] or {}).get("version")
    if moved or changes:
        out["changed"] = True
        if not check_mode:
            if moved:
                store.write(new)
            out["audit_line"] = store.audit(owner, before, version, result or "ok", detail or "")
        if diff:
            out["diff"] = dict(before={"version": before}, after={"version": version})
    if not check_mode and store.release(token, force):
        out["lock"] = "released"
    out["current"] = new["current"]
    out["previous"] = new["previous"]
    return out


# ------------------------------------------------------------------ the service module's calls
# dockyard.fleet.service's options lock and record, as calls with plain (JSON) arguments:
# made in the module on the host (LocalRelease), or by the action plugin of a run on the
# controller, which sends this file with the call to the host's Python over the task's
# connection (one session for both, serve(); no module run: _engine_forward.HostRelease).


def lock_and_read(lk, check_mode):
    """Option lock (its suboptions as lk): take the deploy lock; returns the status and the
    release record found. Raises LockHeld or ReleaseError (OSError too)."""
    store = ReleaseStore(lk["state_dir"], lk["app"], lk["audit_log"], lock_dir=lk["lock_dir"])
    record = store.read()
    status = take_lock(store, lk["token"], lk["owner"], lk["timeout"], lk["stale_after"],
                       lk["force"], check_mode, options=("lock.timeout", "lock.stale_after"))
    return {"lock": status, "current": record["current"], "previous": record["previous"]}


def record_settled(rec, image, changes, check_mode):
    """Option record (its suboptions as rec): record the release, audit, release the lock;
    returns record_release()'s result."""
    store = ReleaseStore(rec["state_dir"], rec["app"], rec["audit_log"], lock_dir=rec["lock_dir"])
    return record_release(store, rec["token"], rec["owner"], rec["version"], image, rec["keep"],
                          changes, None, rec["detail"], False, check_mode)


class LocalRelease:
    """The release files of the machine the run is on (the module on the host)."""
    lock = staticmethod(lock_and_read)
    record = staticmethod(record_settled)


CALLS = {"lock": lock_and_read, "record": record_settled}


# The prefix of an answer in a session (serve): lines of stdout without it are not answers
# (whatever the login shell of the host prints before the program starts).
ANSWER = "dockyard-release-answer: "


def answer_call(raw, prefix=""):
    """The host's side of a call from the controller: raw is {"call": name, "args": [...]}
    as JSON; prints one JSON line: {"result": ...}, {"held": msg} or {"error": msg}."""
    call = json.loads(raw)
    try:
        out = {"result": CALLS[call["call"]](*call["args"])}
    except LockHeld as exc:
        out = {"held": str(exc)}
    except (ReleaseError, OSError) as exc:
        out = {"error": str(exc)}
    sys.stdout.write(prefix + json.dumps(out) + "\n")


def serve():
    """The host's side of a session (one per service run on the controller: its lock and its
    record over one SSH session): one call per line of stdin, each answered at once on a line
    of stdout starting with ANSWER, until the controller closes stdin."""
    while True:
        line = sys.stdin.readline()
        if not line:
            return
        answer_call(line, ANSWER)
        sys.stdout.flush()
