"""The stdlib Engine API client: request shaping, stream decoding, error mapping, and the
create body compared with what the Docker SDK would send for the same spec."""
from __future__ import annotations

import json
import os
import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from socketserver import ThreadingMixIn

import pytest

from ansible_collections.dockyard.fleet.plugins.module_utils._container_engine import (
    ContainerEngine, apply, create_config)
from ansible_collections.dockyard.fleet.plugins.module_utils._container_spec import parse_spec
from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import (
    DockerClient, DockerError, _sdk_update)
from ansible_collections.dockyard.fleet.plugins.module_utils._engine_api import (
    EngineAPI, convert_filters, demux, json_stream, split_streams, update_body)


def test_filters_are_lists_of_strings():
    assert json.loads(convert_filters({"label": "a=b", "dangling": True, "n": 3})) == {
        "label": ["a=b"], "dangling": ["true"], "n": ["3"]}
    assert json.loads(convert_filters({"label": ["x", "y"]})) == {"label": ["x", "y"]}


def test_json_stream_splits_concatenated_documents():
    body = b'{"stream":"Loaded image: a:v1\\n"}\r\n{"status":"x"}{"error":"boom"}\n'
    assert json_stream(body) == [{"stream": "Loaded image: a:v1\n"}, {"status": "x"},
                                 {"error": "boom"}]
    assert json_stream(b"") == []
    assert json_stream(b'{"a": 1} not json') == [{"a": 1}, {"stream": "not json"}]


def test_demux_strips_frame_headers_and_keeps_raw_bodies():
    frames = struct.pack(">BxxxI", 1, 3) + b"out" + struct.pack(">BxxxI", 2, 4) + b"err\n"
    assert demux(frames) == b"outerr\n"
    assert demux(b"plain tty output\n") == b"plain tty output\n"


def test_exec_output_splits_into_stdout_and_stderr_as_the_sdks():
    frames = (struct.pack(">BxxxI", 1, 3) + b"out" + struct.pack(">BxxxI", 2, 4) + b"err\n"
              + struct.pack(">BxxxI", 1, 2) + b"!\n")
    assert split_streams(frames) == (b"out!\n", b"err\n")
    assert split_streams(struct.pack(">BxxxI", 1, 2) + b"ok") == (b"ok", None)
    assert split_streams(b"a tty's output\r\n") == (b"a tty's output\r\n", None)
    assert split_streams(b"") == (None, None)
    # a TTY's raw bytes that happen to start like a frame header stay whole when the caller knows
    looks_framed = b"\x01\0\0\0\0\0\0\x05hello world"
    assert split_streams(looks_framed) == (b"hello", None)   # guessed: a frame
    assert split_streams(looks_framed, tty=True) == (looks_framed, None)


def test_paths_are_versioned_only_when_pinned():
    assert EngineAPI("unix:///x.sock")._path("/containers/{0}/json", "a b") == "/containers/a%20b/json"
    assert EngineAPI("unix:///x.sock", version="1.41")._path("/images/{0}/json", "r/x:v1") == \
        "/v1.41/images/r/x:v1/json"


def test_tcp_addresses():
    api = EngineAPI("tcp://10.0.0.1:2375")
    assert api._host == ("10.0.0.1", 2375) and api._unix is None
    assert EngineAPI("unix://")._unix == "/var/run/docker.sock"
    with pytest.raises(ValueError):
        EngineAPI("ftp://x")


# ------------------------------------------------------------------ a tiny engine on a socket
class _Engine(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list = []

    def log_message(self, *args):  # quiet
        pass

    def _answer(self, status, body, ctype="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        if self.headers.get("Transfer-Encoding") == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().strip(), 16)
                chunk = self.rfile.read(size + 2)[:-2]
                if not size:
                    return out
                out += chunk
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self):
        self.seen.append(("GET", self.path))
        if self.path.startswith("/containers/missing/json"):
            self._answer(404, {"message": "No such container: missing"})
        else:
            self._answer(200, {"path": self.path})

    def do_POST(self):
        body = self._body()
        self.seen.append(("POST", self.path, body))
        if self.path.startswith("/containers/create"):
            self._answer(409, {"message": "Conflict. The container name is already in use"})
        elif self.path.startswith("/images/load"):
            self._answer(200, b'{"stream":"Loaded image: a:v1\\n"}\n', "application/json")
        elif self.path.endswith("/exec"):
            self._answer(201, {"Id": "e1"})
        else:
            self._answer(204, b"", "text/plain")


class _UnixServer(ThreadingMixIn, HTTPServer):
    address_family = socket.AF_UNIX
    daemon_threads = True

    def server_bind(self):
        self.socket.bind(self.server_address)
        self.server_name, self.server_port = "engine", 0


@pytest.fixture()
def engine(tmp_path):
    path = str(tmp_path / "engine.sock")
    server = _UnixServer(path, _Engine)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Engine.seen = []
    yield path
    server.shutdown()
    server.server_close()


def test_calls_errors_and_keep_alive(engine, tmp_path):
    client = DockerClient({"docker_host": "unix://" + engine, "timeout": 5}, environ={})
    assert client.engine is not None
    got = client.call("containers", all=True, filters={"label": "dockyard.app=x"})
    assert got["path"].startswith("/containers/json?all=1&filters=")
    assert client.get("inspect_container", "missing") is None
    with pytest.raises(DockerError) as err:
        client.call("create_container_from_config", {"Image": "x"}, "web-1")
    assert str(err.value) == ("Docker engine refused create_container: Conflict. The container "
                              "name is already in use")
    client.call("stop", "web-1", timeout=3)
    archive = tmp_path / "a.tar"
    archive.write_bytes(b"x" * 70000)
    with open(archive, "rb") as f:
        assert client.call("load_image", f) == [{"stream": "Loaded image: a:v1\n"}]
    assert ("POST", "/containers/web-1/stop?t=3", b"") in _Engine.seen
    assert [s[2] for s in _Engine.seen if s[1].startswith("/images/load")] == [b"x" * 70000]
    client.engine.close()


def test_stale_keep_alive_connection_is_reopened(engine):
    api = EngineAPI("unix://" + engine, timeout=5)
    api.version()
    # the engine closed the idle connection: the next call reconnects once
    api._conn.sock.shutdown(socket.SHUT_RDWR)
    assert api.info()["path"] == "/info"
    api.close()


def test_plugins_is_a_read(engine):
    """GET /plugins (network check mode reads the managed plugins): a read, no body."""
    api = EngineAPI("unix://" + engine, timeout=5)
    assert api.plugins()["path"] == "/plugins"
    assert ("GET", "/plugins") in _Engine.seen
    api.close()


def test_replicas_change_at_once_each_on_a_connection_of_its_own(engine):
    """apply_each: the jobs run in threads at once, each on its own keep-alive connection to
    the engine (closed at its end); every job runs to its end and the first failure in the
    jobs' order is raised; without the stdlib client (the SDK) they run one after the other."""
    from ansible_collections.dockyard.fleet.plugins.module_utils._container_engine import (
        ContainerEngine, apply_each)
    client = DockerClient({"docker_host": "unix://" + engine, "timeout": 5}, environ={})
    eng = ContainerEngine(client)
    barrier = threading.Barrier(3, timeout=5)   # all three in flight together, or it breaks
    conns = []

    def job(n):
        def run():
            barrier.wait()
            got = client.call("inspect_container", "web-%d" % n)
            conns.append(client.engine._conn)
            return got["path"]
        return run
    out = apply_each(eng, [("web-%d" % n, job(n)) for n in (1, 2, 3)])
    assert out == {"web-%d" % n: "/containers/web-%d/json" % n for n in (1, 2, 3)}
    assert len({id(c) for c in conns}) == 3 and all(c.sock is None for c in conns)   # closed

    done = []

    def fails(n):
        def run():
            done.append(n)
            if n > 1:
                raise DockerError("replica %d failed" % n)
            return n
        return run
    with pytest.raises(DockerError, match="replica 2 failed"):
        apply_each(eng, [(n, fails(n)) for n in (1, 2, 3)])
    assert sorted(done) == [1, 2, 3]

    order = []
    sdk = ContainerEngine(type("SDKClient", (), {"engine": None})())
    assert apply_each(sdk, [(n, lambda n=n: order.append(n) or n) for n in (1, 2)]) == {1: 1, 2: 2}
    assert order == [1, 2]
    client.engine.close()


def test_unreachable_socket_names_the_option(tmp_path):
    client = DockerClient({"docker_host": "unix://%s/none.sock" % tmp_path, "timeout": 2}, environ={})
    with pytest.raises(DockerError) as err:
        client.call("version")
    assert "(option docker_host)" in str(err.value) and not err.value.not_found


def test_ssh_engines_use_the_sdk():
    client = DockerClient({"docker_host": "ssh://root@10.0.0.1"}, environ={})
    assert client.engine is None


# ------------------------------------------------------------------ the create body
SPEC_PARAMS = dict(
    name="web-1", image="dockyard/demo:v1", command="serve --port 80", entrypoint=["/bin/sh", "-c"],
    env={"B": "2", "A": "1"}, labels={"x": "y"},
    published_ports=["8080:80", "127.0.0.1:9000:9000/udp", "81"],
    volumes=["/srv/data:/data:ro", "/cache"], restart_policy="on-failure", restart_retries=3,
    memory="64m", cpus=0.5,
    healthcheck={"test": "wget -q -O- http://127.0.0.1/", "interval": "2s", "retries": 3},
    user="1000", working_dir="/www", hostname="web", stop_signal="SIGTERM", stop_timeout=5,
    init=True, read_only=True, cap_add=["NET_ADMIN"], cap_drop=["ALL"], tmpfs=["/tmp:size=1m"],
    log_driver="json-file", log_options={"max-size": "1m"},
    privileged=True, security_opts=["no-new-privileges"], etc_hosts={"db": "10.0.0.5", "a": "::1"},
    dns_servers=["10.0.0.2", "1.1.1.1"], ulimits=["nofile:1024:2048", "nproc:512"],
    sysctls={"net.core.somaxconn": 1024}, shm_size="128m", devices=["/dev/null:/dev/xnull:rw"],
    pids_limit=100, memory_reservation="32m", cpu_shares=512, cpuset_cpus="1,0", memory_swap="96m",
)


def test_create_body_matches_the_sdk():
    """What the SDK's create_container(host_config=create_host_config(...)) would send for
    the same spec, key by key (the SDK is the reference the modules used before)."""
    docker = pytest.importorskip("docker")
    spec = parse_spec(dict(SPEC_PARAMS))
    ours = create_config(spec, "dockyard/demo:v1", {"dockyard.app": "web"})

    api = docker.APIClient(base_url="unix:///nonexistent.sock", version="1.41")
    bindings = {}
    for cport, ip, hport in spec["published_ports"]:
        num, proto = cport.split("/")
        key = int(num) if proto == "tcp" else cport
        bindings.setdefault(key, []).append((ip, hport) if ip else (hport or None))
    host = api.create_host_config(
        port_bindings=bindings, binds=["%s:%s:%s" % b for b in spec["volumes"]["binds"]],
        restart_policy={"Name": "on-failure", "MaximumRetryCount": 3}, mem_limit=spec["memory"],
        memswap_limit=96 * 1024 ** 2,
        cpu_period=100000, cpu_quota=50000, log_config={"Type": "json-file", "Config": {"max-size": "1m"}},
        init=True, read_only=True, cap_add=spec["cap_add"], cap_drop=spec["cap_drop"], tmpfs=spec["tmpfs"],
        privileged=True, security_opt=["no-new-privileges"], extra_hosts={"db": "10.0.0.5", "a": "::1"},
        dns=["10.0.0.2", "1.1.1.1"], sysctls={"net.core.somaxconn": "1024"}, shm_size=128 * 1024 ** 2,
        devices=["/dev/null:/dev/xnull:rw"], pids_limit=100, mem_reservation=32 * 1024 ** 2,
        cpu_shares=512, cpuset_cpus="0-1",
        ulimits=[docker.types.Ulimit(name="nofile", soft=1024, hard=2048),
                 docker.types.Ulimit(name="nproc", soft=512, hard=512)])
    exposed = []
    for cport, _ip, _hp in spec["published_ports"]:
        num, proto = cport.split("/")
        item = int(num) if proto == "tcp" else (int(num), proto)
        if item not in exposed:
            exposed.append(item)
    sdk = api.create_container_config(
        image="dockyard/demo:v1", command=spec["command"], entrypoint=spec["entrypoint"],
        environment=["%s=%s" % kv for kv in sorted(spec["env"].items())],
        labels={"x": "y", "dockyard.app": "web"}, ports=exposed, volumes=list(spec["volumes"]["anonymous"]),
        healthcheck=dict(spec["healthcheck"]), user="1000", working_dir="/www", hostname="web",
        stop_signal="SIGTERM", stop_timeout=5, host_config=host, detach=True)
    sdk = {k: v for k, v in sdk.items() if v not in (None, False, {}, []) or k in ours}
    ours_cmp = {k: v for k, v in ours.items() if v not in (None, False, {}, []) or k in sdk}
    sdk["HostConfig"] = {k: v for k, v in sdk["HostConfig"].items() if v not in (None, False, {}, [])}
    ours_cmp["HostConfig"] = {k: v for k, v in ours["HostConfig"].items() if v not in (None, False, {}, [])}
    # the SDK sends unset health check fields as null, which the engine reads as "default"
    sdk["Healthcheck"] = {k: v for k, v in sdk["Healthcheck"].items() if v is not None}
    for key in set(sdk) | set(ours_cmp):
        if key in ("NetworkDisabled",):
            continue
        assert json.loads(json.dumps(ours_cmp.get(key))) == json.loads(json.dumps(sdk.get(key))), key


@pytest.mark.parametrize("pids_limit, sent_pids", [(200, 200), (0, -1)])
def test_update_body_matches_the_sdk(monkeypatch, pids_limit, sent_pids):
    """The update body of ContainerEngine.update through our client, through the SDK's
    update_container (every in-place option it knows at once), and through the ssh:// path
    (_sdk_update: the SDK's request with our body, since the SDK has no pids_limit)."""
    docker = pytest.importorskip("docker")
    spec = parse_spec(dict(restart_policy="always", memory="128m", cpus=1.5,
                           memory_reservation="64m", cpu_shares=256, cpuset_cpus="0",
                           pids_limit=pids_limit))
    calls = []

    class Capture:
        def call(self, method, cid, **kwargs):
            calls.append((method, cid, kwargs))

    engine = ContainerEngine.__new__(ContainerEngine)
    engine.client = Capture()
    engine.update("cid", spec, {})
    [(method, cid, kwargs)] = calls
    assert method == "update_container"

    sent = {}
    ours = EngineAPI("unix:///nonexistent.sock")
    monkeypatch.setattr(ours, "request", lambda *a, **kw: sent.setdefault("ours", (a[2], kw["body"])))
    ours.update_container(cid, **kwargs)
    api = docker.APIClient(base_url="unix:///nonexistent.sock", version="1.41")
    monkeypatch.setattr(api, "_post_json", lambda url, data: sent.setdefault(len(sent), (url, data)))
    monkeypatch.setattr(api, "_result", lambda res, json=False: {})
    api.update_container(cid, **{k: v for k, v in kwargs.items() if k != "pids_limit"})
    _sdk_update(api, cid, **kwargs)
    path, body = sent["ours"]
    sdk_url, sdk_body = sent[1]
    ssh_url, ssh_body = sent[2]
    assert sdk_url == ssh_url and sdk_url.endswith("/v1.41" + path)
    assert ssh_body == body and body["PidsLimit"] == sent_pids
    assert {k: v for k, v in body.items() if k != "PidsLimit"} == sdk_body
    assert body["CpusetCpus"] == "0" and body["CpuShares"] == 256
    assert body["MemoryReservation"] == 64 * 1024 ** 2
    with pytest.raises(TypeError, match="blkio_weight"):
        update_body(blkio_weight=10)


def test_memory_and_memory_swap_are_updated_together():
    """A memory change sends the swap the task sets (unchanged, so not a difference itself),
    or keeps unlimited swap unlimited; a swap change alone sends the memory too."""
    def sent(params, diffs, host):
        calls = []

        class Capture:
            def call(self, method, cid, **kwargs):
                calls.append(kwargs)

        spec = parse_spec(params)
        decision = {"name": "w", "current": {"Id": "cid", "HostConfig": host}, "steps": ["update"],
                    "diffs": [{"option": o, "updatable": True} for o in diffs]}
        apply(ContainerEngine(Capture()), decision, spec, None)
        return calls[0]["mem_limit"], calls[0]["memswap_limit"]

    mib = 1024 ** 2
    host = {"Memory": 64 * mib, "MemorySwap": 256 * mib}
    assert sent({"memory": "96m", "memory_swap": "256m"}, ["memory"], host) == (96 * mib, 256 * mib)
    assert sent({"memory": "64m", "memory_swap": "-1"}, ["memory_swap"], host) == (64 * mib, -1)
    assert sent({"memory": "96m"}, ["memory"], dict(host, MemorySwap=-1)) == (96 * mib, -1)
    assert sent({"memory": "96m"}, ["memory"], host) == (96 * mib, 192 * mib)


def test_create_body_networks_and_mounts():
    nets = [{"name": "front", "aliases": ["web"]}, {"name": "back"}]
    spec = parse_spec(dict(name="w", image="i:1", networks=nets,
                           mounts=[{"target": "/run/x", "type": "tmpfs"}]))
    body = create_config(spec, "i:1")
    assert body["HostConfig"]["NetworkMode"] == "front"
    assert body["NetworkingConfig"] == {"EndpointsConfig": {"front": {"Aliases": ["web"]}}}
    assert body["HostConfig"]["Mounts"] == [{"Type": "tmpfs", "Source": None, "Target": "/run/x",
                                             "ReadOnly": False}]
    assert create_config(parse_spec(dict(name="w", image="i:1")), "i:1")["HostConfig"] == {
        "NetworkMode": "default"}


def test_module_utils_do_not_import_the_sdk_for_engine_calls():
    """The fast path must not pull in the SDK (its import is the cost this client removes)."""
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415
    code = ("import sys; from ansible_collections.dockyard.fleet.plugins.module_utils import "
            "_docker_client, _container_engine, _image, _network_volume, _info; "
            "print(any(m == 'docker' or m.startswith(('docker.', 'requests')) for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------ an exec's hijacked connection
def _hijacking_engine(path, answer, then=None):
    """A unix socket engine for one connection: reads the request, sends answer (the output
    may come in the same write as the 101's headers), then then(sock, request)."""
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(1)
    seen = {}

    def serve():
        conn, _addr = server.accept()
        request = b""
        while b"\r\n\r\n" not in request:
            request += conn.recv(1)
        head, _sep, _rest = request.partition(b"\r\n\r\n")
        size = int([h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")][0].split(b":")[1])
        seen["request"] = head.decode() + "\r\n\r\n" + conn.recv(size).decode()
        conn.sendall(answer)
        if then:
            then(conn, seen)
        conn.close()
        server.close()
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return seen, thread


def test_exec_start_with_socket_hands_over_the_connection_after_its_headers(tmp_path):
    """The headers are read to their end and no further: output that comes in the same write
    as the 101 stays for the caller; what the caller writes and half-closes reaches the engine."""
    path = str(tmp_path / "engine.sock")
    out = struct.pack(">BxxxI", 1, 6) + b"ready\n"

    def echo(conn, seen):
        data = b""
        while True:
            chunk = conn.recv(100)
            if not chunk:
                break
            data += chunk
        seen["stdin"] = data
        conn.sendall(struct.pack(">BxxxI", 2, len(data)) + data)
    seen, thread = _hijacking_engine(path, b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker."
                                           b"raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n" + out, echo)
    api = EngineAPI("unix://" + path, version="1.41", timeout=5)
    sock = api.exec_start("e1", tty=False, socket=True)
    sock.sendall(b"to stdin")
    sock.shutdown(socket.SHUT_WR)
    data = b""
    while True:
        chunk = sock.recv(100)
        if not chunk:
            break
        data += chunk
    sock.close()
    thread.join(5)
    assert split_streams(data) == (b"ready\n", b"to stdin") and seen["stdin"] == b"to stdin"
    request = seen["request"]
    assert request.startswith("POST /v1.41/exec/e1/start HTTP/1.1\r\n")
    assert "Connection: Upgrade\r\n" in request and "Upgrade: tcp\r\n" in request
    assert request.endswith('\r\n\r\n{"Detach": false, "Tty": false}')


def test_exec_start_with_socket_raises_the_engines_error(tmp_path):
    path = str(tmp_path / "engine.sock")
    body = b'{"message":"No such exec instance: e1"}\n'
    _seen, thread = _hijacking_engine(path, b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
                                            b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    client = DockerClient({"docker_host": "unix://" + path, "timeout": 5}, environ={})
    with pytest.raises(DockerError) as err:
        client.call("exec_start", "e1", socket=True)
    thread.join(5)
    assert err.value.not_found and str(err.value) == "Docker engine: No such exec instance: e1"


def test_exec_create_body_has_stdin_and_privileged_only_as_asked(engine):
    api = EngineAPI("unix://" + engine, timeout=5)
    assert api.exec_create("web", ["cat"], stdin=True, privileged=True, user="app", workdir="/srv") == {"Id": "e1"}
    api.exec_create("web", ["true"])
    bodies = [json.loads(s[2]) for s in _Engine.seen if s[1] == "/containers/web/exec"]
    assert bodies == [
        {"Cmd": ["cat"], "AttachStdin": True, "AttachStdout": True, "AttachStderr": True, "Tty": False,
         "Privileged": True, "User": "app", "WorkingDir": "/srv"},
        {"Cmd": ["true"], "AttachStdin": False, "AttachStdout": True, "AttachStderr": True, "Tty": False}]
    api.close()
