#!/usr/bin/python
# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: container_copy_into
short_description: Write a file into a Docker container, only when it differs
version_added: 0.3.0
description:
  - Writes one file into a container (running or not) through the engine's archive API, as
    C(docker cp) does, when its content, mode or owner differ from what is given; a file that
    already matches is left alone (no change).
  - O(src) is a file on the controller, found as M(ansible.builtin.copy) finds its C(src) (a
    role's C(files/), then the playbook's directory); or give O(content).
  - The file is replaced, not edited in place; a program that reads it at that moment may
    find it missing, and a write cut short (the connection lost) can leave it partly written.
  - A file the archive API cannot write as the container sees it fails the task before any
    write, in check mode too, naming why. The path is checked as the engine reaches it, every
    symlinked directory on the way followed (C(/el/hosts) with C(/el -> /etc) is C(/etc/hosts)).
    Refused are a path the container does not see where the archive API writes it (under a
    tmpfs mount, or under C(/dev), C(/dev/shm), C(/proc) or C(/sys), which the engine mounts
    itself; the write would land beneath them), the engine's C(/etc/hosts), C(/etc/hostname)
    and C(/etc/resolv.conf) (bind-mounted at every start in every network mode, none, host and
    C(container:<name>) included; a container never started gets them at its first start, over
    a file written before), a file that is a mount point (a bind of one file), a read-only
    mount or root filesystem (a volume on a read-only root is written), and an engine that
    remaps user namespaces (its archive API reads owners back as the host's). A file found
    where the container does not see it fails the task even when it matches.
  - A file the container's image provides is still the image's after the container is
    recreated; for configuration that must survive that, mount a volume or a bind mount
    (M(dockyard.fleet.container) O(dockyard.fleet.container#module:volumes)).
options:
  container:
    description: Name or ID of the container. It need not run.
    type: str
    required: true
  dest:
    description:
      - Absolute path of the file in the container. Its directory must exist.
      - A directory there fails the task; a symlink there is replaced by the file unless O(follow) is true
        (a symlink that does not resolve, such as a loop, too).
    type: str
    required: true
    aliases: [container_path]
  src:
    description:
      - File on the controller whose content is written. A relative path is looked up as
        M(ansible.builtin.copy) looks up its C(src); a vault-encrypted file is written decrypted
        (and, as with M(ansible.builtin.copy), shows decrypted in the diff with C(--diff)).
      - Exactly one of O(src) and O(content).
    type: path
  content:
    description:
      - The file's content, as text (UTF-8), or base64 with O(content_is_b64).
      - Text that came from bytes that are not UTF-8 (a lookup of a Latin-1 file) is written as
        those bytes, as M(ansible.builtin.copy) writes them.
      - Not logged (C(no_log)), but it shows in the task's diff with C(--diff); mark the task
        C(no_log) for secrets.
    type: str
  content_is_b64:
    description: O(content) is base64 (for binary content); spaces and line breaks in it (as
      C(base64) wraps its output) are ignored.
    type: bool
    default: false
  mode:
    description:
      - Permissions, an octal string such as V('0644') (quote it), or V(preserve) for the mode
        of O(src).
      - Left out, an existing file keeps its mode and a new one gets V('0644').
    type: raw
  owner_id:
    description:
      - Numeric owner, 0 to 4294967294. Left out, an existing file keeps its owner and a new one
        gets 0 (root).
    type: int
  group_id:
    description:
      - Numeric group, 0 to 4294967294. Left out, an existing file keeps its group and a new one
        gets 0 (root).
    type: int
  follow:
    description:
      - When O(dest) is a symlink in the container, write the file it points to (the target's
        directory must exist). False replaces the symlink with the file.
    type: bool
    default: false
  force:
    description:
      - False writes the file only when nothing is at O(dest) yet; an existing file is left
        as it is, whatever its content.
    type: bool
    default: true
extends_documentation_fragment:
  - dockyard.fleet.docker
  - dockyard.fleet.execution
  - dockyard.fleet.attributes
  - dockyard.fleet.attributes.ACTIONGROUP_DOCKER
notes:
  - With C(--diff), the diff shows the content of text files up to 104448 bytes (binary or
    larger ones are named, not shown), and the mode and owner when they change. Without it,
    the result has no diff.
  - Engine calls. A run with nothing to change is two, and one per directory on O(dest)'s path
    (C(/etc/shop/shop.ini) has two, C(/etc) and C(/etc/shop)); the container's inspect (its
    mounts), the file's archive (the comparison needs it, as the engine's stat has no owner), and
    a stat of each directory (whether it is a symlink, for the checks). A symlinked directory
    whose target's type the run has not seen adds one. A write adds two (the engine's info, for
    user namespaces, and the write). With O(follow) and a symlink at O(dest), the target's archive
    replaces the stats of the directories (the engine gives the target resolved whole), and a
    new file there adds one (its directory). A path refused as it is written is one (the
    inspect).
  - The file is read whole into memory on both sides; meant for configuration files, not for
    large data.
author: dockyard.fleet contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: The app's configuration, from the role's files/
  dockyard.fleet.container_copy_into:
    container: shop-1
    src: shop.ini
    dest: /etc/shop/shop.ini
    mode: "0640"
    owner_id: 1000
    group_id: 1000
  notify: Restart shop

- name: A page written from a template's result
  dockyard.fleet.container_copy_into:
    container: web
    content: "{{ lookup('ansible.builtin.template', 'motd.j2') }}"
    dest: /www/motd.txt

- name: Seed a file once; later runs leave the container's own changes alone
  dockyard.fleet.container_copy_into:
    container: web
    content: "{}"
    dest: /data/state.json
    force: false
"""

RETURN = r"""
container:
  description: The container, as given.
  returned: when the run got as far as the file
  type: str
dest:
  description: The file written or compared (with O(follow), the target of the symlink).
  returned: when the run got as far as the file
  type: str
  sample: /etc/shop/shop.ini
changes:
  description: What differed, in order; empty when nothing did.
  returned: success
  type: list
  elements: str
  sample: [content, mode]
checksum:
  description: SHA-1 of the file's content as it is after the run (in check mode, would be).
  returned: success, but for a symlink left as it is (O(force=false))
  type: str
size:
  description: Size in bytes of the file after the run.
  returned: success, but for a symlink left as it is (O(force=false))
  type: int
mode:
  description: The file's permissions after the run, in octal.
  returned: success, but for a symlink left as it is (O(force=false))
  type: str
  sample: "0644"
owner_id:
  description: The file's numeric owner after the run.
  returned: success, but for a symlink left as it is (O(force=false))
  type: int
group_id:
  description: The file's numeric group after the run.
  returned: success, but for a symlink left as it is (O(force=false))
  type: int
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

from ansible_collections.dockyard.fleet.plugins.module_utils._copy_into import (
    SPEC_RULES, copy_argument_spec, copy_main)


def main():
    module = AnsibleModule(argument_spec=copy_argument_spec(), supports_check_mode=True, **SPEC_RULES)
    copy_main(module)


if __name__ == "__main__":
    main()
