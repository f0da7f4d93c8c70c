#!/usr/bin/python
# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: image
short_description: Make sure a Docker image is (or is not) on a host
version_added: 0.1.0
description:
  - Ensures an image reference is present on the host's Docker engine, from a registry
    (O(source=pull)), from a C(docker save) archive on the controller (O(source=load)) or built
    from a context directory on the host (O(source=build)); or removes it (O(state=absent)).
  - With O(source=load) the action plugin reads the archive's C(manifest.json) on the
    controller to learn the image ID and tags, asks the host whether that image is there, and
    sends the archive only when it is missing. Over SSH (O(ship=auto)) it asks the host's
    engine directly through a socket forwarded over the task's SSH connection and streams the
    archive into C(docker load) the same way (no module run on the host, nothing written to
    its disk). Otherwise (O(ship=copy)) a no-op is one module run and copies nothing.
  - Can add more tags (O(repository)) and prune older tags of the same repository (O(keep)).
options:
  name:
    description:
      - Image reference, C([registry[:port]/]repository[:tag]) (tag defaults to C(latest)) or
        C(repository@sha256:<digest>) for O(source=pull).
    type: str
    required: true
  state:
    description: C(present) makes sure the image is there, C(absent) removes the O(name) tag
      (and the image when it was its last tag).
    type: str
    choices: [present, absent]
    default: present
  source:
    description:
      - Where the image comes from when it is missing (or when O(force_source) is set).
      - Not set means the image must already be on the host (only tags and O(keep) are managed).
    type: str
    choices: [pull, load, build]
  pull:
    description:
      - With O(source=pull), V(missing) pulls only when the image is not on the host, V(always)
        asks the registry every time (changed only when the image ID changes). Default V(missing).
    type: str
    choices: [always, missing]
  load_path:
    description:
      - Path ON THE CONTROLLER of a C(docker save) archive, for O(source=load). Relative paths are
        searched like other C(files/) lookups. It is copied to the host only when the image (by
        ID, with its tags) is missing there.
    type: path
  build:
    description: Build settings for O(source=build).
    type: dict
    suboptions:
      path:
        description: Build context directory ON THE HOST.
        type: path
        required: true
      dockerfile:
        description: Dockerfile path relative to O(build.path) (default C(Dockerfile)).
        type: str
      args:
        description: Build arguments (C(--build-arg)).
        type: dict
      target:
        description: Build stage to stop at.
        type: str
      nocache:
        description: Do not use the build cache.
        type: bool
        default: false
      pull:
        description: Always try to pull newer base images.
        type: bool
        default: false
  force_source:
    description:
      - Pull, load or build even when the image is already there (C(docker build) of an
        unchanged context gives the same ID and reports no change).
    type: bool
    default: false
    aliases: [rebuild]
  force_absent:
    description: With O(state=absent), remove the image even if containers use it.
    type: bool
    default: false
  repository:
    description:
      - More references to tag the image as. An entry without a tag gets the tag of O(name).
    type: list
    elements: str
  force_tag:
    description: Move a O(repository) tag that already points to another image.
    type: bool
    default: false
  keep:
    description:
      - Keep only this many images of the repository of O(name), counting the current one,
        by image creation time (newest first). Tags of the other images of that repository are
        removed, except images used by any container (running or stopped), which are always kept
        and do not count. Removed tags are returned in RV(removed).
    type: int
  ship:
    description:
      - How O(source=load) reaches the host's engine. Ignored for other sources.
      - V(stream) forwards the host's engine socket (O(docker_host), a unix socket) to the
        controller over the task's SSH ControlMaster (C(ssh -O forward), no new connection), runs
        this module's logic on the controller against it and, when the image is missing,
        streams the archive into C(docker load) through it. No module run, no temporary copy on
        the host. The engine is reached as the SSH user (root, or a member of the C(docker)
        group); the forward, in the connection's private ControlPath directory, is cancelled
        when the task ends. Fails naming this option when that is not possible.
      - V(copy) runs the module on the host to ask, and only when the image is missing copies
        the archive to a temporary directory there and runs the module again to load it.
      - V(auto) streams when it can (the C(ssh) connection plugin with ControlPersist, a unix
        socket O(docker_host), no C(DOCKER_*) variable in the task's C(environment), not async,
        no C(become_user) other than root, an engine socket the SSH user can open) and
        copies otherwise; RV(ship_reason) says why it copied.
    type: str
    choices: [auto, stream, copy]
    default: auto
  _archive:
    description: Internal, set by the action plugin. Do not use.
    type: dict
extends_documentation_fragment:
  - dockyard.fleet.docker
  - dockyard.fleet.attributes
  - dockyard.fleet.attributes.ACTIONGROUP_DOCKER
notes:
  - Check mode never pulls, copies, loads or builds. For O(pull=always) and an image that is
    present, it asks the registry for the tag's digest (no pull) and predicts a change when it
    differs from the one the host pulled, or when the host's copy has no digest from that
    repository (loaded or built here). A registry that cannot be asked fails the task, as the
    pull would.
author: dockyard.fleet contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Ship the release archive (sent only when the host lacks it), keep 3 releases
  dockyard.fleet.image:
    name: dockyard/demo:v2
    source: load
    load_path: images/demo-v2.tar
    keep: 3

- name: Pull from a registry once
  dockyard.fleet.image:
    name: registry.example.com/team/app:1.4
    source: pull

- name: Build on the host
  dockyard.fleet.image:
    name: local/app:dev
    source: build
    build:
      path: /srv/app
      args:
        VERSION: "1.4"
    repository: [local/app:latest]

- name: Remove a tag
  dockyard.fleet.image:
    name: dockyard/demo:v1
    state: absent
"""

RETURN = r"""
image:
  description: The image after the run (null when absent).
  returned: always
  type: dict
  contains:
    id: {description: Image ID., type: str}
    tags: {description: Its repository tags., type: list, elements: str}
    digests: {description: Its repository digests., type: list, elements: str}
    created: {description: Creation time., type: str}
    size: {description: Size in bytes., type: int}
actions:
  description: What was done (or would be done in check mode).
  returned: always
  type: list
  elements: str
removed:
  description: Tags removed (by O(state=absent) or O(keep)).
  returned: always
  type: list
  elements: str
shipped:
  description: With O(source=load), whether the archive was sent to the host (streamed or copied) in this run.
  returned: when source is load
  type: bool
ship:
  description: With O(source=load), how the host's engine was reached, V(stream) or V(copy).
  returned: when source is load and the archive was read
  type: str
ship_reason:
  description: With O(ship=auto), why the archive could not be streamed (then it was copied).
  returned: when O(ship=auto) fell back to V(copy)
  type: str
invocations:
  description: How many times the module ran on the host for this task (0 when streamed, 1 or 2).
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import (
    DockerClient, DockerError, docker_common_args)
from ansible_collections.dockyard.fleet.plugins.module_utils._image import (
    IMAGE_ARGS, ImageInputError, ImageManager, validate_params)


def main():
    spec = docker_common_args(**IMAGE_ARGS)
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    try:
        validate_params(module.params)
    except ImageInputError as exc:
        module.fail_json(msg=str(exc), changed=False)
    try:
        client = DockerClient(module.params)
        result = ImageManager(client, module.params, module.check_mode).run()
    except (DockerError, ImageInputError) as exc:
        module.fail_json(msg=str(exc), changed=False)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
