"""Batches and their transactions: all-or-nothing application of a batch's ops (tolerated
errnos under savepoints; runs of plain RTM_ADDs straight into Stack.rt_add_many, column by
column, a chunk at a time), the collector held off while a big batch allocates, and the dry
run (the batch and a list of reads inside one transaction that is always rolled back).

batch_steps() is the batch as a generator that yields every SLICE seconds of work: the
control server applies a big batch a slice per loop turn, its transaction set aside
(Journal.suspend) in between, so that the stack keeps answering; run_batch() drives it to
the end at once.

A failure is one OpError whose .index names the failing op of the batch (counting each row of
a run as one op; in a dry run, the reads follow the ops)."""
from __future__ import annotations

import gc
import sys
import traceback
from collections.abc import Generator
from socket import inet_aton
from time import perf_counter

from plebproto import protocol
from plebproto.constants import AF_INET, EINVAL
from plebproto.errors import OpError

from .args import af_arg
from .dispatch import Chunks, Stream
from .runs import (
    Packed16, concat, continues, expand, plain_route_run, plen_column, rows_to_columns,
    run_columns, run_rows,
)

FREEZE_AFTER = 10_000      # ops in a batch after which its survivors leave the collector's view
SLICE = 0.008              # seconds of a batch's work between two yields of batch_steps
FIRST_CHUNK = 512          # rows of a route run in its first chunk (then sized to SLICE;
                           # a route with a subscriber listening costs ~15 µs)


class _RolledBack(Exception):
    """Carries a dry run's results out of the transaction it rolls back."""

    def __init__(self, results: list, reads: list):
        super().__init__()
        self.results, self.reads = results, reads


class BatchOps:
    """Batch application, for a class with the dispatcher and the address parsers
    (Syscalls)."""

    dry_running = False         # inside dry_run(): nothing may outlive the transaction

    def run_batch(self, entries: list) -> list:
        """All-or-nothing: every op inside one transaction; the first failure not in that
        op's tolerated errnos rolls everything back and is raised, an OpError whose .index
        names it.  Used by persist's replay and by the rc.conf executor at boot (the
        control server drives batch_steps itself)."""
        return _drive(self.batch_steps(entries))

    def batch_steps(self, entries: list) -> Generator[None, None, list]:
        """run_batch as a generator: it yields after every SLICE seconds of work, inside
        the batch's transaction (whoever resumes it elsewhere must have set that aside:
        Journal.suspend/resume), and returns the results.  Closing it rolls back."""
        results: list = []
        journal = self.stack.journal
        with _GcHeld():
            with self.stack.transaction():
                mark = journal.log_length()
                try:
                    count = yield from self._apply(entries, results)
                except OpError:
                    # undone here a slice at a time (a million routes take a second), then
                    # failed: the transaction's own rollback finds nothing left to undo
                    yield from _undo_sliced(journal, mark)
                    raise
        if count >= FREEZE_AFTER:
            # a big batch leaves millions of long-lived objects in the youngest generation:
            # without this the next collections scan them all, stalling the data plane
            gc.freeze()
        return results

    def run_batch_keep_going(self, entries: list, units) -> tuple[dict, list]:
        """keep_going_steps driven to the end at once."""
        return _drive(self.keep_going_steps(entries, units))

    def keep_going_steps(self, entries: list, units
                         ) -> Generator[None, None, tuple[dict, list]]:
        """batch with "keep_going": units (the number of entries of each, in order) are
        applied each all-or-nothing under a savepoint, inside one transaction: a failing
        unit is rolled back, reported and skipped, the others applied.  Returns ({"results":
        per op (None for the ops of a failed unit), "failed": [[op index, errno, msg],
        ...]}, the entries of the units applied: what a replay must apply).  Linear: one
        pass, whatever fails.  A generator as batch_steps is, but it yields only between
        units (after SLICE seconds of work): a unit runs whole, since a yield inside its
        savepoint would leave the savepoint open while the transaction is set aside."""
        if type(units) is not list or not all(type(u) is int and u >= 0 for u in units) \
                or sum(units) != len(entries):
            raise OpError(EINVAL, "batch units must be entry counts adding up to the ops")
        results: list = []
        failed: list = []
        applied: list = []
        index = pos = 0
        due = perf_counter() + SLICE
        with _GcHeld():
            with self.stack.transaction():
                for count in units:
                    unit = entries[pos:pos + count]
                    pos += count
                    mine: list = []
                    try:
                        with self.stack.transaction():      # the unit's savepoint
                            n = _drive(self._apply(unit, mine))
                    except OpError as exc:
                        failed.append([index + (exc.index or 0), exc.errno, str(exc)])
                        n = sum(run_rows(e)[1] if type(e) is dict else 1 for e in unit)
                        mine = [None] * n
                    else:
                        applied.extend(unit)
                    results.extend(mine)
                    index += n
                    if perf_counter() >= due:
                        yield
                        due = perf_counter() + SLICE
        if index >= FREEZE_AFTER:
            gc.freeze()
        return {"results": results, "failed": failed}, applied

    def dry_run(self, entries: list, reads: list) -> dict:
        """What run_batch(entries) would do, then the result of each read op of reads
        ([op, args] each: ops that change nothing, e.g. sysctl NET_RT_IFLIST), all inside
        one transaction that is then rolled back: no event is published, no commit effect
        runs, no device opens, and the stack is left as it was.  Returns {"results": the
        batch's results, "reads": each read's result (a dump's chunks collected: Chunks)},
        which the server streams as dry_run_parts.  A failing
        op raises as run_batch does; a failing or refused read raises an OpError whose
        .index is the number of ops plus its position among the reads."""
        if type(reads) is not list or not all(
                type(r) is list and len(r) == 2 and type(r[1]) is dict for r in reads):
            raise OpError(EINVAL, "dry-run reads must be a list of [op, args]")
        self.dry_running = True
        try:
            with _GcHeld():
                with self.stack.transaction():
                    results: list = []
                    count = _drive(self._apply(entries, results))
                    out = []
                    for i, (op, args) in enumerate(reads):
                        try:
                            if self.is_mutating(op, args) or not self.batchable(op):
                                raise OpError(EINVAL, f"'{op}' is not a read")
                            result = self.dispatch(op, args)
                            # collected now: a dump's rows are read from the live tables
                            # (without the pauses (None) of a dump sorting its walk)
                            out.append(Chunks(c for c in result.chunks() if c is not None)
                                       if type(result) is Stream
                                       else result)
                        except OpError as exc:
                            raise exc.at(count + i) from None
                    raise _RolledBack(results, out)
        except _RolledBack as done:
            return {"results": done.results, "reads": done.reads}
        finally:
            self.dry_running = False

    def _apply(self, entries: list, results: list) -> Generator[None, None, int]:
        """Every entry of a batch, inside the caller's transaction, yielding every SLICE
        seconds; returns the number of ops.  An OpError raised is placed at its op; anything
        else is a bug, reported and raised as EINVAL "internal error" at the op that met
        it."""
        index = 0
        due = [perf_counter() + SLICE]      # (the slice's end, shared with _run_entry)
        try:
            i = 0
            while i < len(entries):
                entry = entries[i]
                if type(entry) is dict and plain_route_run(entry):
                    j = i + 1       # the parts of a run the client cut into frames
                    while j < len(entries) and continues(entry, entries[j]):
                        j += 1
                    index = yield from self._add_routes(entries[i:j], index, results)
                    i = j
                    due[0] = perf_counter() + SLICE
                else:
                    index = yield from self._run_entry(entry, index, results, due)
                    i += 1
                    if i & 63 == 0 and perf_counter() >= due[0]:
                        yield
                        due[0] = perf_counter() + SLICE
        except OpError:
            raise
        except Exception:
            traceback.print_exc(file=sys.stderr)     # a bug: report it, keep the stack up
            raise OpError(EINVAL, "internal error", index) from None
        return index

    def _run_entry(self, entry, start: int, results: list, due: list
                   ) -> Generator[None, None, int]:
        """The ops of one batch entry (an op, or a run expanded op by op), numbered from
        start; returns the next number.  A failure raises OpError placed at (.index) its op.
        A run (a hundred thousand aliases, say) yields between its ops once due[0] (the
        slice's end) is past, outside any op's savepoint."""
        index = start
        try:
            for k, (index, op, args, tolerate) in enumerate(expand([entry], start), 1):
                if not self.batchable(op):
                    raise OpError(EINVAL, f"'{op}' cannot be batched")
                # (a dump run inside a batch answers None: its Stream is not sent)
                if tolerate is None:        # any failure aborts the batch: no savepoint
                    result = self.dispatch(op, args)
                    results.append(None if type(result) is Stream else result)
                else:
                    try:
                        with self.stack.transaction():
                            result = self.dispatch(op, args)
                            results.append(None if type(result) is Stream else result)
                    except OpError as exc:
                        if exc.errno not in tolerate:
                            raise
                        results.append({"errno": exc.errno, "msg": str(exc)})
                if k & 7 == 0 and perf_counter() >= due[0]:
                    yield
                    due[0] = perf_counter() + SLICE
        except OpError as exc:
            raise exc.at(index) from None
        return start + (run_rows(entry)[1] if type(entry) is dict else 1)

    def _add_routes(self, runs: list, index: int, results: list
                    ) -> Generator[None, None, int]:
        """Consecutive runs of plain RTM_ADDs (only af/dst/plen/gateway, see
        plain_route_run; the same args and fields, see _continues) straight into
        Stack.rt_add_many as one, column by column: what dispatching each expanded op would
        do, without building a map per route.  Returns the index after the runs.  A failure
        raises OpError placed at (.index) the first failing op, as applying the ops in order
        would: the rows before a malformed value are applied first, and their own failure
        wins.  Applied a chunk at a time, sized to take about SLICE seconds, yielding
        between chunks."""
        base, fields = runs[0]["args"], runs[0]["fields"]
        bad: list[tuple[int, OpError]] = []     # (row, error): malformed values
        try:
            af = af_arg(base)
        except OpError as exc:
            raise exc.at(index) from None
        pieces: list[list] = [[] for _ in fields]
        count, packed = 0, set()
        # a million rows come in tens of parts: their columns are unpacked and joined
        # yielding every SLICE, not in one go (~10 ms), nor in the turn of the first chunk
        due = perf_counter() + SLICE
        for run in runs:
            if perf_counter() >= due:
                yield
                due = perf_counter() + SLICE
            try:
                if run.get("columns") is not None:
                    columns, n, packed = run_columns(run, lazy=True)
                else:
                    columns, failure = rows_to_columns(run["rows"], len(fields))
                    n = len(run["rows"])
                    if failure:
                        bad.append((count + failure[0], failure[1]))
            except OpError as exc:
                bad.append((count, exc))
                break
            for piece, column in zip(pieces, columns):
                piece.append(column)
            count += n
            if bad:
                break
        columns = []
        for piece in pieces:
            if perf_counter() >= due:
                yield
                due = perf_counter() + SLICE
            columns.append(concat(piece) if piece else [])
        if count > FIRST_CHUNK:
            yield
        width = 32 if af == AF_INET else 128
        given = {name: (columns[i], i in packed) for i, name in enumerate(fields)}

        def column(name, convert):
            values, is_packed = given[name]
            if is_packed:
                return values
            values, failure = convert(values)
            if failure:
                bad.append(failure)
            return values

        dsts = column("dst", lambda c: self._address_column(af, c))
        if "plen" in given:
            plens = column("plen", lambda c: plen_column(c, width))
        else:
            plens = base.get("plen", width)
            if type(plens) is not int:
                bad.append((0, OpError(EINVAL, "argument 'plen' must be int")))
        if "gateway" in given:
            gateways = column("gateway", lambda c: self._gateway_column(af, c))
        else:
            gateways, failure = self._gateway_column(af, [base.get("gateway")])
            gateways = gateways[0] if gateways else None
            if failure:
                bad.append(failure)
        stop, error = min(bad, key=lambda b: b[0]) if bad else (count, None)
        start, step = 0, FIRST_CHUNK
        while start < stop:
            end = min(stop, start + step)
            whole = start == 0 and end == count
            began = perf_counter()
            try:
                self.stack.rt_add_many(af, _chunk(dsts, start, end, whole),
                                       _chunk(plens, start, end, whole),
                                       _chunk(gateways, start, end, whole))
            except OpError as exc:
                raise exc.at(index + start + exc.index) from None
            took = perf_counter() - began
            step = max(256, min(step * 4, int((end - start) * SLICE / max(took, 1e-6))))
            start = end
            if start < stop:
                yield
        if error is not None:
            raise error.at(index + stop)
        # ([None] * count: extend(repeat(None, count)) is faster but left the stack 16 MB
        # larger holding a million routes)
        results.extend([None] * count)
        return index + count

    def _address_column(self, af: int, texts) -> tuple[list, tuple | None]:
        """(addresses, (row, error) of the first bad text or None); plain dotted quads are
        converted in one C-level pass."""
        if af == AF_INET:
            try:
                if "\n".join(texts).count(".") == 3 * len(texts):  # inet_aton allows ≤ 3 dots
                    from_bytes, aton = int.from_bytes, inet_aton
                    return [from_bytes(aton(t), "big") for t in texts], None
            except (TypeError, OSError, ValueError):    # ValueError: an embedded NUL
                pass
        out = []
        for k, text in enumerate(texts):
            try:
                out.append(self.addr(af, text))
            except OpError as exc:
                return out, (k, exc)
        return out, None

    def _gateway_column(self, af: int, texts) -> tuple[list, tuple | None]:
        out = []
        for k, text in enumerate(texts):
            if type(text) is not str:
                return out, (k, OpError(EINVAL, "argument 'gateway' must be str")
                             if text is not None else OpError(EINVAL))
            try:
                out.append(self._gateway(af, text))
            except OpError as exc:
                return out, (k, exc)
        return out, None


def dry_run_parts(result: dict):
    """A dry run's result as the chunk maps it is streamed in (protocol: batch, "Dry run";
    protocol.join_dry_run puts them together): each bounded, whatever the tables' size."""
    results = result["results"]
    for k in range(0, max(1, len(results)), protocol.CHUNK_ROWS):
        yield {"results": results[k:k + protocol.CHUNK_ROWS]}
    for i, read in enumerate(result["reads"]):
        if type(read) is Chunks:
            yield {"read": i, "stream": True}
            for chunk in read:
                yield {"read": i, "chunk": chunk}
        else:
            yield {"read": i, "value": read}


def _chunk(values, start: int, end: int, whole: bool):
    """A run's column (or its one value) for rows start..end-1 (whole: all of them); IPv6
    addresses still packed (Packed16) are decoded here, a chunk at a time."""
    if type(values) is int or whole and type(values) is not Packed16:
        return values
    return values[start:end]


def _drive(steps: Generator[None, None, int | list]):
    """Run a generator of batch_steps' kind to its end; its return value."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def _undo_sliced(journal, mark: int) -> Generator[None, None, None]:
    """Undo the open transaction's log down to mark (Journal.undo_some), yielding after
    every SLICE seconds of it."""
    while not journal.undo_some(mark, perf_counter() + SLICE, perf_counter):
        yield


FREEZE_AFTER = 100_000      # objects made while the collector was held, frozen past this


class _GcHeld:
    """The cyclic collector off for the duration: a big batch allocates millions of
    acyclic objects, which it would scan again and again."""

    def __enter__(self):
        self.was_on = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc):
        if self.was_on:
            if gc.get_count()[0] >= FREEZE_AFTER:
                # what it made lives on (the state) or is freed by reference counting (a
                # dry run's reads, once streamed): out of the collector's view at once,
                # where its next collection would scan it all in one turn (110 ms after a
                # dry run read 100,000 addresses)
                gc.freeze()
            gc.enable()
