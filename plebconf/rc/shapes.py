"""Shapes: compiling a million similar command lines without running the grammar a million times.

    key, values = shape(words)            # the words with plain IPv4 addresses cut out
    template = learn(key, values, ops)    # Template, or None: the grammar runs every line
    template.ops(values)                  # the ops of another line of that shape

A shape is the words with every plain address cut out (a `/len` after it stays): an IPv4
dotted quad outside 0/8, 127/8 and 224/3 (netmasks, loopback, multicast), or an IPv6 text
inet_pton reads, without a %zone or an embedded dotted quad, whose first byte is neither
00 (::, ::1, mapped and compatible forms, masks like ::ffff) nor fe (link-local, whose
scope a grammar may embed) nor ff (multicast, masks like ffff:ffff::).  The tool grammar runs
once per shape; when the addresses reappear verbatim as whole argument fields of its ops,
and two probe lines with other addresses give exactly the ops that substituting them gives,
the shape gets a template, and later lines of that shape only substitute their addresses.
Anything else -- quotes, warnings, an op that only warns when it fails (ifconfig's tunnel,
laggport), fields derived from an address -- runs the grammar for every line.  A template
may also take the `/len` after an address as a value (general: a shape with another length
is the same template), when the length reappears as an int
field and a probe with another length gives exactly the ops substituting it gives: a
table of mixed prefix lengths is then one run with a length column, not a run per length.
literal_segments and plain_addresses serve BatchProgram's column-by-column
check of generated files.
"""
from __future__ import annotations

from functools import partial
from itertools import repeat
from socket import AF_INET, AF_INET6, inet_aton, inet_ntoa, inet_ntop, inet_pton

from .command import ToolError, command_ops

__all__ = ["shape", "Template", "learn", "literal_segments", "plain_addresses", "lengths",
           "general_key", "with_lengths"]

# A value is a plain IPv4 address as a whole word, possibly followed by /len: the address
# is cut out, "/len" stays in the shape.  Addresses in 0/8, 127/8 and 224/3 (netmasks,
# loopback, multicast: where a grammar may decide differently) are never cut out.
_FIRST_OK = frozenset(str(i) for i in range(1, 224) if i != 127)
_FIRST_OK_BYTES = bytes(i for i in range(1, 224) if i != 127)
_FIRST_OK6_BYTES = bytes(range(1, 0xFE))      # IPv6: first byte 01..fd
_VALUE = "\0"
_pton6 = partial(inet_pton, AF_INET6)


def _value(token: str):
    """(address, suffix) when token is a value, else None."""
    addr, slash, rest = token.partition("/")
    if ":" in addr:
        if "%" in addr or "." in addr:
            return None
        try:
            first = _pton6(addr)[0]
        except (OSError, ValueError):
            return None
        return (addr, slash + rest) if 1 <= first <= 0xFD else None
    if addr.count(".") != 3 or addr.partition(".")[0] not in _FIRST_OK:
        return None
    try:
        if inet_ntoa(inet_aton(addr)) != addr:
            return None
    except OSError:
        return None
    return addr, slash + rest


def shape(tokens: list[str]) -> tuple[tuple, list[str]]:
    """(shape key, the addresses cut out) of a command line's words."""
    key, values = [], []
    for tok in tokens:
        v = _value(tok) if tok[:1].isdigit() or ":" in tok else None
        if v is None:
            key.append(tok)
        else:
            key.append((_VALUE, v[1]))
            values.append(v[0])
    return tuple(key), values


def _fill(key: tuple, values: list[str]) -> list[str]:
    """The words of a line of shape key with these addresses."""
    it = iter(values)
    return [k if type(k) is str else next(it) + k[1] for k in key]


class Template:
    """The ops of one shape, with the argument fields its addresses fill."""

    __slots__ = ("entries", "fields", "run_op", "run_args", "lengths")

    def __init__(self, entries, fields, lengths=0):
        self.entries = entries      # [(op, const args, tolerate or None, [(field, value#)])]
        self.fields = fields        # one-op template: field per value#, for runs; else None
        # general: the shape's lengths (lengths(key)) are its last `lengths` values, ints
        self.lengths = lengths
        if fields is not None:
            self.run_op, self.run_args = entries[0][0], entries[0][1]

    def ops(self, values, tolerate=None) -> list:
        out = []
        for op, args, tol, slots in self.entries:
            args = dict(args)
            for name, i in slots:
                args[name] = values[i]
            if tolerate:
                tol = sorted(set(tolerate) | set(tol or ()))
            out.append([op, args] if tol is None else [op, args, tol])
        return out


def _learn(ops, values: list[str]) -> Template | None:
    """A template for ops made from a line whose addresses are `values`, or None when the
    addresses do not appear as whole argument fields only."""
    # (a line with an op that only warns when it fails keeps its grammar: the executor
    # asks it again for the warning's words, Program.may_warn)
    if ops.warnings or ops.may_warn() or len(set(values)) != len(values):
        return None
    index = {v: i for i, v in enumerate(values)}
    entries, used = [], set()
    for entry in ops.ops:
        op, args = entry[0], entry[1]
        tolerate = entry[2] if len(entry) > 2 else None
        const, slots = {}, []
        for name, value in args.items():
            if type(value) is str and value in index:
                slots.append((name, index[value]))
                used.add(index[value])
            elif any(v in repr(value) for v in values):
                return None         # derived from an address: the grammar must run
            else:
                const[name] = value
        entries.append((op, const, tolerate, slots))
    if len(used) != len(values):
        return None
    fields = None
    if len(entries) == 1 and entries[0][2] is None:
        slots = entries[0][3]
        if sorted(i for _, i in slots) == list(range(len(values))):
            names = {i: name for name, i in slots}
            fields = [names[i] for i in range(len(values))]
    return Template(entries, fields)


def _probes(values: list[str]) -> list[list[str]]:
    """Two other address lists for the same shape: first octets (bytes) changed, last
    octets (bits) changed (a field computed from an address, or masked by the grammar,
    then differs)."""
    return [[_probe6(v, True) if ":" in v else _probe4(v, True) for v in values],
            [_probe6(v, False) if ":" in v else _probe4(v, False) for v in values]]


def _probe4(v: str, high: bool) -> str:
    """Another plain IPv4 address: the first octet changed (still a value), or the last."""
    if not high:
        rest, d = v.rsplit(".", 1)
        return f"{rest}.{int(d) ^ 1}"
    a, rest = v.split(".", 1)
    for alt in (int(a) ^ 1, int(a) ^ 2, int(a) ^ 4, int(a) ^ 8):
        if 1 <= alt <= 223 and alt != 127:
            return f"{alt}.{rest}"
    return v


def _probe6(v: str, high: bool) -> str:
    """Another plain IPv6 address: a bit of the first byte changed (still 01..fd), or the
    last bit."""
    packed = bytearray(_pton6(v))
    if high:
        packed[0] = next((b for b in (packed[0] ^ 1, packed[0] ^ 2, packed[0] ^ 4)
                          if 1 <= b <= 0xFD), packed[0])
    else:
        packed[15] ^= 1
    return inet_ntop(AF_INET6, bytes(packed))


def learn(key: tuple, values: list[str], ops) -> Template | None:
    """The shape's template, if the grammar's ops for two probe lines are exactly what
    substituting their addresses gives; general (see _generalize) if it can be."""
    template = _learn(ops, values)
    if template is None:
        return None
    for probe in _probes(values):
        try:
            expected = command_ops(_fill(key, probe))
        except ToolError:
            return None
        if expected.warnings or expected.ops != template.ops(probe):
            return None
    return _generalize(key, values, template)


def lengths(key: tuple) -> list[int]:
    """The prefix lengths (the /len after an address) of a shape, in order."""
    return [int(k[1][1:]) for k in key if type(k) is not str and k[1][1:].isdigit()]


def general_key(key: tuple) -> tuple:
    """The shape with its lengths left out: the key of its general template."""
    return tuple((_VALUE, "/#") if type(k) is not str and k[1][1:].isdigit() else k
                 for k in key)


def with_lengths(key: tuple, lens) -> tuple:
    """The shape with these lengths in place of its own."""
    it = iter(lens)
    return tuple((_VALUE, f"/{next(it)}") if type(k) is not str and k[1][1:].isdigit() else k
                 for k in key)


def _generalize(key: tuple, values: list[str], template: Template) -> Template:
    """The template with the shape's lengths as values too (appended after the addresses)
    when each length is exactly one int field of a one-op template and a probe line with
    every length moved by one gives what substituting gives; else the template."""
    lens = lengths(key)
    if not lens or template.fields is None:
        return template
    op, const, tolerate, slots = template.entries[0]
    const, extra = dict(const), []
    for j, length in enumerate(lens):
        names = [n for n, v in const.items() if type(v) is int and v == length]
        if len(names) != 1:
            return template
        extra.append((names[0], len(values) + j))
        del const[names[0]]
    general = Template([(op, const, tolerate, slots + extra)],
                       template.fields + [name for name, _ in extra], len(lens))
    probe = [n - 1 if n else n + 1 for n in lens]
    try:
        expected = command_ops(_fill(with_lengths(key, probe), values))
    except ToolError:
        return template
    if expected.warnings or expected.ops != general.ops(values + probe):
        return template
    return general


def literal_segments(line: str, key: tuple) -> list[str] | None:
    """The text of a line around its addresses: [before the first, between the first and
    the second (with the first one's /len), ..., after the last]."""
    segs, pos = [], 0
    start = 0
    for word in key:
        if type(word) is str:
            at = line.find(word, pos)
        else:
            at = pos
            while at < len(line) and line[at].isspace():
                at += 1
            segs.append(line[start:at])
            end = at
            while end < len(line) and not line[end].isspace():
                end += 1
            addr = line[at:end].partition("/")[0]
            start = at + len(addr)
            pos = end
            continue
        if at < 0:
            return None
        pos = at + len(word)
    segs.append(line[start:])
    return segs


def plain_addresses(col: list[str], indexed: bool = False) -> bytes | dict | None:
    """col packed (protocol.PACKED) when every string of it is a plain address of one family
    (a value, see the module docstring: IPv4 as a dotted quad without leading zeros, packed
    4 bytes each; IPv6 16 bytes each), else None; C loops only.  A column of few distinct
    values (the gateways of a table) is checked and packed value by value; indexed: such a
    column of at most 256 values is given in its indexed form instead ({"values": the
    distinct ones packed, "index": a byte per row}, protocol.PACKED)."""
    if col.count(col[0]) == len(col):
        unique = col[:1]                                # a constant column: once
    elif len(col) > 4096 and len(set(col[:1024])) <= 256 and \
            len(distinct := list(dict.fromkeys(col))) <= len(col) // 16:
        packed = plain_addresses(distinct)
        if packed is None:
            return None
        assert type(packed) is bytes
        if indexed and len(distinct) <= 256:
            position = {v: i for i, v in enumerate(distinct)}
            return {"values": packed, "index": bytes(map(position.__getitem__, col))}
        width = len(packed) // len(distinct)
        value_of = {v: packed[width * i:width * (i + 1)] for i, v in enumerate(distinct)}
        return b"".join(map(value_of.__getitem__, col))
    else:
        unique = col
    packed = _plain6(unique) if ":" in unique[0] else _plain4(unique)
    if packed is None:
        return None
    return packed if unique is col else packed * len(col)


def _plain4(unique: list[str]) -> bytes | None:
    # inet_pton is strict where inet_aton is not: exactly four decimal parts, each 0..255
    # and without a leading zero (POSIX; glibc and musl alike) -- a plain dotted quad, and
    # nothing else, in one C call per address
    try:
        packed = b"".join(map(inet_pton, repeat(AF_INET), unique))
    except (OSError, TypeError, ValueError):    # ValueError: an embedded NUL
        return None
    if packed[::4].translate(None, _FIRST_OK_BYTES):
        return None
    return packed


def _plain6(unique: list[str]) -> bytes | None:
    text = "\n".join(unique)
    if "%" in text or "." in text:          # a zone, an embedded dotted quad: not values
        return None
    try:
        packed = b"".join(map(inet_pton, repeat(AF_INET6), unique))
    except (OSError, TypeError, ValueError):
        return None
    if packed[::16].translate(None, _FIRST_OK6_BYTES):
        return None
    return packed
