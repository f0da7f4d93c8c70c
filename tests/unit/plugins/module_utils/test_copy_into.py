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
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.dockyard.fleet.plugins.action.container_copy_into import ActionModule
from ansible_collections.dockyard.fleet.plugins.module_utils._copy_into import (
    DEFAULT_MODE, GO_DIR, GO_SYMLINK, MAX_DIFF, archive_of, copy_argument_spec, copy_main, decide,
    diff_of, kind_of, parse, parse_mode, read_entry, why_hidden, why_not_writable)
from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import DockerError
from ansible_collections.dockyard.fleet.plugins.module_utils._engine_forward import ControllerModule, ModuleExit
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
    assert parse(params(dest="//a/b"))["dest"] == "/a/b"


def test_base64_as_base64_tools_wrap_it():
    data = bytes(range(256)) * 2
    wrapped = base64.encodebytes(data).decode()   # 76 columns, a line break after each line
    assert "\n" in wrapped.strip()
    assert parse(params(content=wrapped, content_is_b64=True))["data"] == data
    assert parse(params(content=" \t" + wrapped.replace("\n", "\r\n"), content_is_b64=True))["data"] == data


def test_text_from_bytes_that_are_not_utf8_is_written_as_those_bytes():
    """A lookup of a latin-1 file gives surrogate-escaped text: written as the original bytes,
    as ansible.builtin.copy writes them."""
    raw = "café\n".encode("latin-1")
    assert parse(params(content=raw.decode("utf-8", "surrogateescape")))["data"] == raw


@pytest.mark.parametrize("key", ["owner_id", "group_id"])
def test_ids_are_within_what_a_file_can_have(key):
    assert parse(params(**{key: 4294967294}))["uid" if key == "owner_id" else "gid"] == 4294967294
    for bad in (4294967295, 4294967301, 2 ** 64, -1):
        with pytest.raises(SpecError) as err:
            parse(params(**{key: bad}))
        assert err.value.option == key and "0 to 4294967294" in str(err.value)


@pytest.mark.parametrize("kw,option", [
    ({"dest": "rel/x"}, "dest"), ({"dest": "/etc/"}, "dest"), ({"dest": "/"}, "dest"), ({"dest": "/a/.."}, "dest"),
    ({"owner_id": -1}, "owner_id"), ({"group_id": -5}, "group_id"),
    ({"content": "%%", "content_is_b64": True}, "content"),
    ({"content": "aGVsbG8=\n!!!!", "content_is_b64": True}, "content"),
    ({"content": "aGVs bG8", "content_is_b64": True}, "content"),
    ({"owner_id": 4294967295}, "owner_id"), ({"group_id": 2 ** 32}, "group_id"),
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


MERGED = "/var/lib/docker/overlay2/abc/merged"


class Engine:
    """One container, web, whose filesystem is files: {path: (data, mode, uid, gid)}, dirs
    and links {path: target, absolute or relative}, resolved as the engine resolves them (a
    symlink's stat gives its target resolved whole; a loop or a file on the way is an error
    naming the host's path); logs every call."""

    def __init__(self, files=None, dirs=("/", "/etc"), links=None, read_only=False, refuse=None,
                 inspect=None, userns=False):
        self.files = dict(files or {})
        self.dirs, self.links, self.read_only = set(dirs), dict(links or {}), read_only
        self.refuse = refuse   # put_archive's answer, for an engine that refuses the write
        self.inspect = dict({"Id": "c" * 64, "Name": "/web", "HostConfig": {"ReadonlyRootfs": read_only},
                             "GraphDriver": {"Data": {"MergedDir": MERGED}}}, **(inspect or {}))
        self.userns = userns
        self.log = []

    def _walk(self, path, follow_last=True, hops=0):
        """path with its symlinks followed (the last one with follow_last), as the engine's
        FollowSymlinkInScope: parts that do not exist are kept as they are."""
        parts = [p for p in path.split("/") if p]
        here = "/"
        for i, part in enumerate(parts):
            step = posixpath.join(here, part)
            last = i == len(parts) - 1
            if step in self.links and (follow_last or not last):
                if hops > 20:
                    raise DockerError("Docker engine refused get_archive: evalSymlinksInScope: too many links "
                                      "in %s%s" % (MERGED, step))
                here = self._walk(posixpath.normpath(posixpath.join(here, self.links[step])), True, hops + 1)
                continue
            if step in self.files and not last:
                raise DockerError("Docker engine refused get_archive: lstat %s%s: not a directory"
                                  % (MERGED, posixpath.join(step, parts[i + 1])))
            here = step
        return here

    def _stat(self, path):
        path = self._walk(posixpath.dirname(path)).rstrip("/") + "/" + posixpath.basename(path)
        path = posixpath.normpath(path)
        if path in self.links:
            return {"name": posixpath.basename(path), "mode": GO_SYMLINK | 0o777, "linkTarget": self._walk(path)}
        if path in self.dirs:
            return {"name": posixpath.basename(path), "mode": GO_DIR | 0o755, "linkTarget": ""}
        if path in self.files:
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
            real = self._walk(path, follow_last=False)
            if real in self.files:
                data, mode, uid, gid = self.files[real]
                return [archive_of(posixpath.basename(path), data, mode, uid, gid)], stat
            return [b""], stat
        if method == "archive_stat":
            try:
                return self._stat(path)
            except DockerError as exc:   # as the collection's client words the HEAD's 500
                if exc.not_found:
                    raise
                raise DockerError("Docker engine refused archive_stat: cannot stat %s: not a directory on "
                                  "its path" % path) from exc
        if method == "put_archive":
            if self.refuse:
                raise DockerError("Docker engine refused put_archive: " + self.refuse)
            where = self._walk(path)
            assert where in self.dirs, where
            entry = read_entry(args[2])
            with tarfile.open(fileobj=io.BytesIO(args[2])) as tar:
                (member,) = tar.getmembers()
            target = posixpath.join(where, member.name)
            self.links.pop(target, None)
            self.files[target] = (entry["data"], entry["mode"], entry["uid"], entry["gid"])
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


def run(engine, check_mode=False, diff=False, **kw):
    opts = {"container": "web", "dest": "/etc/app.conf", "content": "hello\n"}
    opts.update(kw)
    return run_main(copy_argument_spec(), lambda module, client: copy_main(module, client, diff=diff),
                    engine, opts, check_mode)


def calls(engine):
    return [c[0] for c in engine.log]


def test_a_file_that_matches_is_three_engine_calls():
    """The container's inspect (for what it does not see), the file, and one stat per
    directory on the path (/etc: not a symlink)."""
    engine = Engine(files={"/etc/app.conf": (b"hello\n", 0o644, 0, 0)})
    result = run(engine)
    assert not result["changed"] and result["changes"] == [] and "diff" not in result
    assert calls(engine) == ["inspect_container", "get_archive", "archive_stat"]
    assert engine.log[-1][1:] == ("web", "/etc")
    # one stat more per directory
    engine = Engine(files={"/etc/a/b/app.conf": (b"hello\n", 0o644, 0, 0)}, dirs=("/", "/etc", "/etc/a", "/etc/a/b"))
    run(engine, dest="/etc/a/b/app.conf")
    assert calls(engine) == ["inspect_container", "get_archive"] + ["archive_stat"] * 3


def test_a_new_file_is_looked_for_checked_and_written_and_check_mode_writes_nothing():
    engine = Engine()
    predicted = run(engine, check_mode=True)
    assert predicted["changed"] and predicted["changes"] == ["created"] and engine.files == {}
    real = run(engine)
    assert engine.files == {"/etc/app.conf": (b"hello\n", 0o644, 0, 0)}
    assert real == predicted
    assert calls(engine)[-5:] == ["inspect_container", "get_archive", "archive_stat", "info", "put_archive"]
    # a change: the file and its directory, then what could make the write fail, then the write
    engine.log.clear()
    run(engine, content="changed\n")
    assert calls(engine) == ["inspect_container", "get_archive", "archive_stat", "info", "put_archive"]
    assert engine.log[-1][1:3] == ("web", "/etc")


def test_the_diff_only_in_diff_mode():
    engine = Engine(files={"/etc/app.conf": (b"old\n", 0o644, 0, 0)})
    assert "diff" not in run(engine, check_mode=True)
    shown = run(engine, check_mode=True, diff=True)["diff"]
    assert shown[0]["before"] == "old\n" and shown[0]["after"] == "hello\n"
    assert "diff" not in run(engine)
    # the module on the host: AnsibleModule's _diff
    engine = Engine()

    class Module(ControllerModule):
        _diff = True
    validated = ArgumentSpecValidator(copy_argument_spec()).validate(
        {"container": "web", "dest": "/etc/new.conf", "content": "x\n"})
    with pytest.raises(ModuleExit) as done:
        copy_main(Module(validated.validated_parameters, True), engine)
    assert done.value.result["diff"][0]["after"] == "x\n"


def test_content_is_no_log():
    assert copy_argument_spec()["content"]["no_log"] is True


def test_a_symlink_is_followed_only_when_asked():
    files = {"/etc/real.conf": (b"old\n", 0o600, 1, 1)}
    engine = Engine(files=files, links={"/etc/app.conf": "real.conf"})
    result = run(engine, follow=True)
    assert result["dest"] == "/etc/real.conf" and result["changes"] == ["content"]
    assert engine.files["/etc/real.conf"] == (b"hello\n", 0o600, 1, 1)
    result = run(engine)
    assert result["changes"] == ["replaced symlink"] and engine.files["/etc/app.conf"][0] == b"hello\n"
    assert "/etc/app.conf" not in engine.links


def test_a_symlink_loop_at_dest_is_replaced_or_fails_naming_dest():
    links = {"/etc/app.conf": "/etc/app.conf", "/etc/a": "b", "/etc/b": "a"}
    for dest in ("/etc/app.conf", "/etc/a"):
        engine = Engine(links=links)
        result = run(engine, follow=True, dest=dest)
        assert result["failed"] and "%s in container web is a symlink that does not resolve" % dest in result["msg"]
        assert "(option dest" in result["msg"] and MERGED not in result["msg"] and engine.files == {}
        predicted = run(engine, check_mode=True, dest=dest)
        assert predicted["changes"] == ["replaced symlink"] and engine.files == {}
        result = run(engine, dest=dest)
        assert result["changes"] == ["replaced symlink"] and engine.files[dest][0] == b"hello\n", result
        assert not run(engine, dest=dest)["changed"]
    # a loop on the way to the file: its directory does not resolve
    engine = Engine(links={"/etc/loop": "/etc/loop"})
    for follow in (False, True):
        result = run(engine, dest="/etc/loop/x", follow=follow)
        assert result["failed"] and "/etc/loop (or a directory on its path) is not a directory, or a symlink " \
            "there does not resolve" in result["msg"] and "(option dest)" in result["msg"], result


@pytest.mark.parametrize("engine_kw,kw,msg", [
    ({}, {"container": "gone"}, "container gone not found (option container)"),
    ({}, {"dest": "/nodir/x"}, "directory /nodir does not exist in container web (option dest)"),
    ({"files": {"/etc/f": (b"", 0o644, 0, 0)}}, {"dest": "/etc/f/x"}, "/etc/f (or a directory on its path) is not"),
    ({"links": {"/etc/l": "/etc/f"}, "files": {"/etc/f": (b"", 0o644, 0, 0)}}, {"dest": "/etc/l/x"},
     "/etc/l (or a directory on its path) is not"),
    ({"links": {"/etc/l": "/nodir"}}, {"dest": "/etc/l/x"}, "directory /etc/l does not exist"),
    ({"links": {"/etc/l": "/nodir/f"}}, {"dest": "/etc/l", "follow": True},
     "directory /nodir does not exist in container web (option dest: the target of symlink /etc/l)"),
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


WWW = ("/", "/www", "/www/t", "/www/ro", "/data", "/etc", "/dev", "/dev/shm", "/proc", "/sys", "/sys/fs")


@pytest.mark.parametrize("inspect,links,dest,why", [
    # a symlinked directory on the way: the path as the engine reaches it is checked
    ({"HostConfig": {"Tmpfs": {"/www/t": ""}}}, {"/www/tl": "/www/t"}, "/www/tl/x.txt",
     "/www/tl/x.txt (through symlinks, /www/t/x.txt) in container web (option dest): it is under the tmpfs "
     "mount /www/t"),
    ({"HostConfig": {"Tmpfs": {"/www/t": ""}}}, {"/www/rel": "t"}, "/www/rel/x.txt", "under the tmpfs mount /www/t"),
    ({"Mounts": [{"Type": "volume", "Destination": "/www/ro", "RW": False}]}, {"/www/rl": "/www/ro"},
     "/www/rl/x.txt", "(through symlinks, /www/ro/x.txt) in container web (option dest): it is on the read-only "
     "mount /www/ro"),
    ({}, {"/el": "/etc"}, "/el/hosts", "(through symlinks, /etc/hosts) in container web (option dest): the engine "
                                       "bind-mounts it"),
    ({}, {"/www/h": "/etc/hosts"}, "/www/h", None),   # replaced: the link is not followed
    ({"Mounts": [{"Type": "tmpfs", "Destination": "/www/t", "RW": True}]}, {"/www/h": "/www/t/f"},
     ("/www/h", True), "(through symlinks, /www/t/f) in container web (option dest): it is under the tmpfs mount"),
    # the mounts the engine adds itself, and the files it bind-mounts at every start
    ({}, {}, "/dev/x.txt", "it is under /dev, which the engine mounts itself"),
    ({}, {}, "/dev/shm/x.txt", "it is under /dev, which the engine mounts"),
    ({}, {}, "/proc/x", "it is under /proc"),
    ({}, {}, "/sys/fs/x", "it is under /sys"),
    ({}, {"/www/shm": "/dev/shm"}, "/www/shm/x", "(through symlinks, /dev/shm/x)"),
    ({}, {}, "/etc/hosts", "the engine bind-mounts it"),          # never started: HostsPath is ""
    ({}, {}, "/etc/hostname", "the engine bind-mounts it"),
    ({}, {}, "/etc/resolv.conf", "the engine bind-mounts it"),
    ({"HostConfig": {"NetworkMode": "none"}}, {}, "/etc/resolv.conf", "the engine bind-mounts it"),
    # what the archive API reaches as the container does
    ({"Mounts": [{"Type": "volume", "Destination": "/dev/shm", "RW": True}]}, {}, "/dev/shm/x.txt", None),
    ({"HostConfig": {"ReadonlyRootfs": True}, "Mounts": [{"Type": "volume", "Destination": "/data", "RW": True}]},
     {"/cfg": "/data"}, "/cfg/x.txt", None),
])
@pytest.mark.parametrize("check_mode", [False, True])
def test_the_path_the_engine_reaches_is_checked(inspect, links, dest, why, check_mode):
    inspect = dict(inspect, HostConfig=dict({"ReadonlyRootfs": False}, **inspect.get("HostConfig", {})))
    engine = Engine(dirs=WWW, links=links, inspect=inspect)
    dest, follow = dest if isinstance(dest, tuple) else (dest, False)
    result = run(engine, check_mode=check_mode, dest=dest, follow=follow)
    if why is None:
        assert result["changed"] and not result.get("failed"), result
        assert bool(engine.files) != check_mode
        return
    assert result["failed"] and why in result["msg"] and "cannot write %s" % dest in result["msg"], result
    assert engine.files == {} and "put_archive" not in calls(engine)


def test_a_file_the_container_does_not_see_is_refused_when_it_matches_too():
    """A file written under a tmpfs (where the archive API reads it back) is not the
    container's: no false "ok"."""
    engine = Engine(dirs=WWW, links={"/www/tl": "/www/t"}, files={"/www/t/x.txt": (b"hello\n", 0o644, 0, 0)},
                    inspect={"HostConfig": {"Tmpfs": {"/www/t": ""}}})
    for dest in ("/www/tl/x.txt", "/www/t/x.txt"):
        result = run(engine, dest=dest, force=False)
        assert result["failed"] and "tmpfs mount /www/t" in result["msg"], result
    # the typed path alone: refused before any call but the inspect
    engine.log.clear()
    run(engine, dest="/dev/x")
    assert calls(engine) == ["inspect_container"]


def test_a_ro_root_with_a_volume_reached_through_a_link_is_written_there():
    engine = Engine(dirs=WWW, links={"/cfg": "/data"}, inspect={
        "HostConfig": {"ReadonlyRootfs": True}, "Mounts": [{"Type": "volume", "Destination": "/data", "RW": True}]})
    result = run(engine, dest="/cfg/x.txt")
    assert result["changed"] and result["dest"] == "/cfg/x.txt"
    assert engine.files == {"/data/x.txt": (b"hello\n", 0o644, 0, 0)}
    assert engine.log[-1][:3] == ("put_archive", "web", "/data")
    assert not run(engine, dest="/cfg/x.txt")["changed"]


def test_engine_messages_do_not_show_the_hosts_path():
    engine = Engine(refuse="mkdir %s/etc/x: read-only file system" % MERGED)
    result = run(engine)
    assert result["failed"] and MERGED not in result["msg"] and "mkdir /etc/x: read-only" in result["msg"]


MOUNTS = [{"Type": "bind", "Destination": "/etc/app.conf", "RW": True},
          {"Type": "volume", "Destination": "/data", "RW": True},
          {"Type": "bind", "Destination": "/ro", "RW": False},
          {"Type": "tmpfs", "Destination": "/run/t", "RW": True}]


@pytest.mark.parametrize("path,host,why", [
    ("/etc/app.conf", {}, "mount point"),
    ("/data/x", {"ReadonlyRootfs": True}, None),                 # a volume on a read-only root
    ("/etc/x", {"ReadonlyRootfs": True}, "root filesystem is read-only"),
    ("/ro/x", {}, "read-only mount /ro"),
    ("/etc/app2.conf", {}, None),
])
def test_what_the_archive_api_cannot_write(path, host, why):
    info = {"HostConfig": host, "Mounts": MOUNTS, "HostsPath": "/var/lib/docker/containers/c/hosts"}
    got = why_not_writable(info, path, userns_remap=False)
    assert (got is None) if why is None else (why in got), got
    assert "user namespaces" in why_not_writable({"HostConfig": {}}, "/x", userns_remap=True)
    assert why_not_writable({"HostConfig": {"UsernsMode": "host"}}, "/x", userns_remap=True) is None


@pytest.mark.parametrize("path,info,why", [
    ("/run/t/x", {"Mounts": MOUNTS}, "tmpfs mount /run/t"),
    ("/scratch/a", {"HostConfig": {"Tmpfs": {"/scratch": "size=1m"}}}, "tmpfs mount /scratch"),
    ("/etc/hosts", {"HostsPath": "/var/lib/docker/containers/c/hosts"}, "bind-mounts it"),
    ("/etc/hosts", {"HostsPath": ""}, "bind-mounts it"),                # a container never started
    ("/etc/hosts", {"Mounts": [{"Type": "bind", "Destination": "/etc/hosts"}]}, None),   # the user's
    ("/etc/hosts", {"Mounts": [{"Type": "volume", "Destination": "/etc"}]}, "bind-mounts it"),
    ("/dev/shm/x", {}, "under /dev,"), ("/proc/1/x", {}, "under /proc,"), ("/sys/x", {}, "under /sys,"),
    ("/device/x", {}, None), ("/dev", {}, "under /dev,"),
    ("/dev/data/x", {"Mounts": [{"Type": "volume", "Destination": "/dev/data"}]}, None),
    ("/run/t/v/x", {"Mounts": MOUNTS + [{"Type": "volume", "Destination": "/run/t/v"}]}, None),
    ("/etc/app2.conf", {"Mounts": MOUNTS}, None),
])
def test_what_the_container_does_not_see(path, info, why):
    got = why_hidden(info, path)
    assert (got is None) if why is None else (why in got), got


def test_text_content_goes_to_the_host_as_base64():
    """The action plugin's options for the module on the host: text content as base64 (no_log
    there hides the base64, not every piece of the text in the result), bytes that are not
    UTF-8 as they were."""
    latin1 = "caf\udce9\n"   # b"caf\xe9\n" read as ansible reads it
    for given, data in (("hello\n", b"hello\n"), (latin1, b"caf\xe9\n"), ("", b"")):
        out = ActionModule.host_args(None, {"container": "web", "dest": "/x", "content": given})
        assert out["content_is_b64"] is True and base64.b64decode(out["content"]) == data
        assert parse(params(content=out["content"], content_is_b64=True))["data"] == data
    for b64 in ("yes", True, "maybe", [1]):   # base64 already, or left to the module to refuse
        given = {"container": "web", "dest": "/x", "content": "aGk=", "content_is_b64": b64}
        assert ActionModule.host_args(None, given) == given
    out = ActionModule.host_args(None, {"container": "web", "dest": "/x", "content": "x", "content_is_b64": "no"})
    assert out["content"] == "eA==" and out["content_is_b64"] is True
    # with src too: the module refuses them both, the content as base64 (not masked in its message)
    out = ActionModule.host_args(None, {"container": "web", "dest": "/x", "content": "x", "src": "/etc/hostname"})
    assert (out["content"], out["src"]) == ("eA==", "/etc/hostname")
