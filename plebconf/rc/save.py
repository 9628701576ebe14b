"""Write a running configuration as rc.conf text that plan() turns back into it.

    save(config: RunningConfig) -> str
    RunningConfig(hostname, interfaces: [Interface], routes: [Route], arp: [ArpEntry],
                  ndp: [ArpEntry], ip_forwarding, ip6_forwarding)
    Interface(name, cloner=None, create_args=(), description="", inet=[(addr, plen)],
              inet6=[(addr, plen)], up=False, mtu=None)
    Route(dest, prefixlen, gateway=None, interface=None, blackhole=False, reject=False)
    ArpEntry(ip, mac, pub=False)

The round trip: plan(parse_text(save(c)), live) with `live` = the names of the
non-cloned interfaces rebuilds `c` on a freshly started stack (lo0 and the
attached NICs present, unconfigured):

* the first IPv4 address goes to ifconfig_IF (with `mtu N`), the first IPv6
  address to ifconfig_IF_ipv6, the others to ifconfig_IF_aliasN in order (IPv4
  first), so each family keeps its order; the description to ifconfig_IF_descr;
  an interface that is up with nothing else gets ifconfig_IF="up";
* lo0 keeps rc's own 127.0.0.1/8 when that is its first address;
* cloned interfaces go to cloned_interfaces in order, with create_args_IF; one
  whose name is not CLONER<unit> is created as the first free CLONER<unit> and
  renamed with ifconfig_IF_name; an epair as epairN (rc makes epairNa and epairNb,
  renamed by ifconfig_epairNa_name / ifconfig_epairNb_name),
  a vlan named PARENT.TAG under that name (the name says tag and parent); a bridge's
  members go to its ifconfig_IF as `addm IF` words;
* IPv4/IPv6 default routes through a plain gateway become defaultrouter /
  ipv6_defaultrouter, other routes static_routes/route_rN and
  ipv6_static_routes/ipv6_route_rN in order;
* ARP entries become static_arp_pairs/static_arp_aN, NDP entries
  static_ndp_pairs/static_ndp_nN; forwarding switches
  gateway_enable/ipv6_gateway_enable (only when on: the default is off).

What rc.conf cannot say is reported in comment lines at the top: rc brings every
interface with addresses or an MTU up, so a down interface with them comes back
up. Automatic addresses are not saved: IPv6 link-local (fe80::/10) ones and lo0's ::1.
`routes` must hold only static routes (not the ones addresses create).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from .context import sanitize_ifname

__all__ = ["Interface", "Route", "ArpEntry", "RunningConfig", "save", "sh_quote", "is_auto_inet6"]


@dataclass
class Interface:
    name: str
    cloner: str | None = None  # set when created with `ifconfig <cloner><unit> create`
    create_args: tuple[str, ...] = ()
    description: str = ""
    inet: list[tuple[str, int]] = field(default_factory=list)
    inet6: list[tuple[str, int]] = field(default_factory=list)
    up: bool = False
    mtu: int | None = None  # None: the driver's default, not saved
    members: list[str] = field(default_factory=list)  # a bridge's, in the order added
    peer: str | None = None  # an epair end's other end
    dhcp: str | None = None  # "DHCP" / "SYNCDHCP": the stack's DHCP client runs on it
    dst: dict[str, str] = field(default_factory=dict)  # inet address -> its point-to-point peer


@dataclass
class Route:
    dest: str
    prefixlen: int
    gateway: str | None = None
    interface: str | None = None  # route to an interface (`-iface IF`)
    blackhole: bool = False
    reject: bool = False


@dataclass
class ArpEntry:
    ip: str
    mac: str
    pub: bool = False


@dataclass
class RunningConfig:
    hostname: str = ""
    interfaces: list[Interface] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    arp: list[ArpEntry] = field(default_factory=list)
    ndp: list[ArpEntry] = field(default_factory=list)   # static NDP entries (pub = proxy)
    ip_forwarding: bool = False
    ip6_forwarding: bool = False


def sh_quote(text: str) -> str:
    """Double-quote for sh: only \\ " $ ` need a backslash inside "..."."""
    return '"' + re.sub(r'([\\"$`])', r"\\\1", text) + '"'


def is_auto_inet6(ifname: str, addr: str) -> bool:
    """Addresses the stack configures by itself (not saved)."""
    ip = ipaddress.IPv6Address(addr.partition("%")[0])
    return ip.is_link_local or (ifname == "lo0" and ip == ipaddress.IPv6Address("::1"))


class _Writer:
    def __init__(self):
        self.lines: list[str] = []
        self.notes: list[str] = []

    def set(self, name: str, value: str) -> None:
        self.lines.append(f"{name}={sh_quote(value)}")


def save(config: RunningConfig) -> str:
    w = _Writer()
    if config.hostname:
        w.set("hostname", config.hostname)
    _save_interfaces(w, config.interfaces)
    _save_routes(w, config.routes)
    if config.ip_forwarding:
        w.set("gateway_enable", "YES")
    if config.ip6_forwarding:
        w.set("ipv6_gateway_enable", "YES")
    if config.arp:
        names = [f"a{i}" for i in range(len(config.arp))]
        w.set("static_arp_pairs", " ".join(names))
        for name, e in zip(names, config.arp):
            w.set(f"static_arp_{name}", " ".join([e.ip, e.mac] + (["pub"] if e.pub else [])))
    if config.ndp:
        names = [f"n{i}" for i in range(len(config.ndp))]
        w.set("static_ndp_pairs", " ".join(names))
        for name, e in zip(names, config.ndp):
            w.set(f"static_ndp_{name}", " ".join([e.ip, e.mac] + (["proxy"] if e.pub else [])))
    header = ["# rc.conf(5) written by plebconf from the running configuration."]
    header += [f"# note: {n}" for n in w.notes]
    return "\n".join(header + w.lines) + "\n"


def _creation_names(interfaces: list[Interface]) -> dict[str, tuple[str, str]]:
    """Cloned interface name -> (the word for cloned_interfaces, or "" for an epair's second
    end, which its first end's word makes; the name it has once created)."""
    taken = {i.name for i in interfaces}
    out: dict[str, tuple[str, str]] = {}
    for i in interfaces:
        if i.cloner is None or i.name in out:
            continue
        if i.cloner == "epair":
            # epairN makes epairNa and epairNb: the first end in kernel order is a
            peer = next((p for p in interfaces if p.name == i.peer), None)
            unit = next((m.group(1) for n in (i.name, peer.name if peer else "")
                         if (m := re.fullmatch(r"epair([0-9]+)[ab]", n))), None)
            if unit is None:
                n = 0
                while f"epair{n}a" in taken or f"epair{n}b" in taken:
                    n += 1
                unit = str(n)
            taken |= {f"epair{unit}a", f"epair{unit}b"}
            out[i.name] = (f"epair{unit}", f"epair{unit}a")
            if peer is not None:
                out[peer.name] = ("", f"epair{unit}b")
            continue
        if i.cloner == "vlan" and "." in i.name:
            out[i.name] = (i.name, i.name)  # vlan_clone_match_ethervid's PARENT.TAG
            continue
        if re.fullmatch(re.escape(i.cloner) + r"[0-9]+", i.name):
            out[i.name] = (i.name, i.name)
            continue
        unit = 0
        while f"{i.cloner}{unit}" in taken:
            unit += 1
        out[i.name] = (f"{i.cloner}{unit}", f"{i.cloner}{unit}")
        taken.add(f"{i.cloner}{unit}")
    return out


def _save_interfaces(w: _Writer, interfaces: list[Interface]) -> None:
    created = _creation_names(interfaces)
    if created:
        w.set("cloned_interfaces", " ".join(word for word, _ in created.values() if word))
    for name, (word, create_name) in created.items():
        iface = next(i for i in interfaces if i.name == name)
        if iface.create_args and word and "." not in word:
            w.set(f"create_args_{sanitize_ifname(word)}", " ".join(iface.create_args))
        if create_name != name:
            w.set(f"ifconfig_{sanitize_ifname(create_name)}_name", name)
    for iface in interfaces:
        _save_interface(w, iface)


def _save_interface(w: _Writer, iface: Interface) -> None:
    var = f"ifconfig_{sanitize_ifname(iface.name)}"
    inet = list(iface.inet)
    inet6 = [(a, p) for a, p in iface.inet6 if not is_auto_inet6(iface.name, a)]

    main: list[str] = []
    # lo0 gets 127.0.0.1/8 from rc itself unless ifconfig_lo0 is set.
    keep_rc_default = iface.name == "lo0" and inet[:1] == [("127.0.0.1", 8)] and iface.mtu is None
    if keep_rc_default:
        inet.pop(0)
    elif iface.dhcp:        # the leased address is the client's: static ones are aliases
        main.append(iface.dhcp)
    elif inet:
        main += ["inet", f"{inet[0][0]}/{inet[0][1]}", *_peer(iface, inet[0][0])]
        inet.pop(0)
    if iface.mtu is not None:
        main += ["mtu", str(iface.mtu)]
    for member in iface.members:    # after the address: ifconfig takes `inet` only first
        main += ["addm", member]
    first6 = inet6.pop(0) if inet6 else None
    configured = bool(main) or first6 is not None or keep_rc_default
    if iface.name == "lo0" and not keep_rc_default and not main:
        main = ["up"]  # any ifconfig_lo0 keeps rc from adding 127.0.0.1
    elif not configured and iface.up:
        main = ["up"]
    if main:
        w.set(var, " ".join(main))
    if first6 is not None:
        w.set(f"{var}_ipv6", f"inet6 {first6[0]}/{first6[1]}")
    aliases = [" ".join(["inet", f"{a}/{p}", *_peer(iface, a)]) for a, p in inet] \
        + [f"inet6 {a}/{p}" for a, p in inet6]
    for n, alias in enumerate(aliases):
        w.set(f"{var}_alias{n}", alias)
    if iface.description:
        w.set(f"{var}_descr", iface.description)
    if not iface.up and (main or first6 is not None or aliases or iface.name == "lo0"):
        w.notes.append(f"{iface.name} is down, but rc.conf brings configured interfaces up.")


def _peer(iface: Interface, addr: str) -> list[str]:
    """`ifconfig IF inet A/LEN B`: the destination of a point-to-point address (gif)."""
    return [iface.dst[addr]] if addr in iface.dst else []


def _route_args(r: Route, inet6: bool) -> str:
    if r.prefixlen == 0:
        args = ["default"]
    elif r.prefixlen == (128 if inet6 else 32):
        args = ["-host", r.dest]
    else:
        args = ["-net", f"{r.dest}/{r.prefixlen}"]
    if r.interface is not None:
        args += ["-iface", r.interface]
    elif r.gateway is not None:
        args.append(r.gateway)
    else:  # route(8) wants a gateway; the kernel uses the loopback for these anyway
        args.append("::1" if inet6 else "127.0.0.1")
    if r.blackhole:
        args.append("-blackhole")
    if r.reject:
        args.append("-reject")
    return " ".join(args)


def _save_routes(w: _Writer, routes: list[Route]) -> None:
    for inet6, list_var, prefix, router_var in ((False, "static_routes", "route_", "defaultrouter"),
                                                 (True, "ipv6_static_routes", "ipv6_route_",
                                                  "ipv6_defaultrouter")):
        family = [r for r in routes if (":" in r.dest) == inet6]
        default = next((r for r in family if r.prefixlen == 0 and r.gateway and not r.interface
                        and not r.blackhole and not r.reject), None)
        static = [r for r in family if r is not default]
        if static:
            names = [f"r{i}" for i in range(len(static))]
            w.set(list_var, " ".join(names))
            for name, r in zip(names, static):
                w.set(f"{prefix}{name}", _route_args(r, inet6))
        if default is not None:
            w.set(router_var, default.gateway)
