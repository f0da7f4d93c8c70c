"""module_utils/_exec.py (dockyard.fleet.container_exec) against a scripted engine: the
calls a run makes, what it returns, and how it fails."""
from __future__ import annotations

import pytest

from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import DockerError
from ansible_collections.dockyard.fleet.plugins.module_utils._exec import (
    NO_LIMIT, exec_argument_spec, exec_main)
from ansible_collections.dockyard.fleet.tests.unit.plugins.module_utils.controller_run import run_main

CID = "c" * 64


class Engine:
    """An engine with one container, web; logs every call. output: exec_start's (stdout,
    stderr); code: the exec's exit code."""

    engine = object()   # as DockerClient with the collection's own client

    def __init__(self, running=True, output=(b"hello\n", None), code=0, start_error=None):
        self.log = []
        self.running, self.output, self.code, self.start_error = running, output, code, start_error

    def get(self, method, ref):
        self.log.append((method, ref))
        if ref not in ("web", CID):
            return None
        state = {"Running": self.running, "Paused": False,
                 "Status": "running" if self.running else "exited"}
        return {"Id": CID, "Name": "/web", "State": state}

    def call(self, method, *args, **kwargs):
        self.log.append((method, args, kwargs))
        if method == "exec_create":
            return {"Id": "e" * 64}
        if method == "exec_start":
            if self.start_error:
                raise self.start_error
            return self.output
        if method == "exec_inspect":
            return {"ExitCode": self.code}
        raise AssertionError(method)


def run(params, check_mode=False, **engine_kw):
    engine = Engine(**engine_kw)
    return run_main(exec_argument_spec(), exec_main, engine, params, check_mode), engine.log


def test_a_command_runs_and_returns_its_output_and_code():
    result, log = run({"container": "web", "command": "echo 'a b' c", "env": {"N": 1, "T": True},
                       "user": "0", "chdir": "/tmp"}, output=(b"a b c\n", b"warning\n"))
    assert result["changed"] and not result.get("failed"), result
    assert (result["rc"], result["stdout"], result["stderr"]) == (0, "a b c", "warning")
    assert result["stdout_lines"] == ["a b c"] and result["argv"] == ["echo", "a b", "c"]
    assert result["container"] == {"id": CID, "name": "web"}
    assert log[1] == ("exec_create", (CID, ["echo", "a b", "c"]), {
        "stdout": True, "stderr": True, "tty": False, "user": "0",
        "environment": {"N": "1", "T": "true"}, "workdir": "/tmp"})
    assert log[2] == ("exec_start", ("e" * 64,), {"tty": False, "demux": True, "timeout": NO_LIMIT})
    assert [entry[0] for entry in log] == ["inspect_container", "exec_create", "exec_start", "exec_inspect"]


def test_a_non_zero_exit_fails_with_the_last_line_of_stderr():
    result, _log = run({"container": "web", "command": ["false"]}, output=(b"", b"one\nboom\n"), code=3)
    assert result["failed"] and result["rc"] == 3
    assert result["msg"] == "the command exited with 3 in container web: boom"
    assert result["stderr_lines"] == ["one", "boom"]


def test_check_mode_checks_the_container_and_runs_nothing():
    result, log = run({"container": "web", "command": ["migrate"]}, check_mode=True)
    assert result["skipped"] and not result["changed"] and "would run" in result["msg"]
    assert log == [("inspect_container", "web")]


@pytest.mark.parametrize("params,engine_kw,msg", [
    ({"container": "gone", "command": "true"}, {}, "container gone not found (option container)"),
    ({"container": "web", "command": "true"}, {"running": False},
     "container web is exited, not running: a command cannot run in it (option container)"),
    ({"container": "web", "command": ""}, {}, "command: must not be empty"),
    ({"container": "web", "command": "echo 'open"}, {}, "command: cannot split"),
    ({"container": "web", "command": "true", "env": {"A=B": 1}}, {}, "env: invalid variable name"),
    ({"container": "web", "command": "true", "chdir": "rel"}, {}, "chdir: must be an absolute path"),
    ({"container": "web", "command": "true", "command_timeout": 0}, {}, "command_timeout: must be positive"),
])
def test_bad_input_and_a_container_that_does_not_run_fail_before_any_exec(params, engine_kw, msg):
    result, log = run(params, **engine_kw)
    assert result["failed"] and result["msg"].startswith(msg), result
    assert not [entry for entry in log if entry[0].startswith("exec")]


def test_a_command_silent_past_command_timeout_fails_naming_the_option():
    timeout = DockerError("Cannot reach the Docker engine at unix:///x (option docker_host): timed out")
    timeout.__cause__ = TimeoutError("timed out")
    result, log = run({"container": "web", "command": "sleep 99", "command_timeout": 2}, start_error=timeout)
    assert result["failed"] and "(option command_timeout)" in result["msg"], result
    assert log[2][2]["timeout"] == 2
