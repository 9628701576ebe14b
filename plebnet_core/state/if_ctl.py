"""Interfaces, as FreeBSD's if.c handles them: attach, clone create/destroy, rename, flags
(with what bringing an interface up or down does to its addresses' routes,
docs/freebsd-tools.md §6.2), MTU, metric, description, link-level address, capabilities,
groups, the ND6 per-interface flags, and the RTM_IFINFO/RTM_IFANNOUNCE messages.  The
interface data itself is ifnet.py's; the lookups by name and index are base.py's.
"""
from __future__ import annotations

import zlib
from typing import Any

from plebproto.constants import (
    EEXIST, EINVAL, ENAMETOOLONG, ENOENT, IFAN_ARRIVAL, IFAN_DEPARTURE,
    IFF_CANTCHANGE, IFF_LOWER_UP, IFF_RUNNING, IFF_UP, LINK_STATE_UP, ND6_IFF_IFDISABLED,
    RTF_PINNED, RTF_STATIC, RTM_IFANNOUNCE, RTM_IFINFO,
)
from plebproto.errors import OpError
from plebproto.iftypes import CLONERS, IFTYPES

from .base import LOOPBACK4, LOOPBACK6, StackBase
from .ifnet import AddrList, Interface
from .inet import embed_scope
from .txn import Event

IFNAMSIZ = 16
IFDESCR_MAXLEN = 1024


def stable_mac(seed: str, oui: bytes = b"\x02\x70\x6e") -> bytes:
    """A locally administered MAC derived from a seed, the same on every start."""
    return oui + zlib.crc32(seed.encode()).to_bytes(4, "big")[1:]


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
            mac = stable_mac(f"{name}/{self.pid}/{self.next_index}")
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

    def if_create(self, name: str, params: dict[str, Any] | None = None) -> str:
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
        mac = stable_mac(f"{name}/{self.pid}", b"\x58\x9c\xfc") if IFTYPES[base].ether else None
        self.if_attach(name, base, mac, cloner=base, params=params)
        return name

    def if_destroy(self, name: str) -> None:
        ifp = self.ifunit(name)
        if ifp.cloner is None or ifp is self.lo0:
            raise OpError(EINVAL)
        j = self.journal
        for ifa in ifp.addrs:
            self._del_ifa(ifa, listed=False)
        j.setattr(ifp, "addrs", AddrList())     # at once, rather than one by one
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
        up: int
        if ifp.iftype.ether:
            up = ifp.link_state == LINK_STATE_UP
        else:
            up = ifp.flags & IFF_UP
        return ifp.flags | IFF_LOWER_UP if up else ifp.flags

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
