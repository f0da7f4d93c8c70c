"""Pure logic of dockyard.fleet.image: references, archive manifests, keep-N, validation."""
import hashlib
import io
import json
import tarfile

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.dockyard.fleet.plugins.module_utils._engine_forward import engine_socket
from ansible_collections.dockyard.fleet.plugins.module_utils._image import (
    IMAGE_ARGS, ImageInputError, archive_image_for, check_dict_options, created_key, extra_refs,
    parse_reference, read_archive, select_keep, tags_of_repo, validate_params)


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


def test_archive_without_wanted_tag_among_several_images(tmp_path):
    arch = dict(images=[dict(id="sha256:1", tags=["a/b:1"]), dict(id="sha256:2", tags=["a/b:2"])])
    assert archive_image_for(arch, "a/b:2")["id"] == "sha256:2"
    with pytest.raises(ImageInputError, match="^name:"):
        archive_image_for(arch, "a/b:3")


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
