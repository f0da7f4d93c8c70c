"""dockyard.fleet.release against a lab host's files (the review's findings): stale and
ownerless locks, force and check mode, a record by a run that does not hold the lock, a
corrupt record, a bad audit_log, a lowered keep; and container_info's label values."""
from __future__ import annotations

import json
import time

import yaml

HOST = "app3"
LOCKS = "/run/dockyard/test-rel/locks"
STATE = "/var/lib/dockyard/test-rel/state"
AUDIT = "/var/log/dockyard/test-rel.log"
P = "rel-"


def pb(tasks):
    book = [{"hosts": HOST, "gather_facts": False, "tasks": []}]
    for name, args in tasks:
        args = dict(dict(state_dir=STATE, lock_dir=LOCKS, audit_log=AUDIT), **args)
        book[0]["tasks"].append({"name": name, "dockyard.fleet.release": args, "ignore_errors": True})
    return yaml.safe_dump(book) + "\n"


def failure(res, task):
    """The message of task's failure (asserting it failed)."""
    rec = res.results(task=task)
    assert len(rec) == 1 and rec[0]["status"] == "failed", (task, rec)
    assert not rec[0]["result"].get("changed"), (task, rec)
    return rec[0]["result"]["msg"]


def owner(token, since):
    return json.dumps({"token": token, "owner": token.lower(), "since": since, "pid": 1})


def setup(lab):
    now = int(time.time())
    record = {"current": {"version": "v4", "image": "kp:v4", "since": 4},
              "previous": [{"version": v, "image": "kp:" + v, "since": i}
                           for i, v in ((3, "v3"), (2, "v2"), (1, "v1"))]}
    script = """
set -e
rm -rf /run/dockyard/test-rel /var/lib/dockyard/test-rel {audit}
mkdir -p {locks} {state}
for app in stl hld own kp; do mkdir {locks}/$app.lock; done
echo '{stl}' > {locks}/stl.lock/owner.json
echo '{hld}' > {locks}/hld.lock/owner.json
echo '{own}' > {locks}/own.lock/owner.json
echo '{kpl}' > {locks}/kp.lock/owner.json
mkdir {locks}/emp.lock && touch -d '2 hours ago' {locks}/emp.lock
mkdir {locks}/tmp.lock && printf '{{"token": "DEAD", "ow' > {locks}/tmp.lock/owner.json.tmp
printf '{{"current": {{"version": "v5"}}, "previous": [{{"ver' > {state}/cr.json
echo '{kp}' > {state}/kp.json
""".format(audit=AUDIT, locks=LOCKS, state=STATE, stl=owner("DEAD", now - 7200),
           hld=owner("X", now), own=owner("X", now), kpl=owner("T", now), kp=json.dumps(record))
    lab.ssh(HOST, script)


def host_files(lab):
    return lab.ssh(HOST, "cd / && find %s %s %s -printf '%%p %%y %%s\\n' 2>/dev/null | sort; "
                         "cat %s/*.lock/owner.json %s/*.json 2>/dev/null; true"
                   % (LOCKS, STATE, AUDIT, LOCKS, STATE)).stdout


TASKS = [
    ("stale", dict(app="stl", state="locked", token="C", owner="carol")),
    ("force", dict(app="hld", state="locked", token="C", owner="carol", force=True)),
    ("ownerless", dict(app="emp", state="locked", token="C", owner="carol", stale_after=60)),
    ("half written", dict(app="tmp", state="locked", token="C", owner="carol", force=True)),
    ("not the holder", dict(app="own", state="recorded", token="Y", owner="yves", version="v9",
                            image="own:v9")),
    ("stale_after 0", dict(app="own", state="locked", token="Z", stale_after=0)),
    ("huge timeout", dict(app="own", state="locked", token="Z", lock_timeout=10 ** 40)),
    ("corrupt", dict(app="cr")),
    ("corrupt recorded", dict(app="cr", state="recorded", token="T", version="v6", image="kp:v6")),
    ("audit dir", dict(app="ad", state="recorded", token="T", version="v1", image="ad:v1",
                       audit_log="/tmp")),
    ("audit relative", dict(app="ad", state="recorded", token="T", version="v1", image="ad:v1",
                            audit_log="deploy.log")),
    ("keep", dict(app="kp", state="recorded", token="T", version="v4", image="kp:v4", keep=2)),
]


def test_release_locks_records_and_check_mode(lab, play):
    setup(lab)
    try:
        before = host_files(lab)
        check = play(pb(TASKS), check=True)
        assert check.rc == 0, check.stdout[-3000:]
        assert host_files(lab) == before               # check mode left the host alone
        real = play(pb(TASKS))
        assert real.rc == 0, real.stdout[-3000:]
        again = play(pb(TASKS))
        assert again.rc == 0 and again.changed == 0, again.stdout[-3000:]
        for name in ("stale", "force", "ownerless", "half written"):
            assert check.one(task=name)["lock"] == "would_acquire", name
            assert real.one(task=name)["lock"] == "acquired", (name, real.one(task=name))
            assert again.one(task=name)["lock"] == "held", name
        for res in (real, again):
            for name in ("stale", "force", "ownerless", "half written"):
                lock = "%s/%s.lock" % (LOCKS, dict(TASKS)[name]["app"])
                got = json.loads(lab.ssh(HOST, "cat %s/owner.json; ls %s | tr '\\n' ' ' >&2"
                                         % (lock, lock)).stdout)
                assert got["token"] == "C", name
            msg = failure(res, "not the holder")
            assert "x since" in msg and "holds the lock" in msg and "option token" in msg, msg
            for name, option in (("stale_after 0", "stale_after"), ("huge timeout", "lock_timeout"),
                                 ("corrupt", "state_dir"), ("corrupt recorded", "state_dir"),
                                 ("audit dir", "audit_log"), ("audit relative", "audit_log")):
                msg = failure(res, name)
                assert "option %s" % option in msg, (name, msg)
        # check mode predicted the real run: the lock released with the record, the trim
        assert check.one(task="keep")["lock"] == real.one(task="keep")["lock"] == "released"
        assert check.one(task="keep")["changed"] and real.one(task="keep")["changed"]
        assert [p["version"] for p in real.one(task="keep")["previous"]] == ["v3"]
        assert again.one(task="keep")["lock"] == "none"
        files = lab.ssh(HOST, "cat %s/own.lock/owner.json; ls %s; cat %s/cr.json"
                        % (LOCKS, STATE, STATE)).stdout
        assert '"token": "X"' in files and "own.json" not in files and "ad.json" not in files
        assert '"ver' in files                       # the corrupt record was kept as it was
        assert lab.ssh(HOST, "ls -d %s/emp.lock %s/tmp.lock %s/stl.lock" % (LOCKS, LOCKS, LOCKS),
                       check=False).returncode == 0
    finally:
        lab.ssh(HOST, "rm -rf /run/dockyard/test-rel /var/lib/dockyard/test-rel %s" % AUDIT,
                check=False)


def test_container_info_label_values_and_empty_selections(lab, play):
    lab.clean(HOST, P)
    lab.load_image(HOST, "dockyard/demo:v1")
    lab.docker(HOST).containers.create("dockyard/demo:v1", name=P + "flag",
                                       labels={"rel-enabled": "true", "rel-n": "1"})
    tasks = [("bool", dict(labels={"rel-enabled": True})), ("int", dict(labels={"rel-n": 1})),
             ("empty labels", dict(labels={})), ("empty name", dict(name=[])),
             ("int entry", dict(labels=[1])), ("dict entry", dict(labels=[{"a": "b"}]))]
    book = [{"hosts": HOST, "gather_facts": False, "tasks": [
        {"name": n, "dockyard.fleet.container_info": a, "ignore_errors": True} for n, a in tasks]}]
    try:
        for check in (True, False):
            res = play(yaml.safe_dump(book) + "\n", check=check)
            assert res.rc == 0 and res.changed == 0, res.stdout[-3000:]
            for name in ("bool", "int"):
                out = res.one(task=name)
                assert out["exists"] is True and [c["name"] for c in out["containers"]] == [P + "flag"]
            for name, option in (("empty labels", "labels"), ("empty name", "name"),
                                 ("int entry", "labels"), ("dict entry", "labels")):
                msg = failure(res, name)
                assert msg.startswith(option + ":") and "_AnsibleTagged" not in msg, (name, msg)
    finally:
        lab.clean(HOST, P)
