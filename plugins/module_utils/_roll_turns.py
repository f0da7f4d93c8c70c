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
The last host of the list removes the directory when it ends; one left behind (that host's
worker was killed) is removed by a later batch once it is a day old. Private to dockyard.fleet.

Gate: so that a host's module run need not start only once the host before it has ended
(starting it is most of the time between two hosts' rolls), the run starts at once and
prepares (reads only), then asks the controller for its turn on a unix socket forwarded to
the host (roll.gate). The controller answers "go" once this host's turn has come, or
"halt <host>" when an earlier host has failed; nothing changes on the host before that.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import socket
import tempfile
import threading
import time


STALE_AFTER = 24 * 3600  # seconds: no batch's rolls last that long


def _key(text):
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def _sweep(root, keep, now=None):
    """Remove the batch directories under root untouched for STALE_AFTER (left by a last
    host whose worker died before it could remove its batch's), but keep."""
    cutoff = (now or time.time()) - STALE_AFTER
    try:
        entries = list(os.scandir(root))
    except OSError:
        return
    for entry in entries:
        try:
            old = entry.is_dir(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < cutoff
        except OSError:
            continue
        if old and entry.path != keep:
            shutil.rmtree(entry.path, ignore_errors=True)


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
        if self.last:  # once per batch
            _sweep(root, self.dir)

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


class Gate:
    """The controller end of roll.gate: a unix socket in the batch's directory that answers the
    module's one connection with this host's verdict once its turn has come (Turns.wait)."""

    def __init__(self, turns, accept_poll=0.2):
        self.turns = turns
        self.path = turns._path(turns.me, "gate")
        self._own_dir = None
        if len(self.path.encode()) > 100:  # a unix socket path has room for ~107 bytes
            self._own_dir = tempfile.mkdtemp(prefix="dyg-", dir="/tmp")  # mode 0700
            self.path = os.path.join(self._own_dir, "gate")
        self.verdict = None
        self.error = None
        self._stop = threading.Event()
        self._poll = accept_poll
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(self.path)
        self._sock.listen(1)
        self._sock.settimeout(accept_poll)
        self._thread = threading.Thread(target=self._serve, daemon=True,
                                        name="dockyard-gate-%s" % turns.me)

    def start(self):
        self._thread.start()
        return self

    def _serve(self):
        try:
            self.turns.wait()
            halted = self.turns.failed_host()
            self.verdict = "go" if halted is None else "halt " + halted
            while not self._stop.is_set():
                try:
                    conn, _addr = self._sock.accept()
                except socket.timeout:
                    continue
                with conn:
                    conn.settimeout(10)
                    conn.sendall(self.verdict.encode("utf-8") + b"\n")
                break
        except BaseException as exc:  # noqa: B036 - reported by close()
            self.error = exc
        finally:
            self._remove()

    def discard(self):
        """Not used after all (the socket could not be forwarded): nothing was started."""
        self._remove()

    def _remove(self):
        self._sock.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass
        if self._own_dir:
            shutil.rmtree(self._own_dir, ignore_errors=True)

    def close(self):
        """Once the module run has ended: wait until this host's turn has come (the turns end
        in order), stop answering. Raises what the waiting thread met."""
        self._stop.set()
        self._thread.join()
        if self.error is not None:
            raise self.error
