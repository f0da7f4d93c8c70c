"""module_utils/_exec.py (dockyard.fleet.container_exec) against a scripted engine: the
calls a run makes, what it returns, and how it fails. The exec's stream is a real socket
pair: the scripted engine's end reads the command's input to its end (the half-close) and
writes frames, as the engine does on the connection it hands over."""
from __future__ import annotations

import socket
import struct
import threading
import time

import pytest

from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import DockerError
from ansible_collections.dockyard.fleet.plugins.module_utils._exec import (
    SPEC_RULES, Silent, Stream, attached_run, exec_argument_spec, exec_main, not_started,
    output_text, stdin_bytes)
from ansible_collections.dockyard.fleet.plugins.module_utils._container_spec import SpecError
from ansible_collections.dockyard.fleet.plugins.module_utils._exec import parse
from ansible_collections.dockyard.fleet.tests.unit.plugins.module_utils.controller_run import run_main

CID = "c" * 64
EID = "e" * 64
# what Docker 20.10 said on the lab, for each way a command does not start
MISSING = ('OCI runtime exec failed: exec failed: unable to start container process: exec: '
           '"/no/such": stat /no/such: no such file or directory: unknown')
NOT_IN_PATH = ('OCI runtime exec failed: exec failed: unable to start container process: exec: '
               '"nosuchprog": executable file not found in $PATH: unknown')
NOT_EXECUTABLE = ('OCI runtime exec failed: exec failed: unable to start container process: exec: '
                  '"/www": permission denied: unknown')
NO_USER = "unable to find user nobody: no matching entries in passwd file"
NO_GROUP = "unable to find group nogroup: no matching entries in group file"
NO_DIR = ('OCI runtime exec failed: exec failed: unable to start container process: chdir to cwd '
          '("/no/such/dir") set in config.json failed: no such file or directory: unknown')
NO_CAPS = ('OCI runtime exec failed: exec failed: unable to start container process: unable to '
           'apply caps: operation not permitted: unknown')


def frame(stream, payload):
    return struct.pack(">BxxxI", stream, len(payload)) + payload


def read_to_end(sock):
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def says(*chunks, read_input=False, pause=0.0):
    """An engine end that writes chunks (after reading the input to its end, with
    read_input), then stays silent for pause seconds before it closes."""
    def serve(sock):
        if read_input:
            read_to_end(sock)
        for chunk in chunks:
            sock.sendall(chunk)
        time.sleep(pause)
    return serve


def echo(sock):
    """cat on stdout, its byte count on stderr: the input read to its end, then the output."""
    data = read_to_end(sock)
    sock.sendall(frame(1, data) + frame(2, b"%d\n" % len(data)))


class Engine:
    """An engine with one container, web; logs every call. serve(sock): what the engine's
    end of the exec's connection does; code, pid: the exec's inspect; start_error: what a
    detached start raises."""

    engine = object()   # as DockerClient with the collection's own client

    def __init__(self, running=True, serve=says(frame(1, b"hello\n")), code=0, pid=4242,
                 start_error=None, conn=None, sock=None):
        self.log = []
        self.sock = sock
        self.running, self.serve, self.code, self.pid = running, serve, code, pid
        self.start_error = start_error
        self.conn = conn or {"host": "unix:///var/run/docker.sock", "tls": False}
        self.shown_host = self.conn["host"]
        self.served = None

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
            return {"Id": EID}
        if method == "exec_start":
            if kwargs.get("detach"):
                if self.start_error:
                    raise self.start_error
                return b""
            if self.sock is not None:
                return self.sock
            ours, theirs = socket.socketpair()

            def serve():
                try:
                    self.serve(theirs)
                finally:
                    theirs.close()
            self.served = threading.Thread(target=serve, daemon=True)
            self.served.start()
            return ours
        if method == "exec_inspect":
            return {"ExitCode": self.code, "Pid": self.pid, "Running": False}
        raise AssertionError(method)


def run(params, check_mode=False, **engine_kw):
    engine = Engine(**engine_kw)
    return run_main(exec_argument_spec(), exec_main, engine, params, check_mode), engine.log


def calls(log):
    return [entry[0] for entry in log]


def test_a_command_runs_and_returns_its_output_and_code():
    result, log = run({"container": "web", "command": "echo 'a b' c", "env": {"N": 1, "T": True},
                       "user": "0", "chdir": "/tmp"},
                      serve=says(frame(1, b"a b c\n"), frame(2, b"warning\n")))
    assert result["changed"] and not result.get("failed"), result
    assert (result["rc"], result["stdout"], result["stderr"]) == (0, "a b c", "warning")
    assert result["stdout_lines"] == ["a b c"] and result["argv"] == ["echo", "a b", "c"]
    assert result["container"] == {"id": CID, "name": "web"} and result["exec_id"] == EID
    assert log[1] == ("exec_create", (CID, ["echo", "a b", "c"]), {
        "stdout": True, "stderr": True, "stdin": False, "tty": False, "privileged": False,
        "user": "0", "environment": {"N": "1", "T": "true"}, "workdir": "/tmp"})
    assert log[2] == ("exec_start", (EID,), {"tty": False, "socket": True})
    assert calls(log) == ["inspect_container", "exec_create", "exec_start", "exec_inspect"]


def test_argv_is_taken_as_it_is_and_privileged_goes_to_the_engine():
    result, log = run({"container": "web", "argv": ["echo", "a b", "*"], "privileged": True})
    assert result["argv"] == ["echo", "a b", "*"] and result["stdout"] == "hello"
    assert log[1][1] == (CID, ["echo", "a b", "*"]) and log[1][2]["privileged"] is True


def test_stdin_is_written_and_ended_so_the_command_reads_its_end():
    # command_timeout: an input never ended fails the test instead of hanging it
    result, log = run({"container": "web", "command": "cat", "command_timeout": 10, "stdin": "select 1;\nselect 2;"},
                      serve=echo)
    assert log[1][2]["stdin"] is True
    assert result["stdout"] == "select 1;\nselect 2;" and result["stderr"] == "20", result
    # exactly the text, no newline added, and the output exactly as it came
    result, _log = run({"container": "web", "command": "cat", "command_timeout": 10, "stdin": "x\n\n", "stdin_add_newline": False,
                        "strip_empty_ends": False}, serve=echo)
    assert (result["stdout"], result["stderr"]) == ("x\n\n", "3\n")
    # an empty stdin: attached, and ended at once
    result, log = run({"container": "web", "command": "cat", "command_timeout": 10, "stdin": "", "stdin_add_newline": False},
                      serve=echo)
    assert log[1][2]["stdin"] is True and (result["stdout"], result["stderr"]) == ("", "0")


def test_stdin_larger_than_the_socket_buffers_while_output_comes():
    big = "y" * 3000000

    def busy(sock):   # writes much before it reads its input
        sock.sendall(frame(1, b"a" * 2000000))
        data = read_to_end(sock)
        sock.sendall(frame(2, b"%d\n" % len(data)))
    result, _log = run({"container": "web", "command": "cat", "command_timeout": 10, "stdin": big}, serve=busy)
    assert len(result["stdout"]) == 2000000 and result["stderr"] == "3000001"


def test_output_is_stripped_of_trailing_newlines_unless_strip_empty_ends_is_false():
    serve = says(frame(1, b"a\n\n"), frame(2, b"b\r\n"))
    result, _log = run({"container": "web", "command": "x"}, serve=serve)
    assert (result["stdout"], result["stderr"]) == ("a", "b")
    result, _log = run({"container": "web", "command": "x", "strip_empty_ends": False}, serve=serve)
    assert (result["stdout"], result["stderr"]) == ("a\n\n", "b\r\n")
    assert result["stdout_lines"] == ["a", ""]


def test_a_tty_exec_is_one_raw_stream():
    raw = b"\x01\0\0\0\0\0\0\x05hello world\r\n"   # starts like a frame header: still raw
    result, log = run({"container": "web", "command": "x", "tty": True}, serve=says(raw))
    assert result["stdout"] == raw.decode().rstrip("\r\n") and result["stderr"] == ""
    assert log[2][2] == {"tty": True, "socket": True}


def test_a_non_zero_exit_fails_with_the_last_line_of_stderr():
    result, _log = run({"container": "web", "command": ["false"]},
                       serve=says(frame(2, b"one\nboom\n")), code=3)
    assert result["failed"] and result["changed"] and result["rc"] == 3
    assert result["msg"] == "the command exited with 3 in container web: boom"
    assert result["stderr_lines"] == ["one", "boom"]


@pytest.mark.parametrize("params,text,msg", [
    ({"command": "/no/such"}, MISSING, "(option command): " + MISSING),
    ({"argv": ["/no/such"]}, MISSING, "(option argv): " + MISSING),
    ({"command": "x", "user": "nobody"}, NO_USER, "(option user): " + NO_USER),
    ({"command": "x", "chdir": "/no/such/dir"}, NO_DIR, "(option chdir): " + NO_DIR),
    ({"command": "x", "privileged": True}, NO_CAPS, "(option privileged): " + NO_CAPS),
])
def test_a_command_that_never_started_fails_unchanged_naming_the_option(params, text, msg):
    result, _log = run(dict(params, container="web"), serve=says(frame(1, text.encode() + b"\r\n")),
                       code=126, pid=0)
    assert result["failed"] and not result["changed"], result
    assert result["msg"] == "the command did not start in container web " + msg
    assert "rc" not in result and "stdout" not in result and result["exec_id"] == EID


def test_a_command_that_ran_and_exited_127_is_not_taken_for_one_that_never_started():
    result, _log = run({"container": "web", "command": "sh -c nosuch"},
                       serve=says(frame(2, b"sh: nosuch: not found\n")), code=127, pid=31)
    assert result["changed"] and result["rc"] == 127
    assert result["msg"] == "the command exited with 127 in container web: sh: nosuch: not found"


def test_detach_starts_the_command_and_returns_its_exec_id():
    result, log = run({"container": "web", "command": "sleep 60", "detach": True, "tty": True})
    assert result["changed"] and not result.get("failed") and result["exec_id"] == EID
    assert "rc" not in result and "stdout" not in result
    assert log[2] == ("exec_start", (EID,), {"detach": True, "tty": True})
    assert calls(log) == ["inspect_container", "exec_create", "exec_start"]


def test_a_detached_command_that_cannot_start_fails_unchanged_naming_the_option():
    refused = DockerError("Docker engine refused exec_start: " + NO_USER)
    result, log = run({"container": "web", "command": "true", "detach": True, "user": "nobody"},
                      start_error=refused, code=126, pid=0)
    assert result["failed"] and not result["changed"]
    assert result["msg"] == "the command did not start in container web (option user): " + NO_USER
    assert calls(log)[-1] == "exec_inspect"
    # an error that is not one of these is the engine's, as it said it
    other = DockerError("Docker engine refused exec_start: Container web is paused")
    result, _log = run({"container": "web", "command": "true", "detach": True}, start_error=other,
                       code=None, pid=0)
    assert result["failed"] and result["msg"] == str(other)


def test_check_mode_checks_the_container_and_runs_nothing():
    result, log = run({"container": "web", "command": ["migrate"], "stdin": "x"}, check_mode=True)
    assert result["skipped"] and not result["changed"] and "would run" in result["msg"]
    assert log == [("inspect_container", "web")]


@pytest.mark.parametrize("params,engine_kw,msg", [
    ({"container": "gone", "command": "true"}, {}, "container gone not found (option container)"),
    ({"container": "web", "command": "true"}, {"running": False},
     "container web is exited, not running: a command cannot run in it (option container)"),
    ({"container": "web", "command": ""}, {}, "command: must not be empty"),
    ({"container": "web", "argv": []}, {}, "argv: must not be empty"),
    ({"container": "web"}, {},
     "command: give the command to run, as command (a list, or a string split into words) or argv (a list)"),
    ({"container": "web", "command": "true", "argv": ["true"]}, {}, "command: give command or argv, not both"),
    ({"container": "web", "command": "echo 'open"}, {}, "command: cannot split"),
    ({"container": "web", "command": "true", "env": {"A=B": 1}}, {}, "env: invalid variable name"),
    ({"container": "web", "command": "true", "chdir": "rel"}, {}, "chdir: must be an absolute path"),
    ({"container": "web", "command": "true", "command_timeout": 0}, {}, "command_timeout: must be positive"),
    ({"container": "web", "command": "cat", "stdin": "x", "detach": True}, {},
     "stdin: cannot be given with detach=true"),
    ({"container": "web", "command": "cat", "stdin": "", "detach": True}, {},
     "stdin: cannot be given with detach=true"),
    ({"container": "web", "command": "cat", "stdin": "x", "tty": True}, {},
     "stdin: cannot be given with tty=true"),
    ({"container": "web", "command": "sleep 9", "detach": True, "command_timeout": 5}, {},
     "command_timeout: has no use with detach=true"),
    ({"container": "web", "command": "cat", "stdin": "x"},
     {"conn": {"host": "tcp://10.0.0.1:2376", "tls": True}}, "stdin: cannot be sent to the engine at "
                                                             "tcp://10.0.0.1:2376 over TLS"),
])
def test_bad_input_and_a_container_that_does_not_run_fail_before_any_exec(params, engine_kw, msg):
    result, log = run(params, **engine_kw)
    assert result["failed"] and result["msg"].startswith(msg), result
    assert not result["changed"]
    assert not [entry for entry in log if entry[0].startswith("exec")]


def test_the_module_rules_name_command_and_argv():
    assert SPEC_RULES == {"mutually_exclusive": [("command", "argv")],
                          "required_one_of": [("command", "argv")]}


def test_a_command_silent_past_command_timeout_fails_with_its_output_so_far():
    serve = says(frame(1, b"before\n"), frame(2, b"warn"), pause=5)
    started = time.monotonic()
    result, log = run({"container": "web", "command": "sleep 99", "command_timeout": 1}, serve=serve)
    assert time.monotonic() - started < 4
    assert result["failed"] and "(option command_timeout)" in result["msg"], result
    assert result["changed"] and (result["stdout"], result["stderr"]) == ("before", "warn")
    assert "rc" not in result and calls(log)[-1] == "exec_start"


class _Resetting:
    """A connection the engine resets after the first frame."""

    def __init__(self):
        self.reads = 0

    def settimeout(self, timeout):
        pass

    def recv(self, size):
        self.reads += 1
        if self.reads == 1:
            return frame(1, b"partial\n")
        raise ConnectionResetError(104, "Connection reset by peer")

    def shutdown(self, how):
        pass

    def close(self):
        pass


def test_a_stream_that_breaks_off_fails_with_its_output_so_far():
    result, _log = run({"container": "web", "command": "x"}, sock=_Resetting())
    assert result["failed"] and result["changed"] and result["stdout"] == "partial", result
    assert "broke off" in result["msg"] and "Connection reset by peer" in result["msg"]


# ------------------------------------------------------------------ the pure parts
@pytest.mark.parametrize("rc,pid,text,params,found", [
    (126, 0, MISSING + "\r\n", {}, ("command", MISSING)),
    (126, 0, MISSING, {"argv": ["/no/such"]}, ("argv", MISSING)),
    (126, 0, NOT_IN_PATH, {}, ("command", NOT_IN_PATH)),
    (126, 0, NOT_EXECUTABLE, {}, ("command", NOT_EXECUTABLE)),
    (126, 0, NO_USER, {"user": "nobody"}, ("user", NO_USER)),
    (126, 0, NO_GROUP, {"user": "0:nogroup"}, ("user", NO_GROUP)),
    (126, 0, NO_DIR, {"chdir": "/no/such/dir"}, ("chdir", NO_DIR)),
    (126, 0, NO_CAPS, {"privileged": True}, ("privileged", NO_CAPS)),
    (126, 0, NO_CAPS, {"privileged": False}, (None, NO_CAPS)),    # not one of the options
    (127, 0, MISSING, {}, ("command", MISSING)),                    # what other engines answer
    (126, None, MISSING, {}, ("command", MISSING)),                 # an engine that gives no Pid
    (126, 0, "OCI runtime exec failed: exec failed: something new: unknown", {},
     (None, "OCI runtime exec failed: exec failed: something new: unknown")),
    # the command ran: a process, or not the engine's words, or not its codes
    (127, 31, MISSING, {}, None),
    (126, 31, "OCI runtime exec failed: exec failed: x", {}, None),
    (127, 0, "sh: nosuch: not found", {}, None),
    (127, 0, "", {}, None),
    (1, 0, MISSING, {}, None),
    (0, 0, MISSING, {}, None),
    (None, 0, MISSING, {}, None),
])
def test_never_started_is_told_by_code_process_and_the_engine_s_words(rc, pid, text, params, found):
    assert not_started(rc, pid, text, params) == found


def test_stdin_bytes_and_output_text():
    assert stdin_bytes(None) is None and stdin_bytes("", True) == b"\n" and stdin_bytes("", False) == b""
    assert stdin_bytes("é", False) == "é".encode("utf-8") and stdin_bytes("a\n") == b"a\n\n"
    assert output_text(None) == "" and output_text(b"a\r\n\n") == "a" and output_text(b"\na\n ") == "\na\n "
    assert output_text(b"a\r\n\n", strip_empty_ends=False) == "a\r\n\n"
    assert output_text(b"\xff\n") == "\ufffd"


def test_parse_returns_the_input_as_bytes():
    base = {"container": "web", "command": "cat", "stdin_add_newline": True}
    assert parse(dict(base, stdin="a"))[2] == b"a\n"
    assert parse(dict(base, stdin=None))[2] is None
    with pytest.raises(SpecError, match="^stdin: "):
        parse(dict(base, stdin="a", detach=True))


def test_attached_run_half_closes_and_reads_to_the_end_over_a_socket_pair():
    ours, theirs = socket.socketpair()
    seen = []

    def engine():
        seen.append(read_to_end(theirs))   # returns only on the half-close
        theirs.sendall(frame(1, b"done\n"))
        theirs.close()
    threading.Thread(target=engine, daemon=True).start()
    assert attached_run(Stream(ours), b"input\n", timeout=5) == frame(1, b"done\n")
    assert seen == [b"input\n"]


def test_attached_run_without_input_leaves_the_input_open_and_gives_up_when_silent():
    ours, theirs = socket.socketpair()
    theirs.sendall(b"so far")
    with pytest.raises(Silent) as gave_up:
        attached_run(Stream(ours), None, timeout=0.3)
    assert gave_up.value.data == b"so far"
    theirs.settimeout(1)
    assert theirs.recv(10) == b""   # closed by the give-up, never half-closed before
    theirs.close()


class _ChannelFile:
    """paramiko's ChannelFile as the SDK's HTTP parser leaves it: bytes read ahead."""
    _rbuffer = b"\x01\0\0\0\0\0\0\x03ahe"


class _Response:
    def __init__(self, fp):
        self.raw = type("Raw", (), {"_fp": type("HTTPResponse", (), {"fp": fp})()})()


class _Channel:
    """paramiko's Channel, as far as the run uses it."""

    def __init__(self, sock):
        self.sock, self.closed_write, self.timeout = sock, False, "unset"
        self._response = _Response(_ChannelFile())

    def settimeout(self, timeout):
        self.timeout = timeout

    def recv(self, size):
        return self.sock.recv(size)

    def sendall(self, data):
        self.sock.sendall(data)

    def shutdown_write(self):
        self.closed_write = True
        self.sock.shutdown(socket.SHUT_WR)

    def close(self):
        self.sock.close()


def test_an_sdk_channel_gives_what_its_parser_read_ahead_first_and_is_half_closed_its_way():
    ours, theirs = socket.socketpair()
    channel = _Channel(ours)

    def engine():
        read_to_end(theirs)
        theirs.sendall(b"ad")
        theirs.close()
    threading.Thread(target=engine, daemon=True).start()
    stream = Stream(channel)
    assert channel.timeout is None   # no SDK timeout on the command's silence
    assert attached_run(stream, b"x", timeout=5) == b"\x01\0\0\0\0\0\0\x03ahead"
    assert channel.closed_write
