"""socket_forward's option checks (action plugin, before any forward): option backend, which
also reads that HAProxy backend's servers through the forward, is a name the runtime API can
take, and only with state=present."""
from __future__ import annotations

import pytest

from ansible_collections.dockyard.fleet.plugins.action.socket_forward import args_problem


def test_good_options():
    assert args_problem({"path": "/run/haproxy/admin.sock"}) is None
    assert args_problem({"path": "/run/haproxy/admin.sock", "backend": "web"}) is None
    assert args_problem({"path": "/run/haproxy/admin.sock", "state": "absent"}) is None


@pytest.mark.parametrize("args, needle", [
    ({"path": "/s", "backend": "web; shutdown sessions"}, "option backend must be a non-empty backend name"),
    ({"path": "/s", "backend": ""}, "option backend must be a non-empty backend name"),
    ({"path": "/s", "backend": 5}, "option backend must be a backend name, not 5"),
    ({"path": "/s", "backend": "web", "state": "absent"}, "option backend needs state=present"),
    ({"path": "/s", "servers": ["a"]}, "unsupported option(s) servers; supported: backend, path, state"),
    ({"path": "s"}, "option path must be the absolute path"),
    ({"path": "/s", "state": "gone"}, "option state must be present or absent"),
])
def test_bad_options_are_named(args, needle):
    assert needle in args_problem(args)
