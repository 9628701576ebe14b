"""Client of a plebnet stack's control socket: connect by pid or path, hello, call, batch,
streamed dumps, subscribe.  Blocking and small, because every tool run starts one.

Trust: the client talks only to a stack run by its own uid or root (the peer's SO_PEERCRED
credentials, not the socket file's owner or group, which anyone sharing a group can make look
right), unless the caller names the owner it means (owner=, plebconf's --owner)."""
from __future__ import annotations

import itertools
import os
import struct

# the C module: `socket` would also import enum and selectors, a sizeable share of a one-shot
# tool run's budget; the client needs nothing of theirs
import _socket as socket

from plebproto import protocol
from plebproto.constants import strerror
from plebproto.errors import OpError

_UCRED = struct.Struct("3i")
_TIMEVAL = struct.Struct("ll")
RECV_SIZE = 1 << 18


def _refusal(errno: int, msg: str, index: int | None = None) -> OpError:
    """The stack's refusal as the one failure type; .msg is always the text to print."""
    return OpError(errno, msg or strerror(errno), index)


class ConnectError(Exception):
    """No usable stack: the message is for a person."""


PIPELINE_WINDOW = 2048          # requests in flight in Client.pipeline
_PENDING = object()             # a pipelined request's slot before its reply


class _Rows:
    """The chunks of a streamed result received so far, collected as Client.call does."""
    __slots__ = ("chunks",)

    def __init__(self):
        self.chunks = []

    def add(self, chunk) -> None:
        self.chunks.append(chunk)

    def value(self) -> list:
        if not self.chunks:
            return []
        first, *rest = self.chunks
        if isinstance(first, dict):         # a compact dump: its chunk maps
            return [first, *(chunk for chunk in rest if chunk)]
        rows = list(first)
        for chunk in rest:
            protocol.join_rows(rows, chunk)
        return rows


def sockdir() -> str:
    return os.environ.get("PLEBNET_SOCKDIR", "/tmp")


def socket_path(pid: int, directory: str | None = None) -> str:
    return os.path.join(directory or sockdir(), str(pid))


class Client:
    def __init__(self, sock: socket.socket, path: str):
        self.sock = sock
        self.path = path
        self.rbuf = bytearray()
        # reads land here: recv(n) would allocate n bytes per read (past malloc's mmap
        # threshold, a map and an unmap), however little came
        self.scratch = memoryview(bytearray(RECV_SIZE))
        self.frames = iter(())          # the messages of rbuf not yet received
        self.next_id = 1
        self.server: dict = {}

    # -- connecting -----------------------------------------------------------------------------
    @classmethod
    def connect(cls, pid: int | None = None, path: str | None = None, directory=None,
                timeout: float | None = 30.0, hello: bool = True,
                owner: int | None = None) -> "Client":
        """owner: the uid of a stack run by someone else that we mean to talk to."""
        if path is None:
            if pid is None:
                raise ConnectError("no stack named: give -p PID or set PLEBNET_PID")
            path = socket_path(pid, directory)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            who = f"pid {pid}" if pid is not None else "socket"
            raise ConnectError(f"no stack with {who} (no socket at {path})") from None
        except PermissionError as exc:
            sock.close()
            # the socket's mode keeps us out: only its owner can open it to a group
            raise ConnectError(f"cannot connect to {path}: {exc.strerror} (its owner may let "
                               f"a group read it: plebnet --read-group GROUP)") from None
        except OSError as exc:
            sock.close()
            raise ConnectError(f"cannot connect to {path}: {exc.strerror}") from None
        # a socket planted at /tmp/<pid>, or a stack of another user sharing a group with us,
        # must not receive our commands nor have its answers printed as our stack's
        peer_pid, peer_uid, _ = _UCRED.unpack(
            sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))
        if pid is not None and peer_pid != pid:
            sock.close()
            raise ConnectError(f"the process answering at {path} is pid {peer_pid} "
                               f"(uid {peer_uid}), not stack {pid}: refusing to talk to it")
        if peer_uid not in (0, os.getuid()) and peer_uid != owner:
            sock.close()
            name = user_name(peer_uid)
            raise ConnectError(f"the stack at {path} is run by {name} (uid {peer_uid}), not by "
                               f"you: refusing to talk to it (to mean it: plebconf --owner "
                               f"{name} ...)")
        sock.settimeout(None)
        client = cls(sock, path)
        if timeout:
            client.set_timeout(timeout)
        if hello:
            client.hello()
        return client

    def set_timeout(self, seconds: float | None) -> None:
        """How long a send or receive may wait for the stack (None: for ever); past it they
        raise TimeoutError.  Kept by the kernel, on a blocking socket: with a Python-level
        timeout (settimeout) every send and receive would poll first, one more system call
        per message."""
        seconds = seconds or 0
        tv = _TIMEVAL.pack(int(seconds), int(seconds % 1 * 1_000_000))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)

    def hello(self) -> dict:
        try:
            try:
                info = self.call("hello", {"version": protocol.VERSION})
            except ConnectError:
                # refused at accept: the stack wrote why and closed before our hello arrived
                self._check(self.receive())
                raise
        except OpError as exc:
            # an error before any hello answer is a refusal at accept (permission, too many
            # connections): the stack's words, as one line
            raise ConnectError(f"{self.path}: {exc.msg}") from None
        except TimeoutError:
            raise ConnectError(f"stack not answering at {self.path}") from None
        if info.get("version") != protocol.VERSION:
            raise ConnectError(f"protocol version mismatch: stack speaks {info.get('version')},"
                               f" this plebconf speaks {protocol.VERSION}")
        self.server = info
        return info

    def close(self) -> None:
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- frames -----------------------------------------------------------------------------
    def send(self, op: str, args: dict | None = None) -> int:
        rid = self.next_id
        self.next_id += 1
        try:
            self.sock.sendall(protocol.request(rid, op, args or {}))
        except BlockingIOError:     # SO_SNDTIMEO expired
            raise TimeoutError(f"stack at {self.path} is not reading") from None
        except (BrokenPipeError, ConnectionResetError):
            raise ConnectError(f"stack at {self.path} closed the connection") from None
        return rid

    def receive(self) -> dict:
        """The next message from the stack, as a map: the next complete frame of what was
        read (protocol.read_frames), or of a new read once they are all taken."""
        msg = next(self.frames, None)
        while msg is None:
            try:
                n = self.sock.recv_into(self.scratch)
            except BlockingIOError:     # SO_RCVTIMEO expired
                raise TimeoutError(f"stack at {self.path} not answering") from None
            except ConnectionResetError:
                n = 0
            if not n:
                raise ConnectError(f"stack at {self.path} closed the connection")
            self.rbuf += self.scratch[:n]
            self.frames = protocol.read_frames(self.rbuf)
            msg = next(self.frames, None)
        if type(msg) is dict:
            return msg
        if type(msg) is list:           # the reply to our compact request
            if protocol.is_group(msg):  # replies grouped (after a pipeline): one at a time
                self.frames = itertools.chain(msg[1:], self.frames)
                msg = msg[0]
            return protocol.reply_map(msg)
        if isinstance(msg, protocol.FrameTooLarge):     # a frame that did not decode
            raise ConnectError(f"{self.path}: reply too large ({msg})")
        raise msg

    def _reply(self, rid: int) -> dict:
        while True:
            msg = self.receive()
            # (a progress message only says the stack is at work on a batch: the socket's
            # receive timeout starts again)
            if msg.get("id") in (rid, 0) and "event" not in msg and "progress" not in msg:
                return msg

    @staticmethod
    def _check(msg: dict):
        errno = msg.get("errno", 0)
        if errno:
            raise _refusal(errno, msg.get("msg", ""), msg.get("index"))
        return msg.get("result")

    # -- calls ------------------------------------------------------------------------------
    def call(self, op: str, args: dict | None = None):
        """One op; returns its result or raises OpError.  A streamed result is collected: its
        rows, or for a compact dump its chunks (maps)."""
        rid = self.send(op, args)
        msg = self._reply(rid)
        if msg.get("more"):
            if isinstance(msg["result"], dict):
                return [msg["result"], *(chunk for chunk in self._rest(rid) if chunk)]
            rows = list(msg["result"])
            for chunk in self._rest(rid):
                protocol.join_rows(rows, chunk)
            return rows
        return self._check(msg)

    def stream(self, op: str, args: dict | None = None):
        """Iterate over the chunks of a streamed dump as they arrive."""
        rid = self.send(op, args)
        msg = self._reply(rid)
        yield msg["result"] if msg.get("more") else self._check(msg)
        if msg.get("more"):
            yield from self._rest(rid)

    def _rest(self, rid):
        while True:
            msg = self._reply(rid)
            if msg.get("more"):
                yield msg["result"]
            else:
                yield self._check(msg)
                return

    def pipeline(self, requests, window: int = PIPELINE_WINDOW,
                 per_frame: int = protocol.FRAME_REQUESTS) -> list:
        """Run every (op, args) of requests with up to `window` of them in flight; return
        their results in request order, an OpError object in the place of each refused one.
        Each request is independent: the stack applies, journals and answers each on its
        own, and a refused one changes nothing for the others.

        Requests go out a window's worth at a time, per_frame of them in each requests frame
        (protocol: several requests in one frame), in one send; replies are taken a read at
        a time: every frame of a read is decoded in one pass (protocol.read_frames), and a
        compact reply [id, errno, msg, result(, index)], alone or in a group, goes straight
        into its request's slot, found by its id, without building a map.  After
        each read the requests it answered are replaced by new ones at once (waiting for half
        a window to drain measured ~25% slower: the stack sat idle meanwhile).  A streamed
        result is collected as call() collects it; events and id-0 messages are handled as
        receive()'s other callers handle them (events skipped, an id-0 error taken as the
        reply of the oldest request still unanswered).

        window bounds what is queued on both sides (window requests, window replies): the
        stack stops reading a peer that leaves too much of its output unread."""
        requests = requests if type(requests) is list else list(requests)
        count = len(requests)
        if not count:
            return []
        window = max(1, window)
        base = self.next_id
        self.next_id += count
        results = [_PENDING] * count
        sock, scratch, rbuf, path = self.sock, self.scratch, self.rbuf, self.path
        read_frames, is_group = protocol.read_frames, protocol.is_group
        sent = done = 0
        # frames of an earlier read not yet taken by receive(): they come first
        pending, self.frames = self.frames, iter(())
        try:
            while done < count:
                if sent < count and sent - done < window:
                    end = min(count, done + window)
                    frames = protocol.request_frames(base + sent, requests[sent:end],
                                                     per_frame)
                    try:
                        sock.sendall(frames)
                    except BlockingIOError:     # SO_SNDTIMEO expired
                        raise TimeoutError(f"stack at {path} is not reading") from None
                    except (BrokenPipeError, ConnectionResetError):
                        raise ConnectError(f"stack at {path} closed the connection") from None
                    sent = end
                if pending is None:
                    try:
                        n = sock.recv_into(scratch)
                    except BlockingIOError:     # SO_RCVTIMEO expired
                        raise TimeoutError(f"stack at {path} not answering") from None
                    except ConnectionResetError:
                        n = 0
                    if not n:
                        raise ConnectError(f"stack at {path} closed the connection")
                    rbuf += scratch[:n]
                    pending = read_frames(rbuf)
                for frame in pending:
                    # a group of compact replies, or one message
                    for msg in frame if is_group(frame) else (frame,):
                        if type(msg) is list and len(msg) == 4 and type(msg[0]) is int:
                            i = msg[0] - base       # [id, errno, msg, result]
                            if 0 <= i < count and results[i] is _PENDING:
                                results[i] = _refusal(msg[1], msg[2]) if msg[1] else msg[3]
                                done += 1
                                continue
                            if msg[0]:
                                continue        # not the reply to one of these requests
                        done += self._pipeline_other(msg, base, results)
                pending = None
        except BaseException:
            if pending is not None:     # the rest of that read stays for receive()
                self.frames = pending
            raise
        return results

    def _pipeline_other(self, msg, base: int, results: list) -> int:
        """A pipelined reply that is not a compact final reply: a map (a reply to a
        map-answered op, a chunk of a streamed result, an event, an id-0 error) or a frame
        that did not decode.  Stores what it carries; returns 1 if it ends a request."""
        if type(msg) is list:
            msg = protocol.reply_map(msg)       # raises: not [id, errno, msg, result, index?]
        elif type(msg) is not dict:
            if isinstance(msg, protocol.FrameTooLarge):
                raise ConnectError(f"{self.path}: reply too large ({msg})")
            raise msg
        if "event" in msg or "progress" in msg:
            return 0
        rid = msg.get("id")
        if rid == 0:            # the stack could not read a request: the oldest one unanswered
            i = next((i for i, r in enumerate(results) if r is _PENDING or type(r) is _Rows),
                     None)
        else:
            i = rid - base if type(rid) is int else -1
            if not 0 <= i < len(results):
                return 0
        if i is None:
            return 0
        slot = results[i]
        if slot is not _PENDING and type(slot) is not _Rows:
            return 0
        if msg.get("more"):
            if type(slot) is not _Rows:
                results[i] = slot = _Rows()
            slot.add(msg["result"])
            return 0
        try:
            result = self._check(msg)
        except OpError as exc:
            result = exc
        if type(slot) is _Rows:
            if type(result) is not OpError:
                slot.add(result)
            results[i] = slot.value() if type(result) is not OpError else result
        else:
            results[i] = result
        return 1

    def batch(self, ops: list) -> list:
        """All-or-nothing: ops is a list of [op, args], [op, args, tolerated-errnos] or runs
        (see run()).  Sent in several frames when large; applied by the stack only once all
        have arrived."""
        parts = _split(ops)
        rid = None
        for i, part in enumerate(parts):
            rid = self.send("batch", {"ops": part, "more": i < len(parts) - 1})
            if i < len(parts) - 1:
                self._check(self._reply(rid))
        return self._check(self._reply(rid))

    def batch_keep_going(self, ops: list, units: list[int]) -> dict:
        """Keep-going: units (how many of ops each has, in order) are applied each
        all-or-nothing, in one pass; the failing ones are skipped.  Returns {"results",
        "failed": [[op index, errno, msg], ...]}.  Sent in parts of about PART_OPS //
        ENTRY_WEIGHT ops, cut between units; each part names the units of its own ops."""
        parts: list[tuple[list, list]] = [([], [])]
        pos = 0
        for count in units:
            part = parts[-1]
            if part[0] and len(part[0]) + count > PART_OPS // ENTRY_WEIGHT:
                parts.append(part := ([], []))
            part[0].extend(ops[pos:pos + count])
            part[1].append(count)
            pos += count
        rid = None
        for i, (part_ops, part_units) in enumerate(parts):
            rid = self.send("batch", {"ops": part_ops, "units": part_units, "keep_going": True,
                                      "more": i < len(parts) - 1})
            if i < len(parts) - 1:
                self._check(self._reply(rid))
        return self._check(self._reply(rid))

    def dry_run(self, ops: list, reads: list) -> dict:
        """What batch(ops) would do, without doing it: the stack applies ops inside a
        transaction, runs reads ([op, args] each, ops that change nothing) on the result,
        and rolls everything back.  Returns {"results": the batch's, "reads": each read's
        result}; a failing op raises OpError as batch() does (a failing read: .index counts
        the reads after the ops).  Needs only read access."""
        parts = _split(ops)
        rid = None
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            args = {"ops": part, "more": not last, "dry_run": True}
            if last:
                args["reads"] = reads
            rid = self.send("batch", args)
            if not last:
                self._check(self._reply(rid))
        # the result comes as a stream of chunk maps, each bounded (protocol: "Dry run")
        msg = self._reply(rid)
        if not msg.get("more"):
            return self._check(msg)
        return protocol.join_dry_run(part for part in [msg["result"], *self._rest(rid)]
                                     if part)

    def subscribe(self):
        """Subscribe now; return an iterator of the routing-message events (dicts) the stack
        publishes from this moment on."""
        rid = self.send("subscribe", {})
        self._check(self._reply(rid))
        return self._events(rid)

    def _events(self, rid):
        probe = None
        while True:
            try:
                msg = self.receive()
            except TimeoutError:
                if probe is not None:
                    raise               # not even the probe was answered: the stack stalled
                # quiet, or stalled? a cheap request tells: its reply proves it alive
                probe = self.send("hello", {"version": protocol.VERSION})
                continue
            if msg.get("id") == rid and "event" in msg:
                yield msg["event"]
            elif msg.get("id") == rid and msg.get("errno"):
                # the stack ended the subscription (ENOBUFS: we fell too far behind)
                raise _refusal(msg["errno"], msg.get("msg", ""))
            elif probe is not None and msg.get("id") == probe:
                probe = None

    # -- conveniences used by the tools ---------------------------------------------------------
    def ioctl(self, req: str, **args):
        return self.call("ioctl", {"req": req, **args})

    def rtmsg(self, type_: str, **args):
        return self.call("rtmsg", {"type": type_, **args})

    def sysctl(self, name: str, **args):
        return self.call("sysctl", {"name": name, **args})


def user_name(uid: int) -> str:
    """The login name of uid, or the number when it has none."""
    import pwd      # only when there is someone else to name
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def owner_uid(text: str) -> int:
    """--owner USER|UID as a uid; ValueError names a user that does not exist."""
    if text.isdigit():
        return int(text)
    import pwd
    try:
        return pwd.getpwnam(text).pw_uid
    except KeyError:
        raise ValueError(f"unknown user {text}") from None


PART_OPS = 50_000
# What the stack spends decoding a part is one loop turn (issue #13: never silent): a
# packed column's value costs next to nothing, a run's row given as values about ROW_WEIGHT
# times that, a separate op (a map) ENTRY_WEIGHT times; 50,000 maps took 55 ms to decode.
ROW_WEIGHT = 3
ENTRY_WEIGHT = 6


def _split(ops: list) -> list[list]:
    """Parts of about PART_OPS ops each, counted by weight (a run's rows are split too):
    each part stays far below protocol.MAX_FRAME, and decodes in a few milliseconds."""
    parts, part, size = [], [], 0
    for entry in ops:
        if isinstance(entry, dict):             # a run {"op", "args", "fields", "rows"}
            columns = entry.get("columns")
            count = protocol.run_count(entry)
            if columns is not None:             # a packed column is sliced by value size
                af = entry["args"].get("af", "inet")
                sizes = [protocol.packed_width(f, af) if type(c) is bytes else 1
                         for f, c in zip(entry["fields"], columns)]
            # (values not all packed: rows of values, as far as decoding goes)
            # (an indexed column, {values, index}, decodes a chunk at a time as packed)
            packed = columns is not None and all(type(c) in (bytes, dict) for c in columns)
            weight = 1 if packed else ROW_WEIGHT
            step = PART_OPS // weight
            for i in range(0, count, step):
                if columns is not None:
                    chunk = {**entry, "columns": [_cut(c, i * w, (i + step) * w)
                                                  for c, w in zip(columns, sizes)]}
                else:
                    chunk = {**entry, "rows": entry["rows"][i:i + step]}
                n = min(step, count - i) * weight
                if size + n > PART_OPS and part:
                    parts.append(part)
                    part, size = [], 0
                part.append(chunk)
                size += n
            continue
        if size >= PART_OPS:
            parts.append(part)
            part, size = [], 0
        part.append(entry)
        size += ENTRY_WEIGHT
    parts.append(part)
    return parts


def _cut(column, start: int, end: int):
    """column[start:end]; an indexed column keeps its values and cuts its index."""
    if type(column) is dict:
        return {"values": column["values"], "index": column["index"][start:end]}
    return column[start:end]


def run(op: str, args: dict, fields: list[str], rows: list | None = None,
        columns: list | None = None) -> dict:
    """A batch entry applying op to many argument rows: args updated by zip(fields, row).
    The rows may be given as columns instead (one list per field, all of one length, or
    packed with protocol.pack_column: a million routes as two byte strings)."""
    if columns is not None:
        return {"op": op, "args": args, "fields": fields, "columns": columns}
    return {"op": op, "args": args, "fields": fields, "rows": rows}


def connect_from_env(pid: int | None = None, **kw) -> Client:
    """The stack named by -p PID or PLEBNET_PID."""
    if pid is None:
        env = os.environ.get("PLEBNET_PID")
        if env:
            try:
                pid = int(env)
            except ValueError:
                raise ConnectError(f"PLEBNET_PID={env!r} is not a pid") from None
    return Client.connect(pid=pid, **kw)
