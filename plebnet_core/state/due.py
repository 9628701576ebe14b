"""Due times: which of many things with a deadline are due now, found without looking at the
others (Stack.tick's neighbour entries and expiring routes).

A heap of (when, seq, what) items with lazy invalidation.  A thing is armed at most once:
arm() with a time no earlier than the armed one does nothing (a refreshed entry costs a dict
look-up, never a heap item), an earlier one supersedes it (the older item goes stale, to be
skipped when popped), disarm() makes its item stale.  due(now) hands back what came due,
unarmed; the owner then looks at the live thing: gone, pushed later (re-armed for its live
time) or really due.  So an owner keeps one rule: whatever may expire at time t is armed
for t or earlier.  Stale items are dropped by rebuilding the heap from the armed ones once
they outnumber them (in due(), so arm and disarm stay O(1)/O(log n)).
"""
from __future__ import annotations

from heapq import heapify, heappop, heappush
from itertools import count
from typing import Generic, Hashable, TypeVar

T = TypeVar("T", bound=Hashable)
SLACK = 1024        # stale items tolerated beyond the live ones before a rebuild
REBUILD_STEP = 16384    # live items pushed into the heap being rebuilt, per due() (~2 ms)


class Deadlines(Generic[T]):
    __slots__ = ("_heap", "_armed", "_seq", "examined", "_next", "_todo", "_old")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, T]] = []
        # a rebuild under way: the heap it makes, and the items still to push into it
        self._next: list[tuple[float, int, T]] | None = None
        self._todo: list[tuple[float, int, T]] = []
        self._old: list[tuple[float, int, T]] = []      # a replaced heap, freed a slice a call
        self._armed: dict[T, tuple[float, int, T]] = {}     # what -> its live item
        self._seq = count()                 # orders equal times: what is never compared
        self.examined = 0                   # items popped, stale ones too (a tick's cost)

    def __len__(self) -> int:
        return len(self._armed)

    def __contains__(self, what: object) -> bool:
        return what in self._armed

    def when(self, what: T) -> float | None:
        """The time what is armed for, or None."""
        item = self._armed.get(what)
        return None if item is None else item[0]

    def arm(self, what: T, when: float) -> None:
        """Have what come due at when at the latest (0: never, nothing to do)."""
        if not when:
            return
        item = self._armed.get(what)
        if item is not None and item[0] <= when:
            return
        item = (when, next(self._seq), what)
        self._armed[what] = item
        heappush(self._heap, item)
        if self._next is not None:
            heappush(self._next, item)

    def disarm(self, what: T) -> None:
        """what is gone: its item goes stale (its owner arms it again if it comes back)."""
        self._armed.pop(what, None)

    def due(self, now: float, limit: int | None = None) -> list[tuple[T, float]]:
        """Everything armed for now or earlier (at most limit of them, the earliest), with
        the time it was armed for; unarmed."""
        if self._next is None and len(self._heap) > 2 * len(self._armed) + SLACK:
            # the live items, copied at C speed; pushed a slice per call: O(live log live),
            # paid once per as many stale items made
            self._next, self._todo = [], list(self._armed.values())
        if self._next is not None:
            self._rebuild_step()
        elif self._old:
            del self._old[-REBUILD_STEP:]
        heap, armed = self._heap, self._armed
        out: list[tuple[T, float]] = []
        while heap and heap[0][0] <= now and (limit is None or len(out) < limit):
            item = heappop(heap)
            self.examined += 1
            what = item[2]
            if armed.get(what) is item:
                del armed[what]
                out.append((what, item[0]))
        return out

    def _rebuild_step(self) -> None:
        """Push the next REBUILD_STEP items into the heap being rebuilt; once every one is
        in, it is the heap.  (Items gone stale meanwhile are skipped when popped, as any.)"""
        todo, heap = self._todo, self._next
        assert heap is not None
        if not heap and len(todo) <= REBUILD_STEP:
            heapify(todo)           # (small enough for one step: at C speed)
            heap = todo
        else:
            for item in todo[-REBUILD_STEP:]:
                heappush(heap, item)
            del todo[-REBUILD_STEP:]
            if todo:
                return
        self._old = self._heap
        self._heap, self._next, self._todo = heap, None, []

    def clear(self) -> None:
        self._heap.clear()
        self._armed.clear()
        self._next, self._todo, self._old = None, [], []

    def stale(self) -> int:
        """Heap items that no longer count (in the heap that serves)."""
        return len(self._heap) - len(self._armed)

    def rebuilding(self) -> bool:
        """Whether a rebuild of the heap is under way (it goes a step per due())."""
        return self._next is not None
