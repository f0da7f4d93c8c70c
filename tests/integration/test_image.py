"""dockyard.fleet.image on a real lab host: load (ships only when missing), build, tags,
keep-N, absent, check mode, diff and bad input that must leave the engine unchanged."""
from __future__ import annotations

import os
import uuid

import pytest
import yaml

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


def load_play(name, archive, tasks=("load",)):
    t = [{"name": n, "dockyard.fleet.image": dict(
        name=name, source="load", load_path="{{ dockyard_lab_images_dir }}/" + archive)}
        for n in tasks]
    return yaml.safe_dump([{"hosts": HOST, "tasks": t}]) + "\n"


def test_load_ships_archive_only_when_missing(lab, play):
    lab.remove_image(HOST, V2)
    image_id = lab.images[V2]["id"]

    # check mode: reports the load, copies nothing, changes nothing
    before = lab.snapshot(HOST)
    res = play(load_play(V2, "demo-v2.tar"), check=True, diff=True)
    assert res.rc == 0, res.stdout
    r = res.one(action="image")
    assert r["changed"] and r["shipped"] is False and r["invocations"] == 1
    assert r["diff"]["before"] == {"present": False}
    assert r["diff"]["after"]["id"] == image_id
    assert lab.snapshot(HOST) == before

    # real run, twice in one play: first ships and loads, second is one module run
    res = play(load_play(V2, "demo-v2.tar", tasks=["first", "second"]), diff=True)
    assert res.rc == 0, res.stdout
    first, second = res.one(task="first"), res.one(task="second")
    assert first["changed"] and first["shipped"] is True and first["invocations"] == 2
    assert first["image"]["id"] == image_id and V2 in first["image"]["tags"]
    assert second["changed"] is False and second["shipped"] is False
    assert second["invocations"] == 1
    assert res.recap[HOST]["changed"] == 1
    assert lab.docker(HOST).images.get(V2).id == image_id
    # the temporary copy is gone
    left = lab.ssh(HOST, "ls -a ~/.ansible/tmp 2>/dev/null | grep -c dockyard || true").stdout
    assert left.strip() in ("", "0")
    # check mode on a host that has it: no change, no transfer
    res = play(load_play(V2, "demo-v2.tar"), check=True)
    r = res.one(action="image")
    assert not r["changed"] and r["shipped"] is False and r["invocations"] == 1


def test_load_only_tags_when_image_is_there(lab, play):
    """Same image ID under another name: tagged on the host, archive not shipped."""
    lab.load_image(HOST, V1)
    _rmi(lab, "dockyard/other:v1")
    res = play(load_play("dockyard/other:v1", "demo-v1.tar", tasks=["first", "second"]))
    assert res.rc == 0, res.stdout
    first, second = res.one(task="first"), res.one(task="second")
    assert first["changed"] and first["shipped"] is False and first["invocations"] == 1
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
    assert res.one(task="truncated archive").get("invocations") == 0  # never reached the host


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
