"""service execution=controller: what the action plugin decides before forwarding anything, and
the stand-in for AnsibleModule that ends a run on the controller as exit_json/fail_json end
the module on the host."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.dockyard.fleet.plugins.action.service import (
    ActionModule, ControllerModule, _Exit)
from ansible_collections.dockyard.fleet.plugins.module_utils._service import (
    HOST_OPTIONS, MUTUALLY_EXCLUSIVE, service_argument_spec, service_main)


def validated(**args):
    v = ArgumentSpecValidator(service_argument_spec(),
                              mutually_exclusive=MUTUALLY_EXCLUSIVE).validate(args)
    assert not v.error_messages, v.error_messages
    return v.validated_parameters


def action(async_val=0, become=False, become_user=None):
    a = ActionModule.__new__(ActionModule)
    a._task = SimpleNamespace(async_val=async_val, check_mode=False)
    a._play_context = SimpleNamespace(become=become, become_user=become_user)
    return a


def test_exit_and_fail_end_the_run_with_its_result():
    m = ControllerModule({"name": "x"}, check_mode=True)
    with pytest.raises(_Exit) as done:
        m.exit_json(replicas=[])
    assert done.value.result == {"changed": False, "replicas": []}
    with pytest.raises(_Exit) as done:
        m.fail_json(msg="option ports: ...", exception="Traceback ...", changed=True)
    assert done.value.result == {"failed": True, "msg": "option ports: ...", "changed": True}
    # not an Exception: the run's own `except Exception` handlers cannot swallow the end
    assert not issubclass(_Exit, Exception)


@pytest.mark.parametrize("args,needle", [
    (dict(replicas=3, ports=[18001, 18002]), "ports"),
    (dict(replicas=2, port_base=18300, only=[3]), "only"),
    (dict(replicas=2, memory="lots"), "memory"),
    (dict(replicas=1, state="absent", converge="missing"), "converge=missing"),
])
def test_input_checks_end_the_run_before_the_engine(args, needle):
    params = validated(name="sv", image="dockyard/demo:v1", **args)
    with pytest.raises(_Exit) as done:
        # a client that fails the test if touched: the checks come first
        service_main(ControllerModule(params, False), client=SimpleNamespace())
    assert done.value.result["failed"] and needle in done.value.result["msg"]


@pytest.mark.parametrize("opt", HOST_OPTIONS)
def test_options_that_need_the_host_send_the_run_there(opt):
    why = action()._controller_blocker({"name": "sv", opt: {"app": "x"}})
    assert why == "option %s needs the host (files or sockets there)" % opt


def test_async_and_become_to_another_user_send_the_run_to_the_host():
    assert "async" in action(async_val=30)._controller_blocker({"name": "sv"})
    assert "becomes deploy" in action(become=True, become_user="deploy")._controller_blocker({"name": "sv"})
    assert action(become=True, become_user="root")._controller_blocker({"name": "sv"}) is None
    assert action()._controller_blocker({"name": "sv", "roll": None}) is None


def test_a_run_that_may_pull_stays_on_the_host_without_the_sdk_on_the_controller(monkeypatch):
    import importlib.util

    from ansible_collections.dockyard.fleet.plugins.module_utils import _engine_forward
    assert _engine_forward.sdk_missing({"pull": "never"}) is None
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert _engine_forward.sdk_missing({"pull": "never"}) is None
    why = _engine_forward.sdk_missing({"pull": "missing"})
    assert "Docker SDK" in why and "option pull" in why


def test_engine_errors_name_the_hosts_socket_not_the_forward(tmp_path):
    from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import (
        DockerClient, DockerError)
    forwarded = "unix://%s/dyfwd-0123.sock" % tmp_path      # nothing listens there
    client = DockerClient({"docker_host": forwarded}, environ={},
                          shown_host="unix:///var/run/docker.sock")
    with pytest.raises(DockerError) as err:
        client.call("version")
    assert "unix:///var/run/docker.sock (option docker_host)" in str(err.value)
    assert "dyfwd" not in str(err.value)
