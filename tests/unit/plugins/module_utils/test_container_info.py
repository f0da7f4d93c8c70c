"""dockyard.fleet.container_info's run (container_info_main) on bad or empty selections:
refused naming the option, before any engine call."""
import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.dockyard.fleet.plugins.module_utils._container_info import (
    REQUIRED_ONE_OF, container_info_argument_spec, container_info_main)
from ansible_collections.dockyard.fleet.plugins.module_utils._engine_forward import (
    ControllerModule, ModuleExit)


class NoEngine:
    """An engine that must not be called."""
    calls = []

    def get(self, *args):
        self.calls.append(args)
        return None

    def call(self, *args, **kw):
        self.calls.append(args)
        return []


def run(args):
    v = ArgumentSpecValidator(container_info_argument_spec(), required_one_of=REQUIRED_ONE_OF)
    res = v.validate(args)
    assert not res.error_messages, res.error_messages
    engine = NoEngine()
    engine.calls = []
    with pytest.raises(ModuleExit) as done:
        container_info_main(ControllerModule(res.validated_parameters, False), client=engine)
    return done.value.result, engine.calls


@pytest.mark.parametrize("args,start", [
    ({"labels": {}}, "labels: must not be empty"),
    ({"name": []}, "name: must not be empty"),
    ({"name": [], "labels": {"app": "x"}}, "name: must not be empty"),
    ({"labels": [1]}, "labels: entry 1"),
    ({"labels": [{"a": "b"}]}, "labels: entry {'a': 'b'}"),
    ({"labels": {"a": {"b": "c"}}}, "labels: filter 'a'"),
])
def test_empty_or_unmatchable_selections_are_refused_naming_the_option(args, start):
    res, calls = run(args)
    assert res.get("failed") and res["msg"].startswith(start), res
    assert calls == []


def test_boolean_label_values_go_to_the_engine_as_the_labels_hold_them():
    sent = []

    class Engine(NoEngine):
        def call(self, method, **kw):
            sent.append(kw["filters"]["label"])
            return []
    v = ArgumentSpecValidator(container_info_argument_spec(), required_one_of=REQUIRED_ONE_OF)
    params = v.validate({"labels": {"enabled": True, "n": 1}}).validated_parameters
    with pytest.raises(ModuleExit) as done:
        container_info_main(ControllerModule(params, False), client=Engine())
    assert sent == [["enabled=true", "n=1"]] and done.value.result["exists"] is False
