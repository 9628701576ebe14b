"""IPv4 (RFC 791): header parse/emit, TTL decrement, fragmentation and reassembly."""
from __future__ import annotations

import struct
import time
from typing import Callable, NamedTuple

from .checksum import update as checksum_update
from .errors import WireError

HEADER_LEN = 20
MAX_PACKET = 65535
MIN_MTU = 68  # RFC 791: every host must accept 68-byte datagrams without further fragmentation

PROTO_ICMP = 1
PROTO_TCP = 6
PROTO_UDP = 17

FLAG_DF = 0x4000
FLAG_MF = 0x2000
_OFFSET_MASK = 0x1FFF

_HDR = struct.Struct("!BBHHHBBH4s4s")
_new = tuple.__new__
_from_bytes = int.from_bytes


class IPv4Header(NamedTuple):
    tos: int
    total_length: int
    ident: int
    df: bool
    mf: bool
    frag_offset: int  # in bytes (already multiplied by 8)
    ttl: int
    proto: int
    checksum: int
    src: bytes  # 4 bytes, network order
    dst: bytes
    options: bytes  # raw, padded as on the wire (b"" in the common case)
    payload: bytes  # exactly total_length - header length bytes; link padding cut off

    @property
    def header_length(self) -> int:
        return HEADER_LEN + len(self.options)

    @property
    def is_fragment(self) -> bool:
        return self.mf or self.frag_offset != 0


def parse(buf, verify_checksum: bool = True) -> IPv4Header:
    """Parse and validate an IPv4 packet; bytes beyond total_length (link padding) are ignored."""
    n = len(buf)
    if n < HEADER_LEN:
        raise WireError(f"ipv4: {n} bytes is shorter than a header")
    vihl, tos, total, ident, frag, ttl, proto, csum, src, dst = _HDR.unpack_from(buf)
    if vihl == 0x45:  # no options: nearly every packet
        hl = HEADER_LEN
        options = b""
    else:
        if vihl >> 4 != 4:
            raise WireError(f"ipv4: version {vihl >> 4}")
        hl = (vihl & 0x0F) << 2
        if hl < HEADER_LEN:
            raise WireError(f"ipv4: header length {hl} < 20")
        options = bytes(buf[HEADER_LEN:hl])
    if total < hl or total > n:
        raise WireError(f"ipv4: total length {total} with {hl}-byte header in {n} bytes")
    # a valid header sums to 0xFFFF, i.e. 0 modulo 0xFFFF (see checksum.py)
    if verify_checksum and _from_bytes(buf[:hl], "big") % 0xFFFF:
        raise WireError("ipv4: bad header checksum")
    offset = (frag & _OFFSET_MASK) << 3
    if offset and offset + total - hl > MAX_PACKET:
        raise WireError("ipv4: fragment ends beyond 65535")
    return _new(IPv4Header, (tos, total, ident, frag & FLAG_DF != 0, frag & FLAG_MF != 0, offset,
                             ttl, proto, csum, src, dst, options, buf[hl:total]))


def emit(src: bytes, dst: bytes, proto: int, payload, *, ttl: int = 64, tos: int = 0,
         ident: int = 0, df: bool = False, mf: bool = False, frag_offset: int = 0,
         options: bytes = b"") -> bytes:
    """A whole packet: header (checksum filled in) + payload."""
    return header(src, dst, proto, len(payload), ttl=ttl, tos=tos, ident=ident, df=df, mf=mf,
                  frag_offset=frag_offset, options=options) + payload


def header(src: bytes, dst: bytes, proto: int, payload_len: int, *, ttl: int = 64, tos: int = 0,
           ident: int = 0, df: bool = False, mf: bool = False, frag_offset: int = 0,
           options: bytes = b"") -> bytes:
    """Just the header, for callers that already hold the payload in pieces."""
    hl = HEADER_LEN + len(options)
    total = hl + payload_len
    if total > MAX_PACKET:
        raise WireError(f"ipv4: packet of {total} bytes")
    if frag_offset & 7 or frag_offset + payload_len > MAX_PACKET:
        raise WireError(f"ipv4: bad fragment offset {frag_offset}")
    if len(src) != 4 or len(dst) != 4:
        raise WireError("ipv4: addresses must be 4 bytes")
    vihl = 0x40 | hl >> 2
    frag = frag_offset >> 3
    if df:
        frag |= FLAG_DF
    if mf:
        frag |= FLAG_MF
    # the checksum from the field values, so the header is packed only once
    s = ((vihl << 8 | tos) + total + ident + frag + (ttl << 8 | proto)
         + _from_bytes(src + dst, "big"))
    if options:
        if len(options) & 3 or hl > 60:
            raise WireError("ipv4: options must be padded to 4 bytes, at most 40")
        s += _from_bytes(options, "big")
    # a header is never all zeros, so a zero remainder is a sum of 0xFFFF: checksum 0
    c = 0xFFFF - (s % 0xFFFF or 0xFFFF)
    try:
        return _HDR.pack(vihl, tos, total, ident, frag, ttl, proto, c, src, dst) + options
    except struct.error as e:
        raise WireError(f"ipv4: {e}") from None


def decrement_ttl(packet) -> bytes:
    """The packet with TTL one lower and the checksum patched, for forwarding.

    The caller has parsed the packet and checked ttl > 1 (else it owes ICMP time exceeded).
    """
    ttl = packet[8]
    if ttl == 0:
        raise WireError("ipv4: TTL already 0")
    proto = packet[9]
    old = packet[10] << 8 | packet[11]
    c = checksum_update(old, ttl << 8 | proto, (ttl - 1) << 8 | proto)
    return b"".join((packet[:8], bytes((ttl - 1, proto, c >> 8, c & 0xFF)), packet[12:]))


# -- fragmentation ------------------------------------------------------------------------------
def copied_options(options: bytes) -> bytes:
    """The options that every fragment repeats (copy flag set, RFC 791 section 3.1), padded."""
    out = bytearray()
    i, n = 0, len(options)
    while i < n:
        kind = options[i]
        if kind == 0:  # end of option list
            break
        if kind == 1:  # no-operation, single byte
            i += 1
            continue
        if i + 1 >= n or options[i + 1] < 2 or i + options[i + 1] > n:
            raise WireError("ipv4: malformed options")
        length = options[i + 1]
        if kind & 0x80:
            out += options[i:i + length]
        i += length
    out += bytes(-len(out) & 3)
    return bytes(out)


def fragment(hdr: IPv4Header, mtu: int) -> list[bytes]:
    """Split a parsed packet (perhaps itself a fragment) into packets of at most mtu bytes.

    The DF check belongs to the caller (it answers with ICMP need-frag instead).
    """
    return fragment_payload(hdr.src, hdr.dst, hdr.proto, hdr.payload, mtu, ident=hdr.ident,
                            ttl=hdr.ttl, tos=hdr.tos, options=hdr.options,
                            frag_offset=hdr.frag_offset, mf=hdr.mf)


def fragment_payload(src: bytes, dst: bytes, proto: int, payload, mtu: int, *, ident: int,
                     ttl: int = 64, tos: int = 0, options: bytes = b"", frag_offset: int = 0,
                     mf: bool = False) -> list[bytes]:
    """Packets carrying payload in pieces whose data lengths are multiples of 8 (but the last).

    frag_offset/mf describe where payload sits in the original datagram, so refragmenting a
    fragment keeps the offsets right and keeps MF on the final piece when it was set.
    Only the piece at offset 0 carries all options; the others carry the copied ones.
    """
    total = len(payload)
    if HEADER_LEN + len(options) + total <= mtu:
        return [emit(src, dst, proto, payload, ttl=ttl, tos=tos, ident=ident, mf=mf,
                     frag_offset=frag_offset, options=options)]
    later_options = copied_options(options)
    view = memoryview(payload)
    out = []
    pos = 0
    while pos < total:
        opts = options if frag_offset + pos == 0 else later_options
        room = (mtu - HEADER_LEN - len(opts)) & ~7
        if room < 8:
            raise WireError(f"ipv4: MTU {mtu} leaves no room for fragment data")
        piece = view[pos:pos + room]
        end = pos + len(piece)
        out.append(emit(src, dst, proto, piece, ttl=ttl, tos=tos, ident=ident,
                        mf=mf or end < total, frag_offset=frag_offset + pos, options=opts))
        pos = end
    return out


# -- reassembly ---------------------------------------------------------------------------------
class _Datagram:
    __slots__ = ("deadline", "holes", "data", "end", "first", "count")

    def __init__(self, deadline: float):
        self.deadline = deadline
        self.holes = [(0, MAX_PACKET)]  # RFC 815 hole list: missing [first, last] byte ranges
        self.data = bytearray()
        self.end = None  # payload length, known once the last fragment (MF=0) arrived
        self.first = None  # the offset-0 fragment: its header becomes the datagram's
        self.count = 0


class Reassembler:
    """Reassembly queues keyed by (src, dst, ident, proto), RFC 815 hole-list style.

    Overlapping data keeps what arrived first (later copies can't rewrite checked bytes).
    Time comes from the injected clock; the owner calls expire() at next_deadline() and may send
    ICMP time exceeded (code 1, reassembly) for the offset-0 fragments it returns.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, timeout: float = 30.0,
                 max_datagrams: int = 256, max_fragments: int = 64):
        self.clock = clock
        self.timeout = timeout  # FreeBSD: net.inet.ip.fragttl, 30 s
        self.max_datagrams = max_datagrams
        # each fragment can split a hole, and each push walks the holes: cap the work a
        # datagram made of tiny fragments can cause (FreeBSD: net.inet.ip.maxfragsperpacket)
        self.max_fragments = max_fragments
        self._queues: dict[tuple, _Datagram] = {}
        # fragments thrown away (ipstat's ips_fragdropped and ips_fragtimeout): those of a
        # datagram a fragment contradicted or that made room for a newer one, and those of
        # datagrams whose time ran out
        self.dropped = 0
        self.timed_out = 0

    def __len__(self) -> int:
        return len(self._queues)

    def push(self, hdr: IPv4Header) -> IPv4Header | None:
        """Add a fragment; return the whole datagram once complete, else None.

        The returned header has the first fragment's fields, mf/frag_offset cleared, the new
        total_length, checksum 0 (not recomputed) and the full payload.  Raises WireError for a
        fragment that contradicts the ones before it; that datagram is dropped.
        """
        if not hdr.mf and not hdr.frag_offset:
            return hdr
        key = (hdr.src, hdr.dst, hdr.ident, hdr.proto)
        now = self.clock()
        dg = self._queues.get(key)
        if dg is not None and dg.deadline <= now:
            del self._queues[key]
            self.timed_out += dg.count
            dg = None
        if dg is None:
            if len(self._queues) >= self.max_datagrams:
                oldest = next(iter(self._queues))      # oldest goes first
                self.dropped += self._queues.pop(oldest).count
            dg = self._queues[key] = _Datagram(now + self.timeout)
        try:
            dg.count += 1
            if dg.count > self.max_fragments:
                raise WireError(f"ipv4: more than {self.max_fragments} fragments")
            done = self._add(dg, hdr)
        except WireError:
            del self._queues[key]
            self.dropped += dg.count
            raise
        if not done:
            return None
        del self._queues[key]
        first = dg.first
        if first.header_length + dg.end > MAX_PACKET:
            self.dropped += dg.count
            raise WireError("ipv4: reassembled datagram longer than 65535")
        return first._replace(total_length=first.header_length + dg.end, mf=False, frag_offset=0,
                              checksum=0, payload=bytes(dg.data[:dg.end]))

    @staticmethod
    def _add(dg: _Datagram, hdr: IPv4Header) -> bool:
        data = hdr.payload
        first = hdr.frag_offset
        last = first + len(data) - 1
        if hdr.mf:
            if len(data) == 0 or len(data) & 7:
                raise WireError("ipv4: non-final fragment length is not a multiple of 8")
            if dg.end is not None and last >= dg.end:
                raise WireError("ipv4: fragment beyond the datagram's end")
        else:
            if dg.end is not None and dg.end != last + 1:
                raise WireError("ipv4: two different final fragments")
            if dg.data and len(dg.data) > last + 1:
                raise WireError("ipv4: data received beyond the final fragment")
            dg.end = last + 1
        if first == 0 and dg.first is None:
            dg.first = hdr
        if len(dg.data) <= last:
            dg.data += bytes(last + 1 - len(dg.data))
        holes = []
        for h_first, h_last in dg.holes:
            if first > h_last or last < h_first:
                holes.append((h_first, h_last))
                continue
            lo, hi = max(first, h_first), min(last, h_last)
            dg.data[lo:hi + 1] = data[lo - first:hi + 1 - first]
            if h_first < first:
                holes.append((h_first, first - 1))
            if last < h_last and hdr.mf:
                holes.append((last + 1, h_last))
        if dg.end is not None:
            holes = [(a, min(b, dg.end - 1)) for a, b in holes if a < dg.end]
        dg.holes = holes
        return not holes and dg.end is not None

    def expire(self) -> list[IPv4Header]:
        """Drop timed-out datagrams; return their offset-0 fragments (for ICMP time exceeded)."""
        now = self.clock()
        expired = [k for k, dg in self._queues.items() if dg.deadline <= now]
        firsts = []
        for k in expired:
            dg = self._queues.pop(k)
            self.timed_out += dg.count
            if dg.first is not None:
                firsts.append(dg.first)
        return firsts

    def next_deadline(self) -> float | None:
        return min((dg.deadline for dg in self._queues.values()), default=None)
