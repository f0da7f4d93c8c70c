import pytest

from ansible_collections.dockyard.fleet.plugins.module_utils._info import (
    LIST_FILTERS, FilterError, check_filters, container_view, filter_refusal, label_filters,
    list_filters, list_view, plain_type, ports_of)


def test_label_filters():
    assert label_filters({"app": "shop", "tier": None}) == ["app=shop", "tier"]
    assert label_filters(["a", "b=c"]) == ["a", "b=c"]


def test_label_filters_take_yaml_booleans_and_numbers_as_the_labels_hold_them():
    """labels {enabled: true} matches a container labelled enabled=true (the label is the
    string "true"; a Python True would be sent as "True"), numbers as written."""
    assert label_filters({"enabled": True, "off": False, "n": 1, "f": 1.5}) == \
        ["enabled=true", "f=1.5", "n=1", "off=false"]


@pytest.mark.parametrize("labels,words", [
    ([1], ["entry 1", "got int"]), ([{"a": "b"}], ["got dict"]), ([""], ["empty"]),
    (["=x"], ["empty"]), ({"a": {"b": 1}}, ["'a'", "a dict"]), ({"a": [1]}, ["a list"]),
    ({"": "x"}, ["label name"]), ({"a=b": "c"}, ["label name"]), ("app=ci", ["got str"])])
def test_label_filters_refuse_what_no_label_matches_naming_labels(labels, words):
    with pytest.raises(FilterError) as err:
        label_filters(labels)
    assert str(err.value).startswith("labels: ")
    for w in words:
        assert w in str(err.value)


def test_plain_type_names_the_plain_type_of_a_subclass():
    class _AnsibleTaggedStr(str):
        pass

    class _AnsibleTaggedDict(dict):
        pass
    assert (plain_type(_AnsibleTaggedStr("x")), plain_type(_AnsibleTaggedDict()), plain_type(True),
            plain_type(None)) == ("str", "dict", "bool", "null")
    with pytest.raises(FilterError) as err:
        check_filters("containers", {"label": [_AnsibleTaggedDict(a=1)]})
    assert "got a dict" in str(err.value)


def test_container_view_subset():
    inspect = {"Id": "abc", "Name": "/web", "Image": "sha256:1", "Created": "t",
               "Config": {"Image": "demo:v1", "Labels": {"x": "y"}},
               "State": {"Status": "running", "Running": True, "Health": {"Status": "healthy"}},
               "NetworkSettings": {"Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}],
                                             "443/tcp": None}, "Networks": {"bridge": {}}}}
    v = container_view(inspect)
    assert v["name"] == "web" and v["health"] == "healthy" and v["image_id"] == "sha256:1"
    assert v["ports"] == ["443/tcp", "0.0.0.0:8080->80/tcp"] == ports_of(inspect)


# ------------------------------------------------------------------ host_info *_filters
def test_check_filters_normalises_what_the_engine_takes():
    assert check_filters("containers", None) is None
    assert check_filters("containers", {}) is None
    assert check_filters("containers", {"status": "running", "label": ["app=shop", "tier"],
                                        "exited": 0, "is-task": False}) == {
        "status": ["running"], "label": ["app=shop", "tier"], "exited": ["0"],
        "is-task": ["false"]}
    assert check_filters("images", {"dangling": True, "reference": "dockyard/*"}) == {
        "dangling": ["true"], "reference": ["dockyard/*"]}
    assert check_filters("networks", {"driver": "bridge", "type": "custom",
                                      "dangling": "1"}) == {
        "driver": ["bridge"], "type": ["custom"], "dangling": ["1"]}
    assert check_filters("volumes", {"dangling": False, "name": "data"}) == {
        "dangling": ["false"], "name": ["data"]}
    # an empty list is no filter
    assert check_filters("volumes", {"label": []}) is None


@pytest.mark.parametrize("kind, filters, words", [
    ("containers", {"zz_filter": "x"}, ["unknown filter 'zz_filter'", "status"]),
    ("containers", {"status": "sleeping"}, ["'status'", "'sleeping'", "running"]),
    ("containers", {"status": ["running", "Exited"]}, ["'Exited'"]),
    ("containers", {"health": "ok"}, ["'health'", "unhealthy"]),
    ("containers", {"exited": "zero"}, ["'exited'", "integer"]),
    ("containers", {"is-task": 1}, ["'is-task'"]),
    ("containers", {"label": {"app": "shop"}}, ["'label'", "a dict"]),
    ("containers", {"name": None}, ["'name'", "no value"]),
    ("containers", {"name": [["a"]]}, ["'name'", "a list"]),
    ("containers", {1: "x"}, ["unknown filter 1"]),
    ("images", {"driver": "local"}, ["unknown filter 'driver'", "reference"]),
    ("images", {"dangling": "maybe"}, ["'dangling'", "'maybe'"]),
    ("networks", {"scope": "planet"}, ["'scope'", "swarm"]),
    ("networks", {"type": "user"}, ["'type'", "builtin"]),
    ("networks", {"status": "running"}, ["unknown filter 'status'"]),
    ("volumes", {"dangling": "yes"}, ["'dangling'"]),
    ("volumes", {"reference": "x"}, ["unknown filter 'reference'"]),
])
def test_check_filters_refuses_naming_the_option(kind, filters, words):
    with pytest.raises(FilterError) as err:
        check_filters(kind, filters)
    msg = str(err.value)
    assert msg.startswith(kind + "_filters: ") and err.value.option == kind + "_filters"
    for w in words:
        assert w in msg, msg


def test_every_documented_filter_is_known():
    # the filters of the Engine API reference, list by list
    assert set(LIST_FILTERS["containers"]) >= {
        "ancestor", "before", "expose", "exited", "health", "id", "isolation", "is-task", "label",
        "name", "network", "publish", "since", "status", "volume"}
    assert set(LIST_FILTERS["images"]) == {"before", "dangling", "label", "reference", "since",
                                           "until"}
    assert set(LIST_FILTERS["networks"]) == {"dangling", "driver", "id", "label", "name", "scope",
                                             "type"}
    assert set(LIST_FILTERS["volumes"]) == {"dangling", "driver", "label", "name"}


def test_list_filters_needs_the_list_and_checks_every_kind():
    params = {"containers": True, "containers_filters": {"status": "exited"},
              "images": False, "images_filters": None, "networks": True,
              "networks_filters": None, "volumes": True, "volumes_filters": {"dangling": True}}
    assert list_filters(params) == {"containers": {"status": ["exited"]}, "images": None,
                                    "networks": None, "volumes": {"dangling": ["true"]}}
    with pytest.raises(FilterError, match=r"^images_filters: set images: true"):
        list_filters(dict(params, images_filters={"dangling": True}))
    with pytest.raises(FilterError, match=r"^volumes_filters: .*'dangling'"):
        list_filters(dict(params, volumes_filters={"dangling": "sometimes"}))


def test_filter_refusal_names_the_option_only_for_a_filtered_refusal():
    refused = "Docker engine refused containers: Invalid filter 'annotation'"
    assert filter_refusal("containers", {"annotation": ["a"]}, refused) == \
        "containers_filters: " + refused
    assert filter_refusal("containers", None, refused) == refused
    lost = "Cannot reach the Docker engine at unix:///x (option docker_host): gone"
    assert filter_refusal("containers", {"status": ["running"]}, lost) == lost


def test_list_view():
    assert list_view("volumes", {"Volumes": [{"Name": "v", "Driver": "local"}]}) == [
        {"name": "v", "driver": "local", "mountpoint": None, "labels": {}}]
    assert list_view("volumes", {"Volumes": None}) == [] == list_view("networks", None)
    assert list_view("containers", [{"Id": "c", "Names": ["/web"]}])[0]["name"] == "web"
