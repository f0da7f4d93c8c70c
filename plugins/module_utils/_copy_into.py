# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""dockyard.fleet.container_copy_into: one file written into a container through the engine's
archive API (what `docker cp` uses), only when its content, mode or owner differ. Shared by
the module (on the host) and its action plugin (on the controller, against the host's engine
socket forwarded over SSH).

The decide-what-to-change part (parse, read_entry, decide, diff_of) is pure; run() makes the
engine calls: a run with nothing to change is one (the file's archive); a write adds the
container's inspect and the engine's info (what would make the write fail or go astray,
found in check mode too) and the write; a first write also asks whether its directory is one.

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
# symlinks followed (follow=true) before giving up: the engine resolves a chain in one stat,
# this only bounds a target that changes under the run
MAX_LINKS = 8
_OCTAL_RE = re.compile(r"^(?:0o?)?([0-7]{1,4})$")

SPEC_RULES = dict(mutually_exclusive=[("src", "content")], required_one_of=[("src", "content")])


def copy_argument_spec():
    """The module's argument spec (also what the action plugin validates with)."""
    return docker_common_args(
        container=dict(type="str", required=True),
        dest=dict(type="str", required=True, aliases=["container_path"]),
        src=dict(type="path"),
        content=dict(type="str"),
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
        if params.get(key) is not None and params[key] < 0:
            raise SpecError(key, "must not be negative, got %d" % params[key])
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
        content = params["content"]
        if params.get("content_is_b64"):
            try:
                data = base64.b64decode(content, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise SpecError("content", "is not valid base64 (content_is_b64 is true): %s" % exc) from exc
        else:
            data = content.encode("utf-8")
    return dict(dest=posixpath.normpath(dest), data=data, mode=mode,
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


# ------------------------------------------------------------------ engine
def _dir_state(client, name, path):
    """What path is in the container, following a symlink: "directory", "missing" or "not a
    directory". The engine answers an lstat through a file (a/file/b) with an error, not 404
    (the collection's client words it "not a directory"); any other error is raised."""
    probe = path
    for _hop in range(2):
        try:
            stat = client.get("archive_stat", name, probe)
        except DockerError as exc:
            if "not a directory" in str(exc):
                return "not a directory"
            raise
        if not stat:
            return "missing"
        kind = kind_of(stat)
        if kind != "symlink" or probe.endswith("/"):
            return kind if kind == "directory" else "not a directory"
        probe = path.rstrip("/") + "/"   # a trailing slash: the engine follows the link
    return "not a directory"


def _fetch(client, name, path):
    """(stat, archive bytes) of path in the container, or (None, None) when there is no such
    path (or the container is gone: the caller tells them apart)."""
    try:
        chunks, stat = client.call("get_archive", name, path)
    except DockerError as exc:
        if exc.not_found or "not a directory" in str(exc):
            return None, None
        raise
    return stat or {}, b"".join(chunks)


def _under(path, top):
    top = top.rstrip("/") or "/"
    return path == top or path.startswith(top + "/") or top == "/"


def why_not_writable(info, path, userns_remap):
    """Why the archive API cannot write path in the container (its inspect), or None: a file
    that is a mount point (a bind of one file, the engine's network files), a tmpfs (the
    archive API writes beneath it, where the container does not look), a read-only mount or
    root filesystem, an engine that remaps user namespaces (the archive API reads owners back
    as the host's: moby#43698)."""
    host = info.get("HostConfig") or {}
    mounts = sorted(info.get("Mounts") or [], key=lambda m: len(m.get("Destination") or ""), reverse=True)
    tmpfs = list(host.get("Tmpfs") or {}) + [m.get("Destination") for m in mounts if m.get("Type") == "tmpfs"]
    for top in tmpfs:
        if top and _under(path, top):
            return "it is under the tmpfs mount %s, which the engine's archive API does not reach" % top
    for mount in mounts:
        if mount.get("Destination") == path:
            return "it is a mount point (a %s mount of a file): change the file it mounts instead" % mount.get("Type")
    engine_files = {"/etc/hosts": info.get("HostsPath"), "/etc/hostname": info.get("HostnamePath"),
                    "/etc/resolv.conf": info.get("ResolvConfPath")}
    if engine_files.get(path):
        return "the engine bind-mounts it: set the container's etc_hosts, hostname or dns_* options instead"
    covering = next((m for m in mounts if _under(path, m.get("Destination") or "")), None)
    if covering is not None and not covering.get("RW", True):
        return "it is on the read-only mount %s" % covering.get("Destination")
    if covering is None and host.get("ReadonlyRootfs"):
        return "the container's root filesystem is read-only (option read_only)"
    if userns_remap and host.get("UsernsMode") != "host":
        return ("the engine remaps user namespaces (userns-remap), and its archive API then reads "
                "owners back as the host's (moby#43698): not supported")
    return None


def look(module, client, name, dest, follow):
    """-> (path, have, inspect): the file to write (dest, or with follow the target of a
    symlink at dest), what is there now (read_entry's, None for nothing, "symlink"), and the
    container's inspect when this had to make it (None otherwise). Fails the run, naming the
    option, for a container or directory that does not exist or a dest that is not a file."""
    path = dest
    for _hop in range(MAX_LINKS):
        stat, archive = _fetch(client, name, path)
        if stat is None:
            info = ContainerEngine(client).inspect(name)
            if info is None:
                module.fail_json(msg="container %s not found (option container)" % name)
            parent = posixpath.dirname(path)
            state = _dir_state(client, name, parent)
            if state != "directory":
                module.fail_json(msg="%s in container %s (option dest%s); nothing was written" % (
                    "directory %s does not exist" % parent if state == "missing" else
                    "%s (or a directory on its path) is not a directory" % parent, name,
                    "" if path == dest else ": the target of symlink %s" % dest))
            return path, None, info
        kind = kind_of(stat)
        if kind == "symlink":
            target = stat.get("linkTarget") or ""
            if not follow:
                return path, "symlink", None
            if not target.startswith("/"):
                target = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
            path = target
            continue
        if kind == "directory":
            module.fail_json(msg="%s is a directory in container %s (option dest): give the path "
                                 "of the file to write" % (path, name))
        have = read_entry(archive) if kind == "file" else None
        if have is None:
            module.fail_json(msg="%s is not a regular file in container %s (option dest); nothing "
                                 "was written" % (path, name))
        return path, have, None
    module.fail_json(msg="%s: more than %d symlinks to follow in container %s (option follow)"
                         % (dest, MAX_LINKS, name))
    return None, None, None


def run(module, want, client=None):
    p = module.params
    name = p["container"]
    client = client or DockerClient(p)
    path, have, info = look(module, client, name, want["dest"], p["follow"])
    changes, final = decide(want, have, force=p["force"])
    result = dict(container=name, dest=path, changes=changes)
    if final is not None:
        result.update(checksum=hashlib.sha1(final["data"]).hexdigest(), size=len(final["data"]),
                      mode="%04o" % final["mode"], owner_id=final["uid"], group_id=final["gid"])
    if not changes:
        if have is not None and not p["force"]:
            result["msg"] = "%s exists in container %s; left as it is (force is false)" % (path, name)
        module.exit_json(changed=False, **result)
    result["diff"] = diff_of("%s:%s" % (name, path), have, final, changes)
    # what the engine would refuse, or write where the container does not look: found before
    # any write, in check mode too (two calls, made only when there is something to write)
    info = info or ContainerEngine(client).inspect(name) or {}
    why = why_not_writable(info, path, "name=userns" in (client.call("info").get("SecurityOptions") or []))
    if why:
        module.fail_json(msg="cannot write %s in container %s (option dest): %s; nothing was written"
                             % (path, name, why), container=name, dest=path, changes=changes)
    if not module.check_mode:
        archive = archive_of(posixpath.basename(path), final["data"], final["mode"], final["uid"], final["gid"])
        try:
            client.call("put_archive", name, posixpath.dirname(path), archive)
        except DockerError as exc:
            module.fail_json(msg="writing %s in container %s: %s" % (path, name, exc), container=name, dest=path)
    module.exit_json(changed=True, **result)


def copy_main(module, client=None):
    """The module's run once its arguments are validated: on the host (the module) or on the
    controller against the host's engine socket forwarded over SSH (the action plugin, with
    client). Ends with module.exit_json or module.fail_json."""
    try:
        want = parse(module.params)
    except SpecError as exc:
        module.fail_json(msg=str(exc))
    try:
        run(module, want, client)
    except DockerError as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc())
