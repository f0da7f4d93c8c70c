"""Desired-vs-actual comparison of networks and volumes (only what the user set counts)."""
import pytest

from ansible_collections.dockyard.fleet.plugins.module_utils._network_volume import (
    InputError, network_after, network_create_args, network_desired, network_differences,
    network_view, volume_desired, volume_differences, volume_view, attached_containers,
    format_differences)

ENGINE_NET = {
    "Name": "app", "Id": "n1", "Driver": "bridge", "Internal": False, "Attachable": False,
    "EnableIPv6": False,
    "Options": {"com.docker.network.bridge.enable_icc": "true"},
    "Labels": {"team": "web", "added.by": "someone"},
    "IPAM": {"Driver": "default", "Options": None,
             "Config": [{"Subnet": "172.30.10.0/24", "Gateway": "172.30.10.1"}]},
    "Containers": {"c2": {"Name": "web2"}, "c1": {"Name": "web1"}},
}


def _net(**kw):
    p = dict(name="app", driver=None, driver_options=None, labels=None, ipam_driver=None,
             ipam_config=None, internal=None, attachable=None, enable_ipv6=None)
    p.update(kw)
    return network_desired(p)


def test_only_name_is_no_drift():
    assert network_differences(_net(), ENGINE_NET) == []


def test_engine_defaults_are_not_drift():
    d = _net(driver="bridge", labels={"team": "web"}, ipam_config=[{"subnet": "172.30.10.0/24"}],
             internal=False)
    assert network_differences(d, ENGINE_NET) == []
    # empty is as not set: the engine's pick (labels, options, pools)
    d = _net(labels={}, driver_options={}, ipam_config=[])
    assert d["ipam_config"] is None and network_differences(d, ENGINE_NET) == []


def test_differences_reported_per_option():
    d = _net(driver="macvlan", labels={"team": "db"}, internal=True,
             driver_options={"com.docker.network.bridge.enable_icc": False},
             ipam_config=[{"subnet": "172.30.10.0/24", "gateway": "172.30.10.254"}])
    opts = [o for o, _w, _a in network_differences(d, ENGINE_NET)]
    assert opts == ["driver", "driver_options.com.docker.network.bridge.enable_icc", "labels.team",
                    "internal", "ipam_config[172.30.10.0/24].gateway"]


def test_subnet_change_and_extra_subnet():
    d = _net(ipam_config=[{"subnet": "172.30.20.0/24"}])
    diffs = network_differences(d, ENGINE_NET)
    assert diffs[0][0] == "ipam_config.subnet" and diffs[0][1] == "172.30.20.0/24"
    assert ("ipam_config.subnet", None, "172.30.10.0/24") in diffs
    assert "not listed" in format_differences(diffs)


def test_subnet_is_normalised():
    d = _net(ipam_config=[{"subnet": "172.30.10.7/24"}])
    assert network_differences(d, ENGINE_NET) == []


@pytest.mark.parametrize("cfg,option", [
    ([{"subnet": "nope"}], "ipam_config[0].subnet"),
    ([{"subnet": "10.1.0.0/16", "gateway": "10.2.0.1"}], "ipam_config[0].gateway"),
    ([{"subnet": "10.1.0.0/16", "gateway": "x"}], "ipam_config[0].gateway"),
    ([{"subnet": "10.1.0.0/16", "iprange": "10.3.0.0/24"}], "ipam_config[0].iprange"),
    ([{"subnet": "10.1.0.0/16"}, {"subnet": "10.1.0.0/16"}], "ipam_config[1].subnet"),
    ([{"gateway": "10.1.0.1"}], "ipam_config[0].subnet"),
])
def test_bad_ipam_names_option(cfg, option):
    with pytest.raises(InputError) as err:
        _net(ipam_config=cfg)
    assert str(err.value).startswith(option)


def test_create_args_and_predicted_after():
    d = _net(ipam_config=[{"subnet": "10.9.0.0/24", "gateway": "10.9.0.1", "iprange": "10.9.0.128/25"}],
             internal=True, labels={"a": 1})
    args = network_create_args(d)
    assert args["driver"] == "bridge" and args["internal"] is True and args["labels"] == {"a": "1"}
    assert args["ipam"]["Config"] == [{"Subnet": "10.9.0.0/24", "Gateway": "10.9.0.1",
                                       "IPRange": "10.9.0.128/25"}]
    assert network_differences(d, network_after(d)) == []


def test_attached_containers_sorted_names():
    assert attached_containers(ENGINE_NET) == ["web1", "web2"]


def test_volume_compare_only_user_keys():
    actual = {"Name": "v", "Driver": "local", "Options": None, "Labels": {"a": "1", "b": "2"}}
    assert volume_differences(volume_desired(dict(name="v", labels={"a": 1})), actual) == []
    diffs = volume_differences(volume_desired(dict(name="v", driver="other",
                                                   driver_options={"type": "tmpfs"})), actual)
    assert [d[0] for d in diffs] == ["driver", "driver_options.type"]


def test_volume_needs_name():
    with pytest.raises(InputError, match="^name:"):
        volume_desired(dict(name=""))


def test_diff_views_show_only_what_the_user_set():
    assert network_view(_net(), None) == volume_view(volume_desired(dict(name="v")), None) \
        == {"present": False}
    view = network_view(_net(labels={"team": "api"}, internal=True), ENGINE_NET)
    # the label the user set as the engine has it, not the one another tool added
    assert view == {"present": True, "name": "app", "driver": "bridge",
                    "labels": {"team": "web"}, "internal": False}
    actual = {"Name": "v", "Driver": "local", "Options": {"type": "tmpfs", "o": "size=1m"},
              "Labels": None}
    assert volume_view(volume_desired(dict(name="v", driver_options={"type": "tmpfs"},
                                           labels={"a": "1"})), actual) == \
        {"present": True, "name": "v", "driver": "local", "driver_options": {"type": "tmpfs"},
         "labels": {"a": None}}
