"""ARP for IPv4 over Ethernet (RFC 826): the 28-byte request/reply packet."""
from __future__ import annotations

import struct
from typing import NamedTuple

from .errors import WireError

PACKET_LEN = 28
OP_REQUEST = 1
OP_REPLY = 2

_HTYPE_ETHER = 1
_PTYPE_IPV4 = 0x0800
_PKT = struct.Struct("!HHBBH6s4s6s4s")
_FIXED = (_HTYPE_ETHER, _PTYPE_IPV4, 6, 4)
_new = tuple.__new__


class ArpPacket(NamedTuple):
    op: int
    sha: bytes  # sender hardware address
    spa: bytes  # sender protocol (IPv4) address
    tha: bytes
    tpa: bytes


def parse(buf) -> ArpPacket:
    """Parse an ARP packet (the Ethernet payload; trailing padding is ignored)."""
    if len(buf) < PACKET_LEN:
        raise WireError(f"arp: {len(buf)} bytes, need {PACKET_LEN}")
    htype, ptype, hlen, plen, op, sha, spa, tha, tpa = _PKT.unpack_from(buf)
    if (htype, ptype, hlen, plen) != _FIXED:
        raise WireError(f"arp: not IPv4 over Ethernet (htype={htype} ptype={ptype:#06x})")
    if op != OP_REQUEST and op != OP_REPLY:
        raise WireError(f"arp: unsupported operation {op}")
    return _new(ArpPacket, (op, sha, spa, tha, tpa))


def emit(op: int, sha: bytes, spa: bytes, tha: bytes, tpa: bytes) -> bytes:
    # struct's "6s" would silently pad or cut a wrong-sized address
    if len(sha) != 6 or len(tha) != 6 or len(spa) != 4 or len(tpa) != 4:
        raise WireError("arp: hardware addresses must be 6 bytes, protocol addresses 4")
    try:
        return _PKT.pack(_HTYPE_ETHER, _PTYPE_IPV4, 6, 4, op, sha, spa, tha, tpa)
    except struct.error as e:
        raise WireError(f"arp: {e}") from None


def request(sha: bytes, spa: bytes, tpa: bytes) -> bytes:
    """Who has tpa? Tell spa.  (spa == tpa makes a gratuitous ARP.)"""
    return emit(OP_REQUEST, sha, spa, b"\x00" * 6, tpa)


def reply(sha: bytes, spa: bytes, tha: bytes, tpa: bytes) -> bytes:
    """spa is at sha, sent to the requester (tha, tpa)."""
    return emit(OP_REPLY, sha, spa, tha, tpa)
