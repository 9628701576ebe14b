"""The audit log: every change and refusal, bounded in bytes; an entry too large keeps a
summary of its arguments instead of them."""
from __future__ import annotations

import os
import time
from collections import deque
from itertools import islice

import msgpack

from plebproto import protocol
from plebproto.constants import EINVAL
from plebproto.errors import OpError

from ..syscalls import Stream

_pack = msgpack.Packer(use_bin_type=True).pack

# the audit log in memory (and in the snapshot), counted as packed bytes plus a slot's overhead
AUDIT_BYTES = int(os.environ.get("PLEBNET_AUDIT_BYTES", 8 << 20))
ENTRY_MAX = 2048        # an audit entry packing larger gets its args replaced by a summary
TEXT_MAX = 256          # characters kept of an op name, an error message, an args preview
SLOT = 64               # per-entry memory beside its bytes (bytes object header, deque slot)


# -- the audit log ---------------------------------------------------------------------------------
class _Full(Exception):
    pass


def preview(obj, limit: int = TEXT_MAX) -> str:
    """repr-like text of obj, cut at limit characters, without building the whole repr (an
    8 MiB argument is walked only as far as the preview reaches)."""
    out, room = [], [limit]

    def put(text: str) -> None:
        out.append(text[:room[0]])
        room[0] -= len(text)
        if room[0] <= 0:
            raise _Full

    def walk(o, depth: int) -> None:
        if depth > 16:
            put("…")
        elif isinstance(o, dict):
            put("{")
            for i, (k, v) in enumerate(o.items()):
                put(", " if i else "")
                walk(k, depth + 1)
                put(": ")
                walk(v, depth + 1)
            put("}")
        elif isinstance(o, (list, tuple)):
            put("[")
            for i, v in enumerate(o):
                put(", " if i else "")
                walk(v, depth + 1)
            put("]")
        elif isinstance(o, (str, bytes, bytearray)):
            put(repr(o[:room[0]]))
        else:
            put(repr(o)[:room[0] + 1])

    try:
        walk(obj, 0)
    except _Full:
        return "".join(out) + "…"
    return "".join(out)


def _clip(text: str, limit: int = TEXT_MAX) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def summary(args, size: int | None = None) -> dict:
    """What the audit keeps of arguments too large to keep: their packed size (given, when
    the caller packed them already), a preview, the short scalar fields (req, type, name,
    ifname, ... so `log` still names the request) and, for a batch, the number of ops."""
    if size is None:
        try:
            size = len(msgpack.packb(args, use_bin_type=True))
        except Exception:
            size = -1
    out = {"truncated": True, "bytes": size, "preview": preview(args)}
    if isinstance(args, dict):
        kept = 0
        for k, v in args.items():
            if kept == 8:
                break
            if isinstance(k, str) and len(k) <= 32 and k not in out and (
                    v is None or isinstance(v, (bool, int, float))
                    or (isinstance(v, str) and len(v) <= 64)):
                out[k] = v
                kept += 1
        if isinstance(args.get("ops"), list):
            out["ops"] = len(args["ops"])
    return out


def _pack_with(entry: dict, key: str, packed: bytes) -> bytes:
    """_pack(entry), entry[key] given packed: msgpack packs a map as its header, then
    each key and value on its own, in order."""
    assert len(entry) < 16      # (a fixmap header)
    parts = [bytes([0x80 | len(entry)])]
    for k, v in entry.items():
        parts.append(_pack(k))
        parts.append(packed if k == key else _pack(v))
    return b"".join(parts)


class Audit:
    """Every change request, applied or refused: time, peer pid/uid, op, args, errno.

    Bounded in bytes, not entries: the log in memory (and in the snapshot) is the newest
    bodies whose packed size, plus SLOT each, fits in max_bytes; entries are held packed, so
    that count is what they cost.  A body is one entry (a map, as the journal and older
    snapshots hold them) or a run of entries (an array of entry arrays, FIELDS in order):
    the changes a stack applies in one loop turn are appended as a list and packed in one
    go at the end of it (flush), because packing each as it happens was a tenth of what a
    pipelined route change costs.  An entry whose args pack larger than ENTRY_MAX keeps
    summary(args) instead; a refused request is kept that way too (op and message clipped
    to TEXT_MAX), so a refusal costs at most a few KiB anywhere.  A successful change goes
    to the journal (sink) whole and at once: replay needs it, and a reply may not leave
    before its record is written."""

    FIELDS = ("seq", "time", "pid", "uid", "op", "args", "errno", "msg")

    def __init__(self, max_bytes: int = AUDIT_BYTES):
        self._entries: deque[bytes] = deque()
        self._bytes = 0
        self._unpacked: list[list] = []     # changes of this loop turn, not packed yet
        self.max_bytes = max_bytes
        self.seq = 0
        self.sink = None            # Persist.append, when the stack has --state

    @property
    def entries(self) -> deque[bytes]:
        self.flush()
        return self._entries

    @property
    def bytes(self) -> int:
        self.flush()
        return self._bytes

    def record(self, conn, op, args, errno: int, msg: str = "") -> dict:
        self.flush()                # (in order: a refusal after this turn's changes)
        self.seq += 1
        if errno:
            op = _clip(op) if isinstance(op, str) else preview(op)
            msg = _clip(msg)
        entry = {"seq": self.seq, "time": time.time(), "pid": conn.pid if conn else 0,
                 "uid": conn.uid if conn else 0, "op": op, "args": args, "errno": errno,
                 "msg": msg}
        # (a Packer kept: packb makes one per call); a big batch's args come packed
        # already, a slice per loop turn (server.PackedArgs)
        packed = getattr(args, "packed", None)
        body = _pack(entry) if packed is None else _pack_with(entry, "args", packed)
        if len(body) > ENTRY_MAX:
            entry["args"] = None        # the args' size is the rest: no second packing
            rest = len(body) - len(msgpack.packb(entry, use_bin_type=True)) + 1
            entry["args"] = summary(args, rest)
            kept = msgpack.packb(entry, use_bin_type=True)
        else:
            kept = body
        if self.sink is not None:
            self.sink(body if not errno else kept)
        self.keep(kept)
        return entry

    def keep(self, body: bytes) -> None:
        """Add one packed body; forget the oldest beyond max_bytes (the newest stays)."""
        entries = self._entries
        entries.append(body)
        self._bytes += len(body) + SLOT
        while self._bytes > self.max_bytes and len(entries) > 1:
            self._bytes -= len(entries.popleft()) + SLOT

    def keep_entry(self, entry: dict) -> None:
        """An entry read back (journal record or older snapshot), bounded as record() does."""
        self.flush()
        body = msgpack.packb(entry, use_bin_type=True)
        if len(body) > ENTRY_MAX:
            entry = dict(entry, args=summary(entry.get("args")))
            body = msgpack.packb(entry, use_bin_type=True)
        self.keep(body)

    def flush(self) -> None:
        """Pack this turn's changes as one body (the stack calls it once a loop turn)."""
        unpacked = self._unpacked
        if not unpacked:
            return
        self._unpacked = []
        bodies = list(map(_pack, unpacked))         # (C loops: a few hundred ns an entry)
        if max(map(len, bodies)) > ENTRY_MAX:      # rare: a big change keeps a summary
            for i, body in enumerate(bodies):
                if len(body) > ENTRY_MAX:
                    entry = unpacked[i]
                    args, entry[5] = entry[5], None
                    entry[5] = summary(args, len(body) - len(_pack(entry)) + 1)
                    bodies[i] = _pack(entry)
        self.keep(protocol.array_header(len(bodies)) + b"".join(bodies))

    # ControlServer hooks
    def changed(self, conn, op, args, result=None) -> None:
        self.changed_many(conn, ((op, args),))

    def changed_many(self, conn, changes) -> None:
        """Changes (op, args) applied for conn, in order (a run of requests)."""
        if self.sink is not None:
            for op, args in changes:        # (each journaled at once)
                self.record(conn, op, args, 0)
            return
        now, pid, uid = time.time(), conn.pid if conn else 0, conn.uid if conn else 0
        seq, unpacked = self.seq, self._unpacked
        for op, args in changes:
            if type(args) is not dict and getattr(args, "packed", None) is not None:
                # a big batch's args come packed, a slice per turn: recorded from them
                self.seq = seq
                self.record(conn, op, args, 0)
                seq = self.seq
                continue
            seq += 1
            unpacked.append([seq, now, pid, uid, op, args, 0, ""])
        self.seq = seq

    def refused(self, conn, op, args, errno: int, msg: str) -> None:
        self.record(conn, op, args, errno, msg)

    # the read-only `audit` op: {n?: last n entries, args?: include each op's args}
    def op(self, args) -> Stream:
        n = args.get("n")
        if n is not None and (type(n) is not int or n < 0):
            raise OpError(EINVAL, "n must be a non-negative int")
        if n is None:
            bodies = list(self.entries)
        else:       # the last n without copying the whole log (a body holds one or more)
            bodies = list(islice(reversed(self.entries), n))[::-1]
        entries = [e for b in bodies for e in _entries_of(b)]
        if n is not None:
            entries = entries[len(entries) - n:] if n else []
        if not args.get("args"):
            for e in entries:
                e.pop("args", None)
        return Stream(entries)


def _entries_of(body: bytes) -> list[dict]:
    """The entries of a kept body: one map, or an array of entry arrays (Audit.flush)."""
    obj = msgpack.unpackb(body, raw=False, strict_map_key=False)
    if type(obj) is dict:
        return [obj]
    return [dict(zip(Audit.FIELDS, e)) for e in obj]
