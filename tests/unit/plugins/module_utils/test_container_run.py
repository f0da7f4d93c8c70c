"""module_utils/_container.py's run against a scripted engine: what a no-op costs in engine
calls (the fewest: the container's inspect and the image's), and that a change reads the
container again."""
from __future__ import annotations

import copy

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.dockyard.fleet.plugins.module_utils._container import (
    container_argument_spec, container_main)
from ansible_collections.dockyard.fleet.plugins.module_utils._engine_forward import (
    ControllerModule, ModuleExit)

from ansible_collections.dockyard.fleet.tests.unit.plugins.module_utils.test_compare import (
    CONTAINER, IMAGE, IMAGE_ID)


class Engine:
    """Answers inspect calls from the fixtures; logs every call."""

    def __init__(self):
        self.log = []
        self.container = copy.deepcopy(CONTAINER)

    def get(self, method, ref, *args, **kwargs):
        self.log.append((method, ref))
        if method == "inspect_container":
            return self.container if ref in ("web", self.container["Id"]) else None
        if method == "inspect_image":
            return IMAGE if ref in ("dockyard/demo:v1", IMAGE_ID) else None
        raise AssertionError(method)

    def call(self, method, *args, **kwargs):
        self.log.append((method,) + args)
        return None


def run(params):
    validated = ArgumentSpecValidator(container_argument_spec()).validate(params)
    assert not validated.error_messages, validated.error_messages
    engine = Engine()
    with pytest.raises(ModuleExit) as done:
        container_main(ControllerModule(validated.validated_parameters, False), engine)
    return done.value.result, engine.log


def test_a_no_op_is_two_engine_calls():
    result, log = run({"name": "web", "image": "dockyard/demo:v1", "published_ports": ["8080:80"],
                       "env": {"A": "1"}, "labels": {"x": "y"}})
    assert not result["changed"] and result["actions"] == [], result
    assert log == [("inspect_container", "web"), ("inspect_image", "dockyard/demo:v1")]
    assert result["container"]["id"] == CONTAINER["Id"]


def test_a_change_reads_the_container_again():
    result, log = run({"name": "web", "image": "dockyard/demo:v1", "restart_policy": "always"})
    assert result["changed"] and result["actions"] == ["updated restart_policy"], result
    assert [entry[0] for entry in log] == ["inspect_container", "inspect_image", "update_container",
                                           "inspect_container"]
