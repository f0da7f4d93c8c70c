"""roll.batch_id / roll.batch_hosts: hosts of a rolling batch taking turns on the controller,
and the record that halts the later hosts after a failure (module_utils/_roll_turns.py).
Threads stand for the workers: flock locks belong to open files, so they exclude each other
within one process as between processes."""
from __future__ import annotations

import os
import threading
import time

from ansible_collections.dockyard.fleet.plugins.module_utils._roll_turns import Turns

HOSTS = ("app1", "app2", "app3")


def run_host(tmp_path, me, log, ok=True, hold=0.05, hosts=HOSTS):
    t = Turns("b1", me, hosts, base=str(tmp_path), poll=0.01)
    t.start()
    t.wait()
    halted = t.failed_host()
    log.append((me, "halted by %s" % halted if halted else "rolls"))
    time.sleep(hold)
    t.end(ok if not halted else True)


def start(target, *args, **kw):
    th = threading.Thread(target=target, args=args, kwargs=kw)
    th.start()
    return th


def test_hosts_roll_in_list_order_whatever_order_they_start_in(tmp_path):
    log = []
    threads = [start(run_host, tmp_path, h, log) for h in reversed(HOSTS)]
    for th in threads:
        th.join(10)
    assert log == [(h, "rolls") for h in HOSTS]
    assert not os.listdir(os.path.join(str(tmp_path), "dockyard-roll-%d" % os.getuid()))


def test_a_failed_host_halts_the_later_ones_only(tmp_path):
    log = []
    threads = [start(run_host, tmp_path, "app1", log),
               start(run_host, tmp_path, "app2", log, ok=False),
               start(run_host, tmp_path, "app3", log)]
    for th in threads:
        th.join(10)
    assert log == [("app1", "rolls"), ("app2", "rolls"), ("app3", "halted by app2")]


def test_a_run_that_died_without_an_end_halts_the_next(tmp_path):
    t2 = Turns("b1", "app2", HOSTS, base=str(tmp_path))
    t2.start()
    log = []
    th = start(run_host, tmp_path, "app3", log, hosts=["app2", "app3"])
    time.sleep(0.2)
    assert log == []            # app3 waits while app2's run lives
    os.close(t2._fd)            # the worker dies: its lock goes, no end written
    th.join(10)
    assert log == [("app3", "halted by app2")]


def test_a_host_not_started_yet_is_waited_for(tmp_path):
    log = []
    th = start(run_host, tmp_path, "app2", log, hosts=["app1", "app2"])
    time.sleep(0.2)
    assert log == []            # app1 has no lock file yet: not started, not dead
    run_host(tmp_path, "app1", log, hosts=["app1", "app2"])
    th.join(10)
    assert log == [("app1", "rolls"), ("app2", "rolls")]


def test_outside_the_list_waits_for_all_of_it_and_first_failure_is_kept(tmp_path):
    t = Turns("b2", "app9", ["app1"], base=str(tmp_path))
    assert t.before == ["app1"] and not t.last
    t.record_failure("app1")
    t.record_failure("app9")
    assert t.failed_host() == "app1"
    assert oct(os.stat(t.dir).st_mode & 0o777) == "0o700"
