# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deploy bookkeeping on a host: the deploy lock, the release record (current and
previous versions of an app) and the audit log. Plain files, no engine.

Private to dockyard.fleet.
"""
from __future__ import annotations

import fcntl
import json
import math
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
    """changed: whether something was already written on the host when it was raised."""

    def __init__(self, msg, changed=False):
        super().__init__(msg)
        self.changed = changed


class LockHeld(ReleaseError):
    pass


# The longest lock_timeout / stale_after taken (a year): beyond it a number is a typo, and a
# huge one would overflow the clock arithmetic.
MAX_SECONDS = 365 * 24 * 3600


def check_name(name, option="app"):
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ReleaseError("option %s: %r is not a valid app name (letters, digits, '_', '.', '-'; "
                           "starting with a letter or digit)" % (option, name))
    return name


def check_lock_times(timeout, stale_after, options=("lock_timeout", "stale_after")):
    """Why the lock's timeout / stale_after (named options) cannot be used, or None. A
    stale_after below 1 would take over every live lock."""
    if not 0 <= timeout <= MAX_SECONDS:
        return "option %s must be between 0 and %d (a year), got %s" % (options[0], MAX_SECONDS, timeout)
    if not 1 <= stale_after <= MAX_SECONDS:
        return "option %s must be between 1 and %d (a year), got %s" % (
            options[1], MAX_SECONDS, stale_after)
    return None


def check_paths(paths, prefix=""):
    """Why one of state_dir / lock_dir / audit_log (paths: option name -> value) cannot be
    used, or None: a relative path would land wherever the run's working directory is."""
    for opt in ("state_dir", "lock_dir", "audit_log"):
        value = paths.get(opt)
        if value is not None and (not isinstance(value, str) or not os.path.isabs(value)):
            return "option %s%s must be an absolute path, got %r" % (prefix, opt, value)
    return None


class ReleaseStore:
    """Files of one app:
    <lock_dir>/<app>.lock/owner.json  the deploy lock. /run by default: a host that crashed
                                      and rebooted holds no lock.
    <lock_dir>/.<app>.lock.guard      flock'ed for the moment a run looks at or changes the
                                      lock (never while the lock is held), so two runs taking
                                      over one stale lock cannot both get it
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
        """The lock's owner.json (token, owner, since), None when there is no lock. A lock
        without a readable owner.json, or whose since is not a number (a run that died while
        taking it, a hand edit), dates from the lock directory's mtime: it goes stale too."""
        try:
            with open(os.path.join(self.lock_dir, "owner.json")) as f:
                held = json.load(f)
        except (OSError, ValueError):
            held = None
        if not isinstance(held, dict):
            held = {}
        since = held.get("since")
        if isinstance(since, bool) or not isinstance(since, (int, float)) or math.isnan(since):
            try:
                held["since"] = os.stat(self.lock_dir).st_mtime
            except (FileNotFoundError, NotADirectoryError):
                return None
        for key in ("token", "owner"):
            if not isinstance(held.get(key), str):
                held.pop(key, None)
        return held

    def _guard(self):
        """An fd holding the app's guard flock (close it to let go)."""
        os.makedirs(self.locks, mode=0o750, exist_ok=True)
        fd = os.open(os.path.join(self.locks, "." + self.app + ".lock.guard"),
                     os.O_RDONLY | os.O_CREAT, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def acquire(self, token, owner, timeout=0, stale_after=3600, poll=0.5, check_mode=False,
                options=("lock_timeout", "stale_after"), force=False):
        """Take the lock, waiting up to timeout seconds. Re-entrant for the same token.
        Returns "acquired", "held" (already ours) or "would_acquire" (check mode: a stale lock,
        or with force any other run's, counts as gone; nothing is written). force: take over
        another run's lock at once. options: the names of the timeout and stale_after options
        in the message when it is held."""
        why = check_lock_times(timeout, stale_after, options)
        if why:
            raise ReleaseError(why)
        deadline = self.clock() + timeout
        while True:
            if check_mode:
                held = self.lock_owner()
                status = self._would(held, token, stale_after, force)
            else:
                fd = self._guard()
                try:
                    held = self.lock_owner()
                    status = self._would(held, token, stale_after, force)
                    if status == "would_acquire":
                        if held is not None:
                            self._break()
                        self._create(token, owner)
                        status = "acquired"
                finally:
                    os.close(fd)
            if status is not None:
                return status
            if self.clock() >= deadline:
                since = held.get("since")
                when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since)) if since else "?"
                raise LockHeld("another deploy of %r holds the lock on this host: %s since %s "
                               "(waited %ss, option %s; a lock older than %ss is taken "
                               "over, option %s)"
                               % (self.app, held.get("owner", "?"), when, timeout, options[0],
                                  stale_after, options[1]))
            time.sleep(poll)

    def _would(self, held, token, stale_after, force):
        """acquire's decision on the lock found: "held", "would_acquire" or None (wait)."""
        if held is not None and held.get("token") == token:
            return "held"
        if held is None or force or self.clock() - held["since"] > stale_after:
            return "would_acquire"
        return None

    def _create(self, token, owner):
        """The lock, made visible whole: owner.json is written in a directory of its own,
        which is then renamed into place (no empty lock is ever seen)."""
        tmp = os.path.join(self.locks, ".%s.lock.%d.%s.new" % (
            self.app, os.getpid(), os.urandom(4).hex()))
        os.mkdir(tmp, 0o700)
        try:
            self._write_json(os.path.join(tmp, "owner.json"),
                             {"token": token, "owner": owner, "since": self.clock(),
                              "pid": os.getpid()})
            os.rename(tmp, self.lock_dir)
        except BaseException:
            self._remove_tree(tmp)
            raise

    def would_release(self, token, force=False):
        """Whether release(token, force) releases a lock (check mode's prediction)."""
        held = self.lock_owner()
        return held is not None and (force or held.get("token") in (None, token))

    def release(self, token, force=False):
        """Release token's lock (any lock with force; a lock without a token too). Returns
        whether a lock was released; raises OSError when it cannot be removed."""
        fd = self._guard()
        try:
            if not self.would_release(token, force):
                return False
            self._break()
            return True
        finally:
            os.close(fd)

    def _break(self):
        """Remove the lock (under the guard): renamed out of the way first, so it is gone at
        once even if its files cannot all be removed; raises OSError when it cannot be."""
        grave = os.path.join(self.locks, ".%s.lock.%d.%s.old" % (
            self.app, os.getpid(), os.urandom(4).hex()))
        try:
            os.rename(self.lock_dir, grave)
        except FileNotFoundError:
            return
        self._remove_tree(grave)

    @staticmethod
    def _remove_tree(path):
        """Best effort: what is left is out of the lock's way."""
        try:
            for name in os.listdir(path):
                try:
                    os.unlink(os.path.join(path, name))
                except OSError:
                    pass
            os.rmdir(path)
        except OSError:
            pass

    # ------------------------------------------------------------ record
    @property
    def record_path(self):
        return os.path.join(self.dir, self.app + ".json")

    def read(self):
        """The record; an empty one when there is none yet. A record that cannot be read or
        is not a record fails (ReleaseError naming it): read as empty, the next record would
        drop the history (the versions a rollback goes back to)."""
        try:
            with open(self.record_path) as f:
                data = json.load(f)
        except FileNotFoundError:
            data = {}
        except (OSError, ValueError) as exc:
            raise ReleaseError("the release record %s cannot be read (option state_dir): %s; "
                               "fix or remove it" % (self.record_path, exc)) from None
        if not isinstance(data, dict) or not isinstance(data.get("current"), (dict, type(None))) \
                or not isinstance(data.get("previous", []), list) \
                or not all(isinstance(p, dict) for p in data.get("previous", [])):
            raise ReleaseError("the release record %s is not a release record (option state_dir): "
                               "fix or remove it" % self.record_path)
        data.setdefault("current", None)
        data.setdefault("previous", [])
        return data

    def plan_record(self, version, image, keep):
        """The record after deploying version: returns (new_record, version_changed). At most
        keep releases, also when the version stays (a lowered keep)."""
        old = self.read()
        cur = old["current"]
        if cur and cur.get("version") == version and cur.get("image") == image:
            return dict(old, previous=old["previous"][:max(keep - 1, 0)]), False
        previous = list(old["previous"])
        if cur:
            previous.insert(0, cur)
        previous = [p for p in previous if p.get("version") != version][:max(keep - 1, 0)]
        return {"current": {"version": version, "image": image, "since": self.clock()},
                "previous": previous}, True

    def write(self, record):
        os.makedirs(self.dir, mode=0o750, exist_ok=True)
        self._write_json(self.record_path, record)

    def check_audit_log(self):
        """ReleaseError when the audit log cannot be a file, before anything is written."""
        if not os.path.isabs(self.audit_log):
            raise ReleaseError("option audit_log must be an absolute path, got %r" % self.audit_log)
        if os.path.isdir(self.audit_log):
            raise ReleaseError("option audit_log: %s is a directory, not a file" % self.audit_log)

    def audit_line(self, who, from_version, to_version, result, detail=""):
        return format_audit(self.clock(), self.app, who, from_version, to_version, result, detail)

    def audit(self, who, from_version, to_version, result, detail=""):
        os.makedirs(os.path.dirname(self.audit_log), mode=0o750, exist_ok=True)
        line = self.audit_line(who, from_version, to_version, result, detail)
        fd = os.open(self.audit_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)
        return line

    @staticmethod
    def _write_json(path, data):
        """path replaced whole (a temp file of its own, synced, renamed): two runs writing at
        once never share a temp file, and a crash leaves the old or the new file."""
        tmp = "%s.%d.%s.tmp" % (path, os.getpid(), os.urandom(4).hex())
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(data, f, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        try:
            dfd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(dfd)
        except OSError:
            pass
        finally:
            os.close(dfd)


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
    (option lock) take it: with force, any holder's lock is taken over (in check mode: would
    be). Returns acquire()'s status; raises LockHeld when another run holds it past timeout."""
    return store.acquire(token, owner, timeout, stale_after, check_mode=check_mode,
                         options=options, force=force)


def check_holder(store, token, force=False):
    """LockHeld when another run (another token) holds the app's lock: a run that does not
    hold the lock must not record a release under the holder's feet. No lock at all is fine
    (a record without a lock)."""
    held = store.lock_owner()
    if force or held is None or held.get("token") in (None, token):
        return
    since = held.get("since")
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since)) if since else "?"
    raise LockHeld("another deploy of %r holds the lock on this host: %s since %s; this run "
                   "(option token) does not hold it, so it records nothing (option force "
                   "records anyway)" % (store.app, held.get("owner", "?"), when))


def record_release(store, token, owner, version, image, keep=5, changes=False, result=None,
                   detail=None, force=False, check_mode=False, diff=False):
    """What dockyard.fleet.release state=recorded does, for it and for the service module's
    option record: make version current (and remember at most keep releases), write an
    audit line when it moved or changes is true, release the lock of token. Returns the
    module result (changed, lock, current, previous, audit_line when written, diff when
    asked). Raises LockHeld when another run holds the lock (not in check mode, where this
    run's own lock step took no lock), ReleaseError with changed=True when it failed after
    writing something."""
    store.check_audit_log()
    record = store.read()
    if not check_mode:
        check_holder(store, token, force)
    out = dict(changed=False, lock="none")
    new, moved = store.plan_record(version, image, keep)
    before = (record["current"] or {}).get("version")
    if moved or changes or new != record:
        out["changed"] = True
        if not check_mode:
            if new != record:
                store.write(new)
            if moved or changes:
                try:
                    out["audit_line"] = store.audit(owner, before, version, result or "ok",
                                                    detail or "")
                except OSError as exc:
                    raise ReleaseError("release %s recorded in %s, but the audit line could not "
                                       "be written (option audit_log): %s"
                                       % (version, store.record_path, exc), changed=True) from None
        if diff:
            out["diff"] = dict(before={"version": before}, after={"version": version})
            if not (moved or changes):  # only fewer releases remembered (a lowered keep)
                out["diff"]["before"]["previous"] = [p.get("version") for p in record["previous"]]
                out["diff"]["after"]["previous"] = [p.get("version") for p in new["previous"]]
    if check_mode:
        if store.would_release(token, force):
            out["lock"] = "released"
    else:
        try:
            if store.release(token, force):
                out["lock"] = "released"
        except OSError as exc:
            raise ReleaseError("the lock %s could not be released: %s" % (store.lock_dir, exc),
                               changed=out["changed"]) from None
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
    as JSON; prints one JSON line: {"result": ...}, {"held": msg} or {"error": msg, "changed":
    whether something was written first}."""
    call = json.loads(raw)
    try:
        out = {"result": CALLS[call["call"]](*call["args"])}
    except LockHeld as exc:
        out = {"held": str(exc)}
    except ReleaseError as exc:   # changed: written before it failed (the controller says so)
        out = {"error": str(exc), "changed": bool(exc.changed)}
    except OSError as exc:
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
