"""module_utils/_prune.py (dockyard.fleet.prune): the filters, `until`, the engine's rules
check mode predicts with, and a run's engine calls against a scripted engine."""
from __future__ import annotations

import pytest

from ansible_collections.dockyard.fleet.plugins.module_utils._info import FilterError
from ansible_collections.dockyard.fleet.plugins.module_utils._prune import (
    builder_call, gc_order, labels_match, parse, parse_size, parse_until, predict_builder_cache,
    predict_containers, predict_images, predict_networks, predict_volumes, prune_argument_spec,
    prune_main, spoken_version)
from ansible_collections.dockyard.fleet.tests.unit.plugins.module_utils.controller_run import run_main

NOW = 1_800_000_000.0


@pytest.mark.parametrize("value,stamp", [
    ("24h", NOW - 86400), ("1h30m", NOW - 5400), ("90s", NOW - 90), ("1.5h", NOW - 5400),
    ("1700000000", 1_700_000_000), (1700000000, 1_700_000_000),
    ("2026-12-01T00:00:00Z", 1_796_083_200), ("2026-12-01", 1_796_083_200),
    ("2026-12-01T01:00:00+01:00", 1_796_083_200)])
def test_until_is_a_duration_a_timestamp_or_a_date(value, stamp):
    assert parse_until("images_filters", value, NOW) == stamp


def test_until_is_resolved_once_for_the_engine():
    plan = parse({"containers": True, "containers_filters": {"until": "1h", "label": ["a", "b=c"]}}, now=NOW)
    assert plan == {"containers": {"until": ["%d" % (NOW - 3600)], "label": ["a", "b=c"]}}


@pytest.mark.parametrize("params,option", [
    ({"containers": True, "containers_filters": {"until": "yesterday"}}, "containers_filters"),
    ({"images": True, "images_filters": {"until": ["1h", "2h"]}}, "images_filters"),
    ({"images": True, "images_filters": {"dangling": "maybe"}}, "images_filters"),
    ({"images": True, "images_filters": {"reference": "x"}}, "images_filters"),   # a list filter, not prune's
    ({"volumes": True, "volumes_filters": {"until": "1h"}}, "volumes_filters"),
    ({"networks": False, "networks_filters": {"label": "x"}}, "networks_filters"),
    ({}, "containers"),
])
def test_bad_filters_fail_naming_the_option(params, option):
    with pytest.raises(FilterError) as err:
        parse(params, now=NOW)
    assert err.value.option == option, str(err.value)


@pytest.mark.parametrize("filters,labels,match", [
    ({}, None, True), ({"label": ["a"]}, {"a": ""}, True), ({"label": ["a=1"]}, {"a": "2"}, False),
    ({"label": ["a", "b"]}, {"a": "x"}, False), ({"label!": ["keep"]}, {"keep": "yes"}, False),
    ({"label!": ["keep=no"]}, {"keep": "yes"}, True), ({"label": ["a"], "label!": ["b"]}, {"a": "1"}, True),
    # left out only when every label! entry matches (the engine's MatchKVList)
    ({"label!": ["a", "b"]}, {"a": "1"}, True), ({"label!": ["a", "b"]}, {"a": "1", "b": "2"}, False)])
def test_labels_as_the_engine_matches_them(filters, labels, match):
    assert labels_match(filters, labels) is match


CONTAINERS = [
    {"Id": "run", "State": "running", "Created": 100, "ImageID": "sha256:i1", "Mounts": [{"Type": "volume", "Name": "v1"}]},
    {"Id": "paused", "State": "paused", "Created": 100, "ImageID": "sha256:i1"},
    {"Id": "old", "State": "exited", "Created": 100, "ImageID": "sha256:i2", "Labels": {"tier": "web"},
     "Mounts": [{"Type": "volume", "Name": "v2"}, {"Type": "bind", "Name": ""}]},
    {"Id": "new", "State": "created", "Created": 500, "ImageID": "sha256:i3"},
    {"Id": "dead", "State": "dead", "Created": 100, "ImageID": "sha256:i3"},
]


def test_stopped_containers_through_the_filters():
    assert predict_containers({}, CONTAINERS) == ["old", "new", "dead"]
    assert predict_containers({"until": ["200"]}, CONTAINERS) == ["old", "dead"]
    assert predict_containers({"label": ["tier=web"]}, CONTAINERS) == ["old"]


IMAGES = [
    {"Id": "sha256:i1", "RepoTags": ["app:v1"], "Created": 100},
    {"Id": "sha256:i2", "RepoTags": [], "RepoDigests": ["app@sha256:d2"], "Created": 100},
    {"Id": "sha256:i3", "RepoTags": ["<none>:<none>"], "Created": 100},
    {"Id": "sha256:i4", "RepoTags": ["app:v0"], "Created": 100, "Labels": {"keep": "1"}},
    {"Id": "sha256:i5", "RepoTags": None, "Created": 900},
]


def test_images_no_remaining_container_uses():
    assert predict_images({}, IMAGES, CONTAINERS) == (["sha256:i5"], [])
    # the containers pruned first free their images in the same run
    assert predict_images({}, IMAGES, CONTAINERS, pruned=["old"]) == (["sha256:i2", "sha256:i5"], ["app@sha256:d2"])
    assert predict_images({"dangling": ["false"]}, IMAGES, CONTAINERS, pruned=["old", "new", "dead"]) == (
        ["sha256:i2", "sha256:i3", "sha256:i4", "sha256:i5"], ["app@sha256:d2", "app:v0"])
    assert predict_images({"dangling": ["false"], "label!": ["keep"], "until": ["500"]}, IMAGES, CONTAINERS,
                          pruned=["new", "dead"])[0] == ["sha256:i3"]


def test_images_by_reference_with_children_and_several_tags():
    images = [
        {"Id": "sha256:base", "RepoTags": ["base:1"], "Created": 1},
        {"Id": "sha256:child", "RepoTags": ["child:1"], "ParentId": "sha256:base", "Created": 1},
        {"Id": "sha256:multi", "RepoTags": ["m:1", "m:2", "m:3"], "Created": 1},
        {"Id": "sha256:orphan", "RepoTags": [], "RepoDigests": ["o@sha256:d"], "ParentId": "", "Created": 1},
        {"Id": "sha256:midway", "RepoTags": [], "RepoDigests": ["w@sha256:e"], "Created": 1},
        {"Id": "sha256:top", "RepoTags": ["top:1"], "ParentId": "sha256:midway", "Created": 1},
    ]
    containers = [{"Id": "c", "State": "running", "ImageID": "sha256:multi"},
                  {"Id": "t", "State": "running", "ImageID": "sha256:top"}]
    # dangling only: an untagged image with a child stays (the engine looks at heads only)
    assert predict_images({}, images, containers) == (["sha256:orphan"], ["o@sha256:d"])
    ids, refs = predict_images({"dangling": ["false"]}, images, containers)
    # the parent loses its tag but stays; the used image loses all its tags but one
    assert ids == ["sha256:child", "sha256:orphan"]
    assert refs == ["base:1", "child:1", "m:1", "m:2", "o@sha256:d", "w@sha256:e"]


def test_networks_without_endpoints():
    networks = [
        {"Name": "bridge", "Scope": "local", "Containers": {}},
        {"Name": "used", "Scope": "local", "Containers": {"x": {}}, "Created": "2026-01-01T00:00:00.123456789Z"},
        {"Name": "free", "Scope": "local", "Containers": {}, "Created": "2026-01-01T00:00:00.123456789Z",
         "Labels": {"team": "a"}},
        {"Name": "later", "Scope": "local", "Containers": None, "Created": "2027-06-01T00:00:00Z"},
        {"Name": "overlay", "Scope": "swarm", "Containers": {}},
        {"Name": "config", "Scope": "local", "Containers": {}, "ConfigOnly": True},
    ]
    assert predict_networks({}, networks) == ["free", "later"]
    assert predict_networks({"until": ["1796083200"]}, networks) == ["free"]
    assert predict_networks({"label!": ["team"]}, networks) == ["later"]


def test_volumes_no_remaining_container_mounts():
    volumes = [{"Name": "v1", "Driver": "local"}, {"Name": "v2", "Driver": "local"},
               {"Name": "v3", "Driver": "local", "Labels": {"keep": ""}},
               {"Name": "anon", "Driver": "local", "Labels": {"com.docker.volume.anonymous": ""}},
               {"Name": "nfs", "Driver": "other"},
               {"Name": "nfs-local", "Driver": "local", "Options": {"type": "nfs", "device": ":/x"}}]
    assert predict_volumes({}, volumes, CONTAINERS) == ["v3", "anon"]
    assert predict_volumes({"label!": ["keep"]}, volumes, CONTAINERS, pruned=["old"]) == ["v2", "anon"]
    assert predict_volumes({}, volumes, CONTAINERS, api_version="1.43") == ["anon"]
    assert predict_volumes({"all": ["true"]}, volumes, CONTAINERS, api_version="1.43") == ["v3", "anon"]


class Engine:
    """Listings and prune answers; logs every call."""

    probed_version = None

    def __init__(self, version="1.41"):
        self.version, self.log = version, []

    def call(self, method, *args, **kwargs):
        self.log.append((method, args, kwargs))
        answers = {
            "version": {"ApiVersion": self.version},
            "containers": CONTAINERS, "images": IMAGES,
            "networks": [{"Name": "bridge", "Id": "b"}, {"Name": "free", "Id": "f"}],
            "inspect_network": {"Name": "free", "Scope": "local", "Containers": {}},
            "volumes": {"Volumes": [{"Name": "v3", "Driver": "local"}]},
            "prune_containers": {"ContainersDeleted": ["old", "new", "dead"], "SpaceReclaimed": 10},
            "prune_images": {"ImagesDeleted": [{"Untagged": "app@sha256:d2"}, {"Deleted": "sha256:i2"}],
                             "SpaceReclaimed": 5},
            "prune_networks": {"NetworksDeleted": ["free"]},
            "prune_volumes": {"VolumesDeleted": None, "SpaceReclaimed": 0},
            "df": {"BuildCache": BUILD_CACHE},
            "prune_builds": {"CachesDeleted": ["old"], "SpaceReclaimed": 7},
        }
        return answers[method]


ALL = {"containers": True, "images": True, "networks": True, "volumes": True}


def test_a_real_run_is_one_prune_call_per_kind_in_order():
    engine = Engine()
    result = run_main(prune_argument_spec(), prune_main, engine, dict(ALL, images_filters={"label": "x"}))
    assert [c[0] for c in engine.log] == ["version", "prune_containers", "prune_images", "prune_networks",
                                          "prune_volumes"]
    assert engine.log[2][2] == {"filters": {"label": ["x"]}} and engine.log[1][2] == {"filters": None}
    assert result["changed"] and result["space_reclaimed"] == 15
    assert (result["containers"], result["images"], result["images_untagged"]) == (
        ["old", "new", "dead"], ["sha256:i2"], ["app@sha256:d2"])
    assert result["networks"] == ["free"] and result["volumes"] == []
    assert result["diff"]["before"] == {"containers": ["old", "new", "dead"], "images": ["sha256:i2"],
                                        "images_untagged": ["app@sha256:d2"], "networks": ["free"]}
    engine = Engine()
    result = run_main(prune_argument_spec(), prune_main, engine, {"networks": True})
    assert [c[0] for c in engine.log] == ["prune_networks"]


def test_check_mode_lists_and_predicts_and_prunes_nothing():
    engine = Engine()
    result = run_main(prune_argument_spec(), prune_main, engine, ALL, check_mode=True)
    assert not [c for c in engine.log if c[0].startswith("prune_")]
    assert result["containers"] == ["old", "new", "dead"] and result["images"] == ["sha256:i2", "sha256:i3", "sha256:i5"]
    assert result["networks"] == ["free"] and result["volumes"] == ["v3"] and "space_reclaimed" not in result
    assert result["changed"]


@pytest.mark.parametrize("pinned,engine,spoken", [
    ("auto", "1.43", "1.43"), (None, "1.41", "1.41"), ("1.41", "1.43", "1.41"), ("1.44", "1.41", "1.41"),
    ("1.43", "1.43", "1.43")])
def test_the_rules_are_those_of_the_api_version_the_requests_speak(pinned, engine, spoken):
    assert spoken_version(pinned, engine) == spoken


def test_the_all_filter_of_an_older_engine_fails_before_anything_is_removed():
    engine = Engine("1.41")
    result = run_main(prune_argument_spec(), prune_main, engine, {"volumes": True, "volumes_filters": {"all": True}})
    assert result["failed"] and result["msg"].startswith("volumes_filters: filter 'all' needs")
    assert [c[0] for c in engine.log] == ["version"]


# ------------------------------------------------------------------ build cache
def _rec(rid, parent="", size=100, count=1, last="2026-12-06T15:00:00Z", **kw):
    return dict({"ID": rid, "Parent": parent, "Type": "regular", "InUse": False, "Shared": False,
                 "Size": size, "UsageCount": count, "LastUsedAt": last}, **kw)


BUILD_CACHE = [
    _rec("old", last="2026-12-06T10:00:00.5Z"),
    _rec("busy", InUse=True),
    _rec("layer", Shared=True),
    _rec("top", parent="layer", Shared=True),
    _rec("base"), _rec("child", parent="base", last=None), _rec("grandchild", parent="child"),
    _rec("frontend", Type="frontend"), _rec("ctx", Type="internal"),
    _rec("mount", Type="exec.cachemount", last="2026-12-06T16:00:00.000000001Z"),
]


def test_builder_cache_options_are_parsed_for_the_engine():
    plan = parse({"builder_cache": True, "builder_cache_all": True, "builder_cache_keep_storage": "1.5GB",
                  "builder_cache_filters": {"until": "1h", "shared": False, "type": "regular", "id": "abc1"}},
                 now=NOW)
    assert plan == {"builder_cache": {
        "filters": {"until": ["%.3f" % (NOW - 3600)], "private": [], "type": ["regular"], "id": ["abc1"]},
        "all": True, "keep_storage": 1610612736}}
    assert parse({"builder_cache": True}, now=NOW) == {"builder_cache": {"filters": {}, "all": False,
                                                                         "keep_storage": None}}
    assert parse({"builder_cache": True, "builder_cache_filters": {"shared": "true"}},
                 now=NOW)["builder_cache"]["filters"] == {"shared": []}


@pytest.mark.parametrize("value,size", [
    (0, 0), (1000, 1000), ("1000", 1000), ("512MB", 512 << 20), ("512mb", 512 << 20), ("2GiB", 2 << 30),
    ("1.5g", 3 << 29), ("100k", 102400), ("100 KB", 102400), ("7b", 7), ("1T", 1 << 40)])
def test_keep_storage_is_bytes_or_a_size_as_the_docker_cli_reads_it(value, size):
    assert parse_size("builder_cache_keep_storage", value) == size


@pytest.mark.parametrize("params,option,words", [
    ({"builder_cache": True, "builder_cache_keep_storage": -1}, "builder_cache_keep_storage", "got -1"),
    ({"builder_cache": True, "builder_cache_keep_storage": "lots"}, "builder_cache_keep_storage", "512MB"),
    ({"builder_cache": True, "builder_cache_keep_storage": True}, "builder_cache_keep_storage", "got True"),
    ({"builder_cache": True, "builder_cache_keep_storage": 1.5}, "builder_cache_keep_storage", "got 1.5"),
    ({"builder_cache": True, "builder_cache_keep_storage": "5XB"}, "builder_cache_keep_storage", "'5XB'"),
    ({"builder_cache_all": True}, "builder_cache_all", "set builder_cache: true"),
    ({"builder_cache_keep_storage": "1GB", "images": True}, "builder_cache_keep_storage", "set builder_cache"),
    ({"builder_cache_filters": {"until": "1h"}}, "builder_cache_filters", "set builder_cache: true"),
    ({"builder_cache": True, "builder_cache_filters": {"label": "x"}}, "builder_cache_filters", "no labels"),
    ({"builder_cache": True, "builder_cache_filters": {"label!": "x"}}, "builder_cache_filters", "no labels"),
    ({"builder_cache": True, "builder_cache_filters": {"dangling": True}}, "builder_cache_filters",
     "unknown filter 'dangling'"),
    ({"builder_cache": True, "builder_cache_filters": {"inuse": True}}, "builder_cache_filters",
     "unknown filter 'inuse'"),
    ({"builder_cache": True, "builder_cache_filters": {"type": "layer"}}, "builder_cache_filters",
     "invalid value 'layer'"),
    ({"builder_cache": True, "builder_cache_filters": {"id": ["a", "b"]}}, "builder_cache_filters", "one value"),
    ({"builder_cache": True, "builder_cache_filters": {"id": "a.*"}}, "builder_cache_filters", "letters and digits"),
    ({"builder_cache": True, "builder_cache_filters": {"shared": "yes"}}, "builder_cache_filters", "invalid value"),
    ({"builder_cache": True, "builder_cache_filters": {"until": "last week"}}, "builder_cache_filters", "until"),
    # every kind is checked before anything is pruned: a bad build-cache option fails the run
    ({"containers": True, "builder_cache": True, "builder_cache_filters": {"label": "x"}}, "builder_cache_filters",
     "no labels"),
    ({}, "containers", "builder_cache"),
])
def test_bad_builder_cache_options_fail_naming_the_option(params, option, words):
    with pytest.raises(FilterError) as err:
        parse(params, now=NOW)
    assert err.value.option == option and words in str(err.value), str(err.value)


def test_build_cache_as_buildkit_prunes_it():
    plain = {"filters": {}, "all": False}
    # not in use, not shared, not internal or frontend; a parent after its children (same prune)
    assert predict_builder_cache(plain, BUILD_CACHE) == ["old", "grandchild", "mount", "child", "base"]
    # all: shared, internal and frontend records too (top before the layer it is built on)
    assert sorted(predict_builder_cache(dict(plain, all=True), BUILD_CACHE)) == sorted(
        ["old", "top", "layer", "base", "child", "grandchild", "frontend", "ctx", "mount"])
    # until: last used before then, or never (child); its parent waits for the grandchild
    until = {"until": ["%.3f" % parse_until("o", "2026-12-06T12:00:00Z", NOW)]}
    assert predict_builder_cache(dict(plain, filters=until), BUILD_CACHE) == ["old"]
    assert predict_builder_cache({"filters": {"id": ["grand"]}}, BUILD_CACHE) == ["grandchild"]
    assert predict_builder_cache({"filters": {"id": ["child"]}}, BUILD_CACHE) == ["grandchild", "child"]
    assert predict_builder_cache({"filters": {"type": ["exec.cachemount"]}}, BUILD_CACHE) == ["mount"]
    assert predict_builder_cache({"filters": {"shared": []}}, BUILD_CACHE) == []
    assert predict_builder_cache({"filters": {"shared": []}, "all": True}, BUILD_CACHE) == ["top", "layer"]
    assert "layer" not in predict_builder_cache({"filters": {"private": []}, "all": True}, BUILD_CACHE)


# A real engine's build cache (Docker 20.10.24, three small builds, their images removed) and
# what its prune with keep-storage 40000 removed: one record at a time in BuildKit's order,
# a tie at the fifth (p23a: 1/6 + 2/3, asqw: 3/6 + 1/3) going to the one used less often.
KEPT = [
    _rec("p23a", size=10240, count=2, last="2026-12-06T15:03:29.937441233Z"),
    _rec("hy9i", size=3534, count=1, last="2026-12-06T15:03:29.937656483Z"),
    _rec("tz60", parent="mcz0", size=2500, count=1, last="2026-12-06T15:03:29.937877879Z"),
    _rec("ntnz", size=10240, count=2, last="2026-12-06T15:03:30.054155247Z"),
    _rec("9v4a", size=4034, count=1, last="2026-12-06T15:03:30.05457511Z"),
    _rec("wqcc", parent="mcz0", size=3000, count=1, last="2026-12-06T15:03:30.054856797Z"),
    _rec("asqw", size=10240, count=1, last="2026-12-06T15:03:30.121533686Z"),
    _rec("mcz0", size=1000, count=4, last="2026-12-06T15:03:30.125666069Z"),
    _rec("ogak", size=3034, count=2, last="2026-12-06T15:03:30.126374904Z"),
    _rec("id8i", parent="mcz0", size=2000, count=2, last="2026-12-06T15:03:30.12647462Z"),
    _rec("nd27", size=10240, count=3, last="2026-12-06T15:03:30.126667615Z"),
]


def test_keep_storage_removes_one_record_at_a_time_in_buildkits_order():
    keep = {"filters": {}, "all": False, "keep_storage": 40000}
    assert predict_builder_cache(keep, KEPT) == ["hy9i", "tz60", "9v4a", "wqcc", "asqw"]
    # the records take 60062 bytes: nothing goes when they take less than keep-storage
    assert predict_builder_cache(dict(keep, keep_storage=60063), KEPT) == []
    assert predict_builder_cache(dict(keep, keep_storage=60062), KEPT) == ["hy9i"]
    assert sorted(predict_builder_cache(dict(keep, keep_storage=1), KEPT)) == sorted(r["ID"] for r in KEPT)
    # never used first, then by the two ranks
    assert [r["ID"] for r in gc_order([_rec("a", count=1), _rec("b", count=1, last=None)])] == ["b", "a"]


def test_the_build_prune_call_takes_until_as_a_duration_back():
    options = parse({"builder_cache": True, "builder_cache_filters": {"until": "90m", "private": True},
                     "builder_cache_keep_storage": "1k"}, now=NOW)["builder_cache"]
    assert builder_call(options, now=NOW + 2) == {
        "filters": {"until": ["5402000ms"], "private": []}, "keep_storage": 1024}
    assert builder_call({"filters": {}, "all": True, "keep_storage": 0}) == {"all": True}
    assert builder_call({"filters": {"until": ["%.3f" % (NOW + 60)]}}, now=NOW) == {"filters": {"until": ["0ms"]}}


def test_build_cache_goes_last_and_check_mode_reads_the_disk_usage():
    engine = Engine()
    result = run_main(prune_argument_spec(), prune_main, engine, dict(ALL, builder_cache=True))
    assert [c[0] for c in engine.log][-2:] == ["prune_volumes", "prune_builds"]
    assert engine.log[-1][2] == {} and result["builder_cache"] == ["old"] and result["space_reclaimed"] == 22
    assert result["diff"]["before"]["builder_cache"] == ["old"]
    engine = Engine()
    result = run_main(prune_argument_spec(), prune_main, engine,
                      {"builder_cache": True, "builder_cache_all": True,
                       "builder_cache_filters": {"type": "regular"}})
    assert [c[0] for c in engine.log] == ["version", "prune_builds"]
    assert engine.log[-1][2] == {"filters": {"type": ["regular"]}, "all": True}
    engine = Engine()
    result = run_main(prune_argument_spec(), prune_main, engine, {"builder_cache": True}, check_mode=True)
    assert [c[0] for c in engine.log] == ["df"]
    assert result["builder_cache"] == ["old", "grandchild", "mount", "child", "base"] and result["changed"]
    assert "space_reclaimed" not in result


def test_nothing_removed_is_no_change():
    class Empty(Engine):
        def call(self, method, *args, **kwargs):
            self.log.append((method, args, kwargs))
            return {"df": {"BuildCache": None}, "prune_builds": {"CachesDeleted": None, "SpaceReclaimed": 0}}[method]
    for check in (False, True):
        result = run_main(prune_argument_spec(), prune_main, Empty(), {"builder_cache": True}, check_mode=check)
        assert result["builder_cache"] == [] and not result["changed"] and "diff" not in result


def test_builder_cache_options_of_an_engine_before_api_1_39_fail_before_anything_is_removed():
    engine = Engine("1.38")
    result = run_main(prune_argument_spec(), prune_main, engine,
                      {"containers": True, "builder_cache": True, "builder_cache_keep_storage": "1GB"})
    assert result["failed"] and result["msg"].startswith("builder_cache_keep_storage: needs an engine with API 1.39")
    assert [c[0] for c in engine.log] == ["version"]
