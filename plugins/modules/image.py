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
        C(repository@sha256:<digest>) for O(source=pull). ASCII only, as the engine's grammar.
      - Compared in the engine's own (familiar) form, so C(docker.io/dockyard/demo:v2) is
        C(dockyard/demo:v2) and C(docker.io/library/busybox) is C(busybox); RV(actions),
        RV(removed) and RV(image) use that form.
      - Or an image ID, C(sha256:<64 hex>), the 64 hex digits alone, or a short ID (12 hex
        digits or more) that the engine resolves to an image whose ID starts with it (a short
        hex name that resolves to no such image is a repository name). With an ID, O(state=present)
        only checks that the image is there (and adds O(repository) tags, which then need a tag);
        O(source) and O(keep) are refused. O(state=absent) removes the image with all its tags
        (see O(force_absent)).
    type: str
    required: true
  state:
    description: C(present) makes sure the image is there, C(absent) removes the O(name) tag
      (and the image when it was its last tag and nothing keeps it, see O(force_absent)), or
      with an image ID as O(name) the image.
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
        ID, with its tags) is missing there (or with O(force_source)).
      - A gzip, bzip2 or xz compressed archive (C(docker save IMAGE | gzip)) is read through its
        decompressor and sent as it is; C(docker load) takes it.
      - The archive must hold one image. C(docker load) tags every image of an archive with the
        tags the archive gives it, moving them from the images they point to on the host, so an
        archive of several images is refused (save the image alone). The tags the archive gives
        its image are set on the host too (they move to it), besides O(name).
      - With O(source=load), O(name) must be C(repository[:tag]) (the loaded image is tagged as
        it), not a digest reference nor an image ID.
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
      - With O(source=load) the archive is sent and loaded on every run, check mode says so in
        RV(actions), and RV(shipped) is true; the task is changed only when the load changes the
        image's tags or the image was missing (a loaded archive gives the same image ID).
    type: bool
    default: false
    aliases: [rebuild]
  force_absent:
    description:
      - With O(state=absent), remove the last tag of an image that containers use (any state);
        without it that fails, before any change, naming this option (in check mode too). A
        tag that is not the image's last one is removed without it.
      - With a stopped container, the image is deleted (the container keeps its own layers and
        shows the image ID). With a running container, only the tag goes; the image stays,
        untagged, as long as the container uses it, which RV(actions) and the diff say.
      - With an image ID as O(name), also removes an image that has several tags, or that a
        stopped container uses. An image a running container uses, or that other images were
        built from, cannot be removed by ID even so (the task fails naming O(name)).
      - V(true) with O(state=present) is refused naming this option (it would do nothing).
    type: bool
    default: false
  repository:
    description:
      - More references to tag the image as. An entry without a tag gets the tag of O(name).
        An image ID is no tag and is refused.
      - Every entry is checked before the image is pulled, loaded, built or tagged when the
        resulting image is known then (no source to act on, or O(source=load)). For a pull or
        a build, the image ID is known only afterwards; an entry that points to another image
        then fails the task after the pull or build, which is reported as changed, with what was
        done in RV(actions). Check mode, which cannot know that ID, warns instead.
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
      - Tags this run moves to the current image (O(name) moved by a pull or load, O(repository)
        with O(force_tag)) count for the current image, in check mode as in the real run.
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
  - Bad input fails before any change. When the engine fails a later step, the task fails with
    RV(actions) and C(changed) saying what had been done by then.
  - With O(source=build), O(build.path) must be a directory on the host and O(build.dockerfile)
    (default C(Dockerfile)) a file there, checked before the build (in check mode too).
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

- name: Remove an image by ID, with all its tags
  dockyard.fleet.image:
    name: sha256:97cbcedb5016d182e982d4d1416324c47fc81daf16347d397f020838d009832d
    state: absent
    force_absent: true
"""

RETURN = r"""
image:
  description:
    - The image after the run (null when it is not on the host). With O(state=absent) and other
      tags keeping the image, or a running container holding it untagged, the image as it is
      left.
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
  description:
    - Tags removed (by O(state=absent) or O(keep)); with an image ID as O(name), the image's tags
      (its ID when it had none).
  returned: always
  type: list
  elements: str
shipped:
  description:
    - With O(source=load), whether the archive was sent to the host (streamed or copied) in this
      run, also when the engine then refused it.
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
    manager = None
    try:
        client = DockerClient(module.params)
        manager = ImageManager(client, module.params, module.check_mode)
        result = manager.run()
    except (DockerError, ImageInputError) as exc:
        # a failure after a change (a tag made, an archive loaded) says what was done
        module.fail_json(msg=str(exc), **(manager.partial() if manager else dict(changed=False)))
    for warning in manager.warnings:
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
