"""The haproxy role's helper (roles/haproxy/files/dockyard-haproxy), its `stale` answer: the
running HAProxy's newest worker against the last write of the config and the certificate.
Here the "master" is this test process and its "worker" a child it starts."""
from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import subprocess
import time
from types import SimpleNamespace

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_PATH = os.path.join(REPO, "roles", "haproxy", "files", "dockyard-haproxy")
_LOADER = importlib.machinery.SourceFileLoader("dockyard_haproxy_helper", _PATH)
helper = importlib.util.module_from_spec(importlib.util.spec_from_loader(_LOADER.name, _LOADER))
_LOADER.exec_module(helper)


def test_stale_when_a_file_was_written_after_the_newest_worker_started(tmp_path):
    config, cert = tmp_path / "haproxy.cfg", tmp_path / "site.pem"
    config.write_text("global\n")
    cert.write_text("pem\n")
    a = SimpleNamespace(config=str(config), certificate=str(cert))
    before = time.time()
    worker = subprocess.Popen(["sleep", "30"])
    try:
        now = time.time()
        started = helper._started(worker.pid)   # pylint: disable=protected-access
        # to the clock tick (10 ms), not to the second: btime's whole seconds made it up to 1 s
        # early, and a worker started just after a write looked stale
        assert started is not None and before - 0.03 <= started <= now + 0.01, \
            (before, started, now)
        old = now - 100
        os.utime(config, (old, old))
        os.utime(cert, (old, old))
        assert helper.stale(a, os.getpid()) is False            # reloaded since both writes
        os.utime(cert, (now + 100, now + 100))
        assert helper.stale(a, os.getpid()) is True             # a certificate never reloaded
        no_tls = SimpleNamespace(config=str(config), certificate="")
        assert helper.stale(no_tls, os.getpid()) is False
        os.utime(config, (now + 100, now + 100))
        assert helper.stale(no_tls, os.getpid()) is True
        # no worker (none of the master's children): not stale, the start step handles it
        assert helper.stale(a, worker.pid) is False
        # no file: nothing to compare
        assert helper.stale(SimpleNamespace(config=str(tmp_path / "none"), certificate=""),
                            os.getpid()) is False
    finally:
        worker.kill()
        worker.wait()


def test_a_worker_started_right_after_the_write_is_not_stale(tmp_path):
    config = tmp_path / "haproxy.cfg"
    for attempt in range(5):
        config.write_text("global\n")                          # written, then reloaded at once
        worker = subprocess.Popen(["sleep", "30"])
        try:
            assert helper.stale(SimpleNamespace(config=str(config), certificate=""),
                                os.getpid()) is False, attempt
        finally:
            worker.kill()
            worker.wait()
