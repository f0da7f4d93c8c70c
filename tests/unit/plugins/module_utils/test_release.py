import json
import multiprocessing
import os
import shutil
import time

import pytest

from ansible_collections.dockyard.fleet.plugins.module_utils._release import (
    MAX_SECONDS, LockHeld, ReleaseError, ReleaseStore, format_audit, record_release, take_lock)


class Clock:
    def __init__(self, t=1_000_000.0):
        self.t = t

    def __call__(self):
        return self.t


@pytest.fixture
def store(tmp_path):
    return ReleaseStore(str(tmp_path / "rel"), "web", str(tmp_path / "log" / "deploy.log"),
                        clock=Clock())


def test_lock_is_exclusive_and_reentrant(store):
    assert store.acquire("run1", "alice") == "acquired"
    assert store.acquire("run1", "alice") == "held"
    with pytest.raises(LockHeld) as err:
        store.acquire("run2", "bob", timeout=0)
    assert "alice" in str(err.value) and "lock_timeout" in str(err.value)
    assert store.release("run2") is False      # not the holder
    assert store.release("run1") is True
    assert store.acquire("run2", "bob") == "acquired"


def test_stale_lock_is_taken_over(store):
    store.acquire("run1", "alice")
    store.clock.t += 7200
    assert store.acquire("run2", "bob", stale_after=3600) == "acquired"
    assert store.lock_owner()["owner"] == "bob"


def test_check_mode_takes_no_lock(store):
    assert store.acquire("run1", "alice", check_mode=True) == "would_acquire"
    assert store.lock_owner() is None


def test_record_moves_versions_and_keeps_n(store):
    rec, moved = store.plan_record("v1", "demo:v1", keep=3)
    assert moved and rec["current"]["version"] == "v1" and rec["previous"] == []
    store.write(rec)
    rec, moved = store.plan_record("v1", "demo:v1", keep=3)
    assert not moved
    for v in ("v2", "v3", "v4"):
        rec, moved = store.plan_record(v, "demo:" + v, keep=3)
        assert moved
        store.write(rec)
    rec = store.read()
    assert rec["current"]["version"] == "v4"
    assert [p["version"] for p in rec["previous"]] == ["v3", "v2"]


def test_rollback_to_previous_does_not_duplicate(store):
    for v in ("v1", "v2"):
        store.write(store.plan_record(v, "demo:" + v, keep=5)[0])
    rec = store.plan_record("v1", "demo:v1", keep=5)[0]
    assert rec["current"]["version"] == "v1"
    assert [p["version"] for p in rec["previous"]] == ["v2"]


def test_audit_line_format_and_no_whitespace_injection(store):
    line = store.audit("alice@ctl", None, "v2", "ok", "2 replicas\nrecreated")
    assert line == "1970-01-12T13:46:40Z app=web by=alice@ctl from=- to=v2 result=ok " \
                   "detail=2_replicas_recreated"
    with open(store.audit_log) as f:
        assert f.read() == line + "\n"
    assert format_audit(0, "a", "b c", "v1", "v2", "failed").endswith("result=failed")


@pytest.mark.parametrize("bad", ["", "../etc", "a/b", "-x", "x" * 200, "a b"])
def test_bad_app_names_are_refused(tmp_path, bad):
    with pytest.raises(ReleaseError) as err:
        ReleaseStore(str(tmp_path), bad, str(tmp_path / "log"))
    assert "option app" in str(err.value)


def test_record_release_moves_audits_and_releases_the_lock(store):
    store.acquire("run1", "alice")
    out = record_release(store, "run1", "alice", "v1", "demo:v1", detail="3 replicas")
    assert out["changed"] is True and out["lock"] == "released"
    assert out["current"]["version"] == "v1" and out["previous"] == []
    assert out["audit_line"].endswith("from=- to=v1 result=ok detail=3_replicas")
    assert store.read()["current"]["version"] == "v1" and store.lock_owner() is None
    # same version, nothing changed: no audit line, no change
    out = record_release(store, "run2", "alice", "v1", "demo:v1")
    assert out["changed"] is False and "audit_line" not in out and out["lock"] == "none"
    # same version but the run changed something (a restart in place): an audit line
    out = record_release(store, "run2", "alice", "v1", "demo:v1", changes=True)
    assert out["changed"] is True and "to=v1 result=ok" in out["audit_line"]


def test_record_release_check_mode_writes_nothing(store, tmp_path):
    store.acquire("run1", "alice")
    out = record_release(store, "run1", "alice", "v2", "demo:v2", check_mode=True, diff=True)
    # the real run releases run1's lock: check mode says so too (and removes nothing)
    assert out["changed"] is True and out["lock"] == "released" and "audit_line" not in out
    assert out["diff"] == {"before": {"version": None}, "after": {"version": "v2"}}
    assert out["current"]["version"] == "v2"          # what it would record
    assert store.read()["current"] is None             # not written
    assert store.lock_owner()["token"] == "run1"       # still locked
    assert not (tmp_path / "log" / "deploy.log").exists()


def test_record_release_refuses_while_another_run_holds_the_lock(store, tmp_path):
    """A run that does not hold the lock records nothing (the holder is mid-deploy), keeps
    the holder's lock; force records (and releases); check mode does not check the holder
    (its own lock step took no lock); no lock at all records."""
    store.acquire("run1", "alice")
    with pytest.raises(LockHeld) as err:
        record_release(store, "run2", "bob", "v1", "demo:v1")
    assert "alice" in str(err.value) and "option token" in str(err.value)
    assert store.read()["current"] is None and store.lock_owner()["token"] == "run1"
    assert not (tmp_path / "log" / "deploy.log").exists()
    out = record_release(store, "run2", "bob", "v1", "demo:v1", check_mode=True)
    assert out["changed"] is True and out["lock"] == "none" and store.read()["current"] is None
    out = record_release(store, "run2", "bob", "v1", "demo:v1", force=True)
    assert out["lock"] == "released" and store.read()["current"]["version"] == "v1"
    out = record_release(store, "run3", "carol", "v2", "demo:v2")      # no lock held
    assert out["changed"] is True and out["lock"] == "none"


def test_take_lock_names_the_callers_options_and_force_breaks(store):
    """take_lock is shared by release (state=locked) and service (option lock): the message
    of a held lock names the caller's options; force takes over another run's lock, except in
    check mode, where nothing is written."""
    assert take_lock(store, "run1", "alice") == "acquired"
    assert take_lock(store, "run1", "alice") == "held"
    with pytest.raises(LockHeld) as err:
        take_lock(store, "run2", "bob", options=("lock.timeout", "lock.stale_after"))
    assert "option lock.timeout" in str(err.value) and "option lock.stale_after" in str(err.value)
    # check mode predicts the real run: force takes it over (nothing written)
    assert take_lock(store, "run2", "bob", force=True, check_mode=True) == "would_acquire"
    assert store.lock_owner()["owner"] == "alice"
    assert take_lock(store, "run2", "bob", force=True) == "acquired"
    assert store.lock_owner()["owner"] == "bob"


# ------------------------------------------------------------------ review fixes

def _race_worker(locks, token, barrier, queue):
    store = ReleaseStore(os.path.join(locks, "..", "state"), "race", os.path.join(locks, "a.log"),
                         lock_dir=locks)
    barrier.wait()
    try:
        queue.put((token, store.acquire(token, token, timeout=0, stale_after=60)))
    except LockHeld:
        queue.put((token, "refused"))


def test_two_runs_taking_over_one_stale_lock_cannot_both_get_it(tmp_path):
    """Two processes take over the same stale lock at the same moment (many trials): never
    both acquired, and the lock names the one that did."""
    ctx = multiprocessing.get_context("fork")
    locks = str(tmp_path / "locks")
    both = []
    for trial in range(60):
        lock = os.path.join(locks, "race.lock")
        shutil.rmtree(lock, ignore_errors=True)
        os.makedirs(lock)
        with open(os.path.join(lock, "owner.json"), "w") as f:
            json.dump({"token": "DEAD", "owner": "dead", "since": time.time() - 7200}, f)
        barrier, queue = ctx.Barrier(2), ctx.Queue()
        procs = [ctx.Process(target=_race_worker, args=(locks, t, barrier, queue)) for t in "AB"]
        for p in procs:
            p.start()
        for p in procs:
            p.join(30)
        got = dict(queue.get(timeout=10) for _proc in procs)
        winners = [t for t, status in got.items() if status == "acquired"]
        with open(os.path.join(lock, "owner.json")) as f:
            holder = json.load(f)["token"]
        if len(winners) != 1 or winners[0] != holder:
            both.append((trial, got, holder))
    assert both == []


def test_a_lock_without_owner_goes_stale_by_its_mtime_and_force_removes_it(store):
    """A run that died between making the lock and writing its owner (an empty lock, or only
    a half-written temp file in it): the lock dates from the directory's mtime, goes stale,
    and force (or a release with force) removes it whole."""
    now = time.time()
    store.clock = lambda: now
    lock = store.lock_dir
    os.makedirs(lock)
    os.utime(lock, (now - 7200, now - 7200))
    assert store.lock_owner()["since"] == pytest.approx(now - 7200)
    assert store.acquire("C", "carol", stale_after=3600) == "acquired"
    assert store.lock_owner()["owner"] == "carol"
    store.release("C")
    os.makedirs(lock)
    with open(os.path.join(lock, "owner.json.tmp"), "w") as f:
        f.write('{"token": "DEAD", "ow')
    with pytest.raises(LockHeld) as err:   # fresh: held by "?", with a time
        store.acquire("C", "carol")
    assert "since 19" not in str(err.value) and "since ?" not in str(err.value)
    assert store.acquire("C", "carol", force=True) == "acquired"
    assert sorted(os.listdir(lock)) == ["owner.json"]
    assert store.release("other", force=True) is True and not os.path.exists(lock)
    os.makedirs(lock)
    with open(os.path.join(lock, "owner.json.tmp"), "w") as f:
        f.write("x")
    assert store.release("C", force=True) is True and not os.path.exists(lock)
    # leftovers of a lock taken over are out of the lock directory's way
    assert [n for n in os.listdir(store.locks) if not n.endswith(".guard")] == []


def test_a_since_that_is_not_a_number_dates_from_the_mtime(store):
    now = time.time()
    store.clock = lambda: now
    os.makedirs(store.lock_dir)
    with open(os.path.join(store.lock_dir, "owner.json"), "w") as f:
        json.dump({"token": "Q", "owner": "q", "since": "2026-12-06T10:00:00Z"}, f)
    os.utime(store.lock_dir, (now - 10, now - 10))
    with pytest.raises(LockHeld) as err:
        store.acquire("C", "carol")
    assert " q since " in str(err.value)
    assert store.acquire("C", "carol", stale_after=5) == "acquired"


def test_check_mode_leaves_a_stale_lock_alone(store):
    store.acquire("run1", "alice")
    store.clock.t += 7200
    assert store.acquire("run2", "bob", stale_after=3600, check_mode=True) == "would_acquire"
    assert store.lock_owner()["token"] == "run1"


@pytest.mark.parametrize("timeout,stale_after,option", [
    (0, 0, "stale_after"), (0, -5, "stale_after"), (10 ** 330, 60, "lock_timeout"),
    (0, MAX_SECONDS + 1, "stale_after"), (-1, 60, "lock_timeout")])
def test_lock_times_out_of_range_are_refused(store, timeout, stale_after, option):
    store.acquire("X", "xavier")
    with pytest.raises(ReleaseError) as err:
        take_lock(store, "Y", "yves", timeout, stale_after)
    assert "option %s" % option in str(err.value) and not isinstance(err.value, LockHeld)
    assert store.lock_owner()["token"] == "X"


@pytest.mark.parametrize("content", ['{"current": {"version": "v5"}, "previous": [{"ver', "[1]",
                                     '{"current": 3}'])
def test_a_corrupt_record_fails_and_is_kept(store, content):
    os.makedirs(store.dir)
    with open(store.record_path, "w") as f:
        f.write(content)
    for call in (store.read, lambda: record_release(store, "T", "t", "v6", "demo:v6")):
        with pytest.raises(ReleaseError) as err:
            call()
        assert store.record_path in str(err.value) and "option state_dir" in str(err.value)
    with open(store.record_path) as f:
        assert f.read() == content


def test_audit_log_that_is_a_directory_fails_before_anything_is_written(store, tmp_path):
    store.audit_log = str(tmp_path)
    store.acquire("R", "r")
    with pytest.raises(ReleaseError) as err:
        record_release(store, "R", "r", "v1", "demo:v1")
    assert "option audit_log" in str(err.value)
    assert store.read()["current"] is None and store.lock_owner()["token"] == "R"
    store.audit_log = "deploy.log"
    with pytest.raises(ReleaseError) as err:
        record_release(store, "R", "r", "v1", "demo:v1")
    assert "option audit_log must be an absolute path" in str(err.value)


def test_a_lowered_keep_trims_the_record_when_the_version_stays(store):
    for v in ("v1", "v2", "v3", "v4"):
        record_release(store, "T", "t", v, "demo:" + v)
    out = record_release(store, "T", "t", "v4", "demo:v4", keep=2, check_mode=True, diff=True)
    assert out["changed"] is True and [p["version"] for p in out["previous"]] == ["v3"]
    assert out["diff"]["after"]["previous"] == ["v3"] and len(store.read()["previous"]) == 3
    out = record_release(store, "T", "t", "v4", "demo:v4", keep=2)
    assert out["changed"] is True and "audit_line" not in out
    assert [p["version"] for p in store.read()["previous"]] == ["v3"]
    assert record_release(store, "T", "t", "v4", "demo:v4", keep=2)["changed"] is False


def test_record_writes_through_a_temp_file_of_its_own(store):
    """A leftover (or another run's) <app>.json.tmp is not in the way; nothing is left over."""
    os.makedirs(os.path.join(store.dir, "web.json.tmp"))
    record_release(store, "T", "t", "v1", "demo:v1")
    assert store.read()["current"]["version"] == "v1"
    assert sorted(n for n in os.listdir(store.dir) if not n.endswith(".guard")) == \
        ["web.json", "web.json.tmp"]
