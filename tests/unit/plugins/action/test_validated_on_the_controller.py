"""Options that do not validate fail on the controller (module_utils/_engine_forward.py
validated), before any SSH session: the message must be the one the module itself ends with
on the host. Each case runs the real module in a Python process of its own (as on a host,
args on the command line) and compares."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from ansible_collections.dockyard.fleet.plugins.module_utils._container import container_argument_spec
from ansible_collections.dockyard.fleet.plugins.module_utils._copy_into import (
    SPEC_RULES as COPY_RULES, copy_argument_spec)
from ansible_collections.dockyard.fleet.plugins.module_utils._engine_forward import validated
from ansible_collections.dockyard.fleet.plugins.module_utils._network_volume import (
    network_argument_spec, volume_argument_spec)
from ansible_collections.dockyard.fleet.plugins.module_utils._service import (
    MUTUALLY_EXCLUSIVE, service_argument_spec)

COLLECTIONS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))))), "collections")

MODULES = {
    "container": (container_argument_spec, {}),
    "service": (service_argument_spec, {"mutually_exclusive": MUTUALLY_EXCLUSIVE}),
    "container_copy_into": (copy_argument_spec, COPY_RULES),
    "network": (network_argument_spec, {}),
    "volume": (volume_argument_spec, {}),
}

CASES = [
    ("container", {"name": "web", "image": "x", "bogus": 1}, "Unsupported parameters"),
    ("container", {"name": "web", "image": "x", "restart_policy": "sometimes"}, "restart_policy"),
    ("container", {"name": "web", "image": "x", "memory_swappiness": "lots"}, "memory_swappiness"),
    ("container", {"image": "x"}, "name"),
    ("service", {"name": "sv", "image": "x", "replicas": "three"}, "replicas"),
    ("container_copy_into", {"container": "c", "dest": "/p", "src": "a", "content": "s3cr3t-text"},
     "mutually exclusive"),
    ("container_copy_into", {"container": "c", "dest": "/p", "content": "s3cr3t-text", "owner_id": "root"},
     "owner_id"),
    ("network", {"name": "n", "ipam_config": [{"gateway": "10.1.0.1"}]}, "subnet"),
    ("network", {"name": "n", "internal": "maybe"}, "internal"),
    ("volume", {"name": "v", "state": "gone"}, "state"),
    ("volume", {"name": "v", "labels": ["a"]}, "labels"),
]


def _same(msg):
    """msg with its list of valid booleans sorted (a set: its order is the process's)."""
    return re.sub(r"Valid booleans include: (.*)$", lambda m: str(sorted(m.group(1).split(", "))), msg)


def _module_says(module, args):
    """The failure of the module itself, run as on a host."""
    payload = json.dumps({"ANSIBLE_MODULE_ARGS": dict(args, _ansible_module_name="dockyard.fleet." + module)})
    out = subprocess.run([sys.executable, "-m", "ansible_collections.dockyard.fleet.plugins.modules." + module,
                          payload], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, PYTHONPATH=COLLECTIONS), check=False)
    return json.loads(out.stdout)


@pytest.mark.parametrize("module,args,needle", CASES, ids=["%s-%d" % (c[0], i) for i, c in enumerate(CASES)])
def test_the_controller_fails_with_the_modules_own_message(module, args, needle):
    spec, rules = MODULES[module]
    params, failure = validated("dockyard.fleet." + module, args, spec(), **rules)
    assert params is None
    host = _module_says(module, args)
    assert host["failed"] and failure["failed"] and not failure["changed"]
    assert _same(failure["msg"]) == _same(host["msg"]), (failure["msg"], host["msg"])
    assert needle in failure["msg"]
    # a no_log option's value never shows in the message (the module masks it too)
    assert "s3cr3t-text" not in failure["msg"]


def test_options_that_validate_come_back_with_the_defaults():
    params, failure = validated("dockyard.fleet.volume", {"name": "v"}, volume_argument_spec())
    assert failure is None
    assert params["name"] == "v" and params["state"] == "present" and params["recreate"] is False
