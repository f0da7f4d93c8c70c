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
import os
import re

from ansible_collections.dockyard.fleet.plugins.module_utils._container_spec import NAME_RE
from ansible_collections.dockyard.fleet.plugins.module_utils._docker_client import (
    EXECUTION_ARG, DockerClient, DockerError, docker_common_args)


class InputError(ValueError):
    """Bad user input; the message names the option."""


def _s(value):
    """Engine option and label values are strings; compare user values as strings too."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _labels(values):
    """Label or driver option values as the engine keeps them: strings, null as empty."""
    return {str(k): "" if v is None else _s(v) for k, v in (values or {}).items()}


def _net(value, option):
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError as exc:
        raise InputError("%s: %r is not a valid subnet (CIDR): %s" % (option, value, exc)) from exc


def _addr(value, option):
    if not isinstance(value, str):   # ip_address(5) would be 0.0.0.5
        raise InputError("%s: %r is not a valid IP address (a string such as 10.1.0.5)" % (option, value))
    try:
        return ipaddress.ip_address(value)
    except ValueError as exc:
        raise InputError("%s: %r is not a valid IP address: %s" % (option, value, exc)) from exc


def _canonical(value, parse):
    """An engine value (address or CIDR) as ipaddress writes it, so that fd00:dd:0::1 and
    fd00:dd::1 compare equal; a value it cannot parse is left as it is."""
    if not value:
        return None
    try:
        return str(parse(value))
    except ValueError:
        return value


def _address_of(value):
    return _canonical(value, ipaddress.ip_address)


def _network_of(value):
    return _canonical(value, lambda v: ipaddress.ip_network(v, strict=False))


def engine_gateway(subnet, iprange=None):
    """The gateway the engine gives a subnet configured without one: the first free address
    of the iprange, or of the subnet (its network address is never handed out). Engine 20.10
    leaves it out of the network's IPAM.Config, which is why it is worked out here."""
    subnet = ipaddress.ip_network(subnet, strict=False)
    gateway = ipaddress.ip_network(iprange, strict=False).network_address if iprange \
        else subnet.network_address
    return gateway + 1 if gateway == subnet.network_address else gateway


def _not_host_address(ip, subnet):
    """Why `ip` inside `subnet` is never handed out by the engine, or None: the network address
    (and the IPv4 broadcast one) are taken when the pool is made."""
    broadcast = subnet.broadcast_address if subnet.version == 4 and subnet.prefixlen < 31 else None
    if ip in (subnet.network_address, broadcast):
        return "not a host address of subnet %s" % subnet
    return None


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
            item = dict(subnet=str(subnet), gateway=None, iprange=None, aux_addresses=None)
            if entry.get("gateway"):
                gw = _addr(entry["gateway"], opt + ".gateway")
                if gw not in subnet:
                    raise InputError("%s.gateway: %s is not inside subnet %s" % (opt, gw, subnet))
                why = _not_host_address(gw, subnet)
                if why:
                    raise InputError("%s.gateway: %s is %s" % (opt, gw, why))
                item["gateway"] = str(gw)
            if entry.get("iprange"):
                rng = _net(entry["iprange"], opt + ".iprange")
                if rng.version != subnet.version or not rng.subnet_of(subnet):
                    raise InputError("%s.iprange: %s is not inside subnet %s" % (opt, rng, subnet))
                item["iprange"] = str(rng)
            item["aux_addresses"] = _aux_addresses(entry.get("aux_addresses"), subnet, item, opt)
            ipam.append(item)
    return dict(
        name=params["name"],
        driver=params.get("driver"),
        driver_options=_labels(params.get("driver_options")) or None,
        labels=_labels(params.get("labels")) or None,
        ipam_driver=params.get("ipam_driver"),
        # [] is left to the engine, as when not set (like {} above): a bridge network always
        # has a subnet, the engine's pick when none is asked for
        ipam_config=ipam or None,
        internal=params.get("internal"),
        attachable=params.get("attachable"),
        enable_ipv6=params.get("enable_ipv6"),
        connected=_connected(params),
        appends=bool(params.get("appends")),
    )


def _aux_addresses(aux, subnet, item, opt):
    """Option aux_addresses of one ipam_config entry, normalised ({name: address}), or None.
    Checked as the engine reserves them when it makes the network (an address of the pool,
    each once, not its gateway, given or picked), so that a bad one fails naming the option,
    before any change, in check mode too."""
    if not aux:
        return None
    out, seen = {}, {}
    gateway = ipaddress.ip_address(item["gateway"]) if item["gateway"] \
        else engine_gateway(subnet, item["iprange"])
    for key in sorted(aux, key=str):
        option = "%s.aux_addresses.%s" % (opt, key)
        ip = _addr(aux[key], option)
        if ip not in subnet:
            raise InputError("%s: %s is not inside subnet %s" % (option, ip, subnet))
        why = _not_host_address(ip, subnet)
        if ip == gateway:
            why = "the gateway of subnet %s%s" % (subnet, "" if item["gateway"] else " (the engine's pick)")
        elif ip in seen:
            why = "reserved twice (aux_addresses.%s has it too)" % seen[ip]
        if why:
            raise InputError("%s: %s is %s" % (option, ip, why))
        seen[ip] = key
        out[str(key)] = str(ip)
    return out


def _connected(params):
    """The containers of option `connected` (names or IDs as given, each once), or None when
    it is not set: then which containers are attached is not managed at all. [] is set: no
    container attached (unless appends)."""
    if params.get("connected") is None:
        return None
    if params.get("state") == "absent":
        raise InputError("connected: cannot be used with state: absent (removing a network "
                         "disconnects its containers, with force: true)")
    out = []
    for i, ref in enumerate(params["connected"]):
        # a container ID (hex, full or short) matches the name pattern too
        if not isinstance(ref, str) or not NAME_RE.match(ref):
            raise InputError("connected[%d]: %r is not a container name or ID" % (i, ref))
        if ref not in out:
            out.append(ref)
    return out


def _actual_ipam(actual):
    """The network's address pools, every value as network_desired writes the user's (the
    engine keeps them as they were given: fd00:dd:0::1 is fd00:dd::1)."""
    out = []
    for c in ((actual.get("IPAM") or {}).get("Config") or []):
        if not c.get("Subnet"):
            continue
        aux = {str(k): _address_of(v) for k, v in (c.get("AuxiliaryAddresses") or {}).items()}
        out.append(dict(subnet=_network_of(c["Subnet"]), gateway=_address_of(c.get("Gateway")),
                        iprange=_network_of(c.get("IPRange")), aux_addresses=aux or None))
    return out


def _version(subnet):
    try:
        return ipaddress.ip_network(subnet, strict=False).version
    except ValueError:
        return None


def _listed_versions(desired):
    """The IP versions (4, 6) that ipam_config lists a subnet of. A version it lists none of is
    the engine's: it gives every network an IPv4 subnet, and one with enable_ipv6 an IPv6 one,
    from its default pools."""
    return {_version(c["subnet"]) for c in desired.get("ipam_config") or []}


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
            # no gateway in the inspect: the engine picked it (Engine 20.10 does not say which)
            gateway = cur["gateway"] or _engine_gateway_of(cur)
            for k, have_k in (("gateway", gateway), ("iprange", cur["iprange"])):
                if want[k] and want[k] != have_k:
                    diffs.append(("ipam_config[%s].%s" % (want["subnet"], k), want[k], have_k))
            if want["aux_addresses"] and want["aux_addresses"] != cur["aux_addresses"]:
                diffs.append(("ipam_config[%s].aux_addresses" % want["subnet"],
                              want["aux_addresses"], cur["aux_addresses"]))
        listed = _listed_versions(desired)
        for extra in sorted(have):
            if _version(extra) in listed:   # another version's subnet is the engine's pick
                diffs.append(("ipam_config.subnet", None, extra))
    return diffs


def _engine_gateway_of(pool):
    try:
        return str(engine_gateway(pool["subnet"], pool["iprange"]))
    except ValueError:
        return None


ENGINE_PICK = "the engine's pick (IPv%d)"


def _ipam_view(desired, actual):
    """ipam_config in the diff view: the pools of the IP versions ipam_config lists, as the
    engine has them, and for another version that the network has (or, created, will have)
    a subnet of, ENGINE_PICK: the engine picks it, and it is not compared."""
    listed = _listed_versions(desired)
    pools = _actual_ipam(actual)
    view = sorted(({k: v for k, v in c.items() if v} for c in pools if _version(c["subnet"]) in listed),
                  key=lambda c: (_version(c["subnet"]), ipaddress.ip_network(c["subnet"])))
    picked = {_version(c["subnet"]) for c in pools} | set(actual.get("EnginePicks") or ())
    return view + [dict(subnet=ENGINE_PICK % v) for v in sorted(picked - listed - {None})]


def network_view(desired, actual, containers=()):
    """Diff view of a network: the options the user set, as the engine has them (or will);
    with `connected` set, also the names of the attached containers (`containers`)."""
    view = _common_view(desired, actual)
    if actual is None:
        return view
    if desired.get("connected") is not None:
        view["containers"] = sorted(containers)
    for key, field in (("internal", "Internal"), ("attachable", "Attachable"),
                       ("enable_ipv6", "EnableIPv6")):
        if desired.get(key) is not None:
            view[key] = bool(actual.get(field))
    if desired.get("ipam_config") is not None:
        view["ipam_config"] = _ipam_view(desired, actual)
    return view


def network_after(desired):
    """What a network created from `desired` looks like in network_view terms. EnginePicks (not
    an engine field): the IP versions the engine will pick a subnet of, not knowable before."""
    picks = []
    if (desired.get("driver") or "bridge") not in ("host", "null"):
        listed = _listed_versions(desired)
        picks = [v for v in (4, 6) if v not in listed and (v == 4 or desired.get("enable_ipv6"))]
    return dict(
        EnginePicks=picks,
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


def container_name(summary):
    """A container's name from the engine's container list (Names holds link names too)."""
    names = [n for n in summary.get("Names") or [] if n.count("/") == 1]
    return names[0].lstrip("/") if names else summary["Id"][:12]


def attached_to(net, summaries):
    """{container ID: name} of the containers in `summaries` (the engine's container list)
    attached to network inspect `net`, running or stopped. A stopped container keeps the ID of
    the network it last ran on: an entry of a removed network of the same name is not this
    network (the container cannot start)."""
    out = {}
    for c in summaries:
        endpoint = ((c.get("NetworkSettings") or {}).get("Networks") or {}).get(net["Name"])
        if endpoint is not None and (endpoint.get("NetworkID") or net["Id"]) == net["Id"]:
            out[c["Id"]] = container_name(c)
    return out


def cannot_attach(net):
    """Why containers cannot be connected to network inspect (or network_after) `net`, or None."""
    if net.get("Driver") in ("host", "null"):
        return "network %s has driver %s, which takes no containers" % (net["Name"], net["Driver"])
    if net.get("Driver") == "overlay" and not net.get("Attachable"):
        return "network %s is an overlay network without attachable: true" % net["Name"]
    return None


def shared_network_mode(container):
    """The network_mode of a container inspect that shares another network stack (host, none,
    container:...), or None: such a container cannot be connected to a network."""
    mode = (container.get("HostConfig") or {}).get("NetworkMode") or ""
    return mode if mode in ("host", "none") or mode.startswith("container:") else None


def _unusable_address(address, desired):
    """Why a container's fixed address cannot be asked for on a network created from
    `desired`, or None. The engine takes one only inside a subnet the user configured."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "not an IP address"
    if not desired.get("ipam_config"):
        return "the new network has no ipam_config, so the engine picks its subnet"
    pools = [c for c in desired["ipam_config"] if ip in ipaddress.ip_network(c["subnet"])]
    if not pools:
        return "not in the new network's subnets %s" % ", ".join(
            c["subnet"] for c in desired["ipam_config"])
    pool = pools[0]
    subnet = ipaddress.ip_network(pool["subnet"])
    why = _not_host_address(ip, subnet)
    if why:
        return why
    gateway = ipaddress.ip_address(pool["gateway"]) if pool["gateway"] \
        else engine_gateway(subnet, pool["iprange"])
    if ip == gateway:
        return "the new network's gateway"
    # as IP objects: fd00:cc::10 is the aux address fd00:cc:0::10
    if ip in {ipaddress.ip_address(a) for a in (pool["aux_addresses"] or {}).values()}:
        return "reserved by ipam_config aux_addresses"
    return None


def reconnect_plan(cid, endpoint, desired):
    """How a container attached to a network that is recreated is connected to the new one:
    (connect_container_to_network kwargs, [what is not kept, and why]). `endpoint` is the
    container's NetworkSettings.Networks entry for the old network: its own aliases (not the
    short ID the engine adds) and its fixed IPv4 address when still possible."""
    endpoint = endpoint or {}
    kwargs, lost = {}, []
    aliases = [a for a in endpoint.get("Aliases") or [] if a != cid[:12]]
    if aliases:
        kwargs["aliases"] = aliases
    ipam = endpoint.get("IPAMConfig") or {}
    for version in ("4", "6"):
        address = ipam.get("IPv%sAddress" % version)
        if not address:
            continue
        why = _unusable_address(address, desired)
        if why:
            lost.append("its IPv%s address %s (%s)" % (version, address, why))
        else:
            kwargs["ipv%s_address" % version] = address
    for what, value in (("link-local addresses", ipam.get("LinkLocalIPs")),
                        ("links", endpoint.get("Links")),
                        ("driver options", endpoint.get("DriverOpts"))):
        if value:
            lost.append("its %s (the module cannot set them)" % what)
    return kwargs, lost


def reconnect_action(name, kwargs, lost):
    text = "reconnected %s" % name
    kept = []
    if kwargs.get("aliases"):
        kept.append("aliases %s" % ", ".join(kwargs["aliases"]))
    for version in ("4", "6"):
        if kwargs.get("ipv%s_address" % version):
            kept.append("IPv%s address %s" % (version, kwargs["ipv%s_address" % version]))
    if kept:
        text += " with " + " and ".join(kept)
    if lost:
        text += ", without " + ", without ".join(lost)
    return text


def format_differences(diffs):
    parts = []
    for option, wanted, actual in diffs:
        if option == "ipam_config.subnet" and wanted is None:
            parts.append("ipam_config: the network also has subnet %s, not listed" % actual)
        else:
            parts.append("%s: want %r, have %r" % (option, wanted, actual))
    return "; ".join(parts)


# The engine's own networks: it removes none of them (nor creates one of these names).
PREDEFINED_NETWORKS = ("bridge", "host", "none")

# Driver options no two networks may have the same value of: a bridge's interface name, the
# parent interface of a macvlan or ipvlan network.
_OWN_OPTIONS = ("com.docker.network.bridge.name", "parent")

# Stand-in subnets of a trial network, for the subnets the network being recreated holds
# itself: RFC 2544 benchmarking addresses and a ULA range, each cut into /24 or /64 pools.
_STAND_INS = {4: ipaddress.ip_network("198.18.0.0/15"), 6: ipaddress.ip_network("fdd7:7e1a:c0de::/48")}


def _subnets(net):
    return [ipaddress.ip_network(c["subnet"]) for c in _actual_ipam(net) if _version(c["subnet"])]


def overlapping_pools(desired, networks, own_id=None):
    """Why the engine's default IPAM would refuse the subnets of ipam_config (it takes no pool
    that overlaps one of another network of the host), or None. `networks`: the engine's
    network list; `own_id`: the network being recreated, whose pools go with it. A network of
    another IPAM driver or of the swarm's scope keeps its pools elsewhere and is left out."""
    if (desired.get("ipam_driver") or "default") != "default":
        return None
    for i, want in enumerate(desired.get("ipam_config") or []):
        subnet = ipaddress.ip_network(want["subnet"])
        for net in sorted(networks, key=lambda n: n.get("Name") or ""):
            if net.get("Id") == own_id or (net.get("Scope") or "local") != "local" \
                    or ((net.get("IPAM") or {}).get("Driver") or "default") != "default":
                continue
            for other in _subnets(net):
                if other.version == subnet.version and other.overlaps(subnet):
                    return ("ipam_config[%d].subnet: %s overlaps subnet %s of network %s (the engine "
                            "takes no two address pools that overlap); nothing was changed"
                            % (i, subnet, other, net.get("Name")))
    return None


# The network and IPAM drivers of every (Linux) engine; a plugin adds its own (GET /plugins).
BUILTIN_NETWORK_DRIVERS = ("bridge", "host", "ipvlan", "macvlan", "null", "overlay")
BUILTIN_IPAM_DRIVERS = ("default", "null")
# The capability a managed plugin serves each option with (its Config.Interface.Types).
_PLUGIN_CAPABILITY = {"driver": "networkdriver", "ipam_driver": "ipamdriver"}


def _plugin_name(name):
    """A driver or plugin name as the engine matches it: a plugin's tag latest is implied."""
    name = str(name or "")
    return name[:-len(":latest")] if name.endswith(":latest") else name


def known_drivers(option, info, networks, plugins=None):
    """The names (_plugin_name) of the drivers of `option` (driver, ipam_driver) that the
    engine has: for driver, the network drivers its /info lists (built in, plugins, and those
    of its networks); for ipam_driver, the built-in ones and those of its networks; both, the
    enabled managed plugins of `plugins` (GET /plugins, None: not read) serving that option."""
    if option == "driver":
        names = list(((info or {}).get("Plugins") or {}).get("Network") or [])
        names += [n.get("Driver") for n in networks]
    else:
        names = list(BUILTIN_IPAM_DRIVERS) + [(n.get("IPAM") or {}).get("Driver") for n in networks]
    for plugin in plugins or []:
        types = (((plugin.get("Config") or {}).get("Interface") or {}).get("Types")) or []
        caps = [t.get("Capability") if isinstance(t, dict) else str(t).split("/", maxsplit=1)[0].split(".")[-1]
                for t in types]
        if plugin.get("Enabled") and _PLUGIN_CAPABILITY[option] in caps:
            names.append(plugin.get("Name"))
    return {_plugin_name(n) for n in names if n}


def missing_driver(desired, option, known):
    """Why the engine would refuse `option` (driver, ipam_driver) of `desired`, given the
    names it has (known_drivers), or None."""
    want = desired.get(option)
    if not want or _plugin_name(want) in known:
        return None
    return ('%s: the engine would refuse to create network %s: it has no %s "%s" (it has %s; a plugin '
            'installed with docker plugin install and enabled counts); nothing was changed'
            % (option, desired["name"], "network driver" if option == "driver" else "IPAM driver",
               want, ", ".join(sorted(known)) or "none"))


def engine_picks_ipv6(info):
    """Whether the engine (its /info) picks an IPv6 subnet for a network with enable_ipv6 and
    no IPv6 subnet asked for, with the default IPAM driver: when its default-address-pools
    have an IPv6 base, and from Engine 27 on (a ULA base of its own is in them). Engine 20.10
    without an IPv6 base refuses ("could not find an available, non-overlapping IPv6 address
    pool among the defaults")."""
    info = info or {}
    for pool in info.get("DefaultAddressPools") or []:
        if _version((pool or {}).get("Base") or "") == 6:
            return True
    match = re.match(r"(\d+)\.", str(info.get("ServerVersion") or ""))
    return bool(match) and int(match.group(1)) >= 27


def ipv6_refusal(desired, info):
    """Why the engine would refuse enable_ipv6 of network `desired` for want of an IPv6 subnet,
    or None: ipam_config lists none, the IPAM driver is the default one, the driver one that
    takes address pools, and the engine picks none (engine_picks_ipv6). Named as the engine's
    own refusal is (refused_options)."""
    if not desired.get("enable_ipv6") or 6 in _listed_versions(desired) \
            or (desired.get("ipam_driver") or "default") != "default" \
            or (desired.get("driver") or "bridge") in ("host", "null", "overlay") or engine_picks_ipv6(info):
        return None
    return ("enable_ipv6, ipam_config: the engine would refuse to create network %s: enable_ipv6 without "
            "an IPv6 subnet in ipam_config, and the engine (%s) has no IPv6 address pool to pick one "
            "from (no IPv6 base in its default-address-pools); nothing was changed"
            % (desired["name"], (info or {}).get("ServerVersion") or "version unknown"))


def trial_spec(desired, actual, networks, token):
    """The spec of the trial network of a recreate: the new network's, but for what only the
    network being recreated (`actual`) holds and would refuse the trial for, which the new one
    takes over: a subnet overlapping one of its own has a free stand-in (the engine checks the
    stand-in's options, the module has checked the subnet's), and its bridge name or parent
    interface is left out (a bridge name gets a name of the trial's own)."""
    own = _subnets(actual)
    taken = [o for n in networks for o in _subnets(n)] + own
    pools = []
    for pool in desired.get("ipam_config") or []:
        subnet = ipaddress.ip_network(pool["subnet"])
        if any(o.version == subnet.version and o.overlaps(subnet) for o in own):
            wanted = [ipaddress.ip_network(c["subnet"]) for c in desired["ipam_config"]]
            stand_in = next(c for c in _STAND_INS[subnet.version].subnets(
                new_prefix=24 if subnet.version == 4 else 64)
                if not any(c.overlaps(t) for t in taken + wanted if t.version == c.version))
            taken.append(stand_in)
            pool = dict(subnet=str(stand_in), gateway=None, iprange=None, aux_addresses=None)
        pools.append(pool)
    options = dict(desired.get("driver_options") or {})
    for key in _OWN_OPTIONS:
        if key in options and options[key] == (actual.get("Options") or {}).get(key):
            if key == "parent":
                del options[key]
            else:   # an interface name: 15 characters at most
                options[key] = "dytr%s" % token[:8]
    return dict(desired, ipam_config=pools or None, driver_options=options or None)


# What the engine's refusal to create a network is about, by its words (it names no option).
_REFUSALS = (
    ("ipv6 address pool", ("enable_ipv6", "ipam_config")),
    ("pool", ("ipam_config",)),
    ("secondary ip address", ("ipam_config",)),
    ("auxiliary address", ("ipam_config",)),
    ("gateway", ("ipam_config",)),
    ("swarm", ("driver",)),
    ("bridge name", ("driver_options",)),
)


def refused_options(desired, message):
    """The options an engine refusal to create network `desired` is about ("driver, ..."): a
    plugin it does not have is the driver or the IPAM driver; other words as _REFUSALS says;
    failing those, every option the task sets that goes into the network."""
    text = message.lower()
    for option in ("ipam_driver", "driver"):
        if desired.get(option) and 'plugin "%s" not found' % desired[option].lower() in text:
            return option
    for words, options in _REFUSALS:
        if words in text:
            return ", ".join(options)
    if any(k.lower() in text for k in desired.get("driver_options") or {}):
        return "driver_options"
    return ", ".join(k for k in ("driver", "driver_options", "ipam_driver", "ipam_config", "internal",
                                 "attachable", "enable_ipv6", "labels")
                     if desired.get(k) not in (None, False)) or "name"


# ------------------------------------------------------------------ volumes
# The local driver's options (moby volume/local): any other key is refused at creation, and
# type and device go together (o needs both).
LOCAL_OPTIONS = ("type", "device", "o", "size")


def volume_desired(params):
    """Validate volume options (the engine's own rules for names and the local driver's
    options, so that a bad one fails before any change, in check mode too); return the
    desired spec (None = not set by the user)."""
    check_name(params.get("name"), "volume")
    if len(params["name"]) < 2:
        raise InputError("name: %r is too short: the engine takes volume names of 2 characters "
                         "or more" % params["name"])
    options = _labels(params.get("driver_options"))
    if (params.get("driver") or "local") == "local" and options:
        unknown = sorted(set(options) - set(LOCAL_OPTIONS))
        if unknown:
            raise InputError("driver_options: the local driver takes %s, not %s"
                             % (", ".join(LOCAL_OPTIONS), ", ".join(unknown)))
        mount = [k for k in ("type", "device", "o") if k in options]
        if mount and not ("type" in options and "device" in options):
            raise InputError("driver_options: the local driver mounts with type and device "
                             "together (o too needs both), got %s" % ", ".join(mount))
    return dict(
        name=params["name"],
        driver=params.get("driver"),
        driver_options=options or None,
        labels=_labels(params.get("labels")) or None,
    )


def volume_recreated(desired, actual):
    """The volume a recreate makes: the existing one's driver, options and labels with the
    user's on top (a recreate changes what the task sets, and loses nothing else); another
    driver takes only the options the task gives (the old driver's are not its own)."""
    same_driver = not desired.get("driver") or desired["driver"] == actual.get("Driver")
    options = dict(actual.get("Options") or {}) if same_driver else {}
    options.update(desired.get("driver_options") or {})
    return dict(desired, driver=desired.get("driver") or actual.get("Driver") or "local",
                driver_options=options or None,
                labels=dict(actual.get("Labels") or {}, **(desired.get("labels") or {})) or None)


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
    """One run of dockyard.fleet.network. Everything is read (the network, the containers
    attached to it, those of `connected`) and checked before the first engine write, and
    check mode runs the same steps with the writes left out, so that its actions are the
    real run's. `actions` lists what was done, each once it is done: a run that fails midway
    has the changes it made there."""

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

    def _attached(self, net):
        """{container ID: name} of the containers attached to `net`, running or stopped (the
        network's inspect lists only running ones)."""
        if net is None:
            return {}
        return attached_to(net, self.client.call("containers", all=True,
                                                 filters={"network": net["Name"]}))

    def _wanted(self):
        """{container ID: name} of option connected (a container named twice, by name and by
        ID, once). Fails naming the option, before any write, for a container that does not
        exist or shares another network stack."""
        wanted, missing, shared = {}, [], []
        for ref in self.desired["connected"]:
            try:
                info = self.client.get("inspect_container", ref)
            except DockerError as exc:
                raise DockerError("connected: cannot look up container %s: %s" % (ref, exc)) from exc
            if info is None:
                missing.append(ref)
                continue
            name = (info.get("Name") or "").lstrip("/") or info["Id"][:12]
            mode = shared_network_mode(info)
            if mode:
                shared.append("%s (network_mode %s)" % (name, mode))
            wanted[info["Id"]] = name
        if missing:
            raise DockerError("connected: no such container on the host: %s (names or IDs of "
                              "existing containers, running or stopped); nothing was changed"
                              % ", ".join(missing))
        if shared:
            raise DockerError("connected: %s cannot be connected to network %s: a container with "
                              "network_mode host, none or container:... has no network of its own"
                              % (", ".join(shared), self.desired["name"]))
        return wanted

    def _check_create(self, actual):
        """Before a network is created (or recreated), in check mode too: what the engine is
        sure to refuse fails here, naming the option, with nothing changed. The network list
        (read for it) is returned for the trial of a recreate."""
        name = self.desired["name"]
        if actual is None and name in PREDEFINED_NETWORKS:
            raise DockerError("name: %s is the name of a network the engine pre-defines (%s); it "
                              "creates no network of that name" % (name, ", ".join(PREDEFINED_NETWORKS)))
        info = None
        if self.desired.get("driver") == "overlay":
            info = self.client.call("info") or {}
            if not (info.get("Swarm") or {}).get("ControlAvailable"):
                raise DockerError("driver: an overlay network is created on a swarm manager, and the "
                                  "engine of this host is not one (docker swarm init); nothing was changed")
        networks = self.client.call("networks") or []
        why = overlapping_pools(self.desired, networks, actual and actual["Id"])
        if why:
            raise DockerError(why)
        if self.check:
            self._check_refusals(info, networks)
        return networks

    def _check_refusals(self, info, networks):
        """Check mode only, where the real run has the engine's own refusal (on create, or of
        the trial network of a recreate): what the engine would refuse, read from it, fails as
        the real run does, naming the option. A driver or ipam_driver it does not list, and
        enable_ipv6 with no IPv6 subnet to be had (ipv6_refusal). Read-only: its /info (only when
        a driver not built in is set or enable_ipv6 may need a pick) and its plugin list (only
        for a name not found otherwise)."""
        for option, builtin in (("driver", BUILTIN_NETWORK_DRIVERS), ("ipam_driver", BUILTIN_IPAM_DRIVERS)):
            if not self.desired.get(option) or self.desired[option] in builtin:
                continue
            if info is None and option == "driver":
                info = self.client.call("info") or {}
            known = known_drivers(option, info, networks)
            if missing_driver(self.desired, option, known):
                known = known_drivers(option, info, networks, self.client.call("plugins") or [])
                why = missing_driver(self.desired, option, known)
                if why:
                    raise DockerError(why)
        if ipv6_refusal(self.desired, {}):   # the engine's pick is needed: can it make one?
            why = ipv6_refusal(self.desired, info if info is not None else (self.client.call("info") or {}))
            if why:
                raise DockerError(why)

    def _create_call(self, spec, name):
        """Create network `name` as `spec` says; its ID. The engine's refusal names the options."""
        try:
            created = self.client.call("create_network", name, **network_create_args(spec))
        except DockerError as exc:
            raise DockerError("%s: the engine refused to create network %s: %s"
                              % (refused_options(spec, str(exc)), name, exc)) from exc
        return (created or {}).get("Id")

    def _create(self, attached=None):
        """Create the network; its ID (None in check mode). `attached`: the containers of the
        network a recreate removed before, which the failure says were disconnected."""
        net_id = None
        if not self.check:
            try:
                net_id = self._create_call(self.desired, self.desired["name"])
            except DockerError as exc:
                if attached is None:
                    raise
                raise DockerError("%s; the network was removed first%s" % (exc, "" if not attached else (
                    ", and %s disconnected from it" % ", ".join(sorted(attached.values()))))) from exc
        self.actions.append("created network %s" % self.desired["name"])
        return net_id

    def _trial(self, actual, networks):
        """Before a recreate removes anything: the engine is asked to create the new network
        under a name of its own (trial_spec), removed at once, so that options it refuses
        (a driver, an overlapping subnet, ...) fail with the network and its containers as
        they were. Not in check mode (it writes)."""
        if self.check:
            return
        token = os.urandom(4).hex()
        trial = "%s-dytrial-%s" % (self.desired["name"][:200], token)
        spec = trial_spec(self.desired, actual, networks, token)
        try:
            net_id = self._create_call(spec, trial)
        except DockerError as exc:
            raise DockerError("%s (a trial of the recreated network, before any change; network %s "
                              "was left as it was)" % (exc, self.desired["name"])) from exc
        try:
            self.client.call("remove_network", net_id or trial)
        except DockerError as exc:
            self.actions.append("created network %s" % trial)
            raise DockerError("could not remove the trial network %s (remove it by hand); network %s "
                              "was left as it was: %s" % (trial, self.desired["name"], exc)) from exc

    def _disconnect(self, net, containers):
        for cid, name in sorted(containers.items(), key=lambda item: item[1]):
            if not self.check:
                self.client.call("disconnect_container_from_network", cid, net["Id"], force=True)
            self.actions.append("disconnected %s" % name)

    def _connect(self, net_id, containers):
        """Connect containers (those of option connected: no aliases, no fixed address)."""
        for cid, name in sorted(containers.items(), key=lambda item: item[1]):
            if not self.check:
                self.client.call("connect_container_to_network", cid, net_id or self.desired["name"])
            self.actions.append("connected %s" % name)

    def _reconnect(self, net_id, plans):
        """Connect the containers of a recreated network to the new one (_reconnect_plans). One
        the engine refuses does not stop the others; the failure names it afterwards."""
        failed = []
        for name, cid, kwargs, lost in plans:
            if not self.check:
                try:
                    self.client.call("connect_container_to_network", cid,
                                     net_id or self.desired["name"], **kwargs)
                except DockerError as exc:
                    failed.append("%s (%s)" % (name, exc))
                    continue
            self.actions.append(reconnect_action(name, kwargs, lost))
        return failed

    def _refuse_unless_forced(self, containers, why):
        """Without force, no attached container is disconnected: fail naming them."""
        if containers and not self.p.get("force"):
            raise DockerError("name: network %s %s but containers are attached: %s; set force: "
                              "true to disconnect them" % (self.desired["name"], why,
                                                           ", ".join(sorted(containers.values()))))

    def _remove(self, actual, attached):
        self._disconnect(actual, attached)
        if not self.check:
            self.client.call("remove_network", actual["Id"])
        self.actions.append("removed network %s" % self.desired["name"])

    def _reconnect_plans(self, actual, keep):
        """[(name, ID, connect kwargs, what is not kept)] for the containers to connect to the
        recreated network again, from their endpoints on the old one (read before removing
        it). Those with a fixed address first: one given an address by the engine before
        them could take theirs."""
        plans = []
        for cid, name in list(keep.items()):
            info = self.client.get("inspect_container", cid)
            if info is None:   # removed meanwhile
                del keep[cid]
                continue
            endpoint = ((info.get("NetworkSettings") or {}).get("Networks") or {}).get(actual["Name"])
            kwargs, lost = reconnect_plan(cid, endpoint, self.desired)
            plans.append((name, cid, kwargs, lost))
        plans.sort(key=lambda plan: ("ipv4_address" not in plan[2] and "ipv6_address" not in plan[2],
                                     plan[0]))
        return plans

    def run(self):
        actual = self._inspect()
        attached = self._attached(actual)
        before = network_view(self.desired, actual, attached.values())
        result = dict(changed=False, actions=self.actions)
        predefined = actual is not None and self.desired["name"] in PREDEFINED_NETWORKS
        if self.p.get("state") == "absent":
            if actual is not None:
                if predefined:
                    raise DockerError("name: %s is a network the engine pre-defines, which it does not "
                                      "remove; nothing was changed" % self.desired["name"])
                self._refuse_unless_forced(attached, "is to be removed")
                self._remove(actual, attached)
            result.update(changed=bool(self.actions), network=None,
                          diff=dict(before=before, after=dict(present=False)))
            return result

        wanted = self._wanted() if self.desired["connected"] is not None else None
        recreate, diffs = False, []
        if actual is not None:
            diffs = network_differences(self.desired, actual)
            result["differences"] = [dict(option=o, wanted=w, actual=a) for o, w, a in diffs]
            if diffs and predefined:
                raise DockerError("name: %s is a network the engine pre-defines, which it neither "
                                  "removes nor recreates, and it differs (%s); nothing was changed"
                                  % (self.desired["name"], format_differences(diffs)))
            if diffs:
                if not self.p.get("recreate"):
                    raise DockerError("network %s exists with different settings that the engine "
                                      "cannot change in place (%s); set recreate: true to remove "
                                      "and create it again" % (self.desired["name"],
                                                               format_differences(diffs)))
                recreate = True
        # the attached containers that stay, and those of `connected` to connect
        if wanted is None or self.desired["appends"]:
            keep = dict(attached)
        else:
            keep = {cid: name for cid, name in attached.items() if cid in wanted}
        add = {cid: name for cid, name in (wanted or {}).items() if cid not in attached}
        predicted = actual if (actual is not None and not recreate) else network_after(self.desired)
        why = cannot_attach(predicted) if add else None
        if why:
            raise DockerError("connected: %s; %s cannot be connected" % (
                why, ", ".join(sorted(add.values()))))
        networks = self._check_create(actual) if (actual is None or recreate) else None

        if recreate:
            # the containers to drop anyway (not in connected) need no force
            self._refuse_unless_forced(keep, "must be recreated (%s)" % format_differences(diffs))
            plans = self._reconnect_plans(actual, keep)
            self._trial(actual, networks)
            self._remove(actual, attached)
            net_id = self._create(attached)
            failed = self._reconnect(net_id, plans)
            self._connect(net_id, add)
            if failed:
                raise DockerError("network %s was recreated, but the engine did not connect %s to it "
                                  "again" % (self.desired["name"], "; ".join(failed)))
        else:
            net_id = self._create() if actual is None else actual["Id"]
            self._connect(net_id, add)
            self._disconnect(actual, {cid: n for cid, n in attached.items() if cid not in keep})
        result["changed"] = bool(self.actions)

        if result["changed"] and not self.check:
            after = self._inspect()
            names = list(self._attached(after).values())
        else:
            after = predicted
            names = list(keep.values()) + list(add.values())
        after = after or {}
        result["network"] = dict(id=after.get("Id"), name=self.desired["name"],
                                 driver=after.get("Driver"), ipam=_actual_ipam(after),
                                 labels=after.get("Labels") or {}, containers=sorted(names))
        result["diff"] = dict(before=before, after=network_view(self.desired, after or None, names))
        return result


class VolumeManager:
    def __init__(self, client, params, check_mode=False):
        self.client = client
        self.p = params
        self.check = check_mode
        self.desired = volume_desired(params)
        self.actions = []

    def _users(self):
        return sorted(container_name(c) for c in self.client.call(
            "containers", all=True, filters={"volume": self.desired["name"]}))

    def _refuse_in_use(self, why):
        """A volume containers use (running or stopped) is never removed: fail naming them."""
        users = self._users()
        if users:
            raise DockerError("name: volume %s %s but containers use it: %s; remove those "
                              "containers first" % (self.desired["name"], why, ", ".join(users)))

    def _remove(self, why, checked=False):
        if not checked:
            self._refuse_in_use(why)
        self.actions.append("removed volume %s" % self.desired["name"])
        if not self.check:
            self.client.call("remove_volume", self.desired["name"])

    def _create(self, spec, name=None, quiet=False):
        """Create volume name (the task's) as spec says. The engine's refusal (an option of
        the driver, a driver it does not have) names the options."""
        name = name or spec["name"]
        if not quiet:
            self.actions.append("created volume %s" % name)
        if self.check:
            return
        try:
            self.client.call("create_volume", name, driver=spec.get("driver") or "local",
                             driver_opts=spec.get("driver_options") or None,
                             labels=spec.get("labels") or None)
        except DockerError as exc:
            raise DockerError("driver, driver_options: the engine refused to create volume %s: %s"
                              % (name, exc)) from exc

    def _recreate(self, actual, diffs):
        """Remove the volume and make it anew (volume_recreated). The new one is tried first
        under a name of its own (created and removed at once), so that an option the engine
        refuses fails before the volume and its data are gone."""
        spec = volume_recreated(self.desired, actual)
        why = "must be recreated (%s)" % format_differences(diffs)
        self._refuse_in_use(why)   # before the trial volume: a refusal leaves nothing behind
        trial = "%s-dytrial-%s" % (self.desired["name"][:200], os.urandom(4).hex())
        self._create(spec, trial, quiet=True)
        if not self.check:
            self.client.call("remove_volume", trial)
        self._remove(why, checked=True)
        try:
            self._create(spec)
        except DockerError as exc:
            raise DockerError("%s; volume %s was removed first (its data is gone)"
                              % (exc, self.desired["name"])) from exc
        return spec

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
        made = self.desired
        if actual is None:
            self._create(self.desired)
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
                made = self._recreate(actual, diffs)
                result["changed"] = True
        after = self.client.get("inspect_volume", self.desired["name"]) \
            if (result["changed"] and not self.check) else (
                volume_after(made) if result["changed"] else actual)
        result["volume"] = dict(name=self.desired["name"], driver=after.get("Driver"),
                                mountpoint=after.get("Mountpoint"),
                                options=after.get("Options") or {},
                                labels=after.get("Labels") or {})
        result["diff"] = dict(before=before, after=volume_view(self.desired, after))
        return result


# ------------------------------------------------------------------ the modules' runs
def network_argument_spec():
    """dockyard.fleet.network's argument spec (also what its action plugin validates with)."""
    return docker_common_args(
        execution=dict(EXECUTION_ARG),
        name=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        driver=dict(type="str"),
        driver_options=dict(type="dict"),
        labels=dict(type="dict"),
        ipam_driver=dict(type="str"),
        ipam_config=dict(type="list", elements="dict", options=dict(
            subnet=dict(type="str", required=True),
            gateway=dict(type="str"),
            iprange=dict(type="str"),
            aux_addresses=dict(type="dict"),
        )),
        internal=dict(type="bool"),
        attachable=dict(type="bool"),
        enable_ipv6=dict(type="bool"),
        recreate=dict(type="bool", default=False),
        force=dict(type="bool", default=False),
        connected=dict(type="list", elements="str"),
        appends=dict(type="bool", default=False),
    )


def network_main(module, client=None):
    """The module's run once its options are validated: on the host (the module) or on the
    controller against the host's engine socket forwarded over SSH (the action plugin, with
    client). Ends with module.exit_json or module.fail_json."""
    manager = None
    try:
        network_desired(module.params)
        manager = NetworkManager(client or DockerClient(module.params), module.params, module.check_mode)
        result = manager.run()
    except (InputError, DockerError) as exc:
        # a run that fails after changing something (a recreate whose new network the engine
        # refused) says so, and what it did
        done = [] if manager is None or module.check_mode else manager.actions
        module.fail_json(msg=str(exc), changed=bool(done), actions=done)
    module.exit_json(**result)


def volume_argument_spec():
    """dockyard.fleet.volume's argument spec (also what its action plugin validates with)."""
    return docker_common_args(
        execution=dict(EXECUTION_ARG),
        name=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        driver=dict(type="str"),
        driver_options=dict(type="dict"),
        labels=dict(type="dict"),
        recreate=dict(type="bool", default=False),
    )


def volume_main(module, client=None):
    """As network_main, for dockyard.fleet.volume."""
    try:
        volume_desired(module.params)
        result = VolumeManager(client or DockerClient(module.params), module.params,
                               module.check_mode).run()
    except (InputError, DockerError) as exc:
        module.fail_json(msg=str(exc), changed=False)
    module.exit_json(**result)
