"""Durable configuration (`plebnet --state DIR`): a journal of changes plus a snapshot.

Files in DIR (created 0700; a flock on DIR/lock keeps a second stack out):

    snapshot   one record: the whole configuration state (serialise_state below), the seq of
               the last change it contains, the MAC-seed pid and the recent audit entries
    journal    records appended since that snapshot, one per handled change request:
               {"seq", "time", "pid", "uid", "op", "args", "errno", "msg"}

Record framing: 4-byte big-endian length, 4-byte CRC-32 of the body, msgpack body.  Reading stops
at the first record that is short or fails its CRC: a torn tail (the stack died mid-write) is
dropped whole and cut off the file, never half-applied.

Why a journal of requests: the state model is deterministic, so replaying the successful
requests through the same Syscalls on the restored snapshot rebuilds exactly the state the
replies described (refused requests are journaled only for the audit log and are skipped).
MACs derive from the stack's host uuid (DIR/hostid, written at the first start and read before
any interface is attached), so every start has the same ones and the NICs are recognised by them.

Durability: ControlServer holds every outgoing byte while records are pending (see
ControlServer._flush); at the end of the event-loop iteration sync() writes them all and fsyncs
once (group commit), then the replies go.  A failed write or fsync cannot be taken back (the
change is in memory), so the stack stops rather than acknowledge what may be lost.

Compaction: once the journal passes PLEBNET_COMPACT_BYTES, the current state is written to
snapshot.tmp, fsynced and renamed over the snapshot (then the directory fsynced), and the journal
restarts empty.  Journal records at or below the snapshot's seq are skipped on load, so a crash
between the rename and the truncation is harmless.

The snapshot is a dedicated serialisation of the state (not pickle): interfaces with their
index, MAC, flags and addresses, every route path (connected ones too, so indices, nexthops and
hand-overs are exact), static ARP/NDP entries (learned ones are not configuration), sysctls.
Times (route expiry, temporary neighbours, DAD) are stored relative to the moment of saving.
"""
from __future__ import annotations

import fcntl
import os
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
from .syscalls import BatchError, Stream

RECORD = struct.Struct(">II")
FORMAT = 1
COMPACT_BYTES = int(os.environ.get("PLEBNET_COMPACT_BYTES", 64 << 20))
AUDIT_KEEP = int(os.environ.get("PLEBNET_AUDIT_KEEP", 100_000))


class PersistError(Exception):
    """The state directory cannot be used; the message says why."""


# -- records ---------------------------------------------------------------------------------------
def pack_record(obj) -> bytes:
    body = msgpack.packb(obj, use_bin_type=True)
    return RECORD.pack(len(body), zlib.crc32(body)) + body


def read_records(data: bytes):
    """(records, end): every intact record from the start, and where the intact part ends."""
    records, pos, size = [], 0, len(data)
    while size - pos >= RECORD.size:
        length, crc = RECORD.unpack_from(data, pos)
        start = pos + RECORD.size
        body = data[start:start + length]
        if len(body) < length or zlib.crc32(body) != crc:
            break               # torn (or damaged) tail: drop it whole
        try:
            records.append(msgpack.unpackb(body, raw=False, strict_map_key=False))
        except Exception:
            break
        pos = start + length
    return records, pos


# -- replay ----------------------------------------------------------------------------------------
def apply(syscalls, op: str, args: dict):
    """Run one journaled change the way ControlServer ran it (one transaction; a batch
    through the same Syscalls.run_batch).  Raises OpError as the original did."""
    if op == "batch":
        ops = args.get("ops", []) if isinstance(args, dict) else None
        if not isinstance(ops, list):
            raise OpError(EINVAL, "batch ops must be a list")
        try:
            return syscalls.run_batch(ops)
        except BatchError as exc:
            raise exc.error from None
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

    def ifa_ref(ifa):
        if ifa is None or ifa not in ifa.ifp.addrs or ifa.ifp not in stack.ifaces:
            return None
        return [ifa.ifp.index, ifa.ifp.addrs.index(ifa)]

    expiring = {id(r) for _, r in stack.expiring}
    routes = {}
    for af, table in stack.rt.items():
        routes[str(af)] = [
            [_b(r.dst), r.plen, _b(r.gateway), r.ifp.index if r.ifp else None, ifa_ref(r.ifa),
             r.flags, r.mtu, r.hopcount, rel(r.expire), r.weight, r.nhidx, id(r) in expiring]
            for paths in table.walk() for r in paths]
    dad = [[ifa.ifp.index, ifa.ifp.addrs.index(ifa), when - now]
           for when, ifa in stack.dad_pending if ifa in ifa.ifp.addrs]
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
    stack.sysctl = dict(state["sysctl"])
    stack.expiring, stack.dad_pending = [], []
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
        stack.dad_pending.append((now + remaining, by_index[ifindex].addrs[pos]))
    return created


# -- the audit log ---------------------------------------------------------------------------------
class Audit:
    """Every change request, applied or refused: time, peer pid/uid, op, args, errno.  Kept
    in memory (the last AUDIT_KEEP), journaled with the changes when --state is given."""

    def __init__(self, keep: int = AUDIT_KEEP):
        self.entries: deque = deque(maxlen=keep)
        self.seq = 0
        self.sink = None            # Persist.append, when the stack has --state

    def record(self, conn, op, args, errno: int, msg: str = "") -> dict:
        self.seq += 1
        entry = {"seq": self.seq, "time": time.time(), "pid": conn.pid if conn else 0,
                 "uid": conn.uid if conn else 0, "op": op, "args": args, "errno": errno,
                 "msg": msg}
        self.entries.append(entry)
        if self.sink is not None:
            self.sink(entry)
        return entry

    # ControlServer hooks
    def changed(self, conn, op, args, result) -> None:
        self.record(conn, op, args, 0)

    def refused(self, conn, op, args, errno: int, msg: str) -> None:
        self.record(conn, op if isinstance(op, str) else repr(op), args, errno, msg)

    # the read-only `audit` op: {n?: last n entries, args?: include each op's args}
    def op(self, args) -> Stream:
        n = args.get("n")
        if n is not None and (type(n) is not int or n < 0):
            raise OpError(EINVAL, "n must be a non-negative int")
        if n is None:
            entries = list(self.entries)
        else:       # the last n without copying the whole log
            entries = list(islice(reversed(self.entries), n))[::-1]
        if args.get("args"):
            return Stream(entries)
        return Stream([{k: v for k, v in e.items() if k != "args"} for e in entries])


# -- the state directory ---------------------------------------------------------------------------
class Persist:
    def __init__(self, directory: str, compact_bytes: int = COMPACT_BYTES):
        self.dir = directory
        self.compact_bytes = compact_bytes
        self.pending: list[bytes] = []      # records not yet written and fsynced
        self.journal_fd: int | None = None
        self.journal_size = 0
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
            raise PersistError(f"state directory {directory} is in use by another "
                               f"stack") from None

    def _path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def hostuuid(self, new) -> str:
        """The stack's host uuid (its MACs derive from it), kept in DIR/hostid as FreeBSD
        keeps kern.hostuuid in /etc/hostid: made by new() at the first start, read after."""
        path = self._path("hostid")
        try:
            with open(path) as f:
                value = f.read().strip()
            if value:
                return value
        except FileNotFoundError:
            pass
        value = new()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, (value + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        self._fsync_dir()
        return value

    # -- start ----------------------------------------------------------------------------------
    def restore(self, syscalls, audit: Audit) -> bool:
        """Load the snapshot and replay the journal into syscalls.stack; False if DIR held
        no state yet.  A torn journal tail is cut off."""
        stack = syscalls.stack
        snapshot = None
        try:
            with open(self._path("snapshot"), "rb") as f:
                records, _ = read_records(f.read())
            if not records:
                raise PersistError(f"{self._path('snapshot')} is damaged")
            snapshot = records[0]
        except FileNotFoundError:
            pass
        try:
            with open(self._path("journal"), "rb") as f:
                data = f.read()
        except FileNotFoundError:
            data = b""
        records, end = read_records(data)
        if snapshot is None and not records:
            return False
        if snapshot is not None:
            if snapshot.get("format") != FORMAT:
                raise PersistError(f"{self._path('snapshot')}: unknown format "
                                   f"{snapshot.get('format')}")
            self.snapshot_seq = snapshot["seq"]
            self.mac_pid = snapshot["mac_pid"]
            stack.pid = self.mac_pid
            for ifp in load_state(stack, snapshot["state"]):
                self._open_device(syscalls, ifp)
            audit.entries.extend(snapshot["audit"])
            audit.seq = self.snapshot_seq
        for rec in records:
            if rec["seq"] <= self.snapshot_seq:
                continue
            audit.entries.append(rec)
            audit.seq = rec["seq"]
            if rec["errno"] == 0:
                try:
                    apply(syscalls, rec["op"], rec["args"])
                except OpError as exc:      # would mean the model is not deterministic
                    print(f"plebnet: replaying change {rec['seq']} ({rec['op']}) failed: "
                          f"{exc}", file=sys.stderr)
        if end < len(data):
            print(f"plebnet: {self._path('journal')}: dropped a torn last record "
                  f"({len(data) - end} bytes)", file=sys.stderr)
        return True

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
    def append(self, entry: dict) -> None:
        self.pending.append(pack_record(entry))

    def sync(self) -> None:
        """Write and fsync every pending record (one fsync for all: the group commit)."""
        if not self.pending:
            return
        data = b"".join(self.pending)
        self.pending.clear()
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self.journal_fd, view):]
            os.fsync(self.journal_fd)
        except OSError as exc:
            # the changes are applied in memory and cannot be taken back: acknowledging
            # them now could lose them, so stop (like a database on a failed fsync)
            print(f"plebnet: cannot write {self._path('journal')}: {exc.strerror}; stopping",
                  file=sys.stderr)
            os._exit(75)
        self.journal_size += len(data)

    def due(self) -> bool:
        return self.journal_size >= self.compact_bytes

    def compact(self, stack, audit: Audit) -> None:
        """Write the current state as the snapshot and start an empty journal."""
        self.sync()
        if self.mac_pid is None:
            self.mac_pid = stack.pid
        snapshot = {"format": FORMAT, "seq": audit.seq, "mac_pid": self.mac_pid,
                    "time": time.time(), "state": serialise_state(stack),
                    "audit": list(audit.entries)}
        tmp = self._path("snapshot.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, pack_record(snapshot))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self._path("snapshot"))
        self._fsync_dir()
        self.snapshot_seq = audit.seq
        if self.journal_fd is not None:
            os.close(self.journal_fd)
        self.journal_fd = os.open(self._path("journal"),
                                  os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND
                                  | os.O_NOFOLLOW, 0o600)
        os.fsync(self.journal_fd)
        self._fsync_dir()
        self.journal_size = 0

    def _fsync_dir(self) -> None:
        fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY)
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
