"""execution=controller (service, container_info): what the action plugins decide before
forwarding anything, and the stand-in for AnsibleModule that ends a run on the controller as
exit_json/fail_json end the module on the host (module_utils/_engine_forward.py)."""
from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.dockyard.fleet.plugins.module_utils._engine_forward import (
    ControllerModule, HostRelease, ModuleExit, blocker, host_calls_blocker, host_python)
from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import NeedsHost
from ansible_collections.dockyard.fleet.plugins.module_utils._release import (
    LockHeld, ReleaseError)
from ansible_collections.dockyard.fleet.plugins.module_utils._service import (
    HOST_CALL_OPTIONS, HOST_OPTIONS, MUTUALLY_EXCLUSIVE, needs_the_host, on_the_controller,
    service_argument_spec, service_main)


def validated(**args):
    v = ArgumentSpecValidator(service_argument_spec(),
                              mutually_exclusive=MUTUALLY_EXCLUSIVE).validate(args)
    assert not v.error_messages, v.error_messages
    return v.validated_parameters


def action(async_val=0, become=False, become_user=None):
    return SimpleNamespace(_task=SimpleNamespace(async_val=async_val, check_mode=False),
                           _play_context=SimpleNamespace(become=become, become_user=become_user))


def test_exit_and_fail_end_the_run_with_its_result():
    m = ControllerModule({"name": "x"}, check_mode=True)
    with pytest.raises(ModuleExit) as done:
        m.exit_json(replicas=[])
    assert done.value.result == {"changed": False, "replicas": []}
    with pytest.raises(ModuleExit) as done:
        m.fail_json(msg="option ports: ...", exception="Traceback ...", changed=True)
    assert done.value.result == {"failed": True, "msg": "option ports: ...", "changed": True}
    # not an Exception: the run's own `except Exception` handlers cannot swallow the end
    assert not issubclass(ModuleExit, Exception)


@pytest.mark.parametrize("args,needle", [
    (dict(replicas=3, ports=[18001, 18002]), "ports"),
    (dict(replicas=2, port_base=18300, only=[3]), "only"),
    (dict(replicas=2, memory="lots"), "memory"),
    (dict(replicas=1, state="absent", converge="missing"), "converge=missing"),
])
def test_input_checks_end_the_run_before_the_engine(args, needle):
    params = validated(name="sv", image="dockyard/demo:v1", **args)
    with pytest.raises(ModuleExit) as done:
        # a client that fails the test if touched: the checks come first
        service_main(ControllerModule(params, False), client=SimpleNamespace())
    assert done.value.result["failed"] and needle in done.value.result["msg"]


@pytest.mark.parametrize("opt", HOST_OPTIONS)
def test_options_that_need_the_host_send_the_run_there(opt):
    why = needs_the_host({"name": "sv", opt: {"app": "x"}})
    assert why == "option %s needs the host (files or sockets there)" % opt


def test_ready_goes_with_the_run_when_every_load_balancer_is_a_controller_socket():
    on_ctl = {"load_balancers": [{"controller_socket": "/c/a.sock", "backend": "app"},
                                 {"controller_socket": "/c/b.sock", "backend": "app", "name": "lb2"}],
              "server_prefix": "h-"}
    assert needs_the_host({"name": "sv", "ready": on_ctl}) is None
    args = on_the_controller({"name": "sv", "ready": on_ctl})
    assert args["ready"]["load_balancers"] == [
        {"socket": "/c/a.sock", "backend": "app", "name": "/c/a.sock"},
        {"socket": "/c/b.sock", "backend": "app", "name": "lb2"}]
    assert "controller_socket" in on_ctl["load_balancers"][0]   # the task's own args untouched
    on_host = {"load_balancers": [on_ctl["load_balancers"][0], {"socket": "/run/x.sock", "backend": "app"}],
               "server_prefix": "h-"}
    assert "ready.load_balancers[2]" in needs_the_host({"name": "sv", "ready": on_host})


@pytest.mark.parametrize("opt", HOST_CALL_OPTIONS)
def test_lock_and_record_go_with_the_run_when_the_host_can_be_called(opt):
    assert needs_the_host({"name": "sv", opt: {"app": "x"}}, None) is None
    why = needs_the_host({"name": "sv", opt: {"app": "x"}}, "the connection is local, not ssh")
    assert why == "option %s needs the host's files: the connection is local, not ssh" % opt


def test_host_calls_need_ssh_without_become():
    def act(transport, become=False):
        a = action(become=become, become_user="root")
        a._connection = SimpleNamespace(transport=transport)
        return a
    assert host_calls_blocker(act("ssh")) is None
    assert host_calls_blocker(act("ansible.builtin.ssh")) is None
    assert "local" in host_calls_blocker(act("local"))
    assert "become" in host_calls_blocker(act("ssh", become=True))
    assert host_python({"ansible_python_interpreter": "/usr/bin/python3.11"}) == "/usr/bin/python3.11"
    assert host_python({"ansible_python_interpreter": "{{ x }}",
                        "ansible_facts": {"discovered_interpreter_python": "/usr/bin/python3"}}) == "/usr/bin/python3"
    assert host_python({}) == "python3"


class LocalShell:
    """The task's connection, as HostRelease uses it: the command runs here (this Python)."""

    def __init__(self, python):
        self._connection = SimpleNamespace()
        self.python = python
        self.commands = 0

    def _low_level_execute_command(self, cmd, in_data=None, sudoable=True):
        import subprocess
        import sys
        self.commands += 1
        assert cmd.endswith(" -I -S -") and not sudoable
        p = subprocess.run([sys.executable if self.python == "ok" else "/nonexistent/python", "-I", "-S", "-"],
                           input=in_data, capture_output=True, text=True, check=False) \
            if self.python != "missing" else SimpleNamespace(returncode=127, stdout="", stderr="python3: not found")
        return {"rc": p.returncode, "stdout": p.stdout, "stderr": p.stderr}


def test_host_release_calls_run_the_release_code_on_the_host(tmp_path):
    """The calls a controller run makes for lock and record: the release module's code, run by
    the host's Python from stdin, with its answers and errors (here the host is this machine)."""
    paths = dict(state_dir=str(tmp_path / "rel"), lock_dir=str(tmp_path / "locks"),
                 audit_log=str(tmp_path / "audit.log"))
    lk = dict(app="web", token="t1", owner="me", timeout=0, stale_after=3600, force=False, **paths)
    conn = LocalShell("ok")
    files = HostRelease(conn, {})
    assert files.lock(lk, True) == {"lock": "would_acquire", "current": None, "previous": []}
    assert not (tmp_path / "locks").exists()                      # check mode: nothing written
    assert not files.took_lock
    assert files.lock(lk, False)["lock"] == "acquired"
    assert files.lock(lk, False)["lock"] == "held"                # re-entrant for the token
    assert files.took_lock                                        # this run took it (kept)
    with pytest.raises(LockHeld) as held:
        files.lock(dict(lk, token="t2", owner="other"), False)
    assert "another deploy of 'web' holds the lock" in str(held.value) and "lock.timeout" in str(held.value)
    rec = dict(app="web", token="t1", owner="me", version="v1", image=None, keep=5, changes=None,
               detail="3 replicas", **paths)
    out = files.record(rec, "demo:v1", True, False)
    assert out["changed"] and out["lock"] == "released" and out["current"]["version"] == "v1"
    assert "to=v1 result=ok detail=3_replicas" in (tmp_path / "audit.log").read_text()
    assert files.record(rec, "demo:v1", False, False)["changed"] is False
    with pytest.raises(ReleaseError) as bad:
        files.lock(dict(lk, app="../x"), False)
    assert "not a valid app name" in str(bad.value)
    # recorded, then the audit line failed (its directory is a file): the error says the
    # host was changed, as the module's does
    (tmp_path / "afile").write_text("")
    with pytest.raises(ReleaseError) as late:
        files.record(dict(rec, version="v2", audit_log=str(tmp_path / "afile" / "audit.log")),
                     "demo:v2", True, False)
    assert late.value.changed is True and "recorded" in str(late.value), late.value
    assert conn.commands == 8


def test_host_release_cannot_call_the_host_lock_goes_to_the_module_record_fails(tmp_path):
    paths = dict(state_dir=str(tmp_path), lock_dir=str(tmp_path), audit_log=str(tmp_path / "a.log"))
    files = HostRelease(LocalShell("missing"), {})
    with pytest.raises(NeedsHost) as why:   # before any change: the module on the host runs
        files.lock(dict(app="web", token="t", owner="o", timeout=0, stale_after=1, force=False, **paths), False)
    assert "option lock" in str(why.value) and "python3: not found" in str(why.value)
    with pytest.raises(ReleaseError) as err:
        files.record(dict(app="web", token="t", owner="o", version="v", image="i", keep=1,
                          changes=None, detail=None, **paths), "i", True, False)
    assert "exited 127" in str(err.value)


class SessionShell(LocalShell):
    """The task's ssh connection, as a session of HostRelease uses it: its command (what ssh
    would run on the host) runs here, after what a login shell may print first."""

    def __init__(self, python, noise="", password=None):
        super().__init__(python)
        self._connection = SimpleNamespace(
            _load_name="ssh", _build_command=self._build,
            get_option={"ssh_executable": "ssh", "host": "app1", "password": password}.get)
        self.noise = noise
        self.sessions = []

    def _build(self, binary, subsystem, host, command):
        assert (binary, subsystem, host) == ("ssh", "ssh", "app1")
        self.sessions.append(command)
        return ["/bin/sh", "-c", self.noise + command]


def test_host_release_calls_share_one_session_from_the_lock_to_the_record(tmp_path):
    """A run's lock and record are two calls in one session on the host (one start of the
    host's Python, not one per call); lines the login shell prints are not answers."""
    paths = dict(state_dir=str(tmp_path / "rel"), lock_dir=str(tmp_path / "locks"),
                 audit_log=str(tmp_path / "audit.log"))
    lk = dict(app="web", token="t1", owner="me", timeout=0, stale_after=3600, force=False, **paths)
    conn = SessionShell("ok", noise="echo welcome to app1; echo '{\"held\": \"no\"}'; ")
    files = HostRelease(conn, {"ansible_python_interpreter": sys.executable})
    assert files.lock(lk, False)["lock"] == "acquired"
    with pytest.raises(LockHeld):  # an answer that is an error leaves the session open
        files.lock(dict(lk, token="t2", owner="other"), False)
    rec = dict(app="web", token="t1", owner="me", version="v1", image=None, keep=5, changes=None,
               detail="3 replicas", **paths)
    out = files.record(rec, "demo:v1", True, False)
    assert out["changed"] and out["lock"] == "released" and out["current"]["version"] == "v1"
    session = files.session
    files.close()
    assert session.proc.returncode == 0 and files.session is False
    assert len(conn.sessions) == 1 and conn.commands == 0
    assert conn.sessions[0].startswith("/bin/sh -c ") and " -I -S -c " in conn.sessions[0]
    files.close()  # twice: nothing left to end


def test_host_release_session_that_ended_between_calls_record_goes_as_one_command(tmp_path):
    """A session that ended after answering the lock (the host's Python killed, say): the
    record never reached it, so it goes as one command, and is recorded."""
    paths = dict(state_dir=str(tmp_path / "rel"), lock_dir=str(tmp_path / "locks"),
                 audit_log=str(tmp_path / "audit.log"))
    conn = SessionShell("ok")
    files = HostRelease(conn, {"ansible_python_interpreter": sys.executable})
    lk = dict(app="web", token="t1", owner="me", timeout=0, stale_after=3600, force=False, **paths)
    assert files.lock(lk, False)["lock"] == "acquired"
    files.session.proc.kill()
    files.session.proc.wait()
    rec = dict(app="web", token="t1", owner="me", version="v1", image=None, keep=5, changes=None,
               detail=None, **paths)
    out = files.record(rec, "demo:v1", True, False)
    assert out["changed"] and out["lock"] == "released"
    assert len(conn.sessions) == 1 and conn.commands == 1 and files.session is False
    files.close()


def test_host_release_call_left_unanswered_fails_after_its_wait_and_the_timeout(tmp_path):
    """The host answers SSH but its program hangs (a stuck disk under the state directory):
    the lock call fails after lock.timeout + answer_timeout, naming both, instead of holding
    the task for ever; it is not made again elsewhere (it may have been made), and the
    session is ended."""
    hang = tmp_path / "python-that-hangs"
    hang.write_text("#!/bin/sh\nexec cat >/dev/null\n")
    hang.chmod(0o755)
    paths = dict(state_dir=str(tmp_path), lock_dir=str(tmp_path), audit_log=str(tmp_path / "a.log"))
    conn = SessionShell("ok")
    files = HostRelease(conn, {"ansible_python_interpreter": str(hang)}, answer_timeout=1)
    lk = dict(app="web", token="t", owner="o", timeout=1, stale_after=1, force=False, **paths)
    with pytest.raises(ReleaseError) as err:
        files.lock(lk, False)
    assert "gave no answer to the lock call within 2s" in str(err.value)
    assert "option timeout" in str(err.value)
    assert files.session is False and conn.commands == 0 and len(conn.sessions) == 1
    files.close()


def test_host_release_session_that_cannot_start_lock_goes_to_the_module(tmp_path):
    paths = dict(state_dir=str(tmp_path), lock_dir=str(tmp_path), audit_log=str(tmp_path / "a.log"))
    conn = SessionShell("ok")
    files = HostRelease(conn, {"ansible_python_interpreter": "/nonexistent/python3"})
    with pytest.raises(NeedsHost) as why:   # before any change: the module on the host runs
        files.lock(dict(app="web", token="t", owner="o", timeout=0, stale_after=1, force=False, **paths), False)
    assert "/nonexistent/python3 on the host exited 127" in str(why.value)
    assert "not found" in str(why.value)
    # the session is over: a later call goes as one command (here: the fake's python)
    assert files.session is False
    files.close()


def test_host_release_with_a_password_makes_one_command_per_call(tmp_path):
    paths = dict(state_dir=str(tmp_path / "rel"), lock_dir=str(tmp_path / "locks"),
                 audit_log=str(tmp_path / "audit.log"))
    conn = SessionShell("ok", password="secret")
    files = HostRelease(conn, {})
    lk = dict(app="web", token="t1", owner="me", timeout=0, stale_after=3600, force=False, **paths)
    assert files.lock(lk, False)["lock"] == "acquired"
    assert files.lock(lk, False)["lock"] == "held"
    assert conn.sessions == [] and conn.commands == 2


def test_async_and_become_to_another_user_send_the_run_to_the_host():
    assert "async" in blocker(action(async_val=30))
    assert "becomes deploy" in blocker(action(become=True, become_user="deploy"))
    assert blocker(action(become=True, become_user="root")) is None
    assert needs_the_host({"name": "sv", "roll": None}) is None


def test_pulls_and_registry_queries_are_left_to_the_host(tmp_path):
    from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import (
        DockerClient, NeedsHost)
    client = DockerClient({"docker_host": "unix://%s/dyfwd-0123.sock" % tmp_path}, environ={},
                          shown_host="unix:///var/run/docker.sock")
    for call in ("pull", "inspect_distribution"):
        with pytest.raises(NeedsHost) as why:
            client.call(call, "registry.example/app:1")
        assert "registry credentials of the host" in str(why.value)
    assert not issubclass(NeedsHost, Exception)   # through the run's own error handling
    # the module on the host pulls as before
    assert DockerClient({"docker_host": "unix:///var/run/docker.sock"}, environ={}).on_controller is False


def test_engine_errors_name_the_hosts_socket_not_the_forward(tmp_path):
    from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import (
        DockerClient, DockerError)
    forwarded = "unix://%s/dyfwd-0123.sock" % tmp_path      # nothing listens there
    client = DockerClient({"docker_host": forwarded}, environ={},
                          shown_host="unix:///var/run/docker.sock")
    with pytest.raises(DockerError) as err:
        client.call("version")
    assert "unix:///var/run/docker.sock (option docker_host)" in str(err.value)
    assert "dyfwd" not in str(err.value)


class FakeEngine:
    """container_info's engine calls, answered from a dict of inspect results."""

    def __init__(self, containers):
        self.containers = containers
        self.calls = []

    def get(self, method, ref):
        self.calls.append((method, ref))
        return next((c for c in self.containers if c["Name"] == "/" + ref or c["Id"] == ref), None)

    def call(self, method, **kw):
        self.calls.append((method, kw["filters"]["label"]))
        return [{"Id": c["Id"]} for c in self.containers if c["Config"]["Labels"].get("app") == "nfo"]


def test_container_info_runs_on_the_controller_with_the_modules_answer():
    from ansible_collections.dockyard.fleet.plugins.module_utils._container_info import (
        REQUIRED_ONE_OF, container_info_argument_spec, container_info_main)
    v = ArgumentSpecValidator(container_info_argument_spec(), required_one_of=REQUIRED_ONE_OF)
    params = v.validate({"name": ["web", "gone"], "labels": {"app": "nfo"}}).validated_parameters
    web = {"Id": "a" * 64, "Name": "/web", "Image": "sha256:1", "Config": {"Image": "demo", "Labels": {"app": "nfo"}},
           "State": {"Status": "running", "Running": True}, "NetworkSettings": {}, "HostConfig": {}}
    other = dict(web, Id="b" * 64, Name="/other")
    engine = FakeEngine([web, other])
    with pytest.raises(ModuleExit) as done:
        container_info_main(ControllerModule(params, True), client=engine)
    res = done.value.result
    assert res["changed"] is False and res["exists"] is False
    assert [(c["name"], c["exists"]) for c in res["containers"]] == [
        ("web", True), ("gone", False), ("other", True)]
    # bad input ends the run before the engine
    params = v.validate({"labels": "app=nfo"}).validated_parameters
    engine = FakeEngine([])
    with pytest.raises(ModuleExit) as done:
        container_info_main(ControllerModule(params, False), client=engine)
    assert done.value.result["failed"] and done.value.result["msg"].startswith("labels:")
    assert engine.calls == []


def test_by_execution_decides_where_the_run_goes():
    from ansible_collections.dockyard.fleet.plugins.module_utils._engine_forward import by_execution
    ran = []

    def here():
        return {"changed": True, "execution": "controller", "invocations": 0}, None

    def cannot():
        return None, "docker_host tcp://x is not a unix socket on the host"

    def host():
        ran.append(1)
        return {"changed": False}
    assert by_execution({}, {}, here, host) == {"changed": True, "execution": "controller",
                                                "invocations": 0}
    assert by_execution({}, {"execution": "auto"}, cannot, host) == {
        "changed": False, "execution": "host", "invocations": 1,
        "execution_reason": "docker_host tcp://x is not a unix socket on the host"}
    refused = by_execution({}, {"execution": "controller"}, cannot, host)
    assert refused["failed"] and refused["invocations"] == 0
    assert refused["msg"].startswith("execution: cannot run on the controller: docker_host")
    assert by_execution({}, {"execution": "host"}, here, host) == {
        "changed": False, "execution": "host", "invocations": 1}
    assert len(ran) == 2        # auto's fallback and host; never for the refusal
    halted = by_execution({}, {"execution": "host"}, here, lambda: {"not_started": True})
    assert halted == {"not_started": True, "invocations": 0}
