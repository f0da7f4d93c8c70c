# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic of dockyard.fleet.image: image references, docker-save archive
manifests (read on the controller by the action plugin), keep-N selection and
the before/after view used for diffs. No engine access here.

Private to dockyard.fleet: no compatibility promise for code outside the collection.
"""
from __future__ import annotations

import bz2
import calendar
import gzip
import hashlib
import json
import lzma
import os
import re
import tarfile

from ansible.module_utils.common.validation import check_type_dict

from ansible_collections.dockyard.fleet.plugins.module_utils._container_spec import (
    familiar_repo, pull_would_change)
from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import DockerError

# Docker reference grammar (distribution/reference), simplified but strict enough
# to reject what the engine would reject before anything is sent to it. ASCII only: the
# engine's grammar is, and Python's \w would let "vé" through.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*" \
          r"|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}"
REFERENCE_RE = re.compile(r"(?P<repo>(?:%s/)?%s(?:/%s)*)(?::(?P<tag>%s))?(?:@(?P<digest>%s))?"
                          % (_DOMAIN, _COMPONENT, _COMPONENT, _TAG, _DIGEST), re.ASCII)
# An image ID: sha256:<64 hex> or the 64 hex alone (the engine refuses both as a repository).
IMAGE_ID_RE = re.compile(r"(?:sha256:)?(?P<hex>[0-9a-f]{64})", re.ASCII)
# A short image ID (12 hex or more), also a valid repository name: an ID only if the engine
# resolves it to an image whose ID starts with it.
SHORT_ID_RE = re.compile(r"(?:sha256:)?(?P<hex>[0-9a-f]{12,63})", re.ASCII)
# The options of dockyard.fleet.image, next to the connection options (docker_common_args).
# Here and not in the module: the action plugin checks the task's arguments against it.
IMAGE_ARGS = dict(
    name=dict(type="str", required=True),
    state=dict(type="str", default="present", choices=["present", "absent"]),
    source=dict(type="str", choices=["pull", "load", "build"]),
    pull=dict(type="str", choices=["always", "missing"]),
    load_path=dict(type="path"),
    build=dict(type="dict", options=dict(
        path=dict(type="path", required=True),
        dockerfile=dict(type="str"),
        args=dict(type="dict"),
        target=dict(type="str"),
        nocache=dict(type="bool", default=False),
        pull=dict(type="bool", default=False),
    )),
    force_source=dict(type="bool", default=False, aliases=["rebuild"]),
    force_absent=dict(type="bool", default=False),
    repository=dict(type="list", elements="str"),
    force_tag=dict(type="bool", default=False),
    keep=dict(type="int"),
    ship=dict(type="str", default="auto", choices=["auto", "stream", "copy"]),
    _archive=dict(type="dict"),
)


class ImageInputError(ValueError):
    """Bad user input; the message names the option."""


def check_dict_options(spec, args):
    """Options of `spec` that are dicts with suboptions, checked in the task's arguments.

    ansible-core fails such an option given a list, or a string it cannot read as a dict
    (JSON or key=value), with 'dictionary requested, could not parse JSON or key=value' and
    no option name (it lists no_log values before it checks types). Run before the module,
    this raises ImageInputError naming the option instead; what ansible-core can turn into a
    dict passes on unchanged."""
    for name, opt in spec.items():
        if opt.get("type") != "dict" or not opt.get("options"):
            continue
        for key in [name] + list(opt.get("aliases") or []):
            value = args.get(key)
            if value is None or isinstance(value, dict):
                continue
            if isinstance(value, str):
                try:
                    check_type_dict(value)
                    continue
                except TypeError as exc:
                    raise ImageInputError("%s: expected a dict (suboptions %s), got the string %r: %s"
                                          % (key, ", ".join(sorted(opt["options"])), value, exc)) from None
            raise ImageInputError("%s: expected a dict (suboptions %s), got %s"
                                  % (key, ", ".join(sorted(opt["options"])), _kind_of(value)))


def _kind_of(value):
    """'a list', 'a boolean'...: the task's value as the user wrote it (not ansible's tagged type)."""
    for kind, name in ((bool, "a boolean"), (int, "an integer"), (float, "a number"),
                       (list, "a list"), (tuple, "a list")):
        if isinstance(value, kind):
            return name
    return "a %s" % type(value).__name__


def parse_reference(ref, option="name"):
    """'repo[:tag][@digest]' -> dict(repo, tag, digest, ref, has_tag) with tag defaulting to latest.

    `ref` is the canonical form: repo@digest when a digest is given, else repo:tag. Names
    are in the engine's familiar form (the one `docker images` shows and the engine stores):
    docker.io/ and index.docker.io/ dropped, and library/ for Docker Hub's official images, so
    that docker.io/x/y:1 and x/y:1 compare equal.
    """
    if not isinstance(ref, str) or not ref:
        raise ImageInputError("%s: an image reference is required (repository:tag)" % option)
    if IMAGE_ID_RE.fullmatch(ref):
        raise ImageInputError("%s: %r is an image ID, not an image reference; expected "
                              "[registry[:port]/]repository[:tag]" % (option, ref))
    m = REFERENCE_RE.fullmatch(ref)
    if not m or len(m.group("repo")) > 255:
        raise ImageInputError("%s: %r is not a valid image reference; expected "
                              "[registry[:port]/]repository[:tag] or repository@sha256:<digest> "
                              "(lowercase repository, ASCII letters, digits, '_', '.' and '-' "
                              "in the tag)" % (option, ref))
    repo, tag, digest = m.group("repo"), m.group("tag"), m.group("digest")
    first, dummy, rest = repo.partition("/")
    if repo != repo.lower() and (not rest or not _is_domain(first)):
        raise ImageInputError("%s: %r is not a valid image reference: repository names must be "
                              "lowercase" % (option, ref))
    repo = familiar_repo(repo)
    if digest:
        canonical = "%s@%s" % (repo, digest)
    else:
        tag = tag or "latest"
        canonical = "%s:%s" % (repo, tag)
    return dict(repo=repo, tag=tag, digest=digest, ref=canonical, has_tag=bool(m.group("tag")))


def _is_domain(first):
    return "." in first or ":" in first or first == "localhost"


def familiar(ref):
    """A tag as the engine stores it ('docker.io/x/y:1' -> 'x/y:1'); unparsable ones as given."""
    try:
        return parse_reference(ref)["ref"]
    except ImageInputError:
        return ref


def parse_name(name):
    """Option `name`: an image ID (sha256:<64 hex> or the 64 hex) -> dict(id, ref, repo=None,
    tag=None, digest=None, has_tag=False); anything else as parse_reference. A short hex name
    is parsed as a reference here: ImageManager asks the engine whether it is an ID."""
    m = IMAGE_ID_RE.fullmatch(name) if isinstance(name, str) else None
    if m:
        full = "sha256:" + m.group("hex")
        return dict(id=full, ref=full, repo=None, tag=None, digest=None, has_tag=False)
    return parse_reference(name, "name")


def load_name(name):
    """`name` of a source=load task: the loaded image is tagged as it, so a tag it must be."""
    ref = parse_name(name)
    if ref.get("id") or ref["digest"]:
        raise ImageInputError("name: %s is %s: source=load tags the loaded image as name, so name "
                              "must be repository[:tag]" % (name, "an image ID" if ref.get("id")
                                                            else "a digest reference"))
    return ref


def repo_of(tag):
    """'reg:5000/x/y:1' -> 'reg:5000/x/y' (a RepoTags entry); 'x/y@sha256:..' -> 'x/y'."""
    if "@" in tag:
        return tag.partition("@")[0]
    return tag.rpartition(":")[0]


def stand_in(image_id):
    """Check mode's ID of an image a pull or build would make: '(pulled)', '(built)'."""
    return (image_id or "").replace("sha256:", "").startswith("(")


def created_key(created):
    """Sortable key of an engine 'Created' value (RFC 3339 with nanoseconds, or epoch int)."""
    if isinstance(created, (int, float)):
        return (int(created), 0)
    m = re.match(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?", created or "")
    if not m:
        return (0, 0)
    secs = calendar.timegm(tuple(int(x) for x in m.groups()[:6]))
    return (secs, int((m.group(7) or "0").ljust(9, "0")[:9]))


def short_id(image_id):
    return (image_id or "").replace("sha256:", "")[:12]


def norm_id(image_id):
    if not image_id:
        return None
    return image_id if image_id.startswith("sha256:") else "sha256:" + image_id


# ------------------------------------------------------------------ archives
# What `docker load` takes besides a plain tar: compressed archives (docker save | gzip).
_COMPRESSED = ((b"\x1f\x8b", gzip.open, "gzip"), (b"BZh", bz2.open, "bzip2"),
               (b"\xfd7zXZ\x00", lzma.open, "xz"))


def read_archive(path):
    """Read a `docker save` archive's manifest without loading its layers.

    Returns dict(images=[{id, tags, created}], size, compression) where id is the sha256 of
    the image config (the image ID the engine will give it) and size the file's size (what
    is shipped). A gzip, bzip2 or xz compressed archive (which docker load accepts) is read
    through its decompressor. Raises ImageInputError (naming load_path) if the archive is
    missing, not a tar, truncated, or inconsistent.
    """
    opt = "load_path"
    if not os.path.isfile(path):
        raise ImageInputError("%s: archive %s does not exist (or is not a file)" % (opt, path))
    size = os.path.getsize(path)
    try:
        compression = _check_compressed(path)
        with tarfile.open(path, mode="r:*") as tar:
            members = {}
            for member in tar:  # walks every header: detects truncation of the member table
                members[os.path.normpath(member.name)] = member
            for member in members.values():
                # offsets are those of the uncompressed tar: only comparable with a plain file
                # (a compressed one was read to its end above)
                if compression is None and member.isfile() and member.offset_data + member.size > size:
                    raise ImageInputError("%s: archive %s is truncated (member %s is cut off)"
                                          % (opt, path, member.name))
            images = _manifest_images(tar, members, path)
    except ImageInputError:
        raise
    except (tarfile.TarError, EOFError, OSError, UnicodeDecodeError, lzma.LZMAError) as exc:
        raise ImageInputError("%s: %s is not a readable image archive: %s" % (opt, path, exc)) from exc
    return dict(images=images, size=size, compression=compression)


def _check_compressed(path):
    """The compression of the archive at path (None for a plain tar). A compressed one is
    read to its end once: a truncated or corrupt stream raises (EOFError, OSError...)."""
    with open(path, "rb") as f:
        magic = f.read(6)
    for prefix, opener, name in _COMPRESSED:
        if magic.startswith(prefix):
            with opener(path, "rb") as stream:
                while stream.read(1 << 20):
                    pass
            return name
    return None


def _manifest_images(tar, members, path):
    opt = "load_path"
    if "manifest.json" not in members:
        raise ImageInputError("%s: %s is not a docker-save archive (no manifest.json)"
                              % (opt, path))
    manifest = _read_json(tar, members["manifest.json"], path)
    if not isinstance(manifest, list) or not manifest:
        raise ImageInputError("%s: %s has an empty or invalid manifest.json" % (opt, path))
    images = []
    for entry in manifest:
        if not isinstance(entry, dict) or not entry.get("Config"):
            raise ImageInputError("%s: %s has an invalid manifest.json entry" % (opt, path))
        cfg_name = os.path.normpath(entry["Config"])
        if cfg_name not in members:
            raise ImageInputError("%s: %s lacks the image config %s named in its manifest"
                                  % (opt, path, entry["Config"]))
        cfg_bytes = tar.extractfile(members[cfg_name]).read()
        try:
            cfg = json.loads(cfg_bytes)
        except ValueError as exc:
            raise ImageInputError("%s: %s has an unreadable image config %s"
                                  % (opt, path, entry["Config"])) from exc
        for layer in entry.get("Layers") or []:
            if os.path.normpath(layer) not in members:
                raise ImageInputError("%s: %s lacks layer %s named in its manifest"
                                      % (opt, path, layer))
        images.append(dict(id="sha256:" + hashlib.sha256(cfg_bytes).hexdigest(),
                           tags=list(entry.get("RepoTags") or []),
                           created=cfg.get("created") if isinstance(cfg, dict) else None))
    return images


def _read_json(tar, member, path):
    try:
        return json.loads(tar.extractfile(member).read())
    except (ValueError, AttributeError) as exc:
        raise ImageInputError("load_path: %s has an unreadable %s" % (path, member.name)) from exc


def archive_image_for(archive, ref):
    """The archive's image, to be tagged as `name` (ref) after loading.

    Only an archive of one image: `docker load` tags every image of an archive with that
    image's RepoTags, moving them from the images they point to on the host; the module
    manages one image, so an archive of several is refused (naming load_path).
    """
    images = archive["images"]
    if len(images) != 1:
        raise ImageInputError("load_path: the archive holds %d images (%s); docker load would tag "
                              "them all, and this module loads one image: save %s alone "
                              "(docker save %s > file.tar)"
                              % (len(images), ", ".join(sorted(t for i in images for t in i["tags"]))
                                 or "no tags", ref, ref))
    return images[0]


# ------------------------------------------------------------------ keep N
def select_keep(candidates, current_id, used_ids, keep):
    """Which tags of one repository to remove so that `keep` images stay.

    candidates: list of dict(tag, id, created) for every tag of the repository;
    `created` is anything sortable (the image's creation time).
    The current image always counts as the most recent; the next most recent images
    (by created, then tag, descending) fill the remaining slots. Images used by any
    container (running or stopped) are never untagged and do not use a slot.
    Returns (kept_tags, removed_tags), both sorted.
    """
    if keep is None:
        return sorted(c["tag"] for c in candidates), []
    current_id = norm_id(current_id)
    used = {norm_id(i) for i in used_ids or ()}
    by_id = {}
    for c in candidates:
        by_id.setdefault(norm_id(c["id"]), []).append(c)

    def rank(image_id):
        tags = by_id[image_id]
        return (image_id == current_id, max(created_key(t["created"]) for t in tags),
                max(t["tag"] for t in tags))

    order = sorted((i for i in by_id if i not in used or i == current_id), key=rank, reverse=True)
    keep_ids = set(order[:max(keep, 0)]) | (used & set(by_id))
    if current_id in by_id:
        keep_ids.add(current_id)
    kept = sorted(c["tag"] for i in keep_ids for c in by_id[i])
    removed = sorted(c["tag"] for i in by_id if i not in keep_ids for c in by_id[i])
    return kept, removed


def tags_of_repo(images, repo):
    """From an engine image list (api.images()), every 'repo:tag' of `repo` as candidates."""
    out = []
    for img in images:
        for tag in img.get("RepoTags") or []:
            if tag == "<none>:<none>":
                continue
            r, dummy, dummy_tag = tag.rpartition(":")
            if r == repo:
                out.append(dict(tag=tag, id=img["Id"], created=img.get("Created") or 0))
    return out


def image_view(inspect):
    """The user-facing subset of an image inspect (also the diff view)."""
    if not inspect:
        return None
    return dict(id=inspect.get("Id"), tags=sorted(inspect.get("RepoTags") or []),
                digests=sorted(inspect.get("RepoDigests") or []),
                created=inspect.get("Created"), size=inspect.get("Size"))


def diff_view(inspect):
    if not inspect:
        return dict(present=False)
    return dict(present=True, id=inspect.get("Id"), tags=sorted(inspect.get("RepoTags") or []))


def extra_refs(repositories, base, option="repository"):
    """`repository` entries -> canonical refs (each once); entries without a tag take the tag
    of `name`."""
    out = []
    for entry in repositories or []:
        if isinstance(entry, str) and (IMAGE_ID_RE.fullmatch(entry) or entry.startswith("sha256:")):
            raise ImageInputError("%s: %r is an image ID, not a tag; entries are "
                                  "[registry[:port]/]repository[:tag]" % (option, entry))
        ref = parse_reference(entry, option)
        if ref["digest"]:
            raise ImageInputError("%s: %r: a digest cannot be used as a tag" % (option, entry))
        if not ref["has_tag"]:
            if not base["tag"]:
                raise ImageInputError("%s: %r needs a tag because name has none (%s)"
                                      % (option, entry, "an image ID" if base.get("id") else "a digest"))
            ref = parse_reference("%s:%s" % (ref["repo"], base["tag"]), option)
        if ref["ref"] not in [r["ref"] for r in out]:
            out.append(ref)
    return out


# ------------------------------------------------------------------ validation
def validate_params(params):
    """Check options before anything touches the engine. Returns the parsed name."""
    state = params.get("state") or "present"
    source = params.get("source")
    name = parse_name(params.get("name"))
    if state == "absent":
        for opt in ("source", "load_path", "build", "repository", "keep", "pull"):
            if params.get(opt) not in (None, [], {}):
                raise ImageInputError("%s: cannot be used with state=absent" % opt)
        return name
    if params.get("force_absent"):
        raise ImageInputError("force_absent: only meaningful with state=absent (state is %s)" % state)
    if params.get("load_path") and source != "load":
        raise ImageInputError("load_path: only valid with source=load (source is %s)" % source)
    if params.get("build") and source != "build":
        raise ImageInputError("build: only valid with source=build (source is %s)" % source)
    if params.get("pull") and source != "pull":
        raise ImageInputError("pull: only valid with source=pull (source is %s)" % source)
    if name.get("id") and source:
        raise ImageInputError("name: %s is an image ID: source=%s needs name as "
                              "repository[:tag]%s" % (params["name"], source,
                                                      " or repository@sha256:<digest>"
                                                      if source == "pull" else ""))
    if source == "build":
        if not (params.get("build") or {}).get("path"):
            raise ImageInputError("build: build.path (the context directory on the host) is "
                                  "required with source=build")
        if name["digest"]:
            raise ImageInputError("name: cannot build %s: a built image gets a tag, not a digest"
                                  % name["ref"])
    if source == "load":
        load_name(params.get("name"))
        if not params.get("_archive"):
            raise ImageInputError("load_path: source=load needs load_path, read on the controller "
                                  "by the dockyard.fleet.image action plugin")
    if params.get("keep") is not None and params["keep"] < 1:
        raise ImageInputError("keep: must be 1 or more (the current image is always kept), got %s"
                              % params["keep"])
    if params.get("keep") is not None and name.get("id"):
        raise ImageInputError("keep: prunes the repository of name, and name %s is an image ID: "
                              "give name as repository:tag" % params["name"])
    if params.get("force_tag") and not params.get("repository"):
        raise ImageInputError("force_tag: only meaningful together with repository")
    extra_refs(params.get("repository"), name)
    return name


# ------------------------------------------------------------------ engine work
def _stream(events, what):
    """Consume a pull/load/build JSON stream; raise DockerError on an error entry."""
    log = []
    aux = {}
    try:
        _consume(events, what, log, aux)
    except DockerError:
        raise
    # transport errors mid-stream come as any exception of the HTTP stack
    except Exception as exc:  # pylint: disable=broad-exception-caught
        raise DockerError("%s failed: %s" % (what, exc)) from exc
    return log, aux


def _consume(events, what, log, aux):
    for ev in events or []:
        if isinstance(ev, (bytes, str)):
            try:
                ev = json.loads(ev)
            except ValueError:
                continue
        if not isinstance(ev, dict):
            continue
        if ev.get("error") or ev.get("errorDetail"):
            msg = ev.get("error") or (ev.get("errorDetail") or {}).get("message")
            tail = "".join(log[-10:]).strip()
            raise DockerError("%s failed: %s%s" % (what, msg, ("\n" + tail) if tail else ""))
        if ev.get("aux"):
            aux.update(ev["aux"])
        if ev.get("stream"):
            log.append(ev["stream"])
        elif ev.get("status"):
            log.append(ev["status"] + "\n")


class ImageManager:
    """One run of dockyard.fleet.image against an engine (client: DockerClient-like).

    Everything that can be checked is checked before the first change (repository entries
    and the tags they would move, containers that keep an image from being removed...). When
    an engine call fails later, `partial()` says what the run had done by then."""

    def __init__(self, client, params, check_mode=False):
        self.client = client
        self.p = params
        self.check = check_mode
        self.name = parse_name(params["name"])
        self.actions = []
        self.removed = []
        self.changed = False
        self.needs_archive = False
        self.shipped = False    # source=load: the archive was sent to the engine
        self.warnings = []
        self._loaded_have = None
        self._assumed = set()   # check mode: tags a pulled or built image is assumed to have

    def partial(self):
        """The result keys of a run that failed part way: what it had changed by then."""
        return dict(changed=self.changed and not self.check, actions=self.actions,
                    removed=self.removed)

    def inspect(self, ref):
        return self.client.get("inspect_image", ref)

    def run(self):
        before = self._resolve_name()
        if self.p["state"] == "absent":
            return self._absent(before)
        if before is None and not self.p.get("source"):
            if self.name.get("id"):
                raise DockerError("name: image %s is not on the host" % self.name["ref"])
            raise DockerError("name: image %s is not on the host and no source is set "
                              "(use source=pull, load or build)" % self.name["ref"])
        refs = extra_refs(self.p.get("repository"), self.name)
        known = self._result_known_now(before)
        if known is not None:
            # the image this run ends with is known: the repository entries are checked
            # (and a tag that points elsewhere refused) before anything changes
            self._tag_plan(refs, *known)
        current = self._ensure_source(before)
        if self.needs_archive:
            return dict(changed=False, needs_archive=True, actions=self.actions)
        tags = set(current.get("RepoTags") or [])
        tags |= self._ensure_tags(current, refs)
        tags -= set(self._keep(current, tags))
        after = self.inspect(current["Id"]) if not self.check else current
        result = dict(changed=self.changed, actions=self.actions, removed=self.removed,
                      image=image_view(after))
        after_diff = diff_view(after)
        if self.check:
            after_diff["tags"] = sorted(tags)
            result["image"]["tags"] = sorted(tags)
        result["diff"] = dict(before=diff_view(before), after=after_diff)
        return result

    def _resolve_name(self):
        """The image `name` points to now (None if none). A short hex name (12+) is an image
        ID when the engine resolves it to an image whose ID starts with it."""
        if self.name.get("id"):
            return self.inspect(self.name["id"])
        raw = self.p["name"]
        m = SHORT_ID_RE.fullmatch(raw)
        if m:
            found = self.inspect(raw)
            if found is not None and norm_id(found["Id"]).startswith("sha256:" + m.group("hex")):
                self.name = dict(id=norm_id(found["Id"]), ref=norm_id(found["Id"]), repo=None,
                                 tag=None, digest=None, has_tag=False)
                if self.p["state"] != "absent":
                    # the checks validate_params makes for a full ID
                    validate_params(dict(self.p, name=self.name["id"]))
                return found
        return self.inspect(self.name["ref"])

    def _result_known_now(self, before):
        """(image ID, tags) of the image the source step ends with, when known before it runs
        (no pull or build to do, or a load: the archive's image); else None."""
        source = self.p.get("source")
        force = bool(self.p.get("force_source"))
        tags = set((before or {}).get("RepoTags") or [])
        if source is None or (before is not None and not force and (
                source == "build" or (source == "pull" and (self.p.get("pull") or "missing") == "missing"))):
            return before["Id"], tags
        if source == "load":
            arch = self.p["_archive"]
            have = self._have()
            return norm_id(arch["id"]), set((have or {}).get("RepoTags") or []) | self._load_tags()
        return None

    # -- state=absent
    def _absent(self, before):
        if before is None:
            return dict(changed=False, actions=self.actions, removed=self.removed, image=None,
                        diff=dict(before=diff_view(None), after=diff_view(None)))
        if self.name.get("id"):
            after = self._remove_image(before)
        else:
            after = self._untag(before)
        if not self.check:
            after = self.inspect(before["Id"])
        return dict(changed=self.changed, actions=self.actions, removed=self.removed,
                    image=image_view(after), diff=dict(before=diff_view(before), after=diff_view(after)))

    def _users(self, image_id):
        """[(name, running)] of the containers (any state) whose image is image_id."""
        out = []
        for c in self.client.call("containers", all=True):
            if norm_id(c.get("ImageID")) == norm_id(image_id):
                name = ((c.get("Names") or [""])[0] or "").lstrip("/") or short_id(c.get("Id"))
                out.append((name, (c.get("State") or "") in ("running", "paused", "restarting")))
        return sorted(out)

    def _has_children(self, image_id):
        """Whether images were built from image_id (the engine keeps such an image, untagged,
        and refuses to delete it by ID). Walks the parents of the listed images."""
        image_id = norm_id(image_id)
        parent_of = {}
        for img in self.client.call("images"):
            parent_of[norm_id(img["Id"])] = norm_id(img.get("ParentId")) or None
        seen = set()
        for start in list(parent_of):
            p = parent_of.get(start)
            while p and p not in seen:
                if p == image_id:
                    return True
                seen.add(p)
                if p not in parent_of:
                    parent_of[p] = norm_id((self.inspect(p) or {}).get("Parent")) or None
                p = parent_of[p]
        return False

    def _untag(self, before):
        """Remove tag (or digest) `name` of image `before` as the engine does; returns the
        image as it is predicted to be after (None when it goes)."""
        ref = self.name["ref"]
        force = bool(self.p.get("force_absent"))
        tags = list(before.get("RepoTags") or [])
        digests = list(before.get("RepoDigests") or [])
        users = []
        if is_single_reference(tags, digests):
            users = self._users(before["Id"])
            if users and not force:
                raise DockerError("name: cannot remove %s: it is the last tag of image %s, and "
                                  "container%s %s use%s that image; set force_absent: true to "
                                  "remove it anyway"
                                  % (ref, short_id(before["Id"]), "s" if len(users) > 1 else "",
                                     ", ".join("%s (%s)" % (n, "running" if r else "stopped")
                                               for n, r in users), "" if len(users) > 1 else "s"))
        left_tags = [t for t in tags if t != ref]
        left_digests = [d for d in digests if d != ref]
        if not self.name["digest"] and not any(repo_of(t) == self.name["repo"] for t in left_tags):
            left_digests = [d for d in left_digests if repo_of(d) != self.name["repo"]]
        action = "removed %s" % ref
        after = dict(before, RepoTags=left_tags, RepoDigests=left_digests)
        if not left_tags and not left_digests:
            running = [n for n, r in users if r]
            if running:
                action += " (image %s stays, untagged: running container %s uses it)" % (
                    short_id(before["Id"]), ", ".join(running))
            elif self._has_children(before["Id"]):
                action += " (image %s stays, untagged: images were built from it)" % short_id(before["Id"])
            else:
                after = None
                action += " (and image %s%s)" % (short_id(before["Id"]), (
                    ", which stopped container %s still uses" % ", ".join(n for n, dummy in users))
                    if users else "")
        if not self.check:
            self.client.call("remove_image", ref, force=force)
        self.changed = True
        self.actions.append(action)
        self.removed.append(ref)
        return after

    def _remove_image(self, before):
        """name is an image ID: remove the image with all its tags, as the engine does."""
        image_id = norm_id(before["Id"])
        force = bool(self.p.get("force_absent"))
        tags = sorted(before.get("RepoTags") or [])
        digests = before.get("RepoDigests") or []
        users = self._users(image_id)
        running = [n for n, r in users if r]
        if running:
            raise DockerError("name: cannot remove image %s: running container %s uses it (even "
                              "force_absent cannot remove it: remove the container first)"
                              % (short_id(image_id), ", ".join(running)))
        if self._has_children(image_id):
            raise DockerError("name: cannot remove image %s: images were built from it (dependent "
                              "child images; even force_absent cannot remove it: remove them first)"
                              % short_id(image_id))
        if not force and users:
            raise DockerError("name: cannot remove image %s: stopped container %s uses it; set "
                              "force_absent: true to remove it anyway"
                              % (short_id(image_id), ", ".join(n for n, dummy in users)))
        if not force and (tags or digests) and not is_single_reference(tags, digests):
            raise DockerError("name: cannot remove image %s by ID: it has %d tags (%s); set "
                              "force_absent: true to remove them all with the image, or remove "
                              "the tags by name" % (short_id(image_id), len(tags), ", ".join(tags)))
        if not self.check:
            self.client.call("remove_image", image_id, force=force)
        self.changed = True
        self.actions.append("removed image %s%s" % (short_id(image_id), (" (tags %s)" % ", ".join(tags))
                                                    if tags else ""))
        self.removed.extend(tags or [image_id])
        return None

    # -- sources
    def _ensure_source(self, before):
        source = self.p.get("source")
        force = bool(self.p.get("force_source"))
        if source is None:
            return before
        if source == "pull":
            if before is not None and (self.p.get("pull") or "missing") == "missing" and not force:
                return before
            return self._pull(before)
        if source == "build":
            if before is not None and not force:
                return before
            return self._build(before)
        return self._load()

    def _pull(self, before):
        ref = self.name["ref"]
        if self.check:
            if before is None or (not self.name["digest"] and self._registry_has_another(before)):
                self.changed = True
                self.actions.append("pulled %s" % ref)
                if self.name["digest"]:
                    return dict(Id="(pulled)", RepoTags=[], RepoDigests=[ref])
                return dict(Id="(pulled)", RepoTags=[ref])
            self.actions.append("pulled %s (already up to date)" % ref)
            return before
        tag = self.name["digest"] or self.name["tag"]
        try:
            _stream(self.client.call("pull", self.name["repo"], tag=tag, stream=True, decode=True),
                    "pull of %s" % ref)
        except Exception as exc:  # DockerError and stream-level errors alike
            raise DockerError("name: cannot pull %s from registry %s: %s"
                              % (ref, registry_of(self.name["repo"]), exc)) from exc
        after = self.inspect(ref)
        if after is None:
            raise DockerError("name: pull of %s reported success but the image is not there" % ref)
        if before is None or before["Id"] != after["Id"]:
            self.changed = True
            self.actions.append("pulled %s" % ref)
        else:
            self.actions.append("pulled %s (already up to date)" % ref)
        return after

    def _registry_has_another(self, before):
        """Check mode, pull=always: ask the registry for the tag's digest (no pull)."""
        try:
            digest = self.client.registry_digest(self.name["ref"])
        except DockerError as exc:
            raise DockerError("name: cannot ask registry %s about %s: %s"
                              % (registry_of(self.name["repo"]), self.name["ref"], exc)) from exc
        return pull_would_change(before, self.name["repo"], digest)

    def _build(self, before):
        b = self.p["build"]
        ctx = b["path"]
        dockerfile = os.path.join(ctx, b.get("dockerfile") or "Dockerfile")
        if not os.path.isdir(ctx):
            raise ImageInputError("build.path: %s is not a directory on the host (the build "
                                  "context)" % ctx)
        if not os.path.isfile(dockerfile):
            if b.get("dockerfile"):
                raise ImageInputError("build.dockerfile: %s is not a file on the host (relative "
                                      "to build.path %s)" % (b["dockerfile"], ctx))
            raise ImageInputError("build.path: %s has no Dockerfile (set build.dockerfile to "
                                  "the one to use)" % ctx)
        action = "built %s from %s" % (self.name["ref"], ctx)
        if self.check:
            self.changed = True
            self.actions.append(action)
            return before or dict(Id="(built)", RepoTags=[self.name["ref"]])
        kwargs = dict(path=ctx, tag=self.name["ref"], rm=True, forcerm=True, decode=True,
                      nocache=bool(b.get("nocache")), pull=bool(b.get("pull")))
        if b.get("dockerfile"):
            kwargs["dockerfile"] = b["dockerfile"]
        if b.get("args"):
            kwargs["buildargs"] = {k: str(v) for k, v in b["args"].items()}
        if b.get("target"):
            kwargs["target"] = b["target"]
        what = "build.path: cannot build %s from %s%s" % (
            self.name["ref"], ctx, (" (build.dockerfile %s)" % b["dockerfile"]) if b.get("dockerfile") else "")
        try:
            _stream(self.client.call("build", **kwargs), "build")
        except DockerError as exc:
            raise DockerError("%s: %s" % (what, exc)) from exc
        except (TypeError, ValueError, OSError) as exc:   # the SDK's own checks of the context
            raise DockerError("%s: %s" % (what, exc)) from exc
        after = self.inspect(self.name["ref"])
        if after is None:
            raise DockerError("%s: the build reported success but %s is not there"
                              % (what, self.name["ref"]))
        if before is not None and before["Id"] == after["Id"]:
            self.actions.append(action + " (same image as before)")
        else:
            self.changed = True
            self.actions.append(action)
        return after

    def _have(self):
        """source=load: the archive's image on the host (inspect by ID), asked once."""
        if self._loaded_have is None:
            self._loaded_have = [self.inspect(norm_id(self.p["_archive"]["id"]))]
        return self._loaded_have[0]

    def _load_tags(self):
        """The tags the archive's image has after the load: its RepoTags (docker load sets
        them, moving them from other images) and name."""
        arch = self.p["_archive"]
        return {familiar(t) for t in arch.get("tags") or []} | {self.name["ref"]}

    def _load(self):
        arch = self.p["_archive"]
        want_id = norm_id(arch["id"])
        have = self._have()
        force = bool(self.p.get("force_source"))
        if have is not None and not force:
            # the image is there: at most tags are missing, no need for the archive
            return self._tag_loaded(have, self._load_tags())
        action = "loaded %s from %s" % (short_id(want_id), arch.get("archive"))
        if have is not None:
            action += " (force_source: the image was there already)"
        archive_tags = {familiar(t) for t in arch.get("tags") or []}
        have_tags = set((have or {}).get("RepoTags") or [])
        if self.check:
            if have is None or not archive_tags <= have_tags:
                self.changed = True
            self.actions.append(action)
            loaded = dict(have or {}, Id=want_id, RepoTags=sorted(have_tags | archive_tags))
            return self._tag_loaded(loaded, self._load_tags())
        if not arch.get("path"):
            self.needs_archive = True
            return None
        self.shipped = True
        try:
            with open(arch["path"], "rb") as f:
                _stream(self.client.call("load_image", f), "load_path: docker load of %s"
                        % arch.get("archive"))
        except DockerError:
            self._after_failed_load(want_id, have, action)
            raise
        after = self.inspect(want_id)
        if after is None:
            raise DockerError("load_path: %s was loaded but image %s is not on the host"
                              % (arch.get("archive"), short_id(want_id)))
        if have is None or set(after.get("RepoTags") or []) != have_tags:
            self.changed = True
        self.actions.append(action)
        return self._tag_loaded(after, self._load_tags())

    def _after_failed_load(self, want_id, have, action):
        """A load that failed may still have made the image or moved tags: say so."""
        try:
            after = self.inspect(want_id)
        except DockerError:
            return
        if after is not None and (have is None or set(after.get("RepoTags") or [])
                                  != set(have.get("RepoTags") or [])):
            self.changed = True
            self.actions.append(action + " (then failed)")

    def _tag_loaded(self, have, want_tags):
        missing = sorted(want_tags - set(have.get("RepoTags") or []))
        for ref in missing:
            r = parse_reference(ref)
            if not self.check:
                self.client.call("tag", have["Id"], r["repo"], r["tag"], force=True)
            self.changed = True
            self.actions.append("tagged %s as %s" % (short_id(have["Id"]), ref))
        if missing and not self.check:
            return self.inspect(have["Id"])
        return dict(have, RepoTags=sorted(set(have.get("RepoTags") or []) | set(missing)))

    # -- extra tags
    def _tag_plan(self, refs, image_id, image_tags):
        """The `repository` entries to tag image_id as: [(ref, image it points to now or None)].
        An entry that points to another image fails without force_tag (before any change
        when called before the source step). In check mode, for an image a pull or build
        would make (its ID unknown), such an entry is a warning: the run fails unless the
        pull or build gives that very image."""
        plan = []
        for ref in refs:
            if ref["ref"] in image_tags:
                continue
            other = self.inspect(ref["ref"])
            if other is not None and norm_id(other["Id"]) == norm_id(image_id):
                continue
            if other is not None and not self.p.get("force_tag"):
                if stand_in(image_id):
                    # predicted as the run that succeeds has it: the tag on the new image
                    self._assumed.add(ref["ref"])
                    self.warnings.append(
                        "repository: %s points to image %s: the real run fails unless the %s "
                        "image is that one (force_tag: true moves the tag)"
                        % (ref["ref"], short_id(other["Id"]), image_id.strip("()")))
                    continue
                raise DockerError("repository: %s already points to image %s, not %s; set "
                                  "force_tag: true to move it" % (ref["ref"], short_id(other["Id"]),
                                                                  short_id(image_id)))
            plan.append((ref, other))
        return plan

    def _ensure_tags(self, current, refs):
        added = set()
        for ref, other in self._tag_plan(refs, current["Id"], set(current.get("RepoTags") or [])):
            if not self.check:
                self.client.call("tag", current["Id"], ref["repo"], ref["tag"], force=True)
            self.changed = True
            added.add(ref["ref"])
            self.actions.append("tagged %s as %s%s" % (short_id(current["Id"]), ref["ref"], (
                " (moved from image %s)" % short_id(other["Id"])) if other else ""))
        return added | self._assumed

    # -- keep N
    def _keep(self, current, tags):
        """keep: untag the older images of name's repository. tags: those of the current image
        after this run (in check mode they are predicted, and replace what the engine has)."""
        keep = self.p.get("keep")
        if keep is None:
            return []
        repo = self.name["repo"]
        extra = []
        if self.check:
            extra = [dict(tag=tag, id=current["Id"], created=current.get("Created"))
                     for tag in tags if repo_of(tag) == repo]
        removed = prune_repo(self.client, repo, current, keep, True, extra)
        for tag in removed:
            if not self.check:
                self.client.call("remove_image", tag)
            self.changed = True
            self.removed.append(tag)
            self.actions.append("removed %s (keep %d)" % (tag, keep))
        return removed


def is_single_reference(tags, digests):
    """The engine's isSingleReference: at most one tag, and every reference in one
    repository (then removing that reference may delete the image). False without any."""
    if len(tags) + len(digests) <= 1:
        return len(tags) + len(digests) == 1
    if len(tags) > 1:
        return False
    digest_repos = {repo_of(d) for d in digests}
    single = repo_of(tags[0]) if tags else repo_of(digests[0])
    return len(digest_repos) == 1 and single in digest_repos


def prune_repo(client, repo, current, keep, check_mode=False, extra=()):
    """Untag the images of repository `repo` beyond `keep` (select_keep: `current`, an image
    inspect, first, then the newest; images any container uses always stay). extra: the
    tags a check-mode run puts on the current image, dict(tag, id, created): they replace
    the engine's entries of the same tags (a tag the run moves counts for the current
    image, not for the one it points to now). Returns the tags removed, or that would be
    in check mode. client: DockerClient-like."""
    moved = {c["tag"] for c in extra}
    candidates = [c for c in tags_of_repo(client.call("images", name=repo), repo)
                  if c["tag"] not in moved]
    candidates += [dict(c) for c in extra]
    # precise creation times (the list gives whole seconds)
    created = {}
    for c in candidates:
        cid = norm_id(c["id"])
        if cid not in created:
            info = client.get("inspect_image", cid) if not stand_in(cid) else None
            created[cid] = (info or {}).get("Created") or c["created"]
        c["created"] = created[cid]
    used = {c.get("ImageID") for c in client.call("containers", all=True)}
    _kept, removed = select_keep(candidates, current["Id"], used, keep)
    if not check_mode:
        for tag in removed:
            client.call("remove_image", tag)
    return removed


def registry_of(repo):
    first, dummy, rest = repo.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"
