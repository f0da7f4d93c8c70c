# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic of dockyard.fleet.image: image references, docker-save archive
manifests (read on the controller by the action plugin), keep-N selection and
the before/after view used for diffs. No engine access here.

Private to dockyard.fleet: no compatibility promise for code outside the collection.
"""
from __future__ import annotations

import calendar
import hashlib
import json
import os
import re
import tarfile

from ansible.module_utils.common.validation import check_type_dict

from ansible_collections.dockyard.fleet.plugins.module_utils._container_spec import pull_would_change
from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import DockerError

# Docker reference grammar (distribution/reference), simplified but strict enough
# to reject what the engine would reject before anything is sent to it.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*" \
          r"|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}"
REFERENCE_RE = re.compile(r"^(?P<repo>(?:%s/)?%s(?:/%s)*)(?::(?P<tag>%s))?(?:@(?P<digest>%s))?$"
                          % (_DOMAIN, _COMPONENT, _COMPONENT, _TAG, _DIGEST))
IMAGE_ID_RE = re.compile(r"^(sha256:)?[0-9a-f]{64}$")


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
    """'repo[:tag][@digest]' -> dict(repo, tag, digest, ref) with tag defaulting to latest.

    `ref` is the canonical form: repo@digest when a digest is given, else repo:tag.
    """
    if not isinstance(ref, str) or not ref:
        raise ImageInputError("%s: an image reference is required (repository:tag)" % option)
    m = REFERENCE_RE.match(ref)
    if not m or len(m.group("repo")) > 255:
        raise ImageInputError("%s: %r is not a valid image reference; expected "
                              "[registry[:port]/]repository[:tag] or repository@sha256:<digest> "
                              "(lowercase repository)" % (option, ref))
    repo, tag, digest = m.group("repo"), m.group("tag"), m.group("digest")
    first, dummy, rest = repo.partition("/")
    if repo != repo.lower() and (not rest or not ("." in first or ":" in first
                                                  or first == "localhost")):
        raise ImageInputError("%s: %r is not a valid image reference: repository names must be "
                              "lowercase" % (option, ref))
    if digest:
        canonical = "%s@%s" % (repo, digest)
    else:
        tag = tag or "latest"
        canonical = "%s:%s" % (repo, tag)
    return dict(repo=repo, tag=tag, digest=digest, ref=canonical, has_tag=bool(m.group("tag")))


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
def read_archive(path):
    """Read a `docker save` archive's manifest without loading its layers.

    Returns dict(images=[{id, tags}], size) where id is the sha256 of the image config
    (the image ID the engine will give it). Raises ImageInputError (naming load_path)
    if the archive is missing, not a tar, truncated, or inconsistent.
    """
    opt = "load_path"
    if not os.path.isfile(path):
        raise ImageInputError("%s: archive %s does not exist (or is not a file)" % (opt, path))
    size = os.path.getsize(path)
    try:
        with tarfile.open(path, mode="r:*") as tar:
            members = {}
            for member in tar:  # walks every header: detects truncation of the member table
                members[os.path.normpath(member.name)] = member
            for member in members.values():
                if member.isfile() and member.offset_data + member.size > size:
                    raise ImageInputError("%s: archive %s is truncated (member %s is cut off)"
                                          % (opt, path, member.name))
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
                                   created=cfg.get("created")))
    except ImageInputError:
        raise
    except (tarfile.TarError, EOFError, OSError, UnicodeDecodeError) as exc:
        raise ImageInputError("%s: %s is not a readable image archive: %s" % (opt, path, exc)) from exc
    return dict(images=images, size=size)


def _read_json(tar, member, path):
    try:
        return json.loads(tar.extractfile(member).read())
    except (ValueError, AttributeError) as exc:
        raise ImageInputError("load_path: %s has an unreadable %s" % (path, member.name)) from exc


def archive_image_for(archive, ref):
    """Pick the archive image that `name` refers to.

    An archive image whose RepoTags include the reference wins; an archive with exactly
    one image is taken as that image (the module tags it as `name` after loading).
    """
    for img in archive["images"]:
        if ref in img["tags"]:
            return img
    if len(archive["images"]) == 1:
        return archive["images"][0]
    raise ImageInputError("name: %s is none of the tags in the archive (load_path): %s"
                          % (ref, ", ".join(sorted(t for i in archive["images"] for t in i["tags"]))
                             or "no tags"))


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
    """`repository` entries -> canonical refs; entries without a tag take the tag of `name`."""
    out = []
    for entry in repositories or []:
        ref = parse_reference(entry, option)
        if ref["digest"]:
            raise ImageInputError("%s: %r: a digest cannot be used as a tag" % (option, entry))
        if not ref["has_tag"]:
            if not base["tag"]:
                raise ImageInputError("%s: %r needs a tag because name has no tag" % (option, entry))
            ref = parse_reference("%s:%s" % (ref["repo"], base["tag"]), option)
        out.append(ref)
    return out


# ------------------------------------------------------------------ validation
def validate_params(params):
    """Check options before anything touches the engine. Returns the parsed name."""
    state = params.get("state") or "present"
    source = params.get("source")
    name = parse_reference(params.get("name"), "name")
    if state == "absent":
        for opt in ("source", "load_path", "build", "repository", "keep", "pull"):
            if params.get(opt) not in (None, [], {}):
                raise ImageInputError("%s: cannot be used with state=absent" % opt)
        return name
    if params.get("load_path") and source != "load":
        raise ImageInputError("load_path: only valid with source=load (source is %s)" % source)
    if params.get("build") and source != "build":
        raise ImageInputError("build: only valid with source=build (source is %s)" % source)
    if params.get("pull") and source != "pull":
        raise ImageInputError("pull: only valid with source=pull (source is %s)" % source)
    if source == "build":
        if not (params.get("build") or {}).get("path"):
            raise ImageInputError("build: build.path (the context directory on the host) is "
                                  "required with source=build")
        if name["digest"]:
            raise ImageInputError("name: cannot build %s: a built image gets a tag, not a digest"
                                  % name["ref"])
    if source == "load" and not params.get("_archive"):
        raise ImageInputError("load_path: source=load needs load_path, read on the controller by "
                              "the dockyard.fleet.image action plugin")
    if params.get("keep") is not None and params["keep"] < 1:
        raise ImageInputError("keep: must be 1 or more (the current image is always kept), got %s"
                              % params["keep"])
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
    """One run of dockyard.fleet.image against an engine (client: DockerClient-like)."""

    def __init__(self, client, params, check_mode=False):
        self.client = client
        self.p = params
        self.check = check_mode
        self.name = parse_reference(params["name"])
        self.actions = []
        self.removed = []
        self.changed = False
        self.needs_archive = False

    def inspect(self, ref):
        return self.client.get("inspect_image", ref)

    def run(self):
        before = self.inspect(self.name["ref"])
        if self.p["state"] == "absent":
            return self._absent(before)
        current = self._ensure_source(before)
        if self.needs_archive:
            return dict(changed=False, needs_archive=True, actions=self.actions)
        predicted_tags = set((current or {}).get("RepoTags") or [])
        if current is not None:
            predicted_tags |= self._ensure_tags(current)
            predicted_tags -= set(self._keep(current))
        after = self.inspect(current["Id"]) if (current and not self.check) else current
        result = dict(changed=self.changed, actions=self.actions, removed=self.removed,
                      image=image_view(after))
        after_diff = diff_view(after)
        if self.check and current is not None:
            after_diff["tags"] = sorted(predicted_tags)
            if result["image"]:
                result["image"]["tags"] = sorted(predicted_tags)
        result["diff"] = dict(before=diff_view(before), after=after_diff)
        return result

    # -- state=absent
    def _absent(self, before):
        result = dict(changed=False, actions=self.actions, removed=self.removed, image=None)
        if before is not None:
            self.changed = True
            self.actions.append("removed %s" % self.name["ref"])
            self.removed.append(self.name["ref"])
            if not self.check:
                self.client.call("remove_image", self.name["ref"], force=bool(self.p.get("force_absent")))
        after = None
        if before is not None and len(before.get("RepoTags") or []) > 1:
            after = dict(before, RepoTags=[t for t in before["RepoTags"] if t != self.name["ref"]])
        result["changed"] = self.changed
        result["diff"] = dict(before=diff_view(before), after=diff_view(after))
        return result

    # -- sources
    def _ensure_source(self, before):
        source = self.p.get("source")
        force = bool(self.p.get("force_source"))
        if source is None:
            if before is None:
                raise DockerError("name: image %s is not on the host and no source is set "
                                  "(use source=pull, load or build)" % self.name["ref"])
            return before
        if source == "pull":
            if before is not None and (self.p.get("pull") or "missing") == "missing" and not force:
                return before
            return self._pull(before)
        if source == "build":
            if before is not None and not force:
                return before
            return self._build(before)
        return self._load(before)

    def _pull(self, before):
        self.actions.append("pulled %s" % self.name["ref"])
        if self.check:
            if before is None or (not self.name["digest"] and self._registry_has_another(before)):
                self.changed = True
                return dict(Id="(pulled)", RepoTags=[self.name["ref"]])
            self.actions[-1] += " (already up to date)"
            return before
        tag = self.name["digest"] or self.name["tag"]
        try:
            _stream(self.client.call("pull", self.name["repo"], tag=tag, stream=True, decode=True),
                    "pull of %s" % self.name["ref"])
        except Exception as exc:  # DockerError and stream-level errors alike
            raise DockerError("name: cannot pull %s from registry %s: %s"
                              % (self.name["ref"], registry_of(self.name["repo"]), exc)) from exc
        after = self.inspect(self.name["ref"])
        if after is None:
            raise DockerError("name: pull of %s reported success but the image is not there"
                              % self.name["ref"])
        if before is None or before["Id"] != after["Id"]:
            self.changed = True
        else:
            self.actions[-1] += " (already up to date)"
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
        self.actions.append("built %s from %s" % (self.name["ref"], b["path"]))
        self.changed = True
        if self.check:
            return before or dict(Id="(built)", RepoTags=[self.name["ref"]])
        kwargs = dict(path=b["path"], tag=self.name["ref"], rm=True, forcerm=True, decode=True,
                      nocache=bool(b.get("nocache")), pull=bool(b.get("pull")))
        if b.get("dockerfile"):
            kwargs["dockerfile"] = b["dockerfile"]
        if b.get("args"):
            kwargs["buildargs"] = {k: str(v) for k, v in b["args"].items()}
        if b.get("target"):
            kwargs["target"] = b["target"]
        _stream(self.client.call("build", **kwargs), "build of %s (build.path %s)"
                % (self.name["ref"], b["path"]))
        after = self.inspect(self.name["ref"])
        if before is not None and after is not None and before["Id"] == after["Id"]:
            self.changed = False
            self.actions[-1] += " (same image as before)"
        return after

    def _load(self, before):
        arch = self.p["_archive"]
        want_id = norm_id(arch["id"])
        want_tags = set(arch.get("tags") or []) | {self.name["ref"]}
        have = self.inspect(want_id)
        if have is not None and want_tags <= set(have.get("RepoTags") or []) \
                and not (self.p.get("force_source") and not arch.get("path")):
            return have
        if have is not None and not self.p.get("force_source"):
            # The image is there, only tags are missing: no need for the archive.
            return self._tag_loaded(have, want_tags)
        if not arch.get("path"):
            if self.check:
                self.changed = True
                self.actions.append("loaded %s from %s" % (short_id(want_id), arch.get("archive")))
                return dict(Id=want_id, RepoTags=sorted(want_tags | set((have or {}).get("RepoTags") or [])))
            self.needs_archive = True
            return None
        self.actions.append("loaded %s from %s" % (short_id(want_id), arch.get("archive")))
        self.changed = True
        with open(arch["path"], "rb") as f:
            _stream(self.client.call("load_image", f), "load_path: docker load of %s"
                    % arch.get("archive"))
        have = self.inspect(want_id)
        if have is None:
            raise DockerError("load_path: %s was loaded but image %s is not on the host"
                              % (arch.get("archive"), short_id(want_id)))
        return self._tag_loaded(have, want_tags)

    def _tag_loaded(self, have, want_tags):
        missing = sorted(want_tags - set(have.get("RepoTags") or []))
        for ref in missing:
            r = parse_reference(ref)
            self.changed = True
            self.actions.append("tagged %s as %s" % (short_id(have["Id"]), ref))
            if not self.check:
                self.client.call("tag", have["Id"], r["repo"], r["tag"], force=True)
        if missing and not self.check:
            return self.inspect(have["Id"])
        return dict(have, RepoTags=sorted(set(have.get("RepoTags") or []) | set(missing)))

    # -- extra tags
    def _ensure_tags(self, current):
        added = set()
        for ref in extra_refs(self.p.get("repository"), self.name):
            other = self.inspect(ref["ref"])
            if other is not None and other["Id"] == current["Id"]:
                continue
            if other is not None and not self.p.get("force_tag"):
                raise DockerError("repository: %s already points to image %s, not %s; set "
                                  "force_tag: true to move it" % (ref["ref"], short_id(other["Id"]),
                                                                  short_id(current["Id"])))
            self.changed = True
            added.add(ref["ref"])
            self.actions.append("tagged %s as %s" % (short_id(current["Id"]), ref["ref"]))
            if not self.check:
                self.client.call("tag", current["Id"], ref["repo"], ref["tag"], force=True)
        return added

    # -- keep N
    def _keep(self, current):
        keep = self.p.get("keep")
        if keep is None:
            return []
        repo = self.name["repo"]
        extra = []
        if self.check:
            # tags this run would add are candidates too
            extra = [dict(tag=tag, id=current["Id"], created=current.get("Created"))
                     for tag in current.get("RepoTags") or [] if tag.rpartition(":")[0] == repo]
        removed = prune_repo(self.client, repo, current, keep, self.check, extra)
        for tag in removed:
            self.changed = True
            self.removed.append(tag)
            self.actions.append("removed %s (keep %d)" % (tag, keep))
        return removed


def prune_repo(client, repo, current, keep, check_mode=False, extra=()):
    """Untag the images of repository `repo` beyond `keep` (select_keep: `current`, an image
    inspect, first, then the newest; images any container uses always stay). extra: more
    candidates, dict(tag, id, created) (the tags a check-mode run would add). Returns the
    tags removed, or that would be in check mode. client: DockerClient-like."""
    candidates = tags_of_repo(client.call("images", name=repo), repo)
    known = {c["tag"] for c in candidates}
    candidates += [dict(c) for c in extra if c["tag"] not in known]
    # precise creation times (the list gives whole seconds)
    created = {}
    for c in candidates:
        cid = norm_id(c["id"])
        if cid not in created:
            info = client.get("inspect_image", cid) if not cid.startswith("sha256:(") else None
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
