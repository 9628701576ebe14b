import pytest

from plebnet_core.dataplane.wire import WireError, ethernet, icmp, ipv4, udp, vxlan
from plebnet_core.dataplane.wire.checksum import checksum
from vectors import ECHO_REQUEST, UDP_HELLO

A = bytes([10, 0, 0, 1])
B = bytes([10, 0, 0, 2])


def ip_payload(frame):
    return ipv4.parse(ethernet.parse(frame).payload)


# -- ICMP ---------------------------------------------------------------------------------------
def test_parse_kernel_echo_request():
    msg = icmp.parse(ip_payload(ECHO_REQUEST).payload)
    assert (msg.type, msg.code, msg.checksum, msg.ident, msg.seq) == (8, 0, 0x254E, 0x12F7, 1)
    assert len(msg.payload) == 56 and not msg.is_error


def test_echo_reply_to_matches_full_emit():
    pkt = ip_payload(ECHO_REQUEST)
    req = icmp.parse(pkt.payload)
    fast = icmp.echo_reply_to(req)
    assert fast == icmp.echo_reply(req.ident, req.seq, req.payload)
    # only the type byte and the checksum differ from the request
    assert fast[0] == 0 and fast[4:] == bytes(pkt.payload[4:])
    assert fast[2:4].hex() == "2d4e"  # 0x254e + 0x0800, worked out by hand
    assert icmp.parse(fast).type == icmp.ECHO_REPLY


def test_echo_request_round_trip_odd_length():
    raw = icmp.echo_request(0xBEEF, 0xFFFF, b"odd")
    msg = icmp.parse(raw)
    assert (msg.ident, msg.seq, msg.payload) == (0xBEEF, 0xFFFF, b"odd")
    assert checksum(raw) == 0


def test_need_frag_quotes_header_plus_8():
    original = ipv4.emit(A, B, ipv4.PROTO_UDP, udp.emit(A, B, 1234, 53, bytes(1400)), df=True)
    raw = icmp.dest_unreach(icmp.UNREACH_NEEDFRAG, original, next_hop_mtu=1280)
    msg = icmp.parse(raw)
    assert (msg.type, msg.code, msg.next_hop_mtu, msg.rest >> 16) == (3, 4, 1280, 0)
    assert msg.payload == original[:28] and msg.is_error
    assert raw[4:8] == b"\x00\x00\x05\x00"  # RFC 1191: unused 16 bits, then the MTU


def test_quote_keeps_options_and_short_packets():
    opts = bytes([0x94, 4, 0, 0])
    original = ipv4.emit(A, B, 2, b"abc", options=opts)  # header 24 + only 3 bytes of data
    assert icmp.quote(original) == original
    big = ipv4.emit(A, B, 2, bytes(100), options=opts)
    assert icmp.quote(big) == big[:32]
    with pytest.raises(WireError):
        icmp.quote(b"\x45" * 10)


def test_time_exceeded():
    original = ipv4.emit(A, B, ipv4.PROTO_ICMP, icmp.echo_request(1, 1, bytes(32)), ttl=1)
    msg = icmp.parse(icmp.time_exceeded(icmp.TIMXCEED_INTRANS, original))
    assert (msg.type, msg.code, msg.rest) == (11, 0, 0)
    assert msg.payload == original[:28]


def test_port_unreachable():
    original = ipv4.emit(A, B, ipv4.PROTO_UDP, udp.emit(A, B, 1234, 53, b"x"))
    raw = icmp.dest_unreach(icmp.UNREACH_PORT, original)
    assert raw[:2] == b"\x03\x03" and raw[4:8] == bytes(4) and raw[8:] == original[:28]
    assert checksum(raw) == 0


@pytest.mark.parametrize("buf", [b"\x08\x00\x00", bytes.fromhex("0800ffff00010001")])
def test_malformed_icmp(buf):
    with pytest.raises(WireError):
        icmp.parse(buf)


# -- UDP ----------------------------------------------------------------------------------------
def test_parse_kernel_udp_with_pseudo_header():
    pkt = ip_payload(UDP_HELLO)
    dgram = udp.parse(pkt.payload, pkt.src, pkt.dst)
    assert (dgram.sport, dgram.dport, dgram.length, dgram.checksum) == (40000, 5353, 21, 0x3C9F)
    assert dgram.payload == b"hello plebnet"


def test_emit_reproduces_kernel_udp():
    pkt = ip_payload(UDP_HELLO)
    assert udp.emit(pkt.src, pkt.dst, 40000, 5353, b"hello plebnet") == bytes(pkt.payload)


def test_bad_checksum_detected_only_with_addresses():
    pkt = ip_payload(UDP_HELLO)
    bad = bytearray(pkt.payload)
    bad[-1] ^= 0x20
    with pytest.raises(WireError):
        udp.parse(bytes(bad), pkt.src, pkt.dst)
    assert udp.parse(bytes(bad)).length == 21  # no addresses, no check
    with pytest.raises(WireError):
        udp.parse(pkt.payload, pkt.src, bytes([10, 233, 0, 3]))  # pseudo-header matters


def test_zero_checksum_accepted():
    raw = udp.emit(A, B, 7, 7, b"no checksum", with_checksum=False)
    assert raw[6:8] == b"\0\0"
    assert udp.parse(raw, A, B).payload == b"no checksum"


def test_computed_zero_is_sent_as_ffff():
    # pick the last data word so that the sum comes to 0xFFFF: the checksum would be 0
    filler = udp.emit(A, B, 1, 2, b"\0\0")[6:8]
    raw = udp.emit(A, B, 1, 2, filler)
    assert raw[6:8] == b"\xff\xff"
    udp.parse(raw, A, B)  # and 0xFFFF verifies


def test_trailing_bytes_beyond_length_ignored():
    raw = udp.emit(A, B, 1, 2, b"abc")
    assert udp.parse(raw + b"pad", A, B).payload == b"abc"


@pytest.mark.parametrize("buf", [bytes(7), bytes.fromhex("0001000200070000"),
                                 bytes.fromhex("0001000200100000") + bytes(4)])
def test_malformed_udp(buf):
    with pytest.raises(WireError):
        udp.parse(buf)


def test_udp_oversize():
    with pytest.raises(WireError):
        udp.emit(A, B, 1, 2, bytes(65528))


# -- VXLAN --------------------------------------------------------------------------------------
def test_vxlan_header_bytes():
    assert vxlan.header(42) == bytes.fromhex("0800000000002a00")
    assert vxlan.header(vxlan.MAX_VNI) == bytes.fromhex("08000000ffffff00")


def test_vxlan_round_trip_ignores_reserved_bits():
    raw = vxlan.emit(0x123456, b"frame")
    hdr = vxlan.parse(raw)
    assert (hdr.flags, hdr.vni, hdr.payload) == (0x08, 0x123456, b"frame")
    noisy = bytes([0x08 | 0x80, 1, 2, 3]) + raw[4:7] + b"\x99" + raw[8:]
    assert vxlan.parse(noisy).vni == 0x123456


@pytest.mark.parametrize("buf", [bytes(7), bytes.fromhex("0000000000002a00") + b"x"])
def test_vxlan_malformed(buf):
    with pytest.raises(WireError):
        vxlan.parse(buf)


@pytest.mark.parametrize("vni", [-1, 1 << 24])
def test_vxlan_vni_range(vni):
    with pytest.raises(WireError):
        vxlan.header(vni)
