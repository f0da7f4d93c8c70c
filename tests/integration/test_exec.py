"""dockyard.fleet.container_exec against a real lab engine over SSH: a command's output and
exit code, its environment, user and directory, check mode, and the failures (a non-zero
exit, a container that does not run, a silent command past command_timeout)."""
from __future__ import annotations

import pytest
from conftest import numbered_tasks, results_in_order

H = "app1"
V1 = "dockyard/demo:v1"
BB = "/bin/busybox"


@pytest.fixture(scope="module")
def running(lab):
    lab.load_image(H, V1)
    lab.clean(H, "ex-")
    api = lab.docker(H).api
    for name in ("ex-web", "ex-stopped"):
        api.create_container(V1, name=name)
    api.start("ex-web")
    yield api
    lab.clean(H, "ex-")


def tasks(*items, check=False):
    return numbered_tasks("dockyard.fleet.container_exec", H, *items, check=check)


def test_output_code_environment_user_and_directory(lab, play, running):
    res = play(tasks(
        ({"container": "ex-web", "command": [BB, "sh", "-c", "echo out; echo err >&2; echo two"]}, None),
        ({"container": "ex-web", "command": BB + " sh -c 'echo $FOO $BAR; id -u; pwd'",
          "env": {"FOO": "foo bar", "BAR": 7}, "user": "1234", "chdir": "/tmp"}, None),
        ({"container": "ex-web", "command": [BB, "sh", "-c", "test -t 1 && echo tty; echo e >&2"],
          "tty": True}, None),
        ({"container": "ex-web", "command": [BB, "true"], "execution": "host"}, None),
        # a TTY's output that starts like a stream frame's header is still the output
        ({"container": "ex-web", "command": [BB, "printf", "\\001\\000\\000\\000\\000\\000\\000\\005hello world"],
          "tty": True}, None),
    ))
    assert res.rc == 0, res.stdout[-3000:]
    plain, env, tty, on_host, framed = results_in_order(res)
    assert framed["stdout"].endswith("hello world"), framed
    assert (plain["rc"], plain["stdout_lines"], plain["stderr"]) == (0, ["out", "two"], "err")
    assert plain["changed"] and plain["execution"] == "controller" and plain["invocations"] == 0
    assert plain["container"]["name"] == "ex-web"
    assert env["stdout_lines"] == ["foo bar 7", "1234", "/tmp"], env
    assert tty["stdout_lines"] == ["tty", "e"] and tty["stderr"] == "", tty   # one stream
    assert on_host["rc"] == 0 and on_host["execution"] == "host" and on_host["invocations"] == 1


def test_check_mode_runs_nothing_and_a_real_run_does(lab, play, running):
    touch = {"container": "ex-web", "command": [BB, "touch", "/tmp/ex-marker"]}
    look = {"container": "ex-web", "command": [BB, "ls", "/tmp"]}
    res = play(tasks((touch, None), (look, {"check_mode": False})), check=True)
    assert res.rc == 0, res.stdout[-3000:]
    skipped, seen = results_in_order(res)
    assert skipped["status"] == "skipped" and not skipped["changed"] and "would run" in skipped["msg"]
    assert "ex-marker" not in seen["stdout_lines"]
    res = play(tasks((touch, None), (look, {"changed_when": False})))
    ran, seen = results_in_order(res)
    assert ran["changed"] and "ex-marker" in seen["stdout_lines"] and res.changed == 1


def test_failures_name_the_cause_and_run_nothing_else(lab, play, running):
    res = play(tasks(
        ({"container": "ex-web", "command": [BB, "sh", "-c", "echo partial; echo broke >&2; exit 3"]}, None),
        ({"container": "ex-stopped", "command": [BB, "true"]}, None),
        ({"container": "ex-gone", "command": [BB, "true"]}, None),
        ({"container": "ex-web", "command": [BB, "sleep", "5"], "command_timeout": 1}, None),
        ({"container": "ex-web", "command": ["/no/such/program"]}, None),
    ))
    exited, stopped, gone, silent, missing = results_in_order(res)
    assert exited["status"] == "failed" and exited["rc"] == 3 and exited["stdout"] == "partial"
    assert exited["msg"] == "the command exited with 3 in container ex-web: broke"
    assert stopped["status"] == "failed" and "(option container)" in stopped["msg"] and "created" in stopped["msg"]
    assert gone["status"] == "failed" and gone["msg"] == "container ex-gone not found (option container)"
    assert silent["status"] == "failed" and "(option command_timeout)" in silent["msg"], silent
    assert silent["changed"], silent   # the command started: what it did is done
    # the engine starts no such program: its own message, nothing run
    assert missing["status"] == "failed" and "no such file" in missing["msg"].lower(), missing
