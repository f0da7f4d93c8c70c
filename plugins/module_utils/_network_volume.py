# Copyright: dockyard.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Desired-vs-actual logic of dockyard.fleet.network and dockyard.fleet.volume.

Only what the user set is compared: engine-added driver options, labels and IPAM
defaults (an auto-assigned gateway, say) are not drift. The engine cannot change a
network or volume in place, so any difference needs a recreate.

Private to dockyard.fleet: no compatibility promise for code outside the collection.
"""
from __future__ import annotations

import ipaddress

from ansible_collections.dockyard.fleet.plugins.module_utils._container_spec import NAME_RE
from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import DockerError


class InputError(ValueError):
    """Bad user input; the message names the option."""


def _s(value):
    """Engine option and label values are strings; compare user values as strings too."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _net(value, option):
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError as exc:
        raise InputError("%s: %r is not a valid subnet (CIDR): %s" % (option, value, exc)) from exc


def _addr(value, option):
    try:
        return ipaddress.ip_address(value)
    except ValueError as exc:
        raise InputError("%s: %r is not a valid IP address: %s" % (option, value, exc)) from exc


# ------------------------------------------------------------------ networks
def check_name(name, kind):
    if not name:
        raise InputError("name: a %s name is required" % kind)
    if not isinstance(name, str) or len(name) > 255 or not NAME_RE.match(name):
        raise InputError("name: %r is not a valid %s name (letters, digits, '_', '.', '-'; "
                         "starting with a letter or digit)" % (name, kind))


def network_desired(params):
    """Validate network options; return the desired spec (None = not set by the user)."""
    check_name(params.get("name"), "network")
    ipam = None
    if params.get("ipam_config") is not None:
        ipam = []
        seen = set()
        for i, entry in enumerate(params["ipam_config"]):
            opt = "ipam_config[%d]" % i
            if not entry.get("subnet"):
                raise InputError("%s.subnet: required in every ipam_config entry" % opt)
            subnet = _net(entry["subnet"], opt + ".subnet")
            if subnet in seen:
                raise InputError("%s.subnet: %s is listed twice" % (opt, subnet))
            seen.add(subnet)
            item = dict(subnet=str(subnet), gateway=None, iprange=None,
                        aux_addresses=entry.get("aux_addresses") or None)
            if entry.get("gateway"):
                gw = _addr(entry["gateway"], opt + ".gateway")
                if gw not in subnet:
                    raise InputError("%s.gateway: %s is not inside subnet %s" % (opt, gw, subnet))
                item["gateway"] = str(gw)
            if entry.get("iprange"):
                rng = _net(entry["iprange"], opt + ".iprange")
                if rng.version != subnet.version or not rng.subnet_of(subnet):
                    raise InputError("%s.iprange: %s is not inside subnet %s" % (opt, rng, subnet))
                item["iprange"] = str(rng)
            ipam.append(item)
    return dict(
        name=params["name"],
        driver=params.get("driver"),
        driver_options={k: _s(v) for k, v in (params.get("driver_options") or {}).items()} or None,
        labels={k: _s(v) for k, v in (params.get("labels") or {}).items()} or None,
        ipam_driver=params.get("ipam_driver"),
        # [] is left to the engine, as when not set (like {} above): a bridge network always
        # has a subnet, the engine's pick when none is asked for
        ipam_config=ipam or None,
        internal=params.get("internal"),
        attachable=params.get("attachable"),
        enable_ipv6=params.get("enable_ipv6"),
    )


def _actual_ipam(actual):
    out = []
    for c in ((actual.get("IPAM") or {}).get("Config") or []):
        if not c.get("Subnet"):
            continue
        out.append(dict(subnet=str(ipaddress.ip_network(c["Subnet"], strict=False)),
                        gateway=c.get("Gateway") or None, iprange=c.get("IPRange") or None,
                        aux_addresses=c.get("AuxiliaryAddresses") or None))
    return out


def network_differences(desired, actual):
    """[(option, wanted, actual)] for every option the user set that the network differs in."""
    diffs = []
    if desired.get("driver") and desired["driver"] != actual.get("Driver"):
        diffs.append(("driver", desired["driver"], actual.get("Driver")))
    for key, field in (("driver_options", "Options"), ("labels", "Labels")):
        have = actual.get(field) or {}
        for k, v in (desired.get(key) or {}).items():
            if have.get(k) != v:
                diffs.append(("%s.%s" % (key, k), v, have.get(k)))
    for key, field in (("internal", "Internal"), ("attachable", "Attachable"),
                       ("enable_ipv6", "EnableIPv6")):
        if desired.get(key) is not None and bool(desired[key]) != bool(actual.get(field)):
            diffs.append((key, bool(desired[key]), bool(actual.get(field))))
    if desired.get("ipam_driver") and desired["ipam_driver"] != (actual.get("IPAM") or {}).get("Driver"):
        diffs.append(("ipam_driver", desired["ipam_driver"], (actual.get("IPAM") or {}).get("Driver")))
    if desired.get("ipam_config") is not None:
        have = {c["subnet"]: c for c in _actual_ipam(actual)}
        for want in desired["ipam_config"]:
            cur = have.pop(want["subnet"], None)
            if cur is None:
                diffs.append(("ipam_config.subnet", want["subnet"], sorted(
                    c["subnet"] for c in _actual_ipam(actual)) or None))
                continue
            for k in ("gateway", "iprange"):
                if want[k] and want[k] != cur[k]:
                    diffs.append(("ipam_config[%s].%s" % (want["subnet"], k), want[k], cur[k]))
            if want["aux_addresses"] and want["aux_addresses"] != cur["aux_addresses"]:
                diffs.append(("ipam_config[%s].aux_addresses" % want["subnet"],
                              want["aux_addresses"], cur["aux_addresses"]))
        for extra in sorted(have):
            diffs.append(("ipam_config.subnet", None, extra))
    return diffs


def network_view(desired, actual):
    """Diff view of a network: the options the user set, as the engine has them (or will)."""
    view = _common_view(desired, actual)
    if actual is None:
        return view
    for key, field in (("internal", "Internal"), ("attachable", "Attachable"),
                       ("enable_ipv6", "EnableIPv6")):
        if desired.get(key) is not None:
            view[key] = bool(actual.get(field))
    if desired.get("ipam_config") is not None:
        view["ipam_config"] = [{k: v for k, v in c.items() if v} for c in _actual_ipam(actual)]
    return view


def network_after(desired):
    """What a network created from `desired` looks like in network_view terms."""
    return dict(
        Name=desired["name"], Driver=desired.get("driver") or "bridge",
        Options=desired.get("driver_options") or {}, Labels=desired.get("labels") or {},
        Internal=bool(desired.get("internal")), Attachable=bool(desired.get("attachable")),
        EnableIPv6=bool(desired.get("enable_ipv6")),
        IPAM=dict(Driver=desired.get("ipam_driver") or "default",
                  Config=[dict(Subnet=c["subnet"], Gateway=c["gateway"], IPRange=c["iprange"],
                               AuxiliaryAddresses=c["aux_addresses"])
                          for c in desired.get("ipam_config") or []]))


def network_create_args(desired):
    kwargs = dict(driver=desired.get("driver") or "bridge", check_duplicate=True)
    if desired.get("driver_options"):
        kwargs["options"] = desired["driver_options"]
    if desired.get("labels"):
        kwargs["labels"] = desired["labels"]
    if desired.get("internal"):
        kwargs["internal"] = True
    if desired.get("attachable"):
        kwargs["attachable"] = True
    if desired.get("enable_ipv6"):
        kwargs["enable_ipv6"] = True
    if desired.get("ipam_config") or desired.get("ipam_driver"):
        config = []
        for c in desired.get("ipam_config") or []:
            item = dict(Subnet=c["subnet"])
            if c["gateway"]:
                item["Gateway"] = c["gateway"]
            if c["iprange"]:
                item["IPRange"] = c["iprange"]
            if c["aux_addresses"]:
                item["AuxiliaryAddresses"] = c["aux_addresses"]
            config.append(item)
        kwargs["ipam"] = dict(Driver=desired.get("ipam_driver") or "default", Config=config,
                              Options={})
    return kwargs


def attached_containers(actual):
    """Names of the containers attached to a network inspect."""
    return sorted((c.get("Name") or cid[:12]) for cid, c in (actual.get("Containers") or {}).items())


def format_differences(diffs):
    parts = []
    for option, wanted, actual in diffs:
        if option == "ipam_config.subnet" and wanted is None:
            parts.append("ipam_config: the network also has subnet %s, not listed" % actual)
        else:
            parts.append("%s: want %r, have %r" % (option, wanted, actual))
    return "; ".join(parts)


# ------------------------------------------------------------------ volumes
def volume_desired(params):
    check_name(params.get("name"), "volume")
    return dict(
        name=params["name"],
        driver=params.get("driver"),
        driver_options={k: _s(v) for k, v in (params.get("driver_options") or {}).items()} or None,
        labels={k: _s(v) for k, v in (params.get("labels") or {}).items()} or None,
    )


def volume_differences(desired, actual):
    diffs = []
    if desired.get("driver") and desired["driver"] != actual.get("Driver"):
        diffs.append(("driver", desired["driver"], actual.get("Driver")))
    for key, field in (("driver_options", "Options"), ("labels", "Labels")):
        have = actual.get(field) or {}
        for k, v in (desired.get(key) or {}).items():
            if have.get(k) != v:
                diffs.append(("%s.%s" % (key, k), v, have.get(k)))
    return diffs


def volume_view(desired, actual):
    """Diff view of a volume: the options the user set, as the engine has them (or will)."""
    return _common_view(desired, actual)


def _common_view(desired, actual):
    """What network_view and volume_view share: presence, name, driver, and the driver
    options and labels the user set (only those keys)."""
    if actual is None:
        return dict(present=False)
    view = dict(present=True, name=actual.get("Name"), driver=actual.get("Driver"))
    if desired.get("driver_options"):
        view["driver_options"] = {k: (actual.get("Options") or {}).get(k)
                                  for k in desired["driver_options"]}
    if desired.get("labels"):
        view["labels"] = {k: (actual.get("Labels") or {}).get(k) for k in desired["labels"]}
    return view


def volume_after(desired):
    return dict(Name=desired["name"], Driver=desired.get("driver") or "local",
                Options=desired.get("driver_options") or {}, Labels=desired.get("labels") or {})


# ------------------------------------------------------------------ engine work
class NetworkManager:
    def __init__(self, client, params, check_mode=False):
        self.client = client
        self.p = params
        self.check = check_mode
        self.desired = network_desired(params)
        self.actions = []

    def _inspect(self):
        net = self.client.get("inspect_network", self.desired["name"])
        if net is not None and net.get("Name") != self.desired["name"]:
            return None  # matched an ID prefix, not the name
        return net

    def _create(self):
        self.actions.append("created network %s" % self.desired["name"])
        if not self.check:
            self.client.call("create_network", self.desired["name"],
                             **network_create_args(self.desired))

    def _remove(self, actual, why):
        names = attached_containers(actual)
        if names and not self.p.get("force"):
            raise DockerError("name: network %s %s but containers are attached: %s; set force: "
                              "true to disconnect them" % (self.desired["name"], why,
                                                           ", ".join(names)))
        for cid in sorted(actual.get("Containers") or {}):
            self.actions.append("disconnected %s" % (actual["Containers"][cid].get("Name") or cid))
            if not self.check:
                self.client.call("disconnect_container_from_network", cid, actual["Id"],
                                 force=True)
        self.actions.append("removed network %s" % self.desired["name"])
        if not self.check:
            self.client.call("remove_network", actual["Id"])
        return sorted(actual.get("Containers") or {})

    def run(self):
        actual = self._inspect()
        before = network_view(self.desired, actual)
        result = dict(changed=False, actions=self.actions)
        if self.p.get("state") == "absent":
            if actual is not None:
                self._remove(actual, "is to be removed")
                result["changed"] = True
            result.update(network=None, diff=dict(before=before, after=dict(present=False)))
            return result
        if actual is None:
            self._create()
            result["changed"] = True
        else:
            diffs = network_differences(self.desired, actual)
            result["differences"] = [dict(option=o, wanted=w, actual=a) for o, w, a in diffs]
            if diffs:
                if not self.p.get("recreate"):
                    raise DockerError("network %s exists with different settings that the engine "
                                      "cannot change in place (%s); set recreate: true to remove "
                                      "and create it again" % (self.desired["name"],
                                                               format_differences(diffs)))
                reconnect = self._remove(actual, "must be recreated (%s)"
                                         % format_differences(diffs))
                self._create()
                for cid in reconnect:
                    self.actions.append("reconnected %s"
                                        % (actual["Containers"][cid].get("Name") or cid))
                    if not self.check:
                        self.client.call("connect_container_to_network", cid,
                                         self.desired["name"])
                result["changed"] = True
        after = self._inspect() if (result["changed"] and not self.check) else (
            network_after(self.desired) if result["changed"] else actual)
        result["network"] = dict(id=(after or {}).get("Id"), name=self.desired["name"],
                                 driver=(after or {}).get("Driver"),
                                 ipam=_actual_ipam(after or {}),
                                 labels=(after or {}).get("Labels") or {},
                                 containers=attached_containers(after or {}))
        result["diff"] = dict(before=before, after=network_view(self.desired, after))
        return result


class VolumeManager:
    def __init__(self, client, params, check_mode=False):
        self.client = client
        self.p = params
        self.check = check_mode
        self.desired = volume_desired(params)
        self.actions = []

    def _users(self):
        return sorted((c.get("Names") or [c["Id"][:12]])[0].lstrip("/") for c in
                      self.client.call("containers", all=True,
                                       filters={"volume": self.desired["name"]}))

    def _remove(self, why):
        users = self._users()
        if users:
            raise DockerError("name: volume %s %s but containers use it: %s; remove those "
                              "containers first" % (self.desired["name"], why, ", ".join(users)))
        self.actions.append("removed volume %s" % self.desired["name"])
        if not self.check:
            self.client.call("remove_volume", self.desired["name"])

    def _create(self):
        self.actions.append("created volume %s" % self.desired["name"])
        if not self.check:
            self.client.call("create_volume", self.desired["name"],
                             driver=self.desired.get("driver") or "local",
                             driver_opts=self.desired.get("driver_options") or None,
                             labels=self.desired.get("labels") or None)

    def run(self):
        actual = self.client.get("inspect_volume", self.desired["name"])
        before = volume_view(self.desired, actual)
        result = dict(changed=False, actions=self.actions)
        if self.p.get("state") == "absent":
            if actual is not None:
                self._remove("is to be removed")
                result["changed"] = True
            result.update(volume=None, diff=dict(before=before, after=dict(present=False)))
            return result
        if actual is None:
            self._create()
            result["changed"] = True
        else:
            diffs = volume_differences(self.desired, actual)
            result["differences"] = [dict(option=o, wanted=w, actual=a) for o, w, a in diffs]
            if diffs:
                if not self.p.get("recreate"):
                    raise DockerError("volume %s exists with different settings that the engine "
                                      "cannot change in place (%s); set recreate: true to remove "
                                      "and create it again (its data is lost)"
                                      % (self.desired["name"], format_differences(diffs)))
                self._remove("must be recreated (%s)" % format_differences(diffs))
                self._create()
                result["changed"] = True
        after = self.client.get("inspect_volume", self.desired["name"]) \
            if (result["changed"] and not self.check) else (
                volume_after(self.desired) if result["changed"] else actual)
        result["volume"] = dict(name=self.desired["name"], driver=after.get("Driver"),
                                mountpoint=after.get("Mountpoint"),
                                options=after.get("Options") or {},
                                labels=after.get("Labels") or {})
        result["diff"] = dict(before=before, after=volume_view(self.desired, after))
        return result
