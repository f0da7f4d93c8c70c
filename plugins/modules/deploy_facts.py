#!/usr/bin/python
# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: deploy_facts
short_description: Check the deploy role's variables and derive its facts, on the controller
version_added: 0.4.0
description:
  - A step of the M(dockyard.fleet.deploy) role (its C(facts.yml), which C(playbooks/site.yml)
    and the C(dockyard.fleet.rolling_restart) role run too), made a plugin for speed. Its
    results are the role's private facts; use the role, not this module, in playbooks.
  - Reads the host's C(deploy_*) variables and checks the values the role's argument spec
    cannot judge (bounds, formats), and the types of those the facts use (C(facts.yml) has no
    argument spec). Every problem is named in one message, and nothing is contacted.
  - Then derives the facts the role's tasks share (the version to roll to, the image
    reference, the backend ports, whether the host gets the one-run rolling cycle, a token for
    the run's deploy lock) and returns them in RV(facts); the role sets them with
    C(ansible.builtin.set_fact).
  - Runs on the controller only, without a connection to the host (no module run, no SSH
    session); never reports changed; runs in check mode the same way.
  - Why a plugin, when C(assert) and C(set_fact) did the same - ansible-core compiles every
    template again each time it renders one, in each host's worker process. The two Jinja
    tasks cost about 65 ms of the controller's CPU per host each; this one about 20 ms, most of it the worker Ansible starts for any task.
options: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Nothing is changed in either mode.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
    details: Runs on the controller only.
notes:
  - Reads C(deploy_replicas), C(deploy_port_base), C(deploy_container_port), C(deploy_keep_images),
    C(deploy_keep_releases), C(deploy_lock_timeout), C(deploy_stop_timeout), C(deploy_wait_timeout),
    C(deploy_drain_timeout), C(deploy_haproxy_ready_timeout) (integers, or strings of one, in
    bounds), C(deploy_cpus), C(deploy_memory), C(deploy_version), C(deploy_app) (formats),
    C(deploy_labels), C(deploy_secret_env) (mappings), C(deploy_image), C(deploy_env_dir),
    C(deploy_lb_group), C(deploy_roll_mode), and the role's private C(deploy__roll_to),
    C(deploy__in_place) and C(deploy__token) when they are set.
seealso:
  - module: dockyard.fleet.service
author:
  - dockyard.fleet contributors (!UNKNOWN)
"""

EXAMPLES = r"""
# What the deploy role's facts.yml does (use the role; the facts' names are private)
- name: Check the deploy_* values and derive the app's facts
  dockyard.fleet.deploy_facts:
  register: deploy__facts

- name: The facts, for this play's later tasks and for the other hosts (through hostvars)
  ansible.builtin.set_fact:
    deploy__version: "{{ deploy__facts.facts.deploy__version }}"
"""

RETURN = r"""
facts:
  description:
    - The derived facts, by name - C(deploy__version), C(deploy__image_ref),
      C(deploy__replica_indexes), C(deploy__env_file), C(deploy__labels), C(deploy__lbs),
      C(deploy__lock_first), C(deploy__token), C(deploy__one_run) and C(haproxy_backend_ports).
  returned: success
  type: dict
  sample:
    deploy__version: v2
    deploy__image_ref: dockyard/demo:v2
    deploy__replica_indexes: [1, 2]
    deploy__one_run: true
    haproxy_backend_ports: [8081, 8082]
problems:
  description: Every problem of the values, each naming its variable (the failure's message joins them with C(; )).
  returned: failure, when a value is wrong
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec={}, supports_check_mode=True)
    module.fail_json(msg="dockyard.fleet.deploy_facts runs on the controller (its action plugin); "
                         "it cannot run as a module on the host")


if __name__ == "__main__":
    main()
