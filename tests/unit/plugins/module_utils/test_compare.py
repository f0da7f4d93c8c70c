"""The comparison engine: desired spec vs inspected container, and the plan."""
import copy

import pytest

from ansible_collections.dockyard.fleet.plugins.module_utils._compare import (
    actual_from_inspect, compare, diff_view, drop_discarded, engine_discards, plan)
from ansible_collections.dockyard.fleet.plugins.module_utils._container_engine import decide
from ansible_collections.dockyard.fleet.plugins.module_utils._container_spec import parse_spec

IMAGE_ID = "sha256:" + "1" * 64
OTHER_ID = "sha256:" + "2" * 64
HC = {"Test": ["CMD", "/bin/busybox", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1/health"],
      "Interval": 2000000000, "Timeout": 2000000000, "Retries": 2}
IMAGE = {"Id": IMAGE_ID, "Config": {
    "Env": ["PATH=/bin", "DEMO_VERSION=v1"], "Cmd": None, "ExposedPorts": {"80/tcp": {}},
    "Healthcheck": HC, "Volumes": {"/data": {}}, "WorkingDir": "/www",
    "Entrypoint": ["/bin/busybox", "sh", "-c", "serve"],
    "Labels": {"org.opencontainers.image.title": "dockyard-demo"}}}

# What the engine reports for a container created from IMAGE with `-p 8080:80 -e A=1 -l x=y`.
CONTAINER = {
    "Id": "c" * 64, "Name": "/web", "Image": IMAGE_ID,
    "State": {"Status": "running", "Running": True},
    "Config": {"Hostname": "cccccccccccc", "User": "", "Env": ["A=1", "PATH=/bin", "DEMO_VERSION=v1"],
               "Cmd": None, "Entrypoint": ["/bin/busybox", "sh", "-c", "serve"],
               "Healthcheck": HC, "Image": "dockyard/demo:v1", "WorkingDir": "/www",
               "Labels": {"org.opencontainers.image.title": "dockyard-demo", "x": "y"},
               "ExposedPorts": {"80/tcp": {}}, "Volumes": {"/data": {}}},
    "HostConfig": {"Binds": None, "NetworkMode": "default", "PortBindings": {
        "80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
        "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}, "Memory": 0, "NanoCpus": 0,
        "CpuPeriod": 0, "CpuQuota": 0, "LogConfig": {"Type": "json-file", "Config": {}},
        "CapAdd": None, "CapDrop": None, "Init": None, "ReadonlyRootfs": False, "Mounts": None},
    "NetworkSettings": {"Networks": {"bridge": {"Aliases": None, "IPAMConfig": None}}},
}


def diffs_for(params, container=None, image=None, comparisons=None, image_id=IMAGE_ID, mutate=None):
    image = IMAGE if image is None else image
    c = copy.deepcopy(container or CONTAINER)
    if mutate:
        mutate(c)
    spec = parse_spec(dict(params))
    return compare(spec, actual_from_inspect(c), image, comparisons, image_id)


def options(diffs):
    return sorted(d["option"] for d in diffs)


def test_same_is_quiet():
    assert diffs_for({"image": "dockyard/demo:v1", "published_ports": ["8080:80"], "env": {"A": 1},
                      "labels": {"x": "y"}}) == []


# --------------------------------------------------------------- the known traps
def test_trap_network_mode_default_vs_bridge():
    assert diffs_for({"network_mode": "bridge"}) == []
    assert diffs_for({"network_mode": "default"}) == []

    def set_bridge(c):
        c["HostConfig"]["NetworkMode"] = "bridge"
    assert diffs_for({"network_mode": "default"}, mutate=set_bridge) == []
    assert options(diffs_for({"network_mode": "host"})) == ["network_mode"]


def test_trap_disabled_healthcheck():
    def disabled(c):
        c["Config"]["Healthcheck"] = {"Test": ["NONE"]}
    assert diffs_for({"healthcheck": {"test": ["NONE"]}}, mutate=disabled) == []
    assert diffs_for({"healthcheck": {"disable": True}}, mutate=disabled) == []
    assert options(diffs_for({"healthcheck": {"disable": True}})) == ["healthcheck"]


def test_trap_image_healthcheck_not_drift():
    # the user sets no healthcheck: the image's is not compared
    assert diffs_for({"image": "x"}) == []
    # the user sets only the test: the image's interval etc are not compared
    assert diffs_for({"healthcheck": {"test": HC["Test"]}}) == []
    assert options(diffs_for({"healthcheck": {"test": HC["Test"], "interval": "5s"}})) == ["healthcheck"]


def test_trap_labels_inherited_from_image():
    assert diffs_for({"labels": {"x": "y"}}) == []
    d = diffs_for({"labels": {"x": "z"}})
    assert diff_view(d) == ({"labels": {"x": "y"}}, {"labels": {"x": "z"}})


def test_trap_env_from_image():
    assert diffs_for({"env": {"A": "1"}}) == []
    # overriding an image variable is compared
    assert options(diffs_for({"env": {"A": "1", "DEMO_VERSION": "v9"}})) == ["env"]


def test_diff_hides_env_values_the_env_option_does_not_set(tmp_path):
    # A=1 runs; the env file now says A=new-secret and adds B; STALE (from an earlier env file)
    # is on the container only; PLAIN comes from the env option.
    secrets = tmp_path / "app.env"
    secrets.write_text("A=new-secret\nB=other-secret\n")

    def extra(c):
        c["Config"]["Env"] += ["STALE=old-secret", "PLAIN=was"]
    d = diffs_for({"env_file": str(secrets), "env": {"PLAIN": "now"}}, mutate=extra)
    before, after = diff_view(d, shown_env={"PLAIN": "now"})
    assert before == {"env": {"A": "********", "B": None, "STALE": "********", "PLAIN": "was"}}
    assert after == {"env": {"A": "********", "B": "********", "STALE": None, "PLAIN": "now"}}
    assert "secret" not in repr((before, after))
    # without the env option, nothing of env shows; other options are untouched
    d = diffs_for({"env_file": str(secrets), "labels": {"x": "z"}})
    before, after = diff_view(d, shown_env={})
    assert before == {"env": {"A": "********", "B": None}, "labels": {"x": "y"}}
    assert after == {"env": {"A": "********", "B": "********"}, "labels": {"x": "z"}}
    # keys of the env option that are not strings match their string form
    before, after = diff_view(diffs_for({"env": {1: "x"}}, mutate=lambda c: c["Config"]["Env"].append("1=y")),
                              shown_env={1: "x"})
    assert before == {"env": {"1": "y", "A": "********"}} and after == {"env": {"1": "x", "A": None}}


def test_env_strict_extra_key_is_drift_allow_more_present_not():
    def extra(c):
        c["Config"]["Env"].append("STALE=1")
    d = diffs_for({"env": {"A": "1"}}, mutate=extra)
    assert diff_view(d) == ({"env": {"STALE": "1"}}, {"env": {"STALE": None}})
    assert diffs_for({"env": {"A": "1"}}, mutate=extra, comparisons={"env": "allow_more_present"}) == []
    assert diffs_for({"env": {"A": "2"}}, mutate=extra, comparisons={"env": "ignore"}) == []


def test_trap_ipv6_ports():
    def v6(c):
        c["HostConfig"]["PortBindings"] = {"80/tcp": [{"HostIp": "::1", "HostPort": "8080"}]}
    assert diffs_for({"published_ports": ["[::1]:8080:80"]}, mutate=v6) == []
    assert diffs_for({"published_ports": ["[0:0::1]:8080:80"]}, mutate=v6) == []
    assert options(diffs_for({"published_ports": ["8080:80"]}, mutate=v6)) == ["published_ports"]


def test_ports_zero_address_equals_all():
    def zero(c):
        c["HostConfig"]["PortBindings"] = {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}
    assert diffs_for({"published_ports": ["8080:80"]}, mutate=zero) == []


def test_ports_random_and_extra():
    def random(c):
        c["HostConfig"]["PortBindings"] = {"80/tcp": [{"HostIp": "", "HostPort": ""}]}
    assert diffs_for({"published_ports": ["80"]}, mutate=random) == []
    d = diffs_for({"published_ports": ["8080:80", "9090:90"]})
    assert diff_view(d) == ({"published_ports": ["8080->80/tcp"]},
                            {"published_ports": ["8080->80/tcp", "9090->90/tcp"]})
    assert diffs_for({"published_ports": []}, comparisons={"published_ports": "allow_more_present"}) == []
    assert options(diffs_for({"published_ports": []})) == ["published_ports"]


def test_trap_command_empty_list():
    assert diffs_for({"command": []}) == []
    assert options(diffs_for({"command": ["sleep", "1"]})) == ["command"]


def test_trap_image_tag_vs_id():
    assert diffs_for({"image": "dockyard/demo:v1"}) == []
    assert diffs_for({"image": IMAGE_ID}) == []
    assert diffs_for({"image": IMAGE_ID[7:19]}) == []
    d = diffs_for({"image": "dockyard/demo:v2"}, image_id=OTHER_ID)
    assert options(d) == ["image"] and not d[0]["updatable"]
    # image not on the host (check mode before a pull): differs
    assert options(diffs_for({"image": "dockyard/demo:v2"}, image_id=None)) == ["image"]


# --------------------------------------------------------------- other options
def test_updatable_options():
    d = diffs_for({"restart_policy": "always", "memory": "64m", "cpus": 0.5})
    assert options(d) == ["cpus", "memory", "restart_policy"]
    assert all(x["updatable"] for x in d)
    assert plan("started", True, True, d) == ["update"]


def test_cpus_from_quota_or_nano():
    def quota(c):
        c["HostConfig"].update(CpuPeriod=100000, CpuQuota=50000)
    assert diffs_for({"cpus": 0.5}, mutate=quota) == []

    def nano(c):
        c["HostConfig"].update(NanoCpus=1500000000)
    assert diffs_for({"cpus": 1.5}, mutate=nano) == []


def test_restart_policy_no_equals_empty():
    def empty(c):
        c["HostConfig"]["RestartPolicy"] = {"Name": "", "MaximumRetryCount": 0}
    assert diffs_for({"restart_policy": "no"}, mutate=empty) == []


def test_volumes_image_volume_not_drift():
    def binds(c):
        c["HostConfig"]["Binds"] = ["/srv:/srv:ro", "data:/cache"]
    assert diffs_for({"volumes": ["/srv:/srv:ro", "data:/cache:rw"]}, mutate=binds) == []
    assert options(diffs_for({"volumes": ["/srv:/srv"]}, mutate=binds)) == ["volumes"]
    assert diffs_for({"volumes": ["/srv:/srv:ro"]}, mutate=binds,
                     comparisons={"volumes": "allow_more_present"}) == []


def test_mounts():
    def mounts(c):
        c["HostConfig"]["Mounts"] = [{"Type": "bind", "Source": "/s", "Target": "/t", "ReadOnly": True}]
    params = {"mounts": [{"type": "bind", "source": "/s", "target": "/t", "read_only": True}]}
    assert diffs_for(params, mutate=mounts) == []
    assert options(diffs_for(params)) == ["mounts"]


def test_networks():
    def nets(c):
        c["NetworkSettings"]["Networks"] = {"app": {"Aliases": ["web", "cccccccccccc"],
                                                    "IPAMConfig": {"IPv4Address": "10.5.0.9"}},
                                            "other": {"Aliases": None, "IPAMConfig": None}}
    assert diffs_for({"networks": [{"name": "app", "aliases": ["web"]}]}, mutate=nets) == []
    assert diffs_for({"networks": [{"name": "app", "ipv4_address": "10.5.0.9"}]}, mutate=nets) == []
    assert options(diffs_for({"networks": [{"name": "app", "ipv4_address": "10.5.0.8"}]},
                             mutate=nets)) == ["networks"]
    assert options(diffs_for({"networks": [{"name": "app"}]}, mutate=nets,
                             comparisons={"networks": "strict"})) == ["networks"]
    assert options(diffs_for({"networks": [{"name": "x"}]}, mutate=nets)) == ["networks"]


def test_caps_and_signals_normalised():
    def caps(c):
        c["HostConfig"]["CapAdd"] = ["CAP_NET_ADMIN"]
        c["Config"]["StopSignal"] = "SIGINT"
    assert diffs_for({"cap_add": ["net_admin"], "stop_signal": "INT"}, mutate=caps) == []


def test_defaults_not_set_by_engine():
    assert diffs_for({"init": False, "read_only": False, "stop_timeout": 10, "user": "",
                      "working_dir": "/www"}) == []
    assert options(diffs_for({"init": True, "working_dir": "/"})) == ["init", "working_dir"]


def test_log_options():
    def log(c):
        c["HostConfig"]["LogConfig"] = {"Type": "json-file", "Config": {"max-size": "10m"}}
    assert diffs_for({"log_driver": "json-file", "log_options": {"max-size": "10m"}}, mutate=log) == []
    assert options(diffs_for({"log_options": {"max-size": "1m"}}, mutate=log)) == ["log_options"]


# --------------------------------------------------------------- plan
@pytest.mark.parametrize("state,exists,running,diffs,kw,steps", [
    ("started", False, False, [], {}, ["create", "start"]),
    ("present", False, False, [], {}, ["create"]),
    ("stopped", False, False, [], {}, ["create"]),
    ("absent", False, False, [], {}, []),
    ("absent", True, True, [], {}, ["remove"]),
    ("started", True, True, [], {}, []),
    ("started", True, False, [], {}, ["start"]),
    ("stopped", True, True, [], {}, ["stop"]),
    ("stopped", True, False, [], {}, []),
    ("present", True, False, [], {}, []),
    ("started", True, True, [], {"restart": True}, ["restart"]),
    ("started", True, False, [], {"restart": True}, ["start"]),
    ("started", True, True, [], {"recreate": True}, ["remove", "create", "start"]),
    ("started", True, True, [{"updatable": False}], {}, ["remove", "create", "start"]),
    ("present", True, True, [{"updatable": False}], {}, ["remove", "create", "start"]),
    ("present", True, False, [{"updatable": False}], {}, ["remove", "create"]),
    ("stopped", True, True, [{"updatable": False}], {}, ["remove", "create"]),
    ("started", True, False, [{"updatable": True}], {}, ["update", "start"]),
    ("started", True, True, [{"updatable": True}, {"updatable": False}], {}, ["remove", "create", "start"]),
])
def test_plan(state, exists, running, diffs, kw, steps):
    assert plan(state, exists, running, diffs, **kw) == steps


def test_networks_are_updated_in_place_not_recreated():
    def nets(c):
        c["NetworkSettings"]["Networks"] = {"app": {"Aliases": ["web"], "IPAMConfig": None}}
    d = diffs_for({"networks": [{"name": "app", "aliases": ["web"]}, {"name": "extra"}]}, mutate=nets)
    assert options(d) == ["networks"] and d[0]["updatable"]
    assert plan("started", True, True, d) == ["update"]
    # the primary network (network_mode) still recreates
    d = diffs_for({"network_mode": "host"})
    assert not d[0]["updatable"] and plan("started", True, True, d)[:2] == ["remove", "create"]


def test_update_networks_connects_reconnects_and_disconnects():
    from ansible_collections.dockyard.fleet.plugins.module_utils._container_engine import ContainerEngine

    class Client:
        def __init__(self):
            self.calls = []

        def call(self, method, *args, **kwargs):
            self.calls.append((method, args[1], kwargs.get("aliases")))

    engine = ContainerEngine.__new__(ContainerEngine)
    engine.client = Client()
    before = [{"name": "new", "connected": False},
              {"name": "app", "aliases": ["web"], "ipv4_address": ""},
              {"name": "old", "aliases": [], "ipv4_address": ""}]
    after = [{"name": "new", "aliases": ["a"], "ipv4_address": ""},
             {"name": "app", "aliases": ["web", "www"], "ipv4_address": ""},
             {"name": "old", "connected": False}]
    engine.update_networks("cid", before, after)
    assert engine.client.calls == [
        ("connect_container_to_network", "new", ["a"]),
        ("disconnect_container_from_network", "app", None),
        ("connect_container_to_network", "app", ["web", "www"]),
        ("disconnect_container_from_network", "old", None)]


def test_a_container_marked_for_removal_is_made_anew():
    """A container the engine marked dead (a removal or stop it could not finish: a host that
    lost power mid-change) or is removing cannot be started: one with the same config is
    recreated, not started; in any state asked but absent, where removing it is the change."""
    from ansible_collections.dockyard.fleet.plugins.module_utils._container_engine import (
        decide, describe)
    spec = parse_spec({"image": "dockyard/demo:v1", "published_ports": ["8080:80"],
                       "env": {"A": "1"}, "labels": {"x": "y"}})
    alive = copy.deepcopy(CONTAINER)
    assert decide("web", spec, "started", alive, IMAGE)["steps"] == []
    for st in ({"Status": "dead", "Running": False, "Dead": True},
               {"Status": "removing", "Running": False}):
        dead = dict(copy.deepcopy(CONTAINER), State=st)
        d = decide("web", spec, "started", dead, IMAGE)
        assert d["steps"] == ["remove", "create", "start"] and describe(d)[0] == "recreated", st
        assert decide("web", spec, "present", dead, IMAGE)["steps"] == ["remove", "create"]
        assert decide("web", spec, "absent", dead, IMAGE)["steps"] == ["remove"]


def test_host_options_as_the_engine_reports_them():
    def host(c):
        c["HostConfig"].update({
            "Privileged": False, "SecurityOpt": ["no-new-privileges"],
            "ExtraHosts": ["db:10.0.0.5", "v6:::1"], "Dns": ["10.0.0.2", "1.1.1.1"],
            "Ulimits": [{"Name": "nproc", "Soft": 512, "Hard": 512},
                        {"Name": "nofile", "Soft": 1024, "Hard": 2048}],
            "Sysctls": {"net.core.somaxconn": "1024"}, "ShmSize": 134217728})
    same = {"privileged": False, "security_opts": ["no-new-privileges"],
            "etc_hosts": {"db": "10.0.0.5", "v6": "0::1"}, "dns_servers": ["10.0.0.2", "1.1.1.1"],
            "ulimits": ["nofile:1024:2048", "nproc:512"],
            "sysctls": {"net.core.somaxconn": 1024}, "shm_size": "128m"}
    assert diffs_for(same, mutate=host) == []
    # newer engines write name=address
    assert diffs_for({"etc_hosts": {"db": "10.0.0.5"}}, mutate=lambda c: c["HostConfig"].update(
        {"ExtraHosts": ["db=10.0.0.5"]})) == []
    changed = dict(same, privileged=True, etc_hosts={"db": "10.0.0.6", "v6": "::1"},
                   dns_servers=["1.1.1.1", "10.0.0.2"], ulimits=["nofile:1024:4096", "nproc:512"],
                   sysctls={"net.core.somaxconn": 1024, "net.ipv4.tcp_syncookies": 1},
                   shm_size="64m", security_opts=[])
    diffs = diffs_for(changed, mutate=host)
    assert options(diffs) == ["dns_servers", "etc_hosts", "privileged", "security_opts", "shm_size",
                              "sysctls", "ulimits"]
    assert not any(d["updatable"] for d in diffs)  # each needs a new container
    # allow_more_present: the container may have more hosts, sysctls, resolvers (any order)
    loose = {k: "allow_more_present" for k in ("etc_hosts", "dns_servers", "sysctls", "ulimits")}
    assert diffs_for({"etc_hosts": {"db": "10.0.0.5"}, "dns_servers": ["1.1.1.1"],
                      "sysctls": {}, "ulimits": ["nproc:512"]}, mutate=host,
                     comparisons=loose) == []
    # an engine default is not compared unless set: ShmSize 64 MiB
    assert diffs_for({"image": "dockyard/demo:v1"}, mutate=host) == []


def test_devices_and_pids_limit_as_the_engine_reports_them():
    def host(c):
        c["HostConfig"].update({"PidsLimit": 100, "Devices": [
            {"PathOnHost": "/dev/null", "PathInContainer": "/dev/xnull", "CgroupPermissions": "wr"}]})
    assert diffs_for({"devices": ["/dev/null:/dev/xnull:rw"], "pids_limit": 100}, mutate=host) == []
    assert options(diffs_for({"devices": ["/dev/null:/dev/xnull:r"], "pids_limit": -1},
                             mutate=host)) == ["devices", "pids_limit"]
    # no limit: unset (null), 0 or -1 are the same
    for engine in (None, 0, -1):
        assert diffs_for({"pids_limit": 0}, mutate=lambda c, v=engine: c["HostConfig"].update(
            {"PidsLimit": v})) == []
    # changed in place, back to no limit too (the update API applies -1)
    for want in (200, 0, -1):
        d = diffs_for({"pids_limit": want}, mutate=host)
        assert options(d) == ["pids_limit"] and d[0]["updatable"], want
        assert plan("started", True, True, d) == ["update"], want


def test_resources_in_place_as_the_engine_reports_them():
    def host(c):
        c["HostConfig"].update({"Memory": 128 * 1024 ** 2, "MemoryReservation": 64 * 1024 ** 2,
                                "CpuShares": 512, "CpusetCpus": "0-1"})
    same = {"memory": "128m", "memory_reservation": "64m", "cpu_shares": 512, "cpuset_cpus": "1,0"}
    assert diffs_for(same, mutate=host) == []
    d = diffs_for({"memory_reservation": "32m", "cpu_shares": 256, "cpuset_cpus": "0"}, mutate=host)
    assert options(d) == ["cpu_shares", "cpuset_cpus", "memory_reservation"]
    assert all(x["updatable"] for x in d) and plan("started", True, True, d) == ["update"]
    # unset on the engine: none set (0, "") is no difference
    assert diffs_for({"memory_reservation": "0", "cpu_shares": 0, "cpuset_cpus": ""}) == []


def test_memory_swap_as_the_engine_reports_it():
    def host(c):
        c["HostConfig"].update({"Memory": 64 * 1024 ** 2, "MemorySwap": 128 * 1024 ** 2})
    assert diffs_for({"memory": "64m", "memory_swap": "128m"}, mutate=host) == []
    for want in ("192m", "-1", "64m"):
        d = diffs_for({"memory": "64m", "memory_swap": want}, mutate=host)
        assert options(d) == ["memory_swap"] and d[0]["updatable"], want
        assert plan("started", True, True, d) == ["update"], want

    def unlimited(c):
        c["HostConfig"].update({"Memory": 64 * 1024 ** 2, "MemorySwap": -1})
    assert diffs_for({"memory": "64m", "memory_swap": "-1"}, mutate=unlimited) == []


def test_back_to_the_engine_default_recreates():
    """The update API reads 0 / "" as "leave it": an update to them would change nothing and
    report a change on every run (memory 0 did, before this rule)."""
    def host(c):
        c["HostConfig"].update({"Memory": 64 * 1024 ** 2, "MemoryReservation": 32 * 1024 ** 2,
                                "CpuShares": 512, "CpusetCpus": "0", "CpuPeriod": 100000,
                                "CpuQuota": 50000})
    for params in ({"memory": "0"}, {"memory_reservation": "0"}, {"cpu_shares": 0},
                   {"cpuset_cpus": ""}):
        d = diffs_for(params, mutate=host)
        assert len(d) == 1 and not d[0]["updatable"], params
        assert plan("started", True, True, d) == ["remove", "create", "start"], params
    # cpus 0 is sent as quota -1, which the engine applies: in place
    d = diffs_for({"cpus": 0}, mutate=host)
    assert options(d) == ["cpus"] and d[0]["updatable"]


# --------------------------------------------------------------- process and namespace options
def test_exposed_ports_the_image_and_published_ports_expose_are_never_drift():
    def exposed(*ports):
        def mutate(c):
            c["Config"]["ExposedPorts"] = {p: {} for p in ports}
        return mutate
    # 80/tcp: the image's EXPOSE and the published port's, both the engine's doing
    assert diffs_for({"exposed_ports": []}) == []
    assert diffs_for({"exposed_ports": ["80"]}) == []
    assert diffs_for({"exposed_ports": ["9000"]}, mutate=exposed("80/tcp", "9000/tcp")) == []
    d = diffs_for({"exposed_ports": []}, mutate=exposed("80/tcp", "9000/tcp"))
    assert diff_view(d) == ({"exposed_ports": ["9000/tcp"]}, {"exposed_ports": []})
    assert diffs_for({"exposed_ports": []}, mutate=exposed("80/tcp", "9000/tcp"),
                     comparisons={"exposed_ports": "allow_more_present"}) == []
    d = diffs_for({"exposed_ports": ["9000", "9001/udp"]}, mutate=exposed("80/tcp", "9000/tcp"))
    assert diff_view(d) == ({"exposed_ports": ["9000/tcp"]}, {"exposed_ports": ["9000/tcp", "9001/udp"]})


def test_process_and_namespace_options_read_back_as_given():
    def made(c):
        c["Config"].update(Tty=True, OpenStdin=True, Domainname="corp.example")
        c["HostConfig"].update(GroupAdd=["4243", "4242"], DnsSearch=["b.example", "a.example"],
                               DnsOptions=["timeout:2", "ndots:3"], PidMode="host", IpcMode="private",
                               UsernsMode="host", CgroupnsMode="host",
                               CgroupParent="/p", Runtime="runc", OomScoreAdj=5,
                               CpusetMems="1,0", VolumesFrom=["src:rw", "other:ro"])
    asked = {"tty": True, "interactive": True, "domainname": "corp.example", "groups": ["4242", "4243"],
             "dns_search_domains": ["b.example", "a.example"], "dns_opts": ["ndots:3", "timeout:2"],
             "pid_mode": "host", "ipc_mode": "private", "uts": "", "userns_mode": "host",
             "cgroupns_mode": "host", "cgroup_parent": "/p", "runtime": "runc", "oom_score_adj": 5,
             "cpuset_mems": "0-1", "volumes_from": ["src", "other:ro"]}
    assert diffs_for(asked, mutate=made) == []
    assert options(diffs_for({"uts": "host"})) == ["uts"]
    # a plain container: each at its default is no change, each asked otherwise is one
    defaults = {"tty": False, "interactive": False, "domainname": "", "groups": [],
                "dns_search_domains": [], "dns_opts": [], "pid_mode": "", "uts": "",
                "userns_mode": "", "cgroup_parent": "", "oom_score_adj": 0, "cpuset_mems": "",
                "volumes_from": [], "ipc_mode": "", "runtime": ""}
    assert diffs_for(defaults) == []
    for option, value in asked.items():
        if option in ("ipc_mode", "runtime", "cgroupns_mode", "uts"):
            continue   # the engine's default: a plain container here reports none
        assert options(diffs_for({option: value})) == [option], option
    # the search domains' order is the resolver's: a change
    assert options(diffs_for({"dns_search_domains": ["a.example", "b.example"]}, mutate=made)) == \
        ["dns_search_domains"]


def test_cpuset_mems_is_changed_in_place_but_not_back_to_every_node():
    def mems(c):
        c["HostConfig"]["CpusetMems"] = "0"
    assert [d["updatable"] for d in diffs_for({"cpuset_mems": "0-1"}, mutate=mems)] == [True]
    assert [d["updatable"] for d in diffs_for({"cpuset_mems": ""}, mutate=mems)] == [False]


def test_device_port_mac_and_removal_options_read_back_as_asked():
    def made(c):
        c["Config"]["MacAddress"] = "02:42:ac:11:00:02"
        c["HostConfig"].update(AutoRemove=True, PublishAllPorts=True, DeviceCgroupRules=["c 1:3 rwm", "b 7:* r"],
                               BlkioDeviceReadBps=[{"Path": "/dev/vda", "Rate": 10485760}],
                               BlkioDeviceWriteIOps=[{"Path": "/dev/vda", "Rate": 300}])
    asked = {"auto_remove": True, "publish_all_ports": True, "mac_address": "02:42:AC:11:00:02",
             "device_cgroup_rules": ["b 7:* r", "c 1:3 rwm"], "device_read_bps": [{"path": "/dev/vda", "rate": "10m"}],
             "device_write_iops": [{"path": "/dev/vda", "rate": 300}]}
    assert diffs_for(asked, mutate=made) == []
    defaults = {"auto_remove": False, "publish_all_ports": False, "mac_address": "", "device_cgroup_rules": [],
                "device_read_bps": [], "device_write_bps": [], "device_read_iops": [], "device_write_iops": []}
    assert diffs_for(defaults) == []
    for option, value in asked.items():
        assert options(diffs_for({option: value})) == [option], option
        assert not [d for d in diffs_for({option: value}) if d["updatable"]], option   # a new container


def test_swappiness_and_oom_kill_disable_read_back_as_asked():
    def made(c):
        c["HostConfig"].update(MemorySwappiness=0, OomKillDisable=True)
    asked = {"memory_swappiness": 0, "oom_kill_disable": True}
    assert diffs_for(asked, mutate=made) == []
    # left to the kernel: null, or -1 from older clients
    assert diffs_for({"oom_kill_disable": False}) == []
    for unset in (None, -1):
        d = diffs_for({"memory_swappiness": 10}, mutate=lambda c, v=unset: c["HostConfig"].update(MemorySwappiness=v))
        assert [(x["option"], x["before"], x["after"], x["updatable"]) for x in d] == \
            [("memory_swappiness", None, 10, False)]
    assert options(diffs_for({"oom_kill_disable": True})) == ["oom_kill_disable"]


# /info of a cgroup v1 engine with everything, and of engines lacking pieces
FULL = {"MemoryLimit": True, "SwapLimit": True, "KernelMemory": True, "CpuCfsPeriod": True,
        "CpuCfsQuota": True, "CPUShares": True, "CPUSet": True, "PidsLimit": True,
        "OomKillDisable": True, "CgroupVersion": "1"}


def test_engine_discards_reads_the_engines_support():
    assert engine_discards(FULL) == {}
    assert engine_discards({}) == {}   # an engine that reports none of it: supported
    no_swap = engine_discards(dict(FULL, SwapLimit=False))
    assert list(no_swap) == ["memory_swap"] and "SwapLimit false" in no_swap["memory_swap"]
    no_memory = engine_discards(dict(FULL, MemoryLimit=False, SwapLimit=False, OomKillDisable=False))
    assert sorted(no_memory) == ["memory", "memory_reservation", "memory_swap", "memory_swappiness",
                                 "oom_kill_disable"]
    v2 = engine_discards(dict(FULL, CgroupVersion="2", OomKillDisable=False))
    assert sorted(v2) == ["memory_swappiness", "oom_kill_disable"] and "cgroup v2" in v2["memory_swappiness"]
    assert sorted(engine_discards(dict(FULL, CPUSet=False, PidsLimit=False, CPUShares=False))) == \
        ["cpu_shares", "cpuset_cpus", "cpuset_mems", "pids_limit"]


def test_a_difference_the_engine_drops_is_no_difference():
    asked = []

    def discards(info):
        def ask():
            asked.append(1)
            return engine_discards(info)
        return ask

    # what such an engine made of memory 64m, memory_swap 128m, swappiness 10: no limit, no swap limit
    def dropped(c):
        c["HostConfig"].update(Memory=0, MemorySwap=-1, MemorySwappiness=None)
    spec = parse_spec({"memory": "64m", "memory_swap": "128m", "memory_swappiness": 10, "hostname": "other"})
    diffs = compare(spec, actual_from_inspect(_mutated(dropped)), IMAGE, None, IMAGE_ID)
    assert options(diffs) == ["hostname", "memory", "memory_swap", "memory_swappiness"]
    kept, gone = drop_discarded(diffs, discards(dict(FULL, MemoryLimit=False, SwapLimit=False)))
    assert options(kept) == ["hostname"] and sorted(gone) == ["memory", "memory_swap", "memory_swappiness"]
    # an engine with the support: every difference stays
    kept, gone = drop_discarded(diffs, discards(FULL))
    assert kept == diffs and gone == {}
    # no difference in such an option: the engine is not asked
    asked.clear()
    kept, gone = drop_discarded([d for d in diffs if d["option"] == "hostname"], discards({}))
    assert options(kept) == ["hostname"] and gone == {} and asked == []
    # decide: nothing left to do, and what was dropped said
    spec = parse_spec({"memory": "64m", "memory_swap": "128m"})
    d = decide("web", spec, "started", _mutated(dropped), IMAGE,
               discards=discards(dict(FULL, SwapLimit=False, MemoryLimit=False)))
    assert d["steps"] == [] and sorted(d["dropped"]) == ["memory", "memory_swap"]
    d = decide("web", spec, "started", _mutated(dropped), IMAGE, discards=discards(FULL))
    assert d["steps"] == ["update"] and d["dropped"] == {}


def _mutated(fn):
    c = copy.deepcopy(CONTAINER)
    fn(c)
    return c


def test_pause_step_follows_what_the_steps_leave():
    from ansible_collections.dockyard.fleet.plugins.module_utils._container_engine import pause_step
    running = {"State": {"Running": True, "Paused": False}}
    paused = {"State": {"Running": True, "Paused": True}}
    stopped = {"State": {"Running": False, "Paused": False}}
    # left out: never a step
    assert pause_step("started", [], paused, None) is None
    assert pause_step("started", [], running, True) == "pause"
    assert pause_step("started", [], paused, True) is None
    assert pause_step("started", ["update"], paused, True) is None   # an update keeps the pause
    assert pause_step("started", [], paused, False) == "unpause"
    assert pause_step("started", [], running, False) is None
    # made, started or restarted by the steps: it runs unpaused afterwards
    for steps in (["create", "start"], ["remove", "create", "start"], ["restart"], ["start"]):
        assert pause_step("started", steps, paused, True) == "pause", steps
        assert pause_step("started", steps, paused, False) is None, steps
    assert pause_step("started", ["create", "start"], None, True) == "pause"
    assert pause_step("started", ["start"], stopped, True) == "pause"
    # present: only a container that runs; stopped and absent: none
    assert pause_step("present", [], paused, False) == "unpause"
    assert pause_step("present", [], stopped, False) is None
    assert pause_step("present", ["remove", "create", "start"], paused, False) is None
    assert pause_step("stopped", ["stop"], paused, False) is None
    assert pause_step("absent", ["remove"], paused, False) is None


def _hc(**fields):
    def mutate(c):
        c["Config"]["Healthcheck"] = dict(fields)
    return mutate


def test_healthcheck_fields_left_out_are_the_images():
    """The engine fills in what a healthcheck leaves out (0 too) from the image: retries 0 is
    the image's 2; a field an earlier task set and this one no longer does differs (from
    the image's value, or from none when the image has none)."""
    test = ["CMD", "true"]
    merged = _hc(Test=test, Interval=HC["Interval"], Timeout=HC["Timeout"], Retries=HC["Retries"])
    assert diffs_for({"healthcheck": {"test": test, "retries": 0, "interval": "0s"}}, mutate=merged) == []
    assert diffs_for({"healthcheck": {"test": test}}, mutate=merged) == []
    old = _hc(Test=test, Interval=5 * 10 ** 9, Timeout=HC["Timeout"], Retries=HC["Retries"])
    d = diffs_for({"healthcheck": {"test": test}}, mutate=old)
    assert d == [{"option": "healthcheck", "before": {"interval": 5 * 10 ** 9},
                  "after": {"interval": HC["Interval"]}, "updatable": False}]
    no_hc = dict(IMAGE, Config=dict(IMAGE["Config"], Healthcheck=None))
    d = diffs_for({"healthcheck": {"test": test}}, image=no_hc, mutate=_hc(Test=test, Retries=5))
    assert d[0]["before"] == {"retries": 5} and d[0]["after"] == {"retries": None}
    # allow_more_present: only the fields given
    assert diffs_for({"healthcheck": {"test": test}}, mutate=old, comparisons={"healthcheck": "allow_more_present"}) == []


def test_restart_retries_alone_is_on_failure_on_an_existing_container():
    d = diffs_for({"restart_retries": 3})
    assert {x["option"]: (x["after"], x["updatable"]) for x in d} == {
        "restart_policy": ("on-failure", True), "restart_retries": (3, True)}


def test_restart_policy_of_an_auto_remove_container_needs_a_new_one():
    """The engine refuses to update the restart policy of a container with AutoRemove."""
    def auto(c):
        c["HostConfig"]["AutoRemove"] = True
    d = diffs_for({"restart_policy": "always"}, mutate=auto)
    assert [(x["option"], x["updatable"]) for x in d] == [("restart_policy", False)]
    assert [(x["option"], x["updatable"]) for x in diffs_for({"restart_policy": "always"})] == [
        ("restart_policy", True)]


def test_networks_strict_compares_aliases_and_address_exactly_and_keeps_the_mode_network():
    def nets(c):
        c["HostConfig"]["NetworkMode"] = "bridge"
        c["NetworkSettings"]["Networks"] = {
            "bridge": {"Aliases": None, "IPAMConfig": None},
            "app": {"Aliases": ["a1", "a2", "cccccccccccc"], "IPAMConfig": {"IPv4Address": "10.5.0.9"}}}
    strict = {"networks": "strict"}
    same = {"networks": [{"name": "app", "aliases": ["a1", "a2"], "ipv4_address": "10.5.0.9"}]}
    # the engine's own alias (the short ID) is no difference, nor bridge, the network_mode
    assert diffs_for(same, mutate=nets, comparisons=strict) == []
    assert diffs_for(dict(same, network_mode="bridge"), mutate=nets, comparisons=strict) == []
    fewer = {"networks": [{"name": "app", "aliases": ["a1"], "ipv4_address": "10.5.0.9"}]}
    assert diffs_for(fewer, mutate=nets) == []                        # allow_more_present
    d = diffs_for(fewer, mutate=nets, comparisons=strict)
    assert d[0]["after"] == fewer["networks"] and d[0]["before"][0]["aliases"] == ["a1", "a2"]
    no_ip = {"networks": [{"name": "app", "aliases": ["a1", "a2"]}]}
    assert diffs_for(no_ip, mutate=nets) == []
    assert options(diffs_for(no_ip, mutate=nets, comparisons=strict)) == ["networks"]
    # another network than the mode's is still disconnected under strict

    def more(c):
        nets(c)
        c["NetworkSettings"]["Networks"]["other"] = {"Aliases": None, "IPAMConfig": None}
    d = diffs_for(same, mutate=more, comparisons=strict)
    assert d[0]["after"] == [{"name": "other", "connected": False}]
