# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""dockyard.fleet.container_info: its run and argument spec. Shared by the module (on the
host) and its action plugin (on the controller, against the host's forwarded engine socket:
module_utils/_engine_forward.py)."""
from __future__ import annotations

from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import (
    EXECUTION_ARG, DockerClient, DockerError, docker_common_args)
from ansible_collections.dockyard.fleet.plugins.module_utils._info import (
    FilterError, container_view, label_filters, missing_view)

REQUIRED_ONE_OF = [["name", "labels"]]


def container_info_argument_spec():
    return docker_common_args(
        name=dict(type="list", elements="str", aliases=["names"]),
        labels=dict(type="raw"),
        all=dict(type="bool", default=True),
        execution=dict(EXECUTION_ARG),
    )


def container_info_main(module, client=None):
    """The run once the options are validated; ends with module.exit_json or fail_json."""
    labels = module.params["labels"]
    try:
        label_filter = label_filters(labels)
    except FilterError as exc:
        module.fail_json(msg=str(exc))
    # an empty selection would match nothing and still say exists: true
    if labels is not None and not labels:
        module.fail_json(msg="labels: must not be empty (omit it, or give at least one label)")
    if module.params["name"] is not None and not module.params["name"]:
        module.fail_json(msg="name: must not be empty (omit it, or give at least one name)")
    for n in module.params["name"] or []:
        if not n or "/" in n.strip("/"):
            module.fail_json(msg="name: %r is not a container name" % n)
    try:
        client = client or DockerClient(module.params)
        out = []
        exists = True
        for n in module.params["name"] or []:
            info = client.get("inspect_container", n.lstrip("/"))
            if info is None or (info.get("Name") or "").lstrip("/") != n.lstrip("/") \
                    and not (info.get("Id") or "").startswith(n):
                out.append(missing_view(n.lstrip("/")))
                exists = False
            else:
                out.append(container_view(info))
        if labels:
            seen = {c.get("id") for c in out}
            found = client.call("containers", all=module.params["all"],
                                filters={"label": label_filter})
            for c in found:
                if c["Id"] in seen:
                    continue
                info = client.get("inspect_container", c["Id"])
                if info is not None:
                    out.append(container_view(info))
            if not module.params["name"]:
                exists = bool(found)
    except DockerError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, exists=exists, containers=out)
