# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""dockyard.fleet.host_info: its run and argument spec. Shared by the module (on the host)
and its action plugin (on the controller, against the host's forwarded engine socket:
module_utils/_engine_forward.py)."""
from __future__ import annotations

from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import (
    EXECUTION_ARG, DockerClient, DockerError, docker_common_args)
from ansible_collections.dockyard.fleet.plugins.module_utils._info import (
    LIST_KINDS, FilterError, disk_usage_summary, filter_refusal, host_summary, list_filters,
    list_view)


def host_info_argument_spec():
    return docker_common_args(
        containers=dict(type="bool", default=False),
        containers_all=dict(type="bool", default=True),
        containers_filters=dict(type="dict"),
        images=dict(type="bool", default=False),
        images_filters=dict(type="dict"),
        networks=dict(type="bool", default=False),
        networks_filters=dict(type="dict"),
        volumes=dict(type="bool", default=False),
        volumes_filters=dict(type="dict"),
        disk_usage=dict(type="bool", default=False),
        execution=dict(EXECUTION_ARG),
    )


def host_info_main(module, client=None):
    """The run once the options are validated; ends with module.exit_json or fail_json."""
    p = module.params
    try:
        filters = list_filters(p)
    except FilterError as exc:
        module.fail_json(msg=str(exc))
    result = dict(changed=False)
    try:
        client = client or DockerClient(p)
        version = client.probed_version or client.call("version")
        result["host_info"] = host_summary(version, client.call("info"))
        for kind in LIST_KINDS:
            if not p[kind]:
                continue
            kwargs = dict(all=p["containers_all"]) if kind == "containers" else {}
            try:
                answer = client.call(kind, filters=filters[kind], **kwargs)
            except DockerError as exc:
                module.fail_json(msg=filter_refusal(kind, filters[kind], str(exc)))
            result[kind] = list_view(kind, answer)
        if p["disk_usage"]:
            result["disk_usage"] = disk_usage_summary(client.call("df"))
    except DockerError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)
