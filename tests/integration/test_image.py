"""dockyard.fleet.image on a real lab host: load (ships only when missing), build, tags,
keep-N, absent, check mode, diff and bad input that must leave the engine unchanged."""
from __future__ import annotations

import glob
import os
import uuid

import pytest
import yaml
from conftest import LAB_ID

HOST = "app1"
V1, V2 = "dockyard/demo:v1", "dockyard/demo:v2"


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
    ]
    _rmi(lab, V2)
    lab.load_image(HOST, V2)  # so that "tag taken" has a tag pointing elsewhere
    tasks = [{"name": n, "dockyard.fleet.image": args, "ignore_errors": True}
             for n, _opt, args in cases]
    before = lab.snapshot(HOST)
    res = play(yaml.safe_dump([{"hosts": HOST, "tasks": tasks}]) + "\n")
    assert lab.snapshot(HOST) == before
    for n, opt, _args in cases:
        r = res.one(task=n)
        assert res.results(task=n)[0]["status"] == "failed", (n, r)
        # our messages start with the option; Ansible's argument checks say "... found in build"
        assert r["msg"].startswith(opt + ":") or ("found in " + opt) in r["msg"], (n, r["msg"])
        assert r.get("changed") is False, (n, r)
    reg = res.one(task="unreachable registry")["msg"]
    assert "127.0.0.1:5999" in reg
    for n in ("truncated archive", "bad keep streamed", "bad ship"):
        assert res.one(task=n).get("invocations") == 0, n  # never reached the host


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
