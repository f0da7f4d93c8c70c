# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place that talks to a Docker engine: connection options, the engine client
(the collection's own stdlib client, or the Docker SDK's low-level APIClient for ssh://
engines, pulls and builds), and error translation. The decide-what-to-change logic lives
elsewhere and never imports this module's SDK objects directly.

Private to dockyard.fleet: no compatibility promise for code outside the collection.
"""
from __future__ import annotations

import http.client
import os
import ssl
import sys
import traceback

from ansible_collections.dockyard.fleet.plugins.module_utils._container_spec import distribution_digest
from ansible_collections.dockyard.fleet.plugins.module_utils._engine_api import (
    STAT_HEADER, EngineAPI, EngineAPIError, path_stat, update_body)

DEFAULT_HOST = "unix:///var/run/docker.sock"
MIN_SDK = (5, 0, 0)

# Options of plugins/doc_fragments/docker.py, as an argument_spec fragment.
DOCKER_COMMON_ARGS = dict(
    docker_host=dict(type="str", aliases=["docker_url"]),
    api_version=dict(type="str", default="auto", aliases=["docker_api_version"]),
    timeout=dict(type="int", default=60),
    tls=dict(type="bool", default=False),
    validate_certs=dict(type="bool", default=False, aliases=["tls_verify"]),
    ca_path=dict(type="path", aliases=["ca_cert", "tls_ca_cert", "cacert_path"]),
    client_cert=dict(type="path", aliases=["tls_client_cert", "cert_path"]),
    client_key=dict(type="path", aliases=["tls_client_key", "key_path"]),
    tls_hostname=dict(type="str"),
    use_ssh_client=dict(type="bool", default=False),
)


class DockerError(Exception):
    """An engine call failed; message is meant for the user."""

    def __init__(self, msg, not_found=False):
        super().__init__(msg)
        self.not_found = not_found


# Option `execution` of the modules whose run the action plugin can do on the controller
# (module_utils/_engine_forward.py); the module itself ignores it.
EXECUTION_ARG = dict(type="str", default="auto", choices=["auto", "controller", "host"])


def docker_common_args(**extra):
    """Argument spec of a Docker module: the shared connection options plus its own."""
    spec = dict(DOCKER_COMMON_ARGS)
    spec.update(extra)
    return spec


def connection_params(params, environ=None):
    """Resolve connection settings from module params, then DOCKER_* variables, then defaults."""
    env = os.environ if environ is None else environ
    host = params.get("docker_host") or env.get("DOCKER_HOST") or DEFAULT_HOST
    api_version = params.get("api_version") or "auto"
    if api_version == "auto" and env.get("DOCKER_API_VERSION"):
        api_version = env["DOCKER_API_VERSION"]
    timeout = params.get("timeout")
    if timeout is None:
        timeout = int(env.get("DOCKER_TIMEOUT", 60))
    verify = bool(params.get("validate_certs")) or env.get("DOCKER_TLS_VERIFY", "") not in ("", "0")
    tls = bool(params.get("tls")) or verify or env.get("DOCKER_TLS", "") not in ("", "0")
    cert_dir = env.get("DOCKER_CERT_PATH")

    def _cert(name, key):
        if params.get(key):
            return params[key]
        if cert_dir:
            return os.path.join(cert_dir, name)
        return None

    return dict(host=host, api_version=api_version, timeout=timeout, tls=tls, verify=verify,
                ca=_cert("ca.pem", "ca_path"), cert=_cert("cert.pem", "client_cert"),
                key=_cert("key.pem", "client_key"), tls_hostname=params.get("tls_hostname"),
                use_ssh_client=bool(params.get("use_ssh_client")))


def _import_sdk(host):
    # The SDK imports paramiko for its ssh transport whenever paramiko is
    # installed: ~0.15 s per module run we do not need unless the engine is ssh://.
    blocked = False
    if not host.startswith("ssh://") and "paramiko" not in sys.modules:
        sys.modules["paramiko"] = None  # makes `import paramiko` raise ImportError
        blocked = True
    try:
        import docker  # noqa: F401  (pylint: disable=import-outside-toplevel)
        from docker import APIClient  # pylint: disable=import-outside-toplevel
        from docker import errors as docker_errors  # pylint: disable=import-outside-toplevel
        from docker.tls import TLSConfig  # pylint: disable=import-outside-toplevel
    finally:
        if blocked:
            del sys.modules["paramiko"]
    version = tuple(int(p) for p in docker.__version__.split(".")[:3] if p.isdigit())
    return APIClient, docker_errors, TLSConfig, version


# What only the SDK does for us: registry auth (pulls, asking a registry for a tag's digest)
# and progress for pulls, build contexts.
SDK_ONLY = frozenset(["pull", "build", "inspect_distribution"])
# Display names of calls in messages.
_CALL_NAMES = {"create_container_from_config": "create_container"}


def _sdk_update(api, container, **resources):
    """The SDK's update_container has no pids_limit: the same request with our body (the
    SDK's own request helpers, so its transport, version prefix and errors apply)."""
    # pylint: disable=protected-access
    res = api._post_json(api._url("/containers/{0}/update", container), data=update_body(**resources))
    return api._result(res, True)


def _sdk_put_archive(api, container, path, data):
    """The SDK's put_archive with noOverwriteDirNonDir, as the collection's own client sends it."""
    # pylint: disable=protected-access
    res = api._put(api._url("/containers/{0}/archive", container),
                   params={"path": path, "noOverwriteDirNonDir": "1"}, data=data)
    api._raise_for_status(res)
    return res.status_code == 200


def _sdk_archive_stat(api, container, path):
    """The stat of path in the container without its content (HEAD), as the collection's own
    client asks it: the SDK has no call for it, and its get_archive would have the engine start
    a tar of the path (of a whole directory, for one). An answer to HEAD has no body: a 500
    (the engine's lstat through a file) is worded as the GET's would be."""
    # pylint: disable=protected-access
    res = api.head(api._url("/containers/{0}/archive", container), params={"path": path},
                   timeout=api.timeout)
    if res.status_code == 500:
        raise DockerError("Docker engine refused archive_stat: cannot stat %s: not a directory on its path"
                          % path)
    api._raise_for_status(res)
    return path_stat(res.headers.get(STAT_HEADER))


def uses_sdk_transport(conn):
    """ssh:// engines (paramiko or the ssh client) go through the SDK; the rest does not."""
    return conn["host"].startswith("ssh://") or conn["use_ssh_client"]


class NeedsHost(BaseException):
    """A call that must not run from the controller (execution=controller): pulls and
    registry queries use the registry credentials of the host's user, which only the module
    on the host has. Raised before the call; a BaseException so that the run's own error
    handling lets it through to the action plugin, which then runs the module on the host
    (the service run pulls before it changes anything)."""


class DockerClient:
    """A connected engine client for one module run.

    `call(method, ...)` runs a low-level call named and shaped like the Docker SDK's
    APIClient method of that name and turns engine and transport errors into DockerError
    with a readable message. unix:// and tcp:// engines are served by the collection's own
    stdlib client (_engine_api.EngineAPI: no SDK import, no version round trip); the SDK is
    imported only for ssh:// engines and for pulls and builds.
    """

    def __init__(self, params, environ=None, shown_host=None):
        self.conn = connection_params(params, environ)
        # the engine as messages name it: the host's docker_host, also when the action plugin
        # reaches it through a socket forwarded to the controller (shown_host), which is then
        # the client's caller: SDK_ONLY calls raise NeedsHost
        self.shown_host = shown_host or self.conn["host"]
        self.on_controller = shown_host is not None
        self._sdk = None
        self._sdk_errors = None
        self.engine = None
        # the engine's version answer, when a probe (the action plugin's, over a forward)
        # asked for it already: a run that needs it reads it here, not again
        self.probed_version = None
        if not uses_sdk_transport(self.conn):
            try:
                self.engine = EngineAPI(self.conn["host"], version=self.conn["api_version"],
                                        timeout=self.conn["timeout"], tls=self._ssl_context(),
                                        tls_hostname=self.conn["tls_hostname"])
            except (ValueError, OSError, ssl.SSLError) as exc:
                raise DockerError("Cannot connect to the Docker engine at %s (option docker_host): %s"
                                  % (self.shown_host, _clean(exc))) from exc

    # ------------------------------------------------------------ TLS (own client)
    def _ssl_context(self):
        if not (self.conn["tls"] and self.conn["host"].startswith("tcp://")):
            return None
        check_tls_files(self.conn, self.shown_host)
        if self.conn["verify"]:
            # the certificate must chain to ca_path and name the engine's host (or tls_hostname)
            ctx = ssl.create_default_context(cafile=self.conn["ca"] or None)
        else:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.conn["cert"] and self.conn["key"]:
            ctx.load_cert_chain(self.conn["cert"], self.conn["key"])
        return ctx

    # ------------------------------------------------------------ SDK (ssh://, pull, build)
    @property
    def api(self):
        """The Docker SDK's APIClient, made on first use."""
        if self._sdk is None:
            self._sdk = self._make_sdk()
        return self._sdk

    def _make_sdk(self):
        try:
            api_cls, self._sdk_errors, tls_cls, version = _import_sdk(self.conn["host"])
        except ImportError as exc:
            raise DockerError("The Docker SDK for Python (docker >= 5.0) is required on the host "
                              "that runs this module (%s) for ssh:// engines, pulls and builds: %s. "
                              "Install Debian's python3-docker or `pip install docker`."
                              % (sys.executable, exc)) from exc
        if version < MIN_SDK:
            raise DockerError("Docker SDK for Python >= 5.0 is required, found %s"
                              % ".".join(map(str, version)))
        tls = False
        if self.conn["tls"] and self.conn["host"].startswith("tcp://"):
            check_tls_files(self.conn, self.shown_host)
            client_cert = None
            if self.conn["cert"] and self.conn["key"]:
                client_cert = (self.conn["cert"], self.conn["key"])
            tls = tls_cls(client_cert=client_cert, ca_cert=self.conn["ca"] if self.conn["verify"] else None,
                          verify=self.conn["verify"])
        kwargs = dict(base_url=self.conn["host"], version=self.conn["api_version"],
                      timeout=self.conn["timeout"], tls=tls)
        if self.conn["use_ssh_client"]:
            kwargs["use_ssh_client"] = True
        try:
            return api_cls(**kwargs)
        except Exception as exc:  # pylint: disable=broad-except
            raise DockerError("Cannot connect to the Docker engine at %s (option docker_host): %s"
                              % (self.shown_host, _clean(exc))) from exc

    # ------------------------------------------------------------ calls
    def call(self, method, *args, **kwargs):
        name = _CALL_NAMES.get(method, method)
        if self.on_controller and method in SDK_ONLY:
            raise NeedsHost("a %s uses the registry credentials of the host" % name)
        if self.engine is not None and method not in SDK_ONLY:
            try:
                return getattr(self.engine, method)(*args, **kwargs)
            except EngineAPIError as exc:
                if exc.status == 404:
                    raise DockerError("Docker engine: %s" % exc.explanation, not_found=True) from exc
                raise DockerError("Docker engine refused %s: %s%s" % (
                    name, exc.explanation, tls_hint(exc.explanation, self.conn, self.shown_host))) from exc
            except (OSError, http.client.HTTPException) as exc:
                raise DockerError("Cannot reach the Docker engine at %s (option docker_host): %s%s"
                                  % (self.shown_host, _clean(exc),
                                     tls_hint(_clean(exc), self.conn, self.shown_host))) from exc
        api = self.api
        try:
            if method == "update_container":
                return _sdk_update(api, *args, **kwargs)
            if method == "archive_stat":
                return _sdk_archive_stat(api, *args, **kwargs)
            if method == "put_archive":
                return _sdk_put_archive(api, *args, **kwargs)
            return getattr(api, method)(*args, **kwargs)
        except self._sdk_errors.NotFound as exc:
            raise DockerError("Docker engine: %s" % _explain(exc), not_found=True) from exc
        except self._sdk_errors.APIError as exc:
            raise DockerError("Docker engine refused %s: %s" % (name, _explain(exc))) from exc
        except self._sdk_errors.DockerException as exc:
            raise DockerError("Docker engine error in %s: %s" % (name, _clean(exc))) from exc
        except OSError as exc:
            hint = tls_hint(str(exc), self.conn, self.shown_host)
            raise DockerError("Cannot reach the Docker engine at %s (option docker_host): %s%s"
                              % (self.shown_host, exc, hint)) from exc

    def registry_digest(self, ref):
        """The manifest digest the registry has for ref now, asked without pulling."""
        return distribution_digest(self.call("inspect_distribution", ref))

    def get(self, method, *args, **kwargs):
        """Like call(), but returns None when the object does not exist (404)."""
        try:
            return self.call(method, *args, **kwargs)
        except DockerError as exc:
            if exc.not_found:
                return None
            raise


TLS_FILES = (("ca", "ca_path"), ("cert", "client_cert"), ("key", "client_key"))


def check_tls_files(conn, shown_host):
    """Before any connection: the TLS files given (or found in DOCKER_CERT_PATH) exist, and
    the client certificate comes with its key. DockerError naming the option otherwise."""
    if bool(conn["cert"]) != bool(conn["key"]):
        given, missing = ("client_cert", "client_key") if conn["cert"] else ("client_key", "client_cert")
        raise DockerError("%s: needed with %s (the client certificate and its key go together, "
                          "for the engine at %s)" % (missing, given, shown_host))
    for key, option in TLS_FILES:
        if conn[key] and not os.path.isfile(conn[key]):
            raise DockerError("%s: %s is not a file on the host that runs the module (TLS to the "
                              "engine at %s)" % (option, conn[key], shown_host))


def tls_hint(text, conn, shown_host):
    """What to set, for a TLS failure (or plain HTTP to a TLS engine) seen as `text`; '' when
    it is not one."""
    if not shown_host.startswith("tcp://"):
        return ""
    low = text.lower()
    if "http request to an https server" in low:
        return " (the engine at %s speaks TLS: set option tls, or validate_certs with ca_path, " \
               "and client_cert and client_key when it checks clients)" % shown_host
    if "certificate_verify_failed" in low or "certificate verify failed" in low:
        if "mismatch" in low:
            name = conn["tls_hostname"] or shown_host[len("tcp://"):].rsplit(":", 1)[0]
            return " (the engine's certificate is not for %s: set option tls_hostname to a " \
                   "name it has)" % name
        return " (the engine's certificate does not verify against %s: options ca_path and " \
               "validate_certs)" % ("ca_path %s" % conn["ca"] if conn["ca"] else
                                    "the system's CAs, as no ca_path is given")
    if "alert_bad_certificate" in low or "certificate_required" in low or \
            "alert_unknown_ca" in low:
        return " (the engine refused the client: set options client_cert and client_key to a " \
               "certificate its CA signed)" if not conn["cert"] else \
            " (the engine refused client_cert %s: it must be signed by the CA the engine " \
            "trusts)" % conn["cert"]
    if conn["tls"] and ("wrong_version_number" in low or "record layer failure" in low):
        return " (no TLS at %s: leave options tls and validate_certs unset)" % shown_host
    return ""


def _explain(exc):
    explanation = getattr(exc, "explanation", None)
    if explanation:
        return explanation if isinstance(explanation, str) else str(explanation)
    return _clean(exc)


def _clean(exc):
    text = str(exc)
    return text if text else exc.__class__.__name__


def fail_on_docker_error(module, func, *args, **kwargs):
    """Run func; turn DockerError into fail_json (with the traceback at -vvv)."""
    try:
        return func(*args, **kwargs)
    except DockerError as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc())
        return None
