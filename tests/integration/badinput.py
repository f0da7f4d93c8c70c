# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad-input cases for every module, generated with hypothesis (pure: no lab, no Ansible).

Each case is a dict:

    {"id": "container-port-003", "module": "container", "kind": "port",
     "args": {...module args...}, "names": ["published_ports"]}

`args` is the whole argument dict of one module run; `names` lists the option names of
which at least one must appear (as a word) in the failure message. Generation is
deterministic (derandomize=True, no example database): the same cases on every run, so a
failing case id means the same input tomorrow.

Strings never contain `{`, `}` or `%` (Ansible would template them on the way in: the
test is about the module's validation, not about Jinja).
"""
from __future__ import annotations

import json
import re
import string

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

# Where the haproxy modules point: a socket that does not exist on the lab host.
MISSING_SOCKET = "/run/dockyard-badinput/no-such-haproxy.sock"
LAB_NET = "10.77.%d"

# ------------------------------------------------------------------ building blocks
# Shell and path metacharacters (and other characters no name allows).
METACHARS = [";", "|", "&", "$(", "`", "../", "/", "\\", " ", "\t", "\n", "*", "?", "<", ">",
             "'", '"', "!", "#", "~", "$", "(", ")", ":", ",", "=", "@", "é", "\x00"]
SAFE_TEXT = string.ascii_letters + string.digits + "_.-"
WORD = st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=8)


def _no_template(s: str) -> bool:
    return not any(c in s for c in "{}%")


def bad_names(min_prefix: int = 1):
    """Names with a shell/path metacharacter inside, or an illegal first character, or empty."""
    inside = st.builds(lambda a, m, b: a + m + b,
                       st.text(alphabet=SAFE_TEXT, min_size=min_prefix, max_size=8)
                       .filter(lambda s: s[:1].isalnum()),
                       st.sampled_from(METACHARS),
                       st.text(alphabet=SAFE_TEXT, max_size=8))
    leading = st.builds(lambda m, b: m + b, st.sampled_from(["-", ".", "_", "../", "/", "~"]),
                        st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=8))
    fixed = st.sampled_from(["", " ", "$(id)", "`id`", "a;rm -rf /", "../../etc/passwd",
                             "x|nc 10.77.0.1 1", "a&&b", "name with spaces"])
    return st.one_of(fixed, inside, leading).filter(_no_template)


def not_int():
    return st.one_of(
        st.text(alphabet=string.ascii_letters, min_size=1, max_size=6),
        st.sampled_from(["1.5", "12abc", "0x1g", "ten", "--3"]),
        st.lists(st.integers(0, 9), min_size=2, max_size=3),
        st.dictionaries(WORD, st.integers(0, 9), min_size=1, max_size=2),
    )


def not_bool():
    return st.one_of(
        st.sampled_from(["maybe", "2", "-1", "yesno", "truth", "nope", "t r u e"]),
        st.integers(2, 1000),
        st.lists(st.booleans(), min_size=1, max_size=2),
        st.dictionaries(WORD, st.booleans(), min_size=1, max_size=2),
    )


def not_dict():
    return st.one_of(st.integers(-5, 1000), st.lists(WORD, min_size=1, max_size=3),
                     st.sampled_from(["no-equals-sign", "justtext"]))


def not_list():
    return st.dictionaries(WORD, st.integers(0, 9), min_size=1, max_size=2)


def not_float():
    return st.one_of(st.text(alphabet=string.ascii_letters, min_size=1, max_size=5),
                     st.lists(st.integers(), min_size=1, max_size=2))


def unknown_key():
    """An option name no module has (and its value)."""
    return st.tuples(st.from_regex(r"\Azz[a-z_]{1,10}\Z", fullmatch=True),
                     st.one_of(st.integers(), WORD, st.booleans()))


def bad_ports():
    """published_ports entries that are not `[ip:]host:container[/proto]`."""
    big = st.integers(65536, 10 ** 7)
    return st.one_of(
        st.builds("{}:80".format, big),
        st.builds("8080:{}".format, big),
        st.builds("{}:80".format, WORD),
        st.builds("8080:80/{}".format, WORD.filter(lambda w: w not in ("tcp", "udp", "sctp"))),
        st.builds(lambda a, b: "%d-%d:%d-%d" % (a, a + 2, b, b + 1), st.integers(1000, 60000),
                  st.integers(1000, 60000)),
        st.builds(lambda a: "%d-%d:80-81" % (a + 5, a), st.integers(1000, 60000)),
        st.builds("{}.1.1.1:8080:80".format, st.integers(256, 999)),
        st.sampled_from(["1:2:3:4:5", "::1:8080:80", "[::1:8080:80", "[::1]8080:80",
                         "0:80", "-1:80", "8080:-80", "80:", "8080:80/", "abc", "8080::80",
                         "[zz::1]:8080:80", "8080:80;id", "$(id):80"]),
    ).filter(_no_template)


def bad_volumes():
    """volumes entries that are not `/src:/dst[:mode]`, `name:/dst[:mode]` or `/dst`."""
    return st.one_of(
        st.builds("/srv/{}:{}".format, WORD, WORD),                      # relative target
        st.builds("/srv/x:/dst:{}".format, WORD.filter(lambda w: w not in (
            "ro", "rw", "z", "shared", "rshared", "slave", "rslave", "private", "rprivate",
            "nocopy", "consistent", "cached", "delegated"))),             # unknown mode
        st.builds(lambda n, m: "%s%s:/dst" % (n, m), WORD,
                  st.sampled_from([" x", ";id", "$(id)", "|x", "*"])),   # bad volume name
        st.sampled_from(["", ":/dst", "/src:", "relative", "../up:/dst", "/a:/b:ro:extra",
                         "/a:/b:/c:/d", "name:relative/dst", "/src::/dst"]),
    ).filter(_no_template)


# ------------------------------------------------------------------ the generator
# Examples per generated kind = round(n * SCALE): the suite's size/runtime knob.
SCALE = 0.45


def _draw(strategy, n: int) -> list:
    """Up to n distinct examples of strategy, the same ones on every run."""
    out, seen = [], set()

    @settings(max_examples=n, derandomize=True, database=None, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(value):
        key = json.dumps(value, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            out.append(value)

    collect()
    return out


class Cases:
    def __init__(self):
        self.cases: list = []

    def add_fixed(self, module: str, kind: str, base: dict, cases: list):
        """Enumerated cases (conflicting options): every one, in order."""
        self.add(module, kind, base, None, 0, cases=cases)

    def add(self, module: str, kind: str, base: dict, strategy, n: int, names=None, cases=None):
        """strategy draws either a dict of args to merge into base (None values delete keys)
        or a tuple (overrides, names)."""
        drawn_all = cases if cases is not None else _draw(strategy, max(1, round(n * SCALE)))
        for i, drawn in enumerate(drawn_all):
            over, nm = drawn if isinstance(drawn, tuple) else (drawn, names)
            args = dict(base)
            for k, v in over.items():
                if v is None:
                    args.pop(k, None)
                else:
                    args[k] = v
            self.cases.append({"id": "%s-%s-%03d" % (module, kind, i), "module": module,
                               "kind": kind, "args": args, "names": list(nm)})


def _opt(name, values):
    """One option set to one of values -> (args, [name])."""
    return values.map(lambda v: ({name: v}, [name]))


def _wrong_type(options: dict):
    """options: {name: strategy of wrong values} -> one option given a wrong type."""
    return st.one_of(*[_opt(k, s) for k, s in options.items()])


def _unknown():
    return unknown_key().map(lambda kv: ({kv[0]: kv[1]}, [kv[0]]))


def _unreachable_hosts(lab_id: int):
    net = LAB_NET % lab_id
    return st.one_of(
        st.builds("unix:///run/dockyard-badinput/{}.sock".format, WORD),
        st.builds("tcp://127.0.0.1:{}".format, st.integers(1, 20)),
        st.builds(lambda h: "tcp://%s.%d:2375" % (net, h), st.integers(200, 250)),
        st.sampled_from(["unix:///nonexistent/docker.sock", "tcp://127.0.0.1:9",
                         "unix://relative/docker.sock"]),
    ).map(lambda h: ({"docker_host": h, "timeout": 3}, ["docker_host"]))


def _choices(options: dict):
    return st.one_of(*[_opt(k, WORD.filter(lambda w, ok=ok: w not in ok))
                       for k, ok in options.items()])


CONTAINER_IMAGE = "dockyard/demo:v1"


def container_cases(c: Cases, lab_id: int, module: str = "container"):
    is_service = module == "service"
    base = {"name": "badin-c" if not is_service else "badin-s", "image": CONTAINER_IMAGE}
    if is_service:
        base.update(replicas=2, port_base=18100)
    c.add(module, "name", base, bad_names().map(lambda n: {"name": n}), 14, ["name"])
    wrong = {"restart_retries": not_int(), "stop_timeout": not_int(), "wait_timeout": not_int(),
             "init": not_bool(), "read_only": not_bool(), "recreate": not_bool(),
             "keep_volumes": not_bool(),
             "env": not_dict(), "labels": not_dict(), "log_options": not_dict(),
             "healthcheck": not_dict(), "comparisons": not_dict(), "published_ports": not_list(),
             "volumes": not_list(), "cap_add": not_list(), "mounts": not_list(),
             "networks": not_list(), "cpus": not_float(),
             "command": st.one_of(st.integers(), st.dictionaries(WORD, WORD, min_size=1, max_size=3))}
    if is_service:
        wrong.update(replicas=not_int(), port_base=not_int(), container_port=not_int(),
                     only=st.lists(WORD, min_size=1, max_size=2))
    c.add(module, "type", base, _wrong_type(wrong), 16)
    if is_service:
        lb = {"socket": MISSING_SOCKET, "backend": "web"}
        roll = {"load_balancers": [lb], "server_prefix": "app1-"}
        c.add_fixed(module, "roll", base, [
            ({"roll": dict(roll, load_balancers=[])}, ["roll.load_balancers"]),
            ({"roll": roll}, ["roll.load_balancers"]),     # no runtime API there: before any change
            ({"roll": roll, "state": "stopped"}, ["roll"]),
            ({"roll": roll, "converge": "missing"}, ["roll"]),
            ({"roll": roll, "only": [1, 1]}, ["only"]),
            ({"roll": dict(roll, drain_timeout=0)}, ["roll.drain_timeout"]),
            ({"roll": dict(roll, interval=-1)}, ["roll.interval"]),
            ({"roll": dict(roll, load_balancers=[{"backend": "web"}])}, ["socket"]),
            ({"roll": dict(roll, load_balancers=[dict(lb, controller_socket="/tmp/x.sock")])},
             ["socket"]),
            ({"roll": dict(roll, load_balancers=[{"controller_socket": "/run/dockyard-badinput/"
                                                  "none.sock", "backend": "web"}])},
             ["roll.load_balancers"]),
            ({"roll": {"load_balancers": [lb]}}, ["server_prefix"]),
        ])
        rec = {"app": "badin-s", "token": "badin-token", "version": "v1",
               "state_dir": "/run/dockyard-badinput/rel", "lock_dir": "/run/dockyard-badinput/lk",
               "audit_log": "/run/dockyard-badinput/deploy.log"}
        c.add_fixed(module, "ready", base, [
            ({"ready": {"load_balancers": [], "server_prefix": "app1-"}}, ["ready.load_balancers"]),
            ({"ready": {"load_balancers": [lb], "server_prefix": "app1-"}},
             ["ready.load_balancers"]),     # no runtime API there: before any change
            ({"ready": {"load_balancers": [lb], "server_prefix": "app1-"}, "roll": roll},
             ["ready", "roll"]),
            ({"ready": {"load_balancers": [lb], "server_prefix": "app1-"}, "state": "present"},
             ["ready"]),
            ({"ready": {"load_balancers": [lb], "server_prefix": "app1-", "timeout": 0}},
             ["ready.timeout"]),
            ({"ready": {"load_balancers": [{"backend": "web"}], "server_prefix": "app1-"}},
             ["socket"]),
            ({"ready": {"load_balancers": [lb]}}, ["server_prefix"]),
        ])
        c.add_fixed(module, "record", base, [
            ({"record": dict(rec, app="../web")}, ["record.app"]),
            ({"record": dict(rec, app="a b;rm")}, ["record.app"]),
            ({"record": dict(rec, keep=0)}, ["record.keep"]),
            ({"record": dict(rec, token=None)}, ["token"]),
            ({"record": dict(rec, version=None)}, ["version"]),
            ({"record": rec, "state": "absent"}, ["record"]),
            ({"record": rec, "state": "stopped"}, ["record"]),
            ({"record": rec, "image": None}, ["record.image"]),
            ({"record": dict(rec, bogus=1)}, ["bogus"]),
        ])
        lk = {"app": rec["app"], "token": rec["token"]}
        c.add_fixed(module, "lock", base, [
            ({"lock": dict(lk, app="../web")}, ["lock.app"]),
            ({"lock": dict(lk, app="")}, ["lock.app"]),
            ({"lock": dict(lk, token=None)}, ["token"]),
            ({"lock": dict(lk, timeout=-1)}, ["lock.timeout"]),
            ({"lock": dict(lk, stale_after=0)}, ["lock.stale_after"]),
            ({"lock": dict(lk, token="other"), "record": rec}, ["record", "lock"]),
            ({"lock": dict(lk, bogus=1)}, ["bogus"]),
        ])
    c.add(module, "port", base, st.lists(bad_ports(), min_size=1, max_size=2)
          .map(lambda ps: {"published_ports": ["127.0.0.1:18199:80"] + ps}), 14,
          ["published_ports"])
    c.add(module, "volume", base, bad_volumes().map(lambda v: {"volumes": [v]}), 10, ["volumes"])
    c.add(module, "mount", base, st.one_of(
        st.builds(lambda t: {"mounts": [{"type": "volume", "source": "v", "target": t}]},
                  WORD),                                                   # relative target
        st.builds(lambda s: {"mounts": [{"type": "bind", "source": s, "target": "/x"}]}, WORD),
        st.just({"mounts": [{"type": "tmpfs", "source": "/srv", "target": "/x"}]}),
        st.just({"mounts": [{"type": "volume", "source": "v"}]}),          # no target
        st.builds(lambda t: {"mounts": [{"type": t, "target": "/x"}]},
                  WORD.filter(lambda w: w not in ("bind", "volume", "tmpfs")))), 6, ["mounts"])
    c.add(module, "unknown", base, _unknown(), 6)
    conflicts = [
        ({"restart_policy": "always", "restart_retries": 3}, ["restart_retries"]),
        ({"restart_policy": "unless-stopped", "restart_retries": 1}, ["restart_retries"]),
        ({"comparisons": {"zz_not_an_option": "strict"}}, ["comparisons"]),
        ({"comparisons": {"env": "sloppy"}}, ["comparisons"]),
        ({"healthcheck": {"interval": "soon"}}, ["healthcheck", "interval"]),  # no test: timings checked
        ({"healthcheck": {"test": []}}, ["healthcheck"]),
        ({"env": {"A=B": "x"}}, ["env"]),
        ({"env": {"": "x"}}, ["env"]),
        ({"networks": [{"name": "bridge", "ipv4_address": "10.300.0.1"}]}, ["networks"]),
        ({"networks": [{"aliases": ["x"]}]}, ["networks", "name"]),
        ({"tmpfs": ["relative/path"]}, ["tmpfs"]),
        ({"etc_hosts": {"db": "not-an-address"}}, ["etc_hosts"]),
        ({"dns_servers": ["10.0.0.2", "dns.example"]}, ["dns_servers"]),
        ({"ulimits": ["nofile:2048:1024"]}, ["ulimits"]),
        ({"shm_size": "lots"}, ["shm_size"]),
        ({"devices": ["/dev/null:/dev/xnull:rx"]}, ["devices"]),
        ({"pids_limit": -2}, ["pids_limit"]),
        ({"cpu_shares": 1}, ["cpu_shares"]),
        ({"cpuset_cpus": "0-a"}, ["cpuset_cpus"]),
        ({"memory": "64m", "memory_reservation": "1g"}, ["memory_reservation"]),
        ({"pid_mode": "private"}, ["pid_mode"]),
        ({"ipc_mode": "container:"}, ["ipc_mode"]),
        ({"uts": "host", "hostname": "web"}, ["uts"]),
        ({"cgroupns_mode": "shared"}, ["cgroupns_mode"]),
        ({"oom_score_adj": 5000}, ["oom_score_adj"]),
        ({"exposed_ports": ["80/foo"]}, ["exposed_ports"]),
        ({"volumes_from": ["src:z"]}, ["volumes_from"]),
        ({"cpuset_mems": "zero"}, ["cpuset_mems"]),
        ({"device_cgroup_rules": ["c 1:3 rwx"]}, ["device_cgroup_rules"]),
        ({"device_read_bps": [{"path": "vda", "rate": "1M"}]}, ["device_read_bps"]),
        ({"device_write_bps": [{"path": "/dev/vda", "rate": "fast"}]}, ["device_write_bps"]),
        ({"device_read_iops": [{"path": "/dev/vda", "rate": "1.5"}]}, ["device_read_iops"]),
        ({"device_write_iops": [{"path": "/dev/vda"}]}, ["rate"]),
        ({"memory_swappiness": 101}, ["memory_swappiness"]),
        ({"memory_swappiness": -1}, ["memory_swappiness"]),
        ({"oom_kill_disable": "sometimes"}, ["oom_kill_disable"]),
    ]
    if not is_service:
        conflicts += [({"mac_address": "02:42:zz:00:00:01"}, ["mac_address"]),
                      ({"mac_address": "02:42:ac:11:00:01", "network_mode": "host"}, ["mac_address"]),
                      ({"auto_remove": True, "restart_policy": "always"}, ["auto_remove"]),
                      ({"paused": True, "state": "stopped"}, ["paused"]),
                      ({"paused": True, "state": "present"}, ["paused"]),
                      ({"paused": True, "wait": "healthy"}, ["paused"]),
                      ({"paused": "sometimes"}, ["paused"]),
                      # a bare CMD / CMD-SHELL: the engine takes it and its first check crashes it
                      ({"healthcheck": {"test": ["CMD"]}}, ["healthcheck.test"]),
                      ({"healthcheck": {"test": ["CMD-SHELL"]}}, ["healthcheck.test"]),
                      ({"healthcheck": {"test": ["CMD-SHELL", " "]}}, ["healthcheck.test"]),
                      ({"stop_timeout": -5}, ["stop_timeout"]),
                      ({"labels": {"": "x"}}, ["labels"]),
                      ({"command": [["a"]]}, ["command"]),
                      ({"entrypoint": [{"a": "b"}]}, ["entrypoint"]),
                      ({"mounts": [{"type": "volume", "source": "/abs", "target": "/x"}]}, ["mounts"]),
                      ({"volumes": ["/srv:/x:ro,rw"]}, ["volumes"]),
                      ({"volumes": ["/srv:/x:nocopy"]}, ["volumes"]),
                      ({"working_dir": "www"}, ["working_dir"]),
                      ({"cap_add": ["NET ADMIN"]}, ["cap_add"]),
                      ({"auto_remove": True, "restart_retries": 2}, ["auto_remove"]),
                      # a network the host lacks: refused before the container is made
                      ({"networks": [{"name": "bridge"}, {"name": "badin-no-such-network"}]},
                       ["networks"])]
    else:
        conflicts += [({"mac_address": "02:42:ac:11:00:01"}, ["mac_address"]),
                      ({"auto_remove": True}, ["auto_remove"]),
                      ({"paused": True}, ["paused"])]
    if is_service:
        conflicts += [({"ports": [18101, 18102]}, ["port_base", "ports"]),
                      ({"port_base": None, "ports": [18101]}, ["ports"]),
                      ({"port_base": None, "ports": [18101, 18101]}, ["ports"]),
                      ({"only": [0]}, ["only"]), ({"only": [3]}, ["only"]),
                      # a fixed host port can be one replica's only; nor a replica's own port
                      ({"published_ports": ["18199:8080"]}, ["published_ports"]),
                      ({"published_ports": ["18190-18190:8080"]}, ["published_ports"]),
                      ({"replicas": 1, "published_ports": ["18100:8080"]}, ["published_ports"]),
                      # a replica without a health check is never healthy
                      ({"wait": "healthy", "healthcheck": {"test": ["NONE"]}}, ["wait"]),
                      ({"wait": "healthy", "healthcheck": {"disable": True}}, ["wait"])]
    c.add_fixed(module, "conflict", base, conflicts)
    ranges = st.one_of(
        _opt("restart_retries", st.integers(-10 ** 6, -1)),
        _opt("wait_timeout", st.integers(-10 ** 6, 0)),
        _opt("cpus", st.floats(-1e6, -0.01)),
        _opt("memory", st.one_of(st.builds("-{}m".format, st.integers(1, 9999)),
                                 st.builds("{}q".format, st.integers(1, 999)),
                                 st.sampled_from(["1.5.5g", "lots", "12 34"]))),
        st.builds(lambda r: ({"healthcheck": {"test": ["CMD", "true"], "retries": r}},
                             ["healthcheck", "retries"]), st.integers(-100, -1)),
        st.builds(lambda d: ({"healthcheck": {"test": ["CMD", "true"], "interval": d}},
                             ["healthcheck", "interval"]),
                  st.sampled_from(["5x", "soon", "-3s", "1h-2m", "0.0001ms"])),
    )
    if is_service:
        ranges = st.one_of(
            ranges,
            _opt("replicas", st.integers(-1000, -1)),
            _opt("container_port", st.one_of(st.integers(-100, 0), st.integers(65536, 10 ** 6))),
            _opt("port_base", st.one_of(st.integers(-100, 0), st.integers(65535, 10 ** 6))),
            st.builds(lambda p: ({"port_base": None, "ports": [18101, p]}, ["ports"]),
                      st.one_of(st.integers(-100, 0), st.integers(65536, 10 ** 6))))
    c.add(module, "range", base, ranges, 16)
    choices = {"state": ["started", "present", "stopped", "absent"],
               "pull": ["missing", "always", "never"],
               "wait": ["none", "running", "healthy"],
               "restart_policy": ["no", "on-failure", "always", "unless-stopped"]}
    c.add(module, "choice", base, _choices(choices), 6)
    c.add(module, "host", base, _unreachable_hosts(lab_id), 5)


def image_cases(c: Cases, lab_id: int):
    base = {"name": CONTAINER_IMAGE}
    refs = st.one_of(
        bad_names().filter(lambda n: n != ""),
        st.builds("{}/Upper:v1".format, WORD),
        st.builds("{}:bad:tag".format, WORD),
        st.builds("{}@sha256:{}".format, WORD, st.text(alphabet="xyz", min_size=1, max_size=9)),
        st.sampled_from(["", "-x", "x:", ":v1", "UPPER", "a b:v1", "a;id:v1", "a/../b:v1",
                         "x:" + "t" * 200]))
    c.add("image", "name", base, refs.map(lambda r: {"name": r}), 16, ["name"])
    c.add("image", "type", base, _wrong_type({
        "keep": not_int(), "force_source": not_bool(), "force_absent": not_bool(),
        "force_tag": not_bool(), "build": not_dict(), "repository": not_list()}), 10)
    conflicts = [
        ({"state": "absent", "source": "pull"}, ["source"]),
        ({"state": "absent", "keep": 2}, ["keep"]),
        ({"state": "absent", "repository": ["x/y:v1"]}, ["repository"]),
        ({"source": "pull", "load_path": "/tmp/x.tar"}, ["load_path"]),
        ({"build": {"path": "/tmp"}}, ["build"]),
        ({"source": "build", "pull": "always", "build": {"path": "/tmp"}}, ["pull"]),
        ({"source": "build"}, ["build"]),
        ({"source": "build", "build": {"dockerfile": "D"}}, ["build", "path"]),
        ({"name": "x/y@sha256:" + "a" * 64, "source": "build", "build": {"path": "/tmp"}},
         ["name"]),
        ({"force_tag": True}, ["force_tag"]),
        ({"force_absent": True}, ["force_absent"]),
        ({"source": "load"}, ["load_path"]),
        ({"source": "load", "load_path": "/nonexistent/badinput.tar"}, ["load_path"]),
        ({"source": "load", "load_path": "/tmp/x.tar", "_archive": {"id": "x"}}, ["_archive"]),
        ({"repository": ["x/y@sha256:" + "b" * 64]}, ["repository"]),
        ({"repository": ["BAD REF"]}, ["repository"]),
        ({"name": "x/y@sha256:" + "a" * 64, "source": "load", "load_path": "/tmp/x.tar"}, ["name"]),
        ({"name": "a" * 64, "source": "pull"}, ["name"]),
        ({"name": "sha256:" + "a" * 64, "keep": 1}, ["keep"]),
        ({"name": "sha256:" + "0" * 64}, ["name"]),
        ({"repository": ["sha256:" + "b" * 64]}, ["repository"]),
        ({"repository": ["b" * 64]}, ["repository"]),
        ({"name": "badin/x:v\u00e9"}, ["name"]),
        ({"repository": ["badin/x:\u00fc"]}, ["repository"]),
        ({"name": "badin/nobuild:1", "source": "build", "build": {"path": "/nonexistent/ctx"}}, ["build", "path"]),
        ({"name": "badin/nobuild:1", "source": "build", "build": {"path": "/tmp", "dockerfile": "NoSuchDockerfile"}},
         ["dockerfile"]),
    ]
    c.add_fixed("image", "conflict", base, conflicts)
    c.add("image", "range", base, _opt("keep", st.integers(-10 ** 6, 0)), 5)
    c.add("image", "choice", base, _choices({"state": ["present", "absent"],
                                             "source": ["pull", "load", "build"],
                                             "pull": ["always", "missing"],
                                             "ship": ["auto", "stream", "copy"]}), 4)
    c.add("image", "unknown", base, _unknown(), 4)
    c.add("image", "host", base, _unreachable_hosts(lab_id), 4)


def network_cases(c: Cases, lab_id: int):
    base = {"name": "badin-n"}
    c.add("network", "name", base, bad_names().map(lambda n: {"name": n}), 12, ["name"])
    c.add("network", "type", base, _wrong_type({
        "internal": not_bool(), "attachable": not_bool(), "enable_ipv6": not_bool(),
        "labels": not_dict(), "driver_options": not_dict(), "ipam_config": not_list(),
        "recreate": not_bool(), "force": not_bool()}), 8)
    cidr = st.one_of(st.builds("10.{}.0.0/16".format, st.integers(256, 999)),
                     st.builds("10.0.0.0/{}".format, st.integers(33, 200)),
                     WORD, st.sampled_from(["10.0.0.0/", "/24", "10.0.0.0/24/8", "::/129"]))
    ipam = st.one_of(
        cidr.map(lambda s: {"ipam_config": [{"subnet": s}]}),
        st.builds(lambda g: {"ipam_config": [{"subnet": "10.199.0.0/24", "gateway": g}]},
                  st.one_of(st.builds("10.198.0.{}".format, st.integers(1, 254)), WORD)),
        st.builds(lambda r: {"ipam_config": [{"subnet": "10.199.0.0/24", "iprange": r}]},
                  st.one_of(st.builds("10.198.{}.0/25".format, st.integers(0, 255)), WORD)),
        st.just({"ipam_config": [{"subnet": "10.199.0.0/24"}, {"subnet": "10.199.0.0/24"}]}),
        st.just({"ipam_config": [{"gateway": "10.199.0.1"}]}),
    )
    c.add("network", "ipam", base, ipam, 14, ["ipam_config", "subnet", "gateway", "iprange"])
    # refused by the module before the engine is asked (aux_addresses as the engine reserves
    # them; a pool overlapping the lab's docker0 172.17.0.0/16; overlay without a swarm), or
    # refused by the engine and named (an IPAM driver it does not have)
    pool = {"subnet": "10.199.0.0/24"}
    c.add_fixed("network", "pools", base, [
        ({"ipam_config": [dict(pool, aux_addresses={"h": "notanip"})]}, ["aux_addresses"]),
        ({"ipam_config": [dict(pool, aux_addresses={"h": "10.198.0.5"})]}, ["aux_addresses"]),
        ({"ipam_config": [dict(pool, aux_addresses={"h": 5})]}, ["aux_addresses"]),
        ({"ipam_config": [dict(pool, aux_addresses={"h": "10.199.0.1"})]}, ["aux_addresses"]),
        ({"ipam_config": [dict(pool, gateway="10.199.0.9", aux_addresses={"h": "10.199.0.9"})]},
         ["aux_addresses"]),
        ({"ipam_config": [dict(pool, aux_addresses={"h": "10.199.0.5", "i": "10.199.0.5"})]},
         ["aux_addresses"]),
        ({"ipam_config": [dict(pool, gateway="10.199.0.0")]}, ["gateway"]),
        ({"ipam_config": [{"subnet": "172.17.5.0/24"}]}, ["ipam_config"]),
        ({"driver": "overlay", "attachable": True}, ["driver"]),
        ({"ipam_driver": "badin-no-such-ipam"}, ["ipam_driver"]),
    ])
    c.add_fixed("network", "conflict", base, [
        ({"connected": ["badin-no-such-container"]}, ["connected"]),
        ({"state": "absent", "connected": ["badin-x"]}, ["connected"]),
        ({"connected": ["a b"]}, ["connected"]),
        ({"connected": ["badin-x", ""]}, ["connected"]),
        ({"connected": ["/badin-x"]}, ["connected"]),
        ({"connected": {"badin-x": 1}}, ["connected"]),
        ({"connected": [], "appends": "sometimes"}, ["appends"]),
    ])
    c.add("network", "choice", base, _choices({"state": ["present", "absent"]}), 2)
    c.add("network", "unknown", base, _unknown(), 4)
    c.add("network", "host", base, _unreachable_hosts(lab_id), 4)


def volume_cases(c: Cases, lab_id: int):
    base = {"name": "badin-v"}
    c.add("volume", "name", base, bad_names().map(lambda n: {"name": n}), 12, ["name"])
    c.add("volume", "type", base, _wrong_type({
        "labels": not_dict(), "driver_options": not_dict(), "recreate": not_bool()}), 6)
    c.add_fixed("volume", "conflict", base, [
        ({"name": "v"}, ["name"]),
        ({"driver_options": {"foo": "bar"}}, ["driver_options"]),
        ({"driver_options": {"type": "tmpfs"}}, ["driver_options"]),
        ({"driver_options": {"o": "size=1m"}}, ["driver_options"]),
        ({"driver": "badin-no-such-driver"}, ["driver", "driver_options"]),
    ])
    c.add("volume", "choice", base, _choices({"state": ["present", "absent"]}), 2)
    c.add("volume", "unknown", base, _unknown(), 4)
    c.add("volume", "host", base, _unreachable_hosts(lab_id), 4)


def info_cases(c: Cases, lab_id: int):
    base = {"name": ["badin-c"]}
    c.add("container_info", "name", base, st.one_of(
        st.builds("{}/{}".format, WORD, WORD), st.sampled_from(["", "a/b/c", "../x/y"]),
    ).map(lambda n: {"name": [n]}), 5, ["name"])
    c.add("container_info", "type", base, _wrong_type({
        "labels": st.one_of(st.integers(), WORD, st.booleans()), "all": not_bool(),
        "name": not_list()}), 6)
    c.add_fixed("container_info", "conflict", base, [({"name": None}, ["name", "labels"])])
    c.add_fixed("container_info", "empty", base, [
        ({"name": []}, ["name"]),
        ({"name": None, "labels": {}}, ["labels"]),
        ({"name": None, "labels": []}, ["labels"]),
    ])
    c.add_fixed("container_info", "labels", base, [
        ({"labels": [1]}, ["labels"]),
        ({"labels": [{"a": "b"}]}, ["labels"]),
        ({"labels": [""]}, ["labels"]),
        ({"labels": {"a": {"b": "c"}}}, ["labels"]),
        ({"labels": {"a": [1, 2]}}, ["labels"]),
    ])
    c.add("container_info", "unknown", base, _unknown(), 3)
    c.add("container_info", "host", base, _unreachable_hosts(lab_id), 3)
    hbase = {"containers": True}
    c.add("host_info", "type", hbase, _wrong_type({
        "containers": not_bool(), "images": not_bool(), "disk_usage": not_bool(),
        "containers_filters": not_dict(), "images_filters": not_dict()}), 8)
    c.add_fixed("host_info", "conflict", hbase, [
        ({"images_filters": {"dangling": "true"}}, ["images_filters"]),
        ({"networks_filters": {"driver": "bridge"}}, ["networks_filters"]),
        ({"volumes_filters": {"dangling": "true"}}, ["volumes_filters"]),
        ({"containers": False, "containers_filters": {"status": "running"}},
         ["containers_filters"]),
        ({"containers_filters": {"status": "sleeping"}}, ["containers_filters"]),
        ({"containers_filters": {"zz_filter": "x"}}, ["containers_filters"]),
    ])
    c.add("host_info", "unknown", hbase, _unknown(), 3)
    c.add("host_info", "host", hbase, _unreachable_hosts(lab_id), 3)


def exec_cases(c: Cases, lab_id: int):
    base = {"container": "badin-c", "command": ["/bin/busybox", "true"]}
    c.add("container_exec", "name", base, bad_names().map(lambda n: {"container": n}), 8, ["container"])
    c.add("container_exec", "type", base, _wrong_type({
        "env": not_dict(), "tty": not_bool(), "command_timeout": not_int(),
        "stdin_add_newline": not_bool(), "strip_empty_ends": not_bool(), "detach": not_bool(),
        "privileged": not_bool(), "argv": not_list(),
        "command": st.one_of(st.integers(), st.dictionaries(WORD, WORD, min_size=1, max_size=3))}), 8)
    c.add_fixed("container_exec", "conflict", base, [
        ({"command": ""}, ["command"]),
        ({"command": "echo 'unclosed"}, ["command"]),
        ({"command": None}, ["command"]),
        ({"env": {"A=B": "x"}}, ["env"]),
        ({"chdir": "relative/dir"}, ["chdir"]),
        ({"command_timeout": 0}, ["command_timeout"]),
        ({"container": "badin-no-such-container"}, ["container"]),
        ({"argv": ["/bin/busybox", "true"]}, ["command", "argv"]),
        ({"command": None, "argv": []}, ["command", "argv"]),
        ({"stdin": "x", "detach": True}, ["stdin", "detach"]),
        ({"stdin": "x", "tty": True}, ["stdin", "tty"]),
        ({"detach": True, "command_timeout": 5}, ["command_timeout", "detach"]),
    ])
    c.add("container_exec", "unknown", base, _unknown(), 3)
    c.add("container_exec", "host", base, _unreachable_hosts(lab_id), 3)


def copy_into_cases(c: Cases, lab_id: int):
    base = {"container": "badin-c", "dest": "/www/badin.txt", "content": "x"}
    c.add("container_copy_into", "name", base, bad_names().map(lambda n: {"container": n}), 6, ["container"])
    c.add("container_copy_into", "type", base, _wrong_type({
        "owner_id": not_int(), "group_id": not_int(), "follow": not_bool(), "force": not_bool(),
        "content_is_b64": not_bool(),
        "mode": st.one_of(st.lists(WORD, min_size=1, max_size=3), st.dictionaries(WORD, WORD, min_size=1, max_size=3))}), 6)
    c.add_fixed("container_copy_into", "conflict", base, [
        ({"dest": "www/relative.txt"}, ["dest"]),
        ({"dest": "/www/"}, ["dest"]),
        ({"mode": "u+rwx"}, ["mode"]),
        ({"mode": "0999"}, ["mode"]),
        ({"mode": "preserve"}, ["mode"]),
        ({"owner_id": -1}, ["owner_id"]),
        ({"owner_id": 4294967295}, ["owner_id"]),
        ({"group_id": 4294967296}, ["group_id"]),
        ({"content": "aGVsbG8=\n!!!!", "content_is_b64": True}, ["content"]),
        ({"content": None}, ["content", "src"]),
        ({"src": "/etc/hostname"}, ["content", "src"]),
        ({"content": "not base64!", "content_is_b64": True}, ["content"]),
        ({"content": None, "src": "badin-no-such-file"}, ["src"]),
        ({"container": "badin-no-such-container"}, ["container"]),
    ])
    c.add("container_copy_into", "unknown", base, _unknown(), 3)
    c.add("container_copy_into", "host", base, _unreachable_hosts(lab_id), 3)


def prune_cases(c: Cases, lab_id: int):
    # the base prunes only containers with a label nothing has: a case that wrongly passed
    # its checks would show as "did not fail", with nothing of the lab's removed
    base = {"containers": True, "containers_filters": {"label": "badin-no-such-label"}}
    c.add("prune", "type", base, _wrong_type({
        "containers": not_bool(), "images": not_bool(), "networks": not_bool(), "volumes": not_bool(),
        "containers_filters": not_dict(), "images_filters": not_dict(), "builder_cache": not_bool(),
        "builder_cache_all": not_bool(), "builder_cache_filters": not_dict()}), 8)
    c.add_fixed("prune", "conflict", base, [
        ({"containers_filters": {"until": "last week"}}, ["containers_filters"]),
        ({"containers_filters": {"until": ["1h", "2h"]}}, ["containers_filters"]),
        ({"containers_filters": {"status": "exited"}}, ["containers_filters"]),
        ({"images_filters": {"dangling": "true"}}, ["images_filters"]),
        ({"images": True, "images_filters": {"dangling": "maybe"}}, ["images_filters"]),
        ({"images": True, "images_filters": {"reference": "x"}}, ["images_filters"]),
        ({"volumes": True, "volumes_filters": {"until": "1h"}}, ["volumes_filters"]),
        ({"volumes": True, "volumes_filters": {"all": True}}, ["volumes_filters"]),
        ({"networks": True, "networks_filters": {"label": {"a": "b"}}}, ["networks_filters"]),
        ({"containers": False, "containers_filters": None}, ["containers", "images", "networks", "volumes"]),
        # build cache (a case that wrongly passed would prune only records whose ID has zzzz)
        ({"builder_cache": True, "builder_cache_filters": {"label": "x"}}, ["builder_cache_filters", "labels"]),
        ({"builder_cache": True, "builder_cache_filters": {"label!": "x"}}, ["builder_cache_filters"]),
        ({"builder_cache": True, "builder_cache_filters": {"inuse": "true"}}, ["builder_cache_filters", "inuse"]),
        ({"builder_cache": True, "builder_cache_filters": {"type": "layer"}}, ["builder_cache_filters", "type"]),
        ({"builder_cache": True, "builder_cache_filters": {"id": "a.*"}}, ["builder_cache_filters", "id"]),
        ({"builder_cache": True, "builder_cache_filters": {"id": ["zzzz", "yyyy"]}}, ["builder_cache_filters"]),
        ({"builder_cache": True, "builder_cache_filters": {"id": "zzzz", "until": "last week"}},
         ["builder_cache_filters", "until"]),
        ({"builder_cache": True, "builder_cache_filters": {"id": "zzzz", "shared": "maybe"}},
         ["builder_cache_filters", "shared"]),
        ({"builder_cache_filters": {"id": "zzzz"}}, ["builder_cache_filters", "builder_cache: true"]),
        ({"builder_cache_all": True}, ["builder_cache_all", "builder_cache: true"]),
        ({"builder_cache_keep_storage": "1GB"}, ["builder_cache_keep_storage", "builder_cache: true"]),
        ({"builder_cache": True, "builder_cache_filters": {"id": "zzzz"}, "builder_cache_keep_storage": -1},
         ["builder_cache_keep_storage"]),
        ({"builder_cache": True, "builder_cache_filters": {"id": "zzzz"}, "builder_cache_keep_storage": "5XB"},
         ["builder_cache_keep_storage"]),
        ({"builder_cache": True, "builder_cache_filters": {"id": "zzzz"}, "builder_cache_keep_storage": [1]},
         ["builder_cache_keep_storage"]),
    ])
    c.add("prune", "unknown", base, _unknown(), 3)
    c.add("prune", "host", base, _unreachable_hosts(lab_id), 3)


def haproxy_cases(c: Cases):
    base = {"socket": MISSING_SOCKET, "backend": "web", "server": "app1-1", "state": "drain"}
    hname = st.one_of(
        st.builds(lambda a, b: a + " " + b, WORD, WORD),
        st.builds(lambda a, b: a + ";" + b, WORD, st.sampled_from(
            ["disable", "shutdown", "help", "clear"])),
        st.sampled_from(["", " ", "web/app1-1", "a\nb", "x;set server web/app1-1 state maint"]))
    c.add("haproxy_server", "name", base, st.one_of(
        hname.map(lambda n: ({"backend": n}, ["backend"])),
        hname.map(lambda n: ({"server": n}, ["server"])),
        st.sampled_from(["", " ", "/run/a b.sock"]).map(lambda s: ({"socket": s}, ["socket"]))),
        20)
    c.add("haproxy_server", "type", base, _wrong_type({
        "weight": not_int(), "wait_timeout": not_int(), "wait": not_bool(),
        "shutdown_sessions": not_bool(), "wait_interval": not_float(), "timeout": not_float()}),
        8)
    c.add("haproxy_server", "range", base, st.one_of(
        _opt("weight", st.one_of(st.integers(-10 ** 6, -1), st.integers(257, 10 ** 6))),
        _opt("wait_timeout", st.integers(-10 ** 6, -1)),
        _opt("wait_interval", st.floats(-1e6, 0)),
        _opt("timeout", st.floats(-1e6, 0))), 10)
    c.add_fixed("haproxy_server", "weight", base, [
        ({"weight": w}, ["weight"]) for w in ("+5", "257", True, 1.5, [5], {"a": 1})])
    c.add_fixed("haproxy_server", "conflict", base, [
        ({"state": None, "shutdown_sessions": True}, ["shutdown_sessions"]),
        ({"state": "ready", "shutdown_sessions": True}, ["shutdown_sessions"]),
        ({"state": "drain", "recheck": True}, ["recheck"]),
        ({"state": None, "recheck": True}, ["recheck"])])
    c.add_fixed("haproxy_server", "then", base, [
        ({"then": {"servers": ["app1-2"], "state": "drain"}}, ["then"]),
        ({"wait": True, "then": {"servers": ["app1-1"], "state": "drain"}}, ["then.servers"]),
        ({"wait": True, "then": {"servers": ["app1-2;help"], "state": "drain"}}, ["then.servers"]),
        ({"wait": True, "then": {"servers": ["app1-2"], "state": "bogus"}}, ["then"]),
        ({"wait": True, "then": {"servers": ["app1-2"], "state": "drain", "wait_timeout": -1}},
         ["then.wait_timeout"])])
    c.add("haproxy_server", "choice", base, _choices({"state": ["ready", "drain", "maint"]}), 2)
    c.add("haproxy_server", "unknown", base, _unknown(), 3)
    c.add("haproxy_server", "host", base, st.just(({}, ["socket"])), 1)
    fbase = {"path": MISSING_SOCKET}
    c.add_fixed("socket_forward", "input", fbase, [
        ({"path": None}, ["path"]),
        ({"path": "run/haproxy/admin.sock"}, ["path"]),
        ({"state": "bogus"}, ["state"]),
        ({"bogus": 1}, ["bogus"]),
    ])
    ibase = {"socket": MISSING_SOCKET, "backend": "web"}
    c.add("haproxy_info", "name", ibase, st.one_of(
        hname.map(lambda n: ({"backend": n}, ["backend"])),
        st.sampled_from(["", " ", "/run/a b.sock"]).map(lambda s: ({"socket": s}, ["socket"]))),
        8)
    c.add("haproxy_info", "type", ibase, _wrong_type({"timeout": not_float()}), 3)
    c.add("haproxy_info", "range", ibase, _opt("timeout", st.floats(-1e6, 0)), 3)
    c.add("haproxy_info", "unknown", ibase, _unknown(), 2)
    c.add("haproxy_info", "host", ibase, st.just(({}, ["socket"])), 1)


def release_cases(c: Cases):
    base = {"app": "badin-r", "state": "locked", "token": "badin-token"}
    c.add("release", "name", base, st.one_of(
        bad_names(), st.builds(lambda n: "a" * n, st.integers(129, 300))
    ).map(lambda n: {"app": n}), 12, ["app"])
    c.add("release", "type", base, _wrong_type({
        "keep": not_int(), "lock_timeout": not_int(), "stale_after": not_int(),
        "force": not_bool(), "changes": not_bool()}), 8)
    c.add_fixed("release", "conflict", base, [
        ({"token": None}, ["token"]),
        ({"state": "unlocked", "token": None}, ["token"]),
        ({"state": "recorded", "token": None, "version": "v1", "image": "x:v1"}, ["token"]),
        ({"state": "recorded", "image": "x:v1"}, ["version"]),
        ({"state": "recorded", "version": "v1"}, ["image"]),
    ])
    c.add("release", "range", base, st.one_of(
        _opt("keep", st.integers(-10 ** 6, 0)), _opt("lock_timeout", st.integers(-10 ** 6, -1))),
        6)
    c.add_fixed("release", "lockrange", base, [
        ({"stale_after": 0}, ["stale_after"]),
        ({"stale_after": -5}, ["stale_after"]),
        ({"stale_after": 10 ** 12}, ["stale_after"]),
        ({"lock_timeout": 10 ** 40}, ["lock_timeout"]),
    ])
    c.add_fixed("release", "paths", base, [
        ({"state_dir": "releases"}, ["state_dir"]),
        ({"lock_dir": "locks"}, ["lock_dir"]),
        ({"state": "recorded", "version": "v1", "image": "x:v1", "audit_log": "deploy.log"},
         ["audit_log"]),
        ({"state": "recorded", "version": "v1", "image": "x:v1", "audit_log": "/tmp"},
         ["audit_log"]),
    ])
    states = ["locked", "recorded", "unlocked", "query"]
    c.add("release", "choice", base, _choices({"state": states}), 2)
    c.add("release", "unknown", base, _unknown(), 3)


# Which modules run together in one playbook, on which lab host.
FAMILIES = {
    "containers": ("app1", ["container", "service", "container_exec", "container_copy_into"]),
    "images_info": ("app2", ["image", "container_info", "host_info", "haproxy_info", "prune"]),
    "networks_release": ("app3", ["network", "volume", "release", "haproxy_server",
                                  "socket_forward"]),
}


def all_cases(lab_id: int = 0) -> list:
    c = Cases()
    container_cases(c, lab_id, "container")
    container_cases(c, lab_id, "service")
    image_cases(c, lab_id)
    network_cases(c, lab_id)
    volume_cases(c, lab_id)
    info_cases(c, lab_id)
    exec_cases(c, lab_id)
    copy_into_cases(c, lab_id)
    prune_cases(c, lab_id)
    haproxy_cases(c)
    release_cases(c)
    return c.cases


def names_in(msg: str, names) -> bool:
    """At least one option name appears in msg as a word."""
    for n in names:
        if re.search(r"(?<![A-Za-z0-9_])%s(?![A-Za-z0-9_])" % re.escape(n), msg or ""):
            return True
    return False
