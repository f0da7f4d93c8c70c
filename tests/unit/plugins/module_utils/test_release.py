import pytest

from ansible_collections.dockyard.fleet.plugins.module_utils._release import (
    LockHeld, ReleaseError, ReleaseStore, format_audit, record_release, take_lock)


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
    assert out["changed"] is True and out["lock"] == "none" and "audit_line" not in out
    assert out["diff"] == {"before": {"version": None}, "after": {"version": "v2"}}
    assert out["current"]["version"] == "v2"          # what it would record
    assert store.read()["current"] is None             # not written
    assert store.lock_owner()["token"] == "run1"       # still locked
    assert not (tmp_path / "log" / "deploy.log").exists()


def test_record_release_keeps_another_runs_lock(store):
    store.acquire("run1", "alice")
    out = record_release(store, "run2", "bob", "v1", "demo:v1")
    assert out["lock"] == "none" and store.lock_owner()["token"] == "run1"


def test_take_lock_names_the_callers_options_and_force_breaks(store):
    """take_lock is shared by release (state=locked) and service (option lock): the message
    of a held lock names the caller's options; force takes over another run's lock, except in
    check mode, where nothing is written."""
    assert take_lock(store, "run1", "alice") == "acquired"
    assert take_lock(store, "run1", "alice") == "held"
    with pytest.raises(LockHeld) as err:
        take_lock(store, "run2", "bob", options=("lock.timeout", "lock.stale_after"))
    assert "option lock.timeout" in str(err.value) and "option lock.stale_after" in str(err.value)
    with pytest.raises(LockHeld):
        take_lock(store, "run2", "bob", force=True, check_mode=True)
    assert store.lock_owner()["owner"] == "alice"
    assert take_lock(store, "run2", "bob", force=True) == "acquired"
    assert store.lock_owner()["owner"] == "bob"
