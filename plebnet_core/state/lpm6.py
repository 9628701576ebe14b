"""IPv6 longest-prefix match in a bounded number of steps: a multibit trie of stride 8.

An address is read a byte at a time, most significant first; a lookup visits at most 16
nodes (one per byte) and does one dict probe in each, whatever the table holds -- a /48 table
answers in at most 6.  (A scan over the prefix lengths present, what the route table did
before, costs one probe per length: 20 and more for a realistic table, most of them misses.)

A prefix of length L (1..128) lives in the node of depth d = (L - 1) // 8, the node reached
by its first d bytes, with r = L - 8d (1..8) of its bits inside that node's byte: it covers
2**(8 - r) of the node's 256 slots (controlled prefix expansion: at most 128 slots for a
prefix one bit past a byte boundary, one for a prefix ending on one).  A node is a dict,
byte -> (value, r, child): the value of the longest of the node's prefixes covering that
byte (r its length inside the node, 0 for none) and the child node the byte leads to (None
at the leaves).  Slots are tuples, replaced whole: an expanded prefix's slots share one.
Every prefix is also in `prefixes` ((key, plen) -> value), which a removal reads to give
each slot the next longest prefix back.  The zero-length prefix (a default route) is held
apart.

Costs: lookup ≤ 16 dict probes; add and remove ≤ 16 steps down plus the slots the prefix
covers in its node (≤ 128).  A prefix whose slots are all new is filed with one C-level
dict update: what a bulk load in address order mostly meets (add_many).

    t = Lpm6(); t.add(key, plen, value); t.lookup(addr) -> value | None; t.remove(key, plen)
"""
from __future__ import annotations

import gc
from collections.abc import Iterable
from itertools import repeat
from operator import itemgetter
from typing import Any

# a node: byte -> (value, r, child node or None)
Node = dict[int, tuple[Any, int, Any]]

_KEY, _PLEN = itemgetter(0), itemgetter(1)


def _place(plen: int) -> tuple[int, int, int]:
    """(depth, r, shift of the node's byte) of a prefix length 1..128."""
    depth = (plen - 1) >> 3
    return depth, plen - (depth << 3), 120 - (depth << 3)


class Lpm6:
    """Longest-prefix match over 128-bit int keys (masked to their length)."""

    def __init__(self) -> None:
        self.root: Node = {}
        self.default: Any = None    # the /0's value
        self.prefixes: dict[tuple[int, int], Any] = {}

    def __len__(self) -> int:
        return len(self.prefixes)

    def lookup(self, addr: int) -> Any:
        """The value of the longest prefix covering addr, or None."""
        found = self.default
        node = self.root
        shift = 120
        while True:
            slot = node.get(addr >> shift & 255)
            if slot is None:
                return found
            value, r, node = slot
            if r:
                found = value
            if node is None:
                return found
            shift -= 8

    def get(self, key: int, plen: int) -> Any:
        """The value filed for exactly (key, plen), or None."""
        return self.prefixes.get((key, plen))

    def _path(self, key: int, depth: int, create: bool) -> list[Node] | None:
        """The nodes from the root down to depth on key's path (made if create)."""
        node = self.root
        path: list[Node] = [node]
        shift = 120
        for _ in range(depth):
            byte = key >> shift & 255
            slot = node.get(byte)
            child: Node | None = slot[2] if slot is not None else None
            if child is None:
                if not create:
                    return None
                child = {}
                node[byte] = (None, 0, child) if slot is None else (slot[0], slot[1], child)
            node = child
            path.append(node)
            shift -= 8
        return path

    def add(self, key: int, plen: int, value: Any) -> None:
        """File (key, plen) -> value, replacing the value of a prefix already there."""
        if not 0 <= plen <= 128:
            raise ValueError(f"prefix length {plen}")
        self.prefixes[(key, plen)] = value
        if plen == 0:
            self.default = value
            return
        depth, r, shift = _place(plen)
        path = self._path(key, depth, True)
        assert path is not None
        node = path[-1]
        first = key >> shift & (0xFF00 >> r) & 255
        span = range(first, first + (1 << (8 - r)))
        if node.keys().isdisjoint(span):
            node.update(zip(span, repeat((value, r, None))))
            return
        for byte in span:
            slot = node.get(byte)
            if slot is None:
                node[byte] = (value, r, None)
            elif slot[1] <= r:
                node[byte] = (value, r, slot[2])

    def add_many(self, items: Iterable[tuple[int, int, Any]]) -> None:
        """add() for every (key, plen, value) of items, in address order (a prefix before
        the longer ones it covers): then a prefix's slots are mostly new, the fast case, and
        each prefix walks down only from where its path leaves the previous one's.  The
        cyclic collector is held off meanwhile: the trie makes no cycles, and a full
        collection every few thousand new dicts would cost more than the whole load."""
        ordered = sorted(items, key=_PLEN)
        ordered.sort(key=_KEY)              # stable: equal keys stay shortest first
        prefixes = self.prefixes
        nodes: list[Node] = [self.root] * 17    # nodes[i]: the node after i bytes of prev
        known = 0                               # ... valid up to this depth
        prev = 0
        was = gc.isenabled()
        gc.disable()
        try:
            for key, plen, value in ordered:
                prefixes[(key, plen)] = value
                if plen == 0:
                    self.default = value
                    continue
                depth = (plen - 1) >> 3
                r = plen - (depth << 3)
                start = min((128 - (prev ^ key).bit_length()) >> 3, known, depth)
                node = nodes[start]
                shift = 120 - (start << 3)
                for d in range(start + 1, depth + 1):
                    byte = key >> shift & 255
                    slot = node.get(byte)
                    child = slot[2] if slot is not None else None
                    if child is None:
                        child = {}
                        node[byte] = (None, 0, child) if slot is None else \
                            (slot[0], slot[1], child)
                    node = nodes[d] = child
                    shift -= 8
                known, prev = depth, key
                first = key >> shift & (0xFF00 >> r) & 255
                span = range(first, first + (1 << (8 - r)))
                if node.keys().isdisjoint(span):
                    node.update(zip(span, repeat((value, r, None))))
                    continue
                for byte in span:
                    slot = node.get(byte)
                    if slot is None:
                        node[byte] = (value, r, None)
                    elif slot[1] <= r:
                        node[byte] = (value, r, slot[2])
        finally:
            if was:
                gc.enable()

    def remove(self, key: int, plen: int) -> Any:
        """Take (key, plen) out; its value (KeyError if it is not there)."""
        prefixes = self.prefixes
        value = prefixes.pop((key, plen))
        if plen == 0:
            self.default = None
            return value
        depth, r, shift = _place(plen)
        path = self._path(key, depth, False)
        assert path is not None
        node = path[-1]
        first = key >> shift & (0xFF00 >> r) & 255
        base = key >> (shift + 8) << (shift + 8)        # the node's first `depth` bytes
        for byte in range(first, first + (1 << (8 - r))):
            slot = node[byte]
            if slot[1] != r:
                continue                # a longer prefix of this node covers it
            # the next longest of the node's prefixes covering the byte, if any
            for shorter in range(r - 1, 0, -1):
                held = prefixes.get((base | (byte & (0xFF00 >> shorter) & 255) << shift,
                                     plen - r + shorter), self)
                if held is not self:
                    node[byte] = (held, shorter, slot[2])
                    break
            else:
                if slot[2] is None:
                    del node[byte]
                else:
                    node[byte] = (None, 0, slot[2])
        # unlink nodes left empty, upwards
        while depth and not path[depth]:
            depth -= 1
            parent = path[depth]
            byte = key >> (120 - (depth << 3)) & 255
            value_up, r_up, _ = parent[byte]
            if r_up:
                parent[byte] = (value_up, r_up, None)
            else:
                del parent[byte]
        return value

    def depth(self) -> int:
        """The deepest node's depth (0: the root alone): a lookup's steps are depth + 1."""
        deepest, todo = 0, [(self.root, 0)]
        node: Node
        while todo:
            node, d = todo.pop()
            deepest = max(deepest, d)
            todo.extend((s[2], d + 1) for s in node.values() if s[2] is not None)
        return deepest
