"""Parsing and normalisation of container options."""
import pytest

from ansible_collections.dockyard.fleet.plugins.module_utils._container_spec import (
    SpecError, check_image_healthcheck, parse_duration, parse_healthcheck, parse_memory,
    parse_mounts, parse_port, parse_ports, parse_spec, parse_volumes, read_env_file, validate_name, parse_comparisons,
    image_repo_tag, looks_like_image_id, normalize_ip, split_command, timings_without_test)


@pytest.mark.parametrize("spec,expected", [
    ("8080:80", [("80/tcp", "", "8080")]),
    ("127.0.0.1:8080:80", [("80/tcp", "127.0.0.1", "8080")]),
    ("0.0.0.0:8080:80", [("80/tcp", "", "8080")]),
    ("[::1]:8080:80", [("80/tcp", "::1", "8080")]),
    ("[0:0:0:0:0:0:0:1]:8080:80", [("80/tcp", "::1", "8080")]),
    ("8080:80/udp", [("80/udp", "", "8080")]),
    ("80", [("80/tcp", "", "")]),
    ("53/udp", [("53/udp", "", "")]),
    ("8000-8001:80-81", [("80/tcp", "", "8000"), ("81/tcp", "", "8001")]),
    ("8000-8010:80", [("80/tcp", "", "8000-8010")]),
    ("127.0.0.1::80", [("80/tcp", "127.0.0.1", "")]),
])
def test_parse_port(spec, expected):
    assert parse_port(spec) == expected


@pytest.mark.parametrize("spec", ["abc", "8080:80:90:1", "70000:80", "8080:80/xyz", "[::1:8080:80",
                                  "8000-8002:80-81", "999.1.1.1:80:80", "::1:8080:80", "0:80"])
def test_parse_port_bad(spec):
    with pytest.raises(SpecError) as exc:
        parse_port(spec)
    assert "published_ports" in str(exc.value)


def test_parse_ports_dedup_sorted():
    assert parse_ports(["8080:80", "8080:80", "80"]) == [("80/tcp", "", ""), ("80/tcp", "", "8080")]


@pytest.mark.parametrize("value,expected", [
    ("512m", 512 * 1024 ** 2), ("1g", 1024 ** 3), ("1G", 1024 ** 3), ("100", 100),
    ("64k", 65536), ("1.5g", int(1.5 * 1024 ** 3)), ("512MB", 512 * 1024 ** 2), (2048, 2048),
    ("0", 0),
])
def test_parse_memory(value, expected):
    assert parse_memory(value) == expected


@pytest.mark.parametrize("value", ["lots", "12x", "-1m", "", "m"])
def test_parse_memory_bad(value):
    with pytest.raises(SpecError) as exc:
        parse_memory(value)
    assert str(exc.value).startswith("memory:")


@pytest.mark.parametrize("value,ns", [
    ("30s", 30 * 10 ** 9), ("1m30s", 90 * 10 ** 9), ("500ms", 5 * 10 ** 8), ("10", 10 ** 10),
    (5, 5 * 10 ** 9), ("1h", 3600 * 10 ** 9), ("1.5s", 15 * 10 ** 8),
])
def test_parse_duration(value, ns):
    assert parse_duration(value, "x") == ns


@pytest.mark.parametrize("value", ["soon", "10 s", "5d", "s", ""])
def test_parse_duration_bad(value):
    with pytest.raises(SpecError) as exc:
        parse_duration(value, "healthcheck.interval")
    assert "healthcheck.interval" in str(exc.value)


def test_healthcheck_forms():
    assert parse_healthcheck({"test": "curl -f x"}) == {"test": ["CMD-SHELL", "curl -f x"]}
    assert parse_healthcheck({"test": ["wget", "x"]}) == {"test": ["CMD", "wget", "x"]}
    assert parse_healthcheck({"test": ["CMD", "x"], "interval": "2s", "retries": 3}) == {
        "test": ["CMD", "x"], "interval": 2 * 10 ** 9, "retries": 3}
    assert parse_healthcheck({"test": ["NONE"]}) == {"test": ["NONE"]}
    assert parse_healthcheck({"test": "none"}) == {"test": ["NONE"]}
    assert parse_healthcheck({"disable": True}) == {"test": ["NONE"]}
    assert parse_healthcheck({"disable": True, "test": ["CMD", "x"]}) == {"test": ["NONE"]}


def test_healthcheck_bad():
    with pytest.raises(SpecError, match="healthcheck.timeout"):
        parse_healthcheck({"test": "x", "timeout": "forever"})
    with pytest.raises(SpecError, match="healthcheck.interval"):
        parse_healthcheck({"interval": "soon"})                # no test: timings still checked
    with pytest.raises(SpecError, match="healthcheck.test"):
        parse_healthcheck({"test": []})


def test_healthcheck_without_test_keeps_the_images():
    """Only timings: the engine takes the image's test (HEALTHCHECK) with them; nothing set
    at all is the image's healthcheck as it is (no healthcheck in the spec)."""
    assert parse_healthcheck({"interval": "1s", "retries": 2}) == {
        "interval": 10 ** 9, "retries": 2}
    assert parse_healthcheck({"test": None, "interval": None, "timeout": None, "retries": None,
                              "start_period": None, "start_interval": "", "disable": False}) is None
    assert "healthcheck" not in parse_spec({"image": "a:v1", "healthcheck": {"test": None}})


def test_timings_need_an_image_with_a_healthcheck():
    """Timings alone on an image without HEALTHCHECK (none, or HEALTHCHECK NONE) would give
    no check: refused, naming healthcheck.test and the image. A test given, disable, no
    healthcheck option, or an image not known yet (check mode before a pull): no objection."""
    timings = parse_spec({"image": "shop:v2", "healthcheck": {"interval": "5s", "retries": 1}})
    with_test = {"Config": {"Healthcheck": {"Test": ["CMD", "true"]}}}
    for image in ({"Id": "sha256:ab", "Config": {}}, {"Config": {"Healthcheck": None}},
                  {"Config": {"Healthcheck": {"Test": ["NONE"]}}}):
        with pytest.raises(SpecError, match=r"^healthcheck.test: needed: image shop:v2 has no "
                                            r"HEALTHCHECK, so the timings given \(interval, retries\)"):
            check_image_healthcheck(timings, image)
    with pytest.raises(SpecError) as refused:
        check_image_healthcheck(timings, {"Config": {}})
    assert refused.value.changed is False and "pulled" not in str(refused.value)
    # found after a pull: the run changed the host (the pull), and says so
    with pytest.raises(SpecError, match=r"no container was changed, but the image to run was "
                                        r"pulled\)$") as refused:
        check_image_healthcheck(timings, {"Config": {}}, pulled=True)
    assert refused.value.changed is True
    # the rollback image of a roll, named as such
    with pytest.raises(SpecError, match=r"^healthcheck.test: needed: the rollback image shop:v1 "
                                        r"\(roll.rollback_image\) has no HEALTHCHECK"):
        check_image_healthcheck(dict(timings, image="shop:v1"), {"Config": {}},
                                which="the rollback image %s (roll.rollback_image)")
    check_image_healthcheck(timings, with_test)
    check_image_healthcheck(timings, None)
    # what a roll asks before it reads its rollback image (an engine call only then)
    assert timings_without_test(timings)
    assert not timings_without_test(parse_spec({"image": "shop:v2"}))
    assert not timings_without_test(parse_spec({"image": "shop:v2", "healthcheck": {"test": ["CMD", "true"]}}))
    for other in ({"image": "shop:v2"}, {"image": "shop:v2", "healthcheck": {"test": ["CMD", "true"]}},
                  {"image": "shop:v2", "healthcheck": {"disable": True}}):
        check_image_healthcheck(parse_spec(other), {"Config": {}})


def test_volumes():
    v = parse_volumes(["/srv/data:/data:ro", "cache:/cache", "/anon", "/a:/b:rw"])
    assert v == {"binds": [("/a", "/b", "rw"), ("/srv/data", "/data", "ro"), ("cache", "/cache", "rw")],
                 "anonymous": ["/anon"]}
    for bad in ["relative", "/a:rel", "/a:/b:xx", "bad name!:/x", ":/x"]:
        with pytest.raises(SpecError, match="^volumes"):
            parse_volumes([bad])


def test_mounts():
    assert parse_mounts([{"type": "bind", "source": "/s", "target": "/t/", "read_only": True},
                         {"type": "tmpfs", "target": "/tmp"}]) == [
        {"type": "bind", "source": "/s", "target": "/t", "read_only": True},
        {"type": "tmpfs", "source": "", "target": "/tmp", "read_only": False}]
    with pytest.raises(SpecError, match=r"mounts\[0\].source"):
        parse_mounts([{"type": "bind", "source": "rel", "target": "/t"}])
    with pytest.raises(SpecError, match=r"mounts\[0\].target"):
        parse_mounts([{"type": "volume", "source": "v", "target": "t"}])


@pytest.mark.parametrize("name", ["web", "web-1", "a.b_c", "0x"])
def test_names_ok(name):
    assert validate_name(name) == name


@pytest.mark.parametrize("name", ["", "-web", "we b", "web/1", "_x", "x!"])
def test_names_bad(name):
    with pytest.raises(SpecError, match="^name"):
        validate_name(name)


def test_env_file(tmp_path):
    f = tmp_path / "env"
    f.write_text("# comment\n\nA=1\nexport B = two\nC=\"quoted value\"\nD=x=y\n")
    assert read_env_file(str(f)) == {"A": "1", "B": "two", "C": "quoted value", "D": "x=y"}
    f.write_text("NOEQUALS\n")
    with pytest.raises(SpecError, match="^env_file"):
        read_env_file(str(f))
    with pytest.raises(SpecError, match="^env_file"):
        read_env_file(str(tmp_path / "missing"))


def test_parse_spec_only_set_options(tmp_path):
    assert parse_spec({"image": "x:1", "command": [], "env": None, "pull": "missing"}) == {"image": "x:1"}
    assert parse_spec({"command": ""}) == {}


def test_parse_spec_full(tmp_path):
    f = tmp_path / "env"
    f.write_text("A=file\nB=file\n")
    spec = parse_spec({
        "image": "x", "command": "sh -c 'echo hi'", "env": {"A": 1, "C": True, "D": None},
        "env_file": str(f), "labels": {"l": 2}, "published_ports": ["80"], "network_mode": "default",
        "restart_policy": "on-failure", "restart_retries": 3, "memory": "1g", "cpus": 1.5,
        "cap_add": ["net_admin", "CAP_SYS_TIME"], "tmpfs": ["/run:size=1m"], "init": False,
        "stop_signal": "SIGINT", "log_options": {"max-size": "10m", "max-file": 3},
    })
    assert spec["command"] == ["sh", "-c", "echo hi"]
    assert spec["env"] == {"A": "1", "B": "file", "C": "true", "D": ""}
    assert spec["labels"] == {"l": "2"}
    assert spec["network_mode"] == "bridge"
    assert spec["memory"] == 1024 ** 3
    assert spec["cap_add"] == ["NET_ADMIN", "SYS_TIME"]
    assert spec["tmpfs"] == {"/run": "size=1m"}
    assert spec["init"] is False
    assert spec["log_options"] == {"max-size": "10m", "max-file": "3"}


def test_memory_swap_forms():
    assert parse_spec({"memory": "64m", "memory_swap": "-1"})["memory_swap"] == -1
    assert parse_spec({"memory": "64m", "memory_swap": "64m"})["memory_swap"] == 64 * 1024 ** 2
    assert parse_spec({"memory": "64m", "memory_swap": "1g"})["memory_swap"] == 1024 ** 3


def test_restart_retries_zero_goes_with_every_policy():
    """0 is what the engine keeps for every policy: asking for it is not an error."""
    for policy in ("no", "always", "unless-stopped", "on-failure"):
        spec = parse_spec({"restart_policy": policy, "restart_retries": 0})
        assert (spec["restart_policy"], spec["restart_retries"]) == (policy, 0)


def test_parse_spec_errors_name_option():
    cases = [
        ({"memory": "huge"}, "memory"),
        ({"published_ports": ["x:y"]}, "published_ports"),
        ({"restart_policy": "always", "restart_retries": 2}, "restart_retries"),
        ({"cpus": -1.0}, "cpus"),
        ({"healthcheck": {"test": "x", "interval": "nope"}}, "healthcheck.interval"),
        ({"networks": [{"name": "n", "ipv4_address": "10.0.0.300"}]}, "networks[0].ipv4_address"),
        ({"env": {"A=B": "x"}}, "env"),
        ({"command": 5}, "command"),
        ({"wait_timeout": 0}, "wait_timeout"),
        ({"memory_swap": "1g"}, "memory_swap"),
        ({"memory": "64m", "memory_swap": "32m"}, "memory_swap"),
        ({"memory": "64m", "memory_swap": "0"}, "memory_swap"),
        ({"memory": "64m", "memory_swap": "lots"}, "memory_swap"),
    ]
    for params, option in cases:
        with pytest.raises(SpecError) as exc:
            parse_spec(params)
        assert exc.value.option == option, params


def test_comparisons():
    assert parse_comparisons({"env": "allow_more_present", "labels": "ignore"}) == {
        "env": "allow_more_present", "labels": "ignore"}
    with pytest.raises(SpecError, match="^comparisons"):
        parse_comparisons({"bogus": "strict"})
    with pytest.raises(SpecError, match="^comparisons"):
        parse_comparisons({"env": "loose"})


def test_misc():
    assert image_repo_tag("dockyard/demo:v1") == ("dockyard/demo", "v1")
    assert image_repo_tag("reg:5000/demo") == ("reg:5000/demo", "latest")
    assert image_repo_tag("demo@sha256:abc") == ("demo@sha256:abc", None)
    assert looks_like_image_id("sha256:" + "a" * 64)
    assert looks_like_image_id("f7daa2921c2b")
    assert not looks_like_image_id("dockyard/demo:v1")
    assert normalize_ip("[::1]") == "::1"
    assert normalize_ip("0.0.0.0") == ""
    assert split_command(["a", 1], "command") == ["a", "1"]


def test_familiar_repo_matches_the_engines_short_names():
    from ansible_collections.dockyard.fleet.plugins.module_utils._container_spec import familiar_repo
    assert familiar_repo("docker.io/library/nginx") == "nginx"
    assert familiar_repo("index.docker.io/library/nginx") == "nginx"
    assert familiar_repo("docker.io/acme/web") == "acme/web"
    assert familiar_repo("127.0.0.1:5000/dockyard/demo") == "127.0.0.1:5000/dockyard/demo"
    assert familiar_repo("library/nginx") == "nginx"


def test_pull_would_change_compares_the_registrys_digest_with_the_hosts():
    from ansible_collections.dockyard.fleet.plugins.module_utils._container_spec import (
        distribution_digest, pull_would_change)
    info = {"RepoDigests": ["127.0.0.1:5000/dockyard/demo@sha256:aaa", "nginx@sha256:bbb"]}
    assert not pull_would_change(info, "127.0.0.1:5000/dockyard/demo", "sha256:aaa")
    assert pull_would_change(info, "127.0.0.1:5000/dockyard/demo", "sha256:ccc")
    assert not pull_would_change(info, "docker.io/library/nginx", "sha256:bbb")
    # a digest from another repository does not count
    assert pull_would_change(info, "other/demo", "sha256:aaa")
    # loaded or built here (no digest), or the registry gave none: predicted
    assert pull_would_change({"RepoDigests": []}, "nginx", "sha256:bbb")
    assert pull_would_change(info, "nginx", None)
    assert distribution_digest({"Descriptor": {"digest": "sha256:aaa", "size": 527}}) == "sha256:aaa"
    assert distribution_digest({}) is None and distribution_digest(None) is None


def test_host_options_parsed():
    spec = parse_spec({
        "privileged": False, "security_opts": ["no-new-privileges", "no-new-privileges"],
        "etc_hosts": {"db": "10.0.0.5", "v6": "0:0:0:0:0:0:0:1", "gw": "host-gateway"},
        "dns_servers": ["10.0.0.2", " 1.1.1.1 "], "ulimits": ["NOFILE:1024:2048", "nproc:-1"],
        "sysctls": {"net.core.somaxconn": 1024}, "shm_size": "128m",
    })
    assert spec["privileged"] is False
    assert spec["security_opts"] == ["no-new-privileges"]
    assert spec["etc_hosts"] == {"db": "10.0.0.5", "v6": "::1", "gw": "host-gateway"}
    assert spec["dns_servers"] == ["10.0.0.2", "1.1.1.1"]  # the order is kept
    assert spec["ulimits"] == ["nofile:1024:2048", "nproc:-1:-1"]
    assert spec["sysctls"] == {"net.core.somaxconn": "1024"}
    assert spec["shm_size"] == 128 * 1024 ** 2


@pytest.mark.parametrize("params,option", [
    ({"etc_hosts": {"db": "not-an-ip"}}, "etc_hosts.db:"),
    ({"etc_hosts": {"a:b": "10.0.0.1"}}, "etc_hosts:"),
    ({"dns_servers": ["10.0.0.2", "dns.example"]}, "dns_servers[1]:"),
    ({"ulimits": ["nofile"]}, "ulimits[0]:"),
    ({"ulimits": ["nofile:x"]}, "ulimits[0]:"),
    ({"ulimits": ["nofile:2048:1024"]}, "ulimits[0]:"),
    ({"ulimits": ["nofile:1", "NOFILE:2"]}, "ulimits[1]:"),
    ({"ulimits": ["nofile:1", "openfiles:2"]}, "ulimits[1]: unknown ulimit"),
    ({"ulimits": ["nofile:-5"]}, "ulimits[0]: a limit below -1"),
    ({"ulimits": ["nofile:-1:1024"]}, "ulimits[0]: soft limit above"),
    ({"etc_hosts": {"a=b": "10.0.0.1"}}, "etc_hosts:"),
    ({"shm_size": "lots"}, "shm_size:"),
])
def test_host_options_bad_input_names_the_option(params, option):
    with pytest.raises(SpecError) as exc:
        parse_spec(params)
    assert str(exc.value).startswith(option), exc.value


def test_devices_and_pids_limit_parsed():
    spec = parse_spec({"devices": ["/dev/fuse", "/dev/null:/dev/xnull:wr", "/dev/zero:r"],
                       "pids_limit": -1})
    assert spec["devices"] == ["/dev/fuse:/dev/fuse:rwm", "/dev/null:/dev/xnull:rw",
                               "/dev/zero:/dev/zero:r"]
    assert spec["pids_limit"] == 0
    assert parse_spec({"pids_limit": 100})["pids_limit"] == 100


@pytest.mark.parametrize("params,option", [
    ({"devices": ["fuse"]}, "devices[0]:"),
    ({"devices": ["/dev/a", "/dev/b:/dev/c:rx"]}, "devices[1]: invalid permissions"),
    ({"devices": ["/dev/a:/dev/c", "/dev/b:/dev/c"]}, "devices[1]:"),
    ({"pids_limit": -2}, "pids_limit:"),
])
def test_devices_and_pids_limit_bad_input(params, option):
    with pytest.raises(SpecError) as exc:
        parse_spec(params)
    assert str(exc.value).startswith(option), exc.value


@pytest.mark.parametrize("given,canonical", [
    ("0", "0"), ("1,0", "0-1"), ("0-2,4", "0-2,4"), ("3, 0-1 ,2", "0-3"), ("2-2", "2"),
    ("0,2,4", "0,2,4"), ("5,0-1,6-7", "0-1,5-7"), ("", ""), ("  ", ""),
])
def test_cpuset_one_canonical_form(given, canonical):
    from ansible_collections.dockyard.fleet.plugins.module_utils._container_spec import cpuset_key
    assert cpuset_key(given) == canonical
    assert parse_spec({"cpuset_cpus": given})["cpuset_cpus"] == canonical


def test_resource_options_parsed():
    spec = parse_spec({"memory": "1g", "memory_reservation": "256m", "cpu_shares": 512})
    assert spec["memory_reservation"] == 256 * 1024 ** 2 and spec["cpu_shares"] == 512
    assert parse_spec({"memory_reservation": "0", "cpu_shares": 0}) == {
        "memory_reservation": 0, "cpu_shares": 0}


@pytest.mark.parametrize("params,option", [
    ({"cpu_shares": 1}, "cpu_shares:"),
    ({"cpu_shares": -5}, "cpu_shares:"),
    ({"cpu_shares": 262145}, "cpu_shares:"),
    ({"cpuset_cpus": "a"}, "cpuset_cpus:"),
    ({"cpuset_cpus": "3-1"}, "cpuset_cpus:"),
    ({"cpuset_cpus": "0,,1"}, "cpuset_cpus:"),
    ({"memory_reservation": "lots"}, "memory_reservation:"),
    ({"memory": "64m", "memory_reservation": "128m"}, "memory_reservation: 128m is above memory"),
])
def test_resource_options_bad_input_names_the_option(params, option):
    with pytest.raises(SpecError) as exc:
        parse_spec(params)
    assert str(exc.value).startswith(option), exc.value


def test_process_and_namespace_options_parsed():
    spec = parse_spec({"exposed_ports": ["9000", "9100-9101/UDP", "9000/tcp"], "groups": ["b", "a", "a"],
                       "dns_opts": ["ndots:3", "ndots:3"], "dns_search_domains": [" b.x", "a.x"],
                       "volumes_from": ["src:rw", "other:ro", "src"], "cpuset_mems": "1,0",
                       "pid_mode": "container:db", "ipc_mode": "", "runtime": "", "uts": "",
                       "domainname": "", "tty": False, "oom_score_adj": -1000})
    assert spec == {"exposed_ports": ["9000/tcp", "9100/udp", "9101/udp"], "groups": ["a", "b"],
                    "dns_opts": ["ndots:3"], "dns_search_domains": ["b.x", "a.x"],
                    "volumes_from": ["other:ro", "src"], "cpuset_mems": "0-1",
                    "pid_mode": "container:db", "uts": "", "domainname": "", "tty": False,
                    "oom_score_adj": -1000}


@pytest.mark.parametrize("params,option", [
    ({"pid_mode": "private"}, "pid_mode:"),
    ({"ipc_mode": "container:"}, "ipc_mode:"),
    ({"uts": "container:x"}, "uts:"),
    ({"userns_mode": "private"}, "userns_mode:"),
    ({"uts": "host", "hostname": "web"}, "uts: host shares the host's names: hostname"),
    ({"uts": "host", "domainname": "corp.example"}, "uts:"),
    ({"oom_score_adj": 1001}, "oom_score_adj:"),
    ({"memory_swappiness": 101}, "memory_swappiness: must be 0 to 100"),
    ({"memory_swappiness": -1}, "memory_swappiness:"),
    ({"exposed_ports": ["80/foo"]}, "exposed_ports:"),
    ({"exposed_ports": ["0"]}, "exposed_ports:"),
    ({"exposed_ports": ["http"]}, "exposed_ports:"),
    ({"volumes_from": ["src:z"]}, "volumes_from:"),
    ({"volumes_from": ["../src"]}, "volumes_from:"),
    ({"cpuset_mems": "zero"}, "cpuset_mems:"),
])
def test_process_and_namespace_options_bad_input_names_the_option(params, option):
    with pytest.raises(SpecError) as exc:
        parse_spec(params)
    assert str(exc.value).startswith(option), exc.value


def test_device_port_mac_and_removal_options_parsed():
    spec = parse_spec({"auto_remove": True, "publish_all_ports": False, "mac_address": " 02-42-AC-11-00-02 ",
                       "device_cgroup_rules": ["c  1:3 rwm", "b 7:* r", "c 1:3 rwm"],
                       "device_read_bps": [{"path": "/dev/vda", "rate": "10M"}, {"path": "/dev/loop0", "rate": 5}],
                       "device_write_iops": [{"path": "/dev/vda", "rate": "300"}]})
    assert spec == {"auto_remove": True, "publish_all_ports": False, "mac_address": "02:42:ac:11:00:02",
                    "device_cgroup_rules": ["b 7:* r", "c 1:3 rwm"],
                    "device_read_bps": ["/dev/loop0:5", "/dev/vda:10485760"],
                    "device_write_iops": ["/dev/vda:300"]}
    assert parse_spec({"mac_address": ""}) == {"mac_address": ""}


@pytest.mark.parametrize("params,option", [
    ({"auto_remove": True, "restart_policy": "always"}, "auto_remove:"),
    ({"mac_address": "02:42:ac:11:00"}, "mac_address:"),
    ({"mac_address": "02:42:ac:11:00:0g"}, "mac_address:"),
    ({"mac_address": "02:42:ac:11:00:01", "network_mode": "container:db"}, "mac_address: cannot be set"),
    ({"device_cgroup_rules": ["x 1:3 rwm"]}, "device_cgroup_rules[0]:"),
    ({"device_cgroup_rules": ["c 1:3 rwx"]}, "device_cgroup_rules[0]:"),
    ({"device_read_bps": [{"path": "vda", "rate": "1M"}]}, "device_read_bps[0]:"),
    ({"device_read_bps": [{"path": "/dev/vda", "rate": "1M"}, {"path": "/dev/vda", "rate": "2M"}]},
     "device_read_bps[1]: /dev/vda is given twice"),
    ({"device_write_bps": [{"path": "/dev/vda", "rate": "fast"}]}, "device_write_bps[0]:"),
    ({"device_read_iops": [{"path": "/dev/vda", "rate": "1.5"}]}, "device_read_iops[0]:"),
    ({"device_write_iops": [{"path": "/dev/vda", "rate": "-1"}]}, "device_write_iops[0]:"),
])
def test_device_port_mac_and_removal_options_bad_input_names_the_option(params, option):
    with pytest.raises(SpecError) as exc:
        parse_spec(params)
    assert str(exc.value).startswith(option), exc.value


@pytest.mark.parametrize("test", [["CMD"], ["CMD-SHELL"], ["CMD-SHELL", "  "], ["CMD", ""], [""], "", "  "])
def test_a_healthcheck_test_without_a_command_is_refused(test):
    """A bare CMD or CMD-SHELL is taken by the engine, whose first check then panics dockerd
    (every container of the host goes down): refused naming healthcheck.test, before any write."""
    with pytest.raises(SpecError, match=r"^healthcheck.test: CMD(-SHELL)? needs a command after it"):
        parse_spec({"image": "a:v1", "healthcheck": {"test": test}})


def test_healthcheck_zero_timings_are_the_images():
    """0 retries or a 0 duration is what the engine reads as not set (it fills in the image's
    value): left out of the spec, so the container it makes compares equal."""
    assert parse_healthcheck({"test": ["CMD", "true"], "retries": 0, "interval": "0s", "timeout": "0",
                              "start_period": "0ms", "start_interval": 0}) == {"test": ["CMD", "true"]}
    assert parse_healthcheck({"retries": 0, "interval": "0s"}) is None
    assert "healthcheck" not in parse_spec({"image": "a:v1", "healthcheck": {"retries": 0}})


def test_restart_retries_alone_mean_on_failure():
    """As a create asks the engine for: the same in the comparison and an update in place."""
    assert parse_spec({"restart_retries": 3}) == {"restart_retries": 3, "restart_policy": "on-failure"}
    assert parse_spec({"restart_retries": 0}) == {"restart_retries": 0}
    with pytest.raises(SpecError, match=r"^auto_remove: .*on-failure \(what restart_retries implies\)"):
        parse_spec({"restart_retries": 2, "auto_remove": True})


def test_working_dir_and_shm_size_as_the_engine_keeps_them():
    assert parse_spec({"working_dir": "/tmp/"})["working_dir"] == "/tmp"
    assert parse_spec({"working_dir": "//srv/./a/../b//"})["working_dir"] == "/srv/b"
    assert parse_spec({"working_dir": "/"})["working_dir"] == "/"
    with pytest.raises(SpecError, match="^working_dir: must be an absolute path"):
        parse_spec({"working_dir": "www"})
    assert "shm_size" not in parse_spec({"shm_size": "0"})   # the engine's default, 64 MiB
    assert parse_spec({"shm_size": "1m"})["shm_size"] == 1024 ** 2


@pytest.mark.parametrize("params,option", [
    ({"stop_timeout": -5}, "stop_timeout"),
    ({"labels": {"": "x"}}, "labels"),
    ({"labels": {" ": "x"}}, "labels"),
    ({"command": [["a"]]}, "command"),
    ({"command": ["a", {"b": 1}]}, "command"),
    ({"entrypoint": [["sh"]]}, "entrypoint"),
    ({"mounts": [{"type": "volume", "source": "/abs", "target": "/x"}]}, "mounts[0].source"),
    ({"volumes": ["/a:/b:ro,rw"]}, "volumes"),
    ({"volumes": ["/a:/b:z,Z"]}, "volumes"),
    ({"volumes": ["/a:/b:shared,slave"]}, "volumes"),
    ({"volumes": ["/a:/b:nocopy"]}, "volumes"),
    ({"cap_add": ["NET ADMIN"]}, "cap_add[0]"),
    ({"cap_drop": ["chown", "$(id)"]}, "cap_drop[1]"),
])
def test_more_bad_input_names_the_option(params, option):
    with pytest.raises(SpecError) as exc:
        parse_spec(params)
    assert str(exc.value).startswith(option + ": "), str(exc.value)


def test_more_good_input_still_parses():
    assert parse_spec({"volumes": ["vol:/b:nocopy,ro", "/a:/c:rshared,Z"]})["volumes"]["binds"] == [
        ("/a", "/c", "Z,rshared,rw"), ("vol", "/b", "nocopy,ro")]
    assert parse_spec({"cap_add": ["cap_net_admin", "ALL"]})["cap_add"] == ["ALL", "NET_ADMIN"]
    assert parse_spec({"command": ["sleep", 5, True]})["command"] == ["sleep", "5", "True"]
    assert parse_spec({"stop_timeout": 0})["stop_timeout"] == 0
    assert parse_mounts([{"type": "volume", "source": "data_1", "target": "/d"}])[0]["source"] == "data_1"
