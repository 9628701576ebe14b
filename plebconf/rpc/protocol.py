"""The control protocol: framing, message shapes and op names, shared by client and server.

Frame: 4-byte big-endian length, then a msgpack map (or, compact, an array: below).  A frame
longer than MAX_FRAME is refused (the connection is answered with E2BIG and closed, since its
stream can no longer be trusted).

    request   {"id": int, "op": str, "args": map}
    reply     {"id": int, "errno": int, "msg": str, "result": any}
              a failing op inside a batch adds "index": its position in the batch
    chunk     {"id": int, "more": true, "result": [rows...]}   (streamed dumps; the final
              reply carries the last rows and no "more")
    event     {"id": subscribe-id, "event": map}               (after a subscribe op)

Compact form, what plebconf's client sends: the same request as an array, [id, op, args], is
answered in kind: the reply that ends it is [id, errno, msg, result] or, for a failing op
inside a batch, [id, errno, msg, None, index].  Chunks, the final reply of a streamed result, a
batch part's acknowledgement ("more") and events stay maps.  Neither side then builds or reads
the envelope's key strings, a good part of the cost of a small message (msgpack decodes a map
entry several times slower than an array item); reply_map() turns a compact reply into the map.

Ops (the serialized configuration syscalls):
    hello      {"version": int}           -> {"version", "pid", "ops", "uptime", ...}
    ioctl      {"req": "SIOC...", "ifname": str, ...typed fields}
    rtmsg      {"type": "RTM_ADD"|"RTM_DELETE"|"RTM_CHANGE"|"RTM_GET", "af": "inet"|"inet6",
                "dst": str, "plen": int|None, "gateway": str, "iface": bool, ...}
    sysctl     {"name": "NET_RT_DUMP"|"NET_RT_FLAGS"|"NET_RT_IFLIST"|dotted-name, ...}
    llmsg      {"type": "RTM_ADD"|"RTM_DELETE"|"RTM_GET", "af", "addr", "mac", ...}  (arp/ndp)
    batch      {"ops": [[op, args, tolerate?], ...], "more": bool}  all-or-nothing; "more"
                continues the batch in the next frame (for batches larger than one frame).
                An entry may also be a run {"op", "args", "fields", "rows": [[v...]...]} or
                {"op", "args", "fields", "columns": [[v...] per field]}: op applied once per
                row with args updated by zip(fields, row) (plebconf.rpc.client.run)
    subscribe  {}                          routing messages pushed as events
The full argument list of each op is in plebnet_core/syscalls.py, next to its handler.
"""
from __future__ import annotations

import struct
from collections.abc import Iterator

import msgpack

VERSION = 1
MAX_FRAME = 8 << 20             # bytes in one frame
MAX_BATCH_OPS = 4_000_000       # ops in one batch, across its frames
HEADER = struct.Struct(">I")

OPS = ("hello", "ioctl", "rtmsg", "sysctl", "llmsg", "batch", "subscribe")
READ_ONLY = {"hello", "subscribe"}      # ops any permitted peer may run, plus read-only forms

ROUTE_COLUMNS = ("dst", "plen", "gateway", "flags", "ifname", "expire", "mtu", "weight",
                 "nhidx")
CHUNK_ROWS = 8192


class ProtocolError(Exception):
    pass


_packer = msgpack.Packer(use_bin_type=True)


def encode(message: dict | list) -> bytes:
    body = _packer.pack(message)
    if len(body) > MAX_FRAME:
        raise ProtocolError(f"frame of {len(body)} bytes exceeds {MAX_FRAME}")
    return HEADER.pack(len(body)) + body


def request(rid: int, op: str, args: dict) -> bytes:
    """A request frame in the compact form."""
    return encode([rid, op, args])


def reply_map(reply: list) -> dict:
    """The map form of a compact reply [id, errno, msg, result, index?]."""
    if not 4 <= len(reply) <= 5:
        raise ProtocolError("reply array is not [id, errno, msg, result, index?]")
    message = {"id": reply[0], "errno": reply[1], "msg": reply[2], "result": reply[3]}
    if len(reply) == 5:
        message["index"] = reply[4]
    return message


def decode(body) -> dict:
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


def read_frames(buf: bytearray) -> Iterator:
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
