# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hosts of one rolling batch taking turns, on the controller (service action plugin).

The service task runs for every host of the batch at once (one worker each); with
roll.batch_id and roll.batch_hosts each run waits on the controller until the runs of the
hosts before it in batch_hosts have ended, then rolls. Once one has failed (or its worker
died), the later ones do not roll. No polling while a run is going on: each run holds an
flock on a file of its own until its end, and the next one blocks on that lock; a file made
already locked (rename) tells "not started yet" from "ended".

Files, in <tmp>/dockyard-roll-<uid>/<sha1 of batch_id>/ (mode 0700): <n>.lock (held while
host n's run lives), <n>.end (written when it ends), failed (the first host that failed).
The last host of the list removes the directory when it ends. Private to dockyard.fleet.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tempfile
import time


def _key(text):
    return hashlib.sha1(text.encode()).hexdigest()[:16]


class Turns:
    def __init__(self, batch_id, me, hosts=None, base=None, poll=0.05):
        root = os.path.join(base or tempfile.gettempdir(), "dockyard-roll-%d" % os.getuid())
        self.dir = os.path.join(root, hashlib.sha1(batch_id.encode()).hexdigest())
        self.me = me
        hosts = list(hosts or [])
        # not in the list (it was made when this host looked out of the batch): after them all
        self.before = hosts[:hosts.index(me)] if me in hosts else hosts
        self.last = bool(hosts) and hosts[-1] == me
        self.poll = poll
        self.ending = None  # True/False once end() was called
        self._fd = None
        os.makedirs(root, mode=0o700, exist_ok=True)
        os.makedirs(self.dir, mode=0o700, exist_ok=True)

    def _path(self, host, ext):
        return os.path.join(self.dir, "%s.%s" % (_key(host), ext))

    def failed_host(self):
        """The host whose run failed first in this batch, or None."""
        try:
            with open(os.path.join(self.dir, "failed"), encoding="utf-8") as f:
                return f.read().strip() or "?"
        except FileNotFoundError:
            return None

    def record_failure(self, host):
        try:
            fd = os.open(os.path.join(self.dir, "failed"), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            return  # the first failure halts the rest; keep its name
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(host)

    def start(self):
        """Announce this run: its lock file appears already locked."""
        tmp = self._path(self.me, "lock.%d" % os.getpid())
        self._fd = os.open(tmp, os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        os.rename(tmp, self._path(self.me, "lock"))

    def wait(self):
        """Until every host before this one in the list has ended (or its run died)."""
        for host in self.before:
            self._wait_for(host)

    def _wait_for(self, host):
        end, lock = self._path(host, "end"), self._path(host, "lock")
        while not os.path.exists(end):
            try:
                fd = os.open(lock, os.O_RDONLY)
            except FileNotFoundError:
                time.sleep(self.poll)  # its run has not started yet
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_SH)  # blocks while that run lives
            finally:
                os.close(fd)
            if not os.path.exists(end):  # the lock is free and no end: that run died
                self.record_failure(host)
            return

    def end(self, ok):
        """This run has ended; the next host may go (or stop, when this one failed)."""
        if self.ending is not None:
            return
        self.ending = ok
        if not ok:
            self.record_failure(self.me)
        with open(self._path(self.me, "end"), "w", encoding="utf-8") as f:
            f.write("ok" if ok else "failed")
        if self._fd is not None:
            os.close(self._fd)  # releases the lock
            self._fd = None
        if self.last:  # every run before this one has ended: nothing reads the files any more
            shutil.rmtree(self.dir, ignore_errors=True)
