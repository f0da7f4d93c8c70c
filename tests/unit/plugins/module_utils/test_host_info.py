"""host_info's run (module_utils/_host_info.py) with a recording client: the engine calls it
makes, on the host and on the controller after the action plugin's probe."""
import pytest

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.dockyard.fleet.plugins.module_utils._engine_forward import (
    ControllerModule, ModuleExit)
from ansible_collections.dockyard.fleet.plugins.module_utils._host_info import (
    host_info_argument_spec, host_info_main)

VERSION = {"Version": "20.10.24", "ApiVersion": "1.41", "MinAPIVersion": "1.12"}
INFO = {"Name": "app1", "Containers": 2, "ContainersRunning": 1, "Images": 3}


class Recording:
    def __init__(self, probed=None):
        self.probed_version = probed
        self.calls = []

    def call(self, method, **kwargs):
        self.calls.append(method)
        return {"version": VERSION, "info": INFO}.get(method, [])


def _run(client, **options):
    params = ArgumentSpecValidator(host_info_argument_spec()).validate(options).validated_parameters
    with pytest.raises(ModuleExit) as done:
        host_info_main(ControllerModule(params, False), client)
    return done.value.result


@pytest.mark.parametrize("probed, calls", [(None, ["version", "info"]), (VERSION, ["info"])])
def test_the_version_a_probe_read_is_not_asked_again(probed, calls):
    client = Recording(probed)
    res = _run(client, images=True)
    assert client.calls == calls + ["images"]
    assert res["host_info"]["server_version"] == "20.10.24" and res["images"] == []
