"""ContainerEngine.remove: a container the engine is already removing (rm answers 409
"already in progress") is awaited, not failed on; other refusals fail at once."""
from __future__ import annotations

import pytest

from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import DockerError
from ansible_collections.dockyard.fleet.plugins.module_utils._container_engine import (
    ContainerEngine, removal_in_progress)

IN_PROGRESS = DockerError("Docker engine refused remove: removal of container c1 is already in progress")


class FakeClient:
    """Answers remove_container from a script of outcomes (an exception to raise, or None)."""

    def __init__(self, outcomes, timeout=60):
        self.outcomes = list(outcomes)
        self.calls = 0
        self.conn = {"timeout": timeout}

    def call(self, method, *args, **kwargs):
        assert method == "remove_container" and kwargs == {"force": True, "v": False}
        self.calls += 1
        outcome = self.outcomes.pop(0) if self.outcomes else IN_PROGRESS
        if outcome is not None:
            raise outcome


def test_a_removal_in_progress_is_awaited_until_the_container_is_gone(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    fake = FakeClient([IN_PROGRESS, IN_PROGRESS, DockerError("No such container: c1", not_found=True)])
    ContainerEngine(fake).remove("c1")
    assert fake.calls == 3


def test_rm_is_asked_again_when_the_other_removal_ended_without_removing(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    fake = FakeClient([IN_PROGRESS, None])
    ContainerEngine(fake).remove("c1")
    assert fake.calls == 2


def test_a_container_already_gone_counts_as_removed():
    fake = FakeClient([DockerError("No such container: c1", not_found=True)])
    ContainerEngine(fake).remove("c1")
    assert fake.calls == 1


def test_other_refusals_fail_at_once():
    fake = FakeClient([DockerError("Docker engine refused remove: driver failed")])
    with pytest.raises(DockerError, match="driver failed"):
        ContainerEngine(fake).remove("c1")
    assert fake.calls == 1


def test_the_wait_ends_at_the_engine_timeout_naming_it(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    fake = FakeClient([], timeout=0)
    with pytest.raises(DockerError, match=r"still removing container c1 after 0 s, option timeout"):
        ContainerEngine(fake).remove("c1")


def test_in_progress_is_told_from_other_conflicts():
    assert removal_in_progress(IN_PROGRESS)
    assert not removal_in_progress(DockerError("Docker engine refused remove: You cannot remove a "
                                               "running container c1. Stop the container before "
                                               "attempting removal or force remove"))
