"""Durable configuration (`plebnet --state DIR`): a journal of changes plus a snapshot, and the
audit log (bounded in bytes) that rides in them.

Files in DIR (created 0700; a flock on DIR/lock keeps a second stack out):

    snapshot   one record: the whole configuration state (serialise_state below), the seq of
               the last change it contains, the MAC-seed pid and the recent audit entries
    journal    records appended since that snapshot, one per handled change request:
               {"seq", "time", "pid", "uid", "op", "args", "errno", "msg"}; seqs are
               consecutive, the first one right after the snapshot's

Record framing: 4-byte big-endian length, 4-byte CRC-32 of the body, msgpack body.

Loading is strict.  The only damage repaired silently is a torn tail: the last record runs
past the end of the file (the stack died in the middle of writing it) and no intact record
follows; it was never acknowledged, so it is dropped whole, never half-applied.  Anything
else (a complete record that fails its CRC, zeros, a gap in the seqs, a journal missing beside
a snapshot or the reverse, a directory or symlink in a file's place) stops the start with one
line naming the file and offset, leaving every file as it is.  `--salvage` then
starts anyway: it first copies the journal and snapshot into DIR/salvage-<UTC time>/, then
loads what precedes the damage.

Why a journal of requests: the state model is deterministic, so replaying the successful
requests through the same Syscalls on the restored snapshot rebuilds exactly the state the
replies described (refused requests are journaled only for the audit log and are skipped).
Clone MACs derive from the stack's pid, so the pid of the first start is kept and reused.

Durability: ControlServer holds every outgoing byte while records are pending (see
ControlServer._flush); at the end of the event-loop iteration sync() writes them all and fsyncs
once (group commit), then the replies go.  A failed write or fsync cannot be taken back (the
change is in memory), so the stack stops rather than acknowledge what may be lost.

Compaction: once the journal (written or pending, changes and refusals alike) passes
PLEBNET_COMPACT_BYTES, the current state is written whole to snapshot.tmp (every write checked
and completed), fsynced, read back and compared, and only then renamed over the snapshot (the
directory fsynced) and the journal emptied.  Any failure before the rename removes snapshot.tmp
and leaves snapshot and journal as they were (the journal still holds every change, so nothing
is lost; compaction is retried once the journal has grown by as much again).  Journal records
at or below the snapshot's seq are skipped on load, so a crash between the rename and the
truncation is harmless.

The snapshot is a dedicated serialisation of the state (not pickle): interfaces with their
index, MAC, flags and addresses, every route path (connected ones too, so indices, nexthops and
hand-overs are exact), static ARP/NDP entries (learned ones are not configuration), sysctls.
Times (route expiry, temporary neighbours, DAD) are stored relative to the moment of saving.
"""
from __future__ import annotations

import errno as _errno
import fcntl
import os
import re
import shutil
import stat
import struct
import sys
import time
import zlib
from collections import deque
from itertools import islice

import msgpack

from plebproto.constants import AF_INET, AF_INET6, EINVAL

from plebproto.errors import OpError
from plebproto.iftypes import IFTYPES

from .state.ifnet import IfAddr, Interface, LLEntry
from .state.route import Route, RouteTable
from .syscalls import Stream

RECORD = struct.Struct(">II")
FORMAT = 1
COMPACT_BYTES = int(os.environ.get("PLEBNET_COMPACT_BYTES", 64 << 20))
# the audit log in memory (and in the snapshot), counted as packed bytes plus a slot's overhead
AUDIT_BYTES = int(os.environ.get("PLEBNET_AUDIT_BYTES", 8 << 20))
ENTRY_MAX = 2048        # an audit entry packing larger gets its args replaced by a summary
TEXT_MAX = 256          # characters kept of an op name, an error message, an args preview
SLOT = 64               # per-entry memory beside its bytes (bytes object header, deque slot)


class PersistError(Exception):
    """The state directory cannot be used; the message (one line) says why."""


# -- records ---------------------------------------------------------------------------------------
def pack_record(obj) -> bytes:
    return frame(msgpack.packb(obj, use_bin_type=True))


def frame(body: bytes) -> bytes:
    return RECORD.pack(len(body), zlib.crc32(body)) + body


def _decode(data, pos: int):
    """The record at pos if it is whole, passes its CRC and is a map: (record, next pos)."""
    if len(data) - pos < RECORD.size:
        return None
    length, crc = RECORD.unpack_from(data, pos)
    start = pos + RECORD.size
    if length == 0 or length > len(data) - start:
        return None
    body = data[start:start + length]
    if zlib.crc32(body) != crc:
        return None
    try:
        rec = msgpack.unpackb(body, raw=False, strict_map_key=False)
    except Exception:
        return None
    return (rec, start + length) if isinstance(rec, dict) else None


def scan_records(data: bytes):
    """([(offset, record)], end): every intact record from the start, and where the intact
    part ends."""
    found, pos = [], 0
    while (got := _decode(data, pos)) is not None:
        found.append((pos, got[0]))
        pos = got[1]
    return found, pos


def read_records(data: bytes):
    """(records, end): every intact record from the start, and where the intact part ends."""
    found, end = scan_records(data)
    return [rec for _, rec in found], end


# a record's body is a msgpack map: fixmap (0x80-0x8f) or map16/map32 (0xde, 0xdf)
_MAP_START = re.compile(rb"[\x80-\x8f\xde\xdf]")


def intact_after(data: bytes, pos: int):
    """The offset of the first intact record starting after pos, or None (a resync scan:
    candidates are where a map could begin, 8 bytes on)."""
    for m in _MAP_START.finditer(data, pos + 1 + RECORD.size):
        if _decode(data, m.start() - RECORD.size) is not None:
            return m.start() - RECORD.size
    return None


def is_torn_tail(data: bytes, end: int) -> bool:
    """The bytes from end are the beginning of one record cut by a crash: too short for a
    header, or a header whose length runs past the end of the file, and nothing intact after
    it.  (A crash cuts a write short; it does not change the bytes that were written.)"""
    rest = len(data) - end
    if rest < RECORD.size:
        return True
    length, _ = RECORD.unpack_from(data, end)
    return length > rest - RECORD.size and intact_after(data, end) is None


def _write_all(fd: int, data: bytes) -> None:
    """os.write until every byte is written; a write that makes no progress is ENOSPC."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        if n <= 0:
            raise OSError(_errno.ENOSPC, os.strerror(_errno.ENOSPC))
        view = view[n:]
# -- replay ----------------------------------------------------------------------------------------
def apply(syscalls, op: str, args: dict):
    """Run one journaled change the way ControlServer ran it (one transaction; a batch
    through the same Syscalls.run_batch).  Raises OpError as the original did."""
    if op == "batch":
        ops = args.get("ops", []) if isinstance(args, dict) else None
        if not isinstance(ops, list):
            raise OpError(EINVAL, "batch ops must be a list")
        return syscalls.run_batch(ops)
    with syscalls.stack.transaction():
        return syscalls.dispatch(op, args)


# -- the state as plain data ---------------------------------------------------------------------
def _b(value):
    """Address ints (IPv6 ones exceed msgpack's 64 bits) as big-endian bytes."""
    return None if value is None else value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def _i(data):
    return None if data is None else int.from_bytes(data, "big")


def serialise_state(stack) -> dict:
    now = stack.clock()
    rel = (lambda t: t - now if t else 0)
    ifaces = []
    for ifp in stack.ifaces:
        # learned entries (flags 0 and an expiry time) are not configuration; an entry set
        # with flags 0, with no expiry or a temporary one (arp -s ... temp), is
        ll = [[e.af, _b(e.addr), e.mac, e.flags, rel(e.expire), e.set]
              for table in (ifp.llinfo, ifp.llinfo6) for e in table.values()
              if e.flags or not e.expire or e.set]
        ifaces.append({
            "index": ifp.index, "name": ifp.name, "kind": ifp.iftype.name, "cloner": ifp.cloner,
            "flags": ifp.flags, "mtu": ifp.mtu, "metric": ifp.metric, "mac": ifp.mac,
            "hwaddr": ifp.hwaddr, "descr": ifp.description, "groups": list(ifp.groups),
            "nd6": ifp.nd6_flags, "caps": ifp.caps, "link": ifp.link_state,
            "params": ifp.params,
            "addrs": [[a.af, _b(a.addr), a.plen, _b(a.broadcast), _b(a.dst), a.flags,
                       a.scopeid, a.pltime, a.vltime] for a in ifp.addrs],
            "ll": ll,
        })

    # each address's position, found once: looking it up in its list per route would
    # make a snapshot quadratic in the number of addresses
    where = {id(a): [ifp.index, pos] for ifp in stack.ifaces for pos, a in enumerate(ifp.addrs)}

    def ifa_ref(ifa):
        return None if ifa is None else where.get(id(ifa))

    expiring = {id(r) for _, r in stack.expiring}
    routes = {}
    for af, table in stack.rt.items():
        routes[str(af)] = [
            [_b(r.dst), r.plen, _b(r.gateway), r.ifp.index if r.ifp else None, ifa_ref(r.ifa),
             r.flags, r.mtu, r.hopcount, rel(r.expire), r.weight, r.nhidx, id(r) in expiring]
            for paths in table.walk() for r in paths]
    dad = [[*where[id(ifa)], when - now] for ifa, when in stack.dad_pending.items()
           if id(ifa) in where]
    return {"next_index": stack.next_index, "lo0": stack.lo0.index if stack.lo0 else None,
            "sysctl": dict(stack.sysctl), "ifaces": ifaces, "routes": routes, "dad": dad}


def _identity(is_lo0: bool, cloner, hwaddr, name) -> tuple:
    if is_lo0:
        return ("lo0",)
    return ("nic", hwaddr) if cloner is None and hwaddr else ("name", name)


def load_state(stack, state: dict) -> list:
    """Replace stack's configuration by a serialise_state() result.

    Interfaces the stack already has (the NICs and lo0 attached at start, with their
    devices) are updated in place, so the data plane keeps its hold on them; a NIC is
    recognised by its hardware address (derived from --nic NAME=BACKEND), so a renamed one
    is found too.  Ones the saved state lacks (a NIC added to the command line) stay, after
    the saved ones.  Returns the interfaces created anew (clones), whose devices the caller
    opens."""
    now = stack.clock()
    absolute = (lambda r: now + r if r else 0)
    by_index = {}
    present = {_identity(ifp.index == (stack.lo0.index if stack.lo0 else None), ifp.cloner,
                         ifp.hwaddr, ifp.name): ifp for ifp in stack.ifaces}
    created = []
    stack.ifaces, stack.by_name = [], {}
    for d in state["ifaces"]:
        ifp = present.pop(_identity(d["index"] == state["lo0"], d["cloner"], d["hwaddr"],
                                    d["name"]), None)
        if ifp is None:
            ifp = Interface(d["index"], d["name"], IFTYPES[d["kind"]], d["mac"], d["cloner"],
                            d["params"])
            created.append(ifp)
        ifp.index, ifp.name, ifp.iftype = d["index"], d["name"], IFTYPES[d["kind"]]
        ifp.mac, ifp.cloner = d["mac"], d["cloner"]
        ifp.params = dict(d["params"])
        ifp.addrs, ifp.llinfo, ifp.llinfo6 = [], {}, {}
        ifp.flags, ifp.mtu, ifp.metric = d["flags"], d["mtu"], d["metric"]
        ifp.hwaddr, ifp.description, ifp.groups = d["hwaddr"], d["descr"], list(d["groups"])
        ifp.nd6_flags, ifp.caps, ifp.link_state = d["nd6"], d["caps"], d["link"]
        for af, addr, plen, brd, dst, flags, scopeid, pltime, vltime in d["addrs"]:
            ifp.addrs.append(IfAddr(af, _i(addr), plen, ifp, _i(brd), _i(dst), flags, scopeid,
                                    pltime, vltime))
        for af, addr, mac, flags, expire, *set_ in d["ll"]:     # (older states: no set)
            table = ifp.llinfo if af == AF_INET else ifp.llinfo6
            table[_i(addr)] = LLEntry(af, _i(addr), mac, flags, absolute(expire), ifp,
                                      bool(set_ and set_[0]))
        stack.ifaces.append(ifp)
        stack.by_name[ifp.name] = ifp
        by_index[ifp.index] = ifp
    stack.next_index = state["next_index"]
    for ifp in present.values():        # attached now, unknown to the saved state
        for a in ifp.addrs:
            a.ifp = ifp
        ifp.index, stack.next_index = stack.next_index, stack.next_index + 1
        ifp.addrs, ifp.llinfo, ifp.llinfo6 = [], {}, {}
        stack.ifaces.append(ifp)
        stack.by_name[ifp.name] = ifp
    stack.lo0 = by_index.get(state["lo0"])
    # (a state saved before a sysctl existed gets its default)
    stack.sysctl = {**stack.sysctl, **state["sysctl"]}
    stack.expiring, stack.dad_pending = [], {}
    stack._gw_cache.clear()
    for af in (AF_INET, AF_INET6):
        table = stack.rt[af] = RouteTable(32 if af == AF_INET else 128)
        for (dst, plen, gw, ifindex, ref, flags, mtu, hopcount, expire, weight, nhidx,
             expiring) in state["routes"][str(af)]:
            ifa = by_index[ref[0]].addrs[ref[1]] if ref else None
            route = Route(_i(dst), plen, _i(gw), by_index.get(ifindex), ifa, flags, mtu,
                          hopcount, absolute(expire), weight)
            route.nhidx = nhidx
            table.add_path(route)
            if expiring:
                stack.expiring.append((af, route))
    for ifindex, pos, remaining in state["dad"]:
        stack.dad_pending[by_index[ifindex].addrs[pos]] = now + remaining
    stack.reindex_addrs()
    return created


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


class Audit:
    """Every change request, applied or refused: time, peer pid/uid, op, args, errno.

    Bounded in bytes, not entries: the log in memory (and in the snapshot) is the newest
    entries whose packed size, plus SLOT each, fits in max_bytes; an entry is held as its
    msgpack body, so that count is what it costs.  An entry whose args pack larger than
    ENTRY_MAX keeps summary(args) instead; a refused request is journaled that way too
    (op and message clipped to TEXT_MAX), so a refusal costs at most a few KiB anywhere.
    A successful change goes to the journal whole: replay needs it."""

    def __init__(self, max_bytes: int = AUDIT_BYTES):
        self.entries: deque[bytes] = deque()
        self.bytes = 0
        self.max_bytes = max_bytes
        self.seq = 0
        self.sink = None            # Persist.append, when the stack has --state

    def record(self, conn, op, args, errno: int, msg: str = "") -> dict:
        self.seq += 1
        if errno:
            op = _clip(op) if isinstance(op, str) else preview(op)
            msg = _clip(msg)
        entry = {"seq": self.seq, "time": time.time(), "pid": conn.pid if conn else 0,
                 "uid": conn.uid if conn else 0, "op": op, "args": args, "errno": errno,
                 "msg": msg}
        body = msgpack.packb(entry, use_bin_type=True)
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
        """Add one packed entry; forget the oldest beyond max_bytes (the newest stays)."""
        self.entries.append(body)
        self.bytes += len(body) + SLOT
        while self.bytes > self.max_bytes and len(self.entries) > 1:
            self.bytes -= len(self.entries.popleft()) + SLOT

    def keep_entry(self, entry: dict) -> None:
        """An entry read back (journal record or older snapshot), bounded as record() does."""
        body = msgpack.packb(entry, use_bin_type=True)
        if len(body) > ENTRY_MAX:
            entry = dict(entry, args=summary(entry.get("args")))
            body = msgpack.packb(entry, use_bin_type=True)
        self.keep(body)

    # ControlServer hooks
    def changed(self, conn, op, args, result) -> None:
        self.record(conn, op, args, 0)

    def refused(self, conn, op, args, errno: int, msg: str) -> None:
        self.record(conn, op, args, errno, msg)

    # the read-only `audit` op: {n?: last n entries, args?: include each op's args}
    def op(self, args) -> Stream:
        n = args.get("n")
        if n is not None and (type(n) is not int or n < 0):
            raise OpError(EINVAL, "n must be a non-negative int")
        if n is None:
            bodies = list(self.entries)
        else:       # the last n without copying the whole log
            bodies = list(islice(reversed(self.entries), n))[::-1]
        entries = [msgpack.unpackb(b, raw=False, strict_map_key=False) for b in bodies]
        if not args.get("args"):
            for e in entries:
                e.pop("args", None)
        return Stream(entries)


def check_journal(data: bytes, base: int, path: str = "journal"):
    """(records after seq base, damage, torn): damage is None or the one line saying where
    the journal is damaged (the records are then those before it); torn is the size of a
    torn tail to drop silently (0: none)."""
    found, end = scan_records(data)
    out, prev = [], None
    for pos, rec in found:
        if not _valid(rec):
            return out, f"{path}: record at offset {pos} is not a change record", 0
        seq = rec["seq"]
        if prev is None and seq > base + 1:
            what = f"the snapshot's change {base}" if base else "no snapshot"
            return out, (f"{path}: change {seq} at offset {pos} follows {what}: changes "
                         f"are missing"), 0
        if prev is not None and seq != prev + 1:
            return out, (f"{path}: change {seq} at offset {pos} follows change {prev}: "
                         f"changes are missing"), 0
        if seq > base:
            out.append(rec)
        prev = seq
    if end == len(data):
        return out, None, 0
    if is_torn_tail(data, end):
        return out, None, len(data) - end
    after = intact_after(data, end)
    if after is not None:
        why = f"{len(read_records(data[after:])[0])} intact record(s) after it, from " \
              f"offset {after}"
    elif not data[end:].strip(b"\0"):
        why = "zeros to the end of the file"
    else:
        why = "nothing intact after it"
    return out, f"{path}: damaged record at offset {end} ({why})", 0


# -- the state directory ---------------------------------------------------------------------------
def _valid(rec: dict) -> bool:
    return (type(rec.get("seq")) is int and isinstance(rec.get("op"), str)
            and type(rec.get("errno")) is int and "args" in rec)


class Persist:
    def __init__(self, directory: str, compact_bytes: int = COMPACT_BYTES,
                 salvage: bool = False):
        self.dir = directory
        self.compact_bytes = compact_bytes
        self.salvage = salvage
        self.pending: list[bytes] = []      # records not yet written and fsynced
        self.pending_size = 0
        self.journal_fd: int | None = None
        self.journal_size = 0
        self.retry_at = 0                   # after a failed compaction: journal size to wait for
        self.snapshot_seq = 0
        self.mac_pid: int | None = None
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            self.lock_fd = os.open(os.path.join(directory, "lock"),
                                   os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise PersistError(f"state directory {directory}: {exc.strerror}") from None
        try:
            fcntl.flock(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.lock_fd)
            raise PersistError(f"state directory {directory} is in use by another "
                               f"stack") from None

    def _path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def _read(self, name: str, what: str):
        """The bytes of DIR/name, or None if it does not exist; anything but a regular file
        in its place is refused (a symlink is not followed, a FIFO not opened)."""
        path = self._path(name)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise PersistError(f"{path}: {exc.strerror}") from None
        if stat.S_ISLNK(st.st_mode):
            raise PersistError(f"{path} is a symbolic link, not a {what} file: refusing to "
                               f"follow it")
        if stat.S_ISDIR(st.st_mode):
            raise PersistError(f"{path} is a directory, not a {what} file")
        if not stat.S_ISREG(st.st_mode):
            raise PersistError(f"{path} is not a regular file, not a {what} file")
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):      # swapped since the lstat
                    raise PersistError(f"{path} is not a regular file, not a {what} file")
                with os.fdopen(os.dup(fd), "rb") as f:
                    return f.read()
            finally:
                os.close(fd)
        except OSError as exc:
            raise PersistError(f"{path}: {exc.strerror}") from None

    def _clear_tmp(self) -> None:
        """A snapshot.tmp is what a failed compaction left: never the state, removed."""
        path = self._path("snapshot.tmp")
        try:
            if stat.S_ISDIR(os.lstat(path).st_mode):
                raise PersistError(f"{path} is a directory; move it out of the state "
                                   f"directory")
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise PersistError(f"{path}: {exc.strerror}") from None

    # -- start ----------------------------------------------------------------------------------
    def restore(self, syscalls, audit: Audit) -> bool:
        """Load the snapshot and replay the journal into syscalls.stack; False if DIR held
        no state yet.  Damage other than a torn tail raises PersistError (files untouched)
        unless salvaging."""
        self._clear_tmp()
        raw = self._read("snapshot", "snapshot")
        data = self._read("journal", "journal")
        snapshot = None
        if raw is not None:
            records, end = read_records(raw)
            if len(records) != 1 or end != len(raw):
                at = end if records else 0
                raise PersistError(f"{self._path('snapshot')} is damaged at offset {at} "
                                   f"(of {len(raw)} bytes); files left untouched: restore it "
                                   f"from a copy, or move {self.dir} aside to start afresh")
            snapshot = records[0]
            if snapshot.get("format") != FORMAT:
                raise PersistError(f"{self._path('snapshot')}: unknown format "
                                   f"{snapshot.get('format')}")
        records, damage = self._journal(data, snapshot)
        if raw is None and data and damage is None:
            # a start writes the snapshot before any change is journaled: a journal with
            # no snapshot beside it lost its base (salvage replays it on an empty state)
            damage = (f"{self._path('snapshot')} is missing beside a journal of "
                      f"{len(records)} change record(s)")
        if damage is not None:
            if not self.salvage:
                raise PersistError(f"{damage}; files left untouched (plebnet --state "
                                   f"{self.dir} --salvage keeps a copy and loads what "
                                   f"precedes the damage)")
            kept = self._keep_copy()
            print(f"plebnet: {damage}; salvaging: copy kept in {kept}, loading "
                  f"{len(records)} change record(s) before it", file=sys.stderr)
        if snapshot is None and not records:
            return False
        if snapshot is not None:
            self.snapshot_seq = snapshot["seq"]
            self.mac_pid = snapshot["mac_pid"]
            syscalls.stack.pid = self.mac_pid
            try:
                created = load_state(syscalls.stack, snapshot["state"])
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                # intact bytes, but not a state this version writes: say so, not a traceback
                raise PersistError(f"{self._path('snapshot')}: not a state this plebnet can "
                                   f"load ({type(exc).__name__}: {exc}); files left "
                                   f"untouched") from None
            for ifp in created:
                self._open_device(syscalls, ifp)
            for e in snapshot["audit"]:     # packed entries (older snapshots: maps)
                if isinstance(e, bytes):
                    audit.keep(e)
                else:
                    audit.keep_entry(e)
            audit.seq = self.snapshot_seq
        for rec in records:
            audit.keep_entry(rec)
            audit.seq = rec["seq"]
            if rec["errno"] == 0:
                try:
                    apply(syscalls, rec["op"], rec["args"])
                except OpError as exc:      # would mean the model is not deterministic
                    print(f"plebnet: replaying change {rec['seq']} ({rec['op']}) failed: "
                          f"{exc}", file=sys.stderr)
        return True

    def _journal(self, data, snapshot):
        """The journal's records after the snapshot, and a one-line description of the
        damage that stops the start (None: none, or only a torn tail, dropped here)."""
        path = self._path("journal")
        if data is None:
            if snapshot is None:
                return [], None
            return [], (f"{path} is missing beside a snapshot of change {snapshot['seq']}: "
                        f"changes after it may be lost")
        records, damage, torn = check_journal(data, snapshot["seq"] if snapshot else 0, path)
        if torn:
            print(f"plebnet: {path}: dropped a torn last record ({torn} bytes at offset "
                  f"{len(data) - torn})", file=sys.stderr)
        return records, damage

    def _keep_copy(self) -> str:
        """Copy journal and snapshot (as they are) into DIR/salvage-<time>/, durably, before
        the start compaction replaces them."""
        dest = self._path(time.strftime("salvage-%Y%m%dT%H%M%SZ", time.gmtime()))
        try:
            os.mkdir(dest, 0o700)
            for name in ("journal", "snapshot"):
                if os.path.lexists(self._path(name)):
                    shutil.copyfile(self._path(name), os.path.join(dest, name),
                                    follow_symlinks=False)
                    fd = os.open(os.path.join(dest, name), os.O_RDONLY)
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
            self._fsync_dir(dest)
            self._fsync_dir()
        except OSError as exc:
            raise PersistError(f"cannot keep a copy in {dest}: {exc.strerror}; files left "
                               f"untouched") from None
        return dest

    @staticmethod
    def _open_device(syscalls, ifp) -> None:
        """A restored clone gets its device as a created one would (tap, vxlan, ...)."""
        if syscalls.dataplane is None:
            return
        try:
            with syscalls.stack.transaction():
                syscalls.dataplane.created(ifp)
        except OpError as exc:
            print(f"plebnet: {ifp.name}: {exc}; restored without a device",
                  file=sys.stderr)

    # -- changes --------------------------------------------------------------------------------
    def append(self, body: bytes) -> None:
        """Queue one packed audit entry as a journal record (written by sync)."""
        record = frame(body)
        self.pending.append(record)
        self.pending_size += len(record)

    def sync(self) -> None:
        """Write and fsync every pending record (one fsync for all: the group commit)."""
        if not self.pending:
            return
        data = b"".join(self.pending)
        self.pending.clear()
        self.pending_size = 0
        try:
            _write_all(self.journal_fd, data)
            os.fsync(self.journal_fd)
        except OSError as exc:
            # the changes are applied in memory and cannot be taken back: acknowledging
            # them now could lose them, so stop (like a database on a failed fsync)
            print(f"plebnet: cannot write {self._path('journal')}: {exc.strerror}; stopping",
                  file=sys.stderr)
            os._exit(75)
        self.journal_size += len(data)

    def due(self) -> bool:
        size = self.journal_size + self.pending_size
        return size >= self.compact_bytes and size >= self.retry_at

    def compact(self, stack, audit: Audit) -> None:
        """Write the current state as the snapshot and empty the journal.  Raises
        PersistError if the new snapshot could not be written whole: then snapshot and
        journal are as they were, and still hold every change."""
        self.sync()
        path, tmp = self._path("snapshot"), self._path("snapshot.tmp")
        try:
            if self.journal_fd is None:
                # the journal exists before any snapshot does: a snapshot without a journal
                # beside it is then always damage, never a start that died half-way
                self.journal_fd = os.open(self._path("journal"),
                                          os.O_WRONLY | os.O_CREAT | os.O_APPEND
                                          | os.O_NOFOLLOW, 0o600)
                self.journal_size = os.fstat(self.journal_fd).st_size
                self._fsync_dir()
        except OSError as exc:
            raise PersistError(f"cannot open {self._path('journal')}: "
                               f"{exc.strerror}") from None
        mac_pid = self.mac_pid if self.mac_pid is not None else stack.pid
        data = pack_record({"format": FORMAT, "seq": audit.seq, "mac_pid": mac_pid,
                            "time": time.time(), "state": serialise_state(stack),
                            "audit": list(audit.entries)})
        try:
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            try:
                _write_all(fd, data)
                os.fsync(fd)
                # read back what the file holds: renamed only if it is exactly the snapshot
                back, view = bytearray(), b"-"
                os.lseek(fd, 0, os.SEEK_SET)
                while view:
                    view = os.read(fd, 1 << 20)
                    back += view
                if back != data:
                    raise OSError(_errno.EIO, "read back differs from what was written")
            finally:
                os.close(fd)
        except OSError as exc:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            self.retry_at = self.journal_size + self.pending_size + self.compact_bytes
            raise PersistError(f"cannot write {tmp}: {exc.strerror}; {path} and the journal "
                               f"are kept as they were") from None
        try:
            os.replace(tmp, path)
            self._fsync_dir()
            self.mac_pid = mac_pid
            self.snapshot_seq = audit.seq
            # records up to snapshot_seq are skipped on load: a crash before this is harmless
            os.ftruncate(self.journal_fd, 0)
            os.fsync(self.journal_fd)
        except OSError as exc:
            self.retry_at = self.journal_size + self.pending_size + self.compact_bytes
            raise PersistError(f"compacting {self.dir}: {exc.strerror}") from None
        self.journal_size = 0
        self.retry_at = 0

    def _fsync_dir(self, directory: str | None = None) -> None:
        fd = os.open(directory or self.dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        self.sync()
        if self.journal_fd is not None:
            os.close(self.journal_fd)
            self.journal_fd = None
        os.close(self.lock_fd)
