"""IPv6 addresses, as FreeBSD's in6.c handles them (SIOCAIFADDR_IN6, SIOCDIFADDR_IN6): zones
of link-local addresses, duplicate address detection's tentative state, and the automatic
link-local address (in6_ifattach's).  The routes an address makes follow in_ctl's rules.
"""
from __future__ import annotations

from plebproto.constants import (
    AF_INET6, EADDRNOTAVAIL, EDESTADDRREQ, EINVAL, IFF_LOOPBACK, IFF_POINTOPOINT, IFF_RUNNING,
    IFF_UP,
    IN6_IFF_NODAD, IN6_IFF_TENTATIVE, ND6_IFF_AUTO_LINKLOCAL, ND6_IFF_IFDISABLED,
    ND6_IFF_NO_DAD,
)
from plebproto.errors import OpError

from .base import StackBase
from .ifnet import IfAddr, Interface
from .inet import strip_scope

DAD_RETRANS = 1.0       # RetransTimer between DAD probes (ND_IFINFO's retrans, 1000 ms)


def dad_ready(ifp: Interface) -> bool:
    """Whether ifp may run DAD (in6_if_up: up and running)."""
    return ifp.flags & (IFF_UP | IFF_RUNNING) == IFF_UP | IFF_RUNNING


class In6Control(StackBase):
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
        old = ifp.find_addr(AF_INET6, addr)
        if old is not None:
            self.journal.setattr(old, "flags", flags | (old.flags & IN6_IFF_TENTATIVE))
            self.journal.setattr(old, "pltime", pltime)
            self.journal.setattr(old, "vltime", vltime)
            if old.plen == plen:
                return
            self._del_ifa(old)
        if ifp.nd6_flags & ND6_IFF_IFDISABLED:
            # manual configuration enables IPv6 on the interface (and brings the link-local)
            self.journal.setattr(ifp, "nd6_flags", ifp.nd6_flags & ~ND6_IFF_IFDISABLED)
            if addr >> 118 != 0xFE80 >> 6:
                self._auto_linklocal(ifp)
        self._add_ifa6(ifp, addr, plen, flags, pltime, vltime, dst)

    def _add_ifa6(self, ifp: Interface, addr: int, plen: int, flags: int, pltime: int,
                  vltime: int, dst: int | None) -> None:
        scopeid = ifp.index if (addr >> 118 == 0xFE80 >> 6) else 0
        count = self.sysctl["net.inet6.ip6.dad_count"]
        dad = count > 0 and not (
            flags & IN6_IFF_NODAD or ifp.nd6_flags & ND6_IFF_NO_DAD or ifp.flags & IFF_LOOPBACK)
        if dad:
            flags |= IN6_IFF_TENTATIVE
        ifa = IfAddr(AF_INET6, addr, plen, ifp, dst=dst, flags=flags & ~IN6_IFF_NODAD,
                     scopeid=scopeid, pltime=pltime, vltime=vltime)
        self._add_ifa(ifa)
        self.journal.setitem(self.nd_addr_seq, ifa, self.nd6_next_seq())
        # in6if_do_dad: DAD needs the interface up and running; on one that is not, the
        # address stays tentative and DAD starts when it comes up (in6_if_up)
        if dad and dad_ready(ifp):
            self.journal.setitem(self.dad_pending, ifa, self.clock() + count * DAD_RETRANS)

    def _dad_schedule(self, now: float) -> None:
        """in6_if_up: tentative addresses of an interface that came up start their DAD:
        dad_count probes, one per RetransTimer, then the address is preferred.  An
        interface's addresses are looked at when a tick sees it become ready (up and
        running) or not, never at every tick: an address added to a ready interface starts
        its DAD at once (_add_ifa6), so only a change of readiness leaves any waiting."""
        j = self.journal
        seen = self.dad_seen
        if len(seen) > len(self.ifaces):        # (destroyed interfaces')
            live = self.by_name
            j.setattr(self, "dad_seen", {ifp: ready for ifp, ready in seen.items()
                                         if live.get(ifp.name) is ifp})
            seen = self.dad_seen
        pending = self.dad_pending
        count = self.sysctl["net.inet6.ip6.dad_count"]
        for ifp in self.ifaces:
            ready = dad_ready(ifp)
            if seen.get(ifp) == ready:
                continue
            j.setitem(seen, ifp, ready)         # (journaled: a failed tick looks again)
            if ready:
                for ifa in ifp.addrs:
                    if (ifa.af == AF_INET6 and ifa.flags & IN6_IFF_TENTATIVE
                            and ifa not in pending):
                        j.setitem(pending, ifa, now + max(count, 0) * DAD_RETRANS)
            elif pending:
                # the interface went down mid-DAD: the address stays tentative, and DAD
                # starts over when it is up again
                for ifa in [a for a in pending if a.ifp is ifp]:
                    j.delitem(pending, ifa)

    def in6_difaddr(self, name: str, addr: int) -> None:
        ifp = self.ifunit(name)
        addr, _ = strip_scope(addr)
        ifa = ifp.find_addr(AF_INET6, addr)
        if ifa is None:
            raise OpError(EADDRNOTAVAIL)
        self._del_ifa(ifa)

    def _auto_linklocal(self, ifp: Interface) -> None:
        if not (ifp.nd6_flags & ND6_IFF_AUTO_LINKLOCAL and ifp.mac):
            return
        if any(a.af == AF_INET6 and a.addr >> 118 == 0xFE80 >> 6 for a in ifp.addrs):
            return
        m = ifp.mac
        iid = bytes([m[0] ^ 2, m[1], m[2], 0xFF, 0xFE, m[3], m[4], m[5]])
        self._add_ifa6(ifp, (0xFE80 << 112) | int.from_bytes(iid, "big"), 64, 0, 0, 0, None)
