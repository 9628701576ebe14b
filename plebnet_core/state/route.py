"""Routing tables: one per address family, keyed by (destination & mask, prefix length).

Longest-prefix match probes one dict per prefix length, longest first.  For IPv4 a table of
/16 blocks (DIR-16, as in DIR-24-8) keeps that short and local: each block holds its own small
dict of the prefixes ≥ /16 inside it with the lengths present, and remembers the longest
shorter prefix covering it as its fallback.  A lookup among a million routes then makes one
probe into a big dict (the block) and a few into a small one, where probing a million-entry
dict per length would miss the CPU cache every time.  IPv6 probes every length present.  A multipath (ECMP) prefix holds several Route objects in one list (§6.1).
"""
from __future__ import annotations

from array import array

from .inet import MASK4, MASK6


class Route:
    """One path of a prefix.  gateway is an int address when RTF_GATEWAY is set, otherwise the
    index of the interface named by the link-level gateway (netstat's link#N)."""

    __slots__ = ("dst", "plen", "gateway", "ifp", "ifa", "flags", "mtu", "hopcount", "expire",
                 "weight", "nhidx")

    def __init__(self, dst, plen, gateway, ifp, ifa, flags, mtu=0, hopcount=0, expire=0,
                 weight=1):
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


class Block:
    """The prefixes of length ≥ 16 inside one IPv4 /16 block, keyed (dst << 6 | plen)."""

    __slots__ = ("prefixes", "lens", "counts")

    def __init__(self):
        self.prefixes: dict[int, list[Route]] = {}
        self.lens: list[int] = []           # lengths present, longest first
        self.counts: dict[int, int] = {}    # prefixes per length

    def add(self, dst: int, plen: int, paths: list[Route]) -> None:
        self.prefixes[dst << 6 | plen] = paths
        n = self.counts.get(plen, 0)
        self.counts[plen] = n + 1
        if not n:
            self.lens.append(plen)
            self.lens.sort(reverse=True)

    def remove(self, dst: int, plen: int) -> bool:
        """Forget a prefix; True when the block is now empty."""
        del self.prefixes[dst << 6 | plen]
        self.counts[plen] -= 1
        if not self.counts[plen]:
            del self.counts[plen]
            self.lens.remove(plen)
        return not self.prefixes


class RouteTable:
    def __init__(self, width: int):
        self.width = width
        self.masks = MASK4 if width == 32 else MASK6
        self._by_len: list[dict[int, list[Route]]] = [{} for _ in range(width + 1)]
        self._lens: list[int] = []          # lengths present, longest first
        self.count = 0                      # prefixes
        self.generation = 0                 # bumped on every change: caches compare it
        self._order: tuple | None = None    # (generation, keys, routes) in walk order
        # the paths that depend on each interface address, in the order they came: removing
        # an address (or downing its interface) must not scan a million routes
        self._by_ifa: dict = {}
        # IPv4 /16 blocks: block -> Block for the prefixes >= /16 inside it; block -> paths
        # of the longest prefix shorter than /16 covering the block
        self._blocked = width == 32
        self._blocks: dict[int, Block] = {}
        self._fallback: dict[int, list[Route]] = {}

    def __len__(self) -> int:
        return self.count

    def lookup(self, addr: int) -> list[Route] | None:
        by_len, masks = self._by_len, self.masks
        if self._blocked:
            block = self._blocks.get(addr >> 16)
            if block is not None:
                prefixes = block.prefixes
                for plen in block.lens:
                    paths = prefixes.get((addr & masks[plen]) << 6 | plen)
                    if paths is not None:
                        return paths
            return self._fallback.get(addr >> 16)
        for plen in self._lens:
            paths = by_len[plen].get(addr & masks[plen])
            if paths is not None:
                return paths
        return None

    def lookup_where(self, addr: int, accept) -> list[Route] | None:
        """Longest match whose paths satisfy accept(paths) (e.g. 'an interface route')."""
        for plen in self._lens:
            paths = self._by_len[plen].get(addr & self.masks[plen])
            if paths is not None and accept(paths):
                return paths
        return None

    def exact(self, dst: int, plen: int) -> list[Route] | None:
        return self._by_len[plen].get(dst)

    # Mutations are used through Stack, which records their inverses in the journal.
    def add_path(self, route: Route) -> None:
        if route.ifa is not None:
            self._by_ifa.setdefault(route.ifa, {})[route] = None
        table = self._by_len[route.plen]
        paths = table.get(route.dst)
        if paths is None:
            if not table:
                self._lens.append(route.plen)
                self._lens.sort(reverse=True)
            paths = table[route.dst] = [route]
            self.count += 1
            if self._blocked:
                self._index_prefix(route.dst, route.plen, paths)
        else:
            paths.append(route)
        self.generation += 1

    def remove_path(self, route: Route) -> None:
        if route.ifa is not None:
            self._forget_dependent(route)
        table = self._by_len[route.plen]
        paths = table[route.dst]
        paths.remove(route)
        if not paths:
            del table[route.dst]
            self.count -= 1
            if not table:
                self._lens.remove(route.plen)
            if self._blocked:
                self._unindex_prefix(route.dst, route.plen, paths)
        self.generation += 1

    # -- the /16 block index (IPv4) ------------------------------------------------------------
    def _index_prefix(self, dst: int, plen: int, paths: list[Route]) -> None:
        if plen >= 16:
            block = self._blocks.get(dst >> 16)
            if block is None:
                block = self._blocks[dst >> 16] = Block()
            block.add(dst, plen, paths)
            return
        fallback = self._fallback
        first = dst >> 16
        for block in range(first, first + (1 << (16 - plen))):
            current = fallback.get(block)
            if current is None or current[0].plen < plen:
                fallback[block] = paths

    def _unindex_prefix(self, dst: int, plen: int, paths: list[Route]) -> None:
        if plen >= 16:
            block = self._blocks[dst >> 16]
            if block.remove(dst, plen):
                del self._blocks[dst >> 16]
            return
        fallback, by_len, masks = self._fallback, self._by_len, self.masks
        first = dst >> 16
        for block in range(first, first + (1 << (16 - plen))):
            if fallback.get(block) is paths:
                base = block << 16
                for shorter in range(plen - 1, -1, -1):
                    found = by_len[shorter].get(base & masks[shorter])
                    if found:
                        fallback[block] = found
                        break
                else:
                    del fallback[block]

    def dependents(self, ifa) -> list[Route]:
        """The paths whose next hop depends on the interface address ifa."""
        return list(self._by_ifa.get(ifa, ()))

    def set_ifa(self, route: Route, ifa) -> None:
        """Change the address a linked path depends on, keeping the index right."""
        if route.ifa is not None:
            self._forget_dependent(route)
        route.ifa = ifa
        if ifa is not None:
            self._by_ifa.setdefault(ifa, {})[route] = None

    def _forget_dependent(self, route: Route) -> None:
        deps = self._by_ifa[route.ifa]
        del deps[route]
        if not deps:
            del self._by_ifa[route.ifa]

    def paths(self):
        """Every path, unordered."""
        for table in self._by_len:
            for paths in table.values():
                yield from paths

    def _sorted_keys(self) -> list[int]:
        """Walk-order keys (dst << 8) | (255 - plen): ascending destination, and for one
        destination the more specific prefix first (BSD radix keeps duplicate keys most
        specific first).  Plain ints sort ~50 times faster than tuples."""
        keys: list[int] = []
        for plen, table in enumerate(self._by_len):
            if table:
                tag = 255 - plen
                keys += [(dst << 8) | tag for dst in table]
        keys.sort()
        return keys

    def walk(self):
        """Prefixes (their path lists) in radix-walk order."""
        by_len = self._by_len
        for key in self._sorted_keys():
            paths = by_len[255 - (key & 255)].get(key >> 8)
            if paths:
                yield paths

    def walk_order(self):
        """(keys, routes): every path in walk order with its prefix's key, for dumps.

        Kept until the table changes, so repeated dumps of an unchanged table neither sort
        nor look up again.  IPv4 keys live in a C array: a dump reads destination and length
        from contiguous memory and touches only the Route itself.  A dump being streamed
        while the table changes shows the table as it was when the dump started."""
        order = self._order
        if order is None or order[0] != self.generation:
            by_len = self._by_len
            keys = array("Q") if self.width == 32 else []
            routes: list[Route] = []
            add_key, add_route = keys.append, routes.append
            for key in self._sorted_keys():
                paths = by_len[255 - (key & 255)][key >> 8]
                for route in paths:
                    add_key(key)
                    add_route(route)
            order = self._order = (self.generation, keys, routes)
        return order[1], order[2]
