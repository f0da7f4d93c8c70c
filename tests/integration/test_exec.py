"""dockyard.fleet.container_exec against a real lab engine over SSH: a command's output and
exit code, its environment, user and directory, its input (stdin, read to its end), a
detached command, privileged, check mode, and the failures (a non-zero exit, a command the
engine could not start, a container that does not run, a silent command past
command_timeout). Each through both of the module's paths (the run on the controller over
the forwarded engine socket, and the module on the host), and the Docker SDK's (an ssh://
engine); effects are read back straight from the engine."""
from __future__ import annotations

import os
import shutil
import time

import pytest
import yaml
from conftest import REPO, in_container, numbered_tasks, results_in_order

H = "app1"
V1 = "dockyard/demo:v1"
BB = "/bin/busybox"
T = "/tmp"


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


def both(options):
    """The task's options on the controller (execution auto) and on the host."""
    return [(dict(options), None), (dict(options, execution="host"), None)]


def read_file(api, path, container="ex-web"):
    """The file's bytes in the container, read straight from the engine (None: no file)."""
    found = in_container(api, container, path)
    return found[0] if found else None


def ran_on(results):
    return [r.get("execution") for r in results]


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
        # argv, as community.docker's: the list as it is, no word splitting
        ({"container": "ex-web", "argv": [BB, "echo", "a  b", "*"]}, None),
    ))
    assert res.rc == 0, res.stdout[-3000:]
    plain, env, tty, on_host, framed, argv = results_in_order(res)
    assert framed["stdout"].endswith("hello world"), framed
    assert (plain["rc"], plain["stdout_lines"], plain["stderr"]) == (0, ["out", "two"], "err")
    assert plain["changed"] and plain["execution"] == "controller" and plain["invocations"] == 0
    assert plain["container"]["name"] == "ex-web"
    assert env["stdout_lines"] == ["foo bar 7", "1234", "/tmp"], env
    assert tty["stdout_lines"] == ["tty", "e"] and tty["stderr"] == "", tty   # one stream
    assert on_host["rc"] == 0 and on_host["execution"] == "host" and on_host["invocations"] == 1
    assert argv["stdout"] == "a  b *" and argv["argv"] == [BB, "echo", "a  b", "*"]


def test_stdin_is_written_and_ended_so_the_command_reads_to_its_end(lab, play, running):
    """cat, sh -s and wc -c end only when their input does: the text reaches the command's
    stdin, then its end (a half-close, through the SSH-forwarded socket and on the host)."""
    # command_timeout: a command that never sees the end of its input fails the test in 30 s
    text = "line one\nline 'two' $HOME é"
    write = [BB, "sh", "-c", "cat > %s/ex-in-$0.txt; echo written" % T]
    res = play(tasks(
        ({"container": "ex-web", "command_timeout": 30, "argv": write + ["ctl"], "stdin": text}, None),
        ({"container": "ex-web", "command_timeout": 30, "argv": write + ["host"], "stdin": text, "execution": "host"}, None),
        ({"container": "ex-web", "command_timeout": 30, "argv": write + ["raw"], "stdin": text, "stdin_add_newline": False}, None),
        ({"container": "ex-web", "command_timeout": 30, "argv": write + ["empty"], "stdin": "", "stdin_add_newline": False,
          "execution": "host"}, None),
        # a script on stdin, its exit code and both outputs
        *both({"container": "ex-web", "command_timeout": 30, "argv": [BB, "sh", "-s"],
               "stdin": "echo $((6 * 7))\necho oops >&2\nexit 0"}),
        # more input than the socket buffers hold, while the command writes as much before it
        # reads: nothing blocks, all of it arrives
        *both({"container": "ex-web", "command_timeout": 30, "argv": [BB, "sh", "-c", "head -c 400000 /dev/zero | tr '\\0' a; wc -c"],
               "stdin": "{{ 'x' * 300000 }}"}),
    ))
    assert res.rc == 0, res.stdout[-3000:]
    ctl, host, raw, empty, script_ctl, script_host, big_ctl, big_host = results_in_order(res)
    assert ran_on([ctl, host]) == ["controller", "host"], (ctl, host)
    for r in (ctl, host, raw, empty):
        assert r["changed"] and r["rc"] == 0 and r["stdout"] == "written", r
    assert read_file(running, T + "/ex-in-ctl.txt") == (text + "\n").encode()
    assert read_file(running, T + "/ex-in-host.txt") == (text + "\n").encode()
    assert read_file(running, T + "/ex-in-raw.txt") == text.encode()
    assert read_file(running, T + "/ex-in-empty.txt") == b""
    for r in (script_ctl, script_host):
        assert (r["rc"], r["stdout"], r["stderr"]) == (0, "42", "oops"), r
    for r in (big_ctl, big_host):
        assert r["rc"] == 0 and r["stdout"] == "a" * 400000 + "300001", r["stdout"][-40:]
    assert ran_on([script_ctl, script_host, big_ctl, big_host]) == ["controller", "host"] * 2


def test_strip_empty_ends_false_keeps_the_output_as_it_came(lab, play, running):
    cmd = [BB, "sh", "-c", "printf 'a\\n\\n'; printf ' b\\r\\n\\n' >&2"]
    res = play(tasks(
        ({"container": "ex-web", "argv": cmd}, None),
        *both({"container": "ex-web", "argv": cmd, "strip_empty_ends": False}),
    ))
    stripped, kept_ctl, kept_host = results_in_order(res)
    assert (stripped["stdout"], stripped["stderr"]) == ("a", " b")
    for r in (kept_ctl, kept_host):
        assert (r["stdout"], r["stderr"]) == ("a\n\n", " b\r\n\n"), r
        assert r["stdout_lines"] == ["a", ""]


def wait_for(name):
    """A shell command that waits until file name exists in T (the test's go-ahead)."""
    return "while [ ! -e %s/%s ]; do sleep 0.2; done" % (T, name)


def go_ahead(api, name):
    """Create the go-ahead file name in T of ex-web (through the engine, not the module)."""
    api.exec_start(api.exec_create("ex-web", [BB, "touch", "%s/%s" % (T, name)]))


def wait_ended(api, exec_ids, timeout=30):
    """The exec inspects once none runs (or at the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        ends = [api.exec_inspect(eid) for eid in exec_ids]
        if not any(e["Running"] for e in ends) or time.monotonic() > deadline:
            return ends
        time.sleep(0.3)


def test_detach_starts_the_command_and_returns_at_once(lab, play, running):
    """The task ends with the command still running (it waits for a file the test makes
    after the play); it then runs to its end on its own."""
    def held(tag):
        return [BB, "sh", "-c", "%s; echo $0 > %s/ex-detached-$0.txt" % (wait_for("ex-go-detach"), T), tag]
    res = play(tasks(
        ({"container": "ex-web", "argv": held("ctl"), "detach": True}, None),
        ({"container": "ex-web", "argv": held("host"), "detach": True, "execution": "host"}, None),
        ({"container": "ex-web", "argv": held("tty"), "detach": True, "tty": True}, None),
    ))
    assert res.rc == 0, res.stdout[-3000:]
    results = results_in_order(res)
    assert ran_on(results) == ["controller", "host", "controller"]
    ids = [r["exec_id"] for r in results]
    for r in results:
        assert r["changed"] and r["exec_id"] and not {"rc", "stdout", "stderr"} & set(r), r
    # returned before the command's end: the engine still runs it, and it has done nothing yet
    assert [running.exec_inspect(eid)["Running"] for eid in ids] == [True, True, True]
    assert read_file(running, T + "/ex-detached-ctl.txt") is None
    assert running.exec_inspect(ids[2])["ProcessConfig"]["tty"] is True
    go_ahead(running, "ex-go-detach")
    assert [e["ExitCode"] for e in wait_ended(running, ids)] == [0, 0, 0]
    for tag in ("ctl", "host", "tty"):
        assert read_file(running, "%s/ex-detached-%s.txt" % (T, tag)) == tag.encode() + b"\n"


def test_privileged_goes_to_the_engine(lab, play, running):
    """The exec is created privileged (the engine's own record of it). The lab's engines run
    without every capability (its machine's bounding set), so there the runtime cannot start
    a privileged process: the task then fails unchanged, naming the option, with the
    engine's reason. Where the engine can, the command runs with every capability."""
    caps = [BB, "sh", "-c", "grep CapEff /proc/self/status"]
    res = play(tasks(*both({"container": "ex-web", "argv": caps, "privileged": True}),
                     ({"container": "ex-web", "argv": caps}, None)))
    ctl, host, plain = results_in_order(res)
    assert running.exec_inspect(plain["exec_id"])["ProcessConfig"]["privileged"] is False
    default_caps = plain["stdout"].split()[-1]
    for r in (ctl, host):
        assert running.exec_inspect(r["exec_id"])["ProcessConfig"]["privileged"] is True, r
        if r["status"] == "failed":
            assert not r["changed"] and r["msg"].startswith(
                "the command did not start in container ex-web (option privileged): "), r
            assert "caps" in r["msg"], r
        else:
            assert int(r["stdout"].split()[-1], 16) > int(default_caps, 16), r
    assert ran_on([ctl, host]) == ["controller", "host"]


def test_check_mode_runs_nothing_and_a_real_run_does(lab, play, running):
    touch = {"container": "ex-web", "command": [BB, "touch", "/tmp/ex-marker"]}
    look = {"container": "ex-web", "command": [BB, "ls", "/tmp"]}
    detached = {"container": "ex-web", "command": [BB, "touch", "/tmp/ex-marker-detached"], "detach": True}
    fed = {"container": "ex-web", "command": [BB, "sh", "-c", "cat > /tmp/ex-marker-stdin"], "stdin": "x"}
    res = play(tasks((touch, None), (detached, None), (fed, None), (look, {"check_mode": False})), check=True)
    assert res.rc == 0, res.stdout[-3000:]
    *skipped, seen = results_in_order(res)
    for r in skipped:
        assert r["status"] == "skipped" and not r["changed"] and "would run" in r["msg"], r
    assert not [f for f in seen["stdout_lines"] if f.startswith("ex-marker")]
    res = play(tasks((touch, None), (look, {"changed_when": False})))
    ran, seen = results_in_order(res)
    assert ran["changed"] and "ex-marker" in seen["stdout_lines"] and res.changed == 1


def test_a_command_that_never_started_fails_unchanged_naming_the_option(lab, play, running):
    """Docker 20.10 answers exit code 126, no process (Pid 0) and its reason on the output;
    a command that ran and exited 126 or 127 itself is an exit like any other."""
    res = play(tasks(
        *both({"container": "ex-web", "command": ["/no/such/program"]}),
        ({"container": "ex-web", "argv": ["nosuchprogram", "x"]}, None),
        ({"container": "ex-web", "argv": ["/www"]}, None),   # a directory: not executable
        *both({"container": "ex-web", "argv": [BB, "true"], "user": "nobody"}),
        ({"container": "ex-web", "argv": [BB, "true"], "user": "0:nogroup"}, None),
        *both({"container": "ex-web", "argv": [BB, "true"], "chdir": "/no/such/dir"}),
        ({"container": "ex-web", "argv": [BB, "cat"], "stdin": "x", "chdir": "/no/such/dir"}, None),
        ({"container": "ex-web", "argv": ["/no/such/program"], "detach": True}, None),
        ({"container": "ex-web", "argv": [BB, "true"], "detach": True, "user": "nobody", "execution": "host"},
         None),
        # ran, and exited 127 / 126 itself: changed, the exit code, as any non-zero exit
        ({"container": "ex-web", "argv": [BB, "sh", "-c", "exit 127"]}, None),
        ({"container": "ex-web", "argv": [BB, "sh", "-c", "nosuch"]}, None),
        ({"container": "ex-web", "argv": [BB, "sh", "-c", "echo 'OCI runtime exec failed: exec failed: x'; exit 126"]},
         None),
    ))
    (missing, missing_host, not_in_path, not_exec, user, user_host, group, chdir, chdir_host,
     chdir_stdin, detached, detached_user, exit127, shell127, mimic126) = results_in_order(res)
    expect = [
        (missing, "command", 'exec: "/no/such/program": stat /no/such/program: no such file or directory'),
        (missing_host, "command", "no such file or directory"),
        (not_in_path, "argv", 'exec: "nosuchprogram": executable file not found in $PATH'),
        (not_exec, "argv", 'exec: "/www": permission denied'),
        (user, "user", "unable to find user nobody: no matching entries in passwd file"),
        (user_host, "user", "unable to find user nobody"),
        (group, "user", "unable to find group nogroup: no matching entries in group file"),
        (chdir, "chdir", 'chdir to cwd ("/no/such/dir") set in config.json failed: no such file or directory'),
        (chdir_host, "chdir", "chdir to cwd"),
        (chdir_stdin, "chdir", "chdir to cwd"),
        (detached, "argv", 'exec: "/no/such/program": stat /no/such/program: no such file or directory'),
        (detached_user, "user", "unable to find user nobody"),
    ]
    for r, option, reason in expect:
        assert r["status"] == "failed" and not r["changed"], r
        assert r["msg"].startswith("the command did not start in container ex-web (option %s): " % option), r
        assert reason in r["msg"] and "rc" not in r, r
        end = running.exec_inspect(r["exec_id"])
        assert (end["ExitCode"], end["Pid"]) == (126, 0), end   # the engine's own record
    assert ran_on([missing, missing_host, user, user_host, chdir, chdir_host]) == ["controller", "host"] * 3
    assert exit127["changed"] and exit127["rc"] == 127
    assert exit127["msg"] == "the command exited with 127 in container ex-web"
    assert shell127["changed"] and shell127["msg"] == \
        "the command exited with 127 in container ex-web: sh: nosuch: not found"
    assert mimic126["changed"] and mimic126["rc"] == 126 and mimic126["msg"].startswith(
        "the command exited with 126 in container ex-web: OCI runtime")
    assert running.exec_inspect(exit127["exec_id"])["Pid"] != 0


def test_failures_name_the_cause_and_run_nothing_else(lab, play, running):
    res = play(tasks(
        ({"container": "ex-web", "command": [BB, "sh", "-c", "echo partial; echo broke >&2; exit 3"]}, None),
        ({"container": "ex-stopped", "command": [BB, "true"]}, None),
        ({"container": "ex-gone", "command": [BB, "true"]}, None),
        # silent past command_timeout: given up on, with the output so far
        *both({"container": "ex-web", "command": [BB, "sh", "-c", "echo so far; echo warn >&2; sleep 6; echo late"],
               "command_timeout": 2}),
        ({"container": "ex-web", "argv": [BB, "sh", "-c", "cat; sleep 6"], "stdin": "echoed",
          "command_timeout": 2}, None),
    ))
    exited, stopped, gone, silent, silent_host, silent_stdin = results_in_order(res)
    assert exited["status"] == "failed" and exited["rc"] == 3 and exited["stdout"] == "partial"
    assert exited["msg"] == "the command exited with 3 in container ex-web: broke"
    assert stopped["status"] == "failed" and "(option container)" in stopped["msg"] and "created" in stopped["msg"]
    assert gone["status"] == "failed" and gone["msg"] == "container ex-gone not found (option container)"
    for r in (silent, silent_host, silent_stdin):
        assert r["status"] == "failed" and "(option command_timeout)" in r["msg"], r
        assert r["changed"] and "rc" not in r, r   # the command started: what it did is done
    assert (silent["stdout"], silent["stderr"]) == ("so far", "warn"), silent
    assert (silent_host["stdout"], silent_host["stderr"]) == ("so far", "warn"), silent_host
    assert silent_stdin["stdout"] == "echoed", silent_stdin
    assert ran_on([silent, silent_host]) == ["controller", "host"]


def test_a_tls_engine_runs_commands_and_refuses_stdin(lab, play, running):
    """tcp:// with TLS (the module on the host): output as over the socket; stdin is refused
    before anything runs (a TLS connection cannot end its input and go on reading)."""
    tls = {"docker_host": "tcp://%s:2376" % lab.addr(H), "validate_certs": True,
           "ca_path": os.path.join(lab.dir, "tls", "ca.pem"),
           "client_cert": os.path.join(lab.dir, "tls", "cert.pem"),
           "client_key": os.path.join(lab.dir, "tls", "key.pem")}
    res = play(tasks(
        ({"container": "ex-web", "argv": [BB, "sh", "-c", "echo over tls; echo e >&2"], **tls}, None),
        ({"container": "ex-web", "argv": [BB, "sh", "-c", "cat > %s/ex-tls.txt" % T], "stdin": "x", **tls}, None),
    ))
    ran, refused = results_in_order(res)
    assert (ran["rc"], ran["stdout"], ran["stderr"], ran["execution"]) == (0, "over tls", "e", "host"), ran
    assert refused["status"] == "failed" and not refused["changed"], refused
    assert refused["msg"].startswith("stdin: cannot be sent to the engine at tcp://"), refused
    assert read_file(running, T + "/ex-tls.txt") is None


def _ssh_home(lab, tmp_path):
    """A HOME for the controller's SSH to the lab host (paramiko reads HOME's ssh config), and
    an ssh command that reads the same config (OpenSSH reads the passwd entry's home)."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    shutil.copy(os.path.join(lab.dir, "known_hosts"), home / ".ssh" / "known_hosts")
    config = home / ".ssh" / "config"
    config.write_text("Host %s\n  IdentityFile %s\n  User root\n  UserKnownHostsFile %s\n"
                      "  StrictHostKeyChecking yes\n  BatchMode yes\n"
                      % (lab.addr(H), os.path.join(lab.dir, "id_ed25519"), home / ".ssh" / "known_hosts"))
    config.chmod(0o600)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "ssh").write_text('#!/bin/sh\nexec %s -F %s "$@"\n' % (shutil.which("ssh"), config))
    (bindir / "ssh").chmod(0o755)
    return {"HOME": str(home), "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
            "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
            "PATH": os.pathsep.join((str(bindir), os.path.join(REPO, ".venv", "bin"), os.environ["PATH"]))}


@pytest.mark.parametrize("use_ssh_client", [False, True], ids=["paramiko", "ssh-client"])
def test_an_ssh_engine_through_the_docker_sdk(lab, play, running, tmp_path, use_ssh_client):
    """docker_host ssh:// from the controller (delegate_to: localhost): the SDK's exec
    connection (paramiko's channel, or the ssh command's pipes) carries stdin and its end,
    the output as it comes, a give-up with the output so far, and a detached start."""
    ssh = {"docker_host": "ssh://root@%s" % lab.addr(H), "use_ssh_client": use_ssh_client}
    tag = "sshc" if use_ssh_client else "paramiko"
    play_ = yaml.safe_load(tasks(
        {"container": "ex-web", "argv": [BB, "sh", "-c", "cat > %s/ex-sdk-%s.txt; wc -c < %s/ex-sdk-%s.txt; echo e >&2"
                                         % (T, tag, T, tag)], "stdin": "through the sdk", **ssh},
        {"container": "ex-web", "argv": [BB, "sh", "-c", "head -c 300000 /dev/zero | tr '\\0' a; wc -c"],
         "stdin": "{{ 'x' * 200000 }}", **ssh},
        {"container": "ex-web", "argv": [BB, "sh", "-c", "echo so far; sleep 6"], "command_timeout": 2, **ssh},
        {"container": "ex-web", "argv": [BB, "sh", "-c", "echo tty"], "tty": True, **ssh},
        {"container": "ex-web", "argv": [BB, "sh", "-c", "%s; echo done > %s/ex-sdk-det-%s.txt"
                                         % (wait_for("ex-go-" + tag), T, tag)], "detach": True, **ssh},
        {"container": "ex-web", "argv": ["/no/such/program"], **ssh},
        {"container": "ex-web", "argv": [BB, "true"], "user": "nobody", "detach": True, **ssh},
    ))
    for task in play_[0]["tasks"]:
        task.update(delegate_to="localhost", vars={"ansible_python_interpreter": "{{ ansible_playbook_python }}"})
    res = play(yaml.safe_dump(play_), env=_ssh_home(lab, tmp_path))
    fed, big, silent, tty, detached, missing, detached_user = results_in_order(res)
    assert (fed["rc"], fed["stdout"], fed["stderr"]) == (0, "16", "e"), fed
    assert fed["execution"] == "host" and fed["invocations"] == 1, fed   # the module, on the controller
    assert read_file(running, "%s/ex-sdk-%s.txt" % (T, tag)) == b"through the sdk\n"
    assert big["rc"] == 0 and big["stdout"] == "a" * 300000 + "200001", big["stdout"][-40:]
    assert silent["status"] == "failed" and "(option command_timeout)" in silent["msg"], silent
    assert silent["stdout"] == "so far" and silent["changed"], silent
    assert tty["stdout"] == "tty", tty
    assert detached["changed"] and "rc" not in detached and detached["exec_id"], detached
    assert running.exec_inspect(detached["exec_id"])["Running"] is True
    assert missing["status"] == "failed" and not missing["changed"], missing
    assert missing["msg"].startswith("the command did not start in container ex-web (option argv): "), missing
    assert detached_user["status"] == "failed" and not detached_user["changed"], detached_user
    assert "(option user): unable to find user nobody" in detached_user["msg"], detached_user
    go_ahead(running, "ex-go-" + tag)
    assert wait_ended(running, [detached["exec_id"]])[0]["ExitCode"] == 0
    assert read_file(running, "%s/ex-sdk-det-%s.txt" % (T, tag)) == b"done\n"
