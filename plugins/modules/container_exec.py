#!/usr/bin/python
# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: container_exec
short_description: Run a command in a running Docker container
version_added: 0.3.0
description:
  - Runs one command in a running container, as C(docker exec) does, and returns its exit
    code and output. For a one-off step of a deploy (a database migration, a cache warm-up)
    in a container the collection runs.
  - Like M(ansible.builtin.command), it reports a change whenever the command ran (use
    C(changed_when) to say otherwise) and fails when it exits with anything but C(0).
  - The command is run directly, not by a shell; give a list, or a string split as a shell
    would split words (no pipes, redirections or variables; run C([/bin/sh, -c, "..."]) for those).
options:
  container:
    description: Name or ID of the container; it must be running.
    type: str
    required: true
  command:
    description: The command, a list of arguments or a string split into words.
    type: raw
    required: true
  env:
    description:
      - Variables for the command, on top of the container's own. Their values are not
        returned; mark the task C(no_log) when the command's output shows them.
    type: dict
  user:
    description: User to run the command as (C(name), C(uid), C(uid:gid)); the container's user by default.
    type: str
  chdir:
    description: Absolute directory in the container to run the command in; the container's working directory by default.
    type: str
    aliases: [workdir, working_dir]
  tty:
    description: Allocate a pseudo-terminal; the output then comes as one stream (RV(stdout)).
    type: bool
    default: false
  command_timeout:
    description:
      - Fail when the command gives no output for this many seconds. Left out, it is awaited
        as long as it runs (the task's C(timeout) keyword bounds it, as any task).
      - The engine cannot stop an exec; a command given up on may go on running in the container.
      - On C(ssh://) engines (through the Docker SDK), the engine O(timeout) applies instead.
    type: int
extends_documentation_fragment:
  - dockyard.fleet.docker
  - dockyard.fleet.execution
  - dockyard.fleet.attributes.ACTIONGROUP_DOCKER
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: partial
    details: In check mode the command does not run (the task is skipped); the container is still checked (it exists and runs).
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
notes:
  - Three engine calls on top of the container's inspect (create, start, inspect of the exec).
author: dockyard.fleet contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Migrate the database before the new release takes traffic
  dockyard.fleet.container_exec:
    container: shop-1
    command: [/app/manage, migrate, --no-input]
    env: {DJANGO_SETTINGS_MODULE: shop.settings}
  run_once: true

- name: A shell pipeline needs a shell
  dockyard.fleet.container_exec:
    container: web
    command: [/bin/sh, -c, "ls /data | wc -l"]
  register: files
  changed_when: false
"""

RETURN = r"""
rc:
  description: The command's exit code.
  returned: when the command ran
  type: int
  sample: 0
stdout:
  description: What the command wrote to its standard output, trailing newlines removed (with O(tty), everything it wrote).
  returned: when the command ran
  type: str
stderr:
  description: What the command wrote to its standard error, trailing newlines removed (empty with O(tty)).
  returned: when the command ran
  type: str
stdout_lines:
  description: RV(stdout) split into lines.
  returned: when the command ran
  type: list
  elements: str
stderr_lines:
  description: RV(stderr) split into lines.
  returned: when the command ran
  type: list
  elements: str
argv:
  description: The command as run, one item per argument.
  returned: when the container runs
  type: list
  elements: str
container:
  description: The container the command ran in (in check mode, would run in).
  returned: when the container runs
  type: dict
  contains:
    id: {description: Container ID., type: str}
    name: {description: Container name., type: str}
exec_id:
  description: The engine's ID of the exec.
  returned: when the command ran
  type: str
execution:
  description: Where the run happened, V(controller) or V(host) (see O(execution)).
  returned: when the run started
  type: str
  sample: controller
execution_reason:
  description: With O(execution=auto), why the run went to the host.
  returned: when O(execution=auto) ran the module on the host
  type: str
invocations:
  description: Module runs on the host for this task, 0 (on the controller) or 1.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockyard.fleet.plugins.module_utils._exec import exec_argument_spec, exec_main


def main():
    module = AnsibleModule(argument_spec=exec_argument_spec(), supports_check_mode=True)
    exec_main(module)


if __name__ == "__main__":
    main()
