"""Routing tables: one per address family, keyed by (destination & mask, prefix length).

Longest-prefix match walks the prefix lengths present in the table, longest first, with one
dict probe each: the cost depends on how many distinct lengths exist (at most 33 for IPv4), not
on how many routes, so a lookup among a million routes costs about what it costs among ten.
A multipath (ECMP) prefix holds several Route objects in one list (spec §6.1).
"""
from __future__ import annotations

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


class RouteTable:
    def __init__(self, width: int):
        self.width = width
        self.masks = MASK4 if width == 32 else MASK6
        self._by_len: list[dict[int, list[Route]]] = [{} for _ in range(width + 1)]
        self._lens: list[int] = []          # lengths present, longest first
        self.count = 0                      # prefixes
        self.generation = 0                 # bumped on every change: caches compare it
        self._order: tuple | None = None    # (generation, keys, path lists) in walk order

    def __len__(self) -> int:
        return self.count

    def lookup(self, addr: int) -> list[Route] | None:
        by_len, masks = self._by_len, self.masks
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
        table = self._by_len[route.plen]
        paths = table.get(route.dst)
        if paths is None:
            if not table:
                self._lens.append(route.plen)
                self._lens.sort(reverse=True)
            table[route.dst] = [route]
            self.count += 1
        else:
            paths.append(route)
        self.generation += 1

    def remove_path(self, route: Route) -> None:
        table = self._by_len[route.plen]
        paths = table[route.dst]
        paths.remove(route)
        if not paths:
            del table[route.dst]
            self.count -= 1
            if not table:
                self._lens.remove(route.plen)
        self.generation += 1

    def paths(self):
        """Every path, unordered."""
        for table in self._by_len:
            for paths in table.values():
                yield from paths

    def walk_order(self) -> tuple[list[int], list[list[Route]]]:
        """(keys, path lists) in radix-walk order: ascending destination; for one destination
        the more specific prefix first (BSD radix keeps duplicate keys most-specific first).
        A key is (dst << 8) | (255 - plen).

        Plain int keys sort ~50 times faster than tuples.  Both lists are kept until the
        table changes, so repeated dumps of an unchanged table neither sort nor look up again;
        a dump reads destination and length from the keys (contiguous) rather than from each
        scattered Route.  A prefix removed while a dump is streamed leaves an empty list."""
        order = self._order
        if order is None or order[0] != self.generation:
            keys: list[int] = []
            for plen, table in enumerate(self._by_len):
                if table:
                    tag = 255 - plen
                    keys += [(dst << 8) | tag for dst in table]
            keys.sort()
            by_len = self._by_len
            order = self._order = (self.generation, keys,
                                   [by_len[255 - (k & 255)][k >> 8] for k in keys])
        return order[1], order[2]

    def walk(self):
        """Prefixes (their path lists) in radix-walk order (see walk_order)."""
        for paths in self.walk_order()[1]:
            if paths:
                yield paths
