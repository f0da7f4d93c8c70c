"""Pure logic of dockyard.fleet.image: references, archive manifests, keep-N, validation."""
import bz2
import gzip
import hashlib
import io
import json
import lzma
import tarfile

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.dockyard.fleet.plugins.module_utils._engine_forward import engine_socket
from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import DockerClient, DockerError
from ansible_collections.dockyard.fleet.plugins.module_utils._image import (
    IMAGE_ARGS, ImageInputError, ImageManager, archive_image_for, check_dict_options, created_key,
    extra_refs, is_single_reference, load_name, parse_name, parse_reference, read_archive, select_keep,
    tags_of_repo, validate_params)


# ---------------------------------------------------------------- references
@pytest.mark.parametrize("ref,repo,tag", [
    ("dockyard/demo:v1", "dockyard/demo", "v1"),
    ("dockyard/demo", "dockyard/demo", "latest"),
    ("127.0.0.1:5999/none:1", "127.0.0.1:5999/none", "1"),
    ("registry.example.com/Team/app:1.0", None, None),
    ("localhost/app:x", "localhost/app", "x"),
])
def test_parse_reference(ref, repo, tag):
    if repo is None:
        with pytest.raises(ImageInputError):
            parse_reference(ref)
        return
    r = parse_reference(ref)
    assert (r["repo"], r["tag"], r["digest"]) == (repo, tag, None)


@pytest.mark.parametrize("ref,familiar", [
    ("docker.io/dockyard/demo:v2", "dockyard/demo:v2"),
    ("index.docker.io/dockyard/demo", "dockyard/demo:latest"),
    ("docker.io/library/busybox:1", "busybox:1"),
    ("library/busybox:1", "busybox:1"),
    ("docker.io/busybox", "busybox:latest"),
    ("docker.io/library/a/b:1", "library/a/b:1"),
    ("localhost:5000/x:1", "localhost:5000/x:1"),
    ("localhost:5000/library/x:1", "localhost:5000/library/x:1"),
    ("registry.example.com/x", "registry.example.com/x:latest"),
    ("docker.io/dockyard/demo@sha256:" + "ab" * 32, "dockyard/demo@sha256:" + "ab" * 32),
])
def test_references_in_the_engines_familiar_form(ref, familiar):
    """The engine stores docker.io/x/y:1 as x/y:1: compared and filtered in that form."""
    assert parse_reference(ref)["ref"] == familiar


@pytest.mark.parametrize("bad", ["dockyard/demo:v\u00e9", "d\u00e9mo:v1", "dockyard/demo:\u0661",
                                 "dockyard/demo:v1\n", "dockyard/demo:v1 "])
def test_reference_is_ascii_only(bad):
    with pytest.raises(ImageInputError, match="^name:"):
        parse_reference(bad)


def test_image_ids_as_name():
    hexid = "97cbcedb5016d182e982d4d1416324c47fc81daf16347d397f020838d009832d"
    for name in (hexid, "sha256:" + hexid):
        assert parse_name(name) == dict(id="sha256:" + hexid, ref="sha256:" + hexid, repo=None,
                                        tag=None, digest=None, has_tag=False)
    # a short hex is a valid repository: ImageManager asks the engine
    assert parse_name("97cbcedb5016")["ref"] == "97cbcedb5016:latest"
    # an ID is no reference (repository entries)
    with pytest.raises(ImageInputError, match="^repository: .*image ID"):
        extra_refs(["sha256:" + hexid], parse_reference("a/b:1"))
    with pytest.raises(ImageInputError, match="^repository: .*image ID"):
        extra_refs([hexid], parse_reference("a/b:1"))
    with pytest.raises(ImageInputError, match="^name: .*image ID"):
        load_name(hexid)
    with pytest.raises(ImageInputError, match="^name: .*digest"):
        load_name("a/b@sha256:" + "ab" * 32)


def test_digest_reference():
    d = "sha256:" + "ab" * 32
    r = parse_reference("dockyard/demo@" + d)
    assert r["digest"] == d and r["ref"] == "dockyard/demo@" + d


@pytest.mark.parametrize("bad", ["", "Dockyard/demo:v1", "a:b:c", "demo:", "demo@sha256:xyz",
                                 "demo:-bad", "/demo", "demo//x"])
def test_bad_reference_names_option(bad):
    with pytest.raises(ImageInputError) as err:
        parse_reference(bad)
    assert str(err.value).startswith("name:")


def test_extra_refs_take_tag_of_name():
    base = parse_reference("dockyard/demo:v2")
    refs = [r["ref"] for r in extra_refs(["mirror/demo", "mirror/demo:stable"], base)]
    assert refs == ["mirror/demo:v2", "mirror/demo:stable"]
    with pytest.raises(ImageInputError, match="^repository:"):
        extra_refs(["Bad Name"], base)


def test_created_key_orders_nanoseconds():
    assert created_key("2026-01-01T00:00:00.5Z") > created_key("2026-01-01T00:00:00Z")
    assert created_key("2026-01-01T00:00:01.000000001Z") > created_key("2026-01-01T00:00:00.999Z")
    assert created_key(1767225600) == created_key("2026-01-01T00:00:00Z")


# ---------------------------------------------------------------- archives
def _archive(path, tags=("demo/x:1",), drop=None, config=b'{"created":"2026-01-01T00:00:00Z"}'):
    image_id = hashlib.sha256(config).hexdigest()
    layer = b"layer-bytes" * 100
    files = {"abc/layer.tar": layer, image_id + ".json": config,
             "manifest.json": json.dumps([{"Config": image_id + ".json", "RepoTags": list(tags),
                                           "Layers": ["abc/layer.tar"]}]).encode()}
    with tarfile.open(path, "w") as t:
        for name, data in files.items():
            if name == drop:
                continue
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return "sha256:" + image_id


def test_read_archive_id_and_tags(tmp_path):
    p = tmp_path / "a.tar"
    image_id = _archive(str(p), tags=["demo/x:1", "demo/x:latest"])
    arch = read_archive(str(p))
    assert arch["images"] == [dict(id=image_id, tags=["demo/x:1", "demo/x:latest"],
                                   created="2026-01-01T00:00:00Z")]
    assert archive_image_for(arch, "demo/x:1")["id"] == image_id
    # a single-image archive can be loaded under another name
    assert archive_image_for(arch, "other/y:2")["id"] == image_id


def test_read_archive_matches_lab_demo_images():
    import os
    images = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", ".lab")
    found = False
    for root, _dirs, files in os.walk(images):
        if "images.json" in files:
            with open(os.path.join(root, "images.json")) as f:
                ids = json.load(f)
            for tag, meta in ids.items():
                if os.path.exists(meta["archive"]):
                    arch = read_archive(meta["archive"])
                    assert arch["images"][0]["id"] == meta["id"]
                    assert arch["images"][0]["tags"] == [tag]
                    found = True
            break
    if not found:
        pytest.skip("no lab images built")


@pytest.mark.parametrize("case", ["missing", "not-tar", "truncated", "no-manifest", "no-config",
                                  "no-layer", "bad-json"])
def test_bad_archives_name_load_path(tmp_path, case):
    p = tmp_path / "a.tar"
    if case == "missing":
        pass
    elif case == "not-tar":
        p.write_bytes(b"this is not a tar archive at all" * 40)
    elif case == "truncated":
        _archive(str(p))
        data = p.read_bytes()
        p.write_bytes(data[:700])
    elif case == "no-manifest":
        _archive(str(p), drop="manifest.json")
    elif case == "no-config":
        cfg = b'{"created":"x"}'
        _archive(str(p), drop=hashlib.sha256(cfg).hexdigest() + ".json", config=cfg)
    elif case == "no-layer":
        _archive(str(p), drop="abc/layer.tar")
    elif case == "bad-json":
        _archive(str(p), config=b"{not json")
    with pytest.raises(ImageInputError) as err:
        read_archive(str(p))
    assert str(err.value).startswith("load_path:")


def test_archive_of_several_images_is_refused_naming_load_path():
    # docker load would tag every image of it, moving those tags on the host
    arch = dict(images=[dict(id="sha256:1", tags=["a/b:1"]), dict(id="sha256:2", tags=["a/b:2"])])
    for ref in ("a/b:2", "a/b:3"):
        with pytest.raises(ImageInputError, match="^load_path: the archive holds 2 images"):
            archive_image_for(arch, ref)


@pytest.mark.parametrize("compress", ["gz", "bz2", "xz"])
def test_read_compressed_archive(tmp_path, compress):
    """docker save | gzip: docker load takes it; its uncompressed offsets are past the file's
    size, which is no truncation."""
    plain = tmp_path / "a.tar"
    image_id = _archive(str(plain), tags=["demo/x:1"])
    packed = tmp_path / ("a.tar." + compress)
    opener = {"gz": gzip.open, "bz2": bz2.open, "xz": lzma.open}[compress]
    with opener(str(packed), "wb") as f:
        f.write(plain.read_bytes())
    arch = read_archive(str(packed))
    assert arch["images"][0]["id"] == image_id and arch["images"][0]["tags"] == ["demo/x:1"]
    assert arch["size"] == packed.stat().st_size and arch["compression"] in ("gzip", "bzip2", "xz")
    # a cut compressed archive is still refused, naming load_path
    data = packed.read_bytes()
    packed.write_bytes(data[:len(data) * 2 // 3])
    with pytest.raises(ImageInputError, match="^load_path:"):
        read_archive(str(packed))


def test_read_plain_archive_keeps_its_truncation_check(tmp_path):
    p = tmp_path / "a.tar"
    _archive(str(p))
    data = p.read_bytes()
    p.write_bytes(data[:2000])
    with pytest.raises(ImageInputError, match="^load_path: .*(truncated|not a readable)"):
        read_archive(str(p))


# ---------------------------------------------------------------- keep N
def _c(tag, image_id, created):
    return dict(tag=tag, id=image_id, created=created)


def test_keep_newest_n_including_current():
    cands = [_c("r:1", "sha256:a", "2026-01-01T00:00:01Z"), _c("r:2", "sha256:b", "2026-01-01T00:00:02Z"),
             _c("r:3", "sha256:c", "2026-01-01T00:00:03Z"), _c("r:4", "sha256:d", "2026-01-01T00:00:04Z")]
    kept, removed = select_keep(cands, "sha256:d", set(), 2)
    assert kept == ["r:3", "r:4"] and removed == ["r:1", "r:2"]


def test_keep_current_counts_first_even_if_older():
    cands = [_c("r:old", "sha256:a", "2025-01-01T00:00:00Z"), _c("r:new", "sha256:b", "2026-01-01T00:00:00Z"),
             _c("r:newer", "sha256:c", "2026-06-01T00:00:00Z")]
    kept, removed = select_keep(cands, "sha256:a", set(), 1)
    assert kept == ["r:old"] and removed == ["r:new", "r:newer"]


def test_keep_never_removes_images_used_by_containers():
    cands = [_c("r:1", "sha256:a", 1), _c("r:2", "sha256:b", 2), _c("r:3", "sha256:c", 3)]
    kept, removed = select_keep(cands, "sha256:c", {"sha256:a"}, 1)
    assert kept == ["r:1", "r:3"] and removed == ["r:2"]


def test_keep_groups_tags_of_one_image():
    cands = [_c("r:1", "sha256:a", 1), _c("r:one", "sha256:a", 1), _c("r:2", "sha256:b", 2)]
    kept, removed = select_keep(cands, "b", set(), 1)
    assert kept == ["r:2"] and removed == ["r:1", "r:one"]
    assert select_keep(cands, "b", set(), 5) == (["r:1", "r:2", "r:one"], [])


def test_tags_of_repo_only_that_repository():
    images = [{"Id": "sha256:a", "RepoTags": ["r:1", "r2:1", "reg:5000/r:1"], "Created": 5},
              {"Id": "sha256:b", "RepoTags": ["<none>:<none>"], "Created": 6}]
    assert tags_of_repo(images, "r") == [dict(tag="r:1", id="sha256:a", created=5)]


# ---------------------------------------------------------------- validation
def _params(**kw):
    p = dict(name="dockyard/demo:v1", state="present", source=None, pull=None, load_path=None,
             build=None, repository=None, keep=None, force_tag=False, _archive=None)
    p.update(kw)
    return p


@pytest.mark.parametrize("kw,option", [
    (dict(name="Bad:Name:x"), "name"),
    (dict(source="pull", load_path="/x.tar"), "load_path"),
    (dict(source="pull", build=dict(path="/ctx")), "build"),
    (dict(source="load", pull="always", _archive={"id": "x"}), "pull"),
    (dict(source="build", build=dict(path=None)), "build"),
    (dict(source="load"), "load_path"),
    (dict(source="pull", keep=0), "keep"),
    (dict(source="pull", force_tag=True), "force_tag"),
    (dict(source="pull", repository=["UPPER"]), "repository"),
    (dict(state="absent", source="pull"), "source"),
    (dict(state="absent", keep=2), "keep"),
    (dict(name="dockyard/demo@sha256:" + "ab" * 32, source="load", _archive={"id": "x"}), "name"),
    (dict(name="sha256:" + "ab" * 32, source="pull"), "name"),
    (dict(name="ab" * 32, source="build", build=dict(path="/ctx")), "name"),
    (dict(name="ab" * 32, keep=1), "keep"),
    (dict(name="ab" * 32, repository=["x/y"]), "repository"),
    (dict(repository=["sha256:" + "ab" * 32]), "repository"),
    (dict(name="dockyard/demo:v\u00e9"), "name"),
    (dict(repository=["dockyard/x:\u00fc"]), "repository"),
])
def test_validation_names_option(kw, option):
    with pytest.raises(ImageInputError) as err:
        validate_params(_params(**kw))
    assert str(err.value).startswith(option), str(err.value)


def test_validation_accepts_good_input():
    assert validate_params(_params(source="pull", pull="always", keep=2,
                                   repository=["mirror/demo"]))["ref"] == "dockyard/demo:v1"


# ---------------------------------------------------------------- dict options (action plugin)
def test_ansible_core_alone_does_not_name_build():
    # why the action plugin checks `build` first: AnsibleModule fails with the first message
    # of its argument validation, which for a list there does not name the option. If this
    # starts to fail, ansible-core names it now.
    res = ArgumentSpecValidator(IMAGE_ARGS).validate({"name": "a", "build": ["d"]})
    assert res.errors.msg == "dictionary requested, could not parse JSON or key=value"


@pytest.mark.parametrize("value, what", [
    (["d"], "got a list"), (["path=/ctx"], "got a list"), ([{"path": "/ctx"}], "got a list"),
    ([], "got a list"), ("justtext", "got the string 'justtext'"), (5, "got an integer"),
    (True, "got a boolean"), (1.5, "got a number"), (("a",), "got a list"),
])
def test_dict_option_of_the_wrong_type_names_the_option(value, what):
    with pytest.raises(ImageInputError) as err:
        check_dict_options(IMAGE_ARGS, {"name": "a", "build": value})
    msg = str(err.value)
    assert msg.startswith("build: expected a dict (suboptions args, dockerfile, nocache, path, "
                          "pull, target)") and what in msg, msg


@pytest.mark.parametrize("value", [None, {"path": "/ctx"}, {"path": "/ctx", "nocache": True},
                                   "path=/ctx", '{"path": "/ctx"}'])
def test_dict_option_that_ansible_core_reads_passes_unchanged(value):
    args = {"name": "a", "build": value}
    check_dict_options(IMAGE_ARGS, args)
    assert args == {"name": "a", "build": value}
    assert not ArgumentSpecValidator(IMAGE_ARGS).validate(dict(args)).error_messages


def test_only_dict_options_with_suboptions_are_checked():
    # _archive is a plain dict (no suboptions): ansible-core names it itself
    check_dict_options(IMAGE_ARGS, {"name": "a", "_archive": ["x"], "repository": "x"})
    spec = {"hc": {"type": "dict", "aliases": ["health"], "options": {"test": {"type": "str"}}}}
    with pytest.raises(ImageInputError, match=r"^health: expected a dict \(suboptions test\)"):
        check_dict_options(spec, {"health": ["x"]})


# ---------------------------------------------------------------- ship=stream: which engine
@pytest.mark.parametrize("params,env,want", [
    ({}, {}, "/var/run/docker.sock"),
    ({"docker_host": "unix:///run/user/1000/docker.sock"}, {}, "/run/user/1000/docker.sock"),
    ({"docker_host": None}, {"HTTP_PROXY": "x"}, "/var/run/docker.sock"),
])
def test_engine_socket_plain_local_engine(params, env, want):
    assert engine_socket(params, env) == (want, None)


@pytest.mark.parametrize("params,env,why", [
    ({"docker_host": "tcp://10.0.0.1:2376"}, {}, "not a unix socket"),
    ({"docker_host": "ssh://deploy@h"}, {}, "not a unix socket"),
    ({"docker_host": "unix://relative.sock"}, {}, "not an absolute"),
    ({}, {"DOCKER_HOST": "tcp://x:2375"}, "DOCKER_HOST"),
    ({}, {"DOCKER_CERT_PATH": "/c", "DOCKER_TLS_VERIFY": "1"}, "DOCKER_CERT_PATH, DOCKER_TLS_VERIFY"),
    ({"tls": True}, {}, "tls"),
    ({"validate_certs": True}, {}, "tls"),
])
def test_engine_socket_says_why_not(params, env, why):
    path, reason = engine_socket(params, env)
    assert path is None and why in reason


def test_ship_is_an_option_with_auto_default():
    from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import docker_common_args
    v = ArgumentSpecValidator(docker_common_args(**IMAGE_ARGS))
    assert v.validate({"name": "a:1"}).validated_parameters["ship"] == "auto"
    assert v.validate({"name": "a:1", "ship": "bogus"}).error_messages


# ---------------------------------------------------------------- ImageManager on a fake engine
DAY = "2026-01-%02dT00:00:00Z"


class FakeEngine:
    """Just enough of an engine for ImageManager, with its rules for tags and removals
    (checked on the lab, Docker 20.10). images: {id: dict(tags, digests, created, parent)};
    containers: [(name, image id, state)]; archive: (id, tags) that a load brings."""

    def __init__(self, images, containers=(), archive=None, registry=None):
        self.images = {i: dict(tags=list(v.get("tags") or []), digests=list(v.get("digests") or []),
                               created=v.get("created", DAY % 1), parent=v.get("parent"))
                       for i, v in images.items()}
        self.containers = list(containers)
        self.archive = archive
        self.registry = registry or {}   # ref -> (id, digest) a pull brings
        self.changes = []

    def _find(self, ref):
        if ref in self.images:
            return ref
        for i, v in self.images.items():
            if ref in v["tags"] or ref in v["digests"]:
                return i
        hexpart = ref.replace("sha256:", "")
        if len(hexpart) >= 12 and all(ch in "0123456789abcdef" for ch in hexpart):
            for i in self.images:
                if i.startswith("sha256:" + hexpart):
                    return i
        return None

    get = DockerClient.get   # the real client's: call(), None for a 404

    def registry_digest(self, ref):
        return self.registry[ref][1]

    def _users(self, image_id):
        return [(n, st) for n, i, st in self.containers if i == image_id]

    def _children(self, image_id):
        return [i for i, v in self.images.items() if v["parent"] == image_id]

    def call(self, method, *args, **kwargs):
        if method == "inspect_image":
            i = self._find(args[0])
            if i is None:
                raise DockerError("no such image: %s" % args[0], not_found=True)
            v = self.images[i]
            return {"Id": i, "RepoTags": list(v["tags"]), "RepoDigests": list(v["digests"]),
                    "Created": v["created"], "Parent": v["parent"] or ""}
        if method == "images":
            name = kwargs.get("name")
            out = []
            for i, v in self.images.items():
                if name and not any(t.rpartition(":")[0] == name for t in v["tags"]):
                    continue
                if not v["tags"] and self._children(i):
                    continue   # an intermediate image: not listed
                out.append({"Id": i, "RepoTags": v["tags"] or ["<none>:<none>"], "Created": 0,
                            "ParentId": v["parent"] or ""})
            return out
        if method == "containers":
            return [{"Id": "c%d" % n, "Names": ["/" + name], "ImageID": img, "State": st}
                    for n, (name, img, st) in enumerate(self.containers)]
        self.changes.append((method,) + args)
        if method == "tag":
            self._tag(args[0], "%s:%s" % (args[1], args[2]))
            return True
        if method == "load_image":
            image_id, tags = self.archive
            self.images.setdefault(image_id, dict(tags=[], digests=[], created=DAY % 20, parent=None))
            for t in tags:
                self._tag(image_id, t)
            return []
        if method == "pull":
            ref = "%s:%s" % (args[0], kwargs["tag"])
            image_id, digest = self.registry[ref]
            self.images.setdefault(image_id, dict(tags=[], digests=[], created=DAY % 21, parent=None))
            self._tag(image_id, ref)
            self.images[image_id]["digests"].append("%s@%s" % (args[0], digest))
            return []
        if method == "remove_image":
            return self._remove(args[0], kwargs.get("force", False))
        raise AssertionError(method)

    def _tag(self, image_id, ref):
        for v in self.images.values():
            if ref in v["tags"]:
                v["tags"].remove(ref)
        self.images[image_id]["tags"].append(ref)

    def _remove(self, ref, force):
        i = self._find(ref)
        v = self.images[i]
        running = [n for n, st in self._users(i) if st == "running"]
        if ref != i:   # a tag
            if not force and is_single_reference(v["tags"], v["digests"]) and self._users(i):
                raise DockerError("conflict: unable to remove repository reference")
            v["tags"].remove(ref)
            if not v["tags"] and not v["digests"] and not running and not self._children(i):
                del self.images[i]
            return []
        if running or self._children(i):
            raise DockerError("conflict: cannot be forced")
        if not force and (self._users(i) or (len(v["tags"]) > 1)):
            raise DockerError("conflict: must be forced")
        del self.images[i]
        return []


def _p(**kw):
    p = dict(state="present", source=None, pull=None, build=None, repository=None, keep=None,
             force_tag=False, force_source=False, force_absent=False, _archive=None)
    p.update(kw)
    return p


def _check_then_real(make, params):
    """Check mode on one engine, the real run on an identical one: same changed, actions,
    removed and predicted tags; check mode changes nothing; a second run changes nothing."""
    engine = make()
    check = ImageManager(engine, params, True).run()
    assert engine.changes == []
    engine = make()
    real = ImageManager(engine, params, False).run()
    for key in ("changed", "actions", "removed"):
        assert check[key] == real[key], (key, check[key], real[key])
    assert check["diff"]["after"].get("tags") == real["diff"]["after"].get("tags")
    assert check["diff"]["after"].get("present") == real["diff"]["after"].get("present")
    again = ImageManager(engine, params, False).run()
    assert not again["changed"], again
    return check, real, engine


A, B, C, D, E = ("sha256:" + ch * 64 for ch in "abcde")


def test_keep_with_a_load_that_moves_the_tag():
    """demo:v2 is on another image; the load moves it: the loaded image is the current one."""
    def make():
        return FakeEngine({B: dict(tags=["demo/x:v2"], created=DAY % 2),
                           C: dict(tags=["demo/x:v1"], created=DAY % 1),
                           D: dict(tags=["demo/x:broken"], created=DAY % 3),
                           E: dict(tags=["demo/x:v3"], created=DAY % 9)},
                          archive=(A, ["demo/x:v2"]))
    params = _p(name="demo/x:v2", source="load", keep=1,
                _archive=dict(id=A, tags=["demo/x:v2"], path="/dev/null", archive="v2.tar"))
    check, real, engine = _check_then_real(make, params)
    assert real["removed"] == ["demo/x:broken", "demo/x:v1", "demo/x:v3"]
    assert real["diff"]["after"]["tags"] == ["demo/x:v2"] and check["changed"]
    assert engine.images[A]["tags"] == ["demo/x:v2"]


def test_keep_with_a_pull_always_that_moves_the_tag():
    def make():
        return FakeEngine({B: dict(tags=["r:5000/x:v1"], digests=["r:5000/x@sha256:" + "1" * 64],
                                   created=DAY % 2),
                           C: dict(tags=["r:5000/x:v0"], created=DAY % 1)},
                          registry={"r:5000/x:v1": (A, "sha256:" + "2" * 64)})
    check, real, _engine = _check_then_real(make, _p(name="r:5000/x:v1", source="pull", pull="always", keep=1))
    assert real["removed"] == ["r:5000/x:v0"] and real["actions"][0] == "pulled r:5000/x:v1"
    assert check["diff"]["after"]["tags"] == ["r:5000/x:v1"]


def test_keep_with_force_tag_moving_latest():
    def make():
        return FakeEngine({A: dict(tags=["demo/x:v2"], created=DAY % 2),
                           B: dict(tags=["demo/x:v1", "demo/x:latest"], created=DAY % 1)})
    params = _p(name="demo/x:v2", repository=["demo/x:latest"], force_tag=True, keep=1)
    check, real, engine = _check_then_real(make, params)
    assert real["removed"] == ["demo/x:v1"]
    assert "tagged aaaaaaaaaaaa as demo/x:latest (moved from image bbbbbbbbbbbb)" in check["actions"]
    assert sorted(engine.images[A]["tags"]) == ["demo/x:latest", "demo/x:v2"] and B not in engine.images


def test_bad_repository_entry_changes_nothing():
    """The second entry points elsewhere: refused before the first is tagged."""
    engine = FakeEngine({A: dict(tags=["demo/x:v1"]), B: dict(tags=["demo/x:v2"])})
    for check in (True, False):
        m = ImageManager(engine, _p(name="demo/x:v1", repository=["demo/aaa", "demo/x:v2"]), check)
        with pytest.raises(DockerError, match="^repository: demo/x:v2 already points"):
            m.run()
        assert engine.changes == [] and m.partial() == dict(changed=False, actions=[], removed=[])
    # a load with a conflicting entry: refused before the archive is needed (or sent)
    m = ImageManager(engine, _p(name="demo/x:v3", source="load", repository=["demo/x:v2"],
                                _archive=dict(id=C, tags=["demo/x:v3"], path=None, archive="v3.tar")))
    with pytest.raises(DockerError, match="^repository:"):
        m.run()
    assert not m.needs_archive and not m.shipped


def test_failure_after_a_change_reports_it():
    engine = FakeEngine({A: dict(tags=["demo/x:v1"])})
    real_call = engine.call

    def call(method, *args, **kwargs):
        if method == "tag" and args[1] == "demo/bbb":
            raise DockerError("engine went away")
        return real_call(method, *args, **kwargs)
    engine.call = call
    m = ImageManager(engine, _p(name="demo/x:v1", repository=["demo/aaa", "demo/bbb"]), False)
    with pytest.raises(DockerError):
        m.run()
    assert m.partial() == dict(changed=True, actions=["tagged aaaaaaaaaaaa as demo/aaa:v1"], removed=[])


def test_docker_io_name_is_idempotent():
    def make():
        return FakeEngine({A: dict(tags=["dockyard/demo:v2"], created=DAY % 2),
                           B: dict(tags=["dockyard/demo:v1"], created=DAY % 1)})
    params = _p(name="docker.io/dockyard/demo:v2", source="load", keep=1,
                _archive=dict(id=A, tags=["docker.io/dockyard/demo:v2"], path=None, archive="v2.tar"))
    check, real, _engine = _check_then_real(make, params)
    assert real["actions"] == ["removed dockyard/demo:v1 (keep 1)"] and check["changed"]


def test_force_source_load_reloads_and_changes_nothing():
    def make():
        return FakeEngine({A: dict(tags=["demo/x:v1"])}, archive=(A, ["demo/x:v1"]))
    params = _p(name="demo/x:v1", source="load", force_source=True,
                _archive=dict(id=A, tags=["demo/x:v1"], path="/dev/null", archive="v1.tar"))
    engine = make()
    check = ImageManager(engine, params, True).run()
    m = ImageManager(engine, params, False)
    real = m.run()
    assert check["changed"] is real["changed"] is False and m.shipped
    assert check["actions"] == real["actions"] == [
        "loaded aaaaaaaaaaaa from v1.tar (force_source: the image was there already)"]
    # without the archive on the host (ship=copy, first run): ask for it
    m = ImageManager(engine, dict(params, _archive=dict(params["_archive"], path=None)), False)
    assert m.run()["needs_archive"]


@pytest.mark.parametrize("name", ["sha256:" + "a" * 64, "a" * 64, "a" * 12, "sha256:" + "a" * 20])
def test_image_id_names(name):
    def make(**kw):
        return FakeEngine({A: dict(tags=["demo/x:v1", "other/y:1"]), B: dict(tags=["demo/x:v2"])}, **kw)
    # present: the image is there (by ID), no change
    res = ImageManager(make(), _p(name=name), False).run()
    assert not res["changed"] and res["image"]["id"] == A
    # absent with two tags: refused naming force_absent, in check mode as in the real run
    for check in (True, False):
        engine = make()
        with pytest.raises(DockerError, match="force_absent"):
            ImageManager(engine, _p(name=name, state="absent"), check).run()
        assert engine.changes == []
    check, real, engine = _check_then_real(make, _p(name=name, state="absent", force_absent=True))
    assert real["removed"] == ["demo/x:v1", "other/y:1"] and A not in engine.images
    assert real["image"] is None and check["diff"]["after"] == {"present": False}
    # used by a running container: even force_absent cannot
    for check in (True, False):
        engine = make(containers=[("web", A, "running")])
        with pytest.raises(DockerError, match="running container web"):
            ImageManager(engine, _p(name=name, state="absent", force_absent=True), check).run()


def test_short_hex_that_is_no_id_is_a_reference():
    engine = FakeEngine({A: dict(tags=["demo/x:v1"])})
    with pytest.raises(DockerError, match="^name: image bbbbbbbbbbbb:latest is not on the host"):
        ImageManager(engine, _p(name="b" * 12), False).run()
    assert not ImageManager(engine, _p(name="b" * 12, state="absent"), False).run()["changed"]


def test_absent_last_tag_used_by_a_container():
    def make(state):
        return FakeEngine({A: dict(tags=["demo/x:v1"])}, containers=[("web", A, state)])
    for state in ("exited", "running"):
        for check in (True, False):
            engine = make(state)
            with pytest.raises(DockerError, match="^name: cannot remove demo/x:v1: .*force_absent") as err:
                ImageManager(engine, _p(name="demo/x:v1", state="absent"), check).run()
            assert "web (%s)" % ("running" if state == "running" else "stopped") in str(err.value)
            assert engine.changes == []
    # force_absent, running container: the tag goes, the image stays untagged (dangling)
    check, real, engine = _check_then_real(lambda: make("running"),
                                           _p(name="demo/x:v1", state="absent", force_absent=True))
    assert real["diff"]["after"] == dict(present=True, id=A, tags=[])
    assert "stays, untagged: running container web" in real["actions"][0]
    assert engine.images[A]["tags"] == []
    # force_absent, stopped container: the image goes
    _check, real, engine = _check_then_real(lambda: make("exited"),
                                            _p(name="demo/x:v1", state="absent", force_absent=True))
    assert real["diff"]["after"] == {"present": False} and A not in engine.images


def test_absent_returns_the_image_other_tags_keep():
    check, real, _engine = _check_then_real(
        lambda: FakeEngine({A: dict(tags=["demo/x:v1", "demo/x:latest"])}),
        _p(name="demo/x:v1", state="absent"))
    assert real["image"]["tags"] == ["demo/x:latest"] and check["image"]["tags"] == ["demo/x:latest"]


def test_absent_of_an_image_with_children_keeps_it_untagged():
    def make():
        return FakeEngine({A: dict(tags=["demo/x:v1"]), B: dict(tags=[], parent=A),
                           C: dict(tags=["demo/child:1"], parent=B)})
    _check, real, engine = _check_then_real(make, _p(name="demo/x:v1", state="absent"))
    assert real["diff"]["after"] == dict(present=True, id=A, tags=[]) and A in engine.images
    with pytest.raises(DockerError, match="built from it"):
        ImageManager(make(), _p(name=A, state="absent", force_absent=True), True).run()


def test_build_checks_the_context_first(tmp_path):
    engine = FakeEngine({A: dict(tags=["demo/x:v1"])})
    for check in (True, False):
        with pytest.raises(ImageInputError, match="^build.path: .* is not a directory"):
            ImageManager(engine, _p(name="b/c:1", source="build",
                                    build=dict(path=str(tmp_path / "nope"))), check).run()
        with pytest.raises(ImageInputError, match="^build.path: .* has no Dockerfile"):
            ImageManager(engine, _p(name="b/c:1", source="build", build=dict(path=str(tmp_path))),
                         check).run()
        with pytest.raises(ImageInputError, match="^build.dockerfile: Nope"):
            ImageManager(engine, _p(name="b/c:1", source="build",
                                    build=dict(path=str(tmp_path), dockerfile="Nope")), check).run()
    assert engine.changes == []


def test_build_check_mode_predicts_a_tag_that_may_already_be_right(tmp_path):
    """FROM demo/x:v1 only gives v1's image: repository [demo/x:v1] is no conflict then. Check
    mode cannot know the built ID: it warns instead of failing."""
    (tmp_path / "Dockerfile").write_text("FROM demo/x:v1\n")
    engine = FakeEngine({A: dict(tags=["demo/x:v1"])})
    m = ImageManager(engine, _p(name="b/same:1", source="build", build=dict(path=str(tmp_path)),
                                repository=["demo/x:v1"]), True)
    res = m.run()
    assert res["changed"] and res["actions"] == ["built b/same:1 from %s" % tmp_path]
    # as the run that succeeds has it: the tag on the built image
    assert res["diff"]["after"]["tags"] == ["b/same:1", "demo/x:v1"]
    assert len(m.warnings) == 1 and m.warnings[0].startswith("repository: demo/x:v1 points to image")


@pytest.mark.parametrize("tags,digests,single", [
    ([], [], False), (["a:1"], [], True), ([], ["a@sha256:1"], True),
    (["a:1"], ["a@sha256:1"], True), (["a:1", "a:2"], [], False),
    (["a:1"], ["b@sha256:1"], False), ([], ["a@sha256:1", "b@sha256:2"], False),
    (["r:5000/a:1"], ["r:5000/a@sha256:1"], True),
])
def test_is_single_reference_as_the_engine(tags, digests, single):
    assert is_single_reference(tags, digests) is single
