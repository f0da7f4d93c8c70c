"""dockyard.fleet.image on a real lab host: load (ships only when missing), build, tags,
keep-N, absent, check mode, diff and bad input that must leave the engine unchanged."""
from __future__ import annotations

import glob
import gzip
import io
import json
import os
import shutil
import tarfile
import uuid

import pytest
import yaml
from conftest import LAB_ID

HOST = "app1"
V1, V2 = "dockyard/demo:v1", "dockyard/demo:v2"
BROKEN = "dockyard/demo:broken"


def _rmi(lab, *refs):
    c = lab.docker(HOST)
    for ref in refs:
        try:
            c.images.remove(ref, force=True)
        except Exception:  # noqa: BLE001  (absent already)
            pass


def _tags(lab):
    return {t for i in lab.docker(HOST).api.images() for t in (i.get("RepoTags") or [])}


@pytest.fixture
def ctx(tmp_path):
    """A build context in a directory every lab host sees (hosts share the filesystem)."""
    d = tmp_path / "ctx"
    d.mkdir()
    (d / "Dockerfile").write_text("FROM dockyard/demo:v1\nCOPY extra.txt /www/extra.txt\n")
    (d / "extra.txt").write_text("built %s\n" % uuid.uuid4())
    os.chmod(tmp_path, 0o755)
    return str(d)


def load_play(name, archive, tasks=("load",), ship=None):
    extra = {"ship": ship} if ship else {}
    t = [{"name": n, "dockyard.fleet.image": dict(
        name=name, source="load", load_path="{{ dockyard_lab_images_dir }}/" + archive, **extra)}
        for n in tasks]
    return yaml.safe_dump([{"hosts": HOST, "tasks": t}]) + "\n"


def _forwards():
    """Forwarded sockets in the lab's ControlPath directory (see tests/integration/conftest.py)."""
    return set(glob.glob("/tmp/.dockyard-cp-lab%d/dyfwd-*.sock" % LAB_ID))


# auto over the lab's ssh connections streams: the module's logic runs on the controller
# against the host's engine socket forwarded over the SSH master (no module run, no copy on the
# host); copy asks with one module run and ships with two.
@pytest.mark.parametrize("ship,runs_ask,runs_ship", [("auto", 0, 0), ("copy", 1, 2)])
def test_load_ships_archive_only_when_missing(lab, play, ship, runs_ask, runs_ship):
    lab.remove_image(HOST, V2)
    image_id = lab.images[V2]["id"]
    how = "stream" if ship == "auto" else "copy"
    forwards = _forwards()

    # check mode: reports the load, sends nothing, changes nothing
    before = lab.snapshot(HOST)
    res = play(load_play(V2, "demo-v2.tar", ship=ship), check=True, diff=True)
    assert res.rc == 0, res.stdout
    r = res.one(action="image")
    assert r["changed"] and r["shipped"] is False and r["invocations"] == runs_ask
    assert r["ship"] == how and "ship_reason" not in r
    assert r["diff"]["before"] == {"present": False}
    assert r["diff"]["after"]["id"] == image_id
    assert lab.snapshot(HOST) == before

    # real run, twice in one play: first ships and loads, second only asks
    res = play(load_play(V2, "demo-v2.tar", tasks=["first", "second"], ship=ship), diff=True)
    assert res.rc == 0, res.stdout
    first, second = res.one(task="first"), res.one(task="second")
    assert first["changed"] and first["shipped"] is True and first["invocations"] == runs_ship
    assert first["ship"] == how and first["archive_size"] > 0
    assert first["image"]["id"] == image_id and V2 in first["image"]["tags"]
    assert first["diff"]["before"] == {"present": False} and first["diff"]["after"]["id"] == image_id
    assert second["changed"] is False and second["shipped"] is False
    assert second["invocations"] == runs_ask
    assert res.recap[HOST]["changed"] == 1
    assert lab.docker(HOST).images.get(V2).id == image_id
    # no copy left on the host, no forward left on the controller
    left = lab.ssh(HOST, "ls -a ~/.ansible/tmp 2>/dev/null | grep -c dockyard || true").stdout
    assert left.strip() in ("", "0")
    assert _forwards() <= forwards
    # check mode on a host that has it: no change, no transfer
    res = play(load_play(V2, "demo-v2.tar", ship=ship), check=True)
    r = res.one(action="image")
    assert not r["changed"] and r["shipped"] is False and r["invocations"] == runs_ask


def test_load_stream_keeps_n_and_tags(lab, play):
    """Streamed, keep and repository act through the forward as the module would on the host."""
    lab.load_image(HOST, V1)
    lab.remove_image(HOST, V2)
    _rmi(lab, "dockyard/mirror:v2")
    pb = yaml.safe_dump([{"hosts": HOST, "tasks": [{"name": n, "dockyard.fleet.image": dict(
        name=V2, source="load", load_path="{{ dockyard_lab_images_dir }}/demo-v2.tar",
        ship="stream", keep=1, repository=["dockyard/mirror"])} for n in ("first", "second")]}])
    used_v1 = any(c.image.id == lab.images[V1]["id"] for c in lab.docker(HOST).containers.list(all=True))
    res = play(pb + "\n")
    assert res.rc == 0, res.stdout
    first, second = res.one(task="first"), res.one(task="second")
    assert first["changed"] and first["shipped"] and first["invocations"] == 0
    assert "tagged %s as dockyard/mirror:v2" % lab.images[V2]["id"][7:19] in first["actions"]
    assert (V1 in first["removed"]) is not used_v1
    assert not second["changed"] and second["invocations"] == 0
    assert {V2, "dockyard/mirror:v2"} <= _tags(lab)
    _rmi(lab, "dockyard/mirror:v2")
    lab.load_image(HOST, V1)


def test_load_stream_unavailable_fails_naming_ship_and_auto_copies(lab, play):
    """A tcp:// engine cannot be streamed to: ship=stream fails naming the option before the
    host is touched; auto says why and copies (here: the module then fails to reach it)."""
    lab.remove_image(HOST, V2)
    tasks = [{"name": s, "dockyard.fleet.image": dict(
        name=V2, source="load", load_path="{{ dockyard_lab_images_dir }}/demo-v2.tar", ship=s,
        docker_host="tcp://127.0.0.1:1", timeout=5), "ignore_errors": True} for s in ("stream", "auto")]
    before = lab.snapshot(HOST)
    res = play(yaml.safe_dump([{"hosts": HOST, "tasks": tasks}]) + "\n")
    assert lab.snapshot(HOST) == before
    stream, auto = res.one(task="stream"), res.one(task="auto")
    assert stream["msg"].startswith("ship:") and "tcp://127.0.0.1:1" in stream["msg"], stream
    assert stream["invocations"] == 0 and stream["changed"] is False
    assert auto["ship"] == "copy" and "not a unix socket" in auto["ship_reason"]
    assert auto["invocations"] == 1 and "docker_host" in auto["msg"], auto


def test_load_only_tags_when_image_is_there(lab, play):
    """Same image ID under another name: tagged on the host, archive not shipped."""
    lab.load_image(HOST, V1)
    _rmi(lab, "dockyard/other:v1")
    res = play(load_play("dockyard/other:v1", "demo-v1.tar", tasks=["first", "second"]))
    assert res.rc == 0, res.stdout
    first, second = res.one(task="first"), res.one(task="second")
    assert first["changed"] and first["shipped"] is False and first["invocations"] == 0, first.get("ship_reason")
    assert second["changed"] is False
    assert lab.docker(HOST).images.get("dockyard/other:v1").id == lab.images[V1]["id"]
    _rmi(lab, "dockyard/other:v1")


def test_bad_input_fails_naming_option_and_leaves_engine_unchanged(lab, play, tmp_path):
    lab.load_image(HOST, V1)
    with open(lab.images[V1]["archive"], "rb") as f:
        data = f.read()
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(data[:len(data) // 2])
    corrupt = tmp_path / "corrupt.tar"
    corrupt.write_bytes(b"\x00garbage" * 4096)
    both = tmp_path / "both.tar"
    _two_image_archive(lab, str(both))
    ctx_dir = tmp_path / "ctx"
    ctx_dir.mkdir()
    (ctx_dir / "Dockerfile").write_text("FROM dockyard/demo:v1\n")
    os.chmod(tmp_path, 0o755)
    cases = [
        ("missing archive", "load_path", dict(name=V2, source="load",
                                              load_path=str(tmp_path / "nope.tar"))),
        ("truncated archive", "load_path", dict(name=V2, source="load", load_path=str(truncated))),
        ("corrupt archive", "load_path", dict(name=V2, source="load", load_path=str(corrupt))),
        ("invalid name", "name", dict(name="Dockyard/Demo::x", source="pull")),
        ("conflicting options", "load_path", dict(name=V2, source="pull",
                                                  load_path=lab.images[V2]["archive"])),
        ("build without path", "build", dict(name="dockyard/b:1", source="build", build={})),
        ("bad keep", "keep", dict(name=V1, keep=0)),
        ("bad keep streamed", "keep", dict(name=V1, source="load", keep=0,
                                           load_path=lab.images[V1]["archive"])),
        ("bad ship", "ship", dict(name=V2, source="load", ship="sideways",
                                  load_path=lab.images[V2]["archive"])),
        ("unreachable registry", "name", dict(name="127.0.0.1:5999/none:1", source="pull")),
        ("missing without source", "name", dict(name="dockyard/never:1")),
        ("tag taken", "repository", dict(name=V1, repository=["dockyard/demo:v2"])),
        # review findings: refused before anything changes
        ("second entry taken", "repository", dict(name=V1, repository=["dockyard/aaa",
                                                                       "dockyard/demo:v2"])),
        ("load, entry taken", "repository", dict(name="dockyard/demo:v1", source="load",
                                                 load_path=lab.images[V1]["archive"],
                                                 repository=["dockyard/zzz:1", "dockyard/demo:v2"])),
        ("digest loaded", "name", dict(name="dockyard/demo@" + lab.images[V1]["id"], source="load",
                                       load_path=lab.images[V1]["archive"])),
        ("digest loaded copy", "name", dict(name="dockyard/demo@" + lab.images[V1]["id"],
                                            source="load", ship="copy",
                                            load_path=lab.images[V1]["archive"])),
        ("two-image archive", "load_path", dict(name=V1, source="load", load_path=str(both))),
        ("id pulled", "name", dict(name=lab.images[V1]["id"], source="pull")),
        ("id kept", "keep", dict(name=lab.images[V1]["id"][7:], keep=1)),
        ("id not there", "name", dict(name="sha256:" + "0" * 64)),
        ("id as repository", "repository", dict(name=V1, repository=[lab.images[V2]["id"]])),
        ("non-ascii tag", "name", dict(name="dockyard/demo:v\u00e9")),
        ("non-ascii repository", "repository", dict(name=V1, repository=["dockyard/x:\u00fc"])),
        ("missing context", "build.path", dict(name="dockyard/b-nope:1", source="build",
                                               build=dict(path=str(tmp_path / "nope")))),
        ("missing dockerfile", "build.dockerfile", dict(name="dockyard/b-nope:1", source="build",
                                                        build=dict(path=str(ctx_dir), dockerfile="Nope"))),
        ("absent by id, two tags", "name", dict(name=lab.images[V2]["id"], state="absent")),
        ("absent, used", "name", dict(name=V1, state="absent")),
    ]
    _rmi(lab, V2)
    lab.load_image(HOST, V2)  # so that "tag taken" has a tag pointing elsewhere
    c = lab.docker(HOST)
    c.images.get(V2).tag("dockyard/other", "v2")   # two tags: removal by ID needs force_absent
    _rmi(lab, "dockyard/aaa:v1", "dockyard/zzz:1")
    for tag in c.images.get(V1).tags:   # V1: the last tag of an image a stopped container uses
        if tag != V1:
            c.images.remove(tag)
    for ct in c.containers.list(all=True, filters={"name": "imgbad-"}):
        ct.remove(force=True)
    c.containers.create(V1, name="imgbad-used")
    tasks = [{"name": n, "dockyard.fleet.image": args, "ignore_errors": True}
             for n, _opt, args in cases]
    before = lab.snapshot(HOST)
    res = play(yaml.safe_dump([{"hosts": HOST, "tasks": tasks}]) + "\n")
    assert lab.snapshot(HOST) == before
    for n, opt, _args in cases:
        r = res.one(task=n)
        assert res.results(task=n)[0]["status"] == "failed", (n, r)
        # our messages start with the option; Ansible's argument checks say "... found in
        # build" or "value of ship must be one of ..." (then the host is not asked at all)
        assert r["msg"].startswith(opt + ":") or ("found in " + opt) in r["msg"] \
            or r["msg"].startswith("value of %s must be" % opt), (n, r["msg"])
        if r["msg"].startswith("value of"):
            assert r["invocations"] == 0, (n, r)
        assert r.get("changed") is False, (n, r)
    reg = res.one(task="unreachable registry")["msg"]
    assert "127.0.0.1:5999" in reg
    for n in ("truncated archive", "bad keep streamed", "bad ship", "digest loaded",
              "digest loaded copy", "two-image archive"):
        assert res.one(task=n).get("invocations") == 0, n  # never reached the host
    for n in ("load, entry taken", "second entry taken"):
        assert res.one(task=n)["actions"] == [] and not res.one(task=n).get("shipped"), n
    assert "force_absent" in res.one(task="absent by id, two tags")["msg"]
    assert "force_absent" in res.one(task="absent, used")["msg"]
    for ct in c.containers.list(all=True, filters={"name": "imgbad-"}):
        ct.remove(force=True)
    _rmi(lab, "dockyard/other:v2")


def test_build_is_idempotent_and_tags(lab, play, ctx):
    lab.load_image(HOST, V1)
    name = "dockyard/built:%s" % uuid.uuid4().hex[:8]
    pb = """
- hosts: %s
  tasks:
    - name: build
      dockyard.fleet.image:
        name: %s
        source: build
        build:
          path: %s
          args: {UNUSED: "1"}
        repository: [dockyard/built-mirror]
""" % (HOST, name, ctx)
    before = lab.snapshot(HOST)
    res = play(pb, check=True, diff=True)
    assert res.rc == 0, res.stdout
    assert res.one(task="build")["changed"]
    assert lab.snapshot(HOST) == before

    res = play(pb, diff=True)
    assert res.rc == 0, res.stdout
    r = res.one(task="build")
    assert r["changed"] and r["diff"]["before"] == {"present": False}
    img = lab.docker(HOST).images.get(name)
    mirror = "dockyard/built-mirror:" + name.split(":")[1]
    assert mirror in img.tags and r["image"]["id"] == img.id
    res = play(pb)
    assert res.rc == 0 and res.changed == 0, res.stdout
    assert lab.docker(HOST).images.get(name).id == img.id
    _rmi(lab, name, mirror)


def test_keep_removes_old_tags_but_not_those_used_by_containers(lab, play, tmp_path):
    lab.load_image(HOST, V1)
    c = lab.docker(HOST)
    repo = "dockyard/keep"
    for ct in c.containers.list(all=True, filters={"name": "imgkeep-"}):
        ct.remove(force=True)
    _rmi(lab, *["%s:%d" % (repo, i) for i in range(1, 5)])
    ids = {}
    for i in range(1, 5):
        d = tmp_path / ("k%d" % i)
        d.mkdir()
        (d / "Dockerfile").write_text("FROM dockyard/demo:v1\nCOPY n /www/n\n")
        (d / "n").write_text("%d %s\n" % (i, uuid.uuid4()))
        ids[i] = c.images.build(path=str(d), tag="%s:%d" % (repo, i), rm=True)[0].id
    # keep:1 (oldest) is used by a stopped container: it must survive
    c.containers.create("%s:1" % repo, name="imgkeep-old")
    pb = """
- hosts: %s
  tasks:
    - name: keep
      dockyard.fleet.image:
        name: %s:4
        keep: 2
""" % (HOST, repo)
    before = lab.snapshot(HOST)
    res = play(pb, check=True)
    r = res.one(task="keep")
    assert r["changed"] and r["removed"] == ["%s:2" % repo]
    assert lab.snapshot(HOST) == before

    res = play(pb, diff=True)
    assert res.rc == 0, res.stdout
    r = res.one(task="keep")
    assert r["changed"] and r["removed"] == ["%s:2" % repo]
    tags = _tags(lab)
    assert {"%s:1" % repo, "%s:3" % repo, "%s:4" % repo} <= tags
    assert "%s:2" % repo not in tags
    res = play(pb)
    assert res.rc == 0 and res.changed == 0, res.stdout
    assert res.one(task="keep")["removed"] == []
    for ct in c.containers.list(all=True, filters={"name": "imgkeep-"}):
        ct.remove(force=True)
    _rmi(lab, *["%s:%d" % (repo, i) for i in range(1, 5)])


def test_absent_twice(lab, play):
    lab.load_image(HOST, V1)
    c = lab.docker(HOST)
    c.images.get(V1).tag("dockyard/gone", "x")
    pb = """
- hosts: %s
  tasks:
    - name: rm
      dockyard.fleet.image:
        name: dockyard/gone:x
        state: absent
""" % HOST
    before = lab.snapshot(HOST)
    res = play(pb, check=True)
    assert res.one(task="rm")["changed"] and lab.snapshot(HOST) == before
    res = play(pb, diff=True)
    r = res.one(task="rm")
    assert r["changed"] and r["removed"] == ["dockyard/gone:x"]
    assert "dockyard/gone:x" not in _tags(lab) and V1 in _tags(lab)
    res = play(pb)
    assert res.rc == 0 and res.changed == 0


# ---------------------------------------------------------------- review findings
def _one_task(args, name="t"):
    return yaml.safe_dump([{"hosts": HOST, "tasks": [{"name": name, "dockyard.fleet.image": args}]}]) + "\n"


def _check_real_again(lab, play, args):
    """Check mode (nothing changes on the host), the real run (the same changed, actions,
    removed and diff), then the same task again (no change). Returns the three results."""
    pb = _one_task(args)
    before = lab.snapshot(HOST)
    res = play(pb, check=True, diff=True)
    assert res.rc == 0, res.stdout[-3000:]
    check = res.one(task="t")
    assert lab.snapshot(HOST) == before
    res = play(pb, diff=True)
    assert res.rc == 0, res.stdout[-3000:]
    real = res.one(task="t")
    for key in ("changed", "actions", "removed"):
        assert check[key] == real[key], (key, check[key], real[key])
    for key in ("present", "tags"):
        assert check["diff"]["after"].get(key) == real["diff"]["after"].get(key), (check["diff"], real["diff"])
    res = play(pb)
    assert res.rc == 0, res.stdout[-3000:]
    again = res.one(task="t")
    assert again["changed"] is False, again
    return check, real, again


def _check_and_real_fail(lab, play, args, fragment):
    """Check mode and the real run both fail the same way, naming the option; the host is
    unchanged."""
    pb = yaml.safe_dump([{"hosts": HOST, "tasks": [
        {"name": n, "dockyard.fleet.image": args, "ignore_errors": True, "check_mode": n == "check"}
        for n in ("check", "real")]}]) + "\n"
    before = lab.snapshot(HOST)
    res = play(pb)
    assert lab.snapshot(HOST) == before
    check, real = res.one(task="check"), res.one(task="real")
    for r in (check, real):
        assert res.results(task="check")[0]["status"] == res.results(task="real")[0]["status"] == "failed"
        assert fragment in r["msg"] and r["changed"] is False, r
    assert check["msg"] == real["msg"]
    return check, real


def _used_ids(lab):
    return {ct.attrs["Image"] for ct in lab.docker(HOST).containers.list(all=True)}


def _build(lab, tmp_path, tag, text):
    d = tmp_path / tag.replace("/", "_").replace(":", "_")
    d.mkdir()
    (d / "Dockerfile").write_text("FROM dockyard/demo:v1\nCOPY n /www/n\n")
    (d / "n").write_text("%s %s\n" % (text, uuid.uuid4()))
    repo, tag_ = tag.rsplit(":", 1)
    return lab.docker(HOST).images.build(path=str(d), tag="%s:%s" % (repo, tag_), rm=True)[0].id


def _archive_members(path):
    with tarfile.open(path) as t:
        return {m.name: (m, t.extractfile(m).read() if m.isfile() else None) for m in t}


def _write_archive(path, members):
    with tarfile.open(path, "w") as t:
        for name, (member, data) in members.items():
            info = tarfile.TarInfo(name)
            info.type, info.mode = member.type, member.mode
            if data is not None:
                info.size = len(data)
            t.addfile(info, io.BytesIO(data) if data is not None else None)


def _two_image_archive(lab, path):
    """docker save v1 v2: both images in one archive (two manifest entries)."""
    members = _archive_members(lab.images[V1]["archive"])
    members.update(_archive_members(lab.images[V2]["archive"]))
    manifest = [json.loads(_archive_members(lab.images[t]["archive"])["manifest.json"][1])[0]
                for t in (V1, V2)]
    members.pop("repositories", None)
    m = members["manifest.json"][0]
    members["manifest.json"] = (m, json.dumps(manifest).encode())
    _write_archive(path, members)


def test_keep_predicts_the_tag_a_load_moves(lab, play, tmp_path):
    """Finding 1: v2 is on another image (v1's), with broken and a newer v3 beside it; a load
    of v2 with keep 1 moves v2 to the loaded image: check mode predicts the real run."""
    c = lab.docker(HOST)
    lab.remove_image(HOST, V2)
    lab.load_image(HOST, V1)
    lab.load_image(HOST, BROKEN)
    c.images.get(V1).tag("dockyard/demo", "v2")
    _rmi(lab, "dockyard/demo:v3", "dockyard/demo:latest")
    ids = {V1: lab.images[V1]["id"], BROKEN: lab.images[BROKEN]["id"],
           "dockyard/demo:v3": _build(lab, tmp_path, "dockyard/demo:v3", "v3")}
    others = {t for i in c.api.images(name="dockyard/demo") for t in i["RepoTags"]} - set(ids) - {V2}
    used = _used_ids(lab)
    want = sorted(t for t in ids if ids[t] not in used)
    check, real, _again = _check_real_again(lab, play, dict(
        name=V2, source="load", load_path="{{ dockyard_lab_images_dir }}/demo-v2.tar", keep=1))
    assert real["removed"] == sorted(want + [t for t in others if c.images.get(t).id not in used])
    assert V2 not in real["removed"] and check["diff"]["after"]["tags"] == [V2]
    assert c.images.get(V2).id == lab.images[V2]["id"]
    assert not set(want) & _tags(lab)

    # force_tag moves latest from v1's image to v2's, and keep 1 counts latest for v2's image
    lab.load_image(HOST, V1)
    c.images.get(V1).tag("dockyard/demo", "latest")
    used = _used_ids(lab)
    check, real, _again = _check_real_again(lab, play, dict(
        name=V2, repository=["dockyard/demo:latest"], force_tag=True, keep=1))
    assert "tagged %s as dockyard/demo:latest (moved from image %s)" % (
        lab.images[V2]["id"][7:19], lab.images[V1]["id"][7:19]) in real["actions"]
    assert "dockyard/demo:latest" not in real["removed"]
    assert (V1 in real["removed"]) is (lab.images[V1]["id"] not in used)
    assert c.images.get("dockyard/demo:latest").id == lab.images[V2]["id"]
    _rmi(lab, "dockyard/demo:latest", "dockyard/demo:v3")
    lab.load_image(HOST, V1)
    lab.load_image(HOST, BROKEN)


def test_failure_after_a_build_reports_the_build(lab, play, tmp_path):
    """Finding 2: a build's image ID is known only once built, so a repository entry that
    points to another image fails after the build: the run says what it did."""
    lab.load_image(HOST, V1)
    lab.load_image(HOST, V2)
    name = "dockyard/partial:%s" % uuid.uuid4().hex[:8]
    d = tmp_path / "p"
    d.mkdir()
    (d / "Dockerfile").write_text("FROM dockyard/demo:v1\nCOPY n /www/n\n")
    (d / "n").write_text("%s\n" % uuid.uuid4())
    os.chmod(tmp_path, 0o755)
    task = {"name": "t", "ignore_errors": True, "dockyard.fleet.image": dict(
        name=name, source="build", build=dict(path=str(d)), repository=[V2])}
    res = play(yaml.safe_dump([{"hosts": HOST, "tasks": [task]}]) + "\n")
    r = res.one(task="t")
    assert res.results(task="t")[0]["status"] == "failed"
    assert r["msg"].startswith("repository: %s already points" % V2), r
    assert r["changed"] is True and r["actions"] == ["built %s from %s" % (name, d)], r
    assert name in _tags(lab) and lab.docker(HOST).images.get(V2).id == lab.images[V2]["id"]
    _rmi(lab, name)


def test_failed_load_says_the_archive_was_sent(lab, play, tmp_path):
    """Minor finding: a load the engine refuses (a layer that does not match the config)
    was shipped all the same, and changed nothing."""
    lab.remove_image(HOST, V2)
    members = _archive_members(lab.images[V2]["archive"])
    v1_layers = {n: v for n, v in _archive_members(lab.images[V1]["archive"]).items() if n.endswith("layer.tar")}
    for n in [n for n in members if n.endswith("layer.tar")]:
        members[n] = (members[n][0], next(iter(v1_layers.values()))[1])
    members.pop("repositories", None)
    bad = tmp_path / "mismatch.tar"
    _write_archive(str(bad), members)
    tasks = [{"name": s, "ignore_errors": True, "dockyard.fleet.image": dict(
        name="dockyard/bad:1", source="load", load_path=str(bad), ship=s)} for s in ("stream", "copy")]
    before = lab.snapshot(HOST)
    res = play(yaml.safe_dump([{"hosts": HOST, "tasks": tasks}]) + "\n")
    assert lab.snapshot(HOST) == before
    for s in ("stream", "copy"):
        r = res.one(task=s)
        assert r["msg"].startswith("load_path: docker load of mismatch.tar failed"), r
        assert r["shipped"] is True and r["changed"] is False and r["ship"] == s, r


@pytest.mark.parametrize("ship", ["stream", "copy"])
def test_docker_io_name_is_idempotent(lab, play, ship):
    """Finding 3: the engine stores docker.io/dockyard/demo:v2 as dockyard/demo:v2."""
    lab.remove_image(HOST, V2)
    lab.load_image(HOST, V1)
    used = _used_ids(lab)
    check, real, again = _check_real_again(lab, play, dict(
        name="docker.io/dockyard/demo:v2", source="load", ship=ship, keep=1,
        load_path="{{ dockyard_lab_images_dir }}/demo-v2.tar"))
    assert real["changed"] and real["shipped"] and not again["shipped"] and not check["shipped"]
    assert real["diff"]["after"]["tags"] == [V2]
    assert (V1 in real["removed"]) is (lab.images[V1]["id"] not in used)
    assert lab.docker(HOST).images.get(V2).id == lab.images[V2]["id"]
    lab.load_image(HOST, V1)


@pytest.mark.parametrize("ship", ["stream", "copy"])
def test_force_source_load_reloads_without_a_change(lab, play, ship):
    """Finding 6: force_source ships and loads the archive every run (check mode says so);
    changed only when the image or its tags change, so not here."""
    lab.load_image(HOST, V1)
    check, real, again = _check_real_again(lab, play, dict(
        name=V1, source="load", ship=ship, force_source=True,
        load_path="{{ dockyard_lab_images_dir }}/demo-v1.tar"))
    assert real["changed"] is False and real["actions"] == [
        "loaded %s from demo-v1.tar (force_source: the image was there already)" % lab.images[V1]["id"][7:19]]
    assert not check["shipped"] and real["shipped"] and again["shipped"]
    assert real["invocations"] == (0 if ship == "stream" else 2)


def test_gzip_archive_loads(lab, play, tmp_path):
    """Finding 7: docker save | gzip is an archive docker load takes."""
    lab.remove_image(HOST, V1)
    gz = tmp_path / "demo-v1.tar.gz"
    with open(lab.images[V1]["archive"], "rb") as src, gzip.open(str(gz), "wb") as dst:
        shutil.copyfileobj(src, dst)
    _check, real, _again = _check_real_again(lab, play, dict(name=V1, source="load", load_path=str(gz)))
    assert real["changed"] and real["shipped"] and real["archive_size"] == gz.stat().st_size
    assert lab.docker(HOST).images.get(V1).id == lab.images[V1]["id"]


def test_image_ids_as_name(lab, play):
    """Finding 8: sha256:<id>, the 64 hex and a short ID name the image; absent removes it,
    refused without force_absent when it has several tags."""
    c = lab.docker(HOST)
    lab.load_image(HOST, V2)
    image_id = lab.images[V2]["id"]
    c.images.get(V2).tag("dockyard/other", "v2")
    for ct in c.containers.list(all=True, filters={"ancestor": image_id}):
        ct.remove(force=True)
    pb = yaml.safe_dump([{"hosts": HOST, "tasks": [
        {"name": n, "dockyard.fleet.image": {"name": n}} for n in (image_id, image_id[7:], image_id[7:19])]}])
    res = play(pb + "\n")
    assert res.rc == 0 and res.changed == 0, res.stdout[-3000:]
    for n in (image_id, image_id[7:], image_id[7:19]):
        assert res.one(task=n)["image"]["id"] == image_id
    _check_and_real_fail(lab, play, dict(name=image_id[7:19], state="absent"), "force_absent")
    check, real, _again = _check_real_again(lab, play, dict(name=image_id, state="absent", force_absent=True))
    assert real["removed"] == ["dockyard/demo:v2", "dockyard/other:v2"] and real["image"] is None
    assert check["diff"]["after"] == {"present": False}
    assert image_id not in {i.id for i in c.images.list(all=True)}
    lab.load_image(HOST, V2)


def test_absent_of_an_image_containers_use(lab, play):
    """Finding 9: the last tag of an image a container uses goes only with force_absent;
    with a running container the image stays, untagged; with a stopped one it goes."""
    c = lab.docker(HOST)
    lab.remove_image(HOST, V1)   # with the containers other tests left on it
    lab.load_image(HOST, V1)
    c.images.get(V1).tag("dockyard/gone", "other")
    c.containers.create(V1, name="imgabs-stopped")
    image_id = lab.images[V1]["id"]
    # another tag keeps the image: it is returned
    _check, real, _again = _check_real_again(lab, play, dict(name="dockyard/gone:other", state="absent"))
    assert real["image"]["id"] == image_id and "dockyard/gone:other" not in real["image"]["tags"]
    for tag in c.images.get(V1).tags:
        if tag != V1:
            c.images.remove(tag)
    # the last tag, a stopped container: refused, naming force_absent
    _check_and_real_fail(lab, play, dict(name=V1, state="absent"), "force_absent")
    # force_absent: the image goes; the stopped container stays (its layers are its own)
    _check, real, _again = _check_real_again(lab, play, dict(name=V1, state="absent", force_absent=True))
    assert real["diff"]["after"] == {"present": False} and real["image"] is None
    assert image_id not in {i.id for i in c.images.list(all=True)}
    c.containers.get("imgabs-stopped").remove(force=True)
    # a running container: force_absent removes the tag, the image stays untagged
    lab.load_image(HOST, V1)
    c.containers.run(V1, name="imgabs-running", detach=True)
    _check, real, _again = _check_real_again(lab, play, dict(name=V1, state="absent", force_absent=True))
    assert real["diff"]["after"] == dict(present=True, id=image_id, tags=[])
    assert "stays, untagged: running container imgabs-running" in real["actions"][0]
    assert c.images.get(image_id).tags == []
    c.containers.get("imgabs-running").remove(force=True)
    lab.load_image(HOST, V1)


def test_build_check_mode_with_a_tag_the_build_may_give(lab, play, tmp_path):
    """Finding 10: FROM v1 alone gives v1's image, so repository [v1] is no conflict; check
    mode cannot know the built ID and must not fail."""
    lab.load_image(HOST, V1)
    for tag in lab.docker(HOST).images.get(V1).tags:   # the built image (v1's) has V1 only
        if tag != V1:
            lab.docker(HOST).images.remove(tag)
    name = "dockyard/same:%s" % uuid.uuid4().hex[:8]
    d = tmp_path / "same"
    d.mkdir()
    (d / "Dockerfile").write_text("FROM dockyard/demo:v1\n")
    os.chmod(tmp_path, 0o755)
    check, real, _again = _check_real_again(lab, play, dict(
        name=name, source="build", build=dict(path=str(d)), repository=[V1]))
    assert real["actions"] == ["built %s from %s" % (name, d)] and check["changed"]
    assert lab.docker(HOST).images.get(name).id == lab.images[V1]["id"]
    _rmi(lab, name)
