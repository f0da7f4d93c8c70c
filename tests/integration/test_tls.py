"""Engines over TCP with TLS, for real: every lab app host's dockerd also listens on
tcp://<address>:2376 with --tlsverify (client certificates required), certificates made by
`tools/lab up` in <lab dir>/tls. The modules talk to app2's engine through that address from
the module run on app2 (the connection options set once with module_defaults, as the docs
teach). Each converging run twice: the second changes nothing. Bad TLS settings fail with a
message naming the option, and change nothing. A plain-TCP engine (a relay on app2's loopback)
is converged too, and tls against it says there is no TLS there."""
from __future__ import annotations

import os
import subprocess

import pytest
import yaml

H = "app2"
P = "tls-"


@pytest.fixture(scope="module")
def tls(lab):
    d = os.path.join(lab.dir, "tls")
    lab.load_image(H, "dockyard/demo:v1")
    lab.clean(H, P)
    yield {"docker_host": "tcp://%s:2376" % lab.addr(H), "ca_path": os.path.join(d, "ca.pem"),
           "client_cert": os.path.join(d, "cert.pem"), "client_key": os.path.join(d, "key.pem")}
    lab.clean(H, P)
    for n in lab.docker(H).networks.list(names=[P + "net"]):
        n.remove()


def book(conn, tasks):
    return yaml.safe_dump([{"hosts": H, "gather_facts": False,
                            "module_defaults": {"group/dockyard.fleet.docker": conn},
                            "tasks": [dict({"name": n, m: a}, **extra) for n, m, a, extra in tasks]}])


def test_modules_converge_an_engine_over_tls_then_change_nothing(lab, play, tls):
    conn = dict(tls, validate_certs=True)
    tasks = [
        ("net", "dockyard.fleet.network", {"name": P + "net"}, {}),
        ("ct", "dockyard.fleet.container", {"name": P + "web", "image": "dockyard/demo:v1",
                                            "networks": [{"name": P + "net"}],
                                            "labels": {"via": "tls"}}, {}),
        ("svc", "dockyard.fleet.service", {"name": P + "svc", "image": "dockyard/demo:v1",
                                           "replicas": 2, "port_base": 18601,
                                           "container_port": 80}, {}),
        ("info", "dockyard.fleet.container_info", {"name": P + "web"}, {}),
        ("host", "dockyard.fleet.host_info", {}, {}),
    ]
    first = play(book(conn, tasks))
    assert first.rc == 0 and first.changed == 3, first.stdout[-4000:]
    engine = lab.docker(H)  # the tests' own view, over the unix socket
    web = engine.containers.get(P + "web")
    assert web.status == "running" and web.labels["via"] == "tls"
    assert P + "net" in web.attrs["NetworkSettings"]["Networks"]
    assert sorted(c.name for c in engine.containers.list(filters={"name": P + "svc"})) == \
        [P + "svc-1", P + "svc-2"]
    # tcp:// keeps the runs that could go to the controller on the host, and says why
    for task in ("svc", "info", "host"):
        res = first.one(task=task)
        assert res["execution"] == "host" and "tcp://" in res["execution_reason"], (task, res)
    assert first.one(task="info")["containers"][0]["id"] == web.id
    assert first.one(task="host")["host_info"]["server_version"] == engine.version()["Version"]

    again = play(book(conn, tasks))
    assert again.rc == 0 and again.changed == 0, again.stdout[-4000:]

    # encrypted without checking the engine's certificate (validate_certs false), with the
    # client certificate the engine asks for; and checked against another name it has
    for conn in (dict(tls, tls=True, ca_path=None), dict(tls, validate_certs=True, tls_hostname=H)):
        res = play(book({k: v for k, v in conn.items() if v is not None}, [
            ("info", "dockyard.fleet.container_info", {"name": P + "web"}, {})]))
        assert res.rc == 0 and res.one(task="info")["exists"] is True, res.stdout[-3000:]


def _other_ca(tmp_path):
    key, ca = str(tmp_path / "other-key.pem"), str(tmp_path / "other-ca.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", ca, "-days", "2",
                    "-subj", "/CN=not the lab's CA"], check=True, capture_output=True)
    return ca


def test_bad_tls_settings_fail_naming_the_option_and_change_nothing(lab, play, tls, tmp_path):
    """Each wrong setting fails before anything changes, with a message that names the
    option to set (the engine's own words kept)."""
    other_ca = _other_ca(tmp_path)
    missing = str(tmp_path / "missing.pem")
    cases = {
        "an engine certificate from another CA": (
            dict(tls, validate_certs=True, ca_path=other_ca),
            "certificate verify failed", "does not verify against ca_path %s: options ca_path "
            "and validate_certs" % other_ca),
        "a name the engine's certificate does not have": (
            dict(tls, validate_certs=True, tls_hostname="engine.example"),
            "mismatch", "the engine's certificate is not for engine.example: set option "
            "tls_hostname to a name it has"),
        "no client certificate": (
            dict(tls, validate_certs=True, client_cert=None, client_key=None),
            "bad certificate", "the engine refused the client: set options client_cert and "
            "client_key"),
        "plain HTTP to the TLS port": (
            {"docker_host": tls["docker_host"]},
            "Client sent an HTTP request to an HTTPS server",
            "speaks TLS: set option tls"),
        "a client key that is not there": (
            dict(tls, validate_certs=True, client_key=missing),
            "client_key: %s is not a file" % missing, "client_key: "),
        "a client certificate without its key": (
            dict(tls, validate_certs=True, client_key=None),
            "client_key: needed with client_cert", "client_key: "),
    }
    before = lab.snapshot(H)
    for why, (conn, engine_words, hint) in cases.items():
        conn = {k: v for k, v in conn.items() if v is not None}
        res = play(book(conn, [
            ("ct", "dockyard.fleet.container", {"name": P + "bad", "image": "dockyard/demo:v1"},
             {"ignore_errors": True}),
            ("info", "dockyard.fleet.host_info", {}, {"ignore_errors": True})]))
        for task in ("ct", "info"):
            rec = res.results(task=task)
            assert rec and rec[0]["status"] == "failed", (why, task, res.stdout[-3000:])
            msg = rec[0]["result"]["msg"]
            assert engine_words in msg and hint in msg, (why, task, msg)
            assert "Traceback" not in msg, (why, msg)
        assert lab.snapshot(H) == before, why


def test_plain_tcp_engine_converges_and_tls_to_it_says_so(lab, play, tls):
    """An engine over plain TCP (a socat relay on the host's loopback to its engine socket:
    dockerd's own TCP listener is TLS-only here): a container converges through it, twice;
    tls true against it fails before anything changes, saying there is no TLS there."""
    plain = "tcp://127.0.0.1:2375"
    pid = lab.ssh(H, "nohup socat TCP-LISTEN:2375,bind=127.0.0.1,reuseaddr,fork "
                     "UNIX-CONNECT:/var/run/docker.sock >/dev/null 2>&1 & echo $!").stdout.strip()
    try:
        lab.ssh(H, "for i in $(seq 50); do socat -u /dev/null TCP:127.0.0.1:2375 2>/dev/null "
                   "&& exit 0; sleep 0.1; done; exit 1")
        ct = ("ct", "dockyard.fleet.container", {"name": P + "plain", "image": "dockyard/demo:v1",
                                                 "labels": {"via": "tcp"}}, {})
        first = play(book({"docker_host": plain}, [ct]))
        assert first.rc == 0 and first.changed == 1, first.stdout[-3000:]
        assert lab.docker(H).containers.get(P + "plain").labels["via"] == "tcp"
        again = play(book({"docker_host": plain}, [ct]))
        assert again.rc == 0 and again.changed == 0, again.stdout[-3000:]

        before = lab.snapshot(H)
        bad = dict(ct[2], labels={"via": "tls"})
        res = play(book({"docker_host": plain, "tls": True},
                        [("ct", ct[1], bad, {"ignore_errors": True}),
                         ("info", "dockyard.fleet.host_info", {}, {"ignore_errors": True})]))
        for task in ("ct", "info"):
            rec = res.results(task=task)
            assert rec and rec[0]["status"] == "failed", (task, res.stdout[-3000:])
            msg = rec[0]["result"]["msg"]
            assert "no TLS at %s: leave options tls and validate_certs unset" % plain in msg, msg
        assert lab.snapshot(H) == before
    finally:
        lab.ssh(H, "kill %s" % pid, check=False)
