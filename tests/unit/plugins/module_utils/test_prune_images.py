"""Older images removed at the record (service record.keep_images) with the image module's rule."""
from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import DockerError
from ansible_collections.dockyard.fleet.plugins.module_utils._engine_forward import (
    ControllerModule, ModuleExit)
from ansible_collections.dockyard.fleet.plugins.module_utils._image import prune_repo
from ansible_collections.dockyard.fleet.plugins.module_utils._service import prune_images

IMAGES = {  # id: (tags, created)
    "sha256:a": (["demo/x:v1"], "2026-01-01T00:00:01Z"),
    "sha256:b": (["demo/x:v2"], "2026-01-01T00:00:02Z"),
    "sha256:c": (["demo/x:v3", "demo/x:latest"], "2026-01-01T00:00:03Z"),
    "sha256:o": (["other/y:v9"], "2026-01-01T00:00:09Z"),
}


class FakeClient:
    def __init__(self, used=(), fail_remove=False):
        self.used = used
        self.fail_remove = fail_remove
        self.removed = []

    def call(self, method, *args, **kwargs):
        if method == "images":
            repo = kwargs["name"]
            return [{"Id": i, "RepoTags": t, "Created": 0} for i, (t, _c) in IMAGES.items()
                    if any(x.startswith(repo + ":") for x in t)]
        if method == "containers":
            return [{"ImageID": i} for i in self.used]
        if method == "remove_image":
            if self.fail_remove:
                raise DockerError("conflict: unable to remove %s" % args[0])
            self.removed.append(args[0])
            return None
        raise AssertionError(method)

    def get(self, method, ref):
        assert method == "inspect_image"
        for i, (tags, created) in IMAGES.items():
            if ref == i or ref in tags:
                return {"Id": i, "RepoTags": tags, "Created": created}
        return None


class FakeEngine:
    def __init__(self, client):
        self.client = client

    def image(self, ref):
        return self.client.get("inspect_image", ref)


def test_prune_repo_keeps_the_current_then_the_newest_and_used_ones():
    client = FakeClient(used=["sha256:a"])
    current = client.get("inspect_image", "demo/x:v2")
    assert prune_repo(client, "demo/x", current, 1) == ["demo/x:latest", "demo/x:v3"]
    assert client.removed == ["demo/x:latest", "demo/x:v3"]   # v1 is used: it stays


def test_prune_repo_in_check_mode_removes_nothing():
    client = FakeClient()
    current = client.get("inspect_image", "demo/x:v3")
    assert prune_repo(client, "demo/x", current, 2, check_mode=True) == ["demo/x:v1"]
    assert client.removed == []


def test_prune_images_only_with_keep_and_a_failure_is_a_warning():
    module = ControllerModule({}, False)
    assert prune_images(module, FakeEngine(FakeClient()), "demo/x:v3", None) is None
    assert prune_images(module, FakeEngine(FakeClient()), "demo/x:v9", 1) == []  # not there
    engine = FakeEngine(FakeClient(fail_remove=True))
    assert prune_images(module, engine, "demo/x:v3", 1) == []
    assert len(module.warnings) == 1
    assert "option record.keep_images" in module.warnings[0] and "conflict" in module.warnings[0]
    try:
        module.exit_json(changed=False)
    except ModuleExit as end:
        assert end.result["warnings"] == module.warnings
