"""What the IP layers share of the routing table: the path to a destination, cached per
destination until the table's generation moves (any route or address change)."""
from __future__ import annotations

ROUTE_CACHE_MAX = 65536         # destinations cached; past that the cache starts over
MISSING = object()


class RouteCache:
    """Mixin for an IP layer with .table (a RouteTable), ._gen, ._cache and its own
    _refresh() (which rebuilds what it derives from addresses and clears the cache)."""

    table: object
    _gen: int
    _cache: dict

    def _refresh(self) -> None:
        raise NotImplementedError

    def route(self, key: int):
        """The path to a table key (a Route, or an unmade prefix's NextHop: the same path
        fields), or None; multipath spread by destination."""
        if self.table.generation != self._gen:
            self._refresh()
        r = self._cache.get(key, MISSING)
        if r is MISSING:
            paths = self.table.paths_to(key)
            r = None if paths is None else paths[0] if len(paths) == 1 else \
                paths[key % len(paths)]
            cache = self._cache
            if len(cache) >= ROUTE_CACHE_MAX:
                cache.clear()
            cache[key] = r
        return r
