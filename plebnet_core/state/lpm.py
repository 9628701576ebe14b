"""IPv4 longest-prefix match in two array reads, whatever the table's size (DIR-24-8, as in
DPDK's rte_lpm; FreeBSD's DXR answers the same need).

Every prefix gets a slot (an index into `slots`, where its path list lives).  `tbl24` has an
entry per /24: the slot of the longest prefix of length 8..24 covering it, or GROUP_BIT | g
when longer prefixes exist inside that /24, whose 256 addresses then have their own entries
in group g of `tbl8`.  Prefixes shorter than /8 (a default route among them) live in `short`,
one entry per /8, consulted when the tables say 0 (no match of length ≥ 8): a default route
then costs 256 entries, not 16 million.  Next to every table a depth array holds plen + 1 of
the prefix each entry names (0: none, GROUP_DEPTH: a group), so that adding a prefix
overwrites only the entries it is longer than, and removing one hands back exactly the
entries it held to the prefix it covered.

Range updates are slice assignments found by C-level scans of the depth bytes: a /8 among a
million routes moves 65,536 entries without a Python loop over them.  tbl24 (64 MiB) and its
depths (16 MiB) are anonymous mappings: pages nobody wrote read as the kernel's zero page, so
a small table costs little memory.
"""
from __future__ import annotations

import mmap
import re
from array import array
from collections import deque
from collections.abc import Iterable
from itertools import repeat
from typing import Generic, TypeVar

GROUP_BIT = 1 << 31
GROUP_DEPTH = 0xFF
_ZERO_RUNS = re.compile(rb"\x00+")
P = TypeVar("P")        # what a slot names: the prefix's path list (route.py's)


# bytes.translate tables, per depth d: 0 marks the entries an update may change, 1 the
# others (a group, GROUP_DEPTH, is never changed directly)
_SHALLOWER = [bytes(d) + b"\x01" * (256 - d) for d in range(34)]   # an added /d-1 takes these
_HELD = [b"\x01" * d + b"\x00" + b"\x01" * (255 - d) for d in range(34)]  # a removed one's
# per depth d: a translate table raising every byte to at least d (a block's deepest)
_AT_LEAST = [bytes((d,)) * d + bytes(range(d, 256)) for d in range(34)]
# per length p: a translate table marking depths 0..p (no prefix, or one shorter than a /p)
# as depth + 1, deeper ones as 0 (Dir24.parent_of)
_SEEN = [bytes(range(1, p + 2)) + bytes(255 - p) for p in range(33)]
# the depths of a /16 ... /24 (depth 17 ... 25): what _range24's fast path writes
_FILLS = {d: bytes((d,)) * (1 << (25 - d)) for d in range(17, 26)}


class Slots(Generic[P]):
    """What both longest-match structures share (Dir24 here, lpm6.Lpm6): the slots that their
    entries name, each a prefix's path list (route.py's) or a next hop's; 0 is "no route"."""

    __slots__ = ("slots", "free_slots")

    def __init__(self) -> None:
        self.slots: list[P | None] = [None]
        self.free_slots: list[int] = []

    def add(self, dst: int, plen: int, paths: P) -> int:
        """Index a new prefix (dst masked); returns its slot."""
        slot = self.alloc(paths)
        self.place(dst, plen, slot)
        return slot

    def reserve(self, paths: Iterable[P]) -> int:
        """Slots for new prefixes (their path lists), consecutive: returns the first.  The
        prefixes are found only once fill() has placed them."""
        first = len(self.slots)
        self.slots += paths
        return first

    def alloc(self, paths: P) -> int:
        """A slot naming paths, not placed anywhere yet (see repoint, fill)."""
        if self.free_slots:
            slot = self.free_slots.pop()
            self.slots[slot] = paths
            return slot
        self.slots.append(paths)
        return len(self.slots) - 1

    def free(self, slot: int) -> None:
        self.slots[slot] = None
        self.free_slots.append(slot)

    def place(self, dst: int, plen: int, slot: int) -> None:
        raise NotImplementedError


class Dir24(Slots[P]):
    __slots__ = ("tbl24", "dep24", "deepest", "tbl8", "dep8", "group_prefixes", "free_groups",
                 "short", "short_dep")

    # prefixes shorter than this live apart (`short`): a removed prefix's parent is one of
    # its own kind (RouteTable._unindex)
    SHORT = 8

    @staticmethod
    def cost(plen: int) -> int:
        """log2 of placing one prefix of this length, in /16s (a /8 moves 65,536 tbl24
        entries): how RouteTable.settle counts its budget."""
        return max(0, 16 - plen)

    def __init__(self) -> None:
        super().__init__()
        self.tbl24 = memoryview(mmap.mmap(-1, 4 << 24)).cast("I")
        self.dep24 = mmap.mmap(-1, 1 << 24)
        # per /16 block of tbl24, at least the deepest depth in it (a group counts as 26);
        # not lowered on removal, so only ever an upper bound
        self.deepest = bytearray(1 << 16)
        self.tbl8 = array("I")
        self.dep8 = bytearray()
        self.group_prefixes: list[int] = []     # prefixes longer than /24 in each group
        self.free_groups: list[int] = []
        self.short = [0] * 256                  # per /8: slot of the longest prefix < /8
        self.short_dep = bytearray(256)

    def lookup(self, addr: int) -> P | None:
        """The path list of the longest prefix covering addr, or None."""
        entry = self.tbl24[addr >> 8]
        if entry & GROUP_BIT:
            entry = self.tbl8[(entry ^ GROUP_BIT) << 8 | addr & 255]
        return self.slots[entry or self.short[addr >> 24]]

    # -- changes ---------------------------------------------------------------------------
    def fill(self, plen: int, dsts: list[int], slots: int | list[int]) -> None:
        """Place prefixes of one length (dsts masked), naming slots (one slot for all, or
        one per prefix): add() for many, with the common cases done in C-level maps and
        slices.  Any order of fills gives the same arrays: an entry takes a prefix only if
        it is longer than the one the entry names."""
        tbl24, dep24, deepest, place = self.tbl24, self.dep24, self.deepest, self._place
        each: Iterable[int] = repeat(slots) if isinstance(slots, int) else slots
        if plen == 24 and dsts:
            # when no /16 block of these holds anything deeper than a /24 (no group: the
            # usual case, fills going shortest first), each prefix is one entry, set by
            # C-level maps rather than a Python step for each of 600,000; checked per
            # block (a few thousand), not per entry
            blocks = set(map(int.__rshift__, dsts, repeat(16)))
            if max(map(deepest.__getitem__, blocks)) <= 25:
                indexes = list(map(int.__rshift__, dsts, repeat(8)))
                deque(map(tbl24.__setitem__, indexes, each), 0)
                deque(map(dep24.__setitem__, indexes, repeat(25)), 0)
                deque(map(deepest.__setitem__, blocks, repeat(25)), 0)
            else:
                for slot, dst in zip(each, dsts):
                    place(dst, 24, slot)
        elif 16 <= plen < 24:
            depth, n = plen + 1, 1 << (24 - plen)
            depths = _FILLS[depth]
            if isinstance(slots, int):
                fills = {slots: array("I", (slots,)) * n}
            else:       # (one array of the entries per next hop, not one per prefix)
                fills = {slot: array("I", (slot,)) * n for slot in set(slots)}
            for slot, dst in zip(each, dsts):           # _range24's fast path, inline
                index = dst >> 8
                if deepest[index >> 8] <= depth:
                    tbl24[index:index + n] = fills[slot]
                    dep24[index:index + n] = depths
                    deepest[index >> 8] = depth
                else:
                    place(dst, plen, slot)
        else:
            for slot, dst in zip(each, dsts):
                place(dst, plen, slot)

    def _owns(self, index: int, n: int, depth: int) -> bool:
        """Whether the n tbl24 entries from index all hold the prefix of that depth (nothing
        longer inside it): one comparison of their depths, and they can be rewritten whole
        (repoint, remove) where _range24 would look at each."""
        if n == 1:
            return self.dep24[index] == depth
        return self.dep24[index:index + n] == (_FILLS.get(depth) or bytes((depth,)) * n)

    def repoint(self, dst: int, plen: int, slot: int) -> None:
        """The entries a placed prefix holds now name slot (nothing if it is not placed)."""
        held, depth = _HELD[plen + 1], plen + 1
        if 8 <= plen <= 24:
            index, n = dst >> 8, 1 << (24 - plen)
            if self._owns(index, n, depth):     # (the usual case of a next-hop change)
                if n == 1:
                    self.tbl24[index] = slot
                else:
                    self.tbl24[index:index + n] = array("I", (slot,)) * n
                return
        if plen < 8:
            self._short(dst, plen, slot, depth, held)
        elif plen <= 24:
            self._range24(dst >> 8, 1 << (24 - plen), slot, depth, held)
        elif self.dep24[dst >> 8] == GROUP_DEPTH:
            g = self.tbl24[dst >> 8] ^ GROUP_BIT
            self._range(self.tbl8, self.dep8, g << 8 | dst & 255, 1 << (32 - plen), slot,
                        depth, held)

    def place(self, dst: int, plen: int, slot: int) -> None:
        """Place one prefix (dst masked) naming slot: fill() for one."""
        self._place(dst, plen, slot)

    def _place(self, dst: int, plen: int, slot: int) -> None:
        depth = plen + 1
        if plen < 8:
            self._short(dst, plen, slot, depth, _SHALLOWER[depth])
        elif plen <= 24:
            index = dst >> 8
            if plen == 24 and self.dep24[index] < depth:     # the common case, inline
                self.tbl24[index] = slot
                self.dep24[index] = depth
                if self.deepest[index >> 8] < 25:
                    self.deepest[index >> 8] = 25
            else:
                self._range24(index, 1 << (24 - plen), slot, depth, _SHALLOWER[depth])
        else:
            base = self._group(dst >> 8) << 8
            self._range(self.tbl8, self.dep8, base | dst & 255, 1 << (32 - plen), slot, depth,
                        _SHALLOWER[depth])

    def parent_of(self, dst: int, plen: int) -> tuple[int, int] | None:
        """(slot, length) of the longest prefix of length 8 to plen - 1 covering the placed
        prefix dst/plen (8 < plen ≤ 24), (0, 0) for none, read from the entries of its
        buddy (the other half of the block one bit shorter): any such prefix covers the
        buddy too, so the deepest of the buddy's entries no deeper than plen names it.
        None when they cannot tell (every one of them is deeper: the buddy is a prefix
        too, or holds longer ones) -- the caller then asks its dicts.  One slice and a
        translate, where asking the dicts costs a probe per length in the table."""
        n = 1 << (24 - plen)
        start = (dst >> 8) ^ n
        if n == 1:
            depth = self.dep24[start]
            if depth > plen:
                return None
        else:
            seen = self.dep24[start:start + n].translate(_SEEN[plen])
            mark = max(seen)
            if not mark:
                return None
            depth = mark - 1
            start += seen.index(mark)
        return (self.tbl24[start], depth - 1) if depth else (0, 0)

    def remove(self, dst: int, plen: int, slot: int, parent: int, parent_plen: int,
               free: bool = True) -> None:
        """Unindex a prefix: the entries it held go to parent (the slot of the longest
        shorter prefix covering it that is indexed the same way: of length ≥ 8 for plen ≥ 8,
        else < 8; 0 for none) of length parent_plen.  free: the slot is the prefix's own
        (not a next hop's that others share), free it.  A prefix never placed (its fill
        still pending) holds no entry: nothing changes but the slot."""
        if free:
            self.free(slot)
        held = _HELD[plen + 1]
        depth = parent_plen + 1 if parent else 0
        if plen < 8:
            self._short(dst, plen, parent, depth, held)
        elif plen <= 24:
            index, n = dst >> 8, 1 << (24 - plen)
            if self._owns(index, n, plen + 1):  # (the usual case, as in repoint)
                if n == 1:
                    self.tbl24[index] = parent
                    self.dep24[index] = depth
                else:
                    self.tbl24[index:index + n] = array("I", (parent,)) * n
                    self.dep24[index:index + n] = bytes((depth,)) * n
                return
            self._range24(index, n, parent, depth, held)
        else:
            index = dst >> 8
            if self.dep24[index] != GROUP_DEPTH:
                return                          # never placed
            g = self.tbl24[index] ^ GROUP_BIT
            start, n = g << 8 | dst & 255, 1 << (32 - plen)
            if bytes((plen + 1,)) not in self.dep8[start:start + n]:
                # never placed, or placed and wholly covered by longer ones: either way the
                # group keeps its count (too high at worst: it then stays a group)
                return
            self._range(self.tbl8, self.dep8, start, n, parent, depth, held)
            self.group_prefixes[g] -= 1
            if not self.group_prefixes[g]:      # no longer prefix inside: back to one entry
                self.tbl24[index] = self.tbl8[g << 8]
                self.dep24[index] = self.dep8[g << 8]
                self.free_groups.append(g)

    # -- the mechanics ---------------------------------------------------------------------
    def _short(self, dst: int, plen: int, slot: int, depth: int, marks: bytes) -> None:
        first = dst >> 24
        for i in range(first, first + (1 << (8 - plen))):
            if not marks[self.short_dep[i]]:
                self.short[i] = slot
                self.short_dep[i] = depth

    def _range24(self, start: int, n: int, slot: int, depth: int, marks: bytes) -> None:
        """_range over tbl24, then the same change inside the groups of the range."""
        dep24, deepest = self.dep24, self.deepest
        first, end = start >> 8, (start + n + 255) >> 8        # the /16 blocks it touches
        if marks is _SHALLOWER[depth]:
            if max(deepest[first:end]) <= depth:
                # nothing longer in those blocks (the usual case of a run, added shortest
                # first; prefixes as long are elsewhere, as prefixes of one length are
                # disjoint): no need to look at the entries one by one
                self.tbl24[start:start + n] = array("I", (slot,)) * n
                dep24[start:start + n] = _FILLS.get(depth) or bytes((depth,)) * n
                deepest[first:end] = bytes((depth,)) * (end - first)
                return
            deepest[first:end] = deepest[first:end].translate(_AT_LEAST[depth])
        self._range(self.tbl24, dep24, start, n, slot, depth, marks)
        if n == 1:
            at = start if dep24[start] == GROUP_DEPTH else -1
        else:
            at = dep24.find(b"\xff", start, start + n)
        while at >= 0:
            base = (self.tbl24[at] ^ GROUP_BIT) << 8
            self._range(self.tbl8, self.dep8, base, 256, slot, depth, marks)
            at = dep24.find(b"\xff", at + 1, start + n)

    @staticmethod
    def _range(table: memoryview | array[int], depths: mmap.mmap | bytearray, start: int,
               n: int, slot: int, depth: int, marks: bytes) -> None:
        """Set the entries [start, start + n) that marks selects (0 in its translation of
        their depths) to slot, at depth: one slice assignment per run of them."""
        if n == 1:
            if not marks[depths[start]]:
                table[start] = slot
                depths[start] = depth
            return
        mask = depths[start:start + n].translate(marks)
        if 1 not in mask:
            table[start:start + n] = array("I", (slot,)) * n
            depths[start:start + n] = bytes((depth,)) * n
            return
        for run in _ZERO_RUNS.finditer(mask):
            a, b = start + run.start(), start + run.end()
            table[a:b] = array("I", (slot,)) * (b - a)
            depths[a:b] = bytes((depth,)) * (b - a)

    def _group(self, index: int) -> int:
        """The tbl8 group of the /24 at index, made (holding what tbl24 held) if need be;
        counts one more prefix in it."""
        if self.dep24[index] == GROUP_DEPTH:
            g = self.tbl24[index] ^ GROUP_BIT
        else:
            entry, depth = self.tbl24[index], self.dep24[index]
            fill, fill_depth = array("I", (entry,)) * 256, bytes((depth,)) * 256
            if self.free_groups:
                g = self.free_groups.pop()
                self.tbl8[g << 8:(g + 1) << 8] = fill
                self.dep8[g << 8:(g + 1) << 8] = fill_depth
                self.group_prefixes[g] = 0
            else:
                g = len(self.group_prefixes)
                self.tbl8 += fill
                self.dep8 += fill_depth
                self.group_prefixes.append(0)
            self.tbl24[index] = GROUP_BIT | g
            self.dep24[index] = GROUP_DEPTH
            self.deepest[index >> 8] = 26       # deeper than any /24
        self.group_prefixes[g] += 1
        return g
