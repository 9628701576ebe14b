"""Write a running configuration as rc.conf text that plan() turns back into it.

    save(config: RunningConfig) -> str
    RunningConfig(hostname, interfaces: [Interface], routes: [Route], arp: [ArpEntry],
                  ndp: [ArpEntry], ip_forwarding, ip6_forwarding)
    Interface(name, cloner=None, create_args=(), description="", inet=[(addr, plen)],
              inet6=[(addr, plen)], up=False, mtu=None, ...)
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
* an attached interface renamed since (its name as attached differs) gets
  ifconfig_ATTACHED_name;
* nd6 flags that differ from the driver's default become ifconfig words in
  ifconfig_IF_ipv6 (`inet6 [ADDR] accept_rtadv -auto_linklocal ...`): that variable
  makes rc run `ifconfig IF inet6 -ifdisabled` first, so an interface whose IPv6 stays
  disabled gets `ifdisabled` back at its end (not with an address, which enables IPv6
  again: noted); when every interface whose driver starts with IPv6 disabled has it
  enabled, ipv6_activate_all_interfaces="YES" says so once;
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
up. Automatic addresses are not saved: lo0's ::1, a loopback's fe80::1 and the link-local
address in6_ifattach derives from the interface's MAC (the caller, running.py, leaves that
one out; a link-local address set by hand is kept and saved).
`routes` must hold only static routes (not the ones addresses create).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from plebproto.constants import (
    ND6_IFF_ACCEPT_RTADV, ND6_IFF_AUTO_LINKLOCAL, ND6_IFF_IFDISABLED, ND6_IFF_NO_DAD,
    ND6_IFF_NO_PREFER_IFACE, ND6_IFF_NO_RADR, ND6_IFF_PERFORMNUD,
)

from .context import sanitize_ifname

__all__ = ["Interface", "Route", "ArpEntry", "RunningConfig", "save", "sh_quote", "is_auto_inet6",
           "nd6_words"]

# af_nd6.c's keywords for the ND6_IFF_* bits ifconfig can set, in the order they are written
ND6_WORDS = (("ifdisabled", ND6_IFF_IFDISABLED), ("accept_rtadv", ND6_IFF_ACCEPT_RTADV),
             ("auto_linklocal", ND6_IFF_AUTO_LINKLOCAL), ("nud", ND6_IFF_PERFORMNUD),
             ("no_radr", ND6_IFF_NO_RADR), ("no_prefer_iface", ND6_IFF_NO_PREFER_IFACE),
             ("no_dad", ND6_IFF_NO_DAD))


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
    mtu_default: int = 1500  # the MTU its driver attaches it with
    members: list[str] = field(default_factory=list)  # a bridge's, in the order added
    peer: str | None = None  # an epair end's other end
    dhcp: str | None = None  # "DHCP" / "SYNCDHCP": the stack's DHCP client runs on it
    dst: dict[str, str] = field(default_factory=dict)  # address -> its point-to-point peer
    nd6: int | None = None  # its ND6_IFF_* flags; None: the driver's default (nd6_default)
    nd6_default: int = 0    # the flags its driver attaches it with
    attached_as: str | None = None  # the name it was attached with, when renamed since


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


def is_auto_inet6(ifname: str, addr: str, macs=()) -> bool:
    """Addresses the stack configures by itself (not saved): lo0's ::1, a loopback's
    fe80::1, and the link-local in6_ifattach makes from a MAC in `macs` (EUI-64)."""
    ip = ipaddress.IPv6Address(addr.partition("%")[0])
    if re.fullmatch(r"lo[0-9]+", ifname) and ip in (ipaddress.IPv6Address("::1"),
                                                   ipaddress.IPv6Address("fe80::1")):
        return ip.is_link_local or ifname == "lo0"
    if not ip.is_link_local:
        return False
    return any(ip.packed[8:] == _eui64(mac) for mac in macs if mac)


def _eui64(mac: str) -> bytes:
    m = bytes(int(x, 16) for x in mac.split(":"))
    return bytes([m[0] ^ 2, m[1], m[2], 0xFF, 0xFE, m[3], m[4], m[5]])


def nd6_words(flags: int | None, default: int) -> list[str]:
    """The af_nd6 words that take an interface from its driver's flags to these."""
    if flags is None:
        return []
    out = []
    for word, bit in ND6_WORDS:
        if (flags ^ default) & bit:
            out.append(word if flags & bit else f"-{word}")
    return out


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


def _activate_all(interfaces: list[Interface]) -> bool:
    """ipv6_activate_all_interfaces: every interface whose driver attaches it with IPv6
    disabled has it enabled (rc runs `ifconfig IF inet6 -ifdisabled` on each)."""
    off = [i for i in interfaces if i.nd6 is not None and i.nd6_default & ND6_IFF_IFDISABLED]
    return bool(off) and not any(i.nd6 & ND6_IFF_IFDISABLED for i in off)


def _save_interfaces(w: _Writer, interfaces: list[Interface]) -> None:
    for iface in interfaces:        # ifnet_rename: attached NICs first, before clone_up's
        if iface.cloner is None and iface.attached_as and iface.attached_as != iface.name:
            w.set(f"ifconfig_{sanitize_ifname(iface.attached_as)}_name", iface.name)
    created = _creation_names(interfaces)
    if created:
        w.set("cloned_interfaces", " ".join(word for word, _ in created.values() if word))
    for name, (word, create_name) in created.items():
        iface = next(i for i in interfaces if i.name == name)
        if iface.create_args and word and "." not in word:
            w.set(f"create_args_{sanitize_ifname(word)}", " ".join(iface.create_args))
        if create_name != name:
            w.set(f"ifconfig_{sanitize_ifname(create_name)}_name", name)
    activate_all = _activate_all(interfaces)
    if activate_all:
        w.set("ipv6_activate_all_interfaces", "YES")
    for iface in interfaces:
        _save_interface(w, iface, activate_all)


def _save_interface(w: _Writer, iface: Interface, activate_all: bool = False) -> None:
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
    nd6 = nd6_words(iface.nd6, iface.nd6_default)
    if activate_all and iface.nd6_default & ND6_IFF_IFDISABLED:
        nd6 = [word for word in nd6 if word != "-ifdisabled"]
    other = [word for word in nd6 if word not in ("-ifdisabled", "ifdisabled")]
    ipv6: list[str] = []
    if first6 is not None or other:
        # rc runs `ifconfig IF inet6 -ifdisabled` for any ifconfig_IF_ipv6 first: IPv6 that
        # stays disabled is disabled again at the end -- unless an address comes with it
        # (ifconfig adds it after the flags, and a manual address enables IPv6)
        ipv6 = ["inet6", *([f"{first6[0]}/{first6[1]}", *_peer(iface, first6[0])]
                           if first6 is not None else []), *other]
        if iface.nd6 is not None and iface.nd6 & ND6_IFF_IFDISABLED:
            if first6 is None:
                ipv6.append("ifdisabled")
            else:
                w.notes.append(f"{iface.name} has IPv6 disabled, but rc.conf enables IPv6 "
                               "where it sets IPv6 addresses.")
    elif nd6:
        ipv6 = ["inet6", *nd6]          # `-ifdisabled`, or `ifdisabled` on a loopback
    configured = bool(main) or bool(ipv6) or keep_rc_default
    if iface.name == "lo0" and not keep_rc_default and not main:
        main = ["up"]  # any ifconfig_lo0 keeps rc from adding 127.0.0.1
    elif not configured and iface.up:
        main = ["up"]
    if main:
        w.set(var, " ".join(main))
    if ipv6:
        w.set(f"{var}_ipv6", " ".join(ipv6))
    aliases = [" ".join(["inet", f"{a}/{p}", *_peer(iface, a)]) for a, p in inet] \
        + [" ".join([f"inet6 {a}/{p}", *_peer(iface, a)]) for a, p in inet6]
    for n, alias in enumerate(aliases):
        w.set(f"{var}_alias{n}", alias)
    if iface.description:
        w.set(f"{var}_descr", iface.description)
    if not iface.up and (main or ipv6 or aliases or iface.name == "lo0"):
        w.notes.append(f"{iface.name} is down, but rc.conf brings configured interfaces up.")


def _peer(iface: Interface, addr: str) -> list[str]:
    """`ifconfig IF inet A/LEN B` (or inet6): a point-to-point address's destination (gif)."""
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
