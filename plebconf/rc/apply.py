"""Apply command lines to a stack: rc.conf plans and batch files, atomic or best-effort.

    program = rc_program(files, live_interfaces)      # rc.conf files -> RcProgram
    program = batch_program(text, name)               # command lines -> BatchProgram
    errors = execute(program, send, keep_going=False) # [] when everything applied
    program.warnings, program.failures (grammar refusals), program.argv(unit)

A Program is the compiled form of a list of *units* (one command line each: a plan Step or
a batch-file line).  Each unit becomes the batch entries its tool's pure grammar gives
(`ops_for(argv)` of plebconf.cli.ifconfig / route / arp, see plebconf.cli.common.ToolOps),
plus the few commands rc.d runs that are not those tools: `hostname NAME` (sysctl
kern.hostname), `sysctl name=value`, `ndp -s ADDR MAC [temp] [proxy]` (llmsg, af inet6).

`send(entries)` applies a list of batch entries all-or-nothing and raises Failure(index,
errno, message) naming the op that failed: Syscalls.run_batch in the stack process at boot,
Client.batch over the socket otherwise (see senders below).

Atomic (default): grammar errors are reported before anything is sent; then the whole
program is one batch, so a failure leaves the stack unchanged.  Keep-going (FreeBSD's own
behaviour: rc.d runs every command and carries on): every unit is applied on its own terms
(all of its ops or none), failing units are reported and skipped, the others applied.

Error text: `WHERE: [VAR: ]COMMAND: MESSAGE`, where WHERE is file:line, VAR the rc.conf
variable that produced the command, COMMAND the generated command line and MESSAGE what the
tool prints for that failure (the tool's label for the failing op, worded by the tool).

Speed (a batch file of a million `route add` lines): lines are compiled by *shape*: the
words with every plain IPv4 address cut out (a `/len` after it stays; addresses in 0/8,
127/8 and 224/3, e.g. netmasks, are never cut out).  The tool grammar runs once per shape;
when the addresses reappear verbatim as whole argument fields of its ops, and two probe lines
with other addresses give exactly the ops that substituting them gives, the shape gets a
template, and later lines of that shape only substitute their addresses.  Consecutive lines
of a one-op template travel as one compact run (plebconf.rpc.client.run) that the stack
expands.  In batch files, long stretches of lines with the same skeleton (digits removed)
are split and checked column by column in bulk (BatchProgram).  Anything else -- quotes,
warnings, fields derived from an address -- runs the grammar for every line.
"""
from __future__ import annotations

import importlib
import re
import shlex
from dataclasses import dataclass
from itertools import groupby
from socket import inet_aton, inet_ntoa

from plebconf.cli.common import ToolError, ToolOps
from plebproto.protocol import packed_width
from plebproto.constants import (
    EEXIST, ENOENT, ENXIO, EPERM, RTF_ANNOUNCE, RTF_STATIC, strerror,
)

__all__ = ["Program", "RcProgram", "BatchProgram", "Failure", "execute", "rc_program",
           "batch_program", "command_ops", "command_line", "error_text", "shape", "tokenize",
           "client_sender", "syscalls_sender", "ALL_ERRNOS"]

TOOL_MODULES = {"ifconfig": "plebconf.cli.ifconfig", "route": "plebconf.cli.route",
                "arp": "plebconf.cli.arp"}
ALL_ERRNOS = list(range(1, 128))        # a tolerated step tolerates any failure
KEEP_GOING_WINDOW = 4096                # units per batch in keep-going mode


# ============================================================================ one command
def grammar(tool: str):
    """The tool's ops_for, or None when plebconf has no such tool."""
    module = TOOL_MODULES.get(tool)
    if module is None:
        return None
    return importlib.import_module(module).ops_for


def command_line(argv: list[str]) -> str:
    return shlex.join(argv)


def command_ops(argv: list[str]) -> ToolOps:
    """The batch entries of one command line; ToolError for what cannot be applied."""
    if not argv:
        raise ToolError("empty command")
    tool, args = argv[0], argv[1:]
    if tool == "hostname":
        if len(args) != 1:
            raise ToolError("usage: hostname name")
        return ToolOps([["sysctl", {"name": "kern.hostname", "value": args[0]}]],
                       ["kern.hostname"])
    if tool == "sysctl":
        ops, labels = [], []
        for arg in args:
            name, sep, value = arg.partition("=")
            if not sep or not name:
                raise ToolError(f"sysctl: {arg}: only name=value settings can be applied")
            ops.append(["sysctl", {"name": name, "value": value}])
            labels.append(name)
        if not ops:
            raise ToolError("usage: sysctl name=value ...")
        return ToolOps(ops, labels)
    if tool == "ndp":
        return _ndp_ops(args)
    ops_for = grammar(tool)
    if ops_for is None:
        raise ToolError(f"{tool}: not a command plebconf can apply "
                        "(ifconfig, route, arp, ndp -s, sysctl, hostname)")
    result = ops_for(args)
    if result is None:
        raise ToolError(f"{command_line(argv)}: changes nothing; only commands that change "
                        "the stack can be applied")
    return result


def _ndp_ops(args: list[str]) -> ToolOps:
    """ndp -s nodename ether_addr [temp] [proxy] (rc.d/static_ndp)."""
    if len(args) < 3 or args[0] != "-s" or any(a not in ("temp", "proxy") for a in args[3:]):
        raise ToolError("usage: ndp -s nodename ether_addr [temp] [proxy]")
    addr, mac = args[1], args[2]
    if not re.fullmatch(r"[0-9A-Fa-f]{1,2}(:[0-9A-Fa-f]{1,2}){5}", mac):
        raise ToolError(f"ndp: invalid Ethernet address '{mac}'")
    op = {"type": "RTM_ADD", "af": "inet6", "addr": addr,
          "mac": ":".join(f"{int(b, 16):02x}" for b in mac.split(":")),
          "flags": RTF_STATIC | (RTF_ANNOUNCE if "proxy" in args[3:] else 0)}
    if "temp" in args[3:]:
        op["temp"] = True
    return ToolOps([["llmsg", op]], [f"set {addr}"])


def error_text(tool: str, ops: ToolOps | None, index: int, errno: int) -> str:
    """What the tool prints when op `index` of its ops fails with errno: ops.message(index,
    errno) when the tool's ToolOps has it (ifconfig), else the tool module's
    failure(ops, index, errno) -> (stdout, stderr, status) when it has one (its stdout line
    when there is one: route's `add net ...: gateway ... fib 0: route already in table`),
    otherwise FreeBSD's perror() form `tool: label: strerror`."""
    module = TOOL_MODULES.get(tool)
    if ops is not None and callable(getattr(ops, "message", None)):
        return ops.message(index, errno)         # ifconfig's ToolOps words its own errors
    label = ops.labels[index] if ops is not None and index < len(ops.labels) else tool
    if module is not None and ops is not None:
        failure = getattr(importlib.import_module(module), "failure", None)
        if failure is not None:
            out, err, _ = failure(ops, index, errno)
            return " ".join((out.strip() or err.strip()).splitlines())
    if tool == "sysctl" and errno == ENOENT:
        return f"sysctl: unknown oid '{label}'"
    if tool == "ifconfig" and errno in (ENXIO, EPERM):
        return f"ifconfig: {label}: {'no such interface' if errno == ENXIO else 'permission denied'}"
    return f"{tool}: {label}: {strerror(errno)}"


def tokenize(line: str) -> list[str]:
    """sh words of a batch line (quotes honoured, `#` starts a comment)."""
    if not any(c in line for c in "'\"\\#"):
        return line.split()
    return shlex.split(line, comments=True)


# ============================================================================ shapes
# A value is a plain IPv4 address as a whole word, possibly followed by /len: the address
# is cut out, "/len" stays in the shape.  Addresses in 0/8, 127/8 and 224/3 (netmasks,
# loopback, multicast: where a grammar may decide differently) are never cut out.
_FIRST_OK = frozenset(str(i) for i in range(1, 224) if i != 127)
_FIRST_OK_BYTES = bytes(i for i in range(1, 224) if i != 127)
_VALUE = "\0"


def _value(token: str):
    """(address, suffix) when token is a value, else None."""
    addr, slash, rest = token.partition("/")
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
        v = _value(tok) if tok[:1].isdigit() else None
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

    __slots__ = ("entries", "fields", "run_op", "run_args")

    def __init__(self, entries, fields):
        self.entries = entries      # [(op, const args, tolerate or None, [(field, value#)])]
        self.fields = fields        # one-op template: field per value#, for runs; else None
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
    if ops.warnings or len(set(values)) != len(values):
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
    """Two other address lists for the same shape: first octets changed, last octets changed
    (a field computed from an address, or masked by the grammar, then differs)."""
    def first(v):
        a, rest = v.split(".", 1)
        for alt in (int(a) ^ 1, int(a) ^ 2, int(a) ^ 4, int(a) ^ 8):
            if 1 <= alt <= 223 and alt != 127:
                return f"{alt}.{rest}"
        return v

    def last(v):
        rest, d = v.rsplit(".", 1)
        return f"{rest}.{int(d) ^ 1}"
    return [[first(v) for v in values], [last(v) for v in values]]


def learn(key: tuple, values: list[str], ops) -> Template | None:
    """The shape's template, if the grammar's ops for two probe lines are exactly what
    substituting their addresses gives."""
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
    return template


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


def plain_addresses(col: list[str]) -> bytes | None:
    """col packed (protocol.PACKED) when every string of it is a plain address (dotted quad,
    no leading zeros, first octet in 1..223 but not 127), else None; C loops only."""
    unique = col[:1] if col.count(col[0]) == len(col) else col    # a constant column: once
    text = ("\n" + "\n".join(unique) + "\n").encode()
    n = len(unique)
    if (text.translate(None, b"0123456789.\n") or text.count(b".") != 3 * n
            or b".." in text or b"\n." in text or b".\n" in text):
        return None
    marked = text.replace(b".", b".|").replace(b"\n", b"\n|")
    if marked.count(b"|0") != marked.count(b"|0.") + marked.count(b"|0\n") or \
            b"\n|0" in marked:
        return None
    try:
        packed = b"".join(map(inet_aton, unique))
    except OSError:
        return None
    if packed[::4].translate(None, _FIRST_OK_BYTES):
        return None
    return packed if unique is col else packed * len(col)


# ============================================================================ programs
@dataclass
class Failure(Exception):
    index: int          # op number in the batch sent
    errno: int
    message: str = ""


class Program:
    """Compiled units (one command line each): segments of batch entries, and how to name
    each unit in messages (argv(unit), describe(unit): subclasses).

    segments: ("run", template, columns, first unit, packed) -- one op per unit, consecutive
              units, columns: one list of addresses per template field, packed: those
              columns packed (protocol.PACKED) when all are plain IPv4 addresses, or None --
              or ("ops", unit, entries)."""

    def __init__(self):
        self.segments: list = []
        self.failures: list[tuple[int, str]] = []   # (unit, message): refused by a grammar
        self.warnings: list[str] = []
        self.templates: dict = {}   # shape -> Template, or False: this shape has none
        self.units = 0

    @property
    def unit_count(self) -> int:
        return self.units

    # -- compiling -----------------------------------------------------------------------------
    def compile(self, unit: int, argv: list[str], tolerate: list | None = None) -> None:
        key, values = shape(argv)
        template = self.templates.get(key)
        if template:
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
        if tolerate:
            entries = [[e[0], e[1], sorted(set(tolerate) | set(e[2] if len(e) > 2 else ()))]
                       for e in entries]
        self.segments.append(("ops", unit, entries))
        for w in ops.warnings:
            self.warnings.append(f"{self.describe(unit)}: {w}")
        if template is None and values:
            self.templates[key] = learn(key, values, ops) or False

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

    # -- entries -------------------------------------------------------------------------------
    def entries(self) -> list:
        """The batch: runs as column runs (plebconf.rpc.client.run), a column holding one
        value throughout (the gateway of a million routes) folded into the run's args."""
        from plebconf.rpc.client import run
        out = []
        for seg in self.segments:
            if seg[0] != "run":
                out.extend(seg[2])
                continue
            t, columns, packed = seg[1], seg[2], seg[4] or [None] * len(seg[2])
            args, fields, cols = dict(t.run_args), [], []
            for name, col, blob in zip(t.fields, columns, packed):
                if col.count(col[0]) == len(col) and (cols or name != t.fields[-1]):
                    args[name] = col[0]
                else:
                    fields.append(name)
                    wire = blob is not None and packed_width(name, args.get("af")) == 4
                    cols.append(blob if wire else col)
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
    """Units are the steps of an rc.d plan."""

    def __init__(self):
        super().__init__()
        self.argvs: list[list[str]] = []
        self.origins: list[str] = []

    def add(self, argv: list[str], origin: str, tolerate: list | None = None) -> None:
        self.argvs.append(list(argv))
        self.origins.append(origin)
        self.units += 1
        self.compile(self.units - 1, argv, tolerate)

    def argv(self, unit):
        return self.argvs[unit]

    def describe(self, unit):
        return self.origins[unit] + command_line(self.argvs[unit])


DIGITS = b"0123456789"
COLUMNAR_MIN = 16       # consecutive lines of one skeleton checked column by column


class BatchProgram(Program):
    """Units are the command lines of a batch file (comments and blank lines are not).

    Consecutive lines with the same skeleton (the line without its digits) are compiled
    together: the first one by the grammar (which teaches its shape's template), the others
    by splitting them all at once and checking each column in bulk: literal words equal,
    address columns plain addresses (column_values).  A group that does not pass is
    compiled line by line."""

    def __init__(self, text: str, name: str):
        super().__init__()
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
        skel = self.text.encode().translate(None, DIGITS)
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
        if not template or template.fields is None or not self._columns(
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
        if segs is None or any(not seg or "\0" in seg for seg in segs[1:-1]):
            return False
        nv = len(segs) - 1
        block = self.text[start:end]
        head, tail = segs[0], segs[-1]
        if not block.startswith(head) or not block.endswith(tail):
            return False
        # the last address the same on every line (the gateway of a million routes): a
        # constant ending, cut with the line breaks instead of split into a million strings
        between, const = segs[1:-1], []
        if nv >= 2:
            last = learned[:len(learned) - len(tail)].rpartition(segs[-2])[2]
            ending = segs[-2] + last + tail
            if block.endswith(ending) and block.count(ending + "\n") == c - 1:
                tail, nv, between, const = ending, nv - 1, segs[1:-2], [[last] * c]
        text = block[len(head):len(block) - len(tail)]
        text = text.replace(tail + "\n" + head, "\0")
        for seg in between:
            text = text.replace(seg, "\0")
        values = text.split("\0")
        if len(values) != nv * c:
            return False
        cols = ([values] if nv == 1 else [values[j::nv] for j in range(nv)]) + const
        packed = [plain_addresses(col) for col in cols]
        if None in packed:
            return False
        unit0 = self.units
        self.unit_line.extend(range(i, i + c))
        self.units += c
        self.segments.append(("run", template, cols, unit0, packed))
        return True

    def argv(self, unit):
        return tokenize(self.lines[self.unit_line[unit]])

    def describe(self, unit):
        j = self.unit_line[unit]
        return f"{self.name}:{j + 1}: {self.lines[j].strip()}"


# ============================================================================ executing
def execute(program: Program, send, keep_going: bool = False) -> list[str]:
    """Apply the program; the messages of what failed (empty: all applied)."""
    refused = {u: f"{program.describe(u)}: {msg}" for u, msg in program.failures}
    if not keep_going:
        if refused:
            return [refused[u] for u in sorted(refused)]
        try:
            send(program.entries())
        except Failure as f:
            unit, op = program.locate(f.index)
            return [program.failure_text(unit, op, f.errno)]
        return []
    failed = dict(refused)
    todo = program.unit_entries()
    for start in range(0, len(todo), KEEP_GOING_WINDOW):
        window = todo[start:start + KEEP_GOING_WINDOW]
        while window:
            flat, owner = [], []
            for i, (unit, entries) in enumerate(window):
                flat.extend(entries)
                owner.extend([i] * len(entries))
            if not flat:
                break
            try:
                send(flat)
                break
            except Failure as f:
                i = owner[f.index]
                unit, entries = window[i]
                first = owner.index(i)
                failed[unit] = program.failure_text(unit, f.index - first, f.errno)
                if i:           # what came before it applies on its own (it just did)
                    send([e for _, es in window[:i] for e in es])
                window = window[i + 1:]
    return [failed[u] for u in sorted(failed)]


def syscalls_sender(syscalls):
    """send() applying through Syscalls.run_batch, in the stack process (boot time)."""
    from plebproto.errors import OpError

    def send(entries):
        try:
            return syscalls.run_batch(entries)
        except OpError as exc:
            raise Failure(exc.index, exc.errno, exc.msg) from None
    return send


def client_sender(client):
    """send() applying through a control-socket Client."""
    from plebproto.errors import OpError

    def send(entries):
        try:
            return client.batch(entries)
        except OpError as exc:
            raise Failure(exc.index or 0, exc.errno, exc.msg) from None
    return send


# ============================================================================ sources
def read_rc_files(files: list[str]):
    """parse_files for files named on a command line: an unreadable one is an error here."""
    from .parser import parse_files
    for path in files:
        with open(path):        # OSError names the file
            pass
    return parse_files(files)


def rc_program(files: list[str], live_interfaces: list[str]) -> Program:
    """The rc.d network start for rc.conf files on a stack with these interfaces
    (`ifconfig -l` order).  Raises OSError / RcSyntaxError for files that cannot be read.
    program.warnings: the plan's warnings, then the tools' own.

    Applying an rc.conf again is not an error: a route it adds that is already in the table
    (EEXIST, FreeBSD's "route already in table", which rc.d/routing reports and ignores) is
    tolerated; addresses, flags, MTUs, descriptions and `arp -S` simply set again, and
    cloned interfaces that exist are not created.  The plan's implicit routes tolerate any
    failure, as at every FreeBSD boot."""
    from .plan import plan
    rcvars = read_rc_files(files)
    p = plan(rcvars, live_interfaces)
    program = RcProgram()
    program.warnings.extend(p.warnings)
    for step in p.steps:
        tolerate = ALL_ERRNOS if step.tolerate_error else (
            [EEXIST] if step.argv[:2] == ["route", "add"] else None)
        program.add(step.argv, f"{step.file}:{step.line}: {step.var}: ", tolerate)
    program.steps = p.steps
    return program


def batch_program(text: str, name: str, progress=None) -> BatchProgram:
    return BatchProgram(text, name).compile_all(progress)
