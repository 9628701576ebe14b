"""Bulk run decoding: a batch's entries expanded op by op, and the runs themselves -- one op
over many argument rows, given as rows, as columns, or as packed columns (protocol.PACKED:
bytes, or indexed: a column's few values and a byte per row) --
decoded into columns, with the first malformed value located (its row and error), so a
million-route run is checked column by column instead of a map per route.  A packed column
of IPv6 addresses may be kept packed (Packed16) and decoded a slice at a time, as a route
run is applied: decoding 200,000 of them at once would hold the loop for a tenth of a
second."""
from __future__ import annotations

from itertools import chain

from plebproto import protocol
from plebproto.constants import EINVAL
from plebproto.errors import OpError

from ..state.inet import ntoa, ntop6

# the only args of a plain route run (route add NET GATEWAY), and of an RTM_ADD that takes
# the fast path (rtmsg.rt_add)
ROUTE_KEYS = frozenset({"type", "af", "dst", "plen", "gateway"})


def plain_route_run(entry: dict) -> bool:
    """A run of RTM_ADDs with nothing but af/dst/plen/gateway (route add NET GATEWAY): the
    batch applies it through BatchOps._add_routes."""
    base, fields = entry.get("args", {}), entry.get("fields")
    return (entry.get("op") == "rtmsg" and type(base) is dict and type(fields) is list
            and (type(entry.get("rows")) is list) != (type(entry.get("columns")) is list)
            and base.get("type") == "RTM_ADD"
            and "dst" in fields and "type" not in fields
            and all(type(f) is str for f in fields)
            and ROUTE_KEYS.issuperset(base) and ROUTE_KEYS.issuperset(fields))


class Packed16:
    """A packed column of 16-byte values (IPv6 addresses), decoded when sliced: [a:b] is
    the list of those ints.  len() and + (the parts of a run) work on the bytes."""

    __slots__ = ("blob",)

    def __init__(self, blob: bytes):
        self.blob = blob

    def __len__(self) -> int:
        return len(self.blob) >> 4

    def __getitem__(self, cut: slice) -> list[int]:
        start, stop, _ = cut.indices(len(self))
        return protocol.unpack_column(16, self.blob[start << 4:stop << 4])  # type: ignore

    def __add__(self, other: Packed16) -> Packed16:
        return Packed16(self.blob + other.blob)


class Indexed:
    """An indexed packed column (protocol.PACKED: its few distinct values, a byte per row),
    decoded when read: a slice is the list of those rows' ints (the distinct values' own
    objects), as a list of them would give; len() and + (the parts of a run) work on the
    row bytes.  Decoding a million rows at once would hold the loop for tens of ms."""

    __slots__ = ("values", "rows")

    def __init__(self, values: list[int], rows: bytes):
        self.values, self.rows = values, rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, cut):
        if type(cut) is not slice:
            return self.values[self.rows[cut]]
        return list(map(self.values.__getitem__, self.rows[cut]))

    def __iter__(self):
        return map(self.values.__getitem__, self.rows)

    def index(self, value) -> int:
        """The first row holding value (ValueError if none), as list.index."""
        return self.rows.index(self.values.index(value))

    def __add__(self, other: Indexed) -> Indexed | list[int]:
        joined = _join_indexed([self, other])
        return joined if joined is not None else self[:] + other[:]


def _join_indexed(pieces: list[Indexed]) -> Indexed | None:
    """The parts of an indexed column as one, its values the parts' together (a part's row
    bytes renumbered to them by one translate); None past 256 values."""
    values = list(dict.fromkeys(chain.from_iterable(p.values for p in pieces)))
    if len(values) > 256:
        return None
    position = {value: i for i, value in enumerate(values)}
    return Indexed(values, b"".join(
        p.rows if p.values == values[:len(p.values)] else
        p.rows.translate(bytes(map(position.__getitem__, p.values)).ljust(256, b"\0"))
        for p in pieces))


def run_columns(entry: dict, lazy: bool = False):
    """(columns, count, packed) of a run given by columns: one list of values per field, all
    of one length (a million-route run is then a million strings on the wire, not a million
    lists), or a packed column (protocol.PACKED: a C array of ints; lazy: 16-byte values
    as a Packed16, decoded by the slice).  packed: the set of field positions given
    packed."""
    columns, fields = entry.get("columns"), entry.get("fields")
    if (entry.get("rows") is not None or type(columns) is not list or type(fields) is not list
            or len(columns) != len(fields) or not columns):
        raise OpError(EINVAL, "a run's columns must be lists, one per field, "
                                  "all of one length")
    args = entry.get("args")
    af = args.get("af", "inet") if type(args) is dict else None
    out, packed = [], set()
    for i, (field, column) in enumerate(zip(fields, columns)):
        if type(column) is bytes or type(column) is dict:
            width = protocol.packed_width(field, af)
            if width is None:
                raise OpError(EINVAL, f"field '{field}' cannot be packed")
            if type(column) is dict:        # indexed: its few values, a byte per row
                try:
                    distinct = protocol.unpack_indexed(width, column)
                except ValueError as exc:
                    raise OpError(EINVAL, str(exc)) from None
                column = Indexed(distinct, column["index"]) if lazy else \
                    list(map(distinct.__getitem__, column["index"]))
            elif len(column) % width:
                raise OpError(EINVAL, "packed column length is not a multiple of its "
                                      "value size")
            else:
                column = Packed16(column) if lazy and width == 16 else \
                    protocol.unpack_column(width, column)
            packed.add(i)
        elif type(column) is not list:
            raise OpError(EINVAL, "a run's columns must be lists, one per field, "
                                      "all of one length")
        out.append(column)
    if len({len(c) for c in out}) != 1:
        raise OpError(EINVAL, "a run's columns must be lists, one per field, "
                                  "all of one length")
    return out, len(out[0]), packed


def run_rows(entry: dict):
    """(rows, count) of a run: its "rows" (a list of value lists), or its columns zipped,
    packed addresses given back as text as in a row."""
    if entry.get("columns") is not None:
        columns, count, packed = run_columns(entry)
        if packed:
            text = ntoa if entry["args"].get("af", "inet") == "inet" else ntop6
            fields = entry["fields"]
            columns = [list(map(text, c)) if i in packed and fields[i] != "plen" else c
                       for i, c in enumerate(columns)]
        return zip(*columns), count
    rows = entry.get("rows")
    if type(rows) is not list:
        raise OpError(EINVAL, "a run needs op, args (map), fields and rows (lists)")
    return rows, len(rows)


def expand(entries, start: int = 0):
    """(index, op, args, tolerated errnos or None) for each op of a batch.  An entry is
    [op, args], [op, args, [errno...]], or a run {"op", "args", "fields", "rows"|"columns"}:
    one op over many argument rows (args updated by zip(fields, row)), which decodes several
    times faster than a map per op."""
    index = start
    for entry in entries:
        if type(entry) is dict:
            op, base, fields = entry.get("op"), entry.get("args", {}), entry.get("fields")
            if type(base) is not dict or type(fields) is not list:
                raise OpError(EINVAL, "a run needs op, args (map), fields and rows (lists)")
            rows, _ = run_rows(entry)
            for row in rows:
                args = base.copy()
                args.update(zip(fields, row))
                yield index, op, args, None
                index += 1
            continue
        if type(entry) is not list or not 2 <= len(entry) <= 3 or type(entry[1]) is not dict:
            raise OpError(EINVAL, "batch entry must be [op, args, tolerate?]")
        tolerate = entry[2] if len(entry) == 3 else None
        if tolerate is not None and type(tolerate) is not list:
            raise OpError(EINVAL, "tolerate must be a list of errnos")
        yield index, entry[0], entry[1], tolerate
        index += 1


def plen_column(plens, width: int) -> tuple[list, tuple | None]:
    """Prefix lengths of a run (None: a host route), and the first that is not an int."""
    if all(type(p) is int for p in plens):
        return plens, None
    out = []
    for k, plen in enumerate(plens):
        if plen is None:
            plen = width
        elif type(plen) is not int:
            return out, (k, OpError(EINVAL, "argument 'plen' must be int"))
        out.append(plen)
    return out, None


def continues(run: dict, entry) -> bool:
    """entry is one more part of run: a plain route run with the same args and fields, its
    columns given the same way (packed or not)."""
    return (type(entry) is dict and entry.get("args") == run["args"]
            and entry.get("fields") == run["fields"] and plain_route_run(entry)
            and column_kinds(entry) == column_kinds(run))


def column_kinds(run: dict):
    """How each column of a run is given (text list, packed bytes, indexed): parts given
    alike decode alike, and only they are joined."""
    columns = run.get("columns")
    return None if type(columns) is not list else [type(c) for c in columns]


def concat(pieces: list):
    """One column from the pieces of its parts (lists, C arrays, bytes, Packed16 or
    Indexed alike), each kind joined in one step."""
    if len(pieces) == 1:
        return pieces[0]
    if type(pieces[0]) is bytes:
        return b"".join(pieces)
    if all(type(p) is Packed16 for p in pieces):
        return Packed16(b"".join(p.blob for p in pieces))
    if all(type(p) is Indexed for p in pieces):
        joined = _join_indexed(pieces)
        if joined is not None:
            return joined
        return list(chain.from_iterable(pieces))
    if type(pieces[0]) is list:
        return list(chain.from_iterable(pieces))
    whole = pieces[0]
    for piece in pieces[1:]:
        whole += piece
    return whole


def rows_to_columns(rows: list, n: int) -> tuple[list, tuple | None]:
    """The columns of a run given as rows, up to its first malformed row (and that row's
    (index, error), or None)."""
    bad = next((k for k, row in enumerate(rows)
                if (type(row) is not list and type(row) is not tuple) or len(row) != n), None)
    good = rows if bad is None else rows[:bad]
    columns = [list(c) for c in zip(*good)] if good else [[] for _ in range(n)]
    if bad is None:
        return columns, None
    return columns, (bad, OpError(EINVAL, "a run row must have one value per field"))
