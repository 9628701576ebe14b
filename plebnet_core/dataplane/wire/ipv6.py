"""IPv6 (RFC 8200): the fixed header, the extension-header chain a node must walk (hop-by-hop,
routing, fragment, destination options), hop-limit decrement and multicast address helpers.

Addresses are 16-byte strings here.  walk() raises ParamProblem (a WireError carrying the
ICMPv6 parameter-problem code and pointer) where RFC 8200 says the packet is answered with one,
and plain WireError where it is silently discarded.
"""
from __future__ import annotations

import struct
from typing import NamedTuple

from .errors import WireError

HEADER_LEN = 40
MIN_MTU = 1280          # RFC 8200 section 5
MAX_PAYLOAD = 65535

NH_HOPOPTS = 0
NH_TCP = 6
NH_UDP = 17
NH_ROUTING = 43
NH_FRAGMENT = 44
NH_ESP = 50
NH_AH = 51
NH_ICMPV6 = 58
NH_NONE = 59
NH_DSTOPTS = 60

# ICMPv6 parameter problem codes (RFC 4443 section 3.4)
PARAMPROB_HEADER = 0
PARAMPROB_NEXTHEADER = 1
PARAMPROB_OPTION = 2

MAX_EXT_HEADERS = 8     # a longer chain is an attack, not a packet (FreeBSD caps it too)

_HDR = struct.Struct("!IHBB16s16s")
_FRAG = struct.Struct("!BBHI")
_new = tuple.__new__
_from = int.from_bytes

UNSPECIFIED = bytes(16)
ALL_NODES = bytes.fromhex("ff020000000000000000000000000001")
ALL_ROUTERS = bytes.fromhex("ff020000000000000000000000000002")
_SOLICITED_PREFIX = bytes.fromhex("ff0200000000000000000001ff")


class ParamProblem(WireError):
    """The packet is discarded and answered with ICMPv6 parameter problem (code, pointer:
    the offending byte's offset from the start of the IPv6 header)."""

    def __init__(self, msg: str, code: int, pointer: int):
        super().__init__(msg)
        self.code = code
        self.pointer = pointer


class IPv6Header(NamedTuple):
    tclass: int
    flow: int
    payload_length: int
    next_header: int
    hop_limit: int
    src: bytes
    dst: bytes
    payload: bytes  # exactly payload_length bytes (link padding cut off)


class Chain(NamedTuple):
    """Where the upper layer starts after the extension headers (offset into the payload)."""
    proto: int
    offset: int
    frag_offset: int        # in bytes; with more_frags, the packet is a real fragment
    more_frags: bool
    frag_ident: int | None  # None: no fragment header
    hbh: bool               # a hop-by-hop header was present (router alert lives there)
    nh_at: int              # offset (from the IPv6 header) of the field that named proto
    #                         (of a real fragment: the field that named its fragment header)


def parse(buf) -> IPv6Header:
    """Parse the fixed header; bytes beyond payload_length (link padding) are ignored."""
    n = len(buf)
    if n < HEADER_LEN:
        raise WireError(f"ipv6: {n} bytes is shorter than a header")
    vtf, plen, nh, hlim, src, dst = _HDR.unpack_from(buf)
    if vtf >> 28 != 6:
        raise WireError(f"ipv6: version {vtf >> 28}")
    if plen > n - HEADER_LEN:
        raise WireError(f"ipv6: payload length {plen} in {n} bytes")
    if plen == 0 and nh == NH_HOPOPTS:
        raise WireError("ipv6: jumbograms are not supported")
    return _new(IPv6Header, ((vtf >> 20) & 0xFF, vtf & 0xFFFFF, plen, nh, hlim, src, dst,
                             buf[HEADER_LEN:HEADER_LEN + plen]))


def header(src: bytes, dst: bytes, nh: int, payload_len: int, *, hop_limit: int = 64,
           tclass: int = 0, flow: int = 0) -> bytes:
    if len(src) != 16 or len(dst) != 16:
        raise WireError("ipv6: addresses must be 16 bytes")
    if payload_len > MAX_PAYLOAD:
        raise WireError(f"ipv6: payload of {payload_len} bytes")
    try:
        return _HDR.pack(0x60000000 | tclass << 20 | flow, payload_len, nh, hop_limit, src, dst)
    except struct.error as e:
        raise WireError(f"ipv6: {e}") from None


def emit(src: bytes, dst: bytes, nh: int, payload, **kw) -> bytes:
    return header(src, dst, nh, len(payload), **kw) + payload


def decrement_hop_limit(packet) -> bytes:
    """The packet with its hop limit one lower (IPv6 has no header checksum to patch)."""
    hlim = packet[7]
    if hlim == 0:
        raise WireError("ipv6: hop limit already 0")
    return b"".join((packet[:7], bytes((hlim - 1,)), packet[8:]))


# -- extension headers ---------------------------------------------------------------------------
def _options(payload, start: int, end: int, dst_multicast: bool) -> None:
    """Hop-by-hop / destination options TLVs (RFC 8200 4.2): unknown ones act by their top
    two bits: skip, discard, discard + ICMP, discard + ICMP unless to multicast."""
    i = start + 2
    while i < end:
        kind = payload[i]
        if kind == 0:           # Pad1
            i += 1
            continue
        if i + 1 >= end:
            raise WireError("ipv6: option runs past its header")
        length = payload[i + 1]
        if i + 2 + length > end:
            raise WireError("ipv6: option runs past its header")
        if kind != 1 and kind != 5:      # PadN and router alert are known; the rest is not
            action = kind >> 6
            if action == 1:
                raise WireError(f"ipv6: unrecognised option {kind}, discard")
            if action == 2 or action == 3 and not dst_multicast:
                raise ParamProblem(f"ipv6: unrecognised option {kind}", PARAMPROB_OPTION,
                                   HEADER_LEN + i)
            if action == 3:
                raise WireError(f"ipv6: unrecognised option {kind} to multicast")
        i += 2 + length


def walk(nh: int, payload, dst_multicast: bool = False) -> Chain:
    """Walk the extension headers after the fixed header.

    Refused: hop-by-hop anywhere but first, a routing header that still has segments left
    (type 0 is deprecated by RFC 5095 and no other type is implemented: a final destination
    ignores one with segments left 0), more than MAX_EXT_HEADERS headers, a header repeated
    where RFC 8200 allows it once, and anything truncated.
    """
    off = 0
    n = len(payload)
    frag_offset, mf, ident, hbh = 0, False, None, False
    seen = 0
    dstopts = 0
    count = 0
    prev = 6                # where the next-header field naming the current header is
    while True:
        if nh == NH_HOPOPTS:
            if count:
                raise ParamProblem("ipv6: hop-by-hop header not first",
                                   PARAMPROB_NEXTHEADER, prev)
            hbh = True
        elif nh == NH_DSTOPTS:
            dstopts += 1
            if dstopts > 2:
                raise WireError("ipv6: more than two destination options headers")
        elif nh == NH_ROUTING or nh == NH_FRAGMENT:
            bit = 1 << (nh - NH_ROUTING)
            if seen & bit:
                raise WireError(f"ipv6: extension header {nh} repeated")
            seen |= bit
        else:
            return _new(Chain, (nh, off, frag_offset, mf, ident, hbh, prev))
        count += 1
        if count > MAX_EXT_HEADERS:
            raise WireError(f"ipv6: more than {MAX_EXT_HEADERS} extension headers")
        if off + 8 > n:
            raise WireError("ipv6: truncated extension header")
        nxt = payload[off]
        if nh == NH_FRAGMENT:
            _, _, offlg, ident = _FRAG.unpack_from(payload, off)
            frag_offset = offlg & 0xFFF8
            mf = bool(offlg & 1)
            if frag_offset or mf:
                # a real fragment: what follows is data until reassembled (RFC 8200 4.5)
                # (nh_at: here the field naming the fragment header, for the reassembler)
                return _new(Chain, (nxt, off + 8, frag_offset, mf, ident, hbh, prev))
            length = 8
        else:
            length = (payload[off + 1] + 1) << 3
            if off + length > n:
                raise WireError("ipv6: truncated extension header")
            if nh == NH_ROUTING:
                if payload[off + 3]:    # segments left: we would have to route it on
                    raise ParamProblem(f"ipv6: routing header type {payload[off + 2]} refused",
                                       PARAMPROB_HEADER, HEADER_LEN + off + 2)
            else:
                _options(payload, off, off + length, dst_multicast)
        prev = HEADER_LEN + off
        off += length
        nh = nxt


def hop_by_hop(payload, dst_multicast: bool = False) -> None:
    """Check just the hop-by-hop options header at the start of payload: what every node on
    the path examines (a router walks no further).  Raises as walk() does."""
    if len(payload) < 8:
        raise WireError("ipv6: truncated extension header")
    end = (payload[1] + 1) << 3
    if end > len(payload):
        raise WireError("ipv6: truncated extension header")
    _options(payload, 0, end, dst_multicast)


def fragment(src: bytes, dst: bytes, nh: int, payload, mtu: int, ident: int, *,
             hop_limit: int = 64) -> list[bytes]:
    """Packets of at most mtu bytes carrying payload in fragments (RFC 8200 4.5): each is
    the fixed header, a fragment header and a piece whose length is a multiple of 8 (but the
    last).  Locally sent packets have no extension headers, so nothing is unfragmentable
    beyond the fixed header."""
    room = (mtu - HEADER_LEN - 8) & ~7
    if room < 8:
        raise WireError(f"ipv6: MTU {mtu} leaves no room for fragment data")
    view = memoryview(payload)
    total = len(payload)
    out = []
    pos = 0
    while pos < total:
        piece = view[pos:pos + room]
        end = pos + len(piece)
        frag = fragment_header(nh, pos, end < total, ident)
        out.append(header(src, dst, NH_FRAGMENT, 8 + len(piece), hop_limit=hop_limit)
                   + frag + piece)
        pos = end
    return out


def fragment_header(nh: int, frag_offset: int, more: bool, ident: int) -> bytes:
    if frag_offset & 7 or not 0 <= frag_offset <= 0xFFF8:
        raise WireError(f"ipv6: bad fragment offset {frag_offset}")
    return _FRAG.pack(nh, 0, frag_offset | int(more), ident & 0xFFFFFFFF)


# -- addresses ----------------------------------------------------------------------------------
def is_multicast(addr: bytes) -> bool:
    return addr[0] == 0xFF


def is_link_local(addr: bytes) -> bool:
    """fe80::/10 unicast."""
    return addr[0] == 0xFE and addr[1] & 0xC0 == 0x80


def solicited_node(addr: bytes) -> bytes:
    """ff02::1:ffXX:XXXX, the group a node joins for each of its addresses (RFC 4291 2.7.1)."""
    return _SOLICITED_PREFIX + addr[13:16]


def multicast_mac(group: bytes) -> bytes:
    """33:33 and the group's low 32 bits (RFC 2464 section 7)."""
    return b"\x33\x33" + group[12:16]


def eui64_link_local(mac: bytes) -> bytes:
    return b"\xfe\x80" + bytes(6) + bytes((mac[0] ^ 2, mac[1], mac[2], 0xFF, 0xFE,
                                           mac[3], mac[4], mac[5]))
