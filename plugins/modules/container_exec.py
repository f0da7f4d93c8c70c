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
  - The options are those of M(community.docker.docker_container_exec) (O(argv), O(command),
    O(stdin), O(stdin_add_newline), O(strip_empty_ends), O(detach), O(env), O(tty), O(user),
    O(chdir)) and mean the same here, plus O(privileged) and O(command_timeout). Unlike it,
    a non-zero exit fails the task, a command the engine could not start fails it unchanged,
    and check mode is supported (the task is skipped).
options:
  container:
    description: Name or ID of the container; it must be running.
    type: str
    required: true
  command:
    description:
      - The command, a list of arguments or a string split into words.
      - Exactly one of O(command) and O(argv) must be given.
    type: raw
  argv:
    description:
      - The command as a list of arguments, taken as they are (no word splitting).
      - Exactly one of O(command) and O(argv) must be given.
    type: list
    elements: str
  env:
    description:
      - Variables for the command, on top of the container's own. Their values are not
        returned; mark the task C(no_log) when the command's output shows them.
    type: dict
  user:
    description:
      - User to run the command as (C(name), C(uid), C(name:group), C(uid:gid)); the container's
        user by default. A name the container's C(/etc/passwd) (or a group its C(/etc/group))
        does not have fails the task unchanged, naming this option.
    type: str
  chdir:
    description:
      - Absolute directory in the container to run the command in; the container's working
        directory by default. One that does not exist fails the task unchanged, naming this
        option (the engine does not create it).
    type: str
    aliases: [workdir, working_dir]
  tty:
    description:
      - Allocate a pseudo-terminal; the output then comes as one stream (RV(stdout)), with the
        terminal's line ends (C(\r\n)).
      - Cannot be used with O(stdin) (a terminal passes on no end of input; the engine ends a
        TTY exec's output when its input ends, and the command would be left waiting).
    type: bool
    default: false
  privileged:
    description:
      - Run the command with extended privileges (every capability), as
        C(docker exec --privileged); the container itself stays as it is.
      - An engine that itself runs without every capability cannot grant them; the task then
        fails unchanged, naming this option, with the engine's reason.
    type: bool
    default: false
  stdin:
    description:
      - Text written to the command's standard input, which is then closed, so that the
        command reads to its end (C(psql), C(sh -s), C(cat) and the like end when it does).
        Without it, the command's input is C(/dev/null).
      - It is written while the output is read, so a large input does not block a command
        that writes before it reads all of it.
      - Cannot be used with O(detach) (a detached command gets no input) or O(tty).
      - Not over a C(tcp://) engine with TLS (Python's TLS connections cannot end their input
        and go on reading); use the engine's unix socket (the default), or C(ssh://).
    type: str
  stdin_add_newline:
    description: Add a newline to the end of O(stdin) (as a line typed in would end).
    type: bool
    default: true
  strip_empty_ends:
    description:
      - Remove the newlines (C(\n) and C(\r)) at the end of RV(stdout) and RV(stderr).
      - V(false) returns the output exactly as the command wrote it.
    type: bool
    default: true
  detach:
    description:
      - Start the command and return at once, with its RV(exec_id), without waiting for it
        (C(docker exec -d)). Its exit code and output are not returned, and its end is not
        awaited; the task reports a change. The engine's exec inspect (C(GET /exec/<exec_id>/json))
        tells whether it still runs and how it ended.
      - A command the engine could not start still fails the task (unchanged, naming the option
        at fault).
      - Cannot be used with O(stdin) or O(command_timeout).
    type: bool
    default: false
  command_timeout:
    description:
      - Fail when the command gives no output for this many seconds (a limit on silence, not on
        the whole run; a command that keeps writing is awaited). The output received until then
        is returned. Left out, the command is awaited as long as it runs (the task's C(timeout)
        keyword bounds it, as any task).
      - The engine cannot stop an exec; a command given up on may go on running in the container.
      - The same on every engine, C(ssh://) ones (through the Docker SDK) included; the engine
        O(timeout) bounds the engine calls, not the command.
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
  - Three engine calls on top of the container's inspect (create, start, inspect of the exec);
    two with O(detach).
  - The output and O(stdin) go over the connection the engine hands over when it starts the
    exec (HTTP upgrade), with the collection's own client (unix socket, on the controller
    through the forwarded socket, or C(tcp://)) as with the Docker SDK (C(ssh://) engines).
  - A command the engine could not start (a program the container does not have or cannot
    execute, an unknown O(user), a missing O(chdir)) fails the task with C(changed=false), the
    option at fault and the engine's reason. The engine reports it as exit code 126 with no
    process; a command that ran and itself exited 126 or 127 (a shell that found no such
    program) is an exit like any other.
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

- name: Feed a SQL script to psql on its standard input
  dockyard.fleet.container_exec:
    container: db
    argv: [psql, -v, ON_ERROR_STOP=1, -U, app, app]
    stdin: "{{ lookup('ansible.builtin.file', 'grants.sql') }}"
  no_log: true

- name: Warm the cache in the background; the task does not wait for it
  dockyard.fleet.container_exec:
    container: web
    argv: [/app/bin/warm-cache, --all]
    detach: true
  register: warm

- name: Give up on a command silent for 5 minutes, keeping what it wrote so far
  dockyard.fleet.container_exec:
    container: shop-1
    argv: [/app/manage, rebuild_index]
    command_timeout: 300
"""

RETURN = r"""
rc:
  description: The command's exit code.
  returned: when the command ran to its end (not with O(detach))
  type: int
  sample: 0
stdout:
  description:
    - What the command wrote to its standard output (with O(tty), everything it wrote);
      trailing newlines removed unless O(strip_empty_ends=false).
    - After a O(command_timeout) give-up, what came until then.
  returned: when the command ran, not with O(detach)
  type: str
stderr:
  description:
    - What the command wrote to its standard error (empty with O(tty)); trailing newlines
      removed unless O(strip_empty_ends=false).
    - After a O(command_timeout) give-up, what came until then.
  returned: when the command ran, not with O(detach)
  type: str
stdout_lines:
  description: RV(stdout) split into lines.
  returned: when the command ran, not with O(detach)
  type: list
  elements: str
stderr_lines:
  description: RV(stderr) split into lines.
  returned: when the command ran, not with O(detach)
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
  description: The engine's ID of the exec (with O(detach), the handle to ask the engine about it).
  returned: when the exec was created (not in check mode)
  type: str
  sample: 249d9e3075655baf705ed8f40488c5e9434049cf3431976f1bfdb73741c574c5
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

from ansible_collections.dockyard.fleet.plugins.module_utils._exec import (
    SPEC_RULES, exec_argument_spec, exec_main)


def main():
    module = AnsibleModule(argument_spec=exec_argument_spec(), supports_check_mode=True, **SPEC_RULES)
    exec_main(module)


if __name__ == "__main__":
    main()
