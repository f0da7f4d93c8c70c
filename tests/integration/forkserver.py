"""A process that has imported ansible-playbook once and forks a child for each playbook run.

Why: every `ansible-playbook` start costs a second of CPU before the first task (imports, and
the YAML of ansible's own configuration), and the integration tests start several hundred of
them on a two-core machine. A child forked from this process skips the imports; everything
else (the configuration, the inventory, the collection loader, the plugins of the collection,
the run itself) happens in the child, exactly as in `ansible-playbook`: the child calls the
same `ansible.cli.playbook.main` with the same argv, environment and working directory.

The configuration is read when ansible is imported, so a server serves only runs whose
environment and working directory are the ones it was started with (`server_for` keys the
servers on them, leaving out DOCKYARD_RECORD and PYTEST_CURRENT_TEST, which differ from run
to run and which ansible never reads). Each child gets a local temporary directory of its
own: the one made at import belongs to the server, and the first child to exit would remove
it.

Protocol, one JSON object per line. Request on stdin: {"argv", "env", "cwd", "stdout",
"stderr"} (the last two are files the child writes). Replies on stdout: {"pid": N} once the
child is forked (it leads a process group of its own, for a kill on timeout), then
{"returncode": N, "cpu": seconds} once it has exited (a negative returncode is the signal
that ended it, as subprocess reports it; cpu counts the child and its workers). EOF on stdin
ends the server. `ForkServer` below is the tests' side of it.
"""
from __future__ import annotations

import atexit
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

# What a run imports after the CLI's own modules (seen in a run of playbooks/site.yml): the
# executor and the plugins every run of the tests loads. The server imports them once.
PRELOAD = (
    "ansible.cli.playbook", "ansible.executor.process.worker", "ansible.executor.task_executor",
    "ansible.plugins.action.normal", "ansible.plugins.cache.memory",
    "ansible.plugins.callback.default", "ansible.plugins.connection.local",
    "ansible.plugins.connection.ssh", "ansible.plugins.inventory.yaml",
    "ansible.plugins.shell.sh", "ansible.plugins.strategy.linear",
    "ansible.plugins.vars.host_group_vars",
)


class ServerGone(RuntimeError):
    pass


class ForkServer:
    """The tests' side: a server process started with one environment and working directory,
    and the runs it serves, one at a time (a test that runs playbooks from several threads at
    once gets None from `run` for all but one of them, and starts ansible-playbook itself)."""

    def __init__(self, python: str, env: dict, cwd: str) -> None:
        self._log = tempfile.TemporaryFile()
        self._proc = subprocess.Popen([python, os.path.abspath(__file__)], env=env, cwd=cwd,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=self._log)
        self._buf = b""
        self._busy = threading.Lock()

    def _reply(self, deadline: float | None) -> dict:
        fd = self._proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buf:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and (left <= 0 or not sel.select(left)):
                    raise TimeoutError
                chunk = os.read(fd, 65536)
                if not chunk:
                    self._log.seek(0)
                    raise ServerGone("the playbook fork server ended: %s"
                                     % self._log.read().decode(errors="replace")[-3000:])
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def run(self, cmd: list, env: dict, cwd: str, timeout: float | None,
            outdir: str) -> subprocess.CompletedProcess | None:
        """Like subprocess.run(cmd, capture_output=True, text=True, ...): the output, the exit
        status, and TimeoutExpired (the run's process group killed) past the timeout. None,
        and nothing run, while another thread's run is in progress."""
        if not self._busy.acquire(blocking=False):
            return None
        try:
            return self._run(cmd, env, cwd, timeout, outdir)
        finally:
            self._busy.release()

    def _run(self, cmd: list, env: dict, cwd: str, timeout: float | None,
             outdir: str) -> subprocess.CompletedProcess:
        out, err = os.path.join(outdir, "stdout"), os.path.join(outdir, "stderr")
        request = {"argv": cmd, "env": env, "cwd": cwd, "stdout": out, "stderr": err}
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            self._proc.stdin.write(json.dumps(request).encode() + b"\n")
            self._proc.stdin.flush()
        except OSError as exc:
            raise ServerGone("the playbook fork server ended") from exc
        pid = self._reply(None)["pid"]
        try:
            returncode = self._reply(deadline)["returncode"]
            timed_out = False
        except TimeoutError:
            for kill in (os.killpg, os.kill):   # the group, or the child before it made it
                try:
                    kill(pid, signal.SIGKILL)
                    break
                except ProcessLookupError:
                    continue
            returncode = self._reply(None)["returncode"]
            timed_out = True
        texts = []
        for path in (out, err):
            try:
                with open(path) as f:   # as subprocess's text mode reads it
                    texts.append(f.read())
                os.unlink(path)
            except FileNotFoundError:   # the child failed before it opened its output
                texts.append("")
        if timed_out:
            raise subprocess.TimeoutExpired(cmd, timeout, output=texts[0], stderr=texts[1])
        return subprocess.CompletedProcess(cmd, returncode, texts[0], texts[1])

    def close(self) -> None:
        try:
            self._proc.stdin.close()
            self._proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self._proc.kill()
            self._proc.wait()
        self._log.close()


_SERVERS: dict = {}
_SERVERS_LOCK = threading.Lock()


def server_for(python: str, env: dict, cwd: str, *,
               run_time_only=("DOCKYARD_RECORD", "PYTEST_CURRENT_TEST"),
               most: int = 2) -> ForkServer | None:
    """The server for runs in this environment and directory, started on first use; None once
    `most` servers run (the caller starts ansible-playbook as usual). Variables named in
    run_time_only may differ between the runs a server serves: ansible never reads them."""
    key = (python, cwd, tuple(sorted((k, v) for k, v in env.items() if k not in run_time_only)))
    with _SERVERS_LOCK:
        if key not in _SERVERS:
            if len(_SERVERS) >= most:
                return None
            if not _SERVERS:
                atexit.register(_close_servers)
            _SERVERS[key] = ForkServer(python, env, cwd)
        return _SERVERS[key]


def _close_servers() -> None:
    while _SERVERS:
        _SERVERS.popitem()[1].close()


# The server's side.

def _child(request: dict) -> int:
    os.setpgid(0, 0)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
        out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(out, fd)
        os.close(out)
    os.close(null)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = list(request["argv"])
    # A local temporary directory of the child's own, removed when it exits.
    from ansible import constants as C
    from ansible.utils.path import cleanup_tmp_file
    atexit.unregister(cleanup_tmp_file)
    C.DEFAULT_LOCAL_TMP = tempfile.mkdtemp(prefix="ansible-local-%d" % os.getpid(),
                                           dir=os.path.dirname(C.DEFAULT_LOCAL_TMP))
    atexit.register(cleanup_tmp_file, C.DEFAULT_LOCAL_TMP, warn=True)
    code = 0
    try:
        sys.modules["ansible.cli.playbook"].main(list(request["argv"]))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # what the interpreter would print, and its exit status
        traceback.print_exc()
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    return code


def serve() -> None:
    import importlib
    for name in PRELOAD:
        importlib.import_module(name)
    replies = os.fdopen(os.dup(1), "w")
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)   # nothing the server itself prints can corrupt the replies
    os.close(null)
    for line in sys.stdin:
        request = json.loads(line)
        replies.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            try:
                replies.close()
                os._exit(_child(request))
            except BaseException:
                os._exit(1)
        replies.write(json.dumps({"pid": pid}) + "\n")
        replies.flush()
        status, usage = os.wait4(pid, 0)[1:]
        replies.write(json.dumps({"returncode": os.waitstatus_to_exitcode(status),
                                  "cpu": round(usage.ru_utime + usage.ru_stime, 3)}) + "\n")
        replies.flush()


if __name__ == "__main__":
    serve()
