# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deploy role's value checks and derived facts, in Python (controller side, for the
dockyard.fleet.deploy_facts action plugin).

Why: the role did this in Jinja (an assert over a 2,400-character template, a set_fact of a
dozen templates). ansible-core compiles every template again each time it renders one, in
each host's worker process: those two tasks cost about 65 ms of the controller's CPU per
host each, and every entry point runs them (site.yml's first play and the deploy play
both). Pure functions here, unit-tested.
"""
from __future__ import annotations

import json
import re
import secrets
import string

from ansible.module_utils.parsing.convert_bool import boolean

# (variable, lowest, highest or None): integers, or strings of one
INTEGERS = (
    ("deploy_replicas", 1, 65535), ("deploy_port_base", 1, 65535),
    ("deploy_container_port", 1, 65535), ("deploy_keep_images", 1, None),
    ("deploy_keep_releases", 1, None), ("deploy_lock_timeout", 0, None),
    ("deploy_stop_timeout", 0, None), ("deploy_wait_timeout", 1, None),
    ("deploy_drain_timeout", 0, None), ("deploy_haproxy_ready_timeout", 1, None),
)
# the other variables the checks and the derived facts read
OTHERS = ("deploy_cpus", "deploy_memory", "deploy_version", "deploy_app", "deploy_image",
          "deploy_env_dir", "deploy_labels", "deploy_lb_group", "deploy_secret_env",
          "deploy_roll_mode")
# the role's private inputs (set by other roles or earlier runs of this one), read when set
PRIVATE = ("deploy__roll_to", "deploy__in_place", "deploy__token")
VARIABLES = tuple(n for n, _lo, _hi in INTEGERS) + OTHERS

_INT = re.compile(r"^[+-]?[0-9]+$")
_CPUS = re.compile(r"^[0-9]+(\.[0-9]*)?$")
_MEMORY = re.compile(r"^([0-9]+(\.[0-9]+)?\s*[bkmgtBKMGT]?[iI]?[bB]?)?$")
_VERSION = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_APP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_TOKEN_CHARS = string.ascii_lowercase + string.digits


def _text(value):
    """Jinja's `string` filter, for the messages and the pattern checks."""
    return "%s" % (value,)


def _is_int(value):
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and _INT.match(value.strip()) is not None


def problems(values):
    """Every problem of the deploy_* values (a mapping of name -> value), each naming the
    variable, in the order the role always reported them; [] when there is none."""
    found = []
    for name, low, high in INTEGERS:
        if name not in values:
            found.append("%s is not set" % name)
            continue
        v = values[name]
        if not _is_int(v):
            found.append("%s must be an integer, got %s" % (name, json.dumps(_text(v))))
            continue
        n = int(v)
        if n < low or (high is not None and n > high):
            bound = "at least %d" % low if high is None else "from %d to %d" % (low, high)
            hint = (" (to remove every replica, use playbooks/teardown.yml)"
                    if name == "deploy_replicas" and n == 0 else "")
            found.append("%s must be %s, got %d%s" % (name, bound, n, hint))
    if not found:
        last = int(values["deploy_port_base"]) + int(values["deploy_replicas"]) - 1
        if last > 65535:
            found.append("deploy_port_base + deploy_replicas - 1 must be at most 65535, got %d" % last)
    checks = (
        ("deploy_cpus", lambda v: _CPUS.match(_text(v).strip()), "a number, 0 or more"),
        ("deploy_memory", lambda v: _MEMORY.match(_text(v).strip()), "empty or a size such as 256m"),
        ("deploy_version", lambda v: _VERSION.match(_text(v)),
         "an image tag (letters, digits, _.-, 128 at most, not starting with . or -)"),
        ("deploy_app", lambda v: _APP.match(_text(v)),
         "letters, digits and _.- (starting with a letter or digit)"),
    )
    for name, ok, what in checks:
        if name not in values:
            found.append("%s is not set" % name)
        elif not ok(values[name]):
            found.append("%s must be %s, got %s" % (name, what, json.dumps(_text(values[name]))))
    for name in ("deploy_labels", "deploy_secret_env"):
        if name in values and not isinstance(values[name], dict):
            found.append("%s must be a mapping, got %s" % (name, json.dumps(_text(values[name]))))
    return found


def new_token():
    """A token for one run (the deploy lock is re-entrant within a run): 20 of [a-z0-9]."""
    return "".join(secrets.choice(_TOKEN_CHARS) for _i in range(20))


def derive(values, groups):
    """The role's facts from checked values (problems(values) == []).

    groups: the inventory's groups. The caller adds deploy__one_run (it needs hostvars)."""
    to = values.get("deploy__roll_to") or values["deploy_version"]
    replicas, base = int(values["deploy_replicas"]), int(values["deploy_port_base"])
    labels = dict(values["deploy_labels"])
    labels.update({"dockyard.app": values["deploy_app"], "dockyard.version": to})
    lbs = (groups or {}).get(values["deploy_lb_group"])
    return {
        "deploy__version": to,
        "deploy__image_ref": "%s:%s" % (values["deploy_image"], to),
        "deploy__replica_indexes": list(range(1, replicas + 1)),
        "deploy__env_file": "%s/%s.env" % (values["deploy_env_dir"], values["deploy_app"]),
        "deploy__labels": labels,
        "deploy__lbs": list(lbs) if lbs is not None else [],
        "deploy__lock_first": (boolean(values.get("deploy__in_place", False), strict=False)
                               or len(values["deploy_secret_env"]) > 0),
        "deploy__token": values.get("deploy__token") or new_token(),
        "haproxy_backend_ports": list(range(base, base + replicas)),
    }
