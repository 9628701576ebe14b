"""The control vocabulary mapped onto the state model: one handler per ioctl request, routing
message type and sysctl, each with its typed arguments (docs/freebsd-tools.md §7).

Handlers take the request's args map and return a result (or a Stream of rows for dumps); they
raise OpError for anything the kernel would refuse, including arguments of the wrong type.
The server runs every request inside a transaction, so a failing handler changes nothing.
"""
from __future__ import annotations

import gc
import socket
import sys
import time
import traceback
from functools import cache
from itertools import chain
from math import ceil
from operator import attrgetter
from socket import inet_aton

from plebproto import protocol
from plebproto.constants import (
    AF_INET, AF_INET6, EADDRNOTAVAIL, EINVAL, EOPNOTSUPP, EPERM, ESRCH, RTF_GATEWAY,
    RTF_PINNED, RTF_STATIC,
)

from plebproto.errors import OpError
from .state.inet import embed_scope, is_scoped6, ntoa, ntop6, pton6, strip_scope
from .state.stack import Stack, mac_text

AFS = {"inet": AF_INET, "inet6": AF_INET6}
FREEZE_AFTER = 10_000      # ops in a batch after which its survivors leave the collector's view
_ROUTE_FAST = frozenset({"type", "af", "dst", "plen", "gateway"})


class BatchError(Exception):
    """A batch failed at op number index (everything it did is rolled back)."""

    def __init__(self, error: OpError, index: int):
        super().__init__(error, index)
        self.error = error
        self.index = index


class _RunError(Exception):
    def __init__(self, error: OpError, index: int):
        self.error, self.index = error, index


_ROUTE_RUN_KEYS = frozenset({"type", "af", "dst", "plen", "gateway"})


def _plain_route_run(entry: dict) -> bool:
    """A run of RTM_ADDs with nothing but af/dst/plen/gateway (route add NET GATEWAY): the
    batch applies it through Syscalls._add_routes."""
    base, fields = entry.get("args", {}), entry.get("fields")
    return (entry.get("op") == "rtmsg" and type(base) is dict and type(fields) is list
            and (type(entry.get("rows")) is list) != (type(entry.get("columns")) is list)
            and base.get("type") == "RTM_ADD"
            and "dst" in fields and "type" not in fields
            and all(type(f) is str for f in fields)
            and _ROUTE_RUN_KEYS.issuperset(base) and _ROUTE_RUN_KEYS.issuperset(fields))


# what a compact dump reads of each route: rows with equal tuples share one "paths" entry
_PATH_OF = attrgetter("gateway", "flags", "ifp", "expire", "mtu", "weight", "nhidx")


class _Numbering(dict):
    """Numbers its keys 0, 1, 2... in the order they are first looked up."""

    def __missing__(self, key):
        number = self[key] = len(self)
        return number


@cache
def _octet_pairs() -> tuple[list[str], list[str]]:
    """Texts of every 16-bit half of an IPv4 address: "a.b." and "c.d"."""
    pairs = ["%d.%d" % divmod(i, 256) for i in range(1 << 16)]
    return [p + "." for p in pairs], pairs


_PLEN4 = ["/%d" % plen for plen in range(32)] + [""]     # a /32 is a host: no length


def inet_prefix_texts(keys, many: bool) -> list[str]:
    """IPv4 walk-order keys as "a.b.c.d/plen" (a host route: "a.b.c.d").  For many keys
    (more than the 2 x 65536 texts of _octet_pairs, made once), two lookups and two
    concatenations per key take half the time of inet_ntoa."""
    plen4 = _PLEN4
    if not many:
        ntoa = socket.inet_ntoa
        return [ntoa((k >> 8).to_bytes(4, "big")) + plen4[255 - (k & 255)] for k in keys]
    high, low = _octet_pairs()
    return [high[k >> 24] + low[(k >> 8) & 0xFFFF] + plen4[255 - (k & 255)] for k in keys]


class Stream:
    """A dump result: rows sent in chunks of protocol.CHUNK_ROWS."""

    def __init__(self, rows, chunked: bool = False):
        self.rows = rows
        self.chunked = chunked      # rows yields lists of rows (a chunk each), not rows


class Deferred:
    """A result that arrives later (ping, captures): the control server calls
    start(push, finish, fail) once the request is accepted; push(row) streams a row,
    finish(result) ends the reply, fail(OpError) ends it with an error.  cancel() is
    called if the client goes away first."""

    def __init__(self, start, cancel):
        self.start = start
        self.cancel = cancel


# -- argument checking: a wrong type is EINVAL, never a crash ---------------------------------
_MISSING = object()


def _get(args: dict, name: str, kind, default=_MISSING):
    value = args.get(name, default)
    if type(value) is kind or (value is default and default is not _MISSING):
        return value
    if value is _MISSING:
        raise OpError(EINVAL, f"missing argument '{name}'")
    raise OpError(EINVAL, f"argument '{name}' must be {kind.__name__}")


def _family(name) -> int | None:
    """AF_INET or AF_INET6 for "inet" or "inet6"; None for anything else, unhashable
    msgpack values (a list, a map) included."""
    return AFS.get(name) if type(name) is str else None


def _af(args: dict) -> int:
    af = _family(args.get("af", "inet"))
    if af is None:
        raise OpError(EINVAL, "af must be inet or inet6")
    return af


def _run_columns(entry: dict):
    """(columns, count, packed) of a run given by columns: one list of values per field, all
    of one length (a million-route run is then a million strings on the wire, not a million
    lists), or a packed column (protocol.PACKED: a C array of ints).  packed: the set of
    field positions given packed."""
    columns, fields = entry.get("columns"), entry.get("fields")
    if (entry.get("rows") is not None or type(columns) is not list or type(fields) is not list
            or len(columns) != len(fields) or not columns):
        raise OpError(EINVAL, "a run's columns must be lists, one per field, "
                                  "all of one length")
    args = entry.get("args")
    af = args.get("af", "inet") if type(args) is dict else None
    out, packed = [], set()
    for i, (field, column) in enumerate(zip(fields, columns)):
        if type(column) is bytes:
            width = protocol.packed_width(field, af)
            if width is None:
                raise OpError(EINVAL, f"field '{field}' cannot be packed")
            try:
                column = protocol.unpack_column(width, column)
            except ValueError as exc:
                raise OpError(EINVAL, str(exc)) from None
            packed.add(i)
        elif type(column) is not list:
            raise OpError(EINVAL, "a run's columns must be lists, one per field, "
                                      "all of one length")
        out.append(column)
    if len({len(c) for c in out}) != 1:
        raise OpError(EINVAL, "a run's columns must be lists, one per field, "
                                  "all of one length")
    return out, len(out[0]), packed


def _run_rows(entry: dict):
    """(rows, count) of a run: its "rows" (a list of value lists), or its columns zipped,
    packed addresses given back as text as in a row."""
    if entry.get("columns") is not None:
        columns, count, packed = _run_columns(entry)
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


def _expand(entries, start: int = 0):
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
            rows, _ = _run_rows(entry)
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


def _plen_column(plens, width: int) -> tuple[list, tuple | None]:
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


def _continues(run: dict, entry) -> bool:
    """entry is one more part of run: a plain route run with the same args and fields, its
    columns given the same way (packed or not)."""
    return (type(entry) is dict and entry.get("args") == run["args"]
            and entry.get("fields") == run["fields"] and _plain_route_run(entry)
            and _column_kinds(entry) == _column_kinds(run))


def _column_kinds(run: dict):
    columns = run.get("columns")
    return None if type(columns) is not list else [type(c) is bytes for c in columns]


def _concat(pieces: list):
    """One column from the pieces of its parts (lists, C arrays or bytes alike)."""
    if len(pieces) == 1:
        return pieces[0]
    if type(pieces[0]) is bytes:
        return b"".join(pieces)
    if type(pieces[0]) is list:
        return list(chain.from_iterable(pieces))
    whole = pieces[0]
    for piece in pieces[1:]:
        whole += piece
    return whole


def _rows_to_columns(rows: list, n: int) -> tuple[list, tuple | None]:
    """The columns of a run given as rows, up to its first malformed row (and that row's
    (index, error), or None)."""
    bad = next((k for k, row in enumerate(rows)
                if (type(row) is not list and type(row) is not tuple) or len(row) != n), None)
    good = rows if bad is None else rows[:bad]
    columns = [list(c) for c in zip(*good)] if good else [[] for _ in range(n)]
    if bad is None:
        return columns, None
    return columns, (bad, OpError(EINVAL, "a run row must have one value per field"))


class Syscalls:
    def __init__(self, stack: Stack, pid: int, started: float | None = None):
        self.stack = stack
        self.pid = pid
        self.started = started or time.time()
        self._gw_text: dict[str, int] = {}
        self._chunks: dict = {}         # af -> (walk-order keys, ifnames, compact chunks)
        self.dataplane = None       # the live data plane, when there is one (opens devices)
        self.ops = {
            "hello": self.hello,
            "ioctl": self.ioctl,
            "rtmsg": self.rtmsg,
            "sysctl": self.sysctl,
            "llmsg": self.llmsg,
        }
        self.ioctls = {
            "SIOCIFCREATE2": self.ifcreate, "SIOCIFDESTROY": self.ifdestroy,
            "SIOCSIFNAME": self.ifname, "SIOCSIFFLAGS": self.ifflags,
            "SIOCSIFMTU": self.ifmtu, "SIOCSIFMETRIC": self.ifmetric,
            "SIOCSIFDESCR": self.ifdescr, "SIOCSIFLLADDR": self.iflladdr,
            "SIOCSIFCAP": self.ifcap, "SIOCAIFGROUP": self.ifaddgroup,
            "SIOCDIFGROUP": self.ifdelgroup, "SIOCSIFINFO_IN6": self.ifnd6,
            "SIOCAIFADDR": self.aifaddr, "SIOCDIFADDR": self.difaddr,
            "SIOCAIFADDR_IN6": self.aifaddr6, "SIOCDIFADDR_IN6": self.difaddr6,
        }
        self.rtmsgs = {"RTM_ADD": self.rt_add, "RTM_DELETE": self.rt_delete,
                       "RTM_CHANGE": self.rt_change, "RTM_GET": self.rt_get}
        self.dumps = {"NET_RT_DUMP": self.rt_dump, "NET_RT_FLAGS": self.ll_dump,
                      "NET_RT_IFLIST": self.if_list}
        # read-only values computed when read; not FreeBSD's (its fib_algo has no such
        # gauge): IPv4 prefixes filed whose lookup arrays are still being filled
        self.gauges = {"net.route.algo.inet.pending": lambda: stack.rt[AF_INET].unsettled}
        self.llmsgs = {"RTM_ADD": self.ll_add, "RTM_DELETE": self.ll_delete,
                       "RTM_GET": self.ll_get}
        # counter sets (the data plane's net.inet.ip.stats, ...): read whole; a write zeroes
        # them, as writing a zeroed struct does in FreeBSD (so only writers may)
        self.stats: dict = {}

    # -- classification (read-only peers may run only these) ---------------------------------
    def is_mutating(self, op: str, args: dict) -> bool:
        if op == "rtmsg" or op == "llmsg":
            return args.get("type") != "RTM_GET"
        if op in ("hello", "subscribe", "ping", "audit"):    # ping(8) is for everyone
            return False
        if op == "sysctl":
            name = args.get("name")     # any msgpack value: a list is not hashable
            return not (isinstance(name, str) and name in self.dumps) and "value" in args
        return True

    def hello(self, args):
        return {"version": protocol.VERSION, "pid": self.pid,
                "ops": sorted(set(self.ops) | {"batch", "subscribe"}),
                "ioctls": sorted(self.ioctls), "started": self.started,
                "interfaces": [ifp.name for ifp in self.stack.ifaces]}

    def dispatch(self, op: str, args) -> object:
        handler = self.ops.get(op) if isinstance(op, str) else None
        if handler is None:
            raise OpError(EOPNOTSUPP, f"unknown op '{op}'")
        if not isinstance(args, dict):
            raise OpError(EINVAL, "args must be a map")
        return handler(args)

    def run_batch(self, entries: list) -> list:
        """All-or-nothing: every op inside one transaction; the first failure not in that
        op's tolerated errnos rolls everything back and raises BatchError naming it.  Used by
        the control server and by the rc.conf executor at boot."""
        results = []
        index = 0
        gc_was_on = gc.isenabled()
        gc.disable()        # a big batch allocates millions of acyclic objects: don't scan them
        try:
            with self.stack.transaction():
                i = 0
                while i < len(entries):
                    entry = entries[i]
                    if type(entry) is dict and _plain_route_run(entry):
                        j = i + 1       # the parts of a run the client cut into frames
                        while j < len(entries) and _continues(entry, entries[j]):
                            j += 1
                        index = self._add_routes(entries[i:j], index, results)
                        i = j
                    else:
                        index = self._run_entry(entry, index, results)
                        i += 1
        except _RunError as exc:
            raise BatchError(exc.error, exc.index) from None
        except OpError as exc:
            raise BatchError(exc, index) from None
        except Exception:
            traceback.print_exc(file=sys.stderr)     # a bug: report it, keep the stack up
            raise BatchError(OpError(EINVAL, "internal error"), index) from None
        finally:
            if gc_was_on:
                gc.enable()
        if index >= FREEZE_AFTER:
            # a big batch leaves millions of long-lived objects in the youngest generation:
            # without this the next collections scan them all, stalling the data plane
            gc.freeze()
        if any(type(r) is Stream for r in results if r is not None):
            # (a run's million results are all None: skipped at C speed by the filter)
            return [None if type(r) is Stream else r for r in results]
        return results

    def _run_entry(self, entry, start: int, results: list) -> int:
        """The ops of one batch entry (an op, or a run expanded op by op), numbered from
        start; returns the next number.  A failure raises _RunError naming its op."""
        index = start
        try:
            for index, op, args, tolerate in _expand([entry], start):
                if op in ("batch", "subscribe", "ping", "pcap"):
                    raise OpError(EINVAL, f"'{op}' cannot be batched")
                if tolerate is None:        # any failure aborts the batch: no savepoint
                    results.append(self.dispatch(op, args))
                    continue
                try:
                    with self.stack.transaction():
                        results.append(self.dispatch(op, args))
                except OpError as exc:
                    if exc.errno not in tolerate:
                        raise
                    results.append({"errno": exc.errno, "msg": str(exc)})
        except OpError as exc:
            raise _RunError(exc, index) from None
        return start + (_run_rows(entry)[1] if type(entry) is dict else 1)

    def _add_routes(self, runs: list, index: int, results: list) -> int:
        """Consecutive runs of plain RTM_ADDs (only af/dst/plen/gateway, see
        _plain_route_run; the same args and fields, see _continues) straight into
        Stack.rt_add_many as one, column by column: what dispatching each expanded op would
        do, without building a map per route.  Returns the index after the runs.  A failure
        raises _RunError naming the first failing op, as applying the ops in order would: the
        rows before a malformed value are applied first, and their own failure wins."""
        base, fields = runs[0]["args"], runs[0]["fields"]
        bad: list[tuple[int, OpError]] = []     # (row, error): malformed values
        try:
            af = _af(base)
        except OpError as exc:
            raise _RunError(exc, index) from None
        pieces: list[list] = [[] for _ in fields]
        count, packed = 0, set()
        for run in runs:
            try:
                if run.get("columns") is not None:
                    columns, n, packed = _run_columns(run)
                else:
                    columns, failure = _rows_to_columns(run["rows"], len(fields))
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
        columns = [_concat(piece) if piece else [] for piece in pieces]
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
            plens = column("plen", lambda c: _plen_column(c, width))
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
        if stop:
            if stop < count:
                dsts = dsts[:stop]
                plens = plens if type(plens) is int else plens[:stop]
                gateways = gateways if type(gateways) is int else gateways[:stop]
            try:
                self.stack.rt_add_many(af, dsts, plens, gateways)
            except OpError as exc:
                raise _RunError(exc, index + exc.index) from None
        if error is not None:
            raise _RunError(error, index + stop)
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
            except (TypeError, OSError):
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

    @staticmethod
    def _pick(table: dict, key, what: str):
        handler = table.get(key) if isinstance(key, str) else None
        if handler is None:
            raise OpError(EINVAL, f"unknown {what} '{key}'")
        return handler

    # -- addresses -----------------------------------------------------------------------------
    @staticmethod
    def addr4(text) -> int:
        # inet_aton accepts short forms ("10.1"); the wire carries full dotted quads only
        if type(text) is str and text.count(".") == 3:
            try:
                return int.from_bytes(inet_aton(text), "big")
            except OSError:
                pass
        raise OpError(EINVAL, f"bad address: {text!r}")

    def addr6(self, text) -> int:
        """IPv6 text, with an optional %ifname zone, to a table key (zone embedded)."""
        if not isinstance(text, str):
            raise OpError(EINVAL, "address must be a string")
        addr, _, zone = text.partition("%")
        value = pton6(addr)
        if zone:
            value = embed_scope(value, self.stack.ifunit(zone).index)
        return value

    def addr(self, af: int, text) -> int:
        return self.addr4(text) if af == AF_INET else self.addr6(text)

    def _gateway(self, af: int, text: str) -> int:
        """Gateways repeat across a table: parse each text once."""
        value = self._gw_text.get(text)
        if value is None:
            value = self._gw_text[text] = self.addr(af, text)
            if len(self._gw_text) > 4096:
                self._gw_text.clear()
        return value

    # -- ioctl ---------------------------------------------------------------------------------
    def ioctl(self, args):
        return self._pick(self.ioctls, args.get("req"), "ioctl")(args)

    def ifcreate(self, args):
        params = _get(args, "params", dict, {})
        name = self.stack.if_create(_get(args, "ifname", str), params)
        if self.dataplane is not None:      # a device that won't open fails the create
            self.dataplane.created(self.stack.ifunit(name))
        return {"ifname": name}

    def ifdestroy(self, args):
        ifp = self.stack.ifunit(_get(args, "ifname", str))
        self.stack.if_destroy(ifp.name)
        if self.dataplane is not None:      # the device closes when the change commits
            self.dataplane.destroyed(ifp)

    def ifname(self, args):
        self.stack.if_rename(_get(args, "ifname", str), _get(args, "newname", str))

    def ifflags(self, args):
        self.stack.if_setflags(_get(args, "ifname", str), _get(args, "set", int, 0),
                               _get(args, "clear", int, 0))

    def ifmtu(self, args):
        self.stack.if_setmtu(_get(args, "ifname", str), _get(args, "mtu", int))

    def ifmetric(self, args):
        self.stack.if_setmetric(_get(args, "ifname", str), _get(args, "metric", int))

    def ifdescr(self, args):
        self.stack.if_setdescr(_get(args, "ifname", str), _get(args, "descr", str))

    def iflladdr(self, args):
        text = _get(args, "lladdr", str)
        try:
            mac = bytes(int(part, 16) for part in text.split(":"))
        except ValueError:
            raise OpError(EINVAL) from None
        self.stack.if_setlladdr(_get(args, "ifname", str), mac)

    def ifcap(self, args):
        self.stack.if_setcaps(_get(args, "ifname", str), _get(args, "set", int, 0),
                              _get(args, "clear", int, 0))

    def ifaddgroup(self, args):
        self.stack.if_addgroup(_get(args, "ifname", str), _get(args, "group", str))

    def ifdelgroup(self, args):
        self.stack.if_delgroup(_get(args, "ifname", str), _get(args, "group", str))

    def ifnd6(self, args):
        self.stack.if_setnd6(_get(args, "ifname", str), _get(args, "set", int, 0),
                             _get(args, "clear", int, 0))

    def aifaddr(self, args):
        """{ifname, addr, plen, broadcast?, dstaddr?}"""
        broadcast = _get(args, "broadcast", str, None)
        dst = _get(args, "dstaddr", str, None)
        self.stack.in_aifaddr(_get(args, "ifname", str), self.addr4(args.get("addr")),
                              _get(args, "plen", int),
                              self.addr4(broadcast) if broadcast is not None else None,
                              self.addr4(dst) if dst is not None else None)

    def difaddr(self, args):
        """{ifname, addr?}; no addr: the first IPv4 address."""
        addr = _get(args, "addr", str, None)
        self.stack.in_difaddr(_get(args, "ifname", str),
                              self.addr4(addr) if addr is not None else None)

    def aifaddr6(self, args):
        """{ifname, addr, plen, flags?, pltime?, vltime?, dstaddr?, eui64?}"""
        dst = _get(args, "dstaddr", str, None)
        addr = self.addr6(args.get("addr"))
        if _get(args, "eui64", bool, False):
            addr = self._eui64(_get(args, "ifname", str), addr)
        self.stack.in6_aifaddr(_get(args, "ifname", str), addr,
                               _get(args, "plen", int, 64), _get(args, "flags", int, 0),
                               _get(args, "pltime", int, 0), _get(args, "vltime", int, 0),
                               strip_scope(self.addr6(dst))[0] if dst is not None else None)

    def _eui64(self, ifname: str, addr: int) -> int:
        """ifconfig's `eui64`: the interface identifier of the interface's link-local address
        fills the low 64 bits (ifconfig reads it itself; one op keeps the batch atomic)."""
        low = (1 << 64) - 1
        for ifa in self.stack.ifunit(ifname).addrs:
            if ifa.af == AF_INET6 and ifa.addr >> 118 == 0xFE80 >> 6:
                return (addr & ~low) | (ifa.addr & low)
        raise OpError(EADDRNOTAVAIL, "could not determine link local address")

    def difaddr6(self, args):
        self.stack.in6_difaddr(_get(args, "ifname", str), self.addr6(args.get("addr")))

    # -- rtmsg ---------------------------------------------------------------------------------
    def rtmsg(self, args):
        kind = args.get("type")
        handler = self.rtmsgs.get(kind) if type(kind) is str else None
        if handler is None:
            raise OpError(EINVAL, f"unknown routing message type '{kind}'")
        return handler(args)

    def _route_args(self, args):
        """(af, dst, plen, gateway, gw_ifname) from {af, dst, plen?, gateway?, iface?}.
        Every route op of a million-route batch passes here: kept to a few dict reads."""
        af = _family(args.get("af", "inet"))
        if af is None:
            raise OpError(EINVAL, "af must be inet or inet6")
        dst = self.addr4(args.get("dst")) if af == AF_INET else self.addr6(args.get("dst"))
        plen = args.get("plen")
        if plen is None:
            plen = 32 if af == AF_INET else 128
        elif type(plen) is not int:
            raise OpError(EINVAL, "argument 'plen' must be int")
        gateway = args.get("gateway")
        gw_ifname = None
        if gateway is not None:
            if type(gateway) is not str:
                raise OpError(EINVAL, "argument 'gateway' must be str")
            if args.get("iface"):
                gw_ifname, gateway = gateway, None
            else:
                gateway = self._gateway(af, gateway)
        return af, dst, plen, gateway, gw_ifname

    def _expire(self, args):
        rel = _get(args, "expire", int, None)
        return None if rel is None else (self.stack.clock() + rel if rel else 0)

    # add/delete/change answer nothing but success: route(8) prints what it was given, and a
    # million-route batch should not carry a million replies back
    def rt_add(self, args):
        af, dst, plen, gateway, gw_ifname = self._route_args(args)
        if not args.keys() <= _ROUTE_FAST:  # anything beyond these takes the full path
            self.stack.rt_add(
                af, dst, plen, gateway, gw_ifname, _get(args, "flags", int, RTF_STATIC),
                _get(args, "ifp", str, None), _get(args, "mtu", int, 0),
                _get(args, "hopcount", int, 0), self._expire(args) or 0,
                _get(args, "weight", int, 1))
        else:
            self.stack.rt_add(af, dst, plen, gateway, gw_ifname)

    def rt_delete(self, args):
        af, dst, plen, gateway, gw_ifname = self._route_args(args)
        self.stack.rt_delete(af, dst, plen, gateway, gw_ifname,
                             _get(args, "flags", int, RTF_PINNED))

    def rt_change(self, args):
        af, dst, plen, gateway, gw_ifname = self._route_args(args)
        self.stack.rt_change(
            af, dst, plen, gateway, gw_ifname, _get(args, "flags", int, None),
            _get(args, "ifp", str, None), _get(args, "mtu", int, None),
            _get(args, "hopcount", int, None), self._expire(args),
            _get(args, "weight", int, None))

    def rt_get(self, args):
        """{af, dst, plen?}: longest match, or the exact prefix when plen is given."""
        af = _af(args)
        dst = self.addr4(args.get("dst")) if af == AF_INET else self.addr6(args.get("dst"))
        plen = args.get("plen")
        if plen is not None and type(plen) is not int:
            raise OpError(EINVAL, "argument 'plen' must be int")
        stack = self.stack
        return stack.route_info(af, stack.rt_get(af, dst, plen))

    # -- llmsg (arp, ndp) ------------------------------------------------------------------------
    def llmsg(self, args):
        return self._pick(self.llmsgs, args.get("type"), "neighbour message type")(args)

    def ll_add(self, args):
        """{af, addr, mac, flags?, temp?, ifname?}"""
        af = _af(args)
        text = _get(args, "mac", str)
        try:
            mac = bytes(int(part, 16) for part in text.split(":"))
        except ValueError:
            raise OpError(EINVAL) from None
        entry = self.stack.ll_set(af, strip_scope(self.addr(af, args.get("addr")))[0], mac,
                                  _get(args, "flags", int, RTF_STATIC),
                                  _get(args, "temp", bool, False), _get(args, "ifname", str, None))
        return self.stack.ll_info(entry)

    def ll_delete(self, args):
        af = _af(args)
        entry = self.stack.ll_delete(af, strip_scope(self.addr(af, args.get("addr")))[0],
                                     _get(args, "ifname", str, None))
        return self.stack.ll_info(entry)

    def ll_get(self, args):
        af = _af(args)
        addr = strip_scope(self.addr(af, args.get("addr")))[0]
        for ifp in self.stack.ifaces:
            entry = self.stack.ll_table(af, ifp).get(addr)
            if entry is not None:
                return self.stack.ll_info(entry)
        raise OpError(ESRCH)

    # -- sysctl ----------------------------------------------------------------------------------
    def sysctl(self, args):
        name = _get(args, "name", str)
        dump = self.dumps.get(name)
        if dump is not None:
            return dump(args)
        counters = self.stats.get(name)
        if counters is not None:
            return counters("value" in args)
        gauge = self.gauges.get(name)
        if gauge is not None:
            if "value" in args:
                raise OpError(EPERM, f"oid '{name}' is read-only")
            return gauge()
        if "value" in args:
            self.stack.sysctl_set(name, args["value"])
        if name not in self.stack.sysctl:
            raise OpError(2, f"unknown oid '{name}'")
        return self.stack.sysctl[name]

    def rt_dump(self, args):
        """Rows of protocol.ROUTE_COLUMNS, prefixed by the family name, in walk order; or
        with {"form": "compact"} the protocol's compact chunks."""
        want = args.get("af")
        afs = [AF_INET, AF_INET6] if want is None else [_af(args)]
        form = _get(args, "form", str, "rows")
        if form == "compact":
            return Stream(self._route_chunks(afs), chunked=True)
        if form != "rows":
            raise OpError(EINVAL, "form must be rows or compact")
        return Stream(self._route_rows(afs), chunked=True)

    def _route_chunks(self, afs):
        """Compact chunks in walk order, from _table_chunks; only the distinct paths of each
        chunk are rendered at every dump (interface names and MTUs, seconds to expiry)."""
        now = self.stack.clock()
        for af in afs:
            family = "inet" if af == AF_INET else "inet6"
            for dst, plen, path, paths in self._table_chunks(af):
                yield {"af": family, "dst": dst, "plen": plen, "path": path,
                       "paths": [self._path_fields(af, p, now) for p in paths]}

    def _table_chunks(self, af: int):
        """(destination texts joined by newlines, prefix lengths, each row's path number,
        the distinct _PATH_OF tuples) per chunk of the walk order.

        Built as the first dump goes, then kept while the walk order is: the table's
        generation, which rebuilds it, moves on every change to a route (RTM_CHANGE too).
        Scoped IPv6 texts name interfaces, so a rename also invalidates.  A full-length
        prefix is shown as a host: the stack sets RTF_HOST exactly on those."""
        keys, routes = self.stack.rt[af].walk_order()
        names = [ifp.name for ifp in self.stack.ifaces]
        cached = self._chunks.get(af)
        if cached is not None and cached[0] is keys and cached[1] == names:
            yield from cached[2]
            return
        size = protocol.CHUNK_ROWS
        chunks = []
        for start in range(0, len(keys), size):
            part = keys[start:start + size]
            numbers = _Numbering()
            path = list(map(numbers.__getitem__, map(_PATH_OF, routes[start:start + size])))
            chunk = ("\n".join(self._prefix_texts(af, part, len(keys) > 1 << 17)),
                     bytes([255 - (k & 255) for k in part]), path, list(numbers))
            chunks.append(chunk)
            yield chunk
        if names == [ifp.name for ifp in self.stack.ifaces]:
            self._chunks[af] = (keys, names, chunks)

    def _path_fields(self, af: int, path: tuple, now: float) -> list:
        """protocol.PATH_COLUMNS of one _PATH_OF tuple."""
        gateway, flags, ifp, expire, mtu, weight, nhidx = path
        gw = self.stack.key_text(af, gateway) if flags & RTF_GATEWAY else "link#%d" % gateway
        return [gw, flags, ifp.name, ceil(expire - now) if expire else 0, mtu or ifp.mtu,
                weight, nhidx]

    def _prefix_texts(self, af: int, keys, many: bool) -> list[str]:
        if af == AF_INET:
            return inet_prefix_texts(keys, many)
        key_text = self.stack.key_text
        texts = []
        for k in keys:
            plen = 255 - (k & 255)
            text = key_text(AF_INET6, k >> 8)
            texts.append(text if plen == 128 else "%s/%d" % (text, plen))
        return texts

    def _route_rows(self, afs):
        """Chunks (lists) of rows in walk order.  Destination and prefix length come from the
        table's sorted keys, gateway texts are computed once per gateway."""
        stack = self.stack
        now = stack.clock()
        size = protocol.CHUNK_ROWS
        inet_ntoa = socket.inet_ntoa
        for af in afs:
            v4 = af == AF_INET
            family = "inet" if v4 else "inet6"

            def key_text(k, v4=v4):
                return inet_ntoa(k.to_bytes(4, "big")) if v4 else stack.key_text(AF_INET6, k)
            gw_text: dict = {}
            keys, routes = stack.rt[af].walk_order()
            for start in range(0, len(keys), size):
                rows: list = []
                append = rows.append
                last_key = last_dst = None
                for key, r in zip(keys[start:start + size], routes[start:start + size]):
                    if key != last_key:
                        last_key = key
                        dst = key >> 8
                        last_dst = inet_ntoa(dst.to_bytes(4, "big")) if v4 else key_text(dst)
                    ifp = r.ifp
                    flags = r.flags
                    if flags & 2:
                        gw = gw_text.get(r.gateway)
                        if gw is None:
                            gw = gw_text[r.gateway] = key_text(r.gateway)
                    else:
                        gw = "link#%d" % r.gateway
                    append((family, last_dst, 255 - (key & 255), gw, flags, ifp.name,
                            ceil(r.expire - now) if r.expire else 0, r.mtu or ifp.mtu,
                            r.weight, r.nhidx))
                if rows:
                    yield rows

    def ll_dump(self, args):
        """ARP (af inet) or NDP (af inet6) entries, interface by interface; {ifname?}."""
        af = _af(args)
        ifname = _get(args, "ifname", str, None)
        ifaces = [self.stack.ifunit(ifname)] if ifname else self.stack.ifaces
        rows = [self.stack.ll_info(entry) for ifp in ifaces
                for entry in self.stack.ll_table(af, ifp).values()]
        return Stream(rows)

    def if_list(self, args):
        """Every interface with its addresses, in creation order (or one: {ifname})."""
        ifname = _get(args, "ifname", str, None)
        ifaces = [self.stack.ifunit(ifname)] if ifname else self.stack.ifaces
        return [self.if_info(ifp) for ifp in ifaces]

    def if_info(self, ifp) -> dict:
        stack = self.stack
        addrs = []
        for a in ifp.addrs:
            text = ntoa if a.af == AF_INET else (
                lambda v: stack.key_text(AF_INET6, embed_scope(v, ifp.index)
                                         if is_scoped6(v) else v))
            addrs.append({
                "af": "inet" if a.af == AF_INET else "inet6", "addr": text(a.addr),
                "plen": a.plen,
                "broadcast": ntoa(a.broadcast) if a.broadcast is not None else None,
                "dstaddr": text(a.dst) if a.dst is not None else None,
                "flags": a.flags, "scopeid": a.scopeid, "pltime": a.pltime, "vltime": a.vltime,
                "stats": dict(zip(("ipackets", "ibytes", "opackets", "obytes"), a.stats)),
            })
        t = ifp.iftype
        return {
            "index": ifp.index, "name": ifp.name, "kind": t.name, "cloner": ifp.cloner,
            "flags": stack.oper_flags(ifp), "mtu": ifp.mtu, "metric": ifp.metric,
            "mac": mac_text(ifp.mac) if ifp.mac else None,
            "hwaddr": mac_text(ifp.hwaddr) if ifp.hwaddr else None,
            "description": ifp.description, "groups": list(ifp.groups), "caps": ifp.caps,
            "nd6": ifp.nd6_flags, "link_state": ifp.link_state, "media": t.media,
            "drv_status": ifp.drv_status, "params": dict(ifp.params),
            "stats": dict(zip(("ipackets", "ierrors", "iqdrops", "ibytes", "opackets",
                               "oerrors", "oqdrops", "obytes", "collisions"), ifp.stats)),
            "addrs": addrs,
        }
