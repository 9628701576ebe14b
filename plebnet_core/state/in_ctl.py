"""IPv4 addresses, as FreeBSD's in.c handles them (SIOCAIFADDR, SIOCDIFADDR), and the rules
every interface address follows, whatever its family (in6_ctl's too): the routes an address
makes (its prefix route and its loopback route) and what its removal takes with it, the
prefix route handed to another interface holding the same prefix (in.c's in_scrubprefix;
docs/freebsd-tools.md §6.2), and the RTM_NEWADDR/RTM_DELADDR messages.
"""
from __future__ import annotations

from plebproto.constants import (
    AF_INET, AF_INET6, EADDRNOTAVAIL, EDESTADDRREQ, EINVAL, IFF_BROADCAST, IFF_LOOPBACK,
    IFF_POINTOPOINT, IFF_UP, RTF_GATEWAY, RTF_HOST, RTF_PINNED, RTF_STATIC,
    RTF_UP,    RTM_CHANGE, RTM_DELADDR, RTM_NEWADDR,
)
from plebproto.errors import OpError

from .base import StackBase, addr_text
from .gif import gif_srcaddr
from .ifnet import AddrList, IfAddr, Interface, LLEntry
from .inet import MASK4, embed_scope, strip_scope
from .route import Route, RouteTable
from .txn import Event


def _plen_of(route: Route) -> int:
    return route.plen


def _seq_of(ifa: IfAddr) -> int:
    return ifa.seq


class InControl(StackBase):
    def in_aifaddr(self, name: str, addr: int, plen: int, broadcast: int | None = None,
                   dst: int | None = None) -> None:
        """SIOCAIFADDR: add (or, for an address already on the interface, re-add at the tail
        with the new mask/broadcast).  Also marks the interface up (docs/freebsd-tools.md §1.3)."""
        ifp = self.ifunit(name)
        if not 0 <= plen <= 32 or not 0 <= addr <= 0xFFFFFFFF:
            raise OpError(EINVAL)
        if ifp.flags & IFF_POINTOPOINT and dst is None:
            raise OpError(EDESTADDRREQ)
        old = ifp.find_addr(AF_INET, addr)
        if old is not None:
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
        ifa = ifp.first_inet() if addr is None else ifp.find_addr(AF_INET, addr)
        if ifa is None:
            raise OpError(EADDRNOTAVAIL)
        self._del_ifa(ifa)

    def _key(self, ifa: IfAddr, addr: int | None = None) -> int:
        addr = ifa.addr if addr is None else addr
        return embed_scope(addr, ifa.scopeid) if ifa.af == AF_INET6 else addr

    def _add_ifa(self, ifa: IfAddr) -> None:
        ifp = ifa.ifp
        j = self.journal
        ifp.addrs.append(ifa)
        j.record(ifp.addrs.remove, ifa)
        self._index_ifa(ifa)
        j.emit(lambda: self._addr_event(RTM_NEWADDR, ifa))
        if ifp.iftype.ether:
            table = ifp.llinfo if ifa.af == AF_INET else ifp.llinfo6
            self._ll_put(table, ifa.addr, LLEntry(ifa.af, ifa.addr, None,
                                                  RTF_STATIC | RTF_PINNED, 0, ifp))
        if ifp.flags & IFF_UP:
            self._ifa_routes_up(ifa)
        elif ifa.af == AF_INET or ifp.iftype.ether or ifp.flags & IFF_LOOPBACK:
            self._if_up(ifp)       # SIOCSIFADDR marks the interface up (docs/freebsd-tools.md §1.3)

    def _del_ifa(self, ifa: IfAddr, listed: bool = True) -> None:
        """Spec §6.2 removal: local route, prefix route (or hand it over), ARP on the prefix,
        and every route whose next hop used this address, static ones included.  listed
        False: the caller takes it off ifp.addrs itself (if_destroy empties the list at once,
        rather than shift it once per address)."""
        ifp = ifa.ifp
        j = self.journal
        table = self.rt[ifa.af]
        self._unindex_ifa(ifa)      # first: no route is handed over to the address going
        for route in self._dependents(table, [ifa]):
            if route.flags & RTF_PINNED:
                self._prefix_route_gone(ifa.af, route)
            else:
                self._rt_unlink(ifa.af, route)
        ll = ifp.llinfo if ifa.af == AF_INET else ifp.llinfo6
        if ifa.addr in ll:
            self._ll_del(ll, ifa.addr)
        self._ll_purge(ifp, ifa.af, ifa, dynamic_only=True)
        if listed:
            ifp.addrs.remove(ifa)
            j.record(ifp.addrs.append, ifa)     # (back in its place: AddrList keeps order)
        if ifa in self.dad_pending:
            j.delitem(self.dad_pending, ifa)
        if ifa in self.nd_addr_seq:
            j.delitem(self.nd_addr_seq, ifa)
        j.emit(lambda: self._addr_event(RTM_DELADDR, ifa))

    # -- the address indexes (ifnet.Interface.addr_index, prefix_index, naddrs) --------------
    def _prefix_key(self, ifa: IfAddr) -> tuple[int, int, int]:
        return (ifa.af, ifa.plen, self._key(ifa) & self.rt[ifa.af].masks[ifa.plen])

    def _index_ifa(self, ifa: IfAddr) -> None:
        ifp, j = ifa.ifp, self.journal
        j.setitem(ifp.addr_index, (ifa.af, ifa.addr), ifa)
        j.setitem(ifp.naddrs, ifa.af, ifp.naddrs.get(ifa.af, 0) + 1)
        key = self._prefix_key(ifa)
        same = ifp.prefix_index.get(key)
        if same is None:
            j.setitem(ifp.prefix_index, key, {ifa: None})
        else:
            j.setitem(same, ifa, None)
        gif_srcaddr(self, ifa.af, ifa.addr)     # (in{,6}_gif_srcaddr)

    def _unindex_ifa(self, ifa: IfAddr) -> None:
        ifp, j = ifa.ifp, self.journal
        if ifp.addr_index.get((ifa.af, ifa.addr)) is not ifa:
            return                  # (already taken out)
        j.delitem(ifp.addr_index, (ifa.af, ifa.addr))
        j.setitem(ifp.naddrs, ifa.af, ifp.naddrs[ifa.af] - 1)
        key = self._prefix_key(ifa)
        same = ifp.prefix_index[key]
        if len(same) == 1:
            j.delitem(ifp.prefix_index, key)
        else:
            j.delitem(same, ifa)
        gif_srcaddr(self, ifa.af, ifa.addr)

    def reindex_addrs(self) -> None:
        """Build every interface's address indexes from its list (after a restore, which
        fills the lists directly)."""
        for ifp in self.ifaces:
            ifp.addrs = AddrList(ifp.addrs)
            ifp.addr_index, ifp.prefix_index, ifp.naddrs = {}, {}, {}
            for ifa in ifp.addrs:
                ifp.addr_index[(ifa.af, ifa.addr)] = ifa
                ifp.naddrs[ifa.af] = ifp.naddrs.get(ifa.af, 0) + 1
                ifp.prefix_index.setdefault(self._prefix_key(ifa), {})[ifa] = None

    @staticmethod
    def _dependents(table: RouteTable, ifas: list[IfAddr]) -> list[Route]:
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

    def _ifa_route(self, ifa: IfAddr, key: int, plen: int, out_ifp: Interface,
                   flags: int) -> None:
        route = Route(key, plen, ifa.ifp.index, out_ifp, ifa, RTF_UP | RTF_PINNED | flags)
        self._rt_link(ifa.af, route)

    def _prefix_route_gone(self, af: int, route: Route) -> None:
        """An address's own route is going: hand it to another up interface with the same
        address/prefix if there is one (docs/freebsd-tools.md §6.2), else remove it."""
        old = route.ifa
        assert old is not None      # (an address's own route depends on it)
        loopback = route.plen == self.rt[af].width and route.flags & RTF_STATIC
        plain = route.dst if af == AF_INET else strip_scope(route.dst)[0]
        # the first such address in interface order, then address order: looked up in each
        # interface's indexes, never by walking its addresses
        for ifp in self.ifaces:
            if not ifp.flags & IFF_UP:
                continue
            if loopback:        # loopback route of a shared address
                ifa = ifp.find_addr(af, plain)
                if ifa is None or ifa is old or self._key(ifa) != route.dst:
                    continue
            else:
                same = ifp.prefix_index.get((af, route.plen, route.dst))
                if not same or ifp is old.ifp:
                    continue
                ifa = min(same, key=_seq_of)
                if ifa is old:
                    continue
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
    def _addr_event(kind: int, ifa: IfAddr) -> Event:
        return {"type": kind, "af": ifa.af, "addr": addr_text(ifa.af, ifa.addr, ifa.ifp),
                "plen": ifa.plen, "ifname": ifa.ifp.name,
                "dst": addr_text(ifa.af, ifa.dst, ifa.ifp) if ifa.dst is not None else None}
