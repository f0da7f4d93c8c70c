import base64
import http.server
import json
import socketserver
import threading

import docker
import pytest

from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import (
    DockerClient, DockerError, _sdk_archive_stat, check_tls_files, connection_params, tls_hint)


def test_defaults_to_standard_socket():
    c = connection_params({}, environ={})
    assert c["host"] == "unix:///var/run/docker.sock"
    assert c["api_version"] == "auto" and c["timeout"] == 60 and c["tls"] is False


def test_docker_host_env_is_honoured_but_option_wins():
    env = {"DOCKER_HOST": "tcp://10.0.0.1:2376", "DOCKER_TLS_VERIFY": "1",
           "DOCKER_CERT_PATH": "/certs", "DOCKER_API_VERSION": "1.41"}
    c = connection_params({}, environ=env)
    assert c["host"] == "tcp://10.0.0.1:2376"
    assert c["tls"] and c["verify"] and c["ca"] == "/certs/ca.pem" and c["api_version"] == "1.41"
    c = connection_params({"docker_host": "unix:///run/other.sock", "api_version": "1.40"},
                          environ=env)
    assert c["host"] == "unix:///run/other.sock" and c["api_version"] == "1.40"


def test_unreachable_engine_is_a_clear_error(tmp_path):
    client = DockerClient({"docker_host": "unix://%s/none.sock" % tmp_path, "api_version": "1.41",
                           "timeout": 2}, environ={})
    with pytest.raises(DockerError) as err:
        client.call("version")
    assert "docker_host" in str(err.value)


TCP = "tcp://10.0.0.1:2376"


def _conn(**params):
    return connection_params(dict({"docker_host": TCP}, **params), environ={})


def test_tls_files_are_checked_before_any_connection(tmp_path):
    """A TLS file that is not there, or a client certificate without its key, fails naming
    the option before the engine is contacted (the real TLS engine: test_tls.py)."""
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    check_tls_files(_conn(tls=True), TCP)  # nothing given: nothing to check
    check_tls_files(_conn(tls=True, client_cert=str(cert), client_key=str(cert)), TCP)
    for params, message in (
            ({"ca_path": str(tmp_path / "ca.pem")}, "ca_path: %s/ca.pem is not a file" % tmp_path),
            ({"client_cert": str(cert)}, "client_key: needed with client_cert"),
            ({"client_key": str(cert)}, "client_cert: needed with client_key"),
            ({"client_cert": str(cert), "client_key": str(tmp_path / "k")}, "client_key: ")):
        with pytest.raises(DockerError, match="^" + message):
            check_tls_files(_conn(validate_certs=True, **params), TCP)
    with pytest.raises(DockerError, match="^ca_path: .* is not a file"):
        DockerClient({"docker_host": TCP, "validate_certs": True, "ca_path": str(tmp_path / "no")},
                     environ={})


def test_tls_failures_say_which_option_to_set():
    ca = _conn(validate_certs=True, ca_path="/certs/ca.pem")
    verify = "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer"
    assert "against ca_path /certs/ca.pem: options ca_path and validate_certs" in tls_hint(verify, ca, TCP)
    assert "against the system's CAs, as no ca_path is given" in tls_hint(verify, _conn(validate_certs=True), TCP)
    mismatch = "certificate verify failed: IP address mismatch, certificate is not valid for '10.0.0.1'"
    assert "is not for 10.0.0.1: set option tls_hostname" in tls_hint(mismatch, ca, TCP)
    assert "is not for web.example:" in tls_hint(mismatch, _conn(validate_certs=True, tls_hostname="web.example"), TCP)
    refused = "[SSL: SSLV3_ALERT_BAD_CERTIFICATE] sslv3 alert bad certificate"
    assert "set options client_cert and client_key" in tls_hint(refused, ca, TCP)
    assert "refused client_cert /c.pem" in tls_hint(refused, _conn(tls=True, client_cert="/c.pem", client_key="/k"), TCP)
    assert "speaks TLS: set option tls" in tls_hint("Client sent an HTTP request to an HTTPS server.", _conn(), TCP)
    assert "no TLS at %s" % TCP in tls_hint("[SSL: WRONG_VERSION_NUMBER] wrong version number", ca, TCP)
    # not a TLS matter, or not a tcp:// engine: no hint
    assert tls_hint("Connection refused", ca, TCP) == ""
    assert tls_hint(verify, ca, "unix:///var/run/docker.sock") == ""


def test_the_sdk_asks_a_path_stat_with_head_not_a_tar_of_the_path(tmp_path):
    """ssh:// engines go through the SDK, which has no call for the archive's stat: a GET
    would have the engine start a tar of the path (a whole directory, for each directory of
    a copy's dest). A real docker.APIClient against a scripted engine: HEAD only, the stat
    header decoded, the engine's bodiless 500 (a file on the path) worded as a GET's."""
    seen = []
    stat = {"name": "www", "size": 4096, "mode": 2147484141, "mtime": "2026-12-06T00:00:00Z", "linkTarget": ""}

    class Engine(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):  # noqa: N802 (the handler's name is the method's)
            seen.append(("HEAD", self.path))
            if "under-a-file" in self.path:
                self.send_response(500)
                self.send_header("Content-Length", "0")
            else:
                self.send_response(200)
                self.send_header("X-Docker-Container-Path-Stat",
                                 base64.b64encode(json.dumps(stat).encode()).decode())
            self.end_headers()

        def do_GET(self):  # noqa: N802
            seen.append(("GET", self.path))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

        def address_string(self):
            return "engine"

    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    path = str(tmp_path / "engine.sock")
    server = Server(path, Engine)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        api = docker.APIClient(base_url="unix://" + path, version="1.41", timeout=5)
        assert _sdk_archive_stat(api, "web", "/www") == stat
        with pytest.raises(DockerError) as err:
            _sdk_archive_stat(api, "web", "/www/f/under-a-file")
        assert "not a directory on its path" in str(err.value)
        assert [m for m, _p in seen] == ["HEAD", "HEAD"] and "path=%2Fwww" in seen[0][1]
    finally:
        server.shutdown()
        server.server_close()
