# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small Docker Engine API client on the standard library (http.client, json, ssl).

Why: importing the Docker SDK for Python (requests, urllib3, its credential helpers) costs
about 0.25 s of CPU per module run on a lab host, more than everything else a no-op
`service` run does; this client costs a few milliseconds. It speaks HTTP/1.1 to a unix
socket or to tcp:// (with TLS), and offers the subset of the SDK's low-level APIClient
methods the collection uses, with the same names and arguments, so DockerClient can hand
a call to either. Pulls, builds (registry auth, build contexts) and ssh:// engines go to
the SDK (see _docker_client.py).

Private to dockyard.fleet: no compatibility promise for code outside the collection.
"""
from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import ssl
import struct
import threading
from urllib.parse import quote, urlencode, urlsplit


class EngineAPIError(Exception):
    """The engine answered with an HTTP error status."""

    def __init__(self, status, explanation, method):
        super().__init__("%s %s" % (status, explanation))
        self.status = status
        self.explanation = explanation
        self.method = method


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.unix_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class _TLSConnection(http.client.HTTPConnection):
    """HTTPS to the engine; the certificate is checked against server_hostname (the
    engine's host unless tls_hostname says otherwise)."""

    def __init__(self, host, port, timeout, context, server_hostname):
        super().__init__(host, port, timeout=timeout)
        self.context = context
        self.server_hostname = server_hostname or host

    def connect(self):
        super().connect()
        self.sock = self.context.wrap_socket(self.sock, server_hostname=self.server_hostname)


def convert_filters(filters):
    """{'label': 'a=b', 'dangling': True} -> the JSON the engine expects ({key: [values]})."""
    out = {}
    for key, value in (filters or {}).items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        if not isinstance(value, (list, tuple)):
            value = [value]
        out[key] = [v if isinstance(v, str) else str(v) for v in value]
    return json.dumps(out, sort_keys=True)


def json_stream(data):
    """Decode a body of concatenated JSON documents (a progress stream) into a list."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    decoder = json.JSONDecoder()
    out, pos = [], 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return out
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except ValueError:
            out.append({"stream": text[pos:]})
            return out
        out.append(obj)


def frames(data, tty=None):
    """The body of a logs or exec call: 8-byte frame headers (stream, 0, 0, 0, size) when
    the container (or exec) has no TTY, raw bytes otherwise. -> [(stream, payload)]: stream
    1 stdout, 2 stderr (0 stdin); None for raw bytes. tty: whether there is a TTY, when the
    caller knows (raw bytes that start like a header are then not taken for one); None: told
    by the first bytes."""
    if tty or len(data) < 8 or data[0] not in (0, 1, 2) or data[1:4] != b"\0\0\0":
        return [(None, data)] if data else []
    out, pos = [], 0
    while pos + 8 <= len(data):
        size = struct.unpack(">I", data[pos + 4:pos + 8])[0]
        out.append((data[pos], data[pos + 8:pos + 8 + size]))
        pos += 8 + size
    return out


def demux(data):
    """The payload bytes of a logs body, the streams as they came (see frames)."""
    return b"".join(payload for _stream, payload in frames(data))


def split_streams(data, tty=None):
    """(stdout, stderr) bytes of an exec body, each None when nothing came on it (as the
    Docker SDK's exec_start(demux=True)); raw bytes (a TTY) count as stdout."""
    out = {1: [], 2: []}
    for stream, payload in frames(data, tty):
        out[2 if stream == 2 else 1].append(payload)
    return tuple(b"".join(out[k]) if out[k] else None for k in (1, 2))


STAT_HEADER = "x-docker-container-path-stat"


def path_stat(header):
    """The engine's stat of a path in a container, from its X-Docker-Container-Path-Stat
    header (base64 of JSON: name, size, mode as Go's os.FileMode, mtime, linkTarget); {} when
    there is none."""
    if not header:
        return {}
    try:
        return json.loads(base64.b64decode(header))
    except ValueError:
        return {}


# The update API's body, from the Docker SDK's update_container arguments (by their names,
# pids_limit added: the SDK has none for it, so the ssh:// path sends this body too).
_UPDATE_KEYS = (("restart_policy", "RestartPolicy"), ("mem_limit", "Memory"),
                ("memswap_limit", "MemorySwap"), ("cpu_period", "CpuPeriod"),
                ("cpu_quota", "CpuQuota"), ("mem_reservation", "MemoryReservation"),
                ("cpu_shares", "CpuShares"), ("cpuset_cpus", "CpusetCpus"),
                ("cpuset_mems", "CpusetMems"), ("pids_limit", "PidsLimit"))


def update_body(**resources):
    """The body of POST /containers/{id}/update: only the values given (None: left as is)."""
    unknown = set(resources) - {arg for arg, dummy in _UPDATE_KEYS}
    if unknown:
        raise TypeError("update_container: unknown arguments %s" % ", ".join(sorted(unknown)))
    return {key: resources[arg] for arg, key in _UPDATE_KEYS if resources.get(arg) is not None}


class _PerThread(threading.local):
    """A thread's keep-alive connection, and whether a request went over it yet."""
    conn = None
    used = False


class EngineAPI:
    """Connection to one engine for one module run.

    base_url: unix:///path, tcp://host:port (http+unix:// and https:// spellings too).
    version: an API version ("1.41") to pin, or "auto": unversioned paths, which the
    engine serves at its own (newest) API version, as the SDK's "auto" does after an
    extra /version round trip that this client does not need.
    """

    def __init__(self, base_url, version="auto", timeout=60, tls=None, tls_hostname=None):
        self.base_url = base_url
        self.tls_hostname = tls_hostname
        self.timeout = timeout
        self.pinned = None if version in (None, "", "auto") else str(version).lstrip("v")
        self._tls = tls
        # one keep-alive connection per thread (several replicas are changed at once, each
        # in a thread of its own: see _container_engine.apply_each)
        self._local = _PerThread()
        url = base_url
        if url.startswith("http+unix://"):
            url = "unix://" + url[len("http+unix://"):]
        if url.startswith("unix://"):
            self._unix = url[len("unix://"):] or "/var/run/docker.sock"
            self._host = None
        else:
            self._unix = None
            parts = urlsplit(url if "://" in url else "tcp://" + url)
            if parts.scheme not in ("tcp", "http", "https"):
                raise ValueError("unsupported engine address %s" % base_url)
            if parts.scheme == "https" and self._tls is None:
                self._tls = ssl.create_default_context()
            self._host = (parts.hostname, parts.port or (2376 if self._tls else 2375))

    # ---------------------------------------------------------------- transport
    @property
    def _conn(self):
        return self._local.conn

    @_conn.setter
    def _conn(self, conn):
        self._local.conn = conn

    def _connect(self, timeout):
        if self._unix is not None:
            return _UnixConnection(self._unix, timeout)
        host, port = self._host
        if self._tls:
            return _TLSConnection(host, port, timeout, self._tls, self.tls_hostname)
        return http.client.HTTPConnection(host, port, timeout=timeout)

    def close(self):
        """Close this thread's connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _path(self, template, *args):
        path = template.format(*(quote(str(a), safe="/:") for a in args))
        return ("/v%s%s" % (self.pinned, path)) if self.pinned else path

    def request(self, method, name, path, params=None, body=None, raw=False, timeout=None,
                headers=None, reply_headers=None):
        """One HTTP exchange; returns the decoded JSON (or bytes with raw=True). reply_headers:
        a dict the answer's headers are put in (lower-case names).

        Keeps the connection for the next call (keep-alive). A connection the engine closed
        while idle is reopened once, before anything was sent on it."""
        if params:
            query = urlencode([(k, v) for k, v in params.items() if v is not None])
            if query:
                path += "?" + query
        hdrs = {"Host": "docker"}
        if headers:
            hdrs.update(headers)
        payload = body
        if body is not None and not hasattr(body, "read") and not isinstance(body, bytes):
            payload = json.dumps(body).encode("utf-8")
            hdrs["Content-Type"] = "application/json"
        wanted_timeout = timeout or self.timeout
        for attempt in (0, 1):
            if self._conn is None:
                self._conn = self._connect(wanted_timeout)
                self._local.used = False
            elif self._conn.timeout != wanted_timeout:
                self._conn.timeout = wanted_timeout
                if self._conn.sock is not None:
                    self._conn.sock.settimeout(wanted_timeout)
            try:
                self._conn.request(method, path, body=payload, headers=hdrs)
                resp = self._conn.getresponse()
                data = resp.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                reused = self._local.used
                self.close()
                if attempt == 0 and reused and not hasattr(payload, "read"):
                    continue
                raise
            except Exception:
                self.close()
                raise
            self._local.used = True
            if reply_headers is not None:
                reply_headers.update((k.lower(), v) for k, v in resp.getheaders())
            if resp.getheader("Connection", "").lower() == "close":
                self.close()
            break
        if resp.status >= 400:
            explanation = data.decode("utf-8", "replace").strip()
            try:
                explanation = json.loads(explanation).get("message") or explanation
            except (ValueError, AttributeError):
                pass
            raise EngineAPIError(resp.status, explanation or resp.reason, name)
        if raw:
            return data
        if not data:
            return None
        ctype = resp.getheader("Content-Type", "")
        if "json" in ctype:
            try:
                return json.loads(data)
            except ValueError:
                return json_stream(data)
        return data

    # ---------------------------------------------------------------- system
    def version(self, timeout=None):
        return self.request("GET", "version", self._path("/version"), timeout=timeout)

    def info(self):
        return self.request("GET", "info", self._path("/info"))

    def df(self):
        return self.request("GET", "df", self._path("/system/df"))

    # ---------------------------------------------------------------- containers
    def containers(self, all=False, filters=None):  # pylint: disable=redefined-builtin
        params = {"all": 1 if all else 0}
        if filters:
            params["filters"] = convert_filters(filters)
        return self.request("GET", "containers", self._path("/containers/json"), params)

    def inspect_container(self, container):
        return self.request("GET", "inspect_container", self._path("/containers/{0}/json", container))

    def create_container_from_config(self, config, name=None):
        params = {"name": name} if name else None
        return self.request("POST", "create_container", self._path("/containers/create"),
                            params, body=config)

    def start(self, container):
        self.request("POST", "start", self._path("/containers/{0}/start", container))

    def stop(self, container, timeout=None):
        params = {"t": timeout} if timeout is not None else None
        wait = self.timeout + (timeout if timeout is not None else 10)
        self.request("POST", "stop", self._path("/containers/{0}/stop", container), params,
                     timeout=wait)

    def restart(self, container, timeout=None):
        params = {"t": timeout} if timeout is not None else None
        wait = self.timeout + (timeout if timeout is not None else 10)
        self.request("POST", "restart", self._path("/containers/{0}/restart", container), params,
                     timeout=wait)

    def pause(self, container):
        self.request("POST", "pause", self._path("/containers/{0}/pause", container))

    def unpause(self, container):
        self.request("POST", "unpause", self._path("/containers/{0}/unpause", container))

    def rename(self, container, name):
        self.request("POST", "rename", self._path("/containers/{0}/rename", container), {"name": name})

    def remove_container(self, container, force=False, v=False):
        self.request("DELETE", "remove_container", self._path("/containers/{0}", container),
                     {"force": 1 if force else 0, "v": 1 if v else 0})

    def update_container(self, container, **resources):
        return self.request("POST", "update_container",
                            self._path("/containers/{0}/update", container),
                            body=update_body(**resources))

    def logs(self, container, stdout=True, stderr=True, tail="all"):
        data = self.request("GET", "logs", self._path("/containers/{0}/logs", container),
                            {"stdout": 1 if stdout else 0, "stderr": 1 if stderr else 0,
                             "tail": tail}, raw=True)
        return demux(data)

    def exec_create(self, container, cmd, stdout=True, stderr=True, stdin=False, tty=False,
                    privileged=False, user="", environment=None, workdir=None):
        body = {"Cmd": list(cmd), "AttachStdin": bool(stdin), "AttachStdout": bool(stdout),
                "AttachStderr": bool(stderr), "Tty": bool(tty)}
        if privileged:
            body["Privileged"] = True
        if user:
            body["User"] = user
        if environment:
            body["Env"] = (["%s=%s" % kv for kv in sorted(environment.items())]
                           if isinstance(environment, dict) else list(environment))
        if workdir:
            body["WorkingDir"] = workdir
        return self.request("POST", "exec_create", self._path("/containers/{0}/exec", container),
                            body=body)

    def exec_start(self, exec_id, detach=False, tty=False, demux=False, timeout=None,  # pylint: disable=redefined-outer-name
                   socket=False):  # pylint: disable=redefined-outer-name
        """As the SDK's. detach: start the command and return at once (b''; an engine that
        cannot start it answers with an error). socket: the connection itself, handed over by
        the engine (exec_hijack). Else: run the exec to its end (the engine closes the stream
        then): its output, or with demux (stdout, stderr). timeout: seconds the command may go
        without output (the connection's timeout when None)."""
        path = self._path("/exec/{0}/start", exec_id)
        body = {"Detach": bool(detach), "Tty": bool(tty)}
        if detach:
            self.request("POST", "exec_start", path, body=body, raw=True, timeout=timeout)
            return b""
        if socket:
            return self.exec_hijack(exec_id, tty=tty, timeout=timeout)
        data = self.request("POST", "exec_start", path, body=body, raw=True, timeout=timeout)
        if demux:
            return split_streams(data, tty)
        return b"".join(payload for _stream, payload in frames(data, tty))

    def exec_hijack(self, exec_id, tty=False, timeout=None):
        """Start the exec on a connection of its own that the engine then hands over (HTTP
        Upgrade, answer 101): the connected socket, as the SDK's exec_start(socket=True). What
        is sent on it goes to the command's input (created with stdin; a half-close ends it),
        what comes is its output: frames (see frames), raw bytes with a TTY. The answer's
        headers are read a byte at a time, so nothing of the stream is read ahead of the
        caller. timeout: for the connection and the answer (the engine's timeout when None);
        EngineAPIError when the engine answers with an error."""
        payload = json.dumps({"Detach": False, "Tty": bool(tty)}).encode("utf-8")
        head = ("POST %s HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n"
                "Content-Length: %d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
                % (self._path("/exec/{0}/start", exec_id), len(payload)))
        conn = self._connect(timeout or self.timeout)
        conn.connect()
        sock = conn.sock
        try:
            sock.sendall(head.encode("latin-1") + payload)
            answer = b""
            while not answer.endswith(b"\r\n\r\n"):
                byte = sock.recv(1)
                if not byte:
                    raise http.client.RemoteDisconnected("the engine closed the connection without an answer")
                answer += byte
                if len(answer) > 65536:
                    raise http.client.LineTooLong("the engine's answer headers")
            lines = answer.decode("latin-1").split("\r\n")
            try:
                status = int(lines[0].split()[1])
            except (IndexError, ValueError):
                raise http.client.BadStatusLine(lines[0]) from None
            if status >= 400:
                fields = dict(line.lower().split(":", 1) for line in lines[1:] if ":" in line)
                size = int(fields.get("content-length", "0").strip() or 0)
                data = b""
                while len(data) < size:
                    chunk = sock.recv(size - len(data))
                    if not chunk:
                        break
                    data += chunk
                explanation = data.decode("utf-8", "replace").strip()
                try:
                    explanation = json.loads(explanation).get("message") or explanation
                except (ValueError, AttributeError):
                    pass
                raise EngineAPIError(status, explanation or lines[0], "exec_start")
        except BaseException:
            sock.close()
            raise
        return sock

    def exec_inspect(self, exec_id):
        return self.request("GET", "exec_inspect", self._path("/exec/{0}/json", exec_id))

    def get_archive(self, container, path):
        """(chunks, stat) as the SDK's: a tar archive of path in the container (a list of one
        bytes chunk), and the path's stat (path_stat)."""
        meta = {}
        data = self.request("GET", "get_archive", self._path("/containers/{0}/archive", container),
                            {"path": path}, raw=True, reply_headers=meta)
        return [data], path_stat(meta.get(STAT_HEADER))

    def archive_stat(self, container, path):
        """The stat of path in the container (path_stat), without its content (HEAD). An
        answer to HEAD has no body: a 500 (the engine's lstat through a file) is worded as
        the GET's would be."""
        meta = {}
        try:
            self.request("HEAD", "archive_stat", self._path("/containers/{0}/archive", container),
                         {"path": path}, raw=True, reply_headers=meta)
        except EngineAPIError as exc:
            if exc.status == 500:
                raise EngineAPIError(500, "cannot stat %s: not a directory on its path" % path,
                                     "archive_stat") from exc
            raise
        return path_stat(meta.get(STAT_HEADER))

    def put_archive(self, container, path, data):
        """Extract a tar archive (bytes) into directory path of the container, as the SDK's;
        a directory is never replaced by a file or the other way round (the engine refuses)."""
        self.request("PUT", "put_archive", self._path("/containers/{0}/archive", container),
                     {"path": path, "noOverwriteDirNonDir": "1"}, body=data,
                     headers={"Content-Type": "application/x-tar"})
        return True

    def prune_containers(self, filters=None):
        return self._prune("containers", filters)

    def _prune(self, kind, filters):
        """POST /<kind>/prune, as the SDK's prune_<kind>: the engine's answer (what it removed)."""
        params = {"filters": convert_filters(filters)} if filters else None
        return self.request("POST", "prune_" + kind, self._path("/%s/prune" % kind), params)

    def prune_images(self, filters=None):
        return self._prune("images", filters)

    def prune_networks(self, filters=None):
        return self._prune("networks", filters)

    def prune_volumes(self, filters=None):
        return self._prune("volumes", filters)

    def prune_builds(self, filters=None, keep_storage=None, all=None):  # pylint: disable=redefined-builtin
        """POST /build/prune, as the SDK's prune_builds: the engine's answer (CachesDeleted,
        SpaceReclaimed). filters {key: [values]}: a key with no values goes as a bare key (the
        engine's presence filters, shared and private); keep_storage in bytes."""
        params = {}
        if filters is not None:
            params["filters"] = convert_filters(filters)
        if keep_storage is not None:
            params["keep-storage"] = "%d" % keep_storage
        if all is not None:
            params["all"] = "1" if all else "0"
        return self.request("POST", "prune_builds", self._path("/build/prune"), params or None)

    # ---------------------------------------------------------------- images
    def inspect_image(self, image):
        return self.request("GET", "inspect_image", self._path("/images/{0}/json", image))

    def images(self, name=None, filters=None):
        filters = dict(filters or {})
        if name:
            filters["reference"] = name
        params = {"filters": convert_filters(filters)} if filters else None
        return self.request("GET", "images", self._path("/images/json"), params)

    def tag(self, image, repository, tag=None, force=False):
        params = {"repo": repository, "tag": tag}
        if force:
            params["force"] = 1
        self.request("POST", "tag", self._path("/images/{0}/tag", image), params)
        return True

    def remove_image(self, image, force=False):
        return self.request("DELETE", "remove_image", self._path("/images/{0}", image),
                            {"force": 1 if force else 0})

    def load_image(self, data):
        """Upload an image archive (file object or bytes); returns the progress entries."""
        headers = {"Content-Type": "application/x-tar"}
        if hasattr(data, "fileno"):
            try:
                headers["Content-Length"] = str(os.fstat(data.fileno()).st_size - data.tell())
            except (OSError, ValueError):
                pass
        body = self.request("POST", "load_image", self._path("/images/load"), {"quiet": 0},
                            body=data, raw=True, headers=headers)
        return json_stream(body)

    # ---------------------------------------------------------------- plugins
    def plugins(self):
        """The engine's managed plugins (read-only): name, enabled, the interfaces they serve."""
        return self.request("GET", "plugins", self._path("/plugins"))

    # ---------------------------------------------------------------- networks
    def networks(self, filters=None):
        params = {"filters": convert_filters(filters)} if filters else None
        return self.request("GET", "networks", self._path("/networks"), params)

    def inspect_network(self, net_id):
        return self.request("GET", "inspect_network", self._path("/networks/{0}", net_id))

    def create_network(self, name, driver=None, options=None, ipam=None, check_duplicate=None,
                       internal=False, labels=None, enable_ipv6=False, attachable=None):
        body = {"Name": name, "Driver": driver}
        for key, value in (("Options", options), ("IPAM", ipam), ("CheckDuplicate", check_duplicate),
                           ("Labels", labels), ("Attachable", attachable)):
            if value is not None:
                body[key] = value
        if internal:
            body["Internal"] = True
        if enable_ipv6:
            body["EnableIPv6"] = True
        return self.request("POST", "create_network", self._path("/networks/create"), body=body)

    def remove_network(self, net_id):
        self.request("DELETE", "remove_network", self._path("/networks/{0}", net_id))

    def connect_container_to_network(self, container, net_id, aliases=None, ipv4_address=None,
                                     ipv6_address=None):
        endpoint = {}
        if aliases:
            endpoint["Aliases"] = list(aliases)
        ipam = {key: value for key, value in (("IPv4Address", ipv4_address), ("IPv6Address", ipv6_address))
                if value}
        if ipam:
            endpoint["IPAMConfig"] = ipam
        self.request("POST", "connect_container_to_network",
                     self._path("/networks/{0}/connect", net_id),
                     body={"Container": container, "EndpointConfig": endpoint})

    def disconnect_container_from_network(self, container, net_id, force=False):
        body = {"Container": container}
        if force:
            body["Force"] = True
        self.request("POST", "disconnect_container_from_network",
                     self._path("/networks/{0}/disconnect", net_id), body=body)

    # ---------------------------------------------------------------- volumes
    def volumes(self, filters=None):
        params = {"filters": convert_filters(filters)} if filters else None
        return self.request("GET", "volumes", self._path("/volumes"), params)

    def inspect_volume(self, name):
        return self.request("GET", "inspect_volume", self._path("/volumes/{0}", name))

    def create_volume(self, name=None, driver=None, driver_opts=None, labels=None):
        body = {"Name": name, "Driver": driver}
        if driver_opts:
            body["DriverOpts"] = driver_opts
        if labels:
            body["Labels"] = labels
        return self.request("POST", "create_volume", self._path("/volumes/create"), body=body)

    def remove_volume(self, name, force=False):
        self.request("DELETE", "remove_volume", self._path("/volumes/{0}", name),
                     {"force": 1} if force else None)
