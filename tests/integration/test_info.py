"""dockyard.fleet.container_info and host_info: facts only, never changed, check mode."""
from __future__ import annotations

import yaml

HOST = "app3"
P = "nfo-"


def pb(tasks):
    return yaml.safe_dump([{"hosts": HOST, "tasks": [
        {"name": n, m: a} for n, m, a in tasks]}]) + "\n"


def test_container_and_host_info(lab, play):
    lab.clean(HOST, P)
    lab.load_image(HOST, "dockyard/demo:v1")
    c = lab.docker(HOST)
    c.containers.run("dockyard/demo:v1", name=P + "web", detach=True, labels={"app": "nfo"},
                     ports={"80/tcp": 18080})
    c.containers.create("dockyard/demo:v1", name=P + "stopped", labels={"app": "nfo"})
    c.volumes.create(P + "vol", labels={"app": "nfo"})
    try:
        tasks = [
            ("one", "dockyard.fleet.container_info", dict(name=P + "web")),
            ("several", "dockyard.fleet.container_info", dict(name=[P + "web", P + "missing"])),
            ("labels", "dockyard.fleet.container_info", dict(labels={"app": "nfo"})),
            ("host", "dockyard.fleet.host_info", {}),
            ("lists", "dockyard.fleet.host_info", dict(
                containers=True, containers_filters={"label": ["app=nfo"]},
                images=True, images_filters={"reference": "dockyard/demo"},
                networks=True, volumes=True, volumes_filters={"label": "app=nfo"},
                disk_usage=True)),
        ]
        before = lab.snapshot(HOST)
        for check in (True, False):
            res = play(pb(tasks), check=check)
            assert res.rc == 0, res.stdout
            assert res.changed == 0
            assert lab.snapshot(HOST) == before

            one = res.one(task="one")
            assert one["exists"] is True and len(one["containers"]) == 1
            web = one["containers"][0]
            assert web["name"] == P + "web" and web["state"] == "running"
            assert web["image"] == "dockyard/demo:v1"
            assert web["image_id"] == lab.images["dockyard/demo:v1"]["id"]
            assert web["labels"]["app"] == "nfo" and "0.0.0.0:18080->80/tcp" in web["ports"]
            assert web["health"] in ("starting", "healthy")
            assert web["id"] == c.containers.get(P + "web").id and web["created"]

            several = res.one(task="several")
            assert several["exists"] is False
            assert [x["exists"] for x in several["containers"]] == [True, False]

            labels = res.one(task="labels")
            assert sorted(x["name"] for x in labels["containers"]) == [P + "stopped", P + "web"]
            states = {x["name"]: x["state"] for x in labels["containers"]}
            assert states[P + "stopped"] == "created"

            host = res.one(task="host")["host_info"]
            assert host["api_version"] == "1.41" and host["server_version"].startswith("20.10")
            assert host["counts"]["containers"] == len(c.containers.list(all=True))
            assert "containers" not in res.one(task="host")

            lists = res.one(task="lists")
            assert sorted(x["name"] for x in lists["containers"]) == [P + "stopped", P + "web"]
            assert all(i["tags"] and i["tags"][0].startswith("dockyard/demo") for i in lists["images"])
            assert "bridge" in {n["name"] for n in lists["networks"]}
            assert [v["name"] for v in lists["volumes"]] == [P + "vol"]
            assert lists["disk_usage"]["images"]["count"] >= 1

        res = play(pb([("bad", "dockyard.fleet.host_info", dict(images_filters={"dangling": True}))]))
        assert res.rc != 0 and res.one(task="bad")["msg"].startswith("images_filters:")
    finally:
        lab.clean(HOST, P)
