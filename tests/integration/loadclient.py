# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A bounded HTTP load client for integration tests (rollouts, reloads, drains).

    load = LoadClient("http://10.77.3.5/", max_seconds=20, concurrency=4)
    load.start()                 # background threads
    ...                          # do the thing under test
    stats = load.stop()          # -> LoadStats; stops by itself at max_requests / max_seconds
    assert stats.failed == 0 and stats.ok > 0
    stats.versions               # {"v1": 120, "v2": 80}: which demo version answered

Every request uses a new connection (no keep-alive), so each one goes through the
load balancer's accept path: exactly what a reload or drain must not break. Only lab
(10.77.0.0/16) and loopback addresses are allowed.

Each thread pauses `interval` seconds (20 ms unless told) between its requests: two threads
make about 85 requests a second, so any gap in service of more than about 25 ms meets a
request for certain, and a shorter one meets one as often as requests fall into it (the
HAProxy reload test runs flat out for that). The pause is what the load costs the machine,
measured through a lab's HAProxy to BusyBox httpd (client, HAProxy, httpd and kernel
together): 0.72 cores at 5 ms (240 requests a second, the pause before CI's budget forced
a choice), 0.47 at 10 ms, 0.31 at 20 ms, 0.09 of it the idle lab. With no pause
(`interval=0`) the client takes all the CPU it can get: on loopback against BusyBox httpd,
2,450 requests a second and 1.6 of the machine's 2 cores, so a test under that load crawls
and so do the other workers' files.
"""
from __future__ import annotations

import http.client
import ipaddress
import re
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

ALLOWED = [ipaddress.ip_network("10.77.0.0/16"), ipaddress.ip_network("127.0.0.0/8"),
           ipaddress.ip_network("::1/128")]
VERSION_RE = re.compile(r"dockyard demo (\S+)")


@dataclass
class LoadStats:
    ok: int = 0
    failed: int = 0
    statuses: Counter = field(default_factory=Counter)
    versions: Counter = field(default_factory=Counter)
    errors: list = field(default_factory=list)        # first few failures, for messages
    latencies: list = field(default_factory=list)     # seconds, successful requests
    elapsed: float = 0.0

    @property
    def total(self) -> int:
        return self.ok + self.failed

    def latency(self, q: float) -> float:
        """Latency quantile (0..1) of successful requests, in seconds."""
        if not self.latencies:
            return 0.0
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(q * len(xs)))]

    def summary(self) -> str:
        return ("%d ok, %d failed in %.1fs; statuses %s; versions %s; p50 %.1fms p99 %.1fms; "
                "errors %s" % (self.ok, self.failed, self.elapsed, dict(self.statuses),
                               dict(self.versions), self.latency(0.5) * 1e3,
                               self.latency(0.99) * 1e3, self.errors[:5]))


class LoadClient:
    def __init__(self, url: str, *, max_requests: int | None = None, max_seconds: float = 30.0,
                 concurrency: int = 2, timeout: float = 5.0, interval: float = 0.02,
                 expect_status: int = 200, verify_tls: bool = False):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("url must be http(s)://address[:port]/path, got %r" % url)
        addr = ipaddress.ip_address(parts.hostname)   # an IP literal: no name resolution
        if not any(addr in net for net in ALLOWED):
            raise ValueError("load client only talks to lab or loopback addresses, not %s" % addr)
        if max_seconds is None or max_seconds <= 0:
            raise ValueError("max_seconds must be > 0: the client always stops by itself")
        self.scheme, self.host = parts.scheme, parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.path = (parts.path or "/") + ("?" + parts.query if parts.query else "")
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self.concurrency = max(1, concurrency)
        self.timeout = timeout
        self.interval = interval
        self.expect_status = expect_status
        self._ctx = None
        if self.scheme == "https":
            self._ctx = ssl.create_default_context()
            if not verify_tls:
                self._ctx.check_hostname = False
                self._ctx.verify_mode = ssl.CERT_NONE
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._issued = 0
        self._threads: list = []
        self._t0 = 0.0
        self.stats = LoadStats()

    # -- one request
    def _one(self):
        t = time.monotonic()
        try:
            if self._ctx is not None:
                conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout,
                                                   context=self._ctx)
            else:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                conn.request("GET", self.path, headers={"Connection": "close"})
                resp = conn.getresponse()
                body = resp.read(4096).decode("utf-8", "replace")
                status = resp.status
            finally:
                conn.close()
        except (OSError, http.client.HTTPException) as e:
            return False, None, None, "%s: %s" % (type(e).__name__, e), 0.0
        dt = time.monotonic() - t
        m = VERSION_RE.search(body)
        ok = status == self.expect_status
        return ok, status, (m.group(1) if m else None), (None if ok else "HTTP %d" % status), dt

    def _take(self) -> bool:
        with self._lock:
            if self._stop.is_set() or time.monotonic() - self._t0 >= self.max_seconds:
                return False
            if self.max_requests is not None and self._issued >= self.max_requests:
                return False
            self._issued += 1
            return True

    def _worker(self):
        while self._take():
            ok, status, version, err, dt = self._one()
            with self._lock:
                s = self.stats
                if ok:
                    s.ok += 1
                    s.latencies.append(dt)
                else:
                    s.failed += 1
                    if len(s.errors) < 20:
                        s.errors.append(err)
                if status is not None:
                    s.statuses[status] += 1
                if version:
                    s.versions[version] += 1
            if self.interval:
                self._stop.wait(self.interval)

    # -- public API
    def start(self) -> LoadClient:
        self._t0 = time.monotonic()
        self._threads = [threading.Thread(target=self._worker, daemon=True,
                                          name="loadclient-%d" % i)
                         for i in range(self.concurrency)]
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> LoadStats:
        """Stop (if still running), wait for in-flight requests, return the stats."""
        self._stop.set()
        for t in self._threads:
            t.join(self.timeout + 1)
        self.stats.elapsed = time.monotonic() - self._t0
        return self.stats

    def wait(self) -> LoadStats:
        """Let it run to its own limit (max_requests or max_seconds), then return the stats."""
        for t in self._threads:
            t.join(self.max_seconds + self.timeout + 1)
        return self.stop()

    def run(self) -> LoadStats:
        return self.start().wait()

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)
