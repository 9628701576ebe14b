"""Apply command lines to a stack: rc.conf plans and batch files, atomic or best-effort.

    program = rc_program(files, live_interfaces)      # rc.conf files -> Program (+ warnings)
    program = batch_program(text, name)               # lines of ifconfig/route/arp commands
    errors = execute(program, send, keep_going=False) # [] when everything applied

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

Speed (batch files of a million `route add` lines): lines are compiled by *shape*.  A line's
shape is its text with every plain IPv4 address cut out (addresses in the special ranges
0/8, 127/8 and 224/3, e.g. netmasks, stay part of the shape).  The tool grammar runs once per
shape; when the addresses reappear verbatim as whole argument fields of the ops, and two
probe lines with other addresses give exactly the ops the substitution gives, the shape gets
a template and every later line of that shape only substitutes its addresses.  Consecutive
lines of a one-op template travel as one compact run (plebconf.rpc.client.run) that the
stack expands.  Anything else (quotes, warnings, derived fields) simply runs the grammar.
"""
from __future__ import annotations

import importlib
import re
import shlex
from dataclasses import dataclass

from plebconf.cli.common import ToolError, ToolOps
from plebconf.rpc.constants import ENOENT, ENXIO, EPERM, RTF_ANNOUNCE, RTF_STATIC, strerror

__all__ = ["Program", "Failure", "execute", "rc_program", "batch_program", "command_ops",
           "command_line", "error_text", "client_sender", "syscalls_sender", "ALL_ERRNOS"]

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
    try:
        ops_for = grammar(tool)
    except ModuleNotFoundError:
        if tool != "arp":
            raise
        return _ndp_ops(args, arp=True)     # until plebconf.cli.arp exists: arp -s/-S only
    if ops_for is None:
        raise ToolError(f"{tool}: not a command plebconf can apply "
                        "(ifconfig, route, arp, ndp -s, sysctl, hostname)")
    result = ops_for(args)
    if result is None:
        raise ToolError(f"{command_line(argv)}: changes nothing; only commands that change "
                        "the stack can be applied")
    return result


def _ndp_ops(args: list[str], arp: bool = False) -> ToolOps:
    """ndp -s nodename ether_addr [temp] [proxy] (rc.d/static_ndp); with arp, the same for
    `arp -s|-S hostname ether_addr [temp] [pub]`."""
    tool, pub = ("arp", "pub") if arp else ("ndp", "proxy")
    if (len(args) < 3 or args[0] not in (("-s", "-S") if arp else ("-s",))
            or any(a not in ("temp", pub, "only") for a in args[3:])):
        raise ToolError(f"usage: {tool} -s hostname ether_addr [temp] [{pub}]")
    addr, mac = args[1], args[2]
    if not re.fullmatch(r"[0-9A-Fa-f]{1,2}(:[0-9A-Fa-f]{1,2}){5}", mac):
        raise ToolError(f"{tool}: invalid Ethernet address '{mac}'")
    op = {"type": "RTM_ADD", "af": "inet" if arp else "inet6", "addr": addr,
          "mac": ":".join(f"{int(b, 16):02x}" for b in mac.split(":")),
          "flags": RTF_STATIC | (RTF_ANNOUNCE if pub in args[3:] else 0)}
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
# A plain IPv4 address as a whole word (it may be followed by /len, which stays in the shape).
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_FIRST = r"(?:22[0-3]|2[01][0-9]|1[0-9][0-9]|[1-9][0-9]|[1-9])"     # 1..223
_ADDR = re.compile(rf"(?<![^\s])(?!127\.)({_FIRST}(?:\.{_OCTET}){{3}})(?![^\s/])")


class Template:
    """The ops of one shape, with the positions its addresses fill."""

    __slots__ = ("entries", "fields", "run_op", "run_args")

    def __init__(self, entries, fields):
        self.entries = entries      # [(op, const args, tolerate or None, [(field, value#)])]
        self.fields = fields        # one-op template: field per value#, for runs; else None
        if fields is not None:
            self.run_op, self.run_args = entries[0][0], entries[0][1]

    def ops(self, values) -> list:
        out = []
        for op, args, tolerate, slots in self.entries:
            args = dict(args)
            for name, i in slots:
                args[name] = values[i]
            out.append([op, args] if tolerate is None else [op, args, tolerate])
        return out


def _learn(ops: ToolOps, values: list[str]) -> Template | None:
    """A template for ops made from a line whose addresses are `values`, or None when the
    addresses do not appear as whole fields only."""
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
            names = dict((i, name) for name, i in slots)
            fields = [names[i] for i in range(len(values))]
    return Template(entries, fields)


def _probe_values(values: list[str]) -> list[list[str]]:
    """Two other address lists of the same shape: first octets changed, last octets changed."""
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


def _join(parts: list[str], values: list[str]) -> str:
    out = list(parts)
    out[1::2] = values
    return "".join(out)


# ============================================================================ programs
@dataclass
class Failure(Exception):
    index: int          # op number in the batch sent
    errno: int
    message: str = ""


class Program:
    """Compiled units: segments of batch entries, and how to name each unit in messages.

    segments: ("run", template, rows, first unit) | ("ops", unit, entries)."""

    def __init__(self):
        self.segments: list = []
        self.failures: list[tuple[int, str]] = []   # (unit, message): refused by a grammar
        self.warnings: list[str] = []
        self.argvs: list = []       # per unit: argv, or None when it is re-derived from text
        self.texts: list = []       # per unit: the command text (batch line) or None
        self.origins: list = []     # per unit: "file:line: " or "file:line: var: "
        self.templates: dict = {}   # shape -> Template | False (no template)
        self.batch_name = "-"       # batch files: units' origins are line numbers in it

    # -- building ------------------------------------------------------------------------------
    def _unit(self, argv, text, origin) -> int:
        self.argvs.append(argv)
        self.texts.append(text)
        self.origins.append(origin)
        return len(self.origins) - 1

    def add_argv(self, argv: list[str], origin: str, tolerate: bool = False,
                 use_shapes: bool = True) -> None:
        unit = self._unit(argv, None, origin)
        if tolerate or not use_shapes:
            self._add_plain(unit, argv, tolerate)
        else:
            self._add_shaped(unit, command_line(argv), argv)

    def add_line(self, line: str, origin: str) -> None:
        """A batch-file line (comments and blank lines must be filtered by the caller)."""
        unit = self._unit(None, line, origin)
        self._add_shaped(unit, line, None)

    def _add_plain(self, unit, argv, tolerate=False) -> ToolOps | None:
        try:
            ops = command_ops(argv)
        except ToolError as exc:
            self.failures.append((unit, exc.message))
            return None
        entries = ops.ops
        if tolerate:
            entries = [[e[0], e[1], ALL_ERRNOS] for e in entries]
        self.segments.append(("ops", unit, entries))
        for w in ops.warnings:
            self.warnings.append(f"{self.describe(unit)}: {w}")
        return ops

    def _add_shaped(self, unit, line, argv) -> None:
        parts = _ADDR.split(line)
        values = parts[1::2]
        key = tuple(parts[::2])
        template = self.templates.get(key)
        if template:
            self._add_templated(unit, template, values)
            return
        if argv is None:
            try:
                argv = tokenize(line)
            except ValueError as exc:
                self.failures.append((unit, f"{exc}"))
                return
            self.argvs[unit] = argv
        ops = self._add_plain(unit, argv)
        if ops is None or template is False or not values:
            return
        template = _learn(ops, values)
        if template is not None:
            for probe in _probe_values(values):
                try:
                    expected = command_ops(tokenize(_join(parts, probe)))
                except (ToolError, ValueError):
                    template = None
                    break
                if expected.warnings or expected.ops != template.ops(probe):
                    template = None
                    break
        self.templates[key] = template or False

    def _add_templated(self, unit, template, values) -> None:
        segments = self.segments
        if template.fields is not None:
            last = segments[-1] if segments else None
            if (last is not None and last[0] == "run" and last[1] is template
                    and last[3] + len(last[2]) == unit):
                last[2].append(values)
            else:
                segments.append(("run", template, [values], unit))
        else:
            segments.append(("ops", unit, template.ops(values)))

    def add_batch_lines(self, lines, name: str, first: int = 1) -> None:
        """The lines of a batch file, with the fast path for lines of a known shape inlined
        (this loop is what a million-line file costs)."""
        self.batch_name = name
        split, templates, segments = _ADDR.split, self.templates, self.segments
        texts, argvs, origins = self.texts, self.argvs, self.origins
        run_t = run_rows = None
        for n, line in enumerate(lines, first):
            parts = split(line)
            t = templates.get(tuple(parts[::2]))
            if t and t.fields is not None:
                if t is run_t:
                    run_rows.append(parts[1::2])
                else:
                    run_rows = [parts[1::2]]
                    run_t = t
                    segments.append(("run", t, run_rows, len(origins)))
                texts.append(line)
                argvs.append(None)
                origins.append(n)       # a line number: named lazily by describe()
                continue
            stripped = line.strip()
            if not stripped or stripped[0] == "#":
                continue
            self._add_shaped(self._unit(None, line, n), line, None)
            run_t = run_rows = None     # a run holds consecutive units only

    # -- naming --------------------------------------------------------------------------------
    def argv(self, unit: int) -> list[str]:
        argv = self.argvs[unit]
        return argv if argv is not None else tokenize(self.texts[unit])

    def describe(self, unit: int) -> str:
        origin = self.origins[unit]
        if type(origin) is int:
            origin = f"{self.batch_name}:{origin}: "
        text = self.texts[unit]
        return origin + (text.strip() if text is not None else command_line(self.argvs[unit]))

    def failure_text(self, unit: int, op: int, errno: int, detail: str = "") -> str:
        argv = self.argv(unit)
        try:
            ops = command_ops(argv)
        except ToolError:
            ops = None
        return f"{self.describe(unit)}: {error_text(argv[0], ops, op, errno)}"

    # -- entries -------------------------------------------------------------------------------
    def entries(self) -> list:
        from plebconf.rpc.client import run
        out = []
        for seg in self.segments:
            if seg[0] == "run":
                t = seg[1]
                out.append(run(t.run_op, t.run_args, t.fields, seg[2]))
            else:
                out.extend(seg[2])
        return out

    def locate(self, index: int) -> tuple[int, int]:
        """(unit, op number within the unit) of op number `index` of entries()."""
        for seg in self.segments:
            if seg[0] == "run":
                if index < len(seg[2]):
                    return self._run_unit(seg, index), 0
                index -= len(seg[2])
            else:
                if index < len(seg[2]):
                    return seg[1], index
                index -= len(seg[2])
        raise IndexError(index)

    def _run_unit(self, seg, k: int) -> int:
        """Units of a run are consecutive, except for skipped lines (comments) between them
        in batch files, which have no unit: count units from the run's first one."""
        return seg[3] + k

    def unit_entries(self) -> list[tuple[int, list]]:
        """(unit, its entries) for every compiled unit, in order (keep-going mode)."""
        out = []
        for seg in self.segments:
            if seg[0] == "run":
                t = seg[1]
                for k, values in enumerate(seg[2]):
                    out.append((seg[3] + k, t.ops(values)))
            else:
                out.append((seg[1], seg[2]))
        return out

    @property
    def unit_count(self) -> int:
        return len(self.origins)


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
            return [program.failure_text(unit, op, f.errno, f.message)]
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
                failed[unit] = program.failure_text(unit, f.index - first, f.errno, f.message)
                if i:           # what came before it applies on its own (it just did)
                    send([e for _, es in window[:i] for e in es])
                window = window[i + 1:]
    return [failed[u] for u in sorted(failed)]


def syscalls_sender(syscalls):
    """send() applying through Syscalls.run_batch, in the stack process (boot time)."""
    from plebnet_core.syscalls import BatchError

    def send(entries):
        try:
            return syscalls.run_batch(entries)
        except BatchError as exc:
            raise Failure(exc.index, exc.error.errno, exc.error.detail or "") from None
    return send


def client_sender(client):
    """send() applying through a control-socket Client."""
    from plebconf.rpc.client import RpcError

    def send(entries):
        try:
            return client.batch(entries)
        except RpcError as exc:
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
    program.warnings: the plan's warnings, then the tools' own."""
    from .plan import plan
    rcvars = read_rc_files(files)
    p = plan(rcvars, live_interfaces)
    program = Program()
    program.warnings.extend(p.warnings)
    for step in p.steps:
        program.add_argv(step.argv, f"{step.file}:{step.line}: {step.var}: ",
                         tolerate=step.tolerate_error)
    program.steps = p.steps
    return program


def batch_program(text: str, name: str) -> Program:
    program = Program()
    program.add_batch_lines(text.split("\n"), name)
    return program
