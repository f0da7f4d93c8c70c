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

Three things differ from separate `ansible-playbook` processes, all for CPU and none in what
runs: ansible.builtin's routing table is parsed and the collections' plugins compiled once,
in the server (`_parse_once`); the children share module payloads, per content of the
collections' plugins (`_ansiballz_cache`); and the payloads carry bytecode next to their
sources (`_bytecode_in_payloads`; a traceback from a module names its files by their paths
in the payload). `DOCKYARD_TEST_FORKSERVER=0` runs `ansible-playbook` instead, and
`DOCKYARD_TEST_PAYLOAD_BYTECODE=0` sends payloads as ansible makes them.

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
import shutil
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
               most: int = 4, slot: int = 0) -> ForkServer | None:
    """The server for runs in this environment and directory, started on first use; None once
    `most` servers run (the caller starts ansible-playbook as usual). Variables named in
    run_time_only may differ between the runs a server serves: ansible never reads them.
    `slot` picks one of several servers of the same environment, for runs made at the same
    moment from several threads (a server runs one at a time)."""
    key = (python, cwd, slot, tuple(sorted((k, v) for k, v in env.items() if k not in run_time_only)))
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
    if _ANSIBALLZ_ROOT:
        os.symlink(_ansiballz_cache(), os.path.join(C.DEFAULT_LOCAL_TMP, "ansiballz_cache"))
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


# The server's directory of module payloads the children share (see _ansiballz_cache).
_ANSIBALLZ_ROOT = None


def _collection_sources():
    """{path: bytes} of every .py file under plugins/ of the collections ansible finds."""
    from ansible import constants as C
    out = {}
    for root in C.COLLECTIONS_PATHS:
        top = os.path.join(root, "ansible_collections")
        for dirpath, dirnames, filenames in os.walk(top, followlinks=True):
            rel = os.path.relpath(dirpath, top).split(os.sep)
            if len(rel) >= 3 and rel[2] != "plugins":
                dirnames[:] = []
                continue
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__pycache__")
            for name in sorted(filenames):
                if name.endswith(".py") and len(rel) >= 4:
                    file = os.path.join(dirpath, name)
                    with open(file, "rb") as f:
                        out[file] = f.read()
    return out


def _ansiballz_cache() -> str:
    """The directory of module payloads for the collections' code as it is now.

    Ansible builds a module's payload (its zip of module_utils: finding them means parsing
    each one, 0.2-0.4 s of CPU per module) once per run, in a cache under the run's local
    temporary directory, keyed by the module's name only. The children share one cache per
    content of the collections' plugins (a digest of every file, read again by each child:
    a few milliseconds), so an edit made while the server runs gets payloads of its own.
    Ansible's own module_utils cannot change under a running server (they are imported)."""
    import hashlib
    digest = hashlib.sha256()
    for path, data in _collection_sources().items():
        digest.update(path.encode() + b"\0" + hashlib.sha256(data).digest())
    path = os.path.join(_ANSIBALLZ_ROOT, digest.hexdigest()[:20])
    os.makedirs(path, exist_ok=True)
    return path


def _parse_once() -> None:
    """Work every run repeats on the same bytes, done once here for all the children.

    - ansible.builtin's routing table (ansible's config/ansible_builtin_runtime.yml, 370 KB of
      YAML) is parsed in every run: 0.18 s of CPU. The collection loader parses it with
      `_meta_yml_to_dict`, called through a name of its own module, which ansible documents
      as meant to be replaced (its content_id argument is there for an implementation that
      caches). The replacement hands a child the table parsed here, once (each parse gives a
      new dict; so does this), and parses anything else as before.
    - The collection loader compiles a collection's plugins and module_utils from source in
      every run and in every worker that imports one (it keeps no bytecode): a tenth of a
      second to a few tenths per run. The loader calls `compile` through its module's
      globals; there, a `compile` that returns the code compiled here for the same file name
      and the same source (code objects are immutable), and compiles anything else.
    """
    import builtins
    from ansible.utils.collection_loader import _collection_finder, _collection_meta
    import ansible
    path = os.path.join(os.path.dirname(ansible.__file__), "config", "ansible_builtin_runtime.yml")
    with open(path, "rb") as f:
        raw = f.read()
    parse = _collection_meta._meta_yml_to_dict
    tables = {raw: parse(raw, ("ansible.builtin", "runtime.yml"))}

    def meta_yml_to_dict(data, content_id):
        table = tables.pop(data, None) if isinstance(data, bytes) else None
        return parse(data, content_id) if table is None else table

    codes = {}
    for file, source in _collection_sources().items():
        try:
            codes[(file, source)] = builtins.compile(source, file, "exec", 0, True)
        except SyntaxError:
            pass

    def compile_once(source, filename, mode, flags=0, dont_inherit=False, **kwargs):
        code = None
        if mode == "exec" and flags == 0 and dont_inherit and not kwargs:
            code = codes.get((filename, source))
        if code is None:
            code = builtins.compile(source, filename, mode, flags, dont_inherit, **kwargs)
        return code

    _collection_finder._meta_yml_to_dict = meta_yml_to_dict
    _collection_finder.compile = compile_once


class _WithBytecode:
    """A module payload's zip as ansible writes it, with bytecode next to each Python file."""

    def __init__(self, zf) -> None:
        self._zf = zf

    def writestr(self, zinfo, data, *args, **kwargs):
        import importlib.util
        import marshal
        import zipfile
        self._zf.writestr(zinfo, data, *args, **kwargs)
        name = zinfo.filename if isinstance(zinfo, zipfile.ZipInfo) else zinfo
        if not name.endswith(".py") or not isinstance(zinfo, zipfile.ZipInfo):
            return
        source = data.encode() if isinstance(data, str) else bytes(data)
        try:
            code = compile(source, name, "exec", dont_inherit=True)
        except SyntaxError:
            return
        # zipimport takes a .pyc only if its mtime and size are those of the .py's zip entry
        # (a DOS time: two-second steps, read as local time)
        y, mo, d, h, mi, sec = zinfo.date_time
        mtime = int(time.mktime((y, mo, d, h, mi, sec // 2 * 2, -1, -1, -1)))
        header = importlib.util.MAGIC_NUMBER + (0).to_bytes(4, "little")
        header += (mtime & 0xFFFFFFFF).to_bytes(4, "little") + (len(source) & 0xFFFFFFFF).to_bytes(4, "little")
        pyc = zipfile.ZipInfo(name + "c", zinfo.date_time)
        pyc.compress_type = zinfo.compress_type
        self._zf.writestr(pyc, header + marshal.dumps(code))

    def __getattr__(self, name):
        return getattr(self._zf, name)


def _bytecode_in_payloads() -> None:
    """Module payloads carry bytecode: on the host, Python imports from the payload's zip,
    where it can keep no bytecode, so every module run compiles ansible's module_utils and
    ours again (0.1 to 0.2 s of the host's CPU; the suite makes about 2,000 module runs).
    The payload gets, next to each .py, the .pyc that Python itself would have written; the
    host's Python takes it only if its own version wrote the same magic number, and its
    mtime and size are the source's (else it compiles the source as before). Same code, same
    files; only the compiling moves to the controller, once per payload (payloads are shared
    between runs, above). `DOCKYARD_TEST_PAYLOAD_BYTECODE=0` leaves payloads as ansible makes
    them; molecule, `start_playbook` and runs with an environment of their own always do."""
    from ansible.executor import module_common
    finder, add_module = module_common.recursive_finder, module_common._add_module_to_zip

    def recursive_finder(name, fqn, data, zf, *args, **kwargs):
        return finder(name, fqn, data, _WithBytecode(zf), *args, **kwargs)

    def add_module_to_zip(zf, *args, **kwargs):
        return add_module(_WithBytecode(zf), *args, **kwargs)

    module_common.recursive_finder = recursive_finder
    module_common._add_module_to_zip = add_module_to_zip


def serve() -> None:
    import importlib
    for name in PRELOAD:
        importlib.import_module(name)
    _parse_once()
    if os.environ.get("DOCKYARD_TEST_PAYLOAD_BYTECODE", "1") != "0":
        _bytecode_in_payloads()
    global _ANSIBALLZ_ROOT
    _ANSIBALLZ_ROOT = tempfile.mkdtemp(prefix="dockyard-ansiballz-")
    try:
        _serve()
    finally:
        shutil.rmtree(_ANSIBALLZ_ROOT, ignore_errors=True)


def _serve() -> None:
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
