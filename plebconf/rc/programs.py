"""Programs: command lines compiled to batch entries, and how to name each one in messages.

    program = RcProgram(); program.add(argv, origin, tolerate)    # the steps of an rc.d plan
    program = BatchProgram(text, name).compile_all(progress)      # the lines of a batch file
    program.entries()          # the batch (consecutive lines of a one-op shape as runs)
    program.locate(index)      # (unit, op within the unit) of an op of entries()
    program.unit_entries()     # (unit, entries) per unit, for keep-going mode
    program.failure_text(unit, op, errno), program.warnings, program.failures
    program.warning_text(unit, op, result)    # a tolerated failure the tool warns about

A Program is the compiled form of a list of *units* (one command line each: a plan Step or
a batch-file line), each compiled by its tool's grammar (command.py) or by its shape's
template (shapes.py).  Consecutive lines of a one-op template travel as one compact run
(plebconf.rpc.client.run) that the stack expands.  In batch files, long stretches of lines
with the same skeleton (digits removed) are split and checked column by column in bulk.

Error text: `WHERE: [VAR: ]COMMAND: MESSAGE`, where WHERE is file:line, VAR the rc.conf
variable that produced the command, COMMAND the generated command line and MESSAGE what the
tool prints for that failure (the tool's label for the failing op, worded by the tool).
"""
from __future__ import annotations

import os
import pickle
from collections.abc import Iterator
from itertools import groupby

from plebconf.rpc.client import run
from plebproto.protocol import packed_width

from .command import ToolError, command_line, command_ops, error_text, tokenize
from .shapes import (
    Template, general_key, learn, lengths, literal_segments, plain_addresses, shape, with_lengths,
)

__all__ = ["Program", "RcProgram", "BatchProgram"]


class Program:
    """Compiled units (one command line each): segments of batch entries, and how to name
    each unit in messages (argv(unit), describe(unit): subclasses).

    segments: ("run", template, columns, first unit, packed) -- one op per unit, consecutive
              units, columns: one list of addresses per template field, packed: those
              columns packed (protocol.PACKED: bytes, or the indexed form of a column of
              few values) when all are plain addresses, or None --
              or ("ops", unit, entries)."""

    def __init__(self):
        self.segments: list = []
        self.failures: list[tuple[int, str]] = []   # (unit, message): refused by a grammar
        self.warnings: list[str] = []
        self.templates: dict = {}   # shape -> Template, or False: this shape has none
        self.general: dict = {}     # general_key(shape) -> its general Template
        self.units = 0
        # the units with an op that only warns when it fails (ToolOps.may_warn: ifconfig's
        # tunnel, laggport; compiled by their grammar, never a template: shapes._learn):
        # only their tolerated failures can be a warning (warning_text); the others' (rc's
        # re-added routes, ifconfig's first-address delete) are passed over without
        # running their grammar again
        self.may_warn: set[int] = set()

    @property
    def unit_count(self) -> int:
        return self.units

    # -- compiling -----------------------------------------------------------------------------
    def compile(self, unit: int, argv: list[str], tolerate: list | None = None) -> None:
        key, values = shape(argv)
        template = self.templates.get(key)
        if template:
            if template.lengths:
                values = values + lengths(key)
            if template.fields is not None and not tolerate:
                self._run(unit, template, values)
            else:
                self.segments.append(("ops", unit, template.ops(values, tolerate)))
            return
        try:
            ops = command_ops(argv)
        except ToolError as exc:
            self.failures.append((unit, exc.message))
            return
        if getattr(ops, "needs_unit", False):
            self.failures.append((unit, f"{command_line(argv)}: name the unit to create "
                                        "(e.g. tap0, not tap) in a batch"))
            return
        entries = ops.ops
        if ops.may_warn():
            self.may_warn.add(unit)
        if tolerate:
            entries = [[e[0], e[1], sorted(set(tolerate) | set(e[2] if len(e) > 2 else ()))]
                       for e in entries]
        self.segments.append(("ops", unit, entries))
        for w in ops.warnings:
            self.warnings.append(f"{self.describe(unit)}: {w}")
        if template is None and values:
            self._learned(key, learn(key, values, ops))

    def _learned(self, key: tuple, template: Template | None) -> Template | None:
        """File a shape's template; a general one is shared by every shape it serves (then
        their lines make one run)."""
        if template and template.lengths:
            known = self.general.setdefault(general_key(key), template)
            if known.entries == template.entries:
                template = known
        self.templates[key] = template or False
        return template

    def _run(self, unit: int, template: Template, values) -> None:
        """One more unit of a one-op template: appended to the run it continues."""
        last = self.segments[-1] if self.segments else None
        if (last is not None and last[0] == "run" and last[1] is template
                and last[3] + len(last[2][0]) == unit and last[4] is None):
            for col, value in zip(last[2], values):
                col.append(value)
        else:
            self.segments.append(("run", template, [[v] for v in values], unit, None))

    # -- naming (subclasses) -----------------------------------------------------------------
    def argv(self, unit: int) -> list[str]:
        raise NotImplementedError

    def describe(self, unit: int) -> str:
        raise NotImplementedError

    def failure_text(self, unit: int, op: int, errno: int) -> str:
        argv = self.argv(unit)
        try:
            ops = command_ops(argv)
        except ToolError:
            ops = None
        return f"{self.describe(unit)}: {error_text(argv[0], ops, op, errno)}"

    def warning_text(self, unit: int, op: int, result) -> tuple[str, int] | None:
        """For op `op` of a unit that came back as a tolerated failure: what the tool
        prints when that op only warns (ToolOps.warning: ifconfig's tunnel, laggport), as
        `WHERE: [VAR: ]COMMAND: WARNING`, and the exit status the tool leaves; else None.
        The grammar runs again for that line only (as failure_text): a template-compiled
        line keeps no labels."""
        if unit not in self.may_warn:
            return None
        try:
            ops = command_ops(self.argv(unit))
        except ToolError:
            return None
        said = ops.warning(op, result)
        if said is None:
            return None
        return f"{self.describe(unit)}: {said[0]}", said[1]

    # -- entries -------------------------------------------------------------------------------
    def entries(self) -> list:
        """The batch: runs as column runs (plebconf.rpc.client.run), a column holding one
        value throughout (the gateway of a million routes) folded into the run's args."""
        out = []
        for seg in self.segments:
            if seg[0] != "run":
                out.extend(seg[2])
                continue
            t, columns, packed = seg[1], seg[2], seg[4] or [None] * len(seg[2])
            args, fields, cols = dict(t.run_args), [], []
            for name, col, blob in zip(t.fields, columns, packed):
                if _constant(col, blob) and (cols or name != t.fields[-1]):
                    args[name] = col[0]
                else:
                    fields.append(name)
                    width = packed_width(name, args.get("af"))
                    wire = blob is not None and width is not None and (
                        len(blob) == width * len(col) if type(blob) is bytes
                        else len(blob["index"]) == len(col)
                        and len(blob["values"]) % width == 0)
                    cols.append(blob if wire else list(col))
            out.append(run(t.run_op, args, fields, columns=cols))
        return out

    def locate(self, index: int) -> tuple[int, int]:
        """(unit, op number within the unit) of op number `index` of entries()."""
        for seg in self.segments:
            n = len(seg[2][0]) if seg[0] == "run" else len(seg[2])
            if index < n:
                return (seg[3] + index, 0) if seg[0] == "run" else (seg[1], index)
            index -= n
        raise IndexError(index)

    def locate_all(self, indices) -> Iterator[tuple[int, int]]:
        """locate() of each of these op indices (increasing), in one walk over the
        segments: a batch's tolerated failures, as many as its ops, are placed in linear
        time."""
        segments = iter(self.segments)
        seg, base, n = None, 0, 0
        for index in indices:
            while seg is None or index >= base + n:
                base += n
                seg = next(segments, None)
                if seg is None:
                    raise IndexError(index)
                n = len(seg[2][0]) if seg[0] == "run" else len(seg[2])
            yield (seg[3] + index - base, 0) if seg[0] == "run" else (seg[1], index - base)

    def unit_entries(self) -> list[tuple[int, list]]:
        """(unit, its entries) for every compiled unit, in order (keep-going mode)."""
        out = []
        for seg in self.segments:
            if seg[0] == "run":
                t = seg[1]
                out.extend((seg[3] + k, t.ops(values))
                           for k, values in enumerate(zip(*seg[2])))
            else:
                out.append((seg[1], seg[2]))
        return out


class RcProgram(Program):
    """Units are the steps of an rc.d plan.  routing: the units rc.d/routing runs itself
    (static_routes, defaultrouter, their IPv6 twins), whose failures FreeBSD reports and
    goes past; keep_going_hint() says so when one of them refused an atomic apply."""

    def __init__(self):
        super().__init__()
        self.argvs: list[list[str]] = []
        self.origins: list[str] = []
        self.routing: dict[int, str] = {}       # unit -> its rc.conf variable

    def keep_going_hint(self, errors: list[str]) -> str | None:
        """For an atomic apply that failed: how to get FreeBSD's behaviour, when what
        failed is a route rc.d/routing would have reported and gone past."""
        for unit, var in self.routing.items():
            prefix = self.describe(unit) + ": "
            if any(e.startswith(prefix) for e in errors):
                return (f"FreeBSD's rc.d/routing reports a failing {var} and goes on with "
                        "the rest; --keep-going does the same")
        return None

    def add(self, argv: list[str], origin: str, tolerate: list | None = None,
            tolerate_ops=None) -> None:
        """tolerate: errnos every op of the step tolerates; tolerate_ops(entry) -> errnos
        one op tolerates besides (or None)."""
        self.argvs.append(list(argv))
        self.origins.append(origin)
        self.units += 1
        before = len(self.segments)
        self.compile(self.units - 1, argv, tolerate)
        if tolerate_ops is None:
            return
        for k in range(before, len(self.segments)):
            seg = self.segments[k]
            if seg[0] == "ops":
                self.segments[k] = ("ops", seg[1], [_tolerating(e, tolerate_ops(e))
                                                    for e in seg[2]])

    def argv(self, unit):
        return self.argvs[unit]

    def describe(self, unit):
        return self.origins[unit] + command_line(self.argvs[unit])

    def sync_dhclients(self) -> list[int]:
        """The units that run `dhclient IF` in the foreground (SYNCDHCP): rc.d waits for
        their lease before it goes on."""
        return [u for u, argv in enumerate(self.argvs)
                if argv[:1] == ["dhclient"] and len(argv) == 2]

    def stages(self) -> list[tuple["Program", str | None]]:
        """The program cut after each foreground dhclient: (part, the interface whose lease
        comes before the next part, or None for the last)."""
        cuts = self.sync_dhclients()
        out, first = [], 0
        for unit in cuts:
            out.append((_Slice(self, first, unit + 1), self.argvs[unit][1]))
            first = unit + 1
        out.append((_Slice(self, first, self.units), None))
        return out


class _Slice(Program):
    """Units [first, end) of a program, named as the whole program names them."""

    def __init__(self, whole: Program, first: int, end: int):
        super().__init__()
        self.whole, self.units = whole, end - first
        self.first, self.end = first, end
        self.warnings = whole.warnings
        self.may_warn = whole.may_warn
        self.failures = [(u, m) for u, m in whole.failures if first <= u < end]
        # a run never straddles a cut: it holds consecutive units of one template, and the
        # unit a stage ends with (dhclient) is an ops segment of its own
        self.segments = [seg for seg in whole.segments
                         if first <= (seg[1] if seg[0] == "ops" else seg[3]) < end]

    def argv(self, unit):
        return self.whole.argv(unit)

    def describe(self, unit):
        return self.whole.describe(unit)

    def keep_going_hint(self, errors):
        return self.whole.keep_going_hint(errors)


def _tolerating(entry: list, errnos) -> list:
    """The batch entry with these errnos tolerated too."""
    if not errnos:
        return entry
    return [entry[0], entry[1], sorted(set(errnos) | set(entry[2] if len(entry) > 2 else ()))]


DIGITS = b"0123456789"
HEX = b"0123456789abcdefABCDEF:"    # what IPv6 addresses are made of: out of their skeleton
_LENGTHS = {str(n): n for n in range(129)}          # a /len as written (no leading zero)
COLUMNAR_MIN = 16       # consecutive lines of one skeleton checked column by column
# a group at least this long is cut in two halves compiled at once, the second by a forked
# child (BatchProgram(parallel=True)): the compile is C-level passes over the text, which
# two processes share evenly
PARALLEL_LINES = 50_000


class BatchProgram(Program):
    """Units are the command lines of a batch file (comments and blank lines are not).

    Consecutive lines with the same skeleton (the line without its digits; without its hex
    digits and colons too in a file with colons: IPv6 addresses) are compiled
    together: the first one by the grammar (which teaches its shape's template), the others
    by splitting them all at once and checking each column in bulk: literal words equal,
    address columns plain addresses (column_values).  A group that does not pass is
    compiled line by line."""

    def __init__(self, text: str, name: str, parallel: bool = False):
        super().__init__()
        # parallel: long groups compiled by two processes (see _halves); only a
        # single-threaded process that may fork (the batch tool) asks for it
        self.parallel = parallel and hasattr(os, "fork")
        self.name = name
        self.text = text
        self.line_count = text.count("\n") + 1
        self._lines: list[str] | None = None
        self.unit_line: list[int] = []      # unit -> index in lines

    @property
    def lines(self) -> list[str]:
        """The text's lines, split when first needed: a file of one shape never is."""
        if self._lines is None:
            self._lines = self.text.split("\n")
        return self._lines

    def compile_all(self, progress=None) -> "BatchProgram":
        # a file with IPv6 addresses in it: hex digits and colons out too (the words
        # around them lose letters, which only makes groups _columns may refuse)
        skel = self.text.encode().translate(None, HEX if ":" in self.text else DIGITS)
        first = skel[:skel.find(b"\n") + 1]
        k = self.line_count - 1             # lines before the last (empty: a final newline)
        if k >= COLUMNAR_MIN and len(skel) == len(first) * k and skel.count(first) == k:
            # every line of one skeleton (a generated file): one group, found without
            # splitting the text into lines (a million strings) twice
            self._group(0, k, 0, len(self.text) - 1, self.text[:self.text.find("\n")])
            if progress is not None:
                progress(self.line_count)
            return self
        i = offset = 0                      # line i starts at text[offset]
        lines = self.lines
        for _, group in groupby(skel.split(b"\n")):
            c = len(list(group))
            end = offset + sum(map(len, lines[i:i + c])) + c - 1    # after its last line
            if c >= COLUMNAR_MIN:
                self._group(i, c, offset, end, lines[i])
            else:
                for j in range(i, i + c):
                    self._line(j)
            offset = end + 1
            i += c
            if progress is not None:
                progress(i)
        return self

    def _line(self, j: int, line: str | None = None) -> None:
        if line is None:
            line = self.lines[j]
        try:
            argv = tokenize(line)
        except ValueError as exc:     # shlex: No closing quotation, ...
            self.unit_line.append(j)
            self.units += 1
            self.failures.append((self.units - 1, str(exc)))
            return
        if not argv:
            return
        self.unit_line.append(j)
        self.units += 1
        self.compile(self.units - 1, argv)

    def _group(self, i: int, c: int, offset: int, end: int, first: str) -> None:
        """Lines i..i+c-1, of one skeleton: text[offset:end]; first is line i."""
        self._line(i, first)
        if any(ch in first for ch in "'\"\\#"):
            key = None
        else:
            key, values = shape(first.split())
        template = self.templates.get(key) if key else None
        columns = self._halves if self.parallel and c > PARALLEL_LINES else self._columns
        if not template or template.fields is None or not columns(
                i + 1, c - 1, key, template, first, offset + len(first) + 1, end):
            for j in range(i + 1, i + c):
                self._line(j)

    def _columns(self, i: int, c: int, key: tuple, template: Template, learned: str,
                 start: int, end: int) -> bool:
        """Lines i..i+c-1 at once (text[start:end]; learned: line i-1, which taught the
        template): each must be the learned line's text with other addresses.  Cut at the
        literal text between addresses (C replace/split), check the address columns in
        bulk."""
        segs = literal_segments(learned, key)
        if segs is None:
            return False
        # a general template's values are whole "address/len" words: the lengths come off
        # the text between values, and are split off the values below
        suffixes = [k[1] for k in key if type(k) is not str]
        general = [v for v, suffix in enumerate(suffixes) if template.lengths
                   and suffix[1:].isdigit()]
        for v in general:
            if not segs[v + 1].startswith(suffixes[v]):
                return False
            segs[v + 1] = segs[v + 1][len(suffixes[v]):]
        if any(not seg or "\0" in seg for seg in segs[1:-1]):
            return False
        nv = len(segs) - 1
        block = self.text[start:end]
        head, tail = segs[0], segs[-1]
        if not block.startswith(head) or not block.endswith(tail):
            return False
        # the last address the same on every line (the gateway of a million routes): a
        # constant ending, cut with the line breaks instead of split into a million strings
        between, const = segs[1:-1], []
        if nv >= 2 and nv - 1 not in general:
            last = learned[:len(learned) - len(tail)].rpartition(segs[-2])[2]
            ending = segs[-2] + last + tail
            if block.endswith(ending) and block.count(ending + "\n") == c - 1:
                tail, nv, between, const = ending, nv - 1, segs[1:-2], [[last] * c]
        text = block[len(head):len(block) - len(tail)]
        text = text.replace(tail + "\n" + head, "\0")
        for seg in between:
            text = text.replace(seg, "\0")
        if general:
            # what is left of a line is its values, and a general value's "/" its only one
            # (an address has none; a "/" elsewhere is in the segments, cut above): the
            # lengths come apart with the addresses, in the same split
            text = text.replace("/", "\0")
        values = text.split("\0")
        m = nv + len(general)               # the fields of a line: a general value's two
        if len(values) != m * c:
            return False
        fields = [values] if m == 1 else [values[j::m] for j in range(m)]
        cols, lens = [], []
        for v in range(nv):
            cols.append(fields[v + sum(g < v for g in general)])
            if v in general:
                try:        # (bytes: the lengths packed as they travel, protocol.PACKED)
                    lens.append(bytes(map(_LENGTHS.__getitem__,
                                          fields[v + 1 + sum(g < v for g in general)])))
                except KeyError:
                    return False
        cols += const
        if lens and not self._general_for(key, template, cols, lens):
            return False
        packed = [plain_addresses(col, indexed=True) for col in cols] + lens
        cols += lens
        if None in packed:
            return False
        unit0 = self.units
        self.unit_line.extend(range(i, i + c))
        self.units += c
        self.segments.append(("run", template, cols, unit0, packed))
        return True

    def _halves(self, i: int, c: int, key: tuple, template: Template, learned: str,
                start: int, end: int) -> bool:
        """_columns of lines i..i+c-1 as two runs, one per half, compiled at the same time:
        the second by a forked child, which hands back its packed columns (bytes, through a
        pipe) and each column's first value; its text columns are split again only if
        something asks for them (_Deferred).  A half the columns refuse is compiled line
        by line, as a whole group would be."""
        mid = self.text.find("\n", start + (end - start) // 2, end)   # ends the first half
        if mid < 0:
            return self._columns(i, c, key, template, learned, start, end)
        c1 = self.text.count("\n", start, mid) + 1
        reader, writer = os.pipe()
        try:
            child = os.fork()
        except OSError:
            os.close(reader)
            os.close(writer)
            return self._columns(i, c, key, template, learned, start, end)
        if child == 0:                  # (never returns: its result goes up the pipe)
            try:
                os.close(reader)
                result = None
                if self._columns(i + c1, c - c1, key, template, learned, mid + 1, end):
                    seg = self.segments[-1]
                    result = (seg[4], [col[0] for col in seg[2]])
                with os.fdopen(writer, "wb") as pipe:
                    pipe.write(pickle.dumps(result, pickle.HIGHEST_PROTOCOL))
            finally:
                os._exit(0)
        os.close(writer)
        pipe = os.fdopen(reader, "rb")
        try:
            ok = self._columns(i, c1, key, template, learned, start, mid)
            got = pickle.loads(pipe.read() or pickle.dumps(None)) if ok else None
        finally:
            # (closed first: a child still writing then fails at once and leaves, never
            # waits on a full pipe while it is waited for)
            pipe.close()
            os.waitpid(child, 0)
        if not ok:
            return False
        if got is None:
            for j in range(i + c1, i + c):
                self._line(j)
            return True
        packed, firsts = got
        deferred = _Deferred(self, (i + c1, c - c1, key, template, learned, mid + 1, end))
        self.unit_line.extend(range(i + c1, i + c))
        self.segments.append(("run", template,
                              [_DeferredColumn(deferred, k, c - c1, first)
                               for k, first in enumerate(firsts)], self.units, packed))
        self.units += c - c1
        return True

    def _general_for(self, key: tuple, template: Template, cols: list, lens: list) -> bool:
        """Whether template serves the shape of every length combination in lens (columns
        of lengths beside the address columns cols): a combination not met before is
        learned from its first line, through the grammar, as compile() would."""
        # (one length column, the usual case: its distinct values found in C)
        combos = dict.fromkeys(zip(*lens)) if len(lens) > 1 else zip(dict.fromkeys(lens[0]))
        for combo in combos:
            other = with_lengths(key, combo)
            if other not in self.templates:
                row = lens[0].index(combo[0]) if len(lens) == 1 else \
                    next(r for r, got in enumerate(zip(*lens)) if got == combo)
                values = [col[row] for col in cols]
                argv = [k if type(k) is str else next(it) + k[1]
                        for it in [iter(values)] for k in other]
                try:
                    ops = command_ops(argv)
                except ToolError:
                    return False
                self._learned(other, None if ops.warnings else learn(other, values, ops))
            if self.templates[other] is not template:
                return False
        return True

    def argv(self, unit):
        return tokenize(self.lines[self.unit_line[unit]])

    def describe(self, unit):
        j = self.unit_line[unit]
        return f"{self.name}:{j + 1}: {self.lines[j].strip()}"


def _constant(col, blob) -> bool:
    """Whether a run's column holds one value throughout (blob: the column packed, or
    None); a deferred column is told by its packed bytes, without splitting its text."""
    if type(col) is not _DeferredColumn:
        return col.count(col[0]) == len(col)
    if type(blob) is dict:                  # (indexed: its distinct values given)
        return blob["index"].count(blob["index"][0]) == len(col)
    width = len(blob) // len(col)
    return blob.count(blob[:width]) == len(col)     # (n whole copies tile it exactly)


class _Deferred:
    """The text columns of a run compiled by a child (BatchProgram._halves), split again
    from the text when first asked for (keep-going, or a column read whole)."""

    def __init__(self, program: BatchProgram, part: tuple):
        self.program, self.part = program, part
        self.columns: list | None = None

    def get(self) -> list:
        if self.columns is None:
            whole = self.program
            scratch = BatchProgram(whole.text, whole.name)
            scratch.templates, scratch.general = dict(whole.templates), dict(whole.general)
            done = scratch._columns(*self.part)
            assert done, "a half the child compiled must compile again"
            self.columns = scratch.segments[-1][2]
        return self.columns


class _DeferredColumn:
    """One column of a _Deferred run: its length and first value known, its values split
    from the text only when read."""

    __slots__ = ("deferred", "k", "n", "first")

    def __init__(self, deferred: _Deferred, k: int, n: int, first):
        self.deferred, self.k, self.n, self.first = deferred, k, n, first

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index):
        if index == 0:
            return self.first
        return self.deferred.get()[self.k][index]

    def __iter__(self):
        return iter(self.deferred.get()[self.k])

    def count(self, value) -> int:
        return self.deferred.get()[self.k].count(value)
