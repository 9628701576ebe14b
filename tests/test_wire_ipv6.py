"""IPv6, ICMPv6 and NDP codecs: hand-built packets, and malformed ones that must raise WireError
(never anything else)."""
import struct

import pytest
from hypothesis import given, settings, strategies as st

from plebnet_core.dataplane.wire import WireError, icmp6, ipv6

A = bytes.fromhex("20010db8000000000000000000000001")
B = bytes.fromhex("20010db8000000000000000000000002")
LL = bytes.fromhex("fe80000000000000" "00706efffe000001")     # from MAC, U/L bit flipped
MAC = bytes.fromhex("02706e000001")


def naive_sum(data: bytes) -> int:
    """RFC 1071 the slow way, independent of checksum.py."""
    if len(data) & 1:
        data += b"\0"
    s = 0
    for i in range(0, len(data), 2):
        s += data[i] << 8 | data[i + 1]
        s = (s & 0xFFFF) + (s >> 16)
    return s


def icmp6_checksum_ok(src, dst, msg: bytes) -> bool:
    pseudo = src + dst + struct.pack("!I3xB", len(msg), 58)
    return naive_sum(pseudo + msg) == 0xFFFF


def packet(nh, payload, src=A, dst=B, hlim=64):
    return struct.pack("!IHBB", 0x60000000, len(payload), nh, hlim) + src + dst + payload


def test_header_round_trip_and_fields():
    raw = ipv6.emit(A, B, ipv6.NH_ICMPV6, b"x" * 12, hop_limit=7, tclass=0xB8, flow=0x12345)
    assert raw[:4] == bytes.fromhex("6b812345") and raw[4:8] == bytes.fromhex("000c3a07")
    h = ipv6.parse(raw + b"\0" * 10)       # link padding is cut off
    assert (h.tclass, h.flow, h.payload_length, h.next_header, h.hop_limit) == (
        0xB8, 0x12345, 12, 58, 7)
    assert (h.src, h.dst, h.payload) == (A, B, b"x" * 12)
    assert ipv6.decrement_hop_limit(raw)[7] == 6


@pytest.mark.parametrize("raw, why", [
    (b"\x60" + bytes(30), "shorter than a header"),
    (b"\x40" + bytes(39), "version 4"),
    (packet(58, b"abcd")[:42], "payload length"),
    (packet(0, b"")[:40], "jumbogram"),
])
def test_bad_headers(raw, why):
    with pytest.raises(WireError):
        ipv6.parse(raw)


def test_echo_checksum_matches_an_independent_sum_and_reply_patch():
    req = icmp6.echo_request(A, B, 0x1234, 7, b"hello world")
    assert req[:2] == b"\x80\x00" and icmp6_checksum_ok(A, B, req)
    m = icmp6.parse(req, A, B)
    assert (m.type, m.ident, m.seq, m.payload) == (128, 0x1234, 7, b"hello world")
    rep = icmp6.echo_reply_to(m)
    assert rep[0] == 129 and icmp6_checksum_ok(B, A, rep)
    assert icmp6.parse(rep, B, A).payload == b"hello world"
    bad = bytearray(req)
    bad[-1] ^= 1
    with pytest.raises(WireError, match="checksum"):
        icmp6.parse(bytes(bad), A, B)
    with pytest.raises(WireError, match="checksum"):     # wrong pseudo-header
        icmp6.parse(req, A, A)


def test_error_quotes_at_most_the_minimum_mtu():
    big = packet(17, bytes(3000))
    err = icmp6.error(B, A, icmp6.PACKET_TOO_BIG, 0, 1400, big)
    assert len(err) + 40 == 1280 and icmp6_checksum_ok(B, A, err)
    assert icmp6.parse(err, B, A).rest == 1400


def test_solicited_node_and_multicast_mac():
    sn = ipv6.solicited_node(LL)
    assert sn == bytes.fromhex("ff0200000000000000000001ff000001")
    assert ipv6.multicast_mac(sn) == bytes.fromhex("3333ff000001")
    assert ipv6.eui64_link_local(MAC) == LL


def test_neighbor_solicit_and_advert_vectors():
    sn = ipv6.solicited_node(B)
    ns = icmp6.neighbor_solicit(A, sn, B, MAC)
    # type 135, code 0, checksum, reserved, target, option 1 len 1 MAC
    assert ns[0] == 135 and ns[4:8] == bytes(4) and ns[8:24] == B
    assert ns[24:32] == b"\x01\x01" + MAC and icmp6_checksum_ok(A, sn, ns)
    nd = icmp6.nd_parse(icmp6.parse(ns, A, sn))
    assert (nd.type, nd.target, nd.lladdr) == (135, B, MAC)
    na = icmp6.neighbor_advert(B, A, B, MAC, icmp6.NA_SOLICITED | icmp6.NA_OVERRIDE)
    assert na[4] == 0x60 and na[24:26] == b"\x02\x01" and icmp6_checksum_ok(B, A, na)
    nd = icmp6.nd_parse(icmp6.parse(na, B, A))
    assert (nd.flags, nd.target, nd.lladdr) == (0x60, B, MAC)
    dad = icmp6.neighbor_solicit(ipv6.UNSPECIFIED, sn, B, None)
    assert len(dad) == 24 and icmp6.nd_parse(icmp6.parse(dad, ipv6.UNSPECIFIED, sn)).lladdr is None


def test_router_messages_and_options():
    p = icmp6.PrefixInfo(64, True, True, 2592000, 604800, bytes.fromhex("20010db8") + bytes(12))
    ra = icmp6.router_advert(LL, ipv6.ALL_NODES, lifetime=1800, reachable=30000, retrans=1000,
                             mac=MAC, prefixes=[p], mtu=1500)
    assert icmp6_checksum_ok(LL, ipv6.ALL_NODES, ra)
    nd = icmp6.nd_parse(icmp6.parse(ra, LL, ipv6.ALL_NODES))
    assert nd.router == (64, 1800, 30000, 1000) and nd.lladdr == MAC
    assert nd.prefixes == (p,) and nd.mtu == 1500
    rs = icmp6.router_solicit(LL, ipv6.ALL_ROUTERS, MAC)
    nd = icmp6.nd_parse(icmp6.parse(rs, LL, ipv6.ALL_ROUTERS))
    assert nd.type == 133 and nd.lladdr == MAC


@pytest.mark.parametrize("opts, why", [
    (b"\x01\x00" + bytes(6), "length 0"),
    (b"\x01\x02" + bytes(6), "past the message"),
    (b"\x01", "truncated"),
])
def test_bad_nd_options(opts, why):
    msg = icmp6.emit(A, B, icmp6.NEIGHBOR_SOLICIT, 0, 0, B + opts)
    with pytest.raises(WireError, match=why):
        icmp6.nd_parse(icmp6.parse(msg, A, B))
    short = icmp6.emit(A, B, icmp6.NEIGHBOR_ADVERT, 0, 0, B[:10])
    with pytest.raises(WireError):
        icmp6.nd_parse(icmp6.parse(short, A, B))


def ext(nh, body=b"", hlen=0):
    """An extension header with next header nh and (hlen+1)*8 bytes."""
    data = bytes((nh, hlen)) + body
    return data + bytes((hlen + 1) * 8 - len(data))


def test_walk_extension_chain():
    icmp = icmp6.echo_request(A, B, 1, 1)
    # hop-by-hop, destination options (two Pad1), routing (segments left 0), fragment
    payload = ext(ipv6.NH_DSTOPTS) + ext(ipv6.NH_ROUTING, b"\x00\x00") \
        + ext(ipv6.NH_FRAGMENT) + ipv6.fragment_header(ipv6.NH_ICMPV6, 0x50, True, 99) + icmp
    chain = ipv6.walk(ipv6.NH_HOPOPTS, payload)
    assert (chain.proto, chain.offset, chain.frag_offset, chain.more_frags, chain.frag_ident,
            chain.hbh, chain.nh_at) == (58, 32, 0x50, True, 99, True, 40 + 16)
    assert payload[chain.offset:] == icmp
    assert ipv6.walk(ipv6.NH_ICMPV6, icmp) == (58, 0, 0, False, None, False, 6)


def test_routing_type_0_with_segments_left_is_refused_with_a_pointer():
    rh0 = ext(ipv6.NH_ICMPV6, b"\x00\x01", 2)       # type 0, segments left 1
    with pytest.raises(ipv6.ParamProblem) as info:
        ipv6.walk(ipv6.NH_HOPOPTS, ext(ipv6.NH_ROUTING) + rh0)
    assert (info.value.code, info.value.pointer) == (ipv6.PARAMPROB_HEADER, 40 + 8 + 2)
    # segments left 0: the final destination ignores it
    assert ipv6.walk(ipv6.NH_ROUTING, ext(ipv6.NH_ICMPV6, b"\x00\x00")).proto == 58


def test_hop_by_hop_not_first_and_unknown_options():
    with pytest.raises(ipv6.ParamProblem) as info:
        ipv6.walk(ipv6.NH_DSTOPTS, ext(ipv6.NH_HOPOPTS) + ext(ipv6.NH_ICMPV6))
    assert (info.value.code, info.value.pointer) == (ipv6.PARAMPROB_NEXTHEADER, 40)
    # option 0xC2 (action 11): ICMP unless to multicast; 0x42 (01): silent discard
    opt = ext(ipv6.NH_ICMPV6, b"\xc2\x00")
    with pytest.raises(ipv6.ParamProblem) as info:
        ipv6.walk(ipv6.NH_DSTOPTS, opt)
    assert (info.value.code, info.value.pointer) == (ipv6.PARAMPROB_OPTION, 42)
    with pytest.raises(WireError) as info:
        ipv6.walk(ipv6.NH_DSTOPTS, opt, dst_multicast=True)
    assert not isinstance(info.value, ipv6.ParamProblem)
    with pytest.raises(WireError):
        ipv6.walk(ipv6.NH_DSTOPTS, ext(ipv6.NH_ICMPV6, b"\x42\x00"))
    # padding and the router alert are known
    assert ipv6.walk(ipv6.NH_HOPOPTS, ext(ipv6.NH_ICMPV6, b"\x05\x02\x00\x00\x01\x00")).hbh
    with pytest.raises(WireError):          # an option running past its header
        ipv6.walk(ipv6.NH_DSTOPTS, ext(ipv6.NH_ICMPV6, b"\x01\x09"))


def test_hop_by_hop_alone():
    ipv6.hop_by_hop(ext(ipv6.NH_ROUTING, b"\x01\x02\x00\x00") + b"rest of the chain")
    with pytest.raises(ipv6.ParamProblem):
        ipv6.hop_by_hop(ext(ipv6.NH_ICMPV6, b"\x80\x00"))
    for short in (b"\x3a\x00\x00", ext(ipv6.NH_ICMPV6, hlen=1)[:12]):
        with pytest.raises(WireError, match="truncated"):
            ipv6.hop_by_hop(short)


def test_extension_header_loops_and_truncation_are_bounded():
    looped = b"".join(ext(ipv6.NH_DSTOPTS) for _ in range(3)) + ext(ipv6.NH_ICMPV6)
    with pytest.raises(WireError, match="destination options"):
        ipv6.walk(ipv6.NH_DSTOPTS, looped)
    frags = ipv6.fragment_header(ipv6.NH_FRAGMENT, 0, False, 1) * 2    # atomic ones
    with pytest.raises(WireError, match="repeated"):
        ipv6.walk(ipv6.NH_FRAGMENT, frags + ext(ipv6.NH_ICMPV6))
    with pytest.raises(WireError, match="truncated"):
        ipv6.walk(ipv6.NH_DSTOPTS, ext(ipv6.NH_ICMPV6, hlen=3)[:20])
    with pytest.raises(WireError, match="truncated"):
        ipv6.walk(ipv6.NH_HOPOPTS, b"\x3a\x00")


@settings(max_examples=300, deadline=None)
@given(nh=st.sampled_from([0, 43, 44, 60, 58]), data=st.binary(max_size=200),
       mcast=st.booleans())
def test_walk_random_chains(nh, data, mcast):
    try:
        chain = ipv6.walk(nh, data, mcast)
        assert 0 <= chain.offset <= len(data)
    except WireError:
        pass


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200))
def test_random_bytes_through_every_parser(data):
    for fn in (ipv6.parse, lambda b: icmp6.parse(b, A, B)):
        try:
            fn(data)
        except WireError:
            pass
    # a message with a valid checksum but random body must not break nd_parse either
    for t in (133, 134, 135, 136):
        msg = icmp6.emit(A, B, t, 0, 0, data)
        try:
            icmp6.nd_parse(icmp6.parse(msg, A, B))
        except WireError:
            pass


# -- fragments: sent by ipv6.fragment, put together by dataplane/frag6.py --------------------
from plebnet_core.dataplane.frag6 import Reassembler6  # noqa: E402


class Clock:
    now = 100.0

    def __call__(self):
        return self.now


def pieces(payload=bytes(range(256)) * 12, mtu=1280, ident=7):
    out = []
    for pkt in ipv6.fragment(A, B, 58, payload, mtu, ident):
        h = ipv6.parse(pkt)
        assert len(pkt) <= mtu and h.next_header == ipv6.NH_FRAGMENT
        chain = ipv6.walk(h.next_header, h.payload)
        out.append((chain, h.payload[chain.offset:], pkt))
    return out


def push(r, chain, data, pkt):
    return r.push(A, B, chain.frag_ident, chain.frag_offset, chain.more_frags, chain.proto,
                  data, pkt, 40 + chain.offset - 8)


def test_fragment_and_reassemble_in_any_order():
    payload = bytes(range(256)) * 12
    parts = pieces(payload)
    assert len(parts) == 3 and [c.frag_offset for c, _, _ in parts] == [0, 1232, 2464]
    assert [c.more_frags for c, _, _ in parts] == [True, True, False]
    r = Reassembler6(Clock())
    assert push(r, *parts[2]) is None and push(r, *parts[0]) is None
    assert push(r, *parts[1]) == (58, payload) and len(r) == 0


def test_reassembly_refuses_overlaps_bad_lengths_and_times_out():
    clock = Clock()
    r = Reassembler6(clock)
    parts = pieces()
    chain, data, pkt = parts[0]
    push(r, chain, data, pkt)
    with pytest.raises(WireError, match="overlapping"):        # RFC 5722: all of it goes
        push(r, chain._replace(frag_offset=8), data[:64], pkt)
    assert len(r) == 0
    with pytest.raises(ipv6.ParamProblem) as info:
        push(r, chain, data[:13], pkt)
    assert (info.value.code, info.value.pointer) == (0, 4)
    with pytest.raises(ipv6.ParamProblem) as info:
        push(r, chain._replace(frag_offset=65528, more_frags=False), data[:16], pkt)
    assert info.value.pointer == 42
    push(r, chain, data, "first")
    clock.now += 61
    assert r.expire() == ["first"] and len(r) == 0
    # the fragments one datagram may take are bounded
    many = Reassembler6(Clock(), max_fragments=2)
    push(many, *parts[0])
    push(many, *parts[1])
    with pytest.raises(WireError, match="more than 2"):
        push(many, *parts[2])
