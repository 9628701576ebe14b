"""Routes, as FreeBSD's route_ctl.c handles them: RTM_ADD (rt_add, and rt_add_many for a
million-route batch), RTM_DELETE, RTM_CHANGE, RTM_GET; the gateway a route resolves to (the
interface route covering it, rt_getifa_fib); multipath joining (docs/freebsd-tools.md
§6.1); linking and unlinking paths in the tables with their undo records; and the routing
messages about routes.  The tables themselves are route.py's.
"""
from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Iterable, Sequence
from itertools import repeat
from math import ceil
from socket import inet_ntoa
from typing import Any

from plebproto.constants import (
    AF_INET, EADDRINUSE, EEXIST, EINVAL, ENETUNREACH, ESRCH, RTF_BLACKHOLE, RTF_FMASK,
    RTF_GATEWAY, RTF_HOST, RTF_PINNED, RTF_REJECT, RTF_STATIC, RTF_UP, RTM_ADD, RTM_CHANGE,
    RTM_DELETE,
)
from plebproto.errors import OpError

from .base import LOOPBACK4, LOOPBACK6, StackBase, addr_text
from .ifnet import IfAddr, Interface
from .route import NextHop, Route, RouteTable
from .txn import Event

# where a gateway is reached: the interface, and the address its routes depend on
_Path = tuple[Interface | None, IfAddr | None]

_PACK4 = struct.Struct(">I").pack
# the texts of the IPv4 next hops and interface addresses route_info has answered: a table's
# are few, and every RTM_GET and route event names two of them (a text costs ~0.25 µs)
_TEXT4: dict[int, str] = {}


def _text4(addr: int) -> str:
    """addr's text, kept in _TEXT4 (emptied when it grows past 4096: never unbounded)."""
    if len(_TEXT4) >= 4096:
        _TEXT4.clear()
    text = _TEXT4[addr] = inet_ntoa(_PACK4(addr))
    return text


class RouteControl(StackBase):
    def rt_add(self, af: int, dst: int, plen: int, gateway: int | None = None,
               gw_ifname: str | None = None, flags: int = RTF_STATIC, ifname: str | None = None,
               mtu: int = 0, hopcount: int = 0, expire: float = 0, weight: int = 1) -> Route:
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
            ifa = out.first_of(af)
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
            self.rt_due.arm((af, route), expire)
        return route

    def rt_announce(self, af: int, dst: int, plen: int, gateway: int) -> None:
        """rt_add(af, dst, plen, gateway), answering nothing: a new prefix is filed unmade
        (RouteTable.add_unmade_one), so that route churn makes no Route objects."""
        table = self.rt[af]
        if self.journal.listeners or not 0 <= plen <= table.width or \
                table.holds(dst & table.masks[plen], plen):
            self.rt_add(af, dst, plen, gateway)        # (events; multipath; refusals)
            return
        dst &= table.masks[plen]
        out, ifa = self._resolve_gateway(af, gateway)
        flags, host = _run_flags()
        table.add_unmade_one(dst, plen, table.nexthop(plen, gateway, out, ifa,
                                                      host if plen == table.width else flags))
        self.journal.record(table.remove_prefix, dst, plen)

    def rt_add_many(self, af: int, dsts: Sequence[int], plens: int | Sequence[int],
                    gateways: int | Sequence[int]) -> None:
        """rt_add(af, dst, plen, gateway) for each row of these columns, in order: the same
        rules and errors (EINVAL, ENETUNREACH, EEXIST, multipath), made for the
        million-route batch: one undo record for all of them, no per-route calls and no
        Route objects (RouteTable.add_unmade, the prefixes naming the NextHop shared by
        those of one length through one gateway; either family).  plens or
        gateways may be one int for every row.  With a routing-message listener each route
        goes through rt_add (it publishes events).  A OpError carries .index: the row that
        failed (the rows before it are added, for the caller's transaction to undo)."""
        n = len(dsts)
        # (isinstance rather than type(...) is int: the type checker follows it, and the
        # callers give an int or a list or array of them)
        if self.journal.listeners:
            done = 0
            try:
                for dst, plen, gateway in zip(dsts,
                                              repeat(plens, n) if isinstance(plens, int) else plens,
                                              repeat(gateways, n) if isinstance(gateways, int)
                                              else gateways):
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
        if isinstance(plens, int):
            if not 0 <= plens <= width:
                bad.append((0, 0, OpError(EINVAL)))
        elif n and not 0 <= min(plens) <= max(plens) <= width:
            k = next(k for k, plen in enumerate(plens) if not 0 <= plen <= width)
            bad.append((k, 0, OpError(EINVAL)))
        paths_of: dict[int, _Path] = {}
        for gateway in ((gateways,) if isinstance(gateways, int) else dict.fromkeys(gateways)):
            try:
                paths_of[gateway] = self._resolve_gateway(af, gateway)
            except OpError as exc:
                k = 0 if isinstance(gateways, int) else gateways.index(gateway)
                bad.append((k, 1, exc))
        failure: OpError | None
        stop, _, failure = min(bad, key=lambda b: b[:2]) if bad else (n, 0, None)
        if stop < n:
            dsts = dsts[:stop]
            plens_c = plens if isinstance(plens, int) else plens[:stop]
            gateways_c = gateways if isinstance(gateways, int) else gateways[:stop]
        else:
            plens_c, gateways_c = plens, gateways
        if dsts:                    # unmade, unless a prefix is there or given twice
            filed = self._add_unmade(table, dsts, plens_c, gateways_c, paths_of)
            if filed is not None:
                self.journal.record(table.remove_unmade, filed)
                if failure is not None:
                    failure.index = stop
                    raise failure
                return
        routes = self._make_routes(table, dsts, plens_c, gateways_c, paths_of) if dsts else []
        added = len(routes)
        try:
            table.add_run(routes, _refuse_duplicate)
        except OpError as exc:
            added = exc.index or 0      # (add_run always says which)
            raise
        finally:
            if added:
                self.journal.record(self._remove_paths, table,
                                    routes if added == len(routes) else routes[:added])
        if failure is not None:
            failure.index = stop
            raise failure

    @staticmethod
    def _add_unmade(table: RouteTable, dsts: Sequence[int], plens: int | Sequence[int],
                    gateways: int | Sequence[int], paths_of: dict[int, _Path]
                    ) -> list[Any] | None:
        """The run's routes filed as unmade prefixes (RouteTable.add_unmade: no Route
        objects until asked for), in columns: per length the masked destinations and each
        one's next-hop index into the run's few distinct gateways.  None if one is already
        there or given twice, nothing filed."""
        width, masks = table.width, table.masks
        hops = list(paths_of)                   # the distinct gateways, in order
        paths = [(gateway, *paths_of[gateway]) for gateway in hops]
        keys_by_len: list[list[int]] = [[] for _ in range(width + 1)]
        hops_by_len: list[Any] = [0] * (width + 1)
        if isinstance(plens, int):
            keys_by_len[plens] = _masked(dsts, plens, masks[plens])
            if not isinstance(gateways, int):
                hops_by_len[plens] = list(map({g: i for i, g in enumerate(hops)}.__getitem__,
                                              gateways))
        elif isinstance(gateways, int):
            file = [keys.append for keys in keys_by_len]
            for dst, plen in zip(dsts, plens):
                file[plen](dst & masks[plen])
        else:
            hops_by_len = [[] for _ in range(width + 1)]
            file = [keys.append for keys in keys_by_len]
            hop = [h.append for h in hops_by_len]
            index = {g: i for i, g in enumerate(hops)}
            for dst, plen, gateway in zip(dsts, plens, gateways):
                file[plen](dst & masks[plen])
                hop[plen](index[gateway])
        for plen, h in enumerate(hops_by_len):
            if type(h) is list and h and h.count(h[0]) == len(h):
                hops_by_len[plen] = h[0]        # one next hop for the length: one int
        flags, host = _run_flags()
        return table.add_unmade(keys_by_len, hops_by_len, paths,
                                lambda plen: host if plen == width else flags)

    @staticmethod
    def _make_routes(table: RouteTable, dsts: Sequence[int], plens: int | Sequence[int],
                     gateways: int | Sequence[int], paths_of: dict[int, _Path]) -> list[Route]:
        """The static gateway routes of a run (checked), one comprehension per shape: a
        million of them is mostly the cost of creating the objects."""
        width, masks = table.width, table.masks
        flags, host = _run_flags()
        if isinstance(gateways, int):
            out, ifa = paths_of[gateways]
            if isinstance(plens, int):
                mask, fl = masks[plens], host if plens == width else flags
                return [Route(d & mask, plens, gateways, out, ifa, fl) for d in dsts]
            return [Route(d & masks[p], p, gateways, out, ifa, host if p == width else flags)
                    for d, p in zip(dsts, plens)]
        return [Route(d & masks[p], p, g, *paths_of[g], host if p == width else flags)
                for d, p, g in zip(dsts, repeat(plens) if isinstance(plens, int) else plens,
                                   gateways)]

    @staticmethod
    def _remove_paths(table: RouteTable, routes: list[Route]) -> None:
        for route in reversed(routes):
            table.remove_path(route)

    def _resolve_gateway(self, af: int, gateway: int) -> _Path:
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
                  gw_ifname: str | None = None, flags: int = 0) -> None:
        """RTM_DELETE.  Without a gateway every path of the prefix goes; a pinned (interface)
        route needs RTF_PINNED in flags (route(8) always sends it), else EADDRINUSE.  An
        unmade prefix goes without being made."""
        table = self.rt[af]
        if gw_ifname is None and 0 <= plen <= table.width and not self.journal.listeners:
            key = dst & table.masks[plen]
            nexthop = table.nexthop_of(key, plen)
            if nexthop is not None and (gateway is None or nexthop.gateway == gateway) \
                    and (flags & RTF_PINNED or not nexthop.flags & RTF_PINNED):
                table.remove_unmade_one(key, plen)
                self.journal.record(table.add_unmade_one, key, plen, nexthop)
                return
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

    def rt_change(self, af: int, dst: int, plen: int, gateway: int | None = None,
                  gw_ifname: str | None = None, flags: int | None = None,
                  ifname: str | None = None, mtu: int | None = None,
                  hopcount: int | None = None, expire: int | None = None,
                  weight: int | None = None) -> None:
        """RTM_CHANGE: gateway, interface, metrics and the RTF_FMASK flags of the prefix's
        first path (the one route(8) reports).  Answers nothing (rt_get reads the result).
        A new next hop alone goes through rt_regateway, which makes no Route."""
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
            via, ifa = self._resolve_gateway(af, gateway)
            j.setattr(route, "gateway", gateway)
            j.setattr(route, "ifp", via)
            table = self.rt[af]
            j.record(table.set_ifa, route, route.ifa)
            table.set_ifa(route, ifa)
            new_flags |= RTF_GATEWAY
        if ifname is not None:
            j.setattr(route, "ifp", self.ifunit(ifname))
        j.setattr(route, "flags", new_flags)
        if expire is not None:
            # undone after the old expire is back (records undo newest first): armed for
            # it again, in case a tick meanwhile looked at the route and moved its item on
            j.record(self.rt_arm, af, route)
        for attr, value in (("mtu", mtu), ("hopcount", hopcount), ("expire", expire),
                            ("weight", weight)):
            if value is not None:
                j.setattr(route, attr, value)
        if expire is not None:
            self.rt_arm(af, route)
        self.rt[af].generation += 1
        j.emit(lambda: self.route_event(RTM_CHANGE, af, route))

    def rt_regateway(self, af: int, dst: int, plen: int, gateway: int) -> None:
        """rt_change(af, dst, plen, gateway): a new next hop alone, as a routing daemon's
        churn changes it.  An unmade prefix then names another shared NextHop without
        being made (nothing else to answer)."""
        table = self.rt[af]
        if 0 <= plen <= table.width and not self.journal.listeners:
            key = dst & table.masks[plen]
            old = table.nexthop_of(key, plen)
            if old is not None:
                via, ifa = self._resolve_gateway(af, gateway)
                table.set_unmade(key, plen, table.nexthop(plen, gateway, via, ifa, old.flags))
                self.journal.record(table.restore_nexthop, key, plen, old)
                return
        self.rt_change(af, dst, plen, gateway)

    def rt_get_info(self, af: int, addr: int, plen: int | None = None) -> dict[str, Any]:
        """RTM_GET's answer (route_info of rt_get's route), read without making a Route of
        an unmade prefix: a storm of reads over a million-route table must not grow it."""
        table = self.rt[af]
        if plen is not None and not 0 <= plen <= table.width:
            raise OpError(EINVAL)
        paths = table.paths_to(addr) if plen is None else \
            table.exact_paths(addr & table.masks[plen], plen)
        if not paths:
            raise OpError(ESRCH)
        path = paths[0]
        return self.route_info(af, path, addr & table.masks[path.plen])

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

    def _rt_link(self, af: int, route: Route, event: int = RTM_ADD) -> None:
        table = self.rt[af]
        table.add_path(route)
        self.journal.record(table.remove_path, route)
        if not route.flags & RTF_GATEWAY:
            self._connected_changed()
        self.journal.emit(lambda: self.route_event(event, af, route))

    def _rt_unlink(self, af: int, route: Route, quiet: bool = False) -> None:
        table = self.rt[af]
        table.remove_path(route)
        self.journal.record(table.add_path, route)
        if route.expire:
            # unarmed, and armed again if this is undone (a tick meanwhile drops its item)
            self.journal.record(self.rt_arm, af, route)
            self.rt_due.disarm((af, route))
        if not route.flags & RTF_GATEWAY:
            self._connected_changed()
        if not quiet:
            self.journal.emit(lambda: self.route_event(RTM_DELETE, af, route))

    def rt_arm(self, af: int, route: Route) -> None:
        """Have tick look at route when its expire comes (0: never)."""
        self.rt_due.arm((af, route), route.expire)

    def _rt_expire(self, af: int, route: Route, now: float) -> None:
        """Stack.tick: route was armed for a time now past.  It goes if it is still in the
        table and its (live) expire has come; a later one is armed (route change -expire)."""
        paths = self.rt[af].exact_paths(route.dst, route.plen)
        if not paths or route not in paths:
            return          # gone (a rollback that brings it back arms it again)
        expire = route.expire
        if expire > now:
            self.rt_arm(af, route)
        elif expire:
            self._rt_unlink(af, route)

    def _connected_changed(self) -> None:
        """Gateway resolutions are cached until an interface route comes or goes (also when
        such a change is rolled back)."""
        self._gw_cache.clear()
        self.journal.record(self._gw_cache.clear)

    def route_event(self, kind: int, af: int, route: Route) -> Event:
        return {"type": kind, "af": af, "route": self.route_info(af, route)}

    def route_info(self, af: int, route: Route | NextHop, key: int | None = None
                   ) -> dict[str, Any]:
        """A path as RTM_GET and route events answer it; key: the prefix's (masked)
        destination, for a NextHop (which its unmade prefixes share) or to save a read."""
        # every RTM_GET answers with this: IPv4 texts are made here directly, where
        # key_text/addr_text would add two calls per address
        ifp, ifa, flags = route.ifp, route.ifa, route.flags
        if key is None:
            assert type(route) is Route
            key = route.dst
        if af == AF_INET:
            dst = inet_ntoa(_PACK4(key))
            gateway = (_TEXT4.get(route.gateway) or _text4(route.gateway)
                       if flags & RTF_GATEWAY else f"link#{route.gateway}")
            ifa_text = _TEXT4.get(ifa.addr) or _text4(ifa.addr) if ifa else None
        else:
            dst = self.key_text(af, key)
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


# Interned route flags: a million routes share a handful of flags values, and a dump reads
# the flags of each; one shared int object per value saves memory and cache misses.
_FLAGS: dict[int, int] = {}


def _run_flags() -> tuple[int, int]:
    """The flags of a run's static gateway routes, network and host, interned as rt_add's
    are (one int object per value)."""
    flags = RTF_STATIC | RTF_UP | RTF_GATEWAY
    flags = _FLAGS.setdefault(flags, flags)
    return flags, _FLAGS.setdefault(flags | RTF_HOST, flags | RTF_HOST)


_LITTLE = sys.byteorder == "little"


def _masked(dsts: Iterable[int], plen: int, mask: int) -> list[int]:
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


def _is_connected(paths: list[Route]) -> bool:
    return not paths[0].flags & RTF_GATEWAY
