"""Routing tables: one per address family, keyed by (destination & mask, prefix length).

Exact matches (adds, deletes, netstat's walk) use one dict per prefix length.  Longest-prefix
match for IPv4 reads the DIR-24-8 arrays of lpm.py: two array reads whether the table holds
ten routes or a million.  IPv6 reads the stride-8 trie of lpm6.py: at most 16 dict probes, one
per address byte, however many lengths the table holds.  Both have one interface (slots
naming path lists; place, fill, repoint, remove), and everything below is the same for both
families.  A multipath (ECMP) prefix holds several Route objects in one list (§6.1).

A route run (routes through a few gateways, of any lengths) is filed without making a
Route per prefix: each prefix's dict entry is the lookup slot of its NextHop, the next hop
it shares with the run's other prefixes of its length through its gateway (FreeBSD's
nhop_object; one per (length, gateway, interface, address, flags), kept by the table).  The
entry is an int, the same int object for all of them: a million prefixes cost their keys
and dict entries, nothing more.  A Route is made from it the first time something asks for
the prefix (an exact match, a change), so the table reads the same either way; dumps read
the NextHop's path fields directly.  See docs/routing.md.

The lookup arrays (the trie, for IPv6) of a run are filled after the run is filed, a slice
at a time by settle() (the stack's loop calls it between other work), shortest prefixes
first: the fills still to do wait in one queue per prefix length, so the next one is found
in constant time.  Until every fill is done, lookups probe the per-length dicts instead:
slower, never wrong.  Changes meanwhile go ahead without waiting: a removal hands back only
the entries its prefix holds (none if it was not placed yet), and once anything changed
behind the queue ("dirty") the remaining fills place each prefix as the dicts then have it,
or not at all if it went.  (FreeBSD likewise rebuilds its DXR lookup structure behind bulk
route changes, fib_algo's delayed sync; its lookups meanwhile use the old structure, ours
the dicts.)
"""
from __future__ import annotations

from array import array
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import groupby, repeat
from operator import attrgetter, itemgetter
from time import perf_counter
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

# _NH: the unmade-prefix paths below run once per churn change, where typing.cast would be a
# Python call each time: they annotate instead and tell mypy that an unmade entry's slot
# (an int, the same type as a path list's slot entry) names a NextHop.

_DST, _IFA = attrgetter("dst"), attrgetter("ifa")
SETTLE_SECONDS = 0.006      # at most this much of a budgeted settle() (one loop turn's share)
SETTLE_PIECE = 2048         # prefixes of /16 (their cost) placed between looks at the clock
WALK_STEP = 8192            # prefixes a dump sorts per loop turn (walk_pieces)
WALK_SPLIT_BITS = 10        # the sorted slices are merged in 2**this parts of the space


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
        self.slot = 0           # the prefix's slot in the lookup arrays (trie)


@final
class NextHop:
    """The next hop shared by unmade prefixes of one length (FreeBSD's nhop_object, shared
    by routes likewise): Route's path fields, its slot in the lookup arrays (which is also
    each of its unmade prefixes' dict entry) and how many unmade prefixes name it."""

    __slots__ = ("gateway", "ifp", "ifa", "flags", "mtu", "hopcount", "expire", "weight",
                 "nhidx", "plen", "slot", "refs", "paths")

    def __init__(self, plen: int, gateway: int, ifp: Interface | None, ifa: IfAddr | None,
                 flags: int):
        self.plen, self.gateway, self.ifp, self.ifa, self.flags = plen, gateway, ifp, ifa, flags
        self.mtu = self.hopcount = self.expire = self.nhidx = 0
        self.weight = 1
        self.slot = 0
        self.refs = 0           # unmade prefixes naming it
        self.paths = [self]     # what paths_to answers for any of its prefixes


# a run's prefixes of one length as filed by add_unmade, for remove_unmade:
# (plen, masked keys, the fill queued for them: [keys, slot or slots, placed so far])
_Filed = tuple[int, list[int], list[Any]]


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
        # an address (or downing its interface) must not scan a million routes.  An ordered
        # set (a dict) per address: a path that leaves the table or changes address leaves
        # it at once, in O(1), so no compaction ever scans the index (a bulk load lists a
        # NextHop per run, not its routes)
        self._by_ifa: dict[IfAddr, dict[Route | NextHop, None]] = {}
        # the longest match: IPv4's arrays or IPv6's trie (one interface); a slot names a
        # prefix's path list, or an unmade prefix's NextHop
        self._lpm: Dir24[list[Route] | NextHop] | Lpm6[list[Route] | NextHop] = \
            Dir24() if width == 32 else Lpm6()
        # fills of the lookup arrays still to do, a queue per prefix length: [masked keys,
        # their slot (one int for all) or slots, how many are placed]
        self._pending: list[deque[list[Any]]] = [deque() for _ in range(width + 1)]
        self._unfilled = 0                  # prefixes in those fills not placed yet
        self._dirty = False                 # the dicts changed behind pending fills
        self._nexthops: dict[tuple[Any, ...], NextHop] = {}   # shared next hops, see NextHop
        self._arrays: Dir24[Any] | None = \
            cast("Dir24[Any]", self._lpm) if width == 32 else None
        self._trie: Lpm6[Any] | None = cast("Lpm6[Any]", self._lpm) if width == 128 else None
        # (what lookups read, by family: None while fills are pending)

    def clear(self) -> None:
        """Empty the table in place: whoever holds it (the data plane) sees the refill."""
        self.__init__(self.width)       # type: ignore[misc]

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
        trie = self._trie
        if trie is not None:
            paths = trie.lookup(addr)
            return paths if type(paths) is not NextHop else paths.paths
        by_len, masks = self._by_len, self.masks
        for plen in self._lens:
            found = by_len[plen].get(addr & masks[plen])
            if found is not None:
                if type(found) is not Unmade:
                    return found
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
                paths = self._make(addr & self.masks[plen], plen, paths)
            if paths is not None and accept(paths):
                return paths
        return None

    def exact(self, dst: int, plen: int) -> list[Route] | None:
        paths = self._by_len[plen].get(dst)
        return paths if type(paths) is not Unmade else self._make(dst, plen, paths)

    def exact_paths(self, dst: int, plen: int) -> list[Route] | list[NextHop] | None:
        """exact() without making anything: an unmade prefix answers its NextHop's list
        (what reads such as RTM_GET need; paths_to likewise for the longest match)."""
        paths = self._by_len[plen].get(dst)
        if type(paths) is not Unmade:
            return paths
        nexthop = self._lpm.slots[paths]
        assert type(nexthop) is NextHop
        return nexthop.paths

    # Mutations are used through Stack, which records their inverses in the journal.
    def add_path(self, route: Route) -> None:
        if route.ifa is not None:
            self._depends(route, route.ifa)
        table = self._by_len[route.plen]
        paths = table.get(route.dst)
        if type(paths) is Unmade:
            paths = self._make(route.dst, route.plen, paths)
        if paths is None:
            if not table:
                self._lens.append(route.plen)
                self._lens.sort(reverse=True)
            paths = table[route.dst] = [route]
            self.count += 1
            route.slot = self._lpm.add(route.dst, route.plen, paths)
        else:
            route.slot = paths[0].slot
            paths.append(route)
            self.joined += 1
        self.generation += 1

    def remove_path(self, route: Route) -> None:
        if self._unfilled:
            self._dirty = True      # (a pending fill must not place it after it went)
        if route.ifa is not None:
            self._undepends(route, route.ifa)
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
            self._unindex(route.dst, route.plen, route.slot)
        self.generation += 1

    def add_run(self, routes: list[Route], conflict: Callable[[list[Route], Route], None]
                ) -> None:
        """add_path for each of routes in order.  conflict(paths, route) raises OpError
        when route may not join its prefix's paths; the routes before it stay added and the
        error's .index says which one it was.

        A million-route load is mostly new prefixes, none given twice: then each length's
        routes are filed with one C-level dict update, after checking (also C-level) that
        none is there yet.  Otherwise (a path joining a prefix, a duplicate) they go one by
        one, in order.  Either way the lookup arrays are filled at the end, shortest
        prefixes first: each then takes its addresses in one slice, with nothing longer yet
        to step around (a million prefixes in random order would cut the short ones' ranges
        into thousands of pieces); the arrays hold the same whatever the order.  So is
        IPv6's trie, a slice at a time likewise."""
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
                    paths = self._make(route.dst, route.plen, paths)
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
                self._by_ifa.setdefault(ifa, {}).update(dict.fromkeys(group))
        self.count += sum(len(new) for _, _, new in prefixes)
        self._relist()
        self.generation += 1
        for plen, first_routes, new in prefixes:
            first = self._lpm.reserve(new.values())
            self._fill_later(plen, list(new), range(first, first + len(new)))
            deque(map(setattr, first_routes, repeat("slot"),
                      range(first, first + len(new))), 0)

    def _relist(self) -> None:
        """_lens again, after many prefixes came or went at once."""
        self._lens = [plen for plen in range(self.width, -1, -1) if self._by_len[plen]]

    def _unindex(self, dst: int, plen: int, slot: int, free: bool = True) -> None:
        """Take a removed prefix out of the lookup arrays, handing its addresses to the
        longest shorter prefix covering it (of length ≥ 8 if it is, for IPv4: see
        lpm.Dir24); free: slot was the prefix's own (not its NextHop's)."""
        by_len, masks = self._by_len, self.masks
        lpm = self._lpm
        arrays = self._arrays           # (None while fills are pending: then not exact)
        if arrays is not None and 8 < plen <= 24:
            found = arrays.parent_of(dst, plen)
            if found is not None:
                lpm.remove(dst, plen, slot, found[0], found[1], free)
                return
        short = lpm.SHORT
        for shorter in self._lens:
            if shorter < plen and (shorter >= short or plen < short):
                parent = by_len[shorter].get(dst & masks[shorter])
                if parent is not None:
                    lpm.remove(dst, plen, slot,
                               parent if type(parent) is Unmade else parent[0].slot, shorter,
                               free)
                    return
        lpm.remove(dst, plen, slot, 0, 0, free)

    # -- filling the lookup arrays (see the module docstring) ------------------------------
    def _fill_later(self, plen: int, keys: list[int], slots: int | Sequence[int]) -> list[Any]:
        fill = [keys, slots, 0]
        self._pending[plen].append(fill)
        self._unfilled += len(keys)
        self._arrays = self._trie = None
        return fill

    @property
    def unsettled(self) -> int:
        """Prefixes not in the lookup arrays yet."""
        return self._unfilled

    def settle(self, budget: int | None = None) -> bool:
        """Do pending fills of the lookup arrays, shortest prefixes first (then each range
        goes in one slice, with nothing longer placed yet to step around); at most budget
        prefixes of /16 or longer, or as many entries as those cover of shorter ones (a /8
        alone covers 65,536: the loop turns stay short), and with a budget no more than
        SETTLE_SECONDS of work (placing prefixes longer than /24 costs far more each); all
        without a budget.  (An IPv6 prefix counts as four /16s whatever its length:
        lpm6.Lpm6.cost.)  True once none is left."""
        pending, lpm = self._pending, self._lpm
        plen = 0
        due = perf_counter() + SETTLE_SECONDS
        cost = lpm.cost
        while self._unfilled and (budget is None or budget > 0 and perf_counter() < due):
            while not pending[plen]:    # the shortest length with a fill (≤ 33 steps)
                plen += 1
            fill = pending[plen][0]
            keys, slots, done = fill
            weight = cost(plen)                 # log2 of a prefix's cost, counted in /16s
            end = len(keys) if budget is None else \
                min(len(keys), done + max(1, min(budget, SETTLE_PIECE) >> weight))
            part = keys[done:end] if done or end < len(keys) else keys
            if type(slots) is not int:
                slots = slots[done:end] if done or end < len(keys) else slots
            if self._dirty:
                part, slots = self._as_filed(plen, part)
            lpm.fill(plen, part, slots)
            if budget is not None:
                budget -= (end - done) << weight
            self._unfilled -= end - done
            if end == len(keys):
                pending[plen].popleft()
            else:
                fill[2] = end
        if not self._unfilled:
            self._settled()
        return not self._unfilled

    def _settled(self) -> None:
        """Every fill done: lookups read the arrays (trie) again."""
        if self.width == 32:
            self._arrays = cast("Dir24[Any]", self._lpm)
        else:
            self._trie = cast("Lpm6[Any]", self._lpm)
        self._dirty = False

    def _as_filed(self, plen: int, keys: list[int]) -> tuple[list[int], list[int]]:
        """keys of a fill still filed, and the slot each names now (changes came behind the
        fill: a prefix may have gone, or been made into a Route with a slot of its own)."""
        table = self._by_len[plen]
        out, slots = [], []
        for key in keys:
            paths = table.get(key)
            if paths is not None:
                out.append(key)
                slots.append(paths if type(paths) is Unmade else paths[0].slot)
        return out, slots

    # -- prefixes filed without Route objects (see the module docstring) -------------------
    def nexthop_of(self, dst: int, plen: int) -> NextHop | None:
        """The NextHop of dst/plen if it is an unmade prefix (nothing is made)."""
        paths = self._by_len[plen].get(dst)
        if type(paths) is not Unmade:
            return None
        nexthop: NextHop = self._lpm.slots[paths]    # type: ignore[assignment]  # _NH
        return nexthop

    def holds(self, dst: int, plen: int) -> bool:
        return dst in self._by_len[plen]

    def add_unmade_one(self, dst: int, plen: int, nexthop: NextHop) -> None:
        """File one new prefix (dst masked) naming nexthop (from nexthop()), placed in
        the lookup arrays at once, as add_path places a Route: a route announced alone costs
        no Route object either."""
        table = self._by_len[plen]
        if not table:
            self._lens.append(plen)
            self._lens.sort(reverse=True)
        table[dst] = nexthop.slot       # type: ignore[assignment]  # _NH
        self._named(nexthop, 1)
        self.count += 1
        self.unmade += 1
        self._lpm.place(dst, plen, nexthop.slot)
        self.generation += 1

    def remove_unmade_one(self, dst: int, plen: int) -> NextHop:
        """Take out the unmade prefix dst/plen (without making it); its NextHop."""
        table = self._by_len[plen]
        slot = table.pop(dst)
        assert type(slot) is Unmade
        nexthop: NextHop = self._lpm.slots[slot]     # type: ignore[assignment]  # _NH
        self._named(nexthop, -1)
        self.count -= 1
        self.unmade -= 1
        if not table:
            self._lens.remove(plen)
        if self._unfilled:
            self._dirty = True          # (a pending fill must not place it after it went)
        self._unindex(dst, plen, slot, free=False)
        self.generation += 1
        return nexthop

    def remove_prefix(self, dst: int, plen: int) -> None:
        """Undo add_unmade_one: the prefix goes, made meanwhile or not."""
        paths = self._by_len[plen][dst]
        if type(paths) is Unmade:
            self.remove_unmade_one(dst, plen)
        else:
            for route in reversed(paths):
                self.remove_path(route)

    def restore_nexthop(self, dst: int, plen: int, nexthop: NextHop) -> None:
        """Undo set_unmade: the prefix's path is nexthop's again, made meanwhile or not."""
        paths = self._by_len[plen][dst]
        if type(paths) is Unmade:
            self.set_unmade(dst, plen, nexthop)
            return
        route = paths[0]
        route.gateway, route.ifp, route.flags = nexthop.gateway, nexthop.ifp, nexthop.flags
        self.set_ifa(route, nexthop.ifa)
        self.generation += 1

    def set_unmade(self, dst: int, plen: int, nexthop: NextHop) -> NextHop:
        """The unmade prefix dst/plen names nexthop from now on (a next-hop change, without
        making it); returns the NextHop it named."""
        table = self._by_len[plen]
        old: NextHop = self._lpm.slots[table[dst]]   # type: ignore[assignment,index]  # _NH
        table[dst] = nexthop.slot       # type: ignore[assignment]  # _NH
        self._named(old, -1)
        self._named(nexthop, 1)
        self._lpm.repoint(dst, plen, nexthop.slot)      # (if placed; else its fill will be)
        if self._unfilled:
            self._dirty = True
        self.generation += 1
        return old

    def _named(self, nexthop: NextHop, change: int) -> None:
        """nexthop names change more (or fewer) unmade prefixes: listed among its address's
        dependents while it names any."""
        if not nexthop.refs and nexthop.ifa is not None:
            self._depends(nexthop, nexthop.ifa)
        nexthop.refs += change
        if not nexthop.refs and nexthop.ifa is not None:
            self._undepends(nexthop, nexthop.ifa)

    def nexthop(self, plen: int, gateway: int, ifp: Interface | None, ifa: IfAddr | None,
                 flags: int) -> NextHop:
        """The shared NextHop of these path fields, made (with a slot) if need be."""
        key = (plen, gateway, ifp, ifa, flags)
        nexthop = self._nexthops.get(key)
        if nexthop is None:
            nexthop = self._nexthops[key] = NextHop(plen, gateway, ifp, ifa, flags)
            nexthop.slot = self._lpm.alloc(nexthop)
        return nexthop

    def add_unmade(self, keys_by_len: list[list[int]], hops_by_len: list[Any],
                   paths: Sequence[tuple[int, Interface | None, IfAddr | None]],
                   flags_of: Callable[[int], int]) -> list[_Filed] | None:
        """File new prefixes without making Routes: keys_by_len[plen] their masked
        destinations, hops_by_len[plen] the index into paths ((gateway, interface, address)
        each) of each one's path, or one index for all of them; flags_of(plen) their flags.
        None, changing nothing, if any is already present or given twice (the caller then
        makes Routes: add_run).  Returns what remove_unmade needs to undo it."""
        by_len = self._by_len
        lens = [plen for plen, keys in enumerate(keys_by_len) if keys]
        # (a length with nothing filed yet, the usual case of a first load, has nothing to
        # check: a million probes saved)
        if not all(not by_len[plen] or by_len[plen].keys().isdisjoint(keys_by_len[plen])
                   for plen in lens):
            return None
        # filed straight into the tables (no dict of the new ones first: a million entries
        # each way); a key given twice shows as fewer entries added, and is taken out again
        filed: list[_Filed] = []
        uses: list[tuple[NextHop, int]] = []
        for plen in lens:
            keys, hops = keys_by_len[plen], hops_by_len[plen]
            flags = flags_of(plen)
            if type(hops) is int:
                nexthop = self.nexthop(plen, *paths[hops], flags)
                slots: int | list[int] = nexthop.slot
                uses.append((nexthop, len(keys)))
                values: Iterable[int] = repeat(nexthop.slot, len(keys))
            else:
                slot_of: list[int] = [0] * len(paths)
                for hop, count in _counts(hops, len(paths)):
                    nexthop = self.nexthop(plen, *paths[hop], flags)
                    slot_of[hop] = nexthop.slot
                    uses.append((nexthop, count))
                slots = values = list(map(slot_of.__getitem__, hops))
            table = by_len[plen]
            size = len(table)
            table.update(zip(keys, cast("Iterable[Unmade]", values)))
            filed.append((plen, keys, [keys, slots, 0]))
            if len(table) - size < len(keys):
                for plen, keys, _ in filed:
                    deque(map(by_len[plen].pop, keys, repeat(None)), 0)
                return None
        for nexthop, count in uses:
            if not nexthop.refs and nexthop.ifa is not None:
                self._depends(nexthop, nexthop.ifa)     # (listed while it names prefixes)
            nexthop.refs += count
        # (remove_unmade finds the fills queued by identity)
        filed = [(plen, keys, self._fill_later(plen, keys, fill[1])) for plen, keys, fill in filed]
        for plen, keys, _ in filed:
            self.count += len(keys)
            self.unmade += len(keys)
        self._relist()
        self.generation += 1
        return filed

    def remove_unmade(self, filed: list[_Filed]) -> None:
        """Undo add_unmade: its prefixes go, Routes made of them meanwhile too.  Shortest
        first: a prefix's addresses then go to a parent that stays."""
        by_len, lpm = self._by_len, self._lpm
        for plen, keys, fill in sorted(filed, key=itemgetter(0)):
            table, queue = by_len[plen], self._pending[plen]
            queued = any(f is fill for f in queue)
            placed = fill[2] if queued else len(keys)
            if queued:
                queue.remove(fill)
                self._unfilled -= len(keys) - placed
            values = list(map(table.pop, keys))
            self.count -= len(keys)
            slots = lpm.slots
            for nexthop, count in Counter(v for v in values if type(v) is Unmade).items():
                held = slots[nexthop]
                assert type(held) is NextHop
                held.refs -= count
                self.unmade -= count
                if not held.refs and held.ifa is not None:
                    self._undepends(held, held.ifa)
            for i, (key, paths) in enumerate(zip(keys, values)):
                if type(paths) is Unmade:
                    # (one never placed holds no entry: only if changes came behind the
                    # fills may another's have been handed to it)
                    if i < placed or self._dirty:
                        self._unindex(key, plen, paths, free=False)
                    continue
                for route in paths:
                    if route.ifa is not None:
                        self._undepends(route, route.ifa)
                self.joined -= len(paths) - 1
                self._unindex(key, plen, paths[0].slot)
        if not self._unfilled:
            self._settled()
        self._relist()
        self.generation += 1

    def _make(self, dst: int, plen: int, slot: int) -> list[Route]:
        """The path list of the unmade prefix dst/plen, whose NextHop is at slot, made (a
        representation change: the table reads the same, its generation stays)."""
        lpm = self._lpm
        nexthop = lpm.slots[slot]
        assert type(nexthop) is NextHop
        route = Route(dst, plen, nexthop.gateway, nexthop.ifp, nexthop.ifa, nexthop.flags)
        paths = self._by_len[plen][dst] = [route]
        route.slot = lpm.alloc(paths)
        lpm.repoint(dst, plen, route.slot)      # (if placed; else its fill will be)
        if self._unfilled:
            self._dirty = True
        self.unmade -= 1
        nexthop.refs -= 1
        if nexthop.ifa is not None:
            if not nexthop.refs:
                self._undepends(nexthop, nexthop.ifa)
            self._depends(route, nexthop.ifa)
        return paths

    def _make_nexthop(self, nexthop: NextHop) -> None:
        if nexthop.refs:
            slot, plen = nexthop.slot, nexthop.plen
            for dst in [dst for dst, paths in self._by_len[plen].items() if paths == slot
                        and type(paths) is Unmade]:
                self._make(dst, plen, slot)

    def _make_all(self) -> None:
        """Make every unmade prefix (for readers of every path)."""
        for nexthop in list(self._nexthops.values()):
            if not self.unmade:
                break
            self._make_nexthop(nexthop)

    def dependents(self, ifa: IfAddr) -> list[Route]:
        """The paths in the table whose next hop depends on the interface address ifa, in
        the order they first came."""
        listed = self._by_ifa.get(ifa)
        if not listed:
            return []
        for nexthop in [entry for entry in listed if type(entry) is NextHop]:
            self._make_nexthop(nexthop)     # its prefixes made now: each Route listed itself
        listed = self._by_ifa.get(ifa, {})
        return [r for r in listed if type(r) is Route]

    def set_ifa(self, route: Route, ifa: IfAddr | None) -> None:
        """Change the address a linked path depends on, keeping the index right."""
        if route.ifa is not None:
            self._undepends(route, route.ifa)
        route.ifa = ifa
        if ifa is not None:
            self._depends(route, ifa)

    def _depends(self, route: Route | NextHop, ifa: IfAddr) -> None:
        self._by_ifa.setdefault(ifa, {})[route] = None

    def _undepends(self, route: Route | NextHop, ifa: IfAddr) -> None:
        listed = self._by_ifa.get(ifa)
        if listed is not None:
            listed.pop(route, None)
            if not listed:
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
        """(keys, routes): every path in walk order with its prefix's key (see _sorted), an
        unmade prefix's "route" being its NextHop (which has the same path fields): what
        walk_pieces() gives, all at once."""
        for _ in self.walk_pieces(1 << 62):
            pass
        order = self._order
        assert order is not None and order[0] == self.generation
        return order[1], order[2]

    def walk_pieces(self, size: int) -> Iterator[tuple[Sequence[int], list[Any]] | None]:
        """(keys, routes) of at most size paths at a time, in walk order, for dumps; None
        after each WALK_STEP prefixes' worth of sorting (the dump's loop turn ends there).

        The table is read in one step at the start (C-level copies of the dicts' keys and
        values): the dump shows the table as it was then, however it changes while the
        dump is streamed.  Sorting goes a slice at a time: each slice's keys (see _sorted:
        ints carrying their prefix's position) sorted alone, then the sorted slices cut at
        the same boundaries of the address space (bisect) and each part of it sorted
        (Timsort merges the presorted pieces).  Kept until the table changes, so repeated
        dumps of an unchanged table neither sort nor look up again; IPv4 keys live in a C
        array."""
        order = self._order
        if order is None or order[0] != self.generation:
            if self.joined:             # multipath: rare, sorted whole (_sorted)
                self._make_all()
                paired = [(key, route) for key, paths in zip(*self._sorted())
                          for route in paths]
                self._keep_order([k for k, _ in paired], [r for _, r in paired])
            else:
                yield from self._walk_sliced(size)
                return
            order = self._order
            assert order is not None
        keys, routes = order[1], order[2]
        for start in range(0, len(keys), size):
            yield keys[start:start + size], routes[start:start + size]

    def _keep_order(self, keys: Sequence[int], routes: list[Any]) -> None:
        if self.width == 32 and type(keys) is not array:
            keys = array("Q", keys)
        self._order = (self.generation, keys, routes)

    def _walk_sliced(self, size: int) -> Iterator[tuple[list[int], list[Any]] | None]:
        """walk_pieces of a table with one path per prefix, sorted a slice at a time."""
        generation = self.generation
        slots = self._lpm.slots
        # copied a length at a time (a million keys: tens of ms), then again at once if the
        # table changed meanwhile, so the walk is of one moment's table
        snapshot: list[tuple[int, list[int], list[Any]]] = []
        copied = 0
        for plen, table in enumerate(self._by_len):
            if table:
                if copied >= WALK_STEP * 8:
                    copied = 0
                    yield None
                snapshot.append((plen, list(table), list(table.values())))
                copied += len(table)
        if self.generation != generation:
            generation = self.generation
            snapshot = [(plen, list(table), list(table.values()))
                        for plen, table in enumerate(self._by_len) if table]
        count = sum(len(keys) for _, keys, _ in snapshot)
        bits = max(count, 1).bit_length()
        runs: list[list[int]] = []
        picked: list[Any] = []
        work = 0
        for plen, keys, values in snapshot:
            tag = 255 - plen
            for start in range(0, len(keys), WALK_STEP):
                part = keys[start:start + WALK_STEP]
                run = [(dst << 8 | tag) << bits | i for i, dst in enumerate(part, len(picked))]
                run.sort()
                runs.append(run)
                # a prefix's first path; its NextHop if unmade; None if its paths went
                # since the snapshot (a path list emptied in place)
                picked += [slots[v] if type(v) is Unmade else (v[0] if v else None)
                           for v in values[start:start + WALK_STEP]]
                work += len(part)
                if work >= WALK_STEP:
                    work = 0
                    yield None
        width_bits = (self.width + 8 + bits)
        mask = (1 << bits) - 1
        cursors = [0] * len(runs)
        # (IPv4 keys kept in a C array, extended part by part: converting a million at the
        # end would take a loop turn of its own)
        all_keys: Any = array("Q") if self.width == 32 else []
        all_routes: list[Any] = []
        parts = 1 << WALK_SPLIT_BITS
        pending_keys: list[int] = []
        pending_routes: list[Any] = []
        for p in range(1, parts + 1):
            bound = p << (width_bits - WALK_SPLIT_BITS)
            merged: list[int] = []
            for r, run in enumerate(runs):
                end = bisect_left(run, bound, cursors[r])
                merged += run[cursors[r]:end]
                cursors[r] = end
            if not merged:
                continue
            merged.sort()
            keys = list(map(int.__rshift__, merged, repeat(bits)))
            routes = list(map(picked.__getitem__, map(mask.__and__, merged)))
            if None in routes:
                keep = [i for i, route in enumerate(routes) if route is not None]
                keys, routes = [keys[i] for i in keep], [routes[i] for i in keep]
            all_keys.extend(keys)
            all_routes += routes
            pending_keys += keys
            pending_routes += routes
            while len(pending_keys) >= size:
                yield pending_keys[:size], pending_routes[:size]
                del pending_keys[:size], pending_routes[:size]
            work += len(merged)
            if work >= WALK_STEP // 2:
                work = 0
                yield None
        if pending_keys:
            yield pending_keys, pending_routes
        if self.generation == generation:
            self._keep_order(all_keys, all_routes)
        # the sorted runs hold an int per prefix: freed a slice per turn, not all at once
        # when the walk ends
        while runs:
            del runs[-WALK_STEP // 512:]
            yield None


def _counts(hops: Sequence[int], n: int) -> Iterable[tuple[int, int]]:
    """(index, how many) of each next-hop index (0..n-1) in hops.  With a few next hops
    (an edge router's), counted over their bytes, one C count per next hop: three times
    a Counter's speed (a dict probe per row), which wins from about a dozen on."""
    if n > 8:
        return Counter(hops).items()
    row_bytes = hops if type(hops) is bytes else bytes(hops)
    return [(hop, c) for hop in range(n) if (c := row_bytes.count(hop))]
