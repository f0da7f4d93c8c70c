#!/usr/bin/python
# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: prune
short_description: Remove unused Docker containers, images, networks, volumes and build cache
version_added: 0.3.0
description:
  - Has the engine remove what nothing uses, as C(docker container prune), C(docker image
    prune), C(docker network prune), C(docker volume prune) and C(docker builder prune) do, for
    the kinds asked for, in that order (a container removed first frees its image and its
    volumes in the same run; build cache goes last).
  - Reports what was removed and reports a change only when something was.
  - Check mode asks the engine nothing that changes anything (it has no dry run); it lists
    what the engine would look at and applies the engine's rules (see the notes).
options:
  containers:
    description: Remove containers that do not run (created, exited, dead).
    type: bool
    default: false
  containers_filters:
    description:
      - Only the containers that pass these filters, as the engine's (C(until), C(label), C(label!)).
      - C(until) is a duration back from now (V(24h), V(1h30m)), a Unix timestamp or an RFC 3339
        date (one without a time zone is read as UTC); it is resolved once, on the machine
        the run happens on, so check mode and the real run cut at the same moment.
      - C(label) keeps only containers with all the labels given (V(key) or V(key=value));
        C(label!) leaves out those with all of the labels it gives (the engine's rule; one
        C(label!) label is the usual case). A list gives several.
    type: dict
  images:
    description:
      - Remove images no container (running or not) uses; only untagged (dangling) ones unless
        O(images_filters) sets C(dangling) to V(false).
    type: bool
    default: false
  images_filters:
    description: C(dangling) (V(false) removes unused tagged images too), C(until), C(label), C(label!).
    type: dict
  networks:
    description:
      - Remove custom networks without an endpoint (no running container on them; a stopped
        container attached to one does not keep it). C(bridge), C(host) and C(none) stay.
      - On a swarm manager the engine also removes unused swarm networks; check mode does not
        predict those.
    type: bool
    default: false
  networks_filters:
    description: C(until), C(label), C(label!).
    type: dict
  volumes:
    description:
      - Remove local volumes no container (running or not) mounts; a local volume with driver
        options (NFS, a bind) stays. From API 1.42 (Docker 23) the engine removes only
        anonymous ones unless O(volumes_filters) sets C(all) to V(true); older engines, and
        requests pinned to an older O(api_version), remove every unused local volume, named or not.
      - Data in a removed volume is gone. Keep volumes you need with a label and C(label!).
    type: bool
    default: false
  volumes_filters:
    description: C(label), C(label!), C(all) (API 1.42 and later).
    type: dict
  builder_cache:
    description:
      - Remove build cache, the BuildKit records that C(docker system df -v) lists, those no
        build is using and whose data no image's layers share, each once the records built on
        it are gone (a record's parent can go in the same run). O(builder_cache_all) removes the
        shared ones too.
      - Goes last, after volumes. An image removed with O(images) in the same run can free
        records that the real run then removes too (check mode does not predict those).
      - The classic builder (C(DOCKER_BUILDKIT=0), the Docker SDK's builds) keeps no build
        cache of this kind; its cache is the images it leaves, for O(images).
    type: bool
    default: false
  builder_cache_all:
    description:
      - Also remove records whose data an image's layers share (the image keeps its layers) and
        BuildKit's internal and frontend records, as C(docker builder prune --all).
      - Only with O(builder_cache).
    type: bool
    default: false
  builder_cache_filters:
    description:
      - The engine's build-cache filters, one value each (API 1.39 and later).
      - C(until) leaves the records used since then (last used, not created), a duration back
        from now (V(24h)), a Unix timestamp or an RFC 3339 date like the other kinds' C(until);
        the engine takes a duration only, and is given the one back to that moment.
      - C(id) is an ID or a part of one (letters and digits); every record whose ID contains it.
      - C(type) is V(regular), V(internal), V(frontend), V(source.local), V(source.git.checkout)
        or V(exec.cachemount).
      - C(shared=true) only the records an image shares (they go only with
        O(builder_cache_all)); C(private=true), or C(shared=false), only the others.
      - Build cache has no labels, and C(label) and C(label!) fail (the engine ignores them and
        would prune the rest). C(parent), C(description) and C(inuse), which the engine takes,
        match no record in its prune (Docker 20.10) and fail too.
    type: dict
  builder_cache_keep_storage:
    description:
      - Keep this much build cache. The engine removes the records the other options allow one
        at a time, the least recently and least often used first, as long as the records no
        image shares take this much or more; when they take less, nothing goes.
      - Bytes (an integer), or a size as C(docker builder prune --keep-storage) reads it, such as
        V(512MB), V(1.5GB), V(2GiB), V(100k); the units are of 1024 (V(1GB) is 1073741824
        bytes). V(0) is no limit, as when not set.
    type: raw
extends_documentation_fragment:
  - dockyard.fleet.docker
  - dockyard.fleet.execution
  - dockyard.fleet.attributes.ACTIONGROUP_DOCKER
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details:
      - Predicted from the engine's listings and its rules; something that changes between
        the check and a real run (a container stopping) changes the outcome.
      - For images the prediction names the top-level images; the engine may also delete the
        untagged parent images they leave unused (images built in steps), and the real run
        lists every image it deleted. With C(dangling) V(false), an image a container uses
        loses all its tags but one, which one being the engine's choice.
      - Engines that keep images in containerd's store (an option of Docker 24 and later)
        apply other image rules; the prediction follows the classic store's.
      - For build cache the prediction applies BuildKit's rules to the records of the engine's
        disk usage (GET /system/df), taking a record's C(Shared) as it is before the run (see
        O(builder_cache) for records that images pruned in the same run free). With
        O(builder_cache_keep_storage) it follows BuildKit's order of removal; records it ranks
        equal come in the order of their usage counts and last use up to 12 of them (the
        engine's sort keeps it), in one the engine does not fix past that.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details: The diff lists what is (or would be) removed, by kind.
notes:
  - A real run is one engine call per kind asked for (and the engine's version, read for its
    rules, with O(volumes) or any of O(builder_cache_filters), O(builder_cache_all) and
    O(builder_cache_keep_storage)); check mode lists containers once and each kind once,
    and inspects every custom network.
  - For build cache check mode reads the engine's disk usage (GET /system/df), which before API
    1.42 (Docker 23) also measures every image, container and volume (slow on a big host).
  - A prune of many objects takes as long as their removals; raise O(timeout) for large ones.
author: dockyard.fleet contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Weekly clean-up of each app host
  dockyard.fleet.prune:
    containers: true
    containers_filters: {until: 24h}
    images: true
    images_filters: {dangling: false, until: 168h}
    networks: true

- name: Remove unused volumes, except the ones labelled to keep
  dockyard.fleet.prune:
    volumes: true
    volumes_filters: {"label!": keep}

- name: Trim the build cache to 5 GiB, from the records unused for a week
  dockyard.fleet.prune:
    builder_cache: true
    builder_cache_all: true
    builder_cache_keep_storage: 5GB
    builder_cache_filters: {until: 168h}
"""

RETURN = r"""
containers:
  description: IDs of the containers removed (in check mode, that would be).
  returned: when O(containers) is true
  type: list
  elements: str
images:
  description: IDs of the images deleted (would be).
  returned: when O(images) is true
  type: list
  elements: str
images_untagged:
  description: References (tags, digests) removed from deleted images.
  returned: when O(images) is true
  type: list
  elements: str
networks:
  description: Names of the networks removed (would be).
  returned: when O(networks) is true
  type: list
  elements: str
volumes:
  description: Names of the volumes removed (would be).
  returned: when O(volumes) is true
  type: list
  elements: str
builder_cache:
  description: IDs of the build-cache records removed (would be), as C(docker system df -v) lists them.
  returned: when O(builder_cache) is true
  type: list
  elements: str
space_reclaimed:
  description: Bytes the engine says it freed (the build cache's included).
  returned: when not in check mode
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

from ansible_collections.dockyard.fleet.plugins.module_utils._prune import prune_argument_spec, prune_main


def main():
    module = AnsibleModule(argument_spec=prune_argument_spec(), supports_check_mode=True)
    prune_main(module)


if __name__ == "__main__":
    main()
