from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import (
    DockerClient, DockerError, connection_params)
import pytest


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
