"""Shared by the unit tests of the modules whose run can happen on the controller: one run
of a module's main against a scripted engine client, as the action plugin makes it."""
from __future__ import annotations

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.dockyard.fleet.plugins.module_utils._engine_forward import (
    ControllerModule, ModuleExit)


def run_main(argument_spec, main, client, params, check_mode=False):
    """main(module, client) with params validated against argument_spec; -> its result."""
    validated = ArgumentSpecValidator(argument_spec).validate(params)
    assert not validated.error_messages, validated.error_messages
    with pytest.raises(ModuleExit) as done:
        main(ControllerModule(validated.validated_parameters, check_mode), client)
    return done.value.result
