"""The control server: the unix socket at <sockdir>/<pid>, frames in, handler calls, frames out.

Security (spec of the core issue): the socket is created 0600 (umask set before bind, so it is
never reachable with looser bits; then 0660 with the group when there is a --read-group);
a pre-existing path is removed only when it is our own uid's socket with nobody answering;
peers are checked with SO_PEERCRED on accept (the stack's uid and root may change state,
members of --read-group may read, anyone else gets EPERM).
Reads are bounded (MAX_FRAME, MAX_BATCH_OPS), a peer that stops reading stops being read
(its output buffer is capped), and idle connections are closed, so no client blocks another.
Connection slots: the last RESERVED_CONNECTIONS are kept for the stack's owner and root, and
no other uid holds more than MAX_PER_UID, so a read-group member cannot lock the owner out;
a refusal says which limit was hit.
The socket as a file -- its directory, path, mode, stale sockets -- is listener.py's.

A batch is applied a slice per loop turn (Syscalls.batch_steps, its transaction set aside in
between): other clients' reads are answered meanwhile (they may see the batch's routes
appear, as on FreeBSD each route add is visible at once), changes -- and everything from a
client with a request queued -- wait behind it in arrival order, and the batch's client
(and the waiting ones) get a progress message every PROGRESS_EVERY seconds, so that a client
can tell a stack at work from one that stopped answering.  A failure rolls the whole batch
back; so does its client leaving.
"""
from __future__ import annotations

import gc
import os
import socket
import struct
import sys
import time
import traceback
from collections import deque
from functools import partial

import msgpack

from plebproto import protocol
from plebproto.constants import E2BIG, EBUSY, EINVAL, ENOBUFS, EPERM, EPROTO
from plebproto.protocol import ProtocolError

from plebproto.errors import OpError

from .listener import listen_socket, peer_groups
from .loop import EventLoop
from .state.txn import free_some
from .syscalls import Deferred, Stream, Syscalls
from .syscalls.batch import dry_run_parts

RECV_SIZE = 1 << 18
# One output budget per connection, for every producer (answers, dump streams, ping rows,
# events): past it nothing more is produced for that peer (its requests wait unread, its
# streams and pings pause) until it reads; a subscriber past it loses its subscription.
MAX_OUTPUT = 4 << 20            # bytes queued for a peer
MAX_STREAMS = 4                 # dumps in progress per peer: each holds a table snapshot
MAX_CONNECTIONS = 512
RESERVED_CONNECTIONS = 32       # of MAX_CONNECTIONS, only for the owner and root
MAX_PER_UID = 64                # connections one uid other than the owner's and root's holds
IDLE_TIMEOUT = 300.0            # seconds without a request (subscribers are exempt)
PROGRESS_EVERY = 1.0            # seconds between progress messages of a batch being applied
STREAM_SLICE = 0.008            # seconds of building dump chunks per loop turn and peer
SERVE_SLICE = 0.008             # seconds of serving one peer's requests per loop turn
JOB_SLICE = 0.008               # seconds of a batch's end, or of its rollback, per loop turn
PIECE_AFTER = 0.002             # seconds into a batch's _step past which its end's next
                                # piece waits for the next turn (a small batch ends at once)
EVENT_SLICE = 0.004             # seconds of sending queued events per loop turn
PACK_AHEAD = 4096               # ops of a batch past which the server packs its journal
                                # record's args a slice per turn (PackedArgs)
PACK_SLICE = 0.004              # seconds of that packing per loop turn
FREEZE_PART = 1024              # ops in a batch's part past which they are frozen (gc)
FREE_STEP = 4096                # records of a committed undo log freed per loop turn
_END = object()
# tests lower the limits through the environment rather than wait 300 s
ENV_MAX_CONNECTIONS = "PLEBNET_MAX_CONNECTIONS"
ENV_IDLE_TIMEOUT = "PLEBNET_IDLE_TIMEOUT"
ENV_RESERVED_CONNECTIONS = "PLEBNET_RESERVED_CONNECTIONS"
ENV_MAX_PER_UID = "PLEBNET_MAX_PER_UID"
_UCRED = struct.Struct("3i")
MAX_FRAME = protocol.MAX_FRAME
_HEADER = protocol.HEADER.pack
_pack = msgpack.Packer(use_bin_type=True).pack
# replies gathered in a group before it is packed and sent (or a run's, RUN_MAX, at its
# end): the output budget (_over, on what is packed) lags by at most that many replies
GROUP_MAX = 64
RUN_MAX = 256                   # requests of a frame served in one run (_serve_run)


class Connection:
    __slots__ = ("sock", "fd", "rbuf", "wbuf", "pid", "uid", "gid", "can_write", "subscribed",
                 "batch", "streams", "last_active", "reading", "closed", "tasks", "units",
                 "pending", "lost", "waiting", "paused")

    def __init__(self, sock, pid, uid, gid, can_write):
        self.sock = sock
        self.fd = sock.fileno()
        self.rbuf = bytearray()
        self.wbuf = bytearray()
        self.pid, self.uid, self.gid = pid, uid, gid
        self.can_write = can_write
        self.subscribed: int | None = None
        self.batch: list | None = None      # ops of a batch still arriving in parts
        self.units: list = []               # and, keep-going, its units (entries each)
        self.pending: list = []             # requests read, waiting for the budget
        self.lost = 0                       # events dropped: the subscriber fell behind
        self.paused = False                 # a task (ping) waits for its output to be read
        self.streams: list = []             # (id, iterator) of dumps being sent
        self.tasks: list = []               # Deferred results still running (ping, pcap)
        self.last_active = 0.0
        self.reading = True
        self.closed = False
        self.waiting = 0                    # its requests queued behind a batch


class _Frame:
    """A requests frame (protocol: several requests in one frame) being served: its
    requests, and how many of them have been."""

    __slots__ = ("items", "pos")

    def __init__(self, items: list):
        self.items, self.pos = items, 0


class PackedArgs(dict):
    """A big batch's args ({"ops": [...]}) with .packed, the bytes msgpack makes of them,
    made a slice per loop turn (ControlServer._pack_ahead) for the audit and the journal
    (audit.record uses them instead of packing the args in one go)."""

    __slots__ = ("packed",)

    def __init__(self, **items):
        super().__init__(**items)
        self.packed: bytes | None = None


class _Job:
    """A batch being applied a slice per loop turn (then, its steps over, the pieces of its
    end: tail; or, its client gone, rolled back a slice per turn: abandoned)."""

    __slots__ = ("conn", "rid", "ops", "steps", "saved", "compact", "reported", "units",
                 "tail", "abandoned", "events")

    def __init__(self, conn: Connection, rid: int, ops: list, steps, compact: bool,
                 units: list | None = None):
        self.conn, self.rid, self.ops, self.steps, self.compact = conn, rid, ops, steps, compact
        self.units = units                  # a keep-going batch's units, else None
        self.saved: tuple | None = None     # its transaction, set aside between slices
        self.reported = time.monotonic()
        self.tail: deque | None = None      # once its steps are over: what it still owes
        self.abandoned = False              # its client left: being rolled back
        self.events: list | None = None     # the outbox entry of its commit's events


class ControlServer:
    def __init__(self, loop: EventLoop, syscalls: Syscalls, path: str,
                 read_gid: int | None = None, on_change=None, on_refused=None, barrier=None):
        self.loop = loop
        self.sys = syscalls
        self.stack = syscalls.stack
        self.journal = syscalls.stack.journal
        self.path = path
        self.read_gid = read_gid
        # on_change(conn, [(op, args)...]): the changes just applied for conn, in order
        self.on_change = on_change
        self.on_refused = on_refused    # called with (conn, op, args, errno, msg) on a refusal
        # barrier (persist.Persist): while barrier.pending holds records, no byte goes out;
        # at the end of the loop iteration barrier.sync() makes them durable (group commit)
        self.barrier = barrier
        self._held: set[Connection] = set()
        self._commit_soon = False
        self.max_connections = int(os.environ.get(ENV_MAX_CONNECTIONS, MAX_CONNECTIONS))
        # by default a quarter at most: a small limit must still let the read group in
        self.reserved = min(self.max_connections, int(os.environ.get(
            ENV_RESERVED_CONNECTIONS, min(RESERVED_CONNECTIONS, self.max_connections // 4))))
        self.max_per_uid = int(os.environ.get(ENV_MAX_PER_UID, MAX_PER_UID))
        self.per_uid: dict[int, int] = {}   # open connections by peer uid
        self.idle_timeout = float(os.environ.get(ENV_IDLE_TIMEOUT, IDLE_TIMEOUT))
        self.conns: dict[int, Connection] = {}
        self.job: _Job | None = None    # the batch being applied
        # requests waiting for it: (conn, id, op, args, compact form), in arrival order
        self.queued: deque[tuple] = deque()
        self.actor = 0                  # pid of the peer whose request is being applied
        self.compact = False            # the request being served came as an array
        # the peer whose requests frame is being served, and the compact final replies
        # for its group, packed as one array when the group ends (_end_group)
        self.grouping: Connection | None = None
        self.group: list[list] = []
        self.sock = listen_socket(path, read_gid)
        st = os.lstat(path)
        self._inode = (st.st_dev, st.st_ino)    # close() unlinks this socket, nothing else
        self.uid = os.getuid()
        loop.add_reader(self.sock.fileno(), self._accept)
        self.subscribers: set[Connection] = set()
        # events published and not yet sent, in order: [events, next index, actor pid,
        # the subscribers then]; sent EVENT_SLICE per turn (_send_events), and held while
        # a committed batch waits for its journal record (_unrecorded of them)
        self._outbox: deque[list] = deque()
        self._sending = False
        self._send_scheduled = False
        self._stepping = False          # a batch's slice runs: its commit's events wait
        self._unrecorded = 0
        # every read lands here first: recv(RECV_SIZE) would allocate (and, past malloc's
        # mmap threshold, map and unmap) a RECV_SIZE buffer per read, however little came
        self._scratch = memoryview(bytearray(RECV_SIZE))
        self._sweep_timer = loop.call_later(self.idle_timeout / 4, self._sweep)
        # big committed undo logs, freed a piece per loop turn (Journal.free_later)
        self._logs: deque[list] = deque()
        self.stack.journal.free_later = self._free_later

    def _free_later(self, log: list) -> None:
        self._logs.append(log)
        if len(self._logs) == 1:
            self.loop.call_soon(self._free_some)

    def _free_some(self) -> None:
        if free_some(self._logs[0], FREE_STEP):
            self._logs.popleft()
        if self._logs:
            self.loop.call_soon(self._free_some)

    # -- connections ---------------------------------------------------------------------------
    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            sock.setblocking(False)
            pid, uid, gid = _UCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                          _UCRED.size))
            can_write = uid in (0, self.uid)
            if not can_write and not (self.read_gid is not None and (
                    gid == self.read_gid or self.read_gid in peer_groups(pid))):
                refusal = (EPERM, f"permission denied: uid {uid} may not use this stack "
                                  f"(its owner may let a group read it: plebnet --read-group "
                                  f"GROUP)")
            else:
                refusal = self._over_limit(uid, can_write)
            if refusal:
                try:
                    sock.send(protocol.encode({"id": 0, "errno": refusal[0], "msg": refusal[1]}))
                except OSError:
                    pass
                sock.close()
                continue
            conn = Connection(sock, pid, uid, gid, can_write)
            conn.last_active = self.loop.clock()
            self.conns[conn.fd] = conn
            self.per_uid[uid] = self.per_uid.get(uid, 0) + 1
            self.loop.add_reader(conn.fd, lambda c=conn: self._readable(c))

    def _over_limit(self, uid: int, privileged: bool):
        """(errno, text) refusing one more connection of uid, or None.  The owner and root
        may take every slot; anyone else neither the reserved ones nor more than
        max_per_uid: the text names the limit that was hit."""
        if len(self.conns) >= self.max_connections:
            return (EBUSY, f"too many connections: all {self.max_connections} are in use; "
                           f"try again later")
        if privileged:
            return None
        if len(self.conns) >= self.max_connections - self.reserved:
            return (EBUSY, f"too many connections: the last {self.reserved} of "
                           f"{self.max_connections} are kept for the stack's owner and root;"
                           f" try again later")
        if self.per_uid.get(uid, 0) >= self.max_per_uid:
            return (EBUSY, f"too many connections from uid {uid}: at most "
                           f"{self.max_per_uid} per uid")
        return None

    def _close(self, conn: Connection) -> None:
        if conn.closed:
            return
        conn.closed = True
        left = self.per_uid.get(conn.uid, 1) - 1
        if left:
            self.per_uid[conn.uid] = left
        else:
            self.per_uid.pop(conn.uid, None)
        if self.job is not None and self.job.conn is conn:
            self._abandon()
        for task in conn.tasks:
            task.cancel()
        conn.tasks = []
        self._unwatch(conn)
        self.loop.remove_reader(conn.fd)
        self.loop.remove_writer(conn.fd)
        self.conns.pop(conn.fd, None)
        conn.sock.close()

    def _sweep(self) -> None:
        """Close connections idle for idle_timeout (subscribers wait for events; exempt)."""
        deadline = self.loop.clock() - self.idle_timeout
        for conn in list(self.conns.values()):
            if (conn.subscribed is None and not conn.streams and not conn.tasks
                    and conn.last_active < deadline):
                self._close(conn)
        self._sweep_timer = self.loop.call_later(self.idle_timeout / 4, self._sweep)

    # -- input -----------------------------------------------------------------------------------
    def _readable(self, conn: Connection) -> None:
        """A bug met while serving one peer closes that peer, not the stack."""
        try:
            self._read(conn)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            self._close(conn)

    def _read(self, conn: Connection) -> None:
        try:
            n = conn.sock.recv_into(self._scratch)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            n = 0
        if not n:
            self._close(conn)
            return
        conn.last_active = self.loop.clock()
        conn.rbuf += self._scratch[:n]
        # the frames of the read are decoded now; they are served while the peer's output
        # is within its budget (the rest wait in conn.pending, and nothing more is read)
        conn.pending.extend(protocol.read_frames(conn.rbuf))
        self._serve_pending(conn)

    def _over(self, conn: Connection) -> bool:
        return len(conn.wbuf) >= MAX_OUTPUT or len(conn.streams) >= MAX_STREAMS

    def _serve_pending(self, conn: Connection) -> None:
        """Answer the pending requests while the output budget allows, for at most
        SERVE_SLICE (the rest at a later turn: _flush schedules _resume); one send for all.
        A dump in progress holds the requests after it: a peer's replies leave in the order
        it asked (clients match a pipelined reply to the oldest request outstanding)."""
        pending = conn.pending
        done = 0
        due = time.monotonic() + SERVE_SLICE
        while done < len(pending) and not conn.streams and not self._over(conn):
            msg = pending[done]
            if type(msg) is list and len(msg) == 3 and type(msg[0]) is not list:
                done += 1
                self.compact = True     # the compact form [id, op, args], answered in kind
                try:
                    self._request(conn, *msg)
                finally:
                    self.compact = False
            elif type(msg) is _Frame or protocol.is_group(msg):
                if type(msg) is not _Frame:
                    pending[done] = msg = _Frame(msg)
                if self._serve_frame(conn, msg, due):
                    done += 1
            elif type(msg) is dict:
                done += 1
                self._request(conn, msg.get("id", 0), msg.get("op"), msg.get("args", {}))
            elif isinstance(msg, protocol.FrameTooLarge):
                # the length prefix is garbage: the stream cannot be resynchronised
                self._reply(conn, {"id": 0, "errno": E2BIG, "msg": str(msg)})
                if self.barrier is not None:
                    self.barrier.sync()     # the replies already queued may now go
                self._flush(conn)
                self._close(conn)
                return
            else:
                done += 1
                why = msg if isinstance(msg, ProtocolError) else "frame is not a request"
                self._reply(conn, {"id": 0, "errno": EPROTO, "msg": str(why)})
                continue
            self.actor = 0
            if conn.closed:
                return
            if time.monotonic() >= due:
                break
        del pending[:done]
        self._flush(conn)

    def _serve_frame(self, conn: Connection, frame: _Frame, due: float) -> bool:
        """Serve a requests frame's requests from where it stopped, each as a request of its
        own, until the slice's time or the peer's budget is spent or a dump holds the rest;
        their compact replies are grouped (_reply).  True once every request is served."""
        items, i, count = frame.items, frame.pos, len(frame.items)
        monotonic = time.monotonic
        self.grouping = conn
        self.compact = True
        try:
            while i < count:
                item = items[i]
                if not conn.waiting and self.job is None:
                    end = self._serve_run(conn, items, i, min(count, i + RUN_MAX), due)
                    if end > i:
                        i = end
                        if conn.closed or self._over(conn) or monotonic() >= due:
                            break
                        continue
                i += 1
                if type(item) is list and len(item) == 3:
                    self._request(conn, *item)
                else:
                    rid = item[0] if type(item) is list and item and type(item[0]) is int \
                        else 0
                    self._error(conn, rid, OpError(EPROTO, "request is not [id, op, args]"))
                self.actor = 0
                if conn.closed or conn.streams or self._over(conn) or monotonic() >= due:
                    break
        finally:
            self.compact = False
            self._end_group(conn)
            self.grouping = None
        frame.pos = i
        return i >= count

    def _serve_run(self, conn: Connection, items: list, start: int, end: int,
                   due: float) -> int:
        """Serve the requests of items[start:end] from the first while each has a Form
        (Syscalls.forms: its handler answers a plain value), exactly as _serve would one by
        one -- each its own errno, audit entry and journal record, a failing one leaving
        nothing behind (Journal.apply_each: a savepoint each) -- without the per-request
        dispatch, transaction and reply of _serve.  Returns the index past the last one
        served: start when items[start] has no Form (it takes _serve's path, as does a
        change from a peer that may only read, to be refused there).  The run ends early
        when the slice's time (due) is spent."""
        forms, can_write = self.sys.forms, conn.can_write
        calls: list = []        # (form.call, args) for Journal.apply_each
        changes: list = []      # per request: whether it changes the stack
        i = start
        while i < end:
            item = items[i]
            if type(item) is not list or len(item) != 3:
                break
            op, args = item[1], item[2]
            entry = forms.get(op) if type(op) is str else None
            if entry is None or type(args) is not dict:
                break
            sub = args.get(entry[0])
            form = entry[1].get(sub) if type(sub) is str else None
            if form is None or form.mutating and not can_write:
                break
            calls.append((form.call, args))
            changes.append(form.mutating)
            i += 1
        if not calls:
            return start
        self.actor = conn.pid
        results, failed = self.journal.apply_each(calls, due, time.monotonic)
        i = start + len(results)
        run = items[start:i]
        if not failed:          # (the usual case: every reply a success, in one go)
            self.group += [[rid if type(rid) is int else 0, 0, "", result]
                           for (rid, _op, _args), result in zip(run, results)]
            if self.on_change:
                applied = [(item[1], item[2]) for item, change in zip(run, changes) if change]
                if applied:
                    self.on_change(conn, applied)
        else:
            self._serve_run_replies(conn, run, changes, results)
        if len(self.group) >= GROUP_MAX:
            self._end_group(conn)
        return i

    def _serve_run_replies(self, conn: Connection, run: list, changes: list,
                           results: list) -> None:
        """A run's replies and audit when some of its requests failed, in order."""
        applied: list = []          # (op, args) applied, told on_change in one call
        for (rid, op, args), change, result in zip(run, changes, results):
            if type(rid) is not int:
                rid = 0
            if isinstance(result, Exception):
                if not isinstance(result, OpError):     # a bug must not take the stack down
                    traceback.print_exception(result, file=sys.stderr)
                    result = OpError(EINVAL, "internal error")
                if applied and self.on_change:  # (in order: the changes before it first)
                    self.on_change(conn, applied)
                    applied = []
                self._refused(conn, op, args, result)
                self._error(conn, rid, result)
                continue
            if change:
                applied.append((op, args))
            self.group.append([rid, 0, "", result])     # (_reply's; an error may end a group)
        if applied and self.on_change:
            self.on_change(conn, applied)

    def _request(self, conn: Connection, rid, op, args) -> None:
        if type(rid) is not int:
            rid = 0
        if conn.waiting or (self.job is not None and self._waits(conn, op, args)):
            conn.waiting += 1
            self.queued.append((conn, rid, op, args, self.compact))
            return
        self._serve(conn, rid, op, args)

    def _serve(self, conn: Connection, rid: int, op, args) -> None:
        self.actor = conn.pid       # events this request causes name its process (monitor)
        if type(args) is not dict:
            self._error(conn, rid, OpError(EINVAL, "args must be a map"))
            return
        try:
            if op == "subscribe":
                conn.subscribed = rid
                self._watch(conn)
                self._answer(conn, rid, None)
                return
            if op == "batch":
                self._batch(conn, rid, args)
                return
            mutating = self.sys.is_mutating(op, args)
            if not mutating:            # reads change nothing: no transaction to pay for
                result = self.sys.dispatch(op, args)
            elif not conn.can_write:
                raise OpError(EPERM, f"permission denied: '{op}' changes the stack and "
                                         f"uid {conn.uid} may only read (read group)")
            else:
                result = self.journal.apply(self.sys.dispatch, op, args)
        except OpError as exc:
            self._refused(conn, op, args, exc)
            self._error(conn, rid, exc)
            return
        except Exception:           # a bug must not take the stack down with it
            traceback.print_exc(file=sys.stderr)
            exc = OpError(EINVAL, "internal error")
            self._refused(conn, op, args, exc)
            self._error(conn, rid, exc)
            return
        if type(result) is Stream:
            conn.streams.append((rid, iter(result.rows), result.chunked))
            return
        if type(result) is Deferred:
            self._start_task(conn, rid, result)
            return
        if mutating and self.on_change:
            self.on_change(conn, [(op, args)])
        self._reply(conn, [rid, 0, "", result] if self.compact else     # (_answer, inline)
                    {"id": rid, "errno": 0, "msg": "", "result": result})

    def _start_task(self, conn: Connection, rid: int, task: Deferred) -> None:
        """A result streamed as it happens: rows as chunks ("more"), then a final reply."""
        live = [True]

        def push(row) -> bool:
            """Queue a row; False once the peer's budget is spent (the task pauses until
            _resume calls its resume())."""
            if live[0] and not conn.closed:
                self._reply(conn, {"id": rid, "more": True, "result": [row]})
                self._flush(conn)
            if not live[0] or conn.closed:
                return False
            if self._over(conn):
                conn.paused = True
                return False
            return True

        def end(message) -> None:
            if not live[0]:
                return
            live[0] = False
            if task in conn.tasks:
                conn.tasks.remove(task)
            if not conn.closed:
                self._reply(conn, message)
                self._flush(conn)

        def finish(result) -> None:
            end({"id": rid, "errno": 0, "msg": "", "result": [result]})

        def fail(exc: OpError) -> None:
            end({"id": rid, "errno": exc.errno, "msg": str(exc)})

        conn.tasks.append(task)
        try:
            task.start(push, finish, fail)
        except OpError as exc:
            fail(exc)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            fail(OpError(EINVAL, "internal error"))

    def _batch(self, conn: Connection, rid: int, args: dict) -> None:
        """All-or-nothing: every op runs inside one transaction; the first failure (not in
        the op's tolerate list) rolls everything back and is named by its index."""
        ops = args.get("ops", [])
        if not isinstance(ops, list):
            raise OpError(EINVAL, "batch ops must be a list")
        dry = args.get("dry_run") is True     # on every part of a dry run
        if not conn.can_write and not dry:
            raise OpError(EPERM, f"permission denied: 'batch' changes the stack and "
                                     f"uid {conn.uid} may only read (read group)")
        pending = (conn.batch or []) + ops
        keep_going = args.get("keep_going") is True and not dry
        if keep_going:      # each part names the units of its own entries
            units = args.get("units")
            conn.units = conn.units + units if type(units) is list else [None]
        if len(pending) > protocol.MAX_BATCH_OPS:
            conn.batch, conn.units = None, []
            raise OpError(E2BIG, f"batch larger than {protocol.MAX_BATCH_OPS} ops")
        if args.get("more"):
            conn.batch = pending
            if len(ops) >= FREEZE_PART:
                # its ops live until the batch ends: out of the collector's view, or each
                # of its collections scans them all again (41 ms, a hundred thousand ops)
                gc.freeze()
            self._reply(conn, {"id": rid, "errno": 0, "msg": "", "result": None, "more": True})
            return
        conn.batch, units, conn.units = None, conn.units, []
        if keep_going:
            self.job = _Job(conn, rid, pending, self.sys.keep_going_steps(pending, units),
                            self.compact, units)
            self._step(self.job, inline=True)
            return
        if dry:
            # changes nothing: no audit record, no journal entry, no event (see protocol)
            try:
                result = self.sys.dry_run(pending, args.get("reads", []))
            except OpError as exc:
                self._error(conn, rid, exc, index=exc.index)
                return
            # streamed in bounded chunks: the reads hold whole tables
            conn.streams.append((rid, dry_run_parts(result), True))
            return
        self.job = _Job(conn, rid, pending, self.sys.batch_steps(pending), self.compact)
        self._step(self.job, inline=True)   # its first slice at once: a small batch ends in it

    # -- a batch, a slice per loop turn ------------------------------------------------------------
    def _waits(self, conn: Connection, op, args) -> bool:
        """Whether a request must wait for the batch being applied: its own client's, and
        changes (a batch included) from anybody."""
        if conn is self.job.conn or op == "batch":      # (self.job: not None here)
            return True
        try:
            return bool(self.sys.is_mutating(op, args))
        except Exception:
            return True

    def _step_later(self, job: _Job, inline: bool) -> None:
        """_step(job) at the next loop turn.  (A callback run among a turn's ready file
        descriptors schedules call_soon work into that same turn: from there, one hop more.)"""
        if inline:
            self.loop.call_soon(self.loop.call_soon, self._step, job)
        else:
            self.loop.call_soon(self._step, job)

    def _step(self, job: _Job, inline: bool = False) -> None:
        """The next slice of the batch (or of its rollback, its client gone); once it has
        run its course, the pieces of its end (_end_pieces), as many as fit in the slice
        (a small batch ends in the turn it began), the rest a piece per turn; then the
        queue's turn."""
        if job is not self.job:
            return              # (rolled back: its client left)
        began = time.monotonic()
        conn = job.conn
        self.actor = conn.pid
        compact, self.compact = self.compact, job.compact
        try:
            if job.tail is None and not self._advance(job, inline):
                return          # (the next slice is scheduled)
            tail = job.tail
            assert tail is not None
            while tail:
                if time.monotonic() - began >= PIECE_AFTER:
                    self._step_later(job, inline)   # the next piece at the next turn
                    return
                sent = job.events
                if len(tail) == 1 and sent is not None and sent[1] < len(sent[0]):
                    # the answer goes after the events its commit caused, as a routing
                    # socket has them before the write returns (sent from here only when
                    # no turn of sending them is due anyway)
                    if not self._send_scheduled:
                        self._send_events()
                    if sent[1] < len(sent[0]):
                        self._step_later(job, inline)
                        return
                    continue
                if tail[0]() is not True:   # (a piece answering True goes on next time)
                    tail.popleft()
                self.actor = conn.pid       # (_publish resets it)
            self.job = None
        finally:
            self.actor = 0
            self.compact = compact
        if not conn.closed:
            self._flush(conn)
        if self.queued:
            self.loop.call_soon(self._drain)

    def _advance(self, job: _Job, inline: bool) -> bool:
        """One slice of job's steps (or of its rollback); True once they are over and
        job.tail holds the pieces of its end."""
        journal = self.stack.journal
        if job.saved is not None:
            journal.resume(job.saved)
            job.saved = None
        if job.abandoned:
            # its client left: the open transaction is undone a slice per turn, then the
            # steps are closed (GeneratorExit inside the transaction: nothing left to undo)
            if not journal.undo_some(0, time.perf_counter() + JOB_SLICE, time.perf_counter):
                job.saved = journal.suspend()
                self._step_later(job, inline)
                return False
            job.steps.close()
            job.tail = deque()
            return True
        conn, rid = job.conn, job.rid
        self._stepping = True       # (the events of its commit wait: _publish)
        try:
            next(job.steps)
        except StopIteration as done:
            job.events = self._outbox[-1] if self._outbox else None
            job.tail = self._end_pieces(job, done.value)
        except OpError as exc:
            args = self._batch_args(job.ops)
            job.tail = deque((partial(self._refused, conn, "batch", args, exc),
                              partial(self._error, conn, rid, exc, index=exc.index)))
            self._pack_ahead(job.tail, args)
        except Exception:           # (batch_steps reports its own bugs as OpError)
            traceback.print_exc(file=sys.stderr)
            job.tail = deque((partial(self._error, conn, rid,
                                      OpError(EINVAL, "internal error")),))
        else:
            job.saved = journal.suspend()
            self._step_later(job, inline)
            now = time.monotonic()
            if now - job.reported >= PROGRESS_EVERY:
                job.reported = now
                self._progress()
            return False
        finally:
            self._stepping = False
            if self._outbox and not self._unrecorded:
                self._send_soon()
        return True

    def _end_pieces(self, job: _Job, value) -> deque:
        """What a committed batch still owes, in order, each a piece of work of its own
        (for a million routes each takes milliseconds): its journal record and audit entry
        (the events of its commit wait for it: _send_events), then its answer."""
        conn, rid = job.conn, job.rid
        pieces: deque = deque()
        if job.units is not None:
            result, applied = value
            failed = result["failed"]
            if failed:
                units = len(job.units)
                pieces.append(partial(
                    self._refused, conn, "batch",
                    {"keep_going": True, "units": units, "failed": failed},
                    OpError(failed[0][1], f"{len(failed)} of {units} units refused")))
            if applied and self.on_change:
                args = self._batch_args(applied)
                pieces.append(partial(self._record, conn, "batch", args, result["results"]))
                self._unrecorded += 1
                self._pack_ahead(pieces, args)
            pieces.append(partial(self._answer, conn, rid, result))
        else:
            if self.on_change:
                args = self._batch_args(job.ops)
                pieces.append(partial(self._record, conn, "batch", args, value))
                self._unrecorded += 1
                self._pack_ahead(pieces, args)
            pieces.append(partial(self._answer_batch, conn, rid, value))
        return pieces

    @staticmethod
    def _batch_args(ops: list) -> dict:
        """A batch's args as the audit and the journal get them: {"ops": ops}, a
        PackedArgs when there are many (packed a slice per turn first: _pack_ahead)."""
        return PackedArgs(ops=ops) if len(ops) > PACK_AHEAD else {"ops": ops}

    @staticmethod
    def _pack_ahead(pieces: deque, args: dict) -> None:
        """Put first in pieces the packing of a PackedArgs' ops, a slice per turn: a
        piece answering True until it is done (the audit packing 200,000 ops in one go
        took 90 ms).  msgpack packs a list as its header then each item on its own, so the
        items packed apart and joined are the bytes packing the whole makes."""
        if type(args) is not PackedArgs:
            return
        ops = args["ops"]
        parts = [_pack({"ops": []})[:-1], protocol.array_header(len(ops))]
        at = [0]

        def piece() -> bool:
            k = at[0]
            due = time.perf_counter() + PACK_SLICE
            try:
                while k < len(ops) and time.perf_counter() < due:
                    parts.append(b"".join(map(_pack, ops[k:k + 512])))
                    k += 512
            except Exception:       # (not packable: the audit meets it as it did)
                return False
            at[0] = k
            if k < len(ops):
                return True
            args.packed = b"".join(parts)
            return False
        pieces.appendleft(piece)

    def _record(self, conn: Connection, op: str, args: dict, result) -> None:
        """A committed batch's on_change (journal record, audit entry); its events, held
        until now, may go."""
        try:
            self.on_change(conn, [(op, args)])
        finally:
            self._unrecorded -= 1
            if self._outbox and not self._unrecorded:
                self._send_soon()

    def _answer_batch(self, conn: Connection, rid: int, results: list) -> None:
        """A batch's answer.  A big batch of routes answers a None per op: packed here as
        the bytes msgpack would make (an array of 0xc0), at memset speed rather than the
        milliseconds per million msgpack takes."""
        n = len(results)
        if n < 4096 or conn is self.grouping or results.count(None) != n:
            self._answer(conn, rid, results)
            return
        # the reply with None in place of the results, which come last in either form
        head = _pack([rid, 0, "", None] if self.compact else
                     {"id": rid, "errno": 0, "msg": "", "result": None})[:-1]
        body = head + protocol.array_header(n) + b"\xc0" * n
        if len(body) > MAX_FRAME:
            self._answer(conn, rid, results)    # (says E2BIG, as for any reply too big)
            return
        conn.wbuf += _HEADER(len(body))
        conn.wbuf += body

    def _progress(self) -> None:
        """Tell the batch's client and the clients waiting behind it that the stack works."""
        job = self.job
        assert job is not None
        for conn in {job.conn, *(entry[0] for entry in self.queued)}:
            if not conn.closed and len(conn.wbuf) < MAX_OUTPUT:
                self._reply(conn, {"id": 0, "progress": True})
                self._flush(conn)

    def _abandon(self) -> None:
        """The batch's client left: roll the batch back, a slice per turn (_advance); a
        batch already committed still gets its journal record (its answer goes nowhere)."""
        job = self.job
        assert job is not None
        if job.tail is not None:
            while job.tail:
                piece = job.tail.popleft()
                while piece() is True:
                    pass
            self.job = None
            if self.queued:
                self.loop.call_soon(self._drain)
            return
        # (a job not yet over always has its next _step scheduled, or running)
        job.abandoned = True

    def _drain(self) -> None:
        """Serve the requests that waited, in order, until one of them is a batch (which
        then waits no more) or a slice's worth of time has gone (the rest next turn)."""
        due = time.monotonic() + 0.01
        touched = set()
        while self.queued and self.job is None and time.monotonic() < due:
            conn, rid, op, args, compact = self.queued.popleft()
            conn.waiting -= 1
            if conn.closed:
                continue
            if conn.streams or self._over(conn):
                # its replies leave in order and within its budget: its waiting requests go
                # back before the ones it sent later, served once its dumps are out
                mine = [(rid, op, args, compact)] + [e[1:] for e in self.queued if e[0] is conn]
                self.queued = deque(e for e in self.queued if e[0] is not conn)
                conn.waiting = 0
                conn.pending[:0] = [[r, o, a] if c else {"id": r, "op": o, "args": a}
                                    for r, o, a, c in mine]
                touched.add(conn)
                continue
            self.compact = compact
            try:
                self._serve(conn, rid, op, args)
            finally:
                self.compact = False
                self.actor = 0
            touched.add(conn)
        for conn in touched:
            if not conn.closed:
                self._flush(conn)
        if self.queued and self.job is None:
            self.loop.call_soon(self._drain)

    def _refused(self, conn, op, args, exc: OpError) -> None:
        """Tell the audit about a refused change (reads that fail are not changes)."""
        if self.on_refused is None:
            return
        try:
            mutating = (args.get("dry_run") is not True if op == "batch"
                        else self.sys.is_mutating(op, args))
        except Exception:
            mutating = True
        if mutating and op != "subscribe":
            self.on_refused(conn, op, args, exc.errno, str(exc))

    # -- output ----------------------------------------------------------------------------------
    # The reply ending a request takes the request's form (self.compact, set while a compact
    # request is served); chunks, events and stream ends are always maps.
    def _answer(self, conn, rid, result) -> None:
        self._reply(conn, [rid, 0, "", result] if self.compact else
                    {"id": rid, "errno": 0, "msg": "", "result": result})

    def _error(self, conn, rid, exc: OpError, index=None) -> None:
        text = str(exc)
        if self.compact:
            reply = [rid, exc.errno, text, None] + ([] if index is None else [index])
        else:
            reply = {"id": rid, "errno": exc.errno, "msg": text}
            if index is not None:
                reply["index"] = index
        self._reply(conn, reply)

    def _reply(self, conn: Connection, message: dict | list) -> None:
        if conn is self.grouping:
            if self.compact and type(message) is list:
                # the final reply of a request of the frame being served: into its group
                group = self.group
                group.append(message)
                if len(group) >= GROUP_MAX:
                    self._end_group(conn)
                return
            self._end_group(conn)   # anything else goes after the replies before it
        try:
            body = _pack(message)
        except Exception as exc:    # a bug (an unencodable result): say so, keep the peer
            body = _pack(self._too_big(message, f"reply not sent: {exc}"[:200]))
        if len(body) > MAX_FRAME:   # an error echoing a huge argument, say
            body = _pack(self._too_big(message, f"reply not sent: frame of {len(body)} bytes "
                                                f"exceeds {MAX_FRAME}"))
        wbuf = conn.wbuf
        wbuf += _HEADER(len(body))
        wbuf += body

    def _end_group(self, conn: Connection) -> None:
        """Send the group of replies gathered for conn, if any: one array, packed at once
        (a few hundred ns a reply less than one by one).  A group that cannot go as one
        frame (an unencodable or huge result among them) goes as single replies, which
        the protocol allows."""
        group = self.group
        if not group or conn is not self.grouping:
            return
        self.group = []
        try:
            body = _pack(group)
        except Exception:
            body = b""
        if body and len(body) <= MAX_FRAME:
            wbuf = conn.wbuf
            wbuf += _HEADER(len(body))
            wbuf += body
            return
        grouping, self.grouping = self.grouping, None
        try:
            for message in group:
                self._reply(conn, message)
        finally:
            self.grouping = grouping

    @staticmethod
    def _too_big(message: dict | list, text: str) -> dict | list:
        """E2BIG in place of a reply that cannot be sent, in the reply's form."""
        if type(message) is list:
            return [message[0], E2BIG, text, None]
        return {"id": message.get("id", 0), "errno": E2BIG, "msg": text}

    # The server listens to the state's events only while somebody subscribes: building an
    # event costs more than the change it reports, and a million-route batch makes a million.
    def _watch(self, conn: Connection) -> None:
        if not self.subscribers:
            self.stack.journal.listeners.append(self._publish)
        self.subscribers.add(conn)

    def _unwatch(self, conn: Connection) -> None:
        if conn in self.subscribers:
            self.subscribers.discard(conn)
            if not self.subscribers:
                self.stack.journal.listeners.remove(self._publish)

    def _publish(self, events: list[dict]) -> None:
        """Events of a commit (or of the kernel: timers, the data plane), queued behind the
        ones not yet sent and sent at once as far as EVENT_SLICE allows (_send_events)."""
        actor = self.actor
        self.actor = 0              # later events (timers, the data plane) are the kernel's
        backlog = bool(self._outbox)
        self._outbox.append([events, 0, actor, tuple(self.subscribers)])
        if not backlog and not self._stepping and not self._unrecorded:
            self._send_events()
        else:
            self._send_soon()

    def _send_soon(self) -> None:
        if not self._send_scheduled:
            self._send_scheduled = True
            self.loop.call_soon(self._send_later)

    def _send_later(self) -> None:
        self._send_scheduled = False
        self._send_events()

    def _send_events(self) -> None:
        """Send the queued events, in order, for EVENT_SLICE; the rest at the next turn.  A
        subscriber past its output budget loses its subscription (events are not held for
        it without bound) and learns of the loss once it reads (_resume).  Held while a
        committed batch waits for its journal record: an event must not go before the
        change it reports is (with --state) on disk."""
        if self._sending or self._unrecorded:
            return
        self._sending = True
        outbox, subscribers = self._outbox, self.subscribers
        due = time.monotonic() + EVENT_SLICE
        touched: set[Connection] = set()
        try:
            while outbox:
                entry = outbox[0]
                events, i, actor, conns = entry
                conns = [c for c in conns if c in subscribers]
                end = min(len(events), i + 256)
                for event in events[i:end]:
                    event.setdefault("pid", actor)
                for conn in conns:
                    touched.add(conn)
                    wbuf, sid = conn.wbuf, conn.subscribed
                    for k in range(i, end):
                        if len(wbuf) >= MAX_OUTPUT:
                            # too far behind: the rest of these events and every later
                            # batch's are lost to it
                            conn.lost += len(events) - k
                            self._unwatch(conn)
                            break
                        self._reply(conn, {"id": sid, "event": events[k]})
                entry[1] = end
                if end >= len(events):
                    outbox.popleft()
                if time.monotonic() >= due:
                    break
        finally:
            self._sending = False
        for conn in touched:
            if not conn.closed:
                self._flush(conn)
        if outbox:
            self._send_soon()

    def _fill_streams(self, conn: Connection, due: float) -> None:
        """Chunks of the dumps conn asked for, up to 1 MiB queued, until due (monotonic
        time); a chunked dump yielding None (still sorting) ends the turn's share too, the
        rest comes at the next turn."""
        cost = 0.0                      # the last chunk's: the next may take as long
        while conn.streams and len(conn.wbuf) < (1 << 20):
            now = time.monotonic()
            if now + cost >= due:
                self._resume_soon(conn)
                return
            rid, rows, chunked = conn.streams[0]
            if chunked:                 # the dump builds its own chunks
                chunk = next(rows, _END)
                cost = time.monotonic() - now
                if chunk is None:
                    self._resume_soon(conn)
                    return
                if chunk is _END:
                    conn.streams.pop(0)
                    self._reply(conn, {"id": rid, "errno": 0, "msg": "", "result": []})
                else:
                    self._reply(conn, {"id": rid, "more": True, "result": chunk})
                continue
            chunk = []
            for row in rows:
                chunk.append(row)
                if len(chunk) >= protocol.CHUNK_ROWS:
                    break
            if len(chunk) < protocol.CHUNK_ROWS:
                conn.streams.pop(0)
                self._reply(conn, {"id": rid, "errno": 0, "msg": "", "result": chunk})
            else:
                self._reply(conn, {"id": rid, "more": True, "result": chunk})

    def _resume_soon(self, conn: Connection) -> None:
        """Go on with conn's dumps at the next loop turn (when nothing else wakes it)."""
        if not conn.wbuf:
            self.loop.call_soon(lambda: conn.closed or self._flush(conn))

    def _commit(self) -> None:
        """End of a loop iteration: make the changes durable, then let the replies go."""
        self._commit_soon = False
        self.barrier.sync()
        held, self._held = self._held, set()
        for conn in held:
            if not conn.closed:
                self._flush(conn)

    def _flush(self, conn: Connection) -> None:
        if conn is self.grouping:
            self._end_group(conn)   # (a task's push, say, flushing mid-frame)
        if self.barrier is not None and self.barrier.pending:
            # a reply (or event, or read showing the change) must not leave before the
            # change is on disk: hold everything until _commit
            self._held.add(conn)
            if not self._commit_soon:
                self._commit_soon = True
                self.loop.call_soon(self._commit)
            return
        due = time.monotonic() + STREAM_SLICE     # (for this turn's every fill)
        self._fill_streams(conn, due)
        while conn.wbuf:
            try:
                sent = conn.sock.send(conn.wbuf)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self._close(conn)
                return
            del conn.wbuf[:sent]
            if not conn.wbuf:
                self._fill_streams(conn, due)
        if conn.wbuf:
            self.loop.add_writer(conn.fd, lambda c=conn: self._flush(c))
        else:
            self.loop.remove_writer(conn.fd)
        # a peer that does not read its replies is not read from either; once it has read,
        # what it asked meanwhile is served, paused tasks (ping) go on, and a subscriber
        # that lost events is told
        over = self._over(conn)
        # (only for what waits: rescheduling while tasks merely run would spin the loop)
        if not over and not conn.closed and (conn.paused or conn.lost or conn.pending
                                             and not conn.streams) \
                and len(conn.wbuf) < MAX_OUTPUT // 2:
            self.loop.call_soon(self._resume, conn)
        want = not over and not conn.pending
        if want != conn.reading:
            conn.reading = want
            if want:
                self.loop.add_reader(conn.fd, lambda c=conn: self._readable(c))
            else:
                self.loop.remove_reader(conn.fd)

    def _resume(self, conn: Connection) -> None:
        if conn.closed or self._over(conn):
            return
        if conn.lost:
            # the subscription ends with the count of what was lost (ENOBUFS, as a routing
            # socket that overflows); the peer may subscribe again
            self._reply(conn, {"id": conn.subscribed, "errno": ENOBUFS,
                               "msg": f"routing messages lost: the subscriber fell "
                                      f"{MAX_OUTPUT} bytes behind ({conn.lost} or more "
                                      f"dropped); subscription ended"})
            conn.lost = 0
            conn.subscribed = None
        if conn.paused:
            conn.paused = False
            for task in list(conn.tasks):
                if task.resume is not None:
                    task.resume()
        if conn.pending:
            self._serve_pending(conn)
        else:
            self._flush(conn)

    def close(self) -> None:
        for conn in list(self.conns.values()):
            self._close(conn)
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()
        try:
            st = os.lstat(self.path)
            if (st.st_dev, st.st_ino) == self._inode:   # not a name somebody put there since
                os.unlink(self.path)
        except FileNotFoundError:
            pass

