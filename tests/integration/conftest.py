"""Integration harness: a real lab (network namespaces, sshd, dockerd per host)
and real ansible-playbook runs over SSH against it.

The lab is made once per session and torn down at the end, even when tests
fail. DOCKYARD_LAB_KEEP=1 keeps it up between runs (developer speed);
DOCKYARD_LAB_ID picks another lab (several can run side by side).
"""
from __future__ import annotations

import glob
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import time
from dataclasses import dataclass, field

import docker
import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# pytest runs with --import-mode=importlib: make the helpers here (loadclient, harness)
# importable from the test files.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# ... and the collection's own code (collections/ holds a link to the repo root)
if os.path.join(REPO, "collections") not in sys.path:
    sys.path.insert(0, os.path.join(REPO, "collections"))
import forkserver  # noqa: E402  (found through the path set above)
# Under pytest-xdist every worker gets a lab of its own: worker gwN uses lab id base+N.
# (The base is kept apart: test files that import conftest load it a second time.)
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
_BASE = int(os.environ.setdefault("DOCKYARD_LAB_BASE", os.environ.get("DOCKYARD_LAB_ID", "0")))
LAB_ID = _BASE + int(_WORKER[2:] or 0)
os.environ["DOCKYARD_LAB_ID"] = str(LAB_ID)

LAB_HOSTS = int(os.environ.get("DOCKYARD_LAB_HOSTS", "3"))
LAB_TOOL = os.path.join(REPO, "tools", "lab")
RECAP_RE = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+"
                      r"failed=(\d+)\s+skipped=(\d+)\s+rescued=(\d+)\s+ignored=(\d+)", re.M)


def spare_lab_ids():
    """Lab ids (0..9, tools/lab's) that no worker of this session uses, in the order the
    small labs of test_benchmark_smoke.py and test_lab.py take them: 7 and 8 unless the
    workers' labs (base to base + workers - 1) have them. tools/test tears down the same."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    return [i for i in (7, 8, 9, 6, 5, 4, 3, 2, 1, 0) if not _BASE <= i < _BASE + workers]


@dataclass
class Result:
    rc: int
    stdout: str
    stderr: str
    recap: dict
    records: list = field(default_factory=list)

    @property
    def changed(self) -> int:
        return sum(h["changed"] for h in self.recap.values())

    @property
    def failed(self) -> bool:
        return self.rc != 0

    def results(self, action: str | None = None, host: str | None = None, task: str | None = None):
        """Module results, optionally filtered by action (short or FQCN), host, task name."""
        out = []
        for r in self.records:
            if action and r["action"] != action and r["action"].split(".")[-1] != action:
                continue
            if host and r["host"] != host:
                continue
            if task and r["task"] != task:
                continue
            out.append(r)
        return out

    def one(self, **kw) -> dict:
        found = self.results(**kw)
        tail = self.stdout[-3000:]
        assert len(found) == 1, "expected one result for %r, got %d:\n%s" % (kw, len(found), tail)
        return found[0]["result"]


class Lab:
    def __init__(self, lab_dir: str):
        self.dir = lab_dir
        self.inventory = os.path.join(lab_dir, "inventory.yml")
        self.images_dir = os.path.join(lab_dir, "images")
        with open(self.inventory) as f:
            inv = yaml.safe_load(f)
        children = inv["all"]["children"]
        self.app = {h: v["ansible_host"] for h, v in children["app"]["hosts"].items()}
        self.lb = {h: v["ansible_host"] for h, v in children["lb"]["hosts"].items()}
        with open(os.path.join(self.images_dir, "images.json")) as f:
            self.images = json.load(f)
        self._clients: dict = {}

    @property
    def app_hosts(self) -> list:
        return list(self.app)

    def addr(self, host: str) -> str:
        return self.app.get(host) or self.lb[host]

    def docker_sock(self, host: str) -> str:
        return "/var/lib/dockyard-lab/%d/%s/fs/run/docker.sock" % (LAB_ID, host)

    def docker(self, host: str) -> docker.DockerClient:
        """An engine client straight to the host's dockerd: the tests' independent view."""
        if host not in self._clients:
            self._clients[host] = docker.DockerClient(base_url="unix://" + self.docker_sock(host),
                                                      version="auto", timeout=60)
        return self._clients[host]

    def stops(self, host: str, cid: str, since: float) -> tuple:
        """How the engine stopped a container since `since` (time.time()): the signals it was
        sent (its kill events) and its exit codes (its die events), as the engine reports them."""
        events = [e for e in self.docker(host).events(since=int(since), until=int(time.time()) + 1,
                                                      decode=True, filters={"container": cid})
                  if e.get("timeNano", 0) >= since * 1e9]
        return ([e["Actor"]["Attributes"].get("signal") for e in events if e.get("Action") == "kill"],
                [e["Actor"]["Attributes"].get("exitCode") for e in events if e.get("Action") == "die"])

    def snapshot(self, host: str) -> dict:
        """The engine's state (containers, images, networks, volumes) for before/after checks."""
        api = self.docker(host).api
        return {
            "containers": sorted((c["Id"], c["State"], c["Image"]) for c in api.containers(all=True)),
            "images": sorted((i["Id"], tuple(sorted(i.get("RepoTags") or []))) for i in api.images()),
            "networks": sorted((n["Id"], n["Name"]) for n in api.networks()),
            "volumes": sorted(v["Name"] for v in (api.volumes().get("Volumes") or [])),
        }

    def app_replicas(self, host: str, app: str) -> list:
        """[(name, version label, state)] of an app's containers (label dockyard.app), sorted.
        The engine's list alone: the SDK's containers.list inspects each container after
        listing, and fails with NotFound on a replica a running roll removes in between."""
        cs = self.docker(host).api.containers(all=True, filters={"label": "dockyard.app=" + app})
        return sorted((c["Names"][0].lstrip("/"), (c.get("Labels") or {}).get("dockyard.version"),
                       c["State"]) for c in cs)

    def ssh(self, host: str, command: str, check: bool = True) -> subprocess.CompletedProcess:
        key = os.path.join(self.dir, "id_ed25519")
        kh = os.path.join(self.dir, "known_hosts")
        return subprocess.run(["ssh", "-i", key, "-o", "UserKnownHostsFile=" + kh,
                               "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
                               "root@" + self.addr(host), command],
                              capture_output=True, text=True, check=check, timeout=120)

    def tool(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([LAB_TOOL, *args], capture_output=True, text=True, check=True,
                              env=dict(os.environ, DOCKYARD_LAB_ID=str(LAB_ID)), timeout=300)

    def remove_image(self, host: str, ref: str) -> None:
        """Remove an image from a host's engine for good (test setup). Test files share a lab
        (one per xdist worker), and an earlier file may have left containers of it: an untag
        alone leaves the image there by id, which the image module re-tags without shipping
        the archive. So the containers that use it go first."""
        c = self.docker(host)
        try:
            image = c.images.get(ref)
        except docker.errors.ImageNotFound:
            return
        for ct in c.containers.list(all=True, filters={"ancestor": image.id}):
            ct.remove(force=True)
        c.images.remove(image.id, force=True)

    def load_image(self, host: str, tag: str) -> str:
        """Load a demo image straight into a host's engine (test setup, not under test)."""
        with open(self.images[tag]["archive"], "rb") as f:
            self.docker(host).images.load(f.read())
        return self.images[tag]["id"]

    def clean(self, host: str, prefix: str) -> None:
        """Remove containers, networks and volumes whose name starts with prefix."""
        c = self.docker(host)
        for ct in c.containers.list(all=True):
            if ct.name.startswith(prefix):
                ct.remove(force=True)
        for n in c.networks.list():
            if n.name.startswith(prefix):
                n.remove()
        for v in c.volumes.list():
            if v.name.startswith(prefix):
                v.remove(force=True)


def _lab_dir() -> str:
    return os.environ.get("DOCKYARD_LAB_DIR") or os.path.join(REPO, ".lab", "lab%d" % LAB_ID)


@pytest.fixture(scope="session")
def lab():
    env = dict(os.environ, DOCKYARD_LAB_ID=str(LAB_ID))
    # A light login shell on the hosts: every SSH session of every test otherwise runs the
    # machine's root .bashrc (a developer machine's may start pyenv: 0.1 to 0.2 s of CPU a
    # session, a fifth of the CPU of a test file of many module runs). The benchmarks run on
    # the lab as it is; DOCKYARD_LAB_SHELL=machine gives the tests that one.
    subprocess.run([LAB_TOOL, "up", "--hosts", str(LAB_HOSTS), "--shell",
                    os.environ.get("DOCKYARD_LAB_SHELL", "light")], check=True, env=env)
    try:
        yield Lab(_lab_dir())
    finally:
        if os.environ.get("DOCKYARD_LAB_KEEP") != "1":
            subprocess.run([LAB_TOOL, "down"], env=env, check=False)
        _remove_test_cgroups()


def _remove_test_cgroups() -> None:
    """The cgroups the cgroup_parent tests had the engines make (the machine's cgroup tree is
    shared by every lab engine): removed once empty. One still in use (another worker's
    container) cannot be removed and stays."""
    for path in glob.glob("/sys/fs/cgroup/*/docker/dy-parent-*") + glob.glob("/sys/fs/cgroup/docker/dy-parent-*"):
        try:
            os.rmdir(path)
        except OSError:
            pass


def ansible_env(lab: Lab, record: str | None = None) -> dict:
    env = dict(os.environ)
    env.update({
        "ANSIBLE_CONFIG": os.path.join(REPO, "ansible.cfg"),
        "ANSIBLE_INVENTORY": lab.inventory,
        "ANSIBLE_CALLBACK_PLUGINS": os.path.join(REPO, "tests", "integration", "callback_plugins"),
        "ANSIBLE_CALLBACKS_ENABLED": "dockyard_record",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_SSH_CONTROL_PATH_DIR": "/tmp/.dockyard-cp-lab%d" % LAB_ID,
        "PATH": os.path.join(REPO, ".venv", "bin") + os.pathsep + env.get("PATH", ""),
    })
    if record:
        env["DOCKYARD_RECORD"] = record
    return env


def start_playbook(lab: Lab, playbook: str, *, extra_vars: dict | None = None,
                   limit: str | None = None) -> subprocess.Popen:
    """Start a playbook in the background (for faults injected while it runs);
    .communicate() gives its combined output."""
    cmd = [os.path.join(REPO, ".venv", "bin", "ansible-playbook"), playbook]
    if extra_vars:   # JSON on the command line: no file left behind
        cmd += ["-e", json.dumps(extra_vars)]
    if limit:
        cmd += ["--limit", limit]
    return subprocess.Popen(cmd, cwd=REPO, env=ansible_env(lab), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def run_playbook(lab: Lab, playbook: str, *, extra_vars: dict | None = None, check: bool = False,
                 diff: bool = False, limit: str | None = None, verbosity: int = 0,
                 args: list | None = None, timeout: int = 900, env: dict | None = None) -> Result:
    """Run a playbook (a path, or YAML text written to a temp file) against the lab."""
    with tempfile.TemporaryDirectory(prefix="dockyard-pb-") as tmpdir:   # none left behind
        return _run_playbook(lab, playbook, tmpdir, extra_vars=extra_vars, check=check,
                             diff=diff, limit=limit, verbosity=verbosity, args=args,
                             timeout=timeout, env=env)


def _run_playbook(lab, playbook, tmpdir, *, extra_vars, check, diff, limit, verbosity, args,
                  timeout, env):
    if "\n" in playbook:
        path = os.path.join(tmpdir, "playbook.yml")
        with open(path, "w") as f:
            f.write(textwrap.dedent(playbook))
    else:
        path = playbook if os.path.isabs(playbook) else os.path.join(REPO, playbook)
    record = os.path.join(tmpdir, "record.jsonl")
    cmd = [os.path.join(REPO, ".venv", "bin", "ansible-playbook"), path]
    if extra_vars:
        ev = os.path.join(tmpdir, "extra_vars.json")
        with open(ev, "w") as f:
            json.dump(extra_vars, f)
        cmd += ["-e", "@" + ev]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    if limit:
        cmd += ["--limit", limit]
    if verbosity:
        cmd.append("-" + "v" * verbosity)
    cmd += args or []
    full_env = ansible_env(lab, record)
    full_env.update(env or {})
    proc = None
    for slot in range(0 if env else FORK_SERVER_SLOTS):   # a server runs one run at a time
        server = _fork_server(full_env, slot)
        proc = server.run(cmd, full_env, REPO, timeout, tmpdir) if server else None
        if proc is not None:
            break
    if proc is None:   # no server for this environment, or all serve other threads' runs
        proc = subprocess.run(cmd, capture_output=True, text=True, env=full_env, cwd=REPO,
                              timeout=timeout, check=False)
    keys = ("ok", "changed", "unreachable", "failed", "skipped", "rescued", "ignored")
    recap = {m[0]: dict(zip(keys, map(int, m[1:]))) for m in RECAP_RE.findall(proc.stdout)}
    records = []
    if os.path.exists(record):
        with open(record) as f:
            records = [json.loads(line) for line in f if line.strip()]
    return Result(proc.returncode, proc.stdout, proc.stderr, recap, records)


# Playbook runs fork from a process that has imported ansible once (forkserver.py says why and
# how): about 0.7 s of CPU less per run. Up to three servers per environment, for the runs the
# bad-input families make at once. Runs given an environment of their own, a fourth run at
# once, and every run with DOCKYARD_TEST_FORKSERVER=0 start ansible-playbook as usual.
FORK_SERVER_SLOTS = 3


def _fork_server(env: dict, slot: int = 0):
    if os.environ.get("DOCKYARD_TEST_FORKSERVER", "1") == "0":
        return None
    return forkserver.server_for(os.path.join(REPO, ".venv", "bin", "python"), env, REPO,
                                 slot=slot)


def run_molecule(role: str, timeout: int, **env_vars: str) -> str:
    """`molecule test` of roles/<role>'s default scenario against this worker's lab (the
    role's molecule.yml reads DOCKYARD_LAB_ID); the output, asserting it passed. Molecule's
    state and generated inventory go to a directory of the run's own, removed after it (by
    default molecule leaves one per scenario in ~/.ansible/tmp)."""
    env = dict(os.environ, DOCKYARD_LAB_ID=str(LAB_ID), NO_COLOR="1", PY_COLORS="0",
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               PATH=os.path.join(REPO, ".venv", "bin") + os.pathsep + os.environ.get("PATH", ""),
               **env_vars)
    env.pop("ANSIBLE_CONFIG", None)
    env.pop("ANSIBLE_INVENTORY", None)
    with tempfile.TemporaryDirectory(prefix="dockyard-molecule-%s-" % role) as state:
        env["MOLECULE_EPHEMERAL_DIRECTORY"] = state
        proc = subprocess.run(["molecule", "test"], cwd=os.path.join(REPO, "roles", role),
                              env=env, capture_output=True, text=True, timeout=timeout,
                              check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    # the working tree's collection, not a copy installed under a concurrent run
    assert "Performing prerun" not in out, out[-3000:]
    return out


@pytest.fixture
def play(lab):
    """play(yaml_or_path, **kw) -> Result; see run_playbook."""
    def _play(playbook: str, **kw) -> Result:
        return run_playbook(lab, playbook, **kw)
    return _play


# A container or service run killed at one engine call (os._exit: no clean-up of any kind),
# as a run whose process or controller dies there would be: the module's own run (on the
# controller, as its action plugin makes it) against the host's engine, with the call that
# would come next never made.
KILLED_RUN = r"""
import json, os, sys
from importlib import import_module
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import DockerClient
from ansible_collections.dockyard.fleet.plugins.module_utils._engine_forward import ControllerModule
kind, step, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
code = import_module("ansible_collections.dockyard.fleet.plugins.module_utils._" + kind)
params = ArgumentSpecValidator(getattr(code, kind + "_argument_spec")()).validate(params).validated_parameters
client = DockerClient(params)
real = client.call
def call(method, *args, **kwargs):
    if method == step:
        os._exit(9)
    return real(method, *args, **kwargs)
client.call = call
getattr(code, kind + "_main")(ControllerModule(params, False), client)
"""


def in_container(api, container, path):
    """(data, mode, uid, gid) of the file at path in the container, or the entry's type for a
    non-file ("symlink", or the tar type), None when there is nothing: read straight from the
    engine (its archive), not through a module."""
    try:
        chunks, _stat = api.get_archive(container, path)
    except docker.errors.NotFound:
        return None
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
        member = tar.next()
        if not member.isfile():
            return "symlink" if member.issym() else member.type
        return tar.extractfile(member).read(), member.mode & 0o7777, member.uid, member.gid


def killed_run(lab: Lab, host: str, kind: str, step: str, **params) -> None:
    """Run module kind (container, service) with params against host's engine, killed at
    its first engine call named step."""
    params["docker_host"] = "unix://" + lab.docker_sock(host)
    env = dict(os.environ, PYTHONPATH=os.path.join(REPO, "collections"))
    res = subprocess.run([sys.executable, "-c", KILLED_RUN, kind, step, json.dumps(params)],
                         env=env, capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 9, (res.stdout, res.stderr)


# ------------------------------------------------------------------ fault test files


def app_vars(app: str, port_base: int, **extra) -> dict:
    """The deploy role's variables for an app of its own behind lb1 (2 replicas per host)."""
    return dict({"deploy_app": app, "deploy_port_base": port_base, "deploy_replicas": 2,
                 "deploy_haproxy_backend": app, "haproxy_backend_name": app}, **extra)


def site_fleet(lab: Lab, app_vars_: dict, on_version):
    """Generator for a module-scoped fixture: the app's replicas removed, site.yml to v1,
    on_version(lab, "v1") asserted; after the module the replicas removed again."""
    app = app_vars_["deploy_app"]
    for host in lab.app_hosts:
        lab.clean(host, app + "-")
    res = run_playbook(lab, "playbooks/site.yml", extra_vars=dict(app_vars_, deploy_version="v1"),
                       timeout=1800)
    assert res.rc == 0, res.stdout[-4000:]
    assert on_version(lab, "v1")
    yield
    for host in lab.app_hosts:
        lab.clean(host, app + "-")


class Figures(dict):
    """What a fault test file measured, {fault: {figure: value}}, written to
    tests/output/<name> after every save (docs/reliability.md quotes it)."""

    def __init__(self, name: str):
        super().__init__()
        self.path = os.path.join(REPO, "tests", "output", name)

    def save(self, fault: str, **figures) -> None:
        """Add figures of a fault (to those saved before for it) and write the file."""
        self.setdefault(fault, {}).update(figures)
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        with open(self.path, "w") as f:
            json.dump(self, f, indent=1, sort_keys=True)


def numbered_tasks(module: str, host: str, *items, check: bool = False) -> str:
    """A playbook of one task of module per item on host, named t0, t1, ... in order (for
    results_in_order), errors ignored. An item is the module's options, or (options, other
    task keywords). check: the whole play in check mode."""
    body = []
    for i, item in enumerate(items):
        args, extra = item if isinstance(item, tuple) else (item, None)
        task = {"name": "t%d" % i, module: args, "ignore_errors": True, "register": "r%d" % i}
        task.update(extra or {})
        body.append(task)
    play_ = {"hosts": host, "gather_facts": False, "tasks": body}
    if check:
        play_["check_mode"] = True
    return yaml.safe_dump([play_])


def results_in_order(res: Result) -> list:
    """The results of numbered_tasks' tasks in order, each with its status (ok, failed,
    skipped) as "status" (the record's result has no "failed" key)."""
    return [dict(r["result"], status=r["status"]) for r in sorted(res.records, key=lambda r: int(r["task"][1:]))]
