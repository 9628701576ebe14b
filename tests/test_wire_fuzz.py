"""Whatever bytes arrive, a parser returns or raises WireError: nothing else may escape."""
import pytest
from hypothesis import given, settings, strategies as st

from plebnet_core.dataplane.reassembly import Reassembler
from plebnet_core.dataplane.wire import WireError, arp, ethernet, icmp, ipv4, udp, vxlan
from vectors import ARP_REQUEST, ECHO_REQUEST, FRAG_1, FRAG_2, UDP_HELLO

SRC, DST = bytes([10, 233, 0, 1]), bytes([10, 233, 0, 2])
PARSERS = {
    "ethernet": ethernet.parse,
    "arp": arp.parse,
    "ipv4": ipv4.parse,
    "ipv4 unchecked": lambda b: ipv4.parse(b, verify_checksum=False),
    "icmp": icmp.parse,
    "udp": lambda b: udp.parse(b, SRC, DST),
    "vxlan": vxlan.parse,
}


def flipped(data: bytes, positions: list[int], bits: list[int]) -> bytes:
    b = bytearray(data)
    for p, bit in zip(positions, bits):
        if b:
            b[p % len(b)] ^= 1 << bit
    return bytes(b)


def parse_deep(frame: bytes) -> None:
    eth = ethernet.parse(frame)
    if eth.ethertype == ethernet.ETHERTYPE_ARP:
        arp.parse(eth.payload)
    elif eth.ethertype == ethernet.ETHERTYPE_IPV4:
        pkt = ipv4.parse(eth.payload)
        if pkt.is_fragment:
            Reassembler().push(pkt)
        elif pkt.proto == ipv4.PROTO_ICMP:
            msg = icmp.parse(pkt.payload)
            if msg.type == icmp.ECHO_REQUEST:
                icmp.echo_reply_to(msg)
            elif msg.is_error and len(msg.payload) >= 20:
                icmp.dest_unreach(icmp.UNREACH_PORT, msg.payload)
        elif pkt.proto == ipv4.PROTO_UDP:
            udp.parse(pkt.payload, pkt.src, pkt.dst)


@pytest.mark.parametrize("name", PARSERS)
@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=120))
def test_random_bytes(name, data):
    try:
        PARSERS[name](data)
    except WireError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([ARP_REQUEST, ECHO_REQUEST, UDP_HELLO, FRAG_1, FRAG_2]),
       st.lists(st.integers(0, 2000), min_size=1, max_size=4),
       st.lists(st.integers(0, 7), min_size=4, max_size=4),
       st.integers(0, 200))
def test_mutated_kernel_frames(frame, positions, bits, cut):
    mutated = flipped(frame, positions, bits)
    for candidate in (mutated, mutated[:len(mutated) - cut]):
        try:
            parse_deep(candidate)
        except WireError:
            pass


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 8191), st.booleans(), st.integers(0, 64)),
                min_size=1, max_size=12))
def test_reassembler_random_fragments(frags):
    r = Reassembler(max_datagrams=4)
    for offset8, more, size in frags:
        offset = offset8 * 8
        size = max(0, min(size, 65535 - offset))
        if not more and not offset:
            continue  # not a fragment
        pkt = ipv4.parse(ipv4.emit(SRC, DST, 17, bytes(size), ident=1, mf=more,
                                   frag_offset=offset))
        try:
            whole = r.push(pkt)
        except WireError:
            continue
        if whole is not None:
            assert len(whole.payload) + 20 == whole.total_length <= 65535
