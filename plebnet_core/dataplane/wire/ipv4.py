"""IPv4 (RFC 791): header parse/emit, TTL decrement and fragmentation (reassembly, which keeps
state and a clock, is the data plane's: plebnet_core/dataplane/reassembly.py)."""
from __future__ import annotations

import struct
from typing import NamedTuple

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
