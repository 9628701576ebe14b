"""The keyword entry every tool's grammar uses, and the per-tool tables modules register into.

FreeBSD's ifconfig has one `struct cmd` (name, argument count, callback, parameter) and
`cmd_register()`; each af_*.c and cloner registers its own commands from a constructor, and
the main loop looks words up in the one list.  Here a grammar module calls `register(TABLE,
...)` at import with its Keywords, and the parser looks words up with `table(TABLE)`.

A handler is called as handler(state, name, const, *values): state is the parser's object
being built (ifconfig's Command, route's RouteRequest), name the word as typed (a Keyword
registered under several spellings is one entry per spelling), const the entry's parameter
(a flag bit, an ioctl name, ...), values the `nargs` words that follow.

(A plain slotted class, not a dataclass: importing dataclasses costs a one-shot tool run
~30 ms, half its budget.)
"""
from __future__ import annotations

_TABLES: dict[str, dict[str, "Keyword"]] = {}


class Keyword:
    """One keyword: its name, how many words it takes, its handler and the handler's const.
    Frozen: tables are shared by every parse."""
    __slots__ = ("name", "nargs", "handler", "const")

    def __init__(self, name: str, nargs: int, handler, const=None):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "nargs", nargs)
        object.__setattr__(self, "handler", handler)
        object.__setattr__(self, "const", const)

    def __setattr__(self, attr, value):
        raise AttributeError(f"Keyword is frozen (setting {attr})")

    def __eq__(self, other):
        return isinstance(other, Keyword) and (self.name, self.nargs, self.handler,
                                               self.const) == (other.name, other.nargs,
                                                               other.handler, other.const)

    def __hash__(self):
        return hash((self.name, self.nargs, self.const))

    def __repr__(self):
        handler = getattr(self.handler, "__qualname__", self.handler)
        return f"Keyword({self.name!r}, {self.nargs}, {handler}, {self.const!r})"

    def apply(self, state, values=()):
        """Run the handler on state with the words that followed the keyword."""
        return self.handler(state, self.name, self.const, *values)


def register(table_name: str, *keywords: Keyword) -> None:
    """Add keywords to a tool's table (cmd_register).  A name registered twice in one table
    with a different meaning is a programming error, not a silent override."""
    table = _TABLES.setdefault(table_name, {})
    for kw in keywords:
        old = table.get(kw.name)
        if old is not None and old != kw:
            raise ValueError(f"{table_name}: keyword {kw.name!r} registered twice "
                             f"({old!r}, {kw!r})")
        table[kw.name] = kw


def table(table_name: str) -> dict[str, Keyword]:
    """The registered keywords of a table, by name (empty when nothing registered it)."""
    return _TABLES.setdefault(table_name, {})
