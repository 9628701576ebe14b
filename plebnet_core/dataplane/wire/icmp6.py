"""ICMPv6 (RFC 4443) with its pseudo-header checksum, and the Neighbor Discovery messages and
options (RFC 4861): router/neighbor solicitation and advertisement, link-layer address,
prefix information and MTU options.

parse() checks the checksum against the IPv6 source and destination (16-byte strings);
nd_parse() checks the structure of an ND message (lengths, option lengths) and leaves the
semantic rules (hop limit 255, code 0, who may send what) to the ND layer.
"""
from __future__ import annotations

import struct
from typing import NamedTuple

from .checksum import checksum, pseudo_header_sum
from .errors import WireError
from .ipv6 import HEADER_LEN as IP6_HEADER_LEN, MIN_MTU, NH_ICMPV6

HEADER_LEN = 8

DST_UNREACH = 1
PACKET_TOO_BIG = 2
TIME_EXCEEDED = 3
PARAM_PROB = 4
ECHO_REQUEST = 128
ECHO_REPLY = 129
MLD_QUERY = 130
MLD_REPORT = 131
MLD_DONE = 132
ROUTER_SOLICIT = 133
ROUTER_ADVERT = 134
NEIGHBOR_SOLICIT = 135
NEIGHBOR_ADVERT = 136
REDIRECT = 137

# destination unreachable codes (ICMP6_DST_UNREACH_*)
UNREACH_NOROUTE = 0
UNREACH_ADMIN = 1
UNREACH_BEYONDSCOPE = 2
UNREACH_ADDR = 3
UNREACH_NOPORT = 4
# time exceeded codes
TIMXCEED_TRANSIT = 0
TIMXCEED_REASSEMBLY = 1

# ND option types
OPT_SOURCE_LLADDR = 1
OPT_TARGET_LLADDR = 2
OPT_PREFIX_INFO = 3
OPT_REDIRECTED = 4
OPT_MTU = 5

# NA flags (first byte of the "rest" word)
NA_ROUTER = 0x80
NA_SOLICITED = 0x40
NA_OVERRIDE = 0x20

_HDR = struct.Struct("!BBHI")
_PREFIX = struct.Struct("!BBBBIII16s")
_RA = struct.Struct("!BBHII")
_new = tuple.__new__


class Icmp6Message(NamedTuple):
    type: int
    code: int
    checksum: int
    rest: int       # id/seq for echo, MTU for packet too big, pointer for param problem
    payload: bytes

    @property
    def ident(self) -> int:
        return self.rest >> 16

    @property
    def seq(self) -> int:
        return self.rest & 0xFFFF

    @property
    def is_error(self) -> bool:
        return self.type < 128


def _sum(src: bytes, dst: bytes, length: int) -> int:
    return pseudo_header_sum(src, dst, NH_ICMPV6, length)


def parse(buf, src: bytes, dst: bytes) -> Icmp6Message:
    """Parse an ICMPv6 message (the upper-layer payload), verifying the checksum."""
    n = len(buf)
    if n < HEADER_LEN:
        raise WireError(f"icmp6: {n} bytes is shorter than a header")
    if checksum(buf, _sum(src, dst, n)):
        raise WireError("icmp6: bad checksum")
    return _new(Icmp6Message, _HDR.unpack_from(buf) + (buf[HEADER_LEN:],))


def emit(src: bytes, dst: bytes, type_: int, code: int, rest: int, payload=b"") -> bytes:
    length = HEADER_LEN + len(payload)
    c = checksum(payload, _sum(src, dst, length) + (type_ << 8 | code) + rest)
    try:
        return _HDR.pack(type_, code, c, rest) + payload
    except struct.error as e:
        raise WireError(f"icmp6: {e}") from None


def echo_request(src: bytes, dst: bytes, ident: int, seq: int, data=b"") -> bytes:
    return emit(src, dst, ECHO_REQUEST, 0, (ident & 0xFFFF) << 16 | (seq & 0xFFFF), data)


def echo_reply_to(request: Icmp6Message) -> bytes:
    """The reply to a verified echo request, between the same two addresses swapped: the
    pseudo-header sum is symmetric, so only the type byte's change (128 -> 129) is patched."""
    # RFC 1624 eqn. 3 with m = 0x8000, m' = 0x8100: HC' = ~(~HC + ~m + m')
    s = (~request.checksum & 0xFFFF) + 0x7FFF + 0x8100
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return _HDR.pack(ECHO_REPLY, 0, ~s & 0xFFFF, request.rest) + request.payload


def error(src: bytes, dst: bytes, type_: int, code: int, rest: int, original) -> bytes:
    """An error message quoting as much of `original` (the offending packet) as fits in the
    minimum MTU (RFC 4443 2.4(c))."""
    room = MIN_MTU - IP6_HEADER_LEN - HEADER_LEN
    return emit(src, dst, type_, code, rest, bytes(original[:room]))


# -- Neighbor Discovery -------------------------------------------------------------------------
class PrefixInfo(NamedTuple):
    plen: int
    onlink: bool
    autonomous: bool
    valid: int
    preferred: int
    prefix: bytes


class NdMessage(NamedTuple):
    type: int
    code: int
    flags: int          # NA: R/S/O; RA: M/O (the byte after cur hop limit)
    target: bytes | None    # NS/NA target (16 bytes), else None
    lladdr: bytes | None    # the source (NS, RS, RA) or target (NA) link-layer address option
    router: tuple | None    # RA: (cur_hop_limit, lifetime, reachable, retrans)
    prefixes: tuple         # RA prefix information options
    mtu: int | None         # RA MTU option


def nd_parse(msg: Icmp6Message) -> NdMessage:
    """Structure of an RS/RA/NS/NA whose ICMPv6 header is parsed (checksum verified)."""
    t = msg.type
    body = msg.payload
    if t == NEIGHBOR_SOLICIT or t == NEIGHBOR_ADVERT:
        if len(body) < 16:
            raise WireError("nd: neighbor message shorter than 24 bytes")
        target = bytes(body[:16])
        opts = body[16:]
        flags = msg.rest >> 24 if t == NEIGHBOR_ADVERT else 0
        router = None
    elif t == ROUTER_SOLICIT:
        target, opts, flags, router = None, body, 0, None
    elif t == ROUTER_ADVERT:
        if len(body) < 8:
            raise WireError("nd: router advertisement shorter than 16 bytes")
        hlim, flags, lifetime = msg.rest >> 24, (msg.rest >> 16) & 0xFF, msg.rest & 0xFFFF
        reach, retrans = struct.unpack_from("!II", body)
        target, opts, router = None, body[8:], (hlim, lifetime, reach, retrans)
    else:
        raise WireError(f"nd: type {t} is not a neighbor discovery message")
    want = OPT_TARGET_LLADDR if t == NEIGHBOR_ADVERT else OPT_SOURCE_LLADDR
    lladdr, mtu, prefixes = None, None, []
    i, n = 0, len(opts)
    while i < n:
        if i + 2 > n:
            raise WireError("nd: truncated option")
        kind, units = opts[i], opts[i + 1]
        if units == 0:
            raise WireError("nd: option of length 0")      # RFC 4861 4.6: discard
        end = i + units * 8
        if end > n:
            raise WireError("nd: option runs past the message")
        if kind == want and units == 1:         # Ethernet: 6 bytes in one 8-byte unit
            lladdr = bytes(opts[i + 2:i + 8])
        elif kind == OPT_PREFIX_INFO and t == ROUTER_ADVERT:
            if units != 4:
                raise WireError("nd: prefix information option not 32 bytes")
            _, _, plen, pflags, valid, pref, _, prefix = _PREFIX.unpack_from(opts, i)
            if plen > 128:
                raise WireError("nd: prefix length over 128")
            prefixes.append(PrefixInfo(plen, bool(pflags & 0x80), bool(pflags & 0x40), valid,
                                       pref, prefix))
        elif kind == OPT_MTU and t == ROUTER_ADVERT:
            if units != 1:
                raise WireError("nd: MTU option not 8 bytes")
            mtu = struct.unpack_from("!I", opts, i + 4)[0]
        i = end                 # unknown options are skipped (RFC 4861 4.6)
    return _new(NdMessage, (t, msg.code, flags, target, lladdr, router, tuple(prefixes), mtu))


def lladdr_option(kind: int, mac: bytes) -> bytes:
    if len(mac) != 6:
        raise WireError("nd: link-layer address must be 6 bytes")
    return bytes((kind, 1)) + mac


def prefix_option(p: PrefixInfo) -> bytes:
    flags = (0x80 if p.onlink else 0) | (0x40 if p.autonomous else 0)
    return _PREFIX.pack(OPT_PREFIX_INFO, 4, p.plen, flags, p.valid, p.preferred, 0, p.prefix)


def mtu_option(mtu: int) -> bytes:
    return struct.pack("!BBHI", OPT_MTU, 1, 0, mtu)


def neighbor_solicit(src: bytes, dst: bytes, target: bytes, mac: bytes | None) -> bytes:
    """NS for target; mac None (DAD, from the unspecified address) leaves out the option."""
    opts = lladdr_option(OPT_SOURCE_LLADDR, mac) if mac is not None else b""
    return emit(src, dst, NEIGHBOR_SOLICIT, 0, 0, target + opts)


def neighbor_advert(src: bytes, dst: bytes, target: bytes, mac: bytes | None,
                    flags: int) -> bytes:
    opts = lladdr_option(OPT_TARGET_LLADDR, mac) if mac is not None else b""
    return emit(src, dst, NEIGHBOR_ADVERT, 0, (flags & 0xE0) << 24, target + opts)


def router_solicit(src: bytes, dst: bytes, mac: bytes | None) -> bytes:
    opts = lladdr_option(OPT_SOURCE_LLADDR, mac) if mac is not None else b""
    return emit(src, dst, ROUTER_SOLICIT, 0, 0, opts)


def router_advert(src: bytes, dst: bytes, *, hop_limit: int = 64, flags: int = 0,
                  lifetime: int = 1800, reachable: int = 0, retrans: int = 0,
                  mac: bytes | None = None, prefixes=(), mtu: int | None = None) -> bytes:
    opts = [lladdr_option(OPT_SOURCE_LLADDR, mac)] if mac is not None else []
    if mtu is not None:
        opts.append(mtu_option(mtu))
    opts.extend(prefix_option(p) for p in prefixes)
    body = struct.pack("!II", reachable, retrans) + b"".join(opts)
    return emit(src, dst, ROUTER_ADVERT, 0, hop_limit << 24 | (flags & 0xFF) << 16 | lifetime,
                body)
