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
        ]
        lists = dict(containers=True, containers_filters={"label": ["app=nfo"]},
                     images=True, images_filters={"reference": "dockyard/demo"},
                     networks=True, volumes=True, volumes_filters={"label": "app=nfo"},
                     disk_usage=True)
        tasks += [("lists", "dockyard.fleet.host_info", lists),
                  ("lists on the host", "dockyard.fleet.host_info", dict(lists, execution="host"))]
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
            # read from the controller (no module run), the same answers as the module's
            on_host = res.one(task="lists on the host")
            for r, where in ((res.one(task="host"), "controller"), (lists, "controller"),
                             (on_host, "host")):
                assert (r["execution"], r["invocations"]) == (where, int(where == "host")), r
            for kind, key in (("containers", "name"), ("images", "id"), ("networks", "name"),
                              ("volumes", "name")):
                assert sorted(x[key] for x in lists[kind]) == sorted(x[key] for x in on_host[kind]), kind
            assert lists["host_info"]["server_version"] == on_host["host_info"]["server_version"]

        for where in ("auto", "host"):  # the same message from either side, before any call
            res = play(pb([("bad", "dockyard.fleet.host_info",
                            dict(images_filters={"dangling": True}, execution=where))]))
            assert res.rc != 0 and res.one(task="bad")["msg"].startswith("images_filters:"), where
    finally:
        lab.clean(HOST, P)


def test_container_info_on_the_controller_and_on_the_host_agree(lab, play):
    """execution: auto reads app3's engine from the controller (no module run); host runs the
    module: the same containers, in check mode too; where the controller cannot, auto goes to
    the host and says why, and execution=controller fails naming the option."""
    lab.clean(HOST, P)
    lab.load_image(HOST, "dockyard/demo:v1")
    c = lab.docker(HOST)
    c.containers.run("dockyard/demo:v1", name=P + "web", detach=True, labels={"app": "nfo"})
    c.containers.create("dockyard/demo:v1", name=P + "stopped", labels={"app": "nfo"})
    try:
        args = dict(name=[P + "web", P + "missing"], labels={"app": "nfo"})
        tasks = [(where, "dockyard.fleet.container_info", dict(args, execution=where))
                 for where in ("auto", "host")]
        tasks += [("env", "dockyard.fleet.container_info", dict(args)),
                  ("tcp", "dockyard.fleet.container_info",
                   dict(args, execution="controller", docker_host="tcp://127.0.0.1:2375")),
                  ("gone", "dockyard.fleet.container_info",
                   dict(name=P + "web", execution="controller", docker_host="unix:///run/no-such.sock"))]
        book = yaml.safe_load(pb(tasks))
        for t in book[0]["tasks"]:
            if t["name"] == "env":
                t["environment"] = {"DOCKER_TIMEOUT": "60"}
            if t["name"] in ("tcp", "gone"):
                t["ignore_errors"] = True
        for check in (False, True):
            res = play(yaml.safe_dump(book) + "\n", check=check)
            assert res.rc == 0 and res.changed == 0, res.stdout[-3000:]
            auto, host = res.one(task="auto"), res.one(task="host")
            assert (auto["execution"], auto["invocations"]) == ("controller", 0), auto
            assert (host["execution"], host["invocations"]) == ("host", 1), host
            # the same containers (health aside: the new one's first check may land between)
            same = [[{k: v for k, v in x.items() if k != "health"} for x in r["containers"]]
                    for r in (auto, host)]
            assert same[0] == same[1] and auto["exists"] is False
            assert sorted(x["name"] for x in auto["containers"] if x["exists"]) == \
                [P + "stopped", P + "web"]
            env = res.one(task="env")
            assert env["execution"] == "host" and "DOCKER_TIMEOUT" in env["execution_reason"]
            tcp = res.results(task="tcp")[0]
            assert tcp["status"] == "failed" and tcp["result"]["msg"].startswith(
                "execution: cannot run on the controller: docker_host tcp://"), tcp
            # the socket is forwarded but nothing answers there: the message names the
            # host's socket, never the forward on the controller
            gone = res.results(task="gone")[0]
            assert gone["status"] == "failed" and "unix:///run/no-such.sock" in gone["result"]["msg"]
            assert "dyfwd" not in gone["result"]["msg"], gone
    finally:
        lab.clean(HOST, P)
