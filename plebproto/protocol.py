"""The control protocol: framing, message shapes and op names, shared by client and server.

Frame: 4-byte big-endian length, then a msgpack map (or, compact, an array: below).  A frame
longer than MAX_FRAME is refused (the connection is answered with E2BIG and closed, since its
stream can no longer be trusted).

    request   {"id": int, "op": str, "args": map}
    reply     {"id": int, "errno": int, "msg": str, "result": any}
              a failing op inside a batch adds "index": its position in the batch
    chunk     {"id": int, "more": true, "result": [rows...]}   (streamed dumps; the final
              reply carries the last rows and no "more"; a compact NET_RT_DUMP sends one map
              per chunk as result, and an empty list in the final reply)
    event     {"id": subscribe-id, "event": map}               (after a subscribe op)

Compact form, what plebconf's client sends: the same request as an array, [id, op, args], is
answered in kind: the reply that ends it is [id, errno, msg, result] or, for a failing op
inside a batch, [id, errno, msg, None, index].  Chunks, the final reply of a streamed result, a
batch part's acknowledgement ("more") and events stay maps.  Neither side then builds or reads
the envelope's key strings, a good part of the cost of a small message (msgpack decodes a map
entry several times slower than an array item); reply_map() turns a compact reply into the map.

Requests frame, what Client.pipeline sends: several independent compact requests in one frame,
    [[id, op, args], [id, op, args], ...]       (an array of arrays: is_group() tells it)
each served exactly as if it had come in a frame of its own -- its own transaction, audit
entry, journal record, errno; a failing one changes nothing for the others -- in the frame's
order, after the frames before it.  Their compact final replies come back grouped the same
way, in request order:
    [[id, errno, msg, result], [id, errno, msg, result, index], ...]
A group holds the final replies the stack had for the frame's requests in one stretch of
serving: anything else owed to that peer (a dump's chunks, a map reply, a request that waited
behind another client's batch) ends the group and goes in its own frame, so the peer still
sees every message in the order of its requests, and a frame's replies may arrive as several
groups and single compact replies.  An element that is not [id, op, args] is answered, in its
place, with [id, EPROTO, msg, None] (id: its first item when that is an int, else 0); the
elements around it are served.  The stack serves a large frame a slice per loop turn, within
the peer's output budget, so a frame of many requests holds up nothing else.  Frame limits
are unchanged (MAX_FRAME for the whole frame, requests or replies).

Ops (the serialized configuration syscalls):
    hello      {"version": int}           -> {"version", "pid", "ops", "uptime", ...}
    ioctl      {"req": "SIOC...", "ifname": str, ...typed fields}
    rtmsg      {"type": "RTM_ADD"|"RTM_DELETE"|"RTM_CHANGE"|"RTM_GET", "af": "inet"|"inet6",
                "dst": str, "plen": int|None, "gateway": str, "iface": bool, ...}
    sysctl     {"name": "NET_RT_DUMP"|"NET_RT_FLAGS"|"NET_RT_IFLIST"|dotted-name, ...}
                A dotted name reads the value, or sets it with "value".  One name is ours,
                read-only: net.route.algo.inet.pending, the IPv4 prefixes filed whose lookup
                arrays the stack is still filling (0: lookups read the arrays again), and
                its IPv6 twin net.route.algo.inet6.pending (the trie's fills).
                NET_RT_DUMP {"af"?, "form"?: "rows"|"compact"} streams the routing table in
                radix-walk order.  "rows" (the default): chunks of rows
                [family, *ROUTE_COLUMNS].  "compact" (netstat -r, where a million routes is
                the expected size): each chunk is a map for one family
                    {"af": "inet"|"inet6",
                     "dst":   str       the rows' destinations, "\\n" between two, as
                                        route(8)/netstat print them numerically:
                                        "addr/plen", or the bare address when plen is the
                                        family's width (a host route)
                     "plen":  bytes     per row its prefix length
                     "path":  [int...]  per row an index into "paths"
                     "paths": [[v...]]  the chunk's distinct PATH_COLUMNS, each once}
                so the rows' shared next hops are sent (and formatted) once per chunk.
    llmsg      {"type": "RTM_ADD"|"RTM_DELETE"|"RTM_GET", "af", "addr", "mac", ...}  (arp/ndp)
    batch      {"ops": [[op, args, tolerate?], ...], "more": bool}  all-or-nothing; "more"
                continues the batch in the next frame (for batches larger than one frame).
                An entry may also be a run {"op", "args", "fields", "rows": [[v...]...]} or
                {"op", "args", "fields", "columns": [[v...] per field]}: op applied once per
                row with args updated by zip(fields, row) (plebconf.rpc.client.run).
                A column may be packed into one bin value (see PACKED): the addresses of
                "dst"/"gateway"/"addr" back to back in network order, 4 bytes each for
                inet, 16 for inet6 (no zone); "plen" one byte each.  A million routes are
                then two bin values: nothing to parse, nothing to allocate per value.
                A packed column of at most 256 distinct values (the gateways of a table)
                may be indexed instead: {"values": bin, the distinct values packed as
                above, "index": bin, one byte per row, the position of its value}.
               Dry run: "dry_run": true (on every part) and, on the last part,
                "reads": [[op, args], ...]: the stack applies the ops inside its
                transaction exactly as above, then runs each read (ops that change
                nothing: sysctl with a dotted name or NET_RT_IFLIST / NET_RT_DUMP /
                NET_RT_FLAGS, rtmsg/llmsg RTM_GET, hello) on the state the ops made, and
                rolls everything back: no event is published, nothing is journaled or
                audited, no device is opened, the stack is left exactly as it was.  The
                result is {"results": [per op, as a batch's], "reads": [per read: its
                result, a dump's rows collected into one list, a compact dump's chunk maps
                in a list]}, sent in one frame (E2BIG if larger than MAX_FRAME).  A failing
                op is reported as a batch's; a failing read (or an op given as a read that
                changes the stack: EINVAL) with "index" = number of ops + its position in
                "reads".  Read-only peers (the read group) may send dry runs.
                The result travels as a stream of chunk maps, each bounded whatever the
                tables' size (join_dry_run puts them back together):
                    {"results": [...]}           the next (at most CHUNK_ROWS) op results
                    {"read": i, "value": v}      read i's result, not a dump
                    {"read": i, "stream": true}  read i is a dump; its chunks follow as
                    {"read": i, "chunk": c}      (c: one chunk of the dump, as streamed)
                then a final reply with "result": [].
    subscribe  {}                          routing messages pushed as events
Every dump is streamed in chunks bounded whatever the table's size: CHUNK_ROWS rows, and for
NET_RT_IFLIST at most CHUNK_ADDRS addresses: an interface with more is split, its first chunk
carrying the interface map with the first addresses and the next ones beginning with a
continuation row {"continues": true, "addrs": [...]} (join_rows merges them).
The full argument list of each op is declared in plebproto/schema.py (name, type, required,
range), and checked by the stack before the handler runs: a wrong type, a number out of range
or not finite, a missing argument is EINVAL naming the argument.
"""
from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Iterable, Iterator
from itertools import repeat
from operator import lshift, or_
from typing import Any

import msgpack

VERSION = 1
MAX_FRAME = 8 << 20             # bytes in one frame
MAX_BATCH_OPS = 4_000_000       # ops in one batch, across its frames
HEADER = struct.Struct(">I")

OPS = ("hello", "ioctl", "rtmsg", "sysctl", "llmsg", "batch", "subscribe")
READ_ONLY = {"hello", "subscribe"}      # ops any permitted peer may run, plus read-only forms

ROUTE_COLUMNS = ("dst", "plen", "gateway", "flags", "ifname", "expire", "mtu", "weight",
                 "nhidx")
PATH_COLUMNS = ROUTE_COLUMNS[2:]        # a compact dump's "paths" entries
CHUNK_ROWS = 8192
CHUNK_ADDRS = 4096              # addresses in one chunk of NET_RT_IFLIST (~200 bytes each)


def join_rows(rows: list[Any], chunk: list[Any]) -> None:
    """Append a streamed chunk's rows to rows.  Only a chunk's first row may be a
    continuation {"continues": true, "addrs": [...]}: the rest of the addresses of rows'
    last interface (NET_RT_IFLIST splits an interface with more than CHUNK_ADDRS)."""
    if chunk and type(chunk[0]) is dict and chunk[0].get("continues") and rows:
        rows[-1]["addrs"].extend(chunk[0]["addrs"])
        rows.extend(chunk[1:])
    else:
        rows.extend(chunk)


def join_dry_run(parts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """A dry run's result from its streamed chunk maps (see batch, "Dry run")."""
    results: list[Any] = []
    reads: list[Any] = []
    streamed: set[int] = set()
    for part in parts:
        if "results" in part:
            results.extend(part["results"])
        elif "value" in part:
            reads.append(part["value"])
        elif part.get("stream"):
            streamed.add(len(reads))
            reads.append([])
        elif "chunk" in part:
            chunk = part["chunk"]
            if type(chunk) is dict:     # a compact dump's chunk maps, listed
                if chunk:
                    reads[-1].append(chunk)
            else:
                join_rows(reads[-1], chunk)
    return {"results": results, "reads": reads}


# packed run columns: field -> bytes per value, by address family (see the docstring)
PACKED = {"dst": {"inet": 4, "inet6": 16}, "gateway": {"inet": 4, "inet6": 16},
          "addr": {"inet": 4, "inet6": 16}, "plen": {"inet": 1, "inet6": 1}}
_LITTLE = sys.byteorder == "little"


def packed_width(field: object, af: object) -> int | None:
    """Bytes per value of a packed column of field in address family af (None: not packable)."""
    widths = PACKED.get(field) if type(field) is str else None
    return widths.get(af) if widths is not None and type(af) is str else None


def run_count(entry: dict[str, Any]) -> int:
    """How many rows a run holds, however its first column travels: a list of values,
    packed values (PACKED: so many bytes a row) or indexed ({values, index}: a byte of index
    a row); or its "rows"."""
    columns = entry.get("columns")
    if not columns:
        return len(entry.get("rows") or ())
    first = columns[0]
    if type(first) is dict:
        return len(first.get("index") or b"")
    if type(first) is bytes:
        fields = entry.get("fields") or [None]
        args = entry.get("args")
        af = args.get("af", "inet") if isinstance(args, dict) else "inet"
        return len(first) // (packed_width(fields[0], af) or 1)
    return len(first)


def pack_column(field: str, af: str, values: Iterable[int]) -> bytes:
    """Integers (addresses or prefix lengths) as a packed column."""
    width = packed_width(field, af)
    if width == 1:
        return bytes(values)
    if width == 4:
        column = array("I", values)     # C order, then network order
        if _LITTLE:
            column.byteswap()
        return column.tobytes()
    return b"".join(v.to_bytes(16, "big") for v in values)


def unpack_column(width: int, blob: bytes) -> bytes | array[int] | list[int]:
    """A packed column's integers (a C array or bytes: iterating gives ints); ValueError if
    blob is not a whole number of values."""
    if len(blob) % width:
        raise ValueError("packed column length is not a multiple of its value size")
    if width == 1:
        return blob
    if width == 4:
        column = array("I")
        column.frombytes(blob)
        if _LITTLE:
            column.byteswap()
        return column
    # 16 bytes: each value from its two 64-bit halves, by C-level maps (a third faster
    # than an int.from_bytes per value)
    halves = array("Q")
    halves.frombytes(blob)
    if _LITTLE:
        halves.byteswap()
    return list(map(or_, map(lshift, halves[0::2], repeat(64)), halves[1::2]))


def unpack_indexed(width: int, column: dict[str, Any]) -> list[int]:
    """An indexed packed column's distinct values (ints), checked: its index (column
    ["index"], a byte per row) names only those; ValueError if it is malformed (see the
    docstring: PACKED).  Row k's value is values[index[k]]."""
    values, index = column.get("values"), column.get("index")
    if type(values) is not bytes or type(index) is not bytes or len(column) != 2:
        raise ValueError("an indexed column is {values: bin, index: bin}")
    distinct = list(unpack_column(width, values))
    if index.translate(None, bytes(range(len(distinct)))):
        raise ValueError("an indexed column's index names a value it does not give")
    return distinct


class ProtocolError(Exception):
    pass


_packer = msgpack.Packer(use_bin_type=True)


FRAME_REQUESTS = 256             # requests per requests frame that Client.pipeline sends


def is_group(message: object) -> bool:
    """Whether a decoded frame is a requests frame or a group of compact replies: an array
    of arrays (a single compact request or reply starts with its id, an int)."""
    return type(message) is list and len(message) > 0 and type(message[0]) is list


def request_frames(first_id: int, ops: Iterable[tuple[str, Any]],
                   per_frame: int = FRAME_REQUESTS) -> bytearray:
    """Requests frames of up to per_frame compact requests [id, op, args] each, numbered
    from first_id, back to back (a frame of one request is sent as that request alone).
    A frame that would exceed MAX_FRAME is split; one request that alone exceeds it raises
    ProtocolError."""
    out, pack, header = bytearray(), _packer.pack, HEADER.pack
    items = [[rid, op, args] for rid, (op, args) in enumerate(ops, first_id)]
    todo = [items[i:i + per_frame] for i in range(0, len(items), per_frame)]
    todo.reverse()
    while todo:
        part = todo.pop()
        body = pack(part if len(part) > 1 else part[0])
        if len(body) > MAX_FRAME:
            if len(part) == 1:
                raise ProtocolError(f"frame of {len(body)} bytes exceeds {MAX_FRAME}")
            half = len(part) // 2
            todo += (part[half:], part[:half])
            continue
        out += header(len(body))
        out += body
    return out


def array_header(n: int) -> bytes:
    """msgpack's header of an array of n items (what items packed one by one are joined
    under, to read back as one array)."""
    if n < 16:
        return bytes((0x90 | n,))
    return b"\xdc" + n.to_bytes(2, "big") if n < 1 << 16 else b"\xdd" + n.to_bytes(4, "big")


def encode(message: dict[str, Any] | list[Any]) -> bytes:
    body: bytes = _packer.pack(message)
    if len(body) > MAX_FRAME:
        raise ProtocolError(f"frame of {len(body)} bytes exceeds {MAX_FRAME}")
    return HEADER.pack(len(body)) + body


def request(rid: int, op: str, args: dict[str, Any]) -> bytes:
    """A request frame in the compact form."""
    return encode([rid, op, args])


def reply_map(reply: list[Any]) -> dict[str, Any]:
    """The map form of a compact reply [id, errno, msg, result, index?]."""
    if not 4 <= len(reply) <= 5:
        raise ProtocolError("reply array is not [id, errno, msg, result, index?]")
    message = {"id": reply[0], "errno": reply[1], "msg": reply[2], "result": reply[3]}
    if len(reply) == 5:
        message["index"] = reply[4]
    return message


def decode(body: bytes) -> dict[str, Any]:
    """Decode one frame body; anything but a map is a protocol error."""
    try:
        message = msgpack.unpackb(body, raw=False, strict_map_key=False, max_bin_len=MAX_FRAME,
                                  max_str_len=MAX_FRAME)
    except Exception as exc:        # msgpack raises several unrelated types on garbage
        raise ProtocolError(f"undecodable frame: {exc.__class__.__name__}") from None
    if not isinstance(message, dict):
        raise ProtocolError("frame is not a map")
    return message


def split_frames(buf: bytearray) -> list[bytes]:
    """Remove and return the complete frame bodies at the front of buf (a partial frame
    stays).  Raises ProtocolError for an oversized length.  (For tools that look at raw
    bodies; the client and the server use read_frames.)"""
    bodies = []
    start, size = 0, len(buf)
    while size - start >= 4:
        (length,) = HEADER.unpack_from(buf, start)
        if length > MAX_FRAME:
            raise ProtocolError(f"frame of {length} bytes exceeds {MAX_FRAME}")
        end = start + 4 + length
        if end > size:
            break
        bodies.append(bytes(buf[start + 4:end]))
        start = end
    del buf[:start]
    return bodies


class FrameTooLarge(ProtocolError):
    """A length prefix beyond MAX_FRAME: the stream cannot be resynchronised."""


def read_frames(buf: bytearray) -> Iterator[dict[str, Any] | list[Any] | ProtocolError]:
    """Decode the complete frames at the front of buf, one at a time as they are asked for,
    and remove them from buf when the iteration ends (a partial frame stays).  buf must not
    change meanwhile.

    One item per frame: its message (a map, or an array in the compact form), or the
    ProtocolError saying why that frame does not decode (the frames after it are still read).
    An oversized length ends the iteration with a FrameTooLarge, the bad length left at the
    front of buf: nothing after it can be trusted.  Decoding as the reader goes, rather than
    all frames first, lets a client answer (send more requests) from the first reply on.

    One msgpack.Unpacker decodes all the frames of a pipelined read, where unpackb per frame
    would copy each body out and set up a decoder for each (a lone frame goes to unpackb).
    The length prefixes still decide where each frame ends: a body that decodes to fewer or
    more bytes than its frame is an error, and decoding restarts at the next frame."""
    start, size = 0, len(buf)
    unpacker = None
    while size - start >= 4:
        (length,) = HEADER.unpack_from(buf, start)
        if length > MAX_FRAME:
            del buf[:start]
            yield FrameTooLarge(f"frame of {length} bytes exceeds {MAX_FRAME}")
            return
        end = start + 4 + length
        if end > size:
            break
        if unpacker is None and end == size:
            # the only frame (a lone request or reply, the usual case without pipelining):
            # unpackb costs half as much as setting up an Unpacker
            try:
                message = msgpack.unpackb(buf[start + 4:end], raw=False, strict_map_key=False)
            except Exception as exc:    # msgpack raises several unrelated types on garbage
                message = ProtocolError(f"undecodable frame: {exc.__class__.__name__}")
        else:
            if unpacker is None:
                # limits: no string, array or map can be longer than the bytes at hand
                unpacker = msgpack.Unpacker(raw=False, strict_map_key=False,
                                            max_buffer_size=size - start)
                unpacker.feed(buf[start:] if start else buf)
                base = start
            unpacker.read_bytes(4)
            try:
                message = unpacker.unpack()
                whole = unpacker.tell() + base == end
            except Exception as exc:
                message, whole = exc, False
            if not whole:
                if isinstance(message, Exception):
                    why = message.__class__.__name__
                else:
                    why = "ExtraData" if unpacker.tell() + base < end else "OutOfData"
                message = ProtocolError(f"undecodable frame: {why}")
                unpacker = None         # its position is lost: restart at the next frame
        start = end
        if type(message) is dict or type(message) is list or type(message) is ProtocolError:
            yield message
        else:
            yield ProtocolError("frame is not a map or an array")
    del buf[:start]
