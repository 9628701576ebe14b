"""Routing tables: one per address family, keyed by (destination & mask, prefix length).

Exact matches (adds, deletes, netstat's walk) use one dict per prefix length.  Longest-prefix
match for IPv4 reads the DIR-24-8 arrays of lpm.py: two array reads whether the table holds
ten routes or a million.  IPv6 reads the stride-8 trie of lpm6.py: at most 16 dict probes, one
per address byte, however many lengths the table holds.  A
multipath (ECMP) prefix holds several Route objects in one list (§6.1).

A run of IPv4 routes sharing one next hop (a million-route load through one gateway) is filed
without making a Route per prefix: each prefix's dict entry is its lookup slot (an int), and
the slot holds a NextHop, the next hop all of them share (as FreeBSD's routes share an
nhop_object).  A Route is made from it the first time something asks for the prefix (a
lookup, an exact match, a change), so the table reads the same either way; dumps read the
NextHop's path fields directly.  Making a million objects is most of a million-route
insert's cost in CPython.

The lookup arrays of a run are filled after the run is filed, a slice at a time by settle()
(the stack's loop calls it between other work), shortest prefixes first.  Until every fill is
done, lookups probe the per-length dicts instead, as IPv6 does: slower, never wrong.  (FreeBSD
likewise rebuilds its DXR lookup structure behind bulk route changes, fib_algo's delayed
sync; its lookups meanwhile use the old structure, ours the dicts.)
"""
from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import groupby, repeat
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING, Any, cast, final

from plebproto.errors import OpError
from .inet import MASK4, MASK6
from .lpm import GROUP_BIT, Dir24
from .lpm6 import Lpm6

if TYPE_CHECKING:
    from .ifnet import IfAddr, Interface

    @final
    class Unmade(int):
        """An unmade prefix's dict entry: its slot in the lookup arrays (see the module
        docstring).  An int at run time; for the type checker a final subclass, so that
        `type(x) is Unmade` tells it an entry's kind both ways, as it does at run time."""

    # a run's new prefixes of one length: (plen, their first routes, {dst: paths})
    _Prefixes = tuple[int, list["Route"], dict[int, list["Route"]]]
else:
    Unmade = int

_DST, _IFA = attrgetter("dst"), attrgetter("ifa")
_PLEN = itemgetter(0)


class Route:
    """One path of a prefix.  gateway is an int address when RTF_GATEWAY is set, otherwise the
    index of the interface named by the link-level gateway (netstat's link#N)."""

    __slots__ = ("dst", "plen", "gateway", "ifp", "ifa", "flags", "mtu", "hopcount", "expire",
                 "weight", "nhidx", "slot")

    def __init__(self, dst: int, plen: int, gateway: int, ifp: Interface | None,
                 ifa: IfAddr | None, flags: int, mtu: int = 0, hopcount: int = 0,
                 expire: float = 0, weight: int = 1):
        self.dst = dst
        self.plen = plen
        self.gateway = gateway
        self.ifp = ifp          # Interface the packets leave by
        self.ifa = ifa          # IfAddr the path depends on (removed with it), or None
        self.flags = flags
        self.mtu = mtu          # 0: the interface's
        self.hopcount = hopcount
        self.expire = expire    # absolute clock time, 0: never
        self.weight = weight
        self.nhidx = 0
        self.slot = 0           # the prefix's slot in the IPv4 lookup arrays


@final
class NextHop:
    """The next hop shared by prefixes of one length filed by add_unmade and not made into
    Routes yet (FreeBSD's nhop_object, shared by routes likewise): Route's path fields,
    plus where its prefixes are (keys[i] has slot first + i)."""

    __slots__ = ("gateway", "ifp", "ifa", "flags", "mtu", "hopcount", "expire", "weight",
                 "nhidx", "plen", "first", "keys", "made", "paths")

    def __init__(self, plen: int, gateway: int, ifp: Interface | None, ifa: IfAddr | None,
                 flags: int):
        self.plen, self.gateway, self.ifp, self.ifa, self.flags = plen, gateway, ifp, ifa, flags
        self.mtu = self.hopcount = self.expire = self.nhidx = 0
        self.weight = 1
        self.first = 0
        self.keys: list[int] = []
        self.made = 0           # of its prefixes made into Routes
        self.paths = [self]     # what paths_to answers for any of its prefixes


class RouteTable:
    def __init__(self, width: int):
        self.width = width
        self.masks = MASK4 if width == 32 else MASK6
        self._by_len: list[dict[int, list[Route] | Unmade]] = [{} for _ in range(width + 1)]
        self._lens: list[int] = []          # lengths present, longest first
        self.count = 0                      # prefixes
        self.joined = 0                     # paths beyond each prefix's first (multipath)
        self.unmade = 0                     # prefixes without a Route yet (add_unmade)
        self.generation = 0                 # bumped on every change: caches compare it
        # (generation, keys, routes) in walk order
        self._order: tuple[int, Sequence[int], list[Route | NextHop]] | None = None
        # the paths that depend on each interface address, in the order they came: removing
        # an address (or downing its interface) must not scan a million routes.  Lists,
        # extended in bulk by a run; a path that leaves the table or changes address stays
        # listed (stale) until dependents() or a compaction filters it out: taking one path
        # out of a million-entry list would cost more than the whole index saves
        self._by_ifa: dict[IfAddr, list[Route | NextHop]] = {}
        self._indexed = 0                   # entries in those lists
        self._stale = 0                     # ... of which no longer true
        # a slot names a prefix's path list, or an unmade prefix's NextHop
        self._lpm: Dir24[list[Route] | NextHop] | None = Dir24() if width == 32 else None
        # fills of the lookup arrays still to do: [plen, masked keys, first slot, done]
        self._pending: list[list[Any]] = []
        self._arrays = self._lpm            # what lookups read: None while fills are pending
        # IPv6's longest match: every prefix's path list, in a trie (kept in step with _by_len)
        self._lpm6: Lpm6 | None = Lpm6() if width == 128 else None

    def __len__(self) -> int:
        return self.count

    def paths_to(self, addr: int) -> list[Route] | list[NextHop] | None:
        """The paths packets to addr follow (the longest prefix's), or None.  An unmade
        prefix answers its NextHop's one-path list: the path's fields, all a packet needs,
        without making a Route.  (lookup() gives Routes.)"""
        lpm = self._arrays
        if lpm is not None:         # Dir24.lookup, inlined: the data plane's per-packet call
            entry = lpm.tbl24[addr >> 8]
            if entry & GROUP_BIT:
                entry = lpm.tbl8[(entry ^ GROUP_BIT) << 8 | addr & 255]
            paths = lpm.slots[entry or lpm.short[addr >> 24]]
            return paths if type(paths) is not NextHop else paths.paths
        if self._lpm6 is not None:
            return self._lpm6.lookup(addr)
        by_len, masks = self._by_len, self.masks
        for plen in self._lens:
            found = by_len[plen].get(addr & masks[plen])
            if found is not None:
                if type(found) is not Unmade:
                    return found
                assert self._lpm is not None    # (unmade prefixes are IPv4's)
                nexthop = self._lpm.slots[found]
                assert type(nexthop) is NextHop
                return nexthop.paths
        return None

    def lookup(self, addr: int) -> list[Route] | None:
        """The longest prefix covering addr: its path list, Routes (made if need be)."""
        paths = self.paths_to(addr)
        if paths is not None and type(paths[0]) is NextHop:
            plen = paths[0].plen
            return self.exact(addr & self.masks[plen], plen)
        return paths

    def lookup_where(self, addr: int, accept: Callable[[list[Route]], object]
                     ) -> list[Route] | None:
        """Longest match whose paths satisfy accept(paths) (e.g. 'an interface route')."""
        for plen in self._lens:
            paths = self._by_len[plen].get(addr & self.masks[plen])
            if type(paths) is Unmade:
                paths = self._make(paths)
            if paths is not None and accept(paths):
                return paths
        return None

    def exact(self, dst: int, plen: int) -> list[Route] | None:
        paths = self._by_len[plen].get(dst)
        return paths if type(paths) is not Unmade else self._make(paths)

    # Mutations are used through Stack, which records their inverses in the journal.
    def add_path(self, route: Route) -> None:
        if route.ifa is not None:
            self._depends(route, route.ifa)
        table = self._by_len[route.plen]
        paths = table.get(route.dst)
        if type(paths) is Unmade:
            paths = self._make(paths)
        if paths is None:
            if not table:
                self._lens.append(route.plen)
                self._lens.sort(reverse=True)
            paths = table[route.dst] = [route]
            self.count += 1
            if self._lpm is not None:
                route.slot = self._lpm.add(route.dst, route.plen, paths)
            elif self._lpm6 is not None:
                self._lpm6.add(route.dst, route.plen, paths)
        else:
            route.slot = paths[0].slot
            paths.append(route)
            self.joined += 1
        self.generation += 1

    def remove_path(self, route: Route) -> None:
        self.settle()               # (a pending fill must not place it after it went)
        if route.ifa is not None:
            self._went_stale()
        table = self._by_len[route.plen]
        paths = table[route.dst]
        assert type(paths) is list      # (a Route's prefix is made)
        paths.remove(route)
        if paths:
            self.joined -= 1
        else:
            del table[route.dst]
            self.count -= 1
            if not table:
                self._lens.remove(route.plen)
            if self._lpm is not None:
                self._unindex(route.dst, route.plen, route.slot)
            elif self._lpm6 is not None:
                self._lpm6.remove(route.dst, route.plen)
        self.generation += 1

    def add_run(self, routes: list[Route], conflict: Callable[[list[Route], Route], None]
                ) -> None:
        """add_path for each of routes in order.  conflict(paths, route) raises OpError
        when route may not join its prefix's paths; the routes before it stay added and the
        error's .index says which one it was.

        A million-route load is mostly new prefixes, none given twice: then each length's
        routes are filed with one C-level dict update, after checking (also C-level) that
        none is there yet.  Otherwise (a path joining a prefix, a duplicate) they go one by
        one, in order.  Either way the IPv4 lookup arrays are filled at the end, shortest
        prefixes first: each then takes its addresses in one slice, with nothing longer yet
        to step around (a million prefixes in random order would cut the short ones' ranges
        into thousands of pieces); the arrays hold the same whatever the order."""
        by_len = self._by_len
        buckets: list[list[Route]] = [[] for _ in range(self.width + 1)]
        file = [bucket.append for bucket in buckets]
        for route in routes:
            file[route.plen](route)
        staged: list[_Prefixes] = []               # (plen, routes, {dst: paths})
        for plen, bucket in enumerate(buckets):
            if bucket:
                new = dict(zip(map(_DST, bucket), map(list, zip(bucket))))
                if len(new) < len(bucket) or not by_len[plen].keys().isdisjoint(new.keys()):
                    self._add_one_by_one(routes, conflict)
                    return
                staged.append((plen, bucket, new))
        for plen, _, new in staged:
            by_len[plen].update(new)
        self._added(routes, staged)

    def _add_one_by_one(self, routes: list[Route],
                        conflict: Callable[[list[Route], Route], None]) -> None:
        by_len = self._by_len
        file = [bucket.setdefault for bucket in by_len]     # one probe per route
        fresh: list[list[Route]] = [[] for _ in range(self.width + 1)]
        joined: list[Route] = []                    # one more path of a prefix
        route: Route | None = None
        try:
            for route in routes:
                paths = file[route.plen](route.dst, [route])
                if type(paths) is Unmade:
                    paths = self._make(paths)
                if paths[0] is route:               # a new prefix
                    fresh[route.plen].append(route)
                else:
                    conflict(paths, route)
                    paths.append(route)
                    joined.append(route)
            route = None
        except OpError as exc:
            assert route is not None    # (the one refused)
            exc.index = routes.index(route)
            raise
        finally:
            added = routes if route is None else routes[:routes.index(route)]
            # (their entries: the path lists filed above)
            self._added(added, [(plen, bucket, cast("dict[int, list[Route]]",
                                                    {r.dst: by_len[plen][r.dst] for r in bucket}))
                                for plen, bucket in enumerate(fresh) if bucket])
            for made in joined:                     # a prefix's paths share its slot
                made.slot = cast("list[Route]", by_len[made.plen][made.dst])[0].slot
            self.joined += len(joined)

    def _added(self, routes: list[Route], prefixes: list[_Prefixes]) -> None:
        """What follows filing routes, of which prefixes (plen, their first routes,
        {dst: paths}) are new: counts, the dependents index, the lookup arrays."""
        for ifa, group in groupby(routes, _IFA):  # a run's routes mostly share one address
            if ifa is not None:
                deps = self._by_ifa.setdefault(ifa, [])
                before = len(deps)
                deps += group
                self._indexed += len(deps) - before
        self.count += sum(len(new) for _, _, new in prefixes)
        self._relist()
        self.generation += 1
        if self._lpm6 is not None:
            self._lpm6.add_many((dst, plen, paths) for plen, _, new in prefixes
                                for dst, paths in new.items())
        if self._lpm is not None:
            for plen, first_routes, new in prefixes:
                first = self._lpm.reserve(new.values())
                self._fill_later(plen, list(new), first)
                deque(map(setattr, first_routes, repeat("slot"),
                          range(first, first + len(new))), 0)

    def _relist(self) -> None:
        """_lens again, after many prefixes came or went at once."""
        self._lens = [plen for plen in range(self.width, -1, -1) if self._by_len[plen]]

    def _unindex(self, dst: int, plen: int, slot: int) -> None:
        """Take a removed IPv4 prefix out of the lookup arrays, handing its addresses to the
        longest shorter prefix covering it (of length ≥ 8 if it is, see lpm.Dir24)."""
        by_len, masks = self._by_len, self.masks
        lpm = self._lpm
        assert lpm is not None          # (IPv4's)
        for shorter in self._lens:
            if shorter < plen and (shorter >= 8 or plen < 8):
                parent = by_len[shorter].get(dst & masks[shorter])
                if parent is not None:
                    lpm.remove(dst, plen, slot,
                               parent if type(parent) is Unmade else parent[0].slot, shorter)
                    return
        lpm.remove(dst, plen, slot, 0, 0)

    # -- filling the lookup arrays (see the module docstring) ------------------------------
    def _fill_later(self, plen: int, keys: list[int], first: int) -> None:
        self._pending.append([plen, keys, first, 0])
        self._arrays = None

    @property
    def unsettled(self) -> int:
        """Prefixes not in the lookup arrays yet."""
        return sum(len(keys) - done for _, keys, _, done in self._pending)

    def settle(self, budget: int | None = None) -> bool:
        """Do pending fills of the lookup arrays, shortest prefixes first (then each range
        goes in one slice, with nothing longer placed yet to step around); at most budget
        prefixes of /16 or longer, or as many entries as those cover of shorter ones (a /8
        alone covers 65,536: the loop turns stay short); all without a budget.  True once
        none is left."""
        pending, lpm = self._pending, self._lpm
        while pending and (budget is None or budget > 0):
            assert lpm is not None      # (fills are IPv4's)
            fill = min(pending, key=_PLEN)
            plen, keys, first, done = fill
            weight = max(0, 16 - plen)          # log2 of a prefix's cost, counted in /16s
            end = len(keys) if budget is None else \
                min(len(keys), done + max(1, budget >> weight))
            lpm.fill(plen, keys[done:end] if done or end < len(keys) else keys, first + done)
            if budget is not None:
                budget -= (end - done) << weight
            if end == len(keys):
                pending.remove(fill)
            else:
                fill[3] = end
        if not pending:
            self._arrays = self._lpm
        return not pending

    # -- prefixes filed without Route objects (see the module docstring) -------------------
    def add_unmade(self, keys_by_len: list[list[int]], gateway: int, ifp: Interface | None,
                   ifa: IfAddr | None, flags_of: Callable[[int], int]) -> list[NextHop] | None:
        """File new IPv4 prefixes (keys_by_len[plen]: masked destinations) sharing one path,
        flags_of(plen) its flags, without making Routes.  None, changing nothing, if any is
        already present or given twice (the caller then makes Routes: add_run).  Returns
        the NextHops made, for remove_unmade."""
        by_len, lpm = self._by_len, self._lpm
        assert lpm is not None          # (IPv4's)
        lens = [plen for plen, keys in enumerate(keys_by_len) if keys]
        if not all(by_len[plen].keys().isdisjoint(keys_by_len[plen]) for plen in lens):
            return None
        # filed straight into the tables (no dict of the new ones first: a million entries
        # each way); a key given twice shows as fewer entries added, and is taken out again
        base, added = len(lpm.slots), []
        for plen in lens:
            table, keys = by_len[plen], keys_by_len[plen]
            size = len(table)
            table.update(zip(keys, cast("Iterable[Unmade]", range(base, base + len(keys)))))
            added.append(plen)
            if len(table) - size < len(keys):
                for plen in added:
                    deque(map(by_len[plen].pop, keys_by_len[plen], repeat(None)), 0)
                return None
            base += len(keys)
        nexthops = []
        for plen in lens:
            keys = keys_by_len[plen]
            nexthop = NextHop(plen, gateway, ifp, ifa, flags_of(plen))
            nexthop.keys = keys
            nexthop.first = lpm.reserve(repeat(nexthop, len(keys)))
            assert by_len[plen][keys[0]] == nexthop.first     # the slots filed above
            self._fill_later(plen, keys, nexthop.first)
            self.count += len(keys)
            self.unmade += len(keys)
            nexthops.append(nexthop)
        if ifa is not None and nexthops:
            deps = self._by_ifa.setdefault(ifa, [])
            deps += nexthops
            self._indexed += len(nexthops)
        self._relist()
        self.generation += 1
        return nexthops

    def remove_unmade(self, nexthops: list[NextHop]) -> None:
        """Undo add_unmade: its prefixes go, Routes made of them meanwhile too."""
        lpm = self._lpm
        assert lpm is not None          # (IPv4's)
        for nexthop in reversed(nexthops):
            table, plen, first = self._by_len[nexthop.plen], nexthop.plen, nexthop.first
            fill = next((f for f in self._pending if f[1] is nexthop.keys), None)
            if fill is not None and not fill[3]:
                # never placed (a batch failing after it): the keys go, the slots are
                # freed, the arrays never knew them.  (Routes made of them meanwhile are
                # their prefixes' only paths again: what the batch added later is undone.)
                self._pending.remove(fill)
                deque(map(table.__delitem__, nexthop.keys), 0)
                n = len(nexthop.keys)
                self.count -= n
                self.unmade -= n - nexthop.made
                if nexthop.ifa is not None:
                    self._stale += nexthop.made   # their entries among the dependents
                slots = lpm.slots
                if first + n == len(slots):         # the last reserved: undone in order
                    del slots[first:]
                else:
                    slots[first:first + n] = repeat(None, n)
                    lpm.free_slots += range(first, first + n)
                nexthop.keys = []                     # (still listed among dependents)
                continue
            self.settle()
            for i in range(len(nexthop.keys) - 1, -1, -1):
                dst = nexthop.keys[i]
                paths = table.get(dst)
                if type(paths) is Unmade:
                    del table[dst]
                    self.count -= 1
                    self.unmade -= 1
                    self._unindex(dst, plen, first + i)
                elif paths is not None:
                    for route in reversed(paths):
                        self.remove_path(route)
            nexthop.keys = []
        self._relist()
        self.generation += 1

    def _make(self, slot: int) -> list[Route]:
        """The path list of the unmade prefix at slot, made (a representation change: the
        table reads the same, its generation stays)."""
        lpm = self._lpm
        assert lpm is not None          # (unmade prefixes are IPv4's)
        nexthop = lpm.slots[slot]
        assert type(nexthop) is NextHop
        dst = nexthop.keys[slot - nexthop.first]
        route = Route(dst, nexthop.plen, nexthop.gateway, nexthop.ifp, nexthop.ifa, nexthop.flags)
        route.slot = slot
        paths = self._by_len[nexthop.plen][dst] = lpm.slots[slot] = [route]
        self.unmade -= 1
        nexthop.made += 1
        if nexthop.ifa is not None:
            self._depends(route, nexthop.ifa)
        return paths

    def _make_nexthop(self, nexthop: NextHop) -> None:
        assert self._lpm is not None    # (unmade prefixes are IPv4's)
        slots = self._lpm.slots
        for slot in range(nexthop.first, nexthop.first + len(nexthop.keys)):
            if slots[slot] is nexthop:
                self._make(slot)

    def _make_all(self) -> None:
        """Make every unmade prefix (for readers of every path)."""
        if self.unmade:
            assert self._lpm is not None    # (unmade prefixes are IPv4's)
            for nexthop in {s for s in self._lpm.slots if type(s) is NextHop}:
                self._make_nexthop(nexthop)

    def dependents(self, ifa: IfAddr) -> list[Route]:
        """The paths in the table whose next hop depends on the interface address ifa, in
        the order they first came."""
        listed = self._by_ifa.get(ifa)
        if not listed:
            return []
        nexthops = [entry for entry in listed if type(entry) is NextHop]
        for nexthop in nexthops:        # its prefixes made now: each Route is listed itself
            self._make_nexthop(nexthop)
        live: list[Route | NextHop] = [r for r in dict.fromkeys(listed) if type(r) is Route
                                       and r.ifa is ifa and self._holds(r)]
        self._compacted(ifa, listed, live)
        return cast("list[Route]", list(live))     # (Routes only, as filtered)

    def set_ifa(self, route: Route, ifa: IfAddr | None) -> None:
        """Change the address a linked path depends on, keeping the index right."""
        if route.ifa is not None:
            self._went_stale()
        route.ifa = ifa
        if ifa is not None:
            self._depends(route, ifa)

    def _holds(self, route: Route) -> bool:
        paths = self._by_len[route.plen].get(route.dst)
        return type(paths) is list and route in paths

    def _depends(self, route: Route, ifa: IfAddr) -> None:
        self._by_ifa.setdefault(ifa, []).append(route)
        self._indexed += 1

    def _went_stale(self) -> None:
        """One more listed dependent no longer true; past half the index, filter it all."""
        self._stale += 1
        if self._stale > 1024 and 2 * self._stale > self._indexed:
            for ifa, listed in list(self._by_ifa.items()):
                self._compacted(ifa, listed, [r for r in dict.fromkeys(listed)
                                              if (r.keys if type(r) is NextHop
                                                  else r.ifa is ifa and self._holds(r))])
            self._stale = 0

    def _compacted(self, ifa: IfAddr, listed: list[Route | NextHop],
                   live: list[Route | NextHop]) -> None:
        self._indexed -= len(listed) - len(live)
        self._stale = max(0, self._stale - (len(listed) - len(live)))
        if live:
            self._by_ifa[ifa] = live
        else:
            del self._by_ifa[ifa]

    def paths(self) -> Iterator[Route]:
        """Every path, unordered."""
        self._make_all()
        for table in self._by_len:
            for paths in table.values():
                assert type(paths) is list      # (all made above)
                yield from paths

    def _sorted(self, pick: Callable[[Any], object] | None = None
                ) -> tuple[list[int], list[Any]]:
        """(keys, path lists) of every prefix in radix-walk order, or pick(paths) of each
        instead of its path list.  A key is (dst << 8) | (255 - plen): ascending
        destination, and for one destination the more specific prefix first (BSD radix
        keeps duplicate keys most specific first).  While sorting, each key carries its
        prefix's position in its low bits, so the prefixes follow by C-level maps instead of
        a dict probe per prefix (plain ints also sort ~50 times faster than tuples); what is
        picked is picked in table order, where memory is read in sequence."""
        bits = max(self.count, 1).bit_length()
        tagged: list[int] = []
        prefixes: list[Any] = []
        for plen, table in enumerate(self._by_len):
            if table:
                tag = 255 - plen
                tagged += [(dst << 8 | tag) << bits | i for i, dst in enumerate(table,
                                                                              len(prefixes))]
                prefixes += table.values() if pick is None else map(pick, table.values())
        tagged.sort()
        positions = map(((1 << bits) - 1).__and__, tagged)
        return (list(map(int.__rshift__, tagged, repeat(bits))),
                list(map(prefixes.__getitem__, positions)))

    def _nexthop_or_route(self, paths: list[Route] | Unmade) -> Route | NextHop:
        """A prefix's one path, or for an unmade prefix its NextHop (which has the path's
        fields: what a dump reads)."""
        if type(paths) is not Unmade:
            return paths[0]
        assert self._lpm is not None            # (unmade prefixes are IPv4's)
        nexthop = self._lpm.slots[paths]
        assert type(nexthop) is NextHop
        return nexthop

    def walk(self) -> Iterator[list[Route]]:
        """Prefixes (their path lists) in radix-walk order."""
        self._make_all()
        for paths in self._sorted()[1]:
            if paths:           # (emptied by a change made while walking)
                yield paths

    def walk_order(self) -> tuple[Sequence[int], list[Route | NextHop]]:
        """(keys, routes): every path in walk order with its prefix's key, for dumps (an
        unmade prefix's "route" is its NextHop, which has the same path fields).

        Kept until the table changes, so repeated dumps of an unchanged table neither sort
        nor look up again.  IPv4 keys live in a C array: a dump reads destination and length
        from contiguous memory and touches only the Route itself.  A dump being streamed
        while the table changes shows the table as it was when the dump started."""
        order = self._order
        if order is None or order[0] != self.generation:
            keys: Sequence[int]
            routes: list[Route | NextHop]
            if not self.joined:                                 # one path per prefix
                keys, routes = self._sorted(self._nexthop_or_route if self.unmade
                                            else itemgetter(0))
            else:
                self._make_all()
                paired = [(key, route) for key, paths in zip(*self._sorted())
                          for route in paths]
                keys, routes = [k for k, _ in paired], [r for _, r in paired]
            if self.width == 32:
                keys = array("Q", keys)
            order = self._order = (self.generation, keys, routes)
        return order[1], order[2]
