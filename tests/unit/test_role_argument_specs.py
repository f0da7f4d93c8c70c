"""CI check: every role's meta/argument_specs.yml agrees with its defaults/main.yml.

- every variable in defaults/main.yml is documented as an option of the main entry point;
- every documented option that names a default has the value of defaults/main.yml, where
  both are literals (a templated default such as "{{ ansible_host }}" is the role's business);
- a documented default's value fits the option's type and choices;
- every option the role has no default for is either required or documented without a default
  (then the role must cope with it being undefined - not checked here).
"""
from __future__ import annotations

import os

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLES_DIR = os.path.join(REPO, "roles")
ROLES = sorted(r for r in os.listdir(ROLES_DIR)
               if os.path.isfile(os.path.join(ROLES_DIR, r, "meta", "argument_specs.yml")))
TYPES = {"str": str, "int": int, "float": (int, float), "bool": bool, "list": list, "dict": dict,
         "path": str}


def _load(role, *parts):
    path = os.path.join(ROLES_DIR, role, *parts)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return yaml.safe_load(f)


def _templated(value) -> bool:
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, dict):
        return any(_templated(v) for v in value.values())
    if isinstance(value, list):
        return any(_templated(v) for v in value)
    return False


def _main_options(role):
    specs = (_load(role, "meta", "argument_specs.yml") or {}).get("argument_specs") or {}
    assert "main" in specs, "%s: meta/argument_specs.yml has no main entry point" % role
    return specs["main"].get("options") or {}


def test_every_role_has_argument_specs():
    roles = sorted(r for r in os.listdir(ROLES_DIR) if os.path.isdir(os.path.join(ROLES_DIR, r)))
    assert roles and roles == ROLES, "roles without meta/argument_specs.yml: %s" % (
        sorted(set(roles) - set(ROLES)))


@pytest.mark.parametrize("role", ROLES)
def test_every_default_is_documented(role):
    defaults = _load(role, "defaults", "main.yml") or {}
    options = _main_options(role)
    missing = sorted(set(defaults) - set(options))
    assert not missing, "%s: defaults/main.yml variables not in meta/argument_specs.yml: %s" % (
        role, missing)


@pytest.mark.parametrize("role", ROLES)
def test_documented_defaults_match(role):
    defaults = _load(role, "defaults", "main.yml") or {}
    options = _main_options(role)
    wrong = {}
    for name, opt in options.items():
        if "default" not in opt:
            continue
        if name not in defaults:
            wrong[name] = "documented default %r but no defaults/main.yml entry" % (opt["default"],)
            continue
        doc, real = opt["default"], defaults[name]
        if _templated(doc) or _templated(real):
            continue
        if doc != real or type(doc) is not type(real):
            wrong[name] = "documented %r, defaults/main.yml %r" % (doc, real)
    assert not wrong, "%s: %s" % (role, wrong)


@pytest.mark.parametrize("role", ROLES)
def test_documented_defaults_fit_type_and_choices(role):
    options = _main_options(role)
    bad = {}
    for name, opt in options.items():
        if "default" not in opt or opt["default"] is None or _templated(opt["default"]):
            continue
        want = TYPES.get(opt.get("type", "str"))
        value = opt["default"]
        if want and not isinstance(value, want) or (want is int and isinstance(value, bool)):
            bad[name] = "default %r is not of type %s" % (value, opt.get("type", "str"))
        if opt.get("choices") and value not in opt["choices"]:
            bad[name] = "default %r not in choices %s" % (value, opt["choices"])
    assert not bad, "%s: %s" % (role, bad)


@pytest.mark.parametrize("role", ROLES)
def test_options_are_described_and_typed(role):
    options = _main_options(role)
    bad = sorted(n for n, o in options.items() if not o.get("description") or not o.get("type"))
    assert not bad, "%s: options without description or type: %s" % (role, bad)


@pytest.mark.parametrize("role", ROLES)
def test_required_options_have_no_default(role):
    options = _main_options(role)
    defaults = _load(role, "defaults", "main.yml") or {}
    bad = sorted(n for n, o in options.items() if o.get("required") and
                 ("default" in o or n in defaults))
    assert not bad, "%s: required options that also have a default: %s" % (role, bad)


def test_deploy_container_options_are_the_service_modules_and_all_reach_it():
    """Each key of deploy_container_options is a container option of dockyard.fleet.service
    with the module's type, the deploy role's other variables set none of them, and
    tasks/service.yml passes every one to the service run (a key documented but not passed
    would be accepted and silently dropped)."""
    from ansible_collections.dockyard.fleet.plugins.module_utils._container_spec import CONTAINER_ARGS
    from ansible_collections.dockyard.fleet.plugins.module_utils._service import service_argument_spec

    keys = _main_options("deploy")["deploy_container_options"]["options"]
    for key, spec in keys.items():
        assert key in CONTAINER_ARGS, key
        assert spec["type"] == CONTAINER_ARGS[key]["type"], key
        assert spec.get("elements") == CONTAINER_ARGS[key].get("elements"), key
    with open(os.path.join(ROLES_DIR, "deploy", "tasks", "service.yml")) as f:
        task = yaml.safe_load(f)[0]["dockyard.fleet.service"]
    passed = {k for k, v in task.items() if "deploy_container_options.%s " % k in str(v)}
    assert passed == set(keys)
    # the container options the role offers neither way: its port layout (port_base) and
    # networks, its restart policy, and recreate (a deploy rolls what changed); and those the
    # service module has not (a MAC address, removal on exit: not for replicas)
    others = set(CONTAINER_ARGS) - set(keys) - {k for k in task if k not in passed}
    assert others == {"published_ports", "network_mode", "restart_retries", "recreate", "mac_address",
                      "auto_remove"}, others
    assert not {"mac_address", "auto_remove"} & set(service_argument_spec())
