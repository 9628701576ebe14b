"""UDP (RFC 768) with the IPv4 pseudo-header checksum."""
from __future__ import annotations

import struct
from typing import NamedTuple

from .checksum import checksum, pseudo_header_sum
from .errors import WireError

HEADER_LEN = 8
PROTO = 17

_HDR = struct.Struct("!HHHH")
_new = tuple.__new__


class UdpDatagram(NamedTuple):
    sport: int
    dport: int
    length: int
    checksum: int  # 0: the sender computed none
    payload: bytes


def parse(buf, src: bytes | None = None, dst: bytes | None = None) -> UdpDatagram:
    """Parse a UDP datagram (the IP payload).

    With the IP src and dst given, a non-zero checksum is verified; zero means "none" (RFC 768)
    and is accepted.  Bytes beyond the UDP length are ignored.
    """
    n = len(buf)
    if n < HEADER_LEN:
        raise WireError(f"udp: {n} bytes is shorter than a header")
    sport, dport, length, csum = _HDR.unpack_from(buf)
    if length < HEADER_LEN or length > n:
        raise WireError(f"udp: length {length} in {n} bytes")
    if length != n:
        buf = buf[:length]
    if csum and src is not None and checksum(buf, pseudo_header_sum(src, dst, PROTO, length)):
        raise WireError("udp: bad checksum")
    return _new(UdpDatagram, (sport, dport, length, csum, buf[HEADER_LEN:]))


def emit(src: bytes, dst: bytes, sport: int, dport: int, payload=b"", *,
         with_checksum: bool = True) -> bytes:
    length = HEADER_LEN + len(payload)
    if length > 65535:
        raise WireError(f"udp: datagram of {length} bytes")
    c = 0
    if with_checksum:
        start = pseudo_header_sum(src, dst, PROTO, length) + sport + dport + length
        # a computed 0 goes out as 0xFFFF: 0 on the wire means "no checksum"
        c = checksum(payload, start) or 0xFFFF
    try:
        return _HDR.pack(sport, dport, length, c) + payload
    except struct.error as e:
        raise WireError(f"udp: {e}") from None
