"""IPv6 longest-prefix match in a bounded number of steps: a multibit trie of stride 8, with
the interface of IPv4's Dir24 (lpm.py), so that the route table files, fills in slices,
repoints and removes prefixes of both families by one mechanism (route.py).

An address is read a byte at a time, most significant first; a lookup visits at most 16
nodes (one per byte) and does one dict probe in each, whatever the table holds -- a /48 table
answers in at most 6.  (A scan over the prefix lengths present, what the route table does
while fills are pending, costs one probe per length: 20 and more for a realistic table.)

Every prefix gets a slot (an index into `slots`, where its path list lives; 0 is "no
route"), as in Dir24.  A prefix of length L (1..128) lives in the node of depth
d = (L - 1) // 8, the node reached by its first d bytes, with r = L - 8d (1..8) of its bits
inside that node's byte: it covers 2**(8 - r) of the node's 256 entries (controlled prefix
expansion: at most 128 entries for a prefix one bit past a byte boundary, one for a prefix
ending on one).  A node is a dict, byte -> entry: a positive int, slot << 4 | r, for the
longest of the node's prefixes covering that byte (r its length inside the node), or, where
longer prefixes go on below, a negative int: -(own << 32 | index), own being that same
entry for the byte (0 for none) and index the child node's in `nodes`.  So nodes hold ints
only: no tuple per entry, no reference to another container, and the cyclic collector never
tracks them (a 200,000-prefix trie is some 400,000 nodes: a collection that scanned them
would stall the stack for tens of milliseconds); a lookup reads one dict and one list item
per byte.  The zero-length prefix (a default route) is held apart.

The trie keeps no list of its prefixes: the table knows them.  Placing a prefix overwrites
the entries of its span that name a prefix no longer than it (so fills of any order give
the same trie, and placing a prefix again is harmless); removing one hands the entries it
holds (those of its length in its span: prefixes of one length are disjoint) to the parent
the table names, the longest shorter prefix covering it, when that one lives in the same
node, else empties them (the lookup then keeps what the nodes above it found).

Costs: lookup ≤ 16 dict probes; place, repoint and remove ≤ 16 steps down plus the entries
the prefix covers in its node (≤ 128): constant, whatever the table's size.

    t = Lpm6(); slot = t.add(key, plen, paths); t.lookup(addr) -> paths | None
    t.remove(key, plen, slot, parent_slot, parent_plen)
"""
from __future__ import annotations

from collections.abc import Iterable
from itertools import repeat
from typing import TypeVar

from .lpm import Slots

P = TypeVar("P")        # what a slot names: the prefix's path list (route.py's)
# a node: byte -> slot << 4 | r, or -(own entry << 32 | index of the child node)
Node = dict[int, int]
LOW = (1 << 32) - 1


def _place(plen: int) -> tuple[int, int, int]:
    """(depth, r, shift of the node's byte) of a prefix length 1..128."""
    depth = (plen - 1) >> 3
    return depth, plen - (depth << 3), 120 - (depth << 3)


class Lpm6(Slots[P]):
    """Longest-prefix match over 128-bit int keys (masked to their length)."""

    __slots__ = ("root", "nodes", "free_nodes", "default")

    # a removed prefix's parent may be of any shorter length (Dir24 keeps those under /8
    # apart: see RouteTable._unindex)
    SHORT = 0

    def __init__(self) -> None:
        super().__init__()
        self.root: Node = {}
        self.nodes: list[Node | None] = [self.root]    # index -> node; 0 is the root
        self.free_nodes: list[int] = []
        self.default = 0                        # the /0's slot, 0: none placed

    @staticmethod
    def cost(plen: int) -> int:
        """log2 of placing one prefix of this length, counted as RouteTable.settle counts
        (in IPv4 /16s, a slice assignment each): every prefix here is a few dict steps down
        and ≤ 128 entries, some 4 times a /16's time whatever its length."""
        return 2

    def lookup(self, addr: int) -> P | None:
        """The path list of the longest prefix covering addr, or None."""
        found = self.default
        nodes = self.nodes
        node = self.root
        shift = 120
        while True:
            entry = node.get(addr >> shift & 255)
            if entry is None:
                break
            if entry > 0:
                found = entry >> 4
                break
            entry = -entry
            # (a child's node is never None)
            node = nodes[entry & LOW]   # type: ignore[assignment]
            if entry >> 32:
                found = entry >> 36
            shift -= 8
        return self.slots[found]

    # -- changes ---------------------------------------------------------------------------
    def place(self, dst: int, plen: int, slot: int) -> None:
        """Place one prefix (dst masked) naming slot."""
        self._place(dst, plen, slot)

    def fill(self, plen: int, dsts: list[int], slots: int | list[int]) -> None:
        """Place prefixes of one length (dsts masked), naming slots (one slot for all, or
        one per prefix): place() for many, the length's arithmetic done once."""
        if plen == 0:
            if dsts:
                self.default = slots if isinstance(slots, int) else slots[-1]
            return
        each: Iterable[int] = repeat(slots) if isinstance(slots, int) else slots
        depth, r, shift = _place(plen)
        span = 1 << (8 - r)
        high = 0xFF00 >> r & 255
        root, nodes, free = self.root, self.nodes, self.free_nodes
        for dst, slot in zip(dsts, each):
            node = root
            s = 120
            for _ in range(depth):
                byte = dst >> s & 255
                entry = node.get(byte)
                if entry is None or entry > 0:  # none, or a prefix ending here: go on below
                    child: Node = {}
                    if free:
                        index = free.pop()
                        nodes[index] = child
                    else:
                        index = len(nodes)
                        nodes.append(child)
                    node[byte] = -((entry or 0) << 32 | index)
                    node = child
                else:
                    node = nodes[-entry & LOW]  # type: ignore[assignment]
                s -= 8
            first = dst >> shift & high
            value = slot << 4 | r
            if span == 1:
                if first in node:
                    self._take(node, first, r, value)
                else:
                    node[first] = value
                continue
            bytes_ = range(first, first + span)
            if node.keys().isdisjoint(bytes_):
                node.update(zip(bytes_, repeat(value)))
                continue
            for byte in bytes_:
                self._take(node, byte, r, value)

    def _take(self, node: Node, byte: int, r: int, value: int) -> None:
        """The entry of byte in node is value (of length r inside the node), unless a
        longer prefix of the node holds it."""
        entry = node.get(byte)
        if entry is None or 0 < entry and entry & 15 <= r:
            node[byte] = value
        elif entry < 0 and -entry >> 32 & 15 <= r:
            node[byte] = -(value << 32 | -entry & LOW)

    def _place(self, dst: int, plen: int, slot: int) -> None:
        self.fill(plen, [dst], slot)

    def repoint(self, dst: int, plen: int, slot: int) -> None:
        """The entries a placed prefix holds now name slot (nothing if it is not placed)."""
        if plen == 0:
            if self.default:
                self.default = slot
            return
        depth, r, shift = _place(plen)
        path = self._path(dst, depth)
        if path is not None:
            self._hand(path[-1], dst >> shift & (0xFF00 >> r) & 255, r, slot << 4 | r, False)

    def remove(self, dst: int, plen: int, slot: int, parent: int, parent_plen: int,
               free: bool = True) -> None:
        """Unindex a prefix: the entries it held go to parent (the slot of the longest
        shorter prefix covering it, 0 for none) of length parent_plen.  free: the slot is
        the prefix's own (not a next hop's that others share), free it.  A prefix never
        placed (its fill still pending) holds no entry: nothing changes but the slot."""
        if free:
            self.free(slot)
        if plen == 0:
            self.default = 0
            return
        depth, r, shift = _place(plen)
        path = self._path(dst, depth)
        if path is None:
            return
        # the parent's length inside this node, if it lives here: else its entries empty
        up = parent_plen - (depth << 3) if parent and parent_plen > depth << 3 else 0
        self._hand(path[-1], dst >> shift & (0xFF00 >> r) & 255, r,
                   parent << 4 | up if up else 0, True)
        # unlink nodes left empty, upwards (their byte keeps its own entry)
        while depth and not path[depth]:
            depth -= 1
            above = path[depth]
            byte = dst >> (120 - (depth << 3)) & 255
            entry = -above[byte]
            self.nodes[entry & LOW] = None
            self.free_nodes.append(entry & LOW)
            if entry >> 32:
                above[byte] = entry >> 32
            else:
                del above[byte]

    def _hand(self, node: Node, first: int, r: int, value: int, drop: bool) -> None:
        """The entries of node from first on that a prefix of length r inside the node
        holds (2**(8 - r) of them) now hold value; drop: value 0 empties them."""
        for byte in range(first, first + (1 << (8 - r))):
            entry = node.get(byte)
            if entry is None:
                continue
            if entry > 0:
                if entry & 15 == r:         # (else a longer prefix of this node holds it)
                    if value or not drop:
                        node[byte] = value
                    else:
                        del node[byte]
            elif -entry >> 32 & 15 == r:
                node[byte] = -(value << 32 | -entry & LOW)

    # -- the mechanics ---------------------------------------------------------------------
    def _path(self, key: int, depth: int) -> list[Node] | None:
        """The nodes from the root down to depth on key's path, or None if one is missing."""
        node = self.root
        path: list[Node] = [node]
        shift = 120
        for _ in range(depth):
            entry = node.get(key >> shift & 255)
            if entry is None or entry > 0:
                return None
            child = self.nodes[-entry & LOW]
            assert child is not None
            node = child
            path.append(node)
            shift -= 8
        return path

    def depth(self) -> int:
        """The deepest node's depth (0: the root alone): a lookup's steps are depth + 1."""
        deepest, todo = 0, [(self.root, 0)]
        node: Node
        while todo:
            node, d = todo.pop()
            deepest = max(deepest, d)
            todo.extend((self.nodes[-e & LOW], d + 1) for e in node.values()  # type: ignore
                        if e < 0)
        return deepest
