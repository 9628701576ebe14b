"""ICMP for IPv4 (RFC 792, RFC 1191 for need-frag): echo, destination unreachable, time exceeded."""
from __future__ import annotations

import struct
from typing import NamedTuple

from .checksum import checksum
from .errors import WireError

HEADER_LEN = 8

ECHO_REPLY = 0
DEST_UNREACH = 3
SOURCE_QUENCH = 4
REDIRECT = 5
ECHO_REQUEST = 8
TIME_EXCEEDED = 11
PARAM_PROBLEM = 12

# destination unreachable codes (FreeBSD's ICMP_UNREACH_*)
UNREACH_NET = 0
UNREACH_HOST = 1
UNREACH_PROTOCOL = 2
UNREACH_PORT = 3
UNREACH_NEEDFRAG = 4
UNREACH_SRCFAIL = 5
UNREACH_NET_UNKNOWN = 6
UNREACH_HOST_UNKNOWN = 7
UNREACH_ISOLATED = 8
UNREACH_NET_PROHIB = 9
UNREACH_HOST_PROHIB = 10
UNREACH_TOSNET = 11
UNREACH_TOSHOST = 12
UNREACH_FILTER_PROHIB = 13
UNREACH_HOST_PRECEDENCE = 14
UNREACH_PRECEDENCE_CUTOFF = 15

# time exceeded codes
TIMXCEED_INTRANS = 0
TIMXCEED_REASS = 1

ERROR_TYPES = frozenset({DEST_UNREACH, SOURCE_QUENCH, REDIRECT, TIME_EXCEEDED, PARAM_PROBLEM})

_HDR = struct.Struct("!BBHI")
_new = tuple.__new__


class IcmpMessage(NamedTuple):
    type: int
    code: int
    checksum: int
    rest: int  # the 32-bit "rest of header": id/seq for echo, next-hop MTU for need-frag
    payload: bytes  # echo data, or the quoted IP header + 8 bytes for errors

    @property
    def ident(self) -> int:
        return self.rest >> 16

    @property
    def seq(self) -> int:
        return self.rest & 0xFFFF

    @property
    def next_hop_mtu(self) -> int:
        return self.rest & 0xFFFF

    @property
    def is_error(self) -> bool:
        return self.type in ERROR_TYPES


def parse(buf, verify_checksum: bool = True) -> IcmpMessage:
    """Parse an ICMP message (the whole IP payload: the checksum covers all of it)."""
    if len(buf) < HEADER_LEN:
        raise WireError(f"icmp: {len(buf)} bytes is shorter than a header")
    if verify_checksum and checksum(buf):
        raise WireError("icmp: bad checksum")
    return _new(IcmpMessage, _HDR.unpack_from(buf) + (buf[HEADER_LEN:],))


def emit(type_: int, code: int, rest: int, payload=b"") -> bytes:
    # the header words, summed without building them: rest counts as its two halves because
    # 2**16 == 1 modulo 0xFFFF, which is all checksum() looks at
    c = checksum(payload, (type_ << 8 | code) + rest)
    try:
        return _HDR.pack(type_, code, c, rest) + payload
    except struct.error as e:
        raise WireError(f"icmp: {e}") from None


def echo_request(ident: int, seq: int, data=b"") -> bytes:
    return emit(ECHO_REQUEST, 0, (ident & 0xFFFF) << 16 | (seq & 0xFFFF), data)


def echo_reply(ident: int, seq: int, data=b"") -> bytes:
    return emit(ECHO_REPLY, 0, (ident & 0xFFFF) << 16 | (seq & 0xFFFF), data)


def echo_reply_to(request: IcmpMessage) -> bytes:
    """The reply to a parsed (checksum-verified) echo request, without re-summing its data.

    Only the type byte changes (8 -> 0), so the checksum is patched incrementally (RFC 1624).
    """
    # RFC 1624 eqn. 3 with m = 0x0800, m' = 0: HC' = ~(~HC + ~0x0800), folded
    s = (~request.checksum & 0xFFFF) + 0xF7FF
    s = (s & 0xFFFF) + (s >> 16)
    return _HDR.pack(ECHO_REPLY, 0, ~s & 0xFFFF, request.rest) + request.payload


def quote(original) -> bytes:
    """What an error carries of the offending packet: its IP header and 8 bytes of data."""
    if len(original) < 20:
        raise WireError("icmp: offending packet shorter than an IPv4 header")
    hl = (original[0] & 0x0F) << 2
    return bytes(original[:hl + 8])


def dest_unreach(code: int, original, next_hop_mtu: int = 0) -> bytes:
    """Destination unreachable quoting `original` (an IPv4 packet); next_hop_mtu for NEEDFRAG."""
    return emit(DEST_UNREACH, code, next_hop_mtu & 0xFFFF, quote(original))


def time_exceeded(code: int, original) -> bytes:
    return emit(TIME_EXCEEDED, code, 0, quote(original))
