"""module_utils/_copy_into.py (dockyard.fleet.container_copy_into): the options' parsing, the
decision what differs, the diff, and a run's engine calls against a scripted engine (a file
that matches is one call; check mode writes nothing)."""
from __future__ import annotations

import base64
import io
import posixpath
import tarfile

import pytest

from ansible_collections.dockyard.fleet.plugins.module_utils._container_spec import SpecError
from ansible_collections.dockyard.fleet.plugins.module_utils._copy_into import (
    DEFAULT_MODE, GO_DIR, GO_SYMLINK, MAX_DIFF, archive_of, copy_argument_spec, copy_main, decide,
    diff_of, kind_of, parse, parse_mode, read_entry, why_not_writable)
from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import DockerError
from ansible_collections.dockyard.fleet.tests.unit.plugins.module_utils.controller_run import run_main


def params(**kw):
    base = {"container": "web", "dest": "/etc/app.conf", "content": "x", "src": None, "mode": None,
            "owner_id": None, "group_id": None, "content_is_b64": False}
    base.update(kw)
    return base


@pytest.mark.parametrize("given,mode", [
    ("0644", 0o644), ("644", 0o644), ("0o750", 0o750), ("04755", 0o4755), (" 600 ", 0o600),
    (420, 0o644), (0, 0), (None, None), ("preserve", "preserve")])
def test_modes_are_octal_strings_or_the_value_itself(given, mode):
    assert parse_mode(given) == mode


@pytest.mark.parametrize("given", ["u+rwx", "0888", "12345", "", True, -1, 0o10000, "0x1ff"])
def test_a_mode_that_is_not_one_fails_naming_the_option(given):
    with pytest.raises(SpecError) as err:
        parse_mode(given)
    assert err.value.option == "mode"


def test_content_src_and_base64(tmp_path):
    assert parse(params(content="héllo"))["data"] == "héllo".encode()
    assert parse(params(content=base64.b64encode(b"\0\1").decode(), content_is_b64=True))["data"] == b"\0\1"
    src = tmp_path / "f"
    src.write_bytes(b"abc")
    src.chmod(0o751)
    want = parse(params(content=None, src=str(src), mode="preserve"))
    assert (want["data"], want["mode"], want["uid"]) == (b"abc", 0o751, None)
    assert parse(params(dest="/a/./b//c"))["dest"] == "/a/b/c"


@pytest.mark.parametrize("kw,option", [
    ({"dest": "rel/x"}, "dest"), ({"dest": "/etc/"}, "dest"), ({"dest": "/"}, "dest"), ({"dest": "/a/.."}, "dest"),
    ({"owner_id": -1}, "owner_id"), ({"group_id": -5}, "group_id"),
    ({"content": "%%", "content_is_b64": True}, "content"),
    ({"mode": "preserve"}, "mode"), ({"container": "bad name!"}, "container"),
    ({"content": None, "src": "/no/such/file"}, "src"), ({"content": None, "src": "/"}, "src"),
    ({"content": None, "src": "/etc/hostname", "content_is_b64": True}, "content_is_b64"),
])
def test_bad_options_fail_naming_the_option(kw, option):
    with pytest.raises(SpecError) as err:
        parse(params(**kw))
    assert err.value.option == option, str(err.value)


def test_kinds_from_the_engines_stat():
    assert kind_of({"mode": 0o644}) == "file"
    assert kind_of({"mode": GO_DIR | 0o755}) == "directory"
    assert kind_of({"mode": GO_SYMLINK | 0o777}) == "symlink"
    assert kind_of({"mode": (1 << 25) | 0o644}) == "other"   # a named pipe
    assert kind_of({}) == "file"


def test_an_archive_made_reads_back_the_same():
    archive = archive_of("app.conf", b"data\n", 0o640, 1000, 1001, mtime=1)
    assert read_entry(archive) == {"data": b"data\n", "mode": 0o640, "uid": 1000, "gid": 1001}
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        assert tar.getnames() == ["app.conf"]


WANT = {"dest": "/x", "data": b"new", "mode": None, "uid": None, "gid": None}
HAVE = {"data": b"new", "mode": 0o600, "uid": 5, "gid": 6}


@pytest.mark.parametrize("want,have,force,changes,final", [
    (WANT, None, True, ["created"], (DEFAULT_MODE, 0, 0)),
    (dict(WANT, mode=0o700, uid=7), None, True, ["created"], (0o700, 7, 0)),
    (WANT, "symlink", True, ["replaced symlink"], (DEFAULT_MODE, 0, 0)),
    (WANT, HAVE, True, [], (0o600, 5, 6)),                           # left out: the file's own
    (dict(WANT, data=b"old"), HAVE, True, ["content"], (0o600, 5, 6)),
    (dict(WANT, mode=0o644), HAVE, True, ["mode"], (0o644, 5, 6)),
    (dict(WANT, gid=0), HAVE, True, ["owner"], (0o600, 5, 0)),
    (dict(WANT, data=b"old", mode=0o644, uid=0), HAVE, True, ["content", "mode", "owner"], (0o644, 0, 6)),
    (dict(WANT, data=b"old", mode=0o644), HAVE, False, [], (0o600, 5, 6)),   # force false: as it is
    (WANT, None, False, ["created"], (DEFAULT_MODE, 0, 0)),
    (WANT, "symlink", False, [], None),                               # force false: the link stays
])
def test_what_differs(want, have, force, changes, final):
    got, after = decide(want, have, force)
    assert got == changes
    assert (after and (after["mode"], after["uid"], after["gid"])) == final


def test_the_diff_shows_text_and_skips_binary_and_large_content():
    final = {"data": b"b\n", "mode": 0o644, "uid": 0, "gid": 0}
    (content,) = diff_of("web:/x", dict(final, data=b"a\n"), final, ["content"])
    assert (content["before"], content["after"], content["before_header"]) == ("a\n", "b\n", "web:/x")
    content, attrs = diff_of("web:/x", None, final, ["created"])
    assert content["before"] == "" and "absent" in content["before_header"]
    assert attrs["after"] == "mode: 0644\nowner_id: 0\ngroup_id: 0\n" and attrs["before"] == ""
    (attrs,) = diff_of("web:/x", dict(final, mode=0o600), final, ["mode"])
    assert "mode: 0600" in attrs["before"] and "mode: 0644" in attrs["after"]
    (content,) = diff_of("web:/x", dict(final, data=b"\0\1"), dict(final, data=b"x" * (MAX_DIFF + 1)), ["content"])
    assert content["dst_binary"] == 1 and content["src_larger"] == MAX_DIFF
    assert "before" not in content and "after" not in content


class Engine:
    """One container, web, whose filesystem is files: {path: (data, mode, uid, gid)}, dirs
    and links {path: target}; logs every call."""

    def __init__(self, files=None, dirs=("/", "/etc"), links=None, read_only=False, refuse=None,
                 inspect=None, userns=False):
        self.files = dict(files or {})
        self.dirs, self.links, self.read_only = set(dirs), dict(links or {}), read_only
        self.refuse = refuse   # put_archive's answer, for an engine that refuses the write
        self.inspect = dict({"Id": "c" * 64, "Name": "/web", "HostConfig": {"ReadonlyRootfs": read_only}},
                            **(inspect or {}))
        self.userns = userns
        self.log = []

    def _stat(self, path):
        follow = path.endswith("/") and path != "/"
        path = path.rstrip("/") or "/"
        if path in self.links:
            target = self.links[path]
            if not follow:
                return {"name": posixpath.basename(path), "mode": GO_SYMLINK | 0o777, "linkTarget": target}
            path = target
        if path in self.dirs:
            return {"name": posixpath.basename(path), "mode": GO_DIR | 0o755, "linkTarget": ""}
        if path in self.files:
            if follow:
                raise DockerError("Docker engine refused archive_stat: not a directory")
            return {"name": posixpath.basename(path), "mode": self.files[path][1], "linkTarget": ""}
        raise DockerError("Docker engine: Could not find the file %s in container web" % path, not_found=True)

    def call(self, method, *args):
        self.log.append((method,) + args)
        if method == "info":
            return {"SecurityOptions": ["name=seccomp,profile=default"] + (["name=userns"] if self.userns else [])}
        name, path = args[0], args[1]
        if name != "web":
            raise DockerError("Docker engine: No such container: %s" % name, not_found=True)
        if method == "get_archive":
            stat = self._stat(path)
            if path in self.files:
                data, mode, uid, gid = self.files[path]
                return [archive_of(posixpath.basename(path), data, mode, uid, gid)], stat
            return [b""], stat
        if method == "archive_stat":
            return self._stat(path)
        if method == "put_archive":
            if self.refuse:
                raise DockerError("Docker engine refused put_archive: " + self.refuse)
            entry = read_entry(args[2])
            with tarfile.open(fileobj=io.BytesIO(args[2])) as tar:
                (member,) = tar.getmembers()
            self.files[posixpath.join(path, member.name)] = (entry["data"], entry["mode"], entry["uid"], entry["gid"])
            return True
        raise AssertionError(method)

    def get(self, method, *args):
        if method == "inspect_container":
            self.log.append((method,) + args)
            return self.inspect if args[0] == "web" else None
        try:
            return self.call(method, *args)
        except DockerError as exc:
            if exc.not_found:
                return None
            raise


def run(engine, check_mode=False, **kw):
    opts = {"container": "web", "dest": "/etc/app.conf", "content": "hello\n"}
    opts.update(kw)
    return run_main(copy_argument_spec(), copy_main, engine, opts, check_mode)


def test_a_file_that_matches_is_one_engine_call():
    engine = Engine(files={"/etc/app.conf": (b"hello\n", 0o644, 0, 0)})
    result = run(engine)
    assert not result["changed"] and result["changes"] == [] and "diff" not in result
    assert [c[0] for c in engine.log] == ["get_archive"]


def test_a_new_file_is_looked_for_checked_and_written_and_check_mode_writes_nothing():
    engine = Engine()
    predicted = run(engine, check_mode=True)
    assert predicted["changed"] and predicted["changes"] == ["created"] and engine.files == {}
    real = run(engine)
    assert engine.files == {"/etc/app.conf": (b"hello\n", 0o644, 0, 0)}
    assert {k: v for k, v in real.items() if k != "diff"} == {k: v for k, v in predicted.items() if k != "diff"}
    assert [c[0] for c in engine.log[-5:]] == ["get_archive", "inspect_container", "archive_stat", "info",
                                               "put_archive"]
    # a change: the file, then what could make the write fail, then the write
    engine.log.clear()
    run(engine, content="changed\n")
    assert [c[0] for c in engine.log] == ["get_archive", "inspect_container", "info", "put_archive"]
    assert engine.log[-1][1:3] == ("web", "/etc")


def test_a_symlink_is_followed_only_when_asked():
    files = {"/etc/real.conf": (b"old\n", 0o600, 1, 1)}
    engine = Engine(files=files, links={"/etc/app.conf": "/etc/real.conf"})
    result = run(engine, follow=True)
    assert result["dest"] == "/etc/real.conf" and result["changes"] == ["content"]
    assert engine.files["/etc/real.conf"] == (b"hello\n", 0o600, 1, 1)
    result = run(engine)
    assert result["changes"] == ["replaced symlink"] and engine.files["/etc/app.conf"][0] == b"hello\n"


@pytest.mark.parametrize("engine_kw,kw,msg", [
    ({}, {"container": "gone"}, "container gone not found (option container)"),
    ({}, {"dest": "/nodir/x"}, "directory /nodir does not exist in container web (option dest)"),
    ({"files": {"/etc/f": (b"", 0o644, 0, 0)}}, {"dest": "/etc/f/x"}, "/etc/f (or a directory on its path) is not"),
    ({"links": {"/etc/l": "/etc/f"}, "files": {"/etc/f": (b"", 0o644, 0, 0)}}, {"dest": "/etc/l/x"},
     "/etc/l (or a directory on its path) is not"),
    ({"dirs": ("/", "/etc", "/etc/app.conf")}, {}, "/etc/app.conf is a directory in container web (option dest)"),
    ({"read_only": True}, {}, "cannot write /etc/app.conf in container web (option dest): the container's "
                              "root filesystem is read-only"),
    ({"refuse": "no space left on device"}, {}, "writing /etc/app.conf in container web: Docker engine refused "
                                                "put_archive: no space left on device"),
    ({"userns": True}, {}, "remaps user namespaces"),
])
@pytest.mark.parametrize("check_mode", [False, True])
def test_failures_name_the_cause_and_write_nothing(engine_kw, kw, msg, check_mode):
    engine = Engine(**engine_kw)
    before = dict(engine.files)
    result = run(engine, check_mode=check_mode, **kw)
    if check_mode and "refused put_archive" in msg:
        assert result["changed"] and not result.get("failed")   # only the write itself tells
        return
    assert result["failed"] and msg in result["msg"], result
    assert engine.files == before


MOUNTS = [{"Type": "bind", "Destination": "/etc/app.conf", "RW": True},
          {"Type": "volume", "Destination": "/data", "RW": True},
          {"Type": "bind", "Destination": "/ro", "RW": False},
          {"Type": "tmpfs", "Destination": "/run/t", "RW": True}]


@pytest.mark.parametrize("path,host,why", [
    ("/etc/app.conf", {}, "mount point"),
    ("/data/x", {"ReadonlyRootfs": True}, None),                 # a volume on a read-only root
    ("/etc/x", {"ReadonlyRootfs": True}, "root filesystem is read-only"),
    ("/ro/x", {}, "read-only mount /ro"),
    ("/run/t/x", {}, "tmpfs mount /run/t"),
    ("/scratch/a", {"Tmpfs": {"/scratch": "size=1m"}}, "tmpfs mount /scratch"),
    ("/etc/hosts", {}, "bind-mounts it"),
    ("/etc/app2.conf", {}, None),
])
def test_what_the_archive_api_cannot_write(path, host, why):
    info = {"HostConfig": host, "Mounts": MOUNTS, "HostsPath": "/var/lib/docker/containers/c/hosts"}
    got = why_not_writable(info, path, userns_remap=False)
    assert (got is None) if why is None else (why in got), got
    assert "user namespaces" in why_not_writable({"HostConfig": {}}, "/x", userns_remap=True)
    assert why_not_writable({"HostConfig": {"UsernsMode": "host"}}, "/x", userns_remap=True) is None
