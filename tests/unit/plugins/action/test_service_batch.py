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


def test_a_batch_directory_left_behind_is_removed_by_a_later_batch_a_day_on(tmp_path):
    """A last host whose worker died leaves its batch's directory: the last host of a later
    batch removes it once untouched for a day; a younger one (a batch still rolling) stays."""
    first = Turns("b-old", "app1", ["app1", "app2"], base=str(tmp_path))
    young = Turns("b-young", "app1", ["app1", "app2"], base=str(tmp_path))
    first.start()
    young.start()
    day_ago = time.time() - 24 * 3600 - 60
    os.utime(first.dir, (day_ago, day_ago))
    Turns("b-new", "app1", ["app1", "app2"], base=str(tmp_path))  # not the last: no sweep
    assert os.path.isdir(first.dir)
    new = Turns("b-new", "app2", ["app1", "app2"], base=str(tmp_path))  # the last host
    assert not os.path.exists(first.dir) and os.path.isdir(young.dir) and os.path.isdir(new.dir)


# ------------------------------------------------------------------ roll.gate
# The module side (wait_for_turn, on the host) against the controller side (Gate) over a real
# unix socket (the forward in between is OpenSSH's, tested by the integration tests).

from ansible_collections.dockyard.fleet.plugins.module_utils._roll import (  # noqa: E402
    GateError, wait_for_turn)
from ansible_collections.dockyard.fleet.plugins.module_utils._roll_turns import Gate  # noqa: E402


def gated_host(tmp_path, me, log, ok=True, hold=0.05, prepared=None, hosts=HOSTS):
    """As the action plugin and the module do: start, open the gate, the module prepares at
    once (logged), waits for its verdict, rolls or stops; the gate closes, the turn ends."""
    t = Turns("b1", me, hosts, base=str(tmp_path), poll=0.01)
    t.start()
    gate = Gate(t, accept_poll=0.01).start()
    log.append((me, "prepared"))
    if prepared is not None:
        prepared.set()
    halted = wait_for_turn(gate.path)
    log.append((me, "halted by %s" % halted if halted else "rolls"))
    time.sleep(hold)
    gate.close()
    t.end(ok if not halted else True)


def test_gated_runs_prepare_at_once_and_roll_in_turn(tmp_path):
    log = []
    # app3 and app2 start first: both prepare while app1 has not even started (they do not
    # wait for the hosts before them to prepare), and neither rolls before app1 has rolled.
    # (Waiting for their "prepared" before starting app1 keeps the thread scheduling of a
    # loaded machine out of the order checked.)
    ready = {h: threading.Event() for h in HOSTS}
    threads = [start(gated_host, tmp_path, h, log, hold=0.1, prepared=ready[h])
               for h in ("app3", "app2")]
    assert ready["app3"].wait(10) and ready["app2"].wait(10)
    time.sleep(0.1)
    assert sorted(log) == [("app2", "prepared"), ("app3", "prepared")]   # nobody rolled
    threads.append(start(gated_host, tmp_path, "app1", log, hold=0.1))
    for th in threads:
        th.join(10)
    assert log[2:] == [("app1", "prepared")] + [(h, "rolls") for h in HOSTS]
    assert not os.listdir(os.path.join(str(tmp_path), "dockyard-roll-%d" % os.getuid()))


def test_gate_says_halt_after_a_failure_and_the_halted_host_passes_it_on(tmp_path):
    log = []
    threads = [start(gated_host, tmp_path, "app1", log, ok=False),
               start(gated_host, tmp_path, "app2", log),
               start(gated_host, tmp_path, "app3", log)]
    for th in threads:
        th.join(10)
    assert [e for e in log if e[1] != "prepared"] == [
        ("app1", "rolls"), ("app2", "halted by app1"), ("app3", "halted by app1")]


def test_a_run_that_never_asks_still_ends_in_turn(tmp_path):
    """The module failed before asking (say the load balancer was unreachable): the plugin's
    close() waits for the host's turn, so its failure halts only the hosts after it."""
    log = []
    t1 = Turns("b1", "app1", HOSTS, base=str(tmp_path), poll=0.01)
    t1.start()
    t2 = Turns("b1", "app2", HOSTS, base=str(tmp_path), poll=0.01)
    t2.start()
    g2 = Gate(t2, accept_poll=0.01).start()
    th3 = start(gated_host, tmp_path, "app3", log)
    closed = []
    th2 = start(lambda: (g2.close(), closed.append(True), t2.end(False)))
    time.sleep(0.2)
    assert closed == []                        # app2's turn has not come: app1 still rolls
    assert [e for e in log if e[1] != "prepared"] == []
    t1.end(True)
    th2.join(10)
    th3.join(10)
    assert closed == [True] and g2.verdict == "go"
    assert [e for e in log if e[1] != "prepared"] == [("app3", "halted by app2")]


def test_gate_errors_name_the_option(tmp_path):
    import socket
    import pytest
    with pytest.raises(GateError, match="roll.gate"):
        wait_for_turn(str(tmp_path / "none.sock"))
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(tmp_path / "g.sock"))
    srv.listen(1)

    def answer(text):
        conn = srv.accept()[0]
        conn.sendall(text)
        conn.close()
    th = start(answer, b"")
    with pytest.raises(GateError, match="closed without an answer"):
        wait_for_turn(str(tmp_path / "g.sock"))
    th.join()
    th = start(answer, b"maybe\n")
    with pytest.raises(GateError, match="unexpected"):
        wait_for_turn(str(tmp_path / "g.sock"))
    th.join()
    srv.close()
