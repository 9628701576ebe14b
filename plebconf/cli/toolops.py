"""ToolOps: what every tool's `ops_for(argv)` returns, the batch a command line is.

The rc.conf executor and `plebconf batch` get these from ifconfig, route and arp (and build
them for hostname, sysctl and ndp); the ifconfig tool runs its own through `configure`.
One class for all of them, so the executor needs no per-tool cases beyond `message` and
`warning` (what a tool prints for an op that failed and only warns: the tool and the
executor word it the same way).
"""
from __future__ import annotations

from plebproto.constants import ENXIO


class ToolOps:
    """A command as one atomic batch.

    ops       batch entries: [op, args] or [op, args, [tolerated errnos]]
    labels    one per op: the tool's message prefix for it (route, arp: text; ifconfig: a
              Label, which its `wording` reads; one that `warns` words, by its `warning`,
              the failure of an op that only warns: see warning())
    lines     stdout lines printed after success (route's `add net ...`, arp's `deleted`)
    warnings  stderr lines printed when the batch runs; warn_at: not printed if the batch
              fails before that op (ifconfig's no-mask warning comes after its ioctls)
    ifname    the interface the command named (ifconfig), else None
    print_created  index of a unit-less SIOCIFCREATE2 whose result name is printed
    needs_unit  a unit-less create (`tap create up`) followed by ops on the new interface:
              they name it by the cloner ("tap") until resolve_created("tap3") is called
              with the unit to create (the lowest free one, as the stack would pick)
    wording   the tool's function (ops, index, errno) -> its error line, for a tool that
              words each op's failure itself (ifconfig); None: the tool module's
              failure(ops, index, errno) does (route, arp)
    """
    __slots__ = ("ops", "labels", "lines", "warnings", "warn_at", "ifname", "print_created",
                 "needs_unit", "wording")

    def __init__(self, ops: list, labels: list, lines: list | None = None,
                 warnings: list | None = None, *, warn_at: int = 0, ifname: str | None = None,
                 print_created: int | None = None, needs_unit: bool = False, wording=None):
        self.ops = ops
        self.labels = labels
        self.lines = lines if lines is not None else []
        self.warnings = warnings if warnings is not None else []
        self.warn_at = warn_at
        self.ifname = ifname
        self.print_created = print_created
        self.needs_unit = needs_unit
        self.wording = wording

    def _key(self):
        return (self.ops, self.labels, self.lines, self.warnings, self.warn_at, self.ifname,
                self.print_created, self.needs_unit, self.wording)

    def __eq__(self, other):
        return isinstance(other, ToolOps) and self._key() == other._key()

    __hash__ = None     # mutable lists inside

    def __repr__(self):
        extra = f", ifname={self.ifname!r}" if self.ifname is not None else ""
        return f"ToolOps({self.ops!r}, {self.labels!r}, {self.lines!r}{extra})"

    @property
    def message(self):
        """(index, errno) -> the tool's error line when the tool words its own (wording),
        else None, so callers fall back to the tool module's failure()."""
        if self.wording is None:
            return None
        return lambda index, errno: self.wording(self, index, errno)

    def stderr_before(self, failed: int | None, errno: int = 0) -> list[str]:
        """Warnings to print before the outcome of the batch (None: it succeeded).  None
        before op warn_at fails, nor when the named interface does not exist (ifconfig
        checks that before running anything)."""
        if failed is not None and (failed < self.warn_at or (
                errno == ENXIO and self.ifname is not None
                and self.ops[failed][1].get("ifname") == self.ifname)):
            return []
        return list(self.warnings)

    def warns(self, index: int) -> bool:
        """Whether op `index` only warns when it fails (its label `warns`: ifconfig's
        Label with a warn text, tunnel and laggport) and is sent tolerating the errnos it
        warns about."""
        return (index < len(self.labels) and getattr(self.labels[index], "warns", False)
                and len(self.ops[index]) > 2)

    def may_warn(self) -> bool:
        """Whether any op of the command only warns when it fails."""
        return any(self.warns(i) for i in range(len(self.ops)))

    def warning(self, index: int, result) -> tuple[str, int] | None:
        """What the tool says when op `index`, one that only warns, came back as a
        tolerated failure ({"errno", "msg"}, protocol: batch): (its stderr line, the exit
        status it leaves), worded by its label's `warning`.  None when the op did not
        fail, does not warn, or the errno is not one the tool's own op tolerates (a caller
        tolerating more, as rc's tolerated steps do, gets no warning the tool would not
        have printed)."""
        if type(result) is not dict or "errno" not in result or not self.warns(index) \
                or result["errno"] not in self.ops[index][2]:
            return None
        return self.labels[index].warning(result)

    def warned(self, results: list) -> tuple[list[str], int]:
        """The warnings of a batch's results, in op order, and the exit status they leave
        (0 when there are none)."""
        lines, status = [], 0
        for index, result in enumerate(results):
            said = self.warning(index, result)
            if said is not None:
                lines.append(said[0])
                status = max(status, said[1])
        return lines, status

    def output(self, results: list) -> list[str]:
        """stdout lines after success: `lines`, else the name a unit-less create got
        (printed once, as FreeBSD ifconfig's atexit hook)."""
        if self.lines:
            return list(self.lines)
        if self.print_created is not None:
            return [results[self.print_created]["ifname"]]
        return []

    def resolve_created(self, name: str) -> "ToolOps":
        """Name the interface a unit-less create makes, so later ops can address it."""
        if self.print_created is None:
            return self
        base = self.ops[self.print_created][1]["ifname"]
        ops = []
        for entry in self.ops:
            args = entry[1]
            if args.get("ifname") == base:
                args = {**args, "ifname": name}
            ops.append([entry[0], args, *entry[2:]])
        return ToolOps(ops, self.labels, self.lines or [name], self.warnings,
                       warn_at=self.warn_at, ifname=self.ifname, wording=self.wording)
