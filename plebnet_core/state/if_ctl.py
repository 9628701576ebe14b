"""Interfaces, as FreeBSD's if.c handles them: attach, clone create/destroy, rename, flags
(with what bringing an interface up or down does to its addresses' routes,
docs/freebsd-tools.md §6.2), MTU, metric, description, link-level address, capabilities,
groups, the ND6 per-interface flags, and the RTM_IFINFO/RTM_IFANNOUNCE messages.  The
interface data itself is ifnet.py's; the lookups by name and index are base.py's.
"""
from __future__ import annotations

import hashlib
import uuid
from typing import Any

from plebproto.constants import (
    AF_INET6, EEXIST, EINVAL, ENAMETOOLONG, ENOENT, IFAN_ARRIVAL, IFAN_DEPARTURE,
    IFF_CANTCHANGE, IFF_LOOPBACK, IFF_LOWER_UP, IFF_RUNNING, IFF_UP, LINK_STATE_UP,
    ND6_IFF_AUTO_LINKLOCAL, ND6_IFF_IFDISABLED,
    RTF_PINNED, RTF_STATIC, RTM_IFANNOUNCE, RTM_IFINFO,
)
from plebproto.errors import OpError
from plebproto.iftypes import CLONERS, IFTYPES

from . import bridge, epair, vlan
from .base import LOOPBACK4, LOOPBACK6, StackBase
from .clone import REGISTRY, cloner_for
from .ifnet import AddrList, Interface
from .inet import embed_scope
from .txn import Event

IFNAMSIZ = 16
# the cloners with their own module (importing each registers it in clone.REGISTRY)
CLONER_MODULES = (vlan, bridge, epair)
IFDESCR_MAXLEN = 1024


OUI_FREEBSD = b"\x58\x9c\xfc"           # sys/net/ieee_oui.h OUI_FREEBSD_BASE
OUI_FREEBSD_GENERATED_MASK = 0x10FFFF


def stable_mac(hostuuid: str, nameunit: str, jailname: str = "0") -> bytes:
    """ether_gen_addr_byname (sys/net/if_ethersubr.c): SHA-1 of "%s-%s-%s" (the host uuid,
    the interface's name, the jail's name: prison0's is "0"), its first three bytes masked
    into FreeBSD's block of generated addresses.  Stable for one host and name; a stack is
    a host of its own here (Stack.hostuuid), so two stacks' vnet0 differ."""
    digest = hashlib.sha1(f"{hostuuid}-{nameunit}-{jailname}".encode()).digest()
    low = int.from_bytes(digest[:3], "big") & OUI_FREEBSD_GENERATED_MASK
    return OUI_FREEBSD + low.to_bytes(3, "big")


def new_hostuuid() -> str:
    """A host uuid for a stack that was given none: rc.d/hostid's fallback, a random one."""
    return str(uuid.uuid4())


class IfControl(StackBase):
    def if_attach(self, name: str, kind: str, mac: bytes | None = None,
                  cloner: str | None = None, params: dict[str, Any] | None = None) -> Interface:
        """Attach an interface (a NIC at start, or a clone).  lo gets its addresses here."""
        j = self.journal
        if name in self.by_name:
            raise OpError(EEXIST, f"interface {name} already exists")
        if len(name) >= IFNAMSIZ:
            raise OpError(EINVAL)
        iftype = IFTYPES[kind]
        if iftype.ether and mac is None:
            mac = stable_mac(self.hostuuid, name)
        ifp = Interface(self.next_index, name, iftype, mac, cloner, params)
        j.setattr(self, "next_index", self.next_index + 1)
        j.append(self.ifaces, ifp)
        j.setitem(self.by_name, name, ifp)
        j.emit(lambda: self._announce(ifp, name, IFAN_ARRIVAL))
        if kind == "lo" and self.lo0 is None:
            # only lo0 (if_loop.c's lo_clone_create gives a clone no address; rc gives lo0
            # its 127.0.0.1 and in6_ifattach its ::1 and fe80::1)
            j.setattr(self, "lo0", ifp)
            self.in_aifaddr(name, LOOPBACK4, 8)
            self.in6_aifaddr(name, LOOPBACK6, 128)
            self.in6_aifaddr(name, embed_scope(0xFE80 << 112 | 1, 0), 64)
        return ifp

    def if_create(self, name: str, params: dict[str, Any] | None = None) -> str:
        """SIOCIFCREATE2: 'tap' picks the next unit, 'tap3' asks for that one.  The cloner
        whose name matches creates (state/clone.py; vlan also takes PARENT.TAG names)."""
        cloner = cloner_for(self, name, CLONERS)
        if cloner is None:
            raise OpError(EINVAL)
        return cloner.create(self, name, dict(params or {}))

    def if_clone_plain(self, kind: str, name: str, params: dict[str, Any] | None = None,
                       mac: bytes | None = None) -> str:
        """Attach one clone of kind named name, or KIND<lowest free unit> when name has no
        unit; the MAC (for an Ethernet kind without one given) is FreeBSD's OUI and stable."""
        if name == kind:
            n = 0
            while f"{kind}{n}" in self.by_name:
                n += 1
            name = f"{kind}{n}"
        elif name in self.by_name:
            raise OpError(EEXIST, f"interface {name} already exists")
        if mac is None and IFTYPES[kind].ether:
            mac = stable_mac(self.hostuuid, name)
        self.if_attach(name, kind, mac, cloner=kind, params=params)
        return name

    def if_destroy(self, name: str) -> list[Interface]:
        """SIOCIFDESTROY; returns the interfaces gone (an epair goes as a pair)."""
        ifp = self.ifunit(name)
        if ifp.cloner is None or ifp is self.lo0:
            raise OpError(EINVAL)
        cloner = REGISTRY.get(ifp.cloner)
        gone = cloner.destroying(self, ifp) if cloner is not None else [ifp]
        for victim in gone:
            self._if_detach(victim)
        return gone

    def _if_detach(self, ifp: Interface) -> None:
        j = self.journal
        name = ifp.name
        # the clones that refer to it let go first (a vlan's parent, a bridge's member)
        for other in list(self.ifaces):
            cloner = REGISTRY.get(other.cloner or "")
            if other is not ifp and cloner is not None:
                cloner.detached(self, other, ifp)
        for ifa in ifp.addrs:
            self._del_ifa(ifa, listed=False)
        j.setattr(ifp, "addrs", AddrList())     # at once, rather than one by one
        # routes through the interface that no address owned (-interface routes)
        for af, table in self.rt.items():
            for route in [r for r in table.paths() if r.ifp is ifp]:
                self._rt_unlink(af, route)
        j.remove(self.ifaces, ifp)
        j.delitem(self.by_name, name)
        # a tick while it is away drops its entries' items: if it comes back, arm them all
        j.record(self._ll_arm_all, ifp)
        j.emit(lambda: self._announce(ifp, name, IFAN_DEPARTURE))

    def if_rename(self, name: str, newname: str) -> None:
        ifp = self.ifunit(name)
        if newname in self.by_name:
            raise OpError(EEXIST)
        if not newname or len(newname) >= IFNAMSIZ:
            raise OpError(EINVAL)
        j = self.journal
        j.emit(lambda: self._announce(ifp, name, IFAN_DEPARTURE))
        j.delitem(self.by_name, name)
        j.setitem(self.by_name, newname, ifp)
        j.setattr(ifp, "name", newname)
        j.emit(lambda: self._announce(ifp, newname, IFAN_ARRIVAL))
        for other in self.ifaces:
            cloner = REGISTRY.get(other.cloner or "")
            if cloner is not None:
                cloner.renamed(self, other, name, newname)

    def if_setflags(self, name: str, set_: int = 0, clear: int = 0) -> None:
        """SIOCSIFFLAGS with the bits to set and clear; driver-owned bits are ignored."""
        ifp = self.ifunit(name)
        set_ &= ~IFF_CANTCHANGE
        clear &= ~IFF_CANTCHANGE
        was_up = ifp.flags & IFF_UP
        flags = (ifp.flags | set_) & ~clear
        self.journal.setattr(ifp, "flags", (flags & ~IFF_UP) | was_up)
        if flags & IFF_UP and not was_up:
            self._if_up(ifp)
        elif was_up and not flags & IFF_UP:
            self._if_down(ifp)
        else:
            self._ifinfo(ifp)

    def oper_flags(self, ifp: Interface) -> int:
        """Flags as 14.x's netlink reports them: LOWER_UP when the link is operationally up."""
        up: int
        if ifp.iftype.ether and ifp.iftype.name != "bridge":     # IFT_BRIDGE: by IFF_UP
            up = ifp.link_state == LINK_STATE_UP
        else:
            up = ifp.flags & IFF_UP
        return ifp.flags | IFF_LOWER_UP if up else ifp.flags

    def if_media(self, ifp: Interface) -> tuple[str, str | None] | None:
        """SIOCGIFMEDIA: the driver's media words; a vlan asks its parent (none without)."""
        seen = 0
        while ifp.cloner == "vlan" and seen < 8:
            parent = self.by_name.get(ifp.params.get("vlandev") or "")
            if parent is None:
                return None
            ifp, seen = parent, seen + 1
        return ifp.iftype.media

    def if_clone_info(self, ifp: Interface) -> dict[str, Any]:
        """What a cloner's driver reports beside the common fields (for the listing)."""
        cloner = REGISTRY.get(ifp.cloner or "")
        return cloner.info(self, ifp) if cloner is not None else {}

    def _announce(self, ifp: Interface, name: str, what: int) -> Event:
        """RTM_IFANNOUNCE, with the link's state (route monitor prints it as netlink does)."""
        return {"type": RTM_IFANNOUNCE, "index": ifp.index, "ifname": name, "what": what,
                "flags": self.oper_flags(ifp), "mtu": ifp.mtu, "link": ifp.link_state}

    def _ifinfo(self, ifp: Interface) -> None:
        self.journal.emit(lambda: {"type": RTM_IFINFO, "index": ifp.index, "ifname": ifp.name,
                           "flags": self.oper_flags(ifp), "mtu": ifp.mtu,
                           "link": ifp.link_state})

    def _if_up(self, ifp: Interface) -> None:
        j = self.journal
        j.setattr(ifp, "flags", ifp.flags | IFF_UP | (IFF_RUNNING if ifp.iftype.up_runs else 0))
        self._ifinfo(ifp)
        for ifa in ifp.addrs:
            self._ifa_routes_up(ifa)
        if ifp.flags & IFF_LOOPBACK and ifp is not self.lo0:
            self._loop_linklocal(ifp)

    def _loop_linklocal(self, ifp: Interface) -> None:
        """in6_if_up -> in6_ifattach on a loopback clone: ::1 only if no interface has it
        (lo0 does), and the link-local fe80::1 (in6_ifattach_linklocal's loopback
        identifier) unless IPv6 is disabled on it or it has a link-local already."""
        nd6 = ifp.nd6_flags
        if not nd6 & ND6_IFF_AUTO_LINKLOCAL or nd6 & ND6_IFF_IFDISABLED:
            return
        if not any(a.af == AF_INET6 and a.addr == LOOPBACK6
                   for other in self.ifaces for a in other.addrs):
            self.in6_aifaddr(ifp.name, LOOPBACK6, 128)
        if not any(a.af == AF_INET6 and a.addr >> 118 == 0xFE80 >> 6 for a in ifp.addrs):
            self.in6_aifaddr(ifp.name, embed_scope(0xFE80 << 112 | 1, ifp.index), 64)

    def _if_down(self, ifp: Interface) -> None:
        """Spec §6.2: prefix routes go, non-static routes through the addresses go, static and
        loopback routes stay, dynamic ARP entries are purged."""
        j = self.journal
        flags = ifp.flags & ~IFF_UP
        if ifp.iftype.ether and ifp.iftype.down_stops:
            flags &= ~IFF_RUNNING
        j.setattr(ifp, "flags", flags)
        self._ifinfo(ifp)
        for af, table in self.rt.items():
            for route in self._dependents(table, [a for a in ifp.addrs if a.af == af]):
                if route.flags & RTF_STATIC:
                    continue
                if route.flags & RTF_PINNED:        # prefix route: moves or goes
                    self._prefix_route_gone(af, route)
                else:
                    self._rt_unlink(af, route)
        self._ll_purge(ifp, None, None, dynamic_only=True)

    def if_setmtu(self, name: str, mtu: int) -> None:
        ifp = self.ifunit(name)
        lo, hi = (72, 65535) if ifp.iftype.ether else (72, 131072)
        if not lo <= mtu <= hi:
            raise OpError(EINVAL)
        cloner = REGISTRY.get(ifp.cloner or "")
        if cloner is not None:
            cloner.check_mtu(self, ifp, mtu)    # the driver's own limits (vlan, bridge)
        self.journal.setattr(ifp, "mtu", mtu)
        self._ifinfo(ifp)

    def if_setmetric(self, name: str, metric: int) -> None:
        self.journal.setattr(self.ifunit(name), "metric", metric)

    def if_setdescr(self, name: str, descr: str) -> None:
        ifp = self.ifunit(name)
        if len(descr.encode()) > IFDESCR_MAXLEN:
            raise OpError(ENAMETOOLONG)
        self.journal.setattr(ifp, "description", descr)

    def if_setlladdr(self, name: str, mac: bytes) -> None:
        ifp = self.ifunit(name)
        if not ifp.iftype.ether or len(mac) != 6 or mac[0] & 1:
            raise OpError(EINVAL)
        self.journal.setattr(ifp, "mac", bytes(mac))
        self._ifinfo(ifp)
        for child in vlan.vlans_of(self, ifp):     # vlan_iflladdr: the vlans follow
            self.journal.setattr(child, "mac", bytes(mac))
            self._ifinfo(child)

    def if_setcaps(self, name: str, set_: int = 0, clear: int = 0) -> None:
        ifp = self.ifunit(name)
        self.journal.setattr(ifp, "caps", (ifp.caps | set_) & ~clear)

    def if_addgroup(self, name: str, group: str) -> None:
        ifp = self.ifunit(name)
        if not group or group[-1].isdigit() or len(group) >= IFNAMSIZ:
            raise OpError(EINVAL)
        if group in ifp.groups:
            raise OpError(EEXIST)
        self.journal.append(ifp.groups, group)

    def if_delgroup(self, name: str, group: str) -> None:
        ifp = self.ifunit(name)
        if group not in ifp.groups:
            raise OpError(ENOENT)
        self.journal.remove(ifp.groups, group)

    def if_setnd6(self, name: str, set_: int = 0, clear: int = 0) -> None:
        """SIOCSIFINFO_IN6.  Clearing IFDISABLED on an AUTO_LINKLOCAL interface configures its
        link-local address, as the kernel does."""
        ifp = self.ifunit(name)
        before = ifp.nd6_flags
        self.journal.setattr(ifp, "nd6_flags", (before | set_) & ~clear)
        if before & ND6_IFF_IFDISABLED and not ifp.nd6_flags & ND6_IFF_IFDISABLED:
            self._auto_linklocal(ifp)
