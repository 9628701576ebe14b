"""The dispatcher: the registry of ops (name -> handler, whether it changes the stack, whether
a batch may carry it), dispatch of one request to its handler, the classification read-only
peers are held to, hello, and the result types a handler may return besides a value (Stream,
Deferred).

Every request's arguments are checked against its op's declared schema (plebproto.schema)
before the handler runs.  Ops are registered, never patched in: the vocabulary of the state
model registers itself (plebnet_core/syscalls/__init__.py), the data plane registers ping and
pcap, the stack process its audit log (Dispatcher.register).
"""
from __future__ import annotations

import time
from typing import Any, Callable, NamedTuple

from plebproto import protocol
from plebproto.constants import EINVAL, EOPNOTSUPP
from plebproto.errors import OpError
from plebproto.schema import check, checker

# ops the control server answers itself, never a handler's: never in a batch
SERVER_OPS = {"batch": True, "subscribe": False}        # op -> changes the stack


class Stream:
    """A dump result: rows sent in chunks of protocol.CHUNK_ROWS.  A chunked stream may
    yield None: nothing yet, the loop turn ends there (a big table's walk order is sorted a
    slice per turn)."""

    def __init__(self, rows, chunked: bool = False):
        self.rows = rows
        self.chunked = chunked      # rows yields lists of rows (a chunk each), not rows

    def collect(self) -> list:
        """Every row now, as Client.call collects a streamed reply: the rows, or for a dump
        whose chunks are maps (compact NET_RT_DUMP) the non-empty chunk maps."""
        if not self.chunked:
            return list(self.rows)
        out: list = []
        for chunk in self.rows:
            if chunk is None:
                continue
            if type(chunk) is dict:
                out.append(chunk)
            else:
                protocol.join_rows(out, chunk)
        return out

    def chunks(self):
        """The rows as the chunks the peer is sent (each bounded: protocol.CHUNK_ROWS)."""
        if self.chunked:
            yield from self.rows
            return
        chunk: list = []
        for row in self.rows:
            chunk.append(row)
            if len(chunk) >= protocol.CHUNK_ROWS:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


class Chunks(list):
    """A dump's chunks, collected inside a dry run (which must read before it rolls back):
    sent on as they were cut, each bounded."""


class Deferred:
    """A result that arrives later (ping, captures): the control server calls
    start(push, finish, fail) once the request is accepted; push(row) streams a row,
    finish(result) ends the reply, fail(OpError) ends it with an error.  cancel() is
    called if the client goes away first.  push returns False once the client's output
    budget is spent: the task should stop producing until resume() is called."""

    def __init__(self, start, cancel, resume=None):
        self.start = start
        self.cancel = cancel
        self.resume = resume


class Form(NamedTuple):
    """One sub-request of an op whose handler answers a plain value (no Stream, no
    Deferred): rtmsg's RTM_GET, say.  What the control server needs to serve a run of such
    requests in a loop of its own (ControlServer._serve_run) rather than one by one through
    dispatch."""
    mutating: bool                  # whether it changes the stack
    call: Callable[[dict], Any]     # the schema's check and then the handler, one call
    #                                 (schema.checker's then)


def pick(table: dict, key, what: str):
    """table[key] for a sub-op (an ioctl request, a message type); EINVAL naming it if none."""
    handler = table.get(key) if isinstance(key, str) else None
    if handler is None:
        raise OpError(EINVAL, f"unknown {what} '{key}'")
    return handler


class Dispatcher:
    """The registry and what reads it.  ops: op name -> handler(args), what dispatch() calls
    (read by hello and the tests; changed only through register())."""

    def __init__(self, stack, pid: int, started: float | None = None):
        self.stack = stack
        self.pid = pid
        self.started = started or time.time()
        self.dataplane = None       # the live data plane, when there is one (opens devices)
        self.ops: dict = {}
        self._mutating: dict = dict(SERVER_OPS)     # op -> bool, or a predicate of its args
        self._unbatchable: set[str] = set(SERVER_OPS)
        self.ioctls: dict = {}      # the ioctl requests answered (hello lists them)
        self.ioctl_watchers: list = []  # called with the args of every ioctl that succeeded
        self.counters: dict = {}    # sysctl name -> read(zero: bool): counter sets
        # op -> (sub-request key, {sub-request: Form}), for the ops registered with subs
        self.forms: dict[str, tuple[str, dict[str, Form]]] = {}

    def register(self, op: str, handler, *, mutating=True, batchable: bool = True,
                 subs: tuple[str, dict] | None = None) -> None:
        """Add op to the vocabulary.  mutating: True (changes the stack: refused to the
        read group, run inside a transaction, journaled), False, or a predicate of the
        request's args (rtmsg: all but RTM_GET).  batchable: False for ops whose result
        arrives later or that need a connection of their own (ping, pcap).  subs: (key,
        {value: handler}) for an op whose handler only picks a sub-request's handler by
        args[key] and every one answers a plain value (rtmsg, llmsg): their Forms.  An op
        is registered once: a second registration of a name is a bug (ValueError)."""
        if type(op) is not str or op in self.ops or op in SERVER_OPS:
            raise ValueError(f"op {op!r} is already registered (or not a name)")
        self.ops[op] = handler
        self._mutating[op] = mutating
        if not batchable:
            self._unbatchable.add(op)
        if subs is not None:
            key, table = subs
            self.forms[op] = (key, {
                sub: Form(mutating if type(mutating) is bool else bool(mutating({key: sub})),
                          checker(op, sub, sub_handler))
                for sub, sub_handler in table.items()})

    def register_ioctl(self, req: str, handler) -> None:
        """Answer ioctl request req (a driver's: SIOCSDRVSPEC) with handler(args)."""
        if req in self.ioctls:
            raise ValueError(f"ioctl {req!r} is already registered")
        self.ioctls[req] = handler

    def watch_ioctls(self, watcher) -> None:
        """watcher(args) after every ioctl that succeeded: what a driver's if_ioctl sees
        (flags changed, an address added) without being the handler of the request."""
        self.ioctl_watchers.append(watcher)

    def register_counters(self, name: str, read) -> None:
        """A counter set read whole by sysctl name (net.inet.ip.stats, ...): read(zero)
        answers the set, zeroed first when zero (a write, as FreeBSD's sysctl write of a
        zeroed struct: so only writers may)."""
        if name in self.counters:
            raise ValueError(f"counters {name!r} are already registered")
        self.counters[name] = read

    def attach_dataplane(self, plane) -> None:
        """The live data plane: interface creation opens its device there."""
        self.dataplane = plane

    def batchable(self, op) -> bool:
        return not (type(op) is str and op in self._unbatchable)

    # -- classification (read-only peers may run only these) ---------------------------------
    def is_mutating(self, op: str, args: dict) -> bool:
        """Once per request: one lookup, then a bool or the op's predicate."""
        if type(op) is not str:     # any msgpack value: a list is not hashable
            return True
        mutating = self._mutating.get(op, True)
        if mutating is True or mutating is False:
            return mutating
        return bool(mutating(args))

    def hello(self, args):
        return {"version": protocol.VERSION, "pid": self.pid,
                "ops": sorted(set(self.ops) | set(SERVER_OPS)),
                "ioctls": sorted(self.ioctls), "started": self.started,
                "interfaces": [ifp.name for ifp in self.stack.ifaces]}

    def dispatch(self, op: str, args) -> object:
        handler = self.ops.get(op) if isinstance(op, str) else None
        if handler is None:
            raise OpError(EOPNOTSUPP, f"unknown op '{op}'")
        if not isinstance(args, dict):
            raise OpError(EINVAL, "args must be a map")
        check(op, args)         # the declared arguments (plebproto.schema), before the handler
        return handler(args)
