"""All-or-nothing changes by an undo log.

Every mutation of the state goes through one of these primitives, which record how to take it
back.  A failed op (or a failed op inside a batch) rolls the log back, so the state is exactly
as before: cheaper than copying a million-route table, and one mechanism for every kind of
change.  Routing messages raised during a transaction are held back and published only on
commit, so subscribers never see a change that did not happen.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from math import inf
from typing import Any, Callable, TypeVar

K = TypeVar("K")
V = TypeVar("V")
Event = dict[str, Any]                  # a routing message, as subscribers get it
_Call = tuple[Callable[..., object], tuple[Any, ...]]
FREE_LATER = 65536                      # undo records past which a log is freed piecewise
EACH_CLOCK = 16                         # calls of apply_each between two readings of its clock


def free_some(log: list[Any], count: int = 16384) -> bool:
    """Drop the last count records of a committed undo log (freeing what only they still
    held); True once it is empty."""
    del log[-count:]
    return not log


class Journal:
    def __init__(self) -> None:
        self._undo: list[_Call] | None = None       # None: outside any transaction
        self._events: list[Event] = []
        self._commit: list[_Call] = []
        self.listeners: list[Callable[[list[Event]], None]] = []
        self.depth = 0
        # given a committed undo log longer than FREE_LATER: frees it a piece at a time
        # (set by a server with a loop; without one the log is dropped at once)
        self.free_later: Callable[[list[_Call]], None] | None = None

    # -- primitives ------------------------------------------------------------------------
    def record(self, undo: Callable[..., object], *args: Any) -> None:
        if self._undo is not None:
            self._undo.append((undo, args))

    def setattr(self, obj: object, name: str, value: object) -> None:
        self.record(setattr, obj, name, getattr(obj, name))
        setattr(obj, name, value)

    def insert(self, lst: list[V], index: int, item: V) -> None:
        lst.insert(index, item)
        self.record(lst.remove, item)

    def append(self, lst: list[V], item: V) -> None:
        lst.append(item)
        self.record(_unappend, lst, item)

    def remove(self, lst: list[V], item: V) -> None:
        # the last item first: undoing (and tearing down) in reverse costs O(1) each
        index = len(lst) - 1 if lst and lst[-1] is item else lst.index(item)
        del lst[index]
        self.record(lst.insert, index, item)

    def setitem(self, d: dict[K, V], key: K, value: V) -> None:
        if key in d:
            self.record(d.__setitem__, key, d[key])
        else:
            self.record(d.pop, key)
        d[key] = value

    def delitem(self, d: dict[K, V], key: K) -> None:
        self.record(d.__setitem__, key, d.pop(key))

    def emit(self, make_event: Callable[[], Event]) -> None:
        """Publish the event make_event() builds; built only when somebody listens, so a
        million-route batch with no subscriber formats nothing."""
        if not self.listeners:
            return
        if self.depth:
            self._events.append(make_event())
        else:               # a change made outside any transaction (the data plane learning)
            self._publish([make_event()])

    def on_commit(self, fn: Callable[..., object], *args: Any) -> None:
        """Run fn(*args) once the outermost transaction commits (at once outside any); a
        rollback forgets it.  For effects that cannot be undone, like closing a device."""
        if self.depth:
            self._commit.append((fn, args))
        else:
            fn(*args)

    def _publish(self, events: list[Event]) -> None:
        for listener in self.listeners:
            listener(events)

    # -- transactions ----------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Nestable.  The outermost commits (publishing the held-back events) or rolls back;
        an inner one is a savepoint: if it fails, only its own changes are undone, so a batch
        can tolerate a failed op without keeping half of it."""
        if self.depth == 0:
            self._undo, self._events, self._commit = [], [], []
        undo = self._undo
        assert undo is not None     # made above, or by the enclosing transaction
        mark, event_mark, commit_mark = len(undo), len(self._events), len(self._commit)
        self.depth += 1
        try:
            yield
        except BaseException:
            self.depth -= 1
            self._rollback_to(mark)
            del self._events[event_mark:]
            del self._commit[commit_mark:]
            if self.depth == 0:
                self._undo, self._events, self._commit = None, [], []
            raise
        self.depth -= 1
        if self.depth == 0:
            self._committed(undo)

    def apply(self, fn: Callable[..., V], *args: Any) -> V:
        """fn(*args) as one transaction, exactly as `with transaction(): fn(*args)`, without
        a context manager's cost when no transaction is open (the control server applies
        every single change this way)."""
        if self.depth:
            with self.transaction():
                return fn(*args)
        undo = self._open()
        try:
            result = fn(*args)
        except BaseException:
            self._abort()
            raise
        self.depth = 0
        self._committed(undo)
        return result

    def apply_each(self, calls: list[tuple[Callable[[Any], V], Any]],
                   due: float = inf, clock: Callable[[], float] | None = None
                   ) -> tuple[list[V | Exception], list[int]]:
        """fn(arg) for each (fn, arg) of calls, each all-or-nothing on its own: what apply()
        per call does, at a fraction of the cost (a run of independent requests): one
        transaction around them all, and a savepoint each, so a failing one (its exception
        stands in its result's place) takes back only its own changes, events and commit
        effects.  The others' events are published in order when the last is done.
        Stops early once clock() reaches due (read every EACH_CLOCK calls): the calls not
        made get no result.  Returns the results and the positions of the failed ones."""
        assert self.depth == 0, "apply_each() inside a transaction"
        undo, events, commit = self._open(), self._events, self._commit
        results: list[V | Exception] = []
        failed: list[int] = []
        append = results.append
        try:
            for fn, arg in calls:
                mark, event_mark, commit_mark = len(undo), len(events), len(commit)
                try:
                    append(fn(arg))
                except Exception as exc:
                    self._rollback_to(mark)
                    del events[event_mark:]
                    del commit[commit_mark:]
                    failed.append(len(results))
                    append(exc)
                if clock is not None and not len(results) % EACH_CLOCK and clock() >= due:
                    break
        except BaseException:
            self._abort()
            raise
        self.depth = 0
        self._committed(undo)
        return results, failed

    def _open(self) -> list[_Call]:
        """Open the outermost transaction (apply, apply_each); its undo log."""
        undo: list[_Call] = []
        self._undo, self._events, self._commit = undo, [], []
        self.depth = 1
        return undo

    def _abort(self) -> None:
        """Roll the outermost transaction back whole and close it."""
        self.depth = 0
        self._rollback_to(0)
        self._undo, self._events, self._commit = None, [], []

    def _committed(self, undo: list[_Call]) -> None:
        """The outermost transaction's end: its log let go, the effects waiting for the
        commit run, the held-back events published.  A big change's log holds the last
        references to what it removed: dropping it frees all of that in one go (100,000
        addresses deleted: 0.2 s), so past FREE_LATER records it goes to free_later."""
        if self.free_later is not None and len(undo) > FREE_LATER:
            self.free_later(undo)
        self._undo, events, self._events = None, self._events, []
        commit, self._commit = self._commit, []
        for fn, args in commit:
            fn(*args)
        if events:
            self._publish(events)

    def suspend(self) -> tuple[Any, ...]:
        """Set the open transaction aside (a batch applied a slice per loop turn, between
        which other work runs outside it); resume() takes it up again."""
        saved = (self._undo, self._events, self._commit, self.depth)
        self._undo, self._events, self._commit, self.depth = None, [], [], 0
        return saved

    def resume(self, saved: tuple[Any, ...]) -> None:
        assert self.depth == 0, "resume() inside another transaction"
        self._undo, self._events, self._commit, self.depth = saved

    def undo_some(self, mark: int, due: float, clock: Callable[[], float]) -> bool:
        """Undo the newest records of the open transaction's log down to mark (a length of
        the log), until clock() reaches due (one record at least); True once the log is
        back at mark.  A big batch that fails, or whose client leaves, is undone this way a
        slice per loop turn (Syscalls.batch_steps, ControlServer), in the order
        _rollback_to undoes: the transaction's own rollback then finds nothing left.  The
        clock is read after every record: one may stand for a whole chunk of a route run."""
        undo = self._undo
        assert undo is not None     # (called inside a transaction only)
        while len(undo) > mark:
            fn, args = undo.pop()
            fn(*args)
            if clock() >= due:
                break
        return len(undo) <= mark

    def log_length(self) -> int:
        """How many undo records the open transaction holds (a mark for undo_some)."""
        assert self._undo is not None
        return len(self._undo)

    def _rollback_to(self, mark: int) -> None:
        undo = self._undo
        assert undo is not None     # (called inside a transaction only)
        while len(undo) > mark:
            fn, args = undo.pop()
            fn(*args)


def _unappend(lst: list[V], item: V) -> None:
    """Undo an append: the item is last when undone in order, so rolling back n appends
    costs O(n), not O(n²)."""
    if lst and lst[-1] is item:
        lst.pop()
    else:
        lst.remove(item)
