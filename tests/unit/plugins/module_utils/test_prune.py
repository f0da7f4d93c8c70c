"""module_utils/_prune.py (dockyard.fleet.prune): the filters, `until`, the engine's rules
check mode predicts with, and a run's engine calls against a scripted engine."""
from __future__ import annotations

import pytest

from ansible_collections.dockyard.fleet.plugins.module_utils._info import FilterError
from ansible_collections.dockyard.fleet.plugins.module_utils._prune import (
    labels_match, parse, parse_until, predict_containers, predict_images, predict_networks,
    predict_volumes, prune_argument_spec, prune_main, spoken_version)
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
