# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""dockyard.fleet.container_copy_into: one file written into a container through the engine's
archive API (what `docker cp` uses), only when its content, mode or owner differ. Shared by
the module (on the host) and its action plugin (on the controller, against the host's engine
socket forwarded over SSH).

The decide-what-to-change part (parse, read_entry, decide, diff_of, why_hidden,
why_not_writable) is pure; run() makes the engine calls: the container's inspect, the file's
archive and one stat per directory on dest's path (the path as the engine resolves it, every
symlink followed, which the checks need); a write adds the engine's info (user namespaces)
and the write itself.

Private to dockyard.fleet: no compatibility promise for code outside the collection.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
import posixpath
import re
import tarfile
import time
import traceback

from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import (
    EXECUTION_ARG, DockerClient, DockerError, docker_common_args)
from ansible_collections.dockyard.fleet.plugins.module_utils._container_spec import SpecError, validate_name
from ansible_collections.dockyard.fleet.plugins.module_utils._container_engine import ContainerEngine

# Go's os.FileMode type bits, as the engine's path stat gives them
GO_DIR = 1 << 31
GO_SYMLINK = 1 << 27
GO_TYPE = GO_DIR | GO_SYMLINK | (1 << 26) | (1 << 25) | (1 << 24) | (1 << 21) | (1 << 19)
# ansible's default for diffs of files (DEFAULT MAX_FILE_SIZE_FOR_DIFF): larger ones are not shown
MAX_DIFF = 104448
DEFAULT_MODE = 0o644
# the largest owner and group a file can have (2**32 - 2: 2**32 - 1 is the kernel's "no id")
MAX_ID = 4294967294
# symlinks followed (follow=true) before giving up: the engine resolves a chain in one stat,
# this only bounds a target that changes under the run
MAX_LINKS = 8
_OCTAL_RE = re.compile(r"^(?:0o?)?([0-7]{1,4})$")
_SPACE_RE = re.compile(r"\s+")
# what the engine answers (500) for a path it cannot resolve: a file on the path (the
# collection's client words the stat's error "not a directory on its path"), a symlink loop
_UNRESOLVED_RE = re.compile(r"not a directory|too many links|too many levels of symbolic links", re.I)
UNRESOLVED = "unresolved"
# filesystems the engine mounts itself when the container starts; the archive API reads and
# writes the container's own layer beneath them, which the container does not see
ENGINE_MOUNTS = ("/dev", "/proc", "/sys")   # /dev/shm, /dev/pts, /dev/mqueue, /sys/fs/cgroup under them
# files the engine bind-mounts at every start, in every network mode (bridge, a user network,
# none, host, container:<name>): set up by the first start, so a created container has none yet
ENGINE_FILES = ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf")

SPEC_RULES = dict(mutually_exclusive=[("src", "content")], required_one_of=[("src", "content")])


def copy_argument_spec():
    """The module's argument spec (also what the action plugin validates with)."""
    return docker_common_args(
        container=dict(type="str", required=True),
        dest=dict(type="str", required=True, aliases=["container_path"]),
        src=dict(type="path"),
        content=dict(type="str", no_log=True),
        content_is_b64=dict(type="bool", default=False),
        mode=dict(type="raw"),
        owner_id=dict(type="int"),
        group_id=dict(type="int"),
        follow=dict(type="bool", default=False),
        force=dict(type="bool", default=True),
        execution=dict(EXECUTION_ARG),
    )


def parse_mode(value):
    """mode as given (an octal string, an int, None or 'preserve') -> int, None or 'preserve'."""
    if value is None or value == "preserve":
        return value
    if isinstance(value, bool):
        raise SpecError("mode", "must be an octal number such as '0644', or preserve; got %r" % value)
    if isinstance(value, int):
        if not 0 <= value <= 0o7777:
            raise SpecError("mode", "must be between 0 and 0o7777 (07777), got %d; quote octal modes "
                                    "('0644')" % value)
        return value
    match = _OCTAL_RE.match(str(value).strip())
    if not match:
        raise SpecError("mode", "must be an octal number such as '0644', or preserve (symbolic "
                                "modes are not supported); got %r" % value)
    return int(match.group(1), 8)


def content_bytes(content, is_b64):
    """The bytes content stands for: base64 (whitespace and line breaks, as base64 tools wrap
    it, ignored), or text written as UTF-8; text that came from bytes that are not UTF-8
    (surrogate-escaped, as ansible reads such a file) gives those bytes back, as
    ansible.builtin.copy writes them. SpecError naming content for base64 that is not."""
    if is_b64:
        try:
            return base64.b64decode(_SPACE_RE.sub("", content), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SpecError("content", "is not valid base64 (content_is_b64 is true): %s" % exc) from exc
    return content.encode("utf-8", "surrogateescape")


def parse(params):
    """-> dict(dest, data, mode, uid, gid) from the task's options, or SpecError naming the
    option. data: the bytes to write; mode None: the file's own (0644 for a new one),
    uid/gid None: the file's own (0 for a new one)."""
    validate_name(params["container"], "container")
    dest = params["dest"]
    if not dest.startswith("/"):
        raise SpecError("dest", "must be an absolute path in the container, got %r" % dest)
    if dest.endswith("/") or posixpath.basename(posixpath.normpath(dest)) in ("", ".", ".."):
        raise SpecError("dest", "must name a file (not a directory), got %r" % dest)
    mode = parse_mode(params.get("mode"))
    for key in ("owner_id", "group_id"):
        if params.get(key) is not None and not 0 <= params[key] <= MAX_ID:
            raise SpecError(key, "must be a numeric id from 0 to %d, got %d" % (MAX_ID, params[key]))
    if params.get("src") is not None:
        src = params["src"]
        if params.get("content_is_b64"):
            raise SpecError("content_is_b64", "applies to content, not to src")
        try:
            with open(src, "rb") as handle:
                data = handle.read()
            if mode == "preserve":
                mode = os.stat(src).st_mode & 0o7777
        except IsADirectoryError as exc:
            raise SpecError("src", "%s is a directory: give a file" % src) from exc
        except OSError as exc:
            raise SpecError("src", "cannot read %s: %s" % (src, exc.strerror or exc)) from exc
    else:
        if mode == "preserve":
            raise SpecError("mode", "preserve takes the mode of src; with content give the mode")
        data = content_bytes(params["content"], params.get("content_is_b64"))
    return dict(dest=posixpath.normpath("/" + dest.lstrip("/")), data=data, mode=mode,
                uid=params.get("owner_id"), gid=params.get("group_id"))


# ------------------------------------------------------------------ archives
def kind_of(stat):
    """What the engine's stat of a path says it is: file, directory, symlink or other."""
    mode = int(stat.get("mode") or 0)
    if mode & GO_DIR:
        return "directory"
    if mode & GO_SYMLINK:
        return "symlink"
    return "other" if mode & GO_TYPE else "file"


def read_entry(archive):
    """The file in a one-file archive the engine gave: dict(data, mode, uid, gid), or None
    when its first entry is not a regular file."""
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
        member = tar.next()
        if member is None or not member.isfile():
            return None
        return dict(data=tar.extractfile(member).read(), mode=member.mode & 0o7777,
                    uid=member.uid, gid=member.gid)


def archive_of(name, data, mode, uid, gid, mtime=None):
    """A tar archive holding one regular file, as put_archive takes it."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.uid, info.gid = len(data), mode, uid, gid
        info.mtime = int(time.time() if mtime is None else mtime)
        tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


# ------------------------------------------------------------------ decide
def decide(want, have, force=True):
    """-> (changes, final): what differs between want (parse's) and have (read_entry's, None
    for no file, "symlink" for a link not followed), and the file as it will be
    (data, mode, uid, gid), None for a symlink left as it is. changes empty: nothing to
    write (force false: whatever is at dest stays)."""
    if have is not None and not force:
        return [], (dict(have) if isinstance(have, dict) else None)
    if have is None or have == "symlink":
        final = dict(data=want["data"], mode=DEFAULT_MODE if want["mode"] is None else want["mode"],
                     uid=want["uid"] or 0, gid=want["gid"] or 0)
        return (["created"] if have is None else ["replaced symlink"]), final
    final = dict(data=want["data"],
                 mode=have["mode"] if want["mode"] is None else want["mode"],
                 uid=have["uid"] if want["uid"] is None else want["uid"],
                 gid=have["gid"] if want["gid"] is None else want["gid"])
    changes = []
    if have["data"] != final["data"]:
        changes.append("content")
    if have["mode"] != final["mode"]:
        changes.append("mode")
    if (have["uid"], have["gid"]) != (final["uid"], final["gid"]):
        changes.append("owner")
    return changes, final


def _text(data):
    """data as text for a diff, or None when it looks binary."""
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _attributes(entry):
    return "mode: %04o\nowner_id: %d\ngroup_id: %d\n" % (entry["mode"], entry["uid"], entry["gid"])


def diff_of(where, have, final, changes):
    """The task's diff (a list, as ansible's callbacks show it): the content when it changes,
    the mode and owner when they change; both for a new file. have: read_entry's, None or
    "symlink"."""
    old = have if isinstance(have, dict) else None
    out = []
    if old is None or "content" in changes:
        shown = {"before_header": where if old else "%s (%s)" % (where, "absent" if have is None else "a symlink"),
                 "after_header": where}
        for key, data, side in (("dst", old["data"] if old else b"", "before"), ("src", final["data"], "after")):
            if len(data) > MAX_DIFF:
                shown[key + "_larger"] = MAX_DIFF
            elif _text(data) is None:
                shown[key + "_binary"] = 1
            else:
                shown[side] = _text(data)
        out.append(shown)
    if old is None or "mode" in changes or "owner" in changes:
        header = "%s (mode and owner)" % where
        out.append({"before_header": header, "after_header": header,
                    "before": _attributes(old) if old else "", "after": _attributes(final)})
    return out


# ------------------------------------------------------------------ what the container sees
def _under(path, top):
    top = top.rstrip("/") or "/"
    return path == top or path.startswith(top + "/") or top == "/"


def _mounts(info):
    """The container's mounts, as (destination, kind, writable), kind "user" (a volume or a
    bind: the archive API reaches it), "tmpfs" or "engine" (it does not)."""
    host = info.get("HostConfig") or {}
    out = [(top, "engine", True) for top in ENGINE_MOUNTS]
    out += [(top, "tmpfs", True) for top in host.get("Tmpfs") or {}]
    for mount in info.get("Mounts") or []:
        top = mount.get("Destination") or ""
        if top:
            out.append((top, "tmpfs" if mount.get("Type") == "tmpfs" else "user", mount.get("RW", True)))
    return out


def _covering(info, path):
    """The deepest mount path is on (see _mounts), or None (the container's own layer)."""
    found = [m for m in _mounts(info) if _under(path, m[0])]
    return max(found, key=lambda m: (len(m[0].rstrip("/")), m[1] == "user")) if found else None


def why_hidden(info, path):
    """Why what the archive API reads or writes at path (a path with no symlink on it) is not
    what the container sees there (its inspect), or None: under a tmpfs or a filesystem the
    engine mounts itself (/dev, /proc, /sys: the archive API works on the container's layer
    beneath them), or one of the files the engine bind-mounts at every start. A volume or
    bind mount deeper than those is what the container sees."""
    covering = _covering(info, path)
    if covering and covering[1] == "tmpfs":
        return ("it is under the tmpfs mount %s: the engine's archive API writes beneath it, where "
                "the container does not look" % covering[0])
    if covering and covering[1] == "engine":
        return ("it is under %s, which the engine mounts itself when the container runs: the "
                "archive API writes beneath it, where the container does not look" % covering[0])
    if path in ENGINE_FILES and not (covering and covering[0] == path):
        return ("the engine bind-mounts it at every start (in every network mode; a container not "
                "started yet gets it at its first start): set the container's etc_hosts, hostname "
                "or dns_* options instead")
    return None


def why_not_writable(info, path, userns_remap):
    """Why the archive API cannot write path (a path with no symlink on it) in the container
    (its inspect), or None: a file that is a mount point (a bind of one file), a read-only
    mount or root filesystem, an engine that remaps user namespaces (the archive API reads
    owners back as the host's: moby#43698). why_hidden's come first."""
    host = info.get("HostConfig") or {}
    covering = _covering(info, path)
    user = covering if covering and covering[1] == "user" else None
    if user and user[0].rstrip("/") == path:
        kind = next((m.get("Type") for m in info.get("Mounts") or [] if m.get("Destination") == user[0]), "bind")
        return "it is a mount point (a %s mount of a file): change the file it mounts instead" % kind
    if user and not user[2]:
        return "it is on the read-only mount %s" % user[0]
    if user is None and host.get("ReadonlyRootfs"):
        return "the container's root filesystem is read-only (option read_only)"
    if userns_remap and host.get("UsernsMode") != "host":
        return ("the engine remaps user namespaces (userns-remap), and its archive API then reads "
                "owners back as the host's (moby#43698): not supported")
    return None


# ------------------------------------------------------------------ engine
def _probe(client, name, path, fetch=False):
    """(stat, archive) of path in the container: the stat alone (HEAD), or with fetch the file's
    archive too. stat None: nothing there; UNRESOLVED: the engine cannot resolve the path (a
    file on its way, a symlink loop). Any other error is raised."""
    try:
        if fetch:
            chunks, stat = client.call("get_archive", name, path)
            return stat or {}, b"".join(chunks)
        return client.call("archive_stat", name, path) or {}, None
    except DockerError as exc:
        if exc.not_found:
            return None, None
        if _UNRESOLVED_RE.search(str(exc)):
            return UNRESOLVED, None
        raise


def _target(path, stat):
    """Where the symlink at path leads: the engine's stat gives it resolved whole (every
    symlink on the way followed) and absolute."""
    target = stat.get("linkTarget") or ""
    return posixpath.normpath(posixpath.join(posixpath.dirname(path), target))


def resolve_dir(client, name, directory, is_dir=False):
    """The directory as the engine reaches it, every symlink on its path followed: one stat
    per part, from the top (a symlink's stat gives its target resolved whole).
    -> (state, real, passed): state "directory", "missing", or "not a directory" (a file on
    the path, or a symlink that does not resolve: a loop); real the path with no symlink on
    it (state "directory"); passed the symlinks met and their targets, for why_hidden.
    is_dir: known to be a directory (a file in it was read): no stat of a last symlink's
    target."""
    real, passed, pending = "/", [], False
    for part in [p for p in directory.split("/") if p]:
        probe = posixpath.join(real, part)
        stat, _archive = _probe(client, name, probe)
        if stat is None:
            return "missing", None, passed
        if stat is UNRESOLVED:
            return "not a directory", None, passed
        kind = kind_of(stat)
        if kind == "directory":
            real, pending = probe, False
        elif kind == "symlink":
            real, pending = _target(probe, stat), True
            passed += [probe, real]
        else:
            return "not a directory", None, passed
    if pending and not is_dir:
        stat, _archive = _probe(client, name, real)
        if stat is None:
            return "missing", None, passed
        if stat is UNRESOLVED or kind_of(stat) != "directory":
            return "not a directory", None, passed
    return "directory", real, passed


def look(module, client, name, dest, follow):
    """-> (path, real, have, passed): the file to write (dest, or with follow the target of a
    symlink at dest), where that is with no symlink on its path, what is there now
    (read_entry's, None for nothing, "symlink" for a link not followed or one that does not
    resolve), and the symlinks passed on the way with their targets. Fails the run, naming the
    option, for a directory that does not exist or a dest that is not a file."""
    stat, archive = _probe(client, name, dest, fetch=True)
    path, passed = dest, []
    if follow and stat not in (None, UNRESOLVED) and kind_of(stat) == "symlink":
        for _hop in range(MAX_LINKS):
            path = _target(path, stat)
            passed.append(path)
            stat, archive = _probe(client, name, path, fetch=True)
            if stat in (None, UNRESOLVED) or kind_of(stat) != "symlink":
                break
        else:
            module.fail_json(msg="%s: more than %d symlinks to follow in container %s (option follow)"
                                 % (dest, MAX_LINKS, name))
        # the engine resolved the target whole: no symlink on its path, only its directory
        # to find when there is no file there yet
        real_dir = posixpath.dirname(path)
        if stat is None:
            found, _archive = _probe(client, name, real_dir)
            state = "missing" if found is None else (
                "directory" if found is not UNRESOLVED and kind_of(found) == "directory" else "not a directory")
        else:
            state = "directory"
    else:
        state, real_dir, passed = resolve_dir(
            client, name, posixpath.dirname(dest), is_dir=stat not in (None, UNRESOLVED))
    if state != "directory":
        parent = posixpath.dirname(path)
        module.fail_json(msg="%s in container %s (option dest%s); nothing was written" % (
            "directory %s does not exist" % parent if state == "missing" else
            "%s (or a directory on its path) is not a directory, or a symlink there does not resolve"
            % parent, name, "" if path == dest else ": the target of symlink %s" % dest))
    real = posixpath.join(real_dir, posixpath.basename(path))
    if stat is None:
        return path, real, None, passed
    if stat is UNRESOLVED:   # its directory resolves: a symlink at dest that does not
        if follow:
            module.fail_json(msg="%s in container %s is a symlink that does not resolve (a loop, or a "
                                 "path through a file): nothing to follow (option dest, with follow); "
                                 "nothing was written" % (path, name))
        return path, real, "symlink", passed
    kind = kind_of(stat)
    if kind == "symlink":
        return path, real, "symlink", passed
    if kind == "directory":
        module.fail_json(msg="%s is a directory in container %s (option dest): give the path "
                             "of the file to write" % (path, name))
    have = read_entry(archive) if kind == "file" else None
    if have is None:
        module.fail_json(msg="%s is not a regular file in container %s (option dest); nothing "
                             "was written" % (path, name))
    return path, real, have, passed


def _shown(text, info):
    """An engine message without the host's path of the container's filesystem."""
    merged = ((info.get("GraphDriver") or {}).get("Data") or {}).get("MergedDir")
    return text.replace(merged, "") if merged else text


def run(module, want, client=None, diff=False):
    p = module.params
    name = p["container"]
    client = client or DockerClient(p)
    dest = want["dest"]
    info = ContainerEngine(client).inspect(name)
    if info is None:
        module.fail_json(msg="container %s not found (option container)" % name)

    def refuse(path, why, **extra):
        module.fail_json(msg="cannot write %s%s in container %s (option dest): %s; nothing was written"
                             % (dest, "" if path == dest else " (through symlinks, %s)" % path, name, why),
                         container=name, dest=dest, **extra)

    # what the container would not see: refused before any other call, then again for the
    # path as the engine resolves it (a file that matches there is not one the container has)
    why = why_hidden(info, dest)
    if why:
        refuse(dest, why)
    try:
        path, real, have, passed = look(module, client, name, dest, p["follow"])
    except DockerError as exc:
        module.fail_json(msg=_shown(str(exc), info), container=name, dest=dest)
    for seen in [real] + passed:
        why = why_hidden(info, seen)
        if why:
            refuse(seen, why)
    changes, final = decide(want, have, force=p["force"])
    result = dict(container=name, dest=path, changes=changes)
    if final is not None:
        result.update(checksum=hashlib.sha1(final["data"]).hexdigest(), size=len(final["data"]),
                      mode="%04o" % final["mode"], owner_id=final["uid"], group_id=final["gid"])
    if not changes:
        if have is not None and not p["force"]:
            result["msg"] = "%s exists in container %s; left as it is (force is false)" % (path, name)
        module.exit_json(changed=False, **result)
    if diff:
        result["diff"] = diff_of("%s:%s" % (name, path), have, final, changes)
    # what the engine would refuse: found before any write, in check mode too (the engine's
    # info, made only when there is something to write)
    why = why_not_writable(info, real, "name=userns" in (client.call("info").get("SecurityOptions") or []))
    if why:
        refuse(real, why, changes=changes)
    if not module.check_mode:
        archive = archive_of(posixpath.basename(real), final["data"], final["mode"], final["uid"], final["gid"])
        try:
            client.call("put_archive", name, posixpath.dirname(real), archive)
        except DockerError as exc:
            module.fail_json(msg="writing %s in container %s: %s" % (path, name, _shown(str(exc), info)),
                             container=name, dest=path)
    module.exit_json(changed=True, **result)


def copy_main(module, client=None, diff=None):
    """The module's run once its arguments are validated: on the host (the module) or on the
    controller against the host's engine socket forwarded over SSH (the action plugin, with
    client and diff, the task's diff mode). Ends with module.exit_json or module.fail_json.
    The diff is returned in diff mode only (it holds the content)."""
    try:
        want = parse(module.params)
    except SpecError as exc:
        module.fail_json(msg=str(exc))
    try:
        run(module, want, client, diff=bool(getattr(module, "_diff", False) if diff is None else diff))
    except DockerError as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc())
