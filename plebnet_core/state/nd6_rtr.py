"""Router and prefix discovery's state, as FreeBSD's nd6_rtr.c keeps it: the per-interface ND
information (ND_IFINFO: link MTU from RAs, base reachable time, retransmission timer, current
hop limit), the default router list with lifetimes and the default route through the chosen
router, the prefix list with valid/preferred lifetimes and on-link/autonomous flags, the
addresses stateless autoconfiguration makes (IN6_IFF_AUTOCONF, RFC 4862 5.5.3) and their
lifetimes, and the ND default interface (ndp -I).  The data plane (dataplane/rtadv.py) hands
validated Router Advertisements to nd6_ra_input; dumps read nd6_drlist / nd6_prlist /
nd6_ifinfo_of for ndp -r / -p / -i.  Timed expiry runs from Stack.tick (_nd6_tick).
"""
from __future__ import annotations

import random
from typing import Any

from plebproto.constants import (
    AF_INET6, EINVAL, IFF_UP, IN6_IFF_AUTOCONF, IN6_IFF_DEPRECATED,
    ND6_IFF_ACCEPT_RTADV, ND6_IFF_NO_RADR,
)
from plebproto.errors import OpError

from .base import StackBase
from .ifnet import IfAddr, Interface
from .inet import MASK6, embed_scope, ntop6

ND6_INFINITE = 0xFFFFFFFF           # ND6_INFINITE_LIFETIME
REACHABLE_TIME_MS = 30000           # REACHABLE_TIME
RETRANS_TIMER_MS = 1000             # RETRANS_TIMER
MAX_REACHABLE_TIME_MS = 3600000     # MAX_REACHABLE_TIME
IP6_DEFHLIM = 64                    # ip6_defhlim
IPV6_MMTU = 1280
TWOHOUR = 7200                      # RFC 4862 5.5.3(e)
NDPRF_ONLINK, NDPRF_DETACHED = 0x1, 0x2
RTPREF_MASK = 0x18                  # ND_RA_FLAG_RTPREF_MASK
_LINKLOCAL = 0xFE80 << 112
_LL_MASK = MASK6[10]


def compute_rtime(base_ms: int) -> int:
    """ND_COMPUTE_RTIME: the reachable time in seconds, base x (0.5 .. 1.5), randomised as
    FreeBSD does (a random mask over 1024 x base/1024, not a uniform draw)."""
    unit = base_ms >> 10
    return (512 * unit + (random.getrandbits(32) & (1024 * unit))) // 1000


class NdIfInfo:
    """ND_IFINFO(ifp)'s values other than the flags (those are ifp.nd6_flags)."""
    __slots__ = ("linkmtu", "basereachable", "reachable", "retrans", "chlim")

    def __init__(self) -> None:
        self.linkmtu = 0
        self.basereachable = REACHABLE_TIME_MS
        self.reachable = compute_rtime(REACHABLE_TIME_MS)
        self.retrans = RETRANS_TIMER_MS
        self.chlim = IP6_DEFHLIM


class DefRouter:
    """struct nd_defrouter: addr is the plain link-local address, expire absolute time."""
    __slots__ = ("addr", "ifp", "raflags", "lifetime", "expire", "installed")

    def __init__(self, addr: int, ifp: Interface, raflags: int, lifetime: int, expire: float):
        self.addr, self.ifp, self.raflags = addr, ifp, raflags
        self.lifetime, self.expire, self.installed = lifetime, expire, False


class NdPrefix:
    """struct nd_prefix learned from RAs: lifetimes in seconds (ND6_INFINITE: infinite),
    expire / preferred absolute (0: never), advrtrs the advertising routers' addresses,
    route: the interface route made for an on-link prefix without an address of its own."""
    __slots__ = ("prefix", "plen", "ifp", "onlink", "autonomous", "vltime", "pltime",
                 "expire", "preferred", "advrtrs", "route", "seq")

    def __init__(self, prefix: int, plen: int, ifp: Interface) -> None:
        self.prefix, self.plen, self.ifp = prefix, plen, ifp
        self.onlink = self.autonomous = False
        self.vltime = self.pltime = 0
        self.expire = self.preferred = 0.0
        self.advrtrs: list[int] = []
        self.route: Any = None
        self.seq = 0            # when it was made (nd_seq), for the list's newest-first order


def _deadline(now: float, lifetime: int) -> float:
    return 0.0 if lifetime == ND6_INFINITE else now + lifetime


def _stack_lifetime(lifetime: int) -> int:
    """An RA lifetime as an IfAddr keeps it (0: infinite)."""
    return 0 if lifetime == ND6_INFINITE else lifetime


class NdRouterControl(StackBase):
    # -- per-interface ND information (SIOCGIFINFO_IN6 / SIOCSIFINFO_IN6) -------------------
    def nd6_ifinfo(self, ifp: Interface) -> NdIfInfo:
        info = self.nd_ifinfo.get(ifp)
        if info is None:
            info = self.nd_ifinfo[ifp] = NdIfInfo()
        return info

    def nd6_setinfo(self, name: str, basereachable: int = 0, retrans: int = 0,
                    chlim: int = 0, linkmtu: int = 0) -> None:
        """SIOCSIFINFO_IN6's values; 0 leaves one unchanged (nd6_ioctl)."""
        ifp = self.ifunit(name)
        info = self.nd6_ifinfo(ifp)
        j = self.journal
        if linkmtu:
            if linkmtu < IPV6_MMTU or linkmtu > self.in6_linkmtu(ifp):
                raise OpError(EINVAL)
            j.setattr(info, "linkmtu", linkmtu)
        if basereachable and basereachable != info.basereachable:
            j.setattr(info, "basereachable", basereachable)
            j.setattr(info, "reachable", compute_rtime(basereachable))
        if retrans:
            j.setattr(info, "retrans", retrans)
        if chlim:
            j.setattr(info, "chlim", chlim)

    def in6_linkmtu(self, ifp: Interface) -> int:
        """IN6_LINKMTU: the RA-advertised link MTU when set and below the interface's."""
        info = self.nd_ifinfo.get(ifp)
        if info is not None and 0 < info.linkmtu < ifp.mtu:
            return info.linkmtu
        return ifp.mtu

    def nd6_ifinfo_of(self, name: str) -> dict[str, Any]:
        ifp = self.ifunit(name)
        info = self.nd6_ifinfo(ifp)
        return {"ifname": ifp.name, "linkmtu": info.linkmtu, "maxmtu": ifp.mtu,
                "curhlim": info.chlim, "basereachable": info.basereachable,
                "reachable": info.reachable, "retrans": info.retrans,
                "flags": ifp.nd6_flags, "initialized": True}

    # -- the ND default interface (ndp -I) --------------------------------------------------
    def nd6_setdefif(self, ifindex: int) -> None:
        """SIOCSDEFIFACE_IN6 (nd6_setdefaultiface): 0 clears it."""
        if ifindex < 0 or ifindex and self.by_index(ifindex) is None:
            raise OpError(EINVAL)
        self.journal.setattr(self, "nd_defifindex", ifindex)

    def nd6_defif(self) -> int:
        if self.nd_defifindex and self.by_index(self.nd_defifindex) is None:
            return 0
        return self.nd_defifindex

    # -- Router Advertisement input (nd6_ra_input) -------------------------------------------
    def nd6_ra_input(self, ifp: Interface, src: int, ra: dict[str, Any]) -> bool:
        """A valid RA (hop limit 255, link-local source, options checked) from src (plain
        int) on ifp.  ra: raflags, lifetime, reachable, retrans, curhlim, mtu (None if
        absent), prefixes [(prefix int, plen, onlink, autonomous, valid, preferred)].
        Returns False when the interface does not accept RAs (nothing changes)."""
        if not ifp.nd6_flags & ND6_IFF_ACCEPT_RTADV:
            return False
        now = self.clock()
        with self.transaction():
            info = self.nd6_ifinfo(ifp)
            j = self.journal
            reach = ra["reachable"]
            if reach and reach <= MAX_REACHABLE_TIME_MS and reach != info.basereachable:
                j.setattr(info, "basereachable", reach)
                j.setattr(info, "reachable", compute_rtime(reach))
            if ra["retrans"]:
                j.setattr(info, "retrans", ra["retrans"])
            if ra["curhlim"]:
                j.setattr(info, "chlim", ra["curhlim"])
            # routes from RAs are off with NO_RADR, and on a router (ip6.forwarding without
            # rfc6204w3): the router lifetime counts as 0 (nd6_ra_input)
            lifetime = ra["lifetime"]
            if ifp.nd6_flags & ND6_IFF_NO_RADR or self.sysctl["net.inet6.ip6.forwarding"]:
                lifetime = 0
            dr = self._defrtrlist_update(ifp, src, ra["raflags"], lifetime, now)
            for pi in ra["prefixes"]:
                self._prelist_update(ifp, pi, dr, now)
            mtu = ra["mtu"]
            # an MTU the link cannot carry, or under the IPv6 minimum, is ignored
            if mtu is not None and IPV6_MMTU <= mtu <= ifp.mtu:
                j.setattr(info, "linkmtu", mtu)
        return True

    def _find_router(self, ifp: Interface, addr: int) -> DefRouter | None:
        for dr in self.nd_routers:
            if dr.ifp is ifp and dr.addr == addr:
                return dr
        return None

    def _defrtrlist_update(self, ifp: Interface, addr: int, raflags: int, lifetime: int,
                           now: float) -> DefRouter | None:
        j = self.journal
        dr = self._find_router(ifp, addr)
        if lifetime == 0:           # the router leaves the list (RFC 4861 6.3.4)
            if dr is not None:
                self._defrtr_del(dr)
            return None
        if dr is not None:
            j.setattr(dr, "raflags", raflags)
            j.setattr(dr, "lifetime", lifetime)
            j.setattr(dr, "expire", now + lifetime)
        else:
            dr = DefRouter(addr, ifp, raflags, lifetime, now + lifetime)
            j.append(self.nd_routers, dr)
        self._defrouter_select()
        return dr

    def _defrtr_del(self, dr: DefRouter) -> None:
        j = self.journal
        if dr.installed:
            try:
                self.rt_delete(AF_INET6, 0, 0, embed_scope(dr.addr, dr.ifp.index))
            except OpError:
                pass                # (someone deleted it by hand)
            j.setattr(dr, "installed", False)
        for pr in self.nd_prefixes:
            if dr.addr in pr.advrtrs and pr.ifp is dr.ifp:
                j.setattr(pr, "advrtrs", [a for a in pr.advrtrs if a != dr.addr])
        j.remove(self.nd_routers, dr)
        self._defrouter_select()

    def _defrouter_select(self) -> None:
        """defrouter_select_fib: one default route, through the first router on the list
        (FreeBSD prefers a reachable one; every listed router just advertised)."""
        if any(dr.installed for dr in self.nd_routers) or not self.nd_routers:
            return
        for dr in self.nd_routers:
            if not dr.ifp.flags & IFF_UP:
                continue
            try:
                self.rt_add(AF_INET6, 0, 0, embed_scope(dr.addr, dr.ifp.index), flags=0)
            except OpError:
                return              # a default route is there already (a static one)
            self.journal.setattr(dr, "installed", True)
            return

    def _find_prefix(self, ifp: Interface, prefix: int, plen: int) -> NdPrefix | None:
        for pr in self.nd_prefixes:
            if pr.ifp is ifp and pr.prefix == prefix and pr.plen == plen:
                return pr
        return None

    def _prelist_update(self, ifp: Interface, pi: tuple[Any, ...], dr: DefRouter | None,
                        now: float) -> None:
        """prelist_update: one Prefix Information option."""
        prefix, plen, onlink, auto, valid, preferred = pi
        prefix &= MASK6[plen]
        if prefix & _LL_MASK == _LINKLOCAL or prefix >> 120 == 0xFF or preferred > valid:
            return                  # link-local or multicast prefix, pltime > vltime: ignored
        j = self.journal
        pr = self._find_prefix(ifp, prefix, plen)
        if pr is not None:
            # L and A never go from 1 to 0 (nd6_rtr.c)
            if onlink:
                j.setattr(pr, "onlink", True)
            if auto:
                j.setattr(pr, "autonomous", True)
            if onlink:
                j.setattr(pr, "vltime", valid)
                j.setattr(pr, "pltime", preferred)
                j.setattr(pr, "expire", _deadline(now, valid))
                j.setattr(pr, "preferred", _deadline(now, preferred))
        else:
            if valid == 0 or not (onlink or auto):
                return
            pr = NdPrefix(prefix, plen, ifp)
            pr.onlink, pr.autonomous, pr.vltime, pr.pltime = onlink, auto, valid, preferred
            pr.expire, pr.preferred = _deadline(now, valid), _deadline(now, preferred)
            pr.seq = self.nd6_next_seq()
            # the kernel's list is LIST_INSERT_HEAD: newest first
            j.insert(self.nd_prefixes, 0, pr)
        if dr is not None and dr.addr not in pr.advrtrs:
            j.setattr(pr, "advrtrs", pr.advrtrs + [dr.addr])
        if auto:
            self._autoconf(ifp, pr, valid, preferred, now)
        if pr.onlink and not self._prefix_has_addr(pr) and pr.route is None and ifp.flags & IFF_UP:
            try:
                j.setattr(pr, "route", self.rt_add(AF_INET6, prefix, plen, gw_ifname=ifp.name,
                                                   flags=0))
            except OpError:
                pass                # the prefix has a route already

    def _prefix_addrs(self, ifp: Interface, prefix: int, plen: int) -> list[IfAddr]:
        mask = MASK6[plen]
        return [a for a in ifp.addrs if a.af == AF_INET6 and a.plen == plen
                and a.addr & mask == prefix]

    def _prefix_has_addr(self, pr: NdPrefix) -> bool:
        return bool(self._prefix_addrs(pr.ifp, pr.prefix, pr.plen))

    def _autoconf(self, ifp: Interface, pr: NdPrefix, valid: int, preferred: int,
                  now: float) -> None:
        """RFC 4862 5.5.3 (d), (e): make the address, or update its lifetimes."""
        for ifa in self._prefix_addrs(ifp, pr.prefix, pr.plen):
            if not ifa.flags & IN6_IFF_AUTOCONF:
                continue
            pl_at, vl_at = self.nd_ifa_expire.get(ifa, (0.0, 0.0))
            remaining = ND6_INFINITE if not vl_at else max(0, int(vl_at - now))
            # the two-hour rule: an RA cannot cut the valid lifetime below two hours
            if valid > TWOHOUR or valid > remaining:
                new_valid = valid
            elif remaining <= TWOHOUR:
                new_valid = remaining
            else:
                new_valid = TWOHOUR
            self._set_ifa_lifetimes(ifa, min(preferred, new_valid), new_valid, now)
            return
        if valid == 0 or pr.plen != 64:
            return                  # the interface identifier is 64 bits (in6_ifadd)
        iid = None
        for a in ifp.addrs:
            if a.af == AF_INET6 and a.addr & _LL_MASK == _LINKLOCAL:
                iid = a.addr & ((1 << 64) - 1)
                break
        if iid is None:
            return                  # in6_ifadd needs the link-local address's identifier
        try:
            self.in6_aifaddr(ifp.name, pr.prefix | iid, 64, IN6_IFF_AUTOCONF,
                             _stack_lifetime(preferred), _stack_lifetime(valid))
        except OpError:
            return
        for ifa in self._prefix_addrs(ifp, pr.prefix, 64):
            if ifa.addr == pr.prefix | iid:
                self._set_ifa_lifetimes(ifa, preferred, valid, now)

    def _set_ifa_lifetimes(self, ifa: IfAddr, preferred: int, valid: int, now: float) -> None:
        j = self.journal
        j.setattr(ifa, "pltime", _stack_lifetime(preferred))
        j.setattr(ifa, "vltime", _stack_lifetime(valid))
        if ifa.flags & IN6_IFF_DEPRECATED and preferred:
            j.setattr(ifa, "flags", ifa.flags & ~IN6_IFF_DEPRECATED)
        j.setitem(self.nd_ifa_expire, ifa, (_deadline(now, preferred), _deadline(now, valid)))

    def in6_lifetimes(self, ifa: IfAddr) -> dict[str, int]:
        """An address's pltime/vltime as SIOCGIFALIFETIME_IN6 gives ifconfig -L: what is
        left of an autoconfigured address's (it counts down), else as configured (0:
        infinite)."""
        deadlines = self.nd_ifa_expire.get(ifa)
        if deadlines is None:
            return {"pltime": ifa.pltime, "vltime": ifa.vltime}
        now = self.clock()
        pl_at, vl_at = deadlines
        # a lifetime run out reads 1 rather than 0, which means infinite here
        return {"pltime": max(1, int(pl_at - now)) if pl_at else 0,
                "vltime": max(1, int(vl_at - now)) if vl_at else 0}

    # -- timers (nd6_timer) -------------------------------------------------------------------
    def _nd6_tick(self, now: float) -> None:
        j = self.journal
        gone = [ifp for ifp in {d.ifp for d in self.nd_routers} | {p.ifp for p in self.nd_prefixes}
                if self.by_index(ifp.index) is not ifp]
        for ifp in gone:
            self.nd6_purge(ifp)     # a destroyed interface's routers and prefixes
        for dr in [d for d in self.nd_routers if d.expire <= now]:
            self._defrtr_del(dr)
        for dr in self.nd_routers:
            # the default route went (its interface went down, or by hand): select again
            if dr.installed and not any(
                    r.gateway == embed_scope(dr.addr, dr.ifp.index)
                    for r in self.rt[AF_INET6].exact(0, 0) or ()):
                j.setattr(dr, "installed", False)
        self._defrouter_select()
        for pr in [p for p in self.nd_prefixes if p.expire and p.expire <= now]:
            self._prefix_del(pr)
        for ifa, (pl_at, vl_at) in list(self.nd_ifa_expire.items()):
            if ifa not in ifa.ifp.addrs or self.by_index(ifa.ifp.index) is not ifa.ifp:
                j.delitem(self.nd_ifa_expire, ifa)
            elif vl_at and vl_at <= now:
                j.delitem(self.nd_ifa_expire, ifa)
                self._del_ifa(ifa)          # in6_purgeaddr: the address is invalid
            elif pl_at and pl_at <= now and not ifa.flags & IN6_IFF_DEPRECATED:
                j.setattr(ifa, "flags", ifa.flags | IN6_IFF_DEPRECATED)

    def _prefix_del(self, pr: NdPrefix) -> None:
        j = self.journal
        if pr.route is not None:
            if pr.route in (self.rt[AF_INET6].exact(pr.prefix, pr.plen) or ()):
                self._rt_unlink(AF_INET6, pr.route)
            j.setattr(pr, "route", None)
        j.remove(self.nd_prefixes, pr)

    # -- ndp -R, -P, -H ----------------------------------------------------------------------
    def nd6_rtr_flush(self) -> None:
        """SIOCSRTRFLUSH_IN6: every default router goes, with the default route."""
        for dr in list(self.nd_routers):
            self._defrtr_del(dr)

    def nd6_pfx_flush(self) -> None:
        """SIOCSPFXFLUSH_IN6: the prefixes learned from routers go, with the addresses
        autoconfigured in them."""
        for pr in list(self.nd_prefixes):
            for ifa in self._prefix_addrs(pr.ifp, pr.prefix, pr.plen):
                if ifa.flags & IN6_IFF_AUTOCONF:
                    if ifa in self.nd_ifa_expire:
                        self.journal.delitem(self.nd_ifa_expire, ifa)
                    self._del_ifa(ifa)
            self._prefix_del(pr)

    def nd6_harmonize(self) -> None:
        """SIOCSNDFLUSH_IN6 (ndp -H): defrouter_reset, then select again: the default
        route through the routers list is made anew."""
        for dr in self.nd_routers:
            if dr.installed:
                try:
                    self.rt_delete(AF_INET6, 0, 0, embed_scope(dr.addr, dr.ifp.index))
                except OpError:
                    pass
                self.journal.setattr(dr, "installed", False)
        self._defrouter_select()

    def nd6_purge(self, ifp: Interface) -> None:
        """nd6_purge: an interface going away takes its routers and prefixes along."""
        for dr in [d for d in self.nd_routers if d.ifp is ifp]:
            self._defrtr_del(dr)
        for pr in [p for p in self.nd_prefixes if p.ifp is ifp]:
            self._prefix_del(pr)

    # -- dumps (ICMPV6CTL_ND6_DRLIST, ICMPV6CTL_ND6_PRLIST) ---------------------------------
    def nd6_drlist(self) -> list[dict[str, Any]]:
        now = self.clock()
        return [{"addr": f"{ntop6(dr.addr)}%{dr.ifp.name}", "ifname": dr.ifp.name,
                 "flags": dr.raflags, "expire": max(0, int(dr.expire - now))}
                for dr in self.nd_routers if self.by_index(dr.ifp.index) is dr.ifp]

    def nd6_next_seq(self) -> int:
        """A number that orders the making of prefixes and addresses (never undone: only
        the order matters)."""
        self.nd_seq += 1
        return self.nd_seq

    def nd6_prlist(self) -> list[dict[str, Any]]:
        """The RA prefixes and the prefixes of configured addresses (in6.c's in6_update_ifa
        makes one per address with a prefix length under 128, when its first address comes),
        newest first as the kernel's list is, with the number of addresses in each (ref) and
        their advertising routers' neighbor state."""
        now = self.clock()
        rows: list[tuple[int, dict[str, Any]]] = []
        seen = set()
        for pr in self.nd_prefixes:
            ifp = pr.ifp
            seen.add((ifp.index, pr.prefix, pr.plen))
            routers = []
            for addr in pr.advrtrs:
                entry = ifp.llinfo6.get(addr)
                routers.append({"addr": f"{ntop6(addr)}%{ifp.name}",
                                "state": None if entry is None else entry.state})
            seq = min([pr.seq] + [self.nd_addr_seq.get(a, 0)
                                  for a in self._prefix_addrs(ifp, pr.prefix, pr.plen)])
            rows.append((seq, self._prefix_row(
                ifp, pr.prefix, pr.plen, pr.onlink, pr.autonomous, pr.vltime, pr.pltime,
                None if not pr.expire else int(pr.expire - now), routers)))
        for ifp in self.ifaces:
            for a in ifp.addrs:
                if a.af != AF_INET6 or a.plen >= 128:
                    continue
                key = (ifp.index, a.addr & MASK6[a.plen], a.plen)
                if key in seen:
                    continue
                seen.add(key)
                seq = min(self.nd_addr_seq.get(x, 0)
                          for x in self._prefix_addrs(ifp, key[1], a.plen))
                vl = a.vltime or ND6_INFINITE
                pl = a.pltime or ND6_INFINITE
                rows.append((seq, self._prefix_row(ifp, key[1], a.plen, True,
                                                   bool(a.flags & IN6_IFF_AUTOCONF), vl, pl,
                                                   None if vl == ND6_INFINITE else vl, None)))
        rows.sort(key=lambda r: -r[0])
        return [row for _, row in rows]

    def _prefix_row(self, ifp: Interface, prefix: int, plen: int, onlink: bool, auto: bool,
                    vltime: int, pltime: int, expire: int | None,
                    routers: list[Any] | None) -> dict[str, Any]:
        text = ntop6(prefix)
        if prefix & _LL_MASK == _LINKLOCAL:
            text += f"%{ifp.name}"
        # NDPRF_ONLINK: the prefix's route is in the table (the interface is up)
        return {"prefix": text, "plen": plen, "ifname": ifp.name, "onlink": onlink,
                "autonomous": auto, "is_onlink": bool(ifp.flags & IFF_UP), "detached": False,
                "vltime": vltime, "pltime": pltime, "expire": expire,
                "refcnt": len(self._prefix_addrs(ifp, prefix, plen)),
                "advrtrs": routers or []}
