from ansible_collections.dockyard.fleet.plugins.module_utils._info import (
    container_view, label_filters, ports_of)


def test_label_filters():
    assert label_filters({"app": "shop", "tier": None}) == ["app=shop", "tier"]
    assert label_filters(["a", "b=c"]) == ["a", "b=c"]


def test_container_view_subset():
    inspect = {"Id": "abc", "Name": "/web", "Image": "sha256:1", "Created": "t",
               "Config": {"Image": "demo:v1", "Labels": {"x": "y"}},
               "State": {"Status": "running", "Running": True, "Health": {"Status": "healthy"}},
               "NetworkSettings": {"Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}],
                                             "443/tcp": None}, "Networks": {"bridge": {}}}}
    v = container_view(inspect)
    assert v["name"] == "web" and v["health"] == "healthy" and v["image_id"] == "sha256:1"
    assert v["ports"] == ["443/tcp", "0.0.0.0:8080->80/tcp"] == ports_of(inspect)
