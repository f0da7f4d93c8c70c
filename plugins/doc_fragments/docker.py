# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment:
    # Connection options shared by every Docker module of the collection.
    # Set them once for a play with module_defaults: {group/dockyard.fleet.docker: {...}}.
    DOCUMENTATION = r"""
options:
  docker_host:
    description:
      - The Docker engine to talk to.
      - C(unix:///path/to/docker.sock) for a local socket (the default, on the managed host),
        C(tcp://host:2376) (with O(tls)/O(validate_certs) and the certificate options),
        or C(ssh://user@host) through the Docker SDK's paramiko transport, in which case the
        task usually runs on the controller (with C(delegate_to=localhost)) and no module code
        runs on the engine's host.
      - If not set, the E(DOCKER_HOST) environment variable of the module is used, then
        C(unix:///var/run/docker.sock).
    type: str
    aliases: [docker_url]
  api_version:
    description:
      - Docker Engine API version to use, for example C(1.41). C(auto) uses the engine's own
        (newest) version, without an extra round trip to ask for it.
      - E(DOCKER_API_VERSION) is used when not set.
    type: str
    default: auto
    aliases: [docker_api_version]
  timeout:
    description:
      - Seconds to wait for an answer from the engine API.
      - E(DOCKER_TIMEOUT) is used when not set.
    type: int
    default: 60
  tls:
    description:
      - Connect with TLS without verifying the engine's certificate. Prefer O(validate_certs).
      - E(DOCKER_TLS) is used when not set.
    type: bool
    default: false
  validate_certs:
    description:
      - Connect with TLS and verify the engine's certificate against O(ca_path).
      - E(DOCKER_TLS_VERIFY) is used when not set.
    type: bool
    default: false
    aliases: [tls_verify]
  ca_path:
    description: CA certificate to verify the engine with (E(DOCKER_CERT_PATH)/ca.pem by default).
    type: path
    aliases: [ca_cert, tls_ca_cert, cacert_path]
  client_cert:
    description: Client certificate for TLS (E(DOCKER_CERT_PATH)/cert.pem by default).
    type: path
    aliases: [tls_client_cert, cert_path]
  client_key:
    description: Client key for TLS (E(DOCKER_CERT_PATH)/key.pem by default).
    type: path
    aliases: [tls_client_key, key_path]
  tls_hostname:
    description: Hostname expected in the engine's certificate (defaults to the host of O(docker_host)).
    type: str
  use_ssh_client:
    description:
      - For C(ssh://) hosts, use the system C(ssh) binary instead of paramiko.
    type: bool
    default: false
requirements:
  - Nothing beyond Python's standard library for C(unix://) and C(tcp://) engines - the
    collection speaks the Engine API itself (no Docker SDK import, a few milliseconds per
    module run instead of about 0.25 s).
  - Docker SDK for Python >= 5.0 (C(docker)) on the host that runs the module for C(ssh://)
    engines, image pulls and builds (Debian's C(python3-docker) is enough), and C(paramiko)
    for C(ssh://) engines unless O(use_ssh_client=true).
notes:
  - Connection options can be set once for a whole play with the C(module_defaults) keyword
    and the group C(group/dockyard.fleet.docker).
  - With TLS, the files given (O(ca_path), O(client_cert), O(client_key)) are checked before
    the engine is contacted, and a TLS failure says which option to set (O(ca_path) and
    O(validate_certs) for a certificate that does not verify, O(tls_hostname) for one that
    names another host, O(client_cert) and O(client_key) for an engine that refuses the
    client, O(tls) for an engine that answers plain HTTP requests with a TLS error).
"""
