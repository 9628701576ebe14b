"""The stack's configuration state with FreeBSD 14 kernel rules (docs/freebsd-tools.md §1.3, §1.4, §3.4, §6).

Pure Python, no I/O: every method either changes the state through the journal (so it can be
rolled back) or raises OpError with the errno FreeBSD's kernel would return.  Time comes
from an injected clock; tick(now) runs the timed transitions (DAD, ARP expiry).
"""
from __future__ import annotations

import hashlib
import sys
import time
import uuid
from array import array
from itertools import repeat
from math import ceil
from socket import inet_ntoa

from plebproto.constants import (
    AF_INET, AF_INET6, EADDRINUSE, EADDRNOTAVAIL, EDESTADDRREQ, EEXIST, EINVAL, ENAMETOOLONG,
    ENETUNREACH, ENOENT, ENXIO, EPERM, ESRCH, IFF_NOARP, IFF_STATICARP, IFAN_ARRIVAL, IFAN_DEPARTURE, IFF_BROADCAST, IFF_CANTCHANGE,
    IFF_LOOPBACK, IFF_LOWER_UP, IFF_POINTOPOINT, IFF_RUNNING, IFF_UP, IN6_IFF_NODAD,
    IN6_IFF_TENTATIVE, LINK_STATE_UP, ND6_IFF_AUTO_LINKLOCAL, ND6_IFF_IFDISABLED,
    ND6_IFF_NO_DAD, RTF_BLACKHOLE, RTF_FMASK, RTF_GATEWAY, RTF_HOST, RTF_PINNED, RTF_REJECT,
    RTF_STATIC, RTF_UP, RTM_ADD, RTM_CHANGE, RTM_DELADDR, RTM_DELETE, RTM_IFANNOUNCE,
    RTM_IFINFO, RTM_NEWADDR,
)

from plebproto.errors import OpError
from plebproto.iftypes import CLONERS, IFTYPES

from .ifnet import IfAddr, Interface, LLEntry
from .inet import MASK4, MASK6, embed_scope, is_scoped6, ntoa, ntop6, strip_scope
from .route import Route, RouteTable
from .txn import Journal

IFNAMSIZ = 16
IFDESCR_MAXLEN = 1024
LOOPBACK4 = 0x7F000001
LOOPBACK6 = 1

SYSCTL_DEFAULTS = {
    "kern.hostname": "",
    "net.inet.ip.forwarding": 0,
    "net.inet6.ip6.forwarding": 0,
    "net.inet6.ip6.dad_count": 1,
    "net.link.ether.inet.max_age": 1200,
    "net.link.ether.inet.maxtries": 5,
    "net.link.ether.inet.wait": 20,
    "net.link.ether.inet.proxyall": 0,
    "net.link.ether.inet.maxhold": 16,
    "net.inet.udp.echo": 1,         # the stack's built-in echo service (inetd's echo) on port 7
    "net.fibs": 1,
}
SYSCTL_READONLY = {"net.fibs"}


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


class Stack:
    def __init__(self, clock=time.monotonic, pid: int = 0, hostuuid: str | None = None):
        self.clock = clock
        self.pid = pid
        self.hostuuid = hostuuid or new_hostuuid()     # kern.hostuuid: MACs derive from it
        self.journal = Journal()
        self.ifaces: list[Interface] = []       # creation order = listing order
        self.by_name: dict[str, Interface] = {}
        self.next_index = 1
        self.rt = {AF_INET: RouteTable(32), AF_INET6: RouteTable(128)}
        self.sysctl = dict(SYSCTL_DEFAULTS)
        self.dad_pending: list[tuple[float, IfAddr]] = []
        self.expiring: list[tuple[int, Route]] = []    # routes added with an expiry time
        self.lo0: Interface | None = None
        self._gw_cache: dict[tuple[int, int], tuple] = {}

    def transaction(self):
        return self.journal.transaction()

    def unsettled(self) -> int:
        """Routes filed whose lookup arrays are not filled yet (RouteTable.settle)."""
        return sum(table.unsettled for table in self.rt.values())

    def settle(self, budget: int | None = None) -> bool:
        """Fill pending lookup arrays, at most budget prefixes; True once all are done."""
        return all([table.settle(budget) for table in self.rt.values()])

    # ======================================================================== interfaces
    def ifunit(self, name: str) -> Interface:
        ifp = self.by_name.get(name)
        if ifp is None:
            raise OpError(ENXIO, f"interface {name} does not exist")
        return ifp

    def by_index(self, index: int) -> Interface | None:
        for ifp in self.ifaces:
            if ifp.index == index:
                return ifp
        return None

    def if_attach(self, name: str, kind: str, mac: bytes | None = None, cloner=None,
                  params=None) -> Interface:
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
        if kind == "lo":
            if self.lo0 is None:
                j.setattr(self, "lo0", ifp)
            self.in_aifaddr(name, LOOPBACK4, 8)
            self.in6_aifaddr(name, LOOPBACK6, 128)
            self.in6_aifaddr(name, embed_scope(0xFE80 << 112 | 1, 0), 64)
        return ifp

    def if_create(self, name: str, params: dict | None = None) -> str:
        """SIOCIFCREATE2: 'tap' picks the next unit, 'tap3' asks for that one."""
        base = name.rstrip("0123456789")
        unit = name[len(base):]
        if base not in CLONERS or (unit and unit != str(int(unit))):
            raise OpError(EINVAL)
        if not unit:
            n = 0
            while f"{base}{n}" in self.by_name:
                n += 1
            name = f"{base}{n}"
        elif name in self.by_name:
            raise OpError(EEXIST, f"interface {name} already exists")
        mac = stable_mac(self.hostuuid, name) if IFTYPES[base].ether else None
        self.if_attach(name, base, mac, cloner=base, params=params)
        return name

    def if_destroy(self, name: str) -> None:
        ifp = self.ifunit(name)
        if ifp.cloner is None or ifp is self.lo0:
            raise OpError(EINVAL)
        j = self.journal
        for ifa in list(ifp.addrs):
            self._del_ifa(ifa)
        # routes through the interface that no address owned (-interface routes)
        for af, table in self.rt.items():
            for route in [r for r in table.paths() if r.ifp is ifp]:
                self._rt_unlink(af, route)
        j.remove(self.ifaces, ifp)
        j.delitem(self.by_name, name)
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
        if ifp.iftype.ether:
            up = ifp.link_state == LINK_STATE_UP
        else:
            up = ifp.flags & IFF_UP
        return ifp.flags | IFF_LOWER_UP if up else ifp.flags

    def _announce(self, ifp: Interface, name: str, what: int) -> dict:
        """RTM_IFANNOUNCE, with the link's state (route monitor prints it as netlink does)."""
        return {"type": RTM_IFANNOUNCE, "index": ifp.index, "ifname": name, "what": what,
                "flags": self.oper_flags(ifp), "mtu": ifp.mtu, "link": ifp.link_state}

    def _ifinfo(self, ifp: Interface) -> None:
        self.journal.emit(lambda: {"type": RTM_IFINFO, "index": ifp.index, "ifname": ifp.name,
                           "flags": self.oper_flags(ifp), "mtu": ifp.mtu,
                           "link": ifp.link_state})

    def _if_up(self, ifp: Interface) -> None:
        j = self.journal
        j.setattr(ifp, "flags", ifp.flags | IFF_UP | IFF_RUNNING)
        self._ifinfo(ifp)
        for ifa in ifp.addrs:
            self._ifa_routes_up(ifa)

    def _if_down(self, ifp: Interface) -> None:
        """Spec §6.2: prefix routes go, non-static routes through the addresses go, static and
        loopback routes stay, dynamic ARP entries are purged."""
        j = self.journal
        flags = ifp.flags & ~IFF_UP
        if ifp.iftype.ether:
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

    def _auto_linklocal(self, ifp: Interface) -> None:
        if not (ifp.nd6_flags & ND6_IFF_AUTO_LINKLOCAL and ifp.mac):
            return
        if any(a.af == AF_INET6 and a.addr >> 118 == 0xFE80 >> 6 for a in ifp.addrs):
            return
        m = ifp.mac
        iid = bytes([m[0] ^ 2, m[1], m[2], 0xFF, 0xFE, m[3], m[4], m[5]])
        self._add_ifa6(ifp, (0xFE80 << 112) | int.from_bytes(iid, "big"), 64, 0, 0, 0, None)

    # ======================================================================== IPv4 addresses
    def in_aifaddr(self, name: str, addr: int, plen: int, broadcast: int | None = None,
                   dst: int | None = None) -> None:
        """SIOCAIFADDR: add (or, for an address already on the interface, re-add at the tail
        with the new mask/broadcast).  Also marks the interface up (docs/freebsd-tools.md §1.3)."""
        ifp = self.ifunit(name)
        if not 0 <= plen <= 32 or not 0 <= addr <= 0xFFFFFFFF:
            raise OpError(EINVAL)
        if ifp.flags & IFF_POINTOPOINT and dst is None:
            raise OpError(EDESTADDRREQ)
        for old in ifp.addrs_of(AF_INET):
            if old.addr == addr:
                self._del_ifa(old)
        if ifp.flags & IFF_BROADCAST and broadcast is None:
            mask = MASK4[plen]
            broadcast = addr if plen == 32 else 0xFFFFFFFF if plen == 31 else (
                (addr & mask) | (~mask & 0xFFFFFFFF))
        if not ifp.flags & IFF_BROADCAST:
            broadcast = None
        ifa = IfAddr(AF_INET, addr, plen, ifp, broadcast=broadcast, dst=dst)
        self._add_ifa(ifa)

    def in_difaddr(self, name: str, addr: int | None = None) -> None:
        """SIOCDIFADDR; addr None deletes the interface's first IPv4 address."""
        ifp = self.ifunit(name)
        for ifa in ifp.addrs_of(AF_INET):
            if addr is None or ifa.addr == addr:
                self._del_ifa(ifa)
                return
        raise OpError(EADDRNOTAVAIL)

    # ======================================================================== IPv6 addresses
    def in6_aifaddr(self, name: str, addr: int, plen: int = 64, flags: int = 0,
                    pltime: int = 0, vltime: int = 0, dst: int | None = None) -> None:
        """SIOCAIFADDR_IN6.  addr is the plain address; a link-local one gets this interface
        as its zone.  Re-adding an existing address updates it in place."""
        ifp = self.ifunit(name)
        if not 0 <= plen <= 128:
            raise OpError(EINVAL)
        addr, zone = strip_scope(addr)
        if zone and zone != ifp.index:
            raise OpError(EINVAL)
        if ifp.flags & IFF_POINTOPOINT and dst is None and plen == 128:
            raise OpError(EDESTADDRREQ)
        for old in ifp.addrs_of(AF_INET6):
            if old.addr == addr:
                self.journal.setattr(old, "flags", flags | (old.flags & IN6_IFF_TENTATIVE))
                self.journal.setattr(old, "pltime", pltime)
                self.journal.setattr(old, "vltime", vltime)
                if old.plen != plen:
                    self._del_ifa(old)
                    break
                return
        if ifp.nd6_flags & ND6_IFF_IFDISABLED:
            # manual configuration enables IPv6 on the interface (and brings the link-local)
            self.journal.setattr(ifp, "nd6_flags", ifp.nd6_flags & ~ND6_IFF_IFDISABLED)
            if addr >> 118 != 0xFE80 >> 6:
                self._auto_linklocal(ifp)
        self._add_ifa6(ifp, addr, plen, flags, pltime, vltime, dst)

    def _add_ifa6(self, ifp, addr, plen, flags, pltime, vltime, dst):
        scopeid = ifp.index if (addr >> 118 == 0xFE80 >> 6) else 0
        dad = self.sysctl["net.inet6.ip6.dad_count"] and not (
            flags & IN6_IFF_NODAD or ifp.nd6_flags & ND6_IFF_NO_DAD or ifp.flags & IFF_LOOPBACK)
        if dad:
            flags |= IN6_IFF_TENTATIVE
        ifa = IfAddr(AF_INET6, addr, plen, ifp, dst=dst, flags=flags & ~IN6_IFF_NODAD,
                     scopeid=scopeid, pltime=pltime, vltime=vltime)
        self._add_ifa(ifa)
        if dad:
            self.journal.append(self.dad_pending, (self.clock() + dad, ifa))

    def in6_difaddr(self, name: str, addr: int) -> None:
        ifp = self.ifunit(name)
        addr, _ = strip_scope(addr)
        for ifa in ifp.addrs_of(AF_INET6):
            if ifa.addr == addr:
                self._del_ifa(ifa)
                return
        raise OpError(EADDRNOTAVAIL)

    # ======================================================================== address rules
    def _key(self, ifa: IfAddr, addr: int | None = None) -> int:
        addr = ifa.addr if addr is None else addr
        return embed_scope(addr, ifa.scopeid) if ifa.af == AF_INET6 else addr

    def _add_ifa(self, ifa: IfAddr) -> None:
        ifp = ifa.ifp
        j = self.journal
        j.append(ifp.addrs, ifa)
        j.emit(lambda: self._addr_event(RTM_NEWADDR, ifa))
        if ifp.iftype.ether:
            table = ifp.llinfo if ifa.af == AF_INET else ifp.llinfo6
            j.setitem(table, ifa.addr, LLEntry(ifa.af, ifa.addr, None,
                                               RTF_STATIC | RTF_PINNED, 0, ifp))
        if ifp.flags & IFF_UP:
            self._ifa_routes_up(ifa)
        elif ifa.af == AF_INET or ifp.iftype.ether or ifp.flags & IFF_LOOPBACK:
            self._if_up(ifp)       # SIOCSIFADDR marks the interface up (docs/freebsd-tools.md §1.3)

    def _del_ifa(self, ifa: IfAddr) -> None:
        """Spec §6.2 removal: local route, prefix route (or hand it over), ARP on the prefix,
        and every route whose next hop used this address, static ones included."""
        ifp = ifa.ifp
        j = self.journal
        table = self.rt[ifa.af]
        for route in self._dependents(table, [ifa]):
            if route.flags & RTF_PINNED:
                self._prefix_route_gone(ifa.af, route)
            else:
                self._rt_unlink(ifa.af, route)
        ll = ifp.llinfo if ifa.af == AF_INET else ifp.llinfo6
        if ifa.addr in ll:
            j.delitem(ll, ifa.addr)
        self._ll_purge(ifp, ifa.af, ifa, dynamic_only=True)
        j.remove(ifp.addrs, ifa)
        for item in [p for p in self.dad_pending if p[1] is ifa]:
            j.remove(self.dad_pending, item)
        j.emit(lambda: self._addr_event(RTM_DELADDR, ifa))

    @staticmethod
    def _dependents(table: RouteTable, ifas) -> list[Route]:
        """The paths depending on these addresses, shortest prefix first (the order routing
        messages report them in, as a table walk by length would)."""
        return sorted((r for ifa in ifas for r in table.dependents(ifa)), key=_plen_of)

    def _ifa_routes_up(self, ifa: IfAddr) -> None:
        """Spec §6.2: the prefix route and the loopback route for an address."""
        ifp, af = ifa.ifp, ifa.af
        table = self.rt[af]
        width = table.width
        masks = table.masks
        lo0 = self.lo0 or ifp
        if af == AF_INET and ifp.flags & IFF_LOOPBACK:
            # lo0: a host route to the address itself, and nothing else
            self._ifa_route(ifa, ifa.addr, width, ifp, RTF_HOST)
            return
        if ifp.flags & IFF_POINTOPOINT and ifa.dst is not None:
            self._ifa_route(ifa, self._key(ifa, ifa.dst), width, ifp, RTF_HOST)
        elif ifa.plen < width:
            key = self._key(ifa) & masks[ifa.plen]
            if not any(not r.flags & RTF_GATEWAY for r in table.exact(key, ifa.plen) or ()):
                self._ifa_route(ifa, key, ifa.plen, ifp, 0)
        if ifp.flags & IFF_POINTOPOINT and ifa.dst == ifa.addr:
            return
        key = self._key(ifa)
        if not any(r.flags & RTF_PINNED for r in table.exact(key, width) or ()):
            self._ifa_route(ifa, key, width, lo0, RTF_HOST | RTF_STATIC)

    def _ifa_route(self, ifa, key, plen, out_ifp, flags) -> None:
        route = Route(key, plen, ifa.ifp.index, out_ifp, ifa, RTF_UP | RTF_PINNED | flags)
        self._rt_link(ifa.af, route)

    def _prefix_route_gone(self, af: int, route: Route) -> None:
        """An address's own route is going: hand it to another up interface with the same
        address/prefix if there is one (docs/freebsd-tools.md §6.2), else remove it."""
        old = route.ifa
        for ifp in self.ifaces:
            if not ifp.flags & IFF_UP:
                continue
            for ifa in ifp.addrs:
                if ifa is old or ifa.af != af:
                    continue
                if route.plen == self.rt[af].width and route.flags & RTF_STATIC:
                    match = self._key(ifa) == route.dst   # loopback route of a shared address
                else:
                    match = (ifa.plen == route.plen
                             and self._key(ifa) & self.rt[af].masks[route.plen] == route.dst
                             and ifp is not old.ifp)
                if match:
                    j = self.journal
                    self._rt_unlink(af, route, quiet=True)
                    j.setattr(route, "ifa", ifa)
                    j.setattr(route, "gateway", ifp.index)
                    if not route.flags & RTF_STATIC:
                        j.setattr(route, "ifp", ifp)
                    self._rt_link(af, route, event=RTM_CHANGE)
                    return
        self._rt_unlink(af, route)

    @staticmethod
    def _addr_event(kind, ifa) -> dict:
        return {"type": kind, "af": ifa.af, "addr": addr_text(ifa.af, ifa.addr, ifa.ifp),
                "plen": ifa.plen, "ifname": ifa.ifp.name,
                "dst": addr_text(ifa.af, ifa.dst, ifa.ifp) if ifa.dst is not None else None}

    # ======================================================================== routes
    def _rt_link(self, af: int, route: Route, event=RTM_ADD) -> None:
        table = self.rt[af]
        table.add_path(route)
        self.journal.record(table.remove_path, route)
        if not route.flags & RTF_GATEWAY:
            self._connected_changed()
        self.journal.emit(lambda: self.route_event(event, af, route))

    def _rt_unlink(self, af: int, route: Route, quiet=False) -> None:
        table = self.rt[af]
        table.remove_path(route)
        self.journal.record(table.add_path, route)
        if not route.flags & RTF_GATEWAY:
            self._connected_changed()
        if not quiet:
            self.journal.emit(lambda: self.route_event(RTM_DELETE, af, route))

    def _connected_changed(self) -> None:
        """Gateway resolutions are cached until an interface route comes or goes (also when
        such a change is rolled back)."""
        self._gw_cache.clear()
        self.journal.record(self._gw_cache.clear)

    def route_event(self, kind: int, af: int, route: Route) -> dict:
        return {"type": kind, "af": af, "route": self.route_info(af, route)}

    def rt_add(self, af: int, dst: int, plen: int, gateway: int | None = None,
               gw_ifname: str | None = None, flags: int = RTF_STATIC, ifname: str | None = None,
               mtu: int = 0, hopcount: int = 0, expire: int = 0, weight: int = 1) -> Route:
        """RTM_ADD.  dst is masked by the kernel; gateway is an address (RTF_GATEWAY) or an
        interface (gw_ifname, the -interface form).  expire is absolute clock time or 0."""
        table = self.rt[af]
        width = table.width
        if not 0 <= plen <= width or not 1 <= weight <= 16777215:
            raise OpError(EINVAL)
        dst &= table.masks[plen]
        flags = (flags & ~(RTF_HOST | RTF_PINNED)) | RTF_UP | (RTF_HOST if plen == width else 0)
        ifa = None
        if flags & (RTF_BLACKHOLE | RTF_REJECT):
            if flags & RTF_BLACKHOLE and flags & RTF_REJECT:
                raise OpError(EINVAL)
            if gateway is None and gw_ifname is None:
                raise OpError(EINVAL)
            out, gateway = self.lo0, LOOPBACK4 if af == AF_INET else LOOPBACK6
            flags |= RTF_GATEWAY
        elif gw_ifname is not None:
            out = self.ifunit(gw_ifname)
            gateway = out.index
            flags &= ~RTF_GATEWAY
            addrs = out.addrs_of(af)
            ifa = addrs[0] if addrs else None
        elif gateway is not None:
            out, ifa = self._resolve_gateway(af, gateway)
            flags |= RTF_GATEWAY
        else:
            raise OpError(EINVAL)
        if ifname is not None:
            out = self.ifunit(ifname)
        flags = _FLAGS.setdefault(flags, flags)     # one int object per distinct value
        route = Route(dst, plen, gateway, out, ifa, flags, mtu, hopcount, expire, weight)
        paths = table.exact(dst, plen)
        if paths:
            _refuse_duplicate(paths, route)
        self._rt_link(af, route)
        if expire:
            self.journal.append(self.expiring, (af, route))
        return route

    def rt_add_many(self, af: int, dsts, plens, gateways) -> None:
        """rt_add(af, dst, plen, gateway) for each row of these columns, in order: the same
        rules and errors (EINVAL, ENETUNREACH, EEXIST, multipath), made for the
        million-route batch: one undo record for all of them, no per-route calls (and through
        one IPv4 gateway, no Route objects: RouteTable.add_unmade).  plens or
        gateways may be one int for every row.  With a routing-message listener each route
        goes through rt_add (it publishes events).  A OpError carries .index: the row that
        failed (the rows before it are added, for the caller's transaction to undo)."""
        n = len(dsts)
        plens_c = plens if type(plens) is not int else repeat(plens, n)
        gateways_c = gateways if type(gateways) is not int else repeat(gateways, n)
        if self.journal.listeners:
            done = 0
            try:
                for dst, plen, gateway in zip(dsts, plens_c, gateways_c):
                    self.rt_add(af, dst, plen, gateway)
                    done += 1
            except OpError as exc:
                exc.index = done
                raise
            return
        table = self.rt[af]
        width = table.width
        # checks by column first (C loops); the routes before the first bad row are added,
        # then that row's error is raised, unless one of theirs comes first
        bad: list[tuple[int, int, OpError]] = []    # (row, check order, error)
        if type(plens) is int:
            if not 0 <= plens <= width:
                bad.append((0, 0, OpError(EINVAL)))
        elif n and not 0 <= min(plens) <= max(plens) <= width:
            k = next(k for k, plen in enumerate(plens) if not 0 <= plen <= width)
            bad.append((k, 0, OpError(EINVAL)))
        paths_of: dict[int, tuple] = {}
        for gateway in ((gateways,) if type(gateways) is int else dict.fromkeys(gateways)):
            try:
                paths_of[gateway] = self._resolve_gateway(af, gateway)
            except OpError as exc:
                k = 0 if type(gateways) is int else gateways.index(gateway)
                bad.append((k, 1, exc))
        stop, _, failure = min(bad, key=lambda b: b[:2]) if bad else (n, 0, None)
        if stop < n:
            dsts = dsts[:stop]
            plens_c = plens if type(plens) is int else plens[:stop]
            gateways_c = gateways if type(gateways) is int else gateways[:stop]
        else:
            plens_c, gateways_c = plens, gateways
        if type(gateways_c) is int and width == 32 and dsts:    # IPv4: add_unmade
            shapes = self._add_unmade(table, dsts, plens_c, gateways_c, paths_of[gateways_c])
            if shapes is not None:
                self.journal.record(table.remove_unmade, shapes)
                if failure is not None:
                    failure.index = stop
                    raise failure
                return
        routes = self._make_routes(table, dsts, plens_c, gateways_c, paths_of) if dsts else []
        added = len(routes)
        try:
            table.add_run(routes, _refuse_duplicate)
        except OpError as exc:
            added = exc.index
            raise
        finally:
            if added:
                self.journal.record(self._remove_paths, table,
                                    routes if added == len(routes) else routes[:added])
        if failure is not None:
            failure.index = stop
            raise failure

    @staticmethod
    def _add_unmade(table, dsts, plens, gateway, path) -> list | None:
        """The run's routes through one gateway filed as unmade prefixes (RouteTable.
        add_unmade: no Route objects until asked for); None if one is already there or
        given twice, nothing filed."""
        width, masks = table.width, table.masks
        keys_by_len: list[list[int]] = [[] for _ in range(width + 1)]
        if type(plens) is int:
            keys_by_len[plens] = _masked(dsts, plens, masks[plens])
        else:
            file = [keys.append for keys in keys_by_len]
            for dst, plen in zip(dsts, plens):
                file[plen](dst & masks[plen])
        flags, host = _run_flags()
        out, ifa = path
        return table.add_unmade(keys_by_len, gateway, out, ifa,
                                lambda plen: host if plen == width else flags)

    @staticmethod
    def _make_routes(table, dsts, plens, gateways, paths_of) -> list[Route]:
        """The static gateway routes of a run (checked), one comprehension per shape: a
        million of them is mostly the cost of creating the objects."""
        width, masks = table.width, table.masks
        flags, host = _run_flags()
        if type(gateways) is int:
            out, ifa = paths_of[gateways]
            if type(plens) is int:
                mask, fl = masks[plens], host if plens == width else flags
                return [Route(d & mask, plens, gateways, out, ifa, fl) for d in dsts]
            return [Route(d & masks[p], p, gateways, out, ifa, host if p == width else flags)
                    for d, p in zip(dsts, plens)]
        if type(plens) is int:
            plens = repeat(plens)
        return [Route(d & masks[p], p, g, *paths_of[g], host if p == width else flags)
                for d, p, g in zip(dsts, plens, gateways)]

    @staticmethod
    def _remove_paths(table, routes) -> None:
        for route in reversed(routes):
            table.remove_path(route)

    def _resolve_gateway(self, af: int, gateway: int):
        """The interface and address a gateway is reached by: the longest interface (non
        gateway) route covering it (rt_getifa_fib); none ⇒ ENETUNREACH."""
        found = self._gw_cache.get((af, gateway))
        if found is None:
            paths = self.rt[af].lookup_where(gateway, _is_connected)
            if paths is None:
                raise OpError(ENETUNREACH)
            found = self._gw_cache[(af, gateway)] = (paths[0].ifp, paths[0].ifa)
        return found

    def _find_paths(self, af: int, dst: int, plen: int) -> list[Route]:
        table = self.rt[af]
        if not 0 <= plen <= table.width:
            raise OpError(EINVAL)
        paths = table.exact(dst & table.masks[plen], plen)
        if not paths:
            raise OpError(ESRCH)
        return paths

    def rt_delete(self, af: int, dst: int, plen: int, gateway: int | None = None,
                  gw_ifname: str | None = None, flags: int = 0) -> list[Route]:
        """RTM_DELETE.  Without a gateway every path of the prefix goes; a pinned (interface)
        route needs RTF_PINNED in flags (route(8) always sends it), else EADDRINUSE."""
        paths = list(self._find_paths(af, dst, plen))
        if gw_ifname is not None:
            gateway = self.ifunit(gw_ifname).index
        if gateway is not None:
            paths = [p for p in paths if p.gateway == gateway]
            if not paths:
                raise OpError(ESRCH)
        if any(p.flags & RTF_PINNED for p in paths) and not flags & RTF_PINNED:
            raise OpError(EADDRINUSE)
        for route in paths:
            self._rt_unlink(af, route)
        return paths

    def rt_change(self, af: int, dst: int, plen: int, gateway: int | None = None,
                  gw_ifname: str | None = None, flags: int | None = None,
                  ifname: str | None = None, mtu: int | None = None,
                  hopcount: int | None = None, expire: int | None = None,
                  weight: int | None = None) -> Route:
        """RTM_CHANGE: gateway, interface, metrics and the RTF_FMASK flags of the prefix's
        first path (the one route(8) reports)."""
        route = self._find_paths(af, dst, plen)[0]
        j = self.journal
        new_flags = route.flags
        if flags is not None:
            new_flags = (route.flags & ~RTF_FMASK) | (flags & RTF_FMASK)
            if new_flags & RTF_BLACKHOLE and new_flags & RTF_REJECT:
                raise OpError(EINVAL)
        if gw_ifname is not None:
            out = self.ifunit(gw_ifname)
            j.setattr(route, "gateway", out.index)
            j.setattr(route, "ifp", out)
            new_flags &= ~RTF_GATEWAY
        elif gateway is not None:
            out, ifa = self._resolve_gateway(af, gateway)
            j.setattr(route, "gateway", gateway)
            j.setattr(route, "ifp", out)
            table = self.rt[af]
            j.record(table.set_ifa, route, route.ifa)
            table.set_ifa(route, ifa)
            new_flags |= RTF_GATEWAY
        if ifname is not None:
            j.setattr(route, "ifp", self.ifunit(ifname))
        j.setattr(route, "flags", new_flags)
        for attr, value in (("mtu", mtu), ("hopcount", hopcount), ("expire", expire),
                            ("weight", weight)):
            if value is not None:
                j.setattr(route, attr, value)
        self.rt[af].generation += 1
        j.emit(lambda: self.route_event(RTM_CHANGE, af, route))
        return route

    def rt_get(self, af: int, addr: int, plen: int | None = None) -> Route:
        """RTM_GET: longest-prefix match, or the exact prefix when a length is given."""
        table = self.rt[af]
        if plen is not None and not 0 <= plen <= table.width:
            raise OpError(EINVAL)
        paths = table.lookup(addr) if plen is None else table.exact(addr & table.masks[plen],
                                                                      plen)
        if not paths:
            raise OpError(ESRCH)
        return paths[0]

    def route_info(self, af: int, route: Route) -> dict:
        # every RTM_GET answers with this: IPv4 texts are made here directly, where
        # key_text/addr_text would add two calls per address
        ifp, ifa, flags = route.ifp, route.ifa, route.flags
        if af == AF_INET:
            dst = inet_ntoa(route.dst.to_bytes(4, "big"))
            gateway = (inet_ntoa(route.gateway.to_bytes(4, "big")) if flags & RTF_GATEWAY
                       else f"link#{route.gateway}")
            ifa_text = inet_ntoa(ifa.addr.to_bytes(4, "big")) if ifa else None
        else:
            dst = self.key_text(af, route.dst)
            gateway = (self.key_text(af, route.gateway) if flags & RTF_GATEWAY
                       else f"link#{route.gateway}")
            ifa_text = addr_text(af, ifa.addr, ifa.ifp) if ifa else None
        expire = route.expire
        return {
            "af": af, "dst": dst, "plen": route.plen, "gateway": gateway, "flags": flags,
            "ifname": ifp.name if ifp else "---",
            "mtu": route.mtu or (ifp.mtu if ifp else 0), "weight": route.weight,
            "expire": max(0, ceil(expire - self.clock())) if expire else 0,
            "hopcount": route.hopcount, "ifa": ifa_text,
        }

    # ======================================================================== ARP / NDP
    def ll_table(self, af: int, ifp: Interface) -> dict:
        return ifp.llinfo if af == AF_INET else ifp.llinfo6

    def ll_locate(self, af: int, addr: int) -> Interface:
        """The interface whose connected network holds addr (arp's 'cannot locate')."""
        paths = self.rt[af].lookup_where(
            addr, lambda ps: not ps[0].flags & RTF_GATEWAY and ps[0].ifp.iftype.ether)
        if paths is None:
            raise OpError(ENETUNREACH)
        return paths[0].ifp

    def ll_set(self, af: int, addr: int, mac: bytes, flags: int = RTF_STATIC,
               temp: bool = False, ifname: str | None = None) -> LLEntry:
        """Add or replace a static/published entry (arp -s).  temp: expires after max_age."""
        ifp = self.ifunit(ifname) if ifname else self.ll_locate(af, addr)
        if len(mac) != 6 or flags & RTF_BLACKHOLE and flags & RTF_REJECT:
            raise OpError(EINVAL)
        table = self.ll_table(af, ifp)
        old = table.get(addr)
        if old is not None and old.flags & RTF_PINNED:
            raise OpError(EEXIST)
        expire = self.clock() + self.sysctl["net.link.ether.inet.max_age"] if temp else 0
        if temp:
            flags &= ~RTF_STATIC
        entry = LLEntry(af, addr, bytes(mac), flags, expire, ifp, set_=True)
        self.journal.setitem(table, addr, entry)
        self.journal.emit(lambda: {"type": RTM_ADD, "af": af, "neigh": self.ll_info(entry)})
        return entry

    def ll_delete(self, af: int, addr: int, ifname: str | None = None) -> LLEntry:
        candidates = [self.ifunit(ifname)] if ifname else self.ifaces
        for ifp in candidates:
            entry = self.ll_table(af, ifp).get(addr)
            if entry is not None:
                if entry.flags & RTF_PINNED:        # the interface's own address
                    raise OpError(EPERM)
                self.journal.delitem(self.ll_table(af, ifp), addr)
                self.journal.emit(lambda: {"type": RTM_DELETE, "af": af, "neigh": self.ll_info(entry)})
                return entry
        raise OpError(ENOENT)

    def ll_learn(self, af: int, ifp: Interface, addr: int, mac: bytes, create: bool) -> None:
        """A reply or request from addr at mac: update a dynamic entry (static ones are never
        overwritten); create one only when asked (we requested it, or it talks to us)."""
        if ifp.flags & (IFF_STATICARP | IFF_NOARP):
            return
        table = self.ll_table(af, ifp)
        entry = table.get(addr)
        if entry is None and not create:
            return
        if entry is not None and entry.flags & (RTF_STATIC | RTF_PINNED):
            return
        expire = self.clock() + self.sysctl["net.link.ether.inet.max_age"]
        if entry is None:
            entry = LLEntry(af, addr, bytes(mac), 0, expire, ifp)
            table[addr] = entry
        else:
            entry.mac, entry.expire, entry.asked = bytes(mac), expire, 0
        self.journal.emit(lambda: {"type": RTM_ADD, "af": af, "neigh": self.ll_info(entry)})

    def _ll_purge(self, ifp, af, ifa, dynamic_only: bool) -> None:
        for table_af, table in ((AF_INET, ifp.llinfo), (AF_INET6, ifp.llinfo6)):
            if af is not None and table_af != af:
                continue
            for addr, entry in list(table.items()):
                if entry.flags & RTF_PINNED or (dynamic_only and entry.flags & RTF_STATIC
                                                and not entry.expire):
                    continue
                if ifa is not None:
                    mask = (MASK4 if af == AF_INET else MASK6)[ifa.plen]
                    if addr & mask != ifa.addr & mask:
                        continue
                self.journal.delitem(table, addr)

    def ll_info(self, entry: LLEntry) -> dict:
        ifp = entry.ifp
        mac = ifp.mac if entry.flags & RTF_PINNED else entry.mac
        return {"af": entry.af, "addr": addr_text(entry.af, entry.addr, ifp),
                "mac": mac_text(mac) if mac else None, "ifname": ifp.name,
                "flags": entry.flags,
                "expire": (entry.expire - self.clock()) if entry.expire else None}

    # ======================================================================== sysctl, time
    def sysctl_set(self, name: str, value) -> None:
        if name not in self.sysctl or name in SYSCTL_READONLY:
            raise OpError(ENOENT if name not in self.sysctl else EPERM)
        current = self.sysctl[name]
        if isinstance(current, int):
            try:
                value = int(value)
            except (TypeError, ValueError, OverflowError):     # OverflowError: inf
                raise OpError(EINVAL) from None
        elif not isinstance(value, str):
            raise OpError(EINVAL)
        self.journal.setitem(self.sysctl, name, value)

    def tick(self, now: float) -> None:
        """Timed transitions: DAD completes, temporary and learned neighbour entries expire,
        routes with an expiry time go."""
        j = self.journal
        with self.transaction():
            for item in [p for p in self.dad_pending if p[0] <= now]:
                j.remove(self.dad_pending, item)
                j.setattr(item[1], "flags", item[1].flags & ~IN6_IFF_TENTATIVE)
            for ifp in self.ifaces:
                for table in (ifp.llinfo, ifp.llinfo6):
                    for addr, entry in [kv for kv in table.items() if 0 < kv[1].expire <= now]:
                        j.delitem(table, addr)
                        j.emit(lambda: {"type": RTM_DELETE, "af": entry.af, "neigh": self.ll_info(entry)})
            for af, route in [x for x in self.expiring if x[1].expire <= now]:
                j.remove(self.expiring, (af, route))
                if route in (self.rt[af].exact(route.dst, route.plen) or ()):
                    self._rt_unlink(af, route)

    # ======================================================================== text
    def key_text(self, af: int, key: int) -> str:
        """A table key as text; an embedded IPv6 zone becomes %ifname (docs/freebsd-tools.md §1.6, §4.1)."""
        if af == AF_INET:
            return ntoa(key)
        addr, zone = strip_scope(key)
        if not zone:
            return ntop6(addr)
        ifp = self.by_index(zone)
        return f"{ntop6(addr)}%{ifp.name if ifp else zone}"


# Interned route flags: a million routes share a handful of flags values, and a dump reads
# the flags of each; one shared int object per value saves memory and cache misses.
_FLAGS: dict[int, int] = {}


def _plen_of(route: Route) -> int:
    return route.plen


def _run_flags() -> tuple[int, int]:
    """The flags of a run's static gateway routes, network and host, interned as rt_add's
    are (one int object per value)."""
    flags = RTF_STATIC | RTF_UP | RTF_GATEWAY
    flags = _FLAGS.setdefault(flags, flags)
    return flags, _FLAGS.setdefault(flags | RTF_HOST, flags | RTF_HOST)


_LITTLE = sys.byteorder == "little"


def _masked(dsts, plen: int, mask: int) -> list[int]:
    """[dst & mask for dst in dsts].  A C array of IPv4 addresses whose host part is whole
    bytes, all zero (a packed column of -net routes), is copied as it is: the zero bytes
    are counted in C instead of masking a million ints one by one."""
    if type(dsts) is array and dsts.itemsize == 4 and plen % 8 == 0 and _LITTLE:
        raw = dsts.tobytes()        # little-endian: the lowest byte of each address first
        if all(raw[k::4].count(0) == len(dsts) for k in range((32 - plen) // 8)):
            return dsts.tolist()
    return list(map(mask.__and__, dsts))


def _refuse_duplicate(paths: list[Route], route: Route) -> None:
    """A gateway route may join a prefix as one more path (multipath, §6.1) unless the
    prefix has a non-gateway path or a path through the same gateway; anything else
    joining an existing prefix is EEXIST."""
    if not route.flags & RTF_GATEWAY or any(not p.flags & RTF_GATEWAY
                                            or p.gateway == route.gateway for p in paths):
        raise OpError(EEXIST)


def _is_connected(paths) -> bool:
    return not paths[0].flags & RTF_GATEWAY


def addr_text(af: int, value: int, ifp: Interface | None) -> str:
    """Numeric text of an interface's address; scoped IPv6 ones carry %ifname (docs/freebsd-tools.md §1.6)."""
    if af == AF_INET:
        return ntoa(value)
    if ifp is not None and is_scoped6(value):
        return f"{ntop6(value)}%{ifp.name}"
    return ntop6(value)


def mac_text(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)
